"""The evidence behind one option, line by line, from every source, most applicable first.

A line is one study arm of the review (its counts and unit) or one figure set a
source prints (the management topic's series, the local-therapies review's
figures). Each line says whom it is about and, for the patient in hand, whether it
is direct or extrapolated (``applicability.fit``), and whether it is about lesions
of another size. The pooled estimate, when there is one, is a separate summary
that always travels with k, n, its interval, the crude count and a plain sentence
on its uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calcinosis.evidence.applicability import (
    AppliesTo,
    Context,
    Fit,
    applies_to_arm,
    applies_to_statement,
    fit,
)
from calcinosis.evidence.derived import derived, derived_bounded
from calcinosis.evidence.documents import (
    CompleteCount,
    CrudeCount,
    EvidenceLineDocument,
    LineKind,
    PoolDocument,
    PooledSummary,
)
from calcinosis.evidence.knowledge_base import KnowledgeBase, responders, study_label
from calcinosis.evidence.names import SOURCE_NAMES
from calcinosis.evidence.schemas import Arm, Figure, Provenance, Statement
from calcinosis.evidence.synthesis import pool_document

__all__ = [
    "VERY_UNCERTAIN_WIDTH",
    "EvidenceLine",
    "complete_words",
    "evidence_lines",
    "pooled_summary",
]

# Sources whose printed figures are evidence lines (the review's own are its arms).
FIGURE_SOURCES = ("management-topic", "nowaczyk-2021")
OUTCOME_UNITS = ("patients", "lesions", "digits", "cases")  # cases: a unit not stated
# A printed figure is a response figure when its label says so; the others (sample
# sizes, subgroups, recurrences, adverse events, durations) are context or not evidence
# of response at all.
RESPONSE_WORDS = ("respon", "resol", "improv", "remission")
NOT_RESPONSE_WORDS = ("recurren", "relapse", "adverse", "scarring", "pain", "vas ")
_POPULATION_WORDS = {"adult": "adults", "child": "children", "unspecified": "age not given"}
_DISEASE_WORDS = {
    "SSc": "SSc",
    "DM": "DM",
    "DM/SSc": "DM/SSc overlap",
    "unspecified": "DM or SSc, not specified",
}


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit if count != 1 else unit.rstrip('s')}"


@dataclass(frozen=True)
class EvidenceLine:
    """One line of evidence for an option."""

    source: str
    kind: LineKind  # "source-report": a source's words, no counts
    text: str
    unit: str
    x: int | None
    n: int | None
    complete: int | None
    patients: int | None
    study: str | None
    arm: str | None
    design: str | None
    fit: Fit
    size_note: str | None
    provenance: Provenance
    # the documents of this line by citation number: a line is cached (evidence_lines),
    # and a plan numbers it with one of a few numbers, so each is built once
    _documents: dict[int, EvidenceLineDocument] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @property
    def rank(self) -> tuple[int, int, int, int, int]:
        """Sort key: direct before extrapolated, the most specific to this patient and the
        right lesion size first, then the larger."""
        return (
            int(self.fit.extrapolated),
            len(self.fit.reasons),
            -self.fit.matches,
            int(self.size_note is not None),
            -(self.n or 0),
        )

    def document(self, citation: int) -> EvidenceLineDocument:
        """The line as the plan shows it, with its citation number (shared: frozen)."""
        found = self._documents.get(citation)
        if found is None:
            found = self._documents[citation] = EvidenceLineDocument(
                source=self.source,
                kind=self.kind,
                text=self.text,
                unit=self.unit,
                x=self.x,
                n=self.n,
                complete=self.complete,
                patients=self.patients,
                study=self.study,
                arm=self.arm,
                design=self.design,
                applies_to=self.fit.applies_to.document(),
                extrapolated=self.fit.extrapolated,
                extrapolation=self.fit.extrapolation,
                lesion_size_note=self.size_note,
                citation=citation,
            )
        return found


def _arm_line(kb: KnowledgeBase, arm: Arm, context: Context) -> EvidenceLine:
    study = kb.studies[arm.study]
    counted = {d: c for d, c in arm.disease_counts.items() if c}
    disease = (
        ", ".join(f"{c} {d}" for d, c in counted.items())
        if len(counted) > 1
        else _DISEASE_WORDS[arm.disease]
    )
    who = f"{_POPULATION_WORDS[arm.population]}, {disease}"
    head = f"{study_label(study)} ({study.design}; {who})"
    if arm.n is None or arm.responders_any is None:
        counts = "responders not reported"
        if arm.n is not None and arm.responders_complete is not None:
            counts = (
                f"{arm.responders_complete} of {_plural(arm.n, arm.unit)} with a complete "
                "response (any response not reported)"
            )
        elif arm.n is not None:
            counts = f"{_plural(arm.n, arm.unit)}, responders not reported"
    else:
        counts = f"{arm.responders_any} of {_plural(arm.n, arm.unit)} responded"
        if arm.responders_complete is not None:
            counts += f", {arm.responders_complete} completely"
        else:
            counts += " (complete responses not reported)"
    if arm.unit != "patients" and arm.patients is not None:
        counts += f", in {_plural(arm.patients, 'patients')}"
    return EvidenceLine(
        source=arm.provenance.source,
        kind="study-arm",
        text=f"{head}: {counts}",
        unit=arm.unit,
        x=arm.responders_any,
        n=arm.n,
        complete=arm.responders_complete,
        patients=arm.patients if arm.unit != "patients" else arm.n,
        study=arm.study,
        arm=arm.id,
        design=study.design,
        fit=fit(context, applies_to_arm(arm)),
        size_note=None,
        provenance=arm.provenance,
    )


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _is_outcome(figure: Figure) -> bool:
    label = figure.label.lower() + " "
    return (
        figure.unit in OUTCOME_UNITS
        and (figure.n is not None or figure.percent is not None)
        and any(word in label for word in RESPONSE_WORDS)
        and not any(word in label for word in NOT_RESPONSE_WORDS)
        and "documentation" not in label
    )


def _is_context(figure: Figure) -> bool:
    """A figure that says who was studied (42 patients; 36 of 42 with dystrophic)."""
    label = figure.label.lower()
    return (
        figure.unit in OUTCOME_UNITS
        and figure.x is not None
        and not any(word in label for word in (*RESPONSE_WORDS, *NOT_RESPONSE_WORDS))
    )


def _figure_text(figure: Figure) -> str:
    if figure.x is not None and figure.n is not None:
        return f"{figure.label}: {figure.x} of {_plural(figure.n, figure.unit)}"
    if figure.n is not None and figure.percent is not None:
        return f"{figure.label}: {figure.percent:g}% of {_plural(figure.n, figure.unit)}"
    return f"{figure.label}: {figure.percent:g}%"


def _size_note(figures: list[Figure], largest_cm: float | None) -> str | None:
    """A note when no figure of the line is about lesions of this patient's size."""
    sized = [f for f in figures if f.max_cm is not None or f.over_cm is not None]
    if largest_cm is None or not sized:
        return None
    for figure in sized:
        if figure.max_cm is not None and largest_cm <= figure.max_cm:
            return None
        if figure.over_cm is not None and largest_cm > figure.over_cm:
            return None
    bounds = [
        f"up to {f.max_cm:g} cm" if f.max_cm is not None else f"over {f.over_cm:g} cm"
        for f in sized
    ]
    return f"about lesions {' or '.join(bounds)}; the largest here is {largest_cm:g} cm"


def _statement_applies(kb: KnowledgeBase, statement: Statement) -> AppliesTo:
    """A statement about a review arm (the same cohort) is about that arm's population."""
    applies = applies_to_statement(statement)
    arm = next((a for a in kb.arms if a.id == statement.about_arm), None)
    if arm is None or applies.population != "any" or arm.population == "unspecified":
        return applies
    return AppliesTo(applies.subtypes, applies.diseases, arm.population)


def _statement_line(
    kb: KnowledgeBase, statement: Statement, context: Context, largest_cm: float | None
) -> EvidenceLine | None:
    outcomes = [f for f in statement.figures if _is_outcome(f)]
    if not outcomes and statement.outcome is not None:
        return _source_line(
            kb, statement, context, "source-report", f"{statement.outcome} (no counts given)"
        )
    if not outcomes:
        return None
    context_figures = [f for f in statement.figures if _is_context(f)]
    sample = next((f for f in context_figures if f.n is None), None)
    units = {f.unit for f in outcomes}
    unit = units.pop() if len(units) == 1 else "mixed"
    text = "; ".join(_figure_text(f) for f in outcomes)
    about = [
        _plural(f.x, f.unit) if f.n is None else f"{f.label} {f.x} of {f.n}"
        for f in context_figures
        if f.x is not None
    ]
    if about:
        text = f"({', '.join(about)}) {text}"
    if len(statement.treatments) > 1:
        names = _join_names([kb.treatments[t].name.lower() for t in statement.treatments])
        text += f" (for {names} together)"
    arm = next((a for a in kb.arms if a.id == statement.about_arm), None)
    if arm is not None:
        same = f"the cohort of {study_label(kb.studies[arm.study])} in the review"
        counts = {f.n for f in outcomes if f.n is not None} | {
            f.x for f in context_figures if f.n is None and f.x is not None
        }
        if arm.n is not None and counts and arm.n not in counts:
            same += f", which counts {_plural(arm.n, arm.unit)}"
        text += f" ({same})"
    first = outcomes[0]
    return _source_line(
        kb,
        statement,
        context,
        "source-figures",
        text,
        unit=unit,
        x=first.x,
        n=first.n or (sample.x if sample else None),
        size_note=_size_note(outcomes, largest_cm),
    )


def _short_name(source_id: str) -> str:
    """A source's short name (names.yaml), or its id when it has none."""
    name = SOURCE_NAMES.get(source_id)
    return name.short if name is not None and name.short else source_id


def _source_line(
    kb: KnowledgeBase,
    statement: Statement,
    context: Context,
    kind: LineKind,
    text: str,
    *,
    unit: str = "patients",
    x: int | None = None,
    n: int | None = None,
    size_note: str | None = None,
) -> EvidenceLine:
    """A line that a source other than the review's arms reports."""
    return EvidenceLine(
        source=statement.source,
        kind=kind,
        text=f"{_short_name(statement.source)}: {text}",
        unit=unit,
        x=x,
        n=n,
        complete=None,
        patients=None,
        study=None,
        arm=statement.about_arm,
        design=None,
        fit=fit(context, _statement_applies(kb, statement)),
        size_note=size_note,
        provenance=Provenance(
            source=statement.source, location=statement.location, quote=statement.quote
        ),
    )


def _records(kb: KnowledgeBase, treatment: str) -> tuple[tuple[Arm, ...], tuple[Statement, ...]]:
    statements = tuple(
        s
        for s in kb.statements_about(treatment)
        if s.source in FIGURE_SOURCES and (s.kind != "claim" or s.outcome is not None)
    )
    return kb.arms_for([treatment]), statements


@derived_bounded(8192)
def evidence_lines(
    kb: KnowledgeBase, treatment: str, context: Context, largest_cm: float | None = None
) -> tuple[EvidenceLine, ...]:
    """Every evidence line for a treatment, the most applicable to this context first.

    Cached: a context (subtype, disease, age group) recurs across patients."""
    arms, statements = _records(kb, treatment)
    lines = [_arm_line(kb, arm, context) for arm in arms]
    for statement in statements:
        line = _statement_line(kb, statement, context, largest_cm)
        if line is not None:
            lines.append(line)
    return tuple(sorted(lines, key=lambda line: line.rank))


VERY_UNCERTAIN_WIDTH = 0.5  # an interval wider than 50 points says "very uncertain"


def complete_words(complete: CompleteCount, unit: str = "patients") -> str:
    """Complete responses, said so that none reported and none counted differ."""
    if not complete.k:
        return "complete responses not reported"
    if complete.x == 0:
        return f"no complete responses reported (0 of {_plural(complete.n, unit)})"
    return f"complete response in {complete.x} of {_plural(complete.n, unit)}"


def _uncertainty(estimate: float, low: float, high: float, k: int) -> str:
    width = high - low
    if width > VERY_UNCERTAIN_WIDTH:
        words = "very uncertain: the true response rate could be almost anywhere in it"
    elif width > 0.25:
        words = "uncertain"
    else:
        words = "fairly precise for so few patients"
    return (
        f"A random-effects estimate pooled by this tool (the review did not pool) is "
        f"{100 * estimate:.0f}% (95% CI {100 * low:.0f}%-{100 * high:.0f}%; k = {k} small "
        f"studies): {words}."
    )


@derived
def _pool(kb: KnowledgeBase, treatment: str) -> PoolDocument | None:
    if not kb.arms_for([treatment]):
        return None
    document = pool_document(kb, treatment, "any", "glmm")
    if document.estimate is None:
        return None
    return document


@derived_bounded(4096)
def pooled_summary(kb: KnowledgeBase, treatment: str, context: Context) -> PooledSummary | None:
    """The random-effects estimate with k, n, CI, crude count and a plain sentence.

    ``None`` unless at least two studies could be pooled: one study is its own line.
    Cached and shared between plans: the model is frozen.
    """
    document = _pool(kb, treatment)
    if document is None or not document.pooled or document.k < 2:
        return None
    estimate, ci = document.estimate, document.ci
    if estimate is None or ci is None:  # never: _pool keeps only documents with both
        return None
    pooled = set(responders(kb.arms_for([treatment]), "any").arms)
    arms = [arm for arm in kb.arms_for([treatment]) if arm.id in pooled]
    by_population: dict[str, int] = {}
    for arm in arms:
        by_population[arm.population] = by_population.get(arm.population, 0) + (arm.n or 0)
    diseases = sorted({d for arm in arms for d in applies_to_arm(arm).diseases})
    populations = set(by_population) - {"unspecified"}
    population = populations.pop() if len(populations) == 1 else "any"
    applies = AppliesTo(("dystrophic",), tuple(diseases), population)  # type: ignore[arg-type]
    found = fit(context, applies)
    reasons = list(found.reasons)
    if context.age_group == "child" and by_population.get("adult"):
        reasons.append(f"{by_population['adult']} of the {document.n} pooled patients are adults")
    if context.age_group == "adult" and by_population.get("child"):
        reasons.append(f"{by_population['child']} of the {document.n} pooled patients are children")
    low, high = ci
    crude = document.x / document.n
    sentence = _uncertainty(estimate, low, high, document.k)
    if abs(crude - estimate) >= 0.1:
        sentence += (
            " It differs from the crude count because a random-effects model weighs "
            "studies, not patients, and these studies disagree with one another."
        )
    left = sorted(
        {
            study_label(kb.studies[item.study])
            for item in document.left_out
            if item.study not in {a.study for a in document.arms}
        }
    )
    if left:
        sentence += f" Not counted, as they report no 'any response' figure: {', '.join(left)}."
    complete = responders(arms, "complete")  # over the arms pooled
    return PooledSummary(
        method=document.method,
        k=document.k,
        n=document.n,
        estimate=estimate,
        ci=list(ci),
        very_uncertain=high - low > VERY_UNCERTAIN_WIDTH,
        crude=CrudeCount(x=document.x, n=document.n, proportion=round(crude, 6)),
        complete=CompleteCount(x=complete.x, n=complete.n, k=complete.k),
        uncertainty=sentence,
        by_population=by_population,
        applies_to=applies.document(),
        extrapolated=bool(reasons),
        extrapolation=reasons,
    )
