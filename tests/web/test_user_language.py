"""Users see references, never our file names or the word "seed" (issue 10.2).

Renders every page, a plan for each subtype (text and JSON), answers, and CDS cards, and
checks what a user can read. The data files and tests keep the file names for provenance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from calcinosis.answers import answer_question, render_answer
from calcinosis.decision.engine import STEPS, recommend_document
from calcinosis.decision.patient import SUBTYPES, parse_patient
from calcinosis.decision.plan import render_text
from calcinosis.evidence.knowledge_base import load_knowledge
from calcinosis.settings import Settings
from calcinosis.web.app import create_app

KB = load_knowledge()
FORBIDDEN = re.compile(r"\bseeds?\b|\d{3}_[0-9a-f]{16}\.txt", re.I)
# A code file (``decision/engine.py``) is our name for a thing, as a data file's is.
CODE_FILE = re.compile(r"[\w/]+\.py\b")
# So is a step's name in the engine (``assess_underlying_disease``): pages say it in words.
STEP_IDS = re.compile(
    "|".join(rf"\b{step.__name__}\b" for chain in STEPS.values() for step in chain)
)
TAG = re.compile(r"<[^>]+>")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"


def _visible(text: str) -> list[str]:
    return FORBIDDEN.findall(text)


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_plans_speak_in_references(subtype: str) -> None:
    profile = {
        "age_years": 8,
        "subtype": subtype,
        "underlying_disease": "juvenile-dermatomyositis",
        "symptomatic": True,
        "medications": ["warfarin", "minocycline"],
    }
    document = recommend_document(parse_patient(profile, KB.therapy_ids()), KB)
    assert _visible(render_text(document)) == []
    assert _visible(json.dumps(document.model_dump())) == []
    ai = [c for c in document.citations if c.source == "ai-answer-dm"]
    assert all(c.kind == "ai-generated" for c in ai)


@pytest.mark.parametrize(
    "question",
    [
        "First-line treatment in juvenile dermatomyositis?",
        "Does warfarin promote calcification?",
        "What dose of colchicine?",
        "Which treatments should not be used?",
    ],
)
def test_answers_speak_in_references(question: str) -> None:
    document = answer_question(question, kb=KB)
    assert _visible(render_answer(document)) == []
    assert _visible(json.dumps(document.model_dump())) == []


def test_pages_speak_in_references(tmp_path: Path) -> None:
    settings = Settings.from_env(env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/u.db"})
    assessment = urlencode(
        {"age_years": "45", "subtype": "dystrophic", "underlying_disease": "systemic-sclerosis"}
    )
    paths = [
        "/",
        f"/?{assessment}",
        f"/print?{assessment}",
        "/treatments/diltiazem",
        "/treatments/sodium-thiosulfate-topical",
        "/evidence",
        "/evidence/certainty",
        "/evidence/changes",
        "/algorithm",
        "/handout?" + assessment,
        "/about",
        "/ask?q=" + "does+warfarin+work",
    ]
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            assert _visible(response.text) == [], path
            assert CODE_FILE.findall(TAG.sub(" ", response.text)) == [], path
            assert STEP_IDS.findall(TAG.sub(" ", response.text)) == [], path
