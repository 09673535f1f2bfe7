"""The JSON API: the same documents as the command line (DESIGN.md, HTTP API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from calcinosis.answers import answer_question
from calcinosis.answers.documents import AnswerDocument
from calcinosis.decision.documents import PlanDocument
from calcinosis.decision.patient import Patient, one_unknown_field, parse_patient
from calcinosis.decision.plan_cache import CachedPlan, PlanCache
from calcinosis.errors import UnknownChoiceError
from calcinosis.evidence.audit import audit
from calcinosis.evidence.derived import derived_bounded
from calcinosis.evidence.documents import (
    ArmDocument,
    AuditDocument,
    CertaintyDocument,
    PoolDocument,
    Table4RowDocument,
    TableRow,
)
from calcinosis.evidence.knowledge_base import OUTCOMES, KnowledgeBase, Outcome, arm_document
from calcinosis.evidence.schemas import ChangeEntry, Treatment
from calcinosis.evidence.summary_of_findings import Scope, SummaryOfFindings, summary_of_findings
from calcinosis.evidence.synthesis import Dimension, Method, pool_document
from calcinosis.evidence.tables import arm_level_rules, table_rows
from calcinosis.render.documents import AboutDocument
from calcinosis.render.transparency import about_document
from calcinosis.storage import plan_row

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["api"])
MAX_QUESTION_LENGTH = 1000  # characters, as `calcinosis ask` and the /ask page

PROBLEM = {
    "description": "A problem document (RFC 9457) naming the field at fault",
    "content": {"application/problem+json": {}},
}


class ChangesDocument(BaseModel):
    """The changelog of the evidence served (``GET /api/evidence/changes``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    evidence_version: str
    evidence_released: str
    unreleased: bool
    status: str
    releases: list[ChangeEntry]


class HealthDocument(BaseModel):
    """Whether plans can be served now (``GET /api/health``); ``storage`` says why not."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    status: Literal["ok", "degraded"]
    storage: str | None = None  # only when degraded
    evidence_version: str
    evidence_released: str


def _kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase = request.app.state.kb
    return kb


@derived_bounded(512)
def pooled(
    kb: KnowledgeBase,
    treatment: str,
    outcome: Outcome,
    method: Method,
    *,
    by: Dimension | None = None,
    leave_one_out: bool = False,
    hartung_knapp: bool = False,
) -> PoolDocument:
    """The pooled document, computed once per knowledge base (it costs model fits);
    shared (frozen)."""
    return pool_document(
        kb,
        treatment,
        outcome,
        method,
        by=by,
        leave_one_out=leave_one_out,
        hartung_knapp=hartung_knapp,
    )


@derived_bounded(64)
def findings(
    kb: KnowledgeBase, treatment: str | None, outcome: Outcome | None, scope: Scope
) -> SummaryOfFindings:
    """The summary-of-findings table, computed once per knowledge base and scope."""
    outcomes = (outcome,) if outcome else OUTCOMES
    return summary_of_findings(kb, [treatment] if treatment else None, outcomes, scope)


def plan_for(request: Request, patient: Patient) -> CachedPlan:
    """The plan of ``patient``, from the app's plan cache (computed there on a miss).
    CPU-bound on a miss: call it from a thread."""
    plans: PlanCache = request.app.state.plans
    return plans.plan(patient, _kb(request))


@router.post(
    "/recommendations",
    summary="A treatment plan for a patient profile",
    response_model=PlanDocument,
    responses={400: PROBLEM, 422: PROBLEM, 503: PROBLEM},
)
async def recommendations(patient: Patient, request: Request) -> Response:
    """The same document as ``calcinosis recommend --format json``, answered once its
    audit record is committed (503 when it cannot be). The plan comes from the app's
    plan cache; a plan not kept there is computed in the thread pool, never on the
    event loop, and the commit is awaited without holding a thread."""
    kb = _kb(request)
    checked = parse_patient(patient.model_dump(), kb.therapy_ids())
    plans: PlanCache = request.app.state.plans
    plan = plans.cached(checked, kb)
    if plan is None:
        plan = await run_in_threadpool(plan_for, request, checked)
    await request.app.state.store.awrite([plan_row(plan.document, "api")])
    return Response(plan.json, media_type="application/json")


class Question(BaseModel):
    """A clinical question in plain language."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION_LENGTH)

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: object) -> object:
        return one_unknown_field(data, cls.model_fields)


@router.post(
    "/answers",
    summary="Answer a clinical question from the evidence base",
    response_model=AnswerDocument,
    responses={400: PROBLEM, 422: PROBLEM},
)
def answers(body: Question, request: Request) -> Response:
    """The same document as ``calcinosis ask --format json``."""
    document = answer_question(body.question, _kb(request))  # typed: serialised once
    return Response(document.model_dump_json(), media_type="application/json")


@router.get(
    "/evidence/arms",
    summary="Every study arm of the review, with provenance",
    response_model=list[ArmDocument],
    response_model_exclude_unset=True,
    responses={404: PROBLEM, 422: PROBLEM},
)
def arms(
    request: Request,
    treatment: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ArmDocument]:
    kb = _kb(request)
    chosen = kb.arms_for(kb.resolve(treatment)) if treatment else kb.arms
    return [arm_document(kb, arm, arm_level_rules(kb, arm).level) for arm in chosen]


@router.get(
    "/evidence/tables/{number}",
    summary="Table 1-4 rebuilt from the arms",
    response_model=list[TableRow] | list[Table4RowDocument],
    responses={404: PROBLEM},
)
def table(
    request: Request, number: Annotated[int, Path(ge=1, le=4)]
) -> list[TableRow] | list[Table4RowDocument]:
    return table_rows(_kb(request), number)


@router.get(
    "/evidence/audit",
    summary="Published figures that disagree with the counts",
    response_model=list[AuditDocument],
)
def audit_items(request: Request) -> list[AuditDocument]:
    return [item.document() for item in audit(_kb(request))]


@router.get("/evidence/changes", summary="The changelog: every release, newest first")
def changes(request: Request) -> ChangesDocument:
    """The releases of the evidence served (``changes.yaml``), and whether the evidence
    served is itself a release (``unreleased``: a directory previewed before release)."""
    kb = _kb(request)
    return ChangesDocument(
        evidence_version=kb.version,
        evidence_released=kb.released,
        unreleased=kb.unreleased,
        status=kb.release_status(),
        releases=list(kb.changelog),
    )


@router.get(
    "/evidence/pool/{treatment}",
    summary="Pooled response of a treatment or class",
    response_model=PoolDocument,
    response_model_exclude_unset=True,
    responses={404: PROBLEM},
)
def pool(
    request: Request,
    treatment: Annotated[str, Path(max_length=64)],
    *,
    outcome: Literal["any", "complete"] = "any",
    method: Literal["glmm", "dl", "reml", "pm"] = "glmm",
    by: Annotated[Dimension | None, Query(description="subgroups by disease or population")] = None,
    leave_one_out: Annotated[bool, Query(description="pool again without each study")] = False,
    hartung_knapp: Annotated[
        bool, Query(description="the Hartung-Knapp interval (methods dl, reml, pm; 422 with glmm)")
    ] = False,
) -> PoolDocument:
    """The same document as ``calcinosis evidence pool --format json`` with the same
    options (``--by``, ``--leave-one-out``, ``--hartung-knapp``)."""
    kb = _kb(request)
    if treatment not in kb.pool_choices():
        raise UnknownChoiceError("treatment", treatment, kb.pool_choices())
    return pooled(
        kb,
        treatment,
        outcome,
        method,
        by=by,
        leave_one_out=leave_one_out,
        hartung_knapp=hartung_knapp,
    )


@router.get(
    "/evidence/certainty",
    summary="Summary of findings with a pre-filled GRADE certainty, for a panel to confirm",
    response_model=CertaintyDocument,
    responses={404: PROBLEM, 422: PROBLEM},
)
def certainty(
    request: Request,
    treatment: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Outcome | None = None,
    disease: Literal["DM", "SSc"] | None = None,
    population: Literal["adult", "child"] | None = None,
) -> CertaintyDocument:
    """The same document as ``calcinosis evidence certainty --format json``."""
    kb = _kb(request)
    if treatment is not None and treatment not in kb.pool_choices():
        raise UnknownChoiceError("treatment", treatment, kb.pool_choices())
    return findings(kb, treatment, outcome, Scope(disease, population)).document()


@router.get("/treatments", summary="The treatment catalog")
def treatments(request: Request) -> list[Treatment]:
    return list(_kb(request).treatments.values())


@router.get(
    "/treatments/{treatment}",
    summary="One entry of the treatment catalog",
    responses={404: PROBLEM},
)
def treatment_entry(request: Request, treatment: Annotated[str, Path(max_length=64)]) -> Treatment:
    kb = _kb(request)
    if treatment not in kb.treatments:
        raise UnknownChoiceError("treatment", treatment, sorted(kb.treatments))
    return kb.treatments[treatment]


@router.get(
    "/about",
    summary="Transparency: HTI-1 source attributes, the basis, limitations, validation",
    response_model=AboutDocument,
    response_model_exclude_unset=True,
)
def about(request: Request) -> AboutDocument:
    """The same document as the ``/about`` page."""
    return about_document(_kb(request), request.app.state.settings.public_url)


@router.get(
    "/health",
    summary="Whether the service can serve plans (storage writable), and the evidence version",
    response_model=HealthDocument,
    response_model_exclude_unset=True,
    responses={
        503: {
            "model": HealthDocument,
            "description": "Degraded: the storage cannot write (the reason in one line)",
        }
    },
)
async def health(request: Request) -> Any:
    """200 ``{"status": "ok"}`` when audit records can be written now; otherwise 503
    ``{"status": "degraded", "storage": "<reason>"}``."""
    kb = _kb(request)
    versions = {"evidence_version": kb.version, "evidence_released": kb.released}
    reason = await request.app.state.store.ahealth()
    if reason is None:
        return {"status": "ok", **versions}
    return JSONResponse({"status": "degraded", "storage": reason, **versions}, status_code=503)
