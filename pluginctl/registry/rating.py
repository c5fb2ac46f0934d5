"""Ratings: 1 to 5 stars, one per token holder and project; rating again replaces."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from packaging.utils import canonicalize_name

from pluginctl.errors import RegistryError
from pluginctl.registry._result import Result

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from pluginctl.registry.index import Index

__all__ = ["NO_RATING", "Rating", "rate", "ratings_of"]


class Rating(Result, frozen=True, kw_only=True):
    """A project's rating: the mean of its stars (None before the first) and how many."""

    average: float | None
    count: int


NO_RATING = Rating(average=None, count=0)


def rate(index: Index, project: str, token_id: str, stars: int) -> Rating | None:
    """Record ``token_id``'s rating of ``project``; a token's new rating replaces its old.

    Returns the project's rating now, or None if there is no such project.

    Raises:
        RegistryError: ``stars`` is not a whole number from 1 to 5.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from pluginctl.registry.index import Index
        >>> rate(Index(Path(tempfile.mkdtemp()) / "i.sqlite3"), "nobody", "t1", 5) is None
        True
    """
    if type(stars) is not int or not 1 <= stars <= 5:  # a bool is an int, not stars
        raise RegistryError(
            f"stars: {stars!r} is not a whole number from 1 to 5", hint='send {"stars": 4}'
        )
    name = canonicalize_name(project)
    with index.writing() as db:
        if db.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone() is None:
            return None
        db.execute(
            "INSERT INTO ratings (project, token, stars) VALUES (?, ?, ?)"
            " ON CONFLICT (project, token) DO UPDATE SET stars = excluded.stars",
            (name, token_id, stars),
        )
        return ratings_of(db, [name]).get(name, NO_RATING)


def ratings_of(db: sqlite3.Connection, projects: Sequence[str]) -> dict[str, Rating]:
    """The rating of each of ``projects`` that has one."""
    if not projects:
        return {}
    rows = db.execute(
        "SELECT project, AVG(stars) AS average, COUNT(*) AS count FROM ratings"
        " WHERE project IN (SELECT value FROM json_each(?)) GROUP BY project",
        (msgspec.json.encode(list(projects)).decode(),),
    ).fetchall()
    return {
        row["project"]: Rating(average=round(row["average"], 2), count=row["count"]) for row in rows
    }
