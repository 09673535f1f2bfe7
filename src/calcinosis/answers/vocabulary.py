"""The words questions use, as data: what is asked, about what, for whom, in scope or not.

Every table here is read by ``understand.py`` and nothing else; the treatment names
themselves come from the catalog (``treatments.yaml``: names and synonyms), so this
file only holds what the catalog does not: class words that cover several entries,
single-entry aliases clinicians use, and the cues of intent, population, disease,
subtype and scope. Patterns are regular expressions matched against the normalised
question (lower case, words separated by single spaces, padded with a space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ABBREVIATIONS",
    "ALIASES",
    "ALSO_INTENTS",
    "CLASSES",
    "CONDITIONS",
    "DISEASES",
    "DRUG_SUFFIXES",
    "FEATURES",
    "INTENTS",
    "INTENT_CUES",
    "MEDICATION_CUES",
    "NEGATIONS",
    "NOT_CALCINOSIS_CUTIS",
    "NOT_IN_SOURCES",
    "OFF_TOPIC",
    "PATIENT_CUES",
    "POPULATION_CUES",
    "PREDICATE_CUES",
    "PRIOR_AFTER",
    "PRIOR_BEFORE",
    "ROUTES",
    "RULE_FACTS",
    "RULE_SCOPES",
    "SCOPE_TERMS",
    "SOURCE_CUES",
    "STRONG_SCOPE_TERMS",
    "SUBTYPES",
    "SUBTYPE_CONDITIONS",
    "UNAVAILABLE_AFTER",
    "UNAVAILABLE_BEFORE",
    "WEAK_FIRST_LINE",
    "WHEN_CUES",
    "YES_NO_START",
    "ClassTerm",
    "Intent",
    "Predicate",
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
INTENTS: tuple[Intent, ...] = (
    "efficacy",
    "dose",
    "adverse-effects",
    "contraindication",
    "level-or-grade",
    "comparison",
    "time-to-response",
    "relapse",
    "epidemiology",
    "mechanism",
    "what-not-to-use",
    "first-line",
    "study-size",
    "overview",
    "patient-specific",
    "unknown",
)

# What is asked, in order of precedence: the first intent with a matching cue wins
# ("How many patients were in the warfarin trial?" is a study-size question even
# though it names a treatment; "how long does it take to work" is about time).
INTENT_CUES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (
        "study-size",
        (
            r" how many (patients|people|subjects|participants|children|adults|cases|studies"
            r"|trials|individuals|lesions|digits|women|men)\b(?! (develop|get|have))",
            r" number of (patients|studies|participants|subjects)",
            r" sample size",
            r" how (large|big) (was|were|is) ",
            r" how many were ",
            r" (is there|are there|was there|were there|any) (an |a |any )?(rct|randomi[sz]ed"
            r"|controlled trial|trial|trials)",
        ),
    ),
    (
        "overview",
        (
            r" subtypes? ",
            r" (types|kinds|forms|categories) of calcinosis",
            r" what (is|are) (calcinosis|calciphylaxis|dystrophic|metastatic|idiopathic"
            r"|iatrogenic|tumoral)",
            r" defin(e|ition) ",
            r" overview ",
        ),
    ),
    (
        "what-not-to-use",
        (
            r" (which|what) (treatments?|drugs?|therapies|medications?|options?|agents?) .*"
            r"(avoid|not (be )?(used|use|recommended|given)|don t work|do not work"
            r"|ineffective|contraindicated|against)",
            r" (treatments?|drugs?|therapies) (to|that should be) avoid",
            r" what (not to|to avoid|should be avoided)",
            r" (should not|shouldn t|must not) be (used|given|prescribed) ",
            r" (not|never) (be )?(given|used|prescribed) (to|in|for) ",
            r" not recommended ",
            r" don t work | do not work | ineffective ",
        ),
    ),
    (
        "time-to-response",
        (
            r" how (long|soon|quickly|fast) ",
            r" when (will|should|does|do|can|would) .*(work|improve|respond|see|expect|resolve"
            r"|effect|response|better)",
            r" time to (response|improvement|resolution|effect|work)",
            r" onset of (action|response|effect)",
            r" how many (months|weeks|days|treatments|sessions|injections)",
        ),
    ),
    (
        "relapse",
        (
            r" relaps",
            r" recur",
            r" come(s)? back",
            r" coming back",
            r" return(s)? after",
            r" reappear",
        ),
    ),
    (
        "adverse-effects",
        (
            r" side effects? ",
            r" adverse ",
            r" toxicit",
            r" complications? ",
            r" risks? (of|with|from) ",
            r" scarring ",
            r" scars? ",
            r" tolerab",
            r" tolerance ",
            r" what harm",
        ),
    ),
    (
        "epidemiology",
        (
            r" how (common|frequent|often) (is|are|does|do) (calcinosis|calciphylaxis|it)\b",
            r" prevalen",
            r" inciden",
            r" (what|which) (percentage|proportion|fraction|share) of ",
            r" risk of (developing|getting) ",
            r" (how many|what percentage|how often) .*(develop|get|have)s? calcinosis",
            r" (most common|most frequent) (form|type|subtype|cause|disease)",
            r" who gets ",
            r" (associated|occur|occurs) (with|in) (which|what) ",
        ),
    ),
    (
        "mechanism",
        (
            r" how (does|do|would|might) \S+( \S+){0,3} work ",
            r" mechanism",
            r" mode of action",
            r" why (does|do|would|is|are|might) ",
            r" pathophysiolog",
            r" pathogenesis",
            r" what causes ",
            r" (the )?same (thing )?as ",
            r" difference between ",
            r" different from ",
            r" caused by ",
            r" (promot|caus|worsen|induc|aggravat|accelerat|trigger)\w* (ectopic |more |the "
            r"|further |vascular )?(calcification|calcinosis|calcium deposit)",
            r" make\w* (the |my |her |his )?(calcification|calcinosis|calcium deposits?|it)"
            r" worse",
        ),
    ),
    (
        "contraindication",
        (
            r" safe ",
            r" safely ",
            r" safety ",
            r" contraindicat",
            r" caution",
            r" heart block ",
            r" av block ",
            r" conduction ",
            r" allowed ",
            r" ok to ",
            r" okay to ",
            r" (can|could|may) (a|an|my|the|this|our) (\d+ )?(year|month) old",
            r" (can|could|may) (a |an |my |the |this )?(child|children|kid|kids|baby|infant"
            r"|toddler|teenager|boy|girl) ",
            r" in (a |an )?(pregnan\w*|heart block)",
            r" pregnan",
            r" breastfeed",
        ),
    ),
    (
        "level-or-grade",
        (
            r" levels? of evidence",
            r" evidence level",
            r" grade ",
            r" grades ",
            r" grading",
            r" graded ",
            r" strength of (the )?(evidence|recommendation)",
            r" quality of (the )?evidence",
            r" how (strong|good|solid|robust) is the evidence",
            r" oxford ",
            r" cebm ",
            r" level (i|ii|iii|iv|v|ia|ib|iia|iib|[1-5] ?[abc]?) ",
            r" graded? ([abcd]|[12] ?[abc]) ",
        ),
    ),
    (
        "comparison",
        (
            r" vs ",
            r" versus ",
            r" compar",
            r" better than ",
            r" which is better",
            r" more effective than ",
            r" rather than ",
            r" as (well|good|effective) as ",
            r" compared (to|with) ",
            r" (superior|inferior) to ",
        ),
    ),
    (
        "dose",
        (
            r" dos(e|es|age|ing) ",
            r" how much ",
            r" regimens? ",
            r" mg ",
            r" how often (should|do|to|is|are|can) ",
            r" concentration",
            r" how (do i|to|should i|do you|do we|is it) (apply|give|prescribe|administer|use"
            r"|dose)",
            r" administ",
            r" schedule",
            r" prescrib",
            r" frequency of (application|injection|dosing)",
        ),
    ),
    (
        "first-line",
        (
            r" first[ -]?line ",
            r" first choice",
            r" (initial|first) (treatment|therapy|management|step|approach|option)",
            r" best ([\w-]+ ){0,2}(treatment|therapy|option|approach|drug|choice)",
            r" preferred (treatment|therapy|initial|option)",
            r" start with ",
            r" what (next|now|else)",
            r" what can (be|i|we|you) (do|done)",
            r" next (step|option|line|treatment)",
            r" second[ -]line",
            r" (failed|failing|after) .*(what|which|next|now)",
            r" what (should|do|can|would) (i|we|you) (start|give|use|try|do|prescribe|offer"
            r"|suggest|recommend)",
            r" what (do|would) you (suggest|recommend|advise)",
            r" (which|what) (systemic )?(drug|treatment|therapy|medication|option) (for|should"
            r"|to|is best|would)",
            r" need\w* (any )?(treatment|to be treated|therapy)",
            r" how (do|should|would|can) (i|you|we) (treat|manage|approach)",
            r" how (is|are) .*(treated|managed)",
            r" (is|are) .*(treated|managed) (the same|differently|like)",
            r" treat(ment|ing)? (of|for) ",
            r" manag(e|ement|ing) ",
            r" algorithm",
            r" approach to ",
            r" options ",
            r" what (treatments?|therapies|drugs) (are|is|exist)",
            r" how to treat ",
            r" tx ",
            r" therapy for ",
        ),
    ),
    (
        "efficacy",
        (
            r" work",
            r" effective",
            r" efficacy",
            r" respon",
            r" how well ",
            r" success",
            r" improv",
            r" outcomes? ",
            r" evidence ",
            r" help",
            r" useful ",
            r" benefit",
            r" worth ",
            r" remission",
            r" results? ",
            r" resolv",
            r" dissolv",
        ),
    ),
)
# Intents a question can ask besides its primary one ("dose + side effects?",
# "results, complications, recurrence?"), each answered after it, in the order asked.
ALSO_INTENTS: dict[Intent, tuple[str, ...]] = {
    "efficacy": (
        r" results? ",
        r" efficacy",
        r" effective",
        r" response",
        r" success",
    ),
    "dose": (r" dos(e|es|age|ing) ", r" regimens? ", r" how much "),
    "adverse-effects": (r" side effects? ", r" adverse ", r" complications? ", r" toxicit"),
    "relapse": (r" relaps", r" recur", r" come(s)? back"),
    "time-to-response": (r" how (long|soon|quickly) ",),
    "level-or-grade": (r" levels? of evidence", r" grade ", r" strength of "),
}
# First-line cues that, when a treatment is named, ask about that treatment's
# efficacy rather than for the first-line plan ("Treatment of calcinosis with X").
WEAK_FIRST_LINE: tuple[str, ...] = (
    r" treat(ment|ing)? (of|for) ",
    r" manag(e|ement|ing) ",
    r" options ",
    r" therapy for ",
    r" tx ",
    r" approach to ",
)

# A yes/no question: it starts with an auxiliary, or asks "does it ...?" after a dash.
# A yes/no question: a clause of it (split at , ; : ? ! and dashes) opens with an
# auxiliary, or asks whether something is worth it.
YES_NO_START = (
    r"^ (is|are|does|do|did|can|could|should|shall|will|would|may|might|has|have|was|were"
    r"|must|any good|worth|ok|okay|safe)\b",
)
# Words around a treatment that say it was tried before, and how it went (the profile's
# ``prior_treatments`` responses): before the treatment, then after it.
PRIOR_BEFORE: dict[str, str] = {
    r" (failed|failing|after failing|no response to|not responding to|didn t respond to|didnt "
    r"respond to|did not respond to|unresponsive to|refractory to|despite) $": "none",
    r" (intolerant of|intolerant to|could not tolerate|couldn t tolerate|stopped) $": "intolerant",
    r" (partial response to|some response to) $": "partial",
}
PRIOR_AFTER: dict[str, str] = {
    r"^ (failed|did not work|didn t work|didnt work|has not worked|hasn t worked|no response"
    r"|not worked|was ineffective)": "none",
    r"^ (was not tolerated|not tolerated|caused side effects)": "intolerant",
}
# Words around a treatment that say it cannot be had or used here ("when topical STS
# isn't practical"): the profile's local_therapy_accessible, and not the subject.
UNAVAILABLE_BEFORE: tuple[str, ...] = (
    r" (no access to|can t access|cannot access|can t get|cannot get|unable to get|unable to "
    r"access|without access to) $",
)
UNAVAILABLE_AFTER: tuple[str, ...] = (
    r"^ (isn t|is not|isnt|was not|wasn t|not) (practical|possible|available|feasible|accessible)",
    r"^ (impractical|unavailable)",
    r"^ (can t|cannot|could not|couldn t) be (used|applied|accessed|obtained|had)",
)
# The source a question names ("what does the review conclude about X?").
SOURCE_CUES: dict[str, tuple[str, ...]] = {
    "traineau-2020": ("the review", "traineau", "the systematic review", "jaad review"),
    "management-topic": ("the topic", "management topic", "point of care topic", "uptodate"),
    "nowaczyk-2021": ("nowaczyk", "local therapies review", "review of local therapies"),
    "ai-answer-dm": ("ai answer", "ai generated answer", "the ai"),
}
# A question about when a treatment is used, answered with the sources' indications.
WHEN_CUES: tuple[str, ...] = (
    r" when (should|to|is|are|do|would|can|might) .*(use|used|start|consider|considered"
    r"|indicated|given|tried|offer|an option)",
    r" (indications?|indicated) (for|of) ",
    r" who (should|would|can) (get|receive|be given|be offered)",
)
# Words before a treatment that make it a current medication, not the one asked about.
MEDICATION_CUES: tuple[str, ...] = (
    r" (already|currently|presently|now|is|s|chronically) (on|taking|takes|receiving|using) $",
    r" (takes|taking|receiving) $",
)
# Words that negate a feature named just after them ("no ulcers", "not painful").
NEGATIONS = frozenset(
    (
        "no",
        "not",
        "without",
        "non",
        "don",
        "dont",
        "doesn",
        "doesnt",
        "isn",
        "isnt",
        "aren",
        "arent",
        "never",
        "nor",
        "poorly",
    )
)
# Abbreviations clinicians type, spelled out before anything is matched.
ABBREVIATIONS: dict[str, str] = {
    "pts": "patients",
    "pt": "patient",
    "w": "with",
    "tx": "treatment",
    "yo": "year old",
    "yrs": "years",
    "yr": "year",
    "mo": "month",
    "mos": "months",
    "f": "female",
    "m": "male",
}

Predicate = Literal[
    "promotes-calcification",
    "safe-with",
    "usable-at-age",
    "first-line",
    "avoided",
    "recommended",
    "causes",
    "effective",
    "needs-treatment",
]
# What a yes/no question claims about its treatment, in order of precedence.
PREDICATE_CUES: tuple[tuple[Predicate, tuple[str, ...]], ...] = (
    (
        "promotes-calcification",
        (
            r" (promot|caus|worsen|induc|aggravat|accelerat|trigger|increas)\w* (ectopic |more "
            r"|the |further |vascular )?(calcification|calcinosis|calcium deposit)",
            r" make\w* (the |my |her |his )?(calcification|calcinosis|calcium deposits?|it)"
            r" worse",
        ),
    ),
    ("needs-treatment", (r" need\w* (any )?(treatment|to be treated|therapy)",)),
    (
        "first-line",
        (r" first[ -]?line ", r" first choice", r" (initial|first) (treatment|therapy)"),
    ),
    (
        "avoided",
        (r" avoid", r" (should|must) not ", r" shouldn t ", r" stop(ped)? ", r" contraindicat"),
    ),
    (
        "causes",
        (
            r" (cause|causes|lead to|leads to|produce|produces|give|gives|leave|leaves) (\w+ )?"
            r"(discolou?r|pain|infection|nausea|dizziness|edema|oedema|headache|scar|necrosis|block"
            r"|bradycardia|hypotension|acidosis|irritation|hyperkeratosis|diarrh|gastro)",
        ),
    ),
    ("safe-with", (r" safe", r" risk", r" caution", r" ok ", r" okay ", r" allowed ")),
    (
        "recommended",
        (
            r" should ",
            r" recommend",
            r" indicated ",
            r" worth ",
            r" (can|could|may) .*(be )?(used|use|given|give|tried|try|take|taken|prescribed)",
            r" appropriate ",
            r" reasonable ",
            r" advis",
            r" consider",
            r" an option ",
            r" good idea ",
            r" (used|given|tried|an option) (for|in) ",
            r" (do|would|can) (we|you|i) (use|give|try|start|offer)",
        ),
    ),
    (
        "effective",
        (
            r" work",
            r" help",
            r" effective",
            r" efficac",
            r" improv",
            r" useful",
            r" benefit",
            r" respon",
            r" dissolv",
            r" resolv",
            r" shrink",
            r" reduc",
            r" evidence",
        ),
    ),
)


@dataclass(frozen=True)
class ClassTerm:
    """Words for a class of treatments; ``members`` narrows the catalog's class."""

    label: str
    phrases: tuple[str, ...]
    members: tuple[str, ...] = ()  # empty: every catalog entry of the class


# One table for the words that cover several catalog entries. The class ids are the
# catalog's (treatments.yaml, ``classes``).
CLASSES: dict[str, ClassTerm] = {
    "sodium-thiosulfate": ClassTerm(
        "Sodium thiosulfate",
        ("sts", "sodium thiosulfate", "sodium thiosulphate", "thiosulfate", "thiosulphate"),
        (
            "sodium-thiosulfate-topical",
            "sodium-thiosulfate-intralesional",
            "sodium-thiosulfate-iv",
        ),
    ),
    "bisphosphonates": ClassTerm(
        "Bisphosphonates", ("bisphosphonate", "bisphosphonates", "biphosphonate", "biphosphonates")
    ),
    "calcium-channel-blockers": ClassTerm(
        "Calcium channel blockers",
        ("ccb", "ccbs", "calcium channel blocker", "calcium channel blockers", "calcium blockers"),
    ),
    "tnf-inhibitors": ClassTerm(
        "TNF inhibitors",
        (
            "tnf",
            "anti tnf",
            "tnf inhibitor",
            "tnf inhibitors",
            "tnf alpha inhibitors",
            "tnf blockers",
            "tumor necrosis factor inhibitors",
            "tumour necrosis factor inhibitors",
        ),
    ),
    "vitamin-k-antagonists": ClassTerm(
        "Vitamin K antagonists",
        (
            "blood thinner",
            "blood thinners",
            "anticoagulant",
            "anticoagulants",
            "vitamin k antagonist",
        ),
    ),
    "biologics": ClassTerm(
        "Biologic agents", ("biologic", "biologics", "biologic therapies", "biologic agents")
    ),
    "immunosuppressants": ClassTerm(
        "Immunosuppressants", ("immunosuppressant", "immunosuppressants")
    ),
    "local-therapies": ClassTerm(
        "Local therapies", ("local therapy", "local therapies", "local treatments")
    ),
}
# Single catalog entries under words the catalog does not list.
ALIASES: dict[str, str] = {
    "surgery": "surgical-excision",
    "surgical": "surgical-excision",
    "excision": "surgical-excision",
    "removal": "surgical-excision",
    "laser": "co2-laser",
    "shock wave": "eswt",
    "shockwave": "eswt",
    "lithotripsy": "eswt",
    "iontophoresis": "acetic-acid-iontophoresis",
    "immunoglobulin": "ivig",
    "immunoglobulins": "ivig",
    "immune globulin": "ivig",
    "watchful waiting": "observation",
    "observation": "observation",
    "follow up without intervention": "observation",
    "leave it alone": "observation",
    "on its own": "observation",
    "by itself": "observation",
    "without treatment": "observation",
    "go away": "observation",
    "spontaneous resolution": "observation",
    "jak inhibitor": "jak-inhibitors",
    "prp": "prp-with-intralesional-sts",
    "platelet rich plasma": "prp-with-intralesional-sts",
    "metabisulfite": "sodium-metabisulfite-topical",
    "metabisulphite": "sodium-metabisulfite-topical",
    "underlying disease": "treat-underlying-disease",
    "underlying dm": "treat-underlying-disease",
    "underlying ssc": "treat-underlying-disease",
    "immunosuppressive therapy": "treat-underlying-disease",
    "immunosuppression": "treat-underlying-disease",
    "calcium phosphate product": "correct-calcium-phosphate",
    "phosphate binder": "correct-calcium-phosphate",
    "phosphate binders": "correct-calcium-phosphate",
    "steroid injection": "intralesional-corticosteroids",
    "steroid injections": "intralesional-corticosteroids",
    "prostacyclin": "prostacyclin-analogues",
    "microdrill": "microdrilling",
    "curettage": "surgical-excision",
    "ultrasound": "low-frequency-ultrasound",
}
# Route words that pick a member of a class (matched to the catalog's ``route``).
ROUTES: dict[str, str] = {
    "topical": "topical",
    "topically": "topical",
    "cream": "topical",
    "ointment": "topical",
    "intralesional": "intralesional",
    "intra lesional": "intralesional",
    "intradermal": "intralesional",
    "injection": "intralesional",
    "injections": "intralesional",
    "injected": "intralesional",
    "intravenous": "intravenous",
    "intravenously": "intravenous",
    "iv": "intravenous",
    "infusion": "intravenous",
    "il": "intralesional",
    "oral": "oral",
    "orally": "oral",
    "po": "oral",
}

# Underlying diseases, in the patient-profile vocabulary (DESIGN.md); longest first.
DISEASES: dict[str, str] = {
    "juvenile dermatomyositis": "juvenile-dermatomyositis",
    "juvenile dm": "juvenile-dermatomyositis",
    "jdm": "juvenile-dermatomyositis",
    "systemic sclerosis": "systemic-sclerosis",
    "limited scleroderma": "systemic-sclerosis",
    "scleroderma": "systemic-sclerosis",
    "ssc": "systemic-sclerosis",
    "lcssc": "systemic-sclerosis",
    "crest": "systemic-sclerosis",
    "dcssc": "systemic-sclerosis",
    "dermatomyositis": "dermatomyositis",
    "dm": "dermatomyositis",
    "systemic lupus erythematosus": "systemic-lupus-erythematosus",
    "lupus": "systemic-lupus-erythematosus",
    "sle": "systemic-lupus-erythematosus",
    "mixed connective tissue disease": "mixed-connective-tissue-disease",
    "mctd": "mixed-connective-tissue-disease",
    # dystrophic calcinosis without an autoimmune disease (the topic's "less common causes")
    "trauma": "other",
    "traumatic": "other",
    "injury": "other",
    "panniculitis": "other",
    "porphyria": "other",
    "genodermatosis": "other",
    "genodermatoses": "other",
    "acne scar": "other",
    "parasitic": "other",
}
SUBTYPES: dict[str, str] = {
    "dystrophic": "dystrophic",
    "metastatic": "metastatic",
    "metabolic calcinosis": "metastatic",
    "idiopathic": "idiopathic",
    "tumoral calcinosis": "idiopathic",
    "scrotal": "idiopathic",
    "scrotum": "idiopathic",
    "subepidermal calcified nodule": "idiopathic",
    "iatrogenic": "iatrogenic",
    "extravasation": "iatrogenic",
    "calcium gluconate": "iatrogenic",
    "calcium chloride": "iatrogenic",
    "calciphylaxis": "calciphylaxis",
    "calcific uremic arteriolopathy": "calciphylaxis",
    "calcific uraemic arteriolopathy": "calciphylaxis",
    "trauma": "dystrophic",
    "traumatic": "dystrophic",
}

# Age group words (an age in years decides when one is given).
POPULATION_CUES: dict[str, tuple[str, ...]] = {
    "child": (
        "child",
        "children",
        "childhood",
        "kid",
        "kids",
        "paediatric",
        "pediatric",
        "juvenile",
        "jdm",
        "infant",
        "infants",
        "neonate",
        "neonatal",
        "newborn",
        "baby",
        "toddler",
        "adolescent",
        "adolescents",
        "teen",
        "teenager",
        "boy",
        "girl",
        "son",
        "daughter",
    ),
    "adult": ("adult", "adults", "elderly", "older adult", "woman", "man", "women", "men"),
}

# Patient conditions a safety question names (the profile's ``conditions`` ids).
CONDITIONS: dict[str, tuple[str, ...]] = {
    "cardiac-conduction-abnormality": (
        "heart block",
        "av block",
        "atrioventricular block",
        "conduction",
        "bundle branch",
        "sick sinus",
        "bradycardia",
        "second degree",
        "third degree",
    ),
    "reduced-ventricular-function": (
        "heart failure",
        "ejection fraction",
        "ventricular function",
        "ventricular dysfunction",
        "cardiomyopathy",
    ),
    "pregnancy": ("pregnant", "pregnancy", "breastfeeding", "breast feeding", "lactation"),
    "chronic-kidney-disease": (
        "chronic kidney disease",
        "ckd",
        "kidney disease",
        "renal disease",
        "renal insufficiency",
        "renal impairment",
    ),
    "end-stage-kidney-disease": (
        "dialysis",
        "end stage kidney",
        "end stage renal",
        "esrd",
        "eskd",
        "kidney failure",
    ),
    "interstitial-lung-disease": (
        "interstitial lung",
        "ild",
        "pulmonary fibrosis",
        "lung fibrosis",
        "fibrosing alveolitis",
    ),
}
# Conditions that come with a subtype (dialysis in calciphylaxis): context, not a
# safety question about the treatment.
SUBTYPE_CONDITIONS: dict[str, frozenset[str]] = {
    "calciphylaxis": frozenset({"end-stage-kidney-disease", "chronic-kidney-disease"}),
    "metastatic": frozenset({"end-stage-kidney-disease", "chronic-kidney-disease"}),
}
# Features of the lesions or the patient that the algorithm weighs.
FEATURES: dict[str, tuple[str, ...]] = {
    "asymptomatic": (
        "asymptomatic",
        "no symptoms",
        "not bothered",
        "painless",
        "don t hurt",
        "dont hurt",
        "doesn t hurt",
        "doesnt hurt",
        "not painful",
        "no pain",
        "not growing",
        "aren t growing",
        "arent growing",
        "isn t growing",
        "stable",
        "nonprogressive",
        "not progressing",
    ),
    "symptomatic": ("painful", "pain", "hurts", "hurt", "tender", "symptomatic", "bothersome"),
    "single": ("single", "solitary", "isolated", "discrete", "one lesion", "one nodule", "a lump"),
    "active": (
        "still active",
        "active disease",
        "flare",
        "flaring",
        "uncontrolled",
        "not controlled",
        "poorly controlled",
        "not adequately treated",
    ),
    "controlled": ("well controlled", "in remission", "quiescent", "inactive", "controlled"),
    "inflammation": ("inflamed", "inflammation", "inflammatory", "red", "erythema"),
    "ulceration": ("ulcer", "ulcers", "ulcerated", "ulceration", "ulcerating", "draining"),
    "raynaud": ("raynaud", "raynauds"),
    "digital": ("finger", "fingers", "fingertip", "fingertips", "digit", "digits", "digital"),
    "small": ("small", "tiny", "little"),
    "widespread": ("widespread", "extensive", "diffuse", "many lesions", "multiple", "numerous"),
}

# Questions about one patient.
PATIENT_CUES: tuple[str, ...] = (
    r" my patient",
    r" this patient",
    r" our patient",
    r" \d+ (year|month) old",
    r" \d+ yo ",
    r" should i ",
    r" can i ",
    r" do i ",
    r" for him ",
    r" for her ",
    r" my (child|son|daughter|kid)",
)

# What calcinosis cutis is called; a question naming one of these is in scope.
SCOPE_TERMS: tuple[str, ...] = (
    "calcinosis",
    "calcinoses",
    "calciphylaxis",
    "calcinotic",
    "calcium deposit",
    "calcium deposits",
    "calcified nodule",
    "calcific uremic arteriolopathy",
    "calcification",
    "calcifications",
    "traineau",
    "nowaczyk",
    # lay words for the deposits
    "chalky",
    "calcium lump",
    "calcium lumps",
    "calcium bumps",
    "calcium nodules",
    "calcium under the skin",
)
# Terms that keep a question in scope whatever organ word it also uses.
STRONG_SCOPE_TERMS: tuple[str, ...] = (
    "calcinosis cutis",
    "calciphylaxis",
    "skin",
    "cutaneous",
    "subcutaneous",
)
# Calcifications that are not calcinosis cutis: what it is -> the words for it.
NOT_CALCINOSIS_CUTIS: dict[str, tuple[str, ...]] = {
    "breast calcifications on a mammogram": (
        "breast",
        "mammogram",
        "mammography",
        "mammographic",
    ),
    "chondrocalcinosis or pseudogout (calcium pyrophosphate deposition)": (
        "chondrocalcinosis",
        "pseudogout",
        "cppd",
        "calcium pyrophosphate",
    ),
    "heterotopic ossification or bone in the skin": (
        "heterotopic ossification",
        "myositis ossificans",
        "osteoma cutis",
        "ossification",
    ),
    "kidney stones (nephrolithiasis)": (
        "kidney stone",
        "kidney stones",
        "renal stone",
        "renal stones",
        "nephrolithiasis",
        "urolithiasis",
        "renal calculi",
        "ureteric stone",
        "bladder stone",
        "nephrocalcinosis",
    ),
    "vascular calcification (arterial, coronary or valvular)": (
        "vascular calcification",
        "arterial calcification",
        "artery calcification",
        "coronary calcification",
        "coronary artery calcification",
        "coronary calcium",
        "calcium score",
        "valvular calcification",
        "valve calcification",
        "aortic calcification",
        "aortic stenosis",
        "mitral annular",
        "atherosclerosis",
        "atherosclerotic",
    ),
    "calcific tendinitis": (
        "calcific tendinitis",
        "calcific tendonitis",
        "tendinitis",
        "tendonitis",
        "tendon calcification",
        "rotator cuff",
        "calcific bursitis",
    ),
    "brain calcifications": (
        "brain calcification",
        "pineal",
        "basal ganglia",
        "intracranial calcification",
        "fahr",
    ),
    "gallstones": ("gallstone", "gallstones", "gall bladder stone", "cholelithiasis"),
    "dental calculus": ("dental calculus", "tartar", "dental plaque"),
    "salivary or other stones": ("salivary stone", "sialolith", "tonsil stone", "tonsillolith"),
    "lung calcifications": ("pulmonary calcification", "lung calcification", "calcified granuloma"),
    "prostate calcifications": ("prostate calcification", "prostatic calcification"),
    "calcium supplements for bone health": ("osteoporosis", "bone density"),
}
# Other conditions a question may be about instead (no calcinosis word in it).
OFF_TOPIC: tuple[str, ...] = (
    "diabetes",
    "hypertension",
    "high blood pressure",
    "acne",
    "cancer",
    "asthma",
    "depression",
    "covid",
    "migraine",
    "obesity",
    "atrial fibrillation",
    "anticoagulation",
    "thrombosis",
    "afib",
    "pneumonia",
    "gout",
    "angina",
    "arrhythmia",
    "deep vein thrombosis",
    "dvt",
    "pulmonary embolism",
    "stroke",
    "world cup",
    "capital of",
    "poem",
    "weather",
    "recipe",
    "football",
    "stock",
    "joke",
)
# Topics the sources do not address at all: a question about them is answered with
# "the sources do not answer this directly" and the nearest passages.
NOT_IN_SOURCES: dict[str, tuple[str, ...]] = {
    "pregnancy or breastfeeding": (
        "pregnant",
        "pregnancy",
        "breastfeeding",
        "breast feeding",
        "lactation",
    ),
    "cost or insurance": ("cost", "costs", "price", "expensive", "cheap", "insurance", "afford"),
    "diet": ("diet", "dietary", "food", "foods", "eat"),
    "drug interactions": ("interaction", "interactions", "interact"),
    "driving or work": ("driving", "drive"),
    "alcohol": ("alcohol",),
    "vaccination": ("vaccine", "vaccines", "vaccination"),
    "imaging follow-up": ("x ray", "xray", "radiograph", "ct scan", "mri"),
}
# Endings of drug names (INN stems): a word ending so that the catalog does not know
# is a drug the sources do not discuss.
DRUG_SUFFIXES: tuple[str, ...] = (
    "mab",
    "cept",
    "tinib",
    "citinib",
    "nib",
    "pril",
    "sartan",
    "olol",
    "statin",
    "cillin",
    "mycin",
    "cycline",
    "floxacin",
    "azole",
    "dipine",
    "parin",
    "xaban",
    "gatran",
    "dronate",
    "formin",
    "gliptin",
    "profen",
    "oxetine",
    "azepam",
    "triptan",
    "limus",
    "sporine",
    "thioprine",
    "quine",
    "calcet",
    "sevelamer",
    "lanthanum",
    "calcitriol",
)

# Which fact of a question a safety rule of the catalog depends on (so that a rule is
# said not to apply only when the question states that fact), and how its scope reads.
RULE_FACTS: dict[str, str] = {
    "dystrophic-calcinosis": "subtype",
    "age-under-9": "age",
    "systemic-sclerosis": "disease",
    "digital-ssc": "disease",
    "cardiac-conduction-abnormality": "conditions",
    "reduced-ventricular-function": "conditions",
}
RULE_SCOPES: dict[str, str] = {
    "calcinosis-indication": "for calcinosis cutis",
    "dystrophic-calcinosis": "for dystrophic calcinosis cutis",
    "age-under-9": "in children under nine, whatever the indication",
    "systemic-sclerosis": "in systemic sclerosis, whatever the indication",
    "digital-ssc": "for digital calcinosis in systemic sclerosis",
    "cardiac-conduction-abnormality": "with cardiac conduction abnormalities",
    "reduced-ventricular-function": "with reduced ventricular function",
}
