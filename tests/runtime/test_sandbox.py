"""The OS sandbox: a plugin that goes around the host API is stopped, with the reason.

These run on Linux with Landlock and libseccomp, as CI does; elsewhere each layer
that is missing is reported by `probe`, and the tests that need it skip saying so.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import RemoteError, WorkerCrashed
from pluginctl.runtime.audit import read
from pluginctl.runtime.loop import loop_name
from pluginctl.runtime.sandbox import probe
from tests.runtime.host_harness import EXAMPLES, FIXTURES, running_host

if TYPE_CHECKING:
    from pathlib import Path

SUPPORT = probe()
needs = pytest.mark.skipif(
    not {"landlock", "seccomp"} <= set(SUPPORT.layers) and os.environ.get("CI") != "true",
    reason=f"this machine lacks sandbox layers: {SUPPORT.missing}",
)  # in CI they must run: a missing layer fails there


@needs
def test_a_plugin_reads_and_writes_only_what_is_its_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "snoop", EXAMPLES / "hello", data_dir=tmp_path) as (
            host,
            client,
        ):
            assert (await client.get("/plugins/hello/hello/ada")).status_code == 200
            snoop = host.endpoint("snoop")
            assert snoop is not None
            own = str(snoop.data_dir)
            assert await snoop.call("export", "write_own", [own], {}) == "kept"
            hello_data = tmp_path / "plugins" / "hello" / "kv.sqlite3"
            assert hello_data.is_file()
            for path in ("/etc/passwd", str(hello_data), str(tmp_path / "audit.jsonl")):
                with pytest.raises(RemoteError) as denied:
                    await snoop.call("export", "read", [path], {})
                assert denied.value.type_name == "PermissionError", path
            manifest = str(snoop.source.manifest_path)  # its own code: readable
            assert await snoop.call("export", "read", [manifest], {}) > 0  # type: ignore[operator]

    asyncio.run(asyncio.wait_for(scenario(), 30))


@needs
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

    asyncio.run(asyncio.wait_for(scenario(), 30))


@needs
def test_no_sockets_and_no_programs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "snoop", data_dir=tmp_path) as (host, _):
            snoop = host.endpoint("snoop")
            assert snoop is not None
            for export in ("connect", "execute"):
                with pytest.raises(RemoteError) as denied:
                    await snoop.call("export", export, [], {})
                assert denied.value.type_name == "PermissionError", export

    asyncio.run(asyncio.wait_for(scenario(), 30))


@needs
def test_a_forbidden_system_call_ends_the_worker_with_the_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "snoop", data_dir=tmp_path) as (host, _):
            snoop = host.endpoint("snoop")
            assert snoop is not None
            with pytest.raises(WorkerCrashed) as killed:
                await snoop.call("export", "trace", [], {})
            assert "SIGSYS: it made a system call the sandbox forbids (seccomp)" in str(
                killed.value
            )
        records = [r for r in read(tmp_path / "audit.jsonl") if r["event"] == "sandbox"]
        layers = records[0]["layers"]
        assert isinstance(layers, dict)
        assert set(layers) == {"no_new_privs", "landlock", "seccomp"}
        assert records[0]["missing"] == {}

    asyncio.run(asyncio.wait_for(scenario(), 30))
