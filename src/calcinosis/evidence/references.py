"""Sources as clinicians cite them: authors, title, journal, year, DOI/PMID, and the place.

One place for how a source reads to a user (text, HTML, JSON, CDS cards). Users see
references, never file names; an AI-generated answer is always labelled as such.

And one place for numbering them: :class:`Citations` gives each passage cited by a
document (a plan, an answer) its number, in the order first cited; :func:`marks` writes
``[1][3]`` and :func:`places` the "label, location" a CDS card shows for numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from calcinosis.evidence.derived import derived, derived_bounded
from calcinosis.evidence.documents import CitationDocument, Reference
from calcinosis.evidence.names import SOURCE_NAMES
from calcinosis.evidence.schemas import Provenance, Source

if TYPE_CHECKING:
    from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = [
    "Citation",
    "Citations",
    "citation_kind",
    "flagged_figures",
    "marks",
    "places",
    "redact",
    "reference",
    "reference_text",
    "short_label",
    "surname",
]


def surname(first_author: str) -> str:
    """'Marco Puche A' -> 'Marco Puche'; 'Moazedi-Fuerst FC' -> 'Moazedi-Fuerst'."""
    parts = first_author.replace(".", "").split()
    if len(parts) > 1 and parts[-1].isupper() and len(parts[-1]) <= 3:
        parts = parts[:-1]
    return " ".join(parts)


def short_label(source: Source) -> str:
    """How a source is named in a line: 'Doe et al., J Example 2025' for a study."""
    if source.kind == "study" and source.authors:
        more = " et al." if len(source.authors) > 1 else ""
        return f"{surname(source.authors[0])}{more}, {source.journal} {source.year}"
    name = SOURCE_NAMES.get(source.id)
    return name.label if name is not None else source.title


def citation_kind(source: Source) -> str:
    """``ai-generated`` for the AI answer; otherwise the source's kind."""
    return "ai-generated" if source.kind == "ai-answer" else source.kind


def _url(source: Source) -> str | None:
    if source.doi:
        return f"https://doi.org/{source.doi}"
    if source.pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{source.pmid}/"
    return None


def reference(source: Source) -> Reference:
    """The bibliographic reference of the contract's citation object."""
    return Reference(
        authors=list(source.authors),
        title=" ".join(source.title.split()),
        journal=source.journal,
        year=source.year,
        volume_pages=source.citation,
        doi=source.doi,
        pmid=source.pmid,
        url=_url(source),
    )


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


def flagged_figures(kb: KnowledgeBase) -> tuple[str, ...]:
    """Figures the audit records as unit errors (e.g. colchicine "≤1.2 g per day")."""
    return kb.flagged_figures


def redact(kb: KnowledgeBase, text: str | None) -> str | None:
    """The passage with every audit-flagged figure (a dose published with the wrong
    unit, e.g. colchicine in grams where milligrams were meant) cut out as "[…]": a
    dose that would harm is never shown, even flagged; the answer says why next to the quote."""
    if not text:
        return text
    for figure in flagged_figures(kb):
        text = text.replace(figure, "[…]")
    return text


# ------------------------------------------------------------------ numbering


Citation = CitationDocument
"""One numbered passage of a document: the contract's citation object (the one model of
every face: plans, answers, CDS cards)."""


@derived
def _source_view(kb: KnowledgeBase, source_id: str) -> tuple[str, str, Reference, str]:
    """How a source reads (label, kind, reference, reference text), once per source."""
    source = kb.sources[source_id]
    return short_label(source), citation_kind(source), reference(source), reference_text(source)


@derived_bounded(8192)
def _citation(kb: KnowledgeBase, n: int, source: str, location: str, quote: str | None) -> Citation:
    """One numbered passage, built once (shared: it is frozen)."""
    label, kind, ref, text = _source_view(kb, source)
    return Citation(
        n=n,
        label=label,
        source=source,
        kind=kind,
        reference=ref,
        reference_text=text,
        location=location,
        quote=quote,
    )


class Citations:
    """The citations of one document, numbered in the order they are first cited.

    One number per passage: its source, location and quote. With ``by_place`` (plans),
    a provenance without a quote takes the number of its place already cited, and a
    place cited bare and later with its words keeps its number and gains the words;
    without it (answers), every quote is its own passage. Quotes are redacted
    (:func:`redact`): a dose printed in the wrong unit is never shown.
    """

    def __init__(self, kb: KnowledgeBase, *, by_place: bool = True) -> None:
        self.kb = kb
        self.by_place = by_place
        self._items: dict[tuple[str, str, str], Citation] = {}  # (source, location, quote)
        self._places: dict[tuple[str, str], int] = {}

    def number(self, provenance: Provenance) -> int:
        """The number of this passage, given it when it is first cited."""
        place = (provenance.source, provenance.location)
        if self.by_place and provenance.quote is None and place in self._places:
            return self._places[place]
        key = (*place, provenance.quote or "")
        bare = (*place, "")
        if self.by_place and key not in self._items and bare in self._items:
            self._items[key] = self._item(self._items.pop(bare).n, place, provenance.quote)
        if key not in self._items:
            cited = self._item(len(self._items) + 1, place, provenance.quote)
            self._items[key] = cited
            self._places.setdefault(place, cited.n)
        return self._items[key].n

    def _item(self, n: int, place: tuple[str, str], quote: str | None) -> Citation:
        return _citation(self.kb, n, *place, redact(self.kb, quote))

    def numbers(self, provenances: Iterable[Provenance | None]) -> list[int]:
        """The sorted, distinct numbers of these passages (``None`` skipped)."""
        return sorted({self.number(p) for p in provenances if p is not None})

    def cite(self, *provenances: Provenance | None) -> str:
        """``[1][3]`` for these passages."""
        return marks(self.numbers(provenances))

    def cited(self, provenance: Provenance) -> bool:
        """Whether this passage has its number already."""
        key = (provenance.source, provenance.location, provenance.quote or "")
        return key in self._items

    def items(self) -> list[Citation]:
        """The citations in the order of their numbers."""
        return sorted(self._items.values(), key=lambda item: item.n)

    def documents(self) -> list[CitationDocument]:
        """The citations as the documents of a plan or an answer (the same as
        :meth:`items`: a citation is its document)."""
        return self.items()

    def renumber(self, texts: Sequence[str]) -> list[str]:
        """Number again in the order ``texts`` show the marks; uncited passages dropped."""
        order: dict[int, int] = {}
        for text in texts:
            for found in re.findall(r"\[(\d+)\]", text):
                order.setdefault(int(found), len(order) + 1)
        self._items = {
            key: _citation(self.kb, order[item.n], item.source, item.location, item.quote)
            for key, item in self._items.items()
            if item.n in order
        }
        self._places = {}
        for (source, location, _), item in sorted(self._items.items(), key=lambda kv: kv[1].n):
            self._places.setdefault((source, location), item.n)

        def swap(text: str) -> str:
            text = re.sub(r"\[(\d+)\]", lambda m: f"[{order[int(m.group(1))]}]", text)
            return re.sub(  # [3][1] -> [1][3]
                r"(?:\[\d+\])+",
                lambda m: marks(int(x) for x in re.findall(r"\d+", m.group(0))),
                text,
            )

        return [swap(text) for text in texts]


def marks(numbers: Iterable[int]) -> str:
    """``[1][3]``: the citation marks of these numbers, sorted, each once."""
    return "".join(f"[{n}]" for n in sorted(set(numbers)))


def places(citations: Sequence[CitationDocument], numbers: Iterable[int]) -> str:
    """ "Label, location; label, location" of these numbers, from a document's citations."""
    by_n = {citation.n: citation for citation in citations}
    return "; ".join(f"{by_n[n].label}, {by_n[n].location}" for n in numbers if n in by_n)
