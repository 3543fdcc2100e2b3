"""The booking form, built from the event type's custom questions, and its signed form token.

Why a signed token instead of Django's CSRF cookie on this page
----------------------------------------------------------------
The page is meant to sit in an iframe on another site. There, a cookie this site sets is a
third-party cookie: browsers block or partition it, and a ``SameSite=Lax`` cookie (Django's
default) is never sent with the form's ``POST`` from inside a cross-site frame, while
``SameSite=None`` needs ``Secure`` (HTTPS only). Django's CSRF check would then refuse every
booking made in a frame. So the view is ``csrf_exempt`` and the form carries its own token instead:
a value signed with ``SECRET_KEY`` (``TimestampSigner``, salted for this page) that names the event
type and a random nonce, valid for :data:`FORM_MAX_AGE`.

What that keeps: a booking ``POST`` is accepted only with a token this site issued, for this event
type, recently, so a form on another site cannot post bookings blindly, and an old page cannot be
resubmitted a day later. What CSRF usually protects (acting with a visitor's session) is not at
stake here: the page reads no cookie and no session and books only in the name the visitor types.
The nonce also makes a resubmitted form (a double click, a reload) show the first confirmation
again instead of booking twice (remembered in Django's cache for as long as the token is valid:
per process with the default local-memory cache, across processes with a shared one). Were it
missed, Calendly itself refuses the second booking of the same time ("slot taken").
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from django import forms
from django.core import signing

from calendly_sync.booking_page.slots import field_for_error, parse_start, question_field
from calendly_sync.scheduling.answers import MAX_ANSWER_LENGTH, Question
from calendly_sync.scheduling.service import BookingRequest, Invitee

#: Seconds a rendered form may be submitted.
FORM_MAX_AGE = 2 * 3600
_SALT = "calendly_sync.booking_page.form"

TokenState = Literal["valid", "expired", "invalid"]


def issue_token(event_type_uuid: str) -> str:
    """A fresh form token for the event type."""
    return signing.TimestampSigner(salt=_SALT).sign_object({"e": event_type_uuid, "n": secrets.token_urlsafe(12)})


def check_token(token: str, event_type_uuid: str) -> tuple[TokenState, str]:
    """Whether ``token`` was issued by this site for this event type and is still valid, and its nonce."""
    if not token or len(token) > 500:
        return "invalid", ""
    signer = signing.TimestampSigner(salt=_SALT)
    try:
        data = signer.unsign_object(token, max_age=FORM_MAX_AGE)
    except signing.SignatureExpired:
        return "expired", ""
    except (signing.BadSignature, ValueError):
        return "invalid", ""
    if not isinstance(data, dict) or data.get("e") != event_type_uuid or not isinstance(data.get("n"), str):
        return "invalid", ""
    return "valid", data["n"]


#: Calendly's location kinds that need nothing from the invitee, and how a visitor reads them.
LOCATION_LABELS = {
    "physical": "In person",
    "zoom_conference": "Zoom",
    "google_conference": "Google Meet",
    "microsoft_teams_conference": "Microsoft Teams",
    "webex_conference": "Webex",
    "gotomeeting": "GoTo Meeting",
    "inbound_call": "Phone call (you call us)",
    "custom": "Other",
}


def location_choices(locations: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The locations a visitor may pick (kinds that need no answer from them), labelled; empty when
    there is nothing to choose (none or one: Calendly then uses the event type's own)."""
    choices: list[tuple[str, str]] = []
    for loc in locations:
        kind = str(loc.get("kind") or "")
        if kind not in LOCATION_LABELS or any(kind == k for k, _ in choices):
            continue
        label = LOCATION_LABELS[kind]
        if kind == "physical" and loc.get("location"):
            label = f"In person: {loc['location']}"
        choices.append((kind, label))
    return choices if len(choices) > 1 else []


def _question_field(question: Question) -> forms.Field:
    common: dict[str, Any] = {"label": question.name, "required": question.required}
    if question.type == "single_select" and question.answer_choices:
        return forms.ChoiceField(choices=[(c, c) for c in question.answer_choices], widget=forms.RadioSelect, **common)
    if question.type == "multi_select" and question.answer_choices:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in question.answer_choices], widget=forms.CheckboxSelectMultiple, **common
        )
    if question.type == "text":
        return forms.CharField(max_length=MAX_ANSWER_LENGTH, widget=forms.Textarea(attrs={"rows": 4}), **common)
    if question.type == "phone_number":
        attrs = {"type": "tel", "autocomplete": "tel", "inputmode": "tel"}
        return forms.CharField(max_length=40, widget=forms.TextInput(attrs=attrs), **common)
    return forms.CharField(max_length=MAX_ANSWER_LENGTH, **common)


class BookingForm(forms.Form):
    """Who books, when, and the answers to the event type's questions (one field per question).

    The hidden ``token`` and ``tz`` are not fields: the view checks them (``check_token``,
    ``resolve_timezone``) and says what is wrong with them, so a bad value is never an error on a
    field nobody can see.
    """

    name = forms.CharField(label="Your name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    start_time = forms.CharField(max_length=40, error_messages={"required": "Pick a time."}, widget=forms.HiddenInput)

    def __init__(
        self,
        questions: Sequence[Question],
        locations: Sequence[tuple[str, str]] = (),
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        if locations:
            self.fields["location"] = forms.ChoiceField(
                label="Where", choices=list(locations), widget=forms.RadioSelect
            )
        for i, question in enumerate(self.questions):
            self.fields[question_field(i)] = _question_field(question)

    def clean_start_time(self) -> str:
        value: str = self.cleaned_data["start_time"]
        if parse_start(value) is None:
            raise forms.ValidationError("Pick one of the times shown.")
        return value

    @property
    def question_fields(self) -> list[forms.BoundField]:
        return [self[question_field(i)] for i in range(len(self.questions))]

    def booking_request(self, event_type: str, tz: str) -> BookingRequest:
        """The service's request for the cleaned form; answers keyed by the host's question text."""
        data = self.cleaned_data
        answers: dict[str, Any] = {}
        for i, question in enumerate(self.questions):
            value = data.get(question_field(i))
            if value:
                answers[question.name] = value
        start = parse_start(data["start_time"])
        assert start is not None  # clean_start_time checked it
        location = {"kind": data["location"]} if data.get("location") else None
        return BookingRequest(
            event_type=event_type,
            start_time=start,
            invitee=Invitee(email=data["email"], timezone=tz, name=data["name"].strip()),
            answers=answers,
            location=location,
        )

    def add_scheduling_errors(self, errors: Mapping[str, str]) -> list[str]:
        """Put the service's field errors next to their fields; return those that belong to no field."""
        names = [q.name for q in self.questions]
        rest: list[str] = []
        for path, reason in errors.items():
            field = field_for_error(path, names)
            if field is not None and field in self.fields:
                self.add_error(field, reason)
            else:
                rest.append(reason)
        return rest
