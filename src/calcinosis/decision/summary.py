"""The answer first: what to start with, what next and when, what to avoid and why.

Built from the plan's own option documents (never a second reading of the patient),
so the summary and the detail below it cannot disagree. Every entry keeps its
citations; the words come from the options' rationales, the treatments' recorded
time to response and the safety rules' short reasons (``gist``), all sourced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from calcinosis.decision.documents import (
    AvoidedOption,
    AvoidGroup,
    AvoidReason,
    JudgeResponse,
    OfferedOption,
    Strength,
    Summary,
    SummaryEntry,
)
from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = ["AVOID_TITLES", "first_sentence", "option_reason", "plan_summary"]

AVOID_TITLES: dict[AvoidReason, str] = {
    "ineffective": "Not effective",
    "harm": "Harmful for this patient",
    "tried": "Not offered again: tried before",
}
NEXT_SHOWN = 3
OBSERVATION = "observation"  # the management option of following up without intervening
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


def option_reason(
    kb: KnowledgeBase, treatment: str, stance: str, avoid_reason: str | None, rationale: str
) -> str:
    """One line on why an option stands where it does: the gist of the rules that put
    it among what to avoid, or the first sentence of its rationale."""
    if stance == "avoid" and avoid_reason != "tried":
        rules = kb.treatments[treatment].contraindications
        gists = [r.gist for r in rules if r.stance == "avoid" and r.gist and r.text in rationale]
        if gists:
            text = "; ".join(dict.fromkeys(gists))
            return text[0].upper() + text[1:] + "."
    return first_sentence(rationale)


def _entry(option: OfferedOption | AvoidedOption) -> SummaryEntry:
    return _summary_entry(
        option.id, option.name, option.strength, option.reason, tuple(option.citations)
    )


@lru_cache(maxsize=4096)
def _summary_entry(
    treatment: str, name: str, strength: Strength, reason: str, citations: tuple[int, ...]
) -> SummaryEntry:
    """One entry of a summary (shared between plans: frozen)."""
    return SummaryEntry(
        id=treatment,
        name=name,
        strength=strength.label,
        notation=strength.notation,
        explanation=strength.explanation,
        reason=reason,
        citations=list(citations),
    )


def plan_summary(
    options: Sequence[OfferedOption | AvoidedOption], critical: bool, warnings: Sequence[str]
) -> Summary:
    """The summary of a plan's options (they already carry ``strength``, ``reason`` and
    ``time_to_response``)."""
    offered = [o for o in options if isinstance(o, OfferedOption)]
    first = [o for o in offered if o.stance == "first-line"]
    alternatives = [o for o in offered if o.stance == "alternative"]
    # observation is no rescue when a treatment fails: it is the choice instead of one
    instead = [o for o in alternatives if o.id == OBSERVATION] if first else []
    alternatives = [o for o in alternatives if o not in instead]
    adjuncts = [o for o in offered if o.stance == "adjunct"]
    when = [
        JudgeResponse(id=o.id, name=o.name, text=timing.text, citation=timing.citation)
        for o in first
        if (timing := o.time_to_response) is not None
    ]
    avoided = [o for o in options if isinstance(o, AvoidedOption)]
    avoid: dict[AvoidReason, list[SummaryEntry]] = {
        reason: [_entry(o) for o in avoided if o.avoid_reason == reason] for reason in AVOID_TITLES
    }
    return Summary(
        first_line=[_entry(o) for o in first],
        next=[_entry(o) for o in alternatives[:NEXT_SHOWN]],
        next_title=(
            "Options, none first-line"  # with nothing first-line, no "it" to fail first
            if not first
            else "If treatment becomes wanted"  # observation first: nothing to fail
            if all(o.id == OBSERVATION for o in first)
            else "Next, if it does not help"
        ),
        next_more=max(0, len(alternatives) - NEXT_SHOWN),
        instead=[_entry(o) for o in instead],
        also=[_entry(o) for o in adjuncts],
        judge_response=when,
        avoid=[
            AvoidGroup(group=reason, title=AVOID_TITLES[reason], options=chosen)
            for reason, chosen in avoid.items()
            if chosen
        ],
        critical=["Critical: urgent, multi-interventional care; refer now."] if critical else [],
        medication_warnings=[w for w in warnings if w.startswith("Current ")],
    )
