"""Sources as clinicians cite them: authors, title, journal, year, DOI/PMID, and the place.

One place for how a source reads to a user (text, HTML, JSON, CDS cards). Users see
references, never file names; an AI-generated answer is always labelled as such.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from calcinosis.models import Source

if TYPE_CHECKING:
    from calcinosis.evidence import KnowledgeBase

__all__ = [
    "citation_kind",
    "flagged_figures",
    "redact",
    "reference",
    "reference_text",
    "short_label",
]

_SHORT = {
    "traineau-2020": "Traineau et al., J Am Acad Dermatol 2020 (systematic review)",
    "traineau-2020-abstract": "Traineau et al., J Am Acad Dermatol 2020 (abstract)",
    "management-topic": "Calcinosis cutis: management (point-of-care topic)",
    "nowaczyk-2021": "Nowaczyk et al., Arch Dermatol Res 2021 (systematic review of local "
    "therapies)",
    "ai-answer-dm": "AI-generated answer on calcinosis cutis in dermatomyositis (not "
    "peer-reviewed)",
}


def short_label(source: Source) -> str:
    return _SHORT.get(source.id, source.title)


def citation_kind(source: Source) -> str:
    """``ai-generated`` for the AI answer; otherwise the source's kind."""
    return "ai-generated" if source.kind == "ai-answer" else source.kind


def _url(source: Source) -> str | None:
    if source.doi:
        return f"https://doi.org/{source.doi}"
    if source.pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{source.pmid}/"
    return None


def reference(source: Source) -> dict[str, Any]:
    """The bibliographic reference of the contract's citation object."""
    return {
        "authors": list(source.authors),
        "title": " ".join(source.title.split()),
        "journal": source.journal,
        "year": source.year,
        "volume_pages": source.citation,
        "doi": source.doi,
        "pmid": source.pmid,
        "url": _url(source),
    }


def reference_text(source: Source) -> str:
    """'Traineau H, Aggarwal R, et al. Title. J Am Acad Dermatol 2020;82(2):317-325. doi:...'"""
    title = " ".join(source.title.split()).rstrip(".")
    if source.kind == "ai-answer":
        return f"AI-generated answer, not peer-reviewed: {title}"
    if not source.journal:
        return f"{title} (point-of-care topic)" if source.kind == "point-of-care-topic" else title
    names = [a for a in source.authors if a != "et al."]
    authors = ", ".join(names[:3])
    if len(names) > 3 or "et al." in source.authors:
        authors += ", et al"
    where = f"{source.journal} {source.year}"
    citation = source.citation or ""
    if citation[:1].isdigit() and ";" not in citation and not citation.startswith(str(source.year)):
        where += f";{citation}"  # volume(issue):pages; a date ("2021 Jun 24") adds nothing
    text = f"{authors}. {title}. {where}."
    if source.doi:
        text += f" doi:{source.doi}."
    if source.pmid:
        text += f" PMID: {source.pmid}."
    return text


@cache
def flagged_figures(kb: KnowledgeBase) -> tuple[str, ...]:
    """Figures the audit records as unit errors (e.g. colchicine "≤1.2 g per day")."""
    flagged: list[str] = []
    for finding in kb.findings:
        if finding.kind == "unit":
            flagged += re.findall(r"\(([^)]+)\)", finding.published) or [finding.published]
    return tuple(flagged)


def redact(kb: KnowledgeBase, text: str | None) -> str | None:
    """The passage with every audit-flagged figure (a dose published with the wrong
    unit, e.g. colchicine in grams where milligrams were meant) cut out as "[…]": a
    dose that would harm is never shown, even flagged; the answer says why next to the quote."""
    if not text:
        return text
    for figure in flagged_figures(kb):
        text = text.replace(figure, "[…]")
    return text
