"""The answers' lexicon: ``knowledge/lexicon.yaml``, read once at import through a strict
schema. ``vocabulary.py`` (what a question is about) and ``cues.py`` (what it asks)
expose its tables under the names the rest of the package imports.

An unknown table or field, a wrong type (a bare ``no`` read as a boolean), a key written
twice, a word listed twice in one list, a disease, subtype, condition, intent, predicate
or response outside its vocabulary, or a pattern that does not compile is refused by a
:class:`KnowledgeError` naming the file, the record and the field. Which treatment and
source ids it names is checked against the knowledge base by :func:`check_lexicon`.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calcinosis.cachefiles import cache_dir
from calcinosis.datafiles import read_data, validation_error
from calcinosis.decision.patient import Condition, Disease, Response, Subtype
from calcinosis.errors import KnowledgeError
from calcinosis.patterns import compiled

if TYPE_CHECKING:
    from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = [
    "LEXICON",
    "LEXICON_FILE",
    "Intent",
    "Lexicon",
    "Predicate",
    "check_lexicon",
    "read_lexicon",
]

Intent = Literal[
    "efficacy",
    "dose",
    "adverse-effects",
    "contraindication",  # contraindication or safety
    "level-or-grade",
    "comparison",
    "time-to-response",
    "relapse",
    "epidemiology",
    "mechanism",
    "what-not-to-use",
    "first-line",
    "study-size",
    "overview",  # subtypes, definitions, the evidence as a whole
    "patient-specific",
    "unknown",
]

Predicate = Literal[
    "resolves-alone",
    "promotes-calcification",
    "safe-with",
    "usable-at-age",
    "first-line",
    "avoided",
    "recommended",
    "causes",
    "effective",
    "needs-treatment",
    "size-matters",
    "complete-response",
    "preferred-over",
    "can-observe",
    "managed-like",
]

# How a treatment went, as the words around it say: a profile response, or only "tried".
Said = Literal[Response, "tried"]
Fact = Literal["subtype", "age", "disease", "conditions"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Word = str
Words = list[Word]
Patterns = list[str]


class ClassWords(_Strict):
    label: str = Field(min_length=1)
    phrases: Words = Field(min_length=1)
    members: list[str] = []  # empty: every catalog entry of the class


class IntentCues(_Strict):
    intent: Intent
    patterns: Patterns = Field(min_length=1)


class PredicateCues(_Strict):
    predicate: Predicate
    patterns: Patterns = Field(min_length=1)


class ResponseCue(_Strict):
    pattern: str
    response: Said


class AroundCue(_Strict):
    before: str
    after: str  # empty: nothing is asked of the words after


class Cues(_Strict):
    intents: list[IntentCues] = Field(min_length=1)
    also_intents: dict[Intent, Patterns]
    weak_first_line: Patterns
    yes_no_start: Patterns
    yes_no_end: Patterns
    predicates: list[PredicateCues] = Field(min_length=1)
    when: Patterns
    patient: Patterns
    prior_before: list[ResponseCue]
    prior_after: list[ResponseCue]
    prior_list_after: list[ResponseCue]
    unavailable_before: Patterns
    unavailable_after: Patterns
    unavailable_around: list[AroundCue]
    medication: Patterns
    negations: Words
    sources: dict[str, Words]
    best_evidence: Patterns


class Lexicon(_Strict):
    """``lexicon.yaml``, validated."""

    abbreviations: dict[Word, str]
    classes: dict[str, ClassWords]
    aliases: dict[Word, str]
    brands: dict[Word, str]
    routes: dict[Word, str]
    diseases: dict[Word, Disease]
    subtypes: dict[Word, Subtype]
    population_cues: dict[Literal["child", "adult"], Words]
    conditions: dict[Condition, Words]
    subtype_conditions: dict[Subtype, list[Condition]]
    features: dict[str, Words]
    scope_terms: Words
    strong_scope_terms: Words
    not_calcinosis_cutis: dict[str, Words]
    not_calcium_in_the_skin: dict[str, Words]
    off_topic: Words
    not_in_sources: dict[str, Words]
    spelled: Words
    member_of_class: dict[Word, str]
    not_in_catalog: Words
    general_only: dict[str, Words]
    drug_suffixes: Words
    rule_facts: dict[str, Fact]
    rule_scopes: dict[str, str]
    cues: Cues


CHECK_FORMAT: Final = 1  # a change to what a verdict means: older markers are not read
LEXICON_FILE: Final[Traversable] = files("calcinosis") / "knowledge" / "lexicon.yaml"

_WORD_LISTS: Final = (
    "scope_terms",
    "strong_scope_terms",
    "off_topic",
    "spelled",
    "not_in_catalog",
    "drug_suffixes",
)
# The fields whose strings are regular expressions, by where they are in the file.
_PATTERN_LISTS: Final = (
    "weak_first_line",
    "yes_no_start",
    "yes_no_end",
    "when",
    "patient",
    "unavailable_before",
    "unavailable_after",
    "medication",
    "best_evidence",
)


def _unique(name: str, record: str, field: str, words: Iterable[str]) -> None:
    seen: set[str] = set()
    for index, word in enumerate(words):
        if word in seen:
            raise KnowledgeError(name, record, f"{field}[{index}]", f"duplicate {word!r}")
        seen.add(word)


def _compiles(name: str, record: str, field: str, pattern: str) -> None:
    if not pattern:
        return
    try:
        compiled(pattern)
    except re.error as exc:
        raise KnowledgeError(name, record, field, f"not a valid pattern: {exc}") from None


def _check(name: str, lexicon: Lexicon) -> None:
    """What the schema cannot say: no word twice in one list, every pattern compiles."""
    for table in _WORD_LISTS:
        _unique(name, table, "", getattr(lexicon, table))
    for table in (
        "population_cues",
        "conditions",
        "features",
        "not_calcinosis_cutis",
        "not_calcium_in_the_skin",
        "not_in_sources",
        "general_only",
    ):
        lists: Mapping[str, list[str]] = getattr(lexicon, table)
        for key, words in lists.items():
            _unique(name, f"{table}.{key}", "", words)
    for key, term in lexicon.classes.items():
        _unique(name, f"classes.{key}", "phrases", term.phrases)
        _unique(name, f"classes.{key}", "members", term.members)
    _unique(name, "cues.negations", "", lexicon.cues.negations)


def _check_patterns(name: str, cues: Cues) -> None:
    for index, group in enumerate(cues.intents, start=1):
        record = f"cues.intents #{index} ({group.intent})"
        for i, pattern in enumerate(group.patterns):
            _compiles(name, record, f"patterns[{i}]", pattern)
    for index, predicate in enumerate(cues.predicates, start=1):
        record = f"cues.predicates #{index} ({predicate.predicate})"
        for i, pattern in enumerate(predicate.patterns):
            _compiles(name, record, f"patterns[{i}]", pattern)
    for intent, patterns in cues.also_intents.items():
        for i, pattern in enumerate(patterns):
            _compiles(name, f"cues.also_intents.{intent}", f"[{i}]", pattern)
    for table in _PATTERN_LISTS:
        for i, pattern in enumerate(getattr(cues, table)):
            _compiles(name, f"cues.{table}", f"[{i}]", pattern)
    for table in ("prior_before", "prior_after", "prior_list_after"):
        for index, cue in enumerate(getattr(cues, table), start=1):
            _compiles(name, f"cues.{table} #{index}", "pattern", cue.pattern)
    for index, around in enumerate(cues.unavailable_around, start=1):
        _compiles(name, f"cues.unavailable_around #{index}", "before", around.before)
        _compiles(name, f"cues.unavailable_around #{index}", "after", around.after)


def read_lexicon(source: Traversable | Path = LEXICON_FILE) -> Lexicon:
    """``lexicon.yaml`` (or ``source``), validated; KnowledgeError if it is not."""
    name = source.name
    data = read_data(source)
    if not isinstance(data, dict):
        raise KnowledgeError(name, None, None, "must be a mapping of tables")
    try:
        lexicon = Lexicon.model_validate(data)
    except ValidationError as exc:
        # the record: a table's entry ("diseases.lupus"), a cue table's ("cues.intents #3")
        cue = tuple(exc.errors()[0]["loc"])[:1] == ("cues",)
        raise validation_error(name, exc, 3 if cue else 2) from None
    _check(name, lexicon)
    checked = _checked_marker(source)
    if checked is None or not checked.exists():
        _check_patterns(name, lexicon.cues)
        _mark(checked)
    return lexicon


def _checked_marker(source: Traversable | Path) -> Path | None:
    """The file whose presence says that these patterns, checked by this code, compile.

    Compiling the lexicon's few hundred patterns to check them was 4.5% of the
    instructions of each ``calcinosis ask`` (116 M of 2.60 G, counted by callgrind). The
    verdict depends only on the file's bytes, this module's source and Python's ``re``, so
    it is kept under their SHA-256 in the cache directory of the estimates
    (``CALCINOSIS_CACHE_DIR``): a changed file, module or Python checks again. None when it
    cannot be worked out."""
    try:
        digest = hashlib.sha256(source.read_bytes())
        digest.update(b"\0" + Path(__file__).read_bytes())
    except OSError:
        return None
    digest.update(f"\0{sys.version}\0{CHECK_FORMAT}".encode())
    return cache_dir() / f"lexicon-{digest.hexdigest()}.checked"


def _mark(checked: Path | None) -> None:
    """Leave the verdict for the next process; nothing when the directory is unwritable."""
    if checked is None:
        return
    try:
        checked.parent.mkdir(parents=True, exist_ok=True)
        checked.touch()
    except OSError:
        return


def check_lexicon(kb: KnowledgeBase, lexicon: Lexicon | None = None) -> None:
    """Every treatment, class and source id the lexicon names exists in ``kb``."""
    lexicon = lexicon or LEXICON
    name = LEXICON_FILE.name

    def known(record: str, field: str | None, value: str, valid: Iterable[str], what: str) -> None:
        if value not in set(valid):
            raise KnowledgeError(name, record, field, f"unknown {what} {value!r}")

    for key, term in lexicon.classes.items():
        known(f"classes.{key}", None, key, kb.classes, "class")
        for index, member in enumerate(term.members):
            known(f"classes.{key}", f"members[{index}]", member, kb.treatments, "treatment")
    for table in ("aliases", "brands", "member_of_class"):
        for words, treatment in getattr(lexicon, table).items():
            known(f"{table}.{words}", None, treatment, kb.treatments, "treatment")
    for source in lexicon.cues.sources:
        known(f"cues.sources.{source}", None, source, kb.sources, "source")


LEXICON: Final = read_lexicon()
