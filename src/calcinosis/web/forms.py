"""The assessment form: a query string to a patient profile and back.

The form is submitted with GET, so a filled-in assessment is a link: it can be
shared, bookmarked, or opened prefilled from an EHR. Values are passed through
as typed as they can be; the profile's strict validation reports what is wrong,
and the error is shown beside the form field it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "BOOL_FIELDS",
    "MAX_PRIOR",
    "RESPONSE_LABELS",
    "form_field",
    "profile_from_query",
    "query_from_items",
    "readable",
]

BOOL_FIELDS = (
    "disease_active",
    "symptomatic",
    "progressive",
    "internal_involvement",
    "patient_concerned",
    "inflammation",
    "ulceration",
    "raynaud",
)
TEXT_FIELDS = ("sex", "subtype", "underlying_disease")
NUMBER_FIELDS = ("age_years", "weight_kg", "height_cm")
MAX_PRIOR = 4
_TRUE, _FALSE = ("yes", "true", "1"), ("no", "false", "0")


RESPONSE_LABELS = {
    "none": "No response",
    "partial": "Partial response",
    "complete": "Complete response",
    "intolerant": "Not tolerated",
}
_WORDS = {"unknown": "Not known", "none": "None"}


def readable(slug: str) -> str:
    """A code as a clinician reads it: 'systemic-sclerosis' -> 'Systemic sclerosis'."""
    if slug in _WORDS:
        return _WORDS[slug]
    text = slug.replace("-", " ")
    return text[:1].upper() + text[1:]


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


def _collect(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in items:
        values.setdefault(key, []).append(value)
    return values


def _one(values: dict[str, list[str]], key: str) -> str | None:
    found = [v for v in values.get(key, []) if v.strip()]
    return found[-1].strip() if found else None


def _scalars(values: dict[str, list[str]]) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for key in NUMBER_FIELDS:
        if (text := _one(values, key)) is not None:
            profile[key] = _number(text)
    for key in TEXT_FIELDS:
        if (text := _one(values, key)) is not None:
            profile[key] = text
    for key in (*BOOL_FIELDS, "local_therapy_accessible"):
        if (text := _one(values, key)) is not None and (flag := _tri(text)) is not None:
            profile[key] = flag
    # The form asks "is it adequately controlled?"; the profile (and older links, CDS
    # cards) say disease_active, "not adequately controlled": the same fact, inverted.
    if (text := _one(values, "disease_controlled")) is not None and (
        controlled := _tri(text)
    ) is not None:
        profile["disease_active"] = (not controlled) if isinstance(controlled, bool) else text
    for key in ("conditions", "medications"):
        chosen = [v.strip() for v in values.get(key, []) if v.strip()]
        if chosen:
            profile[key] = list(dict.fromkeys(chosen))
    return profile


def _lesions(values: dict[str, list[str]]) -> dict[str, Any]:
    lesions: dict[str, Any] = {}
    for key in ("count", "largest_cm"):
        if (text := _one(values, f"lesions_{key}")) is not None:
            lesions[key] = _number(text)
    if (text := _one(values, "lesions_distribution")) is not None:
        lesions["distribution"] = text
    if (text := _one(values, "lesions_digital")) is not None and (flag := _tri(text)) is not None:
        lesions["digital"] = flag
    return lesions


def profile_from_query(items: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], list[int]]:
    """Query-string pairs (repeated keys allowed) -> a profile dictionary, and for each
    of its prior treatments the form row it came from (to place an error)."""
    values = _collect(items)
    profile = _scalars(values)
    if lesions := _lesions(values):
        profile["lesions"] = lesions
    prior, rows = [], []
    for index in range(1, MAX_PRIOR + 1):
        treatment = _one(values, f"prior_{index}_treatment")
        if treatment:
            # No default: a treatment tried without its response is refused beside the
            # response field (a silent "none" would say it failed and move the plan on).
            entry = {"treatment": treatment}
            if response := _one(values, f"prior_{index}_response"):
                entry["response"] = response
            prior.append(entry)
            rows.append(index)
    if prior:
        profile["prior_treatments"] = prior
    return profile, rows


def form_field(profile_field: str, prior_rows: Sequence[int] = ()) -> str:
    """The form field that shows an error of a profile field."""
    match = re.fullmatch(r"prior_treatments\[(\d+)\]\.(treatment|response)", profile_field)
    if match:
        index = int(match.group(1))
        row = prior_rows[index] if index < len(prior_rows) else index + 1
        return f"prior_{row}_{match.group(2)}"
    if profile_field.startswith("prior_treatments"):
        return "prior_1_treatment"
    if profile_field.startswith("lesions."):
        return "lesions_" + profile_field.removeprefix("lesions.")
    if profile_field == "disease_active":
        return "disease_controlled"
    return re.sub(r"\[\d+\]$", "", profile_field)


def query_from_items(items: Iterable[tuple[str, str]]) -> str:
    """The shareable query string of a submitted form: empty and default values dropped
    (``unknown`` answers, the response of an empty "treatment tried" row)."""
    pairs = [(k, v) for k, v in items if v.strip() and v.strip() != "unknown"]
    tried = {k.removesuffix("_treatment") for k, _ in pairs if k.endswith("_treatment")}
    kept = [
        (k, v)
        for k, v in pairs
        if not (k.endswith("_response") and k.removesuffix("_response") not in tried)
    ]
    return urlencode(kept)
