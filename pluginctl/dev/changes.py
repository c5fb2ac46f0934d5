r"""Which file events are real changes to a plugin, and what kind.

`PluginFiles` knows the files that make up one plugin project: its package's Python
modules, its ``plugin.toml``, its static files and migrations, and its
``pyproject.toml``. It filters file events to those (never ``__pycache__``,
dotfiles or editor temp files) and keeps a content hash of each, so a touch, a save
without edits or a ``git checkout`` that restores the same bytes changes nothing.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "demo").mkdir()
    >>> _ = (root / "demo" / "plugin.py").write_text("x = 1\n")
    >>> files = PluginFiles(root, root / "demo")
    >>> files.watches(root / "demo" / ".plugin.py.swp")
    False
    >>> files.watches(root / "demo" / "plugin.py")
    True
    >>> files.changed([root / "demo" / "plugin.py"])  # the same bytes as at the start
    ChangeSet(python=(), manifest=False, pyproject=False, static=(), migrations=(), deleted=())
    >>> _ = (root / "demo" / "plugin.py").write_text("x = 2\n")
    >>> files.changed([root / "demo" / "plugin.py"]).python == (root / "demo" / "plugin.py",)
    True
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pluginctl.manifest import MANIFEST_FILENAME

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["ChangeSet", "CompileProblem", "PluginFiles", "compile_problems"]

_SOURCE_SUFFIXES = frozenset({".py"})
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".venv", ".mypy_cache"})
# editor and tool droppings: vim swap and its 4913 probe, emacs locks and backups,
# JetBrains safe-write copies, LibreOffice locks, generic temp files
_TEMP_FILE = re.compile(r"(^\.|~$|^#.*#$|\.sw[a-p]$|^4913$|\.tmp$|\.___jb_\w+___$|\.bak$)")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed in one plugin since the last look, by kind.

    Attributes:
        python: Changed or added modules of the plugin's package.
        manifest: ``plugin.toml`` changed.
        pyproject: ``pyproject.toml`` changed (the entry point, the dependencies).
        static: Changed or added static files.
        migrations: Changed or added migration scripts.
        deleted: Files that are gone (of any kind).
    """

    python: tuple[Path, ...] = ()
    manifest: bool = False
    pyproject: bool = False
    static: tuple[Path, ...] = ()
    migrations: tuple[Path, ...] = ()
    deleted: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.python
            or self.manifest
            or self.pyproject
            or self.static
            or self.migrations
            or self.deleted
        )

    @property
    def needs_reload(self) -> bool:
        """Whether the worker must be replaced; static files are served from disk."""
        return bool(self.python or self.manifest or self.pyproject or self.migrations) or any(
            path.suffix in _SOURCE_SUFFIXES or path.name == MANIFEST_FILENAME
            for path in self.deleted
        )

    def merge(self, other: ChangeSet) -> ChangeSet:
        """Both change sets as one (a pending reload absorbs later saves)."""
        return ChangeSet(
            python=_union(self.python, other.python),
            manifest=self.manifest or other.manifest,
            pyproject=self.pyproject or other.pyproject,
            static=_union(self.static, other.static),
            migrations=_union(self.migrations, other.migrations),
            deleted=_union(self.deleted, other.deleted),
        )

    def describe(self) -> list[str]:
        """The changed paths, short, for messages."""
        names = [*self.python, *self.static, *self.migrations]
        shown = [path.name for path in names]
        if self.manifest:
            shown.append(MANIFEST_FILENAME)
        if self.pyproject:
            shown.append("pyproject.toml")
        shown += [f"{path.name} (deleted)" for path in self.deleted]
        return shown


class PluginFiles:
    """The files of one plugin project that matter to a running host, with their hashes.

    Args:
        root: The project directory (``pyproject.toml``).
        package_dir: The plugin's package directory (``plugin.toml``).
        static: The static directory's name inside the package, if any.
        migrations: The migrations directory's name inside the package, if any.
    """

    def __init__(
        self,
        root: Path,
        package_dir: Path,
        *,
        static: str | None = None,
        migrations: str | None = None,
    ) -> None:
        self.root = root.resolve()
        self.package_dir = package_dir.resolve()
        self.static_dir = self.package_dir / static if static else None
        self.migrations_dir = self.package_dir / migrations if migrations else None
        self._hashes: dict[Path, str] = {}
        for path in self._current():
            if (digest := _digest(path)) is not None:
                self._hashes[path] = digest

    def watches(self, path: Path) -> bool:
        """Whether an event on ``path`` may matter (before looking at its content)."""
        path = Path(path)
        if path == self.root / "pyproject.toml" or self._holds_package(path):
            return True
        try:
            parts = path.relative_to(self.package_dir).parts
        except ValueError:
            return False
        if not parts or any(part in _SKIPPED_DIRS for part in parts):
            return False
        if any(_TEMP_FILE.search(part) for part in parts):
            return False
        if self._under(path, self.static_dir) or self._under(path, self.migrations_dir):
            return True
        return path.suffix in _SOURCE_SUFFIXES or path.name == MANIFEST_FILENAME

    def changed(self, paths: Iterable[Path]) -> ChangeSet:
        """The real changes among ``paths`` (event paths), remembering the new hashes."""
        python: list[Path] = []
        static: list[Path] = []
        migrations: list[Path] = []
        deleted: list[Path] = []
        manifest = pyproject = False
        wanted = {Path(p) for p in paths if self.watches(Path(p))}
        if any(self._holds_package(path) for path in wanted):  # a directory moved or deleted
            wanted = {path for path in wanted if not self._holds_package(path)}
            wanted |= {*self._hashes, *self._current()}
        for path in sorted(wanted):
            digest = _digest(path)
            if digest == self._hashes.get(path):
                continue  # a touch, or the same bytes again
            if digest is None:
                del self._hashes[path]
                deleted.append(path)
                continue
            self._hashes[path] = digest
            if path == self.root / "pyproject.toml":
                pyproject = True
            elif self._under(path, self.static_dir):
                static.append(path)
            elif self._under(path, self.migrations_dir):
                migrations.append(path)
            elif path.name == MANIFEST_FILENAME:
                manifest = True
            else:
                python.append(path)
        return ChangeSet(
            tuple(python), manifest, pyproject, tuple(static), tuple(migrations), tuple(deleted)
        )

    def moved_on(self) -> bool:
        """Whether any file differs from its last seen content (an event is on its way).

        Nothing is recorded: the change is still the watcher's to report.
        """
        current = set(self._current())
        if current != set(self._hashes):
            return True
        return any(_digest(path) != digest for path, digest in self._hashes.items())

    def _holds_package(self, path: Path) -> bool:
        """Whether ``path`` is the project or a directory on the way to the package."""
        return path == self.root or (
            path.is_relative_to(self.root) and self.package_dir.is_relative_to(path)
        )

    def _current(self) -> Iterator[Path]:
        pyproject = self.root / "pyproject.toml"
        if pyproject.is_file():
            yield pyproject
        if self.package_dir.is_dir():
            for path in self.package_dir.rglob("*"):
                if path.is_file() and self.watches(path):
                    yield path

    @staticmethod
    def _under(path: Path, directory: Path | None) -> bool:
        return directory is not None and path.is_relative_to(directory)


@dataclass(frozen=True, slots=True)
class CompileProblem:
    """A module that does not compile: where and why.

    Attributes:
        path: The file.
        line: The line (1-based), or None when unknown.
        message: The compiler's message (``invalid syntax``).
        text: The offending line, when known.
    """

    path: Path
    line: int | None
    message: str
    text: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        shown = f"\n    {self.text.strip()}" if self.text and self.text.strip() else ""
        return f"{where}: {self.message}{shown}"


def compile_problems(paths: Iterable[Path]) -> list[CompileProblem]:
    r"""Compile each module in memory (nothing is written); the ones that fail, and why.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> bad = Path(tempfile.mkdtemp()) / "bad.py"
        >>> _ = bad.write_text("def f(:\n    pass\n")
        >>> [(p.line, p.message) for p in compile_problems([bad])]
        [(1, 'invalid syntax')]
    """
    problems = []
    for path in paths:
        try:
            source = path.read_bytes()
        except OSError as exc:
            problems.append(CompileProblem(path, None, f"cannot be read: {exc.strerror or exc}"))
            continue
        try:
            compile(source, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:  # IndentationError and TabError included
            problems.append(CompileProblem(path, exc.lineno, exc.msg, exc.text))
        except ValueError as exc:  # null bytes
            problems.append(CompileProblem(path, None, str(exc)))
    return problems


def _digest(path: Path) -> str | None:
    """The file's BLAKE2 digest, or None when it is gone (or not a readable file)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "blake2b").hexdigest()
    except OSError:
        return None


def _union(first: tuple[Path, ...], second: tuple[Path, ...]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys([*first, *second]))
