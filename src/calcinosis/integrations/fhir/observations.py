"""Body weight and height Observations -> ``weight_kg`` and ``height_cm``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calcinosis.integrations.fhir.concepts import as_object, concept_codes, reference_id, text_of
from calcinosis.integrations.fhir.resources import collect, parse_resource, resource_name
from calcinosis.integrations.fhir.terminology import LOINC, MEASURES, OBSERVATION_FINAL, UCUM

__all__ = ["read_body_measures"]


def _measure(data: Mapping[str, Any], notes: list[str]) -> tuple[str, float, str] | None:
    """(profile field, value in kg or cm, when) of a body weight or height Observation."""
    label = resource_name(data)
    codes = [c for c in concept_codes(as_object(data.get("code")), LOINC) if c in MEASURES]
    if not codes:
        notes.append(f"{label}: not a body weight (LOINC 29463-7) or height (8302-2); ignored.")
        return None
    field, factors, (low, high) = MEASURES[codes[0]]
    if text_of(data.get("status")) not in OBSERVATION_FINAL:
        notes.append(f"{label}: status {data.get('status')}; not used.")
        return None
    quantity = as_object(data.get("valueQuantity"))
    value = quantity.get("value")
    unit = text_of(quantity.get("code")) or text_of(quantity.get("unit"))
    if quantity.get("system") not in (None, UCUM):
        unit = text_of(quantity.get("unit"))
    if isinstance(value, bool) or not isinstance(value, int | float) or unit not in factors:
        notes.append(f"{label}: no value in a unit this service converts ({unit}); not used.")
        return None
    converted = float(value) * factors[unit]
    if not low <= converted <= high:
        notes.append(f"{label}: {value} {unit} is out of range for {field}; not used.")
        return None
    when = text_of(data.get("effectiveDateTime")) or text_of(data.get("issued")) or ""
    return field, round(converted, 1), when


def read_body_measures(
    value: object, patient_id: str | None, notes: list[str], profile: dict[str, Any]
) -> None:
    """The latest valid body weight and height of the patient, converted to kg and cm."""
    latest: dict[str, tuple[str, float]] = {}
    for resource in collect(value, notes, "observations"):
        data = parse_resource(resource, notes)
        if data is None or data.get("resourceType") != "Observation":
            continue
        subject = reference_id(data.get("subject"), "Patient")
        if patient_id is not None and subject is not None and subject != patient_id:
            notes.append(
                f"{resource_name(data)}: for another patient (Patient/{subject}); ignored."
            )
            continue
        found = _measure(data, notes)
        if found is not None:
            field, measured, when = found
            if field not in latest or when > latest[field][0]:
                latest[field] = (when, measured)
    for field, (when, measured) in sorted(latest.items()):
        profile[field] = measured
        notes.append(f"{field} {measured:g} from an Observation{f' of {when}' if when else ''}.")
