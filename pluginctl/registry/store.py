"""The registry directory: write-once files, their metadata and signatures, the index.

Layout of a registry at ``ROOT``::

    ROOT/index.sqlite3                      the index (pluginctl.registry.index)
    ROOT/files/<project>/<file>             each published file, read-only, never replaced
    ROOT/files/<project>/<file>.metadata    a wheel's core metadata (PEP 658)
    ROOT/files/<project>/<file>.sig         a signed wheel's envelope
    ROOT/staging/                           uploads in progress, never served
    ROOT/audit.jsonl                        every publish, yank and refusal, appended
    ROOT/pluginctl.trust.toml               the keys this registry trusts (with the user's)

Publishing is atomic. A file is checked in ``staging/`` (`inspect_dist`), then,
holding the index's write lock, its name is refused if it was *ever* published
(tombstones: no overwrite, no delete-then-reupload), its files are linked into
place, and its row is committed last. A crash leaves at worst a placed file with no
row, which is never served (paths resolve through the index only) and which
`RegistryStore.fsck` finds; never a row without its file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from packaging.utils import canonicalize_name

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import RegistryError
from pluginctl.registry.distfile import inspect_dist
from pluginctl.registry.index import Index

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.registry.distfile import DistFile
    from pluginctl.registry.index import FileRow
    from pluginctl.signing.trust import TrustStore

__all__ = ["REGISTRY_ENV", "FsckReport", "RegistryStore"]

#: The environment variable naming the registry directory (default: the user data dir).
REGISTRY_ENV = "PLUGINCTL_REGISTRY"
TRUST_FILE = "pluginctl.trust.toml"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FsckReport:
    """What `RegistryStore.fsck` found: each problem as ``file: what``, and what it fixed."""

    checked: int
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether every file matched its record."""
        return not self.problems


class RegistryStore:
    """A registry directory: publish into it, read from it, check it.

    Example:
        >>> import tempfile
        >>> store = RegistryStore(Path(tempfile.mkdtemp()) / "registry")
        >>> store.index.projects()
        []
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        for directory in (root, root / "files", root / "staging"):
            directory.mkdir(parents=True, exist_ok=True)
        self.index = Index(root / "index.sqlite3")

    @classmethod
    def default(cls) -> RegistryStore:
        """The registry at ``$PLUGINCTL_REGISTRY``, or ``registry`` in the user data dir."""
        return cls(cls.default_root())

    @staticmethod
    def default_root() -> Path:
        """Where `default` keeps the registry (it may not exist yet)."""
        configured = os.environ.get(REGISTRY_ENV)
        if configured:
            return Path(configured)
        from platformdirs import user_data_dir

        return Path(user_data_dir("pluginctl", appauthor=False)) / "registry"

    def trust(self) -> TrustStore:
        """The keys plugin wheels must be signed by: this registry's file and the user's."""
        from pluginctl.signing.trust import TrustStore

        return TrustStore.load(project_file=self.root / TRUST_FILE)

    # ---------------------------------------------------------------- publishing

    def publish(
        self, source: Path, *, signature: Path | None = None, uploader: str = "local"
    ) -> DistFile:
        """Copy ``source`` (and its ``.sig``) into staging, check it, and publish it.

        Raises:
            RegistryError: the file breaks a rule, or a file of its name was published.
        """
        with self.staging(source.name) as staged:
            _copy(source, staged)
            sig = signature or source.with_name(source.name + ".sig")
            if sig.is_file():
                _copy(sig, staged.with_name(staged.name + ".sig"))
            return self.commit(staged, uploader=uploader)

    @contextlib.contextmanager
    def staging(self, filename: str) -> Iterator[Path]:
        """A path in a fresh staging directory for ``filename``; removed afterwards, always."""
        with self.staging_directory() as directory:
            yield directory / _plain_name(filename)

    @contextlib.contextmanager
    def staging_directory(self) -> Iterator[Path]:
        """A fresh, private staging directory, for an upload whose file name comes later.

        It is removed afterwards, always; `fsck` ``--repair`` removes any a crash left.
        """
        directory = self.root / "staging" / uuid.uuid4().hex
        directory.mkdir(mode=0o700)
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def commit(
        self, staged: Path, *, uploader: str, expected_sha256: str | None = None
    ) -> DistFile:
        """Check the staged file and publish it under its name.

        Raises:
            RegistryError: the file breaks a rule, its sha256 is not ``expected_sha256``,
                or a file of its name was ever published.
        """
        try:
            dist = inspect_dist(staged, trust=self.trust())
        except RegistryError as exc:
            self.audit("publish.refused", file=staged.name, uploader=uploader, reason=exc.message)
            raise
        if expected_sha256 is not None and expected_sha256.lower() != dist.sha256:
            raise RegistryError(
                f"{dist.filename}: the sha256 sent ({expected_sha256}) is not the file's"
                f" ({dist.sha256}): the upload was damaged",
                hint="upload it again",
            )
        self._place(staged, dist, uploader=uploader)
        self.audit(
            "publish",
            file=dist.filename,
            project=dist.project,
            sha256=dist.sha256,
            uploader=uploader,
        )
        return dist

    def _place(self, staged: Path, dist: DistFile, *, uploader: str) -> None:
        target = self.path_of(dist.project, dist.filename)
        signature = staged.with_name(staged.name + ".sig")
        signed = dist.plugin is not None and signature.is_file()
        with self.index.writing() as db:
            published = self.index.tombstoned(db, dist)
            if published is not None:
                spelled = "" if published == dist.filename else f" (as {published})"
                raise RegistryError(
                    f"File already exists: {dist.filename} was published before{spelled}; a"
                    " published file is never replaced",
                    hint="publish a new version (or yank this one: pluginctl registry yank)",
                )
            placed = self._link(staged, target, dist, signature if signed else None)
            try:
                self.index.record(
                    db,
                    dist,
                    metadata_sha256=hashlib.sha256(dist.metadata).hexdigest(),
                    signed=signed,
                    uploader=uploader,
                    now=time.time(),
                )
            except BaseException:
                for path in placed:
                    path.unlink(missing_ok=True)
                raise

    def _link(
        self, staged: Path, target: Path, dist: DistFile, signature: Path | None
    ) -> list[Path]:
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):  # no tombstone, yet a file: a crash before a COMMIT
            raise RegistryError(
                f"files/{dist.project}/{dist.filename} is in the way: no record names it",
                hint="remove it: pluginctl registry fsck --repair, then publish again",
            )
        placed: list[Path] = []
        try:
            if dist.kind == "wheel":
                metadata = target.with_name(target.name + ".metadata")
                write_atomically(metadata, dist.metadata, mode=0o444)
                placed.append(metadata)
            if signature is not None:
                sig = target.with_name(target.name + ".sig")
                write_atomically(sig, signature.read_bytes(), mode=0o444)
                placed.append(sig)
            staged.chmod(0o444)
            os.link(staged, target)  # fails if the name exists: files are write-once
            placed.append(target)
        except BaseException:
            for path in placed:
                path.unlink(missing_ok=True)
            raise
        return placed

    # ---------------------------------------------------------------- reading

    def path_of(self, project: str, filename: str) -> Path:
        """Where a published file lives (the file may not exist)."""
        return self.root / "files" / canonicalize_name(project) / _plain_name(filename)

    def project_dirs(self) -> list[Path]:
        """Each project's directory of files: where an installer finds dependencies."""
        return [self.root / "files" / name for name, _ in self.index.projects()]

    def open_file(self, filename: str) -> tuple[FileRow, Path] | None:
        """A published file's record and path, found through the index only, or None."""
        row = self.index.file(filename)
        if row is None:
            return None
        return row, self.path_of(row.project, row.filename)

    # ---------------------------------------------------------------- yanking

    def yank(self, project: str, version: str, *, reason: str = "", yanked: bool = True) -> int:
        """Yank (PEP 592) every file of ``project`` ``version``, or un-yank with ``yanked=False``.

        Raises:
            RegistryError: no file of that version is published.
        """
        name = canonicalize_name(project)
        count = self.index.set_yanked(name, version, yanked=yanked, reason=reason)
        if not count:
            raise RegistryError(
                f"{name} {version} is not in this registry",
                hint=f"pluginctl search {name} lists what is",
            )
        self.audit("yank" if yanked else "unyank", project=name, version=version, reason=reason)
        return count

    # ---------------------------------------------------------------- checking

    def fsck(self, *, repair: bool = False) -> FsckReport:
        """Re-hash every file against its record, re-verify every signature, find strays.

        With ``repair``, files no record names and leftover staging directories are
        removed; a file that fails its record is never touched (it is evidence).
        """
        report = FsckReport(checked=0)
        trust = self.trust()
        rows = self.index.all_files()
        for row in rows:
            report.problems.extend(self._check(row, trust))
        known = {self.path_of(r.project, r.filename) for r in rows}
        for stray in self._strays(known):
            report.problems.append(f"{stray.relative_to(self.root)}: no record names it")
            if repair:
                stray.unlink()
                report.repaired.append(str(stray.relative_to(self.root)))
        if repair:
            report.repaired.extend(self._clear_staging())
        return FsckReport(len(rows), report.problems, report.repaired)

    def _check(self, row: FileRow, trust: TrustStore) -> list[str]:
        path = self.path_of(row.project, row.filename)
        name = f"files/{row.project}/{row.filename}"
        if not path.is_file():
            return [f"{name}: missing"]
        if _sha256(path) != row.sha256:
            return [f"{name}: its sha256 is not the one recorded at publish time"]
        problems = []
        if row.kind == "wheel":
            metadata = path.with_name(path.name + ".metadata")
            if not metadata.is_file() or _sha256(metadata) != row.metadata_sha256:
                problems.append(f"{name}.metadata: missing or not the recorded metadata")
        if row.signed:
            problems.extend(_check_signature(path, name, trust))
        return problems

    def _strays(self, known: set[Path]) -> Iterator[Path]:
        for path in sorted((self.root / "files").glob("*/*")):
            base = path
            for suffix in (".metadata", ".sig"):
                if path.name.endswith(suffix):
                    base = path.with_name(path.name.removesuffix(suffix))
            if base not in known:
                yield path

    def _clear_staging(self) -> list[str]:
        removed = []
        for leftover in (self.root / "staging").iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(str(leftover.relative_to(self.root)))
        return removed

    # ---------------------------------------------------------------- audit

    def audit(self, event: str, **fields: object) -> None:
        """Append one event to ``audit.jsonl``: one line, written with one call."""
        line = json.dumps({"time": time.time(), "event": event, **fields}, sort_keys=True)
        fd = os.open(self.root / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def _plain_name(filename: str) -> str:
    if not filename or "/" in filename or "\\" in filename or filename in {".", ".."}:
        raise RegistryError(
            f"{filename!r} is not a plain file name", hint="upload a file by its own name"
        )
    return filename


def _copy(source: Path, target: Path) -> None:
    with source.open("rb") as reader, target.open("xb") as writer:
        _stream(reader, writer)


def _stream(reader: BinaryIO, writer: BinaryIO) -> None:
    while chunk := reader.read(_CHUNK):
        writer.write(chunk)
    writer.flush()
    os.fsync(writer.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_signature(path: Path, name: str, trust: TrustStore) -> list[str]:
    from pluginctl.signing.verify import verify_wheel

    report = verify_wheel(path, trust=trust)
    if report.error is None:
        return []
    return [f"{name}: no longer verifies: {report.error.message}"]
