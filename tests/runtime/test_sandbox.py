"""The OS sandbox: what a plugin keeps, and that every layer is applied and reported.

What the sandbox refuses — files outside the plugin's own, internet sockets, new
processes and programs, forbidden system calls — is the chaos matrix
(`tests/runtime/test_chaos.py`), each with its audit record. These run on Linux with
Landlock and libseccomp, as CI does; elsewhere each layer that is missing is reported
by `probe`, and the tests that need it skip saying so.
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path

import pytest

from pluginctl.runtime.audit import read
from pluginctl.runtime.loop import loop_name
from tests.runtime.host_harness import FIXTURES, needs_sandbox, running_host


@needs_sandbox
def test_a_plugin_reads_and_writes_what_is_its_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "snoop", data_dir=tmp_path) as (host, _):
            snoop = host.endpoint("snoop")
            assert snoop is not None
            own = str(snoop.data_dir)
            assert await snoop.call("export", "write_own", [own], {}) == "kept"
            manifest = str(snoop.source.manifest_path)  # its own code: readable
            assert await snoop.call("export", "read", [manifest], {}) > 0  # type: ignore[operator]
            assert snoop.sandbox_denied == {}

    asyncio.run(asyncio.wait_for(scenario(), 30))


@needs_sandbox
def test_a_plugin_reads_the_mime_types_the_standard_library_looks_up(tmp_path: Path) -> None:
    """``mimetypes`` reads the system's tables on first use (openpyxl does, at import)."""
    tables = [path for path in mimetypes.knownfiles if Path(path).is_file()]
    if not tables:
        pytest.skip("this machine has no MIME types table")

    async def scenario() -> None:
        async with running_host(FIXTURES / "snoop", data_dir=tmp_path) as (host, _):
            snoop = host.endpoint("snoop")
            assert snoop is not None
            assert await snoop.call("export", "read", [tables[0]], {}) > 0  # type: ignore[operator]
            assert snoop.sandbox_denied == {}

    asyncio.run(asyncio.wait_for(scenario(), 30))


@needs_sandbox
def test_threads_start_where_processes_cannot(tmp_path: Path) -> None:
    """seccomp refuses fork, vfork and a clone that is not a thread: threads still start."""

    async def scenario() -> None:
        async with running_host(FIXTURES / "greedy", data_dir=tmp_path) as (host, _):
            greedy = host.endpoint("greedy")
            assert greedy is not None
            assert await greedy.call("export", "threads", [20], {}) == 20  # a def, in a thread
            pools = await greedy.call("export", "thread_pools", [], {})
            assert isinstance(pools, dict)
            assert pools["executor"] is True  # the loop's executor
            assert pools["resolved"] == "127.0.0.1"  # libuv's thread pool, under uvloop
            assert pools["loop"].startswith("uvloop" if loop_name() == "uvloop" else "asyncio")
            assert greedy.sandbox_denied == {}

    asyncio.run(asyncio.wait_for(scenario(), 30))


@needs_sandbox
def test_every_layer_is_applied_and_written_to_the_audit_log(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "snoop", data_dir=tmp_path):
            pass

    asyncio.run(asyncio.wait_for(scenario(), 30))
    records = [r for r in read(tmp_path / "audit.jsonl") if r["event"] == "sandbox"]
    layers = records[0]["layers"]
    assert isinstance(layers, dict)
    assert set(layers) == {"no_new_privs", "landlock", "seccomp"}
    assert "no new processes or programs (threads only)" in layers["seccomp"]
    assert records[0]["missing"] == {}
