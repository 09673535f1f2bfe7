"""The words questions use for what they are about: treatments (class words and aliases
beyond the catalog's names and synonyms), routes, diseases, subtypes, age groups,
patient conditions, lesion features, abbreviations, and what is or is not calcinosis
cutis. What is *asked* (intents, propositions) is in ``cues.py``.

The words are data: ``knowledge/lexicon.yaml``, validated by ``lexicon.py``; this module
exposes its tables under the names the rest of the package imports. Every table here is
read by ``understand.py`` (the rule tables by the composers); the treatment names
themselves come from the catalog (``treatments.yaml``), so the lexicon only holds what
the catalog does not. Phrases are matched as whole words against the normalised question.
"""

from __future__ import annotations

from dataclasses import dataclass

from calcinosis.answers.lexicon import LEXICON as _L

__all__ = [
    "ABBREVIATIONS",
    "ALIASES",
    "BRANDS",
    "CLASSES",
    "CONDITIONS",
    "DISEASES",
    "DRUG_SUFFIXES",
    "FEATURES",
    "GENERAL_ONLY",
    "MEMBER_OF_CLASS",
    "NOT_CALCINOSIS_CUTIS",
    "NOT_CALCIUM_IN_THE_SKIN",
    "NOT_IN_CATALOG",
    "NOT_IN_SOURCES",
    "OFF_TOPIC",
    "POPULATION_CUES",
    "ROUTES",
    "RULE_FACTS",
    "RULE_SCOPES",
    "SCOPE_TERMS",
    "SPELLED",
    "STRONG_SCOPE_TERMS",
    "SUBTYPES",
    "SUBTYPE_CONDITIONS",
    "ClassTerm",
]

ABBREVIATIONS: dict[str, str] = dict(_L.abbreviations)


@dataclass(frozen=True)
class ClassTerm:
    """Words for a class of treatments; ``members`` narrows the catalog's class."""

    label: str
    phrases: tuple[str, ...]
    members: tuple[str, ...] = ()  # empty: every catalog entry of the class


# The words that cover several catalog entries, by the catalog's class id.
CLASSES: dict[str, ClassTerm] = {
    cls: ClassTerm(term.label, tuple(term.phrases), tuple(term.members))
    for cls, term in _L.classes.items()
}
# Single catalog entries under words the catalog does not list.
ALIASES: dict[str, str] = dict(_L.aliases) | dict(_L.brands)
# Brand names (read as their drug, and said so).
BRANDS: dict[str, str] = dict(_L.brands)
# Route words that pick a member of a class (matched to the catalog's ``route``).
ROUTES: dict[str, str] = dict(_L.routes)
# Underlying diseases, in the patient-profile vocabulary (DESIGN.md); longest first.
DISEASES: dict[str, str] = dict(_L.diseases)
SUBTYPES: dict[str, str] = dict(_L.subtypes)
# Age group words (an age in years decides when one is given).
POPULATION_CUES: dict[str, tuple[str, ...]] = {
    group: tuple(words) for group, words in _L.population_cues.items()
}
# Patient conditions a safety question names (the profile's ``conditions`` ids).
CONDITIONS: dict[str, tuple[str, ...]] = {
    condition: tuple(words) for condition, words in _L.conditions.items()
}
# Conditions that come with a subtype (dialysis in calciphylaxis).
SUBTYPE_CONDITIONS: dict[str, frozenset[str]] = {
    subtype: frozenset(conditions) for subtype, conditions in _L.subtype_conditions.items()
}
# Features of the lesions or the patient that the algorithm weighs.
FEATURES: dict[str, tuple[str, ...]] = {
    feature: tuple(words) for feature, words in _L.features.items()
}
# What calcinosis cutis is called; a question naming one of these is in scope.
SCOPE_TERMS: tuple[str, ...] = tuple(_L.scope_terms)
# Terms that keep a question in scope whatever organ word it also uses.
STRONG_SCOPE_TERMS: tuple[str, ...] = tuple(_L.strong_scope_terms)
# Calcifications that are not calcinosis cutis: what it is -> the words for it.
NOT_CALCINOSIS_CUTIS: dict[str, tuple[str, ...]] = {
    what: tuple(words) for what, words in _L.not_calcinosis_cutis.items()
}
# Deposits in the skin that are not calcium salts: what it is -> the words for it.
NOT_CALCIUM_IN_THE_SKIN: dict[str, tuple[str, ...]] = {
    what: tuple(words) for what, words in _L.not_calcium_in_the_skin.items()
}
# Other conditions a question may be about instead (no calcinosis word in it).
OFF_TOPIC: tuple[str, ...] = tuple(_L.off_topic)
# Topics the sources do not address at all.
NOT_IN_SOURCES: dict[str, tuple[str, ...]] = {
    topic: tuple(words) for topic, words in _L.not_in_sources.items()
}
# The domain's long words that typos are corrected to.
SPELLED: tuple[str, ...] = tuple(_L.spelled)
# Drugs the sources name only by their class: said so when a question names them.
MEMBER_OF_CLASS: dict[str, str] = dict(_L.member_of_class)
# Agents the sources never mention that a question may ask about by name.
NOT_IN_CATALOG: tuple[str, ...] = tuple(_L.not_in_catalog)
# Topics the sources touch only in general terms: said so, with the nearest passages.
GENERAL_ONLY: dict[str, tuple[str, ...]] = {
    topic: tuple(words) for topic, words in _L.general_only.items()
}
# Endings of drug names (INN stems) the catalog does not know: a drug not discussed.
DRUG_SUFFIXES: tuple[str, ...] = tuple(_L.drug_suffixes)
# Which fact of a question a safety rule depends on, and how its scope reads.
RULE_FACTS: dict[str, str] = dict(_L.rule_facts)
RULE_SCOPES: dict[str, str] = dict(_L.rule_scopes)
