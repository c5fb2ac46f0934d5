"""Chaos: every way a plugin can fail, contained, explained, recovered from and audited.

REFERENCES.md rows 27-29. Each fault runs in its fixture plugin beside examples/hello
while a probe requests hello all along: whatever the fault does, hello never fails.
Each row then asserts:

- what the caller gets: the typed error (or the answer), with what it says;
- the recorded reason: the plugin's ``last_error`` where its worker died, and the
  audit record (``worker.crashed``, ``breaker.opened``, ``sandbox.denied``,
  ``output.dropped``);
- the policy: a dead worker is restarted after the backoff, and a call that was in
  flight fails with the same reason; where only the call failed, the worker lives on
  (same pid, the call in flight untouched), and repeating the fault opens the breaker
  the policy names;
- and that no ``sandbox.denied`` record appears that the fault did not cause: the
  runtime's own work is never taken for a refusal.

The machinery each row relies on is tested in detail elsewhere: the breakers
(test_breaker), crash loops and backoff (test_supervisor), the frame decoder
(test_channel), the refusal and output bookkeeping (test_refusals, test_output).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import CallTimeout, CircuitOpen, PluginctlError, RemoteError, WorkerCrashed
from pluginctl.runtime.audit import read
from pluginctl.runtime.breaker import BreakerPolicy
from pluginctl.runtime.output import OutputPolicy
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.supervisor import RestartPolicy
from tests.runtime.host_harness import FIXTURES, needs_sandbox, probed_host, wait_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from pathlib import Path

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

RESTART = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, jitter=0.0, max_crashes=3)
BREAKER = BreakerPolicy(
    window_s=60.0, min_calls=4, failure_ratio=0.5, consecutive_timeouts=2, open_s=60.0
)
FLOOD = OutputPolicy(lines_per_s=100.0, burst_lines=200)
LOOP_TIMEOUT_S = 0.3  # the deadline of a call that never yields: the host waits no longer


@dataclass
class Scene:
    """One fault's host, its plugin, and what the fault call gave."""

    host: Host
    runtime: PluginRuntime
    data_dir: Path
    caplog: pytest.LogCaptureFixture
    started: float
    fault: Fault
    outcome: object = None

    def audited(self, event: str) -> list[dict[str, object]]:
        return [
            record
            for record in read(self.data_dir / "audit.jsonl")
            if record["event"] == event and record.get("plugin") == self.runtime.name
        ]


@dataclass(frozen=True)
class Fault:
    """One row: a fault, and what the host must make of it.

    Attributes:
        plugin: The fixture plugin that has it.
        export: Its export that does it.
        args: The export's arguments, or a function of the host that gives them.
        raises: What the call raises: ``WorkerCrashed``, ``CallTimeout``, the type name
            of a `RemoteError`; None when it answers.
        says: What the error says (a part of it).
        reason: The reason recorded in ``last_error`` and the audit record (a part of
            it); ``says`` when empty.
        crash: The worker dies: the crash kind; it is restarted after the backoff.
        breaker: Repeating the fault opens this breaker: ``plugin`` or the method's key.
        audit: The audit event that records it, and ``fields`` it has (a string value
            is a part of the field's); derived for crashes and breakers.
        timeout_s: The fault call's deadline.
        sandbox: The row needs Landlock and seccomp.
        options: Host options for the row.
        check: What else the row must show, while the host runs.
    """

    plugin: str
    export: str
    args: tuple[object, ...] | Callable[[Host], tuple[object, ...]] = ()
    raises: str | None = None
    says: str = ""
    reason: str = ""
    crash: str | None = None
    breaker: str | None = None
    audit: str = ""
    fields: Mapping[str, object] = field(default_factory=dict)
    timeout_s: float = 10.0
    sandbox: bool = False
    options: Mapping[str, object] = field(default_factory=dict)
    check: Callable[[Scene], Awaitable[None]] | None = None

    @property
    def recorded(self) -> str:
        return self.reason or self.says

    def record(self) -> tuple[str, Mapping[str, object]]:
        """The audit event that must record this fault, and the fields it must have."""
        if self.crash is not None:
            return "worker.crashed", {"reason": self.recorded, "kind": self.crash}
        if self.breaker is not None and not self.audit:
            return "breaker.opened", {"breaker": self.breaker, "reason": self.recorded}
        return self.audit, self.fields


# -- what some rows must show besides -------------------------------------------------


async def interrupted_in_the_worker(scene: Scene) -> None:
    """The handler was made to end: the worker is free, not merely still answering."""
    for _ in range(500):
        ended = await scene.runtime.call("export", "ended", [], {})
        if isinstance(ended, list) and scene.fault.export in ended:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{scene.fault.export} still runs in the worker")


async def killed_by_the_host(scene: Scene) -> None:
    await wait_for(lambda: bool(scene.audited("worker.killed")), timeout_s=10)
    [killed] = scene.audited("worker.killed")
    assert killed["reason"] == "deadline"


async def every_fork_counted_and_the_zygote_forks_on(scene: Scene) -> None:
    # 100 refusals the plugin caught and one it did not: every one is counted
    await wait_for(lambda: scene.runtime.sandbox_denied["fork"] == 101, timeout_s=10)
    reloaded = await scene.host.reload_plugin("chaos")  # a fresh worker: the zygote forks
    assert reloaded.ok, reloaded.error


async def every_way_to_start_a_process_refused_and_recorded(scene: Scene) -> None:
    ways = ("fork", "exec", "spawn", "subprocess", "system")
    refused = dict.fromkeys(ways[:-1], "PermissionError")
    assert scene.outcome == {**refused, "system": 127 << 8}  # the shell never ran
    await wait_for(lambda: all(scene.runtime.sandbox_denied[way] == 1 for way in ways))
    assert {str(r["operation"]) for r in scene.audited("sandbox.denied")} == set(ways)


async def flood_dropped_and_the_log_bounded(scene: Scene) -> None:
    output = scene.runtime.output
    assert output is not None
    await wait_for(lambda: output.dropped >= 50_000, timeout_s=30)
    elapsed_s = time.monotonic() - scene.started
    lines = [
        record.getMessage()
        for record in scene.caplog.records
        if record.name == "pluginctl.plugin.chaos"
        and record.getMessage().startswith(("stdout:", "stderr:"))
    ]
    budget = FLOOD.burst_lines + FLOOD.lines_per_s * elapsed_s
    assert 0 < len(lines) <= budget
    assert max(len(line) for line in lines) <= 4096 + 64  # long lines are cut
    assert await scene.runtime.call("export", "echo", ["heard"], {}) == "heard"
    await wait_for(lambda: bool(scene.audited("output.dropped")))


def another_plugins_data(host: Host) -> tuple[object, ...]:
    hello = host.endpoint("hello")
    assert hello is not None
    return (str(hello.data_dir / "kv.sqlite3"),)


# -- the matrix ---------------------------------------------------------------------

LATE = "did not answer export within 0.3 s"  # the host's deadline, or the worker's
PERMISSION = "PermissionError"

FAULTS: dict[str, Fault] = {
    "raises": Fault(
        "chaos", "raise", ("boom",), raises="RuntimeError", says="RuntimeError: boom",
        breaker="export:raise",
    ),
    "os-exit": Fault(
        "chaos", "exit", (3,), raises="WorkerCrashed", says="exited with code 3", crash="exit"
    ),
    "segfault": Fault(
        "chaos", "segfault", raises="WorkerCrashed", crash="signal:SIGSEGV",
        says="killed by SIGSEGV: a segmentation fault: native code crashed",
    ),
    "python-loop": Fault(
        "chaos", "spin", raises="CallTimeout", says=LATE, breaker="plugin",
        timeout_s=LOOP_TIMEOUT_S, check=interrupted_in_the_worker,
    ),
    "python-loop-in-a-thread": Fault(
        "chaos", "spin_sync", raises="CallTimeout", says=LATE, breaker="plugin",
        timeout_s=LOOP_TIMEOUT_S, check=interrupted_in_the_worker,
    ),
    "c-loop-catastrophic-regex": Fault(
        "chaos", "regex", raises="CallTimeout", says=LATE, breaker="plugin",
        timeout_s=LOOP_TIMEOUT_S, check=interrupted_in_the_worker,
    ),
    "c-loop-never-checking-signals": Fault(
        "chaos", "native", raises="CallTimeout", says=LATE,
        reason="was killed by the host: a call overran its deadline", crash="deadline",
        timeout_s=LOOP_TIMEOUT_S, check=killed_by_the_host,
    ),
    "unbounded-allocation": Fault(
        "chaos", "hog", raises="MemoryError", says="MemoryError", breaker="export:hog"
    ),
    "out-of-memory-outside-a-handler": Fault(
        "chaos", "leak", raises="WorkerCrashed", crash="memory",
        says="exited with code 86: it ran out of memory (limits.memory_mb = 256)",
    ),
    "cpu-limit": Fault(
        "greedy", "burn", raises="WorkerCrashed", crash="cpu_limit", timeout_s=30.0,
        says="killed by SIGXCPU: it used up its CPU time limit (limits.cpu_seconds)",
    ),
    "fork-bomb": Fault(
        "chaos", "fork_bomb", (100,), raises=PERMISSION, says="Operation not permitted",
        breaker="export:fork_bomb", audit="sandbox.denied",
        fields={"operation": "fork", "target": "os.fork()"}, sandbox=True,
        check=every_fork_counted_and_the_zygote_forks_on,
    ),
    "stdout-flood": Fault(
        "chaos", "flood", audit="output.dropped", fields={"lines_per_s": 100.0},
        options={"output": FLOOD}, check=flood_dropped_and_the_log_bounded,
    ),
    "garbage-frame": Fault(
        "misbehaves", "send", ("garbage",), raises="WorkerCrashed", crash="protocol",
        says="dropped: malformed frame",
    ),
    "oversized-frame": Fault(
        "misbehaves", "send", ("oversized",), raises="WorkerCrashed", crash="protocol",
        says="dropped: frame of 2147483648 bytes is over the",
    ),
    "unknown-message-kind": Fault(
        "misbehaves", "send", ("unknown",), raises="WorkerCrashed", crash="protocol",
        says="dropped: malformed frame",
    ),
    "reads-a-system-file": Fault(
        "snoop", "read", ("/etc/shadow",), raises=PERMISSION,
        says="Permission denied: '/etc/shadow'", breaker="export:read",
        audit="sandbox.denied", fields={"operation": "open", "target": "/etc/shadow"},
        sandbox=True,
    ),
    "reads-another-plugins-data": Fault(
        "snoop", "read", another_plugins_data, raises=PERMISSION, says="Permission denied",
        breaker="export:read", audit="sandbox.denied",
        fields={"operation": "open", "target": "plugins/hello/kv.sqlite3"}, sandbox=True,
    ),
    "internet-socket": Fault(
        "snoop", "connect", raises=PERMISSION, says="Operation not permitted",
        breaker="export:connect", audit="sandbox.denied",
        fields={"operation": "socket", "target": "AF_INET"}, sandbox=True,
    ),
    "execs-a-process": Fault(
        "snoop", "start_processes", audit="sandbox.denied",
        fields={"operation": "exec", "target": "/bin/true"}, sandbox=True,
        check=every_way_to_start_a_process_refused_and_recorded,
    ),
    "seccomp-violation": Fault(
        "snoop", "trace", raises="WorkerCrashed", crash="seccomp", sandbox=True,
        says="killed by SIGSYS: it made a system call the sandbox forbids (seccomp)",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(fault, id=name, marks=[needs_sandbox] if fault.sandbox else [])
        for name, fault in FAULTS.items()
    ],
)
def test_a_fault_is_contained_explained_and_recovered_from(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: Fault
) -> None:
    caplog.set_level(logging.INFO, logger="pluginctl.plugin")
    started = time.monotonic()

    async def scenario() -> None:
        async with probed_host(
            FIXTURES / fault.plugin,
            data_dir=tmp_path,
            restart=RESTART,
            breaker=BREAKER,
            deadline_grace_s=2.0,
            **fault.options,
        ) as (host, probe):
            runtime = host.endpoint(fault.plugin)
            assert runtime is not None
            assert runtime.state is PluginState.ACTIVE, runtime.last_error
            scene = Scene(host, runtime, tmp_path, caplog, started, fault)
            pid, served = pid_of(runtime), probe.served
            in_flight = asyncio.ensure_future(
                runtime.call("export", "sleep", [60], {}, timeout_s=120)
            )
            scene.outcome = await inflict(host, runtime, fault)
            caller_got(fault, scene.outcome)
            if fault.crash is not None:
                await restarted(fault, runtime, pid, in_flight)
            else:
                await lives_on(runtime, pid, in_flight)
            if fault.check is not None:
                await fault.check(scene)
            if fault.breaker is not None:
                await breaker_opens(fault, host, runtime)
            await wait_for(lambda: probe.served > served)  # it ran all along
        audited(fault, tmp_path)

    asyncio.run(asyncio.wait_for(scenario(), 90))


async def inflict(host: Host, runtime: PluginRuntime, fault: Fault) -> object:
    args = fault.args(host) if callable(fault.args) else fault.args
    try:
        return await runtime.call("export", fault.export, list(args), {}, timeout_s=fault.timeout_s)
    except PluginctlError as exc:
        return exc


def caller_got(fault: Fault, outcome: object) -> None:
    if fault.raises is None:
        assert not isinstance(outcome, BaseException), outcome
        return
    assert isinstance(outcome, PluginctlError), outcome
    if fault.raises == "WorkerCrashed":
        assert isinstance(outcome, WorkerCrashed), outcome
    elif fault.raises == "CallTimeout":
        assert isinstance(outcome, CallTimeout), outcome
    else:
        assert isinstance(outcome, RemoteError), outcome
        assert outcome.type_name == fault.raises
    assert fault.says in str(outcome)


async def restarted(
    fault: Fault, runtime: PluginRuntime, pid: int | None, in_flight: asyncio.Future[object]
) -> None:
    """The worker died: calls in flight fail with the reason, and it is back after the backoff."""
    lost = (await asyncio.gather(in_flight, return_exceptions=True))[0]
    assert isinstance(lost, WorkerCrashed), lost
    assert fault.recorded in lost.reason
    await wait_for(
        lambda: runtime.state is PluginState.ACTIVE and pid_of(runtime) not in (pid, None),
        timeout_s=10,
    )
    assert runtime.restarts == 1
    assert runtime.crashes_by_kind == {fault.crash: 1}
    assert runtime.restarts_by_kind == {fault.crash: 1}
    assert runtime.last_error is not None
    assert fault.recorded in runtime.last_error
    assert runtime.breaker.state == "closed"  # one crash is not a pattern
    assert await runtime.call("export", "echo", ["back"], {}) == "back"


async def lives_on(
    runtime: PluginRuntime, pid: int | None, in_flight: asyncio.Future[object]
) -> None:
    """Only the call failed: the same worker serves on, the call in flight untouched."""
    assert await runtime.call("export", "echo", ["alive"], {}) == "alive"
    assert runtime.state is PluginState.ACTIVE
    assert pid_of(runtime) == pid
    assert runtime.restarts == 0
    assert not in_flight.done()
    in_flight.cancel()


async def breaker_opens(fault: Fault, host: Host, runtime: PluginRuntime) -> None:
    """The same fault again and again opens the breaker the policy names."""
    for _ in range(8):
        outcome = await inflict(host, runtime, fault)
        if isinstance(outcome, CircuitOpen):
            break
        caller_got(fault, outcome)
    else:
        raise AssertionError(f"no breaker opened: {runtime.describe()}")
    assert outcome.method == (None if fault.breaker == "plugin" else fault.breaker)
    assert 0 < outcome.retry_after_s <= BREAKER.open_s


def audited(fault: Fault, data_dir: Path) -> None:
    records = list(read(data_dir / "audit.jsonl"))
    mine = [r for r in records if r.get("plugin") == fault.plugin]
    event, fields = fault.record()
    assert any(
        r["event"] == event and all(matches(r.get(k), v) for k, v in fields.items()) for r in mine
    ), (event, fields, [r for r in mine if r["event"] == event])
    assert not any(r["event"] == "sandbox.denied" for r in records if r.get("plugin") == "hello")
    if event != "sandbox.denied":
        assert not any(r["event"] == "sandbox.denied" for r in mine)
    names = [str(r["event"]) for r in mine]
    if fault.crash is None:
        assert "worker.crashed" not in names
        return
    crashed = names.index("worker.crashed")
    recovery = iter(names[crashed:])  # in this order, whatever else comes between
    expected = ["plugin.failed", "plugin.restart_scheduled", "plugin.starting", "sandbox"]
    assert all(step in recovery for step in [*expected, "plugin.active", "plugin.restarted"])
    scheduled = next(r for r in mine[crashed:] if r["event"] == "plugin.restart_scheduled")
    assert (scheduled["delay_s"], scheduled["attempt"]) == (RESTART.initial_backoff_s, 1)


def matches(value: object, expected: object) -> bool:
    if isinstance(expected, str):
        return expected in str(value)
    return value == expected


def pid_of(runtime: PluginRuntime) -> int | None:
    return runtime.process.pid if runtime.process is not None else None
