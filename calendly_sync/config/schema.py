"""The configuration file's shape, declared once: every key, its type, its default, its message.

The product page documents the connector's configuration as YAML (``connectors: calendly: ...``)
and docs/configuration.md lists what else the file accepts (several connections, ``list_ids``,
``default_list_ids``, ``brevo: {api_key}``, attribute types). This module is that reference as
Django REST framework serializers: :class:`ConfigFile` and the sections below it say which keys
exist, what each holds, its default, and what a wrong value is told; the rules that involve two
keys sit next to them as ``check_<key>`` methods. The field types come from
:mod:`calendly_sync.config.fields`; the reader (:mod:`calendly_sync.config.reader`) parses the
YAML, supplies ``${VAR}`` substitution and turns the validated data into config objects.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import serializers

from calendly_sync.config.fields import (
    Boolean,
    Choice,
    Container,
    ErrorTree,
    Index,
    ListId,
    ListIds,
    Secret,
    Section,
    Text,
    add_here,
    below,
    detail,
    did_you_mean,
    invalid,
    join,
    type_name,
)
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
from calendly_sync.sync.mapping import KNOWN_SOURCES, QUESTION_PREFIX, infer_type

__all__ = [
    "ATTRIBUTE_TYPES",
    "AUTH_KINDS",
    "DEFAULT_NAME",
    "DOCUMENTED_SOURCES",
    "LOG_LEVELS",
    "QUESTION_PREFIX",
    "SECRETS",
    "SOURCES",
    "ConfigFile",
    "default_attribute_type",
    "list_id_set",
]

# --- vocabulary --------------------------------------------------------------------------------

#: Invitee / event fields a field mapping may read (besides ``question:<key>``): the documented
#: names, plus any alias the mapping code also understands (``start``, ``host_name``, …), so the
#: file never rejects a source the sync would have handled.
DOCUMENTED_SOURCES: tuple[str, ...] = (
    "email",
    "name",
    "first_name",
    "last_name",
    "timezone",
    "status",
    "text_reminder_number",
    "created_at",
    "cancel_reason",
    "tracking.utm_campaign",
    "tracking.utm_source",
    "tracking.utm_medium",
    "tracking.utm_content",
    "tracking.utm_term",
    "tracking.salesforce_uuid",
    "event_type_name",
    "event_type_uri",
    "scheduled_at",
    "start_time",
    "end_time",
    "location",
    "host",
    "host_email",
)
SOURCES: tuple[str, ...] = DOCUMENTED_SOURCES + tuple(sorted(set(KNOWN_SOURCES) - set(DOCUMENTED_SOURCES)))
QUESTIONS_KEY = "questions_and_answers"
ATTRIBUTE_TYPES: tuple[str, ...] = tuple(FieldMapping.AttributeType.values)  # text, date, float, boolean, phone
TYPE_ALIASES = {"number": "float"}  # the admin labels "float" as "number"
LOG_LEVELS: tuple[str, ...] = tuple(Connection.LogLevel.values)
AUTH_KINDS: tuple[str, ...] = tuple(Connection.AuthKind.values)

DEFAULT_NAME = "default"
BLOCK_PREFIX = "calendly_"  # connectors.calendly_<name>: a block whose name defaults to <name>

#: The secrets of a connection block: Connection field → where the file holds it. They are read
#: like any string, warned about when written literally, and exported only as ``${VAR}``.
SECRETS: dict[str, tuple[str, ...]] = {
    "access_token": ("access_token",),
    "webhook_signing_key": ("webhook", "signing_key"),
    "brevo_api_key": ("brevo", "api_key"),
}


def _max_length(model: Any, name: str) -> int:
    length = model._meta.get_field(name).max_length
    assert isinstance(length, int)
    return length


NAME_LENGTH = _max_length(Connection, "name")
KEY_LENGTH = _max_length(EventTypeMapping, "key")
URI_LENGTH = _max_length(EventTypeMapping, "event_type_uri")
EVENT_TYPE_NAME_LENGTH = _max_length(EventTypeMapping, "event_type_name")
SOURCE_LENGTH = _max_length(FieldMapping, "source")
ATTRIBUTE_LENGTH = _max_length(FieldMapping, "attribute")

_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_EVENT_TYPE_PATH_RE = re.compile(r"/event_types/[^/]+")
SLUG = RegexValidator(_SLUG_RE, "expected a slug (letters, digits, - and _)")
ATTRIBUTE_NAME = RegexValidator(
    r"^[A-Z][A-Z0-9_]*$", "expected a Brevo attribute name in upper case (A-Z, 0-9, _), e.g. FIRSTNAME"
)


def is_slug(value: Any, max_length: int) -> bool:
    return isinstance(value, str) and bool(_SLUG_RE.match(value)) and len(value) <= max_length


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


def calendly_event_type_uri(uri: str) -> None:
    """Calendly's form, or any http(s) URL with /event_types/<id> so the local simulator works."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if not (parts and parts.scheme in ("http", "https") and parts.netloc and _EVENT_TYPE_PATH_RE.search(parts.path)):
        raise serializers.ValidationError(
            "expected a Calendly event type URI like https://api.calendly.com/event_types/<uuid>"
        )


# --- the file's mappings -----------------------------------------------------------------------


class SyncSection(Section):
    contacts = Boolean()
    events = Boolean()
    cancellations = Boolean()


class WebhookSection(Section):
    signing_key = Secret()


class BrevoSection(Section):
    api_key = Secret()


class EventMappingEntry(Section):
    """One ``event_mapping`` entry: a Calendly event type → Brevo lists."""

    null_is_empty = False
    default_error_messages = {
        "no_list": "list_id or list_ids is required",
        "no_list_id": "expected at least one list id",
        "duplicate": "the same event type is already mapped by {first}",
    }
    list_id = ListId()
    list_ids = ListIds()
    event_type_uri = Text(
        max_length=URI_LENGTH,
        required=True,
        validators=[calendly_event_type_uri],
        error_messages={"required": "event_type_uri is required"},
    )
    name = Text(max_length=EVENT_TYPE_NAME_LENGTH)  # absent: keep what the catalog/admin stored
    unlink_on_cancel = Boolean(default=False)
    enabled = Boolean(default=True)

    def check_list_ids(self, data: dict[Any, Any], values: dict[str, Any], errors: ErrorTree) -> None:
        """``list_id`` and ``list_ids`` may both be given (their union); at least one list is required."""
        if "list_id" not in data and "list_ids" not in data:
            add_here(errors, self.message("no_list"))
        elif not values.get("list_id") and not values.get("list_ids") and not errors:
            errors["list_ids"] = [self.message("no_list_id")]

    def check_event_type_uri(self, data: dict[Any, Any], values: dict[str, Any], errors: ErrorTree) -> None:
        """Each event type is mapped once per connection."""
        section = self.parent
        if "event_type_uri" in values and isinstance(section, EventMappings):
            first = section.claim(values["event_type_uri"], self.key_path)
            if first != self.key_path:
                errors["event_type_uri"] = [self.message("duplicate", first=first)]
                del values["event_type_uri"]


class EventMappings(Container):
    """``event_mapping``: entries named by slugs (stored as the mapping's ``key``)."""

    default_error_messages = {"key": "expected a slug as the mapping name (letters, digits, - and _)"}

    def claim(self, uri: str, entry_path: str) -> str:
        """The path of the entry that maps ``uri``: the first one to claim it."""
        return self._claimed.setdefault(uri, entry_path)

    def to_internal_value(self, data: Any) -> dict[str, dict[str, Any]]:
        self._claimed: dict[str, str] = {}
        entries: dict[str, dict[str, Any]] = {}
        errors: ErrorTree = {}
        for key, spec in self.mapping(data).items():
            if not is_slug(key, KEY_LENGTH):
                errors[key] = [self.message("key")]
                continue
            try:
                entries[key] = self.adopt(EventMappingEntry(), key).run_validation(spec)
            except serializers.ValidationError as exc:
                errors[key] = detail(exc)
        if errors:
            raise invalid(errors)
        return entries


class FieldSpec(Section):
    """The long form of a field mapping: ``{attribute: NAME, type: T, enabled: B}``."""

    attribute = Text(max_length=ATTRIBUTE_LENGTH, required=True, error_messages={"required": "attribute is required"})
    type = Choice(ATTRIBUTE_TYPES, aliases=TYPE_ALIASES)  # absent: default_attribute_type
    enabled = Boolean(default=True)

    def collect(self, data: Any) -> tuple[dict[str, Any] | None, ErrorTree]:
        if isinstance(data, dict) and "attribute" not in data:  # nothing else is checked without it
            errors = self.unknown_keys(data)
            add_here(errors, str(self.fields["attribute"].error_messages["required"]))
            return None, errors
        values, errors = super().collect(data)
        if values is not None and not errors.keys() & {"attribute", "type", "enabled"}:
            try:
                ATTRIBUTE_NAME(values["attribute"])
            except DjangoValidationError as exc:
                errors["attribute"] = exc.messages
        return values, errors


class FieldMappings(Container):
    """``field_mapping``: source → attribute rows, in file order (their ``position``).

    A source is a documented field, ``question:<key>``, or a key under ``questions_and_answers``;
    its value an attribute name, a :class:`FieldSpec`, or a list of either.
    """

    default_error_messages = {
        "source": "unknown source field{hint}; custom questions go under " + QUESTIONS_KEY,
        "question": "expected a question name",
        "question_length": "question name too long (at most {max_length} characters)",
        "no_attribute": "expected an attribute name or a list of them",
        "duplicate": "{attribute} is already mapped from this field",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = self.adopt(FieldSpec(), "")
        self.attribute = self.adopt(Text(max_length=ATTRIBUTE_LENGTH, validators=[ATTRIBUTE_NAME]), "")

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        errors: ErrorTree = {}
        for key, spec in self.mapping(data).items():
            if key == QUESTIONS_KEY:
                try:
                    questions = self.mapping({} if spec is None else spec)
                except serializers.ValidationError as exc:
                    errors[key] = detail(exc)
                    continue
                for question, question_spec in questions.items():
                    if not isinstance(question, str) or not question.strip():
                        errors[(key, question)] = [self.message("question")]
                    elif not self._source_fits(QUESTION_PREFIX + question, (key, question), errors):
                        continue
                    else:
                        self._add(QUESTION_PREFIX + question, question_spec, (key, question), rows, errors)
            elif isinstance(key, str) and key.startswith(QUESTION_PREFIX) and len(key) > len(QUESTION_PREFIX):
                if self._source_fits(key, key, errors):
                    self._add(key, spec, key, rows, errors)
            elif key in SOURCES:
                self._add(key, spec, key, rows, errors)
            else:
                hint = did_you_mean(key, (*SOURCES, QUESTIONS_KEY))
                errors[key] = [self.message("source", hint=hint)]
        if errors:
            raise invalid(errors)
        for position, row in enumerate(rows):
            row["position"] = position
        return rows

    def _source_fits(self, source: str, key: Hashable, errors: ErrorTree) -> bool:
        if len(source) <= SOURCE_LENGTH:
            return True
        errors[key] = [self.message("question_length", max_length=SOURCE_LENGTH - len(QUESTION_PREFIX))]
        return False

    def _add(self, source: str, spec: Any, key: Hashable, rows: list[dict[str, Any]], errors: ErrorTree) -> None:
        items: list[tuple[Hashable, Any]]
        if isinstance(spec, list):
            if not spec:
                errors[key] = [self.message("no_attribute")]
            items = [(below(key, Index(i)), one) for i, one in enumerate(spec)]
        else:
            items = [(key, spec)]
        for item_key, one in items:
            if source == "email" and one == "email":
                continue  # the contact identifier (Brevo upserts by email): always on, not an attribute
            row, item_errors = self._row(source, one)
            if item_errors:
                errors[item_key] = item_errors
            if row is None:
                continue
            if any(r["source"] == source and r["attribute"] == row["attribute"] for r in rows):
                duplicate = [self.message("duplicate", attribute=row["attribute"])]
                if item_errors:  # unknown keys beside a valid attribute
                    assert isinstance(item_errors, dict)
                    item_errors[()] = duplicate
                else:
                    errors[item_key] = duplicate
                continue
            rows.append(row)

    def _row(self, source: str, spec: Any) -> tuple[dict[str, Any] | None, ErrorTree | list[str]]:
        if isinstance(spec, dict):
            values, errors = self.spec.collect(spec)
            if values is None or errors.keys() & {"attribute", "type", "enabled"}:
                return None, errors
            attribute, declared, enabled = values["attribute"], values.get("type"), values["enabled"]
        else:
            try:
                attribute = self.attribute.run_validation(spec)
            except serializers.ValidationError as exc:
                return None, detail(exc)
            declared, enabled, errors = None, True, {}
        attribute_type = declared or default_attribute_type(source, attribute)
        return {"source": source, "attribute": attribute, "attribute_type": attribute_type, "enabled": enabled}, errors


class ConnectionBlock(Section):
    """One connection: ``connectors.calendly`` (or an item of its list) or ``connectors.calendly_<name>``."""

    null_is_empty = False
    default_error_messages = {
        "block_name": "the block name after calendly_ must be a slug (letters, digits, - and _)",
        "oauth_token": "not used with auth: oauth (OAuth tokens come from the admin's Connect Calendly button)",
    }
    # Declared in the order the keys are checked (which orders two errors on one line).
    name = Text(max_length=NAME_LENGTH, validators=[SLUG])
    enabled = Boolean()
    debug = Boolean()
    log_webhooks = Boolean()
    log_level = Choice(LOG_LEVELS)
    auth = Choice(AUTH_KINDS)
    access_token = Secret()
    sync = SyncSection()
    webhook = WebhookSection()
    brevo = BrevoSection()
    default_list_id = ListId()
    default_list_ids = ListIds()  # with default_list_id: their union
    event_mapping = EventMappings()
    field_mapping = FieldMappings()

    def __init__(self, *args: Any, default_name: str = DEFAULT_NAME, **kwargs: Any) -> None:
        self.default_name = default_name
        super().__init__(*args, **kwargs)

    def check_name(self, data: dict[Any, Any], values: dict[str, Any], errors: ErrorTree) -> None:
        """Without ``name:``, the block's key names it: ``calendly`` → default, ``calendly_<name>``."""
        if "name" not in data and not is_slug(self.default_name, NAME_LENGTH):
            add_here(errors, self.message("block_name"))
        values.setdefault("name", self.default_name)

    def check_access_token(self, data: dict[Any, Any], values: dict[str, Any], errors: ErrorTree) -> None:
        """A token in the file is a Personal Access Token; OAuth tokens come from the Connect button."""
        if "access_token" not in values:
            return
        if values.get("auth") == Connection.AuthKind.OAUTH:
            errors["access_token"] = [self.message("oauth_token")]
        else:
            values.setdefault("auth", Connection.AuthKind.PAT.value)


class Connectors(Container):
    """``connectors:``: ``calendly`` (one block or a list of them) and ``calendly_<name>`` blocks.

    Validates to ``[(key path, block values), ...]`` in file order.
    """

    null_is_empty = False
    default_error_messages = {
        "unknown": "unknown key (connection blocks are named calendly or calendly_<name>)",
        "no_block": "expected a calendly: block",
        "empty_list": "expected at least one connection block",
        "duplicate_name": "duplicate connection name {name!r} (also used by {first})",
    }

    def to_internal_value(self, data: Any) -> list[tuple[str, dict[str, Any]]]:
        blocks: list[tuple[Hashable, dict[str, Any]]] = []
        errors: ErrorTree = {}

        def read(key: Hashable, default_name: str, block: Any) -> None:
            values, block_errors = self.adopt(ConnectionBlock(default_name=default_name), key).collect(block)
            if block_errors:
                errors[key] = block_errors
            if values is not None:
                blocks.append((key, values))

        for key, value in self.mapping(data).items():
            if key == "calendly" and isinstance(value, list):
                if not value:
                    errors[key] = [self.message("empty_list")]
                for i, item in enumerate(value):
                    read((key, Index(i)), DEFAULT_NAME, item)
            elif key == "calendly":
                read(key, DEFAULT_NAME, value)
            elif isinstance(key, str) and key.startswith(BLOCK_PREFIX) and len(key) > len(BLOCK_PREFIX):
                read(key, key[len(BLOCK_PREFIX) :], value)
            else:
                errors[key] = [self.message("unknown")]
        if not data:
            add_here(errors, self.message("no_block"))

        first: dict[str, Hashable] = {}  # names must be unique in the file; reported last
        for key, values in blocks:
            name = values["name"]
            if name in first:
                message = self.message("duplicate_name", name=name, first=join(self.key_path, first[name]))
                errors[below(key, "name")] = [message]
            else:
                first[name] = key
        if errors:
            raise invalid(errors)
        return [(join(self.key_path, key), values) for key, values in blocks]


class ConfigFile(Section):
    """The whole file: one key, ``connectors``."""

    null_is_empty = False
    connectors = Connectors()

    def collect(self, data: Any) -> tuple[dict[str, Any] | None, ErrorTree]:
        if data is None:
            return None, {"connectors": ["required (the file is empty)"]}
        if not isinstance(data, dict):
            return None, {(): [f"invalid file: expected a mapping with a connectors: key, got {type_name(data)}"]}
        return super().collect(data)

    def check_connectors(self, data: dict[Any, Any], values: dict[str, Any], errors: ErrorTree) -> None:
        if "connectors" not in data:
            errors["connectors"] = ["required"]  # on the key itself, unlike a missing key in a section
