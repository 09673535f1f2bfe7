"""Choosing what an answer leads with: the groups of treatments asked, the passages that
fit the question best, and what to say when no record answers what was asked."""

from __future__ import annotations

from calcinosis import patterns as rx
from calcinosis.answers.blocks import (
    nearest,
    passages_about,
)
from calcinosis.answers.draft import NOT_ANSWERED, Draft
from calcinosis.answers.passages import Passage
from calcinosis.answers.understand import normalise
from calcinosis.answers.vocabulary import CLASSES

__all__ = [
    "by_words",
    "groups",
    "lead_passages",
    "not_answered",
    "subtype_management",
    "subtype_passages",
]


def _class_of_words() -> dict[str, str]:
    """Each class word, normalised as a question is -> the first class that has it."""
    found: dict[str, str] = {}
    for cls, term in CLASSES.items():
        for phrase in term.phrases:
            found.setdefault(normalise(phrase).strip(), cls)
    return found


_CLASS_OF_WORDS = _class_of_words()

_COMMON = frozenset({"calci", "cutis", "patie", "treat", "what", "does", "with", "that", "there"})


# ---------------------------------------------------------------- helpers
def groups(d: Draft, limit: int = 4) -> list[tuple[str, tuple[str, ...]]]:
    """(label, treatments) per treatment named; a class word the review pools as a
    class (e.g. bisphosphonates) stays one group."""
    out: list[tuple[str, tuple[str, ...]]] = []
    poolable = set(d.kb.pool_choices())
    for words, ids in d.query.mentions:
        cls = _CLASS_OF_WORDS.get(words)
        if cls and len(ids) > 1 and not CLASSES[cls].members and cls in poolable:
            out.append((CLASSES[cls].label, ids))
        else:
            out += [(d.name(t), (t,)) for t in ids]
    unique = list(dict.fromkeys(out))
    return unique[:limit]


def lead_passages(
    d: Draft, found: list[Passage], count: int = 2, pattern: str | None = None
) -> bool:
    """Lead with the passages that fit the question best; with ``pattern``, the
    sentence of each that carries what was asked."""
    fitting = [p for p in found if d.fits(p.applies_to)] + [
        p for p in found if not d.fits(p.applies_to)
    ]
    for passage in fitting[:count]:
        d.lead(d.quote(passage, 2, pattern=pattern))
    return bool(fitting)


def not_answered(d: Draft, why: str = "") -> None:
    d.lead(f"{NOT_ANSWERED}{f' {why}' if why else ''}")
    if not nearest(d, "Nearest passages"):
        d.add(
            "Nearest passages",
            "Nothing in the evidence base comes close; it covers the treatment of "
            "calcinosis cutis in the five sources only.",
        )


def subtype_passages(d: Draft, treatments: tuple[str, ...]) -> list[Passage]:
    subtype = d.query.subtype
    if subtype is None or subtype == "dystrophic":
        return []
    return passages_about(d, treatments, pattern=rf"\b{subtype}")


def _stems(text: str) -> set[str]:
    return {w[:5] for w in rx.findall(r"[a-z]{4,}", text.lower())} - _COMMON


def by_words(d: Draft, found: list[Passage]) -> list[Passage]:
    """Passages that fit first, then those sharing most words (stems) with the question."""
    asked = _stems(d.query.norm)
    return sorted(
        found,
        key=lambda p: (
            not d.fits(p.applies_to),
            p.provenance.source == "ai-answer-dm",  # the peer-reviewed sources first
            -len(asked & _stems(p.text)),
        ),
    )


def subtype_management(d: Draft, section: str | None = None, count: int = 3) -> bool:
    """The management topic's own words for a subtype other than dystrophic: the direct
    answer for that subtype (lead), or a section of the answer."""
    subtype = d.query.subtype
    if not subtype or subtype == "dystrophic":
        return False
    found = [
        p
        for p in passages_about(d, (), sources=("management-topic",))
        if p.applies_to.subtypes == (subtype,) and p.kind in ("recommendation", "summary")
    ]
    for passage in found[:count]:
        if d.shown(passage):
            continue
        line = d.quote(passage, 2, about="")
        if section:
            d.add(section, line)
        else:
            d.lead(line)
    return bool(found)
