"""The API's tokens (DRF's ``authtoken``) in the admin: a key is shown in full once, when it is made.

Why replace DRF's admin: it lists every key in full, and the project never shows a secret in full
after it was entered (see "Secrets at rest"). Here the list shows the last four characters, and
saving a new token shows its key once, in the confirmation message, to copy into the app that
will call the API. ``manage.py drf_create_token USERNAME`` prints it the same way.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from calendly_sync.crypto import mask

admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class ApiTokenAdmin(TokenAdmin):
    list_display = ("masked_key", "user", "created")

    @admin.display(description="key")
    def masked_key(self, obj: TokenProxy) -> str:
        return mask(obj.key)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            messages.warning(
                request,
                f"API token for {obj.user}: {obj.key} — copy it now into the app that calls /api/; "
                "it is not shown in full again.",
            )
