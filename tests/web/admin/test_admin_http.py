"""The admin UI over HTTP against a real host: login, CSRF, actions, audit, panels, escaping."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import pytest

from pluginctl.web.admin import audit_view
from pluginctl.web.admin.auth import TOKEN_ENV, load_admin_token
from tests.runtime.host_harness import wait_for
from tests.web.admin.harness import BASE, EXAMPLES, FIXTURES, TOKEN, admin_host

if TYPE_CHECKING:
    from pathlib import Path

HELLO, INTRUDER = EXAMPLES / "hello", FIXTURES / "intruder"


def run(scenario: object) -> None:
    asyncio.run(scenario)  # type: ignore[arg-type]


def test_every_page_needs_a_session_and_the_login_needs_the_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            client = admin.client
            for path in ("/admin/", "/admin/audit", "/admin/plugins/hello"):
                reply = await client.get(path)
                assert reply.status_code == 303
                assert reply.headers["location"].startswith("/admin/login?next=/admin")
            assert (await client.get("/admin/live/dashboard")).status_code == 401
            wrong = await client.post("/admin/login", data={"token": "not-it"})
            assert wrong.status_code == 401
            assert "not the admin token" in wrong.text
            assert "set-cookie" not in wrong.headers
            right = await client.post("/admin/login", data={"token": TOKEN, "next": "/admin/audit"})
            assert right.status_code == 303
            assert right.headers["location"] == "/admin/audit"
            cookie = right.headers["set-cookie"].lower()
            for part in ("httponly", "samesite=strict", "path=/admin"):
                assert part in cookie
            page = await client.get("/admin/")
            assert page.status_code == 200
            assert "hello" in page.text

    run(scenario())


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin",
        "//evil.example/admin",
        "/plugins/x",
        "/admin\\@evil",
        # a browser resolves the dot segments: these lead to a plugin's own page
        "/admin/../plugins/intruder/ok",
        "/admin/./../plugins/intruder/ok",
        "/admin/%2e%2e/plugins/intruder/ok",
        "/admin/.%2E/plugins/intruder/ok",
    ],
)
def test_the_login_never_sends_the_browser_off_the_admin_ui(tmp_path: Path, target: str) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            reply = await admin.client.post("/admin/login", data={"token": TOKEN, "next": target})
            assert reply.headers["location"] == "/admin/"

    run(scenario())


def test_too_many_wrong_tokens_make_the_client_wait(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            for _ in range(10):
                await admin.client.post("/admin/login", data={"token": "guess"})
            blocked = await admin.client.post("/admin/login", data={"token": TOKEN})
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) > 0

    run(scenario())


def test_actions_need_the_csrf_token_and_the_same_origin(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            csrf = await admin.login()
            client = admin.client
            no_token = await client.post("/admin/plugins/hello/disable", data={})
            wrong = await client.post("/admin/plugins/hello/disable", data={"csrf": "x" * 43})
            foreign = await client.post(
                "/admin/plugins/hello/disable",
                data={"csrf": csrf},
                headers={"origin": "https://evil.example"},
            )
            opaque = await client.post(
                "/admin/plugins/hello/disable", data={"csrf": csrf}, headers={"origin": "null"}
            )
            for reply in (no_token, wrong, foreign, opaque):
                assert reply.status_code == 403
            assert admin.host.endpoint("hello").state == "active"  # type: ignore[union-attr]

    run(scenario())


def test_disable_enable_reload_and_reset_act_on_the_host(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            csrf = await admin.login()
            client = admin.client
            assert (await client.get("/plugins/hello/hello/ada")).status_code == 200
            reply = await admin.act("hello", "disable", csrf)
            assert reply.status_code == 303
            assert (await client.get("/plugins/hello/hello/ada")).status_code == 503
            page = await client.get("/admin/")
            assert "hello: disabled" in page.text
            assert 'data-action="enable"' in page.text
            await admin.act("hello", "enable", csrf)
            assert (await client.get("/plugins/hello/hello/ada")).status_code == 200
            generation = admin.host.endpoint("hello").generation  # type: ignore[union-attr]
            await admin.act("hello", "reload", csrf)
            assert admin.host.endpoint("hello").generation > generation  # type: ignore[union-attr]
            await admin.act("hello", "reset", csrf)
            page = await client.get("/admin/")
            assert "hello: reloaded" in page.text
            assert "hello: breakers closed" in page.text
            unknown = await admin.act("nope", "disable", csrf)
            assert unknown.status_code == 303
            assert "no such plugin or action" in (await client.get("/admin/")).text
            events = [r["event"] for r in _audit(tmp_path)]
            for event in ("plugin.disabled", "plugin.enabled", "plugin.reloaded", "breaker.reset"):
                assert event in events

    run(scenario())


def test_a_crash_shows_with_its_reason_and_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, INTRUDER, data_dir=tmp_path) as admin:
            await admin.login()
            await admin.client.get("/plugins/intruder/crash")
            runtime = admin.host.endpoint("intruder")
            await wait_for(lambda: runtime.restarts >= 1, timeout_s=20)  # type: ignore[union-attr]
            live = await admin.client.get("/admin/live/dashboard")
            assert "plugin.restart_scheduled" in live.text
            assert "exit code 3" in live.text or "exited with code 3" in live.text
            detail = await admin.client.get("/admin/plugins/intruder")
            assert "crashed:" in detail.text

    run(scenario())


def test_the_plugin_page_has_charts_figures_and_recent_output(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, INTRUDER, data_dir=tmp_path) as admin:
            await admin.login()
            for _ in range(20):
                await admin.client.get("/plugins/hello/hello/ada")
            await asyncio.sleep(0.2)  # a few samples
            for _ in range(5):
                await admin.client.get("/plugins/hello/hello/ada")
            await wait_for(lambda: len(admin.ui.history.series("hello")) >= 3)
            page = await admin.client.get("/admin/plugins/hello")
            assert page.status_code == 200
            assert page.text.count('<svg class="chart"') == 3
            assert "<polyline" in page.text
            await admin.client.get("/plugins/intruder/shout")
            runtime = admin.host.endpoint("intruder")
            await wait_for(lambda: runtime.output is not None and runtime.output.recent)  # type: ignore[union-attr]
            shouted = await admin.client.get("/admin/live/plugins/intruder")
            assert "&lt;img src=x onerror=" in shouted.text
            assert "<img src=x" not in shouted.text
            missing = await admin.client.get("/admin/plugins/nope")
            assert missing.status_code == 404

    run(scenario())


def test_the_audit_log_filters_by_plugin_event_and_text(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(HELLO, INTRUDER, data_dir=tmp_path) as admin:
            csrf = await admin.login()
            await admin.act("hello", "disable", csrf)
            admin.host.audit.record("permission.denied", plugin="intruder", permission="<b>kv</b>")
            page = await admin.client.get("/admin/audit", params={"plugin": "hello"})
            rows = _events(page.text)
            assert "plugin.disabled" in rows
            assert set(_plugins(page.text)) == {"hello"}
            family = await admin.client.get("/admin/audit", params={"event": "permission.*"})
            assert set(_events(family.text)) == {"permission.denied"}
            assert "&lt;b&gt;kv&lt;/b&gt;" in family.text
            text = await admin.client.get("/admin/audit", params={"q": "KV"})
            assert _events(text.text) == ["permission.denied"]
            limited = await admin.client.get("/admin/audit", params={"limit": "1"})
            assert len(_events(limited.text)) == 1
            nonsense = await admin.client.get("/admin/audit", params={"limit": "lots"})
            assert nonsense.status_code == 200

    run(scenario())


def test_markup_from_plugins_is_escaped_everywhere(tmp_path: Path) -> None:
    """Hostile-input row 24: descriptions, titles, errors and logs are text, never markup."""

    async def scenario() -> None:
        async with admin_host(INTRUDER, data_dir=tmp_path) as admin:
            await admin.login()
            detail = await admin.client.get("/admin/plugins/intruder")
            assert "&lt;script&gt;document.title=" in detail.text
            assert "<script>document.title" not in detail.text
            assert "Hostile &lt;i&gt;panel&lt;/i&gt;" in detail.text  # the sidebar's title
            broken = await admin.client.get(await _frame_url(admin, "broken"))
            assert broken.status_code == 500
            assert "&lt;b&gt;the panel broke&lt;/b&gt;" in broken.text

    run(scenario())


def test_a_panel_is_served_sandboxed_under_a_strict_policy(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(INTRUDER, data_dir=tmp_path) as admin:
            await admin.login()
            page = await admin.client.get("/admin/plugins/intruder/panels/hostile")
            assert page.status_code == 200
            assert 'sandbox="allow-forms"' in page.text
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert page.headers["x-frame-options"] == "DENY"
            page_policy = page.headers["content-security-policy"]
            assert f"script-src {BASE}/admin/static/admin.js;" in page_policy  # not any script
            hostile = await _frame_url(admin, "hostile")
            frame = await admin.client.get(hostile)
            assert frame.status_code == 200
            policy = frame.headers["content-security-policy"]
            assert policy.startswith("sandbox allow-forms;")
            # its forms may only load this very panel again
            assert f"form-action {BASE}{hostile};" in policy
            for directive in ("default-src 'none'", "base-uri 'none'"):
                assert directive in policy
            assert "script-src" not in policy  # so default-src 'none' forbids every script
            assert "hostile panel" in frame.text
            filtered = await admin.client.get(await _frame_url(admin, "filters") + "?q=<b>x</b>")
            assert "showing: &lt;b&gt;x&lt;/b&gt;" in filtered.text
            wrong = await admin.client.get(await _frame_url(admin, "wrong-type"))
            assert wrong.status_code == 500
            assert "returned dict, not HTML text" in wrong.text
            huge = await admin.client.get(await _frame_url(admin, "huge"))
            assert huge.status_code == 500
            assert "more than 1 MiB of HTML" in huge.text
            assert (
                await admin.client.get("/admin/plugins/intruder/panels/nope")
            ).status_code == 404

    run(scenario())


def test_a_frame_key_works_without_the_cookie_and_dies_with_the_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(INTRUDER, data_dir=tmp_path) as admin:
            csrf = await admin.login()
            url = await _frame_url(admin, "filters")
            cookies = dict(admin.client.cookies)
            admin.client.cookies.clear()
            assert (await admin.client.get(url)).status_code == 200
            admin.client.cookies.update(cookies)
            await admin.client.post("/admin/logout", data={"csrf": csrf})
            assert (await admin.client.get(url)).status_code == 404
            assert (await admin.client.get("/admin/")).status_code == 303

    run(scenario())


def test_a_panel_of_a_stopped_plugin_says_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_host(INTRUDER, data_dir=tmp_path) as admin:
            csrf = await admin.login()
            url = await _frame_url(admin, "filters")
            await admin.act("intruder", "disable", csrf)
            reply = await admin.client.get(url)
            assert reply.status_code == 503
            assert "not active (disabled)" in reply.text

    run(scenario())


async def _frame_url(admin: object, panel: str) -> str:
    page = await admin.client.get(f"/admin/plugins/intruder/panels/{panel}")  # type: ignore[attr-defined]
    found = re.search(r'<iframe class="panel" src="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def _events(page: str) -> list[str]:
    return re.findall(r"<td><code>([a-z_.]+)</code></td>", page)


def _plugins(page: str) -> list[str]:
    return re.findall(r"</code></td><td>([a-z-]*)</td>", page)


def _audit(tmp_path: Path) -> list[dict[str, object]]:
    from pluginctl.runtime.audit import read

    return list(read(tmp_path / "audit.jsonl"))


def test_no_plugin_sees_the_admin_token_in_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator may set the token in the environment; the workers it starts must not get it."""
    secrets = [
        TOKEN_ENV,
        "PLUGINCTL_DATABASE_URL",
        "PLUGINCTL_TEST_DATABASE_URL",
        "PLUGINCTL_HOST_TOKEN",
        "PLUGINCTL_KEY_PASSPHRASE",
        "PLUGINCTL_SIGNING_KEY",
    ]
    for name in secrets:
        monkeypatch.setenv(name, "postgresql://admin:secret@127.0.0.1/db")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("PLUGINCTL_TEST_MARKER", "passed on")

    async def scenario() -> None:
        async with admin_host(INTRUDER, data_dir=tmp_path) as admin:
            names = ",".join([*secrets, "PLUGINCTL_TEST_MARKER"])
            seen = await admin.client.get("/plugins/intruder/environ", params={"names": names})
            assert seen.json() == {
                **dict.fromkeys(secrets),
                "PLUGINCTL_TEST_MARKER": "passed on",
            }

    run(scenario())


def test_the_live_parts_never_read_the_audit_log_and_still_show_new_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live parts are fetched every two seconds per open page, on the gateway's loop.

    Reading the audit log's tail there would stall every plugin's requests, so they
    show the problems the admin UI kept from the audit log's listener instead.
    """

    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            await admin.login()

            def no_reading(path: Path) -> list[str]:
                raise AssertionError(f"a live part read {path}")

            monkeypatch.setattr(audit_view, "_lines_from_the_end", no_reading)
            admin.host.audit.record("plugin.unhealthy", plugin="hello", reason="<i>slow</i>")
            for part in ("dashboard", "plugins/hello"):
                page = await admin.client.get(f"/admin/live/{part}")
                assert page.status_code == 200
                assert "&lt;i&gt;slow&lt;/i&gt;" in page.text

    run(scenario())


def test_a_record_with_a_unicode_line_separator_still_shows(tmp_path: Path) -> None:
    """A plugin chooses text in its records (a topic, a reason); none can hide a record."""

    async def scenario() -> None:
        async with admin_host(INTRUDER, data_dir=tmp_path) as admin:
            await admin.login()
            tried = await admin.client.get("/plugins/intruder/hide")
            assert tried.json() == {"refused": "PermissionDenied"}
            assert "permission.denied" in [r["event"] for r in _audit(tmp_path)]
            page = await admin.client.get(
                "/admin/audit", params={"plugin": "intruder", "event": "permission.denied"}
            )
            assert _events(page.text) == ["permission.denied"]
            assert "orders\u2028created\x85" in page.text

    run(scenario())


def test_a_failed_login_tells_nobody_where_the_token_is_kept(tmp_path: Path) -> None:
    """Whoever reaches the login page learns nothing of the machine: not the data directory."""
    token = load_admin_token(tmp_path / "data", environ={})

    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path / "data", token=token) as admin:
            wrong = await admin.client.post("/admin/login", data={"token": "not-it"})
            assert wrong.status_code == 401
            assert "not the admin token" in wrong.text
            assert str(tmp_path) not in wrong.text
            right = await admin.client.post("/admin/login", data={"token": token.value})
            assert right.status_code == 303

    run(scenario())


def test_logins_posted_from_other_origins_cannot_lock_the_operator_out(tmp_path: Path) -> None:
    """Any site the operator visits, or a plugin's page (origin "null"), can post the form."""

    async def scenario() -> None:
        async with admin_host(HELLO, data_dir=tmp_path) as admin:
            for origin in ["https://evil.example", "null"] * 10:
                refused = await admin.client.post(
                    "/admin/login", data={"token": "guess"}, headers={"origin": origin}
                )
                assert refused.status_code == 401
            foreign = await admin.client.post(
                "/admin/login", data={"token": TOKEN}, headers={"origin": "null"}
            )
            assert foreign.status_code == 401  # even with the token: no login from elsewhere
            right = await admin.client.post(
                "/admin/login", data={"token": TOKEN}, headers={"origin": BASE}
            )
            assert right.status_code == 303

    run(scenario())


def test_the_token_is_printed_at_the_first_start_only_and_no_admin_turns_the_ui_off(
    tmp_path: Path,
) -> None:
    import httpx

    from tests.runtime.host_harness import interrupt
    from tests.runtime.host_harness import start_host as start_run

    token_file = tmp_path / "data" / "admin-token"
    first, url = start_run(tmp_path, "--plugin", str(HELLO))
    try:
        assert first.stdout is not None
        printed = first.stdout.readline() + first.stdout.readline()
        assert f"admin UI: {url}/admin/" in printed
        assert token_file.read_text().strip() in printed  # shown this once
        assert httpx.get(f"{url}/admin/login").status_code == 200
    finally:
        interrupt(first)
    again, url = start_run(tmp_path, "--plugin", str(HELLO))
    try:
        assert again.stdout is not None
        printed = again.stdout.readline() + again.stdout.readline()
        assert f"admin token: in {token_file}" in printed
        assert token_file.read_text().strip() not in printed
    finally:
        interrupt(again)
    token_file.unlink()
    off, url = start_run(tmp_path, "--plugin", str(HELLO), "--no-admin")
    try:
        assert httpx.get(f"{url}/admin/login").status_code == 404
        assert httpx.get(f"{url}/plugins/hello/hello/ada").status_code == 200
    finally:
        interrupt(off)
    assert not token_file.exists()  # no token was made for a UI that is off
