"""Answers: understanding, grounding, citations, scope, and the three entry points."""

from __future__ import annotations

import json
import re

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.answers import _index, _search, answer_question, understand
from calcinosis.cli import main
from calcinosis.evidence import KnowledgeBase


@pytest.mark.parametrize(
    ("question", "treatments"),
    [
        (
            "Is STS useful?",
            {
                "sodium-thiosulfate-topical",
                "sodium-thiosulfate-intralesional",
                "sodium-thiosulfate-iv",
            },
        ),
        ("intralesional sodium thiosulphate dose", {"sodium-thiosulfate-intralesional"}),
        ("Should a blood thinner be used for calcinosis?", {"warfarin"}),
        ("Is a CCB worth trying?", {"diltiazem"}),
        ("ESWL for calcinosis", {"eswt"}),
        ("shock wave lithotripsy results", {"eswt"}),
        ("IVIG in dermatomyositis", {"ivig"}),
        ("anti-TNF in JDM", {"infliximab", "adalimumab"}),
        ("DILTIAZEM DOSE", {"diltiazem"}),
        ("diltiazme for calcinossis", {"diltiazem"}),
        ("minocyclin side effects", {"minocycline"}),
    ],
)
def test_treatments_are_recognised(kb: KnowledgeBase, question: str, treatments: set[str]) -> None:
    assert set(understand(question, kb).treatments) == treatments


def test_diseases_subtypes_age_and_intents(kb: KnowledgeBase) -> None:
    found = understand("Can a 7-year-old with JDM take minocycline?", kb)
    assert found.diseases == ["juvenile-dermatomyositis"]
    assert found.age == 7 and found.patient_specific
    assert "avoid" in found.intents
    assert understand("first line in scleroderma", kb).diseases == ["systemic-sclerosis"]
    assert understand("treatment of iatrogenic calcinosis", kb).subtypes == ["iatrogenic"]
    assert "dose" in understand("how much colchicine", kb).intents
    assert "adverse" in understand("side effects of minocycline", kb).intents
    assert "level" in understand("level of evidence for rituximab", kb).intents
    assert "compare" in understand("diltiazem vs colchicine", kb).intents
    assert understand("diltiazme", kb).corrections == {"diltiazme": "diltiazem"}


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Dose of metformin for type 2 diabetes?",
        "Best treatment for hypertension?",
        "",
        "   ",
    ],
)
def test_out_of_scope_is_refused_politely(kb: KnowledgeBase, question: str) -> None:
    answer = answer_question(question, kb)
    assert answer["in_scope"] is False
    assert answer["citations"] == [] and answer["sections"] == []
    assert "calcinosis cutis" in answer["answer"]


QUESTIONS = [
    "Should warfarin be used for calcinosis?",
    "What dose of diltiazem?",
    "First-line treatment in systemic sclerosis?",
    "Side effects of intralesional sodium thiosulfate?",
    "Can a 7-year-old take minocycline?",
    "compare diltiazem vs colchicine",
    "level of evidence for rituximab",
    "treatment of calciphylaxis",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_citation_resolves_and_every_sentence_is_cited(
    kb: KnowledgeBase, question: str
) -> None:
    answer = answer_question(question, kb)
    assert answer["in_scope"] and answer["answer"]
    numbers = {c["n"] for c in answer["citations"]}
    assert numbers == set(range(1, len(numbers) + 1))
    for text in [answer["answer"], *(s["text"] for s in answer["sections"])]:
        for n in re.findall(r"\[(\d+)\]", text):
            assert int(n) in numbers
    for citation in answer["citations"]:
        assert citation["source"] in kb.sources and citation["location"]
    for section in answer["sections"]:
        if section["title"] not in ("For your patient",):
            assert re.search(r"\[\d+\]", section["text"]), section


def test_the_answers_are_grounded_in_the_records(kb: KnowledgeBase) -> None:
    warfarin = answer_question("Should warfarin be used for calcinosis?", kb)
    assert warfarin["answer"].startswith("No.")
    assert "grade B" in warfarin["answer"]
    dose = answer_question("What dose of diltiazem?", kb)["answer"]
    assert "240 mg per day" in dose and "2 to 4 mg/kg per day" in dose
    child = answer_question("Can a 7-year-old take minocycline?", kb)
    assert child["answer"].startswith("No.") and "nine years" in child["answer"]
    assert child["patient_specific"] and any(
        s["title"] == "For your patient" for s in child["sections"]
    )
    cyclo = json.dumps(answer_question("Does cyclophosphamide work?", kb))
    assert "9/14" in cyclo and "69%" not in cyclo  # the recomputed figure, not Table 4's


def test_first_line_shows_where_sources_disagree(kb: KnowledgeBase) -> None:
    answer = answer_question("First-line treatment for calcinosis in dermatomyositis?", kb)
    assert "2C" in answer["answer"] and "sodium thiosulfate" in answer["answer"]
    titles = {s["title"]: s["text"] for s in answer["sections"]}
    assert "diltiazem" in titles["Where the sources disagree"].lower()


def test_fts5_index_ranks_passages(kb: KnowledgeBase) -> None:
    count = _index(kb).execute("SELECT count(*) FROM passages").fetchone()[0]
    assert count >= len(kb.statements)
    hits = _search(kb, "tooth discoloration minocycline children")
    assert hits and "nine" in hits[0][0].lower()


def test_cli_ask(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "What", "dose", "of", "diltiazem?"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the terminal text is wrapped
    assert "240 mg" in out and "CITATIONS" in out and "does not replace" in out
    assert main(["ask", "--format", "json", "Should warfarin be used?"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"in_scope", "answer", "sections", "citations"} <= set(document)
    assert main(["ask", " "]) == 2
    assert "give a question" in capsys.readouterr().err


def test_api_and_page(client: TestClient) -> None:
    response = client.post("/api/answers", json={"question": "Side effects of colchicine?"})
    assert response.status_code == 200
    assert "gastrointestinal" in response.json()["answer"].lower()
    assert client.post("/api/answers", json={"question": ""}).status_code == 422
    assert client.post("/api/answers", json={"question": "x" * 1001}).status_code == 422
    page = BeautifulSoup(client.get("/ask?q=Should+warfarin+be+used").text, "html.parser")
    assert page.find(id="answer")["data-in-scope"] == "true"
    assert page.select(".citations li")
    refused = BeautifulSoup(client.get("/ask?q=capital+of+France").text, "html.parser")
    assert refused.find(id="answer")["data-in-scope"] == "false"
