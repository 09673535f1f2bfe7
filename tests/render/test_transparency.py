"""The transparency document (/about, GET /api/about) says what the engine does.

Each HTI-1 data element is answered once; a "not used" answer is checked by changing the
field in every blind-review patient and seeing no plan change, a "used" answer by finding
a patient whose plan does change; every quoted limitation is a passage of its source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import CONDITIONS, Patient, parse_patient
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.render.transparency import HTI1_ELEMENTS, about_document, load_about
from source_documents import collapse, source_text

BLIND = Path(__file__).parents[1] / "fixtures" / "blind"
PATIENTS: list[dict[str, Any]] = [
    case["patient"]
    for path in sorted(BLIND.glob("vignettes_round*.yaml"))
    for case in yaml.safe_load(path.read_text(encoding="utf-8"))
]

# How a field is changed to see whether the logic reads it.
VARIANTS: dict[str, list[Any]] = {
    "sex": ["female", "male", "other", "unknown"],
    "age_years": [3, 8, 12, 40, 85],
    "conditions": [[c] for c in CONDITIONS],
    "other_conditions": [["atrial-fibrillation"], ["osteoporosis"]],
}


def _plan(kb: KnowledgeBase, profile: dict[str, Any]) -> dict[str, Any]:
    return recommend_document(parse_patient(profile, kb.therapy_ids()), kb).model_dump()


def test_every_hti1_element_is_answered_once() -> None:
    elements = [e.element for e in load_about().data_elements]
    assert sorted(elements) == sorted(HTI1_ELEMENTS)


def test_every_patient_field_is_described_and_no_other() -> None:
    about = load_about()
    assert set(about.inputs) == set(Patient.model_fields)
    for element in about.data_elements:
        assert set(element.fields) <= set(Patient.model_fields), element.element
        if element.fields:
            assert set(element.fields) <= set(VARIANTS), f"no way to vary {element.fields}"


def test_the_blind_patients_are_enough_to_tell() -> None:
    assert len(PATIENTS) >= 100


@pytest.mark.parametrize(
    "element", [e for e in load_about().data_elements if e.fields], ids=lambda e: e.element
)
def test_used_answers_match_what_the_engine_does(kb: KnowledgeBase, element: Any) -> None:
    changed = 0
    for profile in PATIENTS:
        base = _plan(kb, profile)
        for name in element.fields:
            for value in VARIANTS[name]:
                changed_to = value
                if name == "conditions":
                    changed_to = sorted(set(profile.get("conditions", [])) | set(value))
                variant = dict(profile) | {name: changed_to}
                if _plan(kb, variant) != base:
                    changed += 1
    if element.used:
        assert changed > 0, f"{element.element} is said to be used, but no plan changes with it"
    else:
        assert changed == 0, f"{element.element} is said to be unused, but {changed} plans change"


def test_pregnancy_is_the_health_status_assessment_read(kb: KnowledgeBase) -> None:
    profile = dict(PATIENTS[0]) | {"conditions": ["pregnancy"]}
    assert any("pregnan" in line.lower() for line in _plan(kb, profile)["sources_silent"])


def test_every_quoted_limitation_is_in_its_source(kb: KnowledgeBase) -> None:
    quoted = [item for item in load_about().limitations if item.quote]
    assert len(quoted) >= 5
    for item in quoted:
        assert item.source in kb.sources
        prefix = kb.sources[item.source].seed_file[:3]
        assert collapse(item.quote or "") in source_text(prefix), item.quote


def test_validation_figures_are_possible() -> None:
    for v in load_about().validation:
        assert v.passed_machine <= v.cases and v.passed_clinical <= v.cases


def test_the_document_cites_the_sources_as_references(kb: KnowledgeBase) -> None:
    about = about_document(kb, "https://cds.example.org")
    attrs = about.source_attributes
    texts = [s.reference_text for s in attrs.bibliographic_citation]
    assert any("doi:10.1016/j.jaad.2019.07.006" in t for t in texts)
    assert any("PMID: 34165603" in t for t in texts)
    assert any(t.startswith("AI-generated answer, not peer-reviewed") for t in texts)
    assert attrs.release_date == kb.released == kb.manifest.released.isoformat()
    assert about.basis.logic.url == "https://cds.example.org/algorithm"
    assert kb.version in about.how_to_cite and kb.released in about.how_to_cite
    assert "{" not in about.how_to_cite


def test_api_and_page_serve_it(client: TestClient, kb: KnowledgeBase) -> None:
    api = client.get("/api/about")
    assert api.status_code == 200
    assert api.json()["evidence_released"] == kb.released
    page = client.get("/about")
    assert page.status_code == 200
    for element in HTI1_ELEMENTS:
        assert f">{element.capitalize()}</th>" in page.text
    assert "Funding source" in page.text and "Known limitations" in page.text
    assert "July 2018" in page.text


def test_every_response_carries_the_evidence_version_and_date(
    client: TestClient, kb: KnowledgeBase
) -> None:
    for path in ("/api/evidence/arms", "/api/evidence/tables/4", "/", "/api/nowhere"):
        response = client.get(path)
        assert response.headers["calcinosis-evidence-version"] == kb.version, path
        assert response.headers["calcinosis-evidence-released"] == kb.released, path


def test_documents_and_text_carry_the_release_date(client: TestClient, kb: KnowledgeBase) -> None:
    plan = client.post("/api/recommendations", json=PATIENTS[0]).json()
    answer = client.post("/api/answers", json={"question": "diltiazem dose?"}).json()
    pooled = client.get("/api/evidence/pool/diltiazem").json()
    for document in (plan, answer, pooled):
        assert document["evidence_released"] == kb.released
    assert f'released <time datetime="{kb.released}">' in client.get("/").text
