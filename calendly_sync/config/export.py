"""Exporting the stored configuration as the YAML file the reader accepts.

:func:`export_config` writes connections and their mappings in the product page's shape, so a
set-up made in the admin can be committed, reviewed and imported elsewhere; re-importing an export
into the database it came from changes nothing. Secrets are replaced by ``${VAR}`` placeholders,
so an export can be committed or pasted into a ticket safely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from django.utils.text import slugify

from calendly_sync.config.schema import DEFAULT_NAME, QUESTION_PREFIX, default_attribute_type, list_id_set
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping

__all__ = ["DEFAULT_SECRET_ENV", "export_config", "secret_variable"]

#: Environment variable names ``export_config`` writes for each secret (suffixed for non-default names).
DEFAULT_SECRET_ENV: dict[str, str] = {
    "access_token": "CALENDLY_ACCESS_TOKEN",
    "webhook_signing_key": "CALENDLY_WEBHOOK_SIGNING_KEY",
    "brevo_api_key": "BREVO_API_KEY",
}


class _Flow(dict[str, Any]):
    """A small mapping written on one line, like the page's ``{list_id: 10, event_type_uri: ...}``."""


class _Quoted(str):
    """A string written in double quotes, as the page writes ``${VAR}`` placeholders and URIs."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))


def secret_variable(field_name: str, connection_name: str, secret_env: Mapping[str, str] | None = None) -> str:
    """The variable a connection's secret is exported as: ``CALENDLY_ACCESS_TOKEN_SALES`` for "sales"."""
    base = {**DEFAULT_SECRET_ENV, **(secret_env or {})}[field_name]
    if connection_name == DEFAULT_NAME:
        return base
    return f"{base}_{re.sub(r'[^A-Z0-9]', '_', connection_name.upper())}"


def _list_ids_for_export(value: Any) -> list[Any]:
    ids = list_id_set(value)
    return ids if ids is not None else list(value or [])


def _export_connection(
    conn: Connection, secret_env: Mapping[str, str] | None, with_name: bool, variables: list[str]
) -> dict[str, Any]:
    def placeholder(field_name: str) -> _Quoted:
        var = secret_variable(field_name, conn.name, secret_env)
        variables.append(var)
        return _Quoted(f"${{{var}}}")

    block: dict[str, Any] = {}
    if with_name:
        block["name"] = conn.name
    block["enabled"] = conn.enabled
    block["auth"] = conn.auth_kind
    if conn.auth_kind == Connection.AuthKind.PAT and conn.access_token:
        block["access_token"] = placeholder("access_token")
    block["sync"] = _Flow(contacts=conn.sync_contacts, events=conn.sync_events, cancellations=conn.sync_cancellations)

    events: dict[str, Any] = {}
    used: set[str] = set()
    for m in conn.event_type_mappings.order_by("id"):  # creation order: the file's order
        key = m.key or _mapping_key(m)
        base, n = key, 2
        while key in used:
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        entry = _Flow()
        ids = _list_ids_for_export(m.list_ids)
        if len(ids) == 1:
            entry["list_id"] = ids[0]
        else:
            entry["list_ids"] = ids
        entry["event_type_uri"] = _Quoted(m.event_type_uri)
        if m.event_type_name:
            entry["name"] = m.event_type_name
        if m.unlink_on_cancel:
            entry["unlink_on_cancel"] = True
        if not m.enabled:
            entry["enabled"] = False
        events[key] = entry
    block["event_mapping"] = events
    block["default_list_ids"] = _list_ids_for_export(conn.default_list_ids)
    if conn.webhook_signing_key:
        block["webhook"] = {"signing_key": placeholder("webhook_signing_key")}
    block["field_mapping"] = _export_field_mappings(conn)
    if conn.brevo_api_key:
        block["brevo"] = {"api_key": placeholder("brevo_api_key")}
    block["debug"] = conn.debug
    block["log_level"] = conn.log_level
    block["log_webhooks"] = conn.log_webhooks
    return block


def _mapping_key(m: EventTypeMapping) -> str:
    """A YAML key for a mapping the admin created without one (the import then stores it)."""
    return (
        slugify(m.event_type_name).replace("-", "_")
        or re.sub(r"[^-a-zA-Z0-9_]", "_", m.event_type_uri.rstrip("/").rsplit("/", 1)[-1])[:100]
        or f"mapping_{m.pk}"
    )


def _export_field_mappings(conn: Connection) -> dict[str, Any]:
    rows = [
        r
        for r in conn.field_mappings.order_by("position", "id")
        if not (r.source == "email" and r.attribute == "email")
    ]  # a legacy identifier row
    out: dict[str, Any] = {}
    if not any(r.source == "email" for r in rows):
        out["email"] = "email"  # the identifier, as on the page (email: X would copy it to X instead)
    question_idx = [i for i, r in enumerate(rows) if r.source.startswith(QUESTION_PREFIX)]
    # One questions_and_answers block keeps the page's shape; it can only do so without
    # reordering when the question rows are next to each other.
    grouped = bool(question_idx) and question_idx == list(range(question_idx[0], question_idx[-1] + 1))
    questions: dict[str, Any] = {}

    def spec(r: FieldMapping) -> Any:
        if r.enabled and r.attribute_type == default_attribute_type(r.source, r.attribute):
            return r.attribute
        value = _Flow(attribute=r.attribute, type=r.attribute_type)
        if not r.enabled:
            value["enabled"] = False
        return value

    def put(target: dict[str, Any], key: str, value: Any) -> None:
        if key not in target:
            target[key] = value
        elif isinstance(target[key], list):
            target[key].append(value)
        else:
            target[key] = [target[key], value]

    for r in rows:
        if r.source.startswith(QUESTION_PREFIX) and grouped:
            if "questions_and_answers" not in out:
                out["questions_and_answers"] = questions
            put(questions, r.source[len(QUESTION_PREFIX) :], spec(r))
        else:
            put(out, r.source, spec(r))
    return out


def export_config(
    connections: Iterable[Connection | str] | None = None, secret_env: Mapping[str, str] | None = None
) -> str:
    """The stored configuration as YAML that :func:`load_config` accepts, secrets as ``${VAR}``.

    ``connections``: Connection objects or names (default: all). ``secret_env`` overrides the base
    variable names in :data:`DEFAULT_SECRET_ENV` (keys ``access_token``, ``webhook_signing_key``,
    ``brevo_api_key``); non-default connections get their upper-cased name as a suffix.
    """
    if connections is None:
        conns = list(Connection.objects.order_by("name"))
    else:
        conns = []
        for item in connections:
            conns.append(item if isinstance(item, Connection) else Connection.objects.get(name=item))
    if not conns:
        raise ValueError("no connection to export")
    unknown = set(secret_env or {}) - set(DEFAULT_SECRET_ENV)
    if unknown:
        raise ValueError(f"secret_env keys must be among {', '.join(DEFAULT_SECRET_ENV)}: {', '.join(sorted(unknown))}")

    variables: list[str] = []
    several = len(conns) > 1
    blocks = [_export_connection(c, secret_env, several or c.name != DEFAULT_NAME, variables) for c in conns]
    doc = {"connectors": {"calendly": blocks if several else blocks[0]}}
    header = [
        "# Calendly → Brevo connector configuration (manage.py export_connector_config).",
        "# Import with: manage.py import_connector_config FILE   (see docs/configuration.md)",
    ]
    if variables:
        header.append(
            "# Secrets are ${VAR} placeholders; set these variables before importing: "
            + ", ".join(dict.fromkeys(variables))
        )
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body
