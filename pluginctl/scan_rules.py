"""What the security scan looks for: risk families and the test ids that belong to each.

bandit's own tests keep their ids (``B602``); the ``PC1xx`` rules are pluginctl's, matched
by bandit's blacklist matcher. See `pluginctl.scan` for how they are applied.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HTTP_ADVICE_HELD",
    "HTTP_NEEDS",
    "KINDS",
    "NOSEC_ADVICE",
    "RULES",
    "SKIPPED_TESTS",
    "UNSCANNABLE",
    "Kind",
    "Rule",
]

HTTP_NEEDS = "http:fetch:<host>"
SKIPPED_TESTS = frozenset({"B101"})  # assert_used: asserts are fine in plugin code
UNSCANNABLE = "PC001"
NOSEC_ADVICE = "if the code is safe as written, end the line with '# nosec {test_id}'"
HTTP_ADVICE_HELD = (
    "make the request with api.http.fetch through the host: the worker sandbox blocks "
    "internet sockets, and http:fetch permissions apply only there"
)


@dataclass(frozen=True, slots=True)
class Kind:
    """A family of risky code: what it does, the permission it needs, what to do instead."""

    does: str
    needs: str | None
    advice: str


@dataclass(frozen=True, slots=True)
class Rule:
    """How one test id maps to a kind; pluginctl's ``PC`` rules also say what they match."""

    kind: str
    name: str = ""
    imports: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    level: str = "MEDIUM"


# fmt: off
KINDS = {
    "http": Kind("makes HTTP requests itself", HTTP_NEEDS,
        f'fetch through the host with api.http.fetch and add "{HTTP_NEEDS}" to permissions '
        "in plugin.toml (the worker sandbox blocks internet sockets)"),
    "socket": Kind("opens network sockets", HTTP_NEEDS,
        "raw sockets are never granted: the worker sandbox blocks internet sockets; fetch "
        f'through the host with api.http.fetch and "{HTTP_NEEDS}" in permissions'),
    "process": Kind("forks or starts processes", None,
        "the worker sandbox forbids execve and fork; move the work into the host API or a "
        "separate service"),
    "native": Kind("runs native code", None,
        "native code escapes the permission model, no permission grants it; use a pure-Python "
        "library or a separate service"),
    "dynamic-code": Kind("runs code built at run time", None,
        "code built at run time escapes review, no permission grants it; use ast.literal_eval, "
        "json, or a table of functions"),
    "deserialization": Kind("deserializes by running code", None,
        "unpickling runs arbitrary code, no permission grants it; store data with msgspec or json"),
}

#: Test id -> rule. bandit ids not listed here are ordinary findings of no kind.
RULES: dict[str, Rule] = {
    **dict.fromkeys(("B113", "B310", "B501"), Rule("http")),
    **dict.fromkeys(("B312", "B321", "B401", "B402"), Rule("socket")),
    **dict.fromkeys(("B404", "B602", "B603", "B605", "B606", "B607", "B609"), Rule("process")),
    **dict.fromkeys(("B102", "B307"), Rule("dynamic-code")),
    **dict.fromkeys(("B301", "B302", "B403", "B614"), Rule("deserialization")),
    "PC101": Rule("native", "import_ctypes", imports=("ctypes",), level="HIGH"),
    "PC102": Rule("native", "import_cffi", imports=("cffi",), level="HIGH"),
    "PC111": Rule("socket", "import_socket", imports=("socket", "socketserver")),
    "PC112": Rule("socket", "socket_call", calls=(
        "socket.socket", "socket.create_connection", "socket.create_server", "socket.socketpair",
        "socket.fromfd", "asyncio.open_connection", "asyncio.start_server")),
    "PC121": Rule("http", "import_http_client", level="LOW", imports=(
        "urllib.request", "http.client", "requests", "httpx", "aiohttp", "urllib3")),
    "PC131": Rule("process", "import_multiprocessing", imports=("multiprocessing",), level="LOW"),
    "PC132": Rule("process", "process_start", level="HIGH", calls=(
        "os.fork", "os.forkpty", "os.posix_spawn", "os.posix_spawnp", "pty.fork", "pty.spawn",
        "multiprocessing.Process", "multiprocessing.Pool",
        "concurrent.futures.ProcessPoolExecutor")),
    "PC141": Rule("dynamic-code", "dynamic_code", calls=(
        "compile", "builtins.compile", "builtins.eval", "builtins.exec")),
}
# fmt: on
