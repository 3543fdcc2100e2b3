"""A model field that stores its value encrypted and hands the plain value to Python code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from calendly_sync import crypto

if TYPE_CHECKING:
    from django.db.models.expressions import Combinable

    # The stubs make fields generic (what may be assigned, what is read back); Django's classes are
    # not subscriptable at run time, so the parameters exist for the type checker only.
    _TextField = models.TextField[str | Combinable, str]
else:
    _TextField = models.TextField


class EncryptedTextField(_TextField):
    """Text encrypted at rest with :mod:`calendly_sync.crypto`.

    Not searchable or indexable by design: a secret is only ever read by its row.
    """

    description = "Encrypted text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        return crypto.decrypt(value or "")

    def to_python(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str) and value.startswith(crypto.PREFIX):
            return crypto.decrypt(value)
        return str(value)

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return ""
        if isinstance(value, str) and value.startswith(crypto.PREFIX):
            return value
        return crypto.encrypt(str(value))
