"""CDS Hooks routes: discovery, the services, feedback; the feedback summary (admin only).

Every ``/cds-services`` call must carry a JWT from an allow-listed issuer
(``cdsauth.py``), verified from the headers *before the body is read*: a failure
is a bare 401 with no detail and ``Connection: close``, so an unauthenticated body
is never read (the reason goes to the server log, never the token). Then:

1. the body is read with a cap (``CALCINOSIS_CDS_MAX_BODY_BYTES``; 413, and a
   declared ``Content-Length`` over the cap is refused without reading anything);
2. off the event loop, its JSON nesting is checked before it is parsed, it is
   parsed, its FHIR input is checked against the limits (413 naming the field) and
   it is validated (400, 422);
3. missing prefetch is fetched only from a ``fhirServer`` the caller's issuer
   lists in the trust file (``fhir_servers``), within one total deadline and a
   size cap; any failure is the same 412;
4. the FHIR mapping and the cards are computed in a thread.

With no issuers configured, every call is refused unless the server was started
with ``--insecure-cds`` (development only: then ``fhirServer`` may only be a
loopback URL).

The feedback views (``/admin/feedback``, ``GET /api/cds/feedback``) need the admin
credential, ``CALCINOSIS_ADMIN_TOKEN``, as ``Authorization: Bearer ...`` (compared
in constant time): 401 without it, 403 for everyone when none is configured.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal, Protocol, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import ClientDisconnect

from calcinosis.decision.documents import PlanDocument
from calcinosis.decision.plan_cache import PlanCache
from calcinosis.errors import field_path
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.integrations.cds.auth import (
    AsyncClaimJti,
    AuthError,
    Issuer,
    TokenVerifier,
    TrustConfig,
    loopback_fhir_server_url,
)
from calcinosis.integrations.cds.documents import CdsResponse, Discovery, FeedbackCounts
from calcinosis.integrations.cds.services import (
    SERVICES,
    CdsRequest,
    PrefetchMissingError,
    Service,
    check_request_limits,
    discovery,
    fetch_missing,
    needs_fetch,
    respond,
)
from calcinosis.limits import (
    InputLimitError,
    InputLimits,
    JsonTooDeepError,
    TooLargeError,
    check_fhir_input,
    loads_within,
    read_capped,
)
from calcinosis.settings import Settings
from calcinosis.storage import Store
from calcinosis.web.problems import problem
from calcinosis.web.records import record_answer, record_feedback
from calcinosis.web.templating import render

__all__ = ["CdsUnauthorizedError", "make_verifier", "router"]

log = logging.getLogger("calcinosis.cds")
router = APIRouter(tags=["cds-hooks"])
Model = TypeVar("Model", bound=BaseModel)


_CPU_THREADS = 2  # CDS parsing and mapping at once; more would only fight for the GIL
# A body this small (the usual patient-view, about 7 KB) is parsed and answered on the
# event loop: about 1 ms, less than the trip to a thread and back costs under load (two
# wake-ups fighting for the GIL); a larger one goes to the CDS threads.
_ON_LOOP_BYTES = 16_384


class CdsUnauthorizedError(Exception):
    """Answered as a bare 401."""


async def _off_loop(request: Request, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a thread of the CDS pool (``_CPU_THREADS``), off the event
    loop and apart from the thread pool of the other routes."""
    state = request.app.state
    limiter = getattr(state, "cds_cpu_limiter", None)
    if limiter is None:  # created in the event loop, on first use
        limiter = state.cds_cpu_limiter = CapacityLimiter(_CPU_THREADS)
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)


def make_verifier(trust: TrustConfig, settings: Settings, store: object) -> TokenVerifier:
    """The verifier for ``trust`` with the configured limits.

    Replay protection uses the store's durable ``claim_jti(issuer, jti, expires_at)``
    when the store has one (shared between instances, surviving restarts), and the
    verifier's bounded in-memory cache otherwise.
    """
    claim = getattr(store, "claim_jti", None)
    cds = settings.cds
    return TokenVerifier(
        trust,
        claim=claim if callable(claim) else None,
        aclaim=_awaitable_claim(store),
        leeway=cds.clock_skew,
        max_lifetime=cds.token_max_lifetime,
        jwks_timeout=cds.jwks_timeout,
        jwks_backoff=cds.jwks_backoff,
        jwks_max_backoff=cds.jwks_max_backoff,
        replay_max_entries=cds.replay_max_entries,
    )


def _awaitable_claim(store: object) -> AsyncClaimJti | None:
    """The store's ``aclaim_jti`` (the claim awaited on the event loop, no thread) when
    its ``claim_jti`` is :class:`Store`'s own; None when that was replaced by another
    claim (which then runs in a thread, as any pluggable claim does)."""
    claim = getattr(type(store), "claim_jti", None)
    aclaim = getattr(store, "aclaim_jti", None)
    own = (
        isinstance(store, Store)
        and getattr(claim, "__module__", None) == Store.__module__
        and getattr(claim, "__qualname__", None) == "Store.claim_jti"
    )
    return aclaim if own and callable(aclaim) else None


@dataclass(frozen=True)
class Caller:
    """Who made a CDS call: the verified issuer, or None under ``--insecure-cds``."""

    issuer: Issuer | None

    def fhir_server(self, url: str | None) -> str | None:
        """The vetted URL to fetch missing prefetch from, or None (nothing is contacted)."""
        if url is None:
            return None
        if self.issuer is None:
            return loopback_fhir_server_url(url)
        return self.issuer.fhir_server_url(url)


async def authenticate(request: Request) -> Caller:
    """Verify the caller's JWT (aud = public URL + this path), or refuse. Reads no body."""
    verifier: TokenVerifier | None = request.app.state.cds_verifier
    if verifier is None:
        if request.app.state.settings.insecure_cds:
            return Caller(None)
        log.warning("CDS call refused: no trusted issuers configured")
        raise CdsUnauthorizedError
    audience = request.app.state.settings.public_url + request.url.path
    try:
        claims = await verifier.verify_async(request.headers.get("authorization"), audience)
    except AuthError as exc:
        log.warning("CDS call refused: %s", exc)
        raise CdsUnauthorizedError from None
    return Caller(verifier.trust.issuers[claims.iss])


Authenticated = Annotated[Caller, Depends(authenticate)]


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated: a bare 401, no body"}
}


def _limits(settings: Settings) -> InputLimits:
    cds = settings.cds
    return InputLimits(
        max_entries=cds.max_entries,
        max_string_chars=cds.max_string_chars,
        max_prefetch_keys=cds.max_prefetch_keys,
        max_json_depth=cds.max_json_depth,
    )


class _RefusedError(Exception):
    """A body refused; ``response`` is the problem document to answer with."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response.status_code)


def _too_large(field: str, message: str) -> _RefusedError:
    response = problem(
        413,
        "Content too large",
        f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )
    response.headers["Connection"] = "close"  # what was not read is not read later either
    return _RefusedError(response)


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise _too_large("body", f"larger than {max_bytes} bytes")
    try:
        return await read_capped(request.stream(), max_bytes)
    except TooLargeError:
        raise _too_large("body", f"larger than {max_bytes} bytes") from None
    except ClientDisconnect:
        raise _RefusedError(problem(400, "Incomplete request", "The body was cut off.")) from None


class _Check(Protocol):
    """A body's limit check: ``walk=False`` when its scan showed that no array and no
    string of it can be over the limits (the walk would find nothing)."""

    def __call__(self, data: Mapping[str, object], limits: InputLimits, *, walk: bool) -> None:
        """InputLimitError naming the field beyond a limit."""


def _parse(raw: bytes, model: type[Model], limits: InputLimits, check: _Check) -> Model:
    """The body as ``model``: depth-checked, parsed, limit-checked, validated. In a thread."""
    try:
        data, within = loads_within(raw, limits)
    except JsonTooDeepError:
        raise _too_large(
            "body", f"JSON nested deeper than {limits.max_json_depth} levels"
        ) from None
    except ValueError:
        response = problem(400, "Malformed JSON", "The request body is not valid JSON.")
        raise _RefusedError(response) from None
    if isinstance(data, dict):
        try:
            check(data, limits, walk=not within)
        except InputLimitError as exc:
            raise _too_large(exc.field, exc.message) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        fields = [{"field": field_path(e["loc"], "body"), "message": e["msg"]} for e in errors]
        first = fields[0]
        response = problem(
            422, "Invalid request", f"{first['field']}: {first['message']}", errors=fields
        )
        raise _RefusedError(response) from None


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined (for ``openapi_extra``)."""
    definitions = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body, documented: the routes read it themselves, after authentication."""
    schema = _inline(model.model_json_schema())
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.get(
    "/cds-services",
    summary="CDS Hooks discovery",
    response_model=Discovery,
    responses=UNAUTHORIZED,
)
async def services(_: Authenticated) -> Discovery:
    return discovery()


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS Hooks service",
    response_model=CdsResponse,
    response_model_exclude_unset=True,
    openapi_extra=_body(CdsRequest),
    responses={**UNAUTHORIZED, 400: {}, 404: {}, 412: {}, 413: {}, 422: {}},
)
async def call_service(
    request: Request,
    service_id: Annotated[str, PathParam(max_length=64)],
    caller: Authenticated,
) -> Response:
    service = SERVICES.get(service_id)
    if service is None:
        return problem(404, "Not found", f"unknown CDS service {service_id!r}")
    state = request.app.state
    settings: Settings = state.settings
    limits = _limits(settings)
    plans: list[PlanDocument] = []  # patient-view's plan, audited like the others
    answer: CdsResponse | None
    try:
        raw = await _read_body(request, settings.cds.max_body_bytes)
        # parsed, and answered at once when nothing is to fetch: on the loop when the
        # body is small, else in one trip to a thread
        work = partial(_parse_and_respond, limits=limits, plans=plans, plan_cache=state.plans)
        if len(raw) <= _ON_LOOP_BYTES:
            body, answer = work(raw, service, state.kb, settings.public_url)
        else:
            body, answer = await _off_loop(
                request, work, raw, service, state.kb, settings.public_url
            )
    except _RefusedError as refused:
        return refused.response
    if body.hook != service.hook:
        return problem(
            422,
            "Invalid request",
            f"hook: {body.hook!r} does not match the service's {service.hook!r}",
            errors=[{"field": "hook", "message": f"expected {service.hook!r}"}],
        )
    try:
        if answer is None:  # a required prefetch member is missing: fetched first
            answer = await _answer_with_fetched(request, caller, service, body, plans)
    except PrefetchMissingError as exc:
        log.warning("CDS prefetch not fetched: %s", exc.reason)
        return problem(412, "Precondition failed", str(exc))
    await record_answer(state.store, service.id, _card_records(answer), plans)  # or 503
    # the members a card leaves out stay out (no card has a member that is null)
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")


def _card_records(answer: CdsResponse) -> list[dict[str, object]]:
    """What ``record_answer`` stores of each card: its uuid, kind and indicator."""
    return [
        {
            "uuid": card.uuid,
            "indicator": card.indicator,
            "source": {"topic": {"code": card.source.topic.code}},
        }
        for card in answer.cards
    ]


def _parse_and_respond(
    raw: bytes,
    service: Service,
    kb: KnowledgeBase,
    public_url: str,
    *,
    limits: InputLimits,
    plans: list[PlanDocument],
    plan_cache: PlanCache,
) -> tuple[CdsRequest, CdsResponse | None]:
    """The body, parsed (``_RefusedError`` if refused), and the answer when it can be
    given now: the hook is the service's and no required prefetch is missing (else
    None: the route refuses the hook, or fetches first). In a thread."""
    body = _parse(raw, CdsRequest, limits, check_request_limits)
    if body.hook != service.hook or needs_fetch(body, service):
        return body, None
    answer = respond(
        service, body, {}, kb, public_url, limits=limits, plans=plans, plan_cache=plan_cache
    )
    return body, answer


async def _answer_with_fetched(
    request: Request,
    caller: Caller,
    service: Service,
    body: CdsRequest,
    plans: list[PlanDocument],
) -> CdsResponse:
    """The answer once the missing prefetch is fetched (``PrefetchMissingError``)."""
    state = request.app.state
    settings: Settings = state.settings
    fetched = await fetch_missing(
        body,
        service,
        state.http,
        server=caller.fhir_server(body.fhirServer),
        timeout=settings.cds.fetch_timeout,
        max_bytes=settings.cds.fetch_max_bytes,
    )
    answer: CdsResponse = await _off_loop(
        request,
        partial(respond, limits=_limits(settings), plans=plans, plan_cache=state.plans),
        service,
        body,
        fetched,
        state.kb,
        settings.public_url,
    )
    return answer


class _Reason(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str | None = None
    system: str | None = None
    display: str | None = None


class _OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: _Reason | None = None
    userComment: str | None = None  # noqa: N815 - the specification's name


class _FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None  # noqa: N815
    overrideReason: _OverrideReason | None = None  # noqa: N815
    outcomeTimestamp: str | None = None  # noqa: N815


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedback: list[_FeedbackItem]


def _check_feedback(data: Mapping[str, object], limits: InputLimits, *, walk: bool) -> None:
    if walk:
        check_fhir_input(data.get("feedback"), "feedback", limits)


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on a service's cards",
    openapi_extra=_body(FeedbackBody),
    response_class=Response,
    responses={
        **UNAUTHORIZED,
        200: {"description": "Recorded (no body)"},
        400: {},
        404: {},
        413: {},
        422: {},
    },
)
async def feedback(
    request: Request,
    service_id: Annotated[str, PathParam(max_length=64)],
    _: Authenticated,
) -> Response:
    if service_id not in SERVICES:
        return problem(404, "Not found", f"unknown CDS service {service_id!r}")
    settings: Settings = request.app.state.settings
    try:
        raw = await _read_body(request, settings.cds.max_body_bytes)
        body: FeedbackBody = await _off_loop(
            request, _parse, raw, FeedbackBody, _limits(settings), _check_feedback
        )
    except _RefusedError as refused:
        return refused.response
    state = request.app.state  # bounded, checked, committed (413/422/503 otherwise)
    await record_feedback(state.store, service_id, body.feedback, state.settings.feedback_max_items)
    return Response(status_code=200)


# ------------------------------------------------------------------ the admin views
_ADMIN_OFF = "The feedback views are off: no CALCINOSIS_ADMIN_TOKEN is configured."
_ADMIN_NEEDED = "The feedback views need the admin credential (Authorization: Bearer ...)."
_NO_STORE = {"Cache-Control": "no-store"}


def _admin_refusal(request: Request) -> tuple[int, str] | None:
    """None when the request carries the admin credential; else (status, detail)."""
    token = request.app.state.settings.admin_token
    if token is None:
        return 403, _ADMIN_OFF
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return None
    return 401, _ADMIN_NEEDED


def _refusal_headers(status: int) -> dict[str, str]:
    return _NO_STORE | ({"WWW-Authenticate": "Bearer"} if status == 401 else {})


@router.get(
    "/api/cds/feedback",
    tags=["api"],
    summary="CDS card feedback, counted (admin credential required)",
    response_model=None,
    responses={
        200: {"model": FeedbackCounts, "description": "The counts"},
        401: {"description": "No or a wrong admin credential"},
        403: {"description": "No admin credential is configured"},
    },
)
def feedback_counts(request: Request) -> Response | dict[str, Any]:
    refusal = _admin_refusal(request)
    if refusal is not None:
        status, detail = refusal
        title = "Not authenticated" if status == 401 else "Forbidden"
        response = problem(status, title, detail)
        response.headers.update(_refusal_headers(status))
        return response
    store = request.app.state.store
    counts = {"cards": store.card_counts(), "feedback": store.feedback_counts()}
    return JSONResponse(counts, headers=_NO_STORE)


@router.get("/admin/feedback", response_class=HTMLResponse, include_in_schema=False)
def feedback_page(request: Request) -> HTMLResponse:
    refusal = _admin_refusal(request)
    if refusal is not None:
        status, detail = refusal
        title = "Not authenticated" if status == 401 else "Forbidden"
        context = {"status": status, "title": title, "detail": detail}
        return render(
            request, "error.html", context, status_code=status, headers=_refusal_headers(status)
        )
    store = request.app.state.store
    context = {"cards": store.card_counts(), "feedback": store.feedback_counts()}
    return render(request, "feedback.html", context, headers=_NO_STORE)
