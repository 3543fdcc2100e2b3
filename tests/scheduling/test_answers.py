"""Answers checked against an event type's questions (calendly_sync/scheduling/answers.py): pure, no database."""

from __future__ import annotations

from typing import Any

import pytest

from calendly_sync.scheduling.answers import AnswerErrors, questions_of, validate_answers


def _q(name: str, kind: str, position: int, **more: object) -> dict[str, object]:
    return {"name": name, "type": kind, "position": position, "enabled": True, **more}


EVENT_TYPE = {
    "custom_questions": [
        _q("Topics", "multi_select", 2, answer_choices=["Billing", "API"]),
        _q("Company name", "string", 0, required=True),
        _q("Team size", "single_select", 1, answer_choices=["1-10", "11+"]),
        _q("Source", "single_select", 3, answer_choices=["Ad"], include_other=True),
        _q("Phone", "phone_number", 4),
        _q("Hidden", "string", 5, enabled=False, required=True),
        {"name": "", "type": "string"},
        "not a question",
    ]
}
QUESTIONS = questions_of(EVENT_TYPE)


def check(answers: dict[str, Any], timezone: str | None = None) -> list[dict[str, Any]]:
    return validate_answers(QUESTIONS, answers, timezone=timezone)


def errors(answers: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(AnswerErrors) as info:
        check(answers)
    return info.value.errors


def test_questions_are_the_enabled_ones_in_the_hosts_order() -> None:
    assert [q.name for q in QUESTIONS] == ["Company name", "Team size", "Topics", "Source", "Phone"]
    assert QUESTIONS[1].as_dict() == {
        "name": "Team size",
        "type": "single_select",
        "required": False,
        "answer_choices": ["1-10", "11+"],
        "position": 1,
    }


def test_answers_become_calendlys_questions_and_answers_with_the_hosts_exact_text() -> None:
    answers = {" company NAME ": "Acme", "team size": "11+", "Topics": ["api", "Billing"], "Phone": "06 12 34 56 78"}
    got = check(answers, "Europe/Paris")
    assert got == [
        {"question": "Company name", "answer": "Acme", "position": 0},
        {"question": "Team size", "answer": "11+", "position": 1},
        {"question": "Topics", "answer": "API\nBilling", "position": 2},
        {"question": "Phone", "answer": "+33612345678", "position": 4},
    ]


def test_numbers_are_text_and_blank_answers_are_left_out() -> None:
    got = check({"Company name": 42, "Team size": "", "Topics": [], "Phone": None})
    assert got == [{"question": "Company name", "answer": "42", "position": 0}]


def test_a_multi_select_answer_may_be_one_choice_or_newline_separated() -> None:
    assert check({"Company name": "A", "Topics": "Billing\nAPI"})[1]["answer"] == "Billing\nAPI"


def test_include_other_accepts_an_answer_outside_the_choices() -> None:
    assert check({"Company name": "A", "Source": "A friend"})[1] == {
        "question": "Source",
        "answer": "A friend",
        "position": 3,
    }


@pytest.mark.parametrize(
    ("answers", "path", "reason"),
    [
        ({}, "answers.Company name", "requires an answer"),
        ({"Company name": " "}, "answers.Company name", "requires an answer"),
        ({"Company name": True}, "answers.Company name", "expected text"),
        ({"Company name": ["a"]}, "answers.Company name", "expected text"),
        ({"Company name": "A", "Team size": "12"}, "answers.Team size", "not one of the choices: 1-10, 11+"),
        ({"Company name": "A", "Team size": ["1-10", "11+"]}, "answers.Team size", "expected one of the choices"),
        ({"Company name": "A", "Topics": ["API", {"x": 1}]}, "answers.Topics", "expected a choice or a list"),
        ({"Company name": "A", "Phone": "12"}, "answers.Phone", "not a valid phone number"),
        ({"Company name": "A", "Hidden": "x"}, "answers.Hidden", "no such question"),
        ({"Company name": "A", "company name": "B"}, "answers.company name", "a second time"),
        ({"Company name": "x" * 10_001}, "answers.Company name", "at most 10000 characters"),
    ],
)
def test_each_problem_is_named_with_its_question(answers: dict[str, Any], path: str, reason: str) -> None:
    found = errors(answers)
    assert reason in found[path], found


def test_all_problems_are_reported_at_once() -> None:
    found = errors({"Team size": "nope", "Unknown": "x"})
    assert set(found) == {"answers.Team size", "answers.Unknown", "answers.Company name"}
    assert "it asks: 'Company name', 'Team size'" in found["answers.Unknown"]


def test_an_event_type_without_questions_takes_no_answers() -> None:
    assert validate_answers(questions_of({"custom_questions": None}), {}) == []
    with pytest.raises(AnswerErrors, match="it asks: none"):
        validate_answers([], {"Anything": "x"})
