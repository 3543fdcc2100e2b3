"""The Connection admin, as a staff user sees it: every page loads, secrets never appear in full or in plain text."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection as db
from django.urls import reverse

from calendly_sync.inbox import rejections
from calendly_sync.models import EventTypeMapping
from tests.admin.conftest import BREVO, PAT, REFRESH, SIGNING

pytestmark = pytest.mark.django_db


def test_secrets_are_unreadable_in_the_database(populated):
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token, webhook_signing_key, brevo_api_key FROM calendly_sync_connection"
        )
        raw = " ".join(str(v) for row in cursor.fetchall() for v in row)
    for secret in (PAT, REFRESH, SIGNING, BREVO):
        assert secret not in raw
        assert secret[-12:] not in raw
    assert raw.count("enc1:") == 4
    populated.refresh_from_db()
    assert populated.access_token == PAT  # and the code still reads them


def test_every_admin_list_and_change_page_loads_without_showing_a_secret(admin_client, populated):
    pages = 0
    for model in admin.site._registry:
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        resp = admin_client.get(changelist)
        assert resp.status_code == 200, changelist
        pages += 1
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            resp = admin_client.get(change)
            assert resp.status_code == 200, change
            pages += 1
            body = resp.content.decode()
            for secret in (PAT, REFRESH, SIGNING, BREVO):
                assert secret not in body and secret[:-4] not in body, (change, secret[:6])
        search = admin_client.get(changelist, {"q": "levi@example.com"})
        assert search.status_code == 200
    assert pages >= 18  # nine models, list and change page each
    body = admin_client.get(reverse("admin:calendly_sync_connection_changelist")).content.decode()
    assert "••••" in body and PAT[-4:] in body  # last four characters at most


def test_saving_the_form_without_retyping_secrets_keeps_them(admin_client, populated):
    url = reverse("admin:calendly_sync_connection_change", args=[populated.pk])
    page = admin_client.get(url).content.decode()
    assert 'type="password"' in page and f'value="{PAT}"' not in page
    data = _form_data()
    resp = admin_client.post(url, data)
    assert resp.status_code == 302, resp.context["adminform"].form.errors if resp.context else resp
    populated.refresh_from_db()
    assert populated.access_token == PAT and populated.brevo_api_key == BREVO


def _form_data() -> dict[str, str]:
    return {
        "name": "sales",
        "enabled": "on",
        "auth_kind": "oauth",
        "scheduling_plan": "paid",  # the Calendly plan whose booking quotas the scheduling API keeps to (#13)
        "access_token": "",
        "refresh_token": "",
        "webhook_signing_key": "",
        "previous_signing_key": "",
        "brevo_api_key": "",
        "default_list_ids": "[]",
        "sync_contacts": "on",
        "sync_events": "on",
        "sync_cancellations": "on",
        "log_level": "info",
        "calendly_event_types": "[]",
        "brevo_lists": "[]",
        "brevo_attributes": "[]",
        "event_type_mappings-TOTAL_FORMS": "0",
        "event_type_mappings-INITIAL_FORMS": "0",
        "field_mappings-TOTAL_FORMS": "0",
        "field_mappings-INITIAL_FORMS": "0",
    }


@pytest.mark.parametrize("value", ['["ten"]', "[1, -2]", '{"a": 1}', "[true]", "[1.5]"])
def test_list_ids_that_are_not_positive_integers_are_refused_on_save(admin_client, populated, value):
    url = reverse("admin:calendly_sync_connection_change", args=[populated.pk])
    resp = admin_client.post(url, {**_form_data(), "default_list_ids": value})
    assert resp.status_code == 200  # the form again, with the error
    assert "Brevo list ids" in str(resp.context["adminform"].form.errors["default_list_ids"])
    populated.refresh_from_db()
    assert all(isinstance(i, int) for i in populated.default_list_ids)


@pytest.mark.parametrize("value", ['["\\ud800"]', '[10, "\\uDFFF"]', '["\\u0000"]'])
def test_list_ids_holding_strings_no_database_can_store_are_a_form_error(admin_client, populated, value):
    """A NUL or an unpaired surrogate escape in a JSON box: the form again, as typed (was a 500 rendering it)."""
    url = reverse("admin:calendly_sync_connection_change", args=[populated.pk])
    resp = admin_client.post(url, {**_form_data(), "default_list_ids": value})
    assert resp.status_code == 200
    assert "The JSON contains" in str(resp.context["adminform"].form.errors["default_list_ids"])
    assert value.replace('"', "&quot;") in resp.content.decode()  # shown as typed
    add = admin_client.post(
        reverse("admin:calendly_sync_eventtypemapping_add"),
        {
            "connection": populated.pk,
            "key": "bad",
            "event_type_uri": "https://api.calendly.com/event_types/bad",
            "list_ids": value,
            "enabled": "on",
        },
    )
    assert add.status_code == 200 and "The JSON contains" in str(add.context["adminform"].form.errors["list_ids"])
    assert not EventTypeMapping.objects.filter(key="bad").exists()


def test_a_mapping_with_a_bad_list_id_is_refused(admin_client, populated):
    url = reverse("admin:calendly_sync_eventtypemapping_add")
    resp = admin_client.post(
        url,
        {
            "connection": populated.pk,
            "key": "bad",
            "event_type_uri": "https://api.calendly.com/event_types/bad",
            "list_ids": '[10, "x"]',
            "enabled": "on",
        },
    )
    assert resp.status_code == 200 and not EventTypeMapping.objects.filter(key="bad").exists()


def test_a_connection_shows_its_refused_webhook_requests_and_the_doctors_verdict(admin_client, client, populated):
    for _ in range(3):
        assert (
            client.post(f"/webhooks/calendly/{populated.pk}/", data=b"{}", content_type="application/json").status_code
            == 401
        )
    rejections.counter.flush()
    resp = admin_client.get(reverse("admin:calendly_sync_connection_changelist"))
    assert "refused requests (24 h)" in resp.content.decode().lower()
    assert [row._refused for row in resp.context["cl"].result_list] == [3]
    page = admin_client.get(reverse("admin:calendly_sync_connection_change", args=[populated.pk])).content.decode()
    assert "OK: 3 refused in the last 24 h, noise (3 malformed or missing header)" in page


def test_default_lists_are_picked_by_name_once_the_brevo_lists_are_loaded(admin_client, populated):
    populated.brevo_lists = [{"id": 10, "name": "Discovery calls"}, {"id": 11, "name": "Product demos"}]
    populated.save(update_fields=["brevo_lists"])
    url = reverse("admin:calendly_sync_connection_change", args=[populated.pk])
    page = admin_client.get(url).content.decode()
    assert '<select name="default_list_ids"' in page and "Product demos (#11)" in page
    resp = admin_client.post(url, {**_form_data(), "default_list_ids": ["11", "10"]})
    assert resp.status_code == 302, resp.context["adminform"].form.errors if resp.context else resp
    populated.refresh_from_db()
    assert sorted(populated.default_list_ids) == [10, 11]
    resp = admin_client.post(url, {**_form_data(), "default_list_ids": ["12"]})  # not in the catalog
    assert resp.status_code == 200 and "default_list_ids" in resp.context["adminform"].form.errors
