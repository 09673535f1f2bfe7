"""The words questions use for what they are about, as data: treatments (class words and
aliases beyond the catalog's names and synonyms), routes, diseases, subtypes, age groups,
patient conditions, lesion features, abbreviations, and what is or is not calcinosis
cutis. What is *asked* (intents, propositions) is in ``cues.py``.

Every table here is read by ``understand.py`` (the rule tables by the composers); the
treatment names themselves come from the catalog (``treatments.yaml``), so this file
only holds what the catalog does not. Phrases are matched as whole words against the
normalised question.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ABBREVIATIONS",
    "ALIASES",
    "CLASSES",
    "CONDITIONS",
    "DISEASES",
    "DRUG_SUFFIXES",
    "FEATURES",
    "GENERAL_ONLY",
    "MEMBER_OF_CLASS",
    "NOT_CALCINOSIS_CUTIS",
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
    "b4": "before",
    "hd": "hemodialysis",
    "phos": "phosphate",
    "phosphorus": "phosphate",
    "po4": "phosphate",
    "fx": "effects",
}


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
    # the sources speak of JAK inhibitors as a class only (the AI-generated answer)
    "jaki": "jak-inhibitors",
    "jakis": "jak-inhibitors",
    **dict.fromkeys(("tofacitinib", "baricitinib", "ruxolitinib"), "jak-inhibitors"),
    "surgery": "surgical-excision",
    "surgical": "surgical-excision",
    "excision": "surgical-excision",
    "excise": "surgical-excision",
    "excised": "surgical-excision",
    "surgically removed": "surgical-excision",
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
    "underlying dermatomyositis": "treat-underlying-disease",
    "underlying systemic sclerosis": "treat-underlying-disease",
    "underlying scleroderma": "treat-underlying-disease",
    "underlying autoimmune disease": "treat-underlying-disease",
    "underlying connective tissue disease": "treat-underlying-disease",
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
    # Brand names clinicians type (understanding only: nothing is said about them that the
    # sources do not say about the drug).
    "coumadin": "warfarin",
    "jantoven": "warfarin",
    "cardizem": "diltiazem",
    "tiazac": "diltiazem",
    "minocin": "minocycline",
    "solodyn": "minocycline",
    "colcrys": "colchicine",
    "rituxan": "rituximab",
    "mabthera": "rituximab",
    "remicade": "infliximab",
    "humira": "adalimumab",
    "orencia": "abatacept",
    "aredia": "pamidronate",
    "fosamax": "alendronate",
    "actonel": "risedronate",
    "didronel": "etidronate",
    "cytoxan": "cyclophosphamide",
    "norvasc": "amlodipine",
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
    # calcinosis in a scar or at the site of an injury: traumatic dystrophic calcinosis
    "laceration": "other",
    "old scar": "other",
    "surgical scar": "other",
    "burn scar": "other",
    "in a scar": "other",
    "in the scar": "other",
    "scar tissue": "other",
    "post traumatic": "other",
    "posttraumatic": "other",
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
    # the calcium-phosphate defect that defines metastatic calcinosis (004)
    "high phosphate": "metastatic",
    "raised phosphate": "metastatic",
    "elevated phosphate": "metastatic",
    "hyperphosphatemia": "metastatic",
    "hyperphosphataemia": "metastatic",
    "high calcium phosphate product": "metastatic",
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
    "pregnancy": ("pregnant", "pregnancy"),
    "breastfeeding": (
        "breastfeeding",
        "breast feeding",
        "lactation",
        "lactating",
        "nursing mother",
    ),
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
        "hemodialysis",
        "haemodialysis",
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
        "not bothering",
        "doesn t bother",
        "doesnt bother",
        "does not bother",
    ),
    # not growing is about the calcinosis; "stable disease" is about the underlying disease
    "nonprogressive": (
        "not growing",
        "aren t growing",
        "arent growing",
        "isn t growing",
        "nonprogressive",
        "non progressive",
        "not progressing",
        "lesions stable",
        "nodules stable",
        "deposits stable",
        "calcinosis stable",
    ),
    # what the patient wants: treatment desired (the idiopathic algorithm's question)
    "wants-treatment": (
        "wants it removed",
        "wants it out",
        "want it out",
        "wants them out",
        "wants it excised",
        "wants excision",
        "wants surgery",
        "wants it cut out",
        "wants them removed",
        "wants removal",
        "want it removed",
        "wants it gone",
        "would like it removed",
        "would like them removed",
        "wants treatment",
        "requests removal",
        "asking for removal",
        "bothered by",
        "bothers her",
        "bothers him",
        "cosmetically",
        "concerned about",
    ),
    "symptomatic": ("painful", "pain", "hurts", "hurt", "tender", "symptomatic", "bothersome"),
    "single": (
        "single",
        "solitary",
        "isolated",
        "discrete",
        "one lesion",
        "one nodule",
        "one deposit",
        "one small nodule",
        "one small lesion",
        "one small deposit",
        "only one",
        "a lump",
        "a nodule",
        "a calcified nodule",
        "a calcified lump",
        "a hard nodule",
        "a hard lump",
        "a deposit",
    ),
    "localized": ("localized", "localised", "local lesion", "confined to", "limited to"),
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
    "controlled": (
        "well controlled",
        "in remission",
        "quiescent",
        "inactive",
        "controlled",
        "disease stable",
        "stable disease",
        "stable ssc",
        "stable dm",
        "stable scleroderma",
    ),
    "inflammation": ("inflamed", "inflammation", "inflammatory", "red", "erythema"),
    "ulceration": ("ulcer", "ulcers", "ulcerated", "ulceration", "ulcerating", "draining"),
    "raynaud": ("raynaud", "raynauds"),
    "digital": ("finger", "fingers", "fingertip", "fingertips", "digit", "digits", "digital"),
    "small": ("small", "tiny", "little"),
    "widespread": (
        "widespread",
        "extensive",
        "diffuse",
        "disseminated",
        "generalized",
        "generalised",
        "universal",
        "multiple",
        "numerous",
        "lots of",
        "a lot of",
        "all over",
        "too many",
        "so many",
        "many lesions",
        "many nodules",
        "many deposits",
        "many calcinotic",
        "many calcified",
        "many areas",
        "many sites",
        "many of them",
        "dozens",
        "everywhere",
    ),
}

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
        "breast calcification",
        "breast calcifications",
        "breast microcalcification",
        "breast microcalcifications",
        "calcifications in the breast",
        "calcification in the breast",
        "microcalcifications",
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
    "calcific tendinitis or another tendon or joint calcification": (
        "calcific tendinitis",
        "calcific tendonitis",
        "tendinitis",
        "tendonitis",
        "tendon calcification",
        "rotator cuff",
        "calcific bursitis",
        "heel spur",
        "bone spur",
        "calcaneal",
        "heel calcification",
        "achilles",
        "joint calcification",
        "cartilage calcification",
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
    "laboratory monitoring": (
        "blood tests",
        "lab tests",
        "laboratory monitoring",
        "drug monitoring",
        "monitoring is needed",
        "need monitoring",
    ),
    "driving or work": ("driving", "drive"),
    "alcohol": ("alcohol",),
    "vaccination": ("vaccine", "vaccines", "vaccination"),
    "imaging follow-up": ("x ray", "xray", "radiograph", "ct scan", "mri"),
}

# The domain's long words that typos are corrected to (with the one-word names of the
# catalog, diseases and subtypes): never an ordinary English word.
SPELLED: tuple[str, ...] = (
    "thiosulfate",
    "thiosulphate",
    "metabisulfite",
    "calcinosis",
    "calciphylaxis",
    "dermatomyositis",
    "scleroderma",
    "sclerosis",
    "iontophoresis",
    "lithotripsy",
    "extravasation",
    "immunoglobulin",
    "intralesional",
    "intravenous",
    "bisphosphonates",
    "juvenile",
    "raynaud",
)
# Drugs the sources name only by their class: said so when a question names them.
MEMBER_OF_CLASS: dict[str, str] = dict.fromkeys(
    ("tofacitinib", "baricitinib", "ruxolitinib"), "jak-inhibitors"
)
# Agents the sources never mention that a question may ask about by name.
NOT_IN_CATALOG: tuple[str, ...] = (
    "vitamin k",
    "vitamin d",
    "calcium supplements",
    "magnesium",
    "sodium bicarbonate",
    "sildenafil",
    "bosentan",
    "iloprost",
    "botulinum",
    "botox",
    "hyperbaric oxygen",
    "cinacalcet",
    "sevelamer",
    "lanthanum",
    "prednisolone",
    "methylprednisolone",
    "hydroxychloroquine",
    "apremilast",
)
# Topics the sources touch only in general terms: said so, with the nearest passages.
GENERAL_ONLY: dict[str, tuple[str, ...]] = {
    "combining treatments": ("combine", "combined with", "combining", "together with"),
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
