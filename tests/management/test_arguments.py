"""A command's argument no database can store is a CommandError naming it, not a traceback."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calendly_sync.models import Booking, Connection

pytestmark = pytest.mark.django_db

NOT_UTF8 = os.fsdecode(b"\xff")  # what Python makes of a shell argument's bytes that are not UTF-8: "\udcff"


@pytest.mark.parametrize("bad", [NOT_UTF8, "\x00"], ids=["not-utf8", "nul"])
@pytest.mark.parametrize(
    "args,name",
    [
        (["forget_invitee", "a{}@example.com"], "email"),
        (["forget_invitee", "a@example.com", "--connection=x{}"], "connection"),
        (["create_booking_links", "--list=1", "--event-type=discovery{}"], "event_type"),
        (["create_booking_links", "--list=1", "--event-type=discovery", "--connection=x{}"], "connection"),
        (["sync_calendly", "--event-type=x{}"], "event_type"),
        (["sync_calendly", "--connection=x{}"], "connection"),
        (["brevo_setup", "--connection=x{}"], "connection"),
        (["calendly_doctor", "--connection=x{}"], "connection"),
        (["calendly_webhooks", "list", "--connection=x{}"], "connection"),
        (["export_connector_config", "--connection=x{}"], "connection"),
    ],
)
def test_an_argument_no_database_can_store_is_a_command_error(connection, args, name, bad):
    argv = [a.replace("{}", bad) for a in args]
    with pytest.raises(CommandError) as refused:
        call_command(*argv, stdout=io.StringIO(), stderr=io.StringIO())
    assert f"the argument {name!r} contains" in str(refused.value)
    assert "surrogate" in str(refused.value) or "NUL" in str(refused.value)
    assert Connection.objects.count() == 1 and not Booking.objects.exists()


def test_a_file_path_may_be_any_bytes(connection, tmp_path):
    """An output file name is not text to store: a Linux name that is not UTF-8 still works."""
    target = os.path.join(os.fsdecode(tmp_path), "config" + NOT_UTF8 + ".yaml")
    call_command("export_connector_config", f"--output={target}", stdout=io.StringIO())
    assert os.path.exists(target)
