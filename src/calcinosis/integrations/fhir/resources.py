"""Reading resources: prefetch values, Bundles, OperationOutcomes, and the fhir.resources gate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, cast

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
from calcinosis.integrations.fhir.concepts import as_object, dict_items, text_of

__all__ = ["collect", "parse_resource", "resource_name", "resources"]


_MODELS: Final[dict[str, type[BaseModel]]] = {
    "Patient": Patient,
    "Condition": Condition,
    "MedicationRequest": MedicationRequest,
    "MedicationStatement": MedicationStatement,
    "Medication": Medication,
    "Observation": Observation,
}

_ELISION: Final = "..."


def resources(value: object) -> list[dict[str, Any]]:
    """A prefetch value -> its resources.

    A Bundle gives its entries' resources, a single resource itself; an
    OperationOutcome, ``None`` or anything that is not a resource gives ``[]``.
    The resources are not validated here (the readers below do it).
    """
    return collect(value, [], "value")


def collect(value: object, notes: list[str], label: str) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [resource for item in value for resource in collect(item, notes, label)]
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
    entries = dict_items(bundle.get("entry"))
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
        if as_object(entry.get("search")).get("mode") == "outcome":
            notes.append(f"{label}: the search returned an OperationOutcome{_outcome(resource)}.")
            continue
        found += collect(resource, notes, label)
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


def resource_name(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resourceType", "resource")
    ident = text_of(resource.get("id"))
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


def parse_resource(resource: object, notes: list[str]) -> dict[str, Any] | None:
    """A validated resource as FHIR JSON (a copy of its own), or None (noted) when it
    cannot be used.

    fhir.resources is the gate, and it is slow (tenths of a millisecond a resource): its
    verdict on a resource, a pure function of the resource's JSON, is kept for the last
    ``_VERDICTS`` resources seen, keyed by that JSON exactly (the same Patient and
    Conditions come with every call about one patient). A resource that is not plain
    JSON data (what ``json.dumps`` cannot write back as it is) is validated every time.
    """
    if not isinstance(resource, dict):
        return None
    try:
        text = json.dumps(resource)
        exact = json.loads(text) == resource  # no tuple, no non-string key, no NaN
    except (TypeError, ValueError, RecursionError):
        exact = False
    if not exact:
        return _parse_resource(resource, notes)
    validated, noted = _verdict(text)
    notes += noted
    return None if validated is None else cast("dict[str, Any]", json.loads(validated))


_VERDICTS = 4096  # resources whose verdict is kept (their JSON, and that of the result)


@lru_cache(maxsize=_VERDICTS)
def _verdict(text: str) -> tuple[str | None, tuple[str, ...]]:
    """:func:`_parse_resource` of the resource written ``text``: the validated resource's
    JSON (None: it cannot be used) and the notes it adds. Bounded, keyed by content."""
    notes: list[str] = []
    validated = _parse_resource(json.loads(text), notes)
    return (None if validated is None else json.dumps(validated)), tuple(notes)


def _parse_resource(resource: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """:func:`parse_resource`, validated now."""
    kind = resource.get("resourceType")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    name = resource_name(resource)
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
