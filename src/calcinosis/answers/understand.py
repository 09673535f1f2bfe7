"""From the words of a question to a typed :class:`~calcinosis.answers.query.Query`.

Nothing is retrieved here. The question is normalised (case, accents, punctuation),
small typos are corrected against the domain vocabulary, and then, each from its
own table in ``vocabulary.py``: the treatments (catalog names and synonyms, class
words, aliases, route words), the underlying disease, the subtype, the age and age
group, patient conditions and lesion features, the scope, one primary intent, and
for a yes/no question the proposition it asks about.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

from calcinosis import patterns as rx
from calcinosis.answers.cues import (
    ALSO_INTENTS,
    BEST_EVIDENCE,
    INTENT_CUES,
    MEDICATION_CUES,
    NEGATIONS,
    PATIENT_CUES,
    PREDICATE_CUES,
    PRIOR_AFTER,
    PRIOR_BEFORE,
    PRIOR_LIST_AFTER,
    SOURCE_CUES,
    UNAVAILABLE_AFTER,
    UNAVAILABLE_AROUND,
    UNAVAILABLE_BEFORE,
    WEAK_FIRST_LINE,
    YES_NO_END,
    YES_NO_START,
    Intent,
    Predicate,
)
from calcinosis.answers.query import AgeGroup, Proposition, Query
from calcinosis.answers.vocabulary import (
    ABBREVIATIONS,
    ALIASES,
    CLASSES,
    CONDITIONS,
    DISEASES,
    DRUG_SUFFIXES,
    FEATURES,
    GENERAL_ONLY,
    NOT_CALCINOSIS_CUTIS,
    NOT_CALCIUM_IN_THE_SKIN,
    NOT_IN_CATALOG,
    NOT_IN_SOURCES,
    OFF_TOPIC,
    POPULATION_CUES,
    ROUTES,
    SCOPE_TERMS,
    SPELLED,
    STRONG_SCOPE_TERMS,
    SUBTYPE_CONDITIONS,
    SUBTYPES,
)
from calcinosis.evidence.derived import derived
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.evidence.knowledge_base import surname as surname_of
from calcinosis.patterns import compiled

__all__ = ["normalise", "understand"]

_NUMBER_WORDS = {
    word: str(number)
    for number, word in enumerate(
        (
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        )
    )
}
_AGES = (
    (compiled(r" (\d{1,3}) ?(?:years?|yrs?|y) ?old "), 1.0),
    (compiled(r" (\d{1,3}) ?yo "), 1.0),
    (compiled(r" (?:aged?|age of) (\d{1,3}) "), 1.0),
    (compiled(r" (\d{1,3}) years? of age "), 1.0),
    (compiled(r" (\d{1,3}) (?:female|male|woman|man|girl|boy) "), 1.0),
    # "my patient is 8 with JDM", "she is 15 and ..."
    (
        compiled(
            r" (?:patient|pt|child|kid|son|daughter|girl|boy|he|she|who) is (?:now )?(\d{1,2})"
            r" (?:with|and|has|had|who|now) "
        ),
        1.0,
    ),
    # "45F with SSc", "45 f with", "8m with JDM" (not "8 m": months?)
    (compiled(r" (\d{1,3})(?: ?f|m) (?:with|w|has|had|and|who|pt|patient|presenting) "), 1.0),
    (compiled(r" (\d{1,3}) ?(?:months?|mo) ?old "), 1 / 12),
    (compiled(r" (\d{1,2}) ?(?:weeks?|wks?|wk) ?old "), 1 / 52),
    (
        compiled(
            r" (?:infant|baby|child|boy|girl|toddler|neonate|newborn) (?:aged? )?(\d{1,2})"
            r" ?(?:months?|mo) "
        ),
        1 / 12,
    ),
    (
        compiled(r" (?:infant|baby|neonate|newborn) (?:aged? )?(\d{1,2}) ?(?:weeks?|wks?|wk) "),
        1 / 52,
    ),
)
_ADULT_AGE = 18
_LEVEL_WORDS = compiled(r" (level|grade|evidence) (of evidence )?(iv|iib|iia|ib|ia|ii|iii|i) ")


_ORDINALS = {"1st": "first", "2nd": "second", "3rd": "third"}
# What normalise rewrites, in its order: each expression compiled once, and those that
# need a slash, a full stop or a digit tried only when the text has one.
_SLASHED = (
    (compiled(r"\by/o\b"), " year old "),
    (compiled(r"\bw/o\b"), " without "),
    (compiled(r"\bw/"), " with "),
    (compiled(r"\bs/p\b"), " status post "),
    (compiled(r"\bf/u\b"), " follow up "),
    (compiled(r"\band/or\b"), " or "),
    (compiled(r"(?<=[a-z]) ?/ ?(?=[a-z])"), " or "),  # "excision / microdrilling"
)
_NOT_WORDS = compiled(r"[^a-z0-9.]+")
_NOT_DECIMAL_POINT = compiled(r"(?<!\d)\.|\.(?!\d)")
_DIGIT = compiled(r"\d")
_ORDINAL = compiled(r"\b(1st|2nd|3rd)\b")
_NUMBER_UNIT = compiled(r"\b(\d+)([a-z]+)\b")


def normalise(text: str) -> str:
    """Lower case, ASCII, words separated by single spaces, padded with a space;
    number words as digits, abbreviations spelled out ("pts", "w", "7yo", "62F")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    if "/" in text:  # each of these needs a slash (a term of the tables seldom has one)
        for slashed, spelled in _SLASHED:
            text = slashed.sub(spelled, text)
    text = _NOT_WORDS.sub(" ", text)
    if "." in text:
        text = _NOT_DECIMAL_POINT.sub(" ", text)
    if _DIGIT.search(text):
        text = _ORDINAL.sub(lambda m: _ORDINALS[m.group(1)], text)  # "1st line"
        text = _NUMBER_UNIT.sub(r"\1 \2", text)
    words = [ABBREVIATIONS.get(w, _NUMBER_WORDS.get(w, w)) for w in text.split()]
    return " " + " ".join(words) + " "


# A table's words are normalised as a question is, once each: the tables are constants (and
# the catalog's names few), so these caches stay small.
@lru_cache(maxsize=16384)
def _literal(term: str) -> str:
    """``term`` normalised, without the padding: what must be in a question for it to match."""
    return normalise(term).strip()


@lru_cache(maxsize=16384)
def _pattern(term: str) -> re.Pattern[str]:
    return compiled(rf"(?<= ){re.escape(_literal(term))}(?:s)?(?= )")  # plurals too


def _finditer(term: str, text: str) -> Iterable[re.Match[str]]:
    """The whole-word matches of ``term`` (or its plural) in ``text``; the regular
    expression runs only when the words are there at all."""
    return _pattern(term).finditer(text) if _literal(term) in text else ()


@dataclass(frozen=True)
class _Term:
    words: str  # normalised; its expression is compiled when a question has these words
    ids: tuple[str, ...]
    cls: str | None  # the class the words name, if they name one


def _members(kb: KnowledgeBase, cls: str) -> tuple[str, ...]:
    """The catalog entries a class word stands for (narrowed by the class table)."""
    term = CLASSES.get(cls)
    members = (term.members if term else ()) or kb.classes.get(cls, ())
    return tuple(m for m in members if m in kb.treatments)


@derived
def _lexicon(kb: KnowledgeBase) -> tuple[_Term, ...]:
    """Every way a treatment is named, longest first (the catalog, then the tables)."""
    terms: dict[str, _Term] = {}

    def add(words: str, ids: tuple[str, ...], cls: str | None = None) -> None:
        key = normalise(words).strip()
        if len(key) > 2 and ids and key not in terms:
            terms[key] = _Term(key, ids, cls)

    for entry in kb.treatments.values():
        for words in (entry.name, entry.id.replace("-", " "), *entry.synonyms):
            add(words, (entry.id,))
    for cls, term in CLASSES.items():
        for words in term.phrases:
            add(words, _members(kb, cls), cls)
    for words, treatment in ALIASES.items():
        if treatment in kb.treatments:
            add(words, (treatment,))
    return tuple(sorted(terms.values(), key=lambda term: -len(term.words)))


@derived
def _lexicon_by_word(kb: KnowledgeBase) -> dict[str, tuple[int, ...]]:
    """The positions in ``_lexicon`` of the terms a question's word may begin: a term of
    several words by its first word, a one-word term by itself and its plural (what its
    expression can match)."""
    found: dict[str, list[int]] = {}
    for index, term in enumerate(_lexicon(kb)):
        words = _literal(term.words).split(" ")
        for key in (words[0], f"{words[0]}s") if len(words) == 1 else (words[0],):
            found.setdefault(key, []).append(index)
    return {key: tuple(indexes) for key, indexes in found.items()}


@derived
def _study_names(kb: KnowledgeBase) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each included study by its first author's surname (with or without its year), and
    by the institution its title names as its own ("the Mayo Clinic experience": the
    Mayo Clinic series, cohort or study)."""
    names = []
    for study in kb.studies.values():
        surname = normalise(surname_of(study.first_author)).strip()
        if len(surname) >= 4:
            names.append((compiled(rf" {re.escape(surname)}( et al)?( \d{{4}})? "), study.id))
        institution = _OWN_INSTITUTION.search(" ".join(study.title.split()))
        if institution:
            name = normalise(institution.group(1)).strip()
            names.append((compiled(rf" {re.escape(name)} "), study.id))
    return tuple(names)


# A title's own institution: "the Mayo Clinic experience" (capitalised words, two or more)
_OWN_INSTITUTION = re.compile(r"\bthe ((?:[A-Z][a-z]+ ){2,4})experience\b")


def _studies(text: str, kb: KnowledgeBase) -> tuple[str, ...]:
    return tuple(study for pattern, study in _study_names(kb) if pattern.search(text))


@derived
def _vocabulary(kb: KnowledgeBase) -> tuple[str, ...]:
    """The words typos are corrected to: names (one-word treatment, disease and subtype
    terms) and the domain's own long words, never the English words of longer names
    ("frequently" is not a typo of the "frequency" of low frequency ultrasound)."""
    names: Iterable[str] = (
        *(term.words for term in _lexicon(kb) if " " not in term.words),
        *(key for key in (*DISEASES, *SUBTYPES, *SCOPE_TERMS) if " " not in key),
        *(w for words in CONDITIONS.values() for w in words if " " not in w),
        *SPELLED,
    )
    return tuple(sorted({w for w in names if len(w) >= 5}))


_INFLECTIONS = frozenset({"s", "es", "ed", "d", "ing", "er", "ers", "ly", "al", "ment"})


def _inflection(word: str, match: str) -> bool:
    short, long = sorted((word, match), key=len)
    return long.startswith(short) and long[len(short) :] in _INFLECTIONS


_CLOSE = 0.82  # how close a word must be to a vocabulary word to be read as its typo
# A word that is another with a negating prefix is no typo of it: "ineffective" is not
# "effective", "unsafe" is not "safe" (blind round 21: "which treatments are
# ineffective" was read as "effective")
_NEGATING_PREFIXES = ("in", "un", "non", "im", "ir", "il", "dis")


def _negated(word: str, match: str) -> bool:
    short, long = sorted((word, match), key=len)
    return long.endswith(short) and long[: len(long) - len(short)] in _NEGATING_PREFIXES


class _Speller:
    """The vocabulary of one knowledge base, and the closest word found
    for each word looked up so far (kept with the base: ``derived``)."""

    _REMEMBERED = 20_000  # words whose closest match is kept; then it starts again

    def __init__(self, kb: KnowledgeBase) -> None:
        self.vocabulary = _vocabulary(kb)
        self.known = frozenset(self.vocabulary)
        self._closest: dict[str, str | None] = {}

    def closest(self, word: str) -> str | None:
        """``difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.82)``, looked at only
        among the words whose length can reach the cutoff (difflib's own first test,
        ``real_quick_ratio``, written the same way), once per word."""
        try:
            return self._closest[word]
        except KeyError:
            pass
        size = len(word)
        candidates = [
            w for w in self.vocabulary if 2.0 * min(size, len(w)) / (size + len(w)) >= _CLOSE
        ]
        match = difflib.get_close_matches(word, candidates, n=1, cutoff=_CLOSE)
        if len(self._closest) >= self._REMEMBERED:
            self._closest.clear()
        found = self._closest[word] = match[0] if match else None
        return found


_speller = derived(_Speller)  # one speller per knowledge base, kept with it


def _correct(text: str, kb: KnowledgeBase) -> tuple[str, tuple[tuple[str, str], ...]]:
    speller = _speller(kb)
    corrections: list[tuple[str, str]] = []
    words = text.split()
    for index, word in enumerate(words):
        if len(word) < 5 or word in speller.known or not word.isalpha():
            continue
        match = speller.closest(word)
        if match and (_inflection(word, match) or _negated(word, match)):
            continue  # "treated" is not a typo of "treat", nor "ineffective" of "effective"
        if match:
            corrections.append((word, match))
            words[index] = match
    return " " + " ".join(words) + " ", tuple(corrections)


def _has(text: str, phrases: Iterable[str]) -> str | None:
    """The first phrase present in ``text`` as whole words."""
    for phrase in phrases:
        if f" {_literal(phrase)} " in text:
            return phrase
    return None


def _affirmed(text: str, phrases: Iterable[str]) -> bool:
    """A phrase is present and not negated by one of the two words before it."""
    for phrase in phrases:
        for match in _finditer(phrase, text):
            before = text[: match.start()].split()[-2:]
            if not NEGATIONS & set(before):
                return True
    return False


@cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(compiled(p) for p in patterns)


@cache
def _either(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression that matches where any of ``patterns`` does: one search, not one
    per pattern (the cues have no back-references or inline flags)."""
    return compiled("|".join(f"(?:{p})" for p in patterns))


def _matches(text: str, patterns: tuple[str, ...]) -> bool:
    return _either(patterns).search(text) is not None


# ------------------------------------------------------------------ treatments
def _treatments(
    text: str, kb: KnowledgeBase
) -> tuple[list[tuple[int, str, tuple[str, ...]]], list[str], str]:
    """(position, words, ids) for each treatment named, the classes named, and the
    text with the treatment words masked."""
    masked = text
    found: list[tuple[int, str, tuple[str, ...]]] = []
    classes: list[str] = []
    lexicon, by_word = _lexicon(kb), _lexicon_by_word(kb)
    candidates = sorted({i for word in set(text.split()) for i in by_word.get(word, ())})
    for term in (lexicon[i] for i in candidates):  # in the lexicon's order, longest first
        for match in _finditer(term.words, masked):
            found.append((match.start(), term.words, term.ids))
            if term.cls and term.cls not in classes:
                classes.append(term.cls)
            span = match.end() - match.start()
            masked = masked[: match.start()] + "#" * span + masked[match.end() :]
    found.sort()
    routed = _LEVEL_WORDS.sub(" ", masked)
    spans = [(m.start(), m.end(), ROUTES[w]) for w in ROUTES for m in _finditer(w, routed)]
    mentions = [(p, p + len(masked[p:]) - len(masked[p:].lstrip("#"))) for p, _, _ in found]
    routes = [
        (start, route) for start, end, route in spans if _attached(routed, start, end, mentions)
    ]
    if routes:
        found = _apply_routes(found, routes, kb)
    # "nobody here does IL injections" after "topical STS": the injection is the same class's
    named = {t for _, _, ids in found for t in ids}
    for match in _INJECTIONS.finditer(routed):
        members = {
            m
            for t in named
            for c in kb.treatments[t].classes
            for m in _members(kb, c)
            if kb.treatments[m].route == "intralesional"
        }
        if len(members) == 1 and not members & named:
            found.append((match.start(), "intralesional", tuple(members)))
    found.sort()
    return found, classes, masked


_INJECTIONS = compiled(r"(?<= )(?:il|intralesional|intradermal) (?:injections?|shots?)(?= )")


_ROUTE_GAP = compiled(
    rf"^(?: (?:and|or|nor|vs|versus|then|plus|{'|'.join(re.escape(w) for w in ROUTES)}))* ?$"
)


def _attached(text: str, start: int, end: int, mentions: list[tuple[int, int]]) -> bool:
    """A route word belongs to a treatment named next to it ("topical or IL STS", "STS
    IV"), not to anything else the question says ("IV calcium ... topical STS")."""
    if mentions and start >= max(e for _, e in mentions) and _ROUTE_GAP.match(text[end:]):
        return True  # "STS in a kid - topical or injected?": the routes close the question
    for m_start, m_end in mentions:
        if m_start >= end and _ROUTE_GAP.match(text[end:m_start]):
            return True
        gap = rx.sub(r"^ (?:by|via|as an?|given)(?= |$)", "", text[m_end:start])
        if start >= m_end and _ROUTE_GAP.match(gap):
            return True
    return False


def _apply_routes(
    found: list[tuple[int, str, tuple[str, ...]]],
    routes: list[tuple[int, str]],
    kb: KnowledgeBase,
) -> list[tuple[int, str, tuple[str, ...]]]:
    """A route word narrows a class named near it ("intravenous STS"), or adds the
    member of the same class by that route ("topical or intralesional STS")."""
    result: list[tuple[int, str, tuple[str, ...]]] = []
    wanted = {route for _, route in routes}
    for position, words, ids in found:
        narrowed = tuple(t for t in ids if kb.treatments[t].route in wanted)
        if len(ids) > 1 and len(narrowed) > 1:  # "STS - topical or injected?": one each
            result += [(position, words, (t,)) for t in narrowed]
        else:
            result.append((position, words, narrowed if len(ids) > 1 and narrowed else ids))
    named_classes = {c for _, _, ids in result for t in ids for c in kb.treatments[t].classes}
    for position, route in routes:
        for cls in sorted(named_classes):
            members = [t for t in _members(kb, cls) if kb.treatments[t].route == route]
            if len(members) == 1 and not any(members[0] in ids for _, _, ids in result):
                result.append((position, route, (members[0],)))
    result.sort()
    return result


def _unknown_drugs(masked: str) -> tuple[str, ...]:
    """Drugs the sources do not discuss: named in the table, or by an INN ending."""
    named = [phrase for phrase in NOT_IN_CATALOG if f" {phrase} " in masked]
    words = [w for w in masked.split() if len(w) >= 6 and w.isalpha()]
    stems = [w for w in words if w.endswith(DRUG_SUFFIXES) and not any(w in n for n in named)]
    return tuple(dict.fromkeys([*named, *stems]))


# ------------------------------------------------------------ whom, what, scope
def _first(text: str, table: dict[str, str]) -> list[str]:
    """Values of ``table`` whose key is in ``text``, in the order they appear."""
    hits: list[tuple[int, str]] = []
    masked = text
    for key in sorted(table, key=len, reverse=True):
        for match in _finditer(key, masked):
            hits.append((match.start(), table[key]))
            masked = (
                masked[: match.start()]
                + "#" * (match.end() - match.start())
                + masked[match.end() :]
            )
    return list(dict.fromkeys(value for _, value in sorted(hits)))


def _age(text: str) -> float | None:
    for pattern, factor in _AGES:
        match = pattern.search(text)
        if match:
            return round(int(match.group(1)) * factor, 2)
    return None


_WEIGHT = compiled(r"(?<!mg )(?<= )(\d{1,3}(?:\.\d+)?) ?(?:kg|kilos?|kilograms?) ")


def _weight(text: str) -> float | None:
    match = _WEIGHT.search(text)
    return float(match.group(1)) if match else None


_SIZE = compiled(r" (\d{1,3}(?:\.\d+)?) ?(cm|mm|centimet\w*|millimet\w*) ")


def _lesion_cm(text: str) -> float | None:
    """The largest lesion size the question gives, in centimetres."""
    sizes = [
        float(value) / (10 if unit.startswith("m") else 1) for value, unit in _SIZE.findall(text)
    ]
    return max(sizes) if sizes else None


_NUMBER_CM = r"\d{1,3}(?:\.\d+)?\s?(?:cm|mm|centimet\w*|millimet\w*)"
_OVER = compiled(
    r"(?:>|≥|=>|>=|\bover|\blarger than|\bbigger than|\bmore than|\bgreater than|\bexceeding"
    r"|\babove|\bat least|\bbeyond)\s*"
    + _NUMBER_CM
    + r"|"
    + _NUMBER_CM
    + r"\s*(?:\+|or (?:more|larger|bigger|greater|above)|and (?:up|above|over|larger))",
    re.I,
)
_UNDER = compiled(
    r"(?:<|≤|=<|<=|\bunder|\bsmaller than|\bless than|\bbelow|\bup to|\bat most)\s*"
    + _NUMBER_CM
    + r"|"
    + _NUMBER_CM
    + r"\s*(?:or (?:less|smaller|under|below))",
    re.I,
)


def _lesion_bound(question: str) -> Literal["over", "under"] | None:
    """Whether the size given is a lower or an upper bound ("deposits >2 cm")."""
    over, under = _OVER.search(question), _UNDER.search(question)
    if over and not under:
        return "over"
    if under and not over:
        return "under"
    return None


_PHOSPHATE = compiled(
    r" (?:serum |plasma )?phosphate (?:level |of |is |was |at |=)?(\d{1,2}(?:\.\d+)?)"
    r" ?(mmol|mg)?"
)
_PHOSPHATE_UPPER = {"mg": 4.5, "mmol": 1.45}  # upper limits of normal, mg/dL and mmol/L


_PHOSPHATE_WORDS = r"(?:phosphate|phosphates|phos|phosphorus|phosphorous|po4)"
_PHOSPHATE_SAID_HIGH = compiled(
    rf" {_PHOSPHATE_WORDS}(?: level| levels)?(?: is| was| are| of| still)? (?:through the roof"
    r"|sky high|off the charts|very high|really high|high|raised|elevated|markedly elevated"
    r"|massively elevated|huge|uncontrolled)"
    rf"| (?:very |markedly |really |severely |uncontrolled )?(?:high|raised|elevated|sky high)"
    rf" (?:serum )?{_PHOSPHATE_WORDS}"
)


def _phosphate_high(text: str) -> bool:
    """A phosphate value above the usual upper limit ("phos 8", "phosphate 2.1 mmol/L"),
    or one said to be high ("phosphate through the roof"); without a unit, only a value
    no mmol/L reading could be (over 4.5) counts."""
    if _PHOSPHATE_SAID_HIGH.search(text):
        return True
    for value, unit in _PHOSPHATE.findall(text):
        if float(value) > _PHOSPHATE_UPPER.get(unit or "mg", 4.5):
            return True
    return False


_TRAUMA_WORDS = tuple(
    w
    for w, d in DISEASES.items()
    if d == "other" and ("scar" in w or "trauma" in w or "lacerat" in w or "injur" in w)
)
_OTHER_CAUSES = tuple(w for w, d in DISEASES.items() if d == "other" and w not in _TRAUMA_WORDS)
_KIDNEY = frozenset({"end-stage-kidney-disease", "chronic-kidney-disease"})
_WHAT_TO_DO = frozenset({"first-line", "patient-specific", "unknown"})


_LESIONS_DESCRIBED = compiled(
    r" (?:calcinosis(?: cutis)?|calcified|calcium) (?:nodules?|lesions?|deposits?|lumps?|bumps?)"
    r" (?:on|in|over|of|at)| (?:nodules?|lesions?|deposits?) (?:on|in|over) (?:the |her |his )?"
    r"(?:fingertips?|fingers?|hands?|arms?|legs?|elbows?|knees?|buttocks?|thighs?|skin)"
)


def _reading(
    text: str, subtype: str | None, disease: str | None, conditions: list[str], intent: Intent
) -> tuple[str | None, str | None]:
    """The subtype the question implies without naming it, and why: a raised phosphate,
    or kidney failure in a question about what to do, with no autoimmune disease named,
    is metastatic calcinosis (004: its most common cause is chronic renal failure)."""
    if subtype is not None or disease not in (None, "other", "none"):
        return subtype, None
    if _phosphate_high(text):
        return "metastatic", "a raised phosphate"
    described = _LESIONS_DESCRIBED.search(text) is not None  # a patient's lesions, not a drug
    if (
        _KIDNEY & set(conditions)
        and (intent in _WHAT_TO_DO or described)
        and disease in (None, "none")
    ):
        return "metastatic", "kidney failure or dialysis"
    return None, None


# the forms of the disease, not of the lesions: "diffuse cutaneous SSc", "limited scleroderma"
_DISEASE_FORM = compiled(
    r" (?:diffuse|limited|localized|localised)(?: cutaneous)? (?P<disease>scleroderma|ssc"
    r"|systemic sclerosis|morphea)"
)
_EF = compiled(r" (?:lv)?(?:ef|ejection fraction)(?: of| is| was| at| =)? (\d{1,2}) ")
_EF_REDUCED_BELOW = 50  # a measured ejection fraction under 50% is a reduced one


def _measured_conditions(text: str) -> list[str]:
    """Conditions a measurement names ("EF 30%": reduced ventricular function)."""
    found = []
    if any(int(v) < _EF_REDUCED_BELOW for v in _EF.findall(text)):
        found.append("reduced-ventricular-function")
    return found


_COUNT = compiled(
    r" (?:>|over|more than|at least|about|around|~)? ?(\d{1,3}) \+? ?(?:\w+ ){0,2}"
    r"(?:nodules|lesions|deposits|bumps|lumps|spots|areas|plaques)"
)


def _lesion_count(text: str) -> int | None:
    counts = [int(c) for c in _COUNT.findall(text)]
    return max(counts) if counts else None


_NO_CTD = compiled(
    r" (?:no|without|not|never had|denies) (?:known |underlying |history of |hx of )?"
    r"(?:ctd|connective tissue disease|autoimmune(?: disease)?|rheumatic disease"
    r"|rheumatologic disease)"
)


_HEALTHY = compiled(
    r" (?:otherwise )?healthy (?:\d+ ?(?:year old|yo)|man|woman|guy|adult|patient)?"
    r"| no (?:pmh|medical history|past medical history)"
)
_TRAUMA = compiled(
    r" (?:scar|scars|laceration|lacerations|accident|injury|injuries|injured|trauma|traumatic"
    r"|burn|burns|fracture|wound|crush|blunt|fell|fall|hit by|kicked|bitten)(?= )"
)


_NOT_SUBTYPE = compiled(
    r" (?:not|no|without|isn t|is not|ruled out|excluded|negative for)(?: a| an)?"
    r" (?:calciphylaxis|metastatic|idiopathic|iatrogenic|dystrophic)(?: calcinosis)?(?= )"
)


_DISEASE_WORDS = "|".join(sorted((re.escape(w) for w in DISEASES), key=len, reverse=True))
# "(not SSc or DM)", "no scleroderma": diseases ruled out name none
_NOT_DISEASE = compiled(
    rf" (?:not|no|without|never had|isn t|is not|ruled out|negative for)(?: a| an| any)?"
    rf" (?:{_DISEASE_WORDS})(?:(?: or| nor| and|,)? (?:{_DISEASE_WORDS}))*(?= )"
)


def _disease(text: str) -> str | None:
    """The underlying disease: one autoimmune disease named, else "other" for another
    cause; two named decide nothing; "no CTD" overrides diseases named as data; a
    disease ruled out ("not SSc or DM") is not named."""
    diseases = _first(_NOT_DISEASE.sub(" ", text), DISEASES)
    autoimmune = [d for d in diseases if d != "other"]
    disease = autoimmune[0] if len(autoimmune) == 1 else None  # two named: neither alone
    if not autoimmune and diseases:
        disease = "other"
    if _NO_CTD.search(text) or (not autoimmune and _HEALTHY.search(text)):
        # "no CTD at all ... does the SSc/DM data apply?", "healthy 30yo"
        disease = "other" if "other" in diseases else "none"
    return disease


def _population(text: str, age: float | None, disease: str | None) -> AgeGroup | None:
    if age is not None:
        return "child" if age < _ADULT_AGE else "adult"
    groups = [g for g, words in POPULATION_CUES.items() if _has(text, words)]
    if disease == "juvenile-dermatomyositis":
        groups = ["child"]
    return "child" if groups == ["child"] else "adult" if groups == ["adult"] else None


_AS_COMPARED = compiled(
    r" (?:like|as (?:in|for|with|it does (?:for|in))|similar to|same as|unlike|compared (?:to|with)"
    r"|the way it does (?:for|in)|as it does (?:for|in)) (?:it does (?:for|in) )?(?:\w+ ){0,2}"
    r"(?:calcinosis cutis|calcinosis|skin calcinosis|cutaneous calcinosis)\b.*$"
)


def _scope(text: str, named: bool) -> tuple[bool, str | None]:
    """In scope: calcinosis cutis named, or a treatment, subtype, disease or clinical
    intent named and no other condition; out: another calcification, or a topic."""
    # "calcific tendinitis - will STS dissolve it like calcinosis cutis?": calcinosis cutis
    # named only as the thing compared with is not what is asked about
    asked = _AS_COMPARED.sub(" ", text)
    strong = _has(asked, STRONG_SCOPE_TERMS) is not None
    for label, words in NOT_CALCIUM_IN_THE_SKIN.items():
        # "gouty tophi": out whatever skin word or calcinosis drug is named with it
        if _has(text, words) and not _has(asked, SCOPE_TERMS):
            return False, label
    for label, words in NOT_CALCINOSIS_CUTIS.items():
        if not strong and _has(text, words):
            return False, label
    if _has(text, SCOPE_TERMS):
        return True, None
    off = _has(text, OFF_TOPIC)
    if off:
        return False, off
    return (True, None) if named else (False, None)


# -------------------------------------------------------- intent and proposition
DOSE_IS_CONTEXT = (
    r" worth ",
    r" reasonable ",
    r" make\w* sense",
    r" should (i|we|you) ",
    r" recommend",
    r" (try|trying|start|starting) ",
)


_DOSE_NAMED = compiled(r" (low|high|standard|full|usual|higher|lower) dose ")


_WORKS_FIRST = compiled(
    r" (does|do|will|would|can) (it|they|this|that|\S+) (really |actually )?(work|help)"
)


def _not_this(
    intent: Intent, cues: tuple[str, ...], text: str, treatments: bool, yes_no: bool
) -> bool:
    """A cue matched, but the question is not asking this ("low dose X" is no dose question)."""
    if intent == "epidemiology" and treatments:
        return True  # "what proportion of lesions resolve with X" asks about X
    if intent == "what-not-to-use" and treatments and yes_no:
        return True
    if intent == "dose" and yes_no and _matches(text, DOSE_IS_CONTEXT):
        return True  # "is low-dose X worth trying?" asks whether, not how much
    if intent == "dose" and yes_no and not _matches(_DOSE_NAMED.sub(" ", text), cues):
        return True  # "does low dose X help?": the dose names the drug, it is not asked
    if intent == "first-line" and treatments:
        strong = tuple(c for c in cues if c not in WEAK_FIRST_LINE)
        return not _matches(text, strong)
    return False


def _intent(text: str, mentions: int, treatments: bool, yes_no: bool) -> Intent:
    works = _WORKS_FIRST.search(text)
    for intent, cues in INTENT_CUES:
        if not _matches(text, cues) or (intent == "comparison" and mentions < 2):
            continue
        if intent == "time-to-response" and treatments and works:
            first = min(m.start() for p in _compiled(cues) for m in p.finditer(text))
            if works.start() < first:
                return "efficacy"  # "does it work? how many sessions": efficacy, then time
        if _not_this(intent, cues, text, treatments, yes_no):
            continue
        if intent in ("efficacy", "first-line") and mentions >= 2 and " or " in text and not yes_no:
            return "comparison"  # "X or Y for ...?"; but "X or Y - reasonable?" asks of both
        return intent
    if mentions >= 2 and " or " in text and not yes_no:
        return "comparison"
    return "efficacy" if treatments else "unknown"


def _predicate(text: str) -> Predicate | None:
    for predicate, cues in PREDICATE_CUES:
        if _matches(text, cues):
            return predicate
    return None


_Named = tuple[int, str, tuple[str, ...]]


@dataclass
class _Roles:
    """What each treatment named is in the question."""

    subjects: list[_Named]
    medications: list[tuple[str, ...]]  # already taken ("already on X")
    taken: list[_Named]  # the same, as named (the subject of "on X for acne: okay?")
    prior: list[tuple[str, str]]  # tried before, and how it went ("X failed")
    unavailable: list[tuple[str, ...]]  # cannot be had or used ("X isn't practical")


# "for 6 mo", "x 3 months", "x2": a duration or a count between a treatment and its outcome
_DURATION = compiled(
    r"^ (?:bid|tid|qid|qd|daily|twice daily|once daily|nightly|weekly|monthly|cream|gel"
    r"|ointment|compounded|\d+ ?percent)(?= )"
    r"|^ (?:for |over |x ?|times )?(?:about |around )?\d+ ?(?:months?|mos?|weeks?|wks?|years?"
    r"|yrs?|days?|times|x|doses?|injections?|sessions?|cycles?|courses?|infusions?|mg)?"
    r"(?: now)?(?= )"
)


def _skip_durations(after: str) -> str:
    """ "240 for 6 mo w/o benefit": the dose and the duration before the outcome."""
    while True:
        shorter = _DURATION.sub("", after, count=1)
        if shorter == after:
            return after
        after = shorter


_NEXT = compiled(r"^ (next|now|instead|then|as (the )?next( step| option)?|after that)\b")
# "X, Y and Z" (one word between may be a route or a dose word), not "failed X, is Y
# first line now?" or "failed X; what about Y?": a question word starts a new clause
_COORDINATED = compiled(
    r"^ ?(and|or|nor|then|plus|as well as)? ?((?!(?:is|are|was|were|does|do|did|can|could"
    r"|should|would|will|may|might|what|how|which|why|about|try|trying|start|starting|give"
    r"|giving|consider|considering|use|using|but|so|now|next|instead)\b)\w+ )?$"
)
_ROUTE_WORDS = "|".join(sorted((re.escape(w) for w in ROUTES), key=len, reverse=True))
# route words (and the words joining them) just before a class name: "failed topical and
# IL STS" is "failed STS" by both routes
_LEADING_ROUTES = compiled(rf"(?: (?:{_ROUTE_WORDS})(?: (?:and|or|nor|then|plus))?)+ $")


# A failure supposed ("what if X doesn't work?", "if IL STS fails, then?"): asked as what
# comes after it, like a failure told; "X doesn't work in SSc?" (no "if") is not one
_IF_BEFORE = compiled(r" (?:what )?if (?:the |her |his |their |my )?$")
_FAILS_AFTER = compiled(
    r"^ (?:doesn t|doesnt|does not|don t|dont|do not|won t|wont|will not)"
    r" (?:work|help)|^ fails\b|^ (?:is|isn t|isnt) (?:not )?(?:working|helping)"
)

# "what response rate did surgical excision achieve", "how well did colchicine work": a
# "did" with a bare verb after the treatment is the question's auxiliary, not "she did X"
_DID_BEFORE = compiled(r" did $")
_ASKED_VERB_AFTER = compiled(
    r"^ (?:achieve|show|produce|yield|give|reach|have|get|work|help|do|perform|fare|result"
    r"|compare|lead|cause|clear|resolve|improve|reduce|shrink)\b"
)


def _said_around(before: str, after: str) -> tuple[str | None, str | None]:
    """How a treatment went by the words before it and by the words after it."""
    said_before = next(
        (r for pattern, r in PRIOR_BEFORE.items() if rx.search(pattern, before)), None
    )
    said_after = next((r for pattern, r in PRIOR_AFTER.items() if rx.search(pattern, after)), None)
    if said_before == "tried" and _DID_BEFORE.search(before) and _ASKED_VERB_AFTER.search(after):
        said_before = None  # "what did X achieve in that series?": asked about X
    if said_after is None and _IF_BEFORE.search(before) and _FAILS_AFTER.search(after):
        said_after = "none"  # "what if topical STS doesn't work?": what comes next
    return said_before, said_after


def _context(text: str, masked: str, named: list[_Named]) -> _Roles:
    """Split the treatments named into the subjects of the question and the context.
    A treatment joined to the one before ("failed topical and IL STS") shares its role."""
    roles = _Roles([], [], [], [], [])
    last_end, last_response = -1, None
    responses: list[str | None] = []
    joined: list[bool] = []  # joined to the treatment before it ("X, Y and Z")
    for item in named:
        position, _, ids = item
        end = position + len(masked[position:]) - len(masked[position:].lstrip("#"))
        before, after = text[:position], _skip_durations(text[end:])
        before = _LEADING_ROUTES.sub(" ", before)
        said_before, said_after = _said_around(before, after)
        listed = next(
            (r for pattern, r in PRIOR_LIST_AFTER.items() if rx.search(pattern, after)), None
        )
        # "tried X for 6 mo w/o benefit": the outcome said after beats a bare "tried"
        response = (
            said_after or said_before if said_before in (None, "tried") else said_before
        ) or listed
        is_joined = last_end >= 0 and bool(_COORDINATED.match(text[last_end:position]))
        if _NEXT.match(text[end:]):
            is_joined = False  # "failed IL STS, dilt, colch and mino. IVIG next?": asked
        if response is None and last_response and is_joined:
            response = last_response
        if listed:  # the outcome of the whole list: every treatment joined before it too
            for index in range(len(responses) - 1, -1, -1):
                responses[index] = listed
                if not joined[index]:
                    break
        responses.append(response)
        joined.append(is_joined)
        last_end, last_response = max(end, position), response
    for item, response in zip(named, responses, strict=True):
        position, _, ids = item
        end = position + len(masked[position:]) - len(masked[position:].lstrip("#"))
        before, after = _LEADING_ROUTES.sub(" ", text[:position]), text[end:]
        around = any(rx.search(b, before) and rx.search(a, after) for b, a in UNAVAILABLE_AROUND)
        if _matches(before, UNAVAILABLE_BEFORE) or _matches(after, UNAVAILABLE_AFTER) or around:
            roles.unavailable.append(ids)
        elif response:
            roles.prior += [(t, response) for t in ids]
        elif _matches(before, MEDICATION_CUES):
            roles.medications.append(ids)
            roles.taken.append(item)
        else:
            roles.subjects.append(item)
    return roles


def _yes_no_clauses(question: str, kb: KnowledgeBase) -> list[str]:
    """The clauses of the question that open with an auxiliary ("..., worth trying?"),
    normalised: what a yes or a no answers."""
    clauses = rx.split(r"[,;:?!()]|\s[-–—]+\s|\.\s|\band (?=what|how|which|when)", question)
    found = []
    for clause in clauses:
        if clause.strip():
            words = _correct(normalise(clause), kb)[0]
            if _matches(words, YES_NO_START + YES_NO_END):
                found.append(words)
    return found


_COUNTED_DOSES = compiled(
    r" how many (\S+ ){0,3}(injections|treatments|sessions|applications|shots|rounds|doses) "
)


def _settle(
    intent: Intent, proposition: Proposition | None, masked: str, treatments: bool
) -> tuple[Intent, tuple[Intent, ...]]:
    """The intent once the proposition is known, and the other intents asked."""
    predicate = proposition.predicate if proposition is not None else None
    if predicate in ("safe-with", "usable-at-age") and intent in ("efficacy", "unknown"):
        intent = "contraindication"  # "cardizem ok?" with heart failure: a safety question
    if predicate == "managed-like":
        intent = "first-line"  # "is calciphylaxis managed like dystrophic?": how it is managed
    also = _also(masked, intent) if treatments else ()
    if intent == "level-or-grade" and not treatments and _matches(masked, _FIRST_LINE_CUES):
        # "first line? and what's the grade of that rec?": the first-line plan, with grades
        intent = "first-line"
    if intent in ("efficacy", "unknown") and not treatments and _WHAT_WORKS.search(masked):
        intent = "first-line"  # "calcinosis in lupus, what works?": what to use
    if not treatments and _matches(masked, BEST_EVIDENCE) and intent != "patient-specific":
        intent = "level-or-grade"  # "which treatment has the best evidence?": the grades
    if intent == "comparison" and "dose" in also:
        # "topical vs IL STS - what concentrations and how often?": each one's regimen
        intent, also = "dose", tuple(i for i in also if i != "dose")
    if (
        also
        and intent in ALSO_INTENTS
        and also[0] != "first-line"  # "X next? anything else?": X leads
        and _asks_first(masked, also[0])
    ):
        # two questions in one ("how well does it work and does it come back?", "how does
        # STS work and what are the side effects?"): the one asked first leads
        intent, also = also[0], (intent, *also[1:])
    if not treatments and _WHICH_PREFERRED.search(masked):
        # "which systemic agent is preferred, and what's the usual adult dose?": the plan,
        # with the doses of what it prefers
        also = (*also, "dose") if intent == "dose" else also
        intent = "first-line"
    return intent, also


# "lots of inflamed ulcerating lesions": the words between may describe them
_LOTS_OF_LESIONS = compiled(
    r" (lots of|a lot of|loads of|tons of|dozens of) ((?!(around|near|with|in|on|of|over"
    r"|under|at|by|the|from|about)\b)\w+ ){1,3}(nodules|lesions|deposits|lumps|papules|bumps)\b"
)
_WHICH_PREFERRED = compiled(
    r" (which|what) (\S+ )?(agent|drug|medication|medicine|treatment|therapy|option)s? (is |are "
    r")?(preferred|favou?red|best|recommended|first choice)"
)
_WHAT_WORKS = compiled(
    r" (what|which|anything that)( (?!(doesn|doesnt|don|dont|not|never)\b)\S+)?"
    r" (works?|helps?|is effective|are effective)\b"
    r"| what (treatments?|therapies|drugs|options) (work|help)"
)
_FIRST_LINE_CUES = next(cues for name, cues in INTENT_CUES if name == "first-line")
_AFTER_EFFICACY = frozenset({"relapse", "adverse-effects", "time-to-response", "level-or-grade"})


def _asks_first(text: str, intent: Intent) -> bool:
    """Whether ``intent``'s cue comes before every other intent's cue in the question."""
    starts = {
        name: min((m.start() for p in _compiled(cues) for m in p.finditer(text)), default=10**6)
        for name, cues in ALSO_INTENTS.items()
    }
    mine = starts.get(intent, 10**6)
    return mine < 10**6 and all(mine <= v for k, v in starts.items() if k != intent)


def _also(text: str, primary: Intent) -> tuple[Intent, ...]:
    """The other intents asked, in the order the question asks them."""
    found: list[tuple[int, Intent]] = []
    text = _DOSE_NAMED.sub(" ", text)  # "low dose warfarin" names the drug, asks no dose
    for intent, cues in ALSO_INTENTS.items():
        if intent == primary:
            continue
        positions = [m.start() for p in _compiled(cues) for m in p.finditer(text)]
        if positions:
            found.append((min(positions), intent))
    if primary == "time-to-response" and _COUNTED_DOSES.search(text):
        found.append((len(text), "dose"))  # "how many injections before...": the schedule
    return tuple(intent for _, intent in sorted(found))


_SAFE_WITH = compiled(
    r" (?:safe|safely|ok|okay|risky|dangerous|contraindicated|caution\w*)(?: to (?:use|give|take"
    r"|start))?(?: for| in| with)(?: a| an| the)?(?: patients?| people| someone| pts?)?"
    r"(?: with| who have| who has)? (?P<what>[a-z0-9 ]+?) $"
)


def _unlisted_condition(text: str) -> str | None:
    """What a safety question names that no condition table knows ("liver disease")."""
    match = _SAFE_WITH.search(text)
    if match is None:
        return None
    words = rx.sub(
        r"\b(calcinosis|cutis|calcinosis cutis|for|the|it|this|on|taking|using)\b",
        " ",
        match["what"],
    )
    words = " ".join(words.split())
    return f"unlisted:{words}" if words else None


def _proposition(
    *,
    yes_no: bool,
    text: str,
    treatments: tuple[str, ...],
    age: float | None,
    population: AgeGroup | None,
    conditions: list[str],
    disease: str | None,
    subtype: str | None,
    intent: Intent = "unknown",
    age_limited: bool = False,
    yes_no_clauses: tuple[str, ...] = (),
) -> Proposition | None:
    subject = treatments[0] if treatments else None
    if not yes_no and subject and age is not None and age_limited and intent == "efficacy":
        # "minocycline in an 8 yo?": whether it can be used at that age, for a drug with one
        return Proposition(subject, "usable-at-age", f"{age:g} years", treatments)
    if not yes_no:
        return None
    # "does it work and what are the risks?": the predicate of the clause a yes answers
    predicate = next(
        (found for found in (_predicate(c) for c in yes_no_clauses) if found), None
    ) or _predicate(text)
    if predicate is None:  # a yes/no question about something no predicate names: no yes/no
        return None
    obj: str | None = None
    inverse = False
    if predicate in ("safe-with", "recommended", "effective", "avoided") and subject:
        # "should I stop/avoid X with Y?": whether it is safe with Y, answered the other way
        asks_avoid = predicate == "avoided"
        if conditions:
            predicate, obj, inverse = "safe-with", conditions[0], asks_avoid
        elif (
            population == "child"
            and predicate != "effective"  # "does it work in children?" asks how well
            and (age is not None or disease != "juvenile-dermatomyositis")
            # "extravasation in a newborn, inject STS?": the subtype's own care decides,
            # unless the drug has an age limit
            and (subtype in (None, "dystrophic") or age_limited)
        ):
            predicate, inverse = "usable-at-age", asks_avoid
            obj = f"{age:g} years" if age is not None else "children"
        elif predicate == "safe-with":
            obj = disease or subtype or _unlisted_condition(text)
    elif predicate == "causes":
        match = rx.search(
            r" (?:cause|causes|lead to|leads to|produce|produces|give|gives) (.+?) ?$", text
        )
        obj = match.group(1).strip() if match else None
        if obj is None and rx.search(r" (hurt|hurts|sting|stings|painful)\b", text):
            obj = "pain"  # "does IL STS hurt?"
        common = rx.search(r"^ (?:is|are) (\S+(?: \S+)?) (?:common|frequent|usual|likely) ", text)
        if obj is None and common:
            obj = common.group(1)  # "is scarring common after CO2 laser?"
    return Proposition(subject, predicate, obj, treatments, inverse=inverse)


def _subtype_and_disease(
    text: str, subtype: str | None, disease: str | None, conditions: list[str], intent: Intent
) -> tuple[str | None, str | None, str | None]:
    """The subtype and disease once read from the words around them, and why."""
    subtype, reading = _reading(text, subtype, disease, conditions, intent)
    if subtype is None and disease not in (None, "other", "none"):
        subtype = "dystrophic"  # calcinosis in an autoimmune disease is dystrophic (004)
    if (
        disease in ("other", "none")
        and subtype in (None, "dystrophic")
        and (_has(text, _TRAUMA_WORDS) or _TRAUMA.search(text))
    ):
        disease = "other"
        reading = "an injury or a scar (traumatic dystrophic calcinosis)"
    elif subtype is None and disease == "other" and _has(text, _OTHER_CAUSES):
        # "lupus panniculitis", "porphyria": the topic's less common causes of dystrophic
        # calcinosis cutis
        subtype = "dystrophic"
        reading = "a cause of dystrophic calcinosis other than autoimmune disease"
    return subtype, disease, reading


def understand(question: str, kb: KnowledgeBase | None = None) -> Query:
    """Read a question into a typed query; nothing is retrieved."""
    kb = kb or load_knowledge()
    text, corrections = _correct(normalise(question), kb)
    named, classes, masked = _treatments(text, kb)
    roles = _context(text, masked, named)
    subjects = roles.subjects
    yes_no_clauses = tuple(_yes_no_clauses(question, kb))
    yes_no = bool(yes_no_clauses)  # a clause opens with an auxiliary ("..., worth trying?")
    if not subjects and roles.taken and not roles.prior and yes_no:
        # "7 yo on minocycline for acne: okay?": the yes/no is about what is taken
        subjects = roles.taken
    disease = _disease(text)
    subtypes = _first(_NOT_SUBTYPE.sub(" ", text), SUBTYPES)  # "not calciphylaxis" names none
    explicit = [s for s in subtypes if s != "dystrophic"] or subtypes
    subtype = explicit[0] if explicit else None
    age = _age(text)
    population = _population(text, age, disease)
    conditions = _first(text, {w: c for c, words in CONDITIONS.items() for w in words})
    featured = _DISEASE_FORM.sub(r" \g<disease> ", text)  # "diffuse SSc" is no lesion spread
    features = frozenset(f for f, words in FEATURES.items() if _affirmed(featured, words))
    if _LOTS_OF_LESIONS.search(featured):
        features |= {"widespread"}  # "lots of inflamed ulcerating lesions"
    conditions += [c for c in _measured_conditions(text) if c not in conditions]
    intent = _intent(masked, len({ids for _, _, ids in subjects}), bool(subjects), yes_no)
    if not subjects and (roles.prior or roles.medications) and intent == "efficacy":
        intent = "first-line"  # "tried X, Y and Z, none helped": what now, not whether X works
    if subjects or intent not in ("first-line", "unknown"):
        # what the patient takes or took is context, unless the question is about it
        named = subjects or named
        intent = _intent(masked, len({ids for _, _, ids in named}), bool(named), yes_no)
    else:
        named = []
    treatments = list(dict.fromkeys(t for _, _, ids in named for t in ids))
    if disease is None and intent in _WHAT_TO_DO and _TRAUMA.search(text):
        disease = "other"  # "a calcified lump in an old knee scar after a bike accident"
    subtype, disease, reading = _subtype_and_disease(text, subtype, disease, conditions, intent)
    clinical = (
        intent not in ("unknown", "efficacy")
        or bool(treatments or subtype or disease)
        # "what did Fredi 2015 find?", "which treatment has the best evidence?"
        or bool(_studies(text, kb))
        or _matches(text, BEST_EVIDENCE)
        # "what did the AI answer recommend first?": a source of this evidence base named
        or any(_has(text, cues) for cues in SOURCE_CUES.values())
    )
    unknown_drugs = _unknown_drugs(masked)
    if unknown_drugs and not (treatments or subtype or disease or roles.medications):
        # "amoxicillin dose for a 20 kg kid": only a drug the sources do not discuss, and
        # nothing of calcinosis (a calcinosis word still brings it in below)
        clinical = False
    in_scope, reason = _scope(text, clinical)
    if (
        intent == "unknown"
        and not treatments
        and (
            (subtype and subtype != "dystrophic")
            or (subtype and rx.search(r" (treat\w*|therap\w*|manag\w*) ", text))
        )
    ):
        # "scrotal calcinosis tx", "tumoral calcinosis": a subtype named with no
        # other question asks how that subtype is managed
        intent = "first-line"
    # one patient: an age, a patient named, or a history (tried, taking, a condition) with
    # findings, asked about as a case ("dcSSc w/ ILD, fingertip ulcers, thoughts?")
    described = bool(roles.prior or roles.medications) or (
        bool(conditions) and bool(features) and intent in ("first-line", "unknown")
    )
    patient = age is not None or _matches(text, PATIENT_CUES) or described
    if patient and intent in ("first-line", "unknown"):
        intent = "patient-specific"
    implied = SUBTYPE_CONDITIONS.get(subtype or "", frozenset())
    proposition = _proposition(
        yes_no=yes_no,
        yes_no_clauses=yes_no_clauses,
        text=text,
        treatments=named[0][2] if named else (),
        age=age,
        population=population,
        conditions=[c for c in conditions if c not in implied],
        disease=disease,
        subtype=subtype,
        intent=intent,
        age_limited=bool(named)
        and age is not None
        and any(
            rule.rule.startswith("age-under-") and age < int(rule.rule.rsplit("-", 1)[1])
            for t in named[0][2]
            for rule in kb.treatments[t].contraindications
        ),
    )
    intent, also = _settle(intent, proposition, masked, bool(treatments))
    unanswered = tuple(topic for topic, words in NOT_IN_SOURCES.items() if _has(text, words))
    general = tuple(topic for topic, words in GENERAL_ONLY.items() if _has(text, words))
    return Query(
        text=question,
        norm=text,
        intent=intent,
        also=also,
        treatments=tuple(treatments),
        medications=tuple(dict.fromkeys(t for ids in roles.medications for t in ids)),
        prior=tuple(roles.prior),
        unavailable=tuple(dict.fromkeys(t for ids in roles.unavailable for t in ids)),
        source=next((s for s, cues in SOURCE_CUES.items() if _has(text, cues)), None),
        studies=_studies(text, kb),
        other_indication=_has(text, OFF_TOPIC) if in_scope else None,
        mentions=tuple((words, ids) for _, words, ids in named),
        classes=tuple(classes),
        population=population,
        age_years=age,
        weight_kg=_weight(text),
        lesion_cm=_lesion_cm(text),
        lesion_bound=_lesion_bound(question) if _lesion_cm(text) is not None else None,
        lesion_count=_lesion_count(text) or (1 if "single" in features else None),
        disease=disease,
        subtype=subtype,
        reading=reading,
        proposition=proposition,
        in_scope=in_scope and bool(question.strip()),
        out_of_scope=reason,
        patient_specific=patient,
        conditions=tuple(conditions),
        features=features,
        unanswered=unanswered,
        general_only=general,
        unknown_drugs=unknown_drugs,
        corrections=corrections,
    )
