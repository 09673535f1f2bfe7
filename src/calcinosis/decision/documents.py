"""The plan document as typed models: what ``plan.plan_document`` returns.

One object is shown by every face: ``recommend --format json`` and ``--batch`` write
``model_dump()``, the API serialises it with ``response_model=PlanDocument`` (so
``/openapi.json`` publishes its schema), the text renderer, the pages (Jinja reads
its attributes) and the CDS cards read it. The field names are the JSON keys of
DESIGN.md and ``docs/contracts.md``, in the same order; a field that is ``None`` is
written as ``null``, never left out. An option to avoid has no evidence, regimens or
response fields at all (``AvoidedOption``); an option offered has them, possibly
``null`` (``OfferedOption``): ``stance`` tells which.
"""

# No `from __future__ import annotations` here: pydantic then takes these models' annotations
# as objects instead of strings it must evaluate (callgrind: ~0.03 G of every process).

from typing import Annotated, Literal, NotRequired, TypedDict

from pydantic import Field

from calcinosis.evidence.applicability import AppliesTo
from calcinosis.evidence.documents import (
    AppliesToDocument,
    CitationDocument,
    Document,
    EvidenceLineDocument,
    PooledSummary,
)
from calcinosis.evidence.schemas import Provenance

__all__ = [
    "AdverseEffect",
    "AssignedBy",
    "AvoidGroup",
    "AvoidReason",
    "AvoidedOption",
    "Disagreement",
    "Grading",
    "JudgeResponse",
    "Offered",
    "OfferedOption",
    "OptionDocument",
    "OptionFields",
    "PlanDocument",
    "PooledArm",
    "PooledResponse",
    "PooledResponseAny",
    "RegimenDocument",
    "Response",
    "ReviewGrade",
    "ReviewGrading",
    "Strength",
    "Summary",
    "SummaryEntry",
    "TimeToResponse",
    "TraceStep",
    "WorkedDose",
]

Offered = Literal["first-line", "alternative", "adjunct"]
AvoidReason = Literal["harm", "ineffective", "tried"]
AssignedBy = Literal["source", "tool", "patient", "precaution"]


class ReviewGrade(TypedDict):
    """The review's level and grade of a treatment (Table 4), as ``grading_for`` reads it."""

    system: str
    level: str | None
    grade: str | None
    direction: str | None
    provenance: Provenance | None
    assigned_by: AssignedBy
    source_label: str
    applies_to: AppliesTo


class Grading(TypedDict):
    """The level and grade behind an option, and who gave it (``plan.grading_for``; not
    a document: the option's ``level``, ``grade``, ``grade_*`` fields show it). Internal,
    so a typed dict: answers and cards read it by key, at no cost."""

    level: str | None
    grade: str | None
    system: str
    provenance: Provenance | None
    assigned_by: AssignedBy
    source_label: str
    applies_to: AppliesTo
    also: ReviewGrade | None
    direction: NotRequired[str | None]


class Strength(Document):
    """How strong an option is, in words, beside the source's own notation."""

    certainty: str | None
    direction: str
    label: str
    notation: str
    explanation: str


class TimeToResponse(Document):
    """When to judge the response to a treatment, as a source says."""

    text: str
    citation: int


class ReviewGrading(Document):
    """The review's (Table 4's) level and grade when another source gives the grade."""

    level: str | None
    grade: str | None
    direction: str | None


class PooledArm(Document):
    """One study arm pooled: responders over patients."""

    study: str
    x: int
    n: int
    proportion: float


class PooledResponse(Document):
    """A pooled response of the evidence pool (``calcinosis evidence pool``)."""

    outcome: str
    method: str
    pooled: bool
    k: int
    n: int
    x: int
    estimate: float | None
    ci: list[float] | None
    prediction_interval: list[float] | None
    tau2: float | None
    i2: float | None


class PooledResponseAny(PooledResponse):
    """The pooled 'any response', with the arms pooled and the arms left out."""

    arms: list[PooledArm]
    left_out: list[str]


class Response(Document):
    """The response data of an option: any and complete response, pooled."""

    any: PooledResponseAny
    complete: PooledResponse
    source: str


class WorkedDose(Document):
    """A per-kg or per-m² dose worked out for this patient, or what is missing for it."""

    needs: Literal["weight", "weight and height"] | None
    source_figure: str
    amount: str | None
    arithmetic: str | None
    low: float | None
    high: float | None
    unit: str
    interval: str
    weight_kg: float | None
    height_cm: float | None
    bsa_m2: float | None


class RegimenDocument(Document):
    """One regimen of an option, labelled for this patient's age group."""

    text: str
    setting: str | None
    population: Literal["adult", "child", "any"]
    for_this_patient: bool
    label: str | None
    basis: str
    group: Literal["starting", "reported", "other-age-group"]
    for_weight: WorkedDose | None
    citation: int


class AdverseEffect(Document):
    """An adverse effect to watch for, cited, with the source that names it (``source``:
    "management topic", "Traineau 2020 review"): a topic's general warning and the
    patients a review counted (``dizziness`` and ``dizziness (n=1)``) are two findings."""

    text: str
    citation: int
    source: str


class _Option(Document):
    """What every option says: its grade and whom that is about, strength, reasons."""

    id: str
    name: str
    stance: str
    rationale: str
    level: str | None
    grade: str | None
    grade_system: str
    grade_assigned_by: AssignedBy
    grade_label: str
    avoid_reason: AvoidReason | None
    applies_to: AppliesToDocument
    extrapolated: bool
    extrapolation: list[str]
    citations: list[int]
    warnings: list[str]
    strength: Strength
    reason: str


class OptionFields(TypedDict):
    """The keyword arguments every option takes, built once for both kinds (``plan.py``):
    the fields of ``_Option`` but its stance and avoid reason, which say whether it is an
    :class:`AvoidedOption` or an :class:`OfferedOption`."""

    id: str
    name: str
    rationale: str
    level: str | None
    grade: str | None
    grade_system: str
    grade_assigned_by: AssignedBy
    grade_label: str
    applies_to: AppliesToDocument
    extrapolated: bool
    extrapolation: list[str]
    citations: list[int]
    warnings: list[str]
    strength: Strength
    reason: str


class AvoidedOption(_Option):
    """An option to avoid: why, graded; no evidence, regimens or response."""

    stance: Literal["avoid"]
    avoid_reason: AvoidReason


class OfferedOption(_Option):
    """An option offered, with what the evidence base knows about it."""

    stance: Offered
    avoid_reason: None
    time_to_response: TimeToResponse | None
    review_grading: ReviewGrading | None
    response: Response | None
    evidence: list[EvidenceLineDocument]
    pooled: PooledSummary | None
    regimens: list[RegimenDocument]
    dose_note: str | None
    adverse_effects: list[AdverseEffect]


OptionDocument = Annotated[OfferedOption | AvoidedOption, Field(discriminator="stance")]


class SummaryEntry(Document):
    """One option named in the summary: its strength in words, notation and reason."""

    id: str
    name: str
    strength: str
    notation: str
    explanation: str
    reason: str
    citations: list[int]


class JudgeResponse(Document):
    """When to judge a first-line option."""

    id: str
    name: str
    text: str
    citation: int


class AvoidGroup(Document):
    """The options to avoid for one reason."""

    group: AvoidReason
    title: str
    options: list[SummaryEntry]


NextTitle = Literal[
    "Next, if it does not help", "If treatment becomes wanted", "Options, none first-line"
]


class Summary(Document):
    """The plan in short: start with, next, also, when to judge, avoid."""

    first_line: list[SummaryEntry]
    next: list[SummaryEntry]
    # what ``next`` is: the step after a first-line treatment that does not help; the
    # treatments when observation is the start (nothing to fail: treatment may become
    # wanted); or, with nothing first-line, the options
    next_title: NextTitle
    next_more: int
    # observation offered beside a treatment: not a step after it fails, but the choice
    # instead of treating ("not necessary in asymptomatic patients who are not bothered")
    instead: list[SummaryEntry]
    also: list[SummaryEntry]
    judge_response: list[JudgeResponse]
    avoid: list[AvoidGroup]
    critical: list[str]
    medication_warnings: list[str]


class Disagreement(Document):
    """Where two sources disagree about this plan, and which one it follows."""

    summary: str
    followed: str | None
    citations: list[int]


class TraceStep(Document):
    """One step of the algorithm, whether it fired and what it did."""

    step: str
    fired: bool
    detail: str


class PlanDocument(Document):
    """The plan: ``calcinosis recommend --format json`` and ``POST /api/recommendations``."""

    subtype: str
    critical: bool
    summary: Summary
    options: list[OptionDocument]
    warnings: list[str]
    sources_silent: list[str]
    assumptions: list[str]
    disagreements: list[Disagreement]
    trace: list[TraceStep]
    citations: list[CitationDocument]
    evidence_version: str
    evidence_released: str
    disclaimer: str
