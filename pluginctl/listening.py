"""A listening TCP socket for an HTTP server: the host's gateway or the registry.

The socket is made with ``IPPROTO_TCP`` spelled out. asyncio turns Nagle's
algorithm off (``TCP_NODELAY``) only on connections accepted from such a socket;
from one made by `socket.create_server` (protocol 0) every response waits for the
client's delayed ACK, about 40 ms a request on Linux.
"""

from __future__ import annotations

import socket

from pluginctl.errors import UserError

__all__ = ["listen"]


def listen(host: str, port: int, *, backlog: int = 1024) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (port 0: any free port).

    Example:
        >>> sock = listen("127.0.0.1", 0)
        >>> sock.getsockname()[0], sock.proto == socket.IPPROTO_TCP
        ('127.0.0.1', True)
        >>> sock.close()

    Raises:
        UserError: when the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="pick another port with --port (0 picks a free one) or stop what uses it",
        ) from None
    sock.listen(backlog)
    sock.setblocking(False)
    return sock
