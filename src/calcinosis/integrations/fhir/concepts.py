"""Reading FHIR JSON values: CodeableConcepts, codings, references, status codes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from calcinosis.integrations.fhir.terminology import ICD10CM, RXNORM, SNOMED

__all__ = [
    "as_object",
    "concept_codes",
    "concept_label",
    "concept_texts",
    "dict_items",
    "icd_codes",
    "reference_id",
    "status_code",
    "text_of",
]


def dict_items(value: object) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def text_of(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def as_object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def concept_texts(concept: Mapping[str, Any]) -> list[str]:
    """A CodeableConcept's text and its codings' displays."""
    found = [text_of(concept.get("text"))]
    found += [text_of(coding.get("display")) for coding in dict_items(concept.get("coding"))]
    return [text for text in found if text is not None]


def concept_codes(concept: Mapping[str, Any], system: str) -> list[str]:
    return [
        code
        for coding in dict_items(concept.get("coding"))
        if coding.get("system") == system and (code := text_of(coding.get("code"))) is not None
    ]


def icd_codes(concept: Mapping[str, Any]) -> list[str]:
    """ICD-10-CM codes, upper case and dotted (``l942`` -> ``L94.2``)."""
    found = []
    for raw in concept_codes(concept, ICD10CM):
        code = raw.strip().upper().replace(" ", "")
        if "." not in code and len(code) > 3:
            code = code[:3] + "." + code[3:]
        found.append(code)
    return found


def concept_label(concept: Mapping[str, Any]) -> str:
    """How a concept is named in the notes: its text, and its codes."""
    texts = concept_texts(concept)
    codes = [
        f"{_system_name(str(c.get('system')))} {c.get('code')}"
        for c in dict_items(concept.get("coding"))
        if text_of(c.get("code")) is not None
    ]
    name = repr(texts[0]) if texts else "(no text)"
    return f"{name} ({', '.join(codes)})" if codes else name


def _system_name(system: str) -> str:
    return {ICD10CM: "ICD-10-CM", SNOMED: "SNOMED CT", RXNORM: "RxNorm"}.get(system, system)


def status_code(concept: object, system: str) -> str | None:
    for coding in dict_items(as_object(concept).get("coding")):
        if coding.get("system") in (system, None) and (code := text_of(coding.get("code"))):
            return code
    return None


def reference_id(reference: object, resource_type: str) -> str | None:
    """``Patient/123``, ``https://x/fhir/Patient/123/_history/2`` -> ``123``."""
    text = text_of(as_object(reference).get("reference"))
    if text is None:
        return None
    match = re.search(rf"(?:^|/){resource_type}/([A-Za-z0-9\-.]{{1,64}})(?:/_history/.*)?$", text)
    return match.group(1) if match else None
