"""The API's tokens in the admin (admin/tokens.py): a key is shown in full once, when it is made."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_a_new_token_is_shown_once_then_masked(admin_client: Any, django_user_model: Any) -> None:
    app = django_user_model.objects.create_user("booking-app")
    resp = admin_client.post(reverse("admin:authtoken_tokenproxy_add"), {"user": app.pk}, follow=True)
    key = Token.objects.get(user=app).key
    assert resp.status_code == 200
    assert any(key in str(m) and "not shown in full again" in str(m) for m in resp.context["messages"])
    listing = admin_client.get(reverse("admin:authtoken_tokenproxy_changelist")).content.decode()
    assert key not in listing and "••••••••" + key[-4:] in listing
