"""Schemathesis against the API's own OpenAPI schema, in process (WSGI): no input gives a 5xx.

Every operation of ``/api/schema/`` is called with generated requests, valid and invalid, with a
token, against the Calendly simulator. Each response must not be a server error and must match
the schema (documented status, content type and body). Run in-process through Django's WSGI
application, so the test database and the simulators are the ones the rest of the suite uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI application, keeping the test's database connection open between requests.

    Django's own test client does the same: at the end of a request the handler closes connections
    it finds inside a transaction, which would end the test's transaction (on PostgreSQL).
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_no_generated_request_gets_a_server_error(
    connection: Any, api_user: Any, demo_type: dict[str, Any], wsgi_app: Any
) -> None:
    from rest_framework.authtoken.models import Token

    auth = {"Authorization": f"Token {Token.objects.create(user=api_user).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=auth)
    uuid = demo_type["uri"].rsplit("/", 1)[-1]
    calls: dict[str, int] = {}
    statuses: set[int] = set()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/event-types/",
        "/api/event-types/{uuid}/available-times/",
        "/api/bookings/",
        "/api/scheduling-links/",
    }
    for operation in operations:
        variants: list[dict[str, Any]] = [{}]
        if "{uuid}" in operation.path:
            variants.append({"path_parameters": {"uuid": uuid}})  # a real event type too, not only random ones
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for fixed in variants:
                strategy = operation.as_strategy(generation_mode=mode, headers=auth, **fixed)

                @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
                @given(case=strategy)
                def run(case: Any) -> None:
                    response = case.call(headers=auth)
                    label = case.operation.label
                    calls[label] = calls.get(label, 0) + 1
                    statuses.add(response.status_code)
                    case.validate_response(response, checks=CHECKS)

                run()
    assert all(n >= 30 for n in calls.values()), calls
    assert not any(code >= 500 for code in statuses) and {200, 400}.issubset(statuses), statuses
