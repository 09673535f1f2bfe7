"""The code systems, codes and words the FHIR mapper recognises (see the package docstring)."""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ACTIVE_CLINICAL",
    "AUTOIMMUNE",
    "CALCINOSIS_ANY",
    "CALCINOSIS_TEXT",
    "CALCIPHYLAXIS_TEXT",
    "CLINICAL",
    "CONDITION_TEXT",
    "DISEASE_TEXT",
    "EXCLUDED_VERIFICATION",
    "GENDERS",
    "ICD10CM",
    "ICD_CONDITIONS",
    "ICD_DISEASES",
    "LOCALIZED_SCLERODERMA",
    "LOINC",
    "MEASURES",
    "OBSERVATION_FINAL",
    "RAYNAUD_TEXT",
    "REQUEST_EXCLUDED",
    "ROUTES",
    "RXNORM",
    "RXNORM_IDS",
    "SMBS_TEXT",
    "SNOMED",
    "SNOMED_DISEASES",
    "STATEMENT_CURRENT",
    "STS_BY_ROUTE",
    "STS_FAMILY",
    "STS_TEXT",
    "UCUM",
    "VERIFICATION",
    "whole_words",
]


ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

# RxNorm codes, each checked against a public listing: warfarin's (ingredient,
# precise ingredients, brands) in the HL7 PDDI CDS IG value set
# "valueset-warfarin"; rituximab in an OMOP RxNorm codeset (PEDSnet);
# infliximab, adalimumab, verapamil and methotrexate in a drug-interaction table
# keyed by RxCUI. Diltiazem, minocycline and colchicine could not be checked:
# they are recognised by name (RxNorm names always start with the ingredient).
RXNORM_IDS: Final[dict[str, str]] = {
    "11289": "warfarin",
    "114194": "warfarin",  # warfarin sodium
    "82118": "warfarin",  # warfarin potassium
    "202421": "warfarin",  # Coumadin
    "405155": "warfarin",  # Jantoven
    "121191": "rituximab",
    "191831": "infliximab",
    "327361": "adalimumab",
    "11170": "verapamil",
    "6851": "methotrexate",
}

ACTIVE_CLINICAL: Final = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION: Final = frozenset({"refuted", "entered-in-error"})
REQUEST_EXCLUDED: Final = frozenset({"stopped", "cancelled", "completed", "entered-in-error"})
STATEMENT_CURRENT: Final = frozenset({"active", "intended", "on-hold", "unknown"})
GENDERS: Final = frozenset({"female", "male", "other", "unknown"})

AUTOIMMUNE: Final = (
    "systemic-sclerosis",
    "juvenile-dermatomyositis",
    "dermatomyositis",
    "mixed-connective-tissue-disease",
    "systemic-lupus-erythematosus",
)  # also the order of preference when several are coded


def whole_words(*phrases: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternatives; spaces match spaces or hyphens."""
    parts = [re.escape(p).replace(r"\ ", r"[\s\-]+") for p in phrases]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])", re.IGNORECASE)


CALCINOSIS_TEXT: Final = whole_words("calcinosis cutis", "cutaneous calcinosis")

CALCIPHYLAXIS_TEXT: Final = whole_words(
    "calciphylaxis", "calcific uremic arteriolopathy", "calcific uraemic arteriolopathy"
)

CALCINOSIS_ANY: Final = whole_words("calcinosis")

LOCALIZED_SCLERODERMA: Final = re.compile(
    r"(?<![a-z])(?:locali[sz]ed|linear|circumscribed)\s+scleroderma|morph(?:o)?ea", re.IGNORECASE
)

DISEASE_TEXT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("systemic-sclerosis", whole_words("systemic sclerosis", "crest syndrome")),
    ("systemic-sclerosis-scleroderma", whole_words("scleroderma")),
    ("juvenile-dermatomyositis", whole_words("juvenile dermatomyositis")),
    ("dermatomyositis", whole_words("dermatomyositis", "dermatopolymyositis")),
    ("polymyositis", whole_words("polymyositis")),
    ("systemic-lupus-erythematosus", whole_words("systemic lupus", "lupus nephritis")),
    ("mixed-connective-tissue-disease", whole_words("mixed connective tissue disease", "mctd")),
)

CONDITION_TEXT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "cardiac-conduction-abnormality",
        whole_words(
            "atrioventricular block",
            "av block",
            "heart block",
            "bundle branch block",
            "fascicular block",
            "conduction disorder",
            "sick sinus syndrome",
            "wolff parkinson white",
        ),
    ),
    (
        "reduced-ventricular-function",
        whole_words("hfref", "reduced ejection fraction", "systolic heart failure"),
    ),
    (
        "interstitial-lung-disease",
        whole_words("interstitial lung disease", "pulmonary fibrosis", "interstitial pneumonitis"),
    ),
    (
        "end-stage-kidney-disease",
        whole_words(
            "end stage renal disease",
            "end stage kidney disease",
            "end stage renal failure",
            "esrd",
            "eskd",
        ),
    ),
    ("chronic-kidney-disease", whole_words("chronic kidney disease", "ckd")),
    ("pregnancy", whole_words("pregnancy", "pregnant")),
    ("breastfeeding", whole_words("breastfeeding", "breast feeding", "lactating", "lactation")),
)

RAYNAUD_TEXT: Final = re.compile(r"raynaud", re.IGNORECASE)

ROUTES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("iv", whole_words("intravenous", "intravenously", "iv", "i.v.")),
    ("topical", whole_words("topical", "topically", "cutaneous", "cream", "ointment", "gel")),
    ("intralesional", whole_words("intralesional", "intra lesional", "intradermal")),
)

STS_TEXT: Final = whole_words("sodium thiosulfate", "sodium thiosulphate")
SMBS_TEXT: Final = whole_words("sodium metabisulfite", "sodium metabisulphite")

STS_BY_ROUTE: Final = {
    "iv": "sodium-thiosulfate-iv",
    "topical": "sodium-thiosulfate-topical",
    "intralesional": "sodium-thiosulfate-intralesional",
}

STS_FAMILY: Final = frozenset(
    {
        "sodium-thiosulfate-iv",
        "sodium-thiosulfate-topical",
        "sodium-thiosulfate-intralesional",
        "prp-with-intralesional-sts",
        "sodium-metabisulfite-topical",
    }
)

# ICD-10-CM code prefixes, first match wins (the codes are dotted: "M33.02").
ICD_DISEASES: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("M34",), "systemic-sclerosis"),
    (("M33.0",), "juvenile-dermatomyositis"),
    (("M33.1", "M33.9"), "dermatomyositis"),
    (("M33.2",), "polymyositis"),
    (("M32",), "systemic-lupus-erythematosus"),
    (("M35.1",), "mixed-connective-tissue-disease"),
)

SNOMED_DISEASES: Final = {
    "89155008": "systemic-sclerosis",
    "396230008": "dermatomyositis",
    "1212005": "juvenile-dermatomyositis",
}

ICD_CONDITIONS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("I44", "I45", "I49.5"), "cardiac-conduction-abnormality"),
    (("I50.2", "I50.4"), "reduced-ventricular-function"),
    (("I50",), "heart-failure-other"),  # noted, not mapped
    (("J84",), "interstitial-lung-disease"),
    (("N18.1", "N18.2", "N18.3", "N18.4", "N18.5", "N18.9"), "chronic-kidney-disease"),
    (("N18.6",), "end-stage-kidney-disease"),
    (("Z33.1", "Z3A", "O9A"), "pregnancy"),
    (("I73.0",), "raynaud"),
)

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"

# LOINC code -> (profile field, {UCUM code or unit text: factor to kg or cm}, range)
MEASURES: Final[dict[str, tuple[str, dict[str, float], tuple[float, float]]]] = {
    "29463-7": (
        "weight_kg",
        {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237},
        (0.3, 400.0),
    ),
    "8302-2": (
        "height_cm",
        {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54},
        (20.0, 250.0),
    ),
}

OBSERVATION_FINAL: Final = ("final", "amended", "corrected")
