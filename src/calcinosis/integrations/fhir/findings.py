"""The findings: the profile, the subtype and the notes that the FHIR data give."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.integrations.fhir.conditions import read_conditions
from calcinosis.integrations.fhir.medications import read_medications
from calcinosis.integrations.fhir.observations import read_body_measures
from calcinosis.integrations.fhir.patients import read_patient
from calcinosis.integrations.fhir.resources import collect
from calcinosis.integrations.fhir.terminology import AUTOIMMUNE

__all__ = ["FhirFindings", "findings_from_fhir"]


@dataclass(frozen=True)
class FhirFindings:
    """What the FHIR data say about calcinosis cutis, and the profile they give."""

    has_calcinosis: bool
    subtype: str | None
    profile: dict[str, Any]
    notes: tuple[str, ...]
    unmapped_medications: tuple[str, ...]


def findings_from_fhir(
    patient: object,
    conditions: object,
    medications: object,
    *,
    observations: object = None,
    today: date | None = None,
    kb: KnowledgeBase | None = None,
) -> FhirFindings:
    """Read the prefetched Patient, Conditions, medications and body weight and height
    Observations (see the module docstring)."""
    notes: list[str] = []
    profile: dict[str, Any] = {}
    patient_id = read_patient(patient, notes, today or date.today(), profile)
    if observations is not None:
        read_body_measures(observations, patient_id, notes, profile)
    calcinosis, calciphylaxis, diseases, found = read_conditions(conditions, patient_id, notes)
    disease = _underlying(diseases, notes)
    if disease is not None:
        profile["underlying_disease"] = disease
    subtype = _subtype(calciphylaxis, calcinosis, disease, found, notes)
    if subtype is not None:
        profile["subtype"] = subtype
    if "raynaud" in found:
        profile["raynaud"] = True
    profile["conditions"] = sorted(found - {"raynaud"})
    medication_resources = collect(medications, notes, "medications")
    ids, unmapped = read_medications(
        medication_resources, notes, kb or load_knowledge(), patient_id
    )
    profile["medications"] = ids
    has_calcinosis = calcinosis or calciphylaxis
    if not has_calcinosis:
        notes.append("No current calcinosis cutis or calciphylaxis diagnosis in the Conditions.")
    return FhirFindings(has_calcinosis, subtype, profile, tuple(notes), tuple(unmapped))


def _underlying(diseases: Mapping[str, list[str]], notes: list[str]) -> str | None:
    autoimmune = [d for d in AUTOIMMUNE if d in diseases]
    if "polymyositis" in diseases:
        notes.append(
            "Polymyositis ("
            + "; ".join(diseases["polymyositis"])
            + ") is not dermatomyositis"
            + ("." if autoimmune else "; underlying disease taken as other.")
        )
    if not autoimmune:
        return "other" if "polymyositis" in diseases else None
    chosen = autoimmune[0]
    if len(autoimmune) > 1:
        listed = "; ".join(f"{d}: {', '.join(diseases[d])}" for d in autoimmune)
        notes.append(
            f"Several autoimmune diseases are coded ({listed}); underlying disease taken as "
            f"{chosen} (confirm)."
        )
    else:
        notes.append(f"Underlying disease {chosen} ({', '.join(diseases[chosen])}).")
    return chosen


def _subtype(
    calciphylaxis: bool,
    calcinosis: bool,
    disease: str | None,
    conditions: set[str],
    notes: list[str],
) -> str | None:
    if calciphylaxis:
        notes.append("Subtype calciphylaxis (coded).")
        return "calciphylaxis"
    if not calcinosis:
        return None
    if disease not in AUTOIMMUNE:
        notes.append(
            "Calcinosis cutis without a coded autoimmune connective tissue disease: subtype "
            "unknown (complete the assessment)."
        )
        return None
    kidney = sorted(conditions & {"chronic-kidney-disease", "end-stage-kidney-disease"})
    if kidney:
        notes.append(
            f"Calcinosis cutis with {disease} but also {', '.join(kidney)}: a metabolic cause is "
            "possible; subtype unknown (complete the assessment)."
        )
        return None
    notes.append(f"Subtype dystrophic: calcinosis cutis with {disease}.")
    return "dystrophic"
