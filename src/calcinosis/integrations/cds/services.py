"""HL7 CDS Hooks services over FHIR R4: discovery, patient-view, order-select/sign, feedback.

* ``patient-view``: for a patient with calcinosis cutis on record, the first-line
  step of the plan (with its grade and source), a warning for each current
  medication the plan says to avoid, and a link to the assessment prefilled
  with what FHIR gave. A patient without calcinosis gets no cards.
* ``order-select`` / ``order-sign``: warning or critical cards for unsafe draft
  orders in a patient with calcinosis, from the engine's own safety rules.
  Warfarin and intravenous sodium thiosulfate have other legitimate uses: they
  fire only when the order's reason points to calcinosis cutis.
* Missing prefetch is fetched (:func:`fetch_missing`) from ``fhirServer`` with
  ``fhirAuthorization``, but only from a URL the caller's issuer lists
  (``web/routes/cds.py`` vets it): async httpx, no redirects, uncompressed, one total
  deadline for every fetch of a call, a size cap enforced while streaming. Every
  failure, whatever its cause, is the same :class:`PrefetchMissingError` and so
  the same 412 answer: nothing about the network can be learnt from it.
* Cards are built by :func:`respond` (typed: a :class:`CdsResponse` of :class:`Card`),
  a plain function that the routes run off the event loop for a large body (it parses
  what was fetched, checks its limits and maps the FHIR; the FHIR reading of a prefetch
  and patient-view's cards are kept per day, see :func:`_findings` and
  :func:`_patient_view_cards`).
  Text from the EHR is escaped before it goes into a card's markdown.
* Every call is authenticated (``integrations/cds/auth.py``); see ``web/routes/cds.py``
  for the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import os
import re
import threading
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ConfigDict

from calcinosis import DISCLAIMER
from calcinosis.decision.documents import PlanDocument
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import Patient, parse_patient
from calcinosis.decision.plan_cache import PlanCache
from calcinosis.decision.safety import findings_for, rules_patient
from calcinosis.errors import CalcinosisError, ProfileError
from calcinosis.evidence.derived import derived, derived_bounded
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import places, reference_text
from calcinosis.evidence.schemas import Contraindication
from calcinosis.integrations.cds.documents import (
    Action,
    Card,
    CardSource,
    CdsResponse,
    Coding,
    Discovery,
    Link,
    ServiceDescription,
    Suggestion,
)
from calcinosis.integrations.fhir import (
    FhirFindings,
    findings_from_fhir,
    is_calcinosis_reason,
    medication_ids,
    resources,
)
from calcinosis.limits import (
    InputLimitError,
    InputLimits,
    JsonTooDeepError,
    TooLargeError,
    check_fhir_input,
    loads_bounded,
    markdown_text,
    read_capped,
)

__all__ = [
    "OVERRIDE_REASONS",
    "PREFETCH",
    "PREFETCH_FAILED",
    "SERVICES",
    "CdsRequest",
    "PrefetchMissingError",
    "Service",
    "check_request_limits",
    "discovery",
    "fetch_missing",
    "needs_fetch",
    "respond",
]

Indicator = Literal["info", "warning", "critical"]
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}"
    "&code=http://loinc.org|29463-7,http://loinc.org|8302-2&_sort=-date",
}
# Read when the client sends them, or fetched along with a required member; never a
# reason for a 412: body weight and height only work out per-kg and per-m2 doses.
OPTIONAL_PREFETCH = frozenset({"observations"})
OVERRIDE_SYSTEM = "https://calcinosis.invalid/cds-override-reasons"
OVERRIDE_REASONS: list[dict[str, str]] = [
    {
        "code": "other-indication",
        "system": OVERRIDE_SYSTEM,
        "display": "Prescribed for another indication",
    },
    {
        "code": "benefit-outweighs-risk",
        "system": OVERRIDE_SYSTEM,
        "display": "Benefit outweighs the risk for this patient",
    },
    {
        "code": "already-aware",
        "system": OVERRIDE_SYSTEM,
        "display": "Already aware; discussed with the patient",
    },
    {
        "code": "information-incorrect",
        "system": OVERRIDE_SYSTEM,
        "display": "The record is incorrect (age, diagnosis or condition)",
    },
]


_OVERRIDE_CODINGS = [Coding.model_validate(reason) for reason in OVERRIDE_REASONS]


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str] = field(default_factory=lambda: dict(PREFETCH))


SERVICES: dict[str, Service] = {
    service.id: service
    for service in (
        Service(
            "calcinosis-patient-view",
            "patient-view",
            "Calcinosis cutis treatment plan",
            "For a patient with calcinosis cutis: the evidence-based first-line step, "
            "current medications to avoid, and a link to the full assessment.",
        ),
        Service(
            "calcinosis-order-select",
            "order-select",
            "Calcinosis cutis order safety",
            "Warns when a draft order is unsafe for a patient with calcinosis cutis.",
        ),
        Service(
            "calcinosis-order-sign",
            "order-sign",
            "Calcinosis cutis order safety (sign)",
            "Warns before signing an order that is unsafe for a patient with calcinosis cutis.",
        ),
    )
}


class CdsRequest(BaseModel):
    """A CDS Hooks service request (the fields this service reads; extensions allowed)."""

    model_config = ConfigDict(extra="allow")

    hook: str
    hookInstance: str  # noqa: N815 - the specification's name
    fhirServer: str | None = None  # noqa: N815
    # free-form JSON (FHIR resources and Bundles, the token's members): read where used
    fhirAuthorization: dict[str, object] | None = None  # noqa: N815
    context: dict[str, object]
    prefetch: dict[str, object] | None = None


PREFETCH_FAILED = (
    "Prefetch is missing and could not be fetched from the FHIR server "
    "(give the prefetch, or a fhirServer this client is trusted to name and fhirAuthorization)."
)


class PrefetchMissingError(CalcinosisError):
    """Prefetch is missing and cannot be fetched: the service answers 412.

    The message is always :data:`PREFETCH_FAILED`, whatever went wrong, so that the
    answer says nothing about the network (closed port, timeout, size, content);
    ``reason`` is a short fixed phrase for the server log.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(PREFETCH_FAILED)


def discovery() -> Discovery:
    """The discovery document (CDS Hooks 2.0)."""
    return Discovery(
        services=[
            ServiceDescription(
                hook=s.hook,
                id=s.id,
                title=s.title,
                description=s.description,
                prefetch=dict(s.prefetch),
                usageRequirements="Provide the patient's Conditions and active MedicationRequests.",
            )
            for s in SERVICES.values()
        ]
    )


# -------------------------------------------------------------------- prefetch
_TEMPLATE = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")


def _fill(template: str, context: Mapping[str, object]) -> str:
    def value(match: re.Match[str]) -> str:
        found = context.get(match.group(1))
        if not isinstance(found, str) or not found:
            raise PrefetchMissingError(f"context.{match.group(1)} is needed to fetch prefetch")
        return quote(found, safe="")

    return _TEMPLATE.sub(value, template)


def check_request_limits(
    data: Mapping[str, object], limits: InputLimits, *, walk: bool = True
) -> None:
    """InputLimitError naming the field when a request's FHIR input is beyond a limit.

    At most ``max_prefetch_keys`` prefetch members; in ``prefetch`` and ``context``,
    no JSON array longer than ``max_entries`` (a Bundle's ``entry``, a list of
    resources, codings) and no string the mapper reads longer than ``max_string_chars``.
    ``walk=False`` when the body's scan showed that no array and no string of it can be
    over those two (``limits.loads_within``): then the walk, which would find nothing,
    is left out.
    """
    prefetch = data.get("prefetch")
    if isinstance(prefetch, dict) and len(prefetch) > limits.max_prefetch_keys:
        raise InputLimitError("prefetch", f"more than {limits.max_prefetch_keys} members")
    if not walk:
        return
    for member in ("prefetch", "context"):
        check_fhir_input(data.get(member), member, limits)


def needs_fetch(request: CdsRequest, service: Service) -> bool:
    """Whether a required prefetch member is missing: :func:`fetch_missing` would fetch."""
    sent = request.prefetch or {}
    return any(key not in sent and key not in OPTIONAL_PREFETCH for key in service.prefetch)


async def fetch_missing(
    request: CdsRequest,
    service: Service,
    client: httpx.AsyncClient,
    *,
    server: str | None,
    timeout: float,
    max_bytes: int,
) -> dict[str, bytes]:
    """The raw answers for the prefetch members the client did not send.

    ``server`` is the FHIR base URL to use, already vetted against the caller's
    trust entry (None: the request named none, or one it may not name; nothing is
    contacted). All fetches of the call share one deadline of ``timeout`` seconds
    (connect, headers and body); each answer must be a 200, uncompressed, of at
    most ``max_bytes``, read as a stream and cut at the cap. Any failure raises
    :class:`PrefetchMissingError`.
    """
    if not needs_fetch(request, service):
        return {}
    missing = [key for key in service.prefetch if key not in (request.prefetch or {})]
    token = (request.fhirAuthorization or {}).get("access_token")
    if server is None:
        raise PrefetchMissingError(
            "fhirServer not allowed" if request.fhirServer else "no fhirServer"
        )
    if not isinstance(token, str) or not token or len(token) > 8_192:
        raise PrefetchMissingError("no usable access token")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/fhir+json",
        "Accept-Encoding": "identity",
    }
    urls = {key: f"{server}/{_fill(service.prefetch[key], request.context)}" for key in missing}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    answers: dict[str, bytes] = {}
    try:
        async with asyncio.timeout_at(deadline):
            for key, url in urls.items():
                if key in OPTIONAL_PREFETCH:
                    continue
                answers[key] = await _get(client, url, headers, deadline - loop.time(), max_bytes)
    except TimeoutError:
        raise PrefetchMissingError("timed out") from None
    except TooLargeError:
        raise PrefetchMissingError("too large") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError):
        raise PrefetchMissingError("connection failed") from None
    for key in [key for key in urls if key in OPTIONAL_PREFETCH]:
        try:
            async with asyncio.timeout_at(deadline):
                answers[key] = await _get(
                    client, urls[key], headers, deadline - loop.time(), max_bytes
                )
        except (PrefetchMissingError, TimeoutError, TooLargeError, httpx.HTTPError, OSError):
            continue  # optional: the plan is made without it
    return answers


async def _get(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], left: float, max_bytes: int
) -> bytes:
    """One FHIR answer: a 200, uncompressed, at most ``max_bytes`` (read as a stream)."""
    left = max(left, 0.001)
    limits = httpx.Timeout(left, connect=min(2.0, left))
    async with client.stream("GET", url, headers=headers, timeout=limits) as response:
        if response.status_code != httpx.codes.OK:
            raise PrefetchMissingError(f"status {response.status_code}")
        encoding = response.headers.get("content-encoding", "identity")
        if encoding.lower() != "identity":
            raise PrefetchMissingError("compressed answer")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise PrefetchMissingError("too large")
        return await read_capped(response.aiter_raw(), max_bytes)


def _decode_fetched(raw: Mapping[str, bytes], limits: InputLimits) -> dict[str, object]:
    decoded: dict[str, object] = {}
    for key, body in raw.items():
        try:
            decoded[key] = _decode_one(key, body, limits)
        except PrefetchMissingError:
            if key not in OPTIONAL_PREFETCH:
                raise
            decoded.pop(key, None)  # optional: the plan is made without it
    return decoded


def _decode_one(key: str, body: bytes, limits: InputLimits) -> object:
    try:
        value = loads_bounded(body, limits.max_json_depth)
        check_fhir_input(value, f"prefetch.{key}", limits)
    except JsonTooDeepError:
        raise PrefetchMissingError("JSON too deep") from None
    except ValueError:
        raise PrefetchMissingError("not JSON") from None
    except InputLimitError:
        raise PrefetchMissingError("beyond the input limits") from None
    return value


# ----------------------------------------------------------------------- cards
@dataclass(frozen=True)
class Context:
    kb: KnowledgeBase
    public_url: str
    plans: list[PlanDocument] = field(default_factory=list)  # plans served, to audit
    plan_cache: PlanCache | None = None  # the app's plans, when it keeps them

    def plan(self, patient: Patient) -> PlanDocument:
        """The plan document of ``patient`` (from the plan cache: never mutate it)."""
        if self.plan_cache is None:
            return recommend_document(patient, self.kb)
        return self.plan_cache.plan(patient, self.kb).document


def _card(
    ctx: Context,
    kind: str,
    summary: str,
    indicator: Indicator,
    detail: str,
    *,
    links: list[Link] | None = None,
    override_reasons: list[Coding] | None = None,
    selection_behavior: Literal["at-most-one"] | None = None,
    suggestions: list[Suggestion] | None = None,
) -> Card:
    """A card; the members left None are left out of the answer (``exclude_none``)."""
    if len(summary) >= 140:
        summary = summary[:136].rstrip() + "…"
    return Card(
        uuid=str(uuidlib.uuid4()),
        summary=summary,
        indicator=indicator,
        detail=f"{detail}\n\n*{ctx.kb.version_line()}. {DISCLAIMER}*",
        source=CardSource(
            label="calcinosis: evidence-based decision support for calcinosis cutis",
            url=f"{ctx.public_url}/about",
            topic=Coding(
                code=kind,
                system=f"{ctx.public_url}/cds-card-kinds",
                display=kind.replace("-", " "),
            ),
        ),
        overrideReasons=override_reasons,
        selectionBehavior=selection_behavior,
        suggestions=suggestions,
        links=links,
    )


def _assessment_link(ctx: Context, profile: Mapping[str, object]) -> Link:
    pairs: list[tuple[str, str]] = []
    for key, value in profile.items():
        if key == "lesions" and isinstance(value, dict):
            pairs += [(f"lesions_{k}", _form_value(v)) for k, v in value.items()]
        elif key in ("conditions", "medications") and isinstance(value, list):
            pairs += [(key, str(item)) for item in value]
        elif key == "prior_treatments":
            continue
        else:
            pairs.append((key, _form_value(value)))
    return Link(
        label="Open the calcinosis assessment (prefilled from the record)",
        url=f"{ctx.public_url}/?{urlencode(pairs)}",
        type="absolute",
    )


def _form_value(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _first_line_card(ctx: Context, plan: PlanDocument, profile: Mapping[str, object]) -> Card:
    first = [o for o in plan.options if o.stance == "first-line"]
    names = " or ".join(o.name for o in first[:2])
    grades = ", ".join(
        sorted(
            {
                f"grade {o.grade}" + (" by this tool" if o.grade_assigned_by == "tool" else "")
                for o in first[:2]
            }
        )
    )
    summary = f"Calcinosis cutis ({plan.subtype}): first-line {names} ({grades})"
    lines = ["**First-line**"]
    for option in first:
        extrapolated = (
            f" *Evidence extrapolated from {option.applies_to.text}: "
            + "; ".join(option.extrapolation)
            + ".*"
            if option.extrapolated
            else ""
        )
        lines.append(
            f"- **{option.name}** ({option.grade_label}): {option.rationale}"
            f"{extrapolated} *Source: {places(plan.citations, option.citations)}.*"
        )
    avoid = [o for o in plan.options if o.stance == "avoid"]
    if avoid:
        lines.append("")
        lines.append("**Avoid**: " + ", ".join(o.name for o in avoid) + ".")
    lines += [
        "",
        "Open the assessment for the alternatives, the evidence behind each option "
        "and the assumptions made.",
        "",
        f"*{plan.disclaimer}*",
    ]
    return _card(
        ctx,
        "first-line",
        summary,
        "critical" if plan.critical else "info",
        "\n".join(lines),
        links=[_assessment_link(ctx, profile)],
    )


def _patient_view(ctx: Context, found: FhirFindings) -> list[Card]:
    if not found.has_calcinosis:
        return []
    profile = dict(found.profile)
    if found.subtype is None or "age_years" not in profile:
        missing = "the subtype" if found.subtype is None else "the age"
        detail = (
            f"Calcinosis cutis is on record, but {missing} cannot be read from it safely. "
            "Complete the assessment to get an evidence-based plan.\n\n"
            + "\n".join(f"- {markdown_text(note)}" for note in found.notes)
        )
        return [
            _card(
                ctx,
                "assessment-incomplete",
                "Calcinosis cutis on record: complete the assessment for a plan",
                "info",
                detail,
                links=[_assessment_link(ctx, profile)],
            )
        ]
    profile["subtype"] = found.subtype
    try:
        patient = parse_patient(profile, ctx.kb.therapy_ids())
    except ProfileError as exc:
        return [
            _card(
                ctx,
                "assessment-incomplete",
                "Calcinosis cutis on record: complete the assessment for a plan",
                "info",
                f"The record could not be read as a patient profile ({markdown_text(exc)}).",
                links=[_assessment_link(ctx, found.profile)],
            )
        ]
    plan = ctx.plan(patient)
    ctx.plans.append(plan)
    cards = [_first_line_card(ctx, plan, profile)]
    options = {o.id: o for o in plan.options}
    for treatment in patient.medications:
        option = options.get(treatment)
        if option is None or option.stance != "avoid":
            continue
        cards.append(
            _card(
                ctx,
                "avoid-current-medication",
                f"{option.name} should not be used to treat calcinosis cutis",
                "warning",
                f"The patient takes **{option.name}**. {option.rationale}\n\n*Source: "
                f"{places(plan.citations, option.citations)}.* If it is prescribed for "
                f"another indication, that is for its prescriber to weigh.\n\n"
                f"*{plan.disclaimer}*",
                override_reasons=_OVERRIDE_CODINGS,
                links=[_assessment_link(ctx, profile)],
            )
        )
    return cards


def _order_cards(
    ctx: Context, found: FhirFindings, orders: list[dict[str, Any]], conditions: object
) -> list[Card]:
    if not found.has_calcinosis:
        return []
    patient, notes = rules_patient(found.profile | {"subtype": found.subtype})
    cards: list[Card] = []
    unreadable: list[str] = []
    condition_resources = resources(conditions)
    for order in orders:
        ids, unmapped = medication_ids([order], kb=ctx.kb)
        unreadable += [name for name in unmapped if "unreadable" in name]
        reference = f"MedicationRequest/{order.get('id', '')}"
        for treatment in ids:
            grouped: dict[str, list[Contraindication]] = {}
            for finding in findings_for(ctx.kb, patient, treatment):
                rule = finding.rule
                if rule.indication == "calcinosis" and not is_calcinosis_reason(
                    order, conditions=condition_resources
                ):
                    continue  # warfarin for atrial fibrillation is not our business
                grouped.setdefault(rule.rule, []).append(rule)
            for rules in grouped.values():
                rule = rules[0]
                name = ctx.kb.treatments[treatment].name
                indicator: Indicator = "critical" if rule.stance == "avoid" else "warning"
                if rule.indication == "calcinosis":
                    indicator = "warning"
                    summary = f"{name} should not be used to treat calcinosis cutis"
                elif rule.stance == "avoid":
                    summary = f"{name} should be avoided in this patient"
                else:
                    summary = f"Caution: {name} in this patient"
                detail = "\n\n".join(
                    f"{r.text}\n\n*Source: "
                    f"{reference_text(ctx.kb.sources[r.provenance.source]).rstrip('.')},"
                    f" {r.provenance.location}.*"
                    for r in rules
                )
                if notes:
                    detail += "\n\n" + " ".join(notes)
                removable = rule.stance == "avoid" and bool(order.get("id"))
                suggestions = (
                    [
                        Suggestion(
                            label=f"Remove the draft order for {name}",
                            uuid=str(uuidlib.uuid4()),
                            actions=[
                                Action(
                                    type="delete",
                                    description=f"Remove the draft {name} order",
                                    resourceId=[reference],
                                )
                            ],
                        )
                    ]
                    if removable
                    else None
                )
                cards.append(
                    _card(
                        ctx,
                        f"order-{rule.rule}",
                        summary,
                        indicator,
                        detail,
                        override_reasons=_OVERRIDE_CODINGS,
                        selection_behavior="at-most-one" if removable else None,
                        suggestions=suggestions,
                    )
                )
    if unreadable:
        cards.append(
            _card(
                ctx,
                "order-unreadable",
                "Some draft orders could not be checked for calcinosis safety",
                "warning",
                "These draft orders could not be read, so they were not checked: "
                + "; ".join(markdown_text(name) for name in unreadable)
                + ". Check them by hand against the calcinosis plan.",
            )
        )
    return cards


def _draft_orders(request: CdsRequest, service: Service) -> list[dict[str, Any]]:
    orders = [
        r
        for r in resources(request.context.get("draftOrders"))
        if r.get("resourceType") == "MedicationRequest"
    ]
    if service.hook == "order-select":
        selections = request.context.get("selections") or []
        if not isinstance(selections, Iterable):  # what iterating it would have raised
            raise TypeError(f"'{type(selections).__name__}' object is not iterable")
        selected = {str(s) for s in selections}
        if selected:
            orders = [o for o in orders if f"MedicationRequest/{o.get('id')}" in selected]
    return orders


def respond(
    service: Service,
    request: CdsRequest,
    fetched: Mapping[str, bytes],
    kb: KnowledgeBase,
    public_url: str,
    *,
    limits: InputLimits,
    plans: list[PlanDocument] | None = None,
    plan_cache: PlanCache | None = None,
) -> CdsResponse:
    """The response (``{"cards": [...]}``) of one service call. CPU-bound: run it in a thread.

    ``fetched`` holds the raw answers of :func:`fetch_missing`; they are parsed with
    the depth limit and checked against ``limits`` here (PrefetchMissingError if not).
    The plans the cards were built from are appended to ``plans`` (for the audit record);
    they come from ``plan_cache`` when one is given (shared documents: never mutated).
    """
    prefetch = dict(request.prefetch or {}) | _decode_fetched(fetched, limits)
    ctx = Context(kb, public_url, [] if plans is None else plans, plan_cache)
    if service.hook == "patient-view":
        cards = _patient_view_cards(ctx, prefetch)
    else:
        found = _findings(kb, prefetch)
        cards = _order_cards(
            ctx, found, _draft_orders(request, service), prefetch.get("conditions")
        )
    return CdsResponse(cards=cards)


# The FHIR reading of a prefetch (about half the CPU of a patient-view call) depends only
# on the prefetch's JSON, the day and the knowledge base: it is kept for the JSON text of
# the members it reads (in their order, as the body gave them), per day and per base.
# So are patient-view's cards, which depend on nothing else but the public URL (and the
# plan, itself a pure function of the profile read and the base): each call gets copies
# with uuids of its own.
_MEMO_MAX_CHARS = 65_536  # a larger prefetch is read each time (kept ones stay small)
_MEMO_ENTRIES = 256
_MEMBERS = ("patient", "conditions", "medications")


def _prefetch_text(prefetch: Mapping[str, object]) -> str | None:
    """The JSON of ``[patient, conditions, medications, observations]``: the key of what
    is kept of a prefetch; None when it is too large to keep."""
    members = [prefetch.get(key) for key in (*_MEMBERS, "observations")]
    try:
        text = json.dumps(members)
    except (TypeError, ValueError):  # pragma: no cover - parsed JSON always dumps
        return None
    return text if len(text) <= _MEMO_MAX_CHARS else None


def _read_now(kb: KnowledgeBase, prefetch: Mapping[str, object], today: date) -> FhirFindings:
    members = [prefetch.get(key) for key in _MEMBERS]
    observations = prefetch.get("observations")
    return findings_from_fhir(*members, observations=observations, today=today, kb=kb)


def _own_copy(found: FhirFindings) -> FhirFindings:
    # the profile is the caller's to read and copy: a kept one is never handed out
    return dataclasses.replace(found, profile=copy.deepcopy(found.profile))


def _findings(kb: KnowledgeBase, prefetch: Mapping[str, object]) -> FhirFindings:
    """``findings_from_fhir`` of the prefetch, read once per distinct prefetch and day."""
    today = date.today()
    text = _prefetch_text(prefetch)
    if text is None:
        return _read_now(kb, prefetch, today)
    return _own_copy(_findings_of_json(kb, text, today))


@dataclass(frozen=True)
class _KeptCards:
    """Patient-view's answer to one prefetch: its cards (with the uuids they were made
    with: each call gets copies with its own) and the plans they were built from."""

    cards: tuple[Card, ...]
    plans: tuple[PlanDocument, ...]


class _CardsMemo:
    """The last ``maxsize`` :class:`_KeptCards`, by prefetch text, day and public URL (the
    oldest go first). Shared by the event loop and the CDS threads: plain dict
    operations, and an entry made twice by two threads is equal."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._kept: dict[tuple[str, date, str], _KeptCards] = {}

    def get(self, key: tuple[str, date, str]) -> _KeptCards | None:
        return self._kept.get(key)

    def keep(self, key: tuple[str, date, str], value: _KeptCards) -> None:
        if len(self._kept) >= self.maxsize:
            with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                del self._kept[next(iter(self._kept))]
        self._kept[key] = value


@derived
def _cards_memo(kb: KnowledgeBase) -> _CardsMemo:
    """The patient-view cards kept for ``kb`` (with the base: a new base starts empty)."""
    return _CardsMemo(_MEMO_ENTRIES)


def _patient_view_cards(ctx: Context, prefetch: Mapping[str, object]) -> list[Card]:
    """:func:`_patient_view` of the prefetch, worked out once per distinct prefetch, day
    and public URL; each call gets the cards with new uuids, and the plans (for its
    audit record) appended to ``ctx.plans``."""
    today = date.today()
    text = _prefetch_text(prefetch)
    if text is None:
        return _patient_view(ctx, _read_now(ctx.kb, prefetch, today))
    memo = _cards_memo(ctx.kb)
    key = (text, today, ctx.public_url)
    kept = memo.get(key)
    if kept is None:
        made = Context(ctx.kb, ctx.public_url, [], ctx.plan_cache)
        cards = _patient_view(made, _own_copy(_findings_of_json(ctx.kb, text, today)))
        kept = _KeptCards(tuple(cards), tuple(made.plans))
        memo.keep(key, kept)
    ctx.plans.extend(kept.plans)
    uuids = _uuids(len(kept.cards))
    return [
        card.model_copy(update={"uuid": new}) for card, new in zip(kept.cards, uuids, strict=True)
    ]


class _RandomPool(threading.local):
    """Bytes of ``os.urandom`` read 4 KiB at a time, for each thread: one system call (and
    one release of the interpreter lock, which another thread may then hold for a while)
    per 256 UUIDs instead of one per call. A forked child starts with none of them."""

    data = b""
    used = 0


_POOL_BYTES = 4096
_pool = _RandomPool()


def _new_pool() -> None:  # after a fork: the parent's bytes are the parent's
    global _pool  # noqa: PLW0603
    _pool = _RandomPool()


os.register_at_fork(after_in_child=_new_pool)


def _random_bytes(count: int) -> bytes:
    pool = _pool
    if pool.used + count > len(pool.data):
        pool.data, pool.used = os.urandom(max(_POOL_BYTES, count)), 0
    start = pool.used
    pool.used = start + count
    return pool.data[start : start + count]  # never handed out twice


def _uuids(count: int) -> list[str]:
    """``count`` random UUIDs, each as ``uuid.uuid4()`` makes it (16 bytes of
    ``os.urandom``, version 4), the bytes taken from this thread's pool."""
    data = _random_bytes(16 * count)
    return [str(uuidlib.UUID(bytes=data[i : i + 16], version=4)) for i in range(0, len(data), 16)]


@derived_bounded(_MEMO_ENTRIES)
def _findings_of_json(kb: KnowledgeBase, text: str, today: date) -> FhirFindings:
    """The findings of the JSON ``[patient, conditions, medications, observations]``:
    parsing it again gives values equal to the request's (same keys, order and types)."""
    patient, conditions, medications, observations = json.loads(text)
    return findings_from_fhir(
        patient, conditions, medications, observations=observations, today=today, kb=kb
    )
