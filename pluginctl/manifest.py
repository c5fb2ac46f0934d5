"""``plugin.toml``: the static description of a plugin, loaded without importing its code.

The host lists, validates and plans from the manifest before any plugin code runs.
`Manifest.from_path` reads and checks a file and raises `ManifestError`
listing every problem found, each with its key path and a fix.

Example:
    >>> manifest = Manifest.from_text('''
    ... name = "hello"
    ... version = "1.0.0"
    ... permissions = ["routes", "kv"]
    ... [routes]
    ... prefix = "/"
    ... ''')
    >>> manifest.package, manifest.permission_set.allows("kv")
    ('hello', True)
"""

from __future__ import annotations

import math
import tomllib
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from pluginctl.errors import ManifestError, Problem
from pluginctl.permissions import PermissionSet

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CATEGORIES",
    "MANIFEST_FILENAME",
    "RATE_LIMITED_CAPABILITIES",
    "Admin",
    "AdminPanelSpec",
    "ConfigField",
    "ConfigValue",
    "Limits",
    "Manifest",
    "RateLimit",
    "Routes",
]

MANIFEST_FILENAME = "plugin.toml"

#: The categories a registry groups plugins by.
CATEGORIES: tuple[str, ...] = (
    "analytics",
    "auth",
    "data",
    "devtools",
    "integrations",
    "monitoring",
    "notifications",
    "payments",
    "search",
    "security",
    "storage",
    "ui",
    "utilities",
    "other",
)

#: What a ``[limits.rate]`` table may limit: calls into the plugin and each host API family.
RATE_LIMITED_CAPABILITIES: tuple[str, ...] = ("calls", "kv", "db", "events", "plugins", "http")

ConfigValue = str | int | float | bool | list[str]
ConfigType = Literal["str", "int", "float", "bool", "list[str]"]
_Positive = Annotated[int, msgspec.Meta(ge=1)]
_PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class _Table(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Base for manifest tables: keyword-only, immutable, TOML-shaped."""


class RateLimit(_Table, frozen=True):
    """A token bucket: ``rate_per_s`` tokens a second, at most ``burst`` at once."""

    rate_per_s: _PositiveFloat
    burst: _Positive | None = None

    @property
    def capacity(self) -> int:
        """The bucket size: ``burst``, or ``rate_per_s`` rounded up when it is not set.

        Example:
            >>> RateLimit(rate_per_s=2.5).capacity, RateLimit(rate_per_s=1, burst=10).capacity
            (3, 10)
        """
        return self.burst if self.burst is not None else math.ceil(self.rate_per_s)


class Limits(_Table, frozen=True):
    """Resources a plugin's worker may use; the host enforces them."""

    memory_mb: _Positive = 512
    cpu_seconds: _Positive | None = None
    call_timeout_s: _PositiveFloat = 10.0
    open_files: Annotated[int, msgspec.Meta(ge=16)] = 256
    file_size_mb: _Positive = 64
    processes: _Positive | None = None
    rate: dict[str, RateLimit] = {}


class ConfigField(_Table, frozen=True):
    """One typed setting an operator may give the plugin."""

    type: ConfigType
    default: ConfigValue | None = None
    description: str = ""
    required: bool = False
    secret: bool = False
    choices: list[ConfigValue] | None = None
    min: float | None = None
    max: float | None = None


class Routes(_Table, frozen=True):
    """HTTP routes, served under ``/plugins/<name><prefix>``."""

    prefix: str = "/"


class AdminPanelSpec(_Table, frozen=True):
    """A panel the plugin adds to the admin UI's sidebar."""

    id: str
    title: str


class Admin(_Table, frozen=True):
    """The plugin's admin UI panels."""

    panels: list[AdminPanelSpec] = []


class Manifest(_Table, frozen=True):
    """The parsed and checked contents of a plugin's ``plugin.toml``."""

    name: str
    version: str
    description: str = ""
    category: str = "other"
    tags: list[str] = []
    host: str = ""
    dependencies: dict[str, str] = {}
    permissions: list[str] = []
    exports: list[str] = []
    limits: Limits = msgspec.field(default_factory=Limits)
    config: dict[str, ConfigField] = {}
    routes: Routes | None = None
    admin: Admin | None = None
    static: str | None = None
    migrations: str | None = None

    @classmethod
    def from_path(cls, path: Path) -> Manifest:
        """Read and check ``path`` (a ``plugin.toml`` or the directory holding one).

        Raises:
            ManifestError: listing every problem, each with its key path and a fix.
        """
        from pluginctl.manifest_rules import read_toml_text

        if path.is_dir():
            path = path / MANIFEST_FILENAME
        text = read_toml_text(path, error=ManifestError, missing_hint=_MISSING_HINT)
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str = MANIFEST_FILENAME) -> Manifest:
        """Parse and check manifest ``text``; ``source`` names it in errors."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problem = Problem(source, "", f"not valid TOML: {exc}", hint=_TOML_HINT)
            raise ManifestError([problem]) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: dict[str, object], *, source: str = MANIFEST_FILENAME) -> Manifest:
        """Check already-parsed TOML ``data`` and build the manifest."""
        from pluginctl.manifest_rules import check_manifest, conversion_problem, find_unknown_keys

        problems = find_unknown_keys(data, cls, source=source)
        try:
            manifest = msgspec.convert(data, cls)
        except msgspec.ValidationError:
            problems.append(conversion_problem(data, cls, source=source))
            raise ManifestError(problems) from None
        problems.extend(check_manifest(manifest, source=source))
        if any(p.severity == "error" for p in problems):
            raise ManifestError([p for p in problems if p.severity == "error"])
        return manifest

    @property
    def package(self) -> str:
        """The import name of the plugin's package: the name with ``-`` as ``_``."""
        return self.name.replace("-", "_")

    @property
    def permission_set(self) -> PermissionSet:
        """The declared permissions, parsed."""
        return PermissionSet.parse(self.permissions)

    def to_dict(self) -> dict[str, object]:
        """The manifest as plain data, for ``--json`` output and the registry."""
        result: dict[str, object] = msgspec.to_builtins(self)
        return result


_MISSING_HINT = (
    "every plugin package needs a plugin.toml next to its code; `pluginctl create` makes one"
)
_TOML_HINT = "fix the TOML syntax at the line and column shown"
