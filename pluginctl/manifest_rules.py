"""The rules a manifest must follow beyond its types, each reported as a `Problem`."""

from __future__ import annotations

import difflib
import keyword
import re
import typing
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import msgspec
import msgspec.inspect as mi
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pluginctl.errors import Problem
from pluginctl.permissions import Permission, PermissionSyntaxError, is_host_topic

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.manifest import ConfigField, Manifest

__all__ = [
    "NAME_PATTERN",
    "check_manifest",
    "conversion_problem",
    "find_unknown_keys",
    "name_problem",
    "rate_family_problems",
    "read_toml_text",
]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_MAX_NAME = 64
#: The publisher of the host's own events (``host.*``): no plugin may take its name.
_HOST_NAME = "host"
_MAX_DESCRIPTION = 512
_MAX_TAGS = 20

_Check = Callable[["Manifest", str], Iterator[Problem]]


def find_unknown_keys(data: object, struct: type[msgspec.Struct], *, source: str) -> list[Problem]:
    """Every key in ``data`` that ``struct`` does not define, with the nearest valid name."""
    return list(_walk_unknown(data, mi.type_info(struct), "", source))


def _walk_unknown(data: object, info: mi.Type, path: str, source: str) -> Iterator[Problem]:
    if isinstance(info, mi.UnionType):
        for member in info.types:
            yield from _walk_unknown(data, member, path, source)
    elif isinstance(info, mi.StructType) and isinstance(data, dict):
        yield from _walk_struct(data, info, path, source)
    elif isinstance(info, mi.DictType) and isinstance(data, dict):
        for key, value in data.items():
            yield from _walk_unknown(value, info.value_type, f"{path}.{key}", source)
    elif isinstance(info, mi.ListType) and isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk_unknown(value, info.item_type, f"{path}[{index}]", source)


def _walk_struct(
    data: dict[object, object], info: mi.StructType, path: str, source: str
) -> Iterator[Problem]:
    fields = {f.encode_name: f for f in info.fields}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key in fields:
            yield from _walk_unknown(value, fields[str(key)].type, where, source)
        else:
            yield _unknown_key(where, str(key), list(fields), source)


def conversion_problem(data: object, kind: object, *, source: str, base: str = "") -> Problem:
    """The first value in ``data`` that does not fit ``kind``, located by its key path.

    msgspec names dictionary entries ``[...]``; this finds the entry and names it.
    """
    try:
        msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        key = _join(base, where.rstrip("`").lstrip("."))
    else:  # pragma: no cover - only called after a failed conversion
        return Problem(source, base, "is invalid")
    if "[...]" in key:
        table_key, _, _ = key.partition("[...]")
        located = _locate_in_table(data, kind, base, table_key, source)
        if located is not None:
            return located
    return _describe(message, key, kind=kind, base=base, source=source)


def _locate_in_table(
    data: object, kind: object, base: str, table_key: str, source: str
) -> Problem | None:
    relative = table_key[len(base) :].lstrip(".") if base else table_key
    table = _value_at(data, relative)
    value_type = typing.get_args(_annotation_at(kind, relative))[-1:]
    if not isinstance(table, dict) or not value_type:
        return None
    for name, value in table.items():
        try:
            msgspec.convert(value, value_type[0])
        except msgspec.ValidationError:
            return conversion_problem(
                value, value_type[0], source=source, base=f"{table_key}.{name}"
            )
    return None


def _describe(message: str, key: str, *, kind: object, base: str, source: str) -> Problem:
    message = message.replace("`", "").replace("Expected", "expected").replace(" | null", "")
    message = message.replace("object", "table").replace("array", "list")
    if message.startswith("Object missing required field"):
        field = message.rsplit(" ", 1)[-1]
        return Problem(source, _join(key, field), "is required", hint=f"add {field} = ... here")
    if message.startswith("Invalid enum value"):
        relative = key[len(base) :].lstrip(".") if base else key
        allowed = typing.get_args(_annotation_at(kind, relative))
        value = message.removeprefix("Invalid enum value ")
        return Problem(source, key, f"{value} is not allowed", hint=f"one of: {', '.join(allowed)}")
    if not message.startswith("expected"):  # a rule the values break together (__post_init__)
        return Problem(source, key, message, hint="change the values so that this holds")
    return Problem(source, key, message, hint="change the value to the expected type")


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base and key else base or key


def _value_at(data: object, dotted: str) -> object:
    for part in filter(None, dotted.split(".")):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _annotation_at(kind: object, dotted: str) -> object:
    """The type annotation reached by following ``dotted`` field names from ``kind``."""
    for part in filter(None, dotted.split(".")):
        kind = _struct_of(kind)
        if kind is None:
            return None
        kind = typing.get_type_hints(kind, include_extras=False).get(part)
    return kind


def _struct_of(kind: object) -> type[msgspec.Struct] | None:
    candidates = (kind, *typing.get_args(kind))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _unknown_key(where: str, key: str, known: list[str], source: str) -> Problem:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "valid keys here: " + ", ".join(known)
    return Problem(source, where, "unknown key", hint=hint)


def name_problem(name: str, *, source: str, key: str = "name") -> Problem | None:
    """Why ``name`` is not a valid plugin name, or None when it is.

    Example:
        >>> name_problem("my-plugin", source="x") is None
        True
        >>> name_problem("My Plugin!", source="x").hint
        "use lowercase letters, digits and single hyphens, e.g. 'my-plugin'"
    """
    fixed = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    fixed = re.sub(r"^[0-9-]+", "", fixed) or "my-plugin"
    hint = f"use lowercase letters, digits and single hyphens, e.g. '{fixed}'"
    if not name:
        return Problem(source, key, "must not be empty", hint=hint)
    if len(name) > _MAX_NAME:
        return Problem(source, key, f"is longer than {_MAX_NAME} characters", hint=hint)
    if not NAME_PATTERN.match(name):
        message = (
            f"{name!r} is not a valid plugin name: it must start with a lowercase letter"
            " and use only lowercase letters, digits and single hyphens"
        )
        return Problem(source, key, message, hint=hint)
    if keyword.iskeyword(name.replace("-", "_")):
        message = f"{name!r} is a Python keyword and cannot be imported as a package"
        return Problem(source, key, message, hint=f"pick another name, e.g. '{name}-plugin'")
    if name == _HOST_NAME:
        message = f"{name!r} is the host's own name: plugins receive the host's events from it"
        return Problem(source, key, message, hint=f"pick another name, e.g. '{name}-plugin'")
    return None


def check_manifest(manifest: Manifest, *, source: str) -> list[Problem]:
    """Every rule ``manifest`` breaks, in file order."""
    return [problem for check in _CHECKS for problem in check(manifest, source)]


def _check_identity(m: Manifest, source: str) -> Iterator[Problem]:
    if problem := name_problem(m.name, source=source):
        yield problem
    try:
        Version(m.version)
    except InvalidVersion:
        yield Problem(
            source, "version", f"{m.version!r} is not a PEP 440 version", hint="e.g. '1.0.0'"
        )
    if len(m.description) > _MAX_DESCRIPTION:
        yield Problem(
            source,
            "description",
            f"is {len(m.description)} characters; the limit is {_MAX_DESCRIPTION}",
            hint="keep it to one sentence; put the rest in the README",
        )
    if "\n" in m.description:
        yield Problem(source, "description", "must be one line", hint="put details in the README")


def _check_catalogue(m: Manifest, source: str) -> Iterator[Problem]:
    from pluginctl.manifest import CATEGORIES

    if m.category not in CATEGORIES:
        close = difflib.get_close_matches(m.category, CATEGORIES, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "one of: " + ", ".join(CATEGORIES)
        yield Problem(source, "category", f"{m.category!r} is not a known category", hint=hint)
    if len(m.tags) > _MAX_TAGS:
        yield Problem(source, "tags", f"at most {_MAX_TAGS} tags", hint="keep the most useful")
    for index, tag in enumerate(m.tags):
        if not _SLUG.match(tag):
            yield Problem(
                source,
                f"tags[{index}]",
                f"{tag!r} is not a tag",
                hint="tags are lowercase words with hyphens, up to 32 characters",
            )
    if len(set(m.tags)) != len(m.tags):
        yield Problem(source, "tags", "lists a tag twice", hint="remove the duplicate")


def _check_versions(m: Manifest, source: str) -> Iterator[Problem]:
    if m.host:
        yield from _specifier_problems(m.host, source, "host")
    for dep, spec in m.dependencies.items():
        where = f"dependencies.{dep}"
        if problem := name_problem(dep, source=source, key=where):
            yield problem
        elif dep == m.name:
            yield Problem(source, where, "a plugin cannot depend on itself", hint="remove it")
        yield from _specifier_problems(spec, source, where)


def _specifier_problems(spec: str, source: str, key: str) -> Iterator[Problem]:
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        yield Problem(
            source,
            key,
            f"{spec!r} is not a PEP 440 version range",
            hint="e.g. '>=1.2,<2' (an empty string means any version)",
        )


def _check_permissions(m: Manifest, source: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, text in enumerate(m.permissions):
        try:
            permission = Permission.parse(text)
        except PermissionSyntaxError as exc:
            yield Problem(source, f"permissions[{index}]", str(exc), hint=exc.hint)
        else:
            if permission.capability == "events:publish" and is_host_topic(permission.target or ""):
                yield Problem(
                    source,
                    f"permissions[{index}]",
                    f"{text!r}: only the host publishes topics under 'host.'",
                    hint="subscribe to them with events:subscribe:host.** instead",
                )
        if text in seen:
            yield Problem(
                source, f"permissions[{index}]", f"{text!r} is listed twice", hint="remove it"
            )
        seen.add(text)
    declared = {
        "routes": (m.routes, "routes"),
        "admin": (m.admin, "admin"),
        "static": (m.static, "static"),
        "migrations": (m.migrations, "db:write"),
    }
    for section, (value, needed) in declared.items():
        if value is not None and needed not in m.permissions:
            yield Problem(
                source,
                section,
                f"is declared but the '{needed}' permission is not",
                hint=f'add "{needed}" to permissions, so operators see what the plugin does',
            )


def _check_exports_and_panels(m: Manifest, source: str) -> Iterator[Problem]:
    for index, export in enumerate(m.exports):
        if not _IDENTIFIER.match(export):
            yield Problem(
                source,
                f"exports[{index}]",
                f"{export!r} is not an export name",
                hint="use lowercase letters, digits and underscores",
            )
    if m.admin is not None:
        ids = [panel.id for panel in m.admin.panels]
        for index, panel_id in enumerate(ids):
            if not _SLUG.match(panel_id):
                yield Problem(
                    source,
                    f"admin.panels[{index}].id",
                    f"{panel_id!r} is not a panel id",
                    hint="use lowercase letters, digits and hyphens",
                )
            if ids.index(panel_id) != index:
                yield Problem(
                    source, f"admin.panels[{index}].id", "is used twice", hint="rename it"
                )


def _check_paths(m: Manifest, source: str) -> Iterator[Problem]:
    if m.routes is not None:
        prefix = m.routes.prefix
        if not prefix.startswith("/") or "//" in prefix or ".." in prefix.split("/"):
            yield Problem(
                source,
                "routes.prefix",
                f"{prefix!r} is not a URL path prefix",
                hint="start it with '/' and use no '..' or '//', e.g. '/api'",
            )
    for key in ("static", "migrations"):
        value = getattr(m, key)
        if value is None:
            continue
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value or not value.strip():
            yield Problem(
                source,
                key,
                f"{value!r} must be a directory inside the plugin package",
                hint=f"use a relative path such as '{key}'",
            )


def _check_limits(m: Manifest, source: str) -> Iterator[Problem]:
    return rate_family_problems(m.limits.rate, source=source, table="limits.rate")


def rate_family_problems(families: Iterable[str], *, source: str, table: str) -> Iterator[Problem]:
    """A problem for each rate-limit table named for something that cannot be limited."""
    from pluginctl.manifest import RATE_LIMITED_CAPABILITIES

    for name in families:
        if name not in RATE_LIMITED_CAPABILITIES:
            close = difflib.get_close_matches(name, RATE_LIMITED_CAPABILITIES, n=1)
            yield Problem(
                source,
                f"{table}.{name}",
                f"{name!r} cannot be rate limited",
                hint=f"did you mean '{close[0]}'?"
                if close
                else "one of: " + ", ".join(RATE_LIMITED_CAPABILITIES),
            )


def read_toml_text(
    path: Path, *, error: Callable[[list[Problem]], Exception], missing_hint: str
) -> str:
    """The text of a TOML file, or ``error`` (a problems error) saying why it cannot be read."""
    problem: Problem
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = Problem(str(path), "", "file not found", hint=missing_hint)
    except UnicodeDecodeError as exc:
        problem = Problem(str(path), "", f"not UTF-8 ({exc.reason})", hint="save it as UTF-8")
    except OSError as exc:
        problem = Problem(str(path), "", f"cannot be read: {exc.strerror}")
    raise error([problem])


def _check_config(m: Manifest, source: str) -> Iterator[Problem]:
    for key, field in m.config.items():
        where = f"config.{key}"
        if not _IDENTIFIER.match(key):
            yield Problem(source, where, f"{key!r} is not a setting name", hint="use snake_case")
        yield from _config_field_problems(field, source, where)


def _config_field_problems(field: ConfigField, source: str, where: str) -> Iterator[Problem]:
    if field.required and field.default is not None:
        yield Problem(
            source, where, "is required and also has a default", hint="drop one of the two"
        )
    if field.default is not None and not config_value_fits(field.type, field.default):
        yield Problem(
            source,
            f"{where}.default",
            f"{field.default!r} is not of type {field.type}",
            hint=f"give a default of type {field.type}, or change the type",
        )
    for index, choice in enumerate(field.choices or []):
        if not config_value_fits(field.type, choice):
            yield Problem(source, f"{where}.choices[{index}]", f"is not of type {field.type}")
    if field.choices and field.default is not None and field.default not in field.choices:
        yield Problem(
            source, f"{where}.default", "is not one of the choices", hint="add it to choices"
        )
    numeric = field.type in ("int", "float")
    if not numeric and (field.min is not None or field.max is not None):
        yield Problem(source, where, "min and max apply only to int and float settings")
    if field.min is not None and field.max is not None and field.min > field.max:
        yield Problem(source, where, "min is greater than max", hint="swap them")
    elif numeric and isinstance(field.default, int | float) and not _within(field, field.default):
        yield Problem(
            source, f"{where}.default", "is outside min and max", hint="move it into the range"
        )


def _within(field: ConfigField, value: float) -> bool:
    return (field.min is None or value >= field.min) and (field.max is None or value <= field.max)


def config_value_fits(kind: str, value: object) -> bool:
    """Whether ``value`` has the config type ``kind`` (``bool`` is not an ``int`` here)."""
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_CHECKS: tuple[_Check, ...] = (
    _check_identity,
    _check_catalogue,
    _check_versions,
    _check_permissions,
    _check_exports_and_panels,
    _check_paths,
    _check_limits,
    _check_config,
)
