"""Clinical questions in plain language, answered only from the evidence base.

``answer_question("Should warfarin be used for calcinosis?")`` reads the
question (treatments, diseases, subtypes, age, what is asked), composes the
answer from records of the knowledge base only (every sentence followed by
numbered citations that resolve to a seed passage), and adds the passages an
SQLite FTS5 (BM25) index finds for it. Nothing is stated that no record
supports; a question outside calcinosis cutis gets ``in_scope: false`` and a
short refusal; a question about one patient points to the assessment.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

from calcinosis.engine import recommend_document
from calcinosis.evidence import KnowledgeBase, load_knowledge
from calcinosis.models import Provenance, normalise_level
from calcinosis.patient import parse_patient
from calcinosis.plan import DISCLAIMER, grading_for
from calcinosis.safety import findings_for

__all__ = ["Understanding", "answer_question", "render_answer", "understand"]

# Words clinicians use that the catalog does not spell out (abbreviations, classes).
EXTRA_TERMS: dict[str, tuple[str, ...]] = {
    "sts": (
        "sodium-thiosulfate-topical",
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-iv",
    ),
    "sodium thiosulfate": (
        "sodium-thiosulfate-topical",
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-iv",
    ),
    "sodium thiosulphate": (
        "sodium-thiosulfate-topical",
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-iv",
    ),
    "thiosulfate": (
        "sodium-thiosulfate-topical",
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-iv",
    ),
    "bisphosphonate": ("pamidronate", "alendronate", "risedronate", "etidronate"),
    "bisphosphonates": ("pamidronate", "alendronate", "risedronate", "etidronate"),
    "biphosphonates": ("pamidronate", "alendronate", "risedronate", "etidronate"),
    "ccb": ("diltiazem",),
    "calcium channel blocker": ("diltiazem",),
    "calcium channel blockers": ("diltiazem",),
    "tnf": ("infliximab", "adalimumab"),
    "anti tnf": ("infliximab", "adalimumab"),
    "tnf inhibitor": ("infliximab", "adalimumab"),
    "tnf inhibitors": ("infliximab", "adalimumab"),
    "blood thinner": ("warfarin",),
    "anticoagulant": ("warfarin",),
    "vitamin k antagonist": ("warfarin",),
    "immunoglobulin": ("ivig",),
    "immunoglobulins": ("ivig",),
    "surgery": ("surgical-excision",),
    "surgical": ("surgical-excision",),
    "excision": ("surgical-excision",),
    "laser": ("co2-laser",),
    "shock wave": ("eswt",),
    "shockwave": ("eswt",),
    "lithotripsy": ("eswt",),
    "iontophoresis": ("acetic-acid-iontophoresis",),
}
ROUTES = {
    "topical": "sodium-thiosulfate-topical",
    "cream": "sodium-thiosulfate-topical",
    "intralesional": "sodium-thiosulfate-intralesional",
    "intra lesional": "sodium-thiosulfate-intralesional",
    "injection": "sodium-thiosulfate-intralesional",
    "injected": "sodium-thiosulfate-intralesional",
    "intravenous": "sodium-thiosulfate-iv",
    "iv": "sodium-thiosulfate-iv",
}
DISEASES = {
    "systemic sclerosis": "systemic-sclerosis",
    "scleroderma": "systemic-sclerosis",
    "ssc": "systemic-sclerosis",
    "juvenile dermatomyositis": "juvenile-dermatomyositis",
    "juvenile dm": "juvenile-dermatomyositis",
    "jdm": "juvenile-dermatomyositis",
    "dermatomyositis": "dermatomyositis",
    "dm": "dermatomyositis",
    "lupus": "systemic-lupus-erythematosus",
    "sle": "systemic-lupus-erythematosus",
}
SUBTYPES = {
    "dystrophic": "dystrophic",
    "metastatic": "metastatic",
    "idiopathic": "idiopathic",
    "iatrogenic": "iatrogenic",
    "extravasation": "iatrogenic",
    "calciphylaxis": "calciphylaxis",
    "calcific uremic arteriolopathy": "calciphylaxis",
}
IN_SCOPE = (
    "calcinosis",
    "calciphylaxis",
    "calcium deposit",
    "calcinotic",
    "calcification",
    "traineau",
)
OFF_TOPIC = (
    "diabetes",
    "hypertension",
    "acne",
    "cancer",
    "asthma",
    "depression",
    "covid",
    "migraine",
    "obesity",
    "world cup",
    "capital of",
    "poem",
    "weather",
    "recipe",
    "football",
    "stock",
    "atrial fibrillation",
    "pneumonia",
    "gout",
)
INTENTS: dict[str, tuple[str, ...]] = {
    "dose": (
        "dose",
        "dosage",
        "dosing",
        "how much",
        "regimen",
        "mg",
        "how often",
        "concentration",
        "how to apply",
        "how to give",
        "administer",
        "schedule",
    ),
    "adverse": (
        "side effect",
        "side effects",
        "adverse",
        "toxicity",
        "complication",
        "complications",
        "harm",
        "risks",
    ),
    "avoid": (
        "should",
        "can ",
        "safe",
        "contraindicat",
        "avoid",
        "allowed",
        "ok to",
        "recommended",
        "use ",
        "take ",
        "give ",
    ),
    "efficacy": (
        "work",
        "effective",
        "efficacy",
        "response",
        "how well",
        "success",
        "improve",
        "outcome",
        "evidence for",
    ),
    "first-line": (
        "first line",
        "first-line",
        "initial",
        "start",
        "best",
        "treat",
        "treatment",
        "manage",
        "management",
        "therapy",
        "options",
    ),
    "level": (
        "level of evidence",
        "grade",
        "strength",
        "quality of evidence",
        "how strong",
        "evidence level",
    ),
    "compare": (" vs ", " versus ", "compare", "better than", "comparison"),
}
PATIENT = (
    "my patient",
    "this patient",
    "year old",
    "years old",
    "yo ",
    "should i ",
    "can i ",
    "for him",
    "for her",
    "my child",
    "my son",
    "my daughter",
)
STOPWORDS = frozenset(
    [
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
    ]
)


# Words a question uses for what the sources call otherwise (for ranking passages).
RELATED_WORDS: dict[str, tuple[str, ...]] = {
    "come back": ("recurrence", "recurrences", "relapse"),
    "recur": ("recurrence", "recurrences", "relapse"),
    "relapse": ("recurrence", "recurrences"),
    "work": ("response", "remission", "improvement", "resolution"),
    "effective": ("response", "remission", "improvement", "resolution"),
    "how long": ("month", "months", "within"),
    "side effects": ("adverse", "pain", "infection", "irritation"),
}


def _norm(text: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9.]+", " ", text.lower()).split()) + " "


@dataclass
class Understanding:
    """What a question is about."""

    text: str
    treatments: list[str] = field(default_factory=list)
    diseases: list[str] = field(default_factory=list)
    subtypes: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    age: float | None = None
    in_scope: bool = True
    patient_specific: bool = False
    corrections: dict[str, str] = field(default_factory=dict)
    norm: str = ""  # the normalised, corrected text


@cache
def _lexicon(kb: KnowledgeBase) -> dict[str, tuple[str, ...]]:
    terms: dict[str, tuple[str, ...]] = {}
    for entry in kb.treatments.values():
        for term in (entry.name, entry.id.replace("-", " "), *entry.synonyms):
            key = _norm(term).strip()
            if key and len(key) > 2:
                terms.setdefault(key, (entry.id,))
    terms.update({_norm(k).strip(): v for k, v in EXTRA_TERMS.items()})
    return dict(sorted(terms.items(), key=lambda item: -len(item[0])))


@cache
def _vocabulary(kb: KnowledgeBase) -> tuple[str, ...]:
    words = {w for term in _lexicon(kb) for w in term.split() if len(w) >= 5}
    words |= {w for term in (*DISEASES, *SUBTYPES, *IN_SCOPE) for w in term.split() if len(w) >= 5}
    words |= {"thiosulfate", "calcinosis", "calciphylaxis", "effects", "treatment"}
    return tuple(sorted(words))


def _correct(text: str, kb: KnowledgeBase) -> tuple[str, dict[str, str]]:
    vocabulary = _vocabulary(kb)
    known = set(vocabulary)
    corrections = {}
    words = text.split()
    for index, word in enumerate(words):
        if len(word) < 5 or word in known or word.isdigit():
            continue
        match = difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.82)
        if match:
            corrections[word] = match[0]
            words[index] = match[0]
    return " " + " ".join(words) + " ", corrections


def _find(text: str, table: Mapping[str, Any]) -> list[Any]:
    found: list[Any] = []
    for term, value in table.items():
        if f" {_norm(term).strip()} " in text:
            for item in value if isinstance(value, tuple) else (value,):
                if item not in found:
                    found.append(item)
            text = text.replace(f" {_norm(term).strip()} ", " ")
    return found


def understand(question: str, kb: KnowledgeBase | None = None) -> Understanding:
    """Parse a question: its treatments, diseases, subtypes, age and intents."""
    kb = kb or load_knowledge()
    text, corrections = _correct(_norm(question), kb)
    found = Understanding(question, corrections=corrections, norm=text)
    routes = [route for term, route in ROUTES.items() if f" {term} " in text]
    treatments = _find(text, _lexicon(kb))
    if routes and any(t.startswith("sodium-thiosulfate") for t in treatments):
        treatments = [t for t in treatments if not t.startswith("sodium-thiosulfate")]
        treatments = list(dict.fromkeys([*routes, *treatments]))
    found.treatments = treatments
    found.diseases = _find(text, DISEASES)
    if "juvenile-dermatomyositis" in found.diseases and "dermatomyositis" in found.diseases:
        found.diseases.remove("dermatomyositis")
    found.subtypes = _find(text, SUBTYPES)
    age = re.search(r"(\d{1,3})(?:\s|-)?(?:year|yr|y)s?(?:\s|-)?old|\b(\d{1,3})\s?yo\b", text)
    if age:
        found.age = float(age.group(1) or age.group(2))
    found.intents = [name for name, cues in INTENTS.items() if any(c in text for c in cues)]
    if " or " in text and len(found.treatments) >= 2:
        found.intents.append("compare")
    found.patient_specific = found.age is not None or any(c in text for c in PATIENT)
    mentions = any(term in text for term in IN_SCOPE)
    off_topic = any(term in text for term in OFF_TOPIC)
    catalog = bool(found.treatments) or bool(found.subtypes)
    found.in_scope = (
        mentions
        or (catalog and not off_topic)
        or (bool(found.diseases) and not off_topic and "first-line" in found.intents)
    )
    return found


# ------------------------------------------------------------------ composition
class _Answer:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.citations: dict[tuple[str, str], dict[str, Any]] = {}
        self.sections: dict[str, list[str]] = {}
        self.direct: list[str] = []

    def cite(self, *provenances: Provenance | None) -> str:
        numbers = []
        for provenance in provenances:
            if provenance is None:
                continue
            key = (provenance.source, provenance.location)
            if key not in self.citations:
                source = self.kb.sources[provenance.source]
                self.citations[key] = {
                    "n": len(self.citations) + 1,
                    "label": source.title,
                    "source": source.id,
                    "seed_file": source.seed_file,
                    "location": provenance.location,
                    "quote": provenance.quote,
                }
            numbers.append(self.citations[key]["n"])
        return "".join(f"[{n}]" for n in sorted(set(numbers)))

    def add(self, section: str, sentence: str) -> None:
        lines = self.sections.setdefault(section, [])
        if sentence not in lines:
            lines.append(sentence)


_SOURCE_REFS = re.compile(r"\s?\[\d+(?:\s?[-–,]\s?\d+)*\]")


def _first_sentence(text: str, limit: int = 260) -> str:
    # a source's own reference numbers ("[47]") would read as our citations: drop them
    text = _SOURCE_REFS.sub("", " ".join(text.split()))
    cut = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0]
    return cut if len(cut) <= limit else cut[: limit - 1].rstrip() + "…"


def _sentences(text: str, count: int = 2, limit: int = 700) -> str:
    """The first sentences of a passage, for findings whose figures come late."""
    text = _SOURCE_REFS.sub("", " ".join(text.split()))
    parts = re.split(r"(?<=[.;])\s", text)
    cut = " ".join(parts[:count])
    return cut if len(cut) <= limit else cut[: limit - 1].rstrip() + "…"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _statement_provenance(statement: Any) -> Provenance:
    return Provenance(source=statement.source, location=statement.location, quote=statement.quote)


def _guidelines(a: _Answer, treatment: str) -> None:
    kb = a.kb
    name = kb.treatments[treatment].name
    for row in kb.table4:
        if treatment in row.treatments:
            level = normalise_level(row.level_printed) if row.level_printed else None
            a.add(
                "Guidelines and expert recommendations",
                f"The review (Table 4, {row.label}): {row.comment}, grade {row.grade}"
                f"{f', level {level}' if level else ''} {a.cite(row.provenance)}.",
            )
            break
    statements = [
        s
        for s in kb.statements
        if treatment in s.treatments
        and s.source == "management-topic"
        and s.kind in ("recommendation", "conclusion")
    ]
    for statement in statements[:2]:
        a.add(
            "Guidelines and expert recommendations",
            f"The management topic{f' (Grade {statement.grade})' if statement.grade else ''}: "
            f'"{_first_sentence(statement.quote)}" {a.cite(_statement_provenance(statement))}.',
        )
    if not statements and treatment in ("observation", "treat-underlying-disease"):
        return
    _ = name


def _evidence(a: _Answer, treatment: str) -> str | None:
    from calcinosis.synthesis import pool_document  # noqa: PLC0415 - numpy/scipy on demand

    kb = a.kb
    arms = kb.arms_for([treatment])
    if not arms:
        return None
    document = pool_document(kb, treatment)
    outcome = "any response"
    if document["estimate"] is None:
        document = pool_document(kb, treatment, "complete")
        outcome = "complete response"
    if document["estimate"] is None:
        return None
    name = kb.treatments[treatment].name
    low, high = document["ci"]
    how = (
        "pooled (random effects)"
        if document["pooled"]
        else "combined count"
        if document["k"] > 1
        else "one study"
    )
    provenances = [arm.provenance for arm in arms[:3]]
    studies = "; ".join(f"{arm['label']} {arm['x']}/{arm['n']}" for arm in document["arms"][:6])
    sentence = (
        f"{name}: {outcome} {_pct(document['estimate'])} (95% CI {_pct(low)}–"
        f"{_pct(high)}), {how}, {document['k']} stud{'y' if document['k'] == 1 else 'ies'}"
        f" and {document['n']} patients ({studies}) {a.cite(*provenances)}."
    )
    a.add("Research evidence", sentence)
    return sentence


@cache
def _flagged(kb: KnowledgeBase) -> tuple[str, ...]:
    """Figures the audit records as unit errors (e.g. colchicine "≤1.2 g per day"): a
    passage that states one is not quoted as fact."""
    flagged = []
    for finding in kb.findings:
        if finding.kind == "unit":
            flagged += re.findall(r"\(([^)]+)\)", finding.published) or [finding.published]
    return tuple(flagged)


def _quotable(kb: KnowledgeBase, text: str) -> bool:
    return not any(figure in text for figure in _flagged(kb))


def _findings(a: _Answer, treatments: list[str], understanding: Understanding) -> None:
    """What the other sources report for these treatments, most relevant first."""
    words = {w for w in understanding.norm.split() if w not in STOPWORDS and len(w) > 3}
    asked: set[str] = set()  # what the question asks about, in the sources' words
    for phrase, related in RELATED_WORDS.items():
        if f" {phrase} " in understanding.norm:
            asked |= set(related)
    candidates = []
    for statement in a.kb.statements:
        if statement.source not in ("management-topic", "nowaczyk-2021"):
            continue
        if statement.kind in ("recommendation", "claim") or not set(statement.treatments) & set(
            treatments
        ):
            continue
        if not _quotable(a.kb, statement.quote):
            continue
        text = statement.quote.lower()
        score = (
            sum(word in text for word in words)
            + 3 * sum(word in text for word in asked)
            + (2 if statement.figures else 0)
        )
        candidates.append((-score, statement.id, statement))
    for _, _, statement in sorted(candidates)[:5]:
        a.add(
            "Research evidence",
            f'"{_sentences(statement.quote)}" {a.cite(_statement_provenance(statement))}.',
        )


def _safety(a: _Answer, treatment: str, understanding: Understanding) -> list[str]:
    kb = a.kb
    entry = kb.treatments[treatment]
    said = []
    for rule in entry.contraindications:
        sentence = f"{entry.name}: {rule.text.rstrip('.')} {a.cite(rule.provenance)}."
        a.add("Safety", sentence)
        said.append(sentence)
    if entry.adverse_effects:
        effects = "; ".join(e.text for e in entry.adverse_effects[:8])
        a.add(
            "Safety",
            f"Adverse effects of {entry.name.lower()}: {effects} "
            f"{a.cite(*(e.provenance for e in entry.adverse_effects[:8]))}.",
        )
    return said


def _dose(a: _Answer, treatment: str) -> str | None:
    entry = a.kb.treatments[treatment]
    if not entry.regimens:
        return None
    parts = []
    for regimen in [r for r in entry.regimens if _quotable(a.kb, r.text)][:5]:
        setting = f" ({regimen.setting})" if regimen.setting else ""
        parts.append(f"{regimen.text}{setting} {a.cite(regimen.provenance)}")
    sentence = f"{entry.name}: " + "; ".join(parts) + "."
    a.add("Dose and regimen", sentence)
    return sentence


def _rules_patient(understanding: Understanding) -> Any:
    from calcinosis.patient import Patient  # noqa: PLC0415

    data: dict[str, Any] = {
        "age_years": understanding.age if understanding.age is not None else 40,
        "subtype": (understanding.subtypes or ["dystrophic"])[0],
    }
    if understanding.diseases:
        data["underlying_disease"] = understanding.diseases[0]
    return Patient.model_validate(data)


def _verdict(a: _Answer, treatment: str, understanding: Understanding) -> str | None:
    """Should/can this treatment be used? From the safety rules and the grade."""
    kb = a.kb
    entry = kb.treatments[treatment]
    grading = grading_for(kb, treatment)
    patient = _rules_patient(understanding)
    findings = findings_for(kb, patient, treatment)
    for finding in findings:
        rule = finding.rule
        if rule.stance != "avoid":
            continue
        if rule.rule == "age-under-9" and understanding.age is None:
            return (
                f"{entry.name} may be discussed for calcinosis cutis (grade "
                f"{grading['grade']}), but it should not be used in children under nine "
                f"years (permanent tooth discoloration) {a.cite(rule.provenance)}."
            )
        if rule.rule == "systemic-sclerosis" and not understanding.diseases:
            continue
        grade = (
            f" (level {grading['level']}, grade {grading['grade']})"
            if grading.get("direction") == "against"
            else ""
        )
        return f"No. {rule.text.rstrip('.')}{grade} {a.cite(rule.provenance)}."
    if treatment == "minocycline" and understanding.age is not None and understanding.age >= 9:
        rule = next(r for r in entry.contraindications if r.rule == "age-under-9")
        return (
            f"Minocycline may be discussed at {understanding.age:g} years; it should not "
            f"be used under nine years {a.cite(rule.provenance)}."
        )
    cautions = [f.rule for f in findings if f.rule.stance == "caution"]
    for row in kb.table4:
        if treatment in row.treatments:
            note = f" Caution: {cautions[0].text}" if cautions else ""
            return (
                f"{entry.name}: {row.comment} (grade {row.grade}, review Table 4) "
                f"{a.cite(row.provenance)}.{note}"
            )
    return None


def _first_line(a: _Answer, understanding: Understanding) -> str:
    """First-line treatment for the subtype/disease asked about: the engine's own plan."""
    kb = a.kb
    profile: dict[str, Any] = {
        "age_years": understanding.age if understanding.age is not None else 40,
        "subtype": (understanding.subtypes or ["dystrophic"])[0],
        "symptomatic": True,
        "disease_active": False,
    }
    if " asymptomatic " in understanding.norm or " no symptoms " in understanding.norm:
        profile |= {
            "symptomatic": False,
            "progressive": False,
            "internal_involvement": False,
            "patient_concerned": False,
        }
    if understanding.diseases:
        profile["underlying_disease"] = understanding.diseases[0]
    plan = recommend_document(parse_patient(profile, kb.therapy_ids()), kb)
    by_n = {c["n"]: c for c in plan["citations"]}

    def cited(numbers: Iterable[int]) -> str:
        return a.cite(
            *(
                Provenance(
                    source=by_n[n]["source"], location=by_n[n]["location"], quote=by_n[n]["quote"]
                )
                for n in numbers
                if n in by_n
            )
        )

    first = [
        o
        for o in plan["options"]
        if o["stance"] == "first-line" and o["id"] != "treat-underlying-disease"
    ]
    alternatives = [o for o in plan["options"] if o["stance"] == "alternative"][:4]
    context = " and ".join(understanding.diseases or understanding.subtypes or ["dystrophic"])
    names = " or ".join(o["name"].lower() for o in first)
    grades = ", ".join(sorted({f"grade {o['grade']}" for o in first}))
    answer = (
        f"First-line for {context.replace('-', ' ')} calcinosis cutis: {names} ({grades}) "
        f"{cited(n for o in first for n in o['citations'])}."
    )
    for option in first:
        a.add(
            "Guidelines and expert recommendations",
            f"{option['name']}: {option['rationale']} {cited(option['citations'])}.",
        )
    if alternatives:
        a.add(
            "Guidelines and expert recommendations",
            "Alternatives: "
            + "; ".join(
                f"{o['name']} (grade {o['grade']}) {cited(o['citations'])}" for o in alternatives
            )
            + ".",
        )
    for item in plan["disagreements"]:
        a.add("Where the sources disagree", f"{item['summary']} {cited(item['citations'])}.")
    for treatment in [o["id"] for o in first][:2]:
        _evidence(a, treatment)
    return answer


def _quote(a: _Answer, statement_id: str) -> str:
    statement = next(s for s in a.kb.statements if s.id == statement_id)
    return f"{_first_sentence(statement.quote, 400)} {a.cite(_statement_provenance(statement))}"


def _general(a: _Answer, understanding: Understanding) -> str | None:
    """Questions about calcinosis cutis itself: subtypes, the evidence, the grading."""
    text = understanding.norm
    if re.search(r" (subtypes?|types|kinds|forms) ", text) and not understanding.subtypes:
        for statement_id in (
            "management-topic-metastatic",
            "management-topic-idiopathic",
            "management-topic-iatrogenic-observation",
            "management-topic-calciphylaxis",
            "management-topic-initial-sts-2c",
        ):
            a.add("Guidelines and expert recommendations", _quote(a, statement_id) + ".")
        return _quote(a, "management-topic-five-subtypes")
    if any(w in text for w in (" grading ", " oxford ", " levels of evidence ", " graded ")):
        a.add("Research evidence", _quote(a, "review-abstract-limitations") + ".")
        return _quote(a, "review-methods-oxford-levels")
    if (
        not understanding.diseases
        and not understanding.subtypes
        and any(w in text for w in (" evidence ", " studies ", " overall "))
    ):
        a.add("Research evidence", _quote(a, "review-discussion-only-two-rcts") + ".")
        a.add("Research evidence", _quote(a, "review-abstract-limitations") + ".")
        return _quote(a, "review-abstract-30-studies-288-patients")
    return None


def _disagreements(a: _Answer, treatments: list[str]) -> None:
    kb = a.kb
    statements = {s.id: s for s in kb.statements}
    seen = set()
    for statement in kb.statements:
        if not set(statement.treatments) & set(treatments):
            continue
        for other_id in statement.conflicts_with:
            other = statements[other_id]
            pair = tuple(sorted((statement.id, other_id)))
            if pair in seen or other.source == statement.source:
                continue
            if not (_quotable(kb, statement.quote) and _quotable(kb, other.quote)):
                continue
            seen.add(pair)
            a.add(
                "Where the sources disagree",
                f'"{_first_sentence(statement.quote, 180)}" '
                f"{a.cite(_statement_provenance(statement))} versus "
                f'"{_first_sentence(other.quote, 180)}" {a.cite(_statement_provenance(other))}.',
            )


# ------------------------------------------------------------------- retrieval
@cache
def _index(kb: KnowledgeBase) -> sqlite3.Connection:
    """An in-memory FTS5 index of every quoted passage, built once per knowledge base."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.execute(
        "CREATE VIRTUAL TABLE passages USING fts5(text, treatments, source "
        "UNINDEXED, location UNINDEXED, tokenize='porter unicode61')"
    )
    rows = [(s.quote, " ".join(s.treatments), s.source, s.location) for s in kb.statements]
    for entry in kb.treatments.values():
        for claim in (*entry.regimens, *entry.adverse_effects, *entry.notes):
            rows.append(
                (
                    f"{entry.name}: {claim.text}",
                    entry.id,
                    claim.provenance.source,
                    claim.provenance.location,
                )
            )
    connection.executemany("INSERT INTO passages VALUES (?, ?, ?, ?)", rows)
    return connection


def _search(kb: KnowledgeBase, text: str, limit: int = 3) -> list[tuple[str, str, str]]:
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 2]
    if not words:
        return []
    query = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
    cursor = _index(kb).execute(
        "SELECT text, source, location FROM passages WHERE passages MATCH ? "
        "ORDER BY bm25(passages) LIMIT ?",
        (query, limit),
    )
    return [(row[0], row[1], row[2]) for row in cursor.fetchall()]


# ---------------------------------------------------------------------- answer
def _refusal(question: str, kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "question": question,
        "in_scope": False,
        "answer": (
            "I can only answer questions about the treatment of calcinosis cutis, from "
            "its evidence base; this question is outside it."
        ),
        "sections": [],
        "citations": [],
        "patient_specific": False,
        "evidence_version": kb.version,
        "disclaimer": DISCLAIMER,
    }


def _about_treatment(a: _Answer, treatment: str, understanding: Understanding) -> None:
    """The direct answer and the sections for one treatment asked about."""
    kb = a.kb
    intents = set(understanding.intents)
    if "dose" in intents:
        sentence = _dose(a, treatment)
        if sentence:
            a.direct.append(sentence)
    if "adverse" in intents:
        entry = kb.treatments[treatment]
        if entry.adverse_effects:
            effects = "; ".join(e.text for e in entry.adverse_effects[:6])
            a.direct.append(
                f"Reported adverse effects of {entry.name.lower()}: {effects} "
                f"{a.cite(*(e.provenance for e in entry.adverse_effects[:6]))}."
            )
    if "level" in intents:
        grading = grading_for(kb, treatment)
        if grading.get("provenance") is not None:
            a.direct.append(
                f"{kb.treatments[treatment].name}: level {grading['level'] or 'not printed'}"
                f", grade {grading['grade']} ({grading['system']}) "
                f"{a.cite(grading['provenance'])}."
            )
    if not a.direct or intents & {"avoid", "first-line", "efficacy", "compare"}:
        verdict = _verdict(a, treatment, understanding)
        if verdict and verdict not in a.direct and ("dose" not in intents or not a.direct):
            a.direct.append(verdict)
    _guidelines(a, treatment)
    evidence = _evidence(a, treatment)
    if (
        evidence
        and ("efficacy" in intents or "compare" in intents)
        and not any(evidence == d for d in a.direct)
    ):
        a.direct.append(evidence)
    _safety(a, treatment, understanding)
    if "dose" not in intents:
        _dose(a, treatment)


def answer_question(question: str, kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """Answer a clinical question from the evidence base, with numbered citations."""
    kb = kb or load_knowledge()
    understanding = understand(question, kb)
    if not understanding.in_scope or not question.strip():
        return _refusal(question, kb)
    a = _Answer(kb)
    treatments = understanding.treatments
    if not treatments:
        a.direct.append(_general(a, understanding) or _first_line(a, understanding))
    for treatment in treatments[:3]:
        _about_treatment(a, treatment, understanding)
    if treatments:
        _findings(a, treatments[:3], understanding)
    _disagreements(a, treatments)
    for text, source, location in _search(kb, " ".join([question, *treatments]), 3)[:2]:
        if not _quotable(kb, text):
            continue
        a.add(
            "Related passages",
            f'"{_first_sentence(text, 220)}" '
            f"{a.cite(Provenance(source=source, location=location))}.",
        )
    if understanding.patient_specific:
        profile = {"subtype": (understanding.subtypes or ["dystrophic"])[0]}
        if understanding.age is not None:
            profile["age_years"] = f"{understanding.age:g}"
        if understanding.diseases:
            profile["underlying_disease"] = understanding.diseases[0]
        a.add(
            "For your patient",
            "This is a question about one patient: open the assessment "
            f"(/?{urlencode(profile)}) to get a plan that accounts for the whole profile, its "
            "safety rules and what was tried.",
        )
    if understanding.patient_specific and a.direct and a.direct[0].startswith("No."):
        # the patient asked about must not get it: no doses for it below the "No."
        a.sections.pop("Dose and regimen", None)
    if not a.direct:
        a.direct.append("The evidence base holds the following on this question.")
    order = [
        "Guidelines and expert recommendations",
        "Research evidence",
        "Dose and regimen",
        "Safety",
        "Where the sources disagree",
        "For your patient",
        "Related passages",
    ]
    return {
        "question": question,
        "in_scope": True,
        "answer": " ".join(a.direct[:3]),
        "sections": [
            {"title": title, "text": " ".join(a.sections[title])}
            for title in order
            if a.sections.get(title)
        ],
        "citations": sorted(a.citations.values(), key=lambda c: c["n"]),
        "patient_specific": understanding.patient_specific,
        "understood": {
            "treatments": treatments,
            "diseases": understanding.diseases,
            "subtypes": understanding.subtypes,
            "intents": understanding.intents,
            "age": understanding.age,
            "corrections": understanding.corrections,
        },
        "evidence_version": kb.version,
        "disclaimer": DISCLAIMER,
    }


def render_answer(document: Mapping[str, Any], width: int = 88) -> str:
    """An answer as text for a terminal."""
    import textwrap  # noqa: PLC0415

    wrap = textwrap.TextWrapper(width=width)
    lines = [wrap.fill(document["answer"]), ""]
    for section in document["sections"]:
        lines += [section["title"].upper(), wrap.fill(section["text"]), ""]
    if document["citations"]:
        lines.append("CITATIONS")
        lines += [
            textwrap.fill(
                f"[{c['n']}] {c['label']}, {c['location']} (seeds/{c['seed_file']})",
                width,
                subsequent_indent="    ",
            )
            for c in document["citations"]
        ]
        lines.append("")
    lines.append(f"Evidence version {document['evidence_version']}. {document['disclaimer']}")
    return "\n".join(lines) + "\n"
