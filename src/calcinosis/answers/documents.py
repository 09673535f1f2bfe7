"""The answer document as typed models: what ``POST /api/answers`` publishes.

``answer_question`` builds an :class:`AnswerDocument` (the ``calcinosis ask --format json``
contract, its fields in the order of the JSON); the CLI and ``POST /api/answers`` write its
``model_dump_json``, and the API declares it as ``response_model``, so /openapi.json shows
its schema. ``Query.document()`` is its ``understood`` part.
"""

# No `from __future__ import annotations` here: pydantic then takes these models' annotations
# as objects instead of strings it must evaluate (callgrind: ~0.03 G of every process).

from calcinosis.evidence.documents import Reference, ResponseDocument

__all__ = [
    "AnswerCitations",
    "AnswerDocument",
    "AnswerPriorTreatments",
    "AnswerProposition",
    "AnswerSections",
    "AnswerUnderstood",
]


class AnswerSections(ResponseDocument):
    """One section of an answer."""

    title: str
    text: str


class AnswerCitations(ResponseDocument):
    """One numbered passage an answer cites."""

    n: int
    label: str
    source: str
    kind: str
    location: str
    quote: str | None  # None for a place cited without its words (an added study's arm)
    reference: Reference
    reference_text: str


class AnswerPriorTreatments(ResponseDocument):
    """A treatment the question says was tried."""

    treatment: str
    response: str


class AnswerProposition(ResponseDocument):
    """The yes/no proposition a question asks, as understood."""

    treatment: str | None
    predicate: str
    object: str | None
    inverse: bool


class AnswerUnderstood(ResponseDocument):
    """What the question was understood to ask."""

    intent: str
    also: list[str]
    treatments: list[str]
    medications: list[str]
    prior_treatments: list[AnswerPriorTreatments]
    unavailable: list[str]
    source: str | None
    studies: list[str]
    other_indication: str | None
    classes: list[str]
    population: str | None
    age_years: float | None
    weight_kg: float | None
    lesion_cm: float | None
    lesion_bound: str | None
    lesion_count: int | None
    disease: str | None
    subtype: str | None
    reading: str | None
    proposition: AnswerProposition | None
    patient_specific: bool
    conditions: list[str]
    features: list[str]
    unanswered: list[str]
    general_only: list[str]
    unknown_drugs: list[str]
    in_scope: bool
    out_of_scope: str | None
    corrections: dict[str, str]


class AnswerDocument(ResponseDocument):
    """An answer (``calcinosis ask --format json``, ``POST /api/answers``)."""

    question: str
    in_scope: bool
    answer: str
    sections: list[AnswerSections]
    citations: list[AnswerCitations]
    patient_specific: bool
    understood: AnswerUnderstood
    evidence_version: str
    evidence_released: str
    disclaimer: str
