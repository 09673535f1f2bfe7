"""The pages clinicians open: assessment, treatments, evidence, algorithm."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from calcinosis.audit import audit
from calcinosis.engine import STEPS, recommend_document
from calcinosis.errors import ProfileError
from calcinosis.evidence import KnowledgeBase, arm_document
from calcinosis.models import Statement
from calcinosis.patient import CONDITIONS, DISEASES, SUBTYPES, parse_patient
from calcinosis.plan import DISCLAIMER
from calcinosis.references import redact
from calcinosis.storage import plan_row
from calcinosis.tables import table_rows
from calcinosis.transparency import about_document
from calcinosis.web import api
from calcinosis.web.forms import BOOL_FIELDS, MAX_PRIOR, form_field, profile_from_query
from calcinosis.web.forms import query_from_items as share_query
from calcinosis.web.graphics import algorithm_svg, evidence_map_svg

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SVG = "image/svg+xml"


def _kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase = request.app.state.kb
    return kb


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    kb = _kb(request)
    context |= {
        "evidence_version": kb.version,
        "evidence_released": kb.released,
        "disclaimer": DISCLAIMER,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def _assessment(request: Request, template: str) -> HTMLResponse:
    kb = _kb(request)
    items = list(request.query_params.multi_items())
    submitted = {key for key, _ in items}
    errors: dict[str, str] = {}
    plan = None
    if "subtype" in submitted or "age_years" in submitted:
        profile, prior_rows = profile_from_query(items)
        try:
            patient = parse_patient(profile, kb.therapy_ids())
        except ProfileError as exc:
            errors[form_field(exc.field, prior_rows)] = exc.message + (
                f" (valid choices: {', '.join(exc.choices)})" if exc.choices else ""
            )
        else:
            plan = recommend_document(patient, kb)
            request.app.state.store.write([plan_row(plan, "web")])  # committed, or 503
    values: dict[str, list[str]] = {}
    for key, value in items:
        values.setdefault(key, []).append(value)
    therapies = sorted(kb.therapy_ids(), key=lambda tid: kb.treatments[tid].name.lower())
    query = share_query(items)
    return _page(
        request,
        template,
        status=422 if errors else 200,
        values=values,
        errors=errors,
        plan=plan,
        share_query=query,
        subtypes=SUBTYPES,
        diseases=DISEASES,
        conditions=CONDITIONS,
        bool_fields=BOOL_FIELDS,
        max_prior=MAX_PRIOR,
        therapies=[(tid, kb.treatments[tid].name) for tid in therapies],
        names={tid: entry.name for tid, entry in kb.treatments.items()},
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response((Path(__file__).parent / "static" / "favicon.svg").read_bytes(), media_type=SVG)


@router.get("/", response_class=HTMLResponse)
def assessment(request: Request) -> HTMLResponse:
    """The assessment form, and the plan when the form was submitted."""
    return _assessment(request, "assess.html")


@router.get("/print", response_class=HTMLResponse)
def print_view(request: Request) -> HTMLResponse:
    """The plan alone, laid out for the chart."""
    return _assessment(request, "print.html")


def _treatment_or_404(kb: KnowledgeBase, treatment: str) -> None:
    if treatment not in kb.treatments:
        raise HTTPException(404, f"unknown treatment {treatment!r}")


@router.get("/treatments/{treatment}", response_class=HTMLResponse)
def treatment_page(
    request: Request, treatment: Annotated[str, PathParam(max_length=64)]
) -> HTMLResponse:
    kb = _kb(request)
    _treatment_or_404(kb, treatment)
    entry = kb.treatments[treatment]
    arms = [arm_document(kb, arm) for arm in kb.arms_for([treatment])]
    pooled = api.pooled(kb, treatment, "any", "glmm") if arms else None
    statements = [_redacted(kb, s) for s in kb.statements if treatment in s.treatments]
    sources = {s.id: s for s in kb.sources.values()}
    rows = [row for row in table_rows(kb, 4) if treatment in row["treatments"]]
    return _page(
        request,
        "treatment.html",
        entry=entry,
        arms=arms,
        pooled=pooled,
        statements=statements,
        sources=sources,
        table4=rows,
        has_forest=bool(pooled and pooled["k"]),
    )


def _redacted(kb: KnowledgeBase, statement: Statement) -> Statement:
    """A statement whose quote prints a dose the audit flags as a unit error, with that
    dose cut out ("[…]") and the reason next to its place: never shown as a dose."""
    quote = redact(kb, statement.quote)
    if quote == statement.quote:
        return statement
    where = f"{statement.location}; a dose printed in the wrong unit is left out ([…])"
    return statement.model_copy(update={"quote": quote, "location": where})


@lru_cache(maxsize=128)
def _forest(kb: KnowledgeBase, treatment: str) -> bytes | None:
    """The forest plot's SVG, drawn once per knowledge base (matplotlib is slow)."""
    from calcinosis.forest import render_forest  # noqa: PLC0415 - matplotlib on demand
    from calcinosis.synthesis import pool_treatment  # noqa: PLC0415

    result, _, _ = pool_treatment(kb, treatment)
    if result is None:
        return None
    return render_forest(result, f"{kb.treatments[treatment].name}: any response", "svg")


@router.get("/treatments/{treatment}/forest.svg")
def forest_svg(request: Request, treatment: Annotated[str, PathParam(max_length=64)]) -> Response:
    kb = _kb(request)
    _treatment_or_404(kb, treatment)
    svg = _forest(kb, treatment)
    if svg is None:
        raise HTTPException(404, f"no arm of {treatment!r} reports a response to plot")
    return Response(svg, media_type=SVG)


@router.get("/evidence", response_class=HTMLResponse)
def evidence_page(request: Request) -> HTMLResponse:
    kb = _kb(request)
    tables = {number: table_rows(kb, number) for number in (1, 2, 3, 4)}
    return _page(
        request,
        "evidence.html",
        tables=tables,
        audit=audit(kb),
        studies=len(kb.studies),
        arm_count=len(kb.arms),
    )


@router.get("/evidence/map.svg")
def evidence_map(request: Request) -> Response:
    return Response(evidence_map_svg(_kb(request)), media_type=SVG)


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, q: str = "") -> HTMLResponse:
    """A question box; the answer below it, with its citations."""
    from calcinosis.answers import answer_question  # noqa: PLC0415

    question = q.strip()[: api.MAX_QUESTION_LENGTH]
    answer = answer_question(question, _kb(request)) if question else None
    return _page(request, "ask.html", question=question, result=answer)


@router.get("/algorithm", response_class=HTMLResponse)
def algorithm_page(request: Request) -> HTMLResponse:
    steps = {
        subtype: [(step.__name__, (step.__doc__ or "").strip()) for step in chain]
        for subtype, chain in STEPS.items()
    }
    return _page(request, "algorithm.html", steps=steps)


@router.get("/about", response_class=HTMLResponse)
def about_page(request: Request) -> HTMLResponse:
    about = about_document(_kb(request), request.app.state.settings.public_url)
    return _page(request, "about.html", about=about)


@router.get("/algorithm.svg")
def algorithm_picture() -> Response:
    return Response(algorithm_svg(), media_type=SVG)
