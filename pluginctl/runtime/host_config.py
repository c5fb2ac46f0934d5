"""``pluginctl.toml``: the operator's settings for a host; the file and every key are optional.

`HostConfig.find` looks for ``pluginctl.toml`` in one directory (the working
directory, for the CLI), never above it: a host's configuration should not come
from a parent directory by surprise. `HostConfig.from_path` reads and checks it and
raises `ConfigError` listing every problem with its key path and a fix; without a
file, `HostConfig.default` applies. Relative paths are relative to the directory
holding the file, and ``~`` means the home directory.

The whole shape; every value shown is the default, except where a comment says not:

```toml
data_dir = "~/.local/share/pluginctl"  # plugin data: platformdirs' user data dir
database_url = "postgresql://app:secret@db.internal/app"  # not a default: unset, each plugin's
                                       # database is a SQLite file in its data directory
installed = true                       # run the plugins installed in this environment
plugins = []                           # plugin source directories, e.g. ["../greeter"]
disabled = []                          # names of plugins found but not started

[server]
host = "127.0.0.1"                     # another address exposes the HTTP gateway
port = 8700                            # 0 picks a free port

[defaults]                             # for every plugin's worker
call_timeout_s = 5.0                   # not a default: unset, each plugin's own limit
max_frame_mb = 16                      # the largest RPC frame a worker may send
start_timeout_s = 30.0                 # to import and activate a plugin, or it fails
deadline_grace_s = 1.0                 # past a call's deadline, a silent worker is killed
start_method = "fork"                  # or "spawn", where fork is unavailable
traffic_every_s = 10.0                 # how often host.traffic tells plugins of route calls

[defaults.restart]                     # after a crash: restart with a growing, jittered wait
initial_backoff_s = 0.1                # the first wait; each further crash doubles it
max_backoff_s = 30.0                   # up to this
stable_after_s = 30.0                  # a worker that ran this long starts afresh
max_crashes = 5                        # this many crashes within window_s disable it
window_s = 60.0

[defaults.breaker]                     # stop calling a plugin (or a method) that keeps failing
window_s = 10.0                        # the failure ratio counts this last stretch of time
min_calls = 20                         # ... once it holds at least this many calls
failure_ratio = 0.5                    # failed / all that opens the breaker
consecutive_timeouts = 3               # or this many timeouts in a row
open_s = 5.0                           # then calls fail fast this long, before a probe

[defaults.health]                      # while plugins run
interval_s = 5.0                       # an idle worker is pinged (and its health hook called)
timeout_s = 10.0                       # one that acknowledges no ping this long is restarted
hook_timeout_s = 5.0                   # a health hook slower than this counts as unhealthy

[defaults.output]                      # what of each plugin's prints and api.log reaches the log
lines_per_s = 200.0                    # lines a second, in the long run; the rest is counted
burst_lines = 2000                     # at once, after a quiet spell
line_bytes = 4096                      # a longer line is cut

[defaults.rate.kv]                     # not a default: a token bucket per plugin for a
rate_per_s = 100                       # capability (calls, kv, db, events, plugins, http)
burst = 200

[plugin.greeter.config]                # not a default: settings for the plugin 'greeter',
greeting = "Hi"                        # checked later against its plugin.toml [config]
```

Each ``[plugin.<name>]`` table holds what the operator sets for one plugin: today its
``config`` table. Disabling a plugin has one place, the ``disabled`` list.

Example:
    >>> from pathlib import Path
    >>> config = HostConfig.from_text(
    ...     '''
    ... disabled = ["legacy"]
    ... [server]
    ... host = "0.0.0.0"
    ... [plugin.greeter.config]
    ... greeting = "Hi"
    ... ''',
    ...     base_dir=Path("/srv/app"),
    ... )
    >>> config.server.port, config.server.exposed, config.config_for("greeter")
    (8700, True, {'greeting': 'Hi'})
    >>> config.is_enabled("legacy"), config.data_dir == HostConfig.default().data_dir
    (False, True)
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from pluginctl.errors import ConfigError, Problem
from pluginctl.manifest import RateLimit
from pluginctl.manifest_rules import (
    conversion_problem,
    find_unknown_keys,
    name_problem,
    rate_family_problems,
    read_toml_text,
)
from pluginctl.runtime.breaker import BreakerPolicy
from pluginctl.runtime.health import HealthPolicy
from pluginctl.runtime.output import OutputPolicy
from pluginctl.runtime.supervisor import RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["CONFIG_FILENAME", "Defaults", "HostConfig", "PluginTable", "ServerConfig"]

#: The host config file's name, looked for in the working directory.
CONFIG_FILENAME = "pluginctl.toml"

_MAX_PORT = 65535
_Positive = Annotated[int, msgspec.Meta(ge=1)]
_PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class ServerConfig(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """``[server]``: where the HTTP gateway listens."""

    host: str = "127.0.0.1"
    port: int = 8700

    @property
    def exposed(self) -> bool:
        """Whether other machines may reach the gateway: the host is not a loopback address.

        Example:
            >>> ServerConfig().exposed, ServerConfig(host="::1").exposed
            (False, False)
            >>> ServerConfig(host="0.0.0.0").exposed, ServerConfig(host="example.com").exposed
            (True, True)
        """
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve to anything
            return True


class Defaults(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """``[defaults]``: settings for every plugin's worker.

    Attributes:
        call_timeout_s: The deadline of every call into a plugin; None (unset) leaves
            each plugin its own ``limits.call_timeout_s`` from its manifest.
        max_frame_mb: The largest RPC frame a worker may send.
        start_timeout_s: How long a plugin may take to import and activate.
        deadline_grace_s: After a call's deadline, how long a worker may stay silent
            (its code stuck, in C or in a loop) before the host kills it.
        start_method: ``fork`` (from the zygote) or ``spawn`` (a fresh interpreter).
        traffic_every_s: How often the host publishes ``host.traffic``, the calls to
            each plugin's routes, to the plugins that subscribe to it.
        restart: How crashed plugins are restarted, or disabled after a crash loop.
        breaker: When calls to a failing plugin or method are paused, and how long.
        health: How often running workers are pinged and health hooks called.
        output: How much of each plugin's output reaches the host's log.
        rate: Token buckets per plugin, by capability (``calls``, ``kv``, ...).
    """

    call_timeout_s: _PositiveFloat | None = None
    max_frame_mb: _Positive = 16
    start_timeout_s: _PositiveFloat = 30.0
    deadline_grace_s: _PositiveFloat = 1.0
    start_method: Literal["fork", "spawn"] = "fork"
    traffic_every_s: _PositiveFloat = 10.0
    restart: RestartPolicy = msgspec.field(default_factory=RestartPolicy)
    breaker: BreakerPolicy = msgspec.field(default_factory=BreakerPolicy)
    health: HealthPolicy = msgspec.field(default_factory=HealthPolicy)
    output: OutputPolicy = msgspec.field(default_factory=OutputPolicy)
    rate: dict[str, RateLimit] = {}


class PluginTable(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """``[plugin.<name>]``: what the operator sets for one plugin.

    Attributes:
        config: The plugin's settings, checked against its manifest.
        restart: Its own restart policy, instead of ``[defaults.restart]``.
        breaker: Its own circuit breaker policy, instead of ``[defaults.breaker]``.
        health: Its own health checks, instead of ``[defaults.health]``.
    """

    config: dict[str, object] = {}
    restart: RestartPolicy | None = None
    breaker: BreakerPolicy | None = None
    health: HealthPolicy | None = None


class _File(msgspec.Struct, kw_only=True, frozen=True):
    """The file as written, before paths are resolved."""

    data_dir: str | None = None
    database_url: str | None = None
    installed: bool = True
    plugins: list[str] = []
    disabled: list[str] = []
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    defaults: Defaults = msgspec.field(default_factory=Defaults)
    plugin: dict[str, PluginTable] = {}


@dataclass(frozen=True, slots=True)
class HostConfig:
    """A host's settings, from ``pluginctl.toml`` or the defaults.

    Attributes:
        data_dir: Where plugins' data lives, one directory per plugin.
        path: The file read, or None for the defaults.
        database_url: A PostgreSQL URL for the plugins' databases; None keeps each in a
            SQLite file in its data directory. ``PLUGINCTL_DATABASE_URL`` overrides it.
        installed: Whether to run the plugins installed in this environment.
        plugins: Plugin source directories to run, absolute.
        disabled: Names of plugins not to start.
        server: Where the HTTP gateway listens.
        defaults: Settings for every plugin's worker.
        plugin: ``[plugin.<name>]`` tables by plugin name.
    """

    data_dir: Path
    path: Path | None = None
    database_url: str | None = None
    installed: bool = True
    plugins: tuple[Path, ...] = ()
    disabled: frozenset[str] = frozenset()
    server: ServerConfig = field(default_factory=ServerConfig)
    defaults: Defaults = field(default_factory=Defaults)
    plugin: Mapping[str, PluginTable] = field(default_factory=dict)

    @classmethod
    def default(cls) -> HostConfig:
        """The settings without a file: data in the user data directory, all else default."""
        from platformdirs import user_data_dir

        return cls(data_dir=Path(user_data_dir("pluginctl", appauthor=False)))

    @classmethod
    def find(cls, start: Path) -> Path | None:
        """``pluginctl.toml`` in the directory ``start`` (or the one holding it), or None.

        Example:
            >>> import tempfile
            >>> HostConfig.find(Path(tempfile.mkdtemp())) is None
            True
        """
        directory = start if start.is_dir() else start.parent
        candidate = directory / CONFIG_FILENAME
        return candidate if candidate.is_file() else None

    @classmethod
    def from_path(cls, path: Path) -> HostConfig:
        """Read and check ``path`` (a ``pluginctl.toml``, or the directory holding one).

        Raises:
            ConfigError: listing every problem, each with its key path and a fix.
        """
        if path.is_dir():
            path = path / CONFIG_FILENAME
        hint = "pass the path of an existing pluginctl.toml, or none for the defaults"
        text = read_toml_text(path, error=ConfigError, missing_hint=hint)
        return cls.from_text(text, base_dir=path.parent, source=str(path), path=path)

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        base_dir: Path,
        source: str = CONFIG_FILENAME,
        path: Path | None = None,
    ) -> HostConfig:
        """Parse and check config ``text``; relative paths in it are relative to ``base_dir``.

        Raises:
            ConfigError: listing every problem, each with its key path and a fix.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            hint = "fix the TOML syntax at the line and column shown"
            raise ConfigError([Problem(source, "", f"not valid TOML: {exc}", hint=hint)]) from None
        problems = find_unknown_keys(data, _File, source=source)
        try:
            raw = msgspec.convert(data, _File)
        except msgspec.ValidationError:
            problems.append(conversion_problem(data, _File, source=source))
            raise ConfigError(problems) from None
        base_dir = base_dir.expanduser().resolve()
        problems.extend(_check(raw, base_dir, source))
        if problems:
            raise ConfigError(problems)
        return cls._build(raw, base_dir, path)

    @classmethod
    def _build(cls, raw: _File, base_dir: Path, path: Path | None) -> HostConfig:
        data_dir = (
            _resolve(raw.data_dir, base_dir) if raw.data_dir is not None else cls.default().data_dir
        )
        return cls(
            data_dir=data_dir,
            path=path.resolve() if path is not None else None,
            database_url=raw.database_url,
            installed=raw.installed,
            plugins=tuple(dict.fromkeys(_resolve(p, base_dir) for p in raw.plugins)),
            disabled=frozenset(raw.disabled),
            server=raw.server,
            defaults=raw.defaults,
            plugin=dict(raw.plugin),
        )

    def is_enabled(self, name: str) -> bool:
        """Whether the plugin ``name`` may start (it is not in ``disabled``)."""
        return name not in self.disabled

    def config_for(self, name: str) -> dict[str, object]:
        """The settings given to the plugin ``name`` (``[plugin.<name>.config]``), maybe empty."""
        table = self.plugin.get(name)
        return dict(table.config) if table is not None else {}

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json`` output; plugin settings are left out (they may be secret)."""
        return {
            "path": str(self.path) if self.path else None,
            "data_dir": str(self.data_dir),
            "database": _redacted_url(self.database_url),
            "installed": self.installed,
            "plugins": [str(p) for p in self.plugins],
            "disabled": sorted(self.disabled),
            "server": {
                "host": self.server.host,
                "port": self.server.port,
                "exposed": self.server.exposed,
            },
            "defaults": {
                "call_timeout_s": self.defaults.call_timeout_s,
                "max_frame_mb": self.defaults.max_frame_mb,
                "start_timeout_s": self.defaults.start_timeout_s,
                "deadline_grace_s": self.defaults.deadline_grace_s,
                "restart": msgspec.to_builtins(self.defaults.restart),
                "breaker": msgspec.to_builtins(self.defaults.breaker),
                "health": msgspec.to_builtins(self.defaults.health),
                "output": msgspec.to_builtins(self.defaults.output),
                "start_method": self.defaults.start_method,
                "traffic_every_s": self.defaults.traffic_every_s,
                "rate": msgspec.to_builtins(self.defaults.rate),
            },
            "configured": sorted(name for name, t in self.plugin.items() if t.config),
        }


def _redacted_url(url: str | None) -> str | None:
    """The URL without its password, for output; "sqlite" when there is none."""
    if url is None:
        return "sqlite"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def _resolve(value: str, base_dir: Path) -> Path:
    return (base_dir / Path(value).expanduser()).resolve()


def _check(raw: _File, base_dir: Path, source: str) -> Iterator[Problem]:
    if raw.data_dir is not None and not raw.data_dir.strip():
        yield Problem(source, "data_dir", "is empty", hint="give a directory, or remove the key")
    if raw.database_url is not None and not raw.database_url.startswith(
        ("postgresql", "postgres:")
    ):
        yield Problem(
            source,
            "database_url",
            "is not a PostgreSQL URL",
            hint="write postgresql://user:password@host:5432/database, or remove the key for"
            " SQLite files",
        )
    for index, value in enumerate(raw.plugins):
        path = _resolve(value, base_dir) if value.strip() else None
        if path is None or not path.is_dir():
            yield Problem(
                source,
                f"plugins[{index}]",
                f"{value!r} is not a directory" + (f" ({path})" if path else ""),
                hint=f"give a plugin project's directory, relative to {base_dir}",
            )
    yield from _check_names(raw, source)
    if not raw.server.host.strip():
        yield Problem(source, "server.host", "is empty", hint='e.g. host = "127.0.0.1"')
    if not 0 <= raw.server.port <= _MAX_PORT:
        yield Problem(
            source,
            "server.port",
            f"{raw.server.port} is not a TCP port",
            hint=f"use a port from 1 to {_MAX_PORT}, or 0 to pick a free one",
        )
    yield from rate_family_problems(raw.defaults.rate, source=source, table="defaults.rate")


def _check_names(raw: _File, source: str) -> Iterator[Problem]:
    for index, name in enumerate(raw.disabled):
        key = f"disabled[{index}]"
        if problem := name_problem(name, source=source, key=key):
            yield problem
        elif raw.disabled.index(name) != index:
            yield Problem(source, key, f"{name!r} is listed twice", hint="remove it")
    for name in raw.plugin:
        if problem := name_problem(name, source=source, key=f"plugin.{name}"):
            yield problem
