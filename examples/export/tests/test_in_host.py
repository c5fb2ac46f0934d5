"""export in a real host beside notes and audit-log: real cross-plugin calls and requests.

The XLSX files are written by openpyxl inside the sandboxed worker and read back
here with openpyxl.
"""

from __future__ import annotations

import datetime
import io
import time
from typing import TYPE_CHECKING

import openpyxl
import pytest

from pluginctl.runtime.sandbox import probe

if TYPE_CHECKING:
    import httpx

    from pluginctl.testing import TestedPlugin, TestHost

pytestmark = pytest.mark.pluginctl(plugins=["../notes", "../audit-log"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def add_notes(client: httpx.Client, plugin: TestedPlugin, *titles: str) -> list[dict[str, object]]:
    notes = plugin.url.replace("/plugins/export", "/plugins/notes")
    added = []
    for title in titles:
        response = client.post(f"{notes}/notes", json={"title": title, "body": f"about {title}"})
        assert response.status_code == 201, response.text
        added.append(response.json())
    return added


def test_notes_download_as_csv(client: httpx.Client, plugin: TestedPlugin) -> None:
    add_notes(client, plugin, "Shopping", "=1+1")
    response = client.get("/notes.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="notes.csv"'
    lines = response.text.split("\r\n")
    assert lines[0] == "id,title,body,word_count,created_at,updated_at"
    assert lines[1].startswith("1,Shopping,about Shopping,2,")
    assert lines[2].startswith("2,'=1+1,about =1+1,2,")  # shown, never run, by a spreadsheet


def test_notes_download_as_json_just_as_notes_has_them(
    client: httpx.Client, plugin: TestedPlugin
) -> None:
    added = add_notes(client, plugin, "one", "two")
    response = client.get("/notes.json")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="notes.json"'
    assert response.json() == added


def test_notes_download_as_xlsx_written_in_the_sandbox(
    client: httpx.Client, plugin: TestedPlugin, host: TestHost
) -> None:
    added = add_notes(client, plugin, "Shopping", "=SUM(A1:A9)")
    response = client.get("/notes.xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == 'attachment; filename="notes.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["notes"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("id", "title", "body", "word_count", "created_at", "updated_at")
    created = datetime.datetime.fromisoformat(str(added[0]["created_at"]))
    assert rows[1][:5] == (1, "Shopping", "about Shopping", 2, created.replace(tzinfo=None))
    assert rows[2][1] == "=SUM(A1:A9)"
    assert sheet["B3"].data_type == "s"  # text, not a formula
    assert list((plugin.data_dir / "tmp").iterdir()) == []  # openpyxl's scratch files: gone
    sandbox = next(
        r for r in reversed(host.audit()) if r["event"] == "sandbox" and r["plugin"] == "export"
    )
    assert set(probe().layers) <= set(sandbox["layers"])  # type: ignore[arg-type]


def test_every_note_is_exported_past_one_page(client: httpx.Client, plugin: TestedPlugin) -> None:
    add_notes(client, plugin, *(f"note {number}" for number in range(1, 106)))  # pages of 100
    rows = client.get("/notes.json").json()
    assert [row["title"] for row in rows] == [f"note {number}" for number in range(1, 106)]


def test_the_audit_log_downloads_filtered(client: httpx.Client, plugin: TestedPlugin) -> None:
    add_notes(client, plugin, "Shopping")
    deadline = time.monotonic() + 5
    while not (rows := client.get("/audit.json", params={"family": "notes"}).json()):
        assert time.monotonic() < deadline, "audit-log recorded no notes event"
        time.sleep(0.05)
    assert [(row["topic"], row["plugin"]) for row in rows] == [("notes.created", "notes")]
    assert rows[0]["payload"] == {"id": 1, "title": "Shopping"}
    csv = client.get("/audit.csv", params={"family": "notes"})
    assert csv.headers["content-disposition"] == 'attachment; filename="audit.csv"'
    assert csv.text.split("\r\n")[0] == "id,ts,topic,family,plugin,publisher,payload"
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/audit.xlsx").content))["audit"]
    assert "host.plugin.active" in [row[2] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.pluginctl(plugins=["../notes", "../audit-log", "../analytics"])
def test_a_plugin_listening_to_everything_does_not_answer_for_the_audit_log(
    client: httpx.Client,
) -> None:
    for _ in range(5):  # analytics gets each request too, and answers None, at once
        response = client.get("/audit.json")
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)


@pytest.mark.pluginctl(plugins=["../notes"])
def test_without_the_audit_log_its_download_is_a_503_and_notes_still_work(
    client: httpx.Client,
) -> None:
    response = client.get("/audit.csv")
    assert response.status_code == 503
    assert response.json()["error"].startswith("the audit log is not running")
    assert client.get("/notes.csv").status_code == 200


def test_an_unknown_format_is_a_404_naming_the_formats(client: httpx.Client) -> None:
    response = client.get("/notes.pdf")
    assert response.status_code == 404
    assert response.json() == {"error": "there is no 'pdf' format: choose one of csv, json, xlsx"}


def test_the_index_lists_the_downloads(client: httpx.Client) -> None:
    assert "/plugins/export/notes.xlsx" in client.get("/").json()["downloads"]
