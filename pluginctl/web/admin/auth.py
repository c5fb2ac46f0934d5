"""Who may use the admin UI: its token, the sessions it opens, and their CSRF tokens.

- The **token** comes from ``PLUGINCTL_ADMIN_TOKEN``, or from ``<data_dir>/admin-token``
  (mode 0600), which the host writes with a fresh random token at its first start
  and prints once. Logging in with it opens a session.
- A **session** is a random id in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped
  to ``/admin``; the host keeps sessions in memory (a restart logs everyone out)
  and ends them after `SESSION_S`.
- Every **POST** carries the session's CSRF token in a form field, compared in
  constant time, and a browser's ``Origin`` header must be the admin's own.
- A panel's frame is fetched with a **frame key** in its path instead of the
  cookie: the key opens that one panel, read-only, for as long as its session lasts.
- Failed logins are counted per client: past `MAX_FAILURES` in `FAILURE_WINDOW_S`
  the login answers 429.

Example:
    >>> sessions = Sessions()
    >>> session = sessions.open()
    >>> sessions.get(session.id) is session, sessions.csrf_ok(session, session.csrf)
    (True, True)
    >>> key = sessions.frame_key(session, "notes", "main")
    >>> sessions.frame(key) == ("notes", "main")
    True
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "COOKIE",
    "FAILURE_WINDOW_S",
    "MAX_FAILURES",
    "SESSION_S",
    "TOKEN_ENV",
    "AdminToken",
    "LoginThrottle",
    "Session",
    "Sessions",
    "load_admin_token",
]

#: The environment variable that sets the admin token (over the token file).
TOKEN_ENV = "PLUGINCTL_ADMIN_TOKEN"  # noqa: S105  # a variable's name
#: The session cookie's name.
COOKIE = "pluginctl_admin"
#: How long a session lasts, in seconds.
SESSION_S = 12 * 3600.0
#: Failed logins a client may make in `FAILURE_WINDOW_S` before it must wait.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0
_MIN_TOKEN_CHARS = 16
_MAX_SESSIONS = 1000
_TOKEN_FILE = "admin-token"  # noqa: S105  # a file's name
_MAX_TOKEN_FILE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class AdminToken:
    """The admin token and where it came from.

    Attributes:
        value: The token itself.
        source: ``PLUGINCTL_ADMIN_TOKEN`` or the path of the token file.
        created: Whether this start wrote it (so it is printed, once).
    """

    value: str = field(repr=False)
    source: str
    created: bool = False

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the token (constant time)."""
        return hmac.compare_digest(given.encode(), self.value.encode())


def load_admin_token(data_dir: Path, environ: dict[str, str] | None = None) -> AdminToken:
    """The admin token: from the environment, from the data directory, or a new one.

    Raises:
        UserError: the configured token is too short, or the token file is readable
            by others, belongs to another user or is not a file.
    """
    env = os.environ if environ is None else environ
    configured = env.get(TOKEN_ENV)
    if configured is not None:
        configured = configured.strip()
        if len(configured) < _MIN_TOKEN_CHARS:
            raise UserError(
                f"{TOKEN_ENV} is {len(configured)} characters; the admin token needs "
                f"at least {_MIN_TOKEN_CHARS}",
                hint=f'use a random one: export {TOKEN_ENV}="$(python3 -c '
                "'import secrets; print(secrets.token_urlsafe(32))')\"",
            )
        return AdminToken(configured, TOKEN_ENV)
    path = data_dir / _TOKEN_FILE
    token = _read_token_file(path)
    if token is None:
        token = secrets.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(path, (token + "\n").encode(), mode=0o600)
        return AdminToken(token, str(path), created=True)
    if len(token) < _MIN_TOKEN_CHARS:
        raise UserError(
            f"{path} holds no usable admin token (it needs at least {_MIN_TOKEN_CHARS} characters)",
            hint=f"remove it; the next start writes a new one (or set {TOKEN_ENV})",
        )
    return AdminToken(token, str(path))


def _read_token_file(path: Path) -> str | None:
    """The token file's text, or None when there is none.

    The file is opened once, without following a symlink (nor waiting on a FIFO), and
    what was opened is checked: a file swapped in after a check is never the one read.
    """
    remove = f"remove it; the next start writes a new admin token there (or set {TOKEN_ENV})"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink (ELOOP), or a file this user may not read
        raise UserError(
            f"{path} is not a regular file this user can read: {exc.strerror}", hint=remove
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{path} is not a regular file", hint=remove)
        if info.st_uid != os.geteuid():
            raise UserError(
                f"{path} holds an admin token but belongs to another user (uid {info.st_uid})",
                hint=remove,
            )
        if info.st_mode & 0o077:
            raise UserError(
                f"{path} holds the admin token but others can read it "
                f"(mode {stat.S_IMODE(info.st_mode):04o})",
                hint=f"chmod 600 {path}",
            )
        data = os.read(fd, _MAX_TOKEN_FILE_BYTES)
    finally:
        os.close(fd)
    return data.decode("utf-8").strip()


@dataclass(slots=True, eq=False)
class Session:
    """One logged-in browser."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    expires_at: float = field(default_factory=lambda: time.monotonic() + SESSION_S)
    #: Messages for the next page (after an action's redirect): ``(level, text)``.
    flashes: list[tuple[str, str]] = field(default_factory=list)
    frames: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def pop_flashes(self) -> list[tuple[str, str]]:
        """The messages waiting for this session, now forgotten."""
        flashes, self.flashes = self.flashes, []
        return flashes


class Sessions:
    """The open sessions, in memory; the oldest is dropped past a thousand."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, Session] = {}
        self._frames: dict[str, tuple[str, str, str]] = {}  # key: (session id, plugin, panel)
        self._clock = clock

    def open(self) -> Session:
        """A new session."""
        self._expire()
        while len(self._sessions) >= _MAX_SESSIONS:
            self.close(next(iter(self._sessions.values())))
        session = Session(expires_at=self._clock() + SESSION_S)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, or None."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None or session.expires_at <= self._clock():
            if session is not None:
                self.close(session)
            return None
        return session

    def close(self, session: Session) -> None:
        """End ``session`` and the frame keys it handed out."""
        self._sessions.pop(session.id, None)
        for key in session.frames.values():
            self._frames.pop(key, None)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        """Whether ``given`` is the session's CSRF token (constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())

    def frame_key(self, session: Session, plugin: str, panel: str) -> str:
        """The key in the URL of ``plugin``'s panel frame for this session."""
        key = session.frames.get((plugin, panel))
        if key is None:
            key = session.frames[plugin, panel] = secrets.token_urlsafe(24)
            self._frames[key] = (session.id, plugin, panel)
        return key

    def frame(self, key: str) -> tuple[str, str] | None:
        """The ``(plugin, panel)`` a frame key opens, while its session lasts."""
        found = self._frames.get(key)
        if found is None or self.get(found[0]) is None:
            return None
        return found[1], found[2]

    def _expire(self) -> None:
        now = self._clock()
        for session in [s for s in self._sessions.values() if s.expires_at <= now]:
            self.close(session)


class LoginThrottle:
    """Counts failed logins per client; `retry_after` says how long one must wait."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._clock = clock

    def failed(self, client: str) -> None:
        """Count one failed login from ``client``."""
        times = self._failures.setdefault(client, deque(maxlen=MAX_FAILURES))
        times.append(self._clock())
        if len(self._failures) > _MAX_SESSIONS:  # forget the longest-quiet clients
            for quiet in sorted(self._failures, key=lambda c: self._failures[c][-1])[:100]:
                del self._failures[quiet]

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may now."""
        times = self._failures.get(client)
        if times is None or len(times) < MAX_FAILURES:
            return 0.0
        return max(0.0, times[0] + FAILURE_WINDOW_S - self._clock())
