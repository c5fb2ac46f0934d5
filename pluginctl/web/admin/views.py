"""The admin UI's pages, live fragments, actions and panel frames (see `pluginctl.web.admin`)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pluginctl.errors import RemoteError, RuntimeFault, UserError
from pluginctl.web.admin.audit_view import AuditFilter, RecentProblems, recent_records
from pluginctl.web.admin.auth import COOKIE, SESSION_S, LoginThrottle, Session, Sessions
from pluginctl.web.admin.charts import line_chart, sparkline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime
    from pluginctl.web.admin.auth import AdminToken
    from pluginctl.web.admin.history import History

__all__ = ["AdminViews"]

_HERE = Path(__file__).parent
#: The admin UI's own pages: its one script and one stylesheet only (not any
#: same-origin script: plugins serve files on this origin too), never framed.
#: ``{origin}`` is the admin UI's own, from the request's Host.
PAGE_POLICY = (
    "default-src 'none'; script-src {origin}/admin/static/admin.js; "
    "style-src {origin}/admin/static/admin.css; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: A plugin's panel: an opaque origin (no cookies, no storage, no parent page), no
#: script at all, nothing fetched but inline styles and data: images, and forms that
#: can only load the panel itself again (``{frame}``: its URL, without the query).
PANEL_POLICY = (
    "sandbox allow-forms; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; form-action {frame}; base-uri 'none'; frame-ancestors 'self'"
)
#: The sandbox attribute of the panel's iframe: the same as the policy's.
PANEL_SANDBOX = "allow-forms"
ACTIONS = ("enable", "disable", "reload", "reset")
_ACTION_DONE = {
    "enable": "enabled",
    "disable": "disabled",
    "reload": "reloaded",
    "reset": "breakers closed",
}
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_PAGE_HEADERS = {
    # redirects, plain text, and a page whose Host is odd: nothing may load at all
    "content-security-policy": "default-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


class AdminViews:
    """The routes of the admin UI for one host."""

    def __init__(self, host: Host, token: AdminToken, history: History) -> None:
        self.host = host
        self.token = token
        self.history = history
        self.sessions = Sessions()
        self.throttle = LoginThrottle()
        self.problems = RecentProblems()
        self._templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.globals.update(sparkline=sparkline, line_chart=line_chart)
        self._templates.filters["timestamp"] = _clock_time

    def routes(self) -> list[Mount]:
        """Everything under ``/admin``."""
        page, live = self._page, self._live
        return [
            Mount(
                "/admin",
                routes=[
                    Route("/", page(self.dashboard), methods=["GET"]),
                    Route("/login", self.login_form, methods=["GET"]),
                    Route("/login", self.login, methods=["POST"]),
                    Route("/logout", self._post(self.logout), methods=["POST"]),
                    Route("/audit", page(self.audit), methods=["GET"]),
                    Route("/live/dashboard", live(self.dashboard_live), methods=["GET"]),
                    Route("/live/plugins/{plugin}", live(self.plugin_live), methods=["GET"]),
                    Route("/plugins/{plugin}", page(self.plugin), methods=["GET"]),
                    Route("/plugins/{plugin}/panels/{panel}", page(self.panel), methods=["GET"]),
                    Route("/plugins/{plugin}/{action}", self._post(self.act), methods=["POST"]),
                    Route("/frames/{key}", self.frame, methods=["GET"]),
                    Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
                ],
            )
        ]

    # -- sessions -------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def _page(
        self, view: Callable[[Request, Session], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return _secured(RedirectResponse(f"/admin/login?next={quote(target)}", 303))
            return _secured(await view(request, session))

        return guarded

    def _live(
        self, view: Callable[[Request, Session], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return _secured(Response("log in again", 401, media_type="text/plain"))
            return _secured(await view(request, session))

        return guarded

    def _post(
        self, view: Callable[[Request, Session, dict[str, str]], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return _secured(RedirectResponse("/admin/login", 303))
            form = await _form(request)
            if not _same_origin(request) or not self.sessions.csrf_ok(session, form.get("csrf")):
                return _secured(
                    Response(
                        "this form is stale or came from another site: reload the page",
                        403,
                        media_type="text/plain",
                    )
                )
            return _secured(await view(request, session, form))

        return guarded

    async def login_form(self, request: Request) -> Response:
        """``GET /admin/login``: the token form."""
        if self._session(request) is not None:
            return _secured(RedirectResponse(_next(request.query_params.get("next")), 303))
        return self._render(request, "login.html", None, {"error": None})

    async def login(self, request: Request) -> Response:
        """``POST /admin/login``: a session for the right token; 401 or 429 otherwise."""
        client = request.client.host if request.client else "?"
        wait = self.throttle.retry_after(client)
        if wait:
            error = f"too many wrong tokens: try again in {int(wait) + 1} s"
            response = self._render(request, "login.html", None, {"error": error}, status=429)
            response.headers["retry-after"] = str(int(wait) + 1)
            return response
        form = await _form(request)
        same_origin = _same_origin(request)
        if not same_origin or not self.token.matches(form.get("token", "").strip()):
            if same_origin:  # a guess; another site's post is refused whatever it holds
                self.throttle.failed(client)
            # the page says where the token is kept, never this host's own path: whoever
            # reaches the login page would learn the data directory (and the user's name)
            error = "that is not the admin token: it is printed when the host first starts"
            return self._render(request, "login.html", None, {"error": error}, status=401)
        session = self.sessions.open()
        response = _secured(RedirectResponse(_next(form.get("next")), 303))
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(SESSION_S),
            path="/admin",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        """``POST /admin/logout``: end the session."""
        self.sessions.close(session)
        response = RedirectResponse("/admin/login", 303)
        response.delete_cookie(COOKIE, path="/admin")
        return response

    # -- pages ----------------------------------------------------------------------

    async def dashboard(self, request: Request, session: Session) -> Response:
        """``GET /admin``: every plugin, its state and figures, and recent problems."""
        return self._render(request, "dashboard.html", session, self._dashboard_data())

    async def dashboard_live(self, request: Request, session: Session) -> Response:
        """The dashboard's live part, for the page's script to swap in."""
        return self._render(request, "_dashboard_live.html", session, self._dashboard_data())

    async def plugin(self, request: Request, session: Session) -> Response:
        """``GET /admin/plugins/<name>``: one plugin's figures, charts, errors and logs."""
        data = self._plugin_data(request.path_params["plugin"])
        if data is None:
            return self._not_found(request, session, "no such plugin")
        return self._render(request, "plugin.html", session, data)

    async def plugin_live(self, request: Request, session: Session) -> Response:
        """The plugin page's live part."""
        data = self._plugin_data(request.path_params["plugin"])
        if data is None:
            return Response("no such plugin", 404, media_type="text/plain")
        return self._render(request, "_plugin_live.html", session, data)

    async def audit(self, request: Request, session: Session) -> Response:
        """``GET /admin/audit``: the audit log, newest first, filtered by the query."""
        chosen = AuditFilter.from_query(request.query_params)
        records = await asyncio.to_thread(recent_records, self.host.audit.path, chosen)
        names = sorted(runtime.name for runtime in self.host.plugins)
        context = {"chosen": chosen, "records": records, "plugin_names": names}
        return self._render(request, "audit.html", session, context)

    async def panel(self, request: Request, session: Session) -> Response:
        """``GET /admin/plugins/<name>/panels/<id>``: the panel, framed and sandboxed."""
        name, panel_id = request.path_params["plugin"], request.path_params["panel"]
        runtime = self.host.endpoint(name)
        title = None if runtime is None else _panel_titles(runtime).get(panel_id)
        if runtime is None or title is None:
            return self._not_found(request, session, "no such panel")
        key = self.sessions.frame_key(session, name, panel_id)
        context = {
            "plugin": name,
            "title": title,
            "frame_url": f"/admin/frames/{key}",
            "sandbox": PANEL_SANDBOX,
        }
        return self._render(request, "panel.html", session, context)

    async def frame(self, request: Request) -> Response:
        """``GET /admin/frames/<key>``: the panel's own HTML, under `PANEL_POLICY`."""
        found = self.sessions.frame(request.path_params["key"])
        if found is None:
            expired = "<p>This panel's link has expired: reload the page.</p>"
            return _panel_response(request, expired, 404)
        html, status = await self._panel_html(*found, request.url.query)
        return _panel_response(request, html, status)

    async def _panel_html(self, name: str, panel_id: str, query: str) -> tuple[str, int]:
        """What plugin ``name`` renders for its panel, or an error saying why not."""
        runtime = self.host.endpoint(name)
        if runtime is None or runtime.state != "active":
            state = runtime.state if runtime is not None else "gone"
            return _panel_error(f"the plugin is not active ({state})"), 503
        try:
            return await runtime.render_panel(panel_id, query), 200
        except RemoteError as exc:
            return _panel_error(f"the panel raised {exc}"), 500
        except RuntimeFault as exc:
            return _panel_error(f"the panel failed: {exc}"), 502
        except UserError as exc:  # not HTML text, or too much of it
            return _panel_error(str(exc)), 500

    # -- actions --------------------------------------------------------------------

    async def act(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        """``POST /admin/plugins/<name>/<action>``: enable, disable, reload or reset."""
        name, action = request.path_params["plugin"], request.path_params["action"]
        back = _next(form.get("next"))
        if action not in ACTIONS or self.host.endpoint(name) is None:
            session.flashes.append(("error", f"no such plugin or action: {name} {action}"))
            return RedirectResponse(back, 303)
        try:
            if action == "enable":
                await self.host.enable_plugin(name)
            elif action == "disable":
                await self.host.disable_plugin(name)
            elif action == "reset":
                self.host.reset_breakers(name)
            else:
                reload = await self.host.reload_plugin(name)
                if not reload.ok:
                    raise UserError(f"the new version was refused: {reload.error}")
        except UserError as exc:
            session.flashes.append(("error", f"{name}: {exc}"))
        else:
            runtime = self.host.endpoint(name)
            state = runtime.state if runtime is not None else "gone"
            expected = "disabled" if action == "disable" else "active"
            but = "" if state == expected else f", but it is {state}"
            session.flashes.append(("ok", f"{name}: {_ACTION_DONE[action]}{but}"))
        return RedirectResponse(back, 303)

    # -- data -----------------------------------------------------------------------

    def _dashboard_data(self) -> dict[str, object]:
        status = self.host.status(memory=False)  # memory is on each plugin's page
        plugins = []
        for entry in status["plugins"]:  # type: ignore[attr-defined]  # a list of dicts
            series = self.history.series(entry["name"])
            plugins.append({**entry, "rates": [sample.rate for sample in series]})
        return {
            "host_info": status["host"],
            "plugins": plugins,
            "problems": self.problems.rows(limit=15),
        }

    def _plugin_data(self, name: str) -> dict[str, object] | None:
        found = self.host.plugin_status(name)
        runtime = self.host.endpoint(name)
        if found is None or runtime is None:
            return None
        series = self.history.series(name)
        span = self.history.every_s * self.history.keep
        logs = list(runtime.output.recent) if runtime.output is not None else []
        return {
            "p": found,
            "description": runtime.source.manifest.description,
            "rate_chart": line_chart(
                [(s.at, s.rate) for s in series], unit="req/s", span_s=span, label="requests"
            ),
            "latency_chart": line_chart(
                [(s.at, s.p50_ms) for s in series], unit="ms", span_s=span, label="p50 latency"
            ),
            "p95_chart": line_chart(
                [(s.at, s.p95_ms) for s in series], unit="ms", span_s=span, label="p95 latency"
            ),
            "logs": logs[::-1][:100],
            "problems": self.problems.rows(limit=15, plugin=name),
            "now": time.time(),
        }

    def _render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        context: dict[str, object] | None = None,
        *,
        status: int = 200,
    ) -> Response:
        fragment = template.startswith("_")
        body = self._templates.get_template(template).render(
            request_path=request.url.path,
            session=session,
            csrf=session.csrf if session else "",
            flashes=[] if session is None or fragment else session.pop_flashes(),
            menu=self._menu() if session is not None else [],
            next=request.query_params.get("next", ""),
            **(context or {}),
        )
        response = HTMLResponse(body, status)
        origin = _origin(request)
        if origin is not None:
            response.headers["content-security-policy"] = PAGE_POLICY.format(origin=origin)
        return _secured(response)

    def _not_found(self, request: Request, session: Session, what: str) -> Response:
        return self._render(request, "not_found.html", session, {"what": what}, status=404)

    def _menu(self) -> list[dict[str, object]]:
        """The sidebar: each plugin with the panels it adds."""
        return [
            {
                "name": runtime.name,
                "state": str(runtime.state),
                "panels": list(_panel_titles(runtime).items()),
            }
            for runtime in self.host.plugins
        ]


def _clock_time(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds))


def _panel_titles(runtime: PluginRuntime) -> dict[str, str]:
    """The panels a plugin declares and registers: id → title."""
    admin = runtime.source.manifest.admin
    if admin is None:
        return {}
    registered = runtime.registrations.panels if runtime.registrations is not None else None
    return {
        panel.id: panel.title
        for panel in admin.panels
        if registered is None or panel.id in registered
    }


def _secured(response: Response) -> Response:
    for name, value in _PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _origin(request: Request) -> str | None:
    """``scheme://host[:port]`` of the admin UI as the browser reached it, if well formed."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}" if _HOST.match(host) else None


def _panel_response(request: Request, html: str, status: int) -> Response:
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="color-scheme" content="light dark">'
        "<style>body{font:14px/1.45 system-ui,sans-serif;margin:12px}</style>"
        f"</head><body>{html}</body></html>"
    )
    return HTMLResponse(
        page,
        status,
        headers={
            "content-security-policy": PANEL_POLICY.format(
                frame=f"{origin}{request.url.path}" if (origin := _origin(request)) else "'none'"
            ),
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )


def _panel_error(message: str) -> str:
    return f'<p style="color:#b00020">{_text(message)}</p>'


def _text(value: str) -> str:
    return str(escape(value))


def _next(target: str | None) -> str:
    """Where to go after a login or an action: only a path inside ``/admin``.

    No dot segments, encoded or not: a browser resolves ``/admin/../plugins/x`` to a
    plugin's page.
    """
    if not target:
        return "/admin/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return "/admin/"
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return "/admin/"
    return target


def _same_origin(request: Request) -> bool:
    """Whether a browser's ``Origin`` (when it sent one) is this host's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site request; the CSRF token still decides
    return origin == _origin(request)


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST, small fields only."""
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception:  # noqa: BLE001  # a malformed body is an empty form: the CSRF check refuses
        return {}
    return {key: value for key, value in form.items() if isinstance(value, str)}
