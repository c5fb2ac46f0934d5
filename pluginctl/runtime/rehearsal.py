"""A dress rehearsal the zygote runs before its first fork.

CPython writes to what it runs: it specialises bytecode in place, fills type and
method caches, interns strings and grows the allocator's pools. Done in the zygote,
those writes land in pages every worker shares; done in each worker, every worker
copies the pages (copy-on-write), which costs memory and start time. So the zygote
serves one throwaway host over a socketpair exactly as a worker serves the real one:
it loads `plugin` below, answers a few hundred route, export and event calls, and
calls the host API from its handlers. Nothing of it is left running afterwards.

Example:
    >>> rehearse()  # leaves no loop, thread or file descriptor of its own behind
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from pluginctl.plugin import Plugin
from pluginctl.runtime.channel import Channel
from pluginctl.runtime.loop import run
from pluginctl.runtime.protocol import HttpRequest, WorkerSpec
from pluginctl.runtime.worker import serve

__all__ = ["plugin", "rehearse"]

_CALLS = 64  # of each kind: enough for the interpreter to specialise the hot paths

plugin = Plugin()


@plugin.route("GET", "/{name}")
async def _greet(request: Any, api: Any) -> dict[str, object]:
    visits = await api.kv.incr(request.path_params["name"])
    return {"name": request.path_params["name"], "visits": visits}


@plugin.export("echo")
async def _echo(value: object, *, api: Any) -> object:
    return await api.kv.get("echo", value)


@plugin.on("rehearsal.*")
async def _heard(event: Any, api: Any) -> None:
    api.log.info("heard", topic=event.topic)


def _host_api(method: str, args: list[object]) -> object:
    """The throwaway host's side of the host API: just enough to answer."""
    return 1 if method == "kv.incr" else args[-1]


async def _drive(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    _, host = await loop.create_unix_connection(
        lambda: Channel("rehearsal", role="host", handler=_host_api, on_notify=_host_api),
        sock=sock,
    )
    await host.ready()
    await host.call("start", timeout_s=5.0)
    request = HttpRequest("GET", "/visitor", {"name": "visitor"}, "", [("accept", "*/*")], b"")
    for _ in range(_CALLS):
        await host.call("route", 0, request, timeout_s=5.0)
        await host.call("export", "echo", [{"payload": [1, 2.5, "three"]}], {}, timeout_s=5.0)
        await host.call("event", "rehearsal.tick", "host", None, timeout_s=5.0)
    await asyncio.gather(*(host.call("export", "echo", [n], {}) for n in range(_CALLS)))
    await host.ping(timeout_s=5.0)
    await host.call("stop", timeout_s=5.0)
    host.close()


async def _both() -> None:
    host_end, worker_end = socket.socketpair()
    spec = WorkerSpec(
        plugin="rehearsal", entry_point=f"{__name__}:plugin", import_root=None, data_dir=""
    )
    with host_end, worker_end:
        await asyncio.gather(serve(worker_end, spec), _drive(host_end))


def rehearse() -> None:
    """Run the rehearsal to the end on the event loop workers use."""
    run(_both())
