"""Conditions: calcinosis cutis, calciphylaxis, the underlying disease, the profile's conditions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from calcinosis.integrations.fhir.concepts import (
    as_object,
    concept_codes,
    concept_label,
    concept_texts,
    icd_codes,
    reference_id,
    status_code,
)
from calcinosis.integrations.fhir.resources import collect, parse_resource, resource_name
from calcinosis.integrations.fhir.terminology import (
    ACTIVE_CLINICAL,
    CALCINOSIS_ANY,
    CALCINOSIS_TEXT,
    CALCIPHYLAXIS_TEXT,
    CLINICAL,
    CONDITION_TEXT,
    DISEASE_TEXT,
    EXCLUDED_VERIFICATION,
    ICD_CONDITIONS,
    ICD_DISEASES,
    LOCALIZED_SCLERODERMA,
    RAYNAUD_TEXT,
    SNOMED,
    SNOMED_DISEASES,
    VERIFICATION,
)

__all__ = ["calcinosis_kind", "read_conditions"]


def calcinosis_kind(concept: Mapping[str, Any]) -> str | None:
    """What one CodeableConcept names: "calciphylaxis", "calcinosis" (cutis) or None."""
    texts = " | ".join(concept_texts(concept))
    if CALCIPHYLAXIS_TEXT.search(texts):
        return "calciphylaxis"
    if "L94.2" in icd_codes(concept) or CALCINOSIS_TEXT.search(texts):
        return "calcinosis"
    return None


def _by_prefix(code: str, table: tuple[tuple[tuple[str, ...], str], ...]) -> str | None:
    for prefixes, name in table:
        if code.startswith(prefixes):
            return name
    return None


def _diseases(concept: Mapping[str, Any]) -> set[str]:
    """Autoimmune diseases (and "polymyositis") a concept names."""
    found = {d for code in icd_codes(concept) if (d := _by_prefix(code, ICD_DISEASES))}
    found |= {SNOMED_DISEASES[c] for c in concept_codes(concept, SNOMED) if c in SNOMED_DISEASES}
    for text in concept_texts(concept):
        for name, pattern in DISEASE_TEXT:
            if not pattern.search(text):
                continue
            if name != "systemic-sclerosis-scleroderma":
                found.add(name)
            elif not LOCALIZED_SCLERODERMA.search(text):
                found.add("systemic-sclerosis")
    if "juvenile-dermatomyositis" in found:
        found.discard("dermatomyositis")
    return found


def _conditions(concept: Mapping[str, Any], notes: list[str], label: str) -> set[str]:
    """Profile ``conditions`` (and "raynaud") a concept names."""
    found = {c for code in icd_codes(concept) if (c := _by_prefix(code, ICD_CONDITIONS))}
    if any(re.fullmatch(r"O\d\d(?:\..*)?", code) for code in icd_codes(concept)):
        found.add("pregnancy")  # chapter 15, O00-O99 (O9A is in the table)
    if "heart-failure-other" in found:
        found.discard("heart-failure-other")
        notes.append(
            f"{label}: heart failure without a reduced-ejection-fraction code; "
            "reduced ventricular function not assumed."
        )
    for text in concept_texts(concept):
        named = {name for name, pattern in CONDITION_TEXT if pattern.search(text)}
        if RAYNAUD_TEXT.search(text):
            named.add("raynaud")
        found |= named
    return found


def _counts(condition: Mapping[str, Any], notes: list[str], label: str) -> bool:
    """Whether a Condition is current and not refuted (noted when not)."""
    verification = status_code(condition.get("verificationStatus"), VERIFICATION)
    if verification in EXCLUDED_VERIFICATION:
        notes.append(f"{label}: verification status {verification}; ignored.")
        return False
    clinical = status_code(condition.get("clinicalStatus"), CLINICAL)
    if clinical is None:
        notes.append(f"{label}: no clinical status; not counted (confirm whether it is current).")
        return False
    if clinical not in ACTIVE_CLINICAL:
        notes.append(f"{label}: clinical status {clinical}; not counted.")
        return False
    if verification not in (None, "confirmed"):
        notes.append(f"{label}: verification status {verification}; counted.")
    return True


def read_conditions(
    value: object, patient_id: str | None, notes: list[str]
) -> tuple[bool, bool, dict[str, list[str]], set[str]]:
    """(calcinosis cutis, calciphylaxis, diseases -> the Conditions naming them, conditions)."""
    calcinosis = calciphylaxis = False
    diseases: dict[str, list[str]] = {}
    found: set[str] = set()
    for resource in collect(value, notes, "conditions"):
        if resource.get("resourceType") != "Condition":
            notes.append(f"{resource_name(resource)}: not a Condition; ignored.")
            continue
        data = parse_resource(resource, notes)
        if data is None:
            continue
        concept = as_object(data.get("code"))
        label = f"Condition {concept_label(concept)}"
        subject = reference_id(data.get("subject"), "Patient")
        if patient_id is not None and subject is not None and subject != patient_id:
            notes.append(f"{label}: for another patient (Patient/{subject}); ignored.")
            continue
        if not _counts(data, notes, label):
            continue
        kind = calcinosis_kind(concept)
        calciphylaxis |= kind == "calciphylaxis"
        calcinosis |= kind == "calcinosis"
        if kind is not None:
            notes.append(f"{label} -> {kind.replace('calcinosis', 'calcinosis cutis')}.")
        elif "E83.59" in icd_codes(concept):
            notes.append(f"{label}: E83.59 without a calciphylaxis diagnosis; not counted.")
        elif any(CALCINOSIS_ANY.search(text) for text in concept_texts(concept)):
            notes.append(f"{label}: calcinosis, but not said to be of the skin; not counted.")
        for disease in _diseases(concept):
            diseases.setdefault(disease, []).append(label)
        for condition in sorted(_conditions(concept, notes, label) - found):
            notes.append(f"{label} -> {condition}.")
            found.add(condition)
    return calcinosis, calciphylaxis, diseases, found
