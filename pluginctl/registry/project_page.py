"""A project's page: every version with its files, permissions, signers and downloads.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from pluginctl.registry.index import Index
    >>> project_page(Index(Path(tempfile.mkdtemp()) / "i.sqlite3"), "nobody") is None
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import Version

from pluginctl.registry._result import Result
from pluginctl.registry.rating import NO_RATING, Rating, ratings_of

if TYPE_CHECKING:
    from pluginctl.registry.index import FileRow, Index

__all__ = ["FileInfo", "ProjectPage", "ProjectVersion", "project_page"]


class FileInfo(Result, frozen=True, kw_only=True):
    """One file of a release: its hash recorded at publish time, its state, its downloads."""

    filename: str
    kind: str
    sha256: str
    size: int
    uploaded: float
    signed: bool
    requires_python: str
    yanked: bool
    yank_reason: str
    downloads: int


class ProjectVersion(Result, frozen=True, kw_only=True):
    """One version: what its plugin wheel asks for and who signed it, and its files.

    ``yanked`` when every file of it is; ``host``, ``permissions``, ``signers`` and
    ``description`` come from the signed manifest (empty for a release with no
    plugin wheel).
    """

    version: str
    uploaded: float
    yanked: bool
    yank_reason: str
    host: str
    permissions: tuple[str, ...]
    signers: tuple[str, ...]
    description: str
    downloads: int
    files: tuple[FileInfo, ...]


class ProjectPage(Result, frozen=True, kw_only=True):
    """A project: its latest release's facts, its rating, and every version, newest first.

    Attributes:
        latest: The newest release that is not yanked, or None.
        downloads: Of every file, every version.
    """

    project: str
    name: str
    summary: str
    description: str
    category: str
    tags: tuple[str, ...]
    latest: str | None
    host: str
    permissions: tuple[str, ...]
    signers: tuple[str, ...]
    downloads: int
    rating: Rating
    featured: bool
    versions: tuple[ProjectVersion, ...]


def project_page(index: Index, name: str) -> ProjectPage | None:
    """The page of project ``name`` (any spelling of it), or None if there is none."""
    project = canonicalize_name(name)
    with index.reading() as db:
        row = db.execute(
            "SELECT display, featured FROM projects WHERE name = ?", (project,)
        ).fetchone()
        if row is None:
            return None
        rating = ratings_of(db, [project]).get(project, NO_RATING)
    files = index.files(project)
    releases = _releases(files)
    live = [release for release in releases if not release.yanked]
    shown = live[0] if live else releases[0]
    facts = _plugin(shown.version, files)
    summaries = [f.summary for f in files if f.version == shown.version and f.summary]
    return ProjectPage(
        project=project,
        name=row["display"],
        summary=summaries[0] if summaries else "",
        description=shown.description,
        category=str(facts.get("category", "")),
        tags=_strings(facts.get("tags")),
        latest=live[0].version if live else None,
        host=shown.host,
        permissions=shown.permissions,
        signers=shown.signers,
        downloads=sum(f.downloads for f in files),
        rating=rating,
        featured=bool(row["featured"]),
        versions=tuple(releases),
    )


def _releases(files: list[FileRow]) -> list[ProjectVersion]:
    versions = sorted({f.version for f in files}, key=Version, reverse=True)
    return [_release(version, [f for f in files if f.version == version]) for version in versions]


def _release(version: str, files: list[FileRow]) -> ProjectVersion:
    facts = _plugin(version, files)
    return ProjectVersion(
        version=version,
        uploaded=min(f.uploaded for f in files),
        yanked=all(f.yanked for f in files),
        yank_reason=next((f.yank_reason for f in files if f.yank_reason), ""),
        host=str(facts.get("host", "")),
        permissions=_strings(facts.get("permissions")),
        signers=_strings(facts.get("signers")),
        description=str(facts.get("description", "")),
        downloads=sum(f.downloads for f in files),
        files=tuple(_file(f) for f in files),
    )


def _plugin(version: str, files: list[FileRow]) -> dict[str, object]:
    return next((f.plugin for f in files if f.version == version and f.plugin), {})


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _file(row: FileRow) -> FileInfo:
    return FileInfo(
        filename=row.filename,
        kind=row.kind,
        sha256=row.sha256,
        size=row.size,
        uploaded=row.uploaded,
        signed=row.signed,
        requires_python=row.requires_python,
        yanked=row.yanked,
        yank_reason=row.yank_reason,
        downloads=row.downloads,
    )
