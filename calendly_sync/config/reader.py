"""Reading the connector's configuration file: YAML text + environment → typed config objects.

The product page documents its configuration as YAML (``connectors: calendly: ...``); this module
accepts that file exactly as written there, so a team can keep its connector set-up in version
control and move it between environments, while the admin stays the live editor of the same rows.

:func:`load_config` is pure: it parses the YAML, fills in ``${VAR}`` placeholders, validates the
result against the declared shape (:mod:`calendly_sync.config.schema`) and returns
:class:`ConnectionConfig` objects, or raises one :class:`ConfigErrors` listing *every* problem with
its key path, in file order (a user fixing a file wants all the mistakes at once, not one per
run). Writing the objects to the database is :mod:`calendly_sync.config.apply`'s job.

Secrets never appear in errors, warnings or ``repr`` output. See ``docs/configuration.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from rest_framework import serializers

from calendly_sync.config.fields import FromEnv, Index, join
from calendly_sync.config.schema import DEFAULT_NAME, SECRETS, ConfigFile
from calendly_sync.models import FieldMapping
from calendly_sync.storable import text_problem

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "ConnectionConfig",
    "EventMappingConfig",
    "FieldMappingConfig",
    "load_config",
]

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


class _Environment:
    """Substitutes ``${VAR}`` / ``${VAR:-default}`` in a string value (``$${`` is a literal ``${``).

    Given to the schema as ``context["interpolate"]``: each scalar key passes its value through it
    before checking its type. A missing variable is that key's error, so it carries the key path.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or "$" not in value:
            return value
        out: list[str] = []
        problems: list[str] = []
        pos = 0
        substituted = False
        unterminated = "unterminated ${ (expected ${NAME}; a default cannot contain braces)"
        for match in _REFERENCE_RE.finditer(value):
            literal = value[pos : match.start()]
            if "${" in literal:
                problems.append(unterminated)
            out.append(literal)
            pos = match.end()
            if match.group(0) == "$${":
                out.append("${")
                continue
            inner = match.group(1)
            name, sep, default = inner.partition(":-")
            if not _VAR_NAME_RE.match(name):
                problems.append(f"invalid variable reference ${{{inner}}} (expected ${{NAME}} or ${{NAME:-default}})")
                continue
            current = self.environ.get(name)
            if sep and not current:
                current = default
            if current is None:
                problems.append(f"environment variable {name} is not set")
                continue
            problem = text_problem(current)  # bytes that are not UTF-8 come as lone surrogates
            if problem:
                problems.append(f"environment variable {name} {problem}")
                continue
            out.append(current)
            substituted = True
        rest = value[pos:]
        if "${" in rest:
            problems.append(unterminated)
        if problems:
            raise serializers.ValidationError(problems)
        text = "".join(out) + rest
        return FromEnv(text) if substituted else text


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
        if isinstance(node, yaml.ScalarNode):
            problem = text_problem(node.value)  # "\0" or "\uD800": no database can store it
            if problem:
                errors.append(ConfigError(path, problem))
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    walk(value_node, path)
                    continue
                problem = text_problem(key_node.value)
                if problem:  # named escaped (repr): the error is printed, and its path too
                    errors.append(ConfigError(path, f"the key {key_node.value!r} {problem}"))
                    continue
                child = join(path, key_node.value)
                line = key_node.start_mark.line + 1
                lines.setdefault(child, line)
                if key_node.value in first_line:
                    errors.append(
                        ConfigError(child, f"duplicate key (line {line}; first at line {first_line[key_node.value]})")
                    )
                else:
                    first_line[key_node.value] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(join(path, Index(i)), item.start_mark.line + 1)
                walk(item, join(path, Index(i)))

    walk(root, "")
    return errors, lines


def _flatten(detail: Mapping[Any, Any] | Sequence[Any], path: str = "") -> Iterator[ConfigError]:
    """DRF's nested errors as ``key.path: message`` lines, in the order they were found."""
    if isinstance(detail, Mapping):
        for key, inner in detail.items():
            yield from _flatten(inner, join(path, key))
        return
    for item in detail:
        if isinstance(item, (Mapping, list)):
            yield from _flatten(item, path)
        else:
            yield ConfigError(path, str(item))


def load_config(text: str, environ: Mapping[str, str] | None = None) -> list[ConnectionConfig]:
    """Parse and validate a configuration file; raise :class:`ConfigErrors` with every problem.

    ``environ`` supplies ``${VAR}`` values (``os.environ`` when None); it is passed in rather than
    read here so tests and dry runs can use any environment without touching the process's.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigErrors([_yaml_error(exc)]) from None

    errors, lines = _scan_keys(text)
    document = ConfigFile(data=data, context={"interpolate": _Environment(os.environ if environ is None else environ)})
    if not document.is_valid():
        errors.extend(_flatten(document.errors))
    if errors:
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

        raise ConfigErrors(sorted(errors, key=line_of))
    return [_connection(path, block) for path, block in document.validated_data["connectors"]]


# --- validated data → config objects -----------------------------------------------------------


def _list_ids(values: Mapping[str, Any], one: str, many: str) -> list[int]:
    """``list_id`` and ``list_ids`` (or their ``default_`` pair) together: their union, sorted."""
    return sorted({*([values[one]] if one in values else []), *values.get(many, [])})


def _connection(path: str, block: dict[str, Any]) -> ConnectionConfig:
    sync = block.get("sync", {})
    cfg = ConnectionConfig(
        name=block["name"],
        path=path,
        enabled=block.get("enabled"),
        auth_kind=block.get("auth"),
        sync_contacts=sync.get("contacts"),
        sync_events=sync.get("events"),
        sync_cancellations=sync.get("cancellations"),
        debug=block.get("debug"),
        log_level=block.get("log_level"),
        log_webhooks=block.get("log_webhooks"),
    )
    if "default_list_id" in block or "default_list_ids" in block:
        cfg.default_list_ids = _list_ids(block, "default_list_id", "default_list_ids")
    for attr, keys in SECRETS.items():
        *sections, name = keys
        values = block
        for section in sections:
            values = values.get(section, {})
        secret = values.get(name)
        if secret is None:
            continue  # not in the file: the stored secret is kept
        if secret and not isinstance(secret, FromEnv):
            cfg.warnings.append(f"{join(path, keys)}: the secret is written in the file; prefer a ${{VAR}} placeholder")
        setattr(cfg, attr, str(secret))
    if "event_mapping" in block:
        cfg.event_mappings = [
            EventMappingConfig(
                key=key,
                event_type_uri=entry["event_type_uri"],
                list_ids=_list_ids(entry, "list_id", "list_ids"),
                event_type_name=entry.get("name"),
                unlink_on_cancel=entry["unlink_on_cancel"],
                enabled=entry["enabled"],
            )
            for key, entry in block["event_mapping"].items()
        ]
    if "field_mapping" in block:
        cfg.field_mappings = [FieldMappingConfig(**row) for row in block["field_mapping"]]
    return cfg
