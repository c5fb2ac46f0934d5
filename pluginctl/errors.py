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
    "BuildError",
    "CallTimeout",
    "ConfigError",
    "DatabaseError",
    "ManifestError",
    "MigrationError",
    "PermissionDenied",
    "PluginDefinitionError",
    "PluginctlError",
    "Problem",
    "ProjectError",
    "ProtocolViolation",
    "PublishError",
    "RateLimited",
    "RegistryError",
    "RemoteError",
    "ResolutionError",
    "RuntimeFault",
    "ScaffoldError",
    "SignatureError",
    "SigningKeyError",
    "StatementRefused",
    "TrustStoreError",
    "UserError",
    "WorkerCrashed",
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
        self._message = message
        self._hint = hint

    @property
    def message(self) -> str:
        """What went wrong."""
        return self._message

    @property
    def hint(self) -> str | None:
        """How to fix it, if there is a way."""
        return self._hint

    def __str__(self) -> str:
        try:
            return self.message
        except (AttributeError, TypeError, ValueError):  # rebuilt from a peer's bad frame
            return super().__str__()


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


class ConfigError(_ProblemsError):
    """A host config (``pluginctl.toml``) or a plugin's settings break their schema."""

    subject = "the configuration"


class BuildError(UserError):
    """``pluginctl build`` could not build the plugin, or the wheel it built lacks a file."""


class SignatureError(UserError):
    """A wheel or an installed plugin failed verification: fail closed, naming the cause.

    Attributes:
        check: The check that failed, e.g. ``archive``, ``signature``, ``files``;
            ``pluginctl verify`` exits with a distinct code for each.
        files: For the ``files`` and ``record`` checks, each path that differs and how:
            ``(path, "modified" | "added" | "removed")``.
    """

    def __init__(
        self,
        message: str,
        *,
        check: str,
        hint: str | None = None,
        files: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.check = check
        self.files = tuple(files)


class RegistryError(UserError):
    """A registry refused a file, a name or a request: it says which rule, and the fix."""


class SigningKeyError(UserError):
    """A signing key is missing, unreadable, wrongly protected or locked by a passphrase."""


class TrustStoreError(_ProblemsError):
    """A trust store (``pluginctl.trust.toml`` or the user's ``trust.toml``) breaks its schema."""

    subject = "the trust store"


class PublishError(UserError):
    """``pluginctl publish`` refused a file before uploading it, or the index refused it."""


class ResolutionError(UserError):
    """The plugins to run cannot be started together: missing, out of range, or a cycle."""


class PermissionDenied(UserError):
    """A plugin called the host API without the permission for it.

    Attributes:
        plugin: The plugin that asked.
        permission: The permission it would need, e.g. ``events:publish:orders.created``.
    """

    def __init__(self, plugin: str, permission: str) -> None:
        # no super().__init__: the message is made when read, a refusal costs no formatting
        self.plugin = plugin
        self.permission = permission

    @property
    def message(self) -> str:
        return f"plugin {self.plugin!r} lacks the permission {self.permission!r}"

    @property
    def hint(self) -> str | None:
        return f'add "{self.permission}" to permissions in its plugin.toml'


class StatementRefused(UserError):
    """``api.db`` will not run a statement: two at once, transaction control, ``ATTACH``..."""


class DatabaseError(UserError):
    """The database refused or failed a plugin's statement.

    Attributes:
        kind: What kind of failure, as PEP 249 names them: ``integrity`` (a constraint
            such as a unique key), ``programming`` (bad SQL, a missing table or
            parameter), ``data`` (a value out of range), ``operational`` (the database
            is locked, gone or full), ``transaction`` (the transaction ended or expired).
    """

    def __init__(self, message: str, *, kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind


class MigrationError(UserError):
    """A plugin's migrations cannot run: two heads, a failed script, a database ahead of them."""


class RateLimited(RuntimeFault):
    """A plugin went over a rate limit; ``retry_after_s`` says when a token is free again."""

    def __init__(self, plugin: str, capability: str, *, retry_after_s: float) -> None:
        # no super().__init__: the message is made when read, a refusal costs no formatting
        self.plugin = plugin
        self.capability = capability
        self.retry_after_s = retry_after_s

    @property
    def message(self) -> str:
        return f"plugin {self.plugin!r} is over its {self.capability!r} rate limit"

    @property
    def hint(self) -> str | None:
        return f"retry after {self.retry_after_s:.3f} s, or raise limits.rate.{self.capability}"


class CircuitOpen(RuntimeFault):
    """Calls to a plugin (or to one of its methods) are refused while it keeps failing.

    Attributes:
        plugin: The plugin.
        method: The method whose breaker is open (``export:get``, ``route:GET /items``), or None
            when the plugin's own breaker is.
        retry_after_s: When a probe call may go through.
    """

    def __init__(self, plugin: str, method: str | None, *, retry_after_s: float) -> None:
        # no super().__init__: the message is made when read, a refusal costs no formatting
        self.plugin = plugin
        self.method = method
        self.retry_after_s = retry_after_s

    @property
    def message(self) -> str:
        what = repr(self.plugin) if self.method is None else f"{self.plugin!r} {self.method}"
        return f"calls to {what} are refused for now: it kept failing (circuit breaker open)"

    @property
    def hint(self) -> str | None:
        return f"retry after {self.retry_after_s:.3f} s; the host lets one call through then"


class CallTimeout(RuntimeFault):
    """A call across the process boundary did not finish before its deadline."""


class WorkerCrashed(RuntimeFault):
    """A plugin's worker process ended; ``reason`` says why (exit code, signal, ...)."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"the worker of plugin {plugin!r} ended: {reason}")
        self.plugin = plugin
        self.reason = reason


class ProtocolViolation(RuntimeFault):
    """A peer sent a frame that breaks the RPC protocol (garbage, oversized, unknown kind)."""


class RemoteError(RuntimeFault):
    """An exception raised on the other side of an RPC call, carried back by name.

    Attributes:
        type_name: The exception's class name on the other side (``KeyError``).
        details: Its traceback there, for logs; never sent to HTTP clients.
    """

    def __init__(self, type_name: str, message: str, *, details: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.details = details
