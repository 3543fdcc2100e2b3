"""Reading the connector's configuration file: YAML text + environment → typed config objects.

The product page documents its configuration as YAML (``connectors: calendly: ...``); this module
accepts that file exactly as written there, so a team can keep its connector set-up in version
control and move it between environments, while the admin stays the live editor of the same rows.

:func:`load_config` is pure: text + environment → :class:`ConnectionConfig` objects, or one
:class:`ConfigErrors` listing *every* problem with its key path (a user fixing a file wants all the
mistakes at once, not one per run). Writing them to the database is
:mod:`calendly_sync.config.apply`'s job, writing the database back as YAML
:mod:`calendly_sync.config.export`'s.

Secrets never appear in errors, warnings or ``repr`` output.
See ``docs/configuration.md`` for the file format.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from calendly_sync.sync.mapping import KNOWN_SOURCES, infer_type
from calendly_sync.models import Connection, FieldMapping

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "ConnectionConfig",
    "EventMappingConfig",
    "FieldMappingConfig",
    "default_attribute_type",
    "list_id_set",
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


def list_id_set(value: Any) -> list[int] | None:
    """List ids as a sorted set, so [12, 10] stored by the admin equals [10, 12] from a file."""
    try:
        return sorted({int(v) for v in (value or [])})
    except (TypeError, ValueError):
        return None


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
