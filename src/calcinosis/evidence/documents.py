"""The evidence layer's parts of the documents every face shows, as typed models.

A plan (``decision/documents.py``) is built of these: whom a record is about, the
lines of evidence, the pooled summary and the numbered citations. Each model's
fields are the JSON keys of the contract (``docs/contracts.md``), in the order the
JSON has them; ``model_dump()`` gives the document that ``json.dumps`` writes.

Every model is strict (no coercion), refuses unknown fields and is frozen: a document
cached and shared between plans cannot be changed by one of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AppliesToDocument",
    "CitationDocument",
    "CompleteCount",
    "CrudeCount",
    "Document",
    "EvidenceLineDocument",
    "LineKind",
    "PooledSummary",
    "Reference",
]


LineKind = Literal["study-arm", "source-figures", "source-report"]


class Document(BaseModel):
    """A part of a JSON document: strict, closed and immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
