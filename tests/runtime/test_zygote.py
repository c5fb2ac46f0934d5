"""The zygote: workers forked ahead, replaced when they die, and requests it refuses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING

import psutil
import pytest

from pluginctl.errors import UserError
from pluginctl.runtime.channel import Channel
from pluginctl.runtime.processes import WorkerProcess, Zygote
from pluginctl.runtime.protocol import WorkerSpec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


def spec(tmp_path: Path, **config: object) -> WorkerSpec:
    return WorkerSpec(
        plugin="bare",
        entry_point="bare:plugin",
        import_root=None,
        data_dir=str(tmp_path),
        config=config,
    )


@contextlib.asynccontextmanager
async def zygote() -> AsyncIterator[Zygote]:
    started = Zygote()
    await started.start()
    try:
        yield started
    finally:
        await started.stop(grace_s=2.0)


async def greeted(process: WorkerProcess) -> Channel:
    loop = asyncio.get_running_loop()
    _, channel = await loop.create_unix_connection(
        lambda: Channel("bare", role="host"), sock=process.sock
    )
    hello = await asyncio.wait_for(channel.ready(), 10)
    assert hello.pid == process.pid
    return channel


async def finish(process: WorkerProcess, channel: Channel) -> None:
    channel.close()
    await process.stop(grace_s=2.0)
    process.sock.close()
    for fd in (process.stdout, process.stderr):
        os.close(fd)


def children(pid: int) -> set[int]:
    """The zygote's forks: not the helpers it runs (libseccomp's loader runs ldconfig)."""
    zygote = psutil.Process(pid)
    forks = set()
    for child in zygote.children():
        with contextlib.suppress(psutil.Error):  # a helper that just ended
            if child.cmdline() == zygote.cmdline():
                forks.add(child.pid)
    return forks


async def standby_of(started: Zygote, busy: set[int]) -> int:
    """The zygote's standby: its one child that no request has taken."""
    assert started.pid is not None
    for _ in range(500):
        spare = children(started.pid) - busy
        if len(spare) == 1:
            return spare.pop()
        await asyncio.sleep(0.01)
    raise AssertionError(f"the zygote has no standby: children {children(started.pid)}")


def test_a_request_takes_the_standby_and_the_zygote_forks_the_next(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with zygote() as started:
            standby = await standby_of(started, set())
            first = await started.fork(spec(tmp_path))
            assert first.pid == standby
            channel = await greeted(first)
            second_standby = await standby_of(started, {first.pid})
            assert second_standby != standby
            # asked for back to back: the second waits for a fork of its own
            a, b = await asyncio.gather(started.fork(spec(tmp_path)), started.fork(spec(tmp_path)))
            channels = [await greeted(a), await greeted(b)]
            assert len({first.pid, a.pid, b.pid}) == 3
            for process, open_channel in [(first, channel), (a, channels[0]), (b, channels[1])]:
                await finish(process, open_channel)
                assert (await process.exited).reason == "exited with code 0"

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_standby_that_dies_is_replaced_and_never_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with zygote() as started:
            standby = await standby_of(started, set())
            os.kill(standby, signal.SIGKILL)
            replacement = await standby_of(started, {standby})
            assert replacement != standby
            process = await started.fork(spec(tmp_path))
            assert process.pid == replacement
            channel = await greeted(process)
            await finish(process, channel)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_settings_too_large_for_a_start_request_are_refused_by_name(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with zygote() as started:
            with pytest.raises(UserError, match="settings of plugin 'bare' take") as refused:
                await started.fork(spec(tmp_path, blob="x" * (2 * 1024 * 1024)))
            assert refused.value.hint is not None
            assert "data directory" in refused.value.hint
            process = await started.fork(spec(tmp_path))  # the zygote is still fine
            await finish(process, await greeted(process))

    asyncio.run(asyncio.wait_for(scenario(), 30))
