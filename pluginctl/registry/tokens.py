"""Upload tokens: secrets shown once, stored as their sha256, scoped to projects.

A token is ``pcr_`` and 43 URL-safe characters. The index keeps only its sha256,
so the secret cannot be read back and a lookup by hash needs no constant-time
comparison. Each token names the projects it may upload to as PEP 503 normalised
`fnmatch` patterns (``acme-*``); ``*`` is every project. Clients send it as
twine does, in HTTP basic auth with the user name ``__token__``.

`Tokens.check` says only "invalid or revoked token" for a secret it does not
accept, never which part failed, and "token NAME may not upload to PROJECT" for
one that is valid elsewhere.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from pluginctl.registry.index import Index
    >>> tokens = Tokens(Index(Path(tempfile.mkdtemp()) / "index.sqlite3"))
    >>> token, secret = tokens.create("ci", projects=["Acme_*"])
    >>> token.projects, secret.startswith("pcr_")
    (('acme-*',), True)
    >>> tokens.check(secret, "acme-weather").name
    'ci'
    >>> tokens.check(secret, "other")
    Traceback (most recent call last):
    ...
    pluginctl.registry.tokens.TokenRefused: token 'ci' may not upload to other
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pluginctl.errors import RegistryError

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from pluginctl.registry.index import Index

__all__ = ["SECRET_PREFIX", "Token", "TokenRefused", "Tokens"]

#: Every secret starts with this, so scanners and people can tell what it is.
SECRET_PREFIX = "pcr_"  # noqa: S105  # a prefix, not a secret
_PATTERN = re.compile(r"[a-z0-9*?\[\]-]+")


class TokenRefused(RegistryError):
    """An upload's token is missing, unknown, revoked, or not for that project (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Token:
    """One upload token, as listed: never its secret.

    Attributes:
        id: The short id that `Tokens.revoke` takes.
        name: What its owner called it ("ci", "ada's laptop").
        projects: The normalised project patterns it may upload to.
        created: When it was made (Unix time).
        revoked: When it was revoked, or None.
    """

    id: str
    name: str
    projects: tuple[str, ...]
    created: float
    revoked: float | None = None

    def may_upload(self, project: str) -> bool:
        """Whether this token may upload files of ``project`` (any spelling).

        Example:
            >>> Token("t1", "ci", ("acme-*",), 0.0).may_upload("Acme.Weather")
            True
        """
        name = canonicalize_name(project)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.projects)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Token:
        """A row of the index's ``tokens`` table."""
        return cls(
            id=row["id"],
            name=row["name"],
            projects=tuple(json.loads(row["projects"])),
            created=row["created"],
            revoked=row["revoked"],
        )


class Tokens:
    """The upload tokens of one registry index."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def create(self, name: str, *, projects: Sequence[str]) -> tuple[Token, str]:
        """A new token for ``projects`` (patterns) and its secret, which is shown only now.

        Raises:
            RegistryError: no name, no pattern, or a pattern no project name could match.
        """
        if not name.strip():
            raise RegistryError("a token needs a name", hint="name it for its use, e.g. ci")
        token = Token(
            id=secrets.token_hex(4),
            name=name.strip(),
            projects=_patterns(projects),
            created=time.time(),
        )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self.index.writing() as db:
            db.execute(
                "INSERT INTO tokens (id, name, secret_sha256, projects, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (token.id, token.name, _digest(secret), json.dumps(token.projects), token.created),
            )
        return token, secret

    def list(self) -> list[Token]:
        """Every token, revoked ones too, oldest first."""
        with self.index.reading() as db:
            rows = db.execute("SELECT * FROM tokens ORDER BY created, id").fetchall()
        return [Token.from_row(row) for row in rows]

    def revoke(self, token_id: str) -> Token:
        """Revoke the token ``token_id``: it is refused from now on (revoking twice is fine).

        Raises:
            RegistryError: no token has that id.
        """
        with self.index.writing() as db:
            db.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (time.time(), token_id),
            )
            row = db.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise RegistryError(
                f"no token has the id {token_id!r}",
                hint="pluginctl registry token list shows the ids",
            )
        return Token.from_row(row)

    def check(self, secret: str | None, project: str | None = None) -> Token:
        """The live token whose secret is ``secret``, allowed to upload to ``project``.

        With ``project`` None, only that the token is live is checked.

        Raises:
            TokenRefused: no secret, an unknown or revoked one, or a token for other projects.
        """
        token = self._live(secret)
        if project is not None and not token.may_upload(project):
            raise TokenRefused(
                f"token {token.name!r} may not upload to {canonicalize_name(project)}",
                hint="create a token for that project: pluginctl registry token create"
                f" NAME --project {canonicalize_name(project)}",
            )
        return token

    def _live(self, secret: str | None) -> Token:
        if secret:
            with self.index.reading() as db:
                row = db.execute(
                    "SELECT * FROM tokens WHERE secret_sha256 = ? AND revoked IS NULL",
                    (_digest(secret),),
                ).fetchone()
            if row is not None:
                return Token.from_row(row)
        raise TokenRefused(
            "invalid or revoked token",
            hint="upload with -u __token__ -p TOKEN; pluginctl registry token create makes one",
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _patterns(projects: Sequence[str]) -> tuple[str, ...]:
    patterns = []
    for raw in projects:
        pattern = canonicalize_name(raw.strip())
        if not _PATTERN.fullmatch(pattern):
            raise RegistryError(
                f"{raw!r} is not a project name pattern",
                hint="use a project name, or a pattern such as acme-* (or * for every project)",
            )
        patterns.append(pattern)
    if not patterns:
        raise RegistryError(
            "a token needs at least one project it may upload to",
            hint="add --project NAME (a pattern such as acme-* works; * is every project)",
        )
    return tuple(dict.fromkeys(patterns))
