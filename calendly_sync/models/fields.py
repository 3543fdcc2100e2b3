"""Model field helpers: the encrypted text field (secrets at rest) and the Brevo list-id validator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
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


def validate_list_ids(value: object) -> None:
    """Brevo list ids: a list of positive integers (``[10, 12]``). Anything else would stop the
    projection of every booking of the connection, so it is refused when saved."""
    if not isinstance(value, list):
        raise ValidationError("Enter a list of Brevo list ids, e.g. [10, 12].", code="invalid_list_ids")
    bad = [item for item in value if isinstance(item, bool) or not isinstance(item, int) or item <= 0]
    if bad:
        raise ValidationError(
            "Brevo list ids are positive whole numbers; not %(bad)s.",
            code="invalid_list_ids",
            params={"bad": ", ".join(repr(item) for item in bad[:5])},
        )
