"""Serving over HTTP: everything that can fail is done before the port is bound.

``calcinosis serve`` reads the settings, opens (and migrates) the database, loads
the knowledge base and binds the listening sockets before uvicorn starts, so a
start-up failure is one line on stderr and exit 2, never a traceback
(:class:`StartupError`).

The HTTP protocol is uvicorn's h11 protocol with deadlines: a client that has not
sent a complete request head within ``header_timeout`` seconds of the connection (or
of the end of the previous response) is answered 408 and disconnected (slowloris),
and so is one whose body is not complete within ``body_timeout`` seconds of its head
(slow POST). uvicorn's keep-alive timeout only covers a kept-alive connection that
sends nothing at all. The 400 that h11 gives a malformed request head, or one still
incomplete after 16 KiB, is a problem document like every other.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any, ClassVar

import h11
import uvicorn
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError
from uvicorn.protocols.http.h11_impl import H11Protocol

from calcinosis.errors import CalcinosisError
from calcinosis.settings import Settings
from calcinosis.storage import Store
from calcinosis.web.problems import SECURITY_HEADERS, problem_body

if TYPE_CHECKING:  # the app (FastAPI) is imported once the database is open
    from fastapi import FastAPI

__all__ = [
    "DeadlineH11Protocol",
    "StartupError",
    "bind_sockets",
    "open_store",
    "run",
]


class StartupError(CalcinosisError):
    """The service cannot start: one line, exit 2."""


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def shown_url(url: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, _, location = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{location}" if user else f"{scheme}://{location}"


def open_store(url: str, *, write_timeout: float = 5.0, busy_timeout: float = 2.0) -> Store:
    """The store at ``url``, migrated; any failure is a one-line :class:`StartupError`."""
    where = f"cannot open the database {shown_url(url)}"
    quiet = logging.getLogger("calcinosis.storage")  # the one line is ours, below
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        store = Store(url, write_timeout=write_timeout, busy_timeout=busy_timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        name = f" ({exc.filename})" if exc.filename else ""
        raise StartupError(f"{where}: {reason}{name}") from None
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StartupError(f"{where}: {_one_line(str(cause))}") from None
    except CommandError as exc:
        raise StartupError(f"{where}: {_one_line(str(exc))}") from None
    finally:
        quiet.setLevel(level)
    unavailable = store.unavailable_at_start
    if unavailable is not None:
        # `calcinosis serve` does not start a server that cannot keep its audit trail;
        # a store that loses its database later answers 503 and says so in /api/health
        store.close()
        raise StartupError(f"{where}: {unavailable}")
    return store


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) sockets for every address of ``host``."""
    try:
        addresses = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    for family, kind, proto, _name, address in addresses:
        if (family, address) in seen:
            continue
        seen.add((family, address))
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            for other in sockets:
                other.close()
            reason = exc.strerror or type(exc).__name__
            raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
        sockets.append(sock)
    return sockets


def _raw_problem(status: int, reason: str, detail: str) -> bytes:
    body = problem_body(status, reason, detail)
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/problem+json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name.lower()}: {value}" for name, value in SECURITY_HEADERS.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request head and body.

    While h11 awaits a request head (``IDLE``) the head deadline runs, from the
    connection or the end of the previous answer; while it awaits the body
    (``SEND_BODY``) the body deadline runs, from the end of the head. Past either, the
    connection is closed, after a 408 if no answer has begun."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _deadline_for: type[h11.IDLE] | type[h11.SEND_BODY] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """h11 could not parse the request head (or it was incomplete after 16 KiB)."""
        self._stop()
        self.transport.write(_raw_problem(400, "Bad Request", "The request is not valid HTTP."))
        self.transport.close()

    def _watch(self) -> None:
        state = self.conn.their_state
        if self.transport.is_closing() or state not in (h11.IDLE, h11.SEND_BODY):
            self._stop()
            return
        if self._deadline is not None and self._deadline_for is state:
            return  # still awaiting the same part: the deadline does not move
        self._stop()
        limit = self.header_timeout if state is h11.IDLE else self.body_timeout
        self._deadline_for = state
        self._deadline = self.loop.call_later(limit, self._timed_out, state)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._deadline_for = None

    def _timed_out(self, state: type[h11.IDLE] | type[h11.SEND_BODY]) -> None:
        self._deadline = self._deadline_for = None
        if self.transport.is_closing() or self.conn.their_state is not state:
            return
        if state is h11.IDLE:
            if self.conn.trailing_data[0] and self.conn.our_state is h11.IDLE:
                detail = f"The request head was not complete within {self.header_timeout:g} s."
                self.transport.write(_raw_problem(408, "Request Timeout", detail))
        elif self.cycle is not None and not self.cycle.response_started:
            detail = f"The request body was not complete within {self.body_timeout:g} s."
            self.transport.write(_raw_problem(408, "Request Timeout", detail))
        self.transport.close()


def protocol_class(header_timeout: float, body_timeout: float) -> type[DeadlineH11Protocol]:
    """The protocol with its deadlines set (uvicorn takes a class, not a factory)."""
    deadlines = {"header_timeout": header_timeout, "body_timeout": body_timeout}
    return type("CalcinosisH11Protocol", (DeadlineH11Protocol,), deadlines)


def run(app: FastAPI, settings: Settings, sockets: list[socket.socket], log_level: str) -> None:
    """Serve ``app`` on the bound ``sockets`` until interrupted."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(settings.header_timeout, settings.body_timeout),
        lifespan="on",
        log_level=log_level,
        access_log=False,
        server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout,
    )
    uvicorn.Server(config).run(sockets=sockets)
