"""An answer while it is composed: its lead sentences, sections and citations.

Every sentence added cites the records it comes from; :meth:`Draft.about` says
whom a record is about and, when the question is about someone else, that the
record is extrapolated (``applicability.fit``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from calcinosis import patterns as rx
from calcinosis.answers.passages import Passage, fill_quote
from calcinosis.answers.query import Query
from calcinosis.evidence.applicability import AppliesTo, Context, fit
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import Citations, flagged_figures
from calcinosis.evidence.schemas import Provenance
from calcinosis.patterns import compiled

__all__ = [
    "NOT_ANSWERED",
    "SECTIONS",
    "SOURCE_NAMES",
    "Draft",
    "quotable",
    "sentence_with",
    "sentences",
]

NOT_ANSWERED = "The sources do not answer this directly."
SECTIONS = (
    "Guidelines and expert recommendations",
    "Research evidence",
    "Dose and regimen",
    "Safety",
    "Where the sources disagree",
    "Nearest passages",
    "For your patient",
    "Related passages",
)
SOURCE_NAMES = {
    "traineau-2020": "the review (Traineau 2020)",
    "traineau-2020-abstract": "the review's abstract (Traineau 2020)",
    "management-topic": "the management topic",
    "nowaczyk-2021": "the review of local therapies (Nowaczyk 2021)",
    "ai-answer-dm": "the AI-generated answer",
}
_SOURCE_REFS = compiled(r"\s?\[\d+(?:\s?[-–,]\s?\d+)*\]|\s\(algorithm 1\)")
_AI_REFS = compiled(r"(?<=[a-z)])\s\d+(?:,\s?\d+)*(?=\.?$)")


# A full stop that ends an abbreviation, not a sentence ("Robertson et al. reported").
_NO_STOP = compiled(r"(\bet al|\be\.g|\bi\.e|\bvs|\bcf|\bapprox|\bFig|\bno)\.$", re.IGNORECASE)


_HEDGE = compiled(r" (however|but|although|though|yet|except|whereas|while)\b", re.I)


def _split(text: str) -> list[str]:
    """Sentences (and clauses after a semicolon), never cut inside parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if (
            char in ".;"
            and depth <= 0
            and text[index + 1 : index + 2] == " "
            and not (char == "." and _NO_STOP.search(text[: index + 1]))
            # "...may be attempted; however, data ... are lacking": a hedge stays with
            # the claim it qualifies
            and not (char == ";" and _HEDGE.match(text, index + 1))
        ):
            parts.append(text[start : index + 1].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


@lru_cache(maxsize=8192)  # the knowledge base's passages, cut again and again
def sentences(text: str, count: int = 2, limit: int = 600) -> str:
    """The first sentences of a passage, without the source's own reference numbers."""
    text = _AI_REFS.sub("", _SOURCE_REFS.sub("", " ".join(text.split())))
    parts = _split(text)
    cut = " ".join(parts[:count]).rstrip()
    if len(cut) > limit:
        cut = cut[: limit - 1].rstrip() + "…"
    if cut[:1].islower():  # a fragment of a sentence: say so
        cut = "…" + cut
    return cut.rstrip(".")


@lru_cache(maxsize=8192)
def sentence_with(text: str, pattern: str) -> str:
    """The sentence of a passage that matches ``pattern`` (the one carrying the claim)."""
    text = _AI_REFS.sub("", _SOURCE_REFS.sub("", " ".join(text.split())))
    for part in _split(text):
        if rx.search(pattern, part, re.IGNORECASE):
            return part.rstrip(".")
    return sentences(text, 1)


def unit_flag(kb: KnowledgeBase, text: str) -> str:
    """' (the dose printed here is omitted, [...]: this tool's audit flags it as a unit
    error: ...)' for a passage that states an audit-flagged figure (see :func:`redact`)."""
    for finding in kb.findings:
        if finding.kind != "unit":
            continue
        for figure in rx.findall(r"\(([^)]+)\)", finding.published) or [finding.published]:
            if figure in text:
                why = finding.summary.rstrip(".")
                return (
                    " (the dose printed there is left out, […]: this tool's audit flags it "
                    f"as a unit error: {why})"
                )
    return ""


def quotable(kb: KnowledgeBase, text: str) -> bool:
    """A passage stating an audit-flagged figure is never quoted as fact."""
    return not any(figure in text for figure in flagged_figures(kb))


class Draft:
    """The answer being composed for one query."""

    def __init__(self, kb: KnowledgeBase, query: Query) -> None:
        self.kb = kb
        self.query = query
        self.context: Context = query.context()
        self.citations = Citations(kb, by_place=False)  # every quote its own number
        self._fits: dict[AppliesTo, bool] = {}  # whom a record is about -> fits the query
        self.leads: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self.quoted: set[str] = set()  # passage ids already shown
        # treatments the lead has said "No" to for this question (not for this patient, or
        # not to be used): no dose or favourable passage of theirs is put forward after it
        self.ruled_out: set[str] = set()
        self.deferred: list[str] = []  # said after the answer ("on the other part: ...")

    # -------------------------------------------------------------- writing
    def _repeats(self, sentence: str, *, sections: bool = False) -> bool:
        """The sentence quotes only what the answer has quoted already, in its lead or a
        section (the same words are printed in two places of a source, or recorded twice,
        about two populations, or reached by two routes: blind round 21 saw one sentence
        of the review twice in a row)."""
        quoted: list[str] = rx.findall(r'"([^"]{40,})"', sentence)
        said = list(self.leads)
        if sections:  # a lead takes its sentence out of a section: only the leads count
            said += [line for lines in self.sections.values() for line in lines]
        return bool(quoted) and all(any(q in line for line in said) for q in quoted)

    def lead(self, sentence: str | None) -> None:
        """A sentence of the direct answer (taken out of any section it was in)."""
        if sentence and sentence not in self.leads and not self._repeats(sentence):
            self.leads.append(sentence)
            for lines in self.sections.values():
                if sentence in lines:
                    lines.remove(sentence)

    def add(self, section: str, sentence: str | None) -> None:
        if not sentence:
            return
        lines = self.sections.setdefault(section, [])
        if (
            sentence not in lines
            and sentence not in self.leads
            and not self._repeats(sentence, sections=True)
        ):
            lines.append(sentence)

    def cite(self, *provenances: Provenance | None, claim: str | None = None) -> str:
        """'[1][3]' for these provenances (``None`` skipped); one stored without a quote
        cites the sentence of its location that carries ``claim`` (:func:`fill_quote`)."""
        return self.citations.cite(
            *(fill_quote(self.kb, p, claim) for p in provenances if p is not None)
        )

    # ------------------------------------------------------- applicability
    def fits(self, applies: AppliesTo) -> bool:
        found = self._fits.get(applies)
        if found is None:
            found = self._fits[applies] = not fit(self.context, applies).extrapolated
        return found

    def about(self, applies: AppliesTo) -> str:
        """'about X' or 'extrapolated from X: reasons'; '' when X is everyone."""
        if applies == AppliesTo():
            return ""
        found = fit(self.context, applies)
        if found.extrapolated:
            return found.label()
        return f"about {applies.describe()}"

    def quote(
        self,
        passage: Passage,
        count: int = 2,
        prefix: str | None = None,
        pattern: str | None = None,
        about: str | None = None,
    ) -> str:
        """'The management topic: "..." (about ...) [n]' for one passage; with
        ``pattern``, the sentence of it that matches."""
        self.quoted.add(passage.id)
        who = prefix or SOURCE_NAMES.get(passage.provenance.source, passage.provenance.source)
        who += self._subject(passage)
        about = self.about(passage.applies_to) if about is None else about
        together = self._together(passage)
        if together:
            about = f"{about}; {together}" if about else together
        body = sentence_with(passage.text, pattern) if pattern else sentences(passage.text, count)
        words = f'"{body}"' if passage.quoted else body
        tail = f" ({about})" if about else ""
        return f"{who[0].upper()}{who[1:]}: {words}{tail} {self.cite(passage.provenance)}."

    def _subject(self, passage: Passage) -> str:
        """', on diltiazem' when the sentence does not name what it is about ("May have a
        preventive effect")."""
        if not passage.treatments or len(passage.treatments) > 3:
            return ""
        text = passage.text.lower()
        names = [self.kb.treatments[t].name for t in passage.treatments]
        if any(n.lower() in text or n.split()[-1].lower() in text for n in names):
            return ""
        return " on " + " and ".join(n.lower() for n in names)

    def _together(self, passage: Passage) -> str:
        """A figure for several treatments at once, when one was asked, says so."""
        asked = set(self.query.treatments)
        others = [t for t in passage.treatments if t not in asked]
        if not asked or len(passage.treatments) < 2 or not others or len(others) > 4:
            return ""
        names = [self.kb.treatments[t].name.lower() for t in passage.treatments]
        if rx.search(r"\d+ of \d+|\d+ ?%|\d+/\d+|\d+ percent", passage.text) is None:
            return ""  # no figure in it: nothing is counted together
        return "one figure for " + ", ".join(names[:-1]) + " and " + names[-1] + " together"

    def shown(self, passage: Passage) -> bool:
        """Quoted or cited already in this answer."""
        return passage.id in self.quoted or self.citations.cited(
            fill_quote(self.kb, passage.provenance)
        )

    def name(self, treatment: str) -> str:
        return self.kb.treatments[treatment].name
