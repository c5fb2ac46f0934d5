"""A project's PEP 517 build backend, called through pypa/build with its output kept.

`Backend` builds an sdist and a wheel the way ``python -m build`` does: in an
isolated environment holding the ``[build-system] requires`` (one environment for
both), or with what is installed here after checking it is. The backend's output
never reaches the terminal: it is kept, logged at debug level, and its last lines
go into the `BuildError` of a failed build.

Example:
    >>> backend = Backend("hatchling.build", root=Path("."), isolation=False)
    >>> backend.name
    'hatchling.build'
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tarfile
import tomllib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pluginctl.builder import BuildEvent
from pluginctl.errors import BuildError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
    from types import TracebackType

    from build import ProjectBuilder
    from build.env import DefaultIsolatedEnv

__all__ = ["Backend", "unpack_sdist"]

_log = logging.getLogger(__name__)

#: What PEP 517 says a project without ``build-backend`` is built with.
_LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
#: How many of the backend's last output lines a failed build quotes.
_TAIL_LINES = 15

Distribution = Literal["sdist", "wheel"]


class Backend:
    """The build backend of one project, in an isolated environment or this one.

    Use it as a context manager: entering creates the isolated environment (when
    ``isolation``), leaving removes it.

    Args:
        name: The backend's import name, as ``[build-system] build-backend`` gives it.
        root: The project, for the requirements to install in an isolated environment.
        isolation: Build in a fresh virtual environment rather than this one.
        emit: Called as the environment is made and as each build starts and ends.
    """

    def __init__(
        self,
        name: str,
        *,
        root: Path,
        isolation: bool,
        emit: Callable[[BuildEvent], None] | None = None,
    ) -> None:
        self.name = name
        self._root = root
        self._isolation = isolation
        self._emit = emit or (lambda event: None)
        self._runner = _Runner()
        self._env: DefaultIsolatedEnv | None = None
        self._stack = contextlib.ExitStack()

    @classmethod
    def for_project(
        cls, root: Path, *, isolation: bool, emit: Callable[[BuildEvent], None] | None = None
    ) -> Backend:
        """The backend ``root/pyproject.toml`` names (PEP 517's default when it names none)."""
        with (root / "pyproject.toml").open("rb") as file:
            table = tomllib.load(file).get("build-system", {})
        name = table.get("build-backend") if isinstance(table, dict) else None
        return cls(
            name if isinstance(name, str) else _LEGACY_BACKEND,
            root=root,
            isolation=isolation,
            emit=emit,
        )

    def __enter__(self) -> Backend:
        if self._isolation:
            try:
                self._env = self._create_env()
            except BaseException:
                self._stack.close()
                raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._env = None
        self._stack.__exit__(kind, error, traceback)

    def build_sdist(self, source: Path, out_dir: Path) -> Path:
        """Build the sdist of the project in ``source`` into ``out_dir``."""
        return self._build(source, "sdist", out_dir, f"building the sdist with {self.name}")

    def build_wheel(self, source: Path, out_dir: Path) -> Path:
        """Build the wheel of the project in ``source`` (an unpacked sdist) into ``out_dir``."""
        return self._build(
            source, "wheel", out_dir, f"building the wheel from the sdist with {self.name}"
        )

    def _create_env(self) -> DefaultIsolatedEnv:
        from build import ProjectBuilder
        from build.env import DefaultIsolatedEnv

        with self._errors("read [build-system] in pyproject.toml"):
            requires = ProjectBuilder(self._root, runner=self._runner).build_system_requires
        listed = ", ".join(sorted(requires)) or "nothing"
        self._emit(BuildEvent("environment", False, f"creating an isolated environment: {listed}"))
        with self._errors("create an isolated build environment"):
            env = self._stack.enter_context(DefaultIsolatedEnv())
            self._install(env, requires)
        self._emit(BuildEvent("environment", True, f"isolated environment ready: {listed}"))
        return env

    def _build(self, source: Path, distribution: Distribution, out_dir: Path, doing: str) -> Path:
        self._emit(BuildEvent(distribution, False, doing))
        with self._errors(f"build the {distribution}"):
            builder = self._builder(source)
            self._prepare(builder, distribution)
            try:
                built = Path(builder.build(distribution, out_dir))
            except Exception:
                self._diagnose(builder, distribution)
                raise
        self._emit(BuildEvent(distribution, True, f"built {built.name}"))
        return built

    def _builder(self, source: Path) -> ProjectBuilder:
        from build import ProjectBuilder

        if self._env is None:
            return ProjectBuilder(source, runner=self._runner)
        return ProjectBuilder.from_isolated_env(self._env, source, runner=self._runner)

    def _prepare(self, builder: ProjectBuilder, distribution: Distribution) -> None:
        """Install (isolated) or check (not) what the backend needs for ``distribution``.

        Without isolation only ``[build-system] requires`` is checked up front: asking
        the backend what else it needs costs a process per distribution, so that is
        asked only when the build fails (`_diagnose`), to name what is missing.
        """
        if self._env is not None:
            self._install(self._env, builder.get_requires_for_build(distribution))
            return
        _check_installed(builder.build_system_requires)

    def _diagnose(self, builder: ProjectBuilder, distribution: Distribution) -> None:
        """After a failed build here: raise a `BuildError` if a dynamic requirement is missing."""
        from build import BuildException

        if self._env is not None:
            return
        failed_output = self._runner.output
        try:
            wanted = builder.get_requires_for_build(distribution)
        except BuildException:
            return  # the build's own failure says more
        finally:
            self._runner.output = failed_output  # the failure's output, not this question's
        _check_installed(wanted)

    def _install(self, env: DefaultIsolatedEnv, requirements: Collection[str]) -> None:
        try:
            env.install(requirements)
        except subprocess.CalledProcessError as exc:
            output = _text(exc.stdout) + _text(exc.stderr)
            raise BuildError(
                f"pip could not install {', '.join(sorted(requirements))} in the isolated"
                f" build environment (exit code {exc.returncode}){_tail(output)}",
                hint="check the names in [build-system] requires and your package index"
                " (PIP_INDEX_URL); or install them here and build with --no-isolation",
            ) from None

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn pypa/build's exceptions into a `BuildError` naming the backend and its output."""
        from build import BuildBackendException, BuildException, FailedProcessError

        try:
            yield
        except BuildBackendException as exc:
            raise BuildError(
                f"the build backend {self.name} failed to {doing}: {exc}"
                f"{_tail(self._runner.output)}",
                hint=_backend_hint(exc.exception),
            ) from None
        except FailedProcessError as exc:
            output = _text(exc.exception.stdout) + _text(exc.exception.stderr)
            raise BuildError(
                f"could not {doing}: {exc}{_tail(output)}",
                hint="install virtualenv, or build with --no-isolation",
            ) from None
        except BuildException as exc:
            raise BuildError(
                f"could not {doing}: {exc}", hint="fix [build-system] in pyproject.toml"
            ) from None


def unpack_sdist(sdist: Path, into: Path) -> Path:
    """Unpack ``sdist`` into ``into`` and return its one top-level directory.

    Raises:
        BuildError: the archive is unreadable, holds more than one top-level entry, or
            has a member that would land outside ``into`` (tarfile's ``data`` filter).
    """
    try:
        with tarfile.open(sdist) as archive:
            tops = {PurePosixPath(member.name).parts[0] for member in archive.getmembers()}
            if len(tops) != 1:
                raise BuildError(
                    f"{sdist.name} holds {len(tops)} top-level entries, not one directory",
                    hint="an sdist is one directory named <name>-<version>; check the backend",
                )
            archive.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise BuildError(
            f"{sdist.name} cannot be unpacked: {exc}", hint="check the build backend's sdist"
        ) from None
    return into / tops.pop()


class _Runner:
    """A pyproject_hooks runner that keeps each hook's output instead of printing it."""

    def __init__(self) -> None:
        self.output = ""

    def __call__(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        env = {**os.environ, **(extra_environ or {})}
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        self.output = _text(done.stdout)
        _log.debug("%s\n%s", subprocess.list2cmdline(cmd), self.output.rstrip())
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, list(cmd), output=done.stdout)


def _check_installed(requirements: Collection[str]) -> None:
    from build import check_dependency

    missing = sorted(
        {unmet[0] for requirement in requirements for unmet in check_dependency(requirement)}
    )
    if missing:
        listed = " ".join(f"'{requirement}'" for requirement in missing)
        raise BuildError(
            f"the build needs {', '.join(missing)}, not installed in this environment"
            " (--no-isolation builds with what is installed)",
            hint=f"run: pip install {listed}   (or build without --no-isolation)",
        )


def _backend_hint(cause: Exception) -> str:
    import pyproject_hooks

    if isinstance(cause, pyproject_hooks.BackendUnavailable):
        return "check build-backend in [build-system] of pyproject.toml, and that requires lists it"
    return "fix the error the backend reports above; rerun with -vv for its whole output"


def _text(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode(errors="replace")


def _tail(output: str) -> str:
    """The last lines of ``output``, indented, after a newline; empty when there is none."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()][-_TAIL_LINES:]
    return "".join(f"\n  {line}" for line in lines)
