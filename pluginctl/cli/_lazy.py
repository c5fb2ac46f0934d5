"""The root ``pluginctl`` group, whose commands are built only when used.

typer turns every command into a click command each time the program starts,
reading each function's signature and annotations, after importing every command
module: with forty commands that was most of ``pluginctl --help``. `LazyRoot`
lists its commands from the table in `pluginctl.cli._commands` (name and help),
and builds a command, importing its module, only when it is looked up to run, to
show its own help, or to complete its arguments. It is built exactly as an eager
typer app would build it, so it parses, helps and fails the same way.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import typer
from typer._click.shell_completion import CompletionItem  # typer vendors click (0.26+)
from typer.core import TyperCommand, TyperGroup

from pluginctl.cli._commands import COMMANDS, Entry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from typer._click import Command, Context, HelpFormatter

__all__ = ["LazyRoot"]


class LazyRoot(TyperGroup):
    """The typer group of `COMMANDS`: listed from the table, each built when looked up."""

    def __init__(self, **attrs: Any) -> None:  # typer's group options
        super().__init__(**attrs)
        self.lazy_commands = LazyCommands(COMMANDS, self._build, added=self.commands)
        self.commands = self.lazy_commands

    def _build(self, entry: Entry) -> Command:
        # the same settings the root app gives typer when it builds its commands
        app = typer.Typer(
            rich_markup_mode=self.rich_markup_mode, suggest_commands=self.suggest_commands
        )
        entry.register(app)
        return typer.main.get_group(app).commands[entry.name]

    def list_commands(self, ctx: Context) -> list[str]:
        """Every command's name, in the table's order, without building any."""
        return list(self.commands)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The help's list of commands, as typer writes it, from the table's summaries."""
        TyperGroup(commands=self.lazy_commands.listing()).format_commands(ctx, formatter)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        """The commands starting with ``incomplete``, then the options, as typer's group."""
        results = [
            CompletionItem(name, help=command.get_short_help_str())
            for name, command in self.lazy_commands.listing().items()
            if name.startswith(incomplete) and not command.hidden
        ]
        results.extend(super(TyperGroup, self).shell_complete(ctx, incomplete))
        return results


class LazyCommands(MutableMapping[str, "Command"]):
    """Commands by name, the table's first; each built by ``build`` when first looked up.

    Looking a name up (``commands[name]``, ``.get``) builds that command; listing the
    names (iterating, ``in``, ``len``) and `listing` build none.
    """

    def __init__(
        self,
        entries: Iterable[Entry],
        build: Callable[[Entry], Command],
        *,
        added: Mapping[str, Command] = {},  # only read
    ) -> None:
        self._entries = {entry.name: entry for entry in entries}
        self._build = build
        self._built: dict[str, Command] = dict(added)

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built[name] = self._build(self._entries[name])
        return self._built[name]

    def get(self, name: str, default: Command | None = None) -> Command | None:  # type: ignore[override]  # Mapping's overloads, one signature
        """The command ``name`` (built now if need be), or ``default`` if there is none."""
        if name not in self:
            return default
        return self[name]  # a KeyError from building it is a bug, not "no such command"

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._built

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._entries), **dict.fromkeys(self._built)})

    def __len__(self) -> int:
        return len(self._entries.keys() | self._built.keys())

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._entries.pop(name, None)
        self._built.pop(name, None)

    def listing(self) -> dict[str, Command]:
        """Each command for a list of commands: the built one, else a stand-in with its help."""
        return {name: self._built.get(name) or _stand_in(self._entries[name]) for name in self}


def _stand_in(entry: Entry) -> Command:
    """A command that only says its name and help, for lists of commands."""
    return TyperCommand(entry.name, help=entry.summary)
