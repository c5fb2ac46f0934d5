"""The admin UI in a real chromium, against a real ``pluginctl run``.

One host serves the whole module (hello, and the intruder fixture that attacks the
admin UI); each test has a fresh browser context, so a fresh login. The tests run
in one xdist worker (one browser, one host).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.admin.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, needs_chromium, start_host
from tests.web.admin.harness import EXAMPLES, FIXTURES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser, Page

    from tests.web.admin.browser import RunningHost

pytestmark = [needs_chromium, pytest.mark.xdist_group("admin-browser")]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    root = tmp_path_factory.mktemp("admin-browser")
    running = start_host(root, EXAMPLES / "hello", EXAMPLES / "notes", FIXTURES / "intruder")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, host: RunningHost) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=host.url)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def log_in(page: Page, host: RunningHost) -> None:
    page.goto("/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=token]", host.token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def row(page: Page, plugin: str) -> object:
    return page.locator(f'tr[data-plugin="{plugin}"]')


def shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"admin-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_a_wrong_token_is_refused_and_the_printed_one_logs_in(
    page: Page, host: RunningHost
) -> None:
    page.goto("/admin/")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert "not the admin token" in page.locator("[role=alert]").inner_text()
    log_in(page, host)
    for plugin in ("hello", "intruder"):
        assert row(page, plugin).locator('[data-field="state"]').inner_text() == "active"  # type: ignore[attr-defined]
        assert page.locator(f'nav a[href="/admin/plugins/{plugin}"]').is_visible()
    shoot(page, "dashboard")


def test_disabling_a_plugin_stops_its_routes_until_it_is_enabled(
    page: Page, host: RunningHost
) -> None:
    log_in(page, host)
    route = f"{host.url}/plugins/hello/hello/ada"
    assert httpx.get(route).status_code == 200
    row(page, "hello").locator('button[data-action="disable"]').click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.locator(".flash")).to_contain_text("hello: disabled")
    expect(row(page, "hello").locator('[data-field="state"]')).to_have_text("disabled")  # type: ignore[attr-defined]
    assert httpx.get(route).status_code == 503
    row(page, "hello").locator('button[data-action="enable"]').click()  # type: ignore[attr-defined]
    expect(page.locator(".flash")).to_contain_text("hello: enabled")
    assert httpx.get(route).status_code == 200


def test_reloading_a_plugin_swaps_its_worker(page: Page, host: RunningHost) -> None:
    log_in(page, host)
    page.goto("/admin/plugins/hello")
    pid = page.locator(".figures div", has_text="pid").inner_text()
    page.locator('button[data-action="reload"]').click()
    expect(page.locator(".flash")).to_contain_text("hello: reloaded")
    expect(page.locator(".figures div", has_text="pid")).not_to_have_text(pid)
    assert httpx.get(f"{host.url}/plugins/hello/hello/ada").status_code == 200


def test_a_crash_shows_up_live_with_its_reason(page: Page, host: RunningHost) -> None:
    log_in(page, host)
    restarts = row(page, "intruder").locator('[data-field="restarts"]')  # type: ignore[attr-defined]
    before = int(restarts.inner_text().split()[0])
    with pytest.raises(httpx.HTTPError):  # the worker dies mid-request: 502 or a cut
        httpx.get(f"{host.url}/plugins/intruder/crash").raise_for_status()
    # no reload: the page's script fetches the live part every two seconds
    page.wait_for_function(
        "([before]) => parseInt(document.querySelector("
        '\'tr[data-plugin="intruder"] [data-field="restarts"]\').textContent) > before',
        arg=[before],
        timeout=30_000,
    )
    problems = page.locator("table.audit").inner_text()
    assert "intruder" in problems
    assert "exit code 3" in problems or "exited with code 3" in problems
    assert "live" in page.locator("#live-status").inner_text()


def test_a_panel_opens_in_its_frame_and_its_own_form_works(page: Page, host: RunningHost) -> None:
    log_in(page, host)
    page.locator("nav a", has_text="Filters").click()
    page.wait_for_url(re.compile(r"/admin/plugins/intruder/panels/filters$"))
    frame = page.frame_locator("iframe.panel")
    assert frame.locator("#shown").inner_text() == "showing: everything"
    frame.locator("input[name=q]").fill("<b>ada</b>")
    frame.locator("button").click()
    expect(frame.locator("#shown")).to_have_text("showing: <b>ada</b>")
    assert page.url.endswith("/panels/filters")  # the admin page itself did not move
    shoot(page, "panel")


def test_a_hostile_panel_cannot_reach_the_page_the_session_or_the_network(
    page: Page, host: RunningHost
) -> None:
    """Hostile-input row 24: a panel's HTML runs in a sandbox with no way out."""
    log_in(page, host)
    page.goto("/admin/plugins/intruder/panels/hostile")
    frame_element = page.wait_for_selector("iframe.panel")
    assert frame_element is not None
    frame = frame_element.content_frame()
    assert frame is not None
    frame.wait_for_selector("#marker")
    page.wait_for_timeout(500)  # time for anything the panel tried
    # no script of the panel ran, and the admin page is as it was
    assert frame.locator("#script-ran").inner_text() == "no script ran"
    assert page.locator("h1").inner_text().startswith("Hostile <i>panel</i>")
    assert page.url.endswith("/panels/hostile")
    # even code running inside the frame cannot reach the parent, its cookies or storage
    reach = frame.evaluate(
        """() => {
          const attempt = (f) => { try { return String(f()); } catch (e) { return e.name; } };
          return {
            parent: attempt(() => parent.document.body.innerHTML),
            top: attempt(() => top.location.href),
            cookie: attempt(() => document.cookie),
            storage: attempt(() => localStorage.length),
            origin: self.origin,
          };
        }"""
    )
    assert reach == {
        "parent": "SecurityError",
        "top": "SecurityError",
        "cookie": "SecurityError",
        "storage": "SecurityError",
        "origin": "null",
    }
    # its form posts to an admin action: the panel's policy lets its forms load
    # only the panel itself, so the browser sends nothing (and from the frame's
    # opaque origin it would not send the SameSite=Strict cookie, nor the CSRF token)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    frame.locator("#disable button").click()
    page.wait_for_timeout(500)
    assert not [url for url in sent if "/disable" in url]
    assert httpx.get(f"{host.url}/healthz/intruder").status_code == 200
    # a link to the top window and a popup do nothing: the sandbox allows neither
    page.goto("/admin/plugins/intruder/panels/hostile")
    inner = page.frame_locator("iframe.panel")
    inner.locator("#escape").click()
    inner.locator("#popup").click()
    page.wait_for_timeout(500)
    assert page.url.endswith("/panels/hostile")
    assert len(page.context.pages) == 1  # no popup opened
    # nothing the panel tried reached the plugin's /steal route
    assert httpx.get(f"{host.url}/plugins/intruder/stolen").json() == {"stolen": []}


def test_markup_from_a_plugin_shows_as_text(page: Page, host: RunningHost) -> None:
    """Hostile-input row 24: descriptions and log lines are escaped, never run."""
    log_in(page, host)
    httpx.get(f"{host.url}/plugins/intruder/shout")
    page.goto("/admin/plugins/intruder")
    assert "<script>document.title=" in page.locator("main p").first.inner_text()
    page.wait_for_selector("table.logs")
    assert "<img src=x onerror=" in page.locator("table.logs").inner_text()
    assert page.locator("main img").count() == 0
    assert "owned" not in page.title()


def test_the_audit_log_filters_in_the_browser(page: Page, host: RunningHost) -> None:
    log_in(page, host)
    page.locator("nav a", has_text="Audit log").click()
    page.select_option("select[name=plugin]", "hello")
    page.fill("input[name=event]", "plugin.*")
    page.locator("form.filters button").click()
    page.wait_for_url(re.compile(r"plugin=hello"))
    plugins = page.locator("table.audit tbody td:nth-child(3)").all_inner_texts()
    assert plugins
    assert set(plugins) == {"hello"}
    events = page.locator("table.audit tbody td:nth-child(2)").all_inner_texts()
    assert all(event.startswith("plugin.") for event in events)


def test_the_login_page_never_leads_to_a_plugins_page(page: Page, host: RunningHost) -> None:
    """A ``next`` with dot segments must not land the operator on a plugin's look-alike page."""
    page.goto("/admin/login?next=/admin/../plugins/intruder/ok")
    page.fill("input[name=token]", host.token)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{host.url}/admin/"
    page.goto("/admin/login?next=/admin/%2e%2e/plugins/intruder/ok")  # logged in: straight on
    assert page.url == f"{host.url}/admin/"


def test_a_plugins_cookies_neither_log_the_operator_out_nor_lock_them_out(
    page: Page, host: RunningHost
) -> None:
    """A plugin's routes share the admin UI's origin, so its cookies could reach /admin."""
    log_in(page, host)
    page.goto("/plugins/intruder/cookies?name=pluginctl_admin")  # the session cookie's name
    page.goto("/admin/")
    assert page.url == f"{host.url}/admin/"
    page.goto("/plugins/intruder/forget")  # Clear-Site-Data: "cookies"
    page.goto("/admin/")
    assert page.url == f"{host.url}/admin/"
    for name in ("a", "b"):  # 120 KB of cookies for /admin, 15 redirects at a time
        page.goto(f"/plugins/intruder/cookies?left=15&name={name}")
    reply = page.goto("/admin/")
    assert reply is not None
    assert reply.status == 200
    assert page.locator("h1").inner_text() == "Dashboard"


def test_an_example_plugins_panel_searches_inside_its_frame(page: Page, host: RunningHost) -> None:
    for title in ("Milk and bread", "Call Ada"):
        created = httpx.post(f"{host.url}/plugins/notes/notes", json={"title": title, "body": "x"})
        assert created.status_code == 201
    log_in(page, host)
    page.locator('nav a[href="/admin/plugins/notes/panels/main"]').click()
    frame = page.frame_locator("iframe.panel")
    expect(frame.locator("table")).to_contain_text("Milk and bread")
    frame.locator("input[name=q]").fill("Ada")
    frame.locator("button").click()
    expect(frame.locator(".counts").first).to_contain_text("match")
    expect(frame.locator("table")).to_contain_text("Call Ada")
    expect(frame.locator("table")).not_to_contain_text("Milk and bread")
