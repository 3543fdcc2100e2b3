"""The connection's catalog: what the admin offers when mappings are edited.

Loaded after a connect and on "Reload event types and Brevo lists": Calendly event types with
their custom questions, Brevo lists and Brevo contact attributes, stored as JSON on the
Connection (``calendly_event_types``, ``brevo_lists``, ``brevo_attributes``, ``catalog_loaded_at``)
so the admin forms can offer selects instead of typed URIs and ids. Each half is independent: a
missing Brevo key or a missing Calendly scope leaves that half as it was and says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.utils import timezone

from calendly_sync.brevo.errors import BrevoError
from calendly_sync.calendly.errors import CalendlyError, CalendlyPermissionError
from calendly_sync.credentials.clients import MissingCredentials, brevo_client_for, calendly_client_for
from calendly_sync.credentials.tokens import ReconnectRequired, TokenRefreshError
from calendly_sync.models import Connection
from calendly_sync.storable import unstorable
from calendly_sync.sync.mapping import KNOWN_SOURCES, QUESTION_PREFIX

log = logging.getLogger(__name__)

#: Brevo attribute categories a contact write can set (calculated and global ones are read-only).
WRITABLE_ATTRIBUTE_CATEGORIES = {"normal", "category", "transactional", ""}


@dataclass
class CatalogReport:
    """What a load did, as (message level, text) lines for the admin."""

    event_types: int | None = None
    lists: int | None = None
    attributes: int | None = None
    lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(level >= messages.WARNING for level, _ in self.lines)

    def add(self, level: int, text: str) -> None:
        self.lines.append((level, text))


def _event_type_record(et: dict[str, Any]) -> dict[str, Any]:
    questions = [
        {
            "name": q.get("name", ""),
            "type": q.get("type", ""),
            "position": q.get("position", 0),
            "enabled": bool(q.get("enabled", True)),
            "required": bool(q.get("required", False)),
        }
        for q in (et.get("custom_questions") or [])
        if isinstance(q, dict) and q.get("name")
    ]
    profile = et.get("profile") or {}
    return {
        "uri": et.get("uri", ""),
        "name": et.get("name", ""),
        "slug": et.get("slug", ""),
        "active": bool(et.get("active", True)),
        "kind": et.get("kind", ""),
        "scheduling_url": et.get("scheduling_url", ""),
        "duration": et.get("duration"),
        "profile_name": profile.get("name", "") if isinstance(profile, dict) else "",
        "custom_questions": sorted(questions, key=lambda q: q["position"] or 0),
    }


def fetch_event_types(conn: Connection) -> list[dict[str, Any]]:
    """Event types of the organization (admins) or of the user (members), with their questions."""
    client = calendly_client_for(conn)
    if not conn.calendly_user_uri or not conn.calendly_organization_uri:
        me = client.get_current_user()
        conn.calendly_user_uri = conn.calendly_user_uri or me.get("uri", "")
        conn.calendly_organization_uri = conn.calendly_organization_uri or me.get("current_organization", "")
        conn.calendly_user_name = conn.calendly_user_name or me.get("name", "")
        conn.calendly_user_email = conn.calendly_user_email or me.get("email", "")
    items: list[dict[str, Any]]
    try:
        items = list(
            client.list_event_types(
                organization=conn.calendly_organization_uri or None,
                user=None if conn.calendly_organization_uri else conn.calendly_user_uri,
            )
        )
    except CalendlyPermissionError as exc:
        if exc.missing_scopes or not conn.calendly_user_uri:
            raise
        # Members may not list the organization's event types (§13.7): fall back to their own.
        items = list(client.list_event_types(user=conn.calendly_user_uri))
    records = [_event_type_record(et) for et in items if et.get("uri")]
    return sorted(records, key=lambda r: (not r["active"], r["name"].lower()))


def _storable(records: list[dict[str, Any]], what: str, key: str, report: CatalogReport) -> list[dict[str, Any]]:
    """The records a database can store; each other one is left out and named in the report.

    Calendly's or Brevo's JSON may hold a NUL or an unpaired surrogate escape (in a name, say): the
    save of the whole catalog would fail on it (a 500 in the admin), not just that record.
    """
    kept = []
    for record in records:
        problem = unstorable(record)
        if problem:
            report.add(messages.WARNING, f"{what} {record.get(key)!r} left out: its data {problem}.")
        else:
            kept.append(record)
    return kept


def load_catalog(conn: Connection) -> CatalogReport:
    """Reload both halves of the catalog and save them on ``conn`` (only the catalog fields)."""
    report = CatalogReport()
    fields = ["updated_at"]
    try:
        event_types = fetch_event_types(conn)
    except (ReconnectRequired, TokenRefreshError, CalendlyError, MissingCredentials) as exc:
        text = f"Calendly event types not loaded: {exc}"
        if isinstance(exc, CalendlyPermissionError) and exc.missing_scopes:
            text = (
                f"Calendly event types not loaded: the token lacks the scope(s) "
                f"{', '.join(exc.missing_scopes)}. Reconnect with these scopes ({exc.message})."
            )
        report.add(messages.ERROR, text)
        conn.last_error = text[:2000]
        conn.last_error_at = timezone.now()
        fields += ["last_error", "last_error_at"]
    else:
        event_types = _storable(event_types, "Calendly event type", "uri", report)
        conn.calendly_event_types = event_types
        report.event_types = len(event_types)
        questions = sum(len(et["custom_questions"]) for et in event_types)
        report.add(messages.SUCCESS, f"Loaded {len(event_types)} Calendly event types ({questions} custom questions).")
        fields += [
            "calendly_event_types",
            "calendly_user_uri",
            "calendly_organization_uri",
            "calendly_user_name",
            "calendly_user_email",
        ]

    if not conn.effective_brevo_api_key():
        report.add(
            messages.WARNING,
            "Brevo lists and attributes not loaded: no Brevo API key yet. Set one on this "
            "connection (or BREVO_API_KEY), then press 'Reload event types and Brevo lists'.",
        )
    else:
        try:
            brevo = brevo_client_for(conn)
            lists = brevo.list_lists()
            attributes = brevo.list_attributes()
        except (BrevoError, MissingCredentials) as exc:
            report.add(messages.ERROR, f"Brevo lists and attributes not loaded: {exc}")
        else:
            list_records = [
                {
                    "id": int(lst["id"]),
                    "name": lst.get("name", ""),
                    "folderId": lst.get("folderId"),
                    "totalSubscribers": lst.get("totalSubscribers"),
                }
                for lst in lists
                if lst.get("id") is not None
            ]
            attribute_records = [
                {
                    "name": str(a.get("name", "")).upper(),
                    "category": a.get("category", ""),
                    "type": a.get("type", ""),
                }
                for a in attributes
                if a.get("name")
            ]
            conn.brevo_lists = sorted(
                _storable(list_records, "Brevo list", "id", report),
                key=lambda item: (str(item["name"]).lower(), item["id"]),
            )
            conn.brevo_attributes = sorted(
                _storable(attribute_records, "Brevo attribute", "name", report), key=lambda item: item["name"]
            )
            report.lists, report.attributes = len(conn.brevo_lists), len(conn.brevo_attributes)
            report.add(messages.SUCCESS, f"Loaded {report.lists} Brevo lists and {report.attributes} attributes.")
            fields += ["brevo_lists", "brevo_attributes"]

    if report.event_types is not None or report.lists is not None:
        conn.catalog_loaded_at = timezone.now()
        fields.append("catalog_loaded_at")
    if conn.pk:
        # Only the catalog fields: the token fields may have been rotated by the client meanwhile.
        conn.save(update_fields=sorted(set(fields)))
    return report


# -- choices for the admin forms ----------------------------------------------------------------


def event_type_choices(conn: Connection | None) -> list[tuple[str, str]]:
    out = []
    for et in (conn.calendly_event_types if conn else None) or []:
        if not isinstance(et, dict) or not et.get("uri"):
            continue
        label = et.get("name") or et["uri"]
        if not et.get("active", True):
            label += " (inactive)"
        out.append((et["uri"], label))
    return out


def event_type_name(conn: Connection | None, uri: str) -> str:
    for et in (conn.calendly_event_types if conn else None) or []:
        if isinstance(et, dict) and et.get("uri") == uri:
            return str(et.get("name") or "")
    return ""


def list_choices(conn: Connection | None) -> list[tuple[int, str]]:
    return [
        (int(lst["id"]), f"{lst.get('name') or 'list'} (#{lst['id']})")
        for lst in ((conn.brevo_lists if conn else None) or [])
        if isinstance(lst, dict) and lst.get("id") is not None
    ]


def question_names(conn: Connection | None) -> list[str]:
    seen: list[str] = []
    for et in (conn.calendly_event_types if conn else None) or []:
        for q in (et.get("custom_questions") or []) if isinstance(et, dict) else []:
            name = str(q.get("name") or "").strip()
            if name and name not in seen:
                seen.append(name)
    return seen


def source_choices(conn: Connection | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices: the known invitee/event fields, then one ``question:<name>`` per loaded question."""
    groups = [("Invitee and event fields", [(s, s) for s in sorted(KNOWN_SOURCES)])]
    questions = question_names(conn)
    if questions:
        groups.append(
            ("Custom questions (Calendly)", [(f"{QUESTION_PREFIX}{q}", f"{QUESTION_PREFIX}{q}") for q in questions])
        )
    return groups


def attribute_choices(conn: Connection | None) -> list[tuple[str, str]]:
    out = []
    for attr in (conn.brevo_attributes if conn else None) or []:
        if not isinstance(attr, dict) or not attr.get("name"):
            continue
        if str(attr.get("category") or "") not in WRITABLE_ATTRIBUTE_CATEGORIES:
            continue
        kind = attr.get("type") or attr.get("category") or ""
        out.append((attr["name"], f"{attr['name']} ({kind})" if kind else attr["name"]))
    return out
