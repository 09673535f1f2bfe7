"""A treatment plan: ordered options, each explained, graded, evidenced and cited.

The engine (``engine.py``) decides the options and their stances; this module
attaches what the evidence base knows about each (level and grade, response
data, regimens, adverse effects), numbers the citations, and renders the plan
as the JSON document of DESIGN.md or as text for a terminal.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from calcinosis.evidence import KnowledgeBase
from calcinosis.models import Provenance, Table4Row, normalise_level

__all__ = ["DISCLAIMER", "STANCES", "Citation", "Option", "Plan", "grading_for", "render_text"]

Stance = Literal["first-line", "alternative", "adjunct", "avoid"]
STANCES: tuple[Stance, ...] = ("first-line", "alternative", "adjunct", "avoid")
DISCLAIMER = (
    "This plan supports, and does not replace, clinical judgement: check it against the "
    "patient in front of you and the cited sources."
)
_SHORT = {
    "traineau-2020": "Traineau 2020 (systematic review)",
    "traineau-2020-abstract": "Traineau 2020 (abstract)",
    "management-topic": "Calcinosis cutis: management (point-of-care topic)",
    "nowaczyk-2021": "Nowaczyk 2021 (systematic review of local therapies)",
    "ai-answer-dm": "AI answer on calcinosis in dermatomyositis",
}


@dataclass
class Option:
    """One option of a plan while the engine builds it."""

    id: str
    stance: Stance
    rank: int
    rationale: list[str] = field(default_factory=list)
    cites: list[Provenance] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Citation:
    n: int
    label: str
    source: str
    seed_file: str
    location: str
    quote: str | None


@dataclass
class Plan:
    """The engine's answer for one patient."""

    subtype: str
    options: list[Option]
    trace: list[dict[str, Any]]
    assumptions: list[str]
    disagreements: list[dict[str, Any]]
    warnings: list[str]
    critical: bool
    evidence_version: str


@cache
def _table4_row(kb: KnowledgeBase, treatment: str) -> Table4Row | None:
    for row in kb.table4:
        if treatment in row.treatments:
            return row
    return None


@cache
def grading_for(kb: KnowledgeBase, treatment: str) -> dict[str, Any]:
    """The level and grade behind an option, from the most specific graded source."""
    row = _table4_row(kb, treatment)
    review: dict[str, Any] | None = None
    if row is not None:
        level = normalise_level(row.level_printed) if row.level_printed else None
        if level is None:  # Table 4 prints none for rituximab; the abstract does (IV)
            level = next(
                (
                    normalise_level(s.level)
                    for s in kb.statements
                    if s.source == "traineau-2020-abstract"
                    and treatment in s.treatments
                    and s.level
                ),
                None,
            )
        review = {
            "system": "CEBM 2009",
            "level": level,
            "grade": row.grade,
            "direction": row.direction,
            "provenance": row.provenance,
        }
    topic = next(
        (
            s
            for s in kb.statements
            if s.source == "management-topic" and s.grade and treatment in s.treatments
        ),
        None,
    )
    if topic is not None:
        return {
            "level": review["level"] if review else None,
            "grade": topic.grade,
            "system": "GRADE (management topic)",
            "provenance": Provenance(
                source=topic.source, location=topic.location, quote=topic.quote
            ),
            "also": review,
        }
    if review is not None:
        return {**review, "also": None}
    return {
        "level": "5",
        "grade": "D",
        "system": "CEBM 2009, by rule: ungraded expert recommendation (level 5, grade D)",
        "provenance": None,
        "also": None,
    }


@cache
def _evidence(kb: KnowledgeBase, treatment: str) -> dict[str, Any] | None:
    from calcinosis.synthesis import pool_document  # noqa: PLC0415 - numpy/scipy on demand

    if not kb.arms_for([treatment]):
        return None
    document = pool_document(kb, treatment, "any", "glmm")
    complete = pool_document(kb, treatment, "complete", "glmm")
    keep = (
        "outcome",
        "method",
        "pooled",
        "k",
        "n",
        "x",
        "estimate",
        "ci",
        "prediction_interval",
        "tau2",
        "i2",
    )
    return {
        "any": {key: document[key] for key in keep}
        | {
            "arms": [
                {k: a[k] for k in ("study", "x", "n", "proportion")} for a in document["arms"]
            ],
            "left_out": [item["arm"] for item in document["left_out"]],
        },
        "complete": {key: complete[key] for key in keep},
        "source": "pooled from the review's arms (calcinosis evidence pool)",
    }


class _Citations:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.items: dict[tuple[str, str], Citation] = {}

    def number(self, provenance: Provenance) -> int:
        key = (provenance.source, provenance.location)
        if key not in self.items:
            source = self.kb.sources[provenance.source]
            self.items[key] = Citation(
                len(self.items) + 1,
                _SHORT.get(source.id, source.title),
                source.id,
                source.seed_file,
                provenance.location,
                provenance.quote,
            )
        return self.items[key].n


def _option_document(kb: KnowledgeBase, option: Option, citations: _Citations) -> dict[str, Any]:
    entry = kb.treatments[option.id]
    grading = grading_for(kb, option.id)
    if option.stance == "avoid" and grading.get("direction") != "against":
        # The grade of a recommendation *for* the treatment says nothing about the reason
        # to avoid it here (an age limit, a disease, an intolerance): that reason is an
        # ungraded precaution, level 5 / grade D by the CEBM rules.
        grading = {
            "level": "5",
            "grade": "D",
            "provenance": None,
            "also": None,
            "system": "ungraded precaution: CEBM 2009 level 5, grade D by rule",
        }
    cites = list(option.cites)
    if grading["provenance"] is not None:
        cites.append(grading["provenance"])
    numbers = sorted({citations.number(p) for p in cites})
    details: dict[str, Any] = {
        "id": option.id,
        "name": entry.name,
        "stance": option.stance,
        "rationale": " ".join(option.rationale),
        "level": grading["level"],
        "grade": grading["grade"],
        "grade_system": grading["system"],
        "citations": numbers,
        "warnings": list(option.warnings),
    }
    if option.stance == "avoid":
        return details
    also = grading["also"]
    details["review_grading"] = (
        {k: also[k] for k in ("level", "grade", "direction")} if also else None
    )
    details["response"] = _evidence(kb, option.id)
    details["regimens"] = [
        {"text": r.text, "setting": r.setting, "citation": citations.number(r.provenance)}
        for r in entry.regimens
    ]
    details["adverse_effects"] = [
        {"text": a.text, "citation": citations.number(a.provenance)} for a in entry.adverse_effects
    ]
    return details


def plan_document(kb: KnowledgeBase, plan: Plan) -> dict[str, Any]:
    """The plan as the ``recommend --format json`` contract."""
    citations = _Citations(kb)
    options = [_option_document(kb, option, citations) for option in plan.options]
    return {
        "subtype": plan.subtype,
        "critical": plan.critical,
        "options": options,
        "warnings": plan.warnings,
        "assumptions": plan.assumptions,
        "disagreements": [
            d | {"citations": [citations.number(p) for p in d.pop("cites", [])]}
            for d in (dict(item) for item in plan.disagreements)
        ],
        "trace": plan.trace,
        "citations": [c.__dict__ for c in sorted(citations.items.values(), key=lambda c: c.n)],
        "evidence_version": plan.evidence_version,
        "disclaimer": DISCLAIMER,
    }


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{100 * value:.0f}%"


def render_text(document: dict[str, Any], width: int = 88) -> str:
    """A plan document as text for a terminal: first-line first, citations last."""
    wrap = textwrap.TextWrapper(width=width, subsequent_indent="      ")
    lines = [f"Treatment plan: {document['subtype']} calcinosis cutis"]
    if document["critical"]:
        lines.append("!! CRITICAL: urgent, multi-disciplinary care; refer now.")
    lines.extend(wrap.fill(f"!  {w}") for w in document["warnings"])
    for stance in STANCES:
        chosen = [o for o in document["options"] if o["stance"] == stance]
        if not chosen:
            continue
        lines.append("")
        lines.append(
            {
                "first-line": "FIRST-LINE",
                "alternative": "ALTERNATIVES",
                "adjunct": "ADJUNCTS",
                "avoid": "AVOID",
            }[stance]
        )
        for option in chosen:
            refs = "".join(f"[{n}]" for n in option["citations"])
            lines.append(
                wrap.fill(
                    f"  - {option['name']} (level {option['level'] or '-'}, grade "
                    f"{option['grade']}) {refs}"
                )
            )
            lines.append(wrap.fill(f"    {option['rationale']}"))
            response = (option.get("response") or {}).get("any")
            if response and response["estimate"] is not None:
                low, high = response["ci"]
                kind = f"pooled, {response['k']} studies" if response["pooled"] else "one study"
                lines.append(
                    wrap.fill(
                        f"    Response to treatment ({kind}, {response['n']} patients): "
                        f"{_pct(response['estimate'])} (95% CI {_pct(low)}-{_pct(high)})"
                    )
                )
            if option.get("regimens"):
                regimen = option["regimens"][0]
                lines.append(wrap.fill(f"    Regimen: {regimen['text']} [{regimen['citation']}]"))
            if option.get("adverse_effects"):
                effects = "; ".join(a["text"] for a in option["adverse_effects"])
                refs = "".join(
                    f"[{n}]" for n in sorted({a["citation"] for a in option["adverse_effects"]})
                )
                lines.append(wrap.fill(f"    Watch for: {effects} {refs}"))
            lines.extend(wrap.fill(f"    ! {w}") for w in option["warnings"])
    if document["disagreements"]:
        lines.append("")
        lines.append("WHERE THE SOURCES DISAGREE")
        for item in document["disagreements"]:
            refs = "".join(f"[{n}]" for n in item["citations"])
            lines.append(wrap.fill(f"  - {item['summary']} {refs}"))
    if document["assumptions"]:
        lines.append("")
        lines.append("ASSUMPTIONS MADE")
        lines.extend(wrap.fill(f"  - {a}") for a in document["assumptions"])
    lines.append("")
    lines.append("CITATIONS")
    for citation in document["citations"]:
        lines.append(
            wrap.fill(
                f"  [{citation['n']}] {citation['label']}, {citation['location']} "
                f"(seeds/{citation['seed_file']})"
            )
        )
    lines.append("")
    lines.append(f"Evidence version {document['evidence_version']}. {document['disclaimer']}")
    return "\n".join(lines) + "\n"
