"""The tutorial works as written: its shell blocks run in order, in a fresh environment.

Every ``console`` block of the tutorial's pages (in their order in mkdocs.yml) is run
command by command in a temporary directory with its own home, after a fresh virtual
environment and an install of this checkout, as a reader would type them. A command
must exit 0, or with the code an ``echo $?`` right after it shows. Output lines are
checked where they are stable: a JSON line must be the command's output (a reload
gets a few seconds to show), and an ``error:`` line must be in it.

HTML comments in the pages do what the reader is told to do in words:

- ``<!-- tutorial: background -->``: the next block's command runs in the background
  until ``<!-- tutorial: stop -->`` (SIGINT, as Ctrl-C sends);
- ``<!-- tutorial: append PATH -->``, ``<!-- tutorial: write PATH -->``: the next
  block's text is added to the file (after two blank lines), or becomes the file;
- ``<!-- tutorial: replace-function PATH NAME -->``: the next block replaces the
  top-level function NAME (with its decorators);
- ``<!-- tutorial: replace PATH 'OLD' 'NEW' -->``: OLD, once in the file, becomes NEW
  (``\\n`` for a newline);
- ``<!-- tutorial: skip -->``: the next block is not run.

The reader's clone of pluginctl (``~/src/pluginctl``) is this checkout; the gateway's
port 8700 is replaced by a free one.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLONE = "~/src/pluginctl"
PASSPHRASE = "correct horse battery staple"  # noqa: S105  # what the reader types, in a test
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
_DIRECTIVE = re.compile(r"^<!-- tutorial: (.+?) -->\n", re.M)
_SERVING = re.compile(r"serving on http://127\.0\.0\.1:\d+")


def tutorial_pages() -> list[Path]:
    """The pages under "Tutorial" in mkdocs.yml's nav, in order."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (section,) = (entry["Tutorial"] for entry in config["nav"] if "Tutorial" in entry)
    return [DOCS / next(iter(item.values())) for item in section]


@dataclass(frozen=True, slots=True)
class Command:
    line: str
    expected: list[str]
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the reader does: run commands, start or stop a server, edit a file."""

    kind: str  # "run", "background", "stop", "edit"
    commands: tuple[Command, ...] = ()
    action: str = ""
    text: str = ""


def steps(page: Path) -> Iterator[Step]:
    """The page's steps, in the order the reader meets them."""
    text = page.read_text()
    pending: str | None = None
    for match in re.finditer(rf"{_DIRECTIVE.pattern}|{_FENCE.pattern}", text, re.S | re.M):
        directive, lang, body = match.group(1), match.group(2), match.group(3)
        if directive is not None:
            if directive == "stop":
                yield Step("stop")
            elif directive.startswith(("append ", "write ", "replace")):
                if directive.startswith("replace "):
                    yield Step("edit", action=directive)
                else:
                    pending = directive
            else:
                pending = directive
            continue
        if pending is not None and pending != "background":
            if pending != "skip":
                yield Step("edit", action=pending, text=body)
            pending = None
            continue
        if lang == "console":
            kind = "background" if pending == "background" else "run"
            yield Step(kind, commands=tuple(parse_console(body)))
        pending = None


def parse_console(body: str) -> list[Command]:
    """``$ command`` lines with the output shown under each; ``echo $?`` sets the code."""
    found: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found and found[-1][0].endswith("\\"):
            found[-1] = (found[-1][0][:-1] + line.strip(), found[-1][1])
        elif found:
            found[-1][1].append(line)
    commands: list[Command] = []
    for line, expected in found:
        if line == "echo $?" and commands:
            last = commands.pop()
            commands.append(Command(last.line, last.expected, int(expected[0])))
        else:
            commands.append(Command(line, expected))
    return commands


@dataclass
class Reader:
    """The reader's shell: a working directory, an environment, servers left running."""

    home: Path
    port: int
    env: dict[str, str]
    cwd: Path
    background: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def run(self, command: Command) -> None:
        line = self.adapt(command.line)
        if line.startswith("cd "):
            self.cwd = (self.cwd / line[3:]).resolve()
            return
        if line == "source .venv/bin/activate":
            venv = self.cwd / ".venv"
            self.env["VIRTUAL_ENV"] = str(venv)
            self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env['PATH']}"
            return
        json_lines = [json.loads(out) for out in command.expected if out.startswith("{")]
        deadline = time.monotonic() + (10 if json_lines else 0)
        while True:
            done = self.shell(line)
            output = done.stdout + done.stderr
            if not json_lines or _json_output(done.stdout) == json_lines:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"$ {line}\nprinted {done.stdout!r}, not {json_lines}")
            time.sleep(0.2)
        if done.returncode != command.exit_code:
            pytest.fail(f"$ {line}\nexited {done.returncode}, not {command.exit_code}\n{output}")
        for expected in command.expected:
            if expected.startswith("error:"):
                assert self.adapt(expected) in output, f"$ {line}\n{output}"

    def shell(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line],
            cwd=self.cwd,
            env=self.env,
            input="y\n",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def start(self, command: Command) -> None:
        line = self.adapt(command.line)
        if line.startswith("pluginctl ") and "--port" not in line:
            line += f" --port {self.port}"
        log = self.home / f"background-{len(self.background)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {line}"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((process, log))
        deadline = time.monotonic() + 60
        while not _SERVING.search(log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"$ {line}\ndid not start serving:\n{log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, log = self.background.pop()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"Ctrl-C did not stop the server:\n{log.read_text()}")

    def stop_all(self) -> None:
        for process, _ in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def edit(self, action: str, text: str) -> None:
        verb, *args = shlex.split(action)
        path = self.cwd / args[0]
        if verb == "write":
            path.write_text(text)
        elif verb == "append":  # after two blank lines, as PEP 8 has it
            path.write_text(path.read_text() + "\n\n" + text)
        elif verb == "replace-function":
            path.write_text(_replace_function(path.read_text(), args[1], text))
        elif verb == "replace":
            old, new = (arg.replace("\\n", "\n") for arg in args[1:])
            source = path.read_text()
            assert source.count(old) == 1, f"{old!r} is not once in {path}"
            path.write_text(source.replace(old, new))
        else:
            pytest.fail(f"unknown tutorial directive {action!r}")

    def adapt(self, text: str) -> str:
        return (
            text.replace(CLONE, str(ROOT))
            .replace("127.0.0.1:8700", f"127.0.0.1:{self.port}")
            .replace("/home/you", str(self.home))
        )


def _json_output(stdout: str) -> list[object]:
    try:
        return [json.loads(line) for line in stdout.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return []


def _replace_function(source: str, name: str, replacement: str) -> str:
    tree = ast.parse(source)
    (node,) = (
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
    )
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    assert node.end_lineno is not None
    lines = source.splitlines(keepends=True)
    return "".join([*lines[: first - 1], replacement, *lines[node.end_lineno :]])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(home: Path) -> dict[str, str]:
    """The reader's environment: a home of their own, no virtual environment active."""
    venv_bin = str(Path(sys.prefix) / "bin")
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "PLUGINCTL_", "VIRTUAL_ENV", "PYTHON", "XDG_", "PIP_"))
    }
    path = [entry for entry in kept.get("PATH", "").split(os.pathsep) if entry != venv_bin]
    return {
        **kept,
        "HOME": str(home),
        "PATH": os.pathsep.join(path),
        "PLUGINCTL_KEY_PASSPHRASE": PASSPHRASE,  # what the reader types when asked
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "COLUMNS": "200",
    }


def test_the_tutorial_pages_are_found_in_order() -> None:
    names = [page.name for page in tutorial_pages()]
    assert names == ["first-plugin.md", "database.md", "publish-and-install.md"]
    for page in tutorial_pages():
        assert any(step.kind == "run" for step in steps(page)), page


@pytest.mark.timeout(1200)
def test_the_tutorial_runs_start_to_finish(tmp_path: Path) -> None:
    home = tmp_path / "you"
    home.mkdir()
    reader = Reader(home=home, port=_free_port(), env=_environment(home), cwd=home)
    try:
        for page in tutorial_pages():
            for step in steps(page):
                if step.kind == "edit":
                    reader.edit(step.action, step.text)
                elif step.kind == "stop":
                    reader.stop()
                elif step.kind == "background":
                    (command,) = step.commands
                    reader.start(command)
                else:
                    for command in step.commands:
                        reader.run(command)
            assert not reader.background, f"{page.name} leaves a server running"
    finally:
        reader.stop_all()
