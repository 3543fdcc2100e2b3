"""The connector's configuration file: parse, validate, apply to the database, export.

The product page documents its configuration as YAML (``connectors: calendly: ...``); this module
accepts that file exactly as written there, so a team can keep its connector set-up in version
control and move it between environments, while the admin stays the live editor of the same rows
(:class:`~calendly_sync.models.Connection`, :class:`~calendly_sync.models.EventTypeMapping`,
:class:`~calendly_sync.models.FieldMapping`).

Three steps, kept apart so each can be tested on its own:

* :func:`load_config` is pure: text + environment → :class:`ConnectionConfig` objects, or one
  :class:`ConfigErrors` listing *every* problem with its key path (a user fixing a file wants all
  the mistakes at once, not one per run).
* :func:`apply_config` writes them in one transaction and only saves rows whose values differ, so
  importing the same file twice is a no-op (no ``updated_at`` moves, the report says "unchanged").
* :func:`export_config` writes the database back in the same shape, with secrets replaced by
  ``${VAR}`` placeholders so an export can be committed or pasted into a ticket safely.

Secrets never appear in errors, warnings, reports or ``repr`` output.
See ``docs/configuration.md`` for the file format.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from calendly_sync.sync.mapping import KNOWN_SOURCES, infer_type
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping

__all__ = [
    "ApplyReport",
    "ConfigError",
    "ConfigErrors",
    "ConnectionConfig",
    "Counts",
    "EventMappingConfig",
    "FieldMappingConfig",
    "apply_config",
    "export_config",
    "load_config",
]

# --- vocabulary --------------------------------------------------------------------------------

#: Invitee / event fields a field mapping may read (besides ``question:<key>``): the documented
#: names, plus any alias the mapping code also understands (``start``, ``host_name``, …), so the
#: file never rejects a source the sync would have handled.
DOCUMENTED_SOURCES: tuple[str, ...] = (
    "email", "name", "first_name", "last_name", "timezone", "status", "text_reminder_number",
    "created_at", "cancel_reason",
    "tracking.utm_campaign", "tracking.utm_source", "tracking.utm_medium", "tracking.utm_content",
    "tracking.utm_term", "tracking.salesforce_uuid",
    "event_type_name", "event_type_uri", "scheduled_at", "start_time", "end_time", "location",
    "host", "host_email",
)
SOURCES: tuple[str, ...] = DOCUMENTED_SOURCES + tuple(sorted(set(KNOWN_SOURCES) - set(DOCUMENTED_SOURCES)))
QUESTION_PREFIX = "question:"
ATTRIBUTE_TYPES: tuple[str, ...] = tuple(FieldMapping.AttributeType.values)  # text, date, float, boolean, phone
_TYPE_ALIASES = {"number": "float"}  # the admin labels "float" as "number"
LOG_LEVELS: tuple[str, ...] = tuple(Connection.LogLevel.values)
AUTH_KINDS: tuple[str, ...] = tuple(Connection.AuthKind.values)

DEFAULT_NAME = "default"
#: Environment variable names ``export_config`` writes for each secret (suffixed for non-default names).
DEFAULT_SECRET_ENV: dict[str, str] = {
    "access_token": "CALENDLY_ACCESS_TOKEN",
    "webhook_signing_key": "CALENDLY_WEBHOOK_SIGNING_KEY",
    "brevo_api_key": "BREVO_API_KEY",
}

_BLOCK_KEYS = (
    "name", "enabled", "auth", "access_token", "sync", "event_mapping", "default_list_id", "default_list_ids",
    "webhook", "field_mapping", "brevo", "debug", "log_level", "log_webhooks",
)
_SYNC_KEYS = ("contacts", "events", "cancellations")
_EVENT_KEYS = ("list_id", "list_ids", "event_type_uri", "name", "unlink_on_cancel", "enabled")
_FIELD_SPEC_KEYS = ("attribute", "type", "enabled")
_ATTRIBUTE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_EVENT_TYPE_PATH_RE = re.compile(r"/event_types/[^/]+")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFERENCE_RE = re.compile(r"\$\$\{|\$\{([^{}]*)\}")


# --- errors ------------------------------------------------------------------------------------

class ConfigError(ValueError):
    """One problem in the file, tied to the key path a user has to look at."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigErrors(ValueError):
    """Every problem found in one file, so they can all be fixed in one go (one per line)."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        super().__init__(*errors)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def __iter__(self) -> Iterator[ConfigError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)


# --- parsed configuration ----------------------------------------------------------------------

@dataclass
class EventMappingConfig:
    """One ``event_mapping`` entry. ``event_type_name`` None = keep what the catalog/admin stored."""

    key: str
    event_type_uri: str
    list_ids: list[int]
    event_type_name: str | None = None
    unlink_on_cancel: bool = False
    enabled: bool = True


@dataclass
class FieldMappingConfig:
    """One source → attribute row; ``position`` is its place in the file (the projection order)."""

    source: str
    attribute: str
    attribute_type: str = FieldMapping.AttributeType.TEXT.value
    enabled: bool = True
    position: int = 0


@dataclass
class ConnectionConfig:
    """One connection block. ``None`` means "not in the file": the stored value is kept.

    Mapping lists are ``None`` when their section is absent (rows untouched) and a list (possibly
    empty) when it is present (rows made to match, extra ones pruned). Secrets are excluded from
    ``repr`` so a config object can be logged.
    """

    name: str = DEFAULT_NAME
    path: str = "connectors.calendly"
    enabled: bool | None = None
    auth_kind: str | None = None
    access_token: str | None = field(default=None, repr=False)
    sync_contacts: bool | None = None
    sync_events: bool | None = None
    sync_cancellations: bool | None = None
    event_mappings: list[EventMappingConfig] | None = None
    default_list_ids: list[int] | None = None
    webhook_signing_key: str | None = field(default=None, repr=False)
    field_mappings: list[FieldMappingConfig] | None = None
    brevo_api_key: str | None = field(default=None, repr=False)
    debug: bool | None = None
    log_level: str | None = None
    log_webhooks: bool | None = None
    warnings: list[str] = field(default_factory=list)


# --- ${VAR} substitution -----------------------------------------------------------------------

class _FromEnv(str):
    """A string produced by ``${VAR}`` substitution.

    Environment variables are always strings, so an integer or boolean key filled from one
    (``list_id: ${DEMO_LIST}``) is parsed from the text; a literal string in the file is not.
    """


class _Unresolved:
    """Stands in for a value whose variable is missing: already reported, validators skip it."""


_UNRESOLVED = _Unresolved()


def default_attribute_type(source: str, attribute: str) -> str:
    """The type a short-form mapping gets: Brevo needs dates and phone numbers in its own formats.

    ``scheduled_at`` is a date; otherwise the attribute name decides, by the same rule the sync
    applies (:func:`calendly_sync.sync.mapping.infer_type`: MEETING_DATE and ``*_DATE`` → date, SMS,
    WHATSAPP, LANDLINE_NUMBER → phone, else text), so the stored type is the one actually used.
    """
    if source == "scheduled_at":
        return FieldMapping.AttributeType.DATE.value
    return infer_type(attribute)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class _Reader:
    """Walks the parsed YAML, collecting every error instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.errors: list[ConfigError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConfigError(path, message))

    # -- scalars -----------------------------------------------------------------------------
    def resolve(self, value: Any, path: str) -> Any:
        """Substitute ``${VAR}`` / ``${VAR:-default}`` in a string value (``$${`` is a literal ``${``)."""
        if not isinstance(value, str) or "$" not in value:
            return value
        out: list[str] = []
        pos = 0
        substituted = False
        missing = False
        for match in _REFERENCE_RE.finditer(value):
            literal = value[pos:match.start()]
            if "${" in literal:
                self.error(path, "unterminated ${ (expected ${NAME}; a default cannot contain braces)")
                missing = True
            out.append(literal)
            pos = match.end()
            if match.group(0) == "$${":
                out.append("${")
                continue
            inner = match.group(1)
            name, sep, default = inner.partition(":-")
            if not _VAR_NAME_RE.match(name):
                self.error(path, f"invalid variable reference ${{{inner}}} (expected ${{NAME}} or ${{NAME:-default}})")
                missing = True
                continue
            current = self.environ.get(name)
            if sep and not current:
                current = default
            if current is None:
                self.error(path, f"environment variable {name} is not set")
                missing = True
                continue
            out.append(current)
            substituted = True
        rest = value[pos:]
        if "${" in rest:
            self.error(path, "unterminated ${ (expected ${NAME}; a default cannot contain braces)")
            missing = True
        out.append(rest)
        if missing:
            return _UNRESOLVED
        text = "".join(out)
        return _FromEnv(text) if substituted else text

    def string(self, value: Any, path: str, *, max_length: int | None = None, secret: bool = False) -> Any:
        value = self.resolve(value, path)
        if value is _UNRESOLVED:
            return value
        if not isinstance(value, str):
            if secret:
                self.error(path, f"expected a string (quote it), got {_type_name(value)}")
            else:
                self.error(path, f"expected a string, got {_type_name(value)}")
            return _UNRESOLVED
        if max_length is not None and len(value) > max_length:
            self.error(path, f"too long (at most {max_length} characters)")
            return _UNRESOLVED
        return value  # keeps _FromEnv, so secrets can tell a placeholder from a literal

    def boolean(self, value: Any, path: str) -> Any:
        value = self.resolve(value, path)
        if value is _UNRESOLVED:
            return value
        if isinstance(value, _FromEnv) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            self.error(path, "expected a boolean (true or false)")
            return _UNRESOLVED
        return value

    def integer(self, value: Any, path: str) -> Any:
        """A Brevo list id: a positive integer (YAML booleans are not integers here)."""
        value = self.resolve(value, path)
        if value is _UNRESOLVED:
            return value
        if isinstance(value, _FromEnv) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, "expected an integer")
            return _UNRESOLVED
        if value <= 0:
            self.error(path, "expected a positive integer")
            return _UNRESOLVED
        return value

    def choice(self, value: Any, path: str, choices: Sequence[str]) -> Any:
        value = self.string(value, path)
        if value is _UNRESOLVED:
            return value
        if value not in choices:
            self.error(path, f"expected one of {', '.join(choices)}")
            return _UNRESOLVED
        return value

    def mapping(self, value: Any, path: str, *, null_is_empty: bool = True) -> dict[Any, Any] | None:
        """A section; ``key:`` with nothing after it counts as an empty section."""
        if value is None and null_is_empty:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_type_name(value)}")
            return None
        return value

    def known_keys(self, data: Mapping[Any, Any], path: str, allowed: Sequence[str]) -> None:
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                suffix = f" (did you mean {hint[0]}?)" if hint else ""
                self.error(_join(path, key), f"unknown key{suffix}")

    def id_list(self, value: Any, path: str) -> list[int] | None:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, "expected a list of integers, e.g. [10, 12]")
            return None
        ids: list[int] = []
        ok = True
        for i, item in enumerate(value):
            number = self.integer(item, f"{path}[{i}]")
            if number is _UNRESOLVED:
                ok = False
            else:
                ids.append(number)
        return ids if ok else None


# --- parsing -----------------------------------------------------------------------------------

def _yaml_error(exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return ConfigError("", f"invalid YAML{where}: {problem}")


def _scan_keys(text: str) -> tuple[list[ConfigError], dict[str, int]]:
    """Duplicate keys, and the line of every key path (so errors come out in file order).

    ``safe_load`` silently keeps the last of two equal keys; a config file must not (two ``demo:``
    entries would lose one mapping without a word).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return [], {}  # reported by safe_load
    errors: list[ConfigError] = []
    lines: dict[str, int] = {}
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node | None, path: str) -> None:
        if node is None or id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    walk(value_node, path)
                    continue
                child = _join(path, key_node.value)
                line = key_node.start_mark.line + 1
                lines.setdefault(child, line)
                if key_node.value in first_line:
                    errors.append(ConfigError(
                        child, f"duplicate key (line {line}; first at line {first_line[key_node.value]})"))
                else:
                    first_line[key_node.value] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(f"{path}[{i}]", item.start_mark.line + 1)
                walk(item, f"{path}[{i}]")

    walk(root, "")
    return errors, lines


def load_config(text: str, environ: Mapping[str, str] | None = None) -> list[ConnectionConfig]:
    """Parse and validate a configuration file; raise :class:`ConfigErrors` with every problem.

    ``environ`` supplies ``${VAR}`` values (``os.environ`` when None); it is passed in rather than
    read here so tests and dry runs can use any environment without touching the process's.
    """
    if environ is None:
        import os

        environ = os.environ
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigErrors([_yaml_error(exc)]) from None

    reader = _Reader(environ)
    duplicates, lines = _scan_keys(text)
    reader.errors.extend(duplicates)
    configs: list[ConnectionConfig] = []

    if data is None:
        reader.error("connectors", "required (the file is empty)")
    elif not isinstance(data, dict):
        reader.error("", f"invalid file: expected a mapping with a connectors: key, got {_type_name(data)}")
    else:
        reader.known_keys(data, "", ("connectors",))
        if "connectors" not in data:
            reader.error("connectors", "required")
        else:
            connectors = reader.mapping(data["connectors"], "connectors", null_is_empty=False)
            if connectors is not None:
                configs = _read_connectors(reader, connectors)

    names: dict[str, str] = {}
    for cfg in configs:
        if cfg.name in names:
            reader.error(_join(cfg.path, "name"),
                         f"duplicate connection name {cfg.name!r} (also used by {names[cfg.name]})")
        else:
            names[cfg.name] = cfg.path
    if reader.errors:
        # File order: a problem's line is that of its key path, or of the nearest enclosing one.
        def line_of(error: ConfigError) -> int:
            path = error.path
            while path:
                if path in lines:
                    return lines[path]
                parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)
                if parent == path:
                    break
                path = parent
            return 0
        raise ConfigErrors(sorted(reader.errors, key=line_of))
    return configs


def _read_connectors(reader: _Reader, connectors: dict[Any, Any]) -> list[ConnectionConfig]:
    configs: list[ConnectionConfig] = []
    for key, block in connectors.items():
        path = _join("connectors", key)
        if key == "calendly":
            if isinstance(block, list):
                if not block:
                    reader.error(path, "expected at least one connection block")
                for i, item in enumerate(block):
                    cfg = _read_block(reader, item, f"{path}[{i}]", DEFAULT_NAME)
                    if cfg is not None:
                        configs.append(cfg)
            else:
                cfg = _read_block(reader, block, path, DEFAULT_NAME)
                if cfg is not None:
                    configs.append(cfg)
        elif isinstance(key, str) and key.startswith("calendly_") and len(key) > len("calendly_"):
            cfg = _read_block(reader, block, path, key[len("calendly_"):])
            if cfg is not None:
                configs.append(cfg)
        else:
            hint = " (connection blocks are named calendly or calendly_<name>)"
            reader.error(path, f"unknown key{hint}")
    if not connectors:
        reader.error("connectors", "expected a calendly: block")
    return configs


def _read_block(reader: _Reader, block: Any, path: str, default_name: str) -> ConnectionConfig | None:
    data = reader.mapping(block, path, null_is_empty=False)
    if data is None:
        return None
    reader.known_keys(data, path, _BLOCK_KEYS)
    cfg = ConnectionConfig(path=path, name=default_name)
    if "name" in data:
        name = reader.string(data["name"], _join(path, "name"), max_length=100)
        if name is not _UNRESOLVED:
            if not _SLUG_RE.match(name):
                reader.error(_join(path, "name"), "expected a slug (letters, digits, - and _)")
            else:
                cfg.name = str(name)
    elif not _SLUG_RE.match(default_name) or len(default_name) > 100:
        reader.error(path, "the block name after calendly_ must be a slug (letters, digits, - and _)")

    def flag(key: str, source: dict[Any, Any] = data, base: str = path) -> bool | None:
        if key not in source:
            return None
        value = reader.boolean(source[key], _join(base, key))
        return None if value is _UNRESOLVED else value

    cfg.enabled = flag("enabled")
    cfg.debug = flag("debug")
    cfg.log_webhooks = flag("log_webhooks")
    if "log_level" in data:
        level = reader.choice(data["log_level"], _join(path, "log_level"), LOG_LEVELS)
        cfg.log_level = None if level is _UNRESOLVED else str(level)
    if "auth" in data:
        auth = reader.choice(data["auth"], _join(path, "auth"), AUTH_KINDS)
        cfg.auth_kind = None if auth is _UNRESOLVED else str(auth)

    cfg.access_token = _secret(reader, data, "access_token", path, cfg)
    if cfg.access_token is not None:
        if cfg.auth_kind == Connection.AuthKind.OAUTH:
            reader.error(_join(path, "access_token"),
                         "not used with auth: oauth (OAuth tokens come from the admin's Connect Calendly button)")
        elif cfg.auth_kind is None:
            cfg.auth_kind = Connection.AuthKind.PAT.value  # a token in the file is a Personal Access Token

    if "sync" in data:
        sync = reader.mapping(data["sync"], _join(path, "sync"))
        if sync is not None:
            reader.known_keys(sync, _join(path, "sync"), _SYNC_KEYS)
            cfg.sync_contacts = flag("contacts", sync, _join(path, "sync"))
            cfg.sync_events = flag("events", sync, _join(path, "sync"))
            cfg.sync_cancellations = flag("cancellations", sync, _join(path, "sync"))

    if "webhook" in data:
        webhook = reader.mapping(data["webhook"], _join(path, "webhook"))
        if webhook is not None:
            reader.known_keys(webhook, _join(path, "webhook"), ("signing_key",))
            cfg.webhook_signing_key = _secret(reader, webhook, "signing_key", _join(path, "webhook"), cfg)

    if "brevo" in data:
        brevo = reader.mapping(data["brevo"], _join(path, "brevo"))
        if brevo is not None:
            reader.known_keys(brevo, _join(path, "brevo"), ("api_key",))
            cfg.brevo_api_key = _secret(reader, brevo, "api_key", _join(path, "brevo"), cfg)

    if "default_list_id" in data or "default_list_ids" in data:
        ids: list[int] = []
        ok = True
        if "default_list_id" in data:
            one = reader.integer(data["default_list_id"], _join(path, "default_list_id"))
            ok = ok and one is not _UNRESOLVED
            if one is not _UNRESOLVED:
                ids.append(one)
        if "default_list_ids" in data:
            many = reader.id_list(data["default_list_ids"], _join(path, "default_list_ids"))
            ok = ok and many is not None
            ids.extend(many or [])
        if ok:
            cfg.default_list_ids = sorted(set(ids))

    if "event_mapping" in data:
        cfg.event_mappings = _read_event_mappings(reader, data["event_mapping"], _join(path, "event_mapping"))
    if "field_mapping" in data:
        cfg.field_mappings = _read_field_mappings(reader, data["field_mapping"], _join(path, "field_mapping"))
    return cfg


def _secret(reader: _Reader, data: dict[Any, Any], key: str, base: str, cfg: ConnectionConfig) -> str | None:
    """A secret: read like any string, with a warning when it is written in the file itself."""
    if key not in data:
        return None
    path = _join(base, key)
    raw = data[key]
    value = reader.string(raw, path, secret=True)
    if value is _UNRESOLVED:
        return None
    if value and not isinstance(value, _FromEnv):
        cfg.warnings.append(f"{path}: the secret is written in the file; prefer a ${{VAR}} placeholder")
    return str(value)


def _read_event_mappings(reader: _Reader, value: Any, path: str) -> list[EventMappingConfig] | None:
    entries = reader.mapping(value, path)
    if entries is None:
        return None
    result: list[EventMappingConfig] = []
    uris: dict[str, str] = {}
    ok = True
    for key, spec in entries.items():
        entry_path = _join(path, key)
        if not isinstance(key, str) or not _SLUG_RE.match(key) or len(key) > 100:
            reader.error(entry_path, "expected a slug as the mapping name (letters, digits, - and _)")
            ok = False
            continue
        data = reader.mapping(spec, entry_path, null_is_empty=False)
        if data is None:
            ok = False
            continue
        errors_before = len(reader.errors)
        reader.known_keys(data, entry_path, _EVENT_KEYS)
        list_ids: list[int] = []
        if "list_id" in data:
            one = reader.integer(data["list_id"], _join(entry_path, "list_id"))
            if one is not _UNRESOLVED:
                list_ids.append(one)
        if "list_ids" in data:
            list_ids.extend(reader.id_list(data["list_ids"], _join(entry_path, "list_ids")) or [])
        if "list_id" not in data and "list_ids" not in data:
            reader.error(entry_path, "list_id or list_ids is required")
        elif not list_ids and len(reader.errors) == errors_before:
            reader.error(_join(entry_path, "list_ids"), "expected at least one list id")

        uri: Any = _UNRESOLVED
        if "event_type_uri" not in data:
            reader.error(entry_path, "event_type_uri is required")
        else:
            uri_path = _join(entry_path, "event_type_uri")
            uri = reader.string(data["event_type_uri"], uri_path, max_length=300)
            if uri is not _UNRESOLVED:
                if not _is_event_type_uri(uri):
                    reader.error(uri_path, "expected a Calendly event type URI like "
                                           "https://api.calendly.com/event_types/<uuid>")
                    uri = _UNRESOLVED
                elif uri in uris:
                    reader.error(uri_path, f"the same event type is already mapped by {uris[uri]}")
                    uri = _UNRESOLVED
                else:
                    uris[uri] = entry_path
        name: Any = None
        if "name" in data:
            name = reader.string(data["name"], _join(entry_path, "name"), max_length=200)
        unlink = reader.boolean(data.get("unlink_on_cancel", False), _join(entry_path, "unlink_on_cancel"))
        enabled = reader.boolean(data.get("enabled", True), _join(entry_path, "enabled"))
        if len(reader.errors) != errors_before:
            ok = False
            continue
        result.append(EventMappingConfig(
            key=key, event_type_uri=str(uri), list_ids=sorted(set(list_ids)),
            event_type_name=None if name is None else str(name),
            unlink_on_cancel=unlink, enabled=enabled,
        ))
    return result if ok else None


def _is_event_type_uri(uri: str) -> bool:
    """Calendly's form, or any http(s) URL with /event_types/<id> so the local simulator works."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and bool(_EVENT_TYPE_PATH_RE.search(parts.path))


def _read_field_mappings(reader: _Reader, value: Any, path: str) -> list[FieldMappingConfig] | None:
    entries = reader.mapping(value, path)
    if entries is None:
        return None
    rows: list[FieldMappingConfig] = []
    ok = True
    errors_before = len(reader.errors)

    def add(source: str, spec: Any, spec_path: str) -> None:
        specs = spec if isinstance(spec, list) else [spec]
        if isinstance(spec, list) and not spec:
            reader.error(spec_path, "expected an attribute name or a list of them")
        for i, one in enumerate(specs):
            item_path = f"{spec_path}[{i}]" if isinstance(spec, list) else spec_path
            if source == "email" and one == "email":
                continue  # the contact identifier (Brevo upserts by email): always on, not an attribute
            row = _read_field_spec(reader, source, one, item_path)
            if row is None:
                continue
            if any(r.source == row.source and r.attribute == row.attribute for r in rows):
                reader.error(item_path, f"{row.attribute} is already mapped from this field")
                continue
            rows.append(row)

    for key, spec in entries.items():
        key_path = _join(path, key)
        if key == "questions_and_answers":
            questions = reader.mapping(spec, key_path)
            if questions is None:
                continue
            for question, qspec in questions.items():
                qpath = _join(key_path, question)
                if not isinstance(question, str) or not question.strip():
                    reader.error(qpath, "expected a question name")
                    continue
                if len(QUESTION_PREFIX + question) > 300:
                    reader.error(qpath, "question name too long (at most 291 characters)")
                    continue
                add(QUESTION_PREFIX + question, qspec, qpath)
        elif isinstance(key, str) and key.startswith(QUESTION_PREFIX) and len(key) > len(QUESTION_PREFIX):
            if len(key) > 300:
                reader.error(key_path, "question name too long (at most 291 characters)")
                continue
            add(key, spec, key_path)
        elif key in SOURCES:
            add(key, spec, key_path)
        else:
            hint = difflib.get_close_matches(str(key), SOURCES + ("questions_and_answers",), n=1)
            suffix = f" (did you mean {hint[0]}?)" if hint else ""
            reader.error(key_path, f"unknown source field{suffix}; custom questions go under questions_and_answers")
    if len(reader.errors) != errors_before:
        ok = False
    for position, row in enumerate(rows):
        row.position = position
    return rows if ok else None


def _read_field_spec(reader: _Reader, source: str, spec: Any, path: str) -> FieldMappingConfig | None:
    explicit_type: Any = None
    enabled: Any = True
    if isinstance(spec, dict):
        reader.known_keys(spec, path, _FIELD_SPEC_KEYS)
        if "attribute" not in spec:
            reader.error(path, "attribute is required")
            return None
        attribute = reader.string(spec["attribute"], _join(path, "attribute"), max_length=100)
        attr_path = _join(path, "attribute")
        if "type" in spec:
            explicit_type = reader.string(spec["type"], _join(path, "type"))
            if explicit_type is not _UNRESOLVED:
                explicit_type = _TYPE_ALIASES.get(explicit_type, explicit_type)
                if explicit_type not in ATTRIBUTE_TYPES:
                    reader.error(_join(path, "type"), f"expected one of {', '.join(ATTRIBUTE_TYPES)}")
                    explicit_type = _UNRESOLVED
        if "enabled" in spec:
            enabled = reader.boolean(spec["enabled"], _join(path, "enabled"))
    else:
        attr_path = path
        attribute = reader.string(spec, path, max_length=100)
    if attribute is _UNRESOLVED or explicit_type is _UNRESOLVED or enabled is _UNRESOLVED:
        return None
    if not _ATTRIBUTE_RE.match(attribute):
        reader.error(attr_path, "expected a Brevo attribute name in upper case (A-Z, 0-9, _), e.g. FIRSTNAME")
        return None
    attribute_type = explicit_type or default_attribute_type(source, attribute)
    return FieldMappingConfig(source=source, attribute=str(attribute), attribute_type=attribute_type, enabled=enabled)


# --- applying ----------------------------------------------------------------------------------

@dataclass
class Counts:
    """Rows created / updated / deleted / left as they were, for one model."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.deleted} deleted, {self.unchanged} unchanged"


@dataclass
class ApplyReport:
    """What an import did (or, in a dry run, would do). ``changes`` never contains secret values."""

    connections: Counts = field(default_factory=Counts)
    event_mappings: Counts = field(default_factory=Counts)
    field_mappings: Counts = field(default_factory=Counts)
    changes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def _total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in (self.connections, self.event_mappings, self.field_mappings))

    @property
    def created(self) -> int:
        return self._total("created")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def deleted(self) -> int:
        return self._total("deleted")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def summary(self) -> str:
        """One line for the command's output."""
        head = "Dry run, nothing saved: " if self.dry_run else ""
        return (f"{head}{self.created} created, {self.updated} updated, {self.deleted} deleted, "
                f"{self.unchanged} unchanged (connections: {self.connections}; event mappings: "
                f"{self.event_mappings}; field mappings: {self.field_mappings})")


_SECRET_FIELDS = ("access_token", "webhook_signing_key", "brevo_api_key")


def _norm_ids(value: Any) -> list[int] | None:
    """List ids as a sorted set, so [12, 10] stored by the admin equals [10, 12] from a file."""
    try:
        return sorted({int(v) for v in (value or [])})
    except (TypeError, ValueError):
        return None


def apply_config(configs: Sequence[ConnectionConfig], *, prune: bool = True, dry_run: bool = False) -> ApplyReport:
    """Make the database match ``configs`` in one transaction; only rows that differ are saved.

    With ``prune``, mapping rows of the named connections that a present ``event_mapping`` /
    ``field_mapping`` section does not list are deleted (the file is the whole list). Connections
    the file does not name are never touched. ``dry_run`` computes the same report and rolls back.
    """
    report = ApplyReport(dry_run=dry_run)
    with transaction.atomic():
        for cfg in configs:
            conn = _apply_connection(cfg, report)
            if cfg.event_mappings is not None:
                _apply_event_mappings(conn, cfg.event_mappings, prune, report)
            if cfg.field_mappings is not None:
                _apply_field_mappings(conn, cfg.field_mappings, prune, report)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _apply_connection(cfg: ConnectionConfig, report: ApplyReport) -> Connection:
    wanted: dict[str, Any] = {
        "enabled": cfg.enabled, "auth_kind": cfg.auth_kind, "access_token": cfg.access_token,
        "sync_contacts": cfg.sync_contacts, "sync_events": cfg.sync_events,
        "sync_cancellations": cfg.sync_cancellations, "webhook_signing_key": cfg.webhook_signing_key,
        "brevo_api_key": cfg.brevo_api_key, "debug": cfg.debug, "log_level": cfg.log_level,
        "log_webhooks": cfg.log_webhooks, "default_list_ids": cfg.default_list_ids,
    }
    wanted = {k: v for k, v in wanted.items() if v is not None}  # absent keys keep the stored value
    conn = Connection.objects.select_for_update().filter(name=cfg.name).first()
    if conn is None:
        conn = Connection(name=cfg.name, **wanted)
        conn.save()
        report.connections.created += 1
        report.changes.append(f"connection {cfg.name}: created")
        return conn

    changed: list[str] = []
    for name, value in wanted.items():
        current = getattr(conn, name)
        same = _norm_ids(current) == value if name == "default_list_ids" else current == value
        if not same:
            changed.append(name)
    if not changed:
        report.connections.unchanged += 1
        return conn

    extra: list[str] = []
    if "webhook_signing_key" in changed and conn.webhook_signing_key and wanted["webhook_signing_key"]:
        # A rotation: deliveries signed with the old key stay valid for the grace period.
        conn.previous_signing_key = conn.webhook_signing_key
        conn.signing_key_rotated_at = timezone.now()
        extra += ["previous_signing_key", "signing_key_rotated_at"]
    if "auth_kind" in changed and wanted["auth_kind"] == Connection.AuthKind.PAT:
        # OAuth leftovers would make the client try to refresh a Personal Access Token.
        if conn.refresh_token or conn.token_expires_at:
            conn.refresh_token = ""
            conn.token_expires_at = None
            extra += ["refresh_token", "token_expires_at"]
    for name in changed:
        setattr(conn, name, wanted[name])
    conn.save(update_fields=changed + extra + ["updated_at"])
    report.connections.updated += 1
    shown = [f"{n} (secret)" if n in _SECRET_FIELDS else f"{n}={wanted[n]!r}" for n in changed]
    report.changes.append(f"connection {cfg.name}: updated {', '.join(shown)}")
    return conn


def _apply_event_mappings(conn: Connection, wanted: list[EventMappingConfig], prune: bool,
                          report: ApplyReport) -> None:
    existing = {m.event_type_uri: m for m in EventTypeMapping.objects.select_for_update().filter(connection=conn)}
    for spec in wanted:
        row = existing.pop(spec.event_type_uri, None)
        values: dict[str, Any] = {
            "key": spec.key, "list_ids": spec.list_ids, "unlink_on_cancel": spec.unlink_on_cancel,
            "enabled": spec.enabled,
        }
        if spec.event_type_name is not None:
            values["event_type_name"] = spec.event_type_name
        if row is None:
            EventTypeMapping.objects.create(connection=conn, event_type_uri=spec.event_type_uri, **values)
            report.event_mappings.created += 1
            report.changes.append(f"connection {conn.name}: event mapping {spec.key} created")
            continue
        changed = [
            name for name, value in values.items()
            if (_norm_ids(row.list_ids) != value if name == "list_ids" else getattr(row, name) != value)
        ]
        if not changed:
            report.event_mappings.unchanged += 1
            continue
        for name in changed:
            setattr(row, name, values[name])
        row.save(update_fields=changed + ["updated_at"])
        report.event_mappings.updated += 1
        report.changes.append(f"connection {conn.name}: event mapping {spec.key} updated {', '.join(changed)}")
    if prune:
        for row in existing.values():
            row.delete()
            report.event_mappings.deleted += 1
            report.changes.append(f"connection {conn.name}: event mapping {row.key or row.event_type_uri} deleted")


def _apply_field_mappings(conn: Connection, wanted: list[FieldMappingConfig], prune: bool,
                          report: ApplyReport) -> None:
    rows = list(FieldMapping.objects.select_for_update().filter(connection=conn).order_by("position", "id"))
    existing = {(r.source, r.attribute): r for r in rows}
    # Positions are rewritten only when the file's order differs from the stored order, so rows
    # the admin created (all position 0, ordered by id) export and re-import without a change.
    stored_order = [(r.source, r.attribute) for r in rows if (r.source, r.attribute) in
                    {(w.source, w.attribute) for w in wanted}]
    file_order = [(w.source, w.attribute) for w in wanted]
    keep_positions = stored_order == file_order

    for spec in wanted:
        row = existing.pop((spec.source, spec.attribute), None)
        values: dict[str, Any] = {"attribute_type": spec.attribute_type, "enabled": spec.enabled}
        if not keep_positions:
            values["position"] = spec.position
        label = f"{spec.source} → {spec.attribute}"
        if row is None:
            FieldMapping.objects.create(connection=conn, source=spec.source, attribute=spec.attribute,
                                        position=spec.position, attribute_type=spec.attribute_type,
                                        enabled=spec.enabled)
            report.field_mappings.created += 1
            report.changes.append(f"connection {conn.name}: field mapping {label} created")
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if not changed:
            report.field_mappings.unchanged += 1
            continue
        for name in changed:
            setattr(row, name, values[name])
        row.save(update_fields=changed)
        report.field_mappings.updated += 1
        report.changes.append(f"connection {conn.name}: field mapping {label} updated {', '.join(changed)}")
    if prune:
        for row in existing.values():
            row.delete()
            report.field_mappings.deleted += 1
            report.changes.append(f"connection {conn.name}: field mapping {row.source} → {row.attribute} deleted")


# --- exporting ---------------------------------------------------------------------------------

class _Flow(dict):  # type: ignore[type-arg]
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
    ids = _norm_ids(value)
    return ids if ids is not None else list(value or [])


def _export_connection(conn: Connection, secret_env: Mapping[str, str] | None, with_name: bool,
                       variables: list[str]) -> dict[str, Any]:
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
    block["sync"] = _Flow(contacts=conn.sync_contacts, events=conn.sync_events,
                          cancellations=conn.sync_cancellations)

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
    return (slugify(m.event_type_name).replace("-", "_")
            or re.sub(r"[^-a-zA-Z0-9_]", "_", m.event_type_uri.rstrip("/").rsplit("/", 1)[-1])[:100]
            or f"mapping_{m.pk}")


def _export_field_mappings(conn: Connection) -> dict[str, Any]:
    rows = [r for r in conn.field_mappings.order_by("position", "id")
            if not (r.source == "email" and r.attribute == "email")]  # a legacy identifier row
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
            put(questions, r.source[len(QUESTION_PREFIX):], spec(r))
        else:
            put(out, r.source, spec(r))
    return out


def export_config(connections: Iterable[Connection | str] | None = None,
                  secret_env: Mapping[str, str] | None = None) -> str:
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
    header = ["# Calendly → Brevo connector configuration (manage.py export_connector_config).",
              "# Import with: manage.py import_connector_config FILE   (see docs/configuration.md)"]
    if variables:
        header.append("# Secrets are ${VAR} placeholders; set these variables before importing: "
                      + ", ".join(dict.fromkeys(variables)))
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body
