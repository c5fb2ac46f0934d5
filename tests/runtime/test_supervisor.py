"""Supervision: crash loops disable a plugin, operators enable it, backoff and its window.

How each kind of death is explained and recovered from — exit codes, signals, out of
memory, the CPU limit, seccomp, a missed deadline, garbage frames — is the chaos
matrix (`tests/runtime/test_chaos.py`). Here the chaos fixture runs beside
examples/hello, and a probe requests hello all along: whatever happens to chaos, hello
must never fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import UserError, WorkerCrashed
from pluginctl.runtime.audit import read
from pluginctl.runtime.limits import OUT_OF_MEMORY_EXIT
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.supervisor import CrashHistory, RestartPolicy, crash_kind, explain_exit
from tests.runtime.host_harness import (
    EXAMPLES,
    FIXTURES,
    Probe,
    probed_host,
    running_host,
    wait_for,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

FAST = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, jitter=0.0, max_crashes=3)


@contextlib.asynccontextmanager
async def chaos_host(tmp_path: Path, **options: object) -> AsyncIterator[tuple[Host, Probe]]:
    async with probed_host(FIXTURES / "chaos", data_dir=tmp_path, restart=FAST, **options) as (
        host,
        probe,
    ):
        yield host, probe


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
