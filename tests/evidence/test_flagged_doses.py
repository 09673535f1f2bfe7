"""A dose a source prints in the wrong unit (the audit's ``unit`` findings: colchicine
"≤1.2 g per day" for a cohort the review doses at "< 1.2 mg/day") is never shown to a
clinician as a dose: answers, plans and the treatment page cut it out ("[…]") and say
why; only the audit, whose job is to show it, prints it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from calcinosis.answers import answer_question, render_answer
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.decision.plan import render_text
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import flagged_figures, redact

QUESTIONS = (
    "what dose of colchicine did balin use",
    "balin mayo series colchicine - review says 3/7 responded, uptodate says 1 of 8?? which is "
    "right. and what dose",
    "colchicine for calcinosis in dermatomyositis: does it work?",
    "colchicine dosing for an adult with SSc calcinosis",
)


def _flagged(kb: KnowledgeBase) -> tuple[str, ...]:
    figures = flagged_figures(kb)
    assert "≤1.2 g per day" in figures  # the finding the sources give (findings.yaml)
    # the figure is in passages a clinician would otherwise be shown
    assert any(f in s.quote for s in kb.statements for f in figures)
    return figures


def test_redact_cuts_the_figure_and_nothing_else(kb: KnowledgeBase) -> None:
    text = "one of eight patients treated with colchicine (≤1.2 g per day) achieved"
    assert redact(kb, text) == "one of eight patients treated with colchicine ([…]) achieved"
    assert redact(kb, "colchicine < 1.2 mg/day") == "colchicine < 1.2 mg/day"


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_never_print_a_flagged_dose(kb: KnowledgeBase, question: str) -> None:
    document = answer_question(question, kb)
    shown = json.dumps(document.model_dump(), ensure_ascii=False) + render_answer(document)
    for figure in _flagged(kb):
        assert figure not in shown, question


def test_the_cohort_answer_says_why_the_dose_is_left_out(kb: KnowledgeBase) -> None:
    text = render_answer(answer_question(QUESTIONS[1], kb))
    assert "[…]" in text and "unit error" in text
    assert "3 responders in both" in text  # the two sources' counts, side by side


@pytest.mark.parametrize("disease", ["dermatomyositis", "systemic-sclerosis"])
def test_plans_never_print_a_flagged_dose(kb: KnowledgeBase, disease: str) -> None:
    profile = {
        "age_years": 50,
        "subtype": "dystrophic",
        "underlying_disease": disease,
        "symptomatic": True,
        "lesions": {"distribution": "widespread"},
    }
    document = recommend_document(parse_patient(profile, kb.therapy_ids()), kb)
    assert any(o.id == "colchicine" for o in document.options)
    shown = document.model_dump_json() + render_text(document)
    for figure in _flagged(kb):
        assert figure not in shown


def test_the_treatment_page_cuts_it_and_the_audit_shows_it(
    kb: KnowledgeBase, client: TestClient
) -> None:
    page = client.get("/treatments/colchicine").text
    audit = client.get("/evidence").text
    for figure in _flagged(kb):
        assert figure not in page
        assert figure in audit  # the audit is where a methodologist looks for it
    assert "left out ([…])" in page
