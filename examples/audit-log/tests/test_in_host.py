"""audit-log in a real host, beside notes: real host events, real notes events, its database.

Each test starts with an empty database. The host's own lifecycle events arrive
as they happen, so the tests wait for them (`records_of`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from pluginctl.testing import TestedPlugin, TestHost

pytestmark = pytest.mark.pluginctl(plugins=["../notes"])


def records_of(
    client: httpx.Client, *, want: int = 1, timeout_s: float = 5.0, **filters: object
) -> dict[str, object]:
    """``GET /records`` with ``filters``, once it holds at least ``want`` records."""
    deadline = time.monotonic() + timeout_s
    while True:
        found: dict[str, object] = client.get("/records", params=filters).json()
        if found["total"] >= want or time.monotonic() > deadline:  # type: ignore[operator]
            return found
        time.sleep(0.05)


def notes_at(plugin: TestedPlugin) -> str:
    return plugin.url.replace("/plugins/audit-log", "/plugins/notes")


def test_notes_changes_are_recorded_with_their_payload(
    client: httpx.Client, plugin: TestedPlugin
) -> None:
    notes = notes_at(plugin)
    created = client.post(f"{notes}/notes", json={"title": "Shopping", "body": "milk"}).json()
    client.delete(f"{notes}/notes/{created['id']}")
    found = records_of(client, want=2, family="notes")
    assert [(r["topic"], r["plugin"], r["payload"]) for r in found["records"]] == [
        ("notes.deleted", "notes", {"id": created["id"], "title": "Shopping"}),
        ("notes.created", "notes", {"id": created["id"], "title": "Shopping"}),
    ]
    assert found["total"] == 2


def test_host_lifecycle_events_are_recorded_about_their_plugin(
    client: httpx.Client, host: TestHost
) -> None:
    host.run(host.host.disable_plugin("notes"))
    host.run(host.host.enable_plugin("notes"))
    found = records_of(client, want=2, plugin="notes", q="abled")
    assert [r["topic"] for r in found["records"]] == ["host.plugin.enabled", "host.plugin.disabled"]
    disabled = found["records"][1]
    assert disabled["publisher"] == "host"
    assert disabled["family"] == "host.plugin"
    assert disabled["payload"]["reason"] == "operator"
    assert disabled["ts"] == disabled["payload"]["ts"]  # the host's time, not its arrival


def test_the_hosts_traffic_reports_are_not_records(client: httpx.Client, host: TestHost) -> None:
    host.publish("host.traffic", {"interval_s": 10.0, "plugins": {}}, publisher="host")
    host.publish("greeter.greeted", {"name": "ada", "count": 1}, publisher="greeter")
    assert records_of(client, family="greeter")["total"] == 1
    assert records_of(client, q="interval_s", timeout_s=0)["total"] == 0


def test_records_page_newest_first(client: httpx.Client, host: TestHost) -> None:
    for count in range(1, 6):
        host.publish("greeter.greeted", {"name": "ada", "count": count}, publisher="greeter")
    first = client.get("/records", params={"family": "greeter", "limit": 2}).json()
    assert [r["payload"]["count"] for r in first["records"]] == [5, 4]
    assert first["total"] == 5
    rest = client.get(
        "/records", params={"family": "greeter", "limit": 10, "before": first["next_before"]}
    ).json()
    assert [r["payload"]["count"] for r in rest["records"]] == [3, 2, 1]
    assert rest["next_before"] is None


def test_a_bad_filter_is_a_422_saying_which(client: httpx.Client) -> None:
    response = client.get("/records", params={"limit": "lots"})
    assert response.status_code == 422
    assert "`$.limit`" in response.json()["error"]


@pytest.mark.pluginctl(config={"max_records": 10})
def test_past_max_records_the_oldest_go(client: httpx.Client, host: TestHost) -> None:
    for count in range(1, 31):
        host.publish("greeter.greeted", {"name": "ada", "count": count}, publisher="greeter")
    kept = client.get("/records", params={"family": "greeter", "limit": 100}).json()
    assert kept["total"] <= 10
    assert kept["records"][0]["payload"]["count"] == 30


def test_the_panel_filters_with_its_form(
    client: httpx.Client, host: TestHost, plugin: TestedPlugin
) -> None:
    host.publish("greeter.greeted", {"name": "ada"}, publisher="greeter")
    host.publish("greeter.greeted", {"name": "bob"}, publisher="greeter")
    records_of(client, want=1, plugin="notes")  # notes's own start, recorded too
    every = plugin.panel("main")
    assert '<form method="get">' in every
    assert '<option value="greeter">greeter</option>' in every
    assert "<script" not in every
    bob = plugin.panel("main", {"plugin": "greeter", "q": "bob"})
    assert "<strong>1</strong> of" in bob
    assert "&quot;bob&quot;" in bob
    assert "&quot;ada&quot;" not in bob
    assert '<option value="greeter" selected>' in bob
    assert "unknown field `colour`" in plugin.panel("main", {"colour": "red"})


def test_other_plugins_ask_by_request(host: TestHost, plugin: TestedPlugin) -> None:
    host.publish("greeter.greeted", {"name": "ada"}, publisher="greeter")

    async def ask() -> object:
        return await host.host.events.request(
            "export", "audit-log.query", {"family": "greeter"}, timeout_s=5
        )

    answer = host.run(ask())
    assert isinstance(answer, dict)
    assert answer["total"] == 1
    assert answer["records"][0]["payload"] == {"name": "ada"}
