"""Draft orders: a MedicationRequest's reasons, and whether it is for calcinosis cutis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from calcinosis.integrations.fhir.concepts import (
    as_object,
    concept_texts,
    dict_items,
    reference_id,
    status_code,
    text_of,
)
from calcinosis.integrations.fhir.conditions import calcinosis_kind
from calcinosis.integrations.fhir.resources import parse_resource
from calcinosis.integrations.fhir.terminology import EXCLUDED_VERIFICATION, VERIFICATION

__all__ = ["is_calcinosis_reason", "order_reasons"]


def order_reasons(resource: dict[str, Any]) -> list[str]:
    """A draft order's reasonCode: lower-cased texts and displays, and ``system|code``."""
    data = parse_resource(resource, [])
    if data is None:
        return []
    found: list[str] = []
    for concept in dict_items(data.get("reasonCode")):
        found += [text.lower() for text in concept_texts(concept)]
        found += [
            f"{coding.get('system') or ''}|{code}"
            for coding in dict_items(concept.get("coding"))
            if (code := text_of(coding.get("code"))) is not None
        ]
    return list(dict.fromkeys(found))


def is_calcinosis_reason(
    resource: dict[str, Any], *, conditions: Iterable[dict[str, Any]] = ()
) -> bool:
    """Whether a draft MedicationRequest is ordered for calcinosis cutis (or calciphylaxis).

    Reads ``reasonCode`` and ``reasonReference``: a contained Condition, a
    Condition among ``conditions`` (e.g. the prefetched ones) or, failing both,
    the reference's display. A refuted or entered-in-error Condition is not a
    reason. An unreadable order gives False.
    """
    data = parse_resource(resource, [])
    if data is None:
        return False
    if any(calcinosis_kind(concept) for concept in dict_items(data.get("reasonCode"))):
        return True
    known = {
        f"Condition/{c.get('id')}": c
        for c in conditions
        if isinstance(c, dict) and c.get("resourceType") == "Condition"
    }
    contained = {
        f"#{c.get('id')}": c
        for c in dict_items(data.get("contained"))
        if c.get("resourceType") == "Condition"
    }
    for reference in dict_items(data.get("reasonReference")):
        target = text_of(reference.get("reference")) or ""
        ident = reference_id(reference, "Condition")
        condition = contained.get(target) or (known.get(f"Condition/{ident}") if ident else None)
        if condition is not None:
            parsed = parse_resource(condition, [])
            if parsed is None:
                continue
            status = status_code(parsed.get("verificationStatus"), VERIFICATION)
            if status not in EXCLUDED_VERIFICATION and calcinosis_kind(
                as_object(parsed.get("code"))
            ):
                return True
            continue
        display = text_of(reference.get("display"))
        if display is not None and calcinosis_kind({"text": display}):
            return True
    return False
