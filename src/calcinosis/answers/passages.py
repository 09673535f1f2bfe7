"""The passages an answer can quote: every sentence of the knowledge base, once.

A :class:`Passage` is one quoted sentence (a statement of ``statements.yaml``, or a
claim of the treatment catalog: mechanism, regimen, adverse effect, rule, note),
with the treatments it is about and whom it is about (:class:`AppliesTo`). The
same quote in several records is one passage. Claims the catalog stores without a
quote take the quote of their location that contains them, so that a citation
always shows the sentence that carries the claim. An SQLite FTS5 index (BM25)
over the passages finds the nearest ones for a question.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from calcinosis import patterns as rx
from calcinosis.evidence.applicability import AppliesTo, applies_to_regimen, applies_to_statement
from calcinosis.evidence.derived import derived
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.schemas import Arm, Claim, Contraindication, Provenance, Regimen, Statement
from calcinosis.patterns import compiled

__all__ = [
    "Passage",
    "arm_provenance",
    "fill_quote",
    "passages",
    "passages_of",
    "search",
    "statement_provenance",
    "whole_passage",
]

# Whom a catalog claim is about when no statement carries the same quote: by source,
# and for the management topic by the heading its location starts under.
_TOPIC_HEADINGS: tuple[tuple[str, AppliesTo], ...] = (
    ("Iatrogenic", AppliesTo(("iatrogenic",))),
    ("Idiopathic", AppliesTo(("idiopathic",))),
    ("Metastatic", AppliesTo(("metastatic",))),
    ("Calciphylaxis", AppliesTo(("calciphylaxis",))),
    ("Dystrophic", AppliesTo(("dystrophic",), ("autoimmune-CTD",))),
    ("Summary and recommendations > Dystrophic", AppliesTo(("dystrophic",), ("autoimmune-CTD",))),
)
_BY_SOURCE: dict[str, AppliesTo] = {
    "traineau-2020": AppliesTo(("dystrophic",), ("DM", "SSc")),
    "traineau-2020-abstract": AppliesTo(("dystrophic",), ("DM", "SSc")),
    "ai-answer-dm": AppliesTo(("dystrophic",), ("DM",)),
    "nowaczyk-2021": AppliesTo(),
    "management-topic": AppliesTo(),
}
_STOPWORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "should",
        "the",
        "to",
        "what",
        "when",
        "which",
        "who",
        "with",
        "my",
        "this",
        "that",
        "there",
        "their",
        "patient",
        "patients",
        "treatment",
        "treat",
        "calcinosis",
        "cutis",
        "use",
        "used",
        "using",
    )
)


@dataclass(frozen=True)
class Passage:
    """One sentence of a source, with what and whom it is about."""

    id: str
    text: str  # the source's words; the catalog's own words only when no quote exists
    provenance: Provenance  # its quote filled
    treatments: tuple[str, ...]
    applies_to: AppliesTo
    kind: str  # a statement kind, or mechanism | regimen | adverse-effect | rule | note
    direction: str | None = None
    grade: str | None = None
    level: str | None = None
    quoted: bool = True  # False: ``text`` is the catalog's paraphrase


@lru_cache(maxsize=16384)  # the knowledge base's sentences, compared again and again
def _letters(text: str) -> str:
    """The letters and digits of ``text``, case folded: ``\\W`` and ``_`` are exactly the
    characters for which ``str.isalnum`` is false."""
    return _NOT_ALNUM.sub("", text.casefold())


_NOT_ALNUM = compiled(r"[\W_]+")


@derived
def _quotes_by_location(kb: KnowledgeBase) -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], list[str]] = {}

    def add(provenance: Provenance | None) -> None:
        if provenance is not None and provenance.quote:
            found.setdefault((provenance.source, provenance.location), []).append(provenance.quote)

    for statement in kb.statements:
        add(Provenance(source=statement.source, location=statement.location, quote=statement.quote))
    for entry in kb.treatments.values():
        for claim in (*entry.mechanism, *entry.regimens, *entry.adverse_effects, *entry.notes):
            add(claim.provenance)
        for rule in entry.contraindications:
            add(rule.provenance)
    for arm in kb.arms:
        add(arm_provenance(arm))
    return {key: tuple(dict.fromkeys(values)) for key, values in found.items()}


def statement_provenance(statement: Statement) -> Provenance:
    """Where a statement comes from, its quote filled."""
    return Provenance(source=statement.source, location=statement.location, quote=statement.quote)


def arm_provenance(arm: Arm) -> Provenance:
    """An arm's provenance; a table row without a quote quotes its printed cells."""
    if arm.provenance.quote or arm.printed is None:
        return arm.provenance
    cells = [c for c in arm.printed.model_dump(exclude_none=True).values() if c]
    return arm.provenance.model_copy(update={"quote": " | ".join(str(c) for c in cells)})


def fill_quote(kb: KnowledgeBase, provenance: Provenance, claim: str | None = None) -> Provenance:
    """The provenance with the quote of its location that carries ``claim``."""
    if provenance.quote:
        return provenance
    by_location = _quotes_by_location(kb)
    quotes = by_location.get((provenance.source, provenance.location), ())
    if not quotes:  # "Table 4, Rituximab row (no level printed)": the row's own cells
        bare = rx.sub(r"\s*\([^)]*\)$", "", provenance.location)
        quotes = by_location.get((provenance.source, bare), ())
    wanted = _letters(rx.sub(r"\([^)]*\)", "", claim or ""))
    carrying = [q for q in quotes if wanted and wanted in _letters(q)]
    if not carrying and len(quotes) == 1:
        carrying = list(quotes)
    if not carrying:
        return provenance
    return provenance.model_copy(update={"quote": carrying[0]})


def _default_applies(provenance: Provenance) -> AppliesTo:
    if provenance.source == "management-topic":
        for heading, applies in _TOPIC_HEADINGS:
            if provenance.location.startswith(heading):
                return applies
    return _BY_SOURCE.get(provenance.source, AppliesTo())


def _claims(kb: KnowledgeBase) -> Iterable[tuple[str, str, Claim | Contraindication, str]]:
    for entry in kb.treatments.values():
        groups: Sequence[tuple[str, Sequence[Claim | Contraindication]]] = (
            ("mechanism", entry.mechanism),
            ("regimen", entry.regimens),
            ("adverse-effect", entry.adverse_effects),
            ("rule", entry.contraindications),
            ("note", entry.notes),
        )
        for kind, claims in groups:
            for index, claim in enumerate(claims):
                yield f"{entry.id}-{kind}-{index}", entry.id, claim, kind


@derived
def passages(kb: KnowledgeBase) -> tuple[Passage, ...]:
    """Every quoted sentence of the knowledge base, each once, treatments merged."""
    by_quote: dict[tuple[str, str], Passage] = {}
    statement_applies: dict[tuple[str, str], AppliesTo] = {}
    order: list[tuple[str, str]] = []

    def put(passage: Passage) -> None:
        key = (passage.provenance.source, _letters(passage.text))
        old = by_quote.get(key)
        if old is None:
            by_quote[key] = passage
            order.append(key)
            return
        merged = tuple(dict.fromkeys((*old.treatments, *passage.treatments)))
        by_quote[key] = Passage(
            old.id,
            old.text,
            old.provenance,
            merged,
            old.applies_to,
            old.kind,
            old.direction or passage.direction,
            old.grade or passage.grade,
            old.level or passage.level,
            old.quoted,
        )

    for s in kb.statements:
        provenance = Provenance(source=s.source, location=s.location, quote=s.quote)
        applies = applies_to_statement(s)
        statement_applies[(s.source, _letters(s.quote))] = applies
        put(
            Passage(
                s.id,
                s.quote,
                provenance,
                tuple(s.treatments),
                applies,
                s.kind,
                s.direction,
                s.grade,
                s.level,
            )
        )
    for pid, treatment, claim, kind in _claims(kb):
        if claim.provenance.location.startswith("References"):
            continue  # a reference list's title is where a claim comes from, not evidence
        provenance = fill_quote(kb, claim.provenance, claim.text)
        quote = provenance.quote
        applies = statement_applies.get(
            (provenance.source, _letters(quote or ""))
        ) or _default_applies(provenance)
        if isinstance(claim, Regimen) and claim.population != "any":
            applies = AppliesTo(
                applies.subtypes, applies.diseases, applies_to_regimen(claim).population
            )
        direction = None
        if isinstance(claim, Contraindication) and claim.stance == "avoid":
            direction = "against"
        put(
            Passage(
                pid,
                quote or claim.text,
                provenance,
                (treatment,),
                applies,
                kind,
                direction,
                quoted=quote is not None,
            )
        )
    return tuple(by_quote[key] for key in order)


@derived
def _by_treatment(kb: KnowledgeBase) -> dict[str, tuple[int, ...]]:
    """The positions (in ``passages``) of the passages about each treatment."""
    found: dict[str, list[int]] = {}
    for index, passage in enumerate(passages(kb)):
        for treatment in dict.fromkeys(passage.treatments):
            found.setdefault(treatment, []).append(index)
    return {treatment: tuple(indexes) for treatment, indexes in found.items()}


def passages_of(kb: KnowledgeBase, treatments: Iterable[str]) -> list[Passage]:
    """The passages about any of ``treatments``, in the order of ``passages``."""
    by_treatment = _by_treatment(kb)
    every = passages(kb)
    indexes = sorted({i for t in set(treatments) for i in by_treatment.get(t, ())})
    return [every[i] for i in indexes]


@derived
def _letters_of(kb: KnowledgeBase) -> tuple[tuple[str, str], ...]:
    return tuple((p.provenance.source, _letters(p.text)) for p in passages(kb))


def whole_passage(kb: KnowledgeBase, passage: Passage) -> str:
    """The longest passage of the same source that contains this one (a catalog quote
    is often a cut of a statement's sentence, without the conditions around it)."""
    letters = _letters(passage.text)
    found = [
        other.text
        for other, (source, text) in zip(passages(kb), _letters_of(kb), strict=True)
        if source == passage.provenance.source and letters in text
    ]
    return max(found, key=len, default=passage.text)


@derived
def _index(kb: KnowledgeBase) -> sqlite3.Connection:
    """An in-memory FTS5 index of the passages, built once per knowledge base."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.execute(
        "CREATE VIRTUAL TABLE passages USING fts5(text, treatments, tokenize='porter unicode61')"
    )
    connection.executemany(
        "INSERT INTO passages(rowid, text, treatments) VALUES (?, ?, ?)",
        [
            (index, p.text, " ".join(t.replace("-", " ") for t in p.treatments))
            for index, p in enumerate(passages(kb))
        ],
    )
    return connection


def search(
    kb: KnowledgeBase,
    text: str,
    limit: int = 5,
    treatments: Iterable[str] = (),
    phrases: Iterable[str] = (),
) -> list[Passage]:
    """The passages nearest to ``text`` (BM25), optionally about ``treatments`` only;
    ``phrases`` are searched as phrases, their words only side by side (the stemmer reads
    "tumoral" as "tumor": alone, it finds tumor necrosis factor inhibitors)."""
    words = [w for w in rx.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]
    words = [w for w in words if len(w) > 2]
    terms = [f'"{w}"' for w in words]
    terms += [f'"{" ".join(rx.findall(r"[a-z0-9]+", p.lower()))}"' for p in phrases]
    if not terms:
        return []
    query = " OR ".join(dict.fromkeys(terms))
    wanted = set(treatments)
    rows = _index(kb).execute(
        "SELECT rowid FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
        (query, 60 if wanted else limit),
    )
    all_passages = passages(kb)
    found = [all_passages[row[0]] for row in rows.fetchall()]
    if wanted:
        found = [p for p in found if wanted & set(p.treatments)]
    return found[:limit]
