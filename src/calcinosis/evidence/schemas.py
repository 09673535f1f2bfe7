"""Typed schemas of the knowledge files.

Every record is a strict pydantic model: unknown fields are rejected, values are
checked, and each record carries where it came from (seed file and passage).
The files themselves live in ``knowledge/``; loading is in ``evidence.py``.
"""

# No `from __future__ import annotations` here: pydantic then takes these models' annotations
# as objects instead of strings it must evaluate (callgrind: ~0.03 G of every process).

import re
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "LEVEL_PATTERN",
    "SLUG_PATTERN",
    "AdverseEvent",
    "AlgorithmOffer",
    "AlgorithmText",
    "Arm",
    "ChangeCounts",
    "ChangeEntry",
    "Claim",
    "Contraindication",
    "Design",
    "Disease",
    "DoseRate",
    "Figure",
    "Finding",
    "Manifest",
    "Population",
    "Printed",
    "Provenance",
    "Regimen",
    "Relapse",
    "ReviewTotal",
    "Source",
    "Statement",
    "Study",
    "Subtype",
    "Table4Row",
    "Treatment",
    "normalise_level",
]

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# Oxford CEBM 2009 levels, in our normalised notation (1a ... 5, optional minus).
LEVEL_PATTERN = r"^(1a|1b|1c|2a|2b|2c|3a|3b|4|5)-?$"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Level = Annotated[str, Field(pattern=LEVEL_PATTERN)]
Subtype = Literal["dystrophic", "metastatic", "idiopathic", "iatrogenic", "calciphylaxis"]
Design = Literal["rct", "prospective", "retrospective"]
Population = Literal["adult", "child", "unspecified"]
Disease = Literal["SSc", "DM", "DM/SSc", "unspecified"]
NonNegative = Annotated[int, Field(ge=0)]
# Whom a record is about. "autoimmune-CTD": any autoimmune connective tissue disease
# (the management topic's scope for dystrophic calcinosis); "any": not restricted.
EvidenceDisease = Literal["SSc", "DM", "juvenile-DM", "SLE", "MCTD", "autoimmune-CTD", "any"]
AgeGroup = Literal["adult", "child", "any"]


class Record(BaseModel):
    """Base of every knowledge record: strict, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Provenance(Record):
    """Where a datum comes from: a source id, the place in it, optionally its words."""

    source: Slug
    location: str = Field(min_length=3)
    quote: str | None = None


class Manifest(Record):
    """The knowledge base's version and the files it is made of."""

    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    released: date = Field(description="The day this version of the evidence was released")
    description: str
    files: list[str]


class Source(Record):
    """One of the five seed documents, or the publication of a study added since the
    review (``kind: study``, which has no seed document)."""

    id: Slug
    seed_file: str | None = Field(default=None, pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")
    kind: Literal[
        "review-abstract", "systematic-review", "ai-answer", "point-of-care-topic", "study"
    ]
    title: str
    authors: list[str]
    journal: str | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    citation: str | None = None
    doi: str | None = None
    pmid: str | None = None
    hal_id: str | None = None
    graded: bool = Field(description="Whether the source grades its recommendations")
    notes: list[str] = []


class Study(Record):
    """A study included in the review (references 10, 20 and 26-53), or one added since
    (``calcinosis evidence add``: no reference number in the review)."""

    id: Slug
    reference: int | None = Field(
        default=None, ge=1, le=61, description="Its number in the review's reference list"
    )
    first_author: str
    year: int = Field(ge=1950, le=2030, description="Year of the reference-list entry")
    title: str
    journal: str
    citation: str | None = None
    doi: str | None = None
    design: Design = Field(description="Design where the review reports the study's data")
    design_in_methods: Design = Field(description="Design in the Methods' list of references")
    label_printed: str | None = Field(
        default=None, description="The study's label in Tables 1-3, verbatim"
    )
    quality: Literal["good", "fair", "poor", "unknown"] = "unknown"
    calcinosis_primary_outcome: bool = True
    provenance: Provenance
    notes: list[str] = []


class Printed(Record):
    """A table row's cells exactly as the review printed them."""

    label: str | None = None
    disease: str | None = None
    design: str | None = None
    duration: str | None = None
    dose: str | None = None
    partial: str | None = None
    complete: str | None = None
    follow_up: str | None = None
    level: str | None = None


class AdverseEvent(Record):
    event: str
    n: NonNegative | None = None
    of: NonNegative | None = None


class Relapse(Record):
    n: NonNegative | None = None
    of: NonNegative | None = None
    text: str


class Arm(Record):
    """One arm or subgroup row: a table row of Tables 1-3 or a passage of the results."""

    id: Slug
    study: Slug
    treatment: Slug
    population: Population
    disease: Disease
    disease_counts: dict[Disease, NonNegative]
    n: NonNegative | None
    unit: Literal["patients", "digits"] = "patients"
    patients: NonNegative | None = Field(
        default=None, description="Patients behind the counts when the unit is not patients"
    )
    responders_any: NonNegative | None
    responders_complete: NonNegative | None
    dose: str | None = None
    calcinosis_duration_years: str | None = None
    follow_up_months: float | None = Field(default=None, ge=0)
    follow_up_range_months: tuple[float, float] | None = None
    adverse_events: list[AdverseEvent] | None = Field(
        default=None, description="null: not reported; []: assessed, none"
    )
    relapses: Relapse | None = None
    level: Level = Field(
        description="Level of evidence as the review records it (an arm added since the "
        "review: as the CEBM 2009 rules give it)"
    )
    source: Literal["Table 1", "Table 2", "Table 3", "Table 4", "text", "publication"] = Field(
        description="Where in the review; 'publication': the study's own, added since"
    )
    row: int | None = Field(default=None, ge=1, description="Row order within its table")
    provenance: Provenance
    printed: Printed | None = None
    notes: list[str] = []

    @model_validator(mode="after")
    def _counts_consistent(self) -> Self:
        if self.n is not None:
            for name in ("responders_any", "responders_complete"):
                value = getattr(self, name)
                if value is not None and value > self.n:
                    raise ValueError(f"{name}={value} exceeds n={self.n}")
            if sum(self.disease_counts.values()) not in (self.n, 0):
                raise ValueError(
                    f"disease_counts add up to {sum(self.disease_counts.values())}, n={self.n}"
                )
        if (
            self.responders_any is not None
            and self.responders_complete is not None
            and self.responders_complete > self.responders_any
        ):
            raise ValueError("responders_complete exceeds responders_any")
        if self.source.startswith("Table ") and self.source != "Table 4" and self.row is None:
            raise ValueError(f"an arm from {self.source} needs its row number")
        return self


class Claim(Record):
    """A sentence of fact (adverse effect, mechanism...) with its provenance."""

    text: str
    provenance: Provenance


class DoseRate(Record):
    """A dose the source gives per kilogram of body weight or per square metre of body
    surface area, as numbers, so that it can be worked out for one patient. Only what the
    regimen's own text says: never a maximum that the source does not give."""

    low: float = Field(gt=0)
    high: float | None = Field(default=None, gt=0)
    unit: Literal["mg", "g"]
    per: Literal["kg", "m2"]
    interval: str = Field(description="as the source gives it, e.g. 'per day', 'per dose'")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high is not None and self.high < self.low:
            raise ValueError(f"high={self.high} is below low={self.low}")
        return self


class Regimen(Claim):
    setting: str | None = Field(default=None, description="e.g. 'adults', 'typical'")
    population: AgeGroup = Field(
        default="any", description="Whom the dose is given for: adults, children, or anyone"
    )
    basis: Literal["source", "study"] = Field(
        default="study",
        description="source: the regimen a source gives as its own (typical, initial, most "
        "often prescribed); study: as reported in a study or series",
    )
    dose: DoseRate | None = Field(
        default=None, description="the per-kg or per-m2 figure of the text, as numbers"
    )

    @model_validator(mode="after")
    def _dose_in_text(self) -> Self:
        if self.dose is not None and f"/{self.dose.per}" not in self.text.replace(" ", ""):
            raise ValueError(f"a dose per {self.dose.per} needs '/{self.dose.per}' in its text")
        return self


class Contraindication(Record):
    """A rule the engine enforces; ``rule`` names the predicate in code."""

    rule: Slug
    stance: Literal["avoid", "caution"]
    indication: Literal["calcinosis", "any"] = Field(
        default="calcinosis",
        description="calcinosis: only when given for calcinosis cutis; any: whatever the "
        "indication (an age limit, a disease the drug harms)",
    )
    reason: Literal["ineffective", "harm"] = Field(
        default="harm", description="Does not work for calcinosis, or harms this patient"
    )
    text: str
    gist: str | None = Field(
        default=None, description="why, in a few words, for the plan's summary (same passage)"
    )
    provenance: Provenance


class Treatment(Record):
    """An entry of the treatment catalog (identifiers of DESIGN.md)."""

    id: Slug
    name: str
    synonyms: list[str] = []
    kind: Literal["drug", "procedure", "physical", "management"]
    classes: list[Slug] = []
    route: str | None = None
    mechanism: list[Claim] = []
    regimens: list[Regimen] = []
    adverse_effects: list[Claim] = []
    contraindications: list[Contraindication] = []
    notes: list[Claim] = []
    time_to_response: Claim | None = Field(
        default=None, description="when a response may be seen, as a source says it"
    )


class Figure(Record):
    """A number a source prints: x of n, a percentage, or both."""

    label: str
    x: NonNegative | None = None
    n: NonNegative | None = None
    percent: float | None = Field(default=None, ge=0, le=100)
    unit: str = "patients"
    max_cm: float | None = Field(
        default=None, gt=0, description="The figure is about lesions up to this size"
    )
    over_cm: float | None = Field(
        default=None, gt=0, description="The figure is about lesions larger than this size"
    )


class Statement(Record):
    """A conclusion, recommendation, finding or claim of a source."""

    id: Slug
    source: Slug
    location: str
    quote: str
    kind: Literal["recommendation", "conclusion", "finding", "claim", "summary"]
    treatments: list[Slug] = []
    diseases: list[EvidenceDisease] = []
    population: AgeGroup = "any"
    subtypes: list[Subtype] = []
    direction: Literal["for", "against", "neutral"] | None = None
    grade: str | None = None
    level: str | None = None
    figures: list[Figure] = []
    about_arm: Slug | None = Field(
        default=None, description="The review arm this statement reports on, for the audit"
    )
    outcome: str | None = Field(
        default=None,
        description="The words of the quote that report an outcome without counts (case "
        "reports, one patient): shown as an evidence line; must be part of the quote",
    )
    conflicts_with: list[Slug] = []
    notes: list[str] = []

    @model_validator(mode="after")
    def _outcome_in_quote(self) -> Self:
        if self.outcome is not None and " ".join(self.outcome.split()) not in " ".join(
            self.quote.split()
        ):
            raise ValueError("outcome must be words of the quote")
        return self


class Table4Row(Record):
    """A row of the review's Table 4, with its cells as printed."""

    id: Slug
    row: int = Field(ge=1)
    label: str
    treatments: list[Slug]
    diseases: list[EvidenceDisease] = Field(
        min_length=1, description="Whom the row's comment is about (e.g. 'in DM patients')"
    )
    references: list[int]
    patients_printed: str | None
    range_printed: str | None
    comment: str
    level_printed: str | None
    grade: Literal["A", "B", "C", "D"]
    direction: Literal["for", "against"]
    parent: Slug | None = None
    provenance: Provenance


class ReviewTotal(Record):
    """An aggregate figure the review's text prints (patients or studies)."""

    id: Slug
    scope: str = Field(description="'overall' or a treatment id or class")
    treatments: list[Slug] = []
    references: list[int] = []
    studies: NonNegative | None = None
    patients: NonNegative | None = None
    by_disease: dict[
        Literal["DM", "SSc", "adult-DM", "juvenile-DM", "unspecified"], NonNegative
    ] = {}
    designs: dict[Design, list[int]] = {}
    provenance: Provenance


class ChangeCounts(Record):
    """How much a release changed, counted from the diff against the release before."""

    records_added: NonNegative = 0
    records_removed: NonNegative = 0
    records_changed: NonNegative = 0
    pooled_changed: NonNegative = 0
    levels_changed: NonNegative = 0
    grades_changed: NonNegative = 0
    audit_new: NonNegative = 0
    audit_resolved: NonNegative = 0
    profiles_changed: NonNegative = 0
    profiles: NonNegative = 0


class ChangeEntry(Record):
    """One release in the changelog (``changes.yaml``, newest first): its version and
    date, what triggered it in the editor's words, the content it released (a hash of
    the evidence files) and what changed since the release before, generated from the
    diff (``calcinosis evidence release``)."""

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    released: date
    note: str = Field(min_length=3, description="What triggered this version (the editor's)")
    previous: str | None = Field(
        default=None, pattern=r"^\d+\.\d+\.\d+$", description="The release before, if any"
    )
    content: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the evidence files released"
    )
    changes: list[str] = Field(default=[], description="What changed, one line each")
    counts: ChangeCounts = ChangeCounts()


class AlgorithmOffer(Record):
    """An option a text of the algorithm offers, and its rank in the plan."""

    treatment: Slug
    rank: int = Field(ge=0, le=99, description="Lower comes first among one stance's options")
    direction: str | None = Field(
        default=None,
        min_length=1,
        description="The cited source's own words for how strongly it offers the treatment "
        "here, where it gives no grade (idiopathic calcinosis: 'the treatment of choice')",
    )


class AlgorithmText(Record):
    """One text a step of the decision algorithm says (``algorithm.yaml``): the statements
    it cites and what it offers at which rank. The step's logic is in ``engine.py``."""

    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*$")
    step: str = Field(pattern=r"^_?[a-z][a-z0-9_]*$", description="The engine step saying it")
    plan: Literal[Subtype, "every"]
    text: str = Field(min_length=1, description="{fields} are filled in by the step")
    cites: list[Slug] = Field(default=[], description="statements.yaml ids, in this order")
    offers: list[AlgorithmOffer] = []
    ranks_from: int | None = Field(
        default=None,
        ge=0,
        le=99,
        description="The first rank of the options offered in turn, one per treatment of "
        "the first statement cited",
    )


class Finding(Record):
    """A disagreement found by reading, which no recomputation can show
    (a wrong citation, a duplicated reference, a unit slip)."""

    id: Slug
    kind: Literal["citation", "reference-list", "unit", "label", "definition", "design"]
    summary: str
    published: str
    published_at: Provenance
    other: str
    other_at: Provenance
    severity: Literal["error", "inconsistency", "note"]


def normalise_level(printed: str) -> str:
    """'IB' -> '1b', 'IIB' -> '2b', 'IV' -> '4', '1b-' -> '1b-'."""
    text = printed.strip().replace(" ", "")
    minus = text.endswith("-")
    text = text.rstrip("-")
    match = re.fullmatch(r"(?i)(I{1,3}|IV|V|[1-5])([abc]?)", text)
    if match is None:
        raise ValueError(f"not a level of evidence: {printed!r}")
    roman = {"I": "1", "II": "2", "III": "3", "IV": "4", "V": "5"}
    number = roman.get(match.group(1).upper(), match.group(1))
    return f"{number}{match.group(2).lower()}{'-' if minus else ''}"
