"""The code systems, codes and words the FHIR mapper recognises (see the package docstring).

The tables are data: they live in ``terminology.yaml`` beside this module, read once at
import through a strict schema (an unknown field, a wrong type, a duplicate code or key
is refused by a :class:`KnowledgeError` naming the file, the record and the field), and
are exposed here under the names the mapper imports. The two hand-written patterns
(``LOCALIZED_SCLERODERMA``, ``RAYNAUD_TEXT``) are matching logic and stay in code.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calcinosis.datafiles import read_data
from calcinosis.errors import KnowledgeError, field_path

__all__ = [
    "ACTIVE_CLINICAL",
    "AUTOIMMUNE",
    "CALCINOSIS_ANY",
    "CALCINOSIS_TEXT",
    "CALCIPHYLAXIS_TEXT",
    "CLINICAL",
    "CONDITION_TEXT",
    "DISEASE_TEXT",
    "EXCLUDED_VERIFICATION",
    "GENDERS",
    "ICD10CM",
    "ICD_CONDITIONS",
    "ICD_DISEASES",
    "LOCALIZED_SCLERODERMA",
    "LOINC",
    "MEASURES",
    "OBSERVATION_FINAL",
    "RAYNAUD_TEXT",
    "REQUEST_EXCLUDED",
    "ROUTES",
    "RXNORM",
    "RXNORM_IDS",
    "SMBS_TEXT",
    "SNOMED",
    "SNOMED_DISEASES",
    "STATEMENT_CURRENT",
    "STS_BY_ROUTE",
    "STS_FAMILY",
    "STS_TEXT",
    "TERMINOLOGY_FILE",
    "UCUM",
    "VERIFICATION",
    "Terminology",
    "read_terminology",
    "whole_words",
]


def whole_words(*phrases: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternatives; spaces match spaces or hyphens."""
    parts = [re.escape(p).replace(r"\ ", r"[\s\-]+") for p in phrases]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])", re.IGNORECASE)


# ------------------------------------------------------------------ the schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Words = list[str]


class Systems(_Strict):
    icd10cm: str
    snomed: str
    rxnorm: str
    clinical: str
    verification: str
    loinc: str
    ucum: str


class Statuses(_Strict):
    active_clinical: Words
    excluded_verification: Words
    request_excluded: Words
    statement_current: Words
    observation_final: Words
    genders: Words


class RxNormCode(_Strict):
    code: str = Field(pattern=r"^[0-9]+$")
    medication: str
    source: str
    name: str | None = None  # the precise ingredient or brand, when not the ingredient


class SnomedDisease(_Strict):
    code: str = Field(pattern=r"^[0-9]+$")
    disease: str


class IcdDisease(_Strict):
    prefixes: Words = Field(min_length=1)
    disease: str


class IcdCondition(_Strict):
    prefixes: Words = Field(min_length=1)
    condition: str
    note: str | None = None


class Phrases(_Strict):
    calcinosis: Words
    calciphylaxis: Words
    calcinosis_any: Words
    sodium_thiosulfate: Words
    sodium_metabisulfite: Words


class DiseaseText(_Strict):
    disease: str
    phrases: Words = Field(min_length=1)


class ConditionText(_Strict):
    condition: str
    phrases: Words = Field(min_length=1)


class RouteText(_Strict):
    route: str
    phrases: Words = Field(min_length=1)


class StsRoute(_Strict):
    route: str
    treatment: str


class Unit(_Strict):
    unit: str
    factor: float = Field(gt=0)


class Range(_Strict):
    low: float
    high: float


class Measure(_Strict):
    loinc: str
    field: str
    units: list[Unit] = Field(min_length=1)
    range: Range


class Terminology(_Strict):
    """``terminology.yaml``, validated."""

    systems: Systems
    statuses: Statuses
    autoimmune: Words
    rxnorm: list[RxNormCode]
    icd_diseases: list[IcdDisease]
    snomed_diseases: list[SnomedDisease]
    icd_conditions: list[IcdCondition]
    phrases: Phrases
    disease_text: list[DiseaseText]
    condition_text: list[ConditionText]
    routes: list[RouteText]
    sts_by_route: list[StsRoute]
    sts_family: Words
    measures: list[Measure]


# ------------------------------------------------------------------ reading it

TERMINOLOGY_FILE: Final[Traversable] = files(__package__) / "terminology.yaml"


# Each table's records must not repeat this field's values (a code, a prefix, a name).
_KEY_FIELDS: Final = {
    "rxnorm": "code",
    "snomed_diseases": "code",
    "icd_diseases": "prefixes",
    "icd_conditions": "prefixes",
    "disease_text": "disease",
    "condition_text": "condition",
    "routes": "route",
    "sts_by_route": "route",
    "measures": "loinc",
}


def _record(data: object, loc: tuple[int | str, ...]) -> tuple[str | None, str | None]:
    """A validation error's location as (record, field): ``rxnorm #2 (114194)``, ``code``."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        section, index = str(loc[0]), loc[1]
        record = f"{section} #{index + 1}"
        raw = data.get(section) if isinstance(data, dict) else None
        item = raw[index] if isinstance(raw, list) and index < len(raw) else None
        key = item.get(_KEY_FIELDS.get(section, "")) if isinstance(item, dict) else None
        if isinstance(key, str):
            record += f" ({key})"
        return record, field_path(loc[2:]) or None
    if len(loc) >= 2:
        return str(loc[0]), field_path(loc[1:])
    return None, field_path(loc) or None


def _check_duplicates(name: str, terminology: Terminology) -> None:
    for section, key_field in _KEY_FIELDS.items():
        first: dict[str, int] = {}
        for index, item in enumerate(getattr(terminology, section), start=1):
            value = getattr(item, key_field)
            for key in [value] if isinstance(value, str) else value:
                if key in first:
                    raise KnowledgeError(
                        name,
                        f"{section} #{index} ({key})",
                        key_field,
                        f"duplicate {key!r} (first at #{first[key]})",
                    )
                first[key] = index
    for section, model in (("statuses", terminology.statuses), ("phrases", terminology.phrases)):
        for field_name, words in model:
            _check_words(name, section, field_name, words)
    for field_name in ("autoimmune", "sts_family"):
        _check_words(name, None, field_name, getattr(terminology, field_name))


def _check_words(name: str, record: str | None, field_name: str, words: list[str]) -> None:
    for index, word in enumerate(words):
        if word in words[:index]:
            raise KnowledgeError(name, record, f"{field_name}[{index}]", f"duplicate {word!r}")


def read_terminology(source: Traversable | Path = TERMINOLOGY_FILE) -> Terminology:
    """``terminology.yaml`` (or ``source``), validated; KnowledgeError if it is not."""
    name = source.name
    data = read_data(source)
    if not isinstance(data, dict):
        raise KnowledgeError(name, None, None, "must be a mapping of tables")
    try:
        terminology = Terminology.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        record, field_name = _record(data, tuple(error["loc"]))
        raise KnowledgeError(name, record, field_name, error["msg"]) from None
    _check_duplicates(name, terminology)
    return terminology


# ------------------------------------------------------------------ the tables

_T: Final = read_terminology()

ICD10CM: Final = _T.systems.icd10cm
SNOMED: Final = _T.systems.snomed
RXNORM: Final = _T.systems.rxnorm
CLINICAL: Final = _T.systems.clinical
VERIFICATION: Final = _T.systems.verification
LOINC: Final = _T.systems.loinc
UCUM: Final = _T.systems.ucum

RXNORM_IDS: Final[dict[str, str]] = {r.code: r.medication for r in _T.rxnorm}

ACTIVE_CLINICAL: Final = frozenset(_T.statuses.active_clinical)
EXCLUDED_VERIFICATION: Final = frozenset(_T.statuses.excluded_verification)
REQUEST_EXCLUDED: Final = frozenset(_T.statuses.request_excluded)
STATEMENT_CURRENT: Final = frozenset(_T.statuses.statement_current)
GENDERS: Final = frozenset(_T.statuses.genders)
OBSERVATION_FINAL: Final = tuple(_T.statuses.observation_final)

AUTOIMMUNE: Final = tuple(_T.autoimmune)  # also the order of preference when several are coded

CALCINOSIS_TEXT: Final = whole_words(*_T.phrases.calcinosis)
CALCIPHYLAXIS_TEXT: Final = whole_words(*_T.phrases.calciphylaxis)
CALCINOSIS_ANY: Final = whole_words(*_T.phrases.calcinosis_any)
STS_TEXT: Final = whole_words(*_T.phrases.sodium_thiosulfate)
SMBS_TEXT: Final = whole_words(*_T.phrases.sodium_metabisulfite)

LOCALIZED_SCLERODERMA: Final = re.compile(
    r"(?<![a-z])(?:locali[sz]ed|linear|circumscribed)\s+scleroderma|morph(?:o)?ea", re.IGNORECASE
)
RAYNAUD_TEXT: Final = re.compile(r"raynaud", re.IGNORECASE)

DISEASE_TEXT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (d.disease, whole_words(*d.phrases)) for d in _T.disease_text
)
CONDITION_TEXT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (c.condition, whole_words(*c.phrases)) for c in _T.condition_text
)
ROUTES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (r.route, whole_words(*r.phrases)) for r in _T.routes
)

STS_BY_ROUTE: Final[dict[str, str]] = {s.route: s.treatment for s in _T.sts_by_route}
STS_FAMILY: Final = frozenset(_T.sts_family)

# ICD-10-CM code prefixes, first match wins (the codes are dotted: "M33.02").
ICD_DISEASES: Final[tuple[tuple[tuple[str, ...], str], ...]] = tuple(
    (tuple(d.prefixes), d.disease) for d in _T.icd_diseases
)
SNOMED_DISEASES: Final[dict[str, str]] = {d.code: d.disease for d in _T.snomed_diseases}
ICD_CONDITIONS: Final[tuple[tuple[tuple[str, ...], str], ...]] = tuple(
    (tuple(c.prefixes), c.condition) for c in _T.icd_conditions
)

# LOINC code -> (profile field, {UCUM code or unit text: factor to kg or cm}, range)
MEASURES: Final[dict[str, tuple[str, dict[str, float], tuple[float, float]]]] = {
    m.loinc: (m.field, {u.unit: u.factor for u in m.units}, (m.range.low, m.range.high))
    for m in _T.measures
}
