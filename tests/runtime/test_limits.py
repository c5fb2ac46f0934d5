"""Resource limits from plugin.toml, enforced in the worker before the plugin runs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import RemoteError
from pluginctl.runtime.plugin_runtime import PluginState
from tests.runtime.host_harness import FIXTURES, running_host

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024


def test_the_worker_runs_under_its_manifest_limits(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "greedy", data_dir=tmp_path) as (host, _):
            greedy = host.endpoint("greedy")
            assert greedy is not None
            limits = await greedy.call("export", "limits", [], {})
            assert limits == {
                "as": 160 * MIB,
                "cpu": [1, 3],
                "nofile": 64,
                "fsize": 1 * MIB,
                "core": 0,
            }

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_going_over_a_file_limit_fails_the_call_and_the_worker_serves_on(tmp_path: Path) -> None:
    """Memory and CPU time past their limits are rows of the chaos matrix (test_chaos)."""

    async def scenario() -> None:
        async with running_host(FIXTURES / "greedy", data_dir=tmp_path) as (host, _):
            greedy = host.endpoint("greedy")
            assert greedy is not None
            pid = greedy.process.pid if greedy.process else None
            assert await greedy.call("export", "allocate", [16], {}) == 16 * MIB  # under it
            with pytest.raises(RemoteError) as big:
                await greedy.call("export", "write", [4], {})
            assert big.value.type_name == "OSError"
            assert "File too large" in big.value.message
            with pytest.raises(RemoteError) as files:
                await greedy.call("export", "open_files", [100], {})
            assert "Too many open files" in files.value.message
            assert greedy.process is not None
            assert greedy.process.pid == pid
            assert greedy.state is PluginState.ACTIVE

    asyncio.run(asyncio.wait_for(scenario(), 30))
