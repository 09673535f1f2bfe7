"""What a question asks: the cues of its intent, of a yes/no proposition, and of the
roles the treatments it names play (tried before, taken now, not available).

The cues are data: the ``cues`` tables of ``knowledge/lexicon.yaml``, validated by
``lexicon.py`` (every pattern compiles, every intent and predicate is one of the types
below); this module exposes them under the names ``understand.py`` imports. Patterns
are regular expressions matched against the normalised question (lower case, words
separated by single spaces, padded with a space); the first intent of
:data:`INTENT_CUES` with a matching cue wins.
"""

from __future__ import annotations

from typing import get_args

from calcinosis.answers.lexicon import LEXICON, Intent, Predicate

__all__ = [
    "ALSO_INTENTS",
    "BEST_EVIDENCE",
    "INTENTS",
    "INTENT_CUES",
    "MEDICATION_CUES",
    "NEGATIONS",
    "PATIENT_CUES",
    "PREDICATE_CUES",
    "PRIOR_AFTER",
    "PRIOR_BEFORE",
    "PRIOR_LIST_AFTER",
    "SOURCE_CUES",
    "UNAVAILABLE_AFTER",
    "UNAVAILABLE_AROUND",
    "UNAVAILABLE_BEFORE",
    "WEAK_FIRST_LINE",
    "WHEN_CUES",
    "YES_NO_END",
    "YES_NO_START",
    "Intent",
    "Predicate",
]

INTENTS: tuple[Intent, ...] = get_args(Intent)

_C = LEXICON.cues

# What is asked, in order of precedence: the first intent with a matching cue wins.
INTENT_CUES: tuple[tuple[Intent, tuple[str, ...]], ...] = tuple(
    (group.intent, tuple(group.patterns)) for group in _C.intents
)
# Intents a question can ask besides its primary one, each answered after it.
ALSO_INTENTS: dict[Intent, tuple[str, ...]] = {
    intent: tuple(patterns) for intent, patterns in _C.also_intents.items()
}
# First-line cues that, when a treatment is named, ask about that treatment's efficacy.
WEAK_FIRST_LINE: tuple[str, ...] = tuple(_C.weak_first_line)
# A yes/no question: a clause opens with an auxiliary ... or closes with the word asked.
YES_NO_START: tuple[str, ...] = tuple(_C.yes_no_start)
YES_NO_END: tuple[str, ...] = tuple(_C.yes_no_end)
# What a yes/no question claims about its treatment, in order of precedence.
PREDICATE_CUES: tuple[tuple[Predicate, tuple[str, ...]], ...] = tuple(
    (group.predicate, tuple(group.patterns)) for group in _C.predicates
)
# A question about when a treatment is used, answered with the sources' indications.
WHEN_CUES: tuple[str, ...] = tuple(_C.when)
# Questions about one patient.
PATIENT_CUES: tuple[str, ...] = tuple(_C.patient)
# Words around a treatment that say it was tried before, and how it went: before the
# treatment, after it, and after a list of them (the response given to every one).
PRIOR_BEFORE: dict[str, str] = {cue.pattern: cue.response for cue in _C.prior_before}
PRIOR_AFTER: dict[str, str] = {cue.pattern: cue.response for cue in _C.prior_after}
PRIOR_LIST_AFTER: dict[str, str] = {cue.pattern: cue.response for cue in _C.prior_list_after}
# Words around a treatment that say it cannot be had or used here (before, after, around).
UNAVAILABLE_BEFORE: tuple[str, ...] = tuple(_C.unavailable_before)
UNAVAILABLE_AFTER: tuple[str, ...] = tuple(_C.unavailable_after)
UNAVAILABLE_AROUND: tuple[tuple[str, str], ...] = tuple(
    (cue.before, cue.after) for cue in _C.unavailable_around
)
# Words before a treatment that make it a current medication, not the one asked about.
MEDICATION_CUES: tuple[str, ...] = tuple(_C.medication)
# Words that negate a feature named just after them ("no ulcers", "not painful").
NEGATIONS: frozenset[str] = frozenset(_C.negations)
# The source a question names ("what does the review conclude about X?").
SOURCE_CUES: dict[str, tuple[str, ...]] = {
    source: tuple(words) for source, words in _C.sources.items()
}
# "which treatment has the best evidence?": a question about the grades of all of them.
BEST_EVIDENCE: tuple[str, ...] = tuple(_C.best_evidence)
