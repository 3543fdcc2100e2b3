"""A connection's API clients, and learning which Calendly user and organization its token is for."""

from __future__ import annotations

import pytest

from calendly_sync.credentials.clients import calendly_client_for, identify
from calendly_sync.models import Connection

pytestmark = pytest.mark.django_db


def test_identify_stores_the_user_and_organization_once(connection, sims):
    calendly_sim, _ = sims
    client = calendly_client_for(connection)
    identify(connection, client)
    connection.refresh_from_db()
    assert connection.calendly_user_uri == calendly_sim.admin["uri"]
    assert connection.calendly_organization_uri == calendly_sim.org["uri"]
    calls = calendly_sim.count(r"^GET /users/me$")
    identify(connection, client)
    assert calendly_sim.count(r"^GET /users/me$") == calls  # known: not asked again


def test_only_a_sync_run_marks_a_new_connection_active(connection, sims):
    assert connection.status == Connection.Status.NEW
    identify(connection, calendly_client_for(connection))  # e.g. registering webhooks
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEW
    Connection.objects.filter(pk=connection.pk).update(calendly_user_uri="", calendly_organization_uri="")
    connection.refresh_from_db()
    identify(connection, calendly_client_for(connection), activate=True)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
