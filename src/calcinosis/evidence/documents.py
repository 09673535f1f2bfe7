"""The evidence layer's parts of the documents every face shows, as typed models.

A plan (``decision/documents.py``) is built of these: whom a record is about, the
lines of evidence, the pooled summary and the numbered citations. Each model's
fields are the JSON keys of the contract (``docs/contracts.md``), in the order the
JSON has them; ``model_dump()`` gives the document that ``json.dumps`` writes.

Every model is strict (no coercion), refuses unknown fields and is frozen: a document
cached and shared between plans cannot be changed by one of them.
"""

# No `from __future__ import annotations` here: pydantic then takes these models' annotations
# as objects instead of strings it must evaluate (callgrind: ~0.03 G of every process).

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AppliesToDocument",
    "ArmAdverseEvents",
    "ArmDocument",
    "ArmPrinted",
    "ArmRelapses",
    "AuditDocument",
    "AuditPublished",
    "CertaintyBasis",
    "CertaintyCertainty",
    "CertaintyDocument",
    "CertaintyDomains",
    "CertaintyQuestion",
    "CertaintyRows",
    "CertaintyStart",
    "CertaintyStudies",
    "CitationDocument",
    "CompleteCount",
    "CrudeCount",
    "Document",
    "EvidenceLineDocument",
    "LineKind",
    "PoolArms",
    "PoolDocument",
    "PoolFigures",
    "PoolGroupHead",
    "PoolGroups",
    "PoolHartungKnapp",
    "PoolHead",
    "PoolLeaveOneOut",
    "PoolLeftOut",
    "PoolLogit",
    "PoolSubgroupLeftOut",
    "PoolSubgroups",
    "PoolTest",
    "PoolUntruncated",
    "PooledSummary",
    "Reference",
    "ResponseDocument",
    "Table4Patients",
    "Table4ResponseRange",
    "Table4RowDocument",
    "TableRow",
]


LineKind = Literal["study-arm", "source-figures", "source-report"]


class Document(BaseModel):
    """A part of a JSON document: strict, closed and immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class AppliesToDocument(Document):
    """Whom a record is about: subtypes, diseases (the evidence codes), age group."""

    subtypes: list[str]
    diseases: list[str]
    population: Literal["adult", "child", "any"]
    text: str  # in words: "dystrophic calcinosis in adults with systemic sclerosis"


class EvidenceLineDocument(Document):
    """One line of evidence for an option: a study arm, a source's figures or report."""

    source: str
    kind: LineKind
    text: str
    unit: str
    x: int | None
    n: int | None
    complete: int | None
    patients: int | None
    study: str | None
    arm: str | None
    design: str | None
    applies_to: AppliesToDocument
    extrapolated: bool
    extrapolation: list[str]
    lesion_size_note: str | None
    citation: int


class CrudeCount(Document):
    """Responders over patients across the pooled arms, and their proportion."""

    x: int
    n: int
    proportion: float


class CompleteCount(Document):
    """Complete responders over patients, over the arms that report them (k)."""

    x: int
    n: int
    k: int


class PooledSummary(Document):
    """The random-effects estimate of an option, with k, n, interval, crude count and a
    plain sentence (``None`` in a plan unless at least two studies could be pooled)."""

    method: str
    k: int
    n: int
    estimate: float
    ci: list[float]
    very_uncertain: bool
    crude: CrudeCount
    complete: CompleteCount
    uncertainty: str
    by_population: dict[str, int]
    applies_to: AppliesToDocument
    extrapolated: bool
    extrapolation: list[str]


class Reference(Document):
    """The bibliographic reference of a cited source."""

    authors: list[str]
    title: str
    journal: str | None
    year: int | None
    volume_pages: str | None
    doi: str | None
    pmid: str | None
    url: str | None


class CitationDocument(Document):
    """One numbered passage: the contract's citation object."""

    n: int
    label: str
    source: str
    kind: str
    reference: Reference
    reference_text: str
    location: str
    quote: str | None


# ------------------------------------------------------------ the API's other documents
# Built by their layer (``arm_document``, ``table_rows``, ``pool_document``, ``audit``
# (``Discrepancy.document``) and ``SummaryOfFindings.document`` return them) and published
# as these models: the API validates each response against its model (``response_model``)
# and /openapi.json shows the schema. A field that some documents leave out defaults to
# None and is left out again on the way out (``model_dump(exclude_unset=True)``,
# ``response_model_exclude_unset``).


class ResponseDocument(BaseModel):
    """A published document: closed and immutable, but lax (the builders write tuples
    where the JSON has arrays)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ArmAdverseEvents(ResponseDocument):
    """An adverse event an arm reports."""

    event: str
    n: int | None
    of: int | None


class ArmRelapses(ResponseDocument):
    """The relapses an arm reports."""

    n: int
    of: int | None
    text: str


class ArmPrinted(ResponseDocument):
    """The arm's row as its table prints it."""

    # ORDERS: 3 key orders
    label: str
    disease: str
    design: str
    duration: str | None = None  # missing from some
    dose: str | None = None  # missing from some
    partial: str
    complete: str
    follow_up: str
    level: str


class ArmDocument(ResponseDocument):
    """One study arm with provenance (``GET /api/evidence/arms``)."""

    id: str
    study: str
    first_author: str
    year: int
    reference: int | None  # the review's reference number; None: a study added since
    design: str
    treatment: str
    population: str
    disease: str
    disease_counts: dict[str, int]
    n: int | None
    unit: str
    patients: int | None
    responders_any: int | None
    responders_complete: int | None
    dose: str | None
    calcinosis_duration_years: str | None
    follow_up_months: float | None
    follow_up_range_months: list[float] | None
    adverse_events: list[ArmAdverseEvents] | None
    relapses: ArmRelapses | None
    level: str
    source: str
    location: str
    reference_text: str
    printed: ArmPrinted | None
    notes: list[str]
    level_rules: str


class AuditPublished(ResponseDocument):
    """A figure as a source publishes it, or as it is found."""

    value: str
    source: str
    location: str


class AuditDocument(ResponseDocument):
    """A published figure that disagrees with the counts (``GET /api/evidence/audit``)."""

    id: str
    check: str
    severity: str
    subject: str
    published: AuditPublished
    found: AuditPublished
    explanation: str


class TableRow(ResponseDocument):
    """A row of Table 1, 2 or 3 rebuilt from the arms."""

    table: int
    row: int
    section: str
    population: str
    label: str
    study: str
    reference: int
    arm: str
    treatment: str
    disease: str
    n: int
    unit: str
    design: str
    design_printed: str
    duration_years: str | None
    dose: str | None
    partial_printed: str
    any_computed: str
    complete_printed: str
    complete_computed: str
    follow_up_months: str
    level_printed: str
    level: str
    level_rules: str
    location: str


class Table4Patients(ResponseDocument):
    """Patients by disease."""

    DM: int
    SSc: int
    unspecified: int


class Table4ResponseRange(ResponseDocument):
    """The range of response rates, computed and as printed."""

    computed: list[float]
    rounded: list[int]
    reported: str | None
    complete_only: list[str]


class Table4RowDocument(ResponseDocument):
    """A row of Table 4 rebuilt from the arms."""

    row: int
    id: str
    label: str
    parent: str | None
    treatments: list[str]
    references: list[int]
    studies: list[str]
    patients: Table4Patients
    patients_unknown: list[str]
    patients_reported: str | None
    response_range: Table4ResponseRange
    level: str | None
    level_rules: str
    grade: str
    grade_rules: str
    grade_rules_reasons: list[str]
    direction: str
    comment: str
    location: str


class PoolLogit(ResponseDocument):
    """An estimate on the logit scale and its standard error."""

    estimate: float
    se: float


class PoolArms(ResponseDocument):
    """One arm pooled, with its weight."""

    study: str
    label: str
    reference: int | None  # None: a study added since the review
    design: str
    x: int
    n: int
    proportion: float
    ci: list[float]
    weight: float
    arms: list[str]


class PoolLeftOut(ResponseDocument):
    """An arm left out of the pooling, and why."""

    arm: str
    study: str
    reason: str


class PoolFigures(ResponseDocument):
    """The figures of a pooling that a pooled document and each of its subgroups give,
    in this order (``None`` where nothing could be pooled).

    A document that has them derives from this model and from the model of the fields
    before them: ``class PoolGroups(PoolFigures, PoolGroupHead)`` lists the head's fields
    first, then these, then its own (pydantic takes the fields of the bases in the reverse
    order of the MRO), so the JSON keeps its order."""

    method: str | None
    pooled: bool
    k: int
    n: int
    x: int
    estimate: float | None
    ci: list[float] | None
    logit: PoolLogit | None
    tau2: float | None
    i2: float | None
    prediction_interval: list[float] | None


class PoolGroupHead(ResponseDocument):
    """Which subgroup, whom it is about and its studies: the fields before its figures."""

    group: str
    label: str
    about: str
    studies: list[str]


class PoolGroups(PoolFigures, PoolGroupHead):
    """One subgroup pooled."""

    converged: bool | None


class PoolTest(ResponseDocument):
    """The test for subgroup differences."""

    q: float
    df: int
    p: float
    groups: list[str]


class PoolSubgroupLeftOut(ResponseDocument):
    """An arm left out of the subgroups, and why."""

    arm: str
    study: str
    label: str
    reason: str


class PoolSubgroups(ResponseDocument):
    """The pooling by subgroup (``by``)."""

    by: str
    method: str
    groups: list[PoolGroups]
    test: PoolTest | None
    left_out: list[PoolSubgroupLeftOut]
    not_counted: list[PoolLeftOut]
    notes: list[str]


class PoolLeaveOneOut(ResponseDocument):
    """The pooling again without one study."""

    omitted: str
    label: str
    method: str
    pooled: bool
    k: int
    n: int
    x: int
    estimate: float
    ci: list[float]
    logit: PoolLogit
    tau2: float | None
    i2: float | None
    prediction_interval: list[float] | None
    converged: bool


class PoolUntruncated(ResponseDocument):
    """The Hartung-Knapp interval before truncation."""

    se: float
    ci: list[float]


class PoolHartungKnapp(ResponseDocument):
    """The Hartung-Knapp interval."""

    method: str
    df: int
    q: float
    truncated: bool
    t: float
    logit: PoolLogit
    ci: list[float]
    untruncated: PoolUntruncated


class PoolHead(ResponseDocument):
    """What was pooled: the fields of a pooled document before its figures."""

    treatment: str
    treatments: list[str]
    outcome: str


class PoolDocument(PoolFigures, PoolHead):
    """A pooled response (``calcinosis evidence pool``, ``GET /api/evidence/pool/...``)."""

    # ORDERS: 16 key orders. The head's fields, the figures, then these; ``method`` keeps
    # its place among the figures and is always given (the one asked for when nothing
    # could be pooled).
    method: str
    about: str
    arms: list[PoolArms]
    left_out: list[PoolLeftOut]
    notes: list[str]
    evidence_version: str
    evidence_released: str
    converged: bool | None = None  # missing from some
    subgroups: PoolSubgroups | None = None  # missing from some
    leave_one_out: list[PoolLeaveOneOut] | None = None  # missing from some
    hartung_knapp: PoolHartungKnapp | None = None  # missing from some


class CertaintyQuestion(ResponseDocument):
    """The question a summary of findings answers."""

    disease: str | None
    population: str | None
    text: str


class CertaintyStart(ResponseDocument):
    """Where the GRADE certainty starts, and why."""

    level: str
    reason: str


class CertaintyDomains(ResponseDocument):
    """One GRADE domain, pre-filled."""

    domain: str
    rating: str
    downgrade: int
    reason: str


class CertaintyCertainty(ResponseDocument):
    """The pre-filled GRADE certainty of one row."""

    start: CertaintyStart
    domains: list[CertaintyDomains]
    certainty: str
    symbols: str
    prefilled: str


class CertaintyStudies(ResponseDocument):
    """A study behind a row."""

    study: str
    label: str
    design: str
    quality: str
    reference: str


class CertaintyRows(ResponseDocument):
    """One row: a treatment and outcome."""

    treatment: str
    name: str
    outcome: str
    about: str
    k: int
    n: int
    x: int
    method: str | None
    estimate: float | None
    ci: list[float] | None
    certainty: CertaintyCertainty | None
    studies: list[CertaintyStudies]


class CertaintyBasis(ResponseDocument):
    """A passage the certainty rests on."""

    label: str
    reference: str
    location: str
    quote: str


class CertaintyDocument(ResponseDocument):
    """The summary of findings (``calcinosis evidence certainty``)."""

    prefilled: str
    question: CertaintyQuestion
    rows: list[CertaintyRows]
    basis: list[CertaintyBasis]
    evidence_version: str
    evidence_released: str
