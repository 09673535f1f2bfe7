"""The assessment form: a query string to a patient profile and back.

The form is submitted with GET, so a filled-in assessment is a link: it can be
shared, bookmarked, or opened prefilled from an EHR. Values are passed through
as typed as they can be; the profile's strict validation reports what is wrong,
and the error is shown beside the form field it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "BOOL_FIELDS",
    "MAX_PRIOR",
    "form_field",
    "profile_from_query",
    "query_from_items",
]

BOOL_FIELDS = (
    "disease_active", "symptomatic", "progressive", "internal_involvement",
    "patient_concerned", "inflammation", "ulceration", "raynaud",
)
TEXT_FIELDS = ("sex", "subtype", "underlying_disease")
MAX_PRIOR = 4
_TRUE, _FALSE = ("yes", "true", "1"), ("no", "false", "0")


def _number(text: str) -> float | int | str:
    try:
        value = float(text)
    except ValueError:
        return text  # the profile's validation names the field
    return int(value) if value.is_integer() and "." not in text else value


def _tri(text: str) -> bool | str | None:
    lowered = text.strip().lower()
    if lowered in ("", "unknown"):
        return None
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return text


def profile_from_query(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Query-string pairs (repeated keys allowed) -> a profile dictionary."""
    values: dict[str, list[str]] = {}
    for key, value in items:
        values.setdefault(key, []).append(value)

    def one(key: str) -> str | None:
        found = [v for v in values.get(key, []) if v.strip()]
        return found[-1].strip() if found else None

    profile: dict[str, Any] = {}
    age = one("age_years")
    if age is not None:
        profile["age_years"] = _number(age)
    for key in TEXT_FIELDS:
        if (text := one(key)) is not None:
            profile[key] = text
    for key in BOOL_FIELDS:
        if (text := one(key)) is not None and (flag := _tri(text)) is not None:
            profile[key] = flag
    lesions: dict[str, Any] = {}
    for key, convert in (("count", _number), ("largest_cm", _number),
                         ("distribution", str), ("digital", _tri)):
        text = one(f"lesions_{key}")
        if text is not None and (value := convert(text)) is not None:
            lesions[key] = value
    if lesions:
        profile["lesions"] = lesions
    for key in ("conditions", "medications"):
        chosen = [v.strip() for v in values.get(key, []) if v.strip()]
        if chosen:
            profile[key] = list(dict.fromkeys(chosen))
    prior = []
    for index in range(1, MAX_PRIOR + 1):
        treatment, response = one(f"prior_{index}_treatment"), one(f"prior_{index}_response")
        if treatment:
            prior.append({"treatment": treatment, "response": response or "none"})
    if prior:
        profile["prior_treatments"] = prior
    access = one("local_therapy_accessible")
    if access is not None and (flag := _tri(access)) is not None:
        profile["local_therapy_accessible"] = flag
    return profile


def form_field(profile_field: str) -> str:
    """The form field that shows an error of a profile field."""
    match = re.fullmatch(r"prior_treatments\[(\d+)\]\.(treatment|response)", profile_field)
    if match:
        return f"prior_{int(match.group(1)) + 1}_{match.group(2)}"
    if profile_field.startswith("prior_treatments"):
        return "prior_1_treatment"
    if profile_field.startswith("lesions."):
        return "lesions_" + profile_field.removeprefix("lesions.")
    return re.sub(r"\[\d+\]$", "", profile_field)


def query_from_items(items: Iterable[tuple[str, str]]) -> str:
    """The shareable query string of a submitted form (empty fields dropped)."""
    return urlencode([(k, v) for k, v in items if v.strip()])
