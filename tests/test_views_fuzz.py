"""Fuzz the webhook endpoint: signed random bodies and random headers never cause a 5xx."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calendly_sync.models import Connection
from calendly_sync.sandbox.signing import sign

KEY = "fuzz-key"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
events = st.sampled_from(
    [
        "invitee.created",
        "invitee.canceled",
        "invitee_no_show.created",
        "invitee_no_show.deleted",
        "event_type.updated",
        "event_type.deleted",
        "other.thing",
    ]
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "uri": st.text(max_size=40) | st.just("https://api.calendly.com/scheduled_events/e/invitees/i"),
        "email": st.emails() | st.text(max_size=20) | st.none(),
        "created_at": st.text(max_size=30) | st.just("2026-08-22T17:13:17.150860Z"),
        "updated_at": st.text(max_size=30) | st.none(),
        "status": st.text(max_size=10),
        "no_show": json_values,
        "scheduled_event": json_values,
        "questions_and_answers": json_values,
        "tracking": json_values,
        "cancellation": json_values,
        "rescheduled": json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {"event": events | st.text(max_size=20) | json_values},
    optional={"payload": payloads | json_values, "created_at": st.text(max_size=30), "created_by": json_values},
)
# Signed bodies nested far deeper than any Calendly delivery (a parser that recurses would crash).
deep_bodies = st.builds(
    lambda depth, opener: (
        (
            '{"event": "invitee.created", "payload": ' + opener * depth + ("]" if opener == "[" else "}") * depth + "}"
        ).encode()
        if opener == "["
        else ('{"event": "invitee.created", "payload": ' + '{"a": ' * depth + "1" + "}" * depth + "}").encode()
    ),
    st.integers(min_value=60, max_value=20_000),
    st.sampled_from(["[", "{"]),
)
bodies = envelopes.map(lambda e: json.dumps(e).encode()) | st.binary(max_size=300) | deep_bodies
headers = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.builds(
        lambda t, v: f"t={t},v1={v}",
        st.integers()
        # other scripts' digits and superscripts ("٣", "²"), and numbers far longer than a Unix time
        | st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=12)
        | st.integers(min_value=13, max_value=6_000).map(lambda n: "9" * n),
        st.text(max_size=70),
    ),
)


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, signed=st.booleans(), header=headers, process=st.booleans(), routed_by_key=st.booleans())
def test_no_input_causes_a_server_error(client, body, signed, header, process, routed_by_key):
    from calendly_sync.inbox.deliveries import process_delivery
    from calendly_sync.models import WebhookDelivery

    conn, _ = Connection.objects.get_or_create(
        name="fuzz", defaults={"webhook_signing_key": KEY, "sync_contacts": False, "sync_events": False}
    )
    signature = sign(body, KEY, int(time.time())) if signed else header
    extra = {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": signature} if signature is not None else {}
    url = "/webhooks/calendly/" if routed_by_key else f"/webhooks/calendly/{conn.pk}/"
    resp = client.post(url, data=body, content_type="application/json", **extra)
    assert resp.status_code < 500
    assert resp.status_code in (200, 400, 401, 413)
    if signed and resp.status_code == 400:
        assert "detail" in resp.json()
    if process:  # processing a stored random delivery fails cleanly too, never raises
        for pk in WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True):
            assert process_delivery(pk) in ("processed", "failed", "pending")
