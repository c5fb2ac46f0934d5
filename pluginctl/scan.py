"""A static security scan of a plugin's code, each finding mapped to the permission it needs.

`scan_package` runs bandit's manager over a plugin's package directory (through
bandit's Python API, in this process) and turns each issue into a `Finding`
that says what the worker sandbox would do with that code. bandit's own tests keep
their ids (``B602``); what bandit does not look for, pluginctl adds as ``PC1xx``
checks, run by bandit's blacklist matcher but added to this scan's test set only, so
nothing is registered for other bandit users on the machine.

Each finding has a kind, which decides the permission it ``needs`` and its severity:

``http`` -- B113 B310 B501, and PC121 (imports of urllib.request, http.client, requests,
    httpx, aiohttp, urllib3). Needs ``http:fetch:<host>``. A warning (use
    ``api.http.fetch``) if the plugin holds any ``http:fetch`` permission, else an error.
``socket`` -- PC111 (socket imports), PC112 (socket.socket, create_connection, ...),
    B312 B321 B401 B402 (telnet, ftp). Needs ``http:fetch:<host>``, but always an error:
    raw sockets are never granted.
``process`` -- B404 B602 B603 B605 B606 B607 B609, PC131 (multiprocessing imports),
    PC132 (os.fork, posix_spawn, multiprocessing.Process, ...). Needs None: an error.
``native`` -- PC101 (ctypes), PC102 (cffi). Needs None: an error.
``dynamic-code`` -- B102 (exec), B307 (eval), PC141 (compile). Needs None: an error.
``deserialization`` -- B301 (pickle, shelve), B302 (marshal), B403, B614 (torch.load).
    Needs None: an error.
no kind -- every other bandit test but B101 (assert_used, skipped). Needs None: an error
    when bandit rates it HIGH severity and HIGH confidence, else a warning.

``needs`` is the permission the work needs once it goes through the host's
``api.http.fetch``; the sandbox blocks internet sockets in the worker either way.
A file bandit cannot parse is a ``PC001`` error ("could not scan: ...").

``# nosec`` (bare, or naming test ids or names as bandit reads it) silences advice:
bandit's own findings and http findings of a plugin holding ``http:fetch``. It never
silences a permission error, since the sandbox blocks that code regardless; such a
finding is reported with ``nosec=True``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import logging
import logging.handlers
import re
import threading
import tokenize
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from pluginctl.errors import Problem, ProjectError
from pluginctl.scan_rules import (
    HTTP_ADVICE_HELD,
    KINDS,
    NOSEC_ADVICE,
    RULES,
    SKIPPED_TESTS,
    UNSCANNABLE,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from pluginctl.permissions import PermissionSet

__all__ = ["Finding", "ScanReport", "scan_package"]

LOG = logging.getLogger(__name__)

Severity = Literal["error", "warning"]


_SCAN_LOCK = threading.Lock()  # bandit's loggers are shared; one scan holds them at a time
_NOSEC = re.compile(r"#\s*nosec:?\s*(?P<tests>[^#]*)")


@dataclass(frozen=True, slots=True)
class Finding:
    """One risky construct in a plugin's code and what the sandbox makes of it.

    Attributes:
        file: The module, relative to the package's parent (``my_plugin/plugin.py``).
        line: The 1-based line bandit reported; 0 when the whole file is meant.
        test_id: bandit's test id (``B602``), or pluginctl's own (``PC112``).
        test_name: The test's name (``subprocess_popen_with_shell_equals_true``).
        message: What was found.
        bandit_severity: bandit's rating: ``LOW``, ``MEDIUM``, ``HIGH`` (``UNDEFINED``
            for a file that could not be scanned).
        bandit_confidence: bandit's confidence, rated the same way.
        needs: The permission the work needs (through the host API), or None when no
            permission can grant it.
        severity: ``"error"`` fails validation, ``"warning"`` does not.
        advice: What to do instead.
        kind: ``http``, ``socket``, ``process``, ``native``, ``dynamic-code``,
            ``deserialization``, or None for a finding that maps to no permission.
        nosec: The line carries a ``# nosec`` for this finding that pluginctl does not honour.
    """

    file: str
    line: int
    test_id: str
    test_name: str
    message: str
    bandit_severity: str
    bandit_confidence: str
    needs: str | None
    severity: Severity
    advice: str
    kind: str | None = None
    nosec: bool = False

    def to_problem(self) -> Problem:
        """This finding as a validation `pluginctl.errors.Problem`."""
        message = f"{self.test_id} {self.test_name}: {self.message}"
        if self.nosec:
            message += " (# nosec cannot silence a permission error)"
        hint = self.advice if self.needs is None else f"{self.advice} [needs {self.needs}]"
        key = f"line {self.line}" if self.line else ""
        return Problem(self.file, key, message, hint=hint, severity=self.severity)

    def to_dict(self) -> dict[str, object]:
        """The finding as plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What `scan_package` found, sorted by file, line and test id.

    Attributes:
        package: The scanned package's directory name.
        files: The modules scanned, relative to the package's parent.
        findings: Every finding reported.
        suppressed: Findings a ``# nosec`` comment silenced.
    """

    package: str
    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    suppressed: tuple[Finding, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that fail validation."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings that do not."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every finding as a `pluginctl.errors.Problem`."""
        return tuple(f.to_problem() for f in self.findings)

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-ready values (for ``--json``)."""
        return {
            "package": self.package,
            "files": list(self.files),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [f.to_dict() for f in self.suppressed],
        }


def scan_package(
    package_dir: Path, *, permissions: PermissionSet, exclude: Sequence[str] = ("tests",)
) -> ScanReport:
    r"""Scan every module under ``package_dir`` with bandit and pluginctl's own checks.

    Nothing is printed: bandit's log records and any warnings are held during the
    scan and passed on at DEBUG level through this module's logger. bandit is
    imported on first use. Scans in threads run one at a time.

    Args:
        package_dir: The plugin's package directory (the one holding ``__init__.py``).
        permissions: The permissions the plugin holds, from its ``plugin.toml``.
        exclude: Paths relative to ``package_dir`` not to scan; a directory excludes
            everything under it.

    Returns:
        The findings, sorted by file, line and test id.

    Raises:
        ProjectError: ``package_dir`` is not a directory.

    Example:
        >>> import tempfile
        >>> from pluginctl.permissions import PermissionSet
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     package = Path(tmp, "demo")
        ...     package.mkdir()
        ...     _ = (package / "plugin.py").write_text("import os\nos.fork()\n")
        ...     report = scan_package(package, permissions=PermissionSet())
        >>> [(f.file, f.line, f.test_id, f.needs, f.severity) for f in report.findings]
        [('demo/plugin.py', 2, 'PC132', None, 'error')]
    """
    root = package_dir.resolve()
    if not root.is_dir():
        raise ProjectError(
            f"cannot scan {package_dir}: not a directory",
            hint="pass the plugin's package directory, the one holding __init__.py",
        )
    excluded = [PurePosixPath(entry).parts for entry in exclude]
    with _SCAN_LOCK, _contained():
        files, found, skipped = _run_bandit(root, excluded)
    holds_http = any(p.capability == "http:fetch" for p in permissions.permissions)
    findings = [_judged(finding, holds_http=holds_http) for finding in found]
    findings += [_unscannable(path, reason, root.parent) for path, reason in skipped]
    findings.sort(key=lambda f: (f.file, f.line, f.test_id))
    return ScanReport(
        package=root.name,
        files=tuple(_relative(path, root.parent) for path in files),
        findings=tuple(f for f in findings if not _suppressed(f)),
        suppressed=tuple(f for f in findings if _suppressed(f)),
    )


_Run = tuple[list[Path], list[Finding], list[tuple[Path, str]]]  # files, findings, skipped


def _run_bandit(root: Path, excluded: Sequence[tuple[str, ...]]) -> _Run:
    manager_module, config_module, extensions = _load_bandit()
    profile = {"include": set(), "exclude": set(SKIPPED_TESTS)}
    # bandit reads `# nosec` itself only to drop findings; pluginctl decides per finding.
    manager = manager_module.BanditManager(
        config_module.BanditConfig(), "file", quiet=True, profile=profile, ignore_nosec=True
    )
    for node_type in _pluginctl_blacklist.__dict__["_config"]:
        manager.b_ts.tests.setdefault(node_type, []).append(_pluginctl_blacklist)
    manager.discover_files([str(root)], recursive=True)
    manager.files_list = [
        name for name in manager.files_list if not _is_excluded(Path(name), root, excluded)
    ]
    manager.run_tests()
    names = {test_id: rule.name for test_id, rule in RULES.items() if rule.name}
    names |= {test_id: str(b["name"]) for test_id, b in extensions.MANAGER.blacklist_by_id.items()}
    comments = functools.cache(_nosec_comments)  # per scan: files change between scans
    found = [_read_issue(i, root.parent, names, comments) for i in manager.get_issue_list()]
    skipped = [(Path(name), str(reason)) for name, reason in manager.get_skipped()]
    return [Path(name) for name in manager.files_list], found, skipped


def _read_issue(
    issue: Any,
    base: Path,
    names: Mapping[str, str],
    comments: Callable[[Path], dict[int, frozenset[str]]],
) -> Finding:
    """A finding from a bandit issue, before the plugin's permissions are weighed."""
    path, test_id = Path(str(issue.fname)), str(issue.test_id)
    test_name = names.get(test_id, str(issue.test))
    kind = RULES[test_id].kind if test_id in RULES else None
    nosec = comments(path)
    lines = {int(issue.lineno), *(int(n) for n in issue.linerange)}
    wanted = {test_id.lower(), test_name.lower()}
    return Finding(
        file=_relative(path, base),
        line=int(issue.lineno),
        test_id=test_id,
        test_name=test_name,
        message=str(issue.text),
        bandit_severity=str(issue.severity),
        bandit_confidence=str(issue.confidence),
        needs=KINDS[kind].needs if kind else None,
        severity="error",
        advice=KINDS[kind].advice if kind else NOSEC_ADVICE.format(test_id=test_id),
        kind=kind,
        nosec=any(not nosec[n] or nosec[n] & wanted for n in lines if n in nosec),
    )


def _judged(finding: Finding, *, holds_http: bool) -> Finding:
    """``finding`` with the severity the plugin's permissions give it."""
    if finding.kind is None:
        high = (finding.bandit_severity, finding.bandit_confidence) == ("HIGH", "HIGH")
        return finding if high else replace(finding, severity="warning")
    if finding.kind == "http" and holds_http:
        return replace(finding, severity="warning", advice=HTTP_ADVICE_HELD)
    return finding


def _load_bandit() -> tuple[Any, Any, Any]:
    """Import bandit's manager, config and extension loader, undoing import-time effects."""
    formatwarning = warnings.formatwarning  # bandit.core.tester replaces it on import
    stray = io.StringIO()  # the extension loader prints plugins without an id to stderr
    try:
        with contextlib.redirect_stderr(stray):  # importing loads every bandit plugin
            from bandit.core import config, extension_loader, manager
    finally:
        warnings.formatwarning = formatwarning
    if stray.getvalue():
        LOG.debug("bandit: %s", stray.getvalue().strip())
    return manager, config, extension_loader


def _pluginctl_blacklist(context: object, config: object) -> object:
    """The PC1xx checks: bandit's blacklist matcher run over pluginctl's own table."""
    from bandit.core.blacklisting import blacklist  # bandit is imported lazily

    result: object = blacklist(context, config)
    return result


def _blacklist_config() -> dict[str, list[dict[str, object]]]:
    imports: list[dict[str, object]] = []
    calls: list[dict[str, object]] = []
    for test_id, rule in RULES.items():
        entry = {"id": test_id, "name": rule.name, "level": rule.level, "cwe": 0}
        does = KINDS[rule.kind].does
        for module in rule.imports:  # the Call entry catches __import__("ctypes")
            imports.append(
                {**entry, "qualnames": [module], "message": f"imports {module}, which {does}"}
            )
            calls.append(imports[-1])
        if rule.calls:  # bandit puts the called name in for {name}
            calls.append({**entry, "qualnames": list(rule.calls), "message": "{name}() " + does})
    return {"Import": imports, "ImportFrom": imports, "Call": calls}


# bandit's test set reads these attributes, as its @test_id and @takes_config decorators set them.
_pluginctl_blacklist.__dict__.update(_test_id="PC100", _config=_blacklist_config())


def _unscannable(path: Path, reason: str, base: Path) -> Finding:
    line, detail = _syntax_error(path)
    message = f"could not scan: syntax error at line {line} ({detail})" if line else ""
    return Finding(
        file=_relative(path, base),
        line=line,
        test_id=UNSCANNABLE,
        test_name="unscannable",
        message=message or f"could not scan: {reason}",
        bandit_severity="UNDEFINED",
        bandit_confidence="UNDEFINED",
        needs=None,
        severity="error",
        advice=f"make the module valid Python; python -m py_compile {path.name} shows where",
    )


def _syntax_error(path: Path) -> tuple[int, str]:
    """The line and text of the syntax error in ``path``, or ``(0, "")`` if there is none."""
    try:
        ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        return exc.lineno or 1, exc.msg
    except (OSError, ValueError):
        return 0, ""
    return 0, ""


def _suppressed(finding: Finding) -> bool:
    """Whether a ``# nosec`` hides the finding: advice yes, a permission error never."""
    return finding.nosec and not (finding.kind is not None and finding.severity == "error")


def _nosec_comments(path: Path) -> dict[int, frozenset[str]]:
    """Line -> the tests (ids or names, lower case) its ``# nosec`` names; empty means all."""
    found: dict[int, frozenset[str]] = {}
    with path.open("rb") as source, contextlib.suppress(tokenize.TokenError, SyntaxError):
        for token in tokenize.tokenize(source.readline):
            match = _NOSEC.search(token.string) if token.type == tokenize.COMMENT else None
            if match:
                tests = re.findall(r"[A-Za-z0-9_]+", match["tests"])
                found[token.start[0]] = frozenset(t.lower() for t in tests)
    return found


def _is_excluded(path: Path, root: Path, excluded: Sequence[tuple[str, ...]]) -> bool:
    parts = path.relative_to(root).parts
    return any(parts[: len(entry)] == entry for entry in excluded if entry)


def _relative(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


@contextlib.contextmanager
def _contained() -> Iterator[None]:
    """Hold bandit's log records and any warnings, then pass them on at DEBUG through ``LOG``.

    Warnings come from bandit's imports and from parsing plugin code (invalid escape
    sequences); the logger level also keeps bandit from drawing a progress bar.
    """
    holder = logging.handlers.BufferingHandler(capacity=10_000)  # past that, records are dropped
    loggers = [logging.getLogger(name) for name in ("bandit", "stevedore")]
    saved = [(logger, logger.level, logger.propagate, logger.handlers[:]) for logger in loggers]
    for logger in loggers:
        logger.handlers = [holder]
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for logger, level, propagate, handlers in saved:
            logger.handlers = handlers
            logger.propagate = propagate
            logger.setLevel(level)
        for record in holder.buffer:
            LOG.debug("%s: %s", record.name, record.getMessage())
    for warning in caught:
        LOG.debug("%s: %s", warning.category.__name__, warning.message)
