"""The static security scan: bandit's findings and pluginctl's own, mapped to permissions."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pluginctl.errors import Problem, ProjectError
from pluginctl.permissions import PermissionSet
from pluginctl.scan import Finding, ScanReport, scan_package

SCAN_FIXTURES = Path(__file__).parent / "fixtures" / "scan"
NO_PERMISSIONS = PermissionSet()
HTTP_PERMISSION = PermissionSet.parse(["http:fetch:api.example.com"])
HTTP = "http:fetch:<host>"

Row = tuple[int, str, str | None, str]


def scan(fixture: str, permissions: PermissionSet = NO_PERMISSIONS) -> ScanReport:
    return scan_package(SCAN_FIXTURES / fixture, permissions=permissions)


def rows(findings: tuple[Finding, ...]) -> list[Row]:
    return [(f.line, f.test_id, f.needs, f.severity) for f in findings]


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "my_plugin"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return package


FAMILIES: dict[str, list[Row]] = {
    "process_plugin": [
        (1, "PC131", None, "error"),  # import multiprocessing
        (3, "B404", None, "error"),  # import subprocess
        (7, "B603", None, "error"),  # subprocess.run([...])
        (7, "B607", None, "error"),  # ... with a partial path
        (8, "B602", None, "error"),  # Popen(shell=True)
        (9, "B605", None, "error"),  # os.system
        (10, "B606", None, "error"),  # os.execv
        (11, "PC132", None, "error"),  # os.fork
        (12, "PC132", None, "error"),  # multiprocessing.Process
    ],
    "dynamic_plugin": [
        (2, "B307", None, "error"),  # eval
        (3, "B102", None, "error"),  # exec
        (4, "PC141", None, "error"),  # compile
    ],
    "native_plugin": [
        (1, "PC101", None, "error"),  # import ctypes
        (3, "PC102", None, "error"),  # from cffi import FFI
        (7, "PC101", None, "error"),  # __import__("ctypes")
    ],
    "socket_plugin": [
        (1, "PC111", HTTP, "error"),  # import socket
        (2, "PC111", HTTP, "error"),  # from socket import create_connection
        (6, "PC112", HTTP, "error"),  # socket.socket(...)
        (7, "PC112", HTTP, "error"),  # create_connection(...)
    ],
    "pickle_plugin": [
        (2, "B403", None, "error"),  # import pickle
        (3, "B403", None, "error"),  # import shelve
        (7, "B301", None, "error"),  # pickle.loads
        (8, "B302", None, "error"),  # marshal.loads
        (9, "B301", None, "error"),  # shelve.open
    ],
    "generic_plugin": [
        (3, "B105", None, "warning"),  # hardcoded password: LOW/MEDIUM
        (8, "B324", None, "error"),  # md5: HIGH/HIGH; the assert on line 7 is not reported
    ],
}
HTTP_ROWS = [
    (1, "PC121", HTTP),  # from http.client import ...
    (2, "PC121", HTTP),  # from urllib.request import urlopen
    (4, "PC121", HTTP),  # import aiohttp
    (5, "PC121", HTTP),  # import httpx
    (6, "PC121", HTTP),  # import requests
    (10, "B113", HTTP),  # requests.get without a timeout
    (11, "B310", HTTP),  # urlopen
]


@pytest.mark.parametrize("fixture", sorted(FAMILIES))
def test_each_risk_family_maps_to_its_permission_and_severity(fixture: str) -> None:
    report = scan(fixture)

    assert rows(report.findings) == FAMILIES[fixture]
    assert report.package == fixture
    assert report.files == (f"{fixture}/__init__.py", f"{fixture}/plugin.py")
    assert all(f.file == f"{fixture}/plugin.py" for f in report.findings)


def test_findings_name_the_test_and_what_was_found() -> None:
    by_line = {f.line: f for f in scan("process_plugin").findings}

    fork = by_line[11]
    assert (fork.test_name, fork.message) == (
        "process_start",
        "os.fork() forks or starts processes",
    )
    assert (fork.kind, fork.bandit_severity, fork.bandit_confidence) == ("process", "HIGH", "HIGH")
    assert "forbids execve and fork" in fork.advice
    assert by_line[8].test_name == "subprocess_popen_with_shell_equals_true"
    assert by_line[3].test_name == "import_subprocess"


def test_raw_sockets_stay_errors_even_with_an_http_permission() -> None:
    report = scan("socket_plugin", HTTP_PERMISSION)

    assert rows(report.findings) == FAMILIES["socket_plugin"]
    assert all("never granted" in f.advice for f in report.findings)


def test_http_clients_are_errors_without_an_http_permission() -> None:
    report = scan("http_plugin")

    assert rows(report.findings) == [(*row, "error") for row in HTTP_ROWS]
    assert all('add "http:fetch:<host>" to permissions' in f.advice for f in report.findings)


def test_http_clients_are_warnings_with_any_http_permission() -> None:
    report = scan("http_plugin", HTTP_PERMISSION)

    assert rows(report.findings) == [(*row, "warning") for row in HTTP_ROWS]
    assert report.errors == ()
    assert all("api.http.fetch" in f.advice for f in report.warnings)


def test_a_clean_package_has_no_findings_and_tests_are_excluded() -> None:
    report = scan("clean_plugin")

    assert report.findings == report.suppressed == ()
    assert report.files == ("clean_plugin/__init__.py", "clean_plugin/plugin.py")


def test_exclude_is_relative_to_the_package() -> None:
    report = scan_package(SCAN_FIXTURES / "clean_plugin", permissions=NO_PERMISSIONS, exclude=())

    assert "clean_plugin/tests/test_plugin.py" in report.files
    assert [(f.file, f.line, f.test_id) for f in report.findings] == [
        ("clean_plugin/tests/test_plugin.py", 1, "B404"),
        ("clean_plugin/tests/test_plugin.py", 5, "B603"),
        ("clean_plugin/tests/test_plugin.py", 5, "B607"),
    ]


def test_a_syntax_error_is_a_finding_and_the_other_files_are_still_scanned() -> None:
    report = scan("broken_plugin")

    assert [(f.file, f.line, f.test_id, f.severity) for f in report.findings] == [
        ("broken_plugin/broken.py", 4, "PC001", "error"),
        ("broken_plugin/plugin.py", 2, "B307", "error"),
    ]
    broken = report.findings[0]
    assert broken.message == "could not scan: syntax error at line 4 (invalid syntax)"
    assert "broken_plugin/broken.py" not in report.files


def test_a_file_python_cannot_read_is_a_finding(tmp_path: Path) -> None:
    package = write_package(tmp_path, {"__init__.py": ""})
    (package / "binary.py").write_bytes(b"x = 1\x00\n")

    report = scan_package(package, permissions=NO_PERMISSIONS)

    [finding] = report.findings
    assert (finding.file, finding.test_id, finding.severity) == (
        "my_plugin/binary.py",
        "PC001",
        "error",
    )
    assert finding.message.startswith("could not scan: ")


def test_nosec_silences_advice_but_never_a_permission_error() -> None:
    report = scan("nosec_plugin")

    assert [(f.line, f.test_id, f.severity, f.nosec) for f in report.findings] == [
        (2, "B404", "error", True),  # subprocess: the sandbox forbids it regardless
        (3, "PC121", "error", True),  # requests without any http:fetch permission
        (9, "B324", "error", False),  # "# nosec B105" names another test
        (10, "B307", "error", True),  # eval
    ]
    assert [(f.line, f.test_id) for f in report.suppressed] == [(7, "B324"), (8, "B324")]
    assert "# nosec cannot silence a permission error" in report.findings[0].to_problem().message


def test_nosec_silences_an_http_warning_when_the_plugin_holds_http_fetch() -> None:
    report = scan("nosec_plugin", HTTP_PERMISSION)

    assert [(f.line, f.test_id) for f in report.findings] == [
        (2, "B404"),
        (9, "B324"),
        (10, "B307"),
    ]
    assert [(f.line, f.test_id) for f in report.suppressed] == [
        (3, "PC121"),
        (7, "B324"),
        (8, "B324"),
    ]


def test_to_problem_locates_the_line_and_says_what_to_do() -> None:
    finding = scan("http_plugin").findings[-1]

    assert finding.to_problem() == Problem(
        "http_plugin/plugin.py",
        "line 11",
        "B310 urllib_urlopen: Audit url open for permitted schemes. Allowing use of file:/ "
        "or custom schemes is often unexpected.",
        hint=f"{finding.advice} [needs http:fetch:<host>]",
        severity="error",
    )


def test_report_problems_and_json() -> None:
    report = scan("generic_plugin")

    assert [str(p) for p in report.problems] == [
        "generic_plugin/plugin.py: line 3: B105 hardcoded_password_string: "
        "Possible hardcoded password: 'hunter2'",
        "generic_plugin/plugin.py: line 8: B324 hashlib: "
        "Use of weak MD5 hash for security. Consider usedforsecurity=False",
    ]
    data = json.loads(json.dumps(report.to_dict()))
    assert (data["errors"], data["warnings"], data["suppressed"]) == (1, 1, [])
    assert data["findings"][1] == {
        "file": "generic_plugin/plugin.py",
        "line": 8,
        "test_id": "B324",
        "test_name": "hashlib",
        "message": "Use of weak MD5 hash for security. Consider usedforsecurity=False",
        "bandit_severity": "HIGH",
        "bandit_confidence": "HIGH",
        "needs": None,
        "severity": "error",
        "advice": "if the code is safe as written, end the line with '# nosec B324'",
        "kind": None,
        "nosec": False,
    }


def test_scans_are_deterministic() -> None:
    assert scan("process_plugin") == scan("process_plugin")


def test_a_missing_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a directory"):
        scan_package(tmp_path / "missing", permissions=NO_PERMISSIONS)


def test_scanning_prints_nothing_and_leaves_logging_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Over 50 files and a DEBUG root logger is when bandit would draw a progress bar;
    # a null byte makes bandit log an error, and "\d" makes the parser warn.
    files = {f"mod_{n:02}.py": "import subprocess\n" for n in range(60)}
    package = write_package(tmp_path, {**files, "escape.py": 'PATTERN = "\\d"\n'})
    (package / "nul.py").write_bytes(b"x = 1\x00\n")
    root, bandit = logging.getLogger(), logging.getLogger("bandit")
    before = (root.level, root.handlers[:], bandit.level, bandit.handlers[:], bandit.propagate)
    caplog.set_level(logging.DEBUG)
    root_state = (root.level, root.handlers[:])

    report = scan_package(package, permissions=NO_PERMISSIONS)

    assert capsys.readouterr() == ("", "")
    assert (root.level, root.handlers) == root_state
    assert (bandit.level, bandit.handlers, bandit.propagate) == before[2:]
    assert len(report.files) == 61
    assert [f.file for f in report.findings if f.test_id == "PC001"] == ["my_plugin/nul.py"]
    forwarded = [r for r in caplog.records if r.name == "pluginctl.scan"]
    assert forwarded
    assert all(r.levelno == logging.DEBUG for r in forwarded)
    assert not [r for r in caplog.records if r.name.startswith("bandit")]


def test_importing_the_module_does_not_import_bandit_and_scanning_is_silent() -> None:
    code = (
        "import sys, warnings\n"
        "from pathlib import Path\n"
        "import pluginctl.scan\n"
        "assert 'bandit' not in sys.modules\n"
        "formatwarning = warnings.formatwarning\n"
        "from pluginctl.permissions import PermissionSet\n"
        f"pluginctl.scan.scan_package(Path({str(SCAN_FIXTURES / 'process_plugin')!r}),"
        " permissions=PermissionSet())\n"
        "assert 'bandit' in sys.modules\n"
        "assert warnings.formatwarning is formatwarning\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
