"""FHIR R4 data (CDS Hooks ``prefetch`` and ``context.draftOrders``) -> patient profile.

A CDS Hooks service receives FHIR R4 resources: a ``prefetch`` value may be a
single resource, a searchset Bundle, an OperationOutcome (the EHR could not run
the query) or JSON ``null``. This module turns the Patient, its Conditions and
its medications into the patient profile of :mod:`calcinosis.patient` (a dict for
``parse_patient``) and says whether the patient has calcinosis cutis. Every
resource is validated with the R4B models of ``fhir.resources`` (R4B and R4 share
these five resources). Nothing here raises on bad data: a resource that cannot be
read is skipped and the skip is noted.

Patient safety first: the profile holds only what the FHIR data say, never a
guess. A boolean the data are silent about stays absent; a value that cannot be
inferred safely (subtype, age, disease) is left out, and the notes say why, so
that the service asks the clinician to complete the assessment.

Reading the resources
---------------------
* ``"..."`` members (the "snipped for brevity" marker of the CDS Hooks
  specification's examples) are dropped.
* A resource carrying a ``modifierExtension`` or ``implicitRules`` is skipped:
  FHIR forbids processing it as if the modifier were not there.
* Two harmless slips are repaired, with a note: an unknown element *nested* in
  a resource is ignored (e.g. the STU3-style ``dosageInstruction.doseQuantity``
  of the CDS Hooks order-sign example), and a single object where FHIR JSON
  wants an array is read as an array of one (``doseAndRate`` in the
  order-select example). An unknown *top-level* element, or any other
  validation error, skips the whole resource: the elements that change a
  resource's meaning (``status``, ``clinicalStatus``, ``verificationStatus``,
  ``doNotPerform``) live at the top level, and a misspelt one must not be
  ignored.
* A Condition or medication whose ``subject`` names another Patient than the
  prefetched one is skipped.
* The ``fhir.resources`` models are the gate, not what is read: a resource is
  read only once its model validates (after the repairs above), and what is
  read is its JSON. The models accept more than FHIR JSON and rewrite some of
  it, so reading them would change what these inputs mean: ``"true"`` or ``1``
  become booleans (``doNotPerform``, ``isActive``, ``deceasedBoolean``),
  ``"62"`` a decimal (``valueQuantity.value``), and a ``dateTime`` a Python
  ``datetime`` (``...09:00:00.50Z`` reads back as ``...09:00:00.500000+00:00``;
  the notes quote it, and the latest Observation is chosen on it, as written).
  The reader takes a value only with the JSON type FHIR gives it
  (``tests/test_fhir.py`` holds one case of each).

Mapping rules
-------------
Code systems: ICD-10-CM ``http://hl7.org/fhir/sid/icd-10-cm`` (codes compared
with or without the dot), SNOMED CT ``http://snomed.info/sct``, RxNorm
``http://www.nlm.nih.gov/research/umls/rxnorm``. Text matching is
case-insensitive, on whole words, over ``CodeableConcept.text`` and every
``coding.display``.

* **Conditions that count**: ``clinicalStatus`` active, recurrence or relapse
  (a Condition without a clinicalStatus does not count, and is noted); never
  ``verificationStatus`` refuted or entered-in-error.
* **Calcinosis cutis**: ICD-10-CM ``L94.2``, or text "calcinosis cutis" /
  "cutaneous calcinosis". No SNOMED CT code: none could be verified, so SNOMED
  coded Conditions are recognised by their display text. "Calcinosis" alone
  (e.g. tumoral calcinosis) does not count; it is noted.
* **Calciphylaxis** (a calcinosis cutis, subtype ``calciphylaxis``): text
  "calciphylaxis" or "calcific uremic (uraemic) arteriolopathy". ICD-10-CM
  ``E83.59`` (other disorders of calcium metabolism) counts only together with
  such text; alone it is noted and not counted.
* **Underlying disease**: ICD-10-CM ``M34.*`` -> systemic-sclerosis, ``M33.0*``
  -> juvenile-dermatomyositis, ``M33.1*``/``M33.9*`` -> dermatomyositis,
  ``M33.2*`` polymyositis -> other (noted: not DM), ``M32.*`` ->
  systemic-lupus-erythematosus, ``M35.1`` -> mixed-connective-tissue-disease;
  SNOMED CT ``89155008`` systemic sclerosis, ``396230008`` dermatomyositis,
  ``1212005`` juvenile dermatomyositis; text "systemic sclerosis",
  "scleroderma" (not localized/linear scleroderma or morphea), "CREST
  syndrome", "juvenile dermatomyositis", "dermatomyositis",
  "dermatopolymyositis", "polymyositis", "systemic lupus (erythematosus)",
  "lupus nephritis", "mixed connective tissue disease", "MCTD". Several: juvenile
  DM wins over DM; of different diseases the one the safety rules depend on
  (systemic sclerosis) is kept, then JDM, DM, MCTD, SLE, and all are noted. None
  coded: the field stays absent ("unknown"), never "none".
* **Subtype**: calciphylaxis when coded as above; "dystrophic" when calcinosis
  cutis and an autoimmune connective tissue disease (SSc, DM, JDM, SLE, MCTD)
  are coded and no kidney disease is (CKD or ESKD make a metabolic cause
  possible); otherwise absent (metastatic, idiopathic and iatrogenic are never
  guessed).
* **Age** from ``birthDate`` in completed years. Partial dates take the
  *youngest* possible age (born on the last day of that month or year) so that
  an age limit (minocycline under 9) is never missed. No, or an unusable,
  birthDate: no ``age_years`` (noted).
* **Sex**: ``gender`` female, male, other or unknown.
* **Conditions**: cardiac-conduction-abnormality ``I44.*``, ``I45.*``,
  ``I49.5`` (sick sinus syndrome); reduced-ventricular-function ``I50.2*``,
  ``I50.4*`` (other heart failure codes, e.g. ``I50.9``, are noted, not assumed);
  interstitial-lung-disease ``J84.*``; chronic-kidney-disease ``N18.1``-``N18.5``,
  ``N18.9``; end-stage-kidney-disease ``N18.6``; pregnancy ``Z33.1``, ``Z3A.*``
  and ``O00``-``O9A``; plus plain text ("atrioventricular block", "HFrEF",
  "interstitial lung disease", "end-stage renal disease", "pregnancy", ...).
  Raynaud ``I73.0*`` or text "Raynaud" -> ``raynaud: true`` (never false).
* **Medications**: MedicationRequests that are not stopped, cancelled,
  completed or entered-in-error (nor ``doNotPerform``), and MedicationStatements
  that are active, intended, on-hold or unknown. Medication resources are read
  only as the targets of ``medicationReference`` (contained or in the same
  input). Catalog ids (drugs of ``kb.therapy_ids()`` only): by RxNorm ingredient
  code where verified (warfarin, rituximab, infliximab, adalimumab, verapamil,
  methotrexate), otherwise by the catalog's names, synonyms and identifiers
  found in the medication's text, displays and ingredients (whole words,
  longest first; "Diltiazem Hydrochloride 120 MG ..." -> diltiazem). Sodium
  thiosulfate without a route in its name is mapped by its route (intravenous,
  topical, intralesional); with no or several routes it stays unmapped. The rest
  is listed as unmapped.
* **Draft orders**: :func:`order_reasons` lists a MedicationRequest's
  ``reasonCode`` (lower-cased text and displays, ``system|code``);
  :func:`is_calcinosis_reason` is true when a reasonCode, or a Condition its
  ``reasonReference`` resolves to (contained, or among ``conditions``), or the
  reference's display, names calcinosis cutis or calciphylaxis by the rules
  above.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from pydantic import BaseModel, ValidationError

from calcinosis.errors import field_path
from calcinosis.evidence import KnowledgeBase, load_knowledge

__all__ = [
    "ICD10CM",
    "RXNORM",
    "SNOMED",
    "FhirFindings",
    "findings_from_fhir",
    "is_calcinosis_reason",
    "medication_ids",
    "order_reasons",
    "resources",
]

ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

_MODELS: Final[dict[str, type[BaseModel]]] = {
    "Patient": Patient,
    "Condition": Condition,
    "MedicationRequest": MedicationRequest,
    "MedicationStatement": MedicationStatement,
    "Medication": Medication,
    "Observation": Observation,
}
_ELISION: Final = "..."

# RxNorm codes, each checked against a public listing: warfarin's (ingredient,
# precise ingredients, brands) in the HL7 PDDI CDS IG value set
# "valueset-warfarin"; rituximab in an OMOP RxNorm codeset (PEDSnet);
# infliximab, adalimumab, verapamil and methotrexate in a drug-interaction table
# keyed by RxCUI. Diltiazem, minocycline and colchicine could not be checked:
# they are recognised by name (RxNorm names always start with the ingredient).
_RXNORM_IDS: Final[dict[str, str]] = {
    "11289": "warfarin",
    "114194": "warfarin",  # warfarin sodium
    "82118": "warfarin",  # warfarin potassium
    "202421": "warfarin",  # Coumadin
    "405155": "warfarin",  # Jantoven
    "121191": "rituximab",
    "191831": "infliximab",
    "327361": "adalimumab",
    "11170": "verapamil",
    "6851": "methotrexate",
}

_ACTIVE_CLINICAL: Final = frozenset({"active", "recurrence", "relapse"})
_EXCLUDED_VERIFICATION: Final = frozenset({"refuted", "entered-in-error"})
_REQUEST_EXCLUDED: Final = frozenset({"stopped", "cancelled", "completed", "entered-in-error"})
_STATEMENT_CURRENT: Final = frozenset({"active", "intended", "on-hold", "unknown"})
_GENDERS: Final = frozenset({"female", "male", "other", "unknown"})

_AUTOIMMUNE: Final = (
    "systemic-sclerosis",
    "juvenile-dermatomyositis",
    "dermatomyositis",
    "mixed-connective-tissue-disease",
    "systemic-lupus-erythematosus",
)  # also the order of preference when several are coded


@dataclass(frozen=True)
class FhirFindings:
    """What the FHIR data say about calcinosis cutis, and the profile they give."""

    has_calcinosis: bool
    subtype: str | None
    profile: dict[str, Any]
    notes: tuple[str, ...]
    unmapped_medications: tuple[str, ...]


# ------------------------------------------------------------------ text helpers


def _words(*phrases: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternatives; spaces match spaces or hyphens."""
    parts = [re.escape(p).replace(r"\ ", r"[\s\-]+") for p in phrases]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])", re.IGNORECASE)


_CALCINOSIS_TEXT: Final = _words("calcinosis cutis", "cutaneous calcinosis")
_CALCIPHYLAXIS_TEXT: Final = _words(
    "calciphylaxis", "calcific uremic arteriolopathy", "calcific uraemic arteriolopathy"
)
_CALCINOSIS_ANY: Final = _words("calcinosis")
_LOCALIZED_SCLERODERMA: Final = re.compile(
    r"(?<![a-z])(?:locali[sz]ed|linear|circumscribed)\s+scleroderma|morph(?:o)?ea", re.IGNORECASE
)
_DISEASE_TEXT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("systemic-sclerosis", _words("systemic sclerosis", "crest syndrome")),
    ("systemic-sclerosis-scleroderma", _words("scleroderma")),
    ("juvenile-dermatomyositis", _words("juvenile dermatomyositis")),
    ("dermatomyositis", _words("dermatomyositis", "dermatopolymyositis")),
    ("polymyositis", _words("polymyositis")),
    ("systemic-lupus-erythematosus", _words("systemic lupus", "lupus nephritis")),
    ("mixed-connective-tissue-disease", _words("mixed connective tissue disease", "mctd")),
)
_CONDITION_TEXT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "cardiac-conduction-abnormality",
        _words(
            "atrioventricular block",
            "av block",
            "heart block",
            "bundle branch block",
            "fascicular block",
            "conduction disorder",
            "sick sinus syndrome",
            "wolff parkinson white",
        ),
    ),
    (
        "reduced-ventricular-function",
        _words("hfref", "reduced ejection fraction", "systolic heart failure"),
    ),
    (
        "interstitial-lung-disease",
        _words("interstitial lung disease", "pulmonary fibrosis", "interstitial pneumonitis"),
    ),
    (
        "end-stage-kidney-disease",
        _words(
            "end stage renal disease",
            "end stage kidney disease",
            "end stage renal failure",
            "esrd",
            "eskd",
        ),
    ),
    ("chronic-kidney-disease", _words("chronic kidney disease", "ckd")),
    ("pregnancy", _words("pregnancy", "pregnant")),
    ("breastfeeding", _words("breastfeeding", "breast feeding", "lactating", "lactation")),
)
_RAYNAUD_TEXT: Final = re.compile(r"raynaud", re.IGNORECASE)
_ROUTES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("iv", _words("intravenous", "intravenously", "iv", "i.v.")),
    ("topical", _words("topical", "topically", "cutaneous", "cream", "ointment", "gel")),
    ("intralesional", _words("intralesional", "intra lesional", "intradermal")),
)
_STS_TEXT: Final = _words("sodium thiosulfate", "sodium thiosulphate")
_SMBS_TEXT: Final = _words("sodium metabisulfite", "sodium metabisulphite")
_STS_BY_ROUTE: Final = {
    "iv": "sodium-thiosulfate-iv",
    "topical": "sodium-thiosulfate-topical",
    "intralesional": "sodium-thiosulfate-intralesional",
}
_STS_FAMILY: Final = frozenset(
    {
        "sodium-thiosulfate-iv",
        "sodium-thiosulfate-topical",
        "sodium-thiosulfate-intralesional",
        "prp-with-intralesional-sts",
        "sodium-metabisulfite-topical",
    }
)


def _dicts(value: object) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _concept(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _texts(concept: Mapping[str, Any]) -> list[str]:
    """A CodeableConcept's text and its codings' displays."""
    found = [_str(concept.get("text"))]
    found += [_str(coding.get("display")) for coding in _dicts(concept.get("coding"))]
    return [text for text in found if text is not None]


def _codes(concept: Mapping[str, Any], system: str) -> list[str]:
    return [
        code
        for coding in _dicts(concept.get("coding"))
        if coding.get("system") == system and (code := _str(coding.get("code"))) is not None
    ]


def _icd(concept: Mapping[str, Any]) -> list[str]:
    """ICD-10-CM codes, upper case and dotted (``l942`` -> ``L94.2``)."""
    found = []
    for raw in _codes(concept, ICD10CM):
        code = raw.strip().upper().replace(" ", "")
        if "." not in code and len(code) > 3:
            code = code[:3] + "." + code[3:]
        found.append(code)
    return found


def _label(concept: Mapping[str, Any]) -> str:
    """How a concept is named in the notes: its text, and its codes."""
    texts = _texts(concept)
    codes = [
        f"{_system_name(str(c.get('system')))} {c.get('code')}"
        for c in _dicts(concept.get("coding"))
        if _str(c.get("code")) is not None
    ]
    name = repr(texts[0]) if texts else "(no text)"
    return f"{name} ({', '.join(codes)})" if codes else name


def _system_name(system: str) -> str:
    return {ICD10CM: "ICD-10-CM", SNOMED: "SNOMED CT", RXNORM: "RxNorm"}.get(system, system)


def _status_code(concept: object, system: str) -> str | None:
    for coding in _dicts(_concept(concept).get("coding")):
        if coding.get("system") in (system, None) and (code := _str(coding.get("code"))):
            return code
    return None


def _reference_id(reference: object, resource_type: str) -> str | None:
    """``Patient/123``, ``https://x/fhir/Patient/123/_history/2`` -> ``123``."""
    text = _str(_concept(reference).get("reference"))
    if text is None:
        return None
    match = re.search(rf"(?:^|/){resource_type}/([A-Za-z0-9\-.]{{1,64}})(?:/_history/.*)?$", text)
    return match.group(1) if match else None


# ------------------------------------------------------------- reading resources


def resources(value: object) -> list[dict[str, Any]]:
    """A prefetch value -> its resources.

    A Bundle gives its entries' resources, a single resource itself; an
    OperationOutcome, ``None`` or anything that is not a resource gives ``[]``.
    The resources are not validated here (the readers below do it).
    """
    return _collect(value, [], "value")


def _collect(value: object, notes: list[str], label: str) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [resource for item in value for resource in _collect(item, notes, label)]
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        kind = value["resourceType"]
        if kind == "OperationOutcome":
            notes.append(f"{label}: the EHR returned an OperationOutcome{_outcome(value)}.")
            return []
        return _bundle_entries(value, notes, label) if kind == "Bundle" else [value]
    if value is None:
        notes.append(f"{label}: no data (null): nothing read from it.")
    elif isinstance(value, dict):
        notes.append(f"{label}: a JSON object without resourceType was ignored.")
    else:
        what = f"unresolved {value!r}" if isinstance(value, str) else type(value).__name__
        notes.append(f"{label}: not a FHIR resource ({what[:80]}): nothing read from it.")
    return []


def _outcome(value: Mapping[str, Any]) -> str:
    try:
        outcome = OperationOutcome.model_validate(_strip_elision(value))
    except (ValueError, TypeError):
        return ""
    said = [
        issue.diagnostics or (issue.details.text if issue.details else None) or issue.code
        for issue in outcome.issue or []
    ]
    return f" ({'; '.join(str(s) for s in said if s)})" if any(said) else ""


def _bundle_entries(
    bundle: Mapping[str, Any], notes: list[str], label: str
) -> list[dict[str, Any]]:
    entries = _dicts(bundle.get("entry"))
    shell = {k: v for k, v in _strip_elision(bundle).items() if k != "entry"}
    shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} for e in entries]
    try:
        Bundle.model_validate(shell)
    except (ValueError, TypeError) as exc:
        notes.append(
            f"{label}: the Bundle is not valid FHIR R4 ({_first_error(exc)}); "
            "its entries are read one by one."
        )
    found: list[dict[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        if _concept(entry.get("search")).get("mode") == "outcome":
            notes.append(f"{label}: the search returned an OperationOutcome{_outcome(resource)}.")
            continue
        found += _collect(resource, notes, label)
    return found


def _strip_elision(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_elision(v) for k, v in value.items() if k != _ELISION}
    if isinstance(value, list):
        return [_strip_elision(v) for v in value]
    return value


def _has_elision(value: object) -> bool:
    if isinstance(value, dict):
        return _ELISION in value or any(_has_elision(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_elision(v) for v in value)
    return False


def _has_modifier(value: object) -> bool:
    if isinstance(value, dict):
        if value.get("modifierExtension") or value.get("implicitRules"):
            return True
        return any(_has_modifier(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_modifier(v) for v in value)
    return False


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            error = errors[0]
            where = field_path(error["loc"], "resource")
            more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
            return f"{where}: {error['msg']}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _name(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resourceType", "resource")
    ident = _str(resource.get("id"))
    return f"{kind}/{ident}" if ident else f"{kind} (no id)"


def _repair(data: dict[str, Any], error: Mapping[str, Any]) -> str | None:
    """Repair one harmless validation error in place; say what was done, or None.

    Two repairs only: an unknown element nested in the resource is dropped (not
    at the top level, where the modifier elements live), and a single object or
    value where FHIR wants an array is wrapped in one.
    """
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind = error["type"]
    repairable = kind == "list_type" or (kind == "extra_forbidden" and len(loc) > 1)
    node: Any = data
    for part in loc[:-1] if repairable and loc else ():
        found = (isinstance(node, dict) and isinstance(part, str) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return None
        node = node[part]
    last = loc[-1] if loc else None
    if not (repairable and isinstance(node, dict) and isinstance(last, str) and last in node):
        return None
    path = field_path(loc)
    if kind == "extra_forbidden":
        del node[last]
        return f"unknown element {path} ignored (not FHIR R4)"
    if isinstance(node[last], list):
        return None
    node[last] = [node[last]]
    return f"{path} read as a list of one (FHIR JSON wants an array)"


def _parse(resource: object, notes: list[str]) -> dict[str, Any] | None:
    """A validated resource as FHIR JSON, or None (noted) when it cannot be used."""
    if not isinstance(resource, dict):
        return None
    kind = resource.get("resourceType")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    name = _name(resource)
    if model is None:
        notes.append(f"{name}: not a resource this service reads; ignored.")
        return None
    if _has_modifier(resource):
        notes.append(
            f"{name}: skipped: it carries a modifierExtension or implicitRules that this "
            "service does not understand (FHIR forbids reading it without them)."
        )
        return None
    data = _strip_elision(resource)
    if _has_elision(resource):
        notes.append(f'{name}: the "..." (snipped) marker was ignored.')
    repairs: list[str] = []
    for _attempt in range(4):
        try:
            model.model_validate(data)
        except (ValueError, TypeError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else []
            done = [_repair(data, error) for error in errors] if _attempt < 3 else []
            if errors and all(done):
                repairs += [str(d) for d in done]
                continue
            notes.append(f"{name}: skipped: not valid FHIR R4 ({_first_error(exc)}).")
            return None
        notes += [f"{name}: {repair}." for repair in repairs]
        # Valid FHIR R4 as it stands (after the noted repairs): read the JSON itself, not
        # the model, which coerces and rewrites values (module docstring).
        validated: dict[str, Any] = data
        return validated
    return None  # pragma: no cover - the loop returns or skips on its last turn


# ------------------------------------------------------------------ conditions


def _calcinosis_kind(concept: Mapping[str, Any]) -> str | None:
    """What one CodeableConcept names: "calciphylaxis", "calcinosis" (cutis) or None."""
    texts = " | ".join(_texts(concept))
    if _CALCIPHYLAXIS_TEXT.search(texts):
        return "calciphylaxis"
    if "L94.2" in _icd(concept) or _CALCINOSIS_TEXT.search(texts):
        return "calcinosis"
    return None


# ICD-10-CM code prefixes, first match wins (the codes are dotted: "M33.02").
_ICD_DISEASES: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("M34",), "systemic-sclerosis"),
    (("M33.0",), "juvenile-dermatomyositis"),
    (("M33.1", "M33.9"), "dermatomyositis"),
    (("M33.2",), "polymyositis"),
    (("M32",), "systemic-lupus-erythematosus"),
    (("M35.1",), "mixed-connective-tissue-disease"),
)
_SNOMED_DISEASES: Final = {
    "89155008": "systemic-sclerosis",
    "396230008": "dermatomyositis",
    "1212005": "juvenile-dermatomyositis",
}
_ICD_CONDITIONS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("I44", "I45", "I49.5"), "cardiac-conduction-abnormality"),
    (("I50.2", "I50.4"), "reduced-ventricular-function"),
    (("I50",), "heart-failure-other"),  # noted, not mapped
    (("J84",), "interstitial-lung-disease"),
    (("N18.1", "N18.2", "N18.3", "N18.4", "N18.5", "N18.9"), "chronic-kidney-disease"),
    (("N18.6",), "end-stage-kidney-disease"),
    (("Z33.1", "Z3A", "O9A"), "pregnancy"),
    (("I73.0",), "raynaud"),
)


def _by_prefix(code: str, table: tuple[tuple[tuple[str, ...], str], ...]) -> str | None:
    for prefixes, name in table:
        if code.startswith(prefixes):
            return name
    return None


def _diseases(concept: Mapping[str, Any]) -> set[str]:
    """Autoimmune diseases (and "polymyositis") a concept names."""
    found = {d for code in _icd(concept) if (d := _by_prefix(code, _ICD_DISEASES))}
    found |= {_SNOMED_DISEASES[c] for c in _codes(concept, SNOMED) if c in _SNOMED_DISEASES}
    for text in _texts(concept):
        for name, pattern in _DISEASE_TEXT:
            if not pattern.search(text):
                continue
            if name != "systemic-sclerosis-scleroderma":
                found.add(name)
            elif not _LOCALIZED_SCLERODERMA.search(text):
                found.add("systemic-sclerosis")
    if "juvenile-dermatomyositis" in found:
        found.discard("dermatomyositis")
    return found


def _conditions(concept: Mapping[str, Any], notes: list[str], label: str) -> set[str]:
    """Profile ``conditions`` (and "raynaud") a concept names."""
    found = {c for code in _icd(concept) if (c := _by_prefix(code, _ICD_CONDITIONS))}
    if any(re.fullmatch(r"O\d\d(?:\..*)?", code) for code in _icd(concept)):
        found.add("pregnancy")  # chapter 15, O00-O99 (O9A is in the table)
    if "heart-failure-other" in found:
        found.discard("heart-failure-other")
        notes.append(
            f"{label}: heart failure without a reduced-ejection-fraction code; "
            "reduced ventricular function not assumed."
        )
    for text in _texts(concept):
        named = {name for name, pattern in _CONDITION_TEXT if pattern.search(text)}
        if _RAYNAUD_TEXT.search(text):
            named.add("raynaud")
        found |= named
    return found


def _counts(condition: Mapping[str, Any], notes: list[str], label: str) -> bool:
    """Whether a Condition is current and not refuted (noted when not)."""
    verification = _status_code(condition.get("verificationStatus"), _VERIFICATION)
    if verification in _EXCLUDED_VERIFICATION:
        notes.append(f"{label}: verification status {verification}; ignored.")
        return False
    clinical = _status_code(condition.get("clinicalStatus"), _CLINICAL)
    if clinical is None:
        notes.append(f"{label}: no clinical status; not counted (confirm whether it is current).")
        return False
    if clinical not in _ACTIVE_CLINICAL:
        notes.append(f"{label}: clinical status {clinical}; not counted.")
        return False
    if verification not in (None, "confirmed"):
        notes.append(f"{label}: verification status {verification}; counted.")
    return True


# ------------------------------------------------------------------ medications


@dataclass(frozen=True)
class _Phrase:
    pattern: re.Pattern[str]
    length: int
    treatment: str


@cache
def _catalog(names: tuple[tuple[str, str], ...]) -> tuple[_Phrase, ...]:
    """The drug catalog's names (``KnowledgeBase.drug_names``) as patterns, longest first."""
    return tuple(_Phrase(_words(name), len(name), treatment) for name, treatment in names)


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
        for c in _dicts(concept.get("coding"))
        if (code := _str(c.get("code"))) is not None
    )
    return _Drug(tuple(_texts(concept)), codes)


def _medication_drug(medication: Mapping[str, Any]) -> _Drug:
    main = _drug(_concept(medication.get("code")))
    names, codes = list(main.names), list(main.codes)
    for ingredient in _dicts(medication.get("ingredient")):
        if ingredient.get("isActive") is False:  # an excipient (e.g. sodium metabisulfite)
            continue
        part = _drug(_concept(ingredient.get("itemCodeableConcept")))
        names += part.names
        codes += part.codes
    return _Drug(tuple(names), tuple(codes))


def _route_texts(resource: Mapping[str, Any]) -> list[str]:
    dosages = _dicts(resource.get("dosageInstruction")) + _dicts(resource.get("dosage"))
    return [text for d in dosages for text in _texts(_concept(d.get("route")))]


def _map_drug(
    drug: _Drug, routes: list[str], catalog: tuple[_Phrase, ...], notes: list[str], label: str
) -> set[str]:
    found = {
        _RXNORM_IDS[code] for system, code in drug.codes if system == RXNORM and code in _RXNORM_IDS
    }
    for name in drug.names:
        found |= _match_names(name, catalog)
    joined = " | ".join(drug.names)
    if not found & _STS_FAMILY and (_STS_TEXT.search(joined) or _SMBS_TEXT.search(joined)):
        said = {
            route
            for route, pattern in _ROUTES
            for text in (*routes, *drug.names)
            if pattern.search(text)
        }
        if _SMBS_TEXT.search(joined) and not _STS_TEXT.search(joined):
            if said == {"topical"}:
                found.add("sodium-metabisulfite-topical")
            else:
                notes.append(f"{label}: sodium metabisulfite not stated topical; not mapped.")
        elif len(said) == 1:
            found.add(_STS_BY_ROUTE[next(iter(said))])
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
            notes.append(f"{_name(resource)}: not a medication resource; ignored.")
            continue
        data = _parse(resource, notes)
        if data is not None and kind == "Medication":
            if (ident := _str(data.get("id"))) is not None:
                library[f"Medication/{ident}"] = data
        elif data is not None:
            readable.append(data)
        elif kind != "Medication":
            unreadable.append(f"{_name(resource)} (unreadable; not evaluated)")
    return readable, unreadable, library


def _is_current(data: Mapping[str, Any], patient_id: str | None, notes: list[str]) -> bool:
    label = _name(data)
    subject = _reference_id(data.get("subject"), "Patient")
    if patient_id is not None and subject is not None and subject != patient_id:
        notes.append(f"{label}: for another patient (Patient/{subject}); ignored.")
        return False
    status = _str(data.get("status"))
    if data.get("resourceType") == "MedicationRequest":
        current = status not in _REQUEST_EXCLUDED and data.get("doNotPerform") is not True
    else:
        current = status in _STATEMENT_CURRENT
    if not current:
        why = "doNotPerform" if data.get("doNotPerform") is True else f"status {status}"
        notes.append(f"{label}: {why}; not a current medication.")
    elif status == "unknown":
        notes.append(f"{label}: status unknown; counted as current (confirm).")
    return current


def _medications(
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
        label = _name(data)
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
    reference = _concept(data.get("medicationReference"))
    target = _str(reference.get("reference"))
    display = _str(reference.get("display"))
    medication: Mapping[str, Any] | None = None
    if target is not None and target.startswith("#"):
        for contained in _dicts(data.get("contained")):
            if contained.get("resourceType") == "Medication" and contained.get("id") == target[1:]:
                medication = contained
    elif (ident := _reference_id(reference, "Medication")) is not None:
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
    return _medications(list(resources), [], kb or load_knowledge())


# ------------------------------------------------------------------ the patient


def _age(birth: str, today: date, notes: list[str]) -> int | None:
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", birth.strip())
    if match is None:
        notes.append(f"birthDate {birth!r} is not a date; no age (complete the assessment).")
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    try:
        if month is None:
            youngest = date(year, 12, 31)
        elif day is None:
            youngest = date(year, month, calendar.monthrange(year, month)[1])
        else:
            youngest = date(year, month, day)
    except ValueError:
        notes.append(f"birthDate {birth!r} is not a valid date; no age (complete the assessment).")
        return None
    earliest = date(year, month or 1, 1 if day is None else day)
    if earliest > today:
        notes.append(f"birthDate {birth} is after {today}; no age (complete the assessment).")
        return None
    youngest = min(youngest, today)
    age = today.year - youngest.year - ((today.month, today.day) < (youngest.month, youngest.day))
    if age > 120:
        notes.append(f"birthDate {birth} gives an age over 120; no age (complete the assessment).")
        return None
    if day is None:
        oldest = today.year - earliest.year - ((today.month, today.day) < (earliest.month, 1))
        notes.append(
            f"birthDate {birth} is partial: age taken as {age}, the youngest possible "
            f"(up to {oldest}), so that age limits are not missed."
        )
    else:
        notes.append(f"Age {age} from birthDate {birth} (on {today}).")
    return age


def _patient(value: object, notes: list[str], today: date, profile: dict[str, Any]) -> str | None:
    """Fill age and sex; return the Patient's id (to check the other resources)."""
    found = [r for r in _collect(value, notes, "patient") if r.get("resourceType") == "Patient"]
    if len(found) > 1:
        notes.append("patient: several Patient resources; none used (complete the assessment).")
        return None
    data = _parse(found[0], notes) if found else None
    if data is None:
        notes.append("No usable Patient: no age or sex (complete the assessment).")
        return None
    birth = _str(data.get("birthDate"))
    if birth is None:
        notes.append("The Patient has no birthDate: no age (complete the assessment).")
    elif (age := _age(birth, today, notes)) is not None:
        profile["age_years"] = age
    gender = _str(data.get("gender"))
    if gender in _GENDERS:
        profile["sex"] = gender
    elif gender is not None:
        notes.append(f"Patient gender {gender!r} is not a FHIR code; sex not mapped.")
    if data.get("deceasedBoolean") is True or _str(data.get("deceasedDateTime")):
        notes.append("The Patient is recorded as deceased.")
    return _str(data.get("id"))


def _read_conditions(
    value: object, patient_id: str | None, notes: list[str]
) -> tuple[bool, bool, dict[str, list[str]], set[str]]:
    """(calcinosis cutis, calciphylaxis, diseases -> the Conditions naming them, conditions)."""
    calcinosis = calciphylaxis = False
    diseases: dict[str, list[str]] = {}
    found: set[str] = set()
    for resource in _collect(value, notes, "conditions"):
        if resource.get("resourceType") != "Condition":
            notes.append(f"{_name(resource)}: not a Condition; ignored.")
            continue
        data = _parse(resource, notes)
        if data is None:
            continue
        concept = _concept(data.get("code"))
        label = f"Condition {_label(concept)}"
        subject = _reference_id(data.get("subject"), "Patient")
        if patient_id is not None and subject is not None and subject != patient_id:
            notes.append(f"{label}: for another patient (Patient/{subject}); ignored.")
            continue
        if not _counts(data, notes, label):
            continue
        kind = _calcinosis_kind(concept)
        calciphylaxis |= kind == "calciphylaxis"
        calcinosis |= kind == "calcinosis"
        if kind is not None:
            notes.append(f"{label} -> {kind.replace('calcinosis', 'calcinosis cutis')}.")
        elif "E83.59" in _icd(concept):
            notes.append(f"{label}: E83.59 without a calciphylaxis diagnosis; not counted.")
        elif any(_CALCINOSIS_ANY.search(text) for text in _texts(concept)):
            notes.append(f"{label}: calcinosis, but not said to be of the skin; not counted.")
        for disease in _diseases(concept):
            diseases.setdefault(disease, []).append(label)
        for condition in sorted(_conditions(concept, notes, label) - found):
            notes.append(f"{label} -> {condition}.")
            found.add(condition)
    return calcinosis, calciphylaxis, diseases, found


# --------------------------------------------------------- body weight and height
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
# LOINC code -> (profile field, {UCUM code or unit text: factor to kg or cm}, range)
_MEASURES: Final[dict[str, tuple[str, dict[str, float], tuple[float, float]]]] = {
    "29463-7": (
        "weight_kg",
        {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237},
        (0.3, 400.0),
    ),
    "8302-2": (
        "height_cm",
        {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54},
        (20.0, 250.0),
    ),
}
_OBSERVATION_FINAL: Final = ("final", "amended", "corrected")


def _measure(data: Mapping[str, Any], notes: list[str]) -> tuple[str, float, str] | None:
    """(profile field, value in kg or cm, when) of a body weight or height Observation."""
    label = _name(data)
    codes = [c for c in _codes(_concept(data.get("code")), LOINC) if c in _MEASURES]
    if not codes:
        notes.append(f"{label}: not a body weight (LOINC 29463-7) or height (8302-2); ignored.")
        return None
    field, factors, (low, high) = _MEASURES[codes[0]]
    if _str(data.get("status")) not in _OBSERVATION_FINAL:
        notes.append(f"{label}: status {data.get('status')}; not used.")
        return None
    quantity = _concept(data.get("valueQuantity"))
    value = quantity.get("value")
    unit = _str(quantity.get("code")) or _str(quantity.get("unit"))
    if quantity.get("system") not in (None, UCUM):
        unit = _str(quantity.get("unit"))
    if isinstance(value, bool) or not isinstance(value, int | float) or unit not in factors:
        notes.append(f"{label}: no value in a unit this service converts ({unit}); not used.")
        return None
    converted = float(value) * factors[unit]
    if not low <= converted <= high:
        notes.append(f"{label}: {value} {unit} is out of range for {field}; not used.")
        return None
    when = _str(data.get("effectiveDateTime")) or _str(data.get("issued")) or ""
    return field, round(converted, 1), when


def _body_measures(
    value: object, patient_id: str | None, notes: list[str], profile: dict[str, Any]
) -> None:
    """The latest valid body weight and height of the patient, converted to kg and cm."""
    latest: dict[str, tuple[str, float]] = {}
    for resource in _collect(value, notes, "observations"):
        data = _parse(resource, notes)
        if data is None or data.get("resourceType") != "Observation":
            continue
        subject = _reference_id(data.get("subject"), "Patient")
        if patient_id is not None and subject is not None and subject != patient_id:
            notes.append(f"{_name(data)}: for another patient (Patient/{subject}); ignored.")
            continue
        found = _measure(data, notes)
        if found is not None:
            field, measured, when = found
            if field not in latest or when > latest[field][0]:
                latest[field] = (when, measured)
    for field, (when, measured) in sorted(latest.items()):
        profile[field] = measured
        notes.append(f"{field} {measured:g} from an Observation{f' of {when}' if when else ''}.")


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
    patient_id = _patient(patient, notes, today or date.today(), profile)
    if observations is not None:
        _body_measures(observations, patient_id, notes, profile)
    calcinosis, calciphylaxis, diseases, found = _read_conditions(conditions, patient_id, notes)
    disease = _underlying(diseases, notes)
    if disease is not None:
        profile["underlying_disease"] = disease
    subtype = _subtype(calciphylaxis, calcinosis, disease, found, notes)
    if subtype is not None:
        profile["subtype"] = subtype
    if "raynaud" in found:
        profile["raynaud"] = True
    profile["conditions"] = sorted(found - {"raynaud"})
    medication_resources = _collect(medications, notes, "medications")
    ids, unmapped = _medications(medication_resources, notes, kb or load_knowledge(), patient_id)
    profile["medications"] = ids
    has_calcinosis = calcinosis or calciphylaxis
    if not has_calcinosis:
        notes.append("No current calcinosis cutis or calciphylaxis diagnosis in the Conditions.")
    return FhirFindings(has_calcinosis, subtype, profile, tuple(notes), tuple(unmapped))


def _underlying(diseases: Mapping[str, list[str]], notes: list[str]) -> str | None:
    autoimmune = [d for d in _AUTOIMMUNE if d in diseases]
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
    if disease not in _AUTOIMMUNE:
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


# ------------------------------------------------------------------ draft orders


def order_reasons(resource: dict[str, Any]) -> list[str]:
    """A draft order's reasonCode: lower-cased texts and displays, and ``system|code``."""
    data = _parse(resource, [])
    if data is None:
        return []
    found: list[str] = []
    for concept in _dicts(data.get("reasonCode")):
        found += [text.lower() for text in _texts(concept)]
        found += [
            f"{coding.get('system') or ''}|{code}"
            for coding in _dicts(concept.get("coding"))
            if (code := _str(coding.get("code"))) is not None
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
    data = _parse(resource, [])
    if data is None:
        return False
    if any(_calcinosis_kind(concept) for concept in _dicts(data.get("reasonCode"))):
        return True
    known = {
        f"Condition/{c.get('id')}": c
        for c in conditions
        if isinstance(c, dict) and c.get("resourceType") == "Condition"
    }
    contained = {
        f"#{c.get('id')}": c
        for c in _dicts(data.get("contained"))
        if c.get("resourceType") == "Condition"
    }
    for reference in _dicts(data.get("reasonReference")):
        target = _str(reference.get("reference")) or ""
        ident = _reference_id(reference, "Condition")
        condition = contained.get(target) or (known.get(f"Condition/{ident}") if ident else None)
        if condition is not None:
            parsed = _parse(condition, [])
            if parsed is None:
                continue
            status = _status_code(parsed.get("verificationStatus"), _VERIFICATION)
            if status not in _EXCLUDED_VERIFICATION and _calcinosis_kind(
                _concept(parsed.get("code"))
            ):
                return True
            continue
        display = _str(reference.get("display"))
        if display is not None and _calcinosis_kind({"text": display}):
            return True
    return False
