"""Supervision: a dying or stuck worker is explained, restarted, or disabled after a loop.

Every scenario runs the chaos fixture beside examples/hello, and a probe requests
hello all along: whatever happens to chaos, hello must never fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import CallTimeout, UserError, WorkerCrashed
from pluginctl.runtime.audit import read
from pluginctl.runtime.limits import OUT_OF_MEMORY_EXIT
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.supervisor import CrashHistory, RestartPolicy, crash_kind, explain_exit
from tests.runtime.host_harness import EXAMPLES, FIXTURES, running_host, wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

FAST = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, jitter=0.0, max_crashes=3)


@contextlib.asynccontextmanager
async def chaos_host(tmp_path: Path, **options: object) -> AsyncIterator[tuple[Host, Probe]]:
    async with running_host(
        FIXTURES / "chaos",
        EXAMPLES / "hello",
        data_dir=tmp_path,
        restart=FAST,
        **options,  # type: ignore[arg-type]  # HostOptions fields
    ) as (host, client):
        probe = Probe(client)
        probe.start()
        try:
            yield host, probe
        finally:
            await probe.stop()
        assert probe.failures == [], probe.failures
        assert probe.served > 0


class Probe:
    """Requests hello over and over; every failure is a finding."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.failures: list[str] = []
        self.served = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            response = await self.client.get("/plugins/hello/hello/probe")
            if response.status_code != 200:
                self.failures.append(f"{response.status_code} {response.text}")
            self.served += 1
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def chaos(host: Host) -> PluginRuntime:
    runtime = host.endpoint("chaos")
    assert runtime is not None
    assert runtime.state is PluginState.ACTIVE, runtime.last_error
    return runtime


def events(data_dir: Path, plugin: str = "chaos") -> list[dict[str, object]]:
    return [e for e in read(data_dir / "audit.jsonl") if e.get("plugin") == plugin]


def pid_of(runtime: PluginRuntime) -> int | None:
    return runtime.process.pid if runtime.process is not None else None


async def back_up(runtime: PluginRuntime, pid: int | None) -> None:
    await wait_for(
        lambda: (
            runtime.state is PluginState.ACTIVE
            and runtime.process is not None
            and runtime.process.pid != pid
        )
    )


@pytest.mark.parametrize(
    ("export", "args", "reason"),
    [
        ("exit", [3], "exited with code 3"),
        ("segfault", [], "killed by SIGSEGV: a segmentation fault: native code crashed"),
    ],
    ids=["os-exit", "segfault"],
)
def test_a_dead_worker_fails_its_calls_with_the_reason_and_is_restarted(
    tmp_path: Path, export: str, args: list[object], reason: str
) -> None:
    async def scenario() -> None:
        async with chaos_host(tmp_path) as (host, _):
            runtime = chaos(host)
            pid = pid_of(runtime)
            waiting = asyncio.ensure_future(runtime.call("export", "echo", ["x"], {}))
            with pytest.raises(WorkerCrashed) as crashed:
                await runtime.call("export", export, args, {})
            assert reason in crashed.value.reason
            await back_up(runtime, pid)
            assert await runtime.call("export", "echo", ["again"], {}) == "again"
            assert runtime.restarts == 1
            # sent with the fatal call: answered, or failed with the same reason
            answer = (await asyncio.gather(waiting, return_exceptions=True))[0]
            assert answer == "x" or (isinstance(answer, WorkerCrashed) and reason in answer.reason)
        recorded = [e["event"] for e in events(tmp_path)]
        at = recorded.index("plugin.restart_scheduled")
        assert recorded[at : at + 5] == [
            "plugin.restart_scheduled",
            "plugin.starting",
            "sandbox",
            "plugin.active",
            "plugin.restarted",
        ]
        crash = next(e for e in events(tmp_path) if e["event"] == "worker.crashed")
        assert reason in str(crash["reason"])
        assert "plugin.restarted" in recorded

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_crash_loop_disables_the_plugin_until_it_is_enabled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with chaos_host(tmp_path) as (host, _):
            runtime = chaos(host)
            for crash in range(FAST.max_crashes):
                pid = pid_of(runtime)
                with pytest.raises(WorkerCrashed):
                    await runtime.call("export", "exit", [crash + 1], {})
                if crash + 1 < FAST.max_crashes:
                    await back_up(runtime, pid)
            await wait_for(lambda: runtime.state is PluginState.DISABLED)
            assert runtime.last_error is not None
            assert "disabled after 3 crashes within 60 s" in runtime.last_error
            assert "exited with code 3" in runtime.last_error
            await asyncio.sleep(0.3)  # no restart comes
            assert runtime.state is PluginState.DISABLED
            with pytest.raises(WorkerCrashed):
                await runtime.call("export", "echo", ["x"], {})
            enabled = await host.enable_plugin("chaos")
            assert str(enabled.state) == "active"
            assert await runtime.call("export", "echo", ["back"], {}) == "back"
            with pytest.raises(UserError, match="already active"):
                await host.enable_plugin("chaos")
        disabled = next(e for e in events(tmp_path) if e["event"] == "plugin.disabled")
        assert disabled["reason"] == "crash loop"
        assert disabled["crashes"] == 3

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_an_operator_disables_and_enables_a_plugin(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (host, client):
            await host.disable_plugin("hello")
            response = await client.get("/plugins/hello/hello/ada")
            assert response.status_code == 503
            await host.enable_plugin("hello")
            assert (await client.get("/plugins/hello/hello/ada")).status_code == 200
        recorded = [e["event"] for e in events(tmp_path, "hello")]
        at = recorded.index("plugin.disabled")
        assert recorded[at : at + 5] == [
            "plugin.disabled",
            "plugin.enabled",
            "plugin.starting",
            "sandbox",
            "plugin.active",
        ]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_worker_stuck_in_native_code_is_killed_after_the_grace_and_restarted(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with chaos_host(tmp_path, call_timeout_s=0.3, deadline_grace_s=0.3) as (host, _):
            runtime = chaos(host)
            pid = pid_of(runtime)
            with pytest.raises(CallTimeout):
                await runtime.call("export", "native", [], {})
            await back_up(runtime, pid)
            assert runtime.restarts == 1
            assert await runtime.call("export", "echo", ["alive"], {}) == "alive"
        crash = next(e for e in events(tmp_path) if e["event"] == "worker.crashed")
        assert "was killed by the host: a call overran its deadline" in str(crash["reason"])
        assert any(e["event"] == "worker.killed" for e in events(tmp_path))

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_backoff_grows_with_jitter_and_resets_after_a_stable_run() -> None:
    policy = RestartPolicy(initial_backoff_s=0.1, max_backoff_s=1.0, jitter=0.2, max_crashes=99)
    history = CrashHistory(policy, rng=random.Random(7))  # noqa: S311  # jitter, not secrets
    delays = [history.crashed(at=float(t), uptime_s=1.0).delay_s for t in range(6)]
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays, bases, strict=True))
    assert len(set(delays)) == len(delays)  # jittered
    after_stable = history.crashed(at=10.0, uptime_s=policy.stable_after_s)
    assert after_stable.attempt == 1
    assert 0.08 <= after_stable.delay_s <= 0.12


def test_old_crashes_leave_the_window() -> None:
    history = CrashHistory(RestartPolicy(max_crashes=3, window_s=10.0, jitter=0.0))
    assert not history.crashed(at=0.0, uptime_s=1.0).disable
    assert not history.crashed(at=5.0, uptime_s=1.0).disable
    assert history.crashed(at=11.0, uptime_s=1.0).crashes_in_window == 2  # the first left
    assert history.crashed(at=12.0, uptime_s=1.0).disable


def test_exits_are_explained() -> None:
    assert explain_exit(-24, "killed by SIGXCPU").endswith("CPU time limit (limits.cpu_seconds)")
    assert explain_exit(-31, "killed by SIGSYS").endswith("the sandbox forbids (seccomp)")
    assert explain_exit(0, "exited with code 0") == "exited with code 0"
    out_of_memory = explain_exit(OUT_OF_MEMORY_EXIT, "exited with code 86")
    assert out_of_memory == "exited with code 86: it ran out of memory (no limits.memory_mb)"
    assert crash_kind(OUT_OF_MEMORY_EXIT) == "memory"


def test_a_sigkill_the_host_did_not_send_may_be_the_oom_killer() -> None:
    unsent = explain_exit(-9, "killed by SIGKILL")
    assert unsent.startswith("killed by SIGKILL, not sent by the host")
    assert "the kernel's out-of-memory killer" in unsent
    assert crash_kind(-9) == "killed"
    # the host's own ends come with their own words, never this guess
    assert explain_exit(-9, "killed: the zygote ended") == "killed: the zygote ended"


@pytest.mark.parametrize(
    "export",
    ["spin", "spin_sync", "regex"],
    ids=["on-the-loop", "in-a-thread", "in-the-regex-engine"],
)
def test_an_endless_python_loop_is_interrupted_in_the_worker_which_lives_on(
    tmp_path: Path, export: str
) -> None:
    async def scenario() -> None:
        async with chaos_host(tmp_path, call_timeout_s=0.2, deadline_grace_s=2.0) as (host, _):
            runtime = chaos(host)
            pid = pid_of(runtime)
            started = asyncio.get_running_loop().time()
            with pytest.raises(CallTimeout):
                await runtime.call("export", export, [], {})
            assert await runtime.call("export", "echo", ["free"], {}) == "free"
            elapsed = asyncio.get_running_loop().time() - started
            assert elapsed < 2.0  # well before the grace: the worker got itself unstuck
            assert pid_of(runtime) == pid
            assert runtime.restarts == 0
        assert not any(e["event"] == "worker.killed" for e in events(tmp_path))

    asyncio.run(asyncio.wait_for(scenario(), 30))
