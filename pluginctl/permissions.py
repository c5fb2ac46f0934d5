"""Permissions a plugin declares in plugin.toml, parsed and matched.

A permission is a string: a bare capability (``kv``, ``db:read``, ``routes``) or a
scoped one whose last part names what it reaches (``events:publish:orders.*``,
``plugins:call:billing``, ``http:fetch:api.example.com``).

Example:
    >>> perms = PermissionSet.parse(["kv", "events:subscribe:orders.*"])
    >>> perms.allows("events:subscribe", "orders.created")
    True
    >>> perms.allows("events:subscribe", "users.created")
    False
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "BARE_PERMISSIONS",
    "HOST_TOPIC_PREFIX",
    "SCOPED_PERMISSIONS",
    "Permission",
    "PermissionSet",
    "PermissionSyntaxError",
    "is_host_topic",
    "is_topic_pattern",
    "topic_matches",
]

#: Capabilities granted as a whole.
BARE_PERMISSIONS: tuple[str, ...] = ("kv", "db:read", "db:write", "routes", "admin", "static")

#: Capabilities granted for one target, with what the target must look like.
SCOPED_PERMISSIONS: dict[str, str] = {
    "events:publish": "a topic such as orders.created or orders.*",
    "events:subscribe": "a topic such as orders.created or orders.*",
    "plugins:call": "a plugin name such as billing",
    "http:fetch": "a host name such as api.example.com or *.example.com",
}

#: Topics the host publishes its lifecycle events under (``host.plugin.failed``):
#: plugins may subscribe to them, never publish them.
HOST_TOPIC_PREFIX = "host."

_SEGMENT = r"[a-z0-9_][a-z0-9_-]*"
_TOPIC_PATTERN = re.compile(rf"^({_SEGMENT}|\*)(\.({_SEGMENT}|\*))*(\.\*\*)?$|^\*\*$")
_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_PATTERN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?$")


class PermissionSyntaxError(ValueError):
    """A permission string is not one pluginctl knows; ``hint`` says the nearest valid form."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Permission:
    """One parsed permission: a capability and, for scoped ones, its target pattern."""

    capability: str
    target: str | None = None

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Parse ``text``, raising `PermissionSyntaxError` with a hint when unknown."""
        if text in BARE_PERMISSIONS:
            return cls(text)
        for capability, shape in SCOPED_PERMISSIONS.items():
            prefix = capability + ":"
            if text.startswith(prefix):
                target = text[len(prefix) :]
                if not _target_is_valid(capability, target):
                    raise PermissionSyntaxError(
                        f"{text!r} does not name a valid target for {capability}",
                        hint=f"the part after '{prefix}' must be {shape}",
                    )
                return cls(capability, target)
            if text == capability:
                raise PermissionSyntaxError(
                    f"{text!r} needs a target",
                    hint=f"write '{prefix}<target>', where the target is {shape}",
                )
        raise PermissionSyntaxError(f"{text!r} is not a known permission", hint=_suggest(text))

    def __str__(self) -> str:
        return self.capability if self.target is None else f"{self.capability}:{self.target}"

    def allows(self, capability: str, target: str | None = None) -> bool:
        """Whether this permission grants ``capability`` on ``target``.

        ``db:write`` includes ``db:read``: a plugin that may write may read what it wrote.
        """
        if capability == "db:read" and self.capability == "db:write":
            return target is None
        if capability != self.capability:
            return False
        if self.target is None or target is None:
            return self.target is None and target is None
        if capability == "http:fetch":
            return _host_matches(self.target, target)
        if capability == "plugins:call":
            return self.target == target
        return topic_matches(self.target, target)


@dataclass(frozen=True, slots=True)
class PermissionSet:
    """The permissions one plugin holds."""

    permissions: tuple[Permission, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PermissionSet:
        """Parse every string; the first invalid one raises `PermissionSyntaxError`."""
        return cls(tuple(Permission.parse(text) for text in texts))

    def allows(self, capability: str, target: str | None = None) -> bool:
        """Whether any held permission grants ``capability`` (on ``target``)."""
        return any(p.allows(capability, target) for p in self.permissions)


def topic_matches(pattern: str, topic: str) -> bool:
    """Match a topic against a pattern: ``*`` is one segment, a final ``**`` is any rest.

    Example:
        >>> topic_matches("orders.*", "orders.created"), topic_matches("orders.**", "orders.a.b")
        (True, True)
        >>> topic_matches("orders.*", "orders.a.b")
        False
    """
    want = pattern.split(".")
    have = topic.split(".")
    if want and want[-1] == "**":
        head = want[:-1]
        return len(have) >= len(head) and _segments_match(head, have[: len(head)])
    return len(want) == len(have) and _segments_match(want, have)


def _segments_match(want: list[str], have: list[str]) -> bool:
    return all(w in ("*", h) for w, h in zip(want, have, strict=True))


def _host_matches(pattern: str, host: str) -> bool:
    host = host.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


def _target_is_valid(capability: str, target: str) -> bool:
    if capability.startswith("events:"):
        return bool(_TOPIC_PATTERN.match(target))
    if capability == "plugins:call":
        return bool(_PLUGIN_NAME.match(target))
    return bool(_HOST_PATTERN.match(target))


def is_topic_pattern(text: str) -> bool:
    """Whether ``text`` is a topic or a topic pattern (``orders.*``, ``orders.**``)."""
    return bool(_TOPIC_PATTERN.match(text))


def _suggest(text: str) -> str:
    forms = [*BARE_PERMISSIONS, *(f"{c}:<target>" for c in SCOPED_PERMISSIONS)]
    head = text.rsplit(":", 1)[0] if text.count(":") >= 2 else text
    close = difflib.get_close_matches(head, [*BARE_PERMISSIONS, *SCOPED_PERMISSIONS], n=1)
    if close:
        shown = f"{close[0]}:<target>" if close[0] in SCOPED_PERMISSIONS else close[0]
        return f"did you mean '{shown}'?"
    return "known permissions: " + ", ".join(forms)


def is_host_topic(topic: str) -> bool:
    """Whether ``topic`` (or a pattern) is under the host's own ``host.`` topics.

    ``host`` itself is one of them: a subscription to ``host.**`` matches it.

    Example:
        >>> is_host_topic("host.plugin.failed"), is_host_topic("host"), is_host_topic("hosting.x")
        (True, True, False)
        >>> is_host_topic("**")
        False
    """
    return topic == HOST_TOPIC_PREFIX.rstrip(".") or topic.startswith(HOST_TOPIC_PREFIX)
