"""Reads recorded before a write transaction and checked in it."""

from __future__ import annotations

import pytest

from calendly_sync.models import Contact
from calendly_sync.sync.reads import Reads

pytestmark = pytest.mark.django_db


def _contacts(connection):  # type: ignore[no-untyped-def]
    return Contact.objects.filter(connection=connection, email__in=["a@example.com", "b@example.com"]).order_by("pk")


def test_unchanged_when_every_query_returns_what_it_returned(connection):
    Contact.objects.create(connection=connection, email="a@example.com", attributes={"FIRSTNAME": "A"})
    reads = Reads.recorded()
    [row] = reads.rows(_contacts(connection), lock=True)
    assert reads.values(_contacts(connection).values_list("email", flat=True)) == ["a@example.com"]
    row.attributes = {"FIRSTNAME": "changed in memory only"}  # the computation's own changes do not count
    assert reads.unchanged()


@pytest.mark.parametrize(
    "change",
    [
        lambda c: Contact.objects.filter(email="a@example.com").update(attributes={"FIRSTNAME": "B"}),
        lambda c: Contact.objects.filter(email="a@example.com").update(pushed_hash="pushed", dirty=False),
        lambda c: Contact.objects.create(connection=c, email="b@example.com"),  # a row appeared
        lambda c: Contact.objects.filter(email="a@example.com").delete(),  # a row went away
    ],
    ids=["json column", "plain columns", "row added", "row deleted"],
)
def test_any_change_to_what_was_read_is_seen(connection, change):
    Contact.objects.create(connection=connection, email="a@example.com", attributes={"FIRSTNAME": "A"})
    rows, values = Reads.recorded(), Reads.recorded()
    rows.rows(_contacts(connection))
    values.values(_contacts(connection).values_list("email", "attributes", "pushed_hash"))
    change(connection)
    assert not rows.unchanged()
    assert not values.unchanged()


def test_locked_reads_record_nothing(connection):
    reads = Reads.locked()
    assert reads.rows(_contacts(connection), lock=True) == []
    assert reads.queries == [] and reads.unchanged()
