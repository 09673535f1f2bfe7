"""The Patient: age from birthDate, sex, and its id."""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Any

from calcinosis.integrations.fhir.concepts import text_of
from calcinosis.integrations.fhir.resources import collect, parse_resource
from calcinosis.integrations.fhir.terminology import GENDERS

__all__ = ["read_patient"]


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


def read_patient(
    value: object, notes: list[str], today: date, profile: dict[str, Any]
) -> str | None:
    """Fill age and sex; return the Patient's id (to check the other resources)."""
    found = [r for r in collect(value, notes, "patient") if r.get("resourceType") == "Patient"]
    if len(found) > 1:
        notes.append("patient: several Patient resources; none used (complete the assessment).")
        return None
    data = parse_resource(found[0], notes) if found else None
    if data is None:
        notes.append("No usable Patient: no age or sex (complete the assessment).")
        return None
    birth = text_of(data.get("birthDate"))
    if birth is None:
        notes.append("The Patient has no birthDate: no age (complete the assessment).")
    elif (age := _age(birth, today, notes)) is not None:
        profile["age_years"] = age
    gender = text_of(data.get("gender"))
    if gender in GENDERS:
        profile["sex"] = gender
    elif gender is not None:
        notes.append(f"Patient gender {gender!r} is not a FHIR code; sex not mapped.")
    if data.get("deceasedBoolean") is True or text_of(data.get("deceasedDateTime")):
        notes.append("The Patient is recorded as deceased.")
    return text_of(data.get("id"))
