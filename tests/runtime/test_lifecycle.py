"""Lifecycle changes of one plugin never overlap: each waits for the one in progress.

A restart after a crash, an operator's enable or disable, a reload: each holds the
plugin's lock, so a disable is never undone by a restart that was already starting,
and two enables never start two workers.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import UserError, WorkerCrashed
from pluginctl.runtime.audit import read
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.supervisor import RestartPolicy
from tests.runtime.host_harness import EXAMPLES, FIXTURES, running_host, wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

QUICK = RestartPolicy(initial_backoff_s=0.02, jitter=0.0)


@contextlib.asynccontextmanager
async def slow_host(tmp_path: Path) -> AsyncIterator[tuple[Host, PluginRuntime]]:
    async with running_host(FIXTURES / "slowstart", data_dir=tmp_path, restart=QUICK) as (
        host,
        _,
    ):
        runtime = host.endpoint("slowstart")
        assert runtime is not None
        assert runtime.state is PluginState.ACTIVE, runtime.last_error
        (runtime.data_dir / "slow").touch()  # from now on, each start takes a second
        yield host, runtime


def events(tmp_path: Path, name: str) -> list[str]:
    return [str(e["event"]) for e in read(tmp_path / "audit.jsonl") if e.get("plugin") == name]


async def crash_and_wait_for_the_restart(runtime: PluginRuntime) -> None:
    with pytest.raises(WorkerCrashed):
        await runtime.call("export", "die", [], {})
    await wait_for(lambda: runtime.state is PluginState.STARTING)


def test_a_disable_during_a_restart_is_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with slow_host(tmp_path) as (host, runtime):
            await crash_and_wait_for_the_restart(runtime)
            await host.disable_plugin("slowstart")  # waits for the start in progress
            assert runtime.state is PluginState.DISABLED
            assert runtime.process is not None
            assert runtime.process.exited.done()  # the worker that was starting: ended
            await asyncio.sleep(0.2)  # a restart would be scheduled within 20 ms
            assert runtime.state is PluginState.DISABLED
            assert runtime.pid is None

    asyncio.run(scenario())
    assert events(tmp_path, "slowstart")[-2:] == ["plugin.stopped", "plugin.disabled"]


def test_two_enables_at_once_start_one_worker(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with slow_host(tmp_path) as (host, runtime):
            await host.disable_plugin("slowstart")
            first, second = await asyncio.gather(
                host.enable_plugin("slowstart"),
                host.enable_plugin("slowstart"),
                return_exceptions=True,
            )
            assert first is runtime
            assert isinstance(second, UserError)
            assert "is already active" in str(second)
            assert runtime.state is PluginState.ACTIVE

    asyncio.run(scenario())
    after_disable = events(tmp_path, "slowstart")
    after_disable = after_disable[after_disable.index("plugin.disabled") :]
    assert after_disable.count("plugin.starting") == 1


def test_a_reload_during_a_restart_waits_and_swaps_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with slow_host(tmp_path) as (host, runtime):
            await crash_and_wait_for_the_restart(runtime)
            reload = await host.reload_plugin("slowstart")
            assert reload.ok, reload.error
            assert runtime.state is PluginState.ACTIVE
            assert runtime.restarts == 1
            assert await runtime.call("export", "echo", ["up"], {}) == "up"

    asyncio.run(scenario())
    recorded = events(tmp_path, "slowstart")
    assert recorded.count("worker.crashed") == 1
    assert "plugin.reloaded" in recorded


def test_a_reload_does_not_start_a_plugin_the_operator_disabled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (host, client):
            await host.disable_plugin("hello")
            reload = await host.reload_plugin("hello")
            assert not reload.ok
            assert reload.error is not None
            assert "disabled by the operator" in reload.error
            assert "hint: enable it first: pluginctl enable hello" in reload.error
            assert (await client.get("/plugins/hello/hello/x")).status_code == 503

    asyncio.run(scenario())


def test_enable_checks_the_settings_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(
            EXAMPLES / "cache",
            data_dir=tmp_path,
            settings={"cache": {"default_ttl_s": "soon"}},
        ) as (host, _):
            cache = host.endpoint("cache")
            assert cache is not None
            assert cache.state is PluginState.FAILED
            with pytest.raises(UserError, match="default_ttl_s") as refused:
                await host.enable_plugin("cache")
            assert refused.value.hint is not None
            assert cache.state is PluginState.FAILED
            assert cache.pid is None

    asyncio.run(scenario())


def test_an_unknown_plugin_names_the_ones_there_are(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (host, _):
            with pytest.raises(UserError, match="no plugin named 'ghost'") as missing:
                await host.disable_plugin("ghost")
            assert missing.value.hint == "the plugins it runs: hello (pluginctl status lists them)"

    asyncio.run(scenario())
