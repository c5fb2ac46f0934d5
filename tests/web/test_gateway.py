from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn

from pluginctl.errors import (
    CallTimeout,
    ProtocolViolation,
    RateLimited,
    RemoteError,
    WorkerCrashed,
)
from pluginctl.runtime.protocol import HttpRequest, HttpResponse
from pluginctl.web import DEFAULT_MAX_BODY_BYTES, build_app
from tests.web import FakeHost, FakePlugin, send

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

STATIC_FIXTURES = Path(__file__).parents[1] / "fixtures" / "static"
HOSTILE = "<script>alert(1)</script>"


def assert_json_error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) == {"error", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    return {str(key): str(value) for key, value in body.items()}


def shop() -> FakePlugin:
    """A plugin with routes under /api that echo what the gateway handed them."""
    plugin = FakePlugin("shop", prefix="/api")

    async def echo(request: HttpRequest) -> HttpResponse:
        fields = {
            "method": request.method,
            "path": request.path,
            "path_params": request.path_params,
            "query_string": request.query_string,
            "headers": request.headers,
            "body": request.body.decode(),
            "client": request.client,
            "request_id": request.request_id,
        }
        return HttpResponse(
            200, [("content-type", "application/json")], json.dumps(fields).encode()
        )

    plugin.route("GET", "/items/{id:int}")(echo)
    plugin.route("GET", "/items/{name}")(echo)
    plugin.route("POST", "/items")(echo)
    plugin.route("GET", "/items")(echo)
    plugin.route("GET", "/files/{rest:path}")(echo)
    plugin.route("PUT", "/upload")(echo)
    return plugin


# ---------------------------------------------------------------- health and unknown paths


@pytest.mark.parametrize(("healthy", "status"), [(True, 200), (False, 503)])
def test_healthz_reports_the_host_health_as_json(healthy: bool, status: int) -> None:
    host = FakeHost()
    host.healthy = healthy
    host.health_body = {"status": "ok" if healthy else "degraded", "failed": ["x"]}

    response = send(build_app(host), "GET", "/healthz")

    assert response.status_code == status
    assert response.json() == host.health_body
    assert response.headers["cache-control"] == "no-store"
    assert len(response.headers["x-request-id"]) == 32


def test_healthz_refuses_other_methods_with_allow() -> None:
    response = send(build_app(FakeHost()), "POST", "/healthz")

    assert_json_error(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/", "/nope", "/plugins", "/plugins/", f"/x/{HOSTILE}"])
def test_unknown_paths_outside_plugins_are_json_404(path: str) -> None:
    response = send(build_app(FakeHost()), "GET", path)

    assert_json_error(response, 404)
    assert "<" not in response.text


def test_every_response_gets_its_own_request_id() -> None:
    app = build_app(FakeHost(shop()))

    ids = {send(app, "GET", "/plugins/shop/api/items").headers["x-request-id"] for _ in range(3)}

    assert len(ids) == 3


# ---------------------------------------------------------------- routing


def test_a_route_receives_the_request_as_the_plugin_should_see_it() -> None:
    plugin = shop()
    app = build_app(FakeHost(plugin))

    response = send(
        app,
        "GET",
        "/plugins/shop/api/items/007?colour=red&size=%20L",
        headers={"X-Custom": "Value"},
    )

    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "GET"
    assert seen["path"] == "/api/items/007"
    assert seen["path_params"] == {"id": "7"}
    assert seen["query_string"] == "colour=red&size=%20L"
    assert ["x-custom", "Value"] in seen["headers"]
    assert all(name == name.lower() for name, _ in seen["headers"])
    assert seen["client"] == "127.0.0.1"
    assert seen["request_id"] == response.headers["x-request-id"]
    assert plugin.received[0][0] == 0


def test_routes_match_in_registration_order_with_convertors() -> None:
    plugin = shop()
    app = build_app(FakeHost(plugin))

    by_name = send(app, "GET", "/plugins/shop/api/items/blue")
    by_path = send(app, "GET", "/plugins/shop/api/files/a/b/c.txt")

    assert by_name.json()["path_params"] == {"name": "blue"}
    assert by_path.json()["path_params"] == {"rest": "a/b/c.txt"}
    assert [index for index, _ in plugin.received] == [1, 4]


def test_the_request_body_reaches_the_plugin() -> None:
    app = build_app(FakeHost(shop()))

    response = send(app, "POST", "/plugins/shop/api/items", content=b'{"name": "tea"}')

    assert response.json()["body"] == '{"name": "tea"}'


def test_a_root_prefix_and_the_bare_mount() -> None:
    plugin = FakePlugin("root")
    plugin.reply("GET", "/", HttpResponse(200, [], b"home"))
    plugin.reply("GET", "/about", HttpResponse(200, [], b"about"))
    app = build_app(FakeHost(plugin))

    assert send(app, "GET", "/plugins/root").text == "home"
    assert send(app, "GET", "/plugins/root/").text == "home"
    assert send(app, "GET", "/plugins/root/about").text == "about"


@pytest.mark.parametrize(
    "path", ["/plugins/shop/items", "/plugins/shop/api/nothing", "/plugins/shop/api/items/1/2"]
)
def test_unknown_routes_are_404(path: str) -> None:
    plugin = shop()

    response = send(build_app(FakeHost(plugin)), "GET", path)

    assert_json_error(response, 404)
    assert plugin.received == []


def test_unknown_plugins_are_404() -> None:
    response = send(build_app(FakeHost(shop())), "GET", "/plugins/ghost/api/items")

    assert assert_json_error(response, 404)["error"] == "no such plugin"


def test_a_known_path_with_another_method_is_405_listing_every_allowed_method() -> None:
    plugin = shop()

    response = send(build_app(FakeHost(plugin)), "DELETE", "/plugins/shop/api/items")

    assert_json_error(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert plugin.received == []


def test_head_runs_the_get_route_and_sends_no_body() -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/page", HttpResponse(200, [("content-type", "text/plain")], b"12345"))
    app = build_app(FakeHost(plugin))

    response = send(app, "HEAD", "/plugins/p/page")

    assert response.status_code == 200
    assert response.headers["content-length"] == "5"
    assert response.content == b""
    assert plugin.received[0][1].method == "HEAD"


def test_an_explicit_head_route_wins_over_the_get_route() -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/page", HttpResponse(200, [], b"get"))
    plugin.reply("HEAD", "/page", HttpResponse(200, [("x-from", "head")], b""))
    app = build_app(FakeHost(plugin))

    response = send(app, "HEAD", "/plugins/p/page")

    assert response.headers["x-from"] == "head"
    assert plugin.received[0][0] == 1


def test_the_router_is_rebuilt_when_the_generation_changes() -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/old", HttpResponse(200, [], b"old"))
    app = build_app(FakeHost(plugin))
    assert send(app, "GET", "/plugins/p/old").text == "old"

    plugin.routes[0] = ("GET", "/new")
    assert send(app, "GET", "/plugins/p/new").status_code == 404  # same generation: cached

    plugin.generation += 1
    assert send(app, "GET", "/plugins/p/new").text == "old"
    assert send(app, "GET", "/plugins/p/old").status_code == 404


def test_a_route_that_does_not_compile_is_skipped_and_keeps_the_others_ids() -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/bad/{x:nope}", HttpResponse(200, [], b"bad"))
    plugin.reply("GET", "/good", HttpResponse(200, [], b"good"))

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/good")

    assert response.text == "good"
    assert plugin.received[0][0] == 1


# ---------------------------------------------------------------- request bodies


def test_a_body_at_the_limit_passes() -> None:
    app = build_app(FakeHost(shop()), max_body_bytes=10)

    response = send(app, "PUT", "/plugins/shop/api/upload", content=b"x" * 10)

    assert response.json()["body"] == "x" * 10


def test_a_declared_body_over_the_limit_is_413_without_calling_the_plugin() -> None:
    plugin = shop()
    app = build_app(FakeHost(plugin), max_body_bytes=10)

    response = send(app, "PUT", "/plugins/shop/api/upload", content=b"x" * 11)

    assert_json_error(response, 413)
    assert plugin.received == []


def test_a_streamed_body_over_the_limit_is_413() -> None:
    plugin = shop()
    app = build_app(FakeHost(plugin), max_body_bytes=10)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"xxxx"

    response = send(app, "PUT", "/plugins/shop/api/upload", content=chunks())

    assert_json_error(response, 413)
    assert "content-length" not in dict(response.request.headers)
    assert plugin.received == []


def test_the_default_limit_is_ten_mebibytes() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 10 * 1024 * 1024


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("state", ["stopped", "starting", "failed", "disabled"])
def test_a_plugin_that_is_not_active_is_503_with_retry_after(state: str) -> None:
    plugin = shop()
    plugin.state = state

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/shop/api/items")

    assert_json_error(response, 503)
    assert response.headers["retry-after"] == "1"
    assert plugin.received == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CallTimeout("route call took over 10 s"), 504),
        (WorkerCrashed("p", "killed by SIGKILL"), 502),
        (ProtocolViolation("malformed frame"), 502),
        (RateLimited("p", "http", retry_after_s=0.2), 429),
    ],
)
def test_runtime_faults_map_to_statuses(error: Exception, status: int) -> None:
    plugin = FakePlugin("p")
    plugin.fail("GET", "/x", error)

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    body = assert_json_error(response, status)
    assert str(error) not in str(body)


@pytest.mark.parametrize(("retry_after_s", "header"), [(0.2, "1"), (2.0, "2"), (2.01, "3")])
def test_rate_limited_says_when_to_retry(retry_after_s: float, header: str) -> None:
    plugin = FakePlugin("p")
    plugin.fail("GET", "/x", RateLimited("p", "http", retry_after_s=retry_after_s))

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert response.headers["retry-after"] == header


def test_a_handler_error_is_500_with_the_traceback_in_the_log_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = FakePlugin("p")
    error = RemoteError(
        "KeyError",
        f"'secret-key' {HOSTILE}",
        details='Traceback (most recent call last):\n  File "/srv/p/handlers.py", line 9',
    )
    plugin.fail("GET", "/x", error)

    with caplog.at_level(logging.ERROR, logger="pluginctl.web"):
        response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    body = assert_json_error(response, 500)
    assert body["error"] == "the plugin failed"
    for leaked in ("KeyError", "secret-key", "Traceback", "handlers.py", "<script"):
        assert leaked not in response.text
    assert "handlers.py" in caplog.text
    assert body["request_id"] in caplog.text


def test_an_unexpected_exception_is_a_json_500_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = FakePlugin("p")
    plugin.fail("GET", "/x", ValueError("bug in the host"))

    with caplog.at_level(logging.ERROR, logger="pluginctl.web"):
        response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert assert_json_error(response, 500)["error"] == "internal error"
    assert "bug in the host" not in response.text
    assert "ValueError: bug in the host" in caplog.text


# ---------------------------------------------------------------- plugin responses


def test_plugin_headers_are_passed_on_less_hop_by_hop_and_length() -> None:
    plugin = FakePlugin("p")
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Set-Cookie", "a=1; Path=/plugins/p"),
        ("Set-Cookie", "b=2; Path=/plugins/p"),
        ("Content-Length", "9999"),
        ("Connection", "close, X-Private"),
        ("X-Private", "internal"),
        ("Transfer-Encoding", "chunked"),
        ("Keep-Alive", "timeout=5"),
        ("Upgrade", "websocket"),
        ("X-Request-Id", "forged"),
        ("X-Content-Type-Options", "sniff-please"),
        ("ETag", '"v1"'),
        ("Clear-Site-Data", '"cookies"'),
    ]
    plugin.reply("GET", "/x", HttpResponse(201, headers, b"<p>hello</p>"))

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert response.status_code == 201
    assert response.text == "<p>hello</p>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers.get_list("set-cookie") == [
        "a=1; Path=/plugins/p",
        "b=2; Path=/plugins/p",
    ]
    assert response.headers["content-length"] == "12"
    assert response.headers["etag"] == '"v1"'
    for name in (
        "connection",
        "x-private",
        "transfer-encoding",
        "keep-alive",
        "upgrade",
        "clear-site-data",
    ):
        assert name not in response.headers
    assert response.headers["x-request-id"] != "forged"
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers["content-security-policy"].startswith("sandbox ")


def test_a_no_content_reply_has_no_body() -> None:
    plugin = FakePlugin("p")
    plugin.reply("DELETE", "/x", HttpResponse(204, [], b"ignored"))

    response = send(build_app(FakeHost(plugin)), "DELETE", "/plugins/p/x")

    assert response.status_code == 204
    assert response.content == b""
    assert "content-length" not in response.headers


@pytest.mark.parametrize(
    "header",
    [
        ("X-Evil", "a\r\nSet-Cookie: admin=1"),
        ("X-Evil", "a\nSet-Cookie: admin=1"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "a\x00b"),
        ("X-Evil\r\nSet-Cookie", "admin=1"),
        ("X Evil", "space in the name"),
        ("X-Evil:", "colon in the name"),
        ("", "empty name"),
        ("X-Evil", "not latin-1: \u2603"),
    ],
)
def test_header_injection_is_a_500_and_never_forwarded(
    header: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/x", HttpResponse(200, [("X-Fine", "ok"), header], b"body"))

    with caplog.at_level(logging.ERROR, logger="pluginctl.web"):
        response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert_json_error(response, 500)
    assert "set-cookie" not in response.headers
    assert "x-evil" not in response.headers
    assert "x-fine" not in response.headers
    assert "unsafe response" in caplog.text


@pytest.mark.parametrize("status", [0, 101, 199, 600, 1000])
def test_a_status_that_is_not_a_final_http_status_is_a_500(status: int) -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/x", HttpResponse(status, [], b""))

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert_json_error(response, 500)


# ---------------------------------------------------------------- hostile names (row 24)


@pytest.mark.parametrize(
    "path",
    [
        f"/plugins/{HOSTILE}/x",
        f"/plugins/shop/{HOSTILE}",
        f"/plugins/shop/api/items/{HOSTILE}/more",
        "/plugins/shop/api/%3Cimg%20src=x%20onerror=alert(1)%3E",
        f"/plugins/{HOSTILE}/static/{HOSTILE}",
        f"/{HOSTILE}",
    ],
)
def test_markup_in_the_url_is_never_echoed(path: str) -> None:
    response = send(build_app(FakeHost(shop())), "GET", path)

    assert_json_error(response, 404)
    assert "<" not in response.text
    assert "alert" not in response.text


def test_json_from_the_host_is_escaped_for_html() -> None:
    host = FakeHost()
    host.health_body = {"last_error": HOSTILE + " & more"}

    response = send(build_app(host), "GET", "/healthz")

    assert "<" not in response.text
    assert "&" not in response.text
    assert response.json() == host.health_body


# ---------------------------------------------------------------- static priority and logging


def test_static_has_priority_over_a_plugin_route_under_static() -> None:
    plugin = FakePlugin("p", static_dir=STATIC_FIXTURES)
    plugin.reply("GET", "/static/style.css", HttpResponse(200, [], b"from the route"))
    plugin.reply("GET", "/static/missing.css", HttpResponse(200, [], b"from the route"))
    app = build_app(FakeHost(plugin))

    served = send(app, "GET", "/plugins/p/static/style.css")
    missing = send(app, "GET", "/plugins/p/static/missing.css")

    assert served.text == (STATIC_FIXTURES / "style.css").read_text()
    assert_json_error(missing, 404)
    assert plugin.received == []


def test_a_debug_line_is_logged_per_request(caplog: pytest.LogCaptureFixture) -> None:
    app = build_app(FakeHost(shop()))

    with caplog.at_level(logging.DEBUG, logger="pluginctl.web"):
        response = send(app, "GET", "/plugins/shop/api/items/3")

    [record] = [r for r in caplog.records if "duration_ms=" in r.getMessage()]
    line = record.getMessage()
    assert record.levelno == logging.DEBUG
    assert "plugin='shop'" in line
    assert "route='/api/items/{id:int}'" in line
    assert "status=200" in line
    assert response.headers["x-request-id"] in line


# ---------------------------------------------------------------- over TCP


@pytest.mark.timeout(30)
def test_served_by_uvicorn_over_tcp() -> None:
    plugin = shop()
    plugin.static_dir = STATIC_FIXTURES
    config = uvicorn.Config(
        build_app(FakeHost(plugin)),
        host="127.0.0.1",
        port=0,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        port = _wait_for_port(server)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as client:
            routed = client.get("/plugins/shop/api/items/42?x=1")
            static = client.get("/plugins/shop/static/app.js")
            health = client.get("/healthz")
        escaped = _raw_get(port, "/plugins/shop/static/../../../../../../etc/passwd")
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert routed.status_code == 200
    assert routed.json()["path_params"] == {"id": "42"}
    assert routed.json()["request_id"] == routed.headers["x-request-id"]
    assert static.status_code == 200
    assert static.headers["content-type"] == "text/javascript; charset=utf-8"
    assert static.headers["etag"]
    assert health.json() == {"status": "ok", "plugins": 1}
    assert escaped.startswith(b"HTTP/1.1 404 ")
    assert b"root:" not in escaped
    assert not thread.is_alive()


def _wait_for_port(server: uvicorn.Server) -> int:
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start within 10 s")
        time.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


def _raw_get(port: int, target: str) -> bytes:
    """Send ``target`` as is: httpx would remove the dot segments before sending."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request.encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("path", ["/", "/admin", "/plugins", "/plugins/pp", "/plugins/q/x"])
def test_a_cookie_for_a_path_outside_the_plugin_is_a_500(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Routes share the origin: a cookie beyond ``/plugins/<name>`` reaches others, /admin too."""
    plugin = FakePlugin("p")
    cookie = ("Set-Cookie", f"session=forged; HttpOnly; path={path}")
    plugin.reply("GET", "/x", HttpResponse(200, [cookie], b"body"))

    with caplog.at_level(logging.ERROR, logger="pluginctl.web"):
        response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert_json_error(response, 500)
    assert "set-cookie" not in response.headers
    assert "outside /plugins/p" in caplog.text


@pytest.mark.parametrize(
    "cookie", ["a=1", "a=1; Path=/plugins/p", "a=1; path=/plugins/p/x; Secure"]
)
def test_a_cookie_for_the_plugins_own_path_is_passed_on(cookie: str) -> None:
    plugin = FakePlugin("p")
    plugin.reply("GET", "/x", HttpResponse(200, [("Set-Cookie", cookie)], b"body"))

    response = send(build_app(FakeHost(plugin)), "GET", "/plugins/p/x")

    assert response.status_code == 200
    assert response.headers["set-cookie"] == cookie
