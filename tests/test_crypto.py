"""Secrets at rest survive both ways of rotating keys, and rotate_encryption_keys completes them."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from calendly_sync import crypto
from calendly_sync.models import Connection

pytestmark = pytest.mark.django_db

TOKEN = "pat-0123456789abcdef-secret"


def stored(conn: Connection, column: str = "access_token") -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM calendly_sync_connection WHERE id = %s", [conn.pk])
        return str(cursor.fetchone()[0])


def test_setting_field_encryption_keys_on_an_existing_install(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    conn = Connection.objects.create(name="old", access_token=TOKEN, webhook_signing_key="whsec-1")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # secrets were encrypted with the SECRET_KEY-derived key
    assert Connection.objects.get(pk=conn.pk).access_token == TOKEN
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    token = stored(conn)[len(crypto.PREFIX) :]
    assert Fernet(new_key.encode()).decrypt(token.encode()).decode() == TOKEN  # now under the new key


def test_rotating_secret_key_the_django_way(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "old-secret-key-" + "x" * 40
    conn = Connection.objects.create(name="rotated", access_token=TOKEN)
    settings.SECRET_KEY = "new-secret-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["old-secret-key-" + "x" * 40]
    assert Connection.objects.get(pk=conn.pk).access_token == TOKEN
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.SECRET_KEY_FALLBACKS = []  # the old key can go once everything is re-encrypted
    assert Connection.objects.get(pk=conn.pk).access_token == TOKEN


def test_a_secret_no_key_can_read_is_a_clear_configuration_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    conn = Connection.objects.create(name="lost", access_token=TOKEN)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="SECRET_KEY_FALLBACKS"):
        Connection.objects.get(pk=conn.pk)
