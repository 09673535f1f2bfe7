"""The patient profile: what a clinician tells the engine (DESIGN.md, ``recommend``).

Strict: unknown fields, wrong types, out-of-range values, unknown enum values
and unknown treatment identifiers are rejected with a :class:`ProfileError`
naming the field (and the valid choices). What a clinician may not know is
optional (``None``); the engine says which assumption it made for each.

Bounded: each list holds at most ``MAX_LIST_ITEMS`` (50) entries and each
treatment identifier at most ``MAX_ID_LENGTH`` (64) characters, and an object
with more keys than the model has fields reports only its first unknown one, so
that no profile costs more than a few errors to refuse.
"""

# No `from __future__ import annotations` here: pydantic then takes these models' annotations
# as objects instead of strings it must evaluate (callgrind: ~0.03 G of every process).

import difflib
import json
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from calcinosis.datafiles import read_data
from calcinosis.errors import ProfileError, field_path
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, load_knowledge
from calcinosis.evidence.names import check_profile_diseases

__all__ = [
    "CONDITIONS",
    "DISEASES",
    "MAX_ID_LENGTH",
    "MAX_LIST_ITEMS",
    "RESPONSES",
    "SUBTYPES",
    "Lesions",
    "Patient",
    "PriorTreatment",
    "one_unknown_field",
    "parse_patient",
    "parse_patient_json",
]

MAX_LIST_ITEMS = 50  # conditions, medications, prior_treatments: each at most this many
MAX_ID_LENGTH = 64  # a treatment identifier (the longest is about half of it)

Subtype = Literal["dystrophic", "metastatic", "idiopathic", "iatrogenic", "calciphylaxis"]
Disease = Literal[
    "systemic-sclerosis",
    "dermatomyositis",
    "juvenile-dermatomyositis",
    "systemic-lupus-erythematosus",
    "mixed-connective-tissue-disease",
    "other",
    "none",
    "unknown",
]
Condition = Literal[
    "cardiac-conduction-abnormality",
    "reduced-ventricular-function",
    "interstitial-lung-disease",
    "chronic-kidney-disease",
    "end-stage-kidney-disease",
    "pregnancy",
    "breastfeeding",
]
Response = Literal["none", "partial", "complete", "intolerant"]

SUBTYPES: tuple[str, ...] = Subtype.__args__  # type: ignore[attr-defined]
DISEASES: tuple[str, ...] = Disease.__args__  # type: ignore[attr-defined]
CONDITIONS: tuple[str, ...] = Condition.__args__  # type: ignore[attr-defined]
RESPONSES: tuple[str, ...] = Response.__args__  # type: ignore[attr-defined]
check_profile_diseases(DISEASES)  # knowledge/names.yaml names these, in this order


def one_unknown_field(data: object, fields: Collection[str]) -> object:
    """``data`` with, when it has more keys than ``fields``, only the first of its
    unknown keys kept: one error to report instead of one per key."""
    if isinstance(data, dict) and len(data) > len(fields):
        unknown = next(key for key in data if key not in fields)
        kept = {key: value for key, value in data.items() if key in fields}
        return kept | {unknown: data[unknown]}
    return data


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: object) -> object:
        return one_unknown_field(data, cls.model_fields)


def _integral(value: object) -> object:
    """35.0 is an integer in JSON (Schema); 35.5 and "35" stay what they are (rejected)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Lesions(_Strict):
    count: Annotated[int | None, BeforeValidator(_integral)] = Field(default=None, ge=0, le=10_000)
    largest_cm: float | None = Field(default=None, gt=0, le=100)
    distribution: Literal["localized", "widespread"] | None = None
    digital: bool | None = None


TreatmentId = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
OtherCondition = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
OtherMedication = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
_CONDITION_WORD = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Words that say an unknown condition may be one a safety rule reads: refused, naming the
# condition meant, never taken as "another condition" (which no rule reads).
_MEANS_KNOWN: tuple[tuple[str, str], ...] = (
    ("heart-failure", "reduced-ventricular-function"),
    ("chf", "reduced-ventricular-function"),
    ("hfref", "reduced-ventricular-function"),
    ("cardiomyopathy", "reduced-ventricular-function"),
    ("ejection", "reduced-ventricular-function"),
    ("ventric", "reduced-ventricular-function"),
    ("block", "cardiac-conduction-abnormality"),
    ("conduction", "cardiac-conduction-abnormality"),
    ("sick-sinus", "cardiac-conduction-abnormality"),
    ("bradycard", "cardiac-conduction-abnormality"),
    ("dialysis", "end-stage-kidney-disease"),
    ("eskd", "end-stage-kidney-disease"),
    ("esrd", "end-stage-kidney-disease"),
    ("kidney", "chronic-kidney-disease"),
    ("renal", "chronic-kidney-disease"),
    ("ckd", "chronic-kidney-disease"),
    ("lung", "interstitial-lung-disease"),
    ("pulmonary-fibrosis", "interstitial-lung-disease"),
    ("ild", "interstitial-lung-disease"),
    ("pregnan", "pregnancy"),
    ("breast", "breastfeeding"),
    ("lactat", "breastfeeding"),
    ("nursing", "breastfeeding"),
)


def _sort_conditions(data: dict[str, Any]) -> dict[str, Any]:
    """``conditions`` the tool knows stay; another well-formed one ("atrial-fibrillation")
    moves to ``other_conditions``, so that a comorbidity no rule reads does not refuse
    the whole profile. One that looks like a misspelt known condition is refused, naming
    the one meant: a typo must never silently switch a safety rule off."""
    conditions = data.get("conditions")
    if not isinstance(conditions, list):
        return data
    known, other = [], list(data.get("other_conditions") or [])
    for index, condition in enumerate(conditions):
        if not isinstance(condition, str) or condition in CONDITIONS:
            known.append(condition)
            continue
        near = (
            difflib.get_close_matches(condition, CONDITIONS, n=1, cutoff=0.75)
            or [known for word, known in _MEANS_KNOWN if word in condition][:1]
        )
        if near or not _CONDITION_WORD.match(condition) or len(condition) > 64:
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ProfileError(
                f"conditions[{index}]",
                f"unknown condition {condition!r}{hint} (another condition: lower-case words "
                "joined by hyphens, e.g. 'atrial-fibrillation')",
                list(CONDITIONS),
            )
        other.append(condition)
    return data | {"conditions": known, "other_conditions": other}


class PriorTreatment(_Strict):
    treatment: TreatmentId
    response: Response


class Patient(_Strict):
    """A patient with calcinosis cutis, as far as the clinician knows."""

    age_years: float = Field(ge=0, le=120)
    sex: Literal["female", "male", "other", "unknown"] = "unknown"
    subtype: Subtype
    underlying_disease: Disease = "unknown"
    disease_active: bool | None = Field(
        default=None, description="The underlying disease is not adequately controlled"
    )
    symptomatic: bool | None = None
    progressive: bool | None = None
    internal_involvement: bool | None = None
    patient_concerned: bool | None = None
    lesions: Lesions = Lesions()
    inflammation: bool | None = None
    ulceration: bool | None = None
    raynaud: bool | None = None
    conditions: list[Condition] = Field(default=[], max_length=MAX_LIST_ITEMS)
    other_conditions: list[OtherCondition] = Field(
        default=[],
        max_length=MAX_LIST_ITEMS,
        description="Conditions this tool does not know ('atrial-fibrillation'): accepted, "
        "and the plan says that no source addresses them and that it does not account for them",
    )
    medications: list[TreatmentId] = Field(default=[], max_length=MAX_LIST_ITEMS)
    other_medications: list[OtherMedication] = Field(
        default=[],
        max_length=MAX_LIST_ITEMS,
        description="Current medications outside this tool's catalog ('hydroxychloroquine'): "
        "accepted, and the plan says that no source or rule of this tool reads them; a "
        "catalog treatment, one of its brand names or a near spelling of one is refused, "
        "naming it (it belongs in medications, where the rules read it)",
    )
    prior_treatments: list[PriorTreatment] = Field(default=[], max_length=MAX_LIST_ITEMS)
    local_therapy_accessible: bool = True
    weight_kg: float | None = Field(
        default=None, gt=0, le=400, description="Body weight in kg: per-kg doses are worked out"
    )
    height_cm: float | None = Field(
        default=None,
        ge=20,
        le=250,
        description="Body height in cm: with the weight, per-m2 doses are worked out",
    )

    def prior(self, treatment: str) -> PriorTreatment | None:
        """The last recorded response to a treatment, if it was tried."""
        for entry in reversed(self.prior_treatments):
            if entry.treatment == treatment:
                return entry
        return None


def _sort_medications(data: dict[str, Any], treatment_ids: Collection[str]) -> dict[str, Any]:
    """``medications`` of the catalog stay; another well-formed one ("hydroxychloroquine")
    moves to ``other_medications``, so that a co-medication no rule reads does not refuse
    the whole profile (blind round 22). A brand name or a near spelling of a catalog drug,
    or an entry of the catalog that is no medication ("observation"), stays, and is
    refused below, naming the one meant: a typo never switches a rule off."""
    medications = data.get("medications")
    if not isinstance(medications, list):
        return data
    known, other = [], list(data.get("other_medications") or [])
    catalog = load_knowledge().treatments
    for medication in medications:
        if (
            not isinstance(medication, str)
            or medication in treatment_ids
            or medication in catalog
            or not _CONDITION_WORD.match(medication)
            or len(medication) > 64
            or _catalog_drug(medication, treatment_ids) is not None
        ):
            known.append(medication)
        else:
            other.append(medication)
    return data | {"medications": known, "other_medications": other}


def _brand_names() -> dict[str, str]:
    """The catalog's brand and other names (``brands`` and ``aliases`` of
    ``knowledge/lexicon.yaml``, the same data the answers read: 'humira' -> adalimumab),
    read once."""
    global _BRANDS  # noqa: PLW0603 - read once, on the first other medication
    if _BRANDS is None:
        data = read_data(KNOWLEDGE_DIR / "lexicon.yaml")
        tables = [data.get(key) for key in ("aliases", "brands")] if isinstance(data, dict) else []
        _BRANDS = {
            str(name).replace(" ", "-"): str(target)
            for table in tables
            if isinstance(table, dict)
            for name, target in table.items()
            if isinstance(target, str)
        }
    return _BRANDS


_BRANDS: dict[str, str] | None = None


def _catalog_drug(name: str, treatment_ids: Collection[str]) -> str | None:
    """The catalog treatment an "other" medication is (its id, a brand name of it) or
    looks like (a near spelling): never taken as outside the catalog, which no rule reads
    (a child on "minocin" must meet the under-nine rule)."""
    if name in treatment_ids:
        return name
    brand = _brand_names().get(name)
    if brand in treatment_ids:
        return brand
    near = difflib.get_close_matches(name, [*treatment_ids, *_brand_names()], n=1, cutoff=0.8)
    if near:
        return _brand_names().get(near[0], near[0])
    return None


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message[0].lower() + message[1:]


def parse_patient(data: object, treatment_ids: Collection[str]) -> Patient:
    """Validate a decoded profile; unknown treatment ids are rejected by name."""
    if not isinstance(data, dict):
        raise ProfileError("patient", "must be a JSON object")
    data = _sort_medications(_sort_conditions(data), treatment_ids)
    try:
        patient = Patient.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "missing" and error["loc"][-1:] == ("response",):
            # Never assumed: "none" would say the treatment failed and move the plan on.
            raise ProfileError(
                field_path(error["loc"], "patient"),
                "required with a treatment tried: how did the patient respond to it?",
                RESPONSES,
            ) from None
        raise ProfileError(field_path(error["loc"], "patient"), _message(error)) from None
    choices = sorted(treatment_ids)
    for index, medication in enumerate(patient.medications):
        if medication not in treatment_ids:
            meant = _catalog_drug(medication, treatment_ids)
            hint = f"; did you mean {meant!r}?" if meant else ""
            raise ProfileError(
                f"medications[{index}]", f"unknown treatment {medication!r}{hint}", choices
            )
    for index, other in enumerate(patient.other_medications):
        meant = _catalog_drug(other, treatment_ids)
        if meant is not None:
            raise ProfileError(
                f"other_medications[{index}]",
                f"{other!r} is {meant!r} of this tool's catalog, or looks like it: give "
                f"{meant!r} in medications, where the rules read it",
            )
    for index, prior in enumerate(patient.prior_treatments):
        if prior.treatment not in treatment_ids:
            raise ProfileError(
                f"prior_treatments[{index}].treatment",
                f"unknown treatment {prior.treatment!r}",
                choices,
            )
    return patient


def parse_patient_json(text: str | bytes, treatment_ids: Collection[str]) -> Patient:
    """Decode and validate a profile given as JSON text."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError("patient", f"not valid JSON ({exc})") from None
    return parse_patient(data, treatment_ids)
