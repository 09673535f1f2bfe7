"""The summary-of-findings table: a pre-filled GRADE certainty per treatment and outcome.

For each treatment (or class) and outcome (any response, complete response) the body of
evidence is every study of the knowledge base that counts that outcome, pooled by the
default method (the binomial-normal GLMM, ``synthesis.py``); ``certainty.rate`` pre-fills
the five GRADE domains from the studies' designs and quality ratings, the pooled
estimate, I^2 and the prediction interval, and whom each study is about
(``applicability.fit`` against the question's population). Every row, every output, says
that it is pre-filled by the software for a panel to confirm (``certainty.PREFILLED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tabulate import tabulate

from calcinosis import DISCLAIMER
from calcinosis.evidence.applicability import AppliesTo, Context, applies_to_arm, fit
from calcinosis.evidence.documents import (
    CertaintyBasis,
    CertaintyCertainty,
    CertaintyDocument,
    CertaintyQuestion,
    CertaintyRows,
    CertaintyStudies,
)
from calcinosis.evidence.knowledge_base import OUTCOMES, KnowledgeBase, Outcome
from calcinosis.evidence.names import DISEASE_RECORDS
from calcinosis.evidence.references import reference_text, short_label
from calcinosis.evidence.schemas import Provenance
from calcinosis.evidence.synthesis import StudyUnit, pool_treatment, whom
from calcinosis.stats.certainty import PREFILLED, Body, Certainty, StudyAppraisal, rate

__all__ = [
    "BASIS",
    "FindingsRow",
    "Scope",
    "SummaryOfFindings",
    "render_markdown",
    "render_text",
    "summary_of_findings",
]

ScopeDisease = Literal["DM", "SSc"]
ScopePopulation = Literal["adult", "child"]
# The review arms' disease codes -> the first profile disease they are about (diseases.yaml).
_PROFILE_DISEASE: dict[str, str] = {}
for _disease in DISEASE_RECORDS.values():
    if _disease.arms is not None:
        _PROFILE_DISEASE.setdefault(_disease.arms, _disease.id)
_OUTCOME_WORDS = {"any": "any response", "complete": "complete response"}

# What the review says about the quality of its studies and about publication bias: the
# basis of the risk-of-bias and publication-bias reasons (checked against the source).
BASIS = (
    Provenance(
        source="traineau-2020",
        location="Results, lines 127-128",
        quote="Overall, the methodological quality of included studies was low, with 26 "
        "cohort studies graded as poor quality and only 2 as fair quality.",
    ),
    Provenance(
        source="traineau-2020",
        location="Methods, lines 100-102",
        quote="The quality of studies was assessed by the Newcastle-Ottawa Assessment Scale "
        "for observational studies and the Cochrane collaboration Risk of Bias tool for RCTs.",
    ),
    Provenance(
        source="traineau-2020",
        location="Discussion, lines 248-249",
        quote="Among the limitations of this systematic review is a possible publication bias.",
    ),
)


@dataclass(frozen=True)
class Scope:
    """Whom the certainty is for: dystrophic calcinosis in DM or SSc at any age (the
    review's question) unless a disease or a population is given."""

    disease: ScopeDisease | None = None
    population: ScopePopulation | None = None

    def applies_to(self) -> AppliesTo:
        diseases = (self.disease,) if self.disease else ("DM", "SSc")
        return AppliesTo(("dystrophic",), diseases, self.population or "any")

    def words(self) -> str:
        return self.applies_to().describe()

    def context(self) -> Context:
        disease = _PROFILE_DISEASE[self.disease] if self.disease else None
        if disease == "dermatomyositis" and self.population == "child":
            disease = "juvenile-dermatomyositis"
        return Context("dystrophic", disease, self.population)

    def document(self) -> CertaintyQuestion:
        return CertaintyQuestion(
            disease=self.disease, population=self.population, text=self.words()
        )


@dataclass(frozen=True)
class StudyReference:
    """A study of a row, as a reader cites it."""

    study: str
    label: str
    design: str
    quality: str
    reference: str  # first author, journal, year (volume and pages)

    def document(self) -> CertaintyStudies:
        return CertaintyStudies(
            study=self.study,
            label=self.label,
            design=self.design,
            quality=self.quality,
            reference=self.reference,
        )


@dataclass(frozen=True)
class FindingsRow:
    """One row: a treatment and an outcome, its estimate and its pre-filled certainty
    (``certainty`` is None when no study counts the outcome)."""

    treatment: str
    name: str
    outcome: Outcome
    about: str
    k: int
    n: int
    x: int
    method: str | None
    estimate: float | None
    ci: tuple[float, float] | None
    certainty: Certainty | None
    studies: tuple[StudyReference, ...] = field(default=())

    def document(self) -> CertaintyRows:
        return CertaintyRows(
            treatment=self.treatment,
            name=self.name,
            outcome=self.outcome,
            about=self.about,
            k=self.k,
            n=self.n,
            x=self.x,
            method=self.method,
            estimate=None if self.estimate is None else round(self.estimate, 6),
            ci=None if self.ci is None else [round(self.ci[0], 6), round(self.ci[1], 6)],
            certainty=(
                None
                if self.certainty is None
                else CertaintyCertainty.model_validate(self.certainty.document())
            ),
            studies=[study.document() for study in self.studies],
        )


@dataclass(frozen=True)
class SummaryOfFindings:
    """The table: its question, its rows, the review's words it rests on."""

    scope: Scope
    rows: tuple[FindingsRow, ...]
    basis: tuple[CertaintyBasis, ...]
    evidence_version: str
    evidence_released: str

    def document(self) -> CertaintyDocument:
        return CertaintyDocument(
            prefilled=PREFILLED,
            question=self.scope.document(),
            rows=[row.document() for row in self.rows],
            basis=list(self.basis),
            evidence_version=self.evidence_version,
            evidence_released=self.evidence_released,
        )


def _reference(kb: KnowledgeBase, unit: StudyUnit) -> StudyReference:
    study = kb.studies[unit.study]
    where = study.citation if study.citation else str(study.year)
    if not where.startswith(str(study.year)):
        where = f"{study.year}; {where}"
    return StudyReference(
        study=study.id,
        label=unit.label,
        design=study.design,
        quality=study.quality,
        reference=f"{study.first_author}, {study.journal} {where}",
    )


def _appraisal(kb: KnowledgeBase, unit: StudyUnit, context: Context) -> StudyAppraisal:
    reasons: list[str] = []
    away = 0
    for arm in kb.arms:
        if arm.id in unit.arms:
            found = fit(context, applies_to_arm(arm))
            if found.extrapolated:
                reasons += found.reasons
                away += arm.n or 0
    study = kb.studies[unit.study]
    return StudyAppraisal(
        label=unit.label,
        design=study.design,
        quality=study.quality,
        n=unit.n,
        unit=unit.units[0] if len(unit.units) == 1 else "patients",
        extrapolated=tuple(dict.fromkeys(reasons)),
        extrapolated_n=away,
    )


def findings_row(kb: KnowledgeBase, treatment: str, outcome: Outcome, scope: Scope) -> FindingsRow:
    """The row of ``treatment`` (an id or a class) for ``outcome``."""
    result, units, _left = pool_treatment(kb, treatment, outcome)
    name = kb.treatments[treatment].name if treatment in kb.treatments else treatment
    references = tuple(_reference(kb, unit) for unit in units)
    if result is None:
        return FindingsRow(
            treatment,
            name,
            outcome,
            "no study counts it",
            0,
            0,
            0,
            None,
            None,
            None,
            None,
            references,
        )
    context = scope.context()
    body = Body(
        studies=tuple(_appraisal(kb, unit, context) for unit in units),
        estimate=result.estimate,
        ci=result.ci,
        i2=result.i2,
        prediction_interval=result.prediction_interval,
        all_at_bound=result.method == "combined",
    )
    return FindingsRow(
        treatment=treatment,
        name=name,
        outcome=outcome,
        about=whom(kb, units),
        k=result.k,
        n=result.n,
        x=result.x,
        method=result.method,
        estimate=result.estimate,
        ci=result.ci,
        certainty=rate(body, scope.words()),
        studies=references,
    )


def summary_of_findings(
    kb: KnowledgeBase,
    treatments: Sequence[str] | None = None,
    outcomes: Sequence[Outcome] = OUTCOMES,
    scope: Scope | None = None,
) -> SummaryOfFindings:
    """The table for ``treatments`` (ids or classes; default: every treatment with arms,
    in the catalog's order) and ``outcomes``."""
    scope = scope or Scope()
    if treatments is None:
        studied = {arm.treatment for arm in kb.arms}
        treatments = [t for t in kb.treatments if t in studied]
    for name in treatments:
        kb.resolve(name)  # an unknown name is refused before any pooling
    rows = tuple(
        findings_row(kb, name, outcome, scope) for name in treatments for outcome in outcomes
    )
    source = kb.sources["traineau-2020"]
    basis = tuple(
        CertaintyBasis(
            label=short_label(source),
            reference=reference_text(source),
            location=item.location,
            quote=item.quote,
        )
        for item in BASIS
    )
    return SummaryOfFindings(scope, rows, basis, kb.version, kb.released)


# ------------------------------------------------------------------ rendering
def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _estimate_text(row: FindingsRow) -> str:
    if row.estimate is None or row.ci is None:
        return "not reported"
    shown = f"{_percent(row.estimate)} ({_percent(row.ci[0])} to {_percent(row.ci[1])})"
    if row.method == "single":
        return f"{shown}, one study"
    if row.method == "combined":
        return f"{shown}, counts added (every study at {_percent(row.estimate)})"
    if row.method == "dl":
        return f"{shown}, DL (every study at 0% or 100%: the GLMM cannot be fitted)"
    return shown


def _table(sof: SummaryOfFindings, style: str) -> str:
    body = []
    for row in sof.rows:
        certainty = row.certainty
        body.append(
            [
                row.name,
                _OUTCOME_WORDS[row.outcome],
                row.about,
                f"{row.k} ({row.x}/{row.n})" if row.k else "0",
                _estimate_text(row),
                "-" if certainty is None else f"{certainty.symbols} {certainty.level}",
            ]
        )
    headers = ["treatment", "outcome", "whom", "studies (x/n)", "response (95% CI)", "certainty"]
    return tabulate(body, headers=headers, tablefmt=style)


def _reasons(sof: SummaryOfFindings, bullet: str) -> list[str]:
    lines: list[str] = []
    for row in sof.rows:
        if row.certainty is None:
            continue
        c = row.certainty
        lines.append(f"{row.name}, {_OUTCOME_WORDS[row.outcome]}: {c.level} ({c.symbols})")
        lines.append(f"{bullet}start: {c.start} ({c.start_reason})")
        for domain in c.domains:
            change = f", -{domain.downgrade}" if domain.downgrade else ""
            lines.append(f"{bullet}{domain.name}: {domain.rating}{change}. {domain.reason}")
        studies = "; ".join(f"{s.label} ({s.reference})" for s in row.studies)
        lines.append(f"{bullet}studies: {studies}")
    return lines


def _basis(sof: SummaryOfFindings) -> list[str]:
    return [f'"{item.quote}" ({item.label}, {item.location})' for item in sof.basis]


def render_text(sof: SummaryOfFindings) -> str:
    """The table and every domain's reason, as the terminal shows them."""
    lines = [
        f"Summary of findings: {sof.scope.words()}",
        PREFILLED.upper(),
        "",
        _table(sof, "simple"),
        "",
        *_reasons(sof, "  - "),
        "",
        "The review on its studies:",
        *(f"  {line}" for line in _basis(sof)),
        "",
        f"Evidence version {sof.evidence_version}, released {sof.evidence_released}. {DISCLAIMER}",
    ]
    return "\n".join(lines) + "\n"


def render_markdown(sof: SummaryOfFindings) -> str:
    """The same as Markdown (a table, then the reasons as lists)."""
    lines = [
        f"## Summary of findings: {sof.scope.words()}",
        "",
        f"**{PREFILLED}**",
        "",
        _table(sof, "github"),
        "",
    ]
    for line in _reasons(sof, "- "):
        lines.append(line if line.startswith("- ") else f"\n**{line}**\n")
    lines += ["", "The review on its studies:", ""]
    lines += [f"- {line}" for line in _basis(sof)]
    lines += ["", f"Evidence version {sof.evidence_version}, released {sof.evidence_released}."]
    lines += [DISCLAIMER]
    return "\n".join(lines) + "\n"
