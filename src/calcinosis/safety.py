"""Contraindications and cautions: the data name a rule, the code says when it applies.

``treatments.yaml`` gives each treatment its ``contraindications``: a rule name,
a stance (``avoid`` or ``caution``), the seed's words and their passage. Here
each rule name is a predicate on the patient. The engine applies every rule to
every option on every path (``engine.enforce_safety``); a rule name in the data
that has no predicate is an error at start-up, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from calcinosis.errors import KnowledgeError
from calcinosis.evidence import KnowledgeBase
from calcinosis.models import Contraindication
from calcinosis.patient import Patient

__all__ = ["RULES", "Finding", "check_rules", "findings_for"]


def _has(condition: str) -> Callable[[Patient], bool]:
    return lambda patient: condition in patient.conditions


RULES: dict[str, Callable[[Patient], bool]] = {
    # "should not be used for calcinosis cutis": whatever the patient
    "calcinosis-indication": lambda patient: True,
    # IV sodium thiosulfate: not recommended for dystrophic calcinosis (review
    # Table 4); it is part of calciphylaxis care, which is another matter
    "dystrophic-calcinosis": lambda patient: patient.subtype == "dystrophic",
    "age-under-9": lambda patient: patient.age_years < 9,
    "systemic-sclerosis": lambda patient: patient.underlying_disease == "systemic-sclerosis",
    "cardiac-conduction-abnormality": _has("cardiac-conduction-abnormality"),
    "reduced-ventricular-function": _has("reduced-ventricular-function"),
    # digital calcinosis in SSc: when the lesions are digital, or not said not to be
    "digital-ssc": lambda patient: (
        patient.underlying_disease == "systemic-sclerosis" and patient.lesions.digital is not False
    ),
}


@dataclass(frozen=True)
class Finding:
    """A rule that applies to this patient and this treatment."""

    treatment: str
    rule: Contraindication


def check_rules(kb: KnowledgeBase) -> None:
    """Every rule the catalog names must have a predicate."""
    for entry in kb.treatments.values():
        for rule in entry.contraindications:
            if rule.rule not in RULES:
                raise KnowledgeError(
                    "treatments.yaml",
                    entry.id,
                    "contraindications.rule",
                    f"no predicate for rule {rule.rule!r}; known rules: {', '.join(sorted(RULES))}",
                )


def findings_for(kb: KnowledgeBase, patient: Patient, treatment: str) -> list[Finding]:
    """The contraindications and cautions of ``treatment`` that apply to ``patient``."""
    entry = kb.treatments.get(treatment)
    if entry is None:
        return []
    return [
        Finding(treatment, rule) for rule in entry.contraindications if RULES[rule.rule](patient)
    ]
