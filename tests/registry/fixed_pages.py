"""A small real HTTP server whose paths answer with fixed (status, headers, body)."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

#: What a path answers: status, headers and body.
Answer = tuple[int, dict[str, str], bytes]


@contextlib.contextmanager
def serving(pages: Mapping[str, Answer]) -> Iterator[str]:
    """Serve ``pages`` on a free loopback port for the block; yields the root URL."""
    with serving_many(1, lambda _roots: pages) as (root,):
        yield root


@contextlib.contextmanager
def serving_many(
    count: int, pages_for: Callable[[list[str]], Mapping[str, Answer]]
) -> Iterator[list[str]]:
    """``count`` servers sharing the pages ``pages_for(their roots)`` builds."""
    found: dict[str, Answer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = found.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Tests read outcomes, not access logs."""

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(count)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    roots = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    found.update(pages_for(roots))
    try:
        yield roots
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()
