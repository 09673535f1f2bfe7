"""The one-page print view of a plan: what a chart needs, and nothing else.

The summary, the regimen chosen for this patient (the starting regimens of the
first-line options, per-kg doses worked out), what to watch for (their adverse
effects and warnings), and as footnotes only the references these cite; no trace,
no evidence lines (the screen and the JSON have them). Citations of the same passage
share one footnote.
"""

from __future__ import annotations

from typing import Any

from calcinosis.decision.documents import OfferedOption, PlanDocument

__all__ = ["print_sheet"]


def print_sheet(plan: PlanDocument) -> dict[str, Any]:
    """What the print view shows, with the citation numbers it uses."""
    first = [o for o in plan.options if isinstance(o, OfferedOption) and o.stance == "first-line"]
    regimens = []
    watch: dict[str, dict[str, Any]] = {}
    for option in first:
        rows = option.regimens
        chosen = [r for r in rows if r.group == "starting"] or rows[:1]
        regimens += [{"option": option.name} | r.model_dump() for r in chosen]
        items: list[dict[str, Any]] = [a.model_dump() for a in option.adverse_effects]
        items += [{"text": warning, "citation": None} for warning in option.warnings]
        for item in items:
            entry = watch.setdefault(item["text"], {"names": []} | item)
            entry["names"].append(option.name)
    summary = plan.summary
    used = {n for entry in summary.first_line for n in entry.citations}
    used |= {w.citation for w in summary.judge_response}
    used |= {r["citation"] for r in regimens}
    used |= {w["citation"] for w in watch.values() if w["citation"] is not None}
    notes: dict[tuple[str, str], list[int]] = {}
    for citation in plan.citations:
        if citation.n in used:
            place = (citation.reference_text or citation.label, citation.location)
            notes.setdefault(place, []).append(citation.n)
    for entry in watch.values():
        entry["option"] = " and ".join(entry.pop("names"))
    return {
        "regimens": regimens,
        "watch": sorted(watch.values(), key=lambda entry: -len(entry["option"])),
        "notes": [
            {"numbers": numbers, "reference": reference.rstrip("."), "location": location}
            for (reference, location), numbers in notes.items()
        ],
    }
