"""CDS Hooks routes: discovery, the services, feedback; the feedback summary.

Every ``/cds-services`` call must carry a JWT from an allow-listed issuer
(``cdsauth.py``); a failure is a bare 401 with no detail (the reason goes to the
server log, never the token). With no issuers configured, every call is refused
unless the server was started with ``--insecure-cds``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict

from calcinosis.cdsauth import AuthError, TokenVerifier
from calcinosis.cdshooks import SERVICES, CdsRequest, PrefetchMissingError, discovery, handle
from calcinosis.web.app import problem
from calcinosis.web.records import record_answer, record_feedback

__all__ = ["CdsUnauthorizedError", "router"]

log = logging.getLogger("calcinosis.cds")
router = APIRouter(tags=["cds-hooks"])


class CdsUnauthorizedError(Exception):
    """Answered as a bare 401."""


def unauthorized_response() -> Response:
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(request: Request) -> None:
    """Verify the caller's JWT (aud = public URL + this path), or refuse."""
    verifier: TokenVerifier | None = request.app.state.cds_verifier
    if verifier is None:
        if request.app.state.settings.insecure_cds:
            return
        log.warning("CDS call refused: no trusted issuers configured")
        raise CdsUnauthorizedError
    audience = request.app.state.settings.public_url + request.url.path
    try:
        verifier.verify(request.headers.get("authorization"), audience)
    except AuthError as exc:
        log.warning("CDS call refused: %s", exc)
        raise CdsUnauthorizedError from None


Authenticated = Annotated[None, Depends(authenticate)]


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated: a bare 401, no body"}
}


@router.get("/cds-services", summary="CDS Hooks discovery", responses=UNAUTHORIZED)
async def services(_: Authenticated) -> dict[str, Any]:
    return discovery()


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS Hooks service",
    response_model=None,
    responses={**UNAUTHORIZED, 400: {}, 404: {}, 412: {}, 422: {}},
)
async def call_service(
    request: Request,
    body: CdsRequest,
    service_id: Annotated[str, PathParam(max_length=64)],
    _: Authenticated,
) -> Response | dict[str, Any]:
    service = SERVICES.get(service_id)
    if service is None:
        return problem(404, "Not found", f"unknown CDS service {service_id!r}")
    if body.hook != service.hook:
        return problem(
            422,
            "Invalid request",
            f"hook: {body.hook!r} does not match the service's {service.hook!r}",
            errors=[{"field": "hook", "message": f"expected {service.hook!r}"}],
        )
    state = request.app.state
    plans: list[dict[str, Any]] = []  # patient-view's plan, audited like the others
    try:
        answer = await handle(
            service, body, state.kb, state.settings.public_url, state.http, plans=plans
        )
    except PrefetchMissingError as exc:
        return problem(412, "Precondition failed", str(exc))
    await record_answer(state.store, service.id, answer["cards"], plans)  # committed, or 503
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


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on a service's cards",
    responses={**UNAUTHORIZED, 400: {}, 404: {}, 422: {}},
)
async def feedback(
    request: Request,
    body: FeedbackBody,
    service_id: Annotated[str, PathParam(max_length=64)],
    _: Authenticated,
) -> Response:
    if service_id not in SERVICES:
        return problem(404, "Not found", f"unknown CDS service {service_id!r}")
    state = request.app.state  # bounded, checked, committed (413/422/503 otherwise)
    await record_feedback(state.store, service_id, body.feedback, state.settings.feedback_max_items)
    return Response(status_code=200)


@router.get("/api/cds/feedback", tags=["api"], summary="CDS card feedback, counted")
async def feedback_counts(request: Request) -> dict[str, Any]:
    store = request.app.state.store
    return {"cards": store.card_counts(), "feedback": store.feedback_counts()}


@router.get("/admin/feedback", response_class=HTMLResponse, include_in_schema=False)
def feedback_page(request: Request) -> HTMLResponse:
    from calcinosis.plan import DISCLAIMER  # noqa: PLC0415
    from calcinosis.web.pages import templates  # noqa: PLC0415

    store = request.app.state.store
    context = {
        "cards": store.card_counts(),
        "feedback": store.feedback_counts(),
        "evidence_version": request.app.state.kb.version,
        "evidence_released": request.app.state.kb.released,
        "disclaimer": DISCLAIMER,
    }
    return templates.TemplateResponse(request, "feedback.html", context)
