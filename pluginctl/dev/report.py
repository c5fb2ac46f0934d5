"""How ``pluginctl dev`` tells what happens: a console view, and JSON lines for tools.

`ConsoleReporter` prints one line per reload with its latency (and the error, with
file and line, when the new version was refused) and, on a terminal, keeps a live
table of the plugins under them: state, URL, last reload, requests, errors.

`JsonlReporter` writes one JSON object per line for editors and CI (``--events
jsonl``). Every event has ``event``, ``time`` (Unix seconds) and, for a plugin,
``plugin`` plus its ``requests`` and ``errors`` so far:

- ``ready``: ``url``, ``plugins`` (name → state);
- ``reload.started``: ``changed`` (file names);
- ``reload.finished``: ``latency_ms``, ``generation``;
- ``reload.failed``: ``stage`` (``compile``, ``manifest``, ``start``), ``error``,
  ``latency_ms``; the running version keeps serving;
- ``reload.superseded``: ``stage``, ``error``: a version failed while newer saves
  were already waiting (a file caught half-written); the next reload follows;
- ``static.changed``: ``changed``;
- ``manifest.changed``: ``permissions_added``, ``permissions_removed``,
  ``dependencies``, ``other_keys``;
- ``dependencies.changed``: ``hint``;
- ``stopped``.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

import msgspec

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from pluginctl.dev.manifest_diff import ManifestDiff
    from pluginctl.dev.session import Reporter
    from pluginctl.runtime.host import Host

__all__ = ["ConsoleReporter", "Events", "JsonlReporter", "Reporters"]

_encoder = msgspec.json.Encoder()


class Events:
    """The dev loop's typed events, each turned into one `emit` call.

    Subclasses implement `emit`; the typed methods are the `Reporter` protocol.
    """

    def emit(self, event: str, plugin: str | None, fields: dict[str, object]) -> None:
        """Report one event (see the module docstring for names and fields)."""
        raise NotImplementedError

    def ready(self, url: str) -> None:
        self.emit("ready", None, {"url": url})

    def stopped(self) -> None:
        self.emit("stopped", None, {})

    def reload_started(self, plugin: str, changed: list[str]) -> None:
        self.emit("reload.started", plugin, {"changed": changed})

    def reload_finished(self, plugin: str, latency_ms: float, generation: int) -> None:
        fields: dict[str, object] = {"latency_ms": round(latency_ms, 2), "generation": generation}
        self.emit("reload.finished", plugin, fields)

    def reload_failed(self, plugin: str, stage: str, error: str, latency_ms: float) -> None:
        fields: dict[str, object] = {
            "stage": stage,
            "error": error,
            "latency_ms": round(latency_ms, 2),
        }
        self.emit("reload.failed", plugin, fields)

    def reload_superseded(self, plugin: str, stage: str, error: str) -> None:
        self.emit("reload.superseded", plugin, {"stage": stage, "error": error})

    def static_changed(self, plugin: str, changed: list[str]) -> None:
        self.emit("static.changed", plugin, {"changed": changed})

    def manifest_changed(self, plugin: str, diff: ManifestDiff) -> None:
        fields: dict[str, object] = {
            "permissions_added": list(diff.added_permissions),
            "permissions_removed": list(diff.removed_permissions),
            "dependencies": list(diff.dependencies),
            "other_keys": list(diff.other_keys),
        }
        self.emit("manifest.changed", plugin, fields)

    def dependencies_changed(self, plugin: str, hint: str) -> None:
        self.emit("dependencies.changed", plugin, {"hint": hint})


class JsonlReporter(Events):
    """Dev events as JSON lines on ``stream`` (flushed one by one)."""

    def __init__(self, host: Host, stream: TextIO | None = None) -> None:
        self._host = host
        self._stream = stream or sys.stdout

    def emit(self, event: str, plugin: str | None, fields: dict[str, object]) -> None:
        record: dict[str, object] = {"event": event, "time": round(time.time(), 6)}
        if plugin is not None:
            record["plugin"] = plugin
            runtime = self._host.endpoint(plugin)
            if runtime is not None:
                record["requests"], record["errors"] = runtime.requests, runtime.errors
        if event == "ready":
            record["plugins"] = {r.name: str(r.state) for r in self._host.plugins}
        record.update(fields)
        self._stream.write(_encoder.encode(record).decode() + "\n")
        self._stream.flush()


class ConsoleReporter(Events):
    """Dev events for people: a line per event, a live status table on a terminal."""

    def __init__(self, host: Host, console: Console, *, live: bool) -> None:
        self._host = host
        self._console = console
        self._live_wanted = live and console.is_terminal
        self._live: Live | None = None
        self._url = ""
        self._last_ms: dict[str, float] = {}

    def emit(self, event: str, plugin: str | None, fields: dict[str, object]) -> None:
        render = getattr(self, "_on_" + event.replace(".", "_"), None)
        if render is not None:
            render(_escape(plugin or ""), fields)

    def _on_ready(self, _: str, fields: dict[str, object]) -> None:
        self._url = str(fields["url"])
        self._print(f"serving on [bold]{self._url}[/]; watching for changes (Ctrl-C stops)")
        if self._live_wanted:
            from rich.live import Live

            self._live = Live(
                get_renderable=self._table,
                console=self._console,
                refresh_per_second=2,
                transient=True,
            )
            self._live.start()

    def _on_stopped(self, _: str, __: dict[str, object]) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._print("stopped")

    def _on_reload_finished(self, plugin: str, fields: dict[str, object]) -> None:
        latency_ms = float(str(fields["latency_ms"]))
        self._last_ms[plugin] = latency_ms
        self._print(
            f"[green]reloaded[/] {plugin} in [bold]{latency_ms:.1f} ms[/]"
            f" [dim](generation {fields['generation']})[/]"
        )

    def _on_reload_failed(self, plugin: str, fields: dict[str, object]) -> None:
        what = {"compile": "does not compile", "manifest": "has a bad manifest"}.get(
            str(fields["stage"]), "did not start"
        )
        self._print(
            f"[bold red]{plugin} {what}[/] [dim]({fields['latency_ms']} ms)[/]; "
            f"the last good version keeps serving:\n{_escape(str(fields['error']).rstrip())}"
        )

    def _on_static_changed(self, plugin: str, fields: dict[str, object]) -> None:
        changed = ", ".join(map(str, _items(fields["changed"])))
        self._print(f"[cyan]static[/] {plugin}: {_escape(changed)} (served from disk)")

    def _on_manifest_changed(self, plugin: str, fields: dict[str, object]) -> None:
        parts = [f"[green]+{_escape(str(p))}[/]" for p in _items(fields["permissions_added"])]
        parts += [f"[red]-{_escape(str(p))}[/]" for p in _items(fields["permissions_removed"])]
        lines = [f"[cyan]plugin.toml[/] of {plugin} changed"]
        if parts:
            lines.append(f"  permissions: {' '.join(parts)}")
        if dependencies := _items(fields["dependencies"]):
            lines.append(f"  dependencies: {_escape('; '.join(map(str, dependencies)))}")
        if other := _items(fields["other_keys"]):
            lines.append(f"  also: {_escape(', '.join(map(str, other)))}")
        self._print("\n".join(lines))

    def _on_dependencies_changed(self, plugin: str, fields: dict[str, object]) -> None:
        self._print(f"[yellow]{plugin}:[/] {_escape(str(fields['hint']))}")

    def _print(self, text: str) -> None:
        target = self._live.console if self._live is not None else self._console
        target.print(text, highlight=False)

    def _table(self) -> RenderableType:
        from rich.table import Table

        table = Table(
            "plugin", "state", "url", "last reload", "requests", "errors", box=None, pad_edge=False
        )
        for runtime in self._host.plugins:
            colour = "green" if str(runtime.state) == "active" else "red"
            last = self._last_ms.get(runtime.name)
            table.add_row(
                _escape(runtime.name),
                f"[{colour}]{runtime.state}[/]",
                f"{self._url}/plugins/{_escape(runtime.name)}/",
                f"{last:.1f} ms" if last is not None else "-",
                str(runtime.requests),
                str(runtime.errors),
            )
        return table


class Reporters(Events):
    """Several reporters as one."""

    def __init__(self, *reporters: Events) -> None:
        self._reporters = reporters

    def emit(self, event: str, plugin: str | None, fields: dict[str, object]) -> None:
        for reporter in self._reporters:
            reporter.emit(event, plugin, fields)


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _conforms(reporter: Events) -> Reporter:
    """Checked by mypy: every `Events` is a `Reporter`."""
    return reporter
