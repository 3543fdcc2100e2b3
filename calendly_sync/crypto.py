"""Encryption of secrets at rest (tokens, signing keys, API keys).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography`` through ``MultiFernet``, so keys can be
rotated: the first key of ``FIELD_ENCRYPTION_KEYS`` encrypts, every listed key decrypts, and
``manage.py rotate_encryption_keys`` re-encrypts every stored secret with the first key.
Without ``FIELD_ENCRYPTION_KEYS`` a key is derived from ``SECRET_KEY`` (fine for a sandbox; a
deployment sets its own keys so that rotating ``SECRET_KEY`` does not orphan its secrets).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from calendly_sync.conf import app_settings

PREFIX = "enc1:"  # marks an encrypted value, so plain legacy values are recognised


def _derived_key(secret_key: str) -> bytes:
    digest = hashlib.sha256(("calendly_sync.crypto:" + secret_key).encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str, fallbacks: tuple[str, ...] = ()) -> MultiFernet:
    """The first key encrypts; every key decrypts.

    The first key is ``FIELD_ENCRYPTION_KEYS``' first, or the one derived from ``SECRET_KEY``. Keys
    derived from ``SECRET_KEY`` and from each ``SECRET_KEY_FALLBACKS`` entry always decrypt too, so
    both ways of rotating work on an existing install: setting ``FIELD_ENCRYPTION_KEYS`` for the
    first time, and rotating ``SECRET_KEY`` the Django way (old value in ``SECRET_KEY_FALLBACKS``).
    ``rotate_encryption_keys`` then re-encrypts everything with the first key.
    """
    listed = [k.strip() for k in keys if k.strip()]
    derived = [_derived_key(s).decode() for s in (secret_key, *fallbacks) if s]
    raw = list(dict.fromkeys([*listed, *derived]))
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in raw])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(generate one with: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from exc


def fernet() -> MultiFernet:
    fallbacks = tuple(str(k) for k in getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ())
    return _fernet(tuple(app_settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY, fallbacks)


def encrypt(value: str) -> str:
    if value == "":
        return ""
    return PREFIX + fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return stored  # written before encryption was enabled; re-encrypted on next save/rotation
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS, SECRET_KEY or "
            "SECRET_KEY_FALLBACKS: keep the old key in FIELD_ENCRYPTION_KEYS (after the new one) or the "
            "old SECRET_KEY in SECRET_KEY_FALLBACKS until `manage.py rotate_encryption_keys` has run."
        ) from exc


def rotate(stored: str) -> str:
    """Re-encrypt ``stored`` with the primary key (plain values get encrypted)."""
    if not stored:
        return stored
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")


def mask(value: str | None, visible: int = 4) -> str:
    """Never more than the last ``visible`` characters, and nothing at all for short secrets."""
    if not value:
        return ""
    if len(value) <= visible * 3:
        return "•" * 8
    return "•" * 8 + value[-visible:]
