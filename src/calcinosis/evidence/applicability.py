"""Whom a piece of evidence is about, and whether it applies to the patient (or question).

Every arm, statement, Table 4 row and regimen of the knowledge base says whom it is
about: calcinosis subtype(s), underlying disease(s) and age group. :func:`fit`
compares that with a :class:`Context` (a patient, or what a question asks about) and
says whether the evidence is *direct* or *extrapolated* from another population, with
the reasons in words (GRADE's indirectness). Nothing here decides what to offer: the
engine and the answers use it to label what they show, never to hide a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from calcinosis.evidence.documents import AppliesToDocument
from calcinosis.evidence.names import DISEASE_RECORDS, EVIDENCE_DISEASE_WORDS
from calcinosis.evidence.schemas import Arm, Regimen, Statement, Table4Row

__all__ = [
    "AppliesTo",
    "Context",
    "Fit",
    "applies_to_arm",
    "applies_to_regimen",
    "applies_to_row",
    "applies_to_statement",
    "fit",
]

AgeGroup = Literal["adult", "child"]

# The evidence codes that cover a patient's underlying disease, the codes in words, the
# diseases in words (knowledge/diseases.yaml); an unknown disease is covered by none.
_COVERS: dict[str, frozenset[str]] = {
    d.id: frozenset(d.covered_by) for d in DISEASE_RECORDS.values() if d.covered_by is not None
}
_DISEASE_WORDS = dict(EVIDENCE_DISEASE_WORDS)
_PATIENT_DISEASE_WORDS: dict[str, str] = {
    d.id: d.name for d in DISEASE_RECORDS.values() if d.covered_by is not None
}
ADULT_AGE = 18


def _join(words: Iterable[str], last: str = "or") -> str:
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


@dataclass(frozen=True)
class AppliesTo:
    """Whom a record is about; an empty tuple or ``any`` means not restricted."""

    subtypes: tuple[str, ...] = ()
    diseases: tuple[str, ...] = ()
    population: Literal["adult", "child", "any"] = "any"

    def describe(self) -> str:
        """In words, e.g. 'dystrophic calcinosis in adults with systemic sclerosis'."""
        return _describe(self)

    def document(self) -> AppliesToDocument:
        """The contract's ``applies_to`` object (one per record, shared: it is frozen)."""
        return _applies_to_document(self)


@cache
def _applies_to_document(applies: AppliesTo) -> AppliesToDocument:
    return AppliesToDocument(
        subtypes=list(applies.subtypes),
        diseases=list(applies.diseases),
        population=applies.population,
        text=applies.describe(),
    )


@cache
def _describe(applies: AppliesTo) -> str:
    what = f"{_join(applies.subtypes)} calcinosis" if applies.subtypes else "calcinosis cutis"
    who = {"adult": "adults", "child": "children", "any": "patients"}[applies.population]
    text = what
    if applies.diseases:
        text += f" in {who} with " + _join(_DISEASE_WORDS[d] for d in applies.diseases)
    elif applies.population != "any":
        text += f" in {who}"
    return text


@dataclass(frozen=True)
class Context:
    """Whom an output is for. ``None`` means not said (a question may not say)."""

    subtype: str | None = None
    disease: str | None = None  # the profile's underlying_disease vocabulary, or "unknown"
    age_group: AgeGroup | None = None

    @classmethod
    def of(cls, subtype: str | None, disease: str | None, age_years: float | None) -> Context:
        group: AgeGroup | None = None
        if age_years is not None:
            group = "child" if age_years < ADULT_AGE else "adult"
        return cls(subtype, disease, group)


@dataclass(frozen=True)
class Fit:
    """How a record applies to a context."""

    applies_to: AppliesTo
    extrapolated: bool
    reasons: tuple[str, ...] = field(default=())
    matches: int = 0  # restrictions of the record that this context meets (specificity)

    def label(self) -> str:
        """'' when direct; otherwise 'extrapolated from ...: reason; reason'."""
        if not self.extrapolated:
            return ""
        return f"extrapolated from {self.applies_to.describe()}: " + "; ".join(self.reasons)

    @property
    def extrapolation(self) -> list[str]:
        """The reasons, as the documents' ``extrapolation`` field (a fresh list)."""
        return list(self.reasons)


@cache
def fit(context: Context, applies: AppliesTo) -> Fit:
    """Direct when nothing about the context falls outside the record's population."""
    reasons: list[str] = []
    matches = 0
    if applies.subtypes and context.subtype and context.subtype in applies.subtypes:
        matches += 1
    if applies.subtypes and context.subtype and context.subtype not in applies.subtypes:
        here = (
            "calciphylaxis"
            if context.subtype == "calciphylaxis"
            else f"{context.subtype} calcinosis"
        )
        reasons.append(f"studied in {_join(applies.subtypes)} calcinosis; this is {here}")
    diseases = set(applies.diseases) - {"any"}
    if diseases and context.disease is not None:
        covered = _COVERS.get(context.disease)
        wanted = _join(_DISEASE_WORDS[d] for d in applies.diseases if d != "any")
        if covered is None:  # "unknown"
            if not reasons:  # another subtype already says it all
                reasons.append(f"about {wanted}; the underlying disease is not known")
        elif not covered & diseases:
            reasons.append(f"about {wanted}; here {_PATIENT_DISEASE_WORDS[context.disease]}")
        else:
            matches += 1
    if applies.population != "any" and context.age_group == applies.population:
        matches += 1
    if applies.population != "any" and context.age_group not in (None, applies.population):
        studied = "adults" if applies.population == "adult" else "children"
        here = "a child" if context.age_group == "child" else "an adult"
        reasons.append(f"studied in {studied}; this is {here}")
    return Fit(applies, bool(reasons), tuple(reasons), matches)


# ------------------------------------------------------------ records -> AppliesTo
def _population(diseases: tuple[str, ...], population: str) -> Literal["adult", "child", "any"]:
    if population == "adult":
        return "adult"
    if population == "child" or (diseases and set(diseases) == {"juvenile-DM"}):
        return "child"
    return "any"


def applies_to_statement(statement: Statement) -> AppliesTo:
    diseases = tuple(d for d in statement.diseases if d != "any")
    return AppliesTo(
        tuple(statement.subtypes), diseases, _population(diseases, statement.population)
    )


def applies_to_row(row: Table4Row) -> AppliesTo:
    """Table 4 is about dystrophic calcinosis in DM and SSc; each row names its disease."""
    diseases = tuple(row.diseases)
    return AppliesTo(("dystrophic",), diseases, _population(diseases, "any"))


def applies_to_arm(arm: Arm) -> AppliesTo:
    """A review arm: dystrophic calcinosis in DM or SSc (unspecified: either)."""
    diseases: tuple[str, ...] = (
        ("DM", "SSc") if arm.disease in ("DM/SSc", "unspecified") else (arm.disease,)
    )
    population: Literal["adult", "child", "any"] = (
        "any" if arm.population == "unspecified" else arm.population
    )
    return AppliesTo(("dystrophic",), diseases, population)


def applies_to_regimen(regimen: Regimen) -> AppliesTo:
    return AppliesTo(population=regimen.population)
