"""Serving over HTTP: everything that can fail is done before the port is bound.

``calcinosis serve`` reads the settings, opens (and migrates) the database, loads
the knowledge base and binds the listening sockets before uvicorn starts, so a
start-up failure is one line on stderr and exit 2, never a traceback
(:class:`StartupError`).

The HTTP protocol is uvicorn's httptools protocol (the llhttp parser, in C) on the
uvloop event loop, with deadlines: a client that has not sent a complete request head
within ``header_timeout`` seconds of the connection (or of the end of the previous
response) is answered 408 and disconnected (slowloris), and so is one whose body is
not complete within ``body_timeout`` seconds of its head (slow POST). uvicorn's
keep-alive timeout only covers a kept-alive connection that sends nothing at all. The
400 that the parser gives a malformed request head, or one still incomplete after
16 KiB (the bound h11, the protocol before, had), is a problem document like every
other.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import unquote

import uvicorn
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from calcinosis.errors import CalcinosisError
from calcinosis.settings import Settings
from calcinosis.storage import Store
from calcinosis.web.problems import SECURITY_HEADERS, problem_body
from calcinosis.web.workers import serve_workers

if TYPE_CHECKING:  # the app (FastAPI) is imported once the database is open
    from fastapi import FastAPI

__all__ = [
    "DeadlineProtocol",
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


class _OneWrite:
    """The transport as an answer's cycle sees it: a write waits for the next one (or the
    end of this turn of the event loop) and goes out with it, so that a response head and
    its body are one system call and one segment, not two."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class _RefusedHeadError(Exception):
    """A head h11 refuses and llhttp takes (raised in a parser callback: a 400)."""


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request head and body, and
    the request heads read as uvicorn's h11 protocol read them.

    The parser's callbacks say what it awaits (``_reading``): the next request
    (``idle``), the rest of a head it began (``head``), a body (``body``) or nothing until
    the answer (``done``). While it awaits a head and no answer is pending, the head
    deadline runs, from the connection or the end of the previous answer; while it awaits
    the body of the request being answered, the body deadline runs, from the end of the
    head. Past either, the connection is closed, after a 408 if part of the head came
    (head) or no answer has begun (body). A request pipelined behind another gets its
    deadlines once the one before it is answered, and a pipelined request that cannot be
    parsed its 400, as with h11, which reads no further until then.

    What h11 did and llhttp does not, done here: a head still incomplete after 16 KiB is
    a 400, and so is an HTTP/1.1 head without a ``Host`` (or any with two), or of
    another version than 1.0 and 1.1; header values lose their trailing whitespace; the
    path is the request target up to its ``?``, percent-decoded (an absolute URL, or a
    ``#``, stays in it, so such a request is a 404 as before)."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    max_head_bytes: ClassVar[int] = 16 * 1024  # h11's max_incomplete_event_size
    _deadline: asyncio.TimerHandle | None = None
    _deadline_for: Literal["head", "body"] | None = None
    _reading: Literal["idle", "head", "body", "done"] = "idle"
    _head_bytes = 0  # received since the head began: its first chunk is counted whole
    _began = False  # a head began in the chunk being parsed
    _hosts = 0  # Host headers in the head being parsed
    _refused = False  # a 400 waits for the answer before it (pipelining)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._writes = _OneWrite(transport, self.loop)
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self._reading == "head":
            self._head_bytes += len(data)
        self._began = False
        super().data_received(data)
        if self._began:  # where in the chunk it began is not known: count the chunk
            self._head_bytes = len(data)
        if (
            self._reading == "head"
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self.send_400_response("Request head too long.")
            return
        self._watch()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "head"
        self._began = True
        self._hosts = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace; h11 did not
        if name == b"host":
            self._hosts += 1
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if (
            version not in ("1.1", "1.0")
            or self._hosts > 1
            or (version == "1.1" and not self._hosts)
        ):
            raise _RefusedHeadError(version)
        self._reading = "body"
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = self._writes  # type: ignore[assignment]
        # the path as uvicorn's h11 protocol made it (llhttp's URL parser drops the
        # scheme and host of an absolute URL, and a fragment)
        raw_path, _, query = self.url.partition(b"?")
        scope = self.scope
        scope["path"] = self.root_path + unquote(raw_path.decode("ascii"))
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = query

    def on_message_complete(self) -> None:
        super().on_message_complete()
        answered = self.cycle is not None and self.cycle.response_complete and not self.pipeline
        self._reading = "idle" if answered else "done"

    def on_response_complete(self) -> None:
        self._writes.flush()  # before anything this protocol writes itself
        super().on_response_complete()
        if self._reading == "done" and not self._pending():
            self._reading = "idle"
        if self._refused and not self._pending():
            self._refuse()
            return
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request head (or it was incomplete after 16 KiB)."""
        self._stop()
        if self._pending() and (self._reading != "body" or self.pipeline):
            # a later request than the one being answered: its answer comes first
            self._refused = True
            self.flow.pause_reading()
            return
        self._refuse()

    def _refuse(self) -> None:
        self._writes.flush()
        if not self.transport.is_closing():
            self.transport.write(_raw_problem(400, "Bad Request", "The request is not valid HTTP."))
            self.transport.close()

    def _pending(self) -> bool:
        """An answer is being made or waits its turn (pipelining)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _awaited(self) -> Literal["head", "body"] | None:
        if self.transport.is_closing() or self._refused:
            return None
        if self._reading in ("idle", "head"):
            return None if self._pending() else "head"
        if self._reading == "body" and not self.pipeline:
            return "body"
        return None

    def _watch(self) -> None:
        part = self._awaited()
        if part is None:
            self._stop()
            return
        if self._deadline is not None and self._deadline_for == part:
            return  # still awaiting the same part: the deadline does not move
        self._stop()
        limit = self.header_timeout if part == "head" else self.body_timeout
        self._deadline_for = part
        self._deadline = self.loop.call_later(limit, self._timed_out, part)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._deadline_for = None

    def _timed_out(self, part: Literal["head", "body"]) -> None:
        self._deadline = self._deadline_for = None
        self._writes.flush()
        if self._awaited() != part:
            return
        if part == "head":
            if self._reading == "head":
                detail = f"The request head was not complete within {self.header_timeout:g} s."
                self.transport.write(_raw_problem(408, "Request Timeout", detail))
        elif self.cycle is not None and not self.cycle.response_started:
            detail = f"The request body was not complete within {self.body_timeout:g} s."
            self.transport.write(_raw_problem(408, "Request Timeout", detail))
        self.transport.close()


def protocol_class(header_timeout: float, body_timeout: float) -> type[DeadlineProtocol]:
    """The protocol with its deadlines set (uvicorn takes a class, not a factory)."""
    deadlines = {"header_timeout": header_timeout, "body_timeout": body_timeout}
    return type("CalcinosisHttpProtocol", (DeadlineProtocol,), deadlines)


def event_loop() -> Literal["uvloop", "asyncio"]:
    """uvloop when it is installed (it is a dependency), else asyncio's own loop."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def run(app: FastAPI, settings: Settings, sockets: list[socket.socket], log_level: str) -> None:
    """Serve ``app`` on the bound ``sockets`` until interrupted: in this process, or in
    ``settings.workers`` processes forked from it (:func:`serve_workers`)."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(settings.header_timeout, settings.body_timeout),
        loop=event_loop(),
        lifespan="on",
        log_level=log_level,
        access_log=False,
        server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout,
    )
    if settings.workers == 1:
        uvicorn.Server(config).run(sockets=sockets)
    else:
        serve_workers(config, sockets, settings.workers)
