"""The exceptions pluginctl raises: one root, each with a hint that says what to do next.

User mistakes (a bad manifest, a bad name, a denied permission) derive from
`UserError`; faults of the running system derive from `RuntimeFault`.
The CLI prints a `PluginctlError` as ``error: ...`` and ``hint: ...`` without a
traceback; anything else is a bug and gets one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ManifestError",
    "PluginDefinitionError",
    "PluginctlError",
    "Problem",
    "ProjectError",
    "RuntimeFault",
    "ScaffoldError",
    "UserError",
]


class PluginctlError(Exception):
    """The root of every error pluginctl raises on purpose.

    Args:
        message: What went wrong, naming the offending thing and the rule it broke.
        hint: The command or change that fixes it, if there is one.

    Example:
        >>> err = PluginctlError("plugin 'x' is not installed", hint="run: pluginctl install x")
        >>> str(err), err.hint
        ("plugin 'x' is not installed", 'run: pluginctl install x')
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UserError(PluginctlError):
    """Something the user gave us is wrong: a file, a name, an option."""


class RuntimeFault(PluginctlError):
    """Something failed while running: a worker crashed, a call timed out."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a plugin, located precisely enough to fix.

    Attributes:
        file: The file the problem is in (``plugin.toml``, ``pyproject.toml``, a module).
        key: Where in that file: a dotted key path such as ``limits.memory_mb``, or
            ``line 12`` for source files; empty when the whole file is meant.
        message: What is wrong, naming the rule.
        hint: How to fix it.
        severity: ``"error"`` fails validation, ``"warning"`` does not.
    """

    file: str
    key: str
    message: str
    hint: str | None = None
    severity: str = "error"

    @property
    def location(self) -> str:
        """``file: key``, or just the file when there is no key."""
        return f"{self.file}: {self.key}" if self.key else self.file

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class _ProblemsError(UserError):
    """A user error that carries every problem found, not only the first."""

    subject = "input"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        if len(self.problems) == 1:
            message = str(first)
        else:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{self.subject} has {len(self.problems)} problems:\n{listed}"
        super().__init__(message, hint=first.hint if len(self.problems) == 1 else None)


class ManifestError(_ProblemsError):
    """``plugin.toml`` is missing, is not TOML, or breaks the schema."""

    subject = "plugin.toml"


class PluginDefinitionError(_ProblemsError):
    """The plugin's code registers something its manifest does not allow."""

    subject = "the plugin"


class ProjectError(UserError):
    """A plugin project on disk is incomplete: no pyproject.toml, no entry point."""


class ScaffoldError(UserError):
    """``pluginctl create`` was asked for something it cannot create."""
