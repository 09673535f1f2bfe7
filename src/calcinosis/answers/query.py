"""A question, understood: the typed query every answer is composed from.

``understand()`` (``understand.py``) turns the words into a :class:`Query` before
anything is retrieved; the composers (``compose.py``) read only the query. The
query's :meth:`Query.document` is the ``understood`` object of the ``ask`` JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from calcinosis.answers.cues import Intent, Predicate
from calcinosis.answers.documents import AnswerPriorTreatments, AnswerProposition, AnswerUnderstood
from calcinosis.evidence.applicability import Context

__all__ = ["AgeGroup", "Proposition", "Query"]

AgeGroup = Literal["adult", "child"]


@dataclass(frozen=True)
class Proposition:
    """What a yes/no question claims: its treatment, the predicate and its object.

    "Does warfarin promote calcification?" -> (warfarin, promotes-calcification);
    "Is diltiazem safe in heart block?" -> (diltiazem, safe-with,
    cardiac-conduction-abnormality); "Can an 8-year-old take minocycline?" ->
    (minocycline, usable-at-age, 8).
    """

    treatment: str | None
    predicate: Predicate
    object: str | None = None
    treatments: tuple[str, ...] = ()  # every id the subject's words stand for ("STS")
    # "should I stop diltiazem with heart failure?", "avoid minocycline in an 8 yo?": the
    # question asks whether to avoid or stop it, so a "No" of the predicate is a "Yes"
    inverse: bool = False

    def describe(self, name: str | None) -> str:
        subject = name or "it"
        if self.inverse:
            return f"{subject} should be avoided or stopped ({self.object or 'here'})"
        words = {
            "promotes-calcification": "promotes calcification",
            "safe-with": f"is safe with {self.object or 'this condition'}",
            "usable-at-age": f"can be used at {self.object or 'this age'}",
            "first-line": "is first-line",
            "avoided": "should be avoided",
            "recommended": "should be used",
            "causes": f"causes {self.object or 'this effect'}",
            "effective": "works",
            "needs-treatment": "needs treatment",
            "size-matters": "works differently by lesion size",
            "complete-response": "clears the deposits completely",
            "preferred-over": f"is preferred over {self.object or 'the other'}",
            "can-observe": "can be observed without treatment",
            "managed-like": "is managed like the other",
        }[self.predicate]
        return f"{subject} {words}"


@dataclass(frozen=True)
class Query:
    """Everything an answer needs to know about its question."""

    text: str
    norm: str  # normalised and spelling-corrected, space-padded
    intent: Intent
    also: tuple[Intent, ...] = ()  # other intents asked, in the order asked
    treatments: tuple[str, ...] = ()  # catalog ids, in the order the question names them
    medications: tuple[str, ...] = ()  # what the patient already takes ("already on X")
    # (treatment, none|partial|complete|intolerant|tried) tried before; "tried": outcome not said
    prior: tuple[tuple[str, str], ...] = ()
    unavailable: tuple[str, ...] = ()  # cannot be had or used here ("X isn't practical")
    source: str | None = None  # the source the question names ("what does the review say")
    studies: tuple[str, ...] = ()  # included studies the question names ("Balin 2012")
    other_indication: str | None = None  # given for another condition ("for atrial fibrillation")
    mentions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (words, ids) as named
    classes: tuple[str, ...] = ()  # catalog classes named ("bisphosphonates")
    population: AgeGroup | None = None
    age_years: float | None = None
    weight_kg: float | None = None
    lesion_cm: float | None = None  # the largest lesion, when the question gives its size
    # "over"/"under" when the size is a bound ("deposits >2 cm", "smaller than 1 cm")
    lesion_bound: Literal["over", "under"] | None = None
    lesion_count: int | None = None  # how many lesions, when the question counts them
    disease: str | None = None  # patient-profile vocabulary ("systemic-sclerosis")
    subtype: str | None = None
    # why the subtype or disease was read from other words ("dialysis": metastatic)
    reading: str | None = None
    proposition: Proposition | None = None
    in_scope: bool = True
    out_of_scope: str | None = None  # what the question is about instead
    patient_specific: bool = False
    conditions: tuple[str, ...] = ()  # profile condition ids ("pregnancy")
    features: frozenset[str] = field(default_factory=frozenset)  # "inflammation", ...
    unanswered: tuple[str, ...] = ()  # topics no source addresses ("pregnancy or ...")
    general_only: tuple[str, ...] = ()  # topics the sources touch only in general terms
    unknown_drugs: tuple[str, ...] = ()  # drug names the catalog does not know
    corrections: tuple[tuple[str, str], ...] = ()

    def context(self) -> Context:
        """Whom the question is about, for :func:`calcinosis.evidence.applicability.fit`."""
        return Context(self.subtype, self.disease, self.population)

    def has(self, feature: str) -> bool:
        return feature in self.features

    def size_in(self, max_cm: float | None = None, over_cm: float | None = None) -> bool:
        """Whether the lesions asked about fall in a source's size range (lesions up to
        ``max_cm``, or over ``over_cm``): "deposits >2 cm" are over 2 cm, not up to it."""
        size = self.lesion_cm
        if size is None:
            return False
        if max_cm is not None:
            return size < max_cm if self.lesion_bound == "over" else size <= max_cm
        if over_cm is not None:
            return size >= over_cm if self.lesion_bound == "over" else size > over_cm
        return False

    def size_words(self) -> str:
        """ "over 2 cm", "2 cm": the size as the question gives it."""
        size = f"{self.lesion_cm:g} cm"
        return f"{self.lesion_bound} {size}" if self.lesion_bound else size

    def document(self) -> AnswerUnderstood:
        """The ``understood`` object of the ``ask`` JSON."""
        p = self.proposition
        return AnswerUnderstood(
            intent=self.intent,
            also=list(self.also),
            treatments=list(self.treatments),
            medications=list(self.medications),
            prior_treatments=[
                AnswerPriorTreatments(treatment=t, response=r) for t, r in self.prior
            ],
            unavailable=list(self.unavailable),
            source=self.source,
            studies=list(self.studies),
            other_indication=self.other_indication,
            classes=list(self.classes),
            population=self.population,
            age_years=self.age_years,
            weight_kg=self.weight_kg,
            lesion_cm=self.lesion_cm,
            lesion_bound=self.lesion_bound,
            lesion_count=self.lesion_count,
            disease=self.disease,
            subtype=self.subtype,
            reading=self.reading,
            proposition=None
            if p is None
            else AnswerProposition(
                treatment=p.treatment, predicate=p.predicate, object=p.object, inverse=p.inverse
            ),
            patient_specific=self.patient_specific,
            conditions=list(self.conditions),
            features=sorted(self.features),
            unanswered=list(self.unanswered),
            general_only=list(self.general_only),
            unknown_drugs=list(self.unknown_drugs),
            in_scope=self.in_scope,
            out_of_scope=self.out_of_scope,
            corrections=dict(self.corrections),
        )
