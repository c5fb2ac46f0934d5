from __future__ import annotations

import pytest

from pluginctl.errors import ConfigError, Problem
from pluginctl.manifest import Manifest
from pluginctl.services.settings import REDACTED, redacted, resolve_settings

SOURCE = "/etc/app/pluginctl.toml"
BASE = "plugin.greeter.config"

MANIFEST = Manifest.from_text(
    """
name = "greeter"
version = "1.0.0"

[config.greeting]
type = "str"
default = "Hello"
description = "How to greet"

[config.mode]
type = "str"
default = "polite"
choices = ["polite", "casual"]

[config.repeat]
type = "int"
default = 1
min = 1
max = 5

[config.ratio]
type = "float"
default = 0.5
min = 0
max = 1

[config.loud]
type = "bool"
default = false

[config.names]
type = "list[str]"
default = ["world"]

[config.api_key]
type = "str"
required = true
secret = true
description = "Key for the greeting API"

[config.nickname]
type = "str"
"""
)


def _resolve(given: dict[str, object]) -> dict[str, object]:
    return resolve_settings(MANIFEST, given, source=SOURCE)


def _problems(given: dict[str, object]) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        _resolve(given)
    return list(info.value.problems)


def test_defaults_are_overlaid_with_given_values() -> None:
    settings = _resolve({"api_key": "t0k", "repeat": 3, "names": ["Ada", "Linus"]})
    assert settings == {
        "greeting": "Hello",
        "mode": "polite",
        "repeat": 3,
        "ratio": 0.5,
        "loud": False,
        "names": ["Ada", "Linus"],
        "api_key": "t0k",
        "nickname": None,
    }


def test_an_int_for_a_float_setting_becomes_a_float() -> None:
    settings = _resolve({"api_key": "t", "ratio": 1})
    assert settings["ratio"] == 1.0
    assert isinstance(settings["ratio"], float)


def test_results_are_copies() -> None:
    given: dict[str, object] = {"api_key": "t"}
    settings = _resolve(given)
    names = settings["names"]
    assert isinstance(names, list)
    names.append("changed")
    assert MANIFEST.config["names"].default == ["world"]
    assert _resolve(given)["names"] == ["world"]


def test_a_plugin_without_settings_resolves_to_nothing() -> None:
    manifest = Manifest.from_text('name = "bare"\nversion = "1.0.0"\n')
    assert resolve_settings(manifest, {}, source=SOURCE) == {}


def test_every_problem_is_reported_together() -> None:
    problems = _problems(
        {
            "greting": "Hi",  # a typo
            "repeat": 9,  # above max
            "ratio": "half",  # wrong type
            "mode": "rude",  # not a choice
            "loud": 1,  # an int is not a bool
            "names": ["a", 2],  # not a list of str
            # api_key is required and missing
        }
    )
    assert {p.file for p in problems} == {SOURCE}
    found = {p.key: p for p in problems}
    assert sorted(found) == sorted(
        f"{BASE}.{name}"
        for name in ("greting", "repeat", "ratio", "mode", "loud", "names", "api_key")
    )
    assert found[f"{BASE}.greting"].message == "greeter has no setting 'greting'"
    assert found[f"{BASE}.greting"].hint == "did you mean 'greeting'?"
    assert found[f"{BASE}.repeat"].message == "9 is above the maximum 5"
    assert found[f"{BASE}.repeat"].hint == "give a value with 1 <= value <= 5"
    assert found[f"{BASE}.ratio"].message == "expected a value of type float, got str: 'half'"
    assert found[f"{BASE}.ratio"].hint == "give a float value, e.g. the default 0.5"
    assert found[f"{BASE}.mode"].message == "'rude' is not one of the choices"
    assert found[f"{BASE}.mode"].hint == "one of: 'polite', 'casual'"
    assert found[f"{BASE}.loud"].message == "expected a value of type bool, got int: 1"
    assert (
        found[f"{BASE}.names"].message == "expected a value of type list[str], got list: ['a', 2]"
    )
    assert found[f"{BASE}.api_key"].message == "is required and not set"
    assert found[f"{BASE}.api_key"].hint == (
        f"add api_key = ... under [{BASE}] (str: Key for the greeting API)"
    )


def test_the_error_message_lists_every_problem_with_its_location() -> None:
    with pytest.raises(ConfigError) as info:
        _resolve({"repeat": 0})
    text = str(info.value)
    assert text.startswith("the configuration has 2 problems:")
    assert f"{SOURCE}: {BASE}.repeat: 0 is below the minimum 1" in text
    assert f"{SOURCE}: {BASE}.api_key: is required and not set" in text


def test_a_single_problem_carries_its_hint() -> None:
    with pytest.raises(ConfigError) as info:
        _resolve({"api_key": "t", "mode": "rude"})
    assert str(info.value) == f"{SOURCE}: {BASE}.mode: 'rude' is not one of the choices"
    assert info.value.hint == "one of: 'polite', 'casual'"


def test_an_unknown_setting_with_nothing_close_lists_the_settings() -> None:
    [problem] = _problems({"api_key": "t", "zzz": 1})
    assert problem.hint is not None
    assert problem.hint.startswith("greeter's settings are: greeting, mode, repeat")


def test_settings_for_a_plugin_that_has_none() -> None:
    manifest = Manifest.from_text('name = "bare"\nversion = "1.0.0"\n')
    with pytest.raises(ConfigError) as info:
        resolve_settings(manifest, {"x": 1}, source=SOURCE)
    [problem] = info.value.problems
    assert problem.key == "plugin.bare.config.x"
    assert problem.hint == "bare has no settings; remove [plugin.bare.config]"


def test_secret_values_never_appear_in_problems() -> None:
    [problem] = _problems({"api_key": 12345})
    assert problem.message == "expected a value of type str, got int"
    assert "12345" not in str(problem)
    assert "12345" not in (problem.hint or "")


def test_min_and_max_apply_to_floats() -> None:
    problems = _problems({"api_key": "t", "ratio": -0.25})
    assert [p.message for p in problems] == ["-0.25 is below the minimum 0"]
    assert problems[0].hint == "give a value with 0 <= value <= 1"


def test_a_bool_is_not_an_int() -> None:
    [problem] = _problems({"api_key": "t", "repeat": True})
    assert problem.message == "expected a value of type int, got bool: True"


def test_redacted_hides_secrets_only() -> None:
    settings = _resolve({"api_key": "t0k"})
    shown = redacted(MANIFEST, settings)
    assert shown["api_key"] == REDACTED == "***"
    assert shown["greeting"] == "Hello"
    assert settings["api_key"] == "t0k"  # the input is untouched


def test_redacted_keeps_an_unset_secret_visible_as_none() -> None:
    manifest = Manifest.from_text(
        'name = "x"\nversion = "1.0.0"\n[config.key]\ntype = "str"\nsecret = true\n'
    )
    assert redacted(manifest, resolve_settings(manifest, {}, source=SOURCE)) == {"key": None}
    assert redacted(manifest, {"key": "k", "other": 1}) == {"key": "***", "other": 1}
