"""Strict YAML keys on Django REST framework: the field types the configuration schema is made of.

A configuration file is stricter than a JSON API, so these fields are too: booleans must be YAML
booleans, list ids positive integers (``true`` is not one), strings must not be numbers, a null is
a wrong type unless a field says what it stands for, unknown keys are errors with a "did you mean",
and a :class:`Section` checks every key even after a bad one, so a file's problems are all reported
at once. Values pass through the reader's ``${VAR}`` substitution first (``context["interpolate"]``);
a :class:`FromEnv` string may then stand for an integer or a boolean.

Errors nest the way DRF nests them, one dict per mapping keyed by the file's own keys, with three
additions that :func:`join` turns into a key path: :class:`Index` for a list position, a tuple for
a path below the mapping, and ``()`` for the mapping itself (a missing key is reported on the
mapping that lacks it: ``connectors.calendly.event_mapping.demo: event_type_uri is required``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union, cast

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

__all__ = [
    "Boolean",
    "Choice",
    "Container",
    "ErrorTree",
    "FromEnv",
    "Index",
    "ListId",
    "ListIds",
    "Scalar",
    "Secret",
    "Section",
    "Text",
    "YamlField",
    "add_here",
    "below",
    "detail",
    "did_you_mean",
    "invalid",
    "join",
    "type_name",
]


def type_name(value: Any) -> str:
    """How a message names a value's YAML type: ``expected a string, got an integer``."""
    if value is None:
        return "nothing"
    for kind, name in (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a mapping"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def did_you_mean(key: Hashable, choices: Iterable[str]) -> str:
    hint = difflib.get_close_matches(str(key), list(choices), n=1)
    return f" (did you mean {hint[0]}?)" if hint else ""


# --- key paths ---------------------------------------------------------------------------------


class Index(int):
    """A list position in a key path, written ``[n]`` right after the list's key."""


#: DRF's nested errors as this file nests them: keys of the file, :class:`Index`, tuples, ``()``.
ErrorTree = dict[Hashable, Union["ErrorTree", list[str]]]


def join(path: str, key: Hashable) -> str:
    """``path`` one key further down: ``a.b``, ``a[0]``; a tuple goes down each of its keys."""
    if isinstance(key, tuple):
        for part in key:
            path = join(path, part)
        return path
    if isinstance(key, Index):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def below(key: Hashable, *more: Hashable) -> tuple[Hashable, ...]:
    """The error key for a path below ``key`` (itself a key or a tuple of them)."""
    return (*(key if isinstance(key, tuple) else (key,)), *more)


class FromEnv(str):
    """A string produced by ``${VAR}`` substitution.

    Environment variables are always strings, so an integer or boolean key filled from one
    (``list_id: ${DEMO_LIST}``) is parsed from the text; a literal string in the file is not.
    """


def _verbatim(value: Any) -> Any:
    return value


def invalid(errors: ErrorTree | list[str]) -> serializers.ValidationError:
    """DRF's exception for an error tree (its type hints say str keys; ours are any YAML key)."""
    return serializers.ValidationError(cast(Any, errors))


def detail(exc: serializers.ValidationError) -> ErrorTree | list[str]:
    """The errors a DRF exception carries: a list of messages, or a dict of them by key."""
    return cast("ErrorTree | list[str]", exc.detail)


def add_here(errors: ErrorTree, *messages: str) -> None:
    """Report ``messages`` on the mapping itself (the ``()`` key)."""
    own = errors.setdefault((), [])
    assert isinstance(own, list)
    own.extend(messages)


# --- fields ------------------------------------------------------------------------------------

_F = TypeVar("_F", bound="YamlField")

if TYPE_CHECKING:  # DRF's classes are generic only in its type stubs
    _Field = serializers.Field[Any, Any, Any, Any]
    _Serializer = serializers.Serializer[Any]
else:
    _Field, _Serializer = serializers.Field, serializers.Serializer


class YamlField(_Field):
    """What every key of the file shares: it is optional unless declared ``required``, and a YAML
    null (``key:`` with nothing after it) is a value like any other, refused by its type, unless
    :attr:`null_is_empty` makes it the empty mapping."""

    null_is_empty: ClassVar[bool] = False
    file_key: Hashable = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def bind(self, field_name: str, parent: Any) -> None:
        super().bind(field_name, parent)
        self.file_key = field_name

    def adopt(self, child: _F, key: Hashable) -> _F:
        """Attach ``child`` under a key the file chose, as DRF binds a declared field."""
        child.bind("", self)
        child.file_key = key
        return child

    @property
    def key_path(self) -> str:
        parent = self.parent
        return join(parent.key_path, self.file_key) if isinstance(parent, YamlField) else ""

    def message(self, key: str, **kwargs: Any) -> str:
        """One of the field's ``error_messages``, formatted (what :meth:`fail` raises, as a string)."""
        return str(self.error_messages[key]).format(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:
            return (False, {} if self.null_is_empty else None)
        return super().validate_empty_values(data)

    def to_representation(self, value: Any) -> Any:
        return value


class Scalar(YamlField):
    """A single value, ``${VAR}`` filled in first by the reader's ``interpolate``."""

    def to_internal_value(self, data: Any) -> Any:
        interpolate: Callable[[Any], Any] = self.context.get("interpolate", _verbatim)
        return self.parse(interpolate(data))

    def parse(self, value: Any) -> Any:
        raise NotImplementedError


class Boolean(Scalar):
    default_error_messages = {"invalid": "expected a boolean (true or false)"}

    def parse(self, value: Any) -> bool:
        if isinstance(value, FromEnv) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            self.fail("invalid")
        return value


# ASCII digits only ("²".isdigit() is true, but int() refuses it), no more than a list id needs.
_ASCII_DIGITS = re.compile(r"^[0-9]{1,12}$")


class ListId(Scalar):
    """A Brevo list id: a positive integer (YAML booleans are not integers here)."""

    default_error_messages = {"invalid": "expected an integer", "min_value": "expected a positive integer"}

    def parse(self, value: Any) -> int:
        if isinstance(value, FromEnv) and _ASCII_DIGITS.match(value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("invalid")
        if value <= 0:
            self.fail("min_value")
        return value


class ListIds(YamlField, serializers.ListField):
    """A list of Brevo list ids; ``key:`` with nothing after it is the empty list."""

    default_error_messages = {"not_a_list": "expected a list of integers, e.g. [10, 12]"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=ListId(), **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        return (False, []) if data is None else super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> list[int]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        try:
            return self.run_child_validation(data)
        except serializers.ValidationError as exc:  # DRF keys the items' errors by position
            errors = detail(exc)
            assert isinstance(errors, dict)
            raise invalid({Index(cast(int, i)): d for i, d in errors.items()}) from None


class Text(Scalar):
    default_error_messages = {
        "invalid": "expected a string, got {type}",
        "max_length": "too long (at most {max_length} characters)",
    }

    def __init__(self, *, max_length: int | None = None, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def parse(self, value: Any) -> str:
        if not isinstance(value, str):
            self.fail("invalid", type=type_name(value))
        if self.max_length is not None and len(value) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return str(value)


class Secret(Text):
    """A secret string, kept as :class:`FromEnv` when a variable supplied it (else the reader warns)."""

    default_error_messages = {"invalid": "expected a string (quote it), got {type}"}

    def parse(self, value: Any) -> str:
        super().parse(value)
        return cast(str, value)


class Choice(Text):
    default_error_messages = {"invalid_choice": "expected one of {choices}"}

    def __init__(self, choices: tuple[str, ...], *, aliases: dict[str, str] | None = None, **kwargs: Any) -> None:
        self.choices, self.aliases = choices, aliases or {}
        super().__init__(**kwargs)

    def parse(self, value: Any) -> str:
        text = super().parse(value)
        text = self.aliases.get(text, text)
        if text not in self.choices:
            self.fail("invalid_choice", choices=", ".join(self.choices))
        return text


# --- mappings ----------------------------------------------------------------------------------


class Section(YamlField, _Serializer):
    """A mapping with declared keys. Unlike DRF's loop, every key is checked even after a bad one,
    and ``check_<key>(data, values, errors)`` runs right after ``<key>``, seeing its neighbours."""

    null_is_empty = True
    default_error_messages = {"invalid": "expected a mapping, got {datatype}"}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values, errors = self.collect(data)
        if errors:
            raise invalid(errors)
        assert values is not None
        return values

    def unknown_keys(self, data: dict[Any, Any]) -> ErrorTree:
        return {key: [f"unknown key{did_you_mean(key, self.fields)}"] for key in data if key not in self.fields}

    def collect(self, data: Any) -> tuple[dict[str, Any] | None, ErrorTree]:
        """The valid keys' values (None if ``data`` is no mapping) and every error."""
        if not isinstance(data, dict):
            return None, {(): [self.message("invalid", datatype=type_name(data))]}
        errors = self.unknown_keys(data)
        values: dict[str, Any] = {}
        for field in self._writable_fields:
            name = field.field_name
            assert name is not None
            raw = field.get_value(data)
            try:
                values[name] = field.run_validation(raw)
            except SkipField:
                pass
            except serializers.ValidationError as exc:
                missing = detail(exc)
                if raw is empty and isinstance(missing, list):  # a required key: the mapping lacks it
                    add_here(errors, *missing)
                else:
                    errors[name] = missing
            check = getattr(self, f"check_{name}", None)
            if check is not None:
                check(data, values, errors)
        return values, errors


class Container(YamlField):
    """A mapping whose keys the file chooses (connection blocks, event mappings, field mappings)."""

    null_is_empty = True
    default_error_messages = {"invalid": "expected a mapping, got {datatype}"}

    def mapping(self, data: Any) -> dict[Any, Any]:
        if not isinstance(data, dict):
            self.fail("invalid", datatype=type_name(data))
        return data
