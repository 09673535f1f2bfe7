"""The web application: pages for clinicians, a JSON API for programs.

``create_app(settings)`` builds the FastAPI app: the knowledge base is loaded
and the database migrated at start-up (``calcinosis serve`` does both before it
binds the port, and hands them in); every response carries the security
headers; every error is an ``application/problem+json`` document (RFC 9457)
naming the field at fault, never a traceback. Request bodies and ``Host``
headers are checked before any route sees them (``limits.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calcinosis import DISCLAIMER, __version__
from calcinosis.decision.plan_cache import PlanCache
from calcinosis.errors import CalcinosisError, ProfileError, UnknownChoiceError, field_path
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.integrations.cds.auth import load_trust
from calcinosis.settings import Settings
from calcinosis.storage import StorageError, Store
from calcinosis.web.limits import BodyLimit, HostCheck, allowed_hosts
from calcinosis.web.problems import PROBLEM_SCHEMA, SECURITY_HEADERS, problem
from calcinosis.web.records import RefusedFieldError
from calcinosis.web.routes import api, cds, pages
from calcinosis.web.server import open_store
from calcinosis.web.templating import render

__all__ = ["SECURITY_HEADERS", "create_app", "problem"]  # the last two from problems.py

log = logging.getLogger("calcinosis.web")
STATIC = Path(__file__).parent / "static"


def _field(loc: Sequence[int | str]) -> str:
    """FastAPI's location without its leading ``body``, ``query`` or ``path``."""
    inside = loc[1:] if loc and loc[0] in ("body", "query", "path") else loc
    return field_path(inside, "body")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem(400, "Malformed JSON", "The request body is not valid JSON.")
    fields = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in errors]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    return problem(422, "Invalid request", f"{first['field']}: {first['message']}", errors=fields)


async def _calcinosis_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ProfileError):
        return problem(
            422,
            "Invalid patient profile",
            str(exc),
            errors=[{"field": exc.field, "message": exc.message}],
        )
    if isinstance(exc, UnknownChoiceError):
        return problem(404, "Not found", str(exc))
    return problem(422, "Invalid request", str(exc))


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api", "/cds-services", "/openapi.json"))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    page = not _wants_json(request) and exc.status_code != 413  # a 413 is always a document
    if page and hasattr(request.app.state, "kb"):
        context = {"status": exc.status_code, "title": title, "detail": detail}
        return render(request, "error.html", context, status_code=exc.status_code)
    response = problem(exc.status_code, title, detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _storage_error(request: Request, exc: Exception) -> Response:
    """503: the record could not be committed, so nothing is served as if it had been."""
    assert isinstance(exc, StorageError)  # noqa: S101 - registered for this type
    log.warning("503 on %s %s: %s", request.method, request.url.path, exc.reason)
    headers = {"Retry-After": "5"}
    if not _wants_json(request) and hasattr(request.app.state, "kb"):
        context = {"status": 503, "title": "Service unavailable", "detail": exc.detail}
        return render(request, "error.html", context, status_code=503, headers=headers)
    response = problem(503, "Service unavailable", exc.detail)
    response.headers.update(headers)
    return response


async def _refused_field(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RefusedFieldError)  # noqa: S101 - registered for this type
    title = "Too many items" if exc.status == 413 else "Invalid request"
    return problem(
        exc.status,
        title,
        f"{exc.field}: {exc.message}",
        errors=[{"field": exc.field, "message": exc.message}],
    )


async def _unauthorized(request: Request, exc: Exception) -> Response:
    # Connection: close: an unauthenticated body is not read, now or on a reused connection.
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer", "Connection": "close"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem(500, "Internal error", "The server could not answer this request.")


class Unexpected:
    """Plain ASGI middleware, inside :class:`SecurityHeaders`: any exception that
    escapes the app (RecursionError, a bug) becomes a problem+json 500 that carries the
    security headers, with one log line (the exception's type), never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error(
                "internal error on %s %s: %s",
                scope.get("method"),
                scope.get("path"),
                type(exc).__name__,
            )
            if not started:
                response = problem(
                    500, "Internal error", "The server could not answer this request."
                )
                await response(scope, receive, send)


Header = tuple[bytes, bytes]
_SECURITY_RAW: tuple[Header, ...] = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
)


class SecurityHeaders:
    """Plain ASGI middleware: the security headers on every HTTP response, and the
    evidence version and its release date (list-shaped documents carry them only here).

    A header the response already has is left as it is (``setdefault``): the names a
    response has are looked up once, and the headers of a knowledge base are encoded
    once, for the last base seen."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._evidence: tuple[KnowledgeBase, tuple[Header, ...]] | None = None

    def _defaults(self, kb: KnowledgeBase | None) -> tuple[Header, ...]:
        if kb is None:
            return _SECURITY_RAW
        kept = self._evidence
        if kept is None or kept[0] is not kb:
            evidence = (
                (b"calcinosis-evidence-version", kb.version.encode("latin-1")),
                (b"calcinosis-evidence-released", kb.released.encode("latin-1")),
            )
            kept = self._evidence = (kb, _SECURITY_RAW + evidence)
        return kept[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[Header] = list(message["headers"])
                message["headers"] = raw
                kb = getattr(scope["app"].state, "kb", None) if "app" in scope else None
                present = {name for name, _ in raw}
                raw += [header for header in self._defaults(kb) if header[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _openapi_with_catalog(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document as the app behaves: the catalog's treatment ids as enums of
    the profile, and every 4xx answer a problem document (FastAPI documents its own
    422 body, which this app does not send)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            kb = getattr(app.state, "kb", None) or load_knowledge()
            ids = sorted(kb.therapy_ids())
            schemas = document["components"]["schemas"]
            schemas["Patient"]["properties"]["medications"]["items"]["enum"] = ids
            schemas["PriorTreatment"]["properties"]["treatment"]["enum"] = ids
            schemas["Problem"] = PROBLEM_SCHEMA
            problem_content = {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            for operations in document["paths"].values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        if str(status).startswith("4") and str(status) != "401":
                            response["content"] = problem_content
                            if status == "422":
                                response["description"] = "Invalid request: a problem document"
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


_NO_LIMIT = 2**62


def create_app(
    settings: Settings,
    *,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
    kb: KnowledgeBase | None = None,
    store: Store | None = None,
) -> FastAPI:
    """The application, configured by ``settings``.

    ``fhir_transport`` replaces the network for the FHIR fetches of the CDS services
    (tests use it so that a generated ``fhirServer`` is never contacted). ``kb`` and
    ``store``, when given, are used instead of loading and opening them at start-up
    (``calcinosis serve`` opens them first, so that a failure is one line); the app
    closes the store when it stops.
    """
    trust = load_trust(settings.cds_issuers) if settings.cds_issuers else None  # refused now

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.kb = kb if kb is not None else load_knowledge()
        app.state.plans = PlanCache(app.state.kb)  # the plans of this knowledge base
        app.state.store = (
            store
            if store is not None
            else open_store(
                settings.database_url,
                write_timeout=settings.storage_write_timeout,
                busy_timeout=settings.storage_busy_timeout,
            )
        )
        # The store's durable claim_jti, when it has one, is the replay check.
        app.state.cds_verifier = (
            cds.make_verifier(trust, settings, app.state.store) if trust is not None else None
        )
        app.state.http = httpx.AsyncClient(  # each fetch sets its own share of the deadline
            timeout=httpx.Timeout(settings.cds.fetch_timeout, connect=2.0),
            follow_redirects=False,
            trust_env=False,  # no proxy variables or netrc: the token goes to the listed server
            transport=fhir_transport,
        )
        yield
        await app.state.http.aclose()
        app.state.store.close()

    app = FastAPI(
        title="calcinosis",
        version=__version__,
        description=f"Evidence-based decision support for calcinosis cutis. {DISCLAIMER}",
        lifespan=lifespan,
        docs_url=None,  # the Swagger UI loads scripts from a CDN: not here
        redoc_url=None,
    )

    # The last added is the outermost: the security headers on every answer, the Host
    # checked first, then the body's size, before any route reads a byte of it; an
    # unexpected error inside is a problem document that still gets the headers.
    app.add_middleware(Unexpected)
    # the CDS routes authenticate first and then apply CALCINOSIS_CDS_MAX_BODY_BYTES
    # themselves (a stranger's body is never read at all): no generic limit there
    body_limits = settings.body_limits or (("/cds-services", _NO_LIMIT),)
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, by_prefix=body_limits)
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings), public_url=settings.public_url)
    app.add_middleware(SecurityHeaders)
    app.openapi = _openapi_with_catalog(app)  # type: ignore[method-assign]

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CalcinosisError, _calcinosis_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RefusedFieldError, _refused_field)

    app.add_exception_handler(cds.CdsUnauthorizedError, _unauthorized)
    app.include_router(api.router)
    app.include_router(cds.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
