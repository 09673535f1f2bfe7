"""The JSON API: the DESIGN.md documents, problem+json errors, the audit store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calcinosis.cli import main

PATIENTS = Path(__file__).parents[1] / "fixtures" / "patients"


def test_recommendation_is_the_cli_document(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    path = PATIENTS / "dystrophic_ssc_adult_digital_raynaud.json"
    response = client.post(
        "/api/recommendations",
        content=path.read_bytes(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    assert main(["recommend", str(path), "--format", "json"]) == 0
    assert response.json() == json.loads(capsys.readouterr().out)


def test_every_plan_served_is_audited_without_patient_data(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    before = store.plan_count()
    client.post(
        "/api/recommendations", json={"age_years": 61, "subtype": "calciphylaxis", "sex": "female"}
    )
    assert store.plan_count() == before + 1
    record = store.recent_plans(1)[0]
    assert record.channel == "api" and record.subtype == "calciphylaxis" and record.critical
    assert record.options == [
        {"id": "calciphylaxis-care", "stance": "first-line"},
        {"id": "correct-calcium-phosphate", "stance": "first-line"},
    ]
    stored = json.dumps([record.options, record.trace])
    assert "61" not in stored and "female" not in stored


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"age_years": 700, "subtype": "dystrophic"}, 422, "age_years"),
        ({"age_years": 7, "subtype": "nope"}, 422, "subtype"),
        (
            {"age_years": 7, "subtype": "dystrophic", "lesions": {"largest_cm": 0}},
            422,
            "lesions.largest_cm",
        ),
        (
            {"age_years": 7, "subtype": "dystrophic", "medications": ["minocyclin"]},
            422,
            "medications[0]",
        ),
        (
            {
                "age_years": 7,
                "subtype": "dystrophic",
                "prior_treatments": [{"treatment": "x", "response": "none"}],
            },
            422,
            "prior_treatments[0].treatment",
        ),
        (
            {
                "age_years": 58,
                "subtype": "dystrophic",
                "prior_treatments": [{"treatment": "sodium-thiosulfate-intralesional"}],
            },
            422,
            "prior_treatments[0].response",
        ),
        ({"subtype": "dystrophic"}, 422, "age_years"),
        ({"age_years": 7, "subtype": "dystrophic", "extra": 1}, 422, "extra"),
        ([1, 2, 3], 422, "body"),
    ],
)
def test_bad_bodies_are_problem_documents(
    client: TestClient, body: object, status: int, field: str
) -> None:
    response = client.post("/api/recommendations", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["errors"][0]["field"] == field
    assert "Traceback" not in response.text


def test_a_medication_outside_the_catalog_is_recorded_not_refused(client: TestClient) -> None:
    # blind round 22: hydroxychloroquine refused the whole profile (422); a near spelling
    # of a catalog drug is still refused above (minocyclin)
    body = {"age_years": 33, "subtype": "dystrophic", "medications": ["hydroxychloroquine"]}
    response = client.post("/api/recommendations", json=body)
    assert response.status_code == 200
    plan = response.json()
    assert any("hydroxychloroquine" in line for line in plan["sources_silent"])


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"\xff\xfe", b'{"age_years": 5,'])
def test_unparseable_json_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post(
        "/api/recommendations", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"
    if raw:
        assert response.status_code == 400


def test_evidence_documents(client: TestClient) -> None:
    arms = client.get("/api/evidence/arms").json()
    assert len(arms) == 46
    assert {
        a["treatment"] for a in client.get("/api/evidence/arms?treatment=bisphosphonates").json()
    } == {"etidronate", "pamidronate", "risedronate", "alendronate"}
    table = client.get("/api/evidence/tables/4").json()
    assert table[0]["patients"] == {"DM": 5, "SSc": 6, "unspecified": 3}
    pooled = client.get("/api/evidence/pool/diltiazem?method=dl&outcome=any").json()
    assert pooled["k"] == 3 and pooled["method"] == "dl"
    assert client.get("/api/treatments").status_code == 200
    assert client.get("/api/treatments/warfarin").json()["id"] == "warfarin"
    assert client.get("/api/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/evidence/pool/aspirin", 404),
        ("/api/treatments/aspirin", 404),
        ("/api/evidence/tables/7", 422),
        ("/api/evidence/pool/diltiazem?method=bayes", 422),
        ("/api/nowhere", 404),
        ("/api/evidence/arms?treatment=aspirin", 404),
    ],
)
def test_unknown_ids_and_bad_parameters(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_security_headers_everywhere(client: TestClient) -> None:
    for path in ("/", "/api/health", "/static/style.css", "/api/nowhere", "/evidence"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/api/recommendations",
        "/api/evidence/arms",
        "/api/evidence/tables/{number}",
        "/api/evidence/pool/{treatment}",
        "/api/treatments",
    } <= set(spec["paths"])
    assert "/" not in spec["paths"]
    assert client.get("/docs").status_code == 404  # no CDN-loaded Swagger UI
