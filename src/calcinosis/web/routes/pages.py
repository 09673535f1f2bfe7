"""The pages clinicians open: assessment, treatments, evidence, algorithm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.exceptions import HTTPException

from calcinosis.answers import answer_question
from calcinosis.decision.documents import PlanDocument
from calcinosis.decision.engine import STEPS
from calcinosis.decision.patient import CONDITIONS, DISEASES, SUBTYPES, parse_patient
from calcinosis.decision.plan_cache import CachedPlan
from calcinosis.decision.strength import (
    CEBM_EXPLAINED,
    CEBM_GRADES,
    CEBM_LEVELS,
    GRADE_EXPLAINED,
    GRADE_LETTERS,
    GRADE_NUMBERS,
)
from calcinosis.errors import ProfileError
from calcinosis.evidence.audit import audit
from calcinosis.evidence.derived import derived
from calcinosis.evidence.documents import CompleteCount
from calcinosis.evidence.knowledge_base import KnowledgeBase, arm_document, responders, study_label
from calcinosis.evidence.references import redact
from calcinosis.evidence.schemas import Arm, Statement
from calcinosis.evidence.summary_of_findings import Scope
from calcinosis.evidence.synthesis import DIMENSIONS, pool_treatment
from calcinosis.evidence.tables import arm_level_rules, table_rows
from calcinosis.render.charts import algorithm_svg, evidence_map_svg
from calcinosis.render.handout import handout_document
from calcinosis.render.transparency import about_document
from calcinosis.stats.certainty import PREFILLED
from calcinosis.storage import plan_row
from calcinosis.web.forms import (
    BOOL_FIELDS,
    MAX_PRIOR,
    RESPONSE_LABELS,
    form_field,
    profile_from_query,
    readable,
)
from calcinosis.web.forms import query_from_items as share_query
from calcinosis.web.printout import print_sheet
from calcinosis.web.routes import api
from calcinosis.web.templating import render, templates

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)
SVG = "image/svg+xml"
# The fields under "more details": the group opens when one of them was given.
MORE_FIELDS = (
    "sex",
    "height_cm",
    "progressive",
    "internal_involvement",
    "patient_concerned",
    "lesions_digital",
    "inflammation",
    "ulceration",
    "raynaud",
    "local_therapy_accessible",
    "conditions",
    "medications",
    *(f"prior_{i}_{part}" for i in range(1, MAX_PRIOR + 1) for part in ("treatment", "response")),
)
FIELD_LABELS = {
    "subtype": "subtype",
    "age_years": "age",
    "weight_kg": "weight",
    "height_cm": "height",
    "disease_controlled": "disease control",
    "lesions_largest_cm": "largest lesion",
    "lesions_count": "number of lesions",
}


def _kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase = request.app.state.kb
    return kb


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return render(request, name, context, status_code=status)


def _assessment(request: Request, template: str) -> HTMLResponse:
    kb = _kb(request)
    items = list(request.query_params.multi_items())
    submitted = {key for key, _ in items}
    errors: dict[str, str] = {}
    plan = None
    cached: CachedPlan | None = None
    page_key = (template, request.scope.get("query_string", b""))
    extra: dict[str, Any] = {}
    if "subtype" in submitted or "age_years" in submitted:
        profile, prior_rows = profile_from_query(items)
        try:
            patient = parse_patient(profile, kb.therapy_ids())
        except ProfileError as exc:
            errors[form_field(exc.field, prior_rows)] = exc.message + (
                f" (valid choices: {', '.join(exc.choices)})" if exc.choices else ""
            )
        else:
            cached = api.plan_for(request, patient)
            plan = cached.document  # shared: never mutated
            request.app.state.store.write([plan_row(plan, "web")])  # committed, or 503
            # the page is a function of the query, the plan and the knowledge base alone
            if (page := cached.page(page_key)) is not None:
                return HTMLResponse(page)
            if template == "assess.html":
                extra["plan_html"] = cached.derived("assess.html", _plan_html)
            if template == "handout.html":
                extra["handout"] = handout_document(kb, patient, plan)
            if template == "print.html":
                extra["sheet"] = print_sheet(plan)
    values: dict[str, list[str]] = {}
    for key, value in items:
        values.setdefault(key, []).append(value)
    if "disease_controlled" not in values and (active := values.get("disease_active")):
        flip = {"yes": "no", "no": "yes", "true": "no", "false": "yes"}
        values["disease_controlled"] = [flip.get(active[-1].strip().lower(), "unknown")]
    therapies = sorted(kb.therapy_ids(), key=lambda tid: kb.treatments[tid].name.lower())
    query = share_query(items)
    given = {k for k, v in values.items() if any(x.strip() not in ("", "unknown") for x in v)}
    response = _page(
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
        medications=[
            (tid, kb.treatments[tid].name) for tid in therapies if kb.treatments[tid].kind == "drug"
        ],
        response_labels=RESPONSE_LABELS,
        more_open=bool(errors.keys() & set(MORE_FIELDS)) or bool(given & set(MORE_FIELDS)),
        field_labels=FIELD_LABELS,
        profile_line=_profile_line(plan, values),
        names={tid: entry.name for tid, entry in kb.treatments.items()},
        **extra,
    )
    if cached is not None and response.status_code == 200:
        cached.keep_page(page_key, bytes(response.body))
    return response


def _plan_html(plan: PlanDocument) -> dict[str, Markup]:
    """The parts of the assessment page that show the plan alone (``_summary.html``
    and ``_plan.html``, which read nothing but the plan and the template globals),
    rendered once per plan kept in the plan cache."""
    return {
        name: Markup(templates.get_template(f"_{name}.html").render(plan=plan))  # noqa: S704 - Jinja's autoescaped output
        for name in ("summary", "plan")
    }


def _profile_line(plan: PlanDocument | None, values: dict[str, list[str]]) -> str:
    """What was entered, in a few words, on the folded form's summary line."""
    if plan is None:
        return ""

    def one(key: str) -> str:
        found = [v.strip() for v in values.get(key, []) if v.strip() not in ("", "unknown")]
        return found[-1] if found else ""

    parts = [readable(plan.subtype).lower()]
    if age := one("age_years"):
        parts.append(f"{age} years")
    if weight := one("weight_kg"):
        parts.append(f"{weight} kg")
    if (disease := one("underlying_disease")) and disease not in ("none", "unknown"):
        parts.append(readable(disease).lower())
    if size := one("lesions_largest_cm"):
        parts.append(f"largest lesion {size} cm")
    if extent := one("lesions_distribution"):
        parts.append(extent)
    if medications := values.get("medications"):
        parts.append("takes " + ", ".join(m.replace("-", " ") for m in medications))
    return "; ".join(parts)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(
        (Path(__file__).parents[1] / "static" / "favicon.svg").read_bytes(), media_type=SVG
    )


@router.get("/", response_class=HTMLResponse)
def assessment(request: Request) -> HTMLResponse:
    """The assessment form, and the plan when the form was submitted."""
    return _assessment(request, "assess.html")


@router.get("/print", response_class=HTMLResponse)
def print_view(request: Request) -> HTMLResponse:
    """The plan on one page for the chart: summary, regimen, what to watch for, notes."""
    return _assessment(request, "print.html")


@router.get("/handout", response_class=HTMLResponse)
def handout(request: Request) -> HTMLResponse:
    """The same plan in plain words for the patient."""
    return _assessment(request, "handout.html")


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
    studied = kb.arms_for([treatment])
    arms = [arm_document(kb, arm, arm_level_rules(kb, arm).level) for arm in studied]
    pooled = api.pooled(kb, treatment, "any", "glmm") if arms else None
    several = bool(pooled and pooled.k > 1)
    statements = [_redacted(kb, s) for s in kb.statements if treatment in s.treatments]
    sources = {s.id: s for s in kb.sources.values()}
    rows = [row for row in table_rows(kb, 4) if treatment in row.treatments]
    return _page(
        request,
        "treatment.html",
        entry=entry,
        arms=arms,
        pooled=pooled,
        statements=statements,
        sources=sources,
        table4=rows,
        has_forest=bool(pooled and pooled.k),
        complete=_complete_counts(studied),
        subgroups=[api.pooled(kb, treatment, "any", "glmm", by=by).subgroups for by in DIMENSIONS]
        if pooled and pooled.k
        else [],
        leave_one_out=api.pooled(kb, treatment, "any", "glmm", leave_one_out=True).leave_one_out
        if several
        else None,
        knapp=api.pooled(kb, treatment, "any", "reml", hartung_knapp=True) if several else None,
        certainty=[
            row for row in api.findings(kb, None, None, Scope()).rows if row.treatment == treatment
        ],
    )


def _redacted(kb: KnowledgeBase, statement: Statement) -> Statement:
    """A statement whose quote prints a dose the audit flags as a unit error, with that
    dose cut out ("[…]") and the reason next to its place: never shown as a dose."""
    quote = redact(kb, statement.quote)
    if quote == statement.quote:
        return statement
    where = f"{statement.location}; a dose printed in the wrong unit is left out ([…])"
    return statement.model_copy(update={"quote": quote, "location": where})


def _complete_counts(arms: Sequence[Arm]) -> CompleteCount | None:
    """Complete responses over the arms counted for any response (None without any)."""
    counted = responders(arms, "any")
    if not counted.k:
        return None
    complete = responders((arm for arm in arms if arm.id in counted.arms), "complete")
    return CompleteCount(x=complete.x, n=complete.n, k=complete.k)


@derived
def _forest(kb: KnowledgeBase, treatment: str) -> bytes | None:
    """The forest plot's SVG, drawn once per knowledge base (matplotlib is slow)."""
    from calcinosis.render.forest import render_forest  # noqa: PLC0415 - matplotlib on demand

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
    added = [
        arm_document(kb, arm, arm_level_rules(kb, arm).level).model_dump(exclude_unset=True)
        | {"label": study_label(kb.studies[arm.study])}
        for arm in kb.arms
        if arm.source == "publication"
    ]
    return _page(
        request,
        "evidence.html",
        tables=tables,
        audit=audit(kb),
        studies=sum(1 for study in kb.studies.values() if study.reference is not None),
        arm_count=len(kb.arms) - len(added),
        added=added,
        added_studies=len({arm["study"] for arm in added}),
    )


@router.get("/evidence/certainty", response_class=HTMLResponse)
def certainty_page(
    request: Request,
    disease: Literal["DM", "SSc"] | None = None,
    population: Literal["adult", "child"] | None = None,
) -> HTMLResponse:
    """The summary-of-findings table: a pre-filled GRADE certainty per treatment and
    outcome, for a panel to confirm, for the population asked about."""
    sof = api.findings(_kb(request), None, None, Scope(disease, population))
    return _page(request, "certainty.html", sof=sof, prefilled=PREFILLED)


@router.get("/evidence/changes", response_class=HTMLResponse)
def changes_page(request: Request) -> HTMLResponse:
    """The changelog: every release, newest first, with what triggered it and what
    changed; and, for unreleased evidence, that it is not a release."""
    kb = _kb(request)
    return _page(request, "changes.html", releases=kb.changelog)  # newest first


@router.get("/evidence/map.svg")
def evidence_map(request: Request) -> Response:
    return Response(evidence_map_svg(_kb(request)), media_type=SVG)


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, q: str = "") -> HTMLResponse:
    """A question box; the answer below it, with its citations."""
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
    scales = {
        "grade_explained": GRADE_EXPLAINED,
        "grade_letters": GRADE_LETTERS,
        "grade_numbers": GRADE_NUMBERS,
        "cebm_levels": CEBM_LEVELS,
        "cebm_explained": CEBM_EXPLAINED,
        "cebm_grades": CEBM_GRADES,
    }
    return _page(request, "about.html", about=about, strength=scales)


@router.get("/algorithm.svg")
def algorithm_picture() -> Response:
    return Response(algorithm_svg(), media_type=SVG)
