"""Contraindications and cautions: the data name a rule, the code says when it applies.

``treatments.yaml`` gives each treatment its ``contraindications``: a rule name,
a stance (``avoid`` or ``caution``), the seed's words and their passage. Here
each rule name is a predicate on the patient. The engine applies every rule to
every option on every path (``engine.enforce_safety``); a rule name in the data
that has no predicate is an error at start-up, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from calcinosis.decision.patient import Patient
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.schemas import Contraindication

__all__ = ["RULES", "Finding", "check_rules", "findings_for", "rules_patient"]


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


# What a rule check assumes for what is not known, chosen so that a rule applies rather
# than is skipped (a precaution shown that need not have been, never one missed):
# - age: the youngest (0), so every age limit applies: the rules' only one is an upper
#   limit (minocycline under 9);
# - subtype: dystrophic, the commonest, whose rules include IV sodium thiosulfate's;
# - the underlying disease and the conditions: none is assumed (a rule about systemic
#   sclerosis or a heart condition cannot be made to apply without saying the patient
#   has it); digital lesions: unknown, which the SSc digital rule reads as possible.
UNKNOWN_AGE = 0
UNKNOWN_SUBTYPE = "dystrophic"
UNKNOWN_AGE_NOTE = "Age unknown: age limits are applied."


def rules_patient(known: Mapping[str, object]) -> tuple[Patient, list[str]]:
    """The patient the safety rules are checked for, from a partial profile (what FHIR
    or a question gives), with the defaults above; and a note for each default that can
    change what applies. Medications and prior treatments are not read by any rule."""
    data = {k: v for k, v in known.items() if k not in ("medications", "prior_treatments")}
    notes = []
    if data.get("age_years") is None:
        data["age_years"] = UNKNOWN_AGE
        notes.append(UNKNOWN_AGE_NOTE)
    if data.get("subtype") is None:
        data["subtype"] = UNKNOWN_SUBTYPE
    return Patient.model_validate(data), notes


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
