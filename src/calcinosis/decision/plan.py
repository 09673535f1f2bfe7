"""A treatment plan: ordered options, each explained, graded, evidenced and cited.

The engine (``engine.py``) decides the options and their stances; this module
attaches what the evidence base knows about each (level and grade, response
data, regimens, adverse effects), numbers the citations, and renders the plan
as the JSON document of DESIGN.md or as text for a terminal.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from calcinosis import DISCLAIMER
from calcinosis.decision.documents import (
    AdverseEffect,
    AvoidedOption,
    AvoidReason,
    Disagreement,
    Grading,
    OfferedOption,
    OptionDocument,
    OptionFields,
    PlanDocument,
    PooledArm,
    PooledResponse,
    PooledResponseAny,
    RegimenDocument,
    Response,
    ReviewGrade,
    ReviewGrading,
    Strength,
    Summary,
    SummaryEntry,
    TimeToResponse,
    TraceStep,
)
from calcinosis.decision.dosing import worked_dose
from calcinosis.decision.strength import strength
from calcinosis.decision.summary import option_reason, plan_summary
from calcinosis.evidence.applicability import (
    AppliesTo,
    Context,
    applies_to_regimen,
    applies_to_row,
    applies_to_statement,
    fit,
)
from calcinosis.evidence.derived import derived, derived_bounded
from calcinosis.evidence.documents import PoolDocument
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.lines import complete_words, evidence_lines, pooled_summary
from calcinosis.evidence.names import SOURCE_NAMES
from calcinosis.evidence.references import Citation, Citations, marks, short_label
from calcinosis.evidence.schemas import Provenance, Regimen, normalise_level
from calcinosis.evidence.synthesis import pool_document

__all__ = [
    "DISCLAIMER",
    "STANCES",
    "Citation",
    "Option",
    "Plan",
    "SourceDisagreement",
    "effects_by_source",
    "grading_for",
    "plan_document",
    "prepare",
    "render_text",
]

Stance = Literal["first-line", "alternative", "adjunct", "avoid"]
STANCES: tuple[Stance, ...] = ("first-line", "alternative", "adjunct", "avoid")


@dataclass
class Option:
    """One option of a plan while the engine builds it."""

    id: str
    stance: Stance
    rank: int
    rationale: list[str] = field(default_factory=list)
    cites: list[Provenance] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    personal: bool = False  # avoided because of this patient's own past response
    # the cited source's own ungraded words for how strongly it is offered here, if any
    direction: str | None = None
    # avoided on this tool's own safer reading where no source addresses the patient (a
    # source's rule extended: minocycline in pregnancy), not on a rule a source states
    own_reading: bool = False


@dataclass
class SourceDisagreement:
    """Where the sources disagree about a plan, while the engine builds it."""

    summary: str
    followed: str | None  # the source the plan follows, if it follows one
    cites: list[Provenance]


@dataclass
class Plan:
    """The engine's answer for one patient."""

    subtype: str
    options: list[Option]
    trace: list[TraceStep]
    assumptions: list[str]
    disagreements: list[SourceDisagreement]
    warnings: list[str]
    critical: bool
    evidence_version: str
    context: Context = field(default_factory=Context)
    largest_cm: float | None = None
    silences: list[str] = field(default_factory=list)
    weight_kg: float | None = None
    height_cm: float | None = None


_TOOL_GRADE: Grading = {
    "level": "5",
    "grade": "D",
    "system": "assigned by this tool, not by any source: no source grades it, so the CEBM "
    "2009 rule for an ungraded expert opinion gives level 5, grade D",
    "provenance": None,
    "assigned_by": "tool",
    "source_label": "this tool (no source grades it)",
    "applies_to": AppliesTo(),
    "also": None,
}
_PERSONAL: Grading = {
    **_TOOL_GRADE,
    "level": None,
    "grade": None,
    "system": "not graded: the reason is this patient's own past response",
    "assigned_by": "patient",
    "source_label": "this patient's history",
}
_PRECAUTION: Grading = {
    **_TOOL_GRADE,
    "level": None,
    "grade": None,
    "system": "not graded: a precaution that the source states without a grade",
    "assigned_by": "precaution",
}
_TOOL_PRECAUTION: Grading = {
    **_TOOL_GRADE,
    "system": "assigned by this tool, not by any source: an ungraded precaution, level 5 / "
    "grade D by the CEBM 2009 rule",
}


_OWN_READING: Grading = {
    **_TOOL_GRADE,
    "system": "assigned by this tool, not by any source: its own safer reading where no "
    "source addresses this patient, level 5 / grade D by the CEBM 2009 rule",
}


def grade_label(grading: Grading, context: Context | None = None) -> str:
    """How a grade reads: who gave it, on which scale, and, for a patient, for whom it
    was given when that is another population."""
    if grading["assigned_by"] == "patient":
        return "not graded: this patient's own past response"
    if grading["assigned_by"] == "precaution":
        return f"a precaution the source states without a grade ({grading['source_label']})"
    if grading["assigned_by"] == "tool" and grading["system"] == _OWN_READING["system"]:
        return "not graded: this tool's own safer reading, no source addresses it"
    if grading["assigned_by"] == "tool":
        return "not graded by any source (level 5, grade D assigned by this tool)"
    moved = 0

    def scope(applies: AppliesTo) -> str:
        nonlocal moved
        if context is None or not fit(context, applies).extrapolated:
            return ""
        moved += 1
        return f", for {applies.describe()}"

    if grading["system"].startswith("GRADE"):
        text = (
            f"Grade {grading['grade']} (GRADE, {grading['source_label']}"
            f"{scope(grading['applies_to'])})"
        )
        also = grading.get("also")
        if also:
            text += (
                f"; review: level {also['level'] or '-'}, grade {also['grade']} (CEBM"
                f"{scope(also['applies_to'])})"
            )
    else:
        text = (
            f"level {grading['level'] or '-'}, grade {grading['grade']} (CEBM, "
            f"{grading['source_label']}{scope(grading['applies_to'])})"
        )
    if moved:
        text += ": both extrapolated here" if moved > 1 else ": extrapolated here"
    return text


@derived
def grading_for(kb: KnowledgeBase, treatment: str) -> Grading:
    """The level and grade behind an option, from the most specific graded source."""
    row = kb.table4_row(treatment)
    review: ReviewGrade | None = None
    if row is not None:
        level = normalise_level(row.level_printed) if row.level_printed else None
        if level is None:  # Table 4 prints none for rituximab; the abstract does (IV)
            level = next(
                (
                    normalise_level(s.level)
                    for s in kb.statements
                    if s.source == "traineau-2020-abstract"
                    and treatment in s.treatments
                    and s.level
                ),
                None,
            )
        review = {
            "system": "CEBM 2009",
            "level": level,
            "grade": row.grade,
            "direction": row.direction,
            "provenance": row.provenance,
            "assigned_by": "source",
            "source_label": f"{SOURCE_NAMES[row.provenance.source].short}, Table 4 ({row.label})",
            "applies_to": applies_to_row(row),
        }
    topic = next(
        (
            s
            for s in kb.statements
            if s.source == "management-topic" and s.grade and treatment in s.treatments
        ),
        None,
    )
    if topic is not None:
        return {
            "level": review["level"] if review else None,
            "grade": topic.grade,
            "system": "GRADE (management topic)",
            "provenance": Provenance(
                source=topic.source, location=topic.location, quote=topic.quote
            ),
            "assigned_by": "source",
            "source_label": SOURCE_NAMES[topic.source].short or SOURCE_NAMES[topic.source].label,
            "applies_to": applies_to_statement(topic),
            "also": review,
        }
    if review is not None:
        return {**review, "also": None}
    return _TOOL_GRADE


def _pooled_response(document: PoolDocument) -> PooledResponse:
    return PooledResponse(
        outcome=document.outcome,
        method=document.method,
        pooled=document.pooled,
        k=document.k,
        n=document.n,
        x=document.x,
        estimate=document.estimate,
        ci=_floats(document.ci),
        prediction_interval=_floats(document.prediction_interval),
        tau2=document.tau2,
        i2=document.i2,
    )


def _floats(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else list(values)


def prepare(kb: KnowledgeBase) -> None:
    """Pool now every treatment's evidence that a plan shows: for a server, before it
    serves, so that the first plan asked for does not wait for it (about a second: the
    statistics' import and one fit per treatment with arms)."""
    for treatment in sorted(kb.therapy_ids()):
        _evidence(kb, treatment)


@derived
def _evidence(kb: KnowledgeBase, treatment: str) -> Response | None:
    """The option's pooled response data, once per treatment (shared: frozen)."""
    if not kb.arms_for([treatment]):
        return None
    document = pool_document(kb, treatment, "any", "glmm")
    complete = pool_document(kb, treatment, "complete", "glmm")
    pooled = _pooled_response(document)
    return Response(
        any=PooledResponseAny(
            **dict(pooled),
            arms=[
                PooledArm(study=a.study, x=a.x, n=a.n, proportion=a.proportion)
                for a in document.arms
            ],
            left_out=[item.arm for item in document.left_out],
        ),
        complete=_pooled_response(complete),
        source="pooled from the studies' arms (calcinosis evidence pool)",
    )


# The regimen groups in the order they are shown, with their titles (the pages' headings).
REGIMEN_GROUPS = {
    "starting": "Starting regimen the sources give",
    "reported": "As reported in studies",
    "other-age-group": "For another age group",
}


def _regimens(
    kb: KnowledgeBase, option: Option, citations: Citations, plan: Plan
) -> list[RegimenDocument]:
    """The starting regimen the sources give for this patient's age group first (per-kg
    and per-m2 ones worked out for this patient), then the studies' regimens, then those
    for another age group, each labelled."""
    context = plan.context
    entry = kb.treatments[option.id]
    rows = []
    for index, regimen in enumerate(entry.regimens):
        other = fit(context, applies_to_regimen(regimen)).extrapolated
        rows.append(
            (
                (int(other), int(regimen.basis != "source"), _regimen_rank(regimen, context)),
                index,
                _regimen_document(
                    kb,
                    option.id,
                    index,
                    context,
                    weight_kg=plan.weight_kg,
                    height_cm=plan.height_cm,
                    citation=citations.number(regimen.provenance),
                ),
            )
        )
    return [row for _, _, row in sorted(rows, key=lambda item: item[:2])]


@derived_bounded(8192)
def _regimen_document(
    kb: KnowledgeBase,
    treatment: str,
    index: int,
    context: Context,
    *,
    weight_kg: float | None,
    height_cm: float | None,
    citation: int,
) -> RegimenDocument:
    """One regimen of a treatment labelled for this patient (shared: frozen)."""
    entry = kb.treatments[treatment]
    regimen = entry.regimens[index]
    label = None
    if regimen.population == "adult" and context.age_group == "child":
        label = (
            "adult dose: not for a child as such" if entry.kind == "drug" else "as used in adults"
        )
    elif regimen.population == "child":
        label = "reported in children"
        fixed = entry.kind == "drug" and not re.search(r"/\s?(kg|m2|m²)", regimen.text)
        if fixed and context.age_group == "child":
            # alendronate "PO 70 mg/week" for a 6-year-old: the study's fixed dose
            label += ", as a fixed dose; no source gives it by weight or age"
    elif context.age_group == "child" and entry.kind == "drug" and "/kg" not in regimen.text:
        label = "not a children's dose: the sources give this for calcinosis in general"
    elif regimen.population == "adult":
        label = "adult dose" if entry.kind == "drug" else "as used in adults"
    other = fit(context, applies_to_regimen(regimen)).extrapolated
    return RegimenDocument(
        text=regimen.text,
        setting=regimen.setting,
        population=regimen.population,
        for_this_patient=not other,
        label=label,
        basis=regimen.basis,
        group=(
            "other-age-group" if other else "starting" if regimen.basis == "source" else "reported"
        ),
        for_weight=(
            None if regimen.dose is None else worked_dose(regimen.dose, weight_kg, height_cm)
        ),
        citation=citation,
    )


def _regimen_rank(regimen: Regimen, context: Context) -> int:
    """This age group's own regimens first, then those for any age, then the others."""
    if context.age_group is not None and regimen.population == context.age_group:
        return 0
    return 1 if regimen.population == "any" else 2


def _paediatric_note(kb: KnowledgeBase, option: Option, context: Context) -> str | None:
    entry = kb.treatments[option.id]
    if context.age_group != "child" or entry.kind != "drug" or not entry.regimens:
        return None
    if any(r.population == "child" for r in entry.regimens):
        return None
    if all(r.population == "adult" for r in entry.regimens):
        return "The sources give no dose for children: every regimen shown is an adult one."
    return (
        "The sources give no dose specifically for children; the regimens not marked as "
        "adult doses are as the sources report them, for any age."
    )


AVOID_GROUPS = {
    "harm": "AVOID: HARMFUL FOR THIS PATIENT",
    "ineffective": "AVOID: DOES NOT WORK FOR CALCINOSIS",
    "tried": "NOT OFFERED AGAIN: TRIED BEFORE",
}


def _avoid_reason(kb: KnowledgeBase, option: Option, plan: Plan) -> AvoidReason:
    """harm (a rule says it harms this patient), ineffective, or tried (own history)."""
    if option.personal:
        return "tried"
    rules = [rule for rule in kb.treatments[option.id].contraindications if rule.stance == "avoid"]
    fired = [rule for rule in rules if rule.text in option.rationale]
    if any(rule.reason == "harm" for rule in fired):
        return "harm"
    return "ineffective" if fired else "harm"


def _in_the_source_s_words(said: Strength, option: Option, *, extrapolated: bool) -> Strength:
    """The strength led by the source's own ungraded words for this option here, where
    the algorithm's text gives them (idiopathic calcinosis: "the treatment of choice"),
    the grade read from the evidence beside them: said to be about another population
    when it is extrapolated."""
    if option.direction is None or option.stance == "avoid":
        return said
    graded = f"graded evidence{' about another population' if extrapolated else ''}: "
    return said.model_copy(
        update={
            "direction": option.direction,
            "label": f"{option.direction}; {graded}{said.label}",
        }
    )


def _option_fields(
    kb: KnowledgeBase,
    option: Option,
    grading: Grading,
    context: Context,
    numbers: list[int],
    *,
    avoid_reason: AvoidReason | None,
) -> OptionFields:
    """What an option says whether it is avoided or offered: its grade and whom that is
    about (``grading``, for ``context``), its citations, strength and reason."""
    entry = kb.treatments[option.id]
    applicability = fit(context, grading["applies_to"])
    rationale = " ".join(option.rationale)
    step = entry.kind == "management"
    return OptionFields(
        id=option.id,
        name=entry.name,
        rationale=rationale,
        level=grading["level"],
        grade=grading["grade"],
        grade_system=grading["system"],
        grade_assigned_by=grading["assigned_by"],
        grade_label=grade_label(grading, context),
        applies_to=applicability.applies_to.document(),
        extrapolated=applicability.extrapolated,
        extrapolation=applicability.extrapolation,
        citations=numbers,
        warnings=list(option.warnings),
        strength=_in_the_source_s_words(
            strength(grading, option.stance, avoid_reason, step=step),
            option,
            extrapolated=applicability.extrapolated,
        ),
        reason=option_reason(kb, option.id, option.stance, avoid_reason, rationale),
    )


def _option_document(
    kb: KnowledgeBase, option: Option, citations: Citations, plan: Plan
) -> OptionDocument:
    entry = kb.treatments[option.id]
    context = plan.context
    grading = grading_for(kb, option.id)
    if option.stance == "avoid" and grading.get("direction") != "against":
        # The grade of a recommendation *for* the treatment says nothing about the reason
        # to avoid it here (an age limit, a disease, an intolerance): that reason is an
        # ungraded precaution, graded by this tool's rule, and labelled so.
        grading = _TOOL_PRECAUTION
        if option.personal:
            grading = _PERSONAL
        elif option.own_reading:
            grading = _OWN_READING
        elif option.cites:
            source = kb.sources[option.cites[0].source]
            grading = {**_PRECAUTION, "source_label": short_label(source)}
    cites = list(option.cites)
    if grading["provenance"] is not None:
        cites.append(grading["provenance"])
    numbers = citations.numbers(cites)
    if option.stance == "avoid":
        avoid_reason = _avoid_reason(kb, option, plan)
        common = _option_fields(kb, option, grading, context, numbers, avoid_reason=avoid_reason)
        return AvoidedOption(stance="avoid", avoid_reason=avoid_reason, **common)
    common = _option_fields(kb, option, grading, context, numbers, avoid_reason=None)
    timing = entry.time_to_response
    time_to_response = (
        None
        if timing is None
        else _time_to_response(timing.text, citations.number(timing.provenance))
    )
    also = grading["also"]
    evidence = [
        line.document(citations.number(line.provenance))
        for line in evidence_lines(kb, option.id, context, plan.largest_cm)
    ]
    regimens = _regimens(kb, option, citations, plan)
    return OfferedOption(
        stance=option.stance,
        avoid_reason=None,
        **common,
        time_to_response=time_to_response,
        review_grading=(
            None
            if also is None
            else _review_grading(also["level"], also["grade"], also["direction"])
        ),
        response=_evidence(kb, option.id),
        evidence=evidence,
        pooled=pooled_summary(kb, option.id, context),
        regimens=regimens,
        dose_note=_paediatric_note(kb, option, context),
        adverse_effects=[
            _adverse_effect(
                a.text, citations.number(a.provenance), _source_called(a.provenance.source)
            )
            for a in entry.adverse_effects
        ],
    )


# The small parts of a plan that many plans share, built once each: the models are
# frozen, so one instance can be in many plans (and a plan costs fewer validations).
@lru_cache(maxsize=4096)
def _time_to_response(text: str, citation: int) -> TimeToResponse:
    return TimeToResponse(text=text, citation=citation)


@lru_cache(maxsize=4096)
def _adverse_effect(text: str, citation: int, source: str) -> AdverseEffect:
    return AdverseEffect(text=text, citation=citation, source=source)


def _source_called(source: str) -> str:
    """A source's short name ("management topic"), as the effects it lists are grouped."""
    names = SOURCE_NAMES.get(source)
    return source if names is None else names.short or names.label


@lru_cache(maxsize=256)
def _review_grading(level: str | None, grade: str | None, direction: str | None) -> ReviewGrading:
    return ReviewGrading(level=level, grade=grade, direction=direction)


@lru_cache(maxsize=1024)
def _disagreement(summary: str, followed: str | None, citations: tuple[int, ...]) -> Disagreement:
    return Disagreement(summary=summary, followed=followed, citations=list(citations))


def plan_document(kb: KnowledgeBase, plan: Plan) -> PlanDocument:
    """The plan as the ``recommend --format json`` contract (``model_dump()``)."""
    citations = Citations(kb)
    options = [_option_document(kb, option, citations, plan) for option in plan.options]
    disagreements = [
        _disagreement(item.summary, item.followed, tuple(citations.numbers(item.cites)))
        for item in plan.disagreements
    ]
    return PlanDocument(
        subtype=plan.subtype,
        critical=plan.critical,
        summary=plan_summary(options, plan.critical, plan.warnings),
        options=options,
        warnings=plan.warnings,
        sources_silent=plan.silences,
        assumptions=[*plan.assumptions, *_dose_assumptions(options)],
        disagreements=disagreements,
        trace=plan.trace,
        citations=citations.documents(),
        evidence_version=plan.evidence_version,
        evidence_released=kb.released,
        disclaimer=DISCLAIMER,
    )


def _dose_assumptions(options: Sequence[OptionDocument]) -> list[str]:
    """A per-kg or per-m2 dose that could not be worked out says what was missing."""
    missing: dict[str, list[str]] = {}
    for option in options:
        if not isinstance(option, OfferedOption):
            continue
        for regimen in option.regimens:
            needs = regimen.for_weight.needs if regimen.for_weight else None
            if needs and regimen.for_this_patient:
                missing.setdefault(needs, [])
                if option.name not in missing[needs]:
                    missing[needs].append(option.name)
    return [
        f"{needs.capitalize()} not given: the per-{'kg' if needs == 'weight' else 'm²'} "
        f"doses of {', '.join(names)} are shown as the sources give them, not worked out "
        "for this patient."
        for needs, names in missing.items()
    ]


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{100 * value:.0f}%"


EVIDENCE_LINES_SHOWN = 4


def _title(subtype: str) -> str:
    return "calciphylaxis" if subtype == "calciphylaxis" else f"{subtype} calcinosis cutis"


def _shown_regimens(regimens: list[RegimenDocument]) -> list[RegimenDocument]:
    """The starting regimens the sources give for this patient (or, when there is none,
    the first one)."""
    starting = [r for r in regimens if r.group == "starting"]
    return starting[:3] or regimens[:1]


def _regimen_line(regimen: RegimenDocument) -> str:
    label = f" ({regimen.label})" if regimen.label else ""
    setting = f", {regimen.setting}" if regimen.setting else ""
    text = f"    Regimen: {regimen.text}{label}{setting} [{regimen.citation}]"
    worked = regimen.for_weight
    if worked and worked.amount:
        text += f"; for this patient: {worked.amount} ({worked.arithmetic})"
    elif worked:
        text += f"; give the {worked.needs} to work it out for this patient"
    return text


def _option_text(option: OptionDocument, wrap: textwrap.TextWrapper) -> list[str]:
    """One option as text: grade and whom it is about, rationale, evidence, regimen."""
    refs = marks(option.citations)
    lines = [wrap.fill(f"  - {option.name}: {option.grade_label} {refs}")]
    lines.append(wrap.fill(f"    Strength: {option.strength.label}"))
    if option.extrapolated:
        lines.append(
            wrap.fill(
                f"    ! Evidence extrapolated from {option.applies_to.text}: "
                + "; ".join(option.extrapolation)
            )
        )
    lines.append(wrap.fill(f"    {option.rationale}"))
    if isinstance(option, OfferedOption):
        lines.extend(_offered_text(option, wrap))
    lines.extend(wrap.fill(f"    ! {w}") for w in option.warnings)
    return lines


def _offered_text(option: OfferedOption, wrap: textwrap.TextWrapper) -> list[str]:
    """What an option offered adds: evidence lines, pooled response, regimens, effects."""
    lines = []
    evidence = option.evidence
    if evidence:
        lines.append("    Evidence (most applicable first):")
        for line in evidence[:EVIDENCE_LINES_SHOWN]:
            notes = []
            if line.extrapolated:
                notes.append("extrapolated: " + "; ".join(line.extrapolation))
            if line.lesion_size_note:
                notes.append(line.lesion_size_note)
            extra = f" ({'; '.join(notes)})" if notes else ""
            lines.append(wrap.fill(f"      * {line.text}{extra} [{line.citation}]"))
        if len(evidence) > EVIDENCE_LINES_SHOWN:
            lines.append(
                wrap.fill(
                    f"      * and {len(evidence) - EVIDENCE_LINES_SHOWN} more (calcinosis "
                    f"evidence arms --treatment {option.id})"
                )
            )
    pooled = option.pooled
    if pooled:
        crude = pooled.crude
        text = (
            f"    Across {pooled.k} studies: {crude.x} of {crude.n} patients "
            f"responded (any response, {_pct(crude.proportion)}); "
            f"{complete_words(pooled.complete)}. {pooled.uncertainty}"
        )
        if pooled.extrapolated:
            text += " Extrapolated: " + "; ".join(pooled.extrapolation) + "."
        lines.append(wrap.fill(text))
    regimens = option.regimens
    shown = _shown_regimens(regimens)
    lines.extend(wrap.fill(_regimen_line(regimen)) for regimen in shown)
    reported = [r for r in regimens if r not in shown and r.group == "reported"]
    if reported:
        lines.append(
            wrap.fill(
                f"    and {len(reported)} more as reported in studies (calcinosis recommend "
                "--format json: regimens)"
            )
        )
    if option.dose_note:
        lines.append(wrap.fill(f"    ! {option.dose_note}"))
    for index, (source, effects) in enumerate(effects_by_source(option.adverse_effects)):
        named = "; ".join(dict.fromkeys(a.text for a in effects))
        refs = marks(a.citation for a in effects)
        lead = f"Watch for ({source})" if index == 0 else f"Also reported in the {source}"
        lines.append(wrap.fill(f"    {lead}: {named} {refs}"))
    return lines


def effects_by_source(effects: Sequence[AdverseEffect]) -> list[tuple[str, list[AdverseEffect]]]:
    """The adverse effects grouped by the source that names them, in their order."""
    groups: dict[str, list[AdverseEffect]] = {}
    for effect in effects:
        groups.setdefault(effect.source, []).append(effect)
    return list(groups.items())


def _names(entries: list[SummaryEntry]) -> str:
    return "; ".join(f"{e.name} ({e.strength})" for e in entries)


def _summary_text(summary: Summary, wrap: textwrap.TextWrapper) -> list[str]:
    """The plan's summary: start with, then, judge the response, avoid."""
    lines = [wrap.fill(f"  !! {item}") for item in summary.critical]
    if summary.first_line:
        lines.append(wrap.fill(f"  Start with: {_names(summary.first_line)}"))
    for item in summary.judge_response:
        lines.append(wrap.fill(f"  When: {item.name}: {item.text} [{item.citation}]"))
    if summary.next:
        more = f"; and {summary.next_more} more" if summary.next_more else ""
        lines.append(wrap.fill(f"  {summary.next_title}: {_names(summary.next)}{more}"))
    if summary.instead:
        lines.append(wrap.fill(f"  Or, instead of treating: {_names(summary.instead)}"))
    if summary.also:
        lines.append(wrap.fill(f"  Also: {_names(summary.also)}"))
    for group in summary.avoid:
        items = " ".join(f"{e.name}: {e.reason}" for e in group.options)
        lines.append(wrap.fill(f"  Avoid, {group.title.lower()}: {items}"))
    return lines


def render_text(document: PlanDocument, width: int = 88) -> str:
    """A plan document as text for a terminal: first-line first, citations last."""
    wrap = textwrap.TextWrapper(width=width, subsequent_indent="      ")
    lines = [f"Treatment plan: {_title(document.subtype)}"]
    if document.critical:
        lines.append("!! CRITICAL: urgent, multi-interventional care; refer now.")
    lines.extend(wrap.fill(f"!  {w}") for w in document.warnings)
    lines.extend(wrap.fill(f"?  {item}") for item in document.sources_silent)
    lines.extend(["", "IN SHORT", *_summary_text(document.summary, wrap)])
    groups: list[tuple[str, list[OptionDocument]]] = [
        (title, [o for o in document.options if o.stance == stance])
        for stance, title in (
            ("first-line", "FIRST-LINE"),
            ("alternative", "ALTERNATIVES"),
            ("adjunct", "ADJUNCTS"),
        )
    ]
    groups += [
        (title, [o for o in document.options if o.avoid_reason == reason])
        for reason, title in AVOID_GROUPS.items()
    ]
    for title, chosen in groups:
        if not chosen:
            continue
        lines.append("")
        lines.append(title)
        for option in chosen:
            lines.extend(_option_text(option, wrap))
    if document.disagreements:
        lines.append("")
        lines.append("WHERE THE SOURCES DISAGREE")
        for item in document.disagreements:
            refs = marks(item.citations)
            lines.append(wrap.fill(f"  - {item.summary} {refs}"))
    if document.assumptions:
        lines.append("")
        lines.append("ASSUMPTIONS MADE")
        lines.extend(wrap.fill(f"  - {a}") for a in document.assumptions)
    lines.append("")
    lines.append("CITATIONS")
    for citation in document.citations:
        lines.append(
            wrap.fill(
                f"  [{citation.n}] {citation.reference_text.rstrip('.')}. {citation.location}."
            )
        )
    lines.append("")
    lines.append(
        f"Evidence version {document.evidence_version}, released "
        f"{document.evidence_released}. {document.disclaimer}"
    )
    return "\n".join(lines) + "\n"
