"""The dev loop: watch each plugin's files and hot-swap the plugin when they change.

One `Follower` per plugin turns file events into reloads:

1. `PluginFiles` keeps the real changes (content hashes: a touch does nothing).
2. Static files are served from disk: a change to them only says so.
3. Changed modules are compiled in memory first; a syntax error is reported with
   file and line and the running version keeps serving.
4. A changed ``plugin.toml`` or ``pyproject.toml`` is re-read and checked; what
   changed (permissions added or removed, dependencies) is reported; an invalid
   one keeps the running version.
5. `Host.reload_plugin` swaps the worker: the running version serves until the new
   one is active and healthy, so no request fails.

Saves that arrive during a reload are merged into one pending reload, so a burst of
saves or a ``git checkout`` costs at most one more reload. Everything that happens
is reported to a `Reporter` (the console, a JSON-lines stream).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pluginctl.dev.changes import ChangeSet, PluginFiles, compile_problems
from pluginctl.dev.manifest_diff import ManifestDiff, manifest_diff, python_dependencies
from pluginctl.errors import PluginctlError
from pluginctl.runtime.discovery import load_source

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.host import Host

__all__ = ["WATCH_STEP_MS", "DevSession", "Follower", "Reporter"]

logger = logging.getLogger(__name__)

#: How long the watcher waits for more events once it has one, in ms: short, because
#: a reload is cheap and later saves are merged into the pending reload anyway.
WATCH_STEP_MS = 1
_POLL_DELAY_MS = 50


class Reporter(Protocol):
    """Where the dev loop says what happens; the console and ``--events jsonl`` implement it."""

    def reload_started(self, plugin: str, changed: list[str]) -> None:
        """A reload of ``plugin`` began, for the ``changed`` files."""

    def reload_finished(self, plugin: str, latency_ms: float, generation: int) -> None:
        """The new version serves, ``latency_ms`` after its change was seen."""

    def reload_failed(self, plugin: str, stage: str, error: str, latency_ms: float) -> None:
        """The new version was refused at ``stage``; the running one keeps serving."""

    def reload_superseded(self, plugin: str, stage: str, error: str) -> None:
        """A version failed, but newer saves are already waiting: probably a half save."""

    def static_changed(self, plugin: str, changed: list[str]) -> None:
        """Static files changed; they are served from disk, so nothing reloads."""

    def manifest_changed(self, plugin: str, diff: ManifestDiff) -> None:
        """``plugin.toml`` changed in these ways (before the reload)."""

    def dependencies_changed(self, plugin: str, hint: str) -> None:
        """The plugin's Python dependencies changed: the environment needs an install."""


@dataclass
class Follower:
    """Follows one plugin's files and reloads it: one reload in flight, one pending."""

    host: Host
    source: PluginSource
    reporter: Reporter
    files: PluginFiles = field(init=False)
    _pending: ChangeSet | None = field(default=None, init=False)
    _seen_at: float = field(default=0.0, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _python_dependencies: tuple[str, ...] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        manifest = self.source.manifest
        self.files = PluginFiles(
            self.root,
            self.source.package_dir,
            static=manifest.static,
            migrations=manifest.migrations,
        )
        self._python_dependencies = python_dependencies(self.root / "pyproject.toml")

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def root(self) -> Path:
        return Path(self.source.location)

    def submit(self, paths: Sequence[Path], seen_at: float) -> None:
        """File events for this plugin, seen at ``seen_at`` (``time.perf_counter()``)."""
        changes = self.files.changed(paths)
        if not changes:
            return
        if not changes.needs_reload:
            self.reporter.static_changed(self.name, changes.describe())
            return
        if self._pending is None:
            self._pending, self._seen_at = changes, seen_at
        else:
            self._pending = self._pending.merge(changes)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def idle(self) -> None:
        """Wait until no reload is running or pending."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._pending is not None:
            changes, seen_at = self._pending, self._seen_at
            self._pending = None
            try:
                await self._apply(changes, seen_at)
            except Exception:  # a bug here must not end the dev loop: say it, go on
                logger.exception("reloading %s failed unexpectedly", self.name)

    async def _apply(self, changes: ChangeSet, seen_at: float) -> None:
        self.reporter.reload_started(self.name, changes.describe())
        problems = compile_problems(path for path in changes.python if path.exists())
        if problems:
            self._failed("compile", "\n".join(str(problem) for problem in problems), seen_at)
            return
        source = self.source
        if changes.manifest or changes.pyproject or changes.deleted:
            try:
                source = load_source(self.root)
            except PluginctlError as exc:
                text = f"{exc}" + (f"\nhint: {exc.hint}" if exc.hint else "")
                self._failed("manifest", text, seen_at)
                return
            if source.name != self.name:
                error = f"the project now names plugin {source.name!r}, not {self.name!r}"
                self._failed("manifest", error, seen_at)
                return
            diff = manifest_diff(self.source.manifest, source.manifest)
            if diff:
                self.reporter.manifest_changed(self.name, diff)
        if changes.pyproject:
            self._check_python_dependencies()
        result = await self.host.reload_plugin(self.name, source)
        if not result.ok:
            self._failed("start", result.error or "", seen_at)
            return
        self.source = source
        self.reporter.reload_finished(self.name, _since(seen_at), result.generation)

    def _failed(self, stage: str, error: str, seen_at: float) -> None:
        if self._pending is not None or self.files.moved_on():
            # newer saves wait (or are being written): this one was likely caught mid-write
            self.reporter.reload_superseded(self.name, stage, error)
        else:
            self.reporter.reload_failed(self.name, stage, error, _since(seen_at))

    def _check_python_dependencies(self) -> None:
        now = python_dependencies(self.root / "pyproject.toml")
        if now is None or now == self._python_dependencies:
            return
        self._python_dependencies = now
        self.reporter.dependencies_changed(
            self.name,
            f"the dependencies in pyproject.toml changed: reinstall the plugin into this"
            f" environment (pip install -e {self.root}), then restart pluginctl dev",
        )


class DevSession:
    """Watches every plugin of a running host and hands changes to its `Follower`."""

    def __init__(self, host: Host, sources: Sequence[PluginSource], reporter: Reporter) -> None:
        self.host = host
        self.followers = [Follower(host, source, reporter) for source in sources]

    async def watch(self, stop: asyncio.Event, *, poll: bool = False) -> None:
        """Follow the plugins' files until ``stop`` is set.

        Args:
            stop: Ends the watch.
            poll: Poll the file system instead of using its events (network and
                container file systems often have none).
        """
        from watchfiles import awatch

        roots = sorted({follower.root for follower in self.followers})
        async for events in awatch(
            *roots,
            watch_filter=self._wanted,
            step=WATCH_STEP_MS,
            stop_event=stop,
            force_polling=poll,
            poll_delay_ms=_POLL_DELAY_MS,
            ignore_permission_denied=True,
        ):
            self.dispatch([Path(path) for _, path in events], time.perf_counter())

    def dispatch(self, paths: Sequence[Path], seen_at: float) -> None:
        """Hand each plugin the event paths that belong to it."""
        for follower in self.followers:
            mine = [path for path in paths if follower.files.watches(path)]
            if mine:
                follower.submit(mine, seen_at)

    async def idle(self) -> None:
        """Wait until no plugin has a reload running or pending."""
        for follower in self.followers:
            await follower.idle()

    def _wanted(self, _change: object, path: str) -> bool:
        return any(follower.files.watches(Path(path)) for follower in self.followers)


def _since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
