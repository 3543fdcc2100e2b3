"""The site's URLs (connector_site/urls.py)."""

from __future__ import annotations

from django.test import Client


def test_root_sends_people_to_the_admin(client: Client) -> None:
    """``/`` was a 404: the first page a new user opens must lead somewhere."""
    resp = client.get("/")
    assert resp.status_code == 302 and resp["Location"] == "/admin/"
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith("/admin/login/")
