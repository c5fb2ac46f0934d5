"""``run_host``: what a host promises once it says it is ready."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pluginctl.runtime.host_config import HostConfig
from pluginctl.runtime.host_record import find_hosts
from pluginctl.runtime.launcher import RunningHost, plan_host, run_host
from tests.runtime.host_harness import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path


def test_a_ready_host_is_already_listed_for_pluginctl_status(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = HostConfig(data_dir=data_dir, installed=False)
    plan = plan_host(config, sources=[EXAMPLES / "hello"])
    stop = asyncio.Event()
    listed: list[str] = []

    def ready(running: RunningHost) -> None:
        listed.extend(record.url for record in find_hosts(data_dir))
        listed.append(running.url)
        stop.set()

    asyncio.run(run_host(plan, bind_host="127.0.0.1", port=0, on_ready=ready, stop=stop))
    assert len(listed) == 2
    assert listed[0] == listed[1]  # the record named the URL it announced
    assert find_hosts(data_dir) == []  # and went with the host
