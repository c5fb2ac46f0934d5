"""``api.config``: a plugin's effective settings, checked against its manifest.

A plugin declares typed settings in the ``[config]`` table of its ``plugin.toml``; the
operator sets values for them in the host config, under ``[plugin.<name>.config]``.
`resolve_settings` overlays the operator's values on the manifest's defaults and
reports every problem at once, each located by its key path in the host config.
`redacted` hides secret values before settings are shown or logged.

Example:
    >>> from pluginctl.manifest import Manifest
    >>> manifest = Manifest.from_text('''
    ... name = "greeter"
    ... version = "1.0.0"
    ... [config.greeting]
    ... type = "str"
    ... default = "Hello"
    ... [config.token]
    ... type = "str"
    ... secret = true
    ... ''')
    >>> settings = resolve_settings(manifest, {"token": "s3cr3t"}, source="pluginctl.toml")
    >>> settings
    {'greeting': 'Hello', 'token': 's3cr3t'}
    >>> redacted(manifest, settings)
    {'greeting': 'Hello', 'token': '***'}
"""

from __future__ import annotations

import copy
import difflib
from typing import TYPE_CHECKING

from pluginctl.errors import ConfigError, Problem
from pluginctl.manifest_rules import config_value_fits

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from pluginctl.manifest import ConfigField, Manifest

__all__ = ["REDACTED", "redacted", "resolve_settings"]

#: What a secret value is shown as.
REDACTED = "***"


def resolve_settings(
    manifest: Manifest, given: Mapping[str, object], *, source: str
) -> dict[str, object]:
    """The settings a plugin runs with: its manifest's defaults, overlaid with ``given``.

    Every setting the manifest declares is in the result; an optional setting with no
    default and no given value is ``None``. A ``float`` setting given an integer gets
    it as a float. Values are copies, so changing them changes neither input.

    Args:
        manifest: The plugin's manifest, whose ``[config]`` table is the schema.
        given: The operator's values, from ``[plugin.<name>.config]`` in the host config.
        source: The host config file, named in every problem.

    Raises:
        ConfigError: listing every problem: unknown settings (with the nearest name),
            wrong types, values outside the choices or min/max, missing required ones.
            Secret values are never repeated in the messages.
    """
    base = f"plugin.{manifest.name}.config"
    problems = [
        *_unknown_settings(manifest, given, base=base, source=source),
        *(
            problem
            for name, field in manifest.config.items()
            for problem in _setting_problems(name, field, given, base=base, source=source)
        ),
    ]
    if problems:
        raise ConfigError(problems)
    return {name: _effective(field, given.get(name)) for name, field in manifest.config.items()}


def redacted(manifest: Manifest, settings: Mapping[str, object]) -> dict[str, object]:
    """``settings`` with the value of every ``secret = true`` setting shown as ``***``.

    An unset secret stays ``None``, so an operator can still see that it is missing.
    Names the manifest does not declare are kept as they are.
    """
    return {
        name: REDACTED if _is_secret(manifest, name) and value is not None else value
        for name, value in settings.items()
    }


def _is_secret(manifest: Manifest, name: str) -> bool:
    field = manifest.config.get(name)
    return field is not None and field.secret


def _unknown_settings(
    manifest: Manifest, given: Mapping[str, object], *, base: str, source: str
) -> Iterator[Problem]:
    known = list(manifest.config)
    for name in given:
        if name in manifest.config:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif known:
            hint = f"{manifest.name}'s settings are: {', '.join(known)}"
        else:
            hint = f"{manifest.name} has no settings; remove [{base}]"
        yield Problem(
            source, f"{base}.{name}", f"{manifest.name} has no setting {name!r}", hint=hint
        )


def _setting_problems(
    name: str, field: ConfigField, given: Mapping[str, object], *, base: str, source: str
) -> Iterator[Problem]:
    key = f"{base}.{name}"
    if name not in given:
        if field.required:
            yield Problem(
                source,
                key,
                "is required and not set",
                hint=f"add {name} = ... under [{base}] ({field.type}"
                + (f": {field.description})" if field.description else ")"),
            )
        return
    value = given[name]
    shown = "the value" if field.secret else repr(value)
    if not config_value_fits(field.type, value):
        yield Problem(
            source,
            key,
            f"expected a value of type {field.type}, got {_type_name(value)}"
            + ("" if field.secret else f": {value!r}"),
            hint=f"give a {field.type} value" + _example(field),
        )
        return
    if field.choices is not None and value not in field.choices:
        choices = ", ".join(repr(choice) for choice in field.choices)
        yield Problem(source, key, f"{shown} is not one of the choices", hint=f"one of: {choices}")
    if isinstance(value, int | float):
        yield from _range_problems(key, field, value, shown=shown, source=source)


def _range_problems(
    key: str, field: ConfigField, value: float, *, shown: str, source: str
) -> Iterator[Problem]:
    if field.min is not None and value < field.min:
        yield Problem(
            source, key, f"{shown} is below the minimum {field.min:g}", hint=_range_hint(field)
        )
    if field.max is not None and value > field.max:
        yield Problem(
            source, key, f"{shown} is above the maximum {field.max:g}", hint=_range_hint(field)
        )


def _range_hint(field: ConfigField) -> str:
    low = "" if field.min is None else f"{field.min:g} <= "
    high = "" if field.max is None else f" <= {field.max:g}"
    return f"give a value with {low}value{high}"


def _example(field: ConfigField) -> str:
    if field.default is None or field.secret:
        return ""
    return f", e.g. the default {field.default!r}"


def _type_name(value: object) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "table"}
    return names.get(type(value), type(value).__name__)


def _effective(field: ConfigField, value: object) -> object:
    if value is None:
        value = field.default
    if field.type == "float" and isinstance(value, int):
        return float(value)
    return copy.deepcopy(value)
