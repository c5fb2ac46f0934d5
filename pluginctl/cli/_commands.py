"""Every ``pluginctl`` command: its name, where it is defined, and its help line.

``pluginctl --help`` and shell completion list the commands from this table
alone, so they import no command module and build no command. A command is built
from its module only when it runs (or its own ``--help`` or completion needs it);
`Entry.register` adds it to a typer app as an eager app would.

A new command needs its line here, in the order ``pluginctl --help`` lists it;
``tests/cli/test_commands.py`` fails when a summary differs from the command's
docstring or a command module has no line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["COMMANDS", "Entry"]

#: ``pluginctl test``: arguments it does not know go to pytest.
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


class Entry(NamedTuple):  # not a dataclass: pluginctl --help imports no dataclasses
    """One command of ``pluginctl``.

    Attributes:
        name: What a user types: ``pluginctl NAME``.
        target: ``MODULE:ATTRIBUTE`` under `pluginctl.cli`: the command's function,
            or the `typer.Typer` of a group of commands.
        summary: The first paragraph of the command's help (its docstring, or the
            group's ``help=``), which ``pluginctl --help`` shortens to one line.
        pass_through: Whether arguments it does not know are left to the command.
    """

    name: str
    target: str
    summary: str
    pass_through: bool = False

    def load(self) -> Callable[..., object] | typer.Typer:
        """Import the command's module and return its function or typer app."""
        module, _, attribute = self.target.partition(":")
        found: Callable[..., object] | typer.Typer = getattr(
            import_module(f"pluginctl.cli.{module}"), attribute
        )
        return found

    def register(self, app: typer.Typer) -> None:
        """Add the command to ``app`` (importing its module)."""
        found = self.load()
        if isinstance(found, typer.Typer):
            app.add_typer(found, name=self.name)
        else:
            settings = _PASS_THROUGH if self.pass_through else None
            app.command(self.name, context_settings=settings)(found)


COMMANDS = (
    Entry(
        "create",
        "create:create",
        "Create a new plugin project: code, manifest, tests, CI workflow and README.",
    ),
    Entry(
        "validate",
        "validate:validate",
        "Check the manifest, the entry point, the registrations and the code of a plugin.",
    ),
    Entry(
        "build",
        "build:build",
        "Validate a plugin, build its sdist and wheel, and check the wheel holds every"
        " plugin file.",
    ),
    Entry(
        "dev",
        "dev:dev",
        "Run plugins from source; each save hot-swaps that plugin in milliseconds.",
    ),
    Entry(
        "run",
        "run:run",
        "Run plugins, each in its own worker, behind one HTTP gateway, until Ctrl-C.",
    ),
    Entry(
        "list",
        "list_plugins:list_plugins",
        "List the plugins found: version, state before start, permissions.",
    ),
    Entry(
        "info",
        "list_plugins:info",
        "Show one plugin: where it is, what it may do, what it needs, why it would not start.",
    ),
    Entry(
        "status",
        "status:status",
        "Show each plugin of a running host: state, health, calls, latency, restarts, memory.",
    ),
    Entry(
        "enable",
        "control:enable",
        "Start a stopped plugin again in the running host, or close an active one's breakers.",
    ),
    Entry(
        "disable",
        "control:disable",
        "Stop a plugin in the running host and keep it stopped until `pluginctl enable`.",
    ),
    Entry(
        "doctor",
        "doctor:doctor",
        "Check the sandbox layers this machine supports and what each plugin would get.",
    ),
    Entry(
        "sign",
        "sign:sign",
        "Sign wheels; the wheels stay byte-identical. Signing again adds a signature.",
    ),
    Entry(
        "verify",
        "verify:verify",
        "Verify signatures, trust, hashes, RECORD, zip hygiene and the plugin inside.",
    ),
    Entry(
        "install",
        "install:install",
        "Pick the newest release this host runs, verify it, ask consent, install it.",
    ),
    Entry(
        "update",
        "update:update",
        "Update installed plugins to the newest release this host runs, showing new permissions.",
    ),
    Entry(
        "outdated",
        "update:outdated",
        "List installed plugins with a newer release for this host in the registry.",
    ),
    Entry(
        "uninstall",
        "uninstall:uninstall",
        "Uninstall plugins from this environment (their data directories are kept).",
    ),
    Entry(
        "publish",
        "publish:publish",
        "Publish plugins: into the local registry, or to an index (--to, --repository-url).",
    ),
    Entry(
        "search",
        "search:search",
        "Search a registry's plugins by words, category and tag, or --show one of them.",
    ),
    Entry(
        "test",
        "run_tests:run_tests",
        "Run the plugin's tests with pytest, with real-host fixtures; other arguments go to"
        " pytest.",
        pass_through=True,
    ),
    Entry(
        "migrate",
        "migrate:app",
        "Create, apply, undo and inspect a plugin's database migrations.",
    ),
    Entry(
        "keys",
        "keys:app",
        "Make, share, trust, revoke and rotate the Ed25519 keys that sign plugins.",
    ),
    Entry(
        "registry",
        "registry:app",
        "Serve a registry over HTTP for pip, uv and twine; its tokens, checks and yanks.",
    ),
)
