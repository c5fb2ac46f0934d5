"""Hot swap: a new version takes over without a failed request; a bad one never does."""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import UserError
from pluginctl.runtime.audit import read
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.plugin_runtime import PluginState
from tests.runtime.host_harness import EXAMPLES, running_host

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from pluginctl.runtime.host import Host

GREETING = '    return f"Hello, {name}! You have been greeted {times}."'


def copy_hello(tmp_path: Path) -> Path:
    project = tmp_path / "src" / "hello"
    shutil.copytree(EXAMPLES / "hello", project, ignore=shutil.ignore_patterns("__pycache__"))
    return project


def edit(project: Path, old: str, new: str) -> None:
    module = project / "hello" / "plugin.py"
    text = module.read_text()
    assert old in text
    module.write_text(text.replace(old, new))


async def greet(client: httpx.AsyncClient, name: str = "ada") -> str:
    response = await client.get(f"/plugins/hello/hello/{name}")
    assert response.status_code == 200, response.text
    return str(response.json()["message"])


async def reload(host: Host, project: Path) -> None:
    result = await host.reload_plugin("hello", load_source(project))
    assert result.ok, result.error


def test_a_reload_serves_the_new_code_and_keeps_the_data(tmp_path: Path) -> None:
    project = copy_hello(tmp_path)

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, client):
            assert (await greet(client)).startswith("Hello, ada!")
            old = host.endpoint("hello")
            assert old is not None
            old_pid, generation = old.process and old.process.pid, old.generation
            edit(project, GREETING, GREETING.replace("Hello", "Howdy"))  # same size
            await reload(host, project)
            assert (await greet(client)) == "Howdy, ada! You have been greeted 2 times."
            assert old.generation == generation + 1
            assert old.process is not None
            assert old.process.pid != old_pid
            assert not list(project.rglob("__pycache__"))  # bytecode kept out of the tree
        events = [e["event"] for e in read(tmp_path / "data" / "audit.jsonl")]
        assert "plugin.reloaded" in events

    asyncio.run(scenario())


def test_no_request_fails_during_reloads_to_the_plugin_or_another(tmp_path: Path) -> None:
    project = copy_hello(tmp_path)

    async def scenario() -> None:
        async with running_host(project, EXAMPLES / "cache", data_dir=tmp_path / "data") as (
            host,
            client,
        ):
            cache = host.endpoint("cache")
            assert cache is not None
            stop = asyncio.Event()
            failures: list[str] = []
            served = {"hello": 0, "cache": 0}

            async def probe_hello() -> None:
                while not stop.is_set():
                    response = await client.get("/plugins/hello/hello/probe")
                    if response.status_code != 200:
                        failures.append(f"hello {response.status_code} {response.text}")
                    served["hello"] += 1

            async def probe_cache() -> None:
                while not stop.is_set():
                    try:
                        await cache.call("export", "set", ["k", 1], {})
                    except Exception as exc:  # noqa: BLE001  # any failure is the finding
                        failures.append(f"cache {exc!r}")
                    served["cache"] += 1

            probes = [asyncio.ensure_future(p()) for p in (probe_hello, probe_hello, probe_cache)]
            words = ["greeted", "welcomed"]
            for round_ in range(6):
                edit(project, words[round_ % 2], words[(round_ + 1) % 2])
                await reload(host, project)
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.gather(*probes)
            assert failures == []
            assert served["hello"] > 10
            assert served["cache"] > 10

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (GREETING, "    return f'Hello {name", "SyntaxError"),
        (
            "from pluginctl import Plugin",
            "from pluginctl import Plugin\nimport no_such_module",
            "No module named 'no_such_module'",
        ),
        (
            "plugin = Plugin()",
            "plugin = Plugin()\n\n\n@plugin.on_activate\nasync def boom(api):\n"
            "    raise RuntimeError('activation failed')",
            "activation failed",
        ),
    ],
    ids=["syntax-error", "import-error", "on-activate-raises"],
)
def test_a_broken_version_never_takes_over(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    project = copy_hello(tmp_path)

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, client):
            runtime = host.endpoint("hello")
            assert runtime is not None
            pid = runtime.process and runtime.process.pid
            edit(project, old, new)
            result = await host.reload_plugin("hello", load_source(project))
            assert not result.ok
            assert expected in str(result.error)
            assert "plugin.py" in str(result.error)  # where: the file (and the line)
            assert runtime.state is PluginState.ACTIVE
            assert runtime.process is not None
            assert runtime.process.pid == pid
            assert (await greet(client)).startswith("Hello, ada!")
            edit(project, new, old)  # the next save fixes it
            await reload(host, project)
            assert (await greet(client)).startswith("Hello, ada!")
            assert runtime.last_error is None

    asyncio.run(scenario())


def test_an_endless_loop_at_import_is_cut_off_by_the_deadline(tmp_path: Path) -> None:
    project = copy_hello(tmp_path)

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data", start_timeout_s=1.0) as (
            host,
            client,
        ):
            edit(project, "plugin = Plugin()", "plugin = Plugin()\nwhile True:\n    pass")
            result = await host.reload_plugin("hello", load_source(project))
            assert not result.ok
            assert "did not answer start within 1 s" in str(result.error)
            assert (await greet(client)).startswith("Hello, ada!")

    asyncio.run(scenario())


STATEFUL = """
from pluginctl import Plugin

plugin = Plugin()
COUNT = {"n": 0}


@plugin.export("bump")
async def bump(*, api):
    COUNT["n"] += 1
    return COUNT["n"]


@plugin.dump_state
def dump(api):
    return dict(COUNT)


@plugin.load_state
async def load(state, api):
    COUNT.update(state)
"""


def test_state_is_handed_from_the_old_version_to_the_new(tmp_path: Path) -> None:
    project = tmp_path / "counter"
    (project / "counter").mkdir(parents=True)
    (project / "counter" / "__init__.py").write_text("")
    (project / "counter" / "plugin.py").write_text(STATEFUL)
    (project / "counter" / "plugin.toml").write_text(
        'name = "counter"\nversion = "1.0.0"\nhost = ">=0.1,<1"\nexports = ["bump"]\n'
    )
    (project / "pyproject.toml").write_text(
        '[project]\nname = "counter"\nversion = "1.0.0"\n\n'
        '[project.entry-points."pluginctl.plugins"]\ncounter = "counter.plugin:plugin"\n'
    )

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, _):
            runtime = host.endpoint("counter")
            assert runtime is not None
            assert [await runtime.call("export", "bump", [], {}) for _ in range(3)] == [1, 2, 3]
            result = await host.reload_plugin("counter")
            assert result.ok, result.error
            assert await runtime.call("export", "bump", [], {}) == 4

    asyncio.run(scenario())


def test_a_failed_plugin_is_started_afresh_by_a_reload(tmp_path: Path) -> None:
    project = copy_hello(tmp_path)
    edit(
        project,
        "from pluginctl import Plugin",
        "from pluginctl import Plugin\nimport no_such_module",
    )

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, client):
            runtime = host.endpoint("hello")
            assert runtime is not None
            assert runtime.state is PluginState.FAILED
            edit(project, "\nimport no_such_module", "")
            await reload(host, project)
            assert str(runtime.state) == "active"
            assert (await greet(client)).startswith("Hello, ada!")
            with pytest.raises(UserError, match="runs no plugin named 'nope'"):
                await host.reload_plugin("nope")

    asyncio.run(scenario())


def test_a_new_dependency_that_is_not_running_is_refused_with_the_fix(tmp_path: Path) -> None:
    project = copy_hello(tmp_path)
    manifest = project / "hello" / "plugin.toml"

    async def scenario() -> None:
        async with running_host(project, EXAMPLES / "cache", data_dir=tmp_path / "data") as (
            host,
            client,
        ):
            manifest.write_text(manifest.read_text() + '\n[dependencies]\nnotes = ">=1"\n')
            result = await host.reload_plugin("hello", load_source(project))
            assert not result.ok
            assert "depends on 'notes' (>=1), which is not installed" in str(result.error)
            assert "hint: install it: pip install notes" in str(result.error)
            assert (await greet(client)).startswith("Hello, ada!")
            text = manifest.read_text().replace('notes = ">=1"', 'cache = ">=5"')
            manifest.write_text(text)
            result = await host.reload_plugin("hello", load_source(project))
            assert "but the 'cache' found is 0.1.0" in str(result.error)
            manifest.write_text(text.replace('cache = ">=5"', 'cache = ">=0.1"'))
            await reload(host, project)

    asyncio.run(scenario())


def test_a_route_keeps_its_figures_and_breaker_when_a_reload_adds_one_before_it(
    tmp_path: Path,
) -> None:
    project = copy_hello(tmp_path)

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, client):
            await greet(client)
            index = '@plugin.route("GET", "/")\n'
            first = (
                '@plugin.route("GET", "/first")\nasync def first(request, api):\n    return {}\n'
            )
            edit(project, index, f"{first}\n\n{index}")
            await reload(host, project)
            await greet(client)
            hello = host.endpoint("hello")
            assert hello is not None
            assert hello.routes[0] == ("GET", "/first")  # the indexes moved
            methods = hello.calls.methods()
            assert methods["route:GET /hello/{name}"].calls == 2
            assert "route:GET /first" not in methods
            assert set(hello.method_breakers) == {"route:GET /hello/{name}"}

    asyncio.run(scenario())
