"""Real clients against ``pluginctl registry serve`` and against pypiserver, in one run.

Both servers hold the same files: a signed plugin ``bench-demo`` that depends on a
library ``bench-helper``. Each timed command is a fresh process with no cache, so
every run downloads the index pages and both wheels; subject and anchor alternate.

Metrics:
    pip_install_s: ``pip install --no-cache-dir --target DIR bench-demo`` from the
        registry's simple API; against the same from pypiserver; goal <= 1.0.
    uv_install_s: the same with ``uv pip install --no-cache --target DIR``; goal <= 1.0.
    upload_s: ``pluginctl publish --repository-url`` of one new signed wheel to the
        registry (pre-flight included: verify, metadata, the index's listing); against
        ``twine upload`` of the same kind of wheel to pypiserver; goal <= 1.0.
    simple_index_rps: ``GET /simple/bench-demo/`` (PEP 691 JSON) from 16 concurrent
        loopback connections for a fixed time (wrk when installed, else asyncio httpx);
        against pypiserver's ``/simple/bench-demo/`` under the same load; higher is
        better; goal >= 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench._errors import BenchError
from bench._indexes import PYPISERVER_PASSWORD, PYPISERVER_USER, Server, pypiserver, registry_serve
from bench._wheels import library_wheel, plugin_wheel
from bench._workers import Spec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bench._metric import Metric
    from pluginctl.signing.keys import SigningKey

__all__ = ["measure_clients"]

PYPISERVER = "the same files served by pypiserver"
PIP = Spec("pip_install_s", "s", f"pip install from {PYPISERVER}", "<= 1.0")
UV = Spec("uv_install_s", "s", f"uv pip install from {PYPISERVER}", "<= 1.0")
UPLOAD = Spec("upload_s", "s", "twine upload to pypiserver", "<= 1.0")
RPS = Spec("simple_index_rps", "req/s", "pypiserver /simple/<project>/", ">= 2")
_CONCURRENCY = 16
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


@dataclass(frozen=True, slots=True)
class _Setup:
    root: Path
    registry: Server
    anchor: Server
    token: str
    uploads: list[Path]
    env: dict[str, str]


def measure_clients(*, quick: bool) -> list[Metric]:
    """The four client metrics; ``quick`` runs each pair a few times and loads for 1 s."""
    runs = 3 if quick else 10
    seconds = 1.0 if quick else 4.0
    measures: list[tuple[Spec, Callable[[_Setup], Metric]]] = [
        (PIP, lambda setup: _install(PIP, setup, _pip_command, runs)),
        (UV, lambda setup: _install(UV, setup, _uv_command, runs)),
        (UPLOAD, lambda setup: _uploads(setup, runs)),
        (RPS, lambda setup: _rps(setup, seconds=seconds)),
    ]
    try:
        with _servers(uploads=runs + 1) as setup:
            return [_guarded(spec, measure, setup) for spec, measure in measures]
    except (BenchError, OSError, subprocess.CalledProcessError) as exc:
        return [spec.failed(str(exc)) for spec, _ in measures]


def _guarded(spec: Spec, measure: Callable[[_Setup], Metric], setup: _Setup) -> Metric:
    try:
        return measure(setup)
    except (BenchError, OSError, subprocess.CalledProcessError) as exc:
        return spec.failed(str(exc))


@contextlib.contextmanager
def _servers(*, uploads: int) -> Iterator[_Setup]:
    import tempfile

    from pluginctl.registry.store import RegistryStore
    from pluginctl.signing.keys import SigningKey
    from pluginctl.signing.trust import TrustStore

    with tempfile.TemporaryDirectory(prefix="bench-registry-") as scratch:
        root = Path(scratch)
        env = {**os.environ, "XDG_CONFIG_HOME": str(root / "config")}
        env.pop("PLUGINCTL_SIGNING_KEY", None)
        key = SigningKey.generate("bench")
        store = RegistryStore(root / "registry")
        user_trust = root / "config" / "pluginctl" / "trust.toml"
        user_trust.parent.mkdir(parents=True)
        TrustStore.load(project_file=root / "none.toml", user_file=user_trust).trust(
            key.public, name="bench", projects=["*"]
        )  # the publisher's pre-flight and the registry both read the user's store
        trust_file = root / "registry" / "pluginctl.trust.toml"
        TrustStore.load(project_file=trust_file, user_file=user_trust).trust(
            key.public, name="bench", projects=["*"], project=True
        )
        files = _files(root / "dist", key)
        for file in files:
            store.publish(file)
        packages = root / "pypiserver"
        packages.mkdir()
        for file in files:
            shutil.copy(file, packages)
        token = _token(store.root)
        upload_files = [
            plugin_wheel(root / "uploads", key, "bench-upload", f"1.0.{i}")
            for i in range(uploads * 2)
        ]
        with (
            registry_serve(store.root, env=env) as registry,
            pypiserver(packages, root / "htpasswd") as anchor,
        ):
            yield _Setup(root, registry, anchor, token, upload_files, env)


def _files(directory: Path, key: SigningKey) -> list[Path]:
    directory.mkdir(parents=True)
    return [
        library_wheel(directory, "bench-helper", "1.0"),
        plugin_wheel(directory, key, "bench-demo", "1.0", requires=["bench-helper"]),
    ]


def _token(registry: Path) -> str:
    command = [sys.executable, "-m", "pluginctl", "registry", "token", "create", "bench"]
    done = subprocess.run(
        [*command, "--project", "*", "--registry", str(registry), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)["secret"])


# ---------------------------------------------------------------- installs


def _pip_command(simple: str, target: Path) -> list[str]:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--no-input"]
    options = ["--disable-pip-version-check", "--target", str(target), "--index-url", simple]
    return [*pip, *options, "bench-demo"]


def _uv_command(simple: str, target: Path) -> list[str]:
    uv = shutil.which("uv") or _uv_from_package()
    command = [uv, "pip", "install", "--quiet", "--no-cache", "--target", str(target)]
    return [*command, "--index-url", simple, "bench-demo"]


def _uv_from_package() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise BenchError("uv is not installed (it comes with pluginctl's test extra)") from None
    return str(find_uv_bin())


def _install(
    spec: Spec, setup: _Setup, command: Callable[[str, Path], list[str]], runs: int
) -> Metric:
    subject: list[float] = []
    anchor: list[float] = []
    for index in range(runs + 1):  # the first of each is a warm-up
        for server, samples in ((setup.registry, subject), (setup.anchor, anchor)):
            target = setup.root / f"target-{spec.name}-{index}-{server.pid}"
            seconds = _time(command(server.simple, target))
            shutil.rmtree(target, ignore_errors=True)
            if index:
                samples.append(seconds)
    return spec.compare(subject, anchor)


def _time(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"`{' '.join(command[:4])}` failed: {done.stderr.strip()[-400:]}")
    return elapsed


# ---------------------------------------------------------------- uploads


def _uploads(setup: _Setup, runs: int) -> Metric:
    subject: list[float] = []
    anchor: list[float] = []
    files = iter(setup.uploads)
    for index in range(runs + 1):
        ours = _time(
            [
                *(sys.executable, "-m", "pluginctl", "publish"),
                *("--repository-url", setup.registry.url, "-u", "__token__", "-p", setup.token),
                str(next(files)),
            ],
            setup.env,
        )
        theirs = _time(
            [
                *(sys.executable, "-m", "twine", "upload", "--disable-progress-bar"),
                *("--non-interactive", "--repository-url", setup.anchor.url),
                *("-u", PYPISERVER_USER, "-p", PYPISERVER_PASSWORD, str(next(files))),
            ]
        )
        if index:
            subject.append(ours)
            anchor.append(theirs)
    return UPLOAD.compare(subject, anchor)


# ---------------------------------------------------------------- index reads


def _rps(setup: _Setup, *, seconds: float) -> Metric:
    """Requests a second under load: wrk (C, one thread) when installed, else asyncio httpx.

    The load generator shares the machine's two cores with the server, so a slow one
    (Python) caps both servers alike; wrk leaves the server most of a core.
    """
    wrk = shutil.which("wrk")
    ours_url = f"{setup.registry.simple}bench-demo/"
    theirs_url = f"{setup.anchor.simple}bench-demo/"
    if wrk is not None:
        ours, theirs = _wrk(wrk, ours_url, seconds), _wrk(wrk, theirs_url, seconds)
    else:
        ours = asyncio.run(_load(ours_url, seconds))
        theirs = asyncio.run(_load(theirs_url, seconds))
    extra = {"concurrency": _CONCURRENCY, "seconds": seconds, "loader": "wrk" if wrk else "httpx"}
    return RPS.compare([ours], [theirs], extra=extra)


def _wrk(wrk: str, url: str, seconds: float) -> float:
    done = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{_CONCURRENCY}",
            f"-d{max(1, round(seconds))}s",
            "-H",
            f"Accept: {_ACCEPT}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if found is None or errors is not None:
        raise BenchError(f"wrk against {url}: {done.stdout.strip()[-300:]}")
    return float(found.group(1))


async def _load(url: str, seconds: float) -> float:
    import httpx

    headers = {"Accept": _ACCEPT}
    limits = httpx.Limits(max_connections=_CONCURRENCY)
    count = 0
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
        await client.get(url)  # warm
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                response = await client.get(url)
                if response.status_code != 200:
                    raise BenchError(f"{url} answered {response.status_code} under load")
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(_CONCURRENCY)))
        elapsed = time.perf_counter() - start
    return count / elapsed
