"""Field mapping: a booking → Brevo attributes (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from calendly_sync.sync.mapping import (
    DEFAULT_RULES,
    FieldRule,
    format_date,
    infer_type,
    map_fields,
    match_question,
    rules_from_config,
    split_name,
)

UTC = UTC

# The product page's field_mapping, as rules.
PAGE_RULES = (
    FieldRule("email", "email"),
    FieldRule("name", "FIRSTNAME"),
    FieldRule("question:company", "COMPANY"),
    FieldRule("question:role", "JOB_TITLE"),
    FieldRule("question:phone", "SMS"),
    FieldRule("event_type_name", "CALENDLY_EVENT_TYPE"),
    FieldRule("scheduled_at", "MEETING_DATE"),
    FieldRule("status", "BOOKING_STATUS"),
)


def make_booking(**overrides: Any) -> SimpleNamespace:
    data: dict[str, Any] = dict(
        email="levi@example.com",
        name="Levi Duncan",
        first_name="",
        last_name="",
        timezone="America/Chicago",
        text_reminder_number="",
        status="active",
        start_time=datetime(2026, 8, 25, 13, 0, tzinfo=UTC),
        end_time=datetime(2026, 8, 25, 14, 0, tzinfo=UTC),
        location="https://us06web.zoom.us/j/82003739767",
        host_name="Host Name",
        host_email="host@example.com",
        event_type_name="Mortgage Talk",
        event_type_uri="https://api.calendly.com/event_types/abc123",
        questions_and_answers=[
            {"question": "Company name", "answer": "Acme Inc", "position": 0},
            {"question": "Your role", "answer": "  Head of Sales ", "position": 1},
            {"question": "Phone number", "answer": "+1 404-555-1234", "position": 2},
        ],
        tracking={
            "utm_campaign": "fall",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_content": None,
            "utm_term": None,
            "salesforce_uuid": None,
        },
        invitee_created_at=datetime(2026, 8, 22, 17, 13, 17, tzinfo=UTC),
        cancel_reason="",
    )
    data.update(overrides)
    return SimpleNamespace(**data)


# -- the product page mapping ------------------------------------------------------------------------


def test_product_page_mapping() -> None:
    result = map_fields(make_booking(), PAGE_RULES, booking_status="booked")
    assert result.attributes == {
        "FIRSTNAME": "Levi",
        "LASTNAME": "Duncan",
        "COMPANY": "Acme Inc",
        "JOB_TITLE": "Head of Sales",
        "SMS": "+14045551234",
        "CALENDLY_EVENT_TYPE": "Mortgage Talk",
        "MEETING_DATE": "2026-08-25",
        "BOOKING_STATUS": "booked",
    }
    assert result.warnings == []


def test_config_block_from_the_page_gives_the_same_rules() -> None:
    config = {
        "email": "email",
        "name": "FIRSTNAME",
        "questions_and_answers": {"company": "COMPANY", "role": "JOB_TITLE", "phone": "SMS"},
        "event_type_name": "CALENDLY_EVENT_TYPE",
        "scheduled_at": "MEETING_DATE",
        "status": "BOOKING_STATUS",
    }
    rules, warnings = rules_from_config(config)
    assert warnings == []
    assert {(r.source, r.attribute) for r in rules} == {(r.source, r.attribute) for r in PAGE_RULES}
    assert map_fields(make_booking(), rules, booking_status="booked").attributes["MEETING_DATE"] == "2026-08-25"


def test_default_rules() -> None:
    result = map_fields(make_booking(), DEFAULT_RULES, booking_status="cancelled")
    assert result.attributes == {
        "FIRSTNAME": "Levi",
        "LASTNAME": "Duncan",
        "CALENDLY_EVENT_TYPE": "Mortgage Talk",
        "MEETING_DATE": "2026-08-25",
        "BOOKING_STATUS": "cancelled",
    }


def test_status_is_the_connector_status_not_calendlys() -> None:
    booking = make_booking(status="active")
    result = map_fields(booking, [FieldRule("status", "BOOKING_STATUS")], booking_status="no_show")
    assert result.attributes == {"BOOKING_STATUS": "no_show"}


# -- email -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attribute", ["EMAIL", "email"])
def test_email_is_never_an_attribute(attribute: str) -> None:
    result = map_fields(make_booking(), [FieldRule("email", attribute)], booking_status="booked")
    assert result.attributes == {}
    assert result.warnings == []


def test_other_source_mapped_to_email_is_refused_with_warning() -> None:
    result = map_fields(make_booking(), [FieldRule("host_email", "EMAIL")], booking_status="booked")
    assert "EMAIL" not in result.attributes
    assert len(result.warnings) == 1


# -- names -------------------------------------------------------------------------------------------


def test_split_names_from_calendly_win() -> None:
    booking = make_booking(name="Mary Ann van der Berg", first_name="Mary Ann", last_name="van der Berg")
    result = map_fields(booking, [FieldRule("name", "FIRSTNAME")], booking_status="booked")
    assert result.attributes == {"FIRSTNAME": "Mary Ann", "LASTNAME": "van der Berg"}


def test_full_name_is_split_on_first_token() -> None:
    booking = make_booking(name="  Mary   Ann Smith ", first_name=None, last_name=None)
    result = map_fields(booking, [FieldRule("name", "FIRSTNAME")], booking_status="booked")
    assert result.attributes == {"FIRSTNAME": "Mary", "LASTNAME": "Ann Smith"}


def test_single_word_name_sets_firstname_only() -> None:
    result = map_fields(make_booking(name="Cher"), [FieldRule("name", "FIRSTNAME")], booking_status="booked")
    assert result.attributes == {"FIRSTNAME": "Cher"}


def test_name_to_another_attribute_is_the_full_name() -> None:
    result = map_fields(make_booking(name="Levi  Duncan"), [FieldRule("name", "FULL_NAME")], booking_status="booked")
    assert result.attributes == {"FULL_NAME": "Levi Duncan"}


def test_explicit_lastname_rule_wins() -> None:
    rules = [FieldRule("name", "FIRSTNAME"), FieldRule("host", "LASTNAME")]
    result = map_fields(make_booking(), rules, booking_status="booked")
    assert result.attributes == {"FIRSTNAME": "Levi", "LASTNAME": "Host Name"}
    # Even when the explicit rule has nothing to give, the split name doesn't fill LASTNAME.
    rules = [FieldRule("name", "FIRSTNAME"), FieldRule("cancel_reason", "LASTNAME")]
    assert map_fields(make_booking(), rules, booking_status="booked").attributes == {"FIRSTNAME": "Levi"}


def test_first_and_last_name_sources_fall_back_to_split() -> None:
    rules = [FieldRule("first_name", "PRENOM"), FieldRule("last_name", "NOM")]
    result = map_fields(make_booking(first_name=None, last_name=None), rules, booking_status="booked")
    assert result.attributes == {"PRENOM": "Levi", "NOM": "Duncan"}


@pytest.mark.parametrize(
    "full,expected",
    [
        ("Levi Duncan", ("Levi", "Duncan")),
        ("Cher", ("Cher", "")),
        ("  ", ("", "")),
        ("Jean Claude  Van Damme", ("Jean", "Claude Van Damme")),
    ],
)
def test_split_name(full: str, expected: tuple[str, str]) -> None:
    assert split_name(full) == expected


# -- questions ---------------------------------------------------------------------------------------


def test_ambiguous_question_key_warns_and_is_not_set() -> None:
    qas = [
        {"question": "Company name", "answer": "Acme", "position": 0},
        {"question": "Company size", "answer": "50-200", "position": 1},
    ]
    qa, warning = match_question("company", qas)
    assert qa is None
    assert warning and "Company name" in warning and "Company size" in warning

    result = map_fields(
        make_booking(questions_and_answers=qas), [FieldRule("question:company", "COMPANY")], booking_status="booked"
    )
    assert "COMPANY" not in result.attributes
    assert len(result.warnings) == 1 and "Company size" in result.warnings[0]


def test_exact_match_beats_word_match() -> None:
    qas = [
        {"question": "Company size", "answer": "50-200", "position": 0},
        {"question": "Company", "answer": "Acme", "position": 1},
        {"question": "Company name", "answer": "Other", "position": 2},
    ]
    qa, warning = match_question("  COMPANY ", qas)
    assert warning is None and qa is not None and qa["answer"] == "Acme"
    qa, warning = match_question("company size", qas)
    assert warning is None and qa is not None and qa["answer"] == "50-200"


def test_key_underscores_and_hyphens_are_spaces() -> None:
    qas = [{"question": "What is your job title?", "answer": "CTO", "position": 0}]
    assert match_question("job_title", qas)[0]["answer"] == "CTO"
    assert match_question("job-title", qas)[0]["answer"] == "CTO"


def test_word_match_is_whole_word() -> None:
    qas = [
        {"question": "Telephone", "answer": "x", "position": 0},
        {"question": "Companyname", "answer": "y", "position": 1},
    ]
    assert match_question("phone", qas) == (None, None)
    assert match_question("company", qas) == (None, None)


def test_missing_question_is_silent() -> None:
    result = map_fields(
        make_booking(questions_and_answers=[]), [FieldRule("question:company", "COMPANY")], booking_status="booked"
    )
    assert result.attributes == {}
    assert result.warnings == []


def test_multi_select_answer_joined_for_text() -> None:
    qas = [{"question": "Which products interest you?", "answer": "Answer 1\nAnswer 2\nAnswer 3", "position": 0}]
    result = map_fields(
        make_booking(questions_and_answers=qas), [FieldRule("question:products", "INTERESTS")], booking_status="booked"
    )
    assert result.attributes == {"INTERESTS": "Answer 1, Answer 2, Answer 3"}


def test_empty_answer_is_omitted() -> None:
    qas = [{"question": "Company name", "answer": "   ", "position": 0}]
    result = map_fields(
        make_booking(questions_and_answers=qas), [FieldRule("question:company", "COMPANY")], booking_status="booked"
    )
    assert result.attributes == {}


# -- phones ------------------------------------------------------------------------------------------


def test_local_phone_uses_invitee_timezone() -> None:
    qas = [{"question": "Phone number", "answer": "06 12 34 56 78", "position": 0}]
    booking = make_booking(timezone="Europe/Paris", questions_and_answers=qas)
    result = map_fields(booking, [FieldRule("question:phone", "SMS")], booking_status="booked")
    assert result.attributes == {"SMS": "+33612345678"}


def test_invalid_phone_dropped_with_warning_rest_kept() -> None:
    qas = [
        {"question": "Phone number", "answer": "12345", "position": 0},
        {"question": "Company name", "answer": "Acme", "position": 1},
    ]
    booking = make_booking(timezone="Europe/Paris", questions_and_answers=qas)
    rules = [FieldRule("question:phone", "SMS"), FieldRule("question:company", "COMPANY")]
    result = map_fields(booking, rules, booking_status="booked")
    assert result.attributes == {"COMPANY": "Acme"}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("SMS: '12345' is not a valid phone number")
    assert "dropped" in result.warnings[0]


def test_text_reminder_number_as_source_and_phone_type() -> None:
    booking = make_booking(text_reminder_number="+44 7911 123456", timezone=None)
    rules = [FieldRule("text_reminder_number", "WHATSAPP"), FieldRule("text_reminder_number", "MOBILE", "phone")]
    result = map_fields(booking, rules, booking_status="booked")
    assert result.attributes == {"WHATSAPP": "+447911123456", "MOBILE": "+447911123456"}


# -- dates and other types ---------------------------------------------------------------------------


def test_date_in_invitee_timezone() -> None:
    booking = make_booking(start_time=datetime(2026, 8, 25, 2, 0, tzinfo=UTC), timezone="America/Chicago")
    result = map_fields(booking, [FieldRule("scheduled_at", "MEETING_DATE", "date")], booking_status="booked")
    assert result.attributes == {"MEETING_DATE": "2026-08-24"}


def test_date_in_utc_without_timezone() -> None:
    booking = make_booking(start_time=datetime(2026, 8, 25, 2, 0, tzinfo=UTC), timezone=None)
    result = map_fields(booking, [FieldRule("start", "MEETING_DATE")], booking_status="booked")
    assert result.attributes == {"MEETING_DATE": "2026-08-25"}


def test_format_date() -> None:
    value = datetime(2026, 8, 25, 2, 0, tzinfo=UTC)
    assert format_date(value, "America/Chicago") == "2026-08-24"
    assert format_date(value, None) == "2026-08-25"
    assert format_date(value, "Bogus/Zone") == "2026-08-25"
    assert format_date(datetime(2026, 8, 25, 2, 0), "Asia/Tokyo") == "2026-08-25"


def test_date_from_string_answer() -> None:
    qas = [
        {"question": "Birthday", "answer": "1989-11-23", "position": 0},
        {"question": "Start", "answer": "2026-08-25T02:00:00Z", "position": 1},
        {"question": "Renewal", "answer": "next week", "position": 2},
    ]
    rules = [
        FieldRule("question:birthday", "DOB", "date"),
        FieldRule("question:start", "START_DATE"),
        FieldRule("question:renewal", "RENEWAL_DATE"),
    ]
    result = map_fields(make_booking(questions_and_answers=qas), rules, booking_status="booked")
    assert result.attributes == {"DOB": "1989-11-23", "START_DATE": "2026-08-24"}
    assert len(result.warnings) == 1 and result.warnings[0].startswith("RENEWAL_DATE:")


def test_float_and_boolean() -> None:
    qas = [
        {"question": "Seats", "answer": "12", "position": 0},
        {"question": "Budget", "answer": "1.5", "position": 1},
        {"question": "Ratio", "answer": "1,5", "position": 2},
        {"question": "Newsletter", "answer": "Yes", "position": 3},
        {"question": "Existing customer", "answer": "0", "position": 4},
        {"question": "Agreed", "answer": "maybe", "position": 5},
    ]
    rules = [
        FieldRule("question:seats", "SEATS", "float"),
        FieldRule("question:budget", "BUDGET", "float"),
        FieldRule("question:ratio", "RATIO", "float"),
        FieldRule("question:newsletter", "OPT_IN", "boolean"),
        FieldRule("question:existing customer", "CUSTOMER", "boolean"),
        FieldRule("question:agreed", "AGREED", "boolean"),
    ]
    result = map_fields(make_booking(questions_and_answers=qas), rules, booking_status="booked")
    assert result.attributes == {"SEATS": 12, "BUDGET": 1.5, "OPT_IN": True, "CUSTOMER": False}
    assert [w.split(":")[0] for w in result.warnings] == ["RATIO", "AGREED"]


def test_event_and_tracking_sources() -> None:
    rules = [
        FieldRule("host", "HOST"),
        FieldRule("host_email", "HOST_EMAIL"),
        FieldRule("location", "LOCATION"),
        FieldRule("event_type_uri", "EVENT_TYPE_URI"),
        FieldRule("tracking.utm_campaign", "UTM_CAMPAIGN"),
        FieldRule("tracking.utm_term", "UTM_TERM"),
        FieldRule("timezone", "TZ"),
        FieldRule("end_time", "MEETING_END"),
    ]
    result = map_fields(make_booking(), rules, booking_status="booked")
    assert result.attributes == {
        "HOST": "Host Name",
        "HOST_EMAIL": "host@example.com",
        "LOCATION": "https://us06web.zoom.us/j/82003739767",
        "EVENT_TYPE_URI": "https://api.calendly.com/event_types/abc123",
        "UTM_CAMPAIGN": "fall",
        "TZ": "America/Chicago",
        "MEETING_END": "2026-08-25T14:00:00Z",
    }
    assert result.warnings == []


def test_unknown_source_warns_and_continues() -> None:
    rules = [
        FieldRule("favourite_colour", "COLOUR"),
        FieldRule("tracking.gclid", "GCLID"),
        FieldRule("event_type_name", "CALENDLY_EVENT_TYPE"),
    ]
    result = map_fields(make_booking(), rules, booking_status="booked")
    assert result.attributes == {"CALENDLY_EVENT_TYPE": "Mortgage Talk"}
    assert len(result.warnings) == 2
    assert "favourite_colour" in result.warnings[0] and "tracking.gclid" in result.warnings[1]


def test_missing_booking_attributes_do_not_raise() -> None:
    booking = SimpleNamespace(email="x@example.com")
    rules = [*PAGE_RULES, FieldRule("tracking.utm_source", "UTM_SOURCE"), FieldRule("created_at", "SIGNUP_DATE")]
    result = map_fields(booking, rules, booking_status="booked")
    assert result.attributes == {"BOOKING_STATUS": "booked"}
    assert result.warnings == []


@pytest.mark.parametrize(
    "attribute,declared,expected",
    [
        ("MEETING_DATE", None, "date"),
        ("RENEWAL_DATE", None, "date"),
        ("SMS", None, "phone"),
        ("WHATSAPP", None, "phone"),
        ("LANDLINE_NUMBER", None, "phone"),
        ("COMPANY", None, "text"),
        ("MEETING_DATE", "text", "text"),
        ("SEATS", "float", "float"),
    ],
)
def test_infer_type(attribute: str, declared: str | None, expected: str) -> None:
    assert infer_type(attribute, declared) == expected
