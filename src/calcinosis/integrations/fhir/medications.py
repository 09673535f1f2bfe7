"""Medications: MedicationRequest/-Statement (and their Medication) -> catalog ids."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.integrations.fhir.concepts import (
    as_object,
    concept_texts,
    dict_items,
    reference_id,
    text_of,
)
from calcinosis.integrations.fhir.resources import parse_resource, resource_name
from calcinosis.integrations.fhir.terminology import (
    REQUEST_EXCLUDED,
    ROUTES,
    RXNORM,
    RXNORM_IDS,
    SMBS_TEXT,
    STATEMENT_CURRENT,
    STS_BY_ROUTE,
    STS_FAMILY,
    STS_TEXT,
    whole_words,
)

__all__ = ["medication_ids", "read_medications"]


@dataclass(frozen=True)
class _Phrase:
    pattern: re.Pattern[str]
    length: int
    treatment: str


@cache
def _catalog(names: tuple[tuple[str, str], ...]) -> tuple[_Phrase, ...]:
    """The drug catalog's names (``KnowledgeBase.drug_names``) as patterns, longest first."""
    return tuple(_Phrase(whole_words(name), len(name), treatment) for name, treatment in names)


def _match_names(text: str, catalog: tuple[_Phrase, ...]) -> set[str]:
    """Catalog ids named in ``text``: non-overlapping matches, longest first."""
    taken: list[tuple[int, int]] = []
    found: set[str] = set()
    for phrase in catalog:
        for match in phrase.pattern.finditer(text):
            start, end = match.span()
            if any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            found.add(phrase.treatment)
    return found


@dataclass(frozen=True)
class _Drug:
    names: tuple[str, ...]  # texts and displays, in order of preference
    codes: tuple[tuple[str, str], ...]  # (system, code)


def _drug(concept: Mapping[str, Any]) -> _Drug:
    codes = tuple(
        (str(c.get("system") or ""), code)
        for c in dict_items(concept.get("coding"))
        if (code := text_of(c.get("code"))) is not None
    )
    return _Drug(tuple(concept_texts(concept)), codes)


def _medication_drug(medication: Mapping[str, Any]) -> _Drug:
    main = _drug(as_object(medication.get("code")))
    names, codes = list(main.names), list(main.codes)
    for ingredient in dict_items(medication.get("ingredient")):
        if ingredient.get("isActive") is False:  # an excipient (e.g. sodium metabisulfite)
            continue
        part = _drug(as_object(ingredient.get("itemCodeableConcept")))
        names += part.names
        codes += part.codes
    return _Drug(tuple(names), tuple(codes))


def _route_texts(resource: Mapping[str, Any]) -> list[str]:
    dosages = dict_items(resource.get("dosageInstruction")) + dict_items(resource.get("dosage"))
    return [text for d in dosages for text in concept_texts(as_object(d.get("route")))]


def _map_drug(
    drug: _Drug, routes: list[str], catalog: tuple[_Phrase, ...], notes: list[str], label: str
) -> set[str]:
    found = {
        RXNORM_IDS[code] for system, code in drug.codes if system == RXNORM and code in RXNORM_IDS
    }
    for name in drug.names:
        found |= _match_names(name, catalog)
    joined = " | ".join(drug.names)
    if not found & STS_FAMILY and (STS_TEXT.search(joined) or SMBS_TEXT.search(joined)):
        said = {
            route
            for route, pattern in ROUTES
            for text in (*routes, *drug.names)
            if pattern.search(text)
        }
        if SMBS_TEXT.search(joined) and not STS_TEXT.search(joined):
            if said == {"topical"}:
                found.add("sodium-metabisulfite-topical")
            else:
                notes.append(f"{label}: sodium metabisulfite not stated topical; not mapped.")
        elif len(said) == 1:
            found.add(STS_BY_ROUTE[next(iter(said))])
        else:
            how = "several routes" if said else "no route"
            notes.append(
                f"{label}: sodium thiosulfate with {how} stated; not mapped to the intravenous, "
                "topical or intralesional form."
            )
    return found


def _drug_label(drug: _Drug) -> str:
    if drug.names:
        return drug.names[0]
    if drug.codes:
        system, code = drug.codes[0]
        return f"{system}|{code}"
    return ""


def _parse_medications(
    found: list[dict[str, Any]], notes: list[str]
) -> tuple[list[dict[str, Any]], list[str], dict[str, dict[str, Any]]]:
    """The readable requests and statements, the unreadable ones, and the Medications."""
    kinds = ("MedicationRequest", "MedicationStatement", "Medication")
    readable: list[dict[str, Any]] = []
    unreadable: list[str] = []
    library: dict[str, dict[str, Any]] = {}
    for resource in found:
        kind = resource.get("resourceType")
        if kind not in kinds:
            notes.append(f"{resource_name(resource)}: not a medication resource; ignored.")
            continue
        data = parse_resource(resource, notes)
        if data is not None and kind == "Medication":
            if (ident := text_of(data.get("id"))) is not None:
                library[f"Medication/{ident}"] = data
        elif data is not None:
            readable.append(data)
        elif kind != "Medication":
            unreadable.append(f"{resource_name(resource)} (unreadable; not evaluated)")
    return readable, unreadable, library


def _is_current(data: Mapping[str, Any], patient_id: str | None, notes: list[str]) -> bool:
    label = resource_name(data)
    subject = reference_id(data.get("subject"), "Patient")
    if patient_id is not None and subject is not None and subject != patient_id:
        notes.append(f"{label}: for another patient (Patient/{subject}); ignored.")
        return False
    status = text_of(data.get("status"))
    if data.get("resourceType") == "MedicationRequest":
        current = status not in REQUEST_EXCLUDED and data.get("doNotPerform") is not True
    else:
        current = status in STATEMENT_CURRENT
    if not current:
        why = "doNotPerform" if data.get("doNotPerform") is True else f"status {status}"
        notes.append(f"{label}: {why}; not a current medication.")
    elif status == "unknown":
        notes.append(f"{label}: status unknown; counted as current (confirm).")
    return current


def read_medications(
    found: list[dict[str, Any]],
    notes: list[str],
    kb: KnowledgeBase,
    patient_id: str | None = None,
) -> tuple[list[str], list[str]]:
    catalog = _catalog(kb.drug_names)
    readable, unmapped, library = _parse_medications(found, notes)
    ids: list[str] = []
    for data in readable:
        if not _is_current(data, patient_id, notes):
            continue
        label = resource_name(data)
        drug = _resolve_drug(data, library, notes, label)
        mapped = _map_drug(drug, _route_texts(data), catalog, notes, label)
        shown = _drug_label(drug) or label
        status = data.get("status")
        if mapped:
            ids += sorted(mapped)
            notes.append(f"{label} {shown!r} ({status}) -> {', '.join(sorted(mapped))}.")
        else:
            unmapped.append(shown)
            notes.append(f"{label} {shown!r} ({status}): not in the treatment catalog.")
    return list(dict.fromkeys(ids)), list(dict.fromkeys(unmapped))


def _resolve_drug(
    data: Mapping[str, Any],
    library: Mapping[str, Mapping[str, Any]],
    notes: list[str],
    label: str,
) -> _Drug:
    concept = data.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return _drug(concept)
    reference = as_object(data.get("medicationReference"))
    target = text_of(reference.get("reference"))
    display = text_of(reference.get("display"))
    medication: Mapping[str, Any] | None = None
    if target is not None and target.startswith("#"):
        for contained in dict_items(data.get("contained")):
            if contained.get("resourceType") == "Medication" and contained.get("id") == target[1:]:
                medication = contained
    elif (ident := reference_id(reference, "Medication")) is not None:
        medication = library.get(f"Medication/{ident}")
    if medication is None:
        if target is not None:
            notes.append(f"{label}: medication {target} not found; only its display is read.")
        return _Drug((display,) if display else (), ())
    drug = _medication_drug(medication)
    return _Drug((*drug.names, *((display,) if display else ())), drug.codes)


def medication_ids(
    resources: Iterable[dict[str, Any]], *, kb: KnowledgeBase | None = None
) -> tuple[list[str], list[str]]:
    """Catalog ids of the current medications, and the names that are not in the catalog.

    Reads MedicationRequest and MedicationStatement resources (Medication
    resources as the targets of their ``medicationReference``). A resource that
    cannot be read is listed among the unmapped, marked "unreadable".
    """
    return read_medications(list(resources), [], kb or load_knowledge())
