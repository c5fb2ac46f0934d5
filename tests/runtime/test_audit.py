from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

import pluginctl
from pluginctl.errors import RuntimeFault
from pluginctl.runtime.audit import EVENTS, AuditLog, read

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_a_record_is_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record("permission.denied", plugin="shop", permission="kv", count=3)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    [line] = lines[:-1]
    record = json.loads(line)
    assert list(record) == ["ts", "event", "plugin", "permission", "count"]
    assert record["event"] == "permission.denied"
    assert record["plugin"] == "shop"
    assert record["permission"] == "kv"
    assert record["count"] == 3


def test_the_timestamp_is_utc_with_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    before = datetime.now(UTC)
    with AuditLog(path) as audit:
        audit.record("plugin.starting", plugin="shop")
    after = datetime.now(UTC)
    [record] = read(path)
    ts = record["ts"]
    assert isinstance(ts, str)
    assert TIMESTAMP.match(ts)
    when = datetime.fromisoformat(ts)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= when <= after


def test_a_record_without_a_plugin(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record("config.invalid", source="pluginctl.toml", problems=["a", "b"])
    [record] = read(path)
    assert record["plugin"] is None
    assert record["problems"] == ["a", "b"]


def test_fields_json_cannot_hold_are_written_as_text(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    with AuditLog(path) as audit:
        audit.record("plugin.failed", plugin="p", error=ValueError("boom"), where=path)
        audit.record("plugin.failed", plugin="p", nested={(1, 2): Thing()}, big=2**70)
        audit.record("plugin.failed", plugin="p", nan=float("nan"), items={3})
    first, second, third = read(path)
    assert first["error"] == "boom"
    assert first["where"] == str(path)
    assert second["nested"] == {"(1, 2)": "a thing"}
    assert second["big"] == 2**70
    assert third["nan"] is None
    assert third["items"] == [3]


def test_ts_is_reserved(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl") as audit, pytest.raises(ValueError, match="'ts'"):
        audit.record("plugin.active", ts="yesterday")


def test_records_append_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for event in ("plugin.starting", "plugin.active", "plugin.stopped"):
        with AuditLog(path) as audit:
            audit.record(event, plugin="shop")
    assert [r["event"] for r in read(path)] == [
        "plugin.starting",
        "plugin.active",
        "plugin.stopped",
    ]


def test_the_file_and_its_directory_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit" / "audit.jsonl"
    with AuditLog(path, fsync=True) as audit:
        audit.record("plugin.active", plugin="shop")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(list(read(path))) == 1


def test_the_file_is_opened_for_appending(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        assert audit._fd is not None
        flags = os.fstat(audit._fd)
        assert stat.S_ISREG(flags.st_mode)
        assert fcntl.fcntl(audit._fd, fcntl.F_GETFL) & os.O_APPEND


def test_many_threads_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    threads, per_thread = 16, 300
    payload = "x" * 3000  # records larger than a pipe buffer's atomic size
    with AuditLog(path) as audit:

        def write(index: int) -> None:
            for seq in range(per_thread):
                audit.record("rate.limited", plugin=f"p{index}", seq=seq, payload=payload)

        workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    _assert_every_line_whole(path, threads, per_thread)


def test_many_writers_on_one_file_never_interleave_lines(tmp_path: Path) -> None:
    """Separate descriptors (as separate processes would have): O_APPEND keeps lines whole."""
    path = tmp_path / "audit.jsonl"
    threads, per_thread = 8, 300
    payload = "y" * 5000

    logs = [AuditLog(path) for _ in range(threads)]

    def write(index: int) -> None:
        for seq in range(per_thread):
            logs[index].record("worker.crashed", plugin=f"p{index}", seq=seq, payload=payload)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for log in logs:
        log.close()
    _assert_every_line_whole(path, threads, per_thread)


def _assert_every_line_whole(path: Path, threads: int, per_thread: int) -> None:
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    seen: dict[str, list[int]] = {}
    for line in lines[:-1]:
        record = json.loads(line)  # every line parses on its own
        seen.setdefault(record["plugin"], []).append(record["seq"])
    assert len(seen) == threads
    for seqs in seen.values():
        assert seqs == list(range(per_thread))  # in order, none lost


def test_read_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record("plugin.active", plugin="a")
    with path.open("ab") as file:
        file.write(b'{"ts": "2026-01-01T00:00:00.000Z", "event": "plugin.sto')
    assert [r["plugin"] for r in read(path)] == ["a"]


def test_reopening_after_a_torn_line_starts_a_fresh_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"ts": "x", "event": "plugin.active"}\n{"ts": "2026-01-01T00:00')
    with AuditLog(path) as audit:
        audit.record("plugin.stopped", plugin="b")
    assert [r["event"] for r in read(path)] == ["plugin.active", "plugin.stopped"]
    assert path.read_bytes().endswith(b'"plugin":"b"}\n')


def test_read_skips_lines_that_are_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'[1, 2]\n\n\xff\xfe\n{"event": "plugin.active"}\n')
    assert list(read(path)) == [{"event": "plugin.active"}]


def test_records_after_close_are_dropped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.close()
    audit.close()
    with caplog.at_level(logging.ERROR, logger="pluginctl.runtime.audit"):
        audit.record("plugin.stopped", plugin="a")
        audit.record("plugin.stopped", plugin="a")
    assert audit.dropped == 2
    assert caplog.text.count("cannot write records") == 1  # the first failure only
    assert list(read(path)) == []


def test_strict_mode_raises_a_runtime_fault(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", strict=True)
    audit.close()
    with pytest.raises(RuntimeFault, match=r"cannot write the 'plugin\.active' record") as info:
        audit.record("plugin.active", plugin="a")
    assert info.value.hint is not None


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_does_not_raise_by_default(caplog: pytest.LogCaptureFixture) -> None:
    audit = AuditLog(Path("/dev/full"))
    with caplog.at_level(logging.ERROR, logger="pluginctl.runtime.audit"):
        audit.record("permission.denied", plugin="a")
    audit.close()
    assert audit.dropped == 1
    assert "No space left on device" in caplog.text


def test_an_unopenable_path_is_a_runtime_fault(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RuntimeFault, match="cannot open the audit log") as info:
        AuditLog(blocker / "audit.jsonl")
    assert info.value.hint is not None


def test_every_event_the_host_writes_is_listed() -> None:
    package = Path(pluginctl.__file__).parent
    written = {
        match.group(1)
        for path in package.rglob("*.py")
        for match in re.finditer(r'\brecord\(\s*"([a-z_.]+)"', path.read_text())
    }
    assert {"worker.crashed", "plugin.unhealthy", "sandbox.denied"} <= written  # the scan works
    assert written == EVENTS
