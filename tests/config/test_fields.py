"""The strict YAML field types: key paths, scalar types, ${VAR} values, sections that report every error."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from calendly_sync.config.fields import Boolean, FromEnv, Index, ListId, ListIds, Section, Text, join


def messages(field: Any, value: Any) -> Any:
    with pytest.raises(ValidationError) as info:
        field.run_validation(value)
    return info.value.detail


def test_join_writes_key_paths():
    assert join("", "connectors") == "connectors"
    assert join("connectors", "calendly") == "connectors.calendly"
    assert join("a.list_ids", Index(0)) == "a.list_ids[0]"
    assert join("connectors", ("calendly", Index(1), "name")) == "connectors.calendly[1].name"
    assert join("connectors.calendly", ()) == "connectors.calendly"


def test_scalars_take_yaml_types_only_and_parse_environment_strings():
    assert Boolean().run_validation(False) is False
    assert Boolean().run_validation(FromEnv(" TRUE ")) is True
    for value in ("true", 1, None):
        assert messages(Boolean(), value) == ["expected a boolean (true or false)"]

    assert ListId().run_validation(FromEnv(" 7 ")) == 7
    assert messages(ListId(), "7") == ["expected an integer"]
    assert messages(ListId(), True) == ["expected an integer"]
    assert messages(ListId(), 0) == ["expected a positive integer"]

    assert messages(Text(), 5) == ["expected a string, got an integer"]
    assert messages(Text(), None) == ["expected a string, got nothing"]
    assert messages(Text(max_length=3), "abcd") == ["too long (at most 3 characters)"]
    assert type(Text().run_validation(FromEnv("x"))) is str


def test_list_ids_key_item_errors_by_position_and_null_is_empty():
    assert ListIds().run_validation(None) == []
    assert messages(ListIds(), [1, True, 0]) == {
        Index(1): ["expected an integer"],
        Index(2): ["expected a positive integer"],
    }
    assert messages(ListIds(), "10") == ["expected a list of integers, e.g. [10, 12]"]


class _Pair(Section):
    flag = Boolean()
    count = ListId(required=True, error_messages={"required": "count is required"})


def test_a_section_reports_every_error_and_a_missing_key_on_itself():
    values, errors = _Pair().collect({"flag": "yes", "falg": True})
    assert values == {}
    assert errors == {
        "falg": ["unknown key (did you mean flag?)"],
        "flag": ["expected a boolean (true or false)"],
        (): ["count is required"],
    }
    assert _Pair().collect([1]) == (None, {(): ["expected a mapping, got a list"]})
    assert messages(_Pair(), None) == {(): ["count is required"]}  # ``key:`` with nothing after it is {}


def test_scalars_go_through_the_context_interpolation_first():
    section = _Pair(context={"interpolate": lambda value: FromEnv("12") if value == "${COUNT}" else value})
    values, errors = section.collect({"count": "${COUNT}"})
    assert (values, errors) == ({"count": 12}, {})
