"""The answer first: what to start with, what next and when, what to avoid and why.

Built from the plan's own option documents (never a second reading of the patient),
so the summary and the detail below it cannot disagree. Every entry keeps its
citations; the words come from the options' rationales, the treatments' recorded
time to response and the safety rules' short reasons (``gist``), all sourced.
"""

from __future__ import annotations

import re
from typing import Any

from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = ["AVOID_TITLES", "first_sentence", "option_reason", "plan_summary"]

AVOID_TITLES = {
    "ineffective": "Not effective",
    "harm": "Harmful for this patient",
    "tried": "Not offered again: tried before",
}
NEXT_SHOWN = 3
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)%][.!?])\s+(?=[A-Z])")


def first_sentence(text: str) -> str:
    """The first sentence of a rationale (quotes and parentheses are not split)."""
    depth, quoted = 0, False
    for match in _SENTENCE_END.finditer(text):
        head = text[: match.start()]
        depth = head.count("(") - head.count(")")
        quoted = head.count('"') % 2 == 1
        if depth == 0 and not quoted:
            return head
    return text


def option_reason(kb: KnowledgeBase, option: dict[str, Any]) -> str:
    """One line on why an option stands where it does: the gist of the rules that put
    it among what to avoid, or the first sentence of its rationale."""
    if option["stance"] == "avoid" and option.get("avoid_reason") != "tried":
        rules = kb.treatments[option["id"]].contraindications
        gists = [
            r.gist
            for r in rules
            if r.stance == "avoid" and r.gist and r.text in option["rationale"]
        ]
        if gists:
            text = "; ".join(dict.fromkeys(gists))
            return text[0].upper() + text[1:] + "."
    return first_sentence(option["rationale"])


def _entry(option: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": option["id"],
        "name": option["name"],
        "strength": option["strength"]["label"],
        "notation": option["strength"]["notation"],
        "explanation": option["strength"]["explanation"],
        "reason": option["reason"],
        "citations": option["citations"],
    }


def plan_summary(document: dict[str, Any]) -> dict[str, Any]:
    """The summary of a plan document (its options already carry ``strength``,
    ``reason`` and ``time_to_response``)."""
    options = document["options"]
    first = [o for o in options if o["stance"] == "first-line"]
    alternatives = [o for o in options if o["stance"] == "alternative"]
    adjuncts = [o for o in options if o["stance"] == "adjunct"]
    when = [
        {"id": o["id"], "name": o["name"]} | o["time_to_response"]
        for o in first
        if o.get("time_to_response")
    ]
    avoid = {
        reason: [_entry(o) for o in options if o.get("avoid_reason") == reason]
        for reason in AVOID_TITLES
    }
    critical = []
    if document["critical"]:
        critical.append("Critical: urgent, multi-interventional care; refer now.")
    return {
        "first_line": [_entry(o) for o in first],
        "next": [_entry(o) for o in alternatives[:NEXT_SHOWN]],
        "next_more": max(0, len(alternatives) - NEXT_SHOWN),
        "also": [_entry(o) for o in adjuncts],
        "judge_response": when,
        "avoid": [
            {"group": reason, "title": AVOID_TITLES[reason], "options": chosen}
            for reason, chosen in avoid.items()
            if chosen
        ],
        "critical": critical,
        "medication_warnings": [w for w in document["warnings"] if w.startswith("Current ")],
    }
