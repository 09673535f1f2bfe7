"""HTTP limits as plain ASGI middleware: the request body's size and the ``Host`` header.

``BodyLimit`` lets no request body past its limit: the limit of the longest configured
path prefix that matches (``CALCINOSIS_BODY_LIMITS``), else ``CALCINOSIS_MAX_BODY_BYTES``
(1 MiB). A ``Content-Length`` over the limit is refused before a byte of the body is
read; a chunked body is counted as it streams and refused as soon as it passes the
limit. Either way the answer is 413, a problem document, and the connection is closed.
Any answer sent before the request body was read to its end also closes the
connection, so the server never reads a body nobody wants.

``HostCheck`` answers only requests whose ``Host`` names this server: the public URL's
host and port, the loopback names of the bound port when serving on loopback, and
``CALCINOSIS_ALLOWED_HOSTS``. Any other ``Host`` (or none) is a 400 problem document.
A redirect's absolute ``Location`` is rebuilt on the public URL, so the request's
``Host`` never reaches a response.

The security headers are added by ``SecurityHeaders``, which wraps both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calcinosis.settings import Settings, is_loopback
from calcinosis.web.problems import problem_body

__all__ = [
    "BodyLimit",
    "BodyTooLargeError",
    "HostCheck",
    "allowed_hosts",
    "problem_body",
    "too_large_detail",
]

_CLOSE = (b"connection", b"close")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def too_large_detail(limit: int) -> str:
    return f"The request body is larger than {limit} bytes, the limit for this path."


async def _send_problem(send: Send, status: int, title: str, detail: str) -> None:
    body = problem_body(status, title, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                _CLOSE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class BodyTooLargeError(HTTPException):
    """Raised by the counting ``receive`` when a streamed body passes its limit.

    An ``HTTPException`` so that FastAPI's body reading lets it through to the
    exception handler, which answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit), headers={"Connection": "close"})
        self.limit = limit


class BodyLimit:
    """Request bodies at most ``default`` bytes, or the limit of the longest matching
    path prefix in ``by_prefix``."""

    def __init__(
        self, app: ASGIApp, default: int, by_prefix: Iterable[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.default = default
        self.by_prefix = sorted(by_prefix, key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length_header = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        try:
            declared = int(length_header) if length_header is not None else 0
        except ValueError:  # the HTTP layer has already refused this; be safe anyway
            declared = limit + 1
        if declared > limit:
            await _send_problem(send, 413, "Request body too large", too_large_detail(limit))
            return

        received = 0
        complete = declared == 0 and not chunked  # no body to read
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, complete, refused
            if refused:
                raise BodyTooLargeError(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise BodyTooLargeError(limit)
                if not message.get("more_body", False):
                    complete = True
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not complete:  # the rest of the body is not wanted: do not read it
                    headers = MutableHeaders(scope=message)
                    headers["connection"] = "close"
            await send(message)

        try:
            await self.app(scope, counted_receive, closing_send)
        except BodyTooLargeError:
            if started:
                raise
            await _send_problem(send, 413, "Request body too large", too_large_detail(limit))


def _netloc(host: str, port: int | None) -> str:
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The ``Host`` values this server answers: the public URL's (with and without its
    default port), the loopback names of the bound port when serving on loopback, and
    ``CALCINOSIS_ALLOWED_HOSTS``."""
    parts = urlsplit(settings.public_url)
    default = _DEFAULT_PORTS[parts.scheme]
    port = parts.port or default
    hosts = {_netloc(parts.hostname or "", port)}
    if port == default:
        hosts.add(_netloc(parts.hostname or "", None))
    if is_loopback(settings.host):
        for name in ("127.0.0.1", "localhost", "::1", settings.host.strip("[]")):
            hosts.add(_netloc(name, settings.port))
            if settings.port == 80:
                hosts.add(_netloc(name, None))
    hosts.update(host.lower() for host in settings.allowed_hosts)
    return frozenset(hosts)


class HostCheck:
    """Only requests whose ``Host`` is in ``allowed``; redirects built on ``public_url``."""

    def __init__(self, app: ASGIApp, allowed: Collection[str], public_url: str) -> None:
        self.app = app
        self.allowed = frozenset(host.lower() for host in allowed)
        self.public_url = public_url.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is None or host.decode("latin-1").strip().lower() not in self.allowed:
            await _send_problem(
                send, 400, "Bad request", "The Host header does not name this server."
            )
            return

        async def public_redirects(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                headers = MutableHeaders(scope=message)
                location = headers.get("location")
                if location is not None:
                    target = urlsplit(location)
                    if target.scheme or target.netloc:
                        query = f"?{target.query}" if target.query else ""
                        headers["location"] = f"{self.public_url}{target.path or '/'}{query}"
            await send(message)

        await self.app(scope, receive, public_redirects)
