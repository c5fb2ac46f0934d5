"""notes running in a real host: its routes over real HTTP, its rows in its own database.

Each test starts with an empty database, on SQLite by default and on PostgreSQL
under ``pluginctl test --database-url URL``: the same tests pass on both.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import pytest

from pluginctl import RemoteError

if TYPE_CHECKING:
    import httpx

    from pluginctl.testing import EventRecorder, TestedPlugin, TestHost


def add(client: httpx.Client, title: str, body: str = "") -> dict[str, object]:
    response = client.post("/notes", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    note: dict[str, object] = response.json()
    return note


def test_a_note_is_created_read_changed_and_deleted(client: httpx.Client) -> None:
    created = client.post("/notes", json={"title": " Shopping ", "body": "milk and bread"})
    assert created.status_code == 201
    note = created.json()
    assert created.headers["location"] == f"/plugins/notes/notes/{note['id']}"
    assert (note["title"], note["body"], note["word_count"]) == ("Shopping", "milk and bread", 3)
    assert note["created_at"] == note["updated_at"]
    assert datetime.datetime.fromisoformat(note["created_at"]).tzinfo is not None

    assert client.get(f"/notes/{note['id']}").json() == note

    changed = client.patch(f"/notes/{note['id']}", json={"body": "milk, bread, eggs, tea"})
    assert changed.status_code == 200
    assert changed.json()["title"] == "Shopping"  # untouched
    assert (changed.json()["body"], changed.json()["word_count"]) == ("milk, bread, eggs, tea", 4)
    renamed = client.patch(f"/notes/{note['id']}", json={"title": "Groceries"}).json()
    assert (renamed["title"], renamed["word_count"]) == ("Groceries", 4)

    deleted = client.delete(f"/notes/{note['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"/notes/{note['id']}").status_code == 404
    assert client.get("/notes").json()["total"] == 0


def test_every_test_starts_with_no_notes(client: httpx.Client) -> None:
    assert client.get("/notes").json() == {
        "notes": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
        "next_offset": None,
    }
    assert add(client, "first")["id"] == 1  # a new table: ids start again


def test_notes_are_listed_newest_first_a_page_at_a_time(client: httpx.Client) -> None:
    for number in range(1, 6):
        add(client, f"note {number}")
    first = client.get("/notes", params={"limit": 2}).json()
    assert [n["title"] for n in first["notes"]] == ["note 5", "note 4"]
    assert (first["total"], first["next_offset"]) == (5, 2)
    second = client.get("/notes", params={"limit": 2, "offset": first["next_offset"]}).json()
    assert [n["title"] for n in second["notes"]] == ["note 3", "note 2"]
    last = client.get("/notes", params={"limit": 2, "offset": second["next_offset"]}).json()
    assert ([n["title"] for n in last["notes"]], last["next_offset"]) == (["note 1"], None)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_missing_note_is_a_404_that_says_which(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/notes/41", json={"title": "x"})
    assert response.status_code == 404
    assert response.json() == {"error": "there is no note 41"}


def test_an_id_too_large_for_any_note_is_a_404(client: httpx.Client) -> None:
    response = client.get("/notes/99999999999999999999")
    assert response.status_code == 404
    assert response.json() == {"error": "there is no note 99999999999999999999"}
    assert client.get("/notes").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"not json", 400, "the body is not JSON"),
        (b'{"title": "a\\u0000b"}', 422, "the title holds a NUL character"),
        (b'{"body": "no title"}', 422, "Object missing required field `title`"),
        (b'{"title": ["a", "list"]}', 422, "Expected `str`, got `array` - at `$.title`"),
        (b'{"title": "x", "tags": []}', 422, "unknown field `tags`"),
    ],
)
def test_a_bad_body_is_refused_saying_what_is_wrong(
    client: httpx.Client, body: bytes, status: int, says: str
) -> None:
    response = client.post("/notes", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert says in response.json()["error"]
    assert client.get("/notes").json()["total"] == 0  # nothing was written


def test_a_change_must_change_something(client: httpx.Client) -> None:
    note = add(client, "keep")
    response = client.patch(f"/notes/{note['id']}", json={})
    assert response.status_code == 422
    assert response.json() == {"error": "nothing to change: give a title, a body or both"}


def test_a_bad_page_is_refused(client: httpx.Client) -> None:
    response = client.get("/notes", params={"limit": 1000})
    assert response.status_code == 422
    assert response.json() == {"error": "?limit= takes a whole number from 1 to 100"}


def test_text_is_stored_as_given_never_as_sql(client: httpx.Client) -> None:
    title = "'); DROP TABLE notes; --"
    note = add(client, title, "<script>alert(1)</script>")
    assert client.get(f"/notes/{note['id']}").json()["title"] == title
    assert client.get("/notes").json()["total"] == 1


def test_the_page_and_its_script_are_served(client: httpx.Client) -> None:
    page = client.get("/static/index.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="notes.js"></script>' in page.text
    script = client.get("/static/notes.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # what it shows goes in as text, never as markup


def test_the_page_may_read_the_routes_and_another_site_may_not(
    client: httpx.Client, plugin: TestedPlugin
) -> None:
    page = f"{plugin.url}/static/index.html"  # this host's page, sandboxed: Origin null
    ours = {"origin": "null", "referer": page}
    assert client.get("/notes", headers=ours).headers["access-control-allow-origin"] == "null"
    preflight = client.options(
        "/notes/1",
        headers={**ours, "access-control-request-method": "DELETE"},
    )
    assert preflight.status_code == 204
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    elsewhere = {"origin": "null", "referer": "https://elsewhere.example/page.html"}
    assert "access-control-allow-origin" not in client.get("/notes", headers=elsewhere).headers
    assert "access-control-allow-origin" not in client.get("/notes").headers
    refused = client.options(
        "/notes", headers={**elsewhere, "access-control-request-method": "POST"}
    )
    assert "access-control-allow-methods" not in refused.headers


@pytest.mark.pluginctl(revoke=["db:write"])
def test_without_db_write_reads_work_and_writes_are_denied(
    client: httpx.Client, host: TestHost
) -> None:
    assert client.get("/notes").json()["total"] == 0
    assert client.post("/notes", json={"title": "x"}).status_code == 500
    denied = [r for r in host.audit() if r["event"] == "permission.denied"]
    assert denied[-1]["permission"] == "db:write"


def test_each_change_is_published(client: httpx.Client, events: EventRecorder) -> None:
    note = add(client, "Shopping", "milk")
    client.patch(f"/notes/{note['id']}", json={"title": "Groceries"})
    client.delete(f"/notes/{note['id']}")
    assert events.wait_for("notes.deleted").payload == {"id": note["id"], "title": "Groceries"}
    published = [(e.publisher, e.topic, e.payload) for e in events.of("notes.*")]
    assert published == [
        ("notes", "notes.created", {"id": note["id"], "title": "Shopping"}),
        ("notes", "notes.updated", {"id": note["id"], "title": "Groceries"}),
        ("notes", "notes.deleted", {"id": note["id"], "title": "Groceries"}),
    ]
    client.delete(f"/notes/{note['id']}")  # a 404 changes nothing: nothing is published
    assert len(events.of("notes.*")) == 3


def test_the_all_notes_export_gives_every_note_oldest_first_a_page_at_a_time(
    client: httpx.Client, plugin: TestedPlugin
) -> None:
    assert plugin.call("all_notes") == {"notes": [], "next_after": None}
    notes = [add(client, f"note {number}", "one two") for number in range(1, 6)]
    assert plugin.call("all_notes") == {"notes": notes, "next_after": None}  # as routes say
    first = plugin.call("all_notes", limit=2)
    assert first == {"notes": notes[:2], "next_after": notes[1]["id"]}
    rest = plugin.call("all_notes", after=notes[1]["id"], limit=3)
    assert rest == {"notes": notes[2:], "next_after": None}


def test_the_all_notes_export_refuses_a_page_out_of_range(plugin: TestedPlugin) -> None:
    with pytest.raises(RemoteError, match=r"all_notes takes 1 <= limit <= 100"):
        plugin.call("all_notes", limit=1000)


def test_the_panel_counts_the_notes_and_lists_the_newest(
    client: httpx.Client, plugin: TestedPlugin
) -> None:
    assert "No notes yet" in plugin.panel("main")
    add(client, "Shopping", "milk and bread")
    add(client, "Books", "a novel")
    html = plugin.panel("main")
    assert "<strong>2</strong> notes, <strong>5</strong> words" in html
    assert html.index("Books") < html.index("Shopping")  # newest first
    assert '<form method="get">' in html  # reloads the panel itself: no action, no script
    assert "<script" not in html


def test_the_panel_searches_titles_and_text_as_written(
    client: httpx.Client, plugin: TestedPlugin
) -> None:
    add(client, "Shopping", "MILK and bread")
    add(client, "Discount", "100% off")
    add(client, "Percent", "1000 of them")
    found = plugin.panel("main", {"q": "milk"})
    assert "<strong>1</strong> match “milk”" in found
    assert "Shopping" in found
    assert "Discount" not in found
    assert 'value="milk"' in found  # the form keeps what was searched
    percent = plugin.panel("main", "q=100%25")  # a % is a percent sign, not a wildcard
    assert ("Discount" in percent, "Percent" in percent) == (True, False)
    assert "No note matches." in plugin.panel("main", {"q": "cheese"})


def test_the_panel_escapes_what_notes_hold(client: httpx.Client, plugin: TestedPlugin) -> None:
    add(client, '<img src=x onerror="alert(1)">', "<script>alert(2)</script>")
    html = plugin.panel("main", {"q": '"><script>'})
    assert "<script>" not in html
    assert "<img" not in html
    assert 'value="&quot;&gt;&lt;script&gt;"' in html
    listed = plugin.panel("main")
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in listed
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in listed
