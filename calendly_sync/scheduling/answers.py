"""Answers to an event type's custom questions, checked before a booking reaches Calendly. Pure.

Why check first: Calendly refuses a booking whose answers do not fit its questions (a required one
missing, a question text that is not exactly the host's, an answer outside a select's choices)
with one generic ``400``, and each refused call still counts against the plan's small booking
quota. Checking here names the question and the reason, and spends nothing.

Answers come keyed by question text. A key matches the question with exactly that text, or else
the one question with the same text ignoring case and surrounding spaces; what goes to Calendly
is always the host's exact text (Calendly compares it case-sensitively).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calendly_sync.sync.phones import normalize_phone

#: Longest answer accepted (Calendly publishes no limit; this keeps one request's body reasonable).
MAX_ANSWER_LENGTH = 10_000

SELECTS = ("single_select", "multi_select")


@dataclass(frozen=True)
class Question:
    """One enabled custom question of an event type, as Calendly describes it."""

    name: str
    type: str
    required: bool
    answer_choices: tuple[str, ...]
    position: int
    include_other: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The public shape (the API's ``custom_questions`` items)."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "answer_choices": list(self.answer_choices),
            "position": self.position,
        }


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def questions_of(event_type: Mapping[str, Any]) -> list[Question]:
    """The questions an invitee is asked (enabled ones), in the host's order."""
    out = []
    for raw in event_type.get("custom_questions") or []:
        if not isinstance(raw, Mapping) or not raw.get("name") or raw.get("enabled") is False:
            continue
        choices = raw.get("answer_choices") or []
        out.append(
            Question(
                name=str(raw["name"]),
                type=str(raw.get("type") or "string"),
                required=bool(raw.get("required")),
                answer_choices=tuple(str(c) for c in choices if isinstance(c, (str, int, float))),
                position=_int(raw.get("position")),
                include_other=bool(raw.get("include_other")),
            )
        )
    return sorted(out, key=lambda q: q.position)


class AnswerErrors(ValueError):
    """Answers that do not fit the questions: ``errors`` maps ``answers.<question>`` to the reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in errors.items()))


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _match(key: str, questions: list[Question]) -> Question | None:
    exact = [q for q in questions if q.name == key]
    if exact:
        return exact[0]
    folded = [q for q in questions if _fold(q.name) == _fold(key)]
    return folded[0] if len(folded) == 1 else None


def _choice(value: str, question: Question) -> str | None:
    """The host's spelling of a choice (exact, else ignoring case), or None when it is not one."""
    if value in question.answer_choices:
        return value
    folded = [c for c in question.answer_choices if _fold(c) == _fold(value)]
    return folded[0] if len(folded) == 1 else None


def _as_text(value: Any) -> str | None:
    """A scalar answer as text (numbers allowed: "Team size": 12); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _answer(question: Question, value: Any, timezone: str | None) -> str:
    """The text Calendly stores for ``value``, or a ``ValueError`` saying why it does not fit."""
    if question.type == "multi_select":
        items = value if isinstance(value, list) else [value]
        texts = [_as_text(item) for item in items]
        if any(text is None for text in texts):
            raise ValueError("expected a choice or a list of choices")
        picked = [t.strip() for text in texts if text is not None for t in text.split("\n") if t.strip()]
    else:
        text = _as_text(value)
        if text is None:
            raise ValueError("expected text" if question.type not in SELECTS else "expected one of the choices")
        picked = [text]
    if len("\n".join(picked)) > MAX_ANSWER_LENGTH:
        raise ValueError(f"at most {MAX_ANSWER_LENGTH} characters")
    if question.type in SELECTS and question.answer_choices:
        if question.type == "single_select" and len(picked) != 1:
            raise ValueError("expected one choice")
        resolved = []
        for item in picked:
            choice = _choice(item.strip(), question)
            if choice is None and not question.include_other:
                raise ValueError(f"{item!r} is not one of the choices: {', '.join(question.answer_choices)}")
            resolved.append(choice or item.strip())
        return "\n".join(resolved)
    answer = "\n".join(picked)
    if question.type == "phone_number" and answer.strip():
        phone = normalize_phone(answer, timezone=timezone)
        if phone is None:
            raise ValueError("not a valid phone number (give it with its country code, e.g. +1 404 555 0100)")
        return phone
    return answer


def validate_answers(
    questions: list[Question], answers: Mapping[str, Any], *, timezone: str | None = None
) -> list[dict[str, Any]]:
    """Calendly's ``questions_and_answers`` for ``answers``, or :class:`AnswerErrors` naming each problem.

    ``timezone`` (the invitee's) gives a local phone number its country.
    """
    errors: dict[str, str] = {}
    given: dict[str, str] = {}
    for key, value in answers.items():
        question = _match(str(key), questions)
        if question is None:
            asked = ", ".join(repr(q.name) for q in questions) or "none"
            errors[f"answers.{key}"] = f"the event type has no such question (it asks: {asked})"
            continue
        if question.name in given:
            errors[f"answers.{key}"] = f"answers {question.name!r} a second time"
            continue
        if value is None or (isinstance(value, (str, list)) and not value):
            continue  # blank: the same as not answered (required questions are checked below)
        try:
            text = _answer(question, value, timezone)
        except ValueError as exc:
            errors[f"answers.{question.name}"] = str(exc)
            continue
        if text.strip():
            given[question.name] = text
    for question in questions:
        if question.required and question.name not in given and f"answers.{question.name}" not in errors:
            errors[f"answers.{question.name}"] = "this question requires an answer"
    if errors:
        raise AnswerErrors(errors)
    return [{"question": q.name, "answer": given[q.name], "position": q.position} for q in questions if q.name in given]
