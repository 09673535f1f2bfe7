"""The question-answering quality set: tests/fixtures/questions.yaml.

The set is written from the seed documents alone, independently of
``calcinosis.answers``. Each question states what a correct answer must contain
(key-fact groups), which sources it must cite and what it must never say. The
fixture itself is checked too: fields, coverage of the brief, and every quoted
seed passage against its seed file.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from source_documents import sources_dir

FIXTURE = Path(__file__).parents[1] / "fixtures" / "questions.yaml"
SEEDS = sources_dir() or Path("/nonexistent")  # CALCINOSIS_SOURCES_DIR or ../shared/seeds

# Source id -> seed file prefix (seeds/README.md).
SOURCE_SEEDS = {
    "traineau-2020-abstract": "000",
    "traineau-2020": "001",
    "ai-answer-dm": "002",
    "nowaczyk-2021": "003",
    "management-topic": "004",
}
REQUIRED_FIELDS = {"id", "category", "question", "in_scope", "key_facts", "source"}
OPTIONAL_FIELDS = {"tags", "patient_specific", "must_cite", "must_not_contain"}
CATEGORIES = {
    "efficacy",
    "first-line",
    "dose",
    "adverse-effects",
    "contraindication",
    "evidence",
    "comparison",
    "subtype",
    "source-claim",
    "patient-specific",
    "out-of-scope",
    # issue 9: the intents a question is understood as
    "epidemiology",
    "mechanism",
    "time-to-response",
    "relapse",
    "study-size",
    "what-not-to-use",
    "unanswered",
}
TAGS = {"example", "typo", "abbreviation", "synonym", "case", "disagreement"}
EXAMPLES = (
    "Should warfarin be used for calcinosis?",
    "What dose of diltiazem?",
    "First-line treatment in systemic sclerosis?",
    "Side effects of intralesional sodium thiosulfate?",
    "Can a 7-year-old take minocycline?",
)
# Key-fact terms that name the tool's own features rather than a seed fact.
PROJECT_TERMS = frozenset(
    {
        "assessment",
        "do not answer",  # "The sources do not answer this directly."
        "extrapolated",  # evidence applied beyond whom it is about
    }
)

# What the set must ask about: requirement -> alternatives, matched as whole words
# in the lower-cased questions.
COVERAGE: dict[str, tuple[str, ...]] = {
    "warfarin": ("warfarin", "blood thinner"),
    "diltiazem": ("diltiazem",),
    "topical sodium thiosulfate": ("topical sodium thiosulfate", "topical sodium thiosulphate"),
    "intralesional sodium thiosulfate": ("intralesional sodium thiosulfate",),
    "intravenous sodium thiosulfate": ("iv sodium thiosulfate", "intravenous sodium thiosulfate"),
    "minocycline": ("minocycline",),
    "colchicine": ("colchicine",),
    "bisphosphonates": ("bisphosphonates", "pamidronate"),
    "rituximab": ("rituximab",),
    "TNF inhibitors": ("tnf inhibitors", "anti-tnf", "infliximab"),
    "IVIG": ("ivig", "intravenous immune globulin"),
    "surgery": ("surgery", "surgical excision"),
    "CO2 laser": ("co2 laser",),
    "ESWT": ("eswt", "eswl", "shock wave lithotripsy"),
    "cyclophosphamide": ("cyclophosphamide",),
    "metastatic": ("metastatic",),
    "idiopathic": ("idiopathic",),
    "iatrogenic": ("iatrogenic",),
    "calciphylaxis": ("calciphylaxis",),
    "dystrophic": ("dystrophic",),
    # abbreviations, synonyms and typos
    "STS": ("sts",),
    "thiosulphate": ("thiosulphate",),
    "scleroderma": ("scleroderma",),
    "SSc": ("ssc",),
    "JDM": ("jdm",),
    "CCB": ("ccbs", "ccb"),
    "ESWL": ("eswl",),
    "shock wave": ("shock wave lithotripsy",),
    "blood thinner": ("blood thinner",),
    "anti-TNF": ("anti-tnf",),
    "diltiazme": ("diltiazme",),
    "minocyclin": ("minocyclin",),
    "calcinossis": ("calcinossis",),
    "thiosulfte": ("thiosulfte",),
}

CITATION = re.compile(r"\[(\d+)\]")
DOSE = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:mg|g|mcg|µg|ml)\b")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
QUOTE = re.compile(r"^(?P<seed>\d{3})(?P<location>[^:]*): (?P<quote>.+)$", re.DOTALL)
NOTE = re.compile(r"\[[^\]]*\]")  # an editorial note inside a quote
PUNCTUATION = ".,;:()[]\"'"


def _load() -> list[dict[str, Any]]:
    with FIXTURE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


QUESTIONS: list[dict[str, Any]] = _load()
IN_SCOPE = [q for q in QUESTIONS if q.get("in_scope") is True]
OUT_OF_SCOPE = [q for q in QUESTIONS if q.get("in_scope") is False]


def _ids(records: Iterable[dict[str, Any]]) -> list[str]:
    return [str(record.get("id", "?")) for record in records]


def _normalise(text: str) -> str:
    """Lower-cased, whitespace-collapsed: the form key facts are matched against."""
    return " ".join(text.lower().split())


def _texts(result: dict[str, Any]) -> list[str]:
    return [result["answer"], *(section["text"] for section in result["sections"])]


def _letters(text: str) -> str:
    """Letters only: the seeds interleave line numbers and superscript references."""
    return "".join(c for c in text.casefold() if c.isalpha())


def _seed_quotes(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(seed prefix, quote) for every seed passage the record cites."""
    quotes = []
    for entry in record["source"]:
        match = QUOTE.match(entry)
        if match:
            quotes.append((match["seed"], match["quote"]))
    return quotes


def _seed_text(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def answer_question() -> Callable[..., dict[str, Any]]:
    """The answer as its JSON reads (``calcinosis ask --format json``); imported here so
    the fixture checks run even before answers.py exists."""
    answer = importlib.import_module("calcinosis.answers").answer_question

    def document(question: str, kb: KnowledgeBase) -> dict[str, Any]:
        found: dict[str, Any] = answer(question, kb).model_dump()
        return found

    return document


# ------------------------------------------------------------------ the answers


@pytest.mark.parametrize("record", IN_SCOPE, ids=_ids(IN_SCOPE))
def test_in_scope_answer(
    record: dict[str, Any],
    answer_question: Callable[..., dict[str, Any]],
    knowledge: KnowledgeBase,
) -> None:
    result = answer_question(record["question"], kb=knowledge)
    assert result["in_scope"] is True, f"{record['question']!r} was judged out of scope"
    assert result["answer"].strip(), "empty answer"
    text = _normalise(" ".join(_texts(result)))
    failures = [
        f"no alternative of key-fact group {group}"
        for group in record["key_facts"]
        if not any(alternative in text for alternative in group)
    ]
    cited = {citation["source"] for citation in result["citations"]}
    failures += [f"{s} not cited" for s in record.get("must_cite", []) if s not in cited]
    failures += [f"contains {bad!r}" for bad in record.get("must_not_contain", []) if bad in text]
    if record.get("patient_specific") and result.get("patient_specific") is not True:
        failures.append("not flagged patient_specific")
    assert not failures, (
        f"{record['id']}: {'; '.join(failures)}\n"
        f"question: {record['question']}\ncited: {sorted(cited)}\ntext: {text}"
    )


@pytest.mark.parametrize("record", IN_SCOPE, ids=_ids(IN_SCOPE))
def test_in_scope_citations_resolve(
    record: dict[str, Any],
    answer_question: Callable[..., dict[str, Any]],
    knowledge: KnowledgeBase,
) -> None:
    result = answer_question(record["question"], kb=knowledge)
    numbers = {citation["n"] for citation in result["citations"]}
    markers = {int(n) for text in _texts(result) for n in CITATION.findall(text)}
    assert markers <= numbers, f"unresolved markers {sorted(markers - numbers)}"
    unknown = {c["source"] for c in result["citations"]} - SOURCE_SEEDS.keys()
    assert not unknown, f"citations to unknown sources {sorted(unknown)}"


@pytest.mark.parametrize("record", OUT_OF_SCOPE, ids=_ids(OUT_OF_SCOPE))
def test_out_of_scope_answer(
    record: dict[str, Any],
    answer_question: Callable[..., dict[str, Any]],
    knowledge: KnowledgeBase,
) -> None:
    result = answer_question(record["question"], kb=knowledge)
    assert result["in_scope"] is False, f"{record['question']!r} was judged in scope"
    assert result["citations"] == []
    assert len(result["sections"]) <= 1, "out of scope: at most one polite note"
    texts = _texts(result)
    assert not any(CITATION.search(text) for text in texts), "citation marker out of scope"
    text = _normalise(" ".join(texts))
    assert "calcinosis" in result["answer"].lower(), "should say it answers calcinosis cutis only"
    assert not DOSE.search(text), f"a dose in an out-of-scope answer: {text}"
    present = [bad for bad in record.get("must_not_contain", []) if bad in text]
    assert not present, f"pretends to answer ({present}): {text}"


# ------------------------------------------------------------------ the fixture


def test_fixture_is_a_list_of_records() -> None:
    assert isinstance(QUESTIONS, list)
    assert all(isinstance(record, dict) for record in QUESTIONS)
    assert len(IN_SCOPE) + len(OUT_OF_SCOPE) == len(QUESTIONS)


@pytest.mark.parametrize("record", QUESTIONS, ids=_ids(QUESTIONS))
def test_record_fields(record: dict[str, Any]) -> None:
    keys = set(record)
    assert keys >= REQUIRED_FIELDS, f"missing {sorted(REQUIRED_FIELDS - keys)}"
    unknown = keys - REQUIRED_FIELDS - OPTIONAL_FIELDS
    assert not unknown, f"unknown fields {sorted(unknown)}"
    assert SLUG.match(record["id"])
    assert isinstance(record["question"], str) and record["question"].strip()
    assert isinstance(record["in_scope"], bool)
    assert record["category"] in CATEGORIES
    assert set(record.get("tags", [])) <= TAGS
    assert isinstance(record["source"], list) and record["source"]
    for entry in record["source"]:
        assert isinstance(entry, str) and (QUOTE.match(entry) or entry.startswith("none:")), entry
    groups = record["key_facts"]
    assert isinstance(groups, list)
    for group in groups:
        assert isinstance(group, list) and group, f"empty group in {record['id']}"
        for alternative in group:
            assert isinstance(alternative, str) and alternative.strip()
            # matched against lower-cased, whitespace-collapsed text
            assert alternative == alternative.lower(), alternative
            assert "  " not in alternative and "\n" not in alternative, alternative
    for bad in record.get("must_not_contain", []):
        assert isinstance(bad, str) and bad == bad.lower() and bad.strip()
        assert not any(bad in alt for group in groups for alt in group), bad
    assert set(record.get("must_cite", [])) <= SOURCE_SEEDS.keys()
    assert record.get("patient_specific", True) is not False, "omit patient_specific: false"
    if record["in_scope"]:
        assert groups, "an in-scope question needs key facts"
        assert _seed_quotes(record), "an in-scope question needs a seed passage"
        assert record["category"] != "out-of-scope"
    else:
        assert groups == []
        assert "must_cite" not in record and "patient_specific" not in record
        assert record["category"] == "out-of-scope"


def test_ids_and_questions_are_unique() -> None:
    ids = Counter(record["id"] for record in QUESTIONS)
    questions = Counter(_normalise(record["question"]) for record in QUESTIONS)
    assert [i for i, n in ids.items() if n > 1] == []
    assert [q for q, n in questions.items() if n > 1] == []


def test_set_size_and_examples() -> None:
    assert len(QUESTIONS) >= 40
    assert len(OUT_OF_SCOPE) >= 6
    by_question = {record["question"]: record for record in QUESTIONS}
    for example in EXAMPLES:
        assert example in by_question, f"example missing verbatim: {example}"
        assert by_question[example]["in_scope"] is True
    assert by_question["Can a 7-year-old take minocycline?"].get("patient_specific") is True
    pointing_to_assessment = [
        record
        for record in QUESTIONS
        if record.get("patient_specific") and ["assessment"] in record["key_facts"]
    ]
    assert len(pointing_to_assessment) >= 2


def test_set_covers_the_brief() -> None:
    """The summary: every treatment, subtype, synonym, typo and category is asked about."""
    questions = [record["question"].lower() for record in QUESTIONS]

    def asked(alternatives: tuple[str, ...]) -> bool:
        patterns = [re.compile(rf"(?<![\w-]){re.escape(a)}(?![\w-])") for a in alternatives]
        return any(p.search(q) for p in patterns for q in questions)

    uncovered = [name for name, alternatives in COVERAGE.items() if not asked(alternatives)]
    assert uncovered == []
    categories = Counter(record["category"] for record in QUESTIONS)
    assert set(categories) == CATEGORIES
    tags = Counter(tag for record in QUESTIONS for tag in record.get("tags", []))
    assert set(tags) == TAGS
    assert tags["disagreement"] >= 3
    assert any(record["question"].isupper() for record in QUESTIONS)
    assert any(record["question"] == record["question"].lower() for record in QUESTIONS)


@pytest.mark.skipif(
    not SEEDS.is_dir(), reason="source documents absent: set CALCINOSIS_SOURCES_DIR to check quotes"
)
def test_every_quote_is_in_its_seed() -> None:
    """Letters verbatim (as test_evidence does); every number somewhere in the seed."""
    letters = {prefix: _letters(_seed_text(prefix)) for prefix in SOURCE_SEEDS.values()}
    raw = {prefix: _seed_text(prefix).casefold() for prefix in SOURCE_SEEDS.values()}
    missing = []
    for record in QUESTIONS:
        for prefix, printed in _seed_quotes(record):
            assert prefix in letters, f"{record['id']}: no seed {prefix}"
            quote = NOTE.sub(" ", printed)
            for fragment in quote.split("..."):
                if len(_letters(fragment)) >= 8 and _letters(fragment) not in letters[prefix]:
                    missing.append((record["id"], prefix, fragment.strip()))
            for token in re.findall(r"\S*\d\S*", quote):
                number = token.strip(PUNCTUATION).casefold()
                if number and number not in raw[prefix]:
                    missing.append((record["id"], prefix, number))
    assert missing == []


@pytest.mark.parametrize("record", IN_SCOPE, ids=_ids(IN_SCOPE))
def test_key_facts_are_grounded_in_the_sources(record: dict[str, Any]) -> None:
    """Every key-fact group has an alternative the record's own seed passages contain."""
    sources = _normalise(" ".join(record["source"]))
    tokens = set(re.findall(r"[a-z0-9]+", sources))

    def grounded(alternative: str) -> bool:
        words = re.findall(r"[a-z0-9]+", alternative)
        return alternative in sources or (bool(words) and all(w in tokens for w in words))

    ungrounded = [
        group
        for group in record["key_facts"]
        if not PROJECT_TERMS & set(group) and not any(grounded(a) for a in group)
    ]
    assert ungrounded == []
    prefixes = {prefix for prefix, _ in _seed_quotes(record)}
    for source in record.get("must_cite", []):
        assert SOURCE_SEEDS[source] in prefixes, f"must_cite {source} but no passage from it"


# ------------------------------------------------ the blind review's round 1
BLIND_ROUNDS = sorted((Path(__file__).parents[1] / "fixtures").glob("questions_blind_round*.yaml"))
BLIND_CASES: list[dict[str, Any]] = [
    case for path in BLIND_ROUNDS for case in yaml.safe_load(path.read_text(encoding="utf-8"))
]


def _starts(answer: str, word: str) -> bool:
    return re.match(r"^\W*" + re.escape(word) + r"\b", answer, re.I) is not None


# Known gaps of the blind sets, reported in the issue notes, each a strict xfail (so a fix
# makes the test fail until the entry is removed).
BLIND_GAPS: dict[str, str] = {
    "q18-08-acetic-iontophoresis": "the review's 'seems ineffective (IIB)' leads as 'Probably "
    "not.', kept as the source's hedge; the reviewer expected 'No' (graded a clinical pass on "
    "that point)",
    "q20-19-acetic-acid-iontophoresis": "the same hedge as q18-08 ('Probably not.' for 'seems "
    "ineffective (IIB)'); the reviewer withdrew the expectation ('No' was too strict)",
    "q22-20": "the answer says 'None of the sources addresses pregnancy or breastfeeding', "
    "which the reviewer's regex ('not address', 'does not address', 'silent'...) does not "
    "match; the reviewer graded it right and called the regex their own error",
    "q23-20": "the same hedge as q18-08 ('Probably not.' for the review's 'seems ineffective "
    "(IIB)'); the reviewer called the expected 'No' their own error and graded it right",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            marks=pytest.mark.xfail(reason=BLIND_GAPS[case["id"]], strict=True),
        )
        if case["id"] in BLIND_GAPS
        else case
        for case in BLIND_CASES
    ],
    ids=_ids(BLIND_CASES),
)
def test_blind_round1_case(
    case: dict[str, Any],
    answer_question: Callable[..., dict[str, Any]],
    knowledge: KnowledgeBase,
) -> None:
    """The reviewer's expectations, applied as check_questions.py applies them."""
    answers = importlib.import_module("calcinosis.answers")
    typed = answers.answer_question(case["question"], kb=knowledge)
    document = typed.model_dump()
    answer, text = document["answer"], answers.render_answer(typed)
    expect = case.get("expect") or {}
    failures = []
    if "in_scope" in expect and document["in_scope"] != expect["in_scope"]:
        failures.append(f"in_scope={document['in_scope']}")
    if "answer_starts" in expect and not _starts(answer, expect["answer_starts"]):
        failures.append(f"does not start with {expect['answer_starts']!r}")
    failures += [
        f"starts with {w!r}" for w in expect.get("answer_not_starts", []) if _starts(answer, w)
    ]
    failures += [
        f"answer lacks /{rx}/"
        for rx in expect.get("answer_mentions", [])
        if not re.search(rx, answer, re.I | re.S)
    ]
    failures += [
        f"text lacks /{rx}/"
        for rx in expect.get("text_mentions", [])
        if not re.search(rx, text, re.I | re.S)
    ]
    failures += [
        f"text has /{rx}/"
        for rx in expect.get("text_must_not_mention", [])
        if re.search(rx, text, re.I | re.S)
    ]
    assert not failures, f"{case['id']}: {'; '.join(failures)}\n{answer}"
