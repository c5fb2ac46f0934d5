"""Sub-command groups (``keys``, ``registry``, ``migrate``) built only when used.

typer turns every command of every group into a click command each time the
program starts, reading each function's signature and annotations: with forty
commands that took most of ``pluginctl --help``. A `LazyGroup` lists its group in
the top-level help from its name and help text, and builds its commands from the
group's typer app on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LazyGroup", "lazy_group"]


class LazyGroup(TyperGroup):
    """A typer group whose commands come from ``real()``, built when first asked for."""

    real: ClassVar[Callable[[], typer.Typer]]
    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            group = typer.main.get_group(type(self).real())
            self.commands.update(group.commands)

    def list_commands(self, ctx: Any) -> list[str]:  # click's context
        self._load()
        return list(super().list_commands(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # click's types
        self._load()
        return super().get_command(ctx, cmd_name)


def lazy_group(real: typer.Typer) -> typer.Typer:
    """A stand-in for the sub-app ``real`` that builds its commands on first use."""
    info = real.info
    cls = type(
        f"Lazy{str(info.name).title()}Group", (LazyGroup,), {"real": staticmethod(lambda: real)}
    )
    return typer.Typer(
        name=info.name,
        help=info.help,
        cls=cls,
        no_args_is_help=True,
        rich_markup_mode=None,
    )
