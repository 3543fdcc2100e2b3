"""Fuzz the booking page: random query strings and random form posts never cause a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calendly_sync.booking_page.forms import issue_token
from tests.booking_page.conftest import uuid_of

pytestmark = pytest.mark.django_db

texts = st.text(max_size=40) | st.sampled_from(["UTC", "Europe/London", "2026-12-07T09:00:00Z", "2999-01-01", ""])
queries = st.fixed_dictionaries(
    {},
    optional={"tz": texts, "from": texts, "connection": texts | st.just("default"), "name": texts, "email": texts},
)
posts = st.fixed_dictionaries(
    {},
    optional={
        "tz": texts,
        "start_time": texts,
        "name": texts,
        "email": texts | st.emails(),
        "location": texts | st.sampled_from(["physical", "zoom_conference"]),
        "q0": texts,
        "q1": texts | st.sampled_from(["1-10", "11-50"]),
        "q2": st.lists(texts, max_size=4),
        "q3": texts,
        "q4": texts,
        "token": texts,
    },
)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    # The test client (like a browser) cannot send a NUL in a URL; a form field may carry one.
    return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in data.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries, form=posts, signed=st.booleans(), uuid_kind=st.sampled_from(["real", "random"]))
def test_the_booking_page_never_answers_5xx(
    connection: Any,
    page_type: dict[str, Any],
    query: dict[str, Any],
    form: dict[str, Any],
    signed: bool,
    uuid_kind: str,
) -> None:
    uuid = uuid_of(page_type) if uuid_kind == "real" else "a1b2c3"
    client = Client(enforce_csrf_checks=True)
    got = client.get(f"/book/{uuid}/", _clean(query))
    assert got.status_code < 500, got.content[:300]
    if signed:
        form = {**form, "token": issue_token(uuid)}
    posted = client.post(f"/book/{uuid}/", form)
    assert posted.status_code < 500, posted.content[:300]
    assert "frame-ancestors" in posted["Content-Security-Policy"]
