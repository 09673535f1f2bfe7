"""What the web app stores, in process: bounded, checked before it is queued, and audited
on every channel (API, assessment page, CDS patient-view), with no patient words.

The faults (read-only files, locks, full disks, PostgreSQL down) are reproduced against a
real server in ``test_storage_faults.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from calcinosis.settings import Settings
from calcinosis.storage import CardRecord, FeedbackRecord, PlanRecord
from calcinosis.web.app import create_app

FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
PATIENT_VIEW = "/cds-services/calcinosis-patient-view"
FEEDBACK = PATIENT_VIEW + "/feedback"


ADMIN = "a" * 40  # the feedback views need the admin credential (issue 11)


def _app(tmp_path: Path, **env: str) -> TestClient:
    settings = Settings.from_env(
        env={
            "CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/records.db",
            "CALCINOSIS_ADMIN_TOKEN": ADMIN,
            **env,
        },
        insecure_cds=True,
    )
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8000")


@pytest.fixture
def cds(tmp_path: Path) -> Iterator[TestClient]:
    with _app(tmp_path) as client:
        yield client


def fhir(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FHIR / f"{name}.json").read_text(encoding="utf-8"))
    return body


def item(**changes: Any) -> dict[str, Any]:
    return {"card": "c-1", "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:00:00Z"} | (
        changes
    )


def stored_feedback(client: TestClient) -> int:
    counts = client.get("/api/cds/feedback", headers={"Authorization": f"Bearer {ADMIN}"})
    return sum(row["count"] for row in counts.json()["feedback"])


# ------------------------------------------------------------------- channels
def test_patient_view_plans_are_audited_on_the_cds_channel(cds: TestClient) -> None:
    store = cds.app.state.store  # type: ignore[attr-defined]
    response = cds.post(PATIENT_VIEW, json=fhir("ssc_adult_warfarin_patient_view"))
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert store.plan_count() == 1
    record = store.recent_plans(1)[0]
    assert record.channel == "cds" and record.subtype == "dystrophic"
    kinds = {(row["kind"], row["count"]) for row in store.card_counts()}
    assert sum(count for _, count in kinds) == len(cards)


def test_order_cards_are_recorded_without_a_plan(cds: TestClient) -> None:
    store = cds.app.state.store  # type: ignore[attr-defined]
    body = fhir("order_diltiazem")
    response = cds.post("/cds-services/calcinosis-order-sign", json=body)
    assert response.status_code == 200 and response.json()["cards"]
    assert store.plan_count() == 0
    assert sum(row["count"] for row in store.card_counts()) == len(response.json()["cards"])


def test_a_patient_without_calcinosis_writes_nothing(cds: TestClient) -> None:
    store = cds.app.state.store  # type: ignore[attr-defined]
    assert cds.post(PATIENT_VIEW, json=fhir("no_calcinosis")).json() == {"cards": []}
    assert store.plan_count() == 0 and store.card_counts() == []


def test_the_assessment_page_audits_a_submitted_profile_only(cds: TestClient) -> None:
    store = cds.app.state.store  # type: ignore[attr-defined]
    for path in ("/", "/print", "/?lang=en", "/?subtype=", "/?age_years=900"):
        cds.get(path)
    assert store.plan_count() == 0
    assert cds.get("/?subtype=dystrophic&age_years=58").status_code == 200
    assert cds.get("/print?subtype=metastatic&age_years=70").status_code == 200
    assert [r.channel for r in store.recent_plans()] == ["web", "web"]


def test_the_stored_trace_has_step_names_and_seconds_only(cds: TestClient) -> None:
    store = cds.app.state.store  # type: ignore[attr-defined]
    profile = {
        "age_years": 58,
        "sex": "female",
        "subtype": "dystrophic",
        "underlying_disease": "systemic-sclerosis",
        "medications": ["warfarin", "diltiazem"],
        "conditions": ["interstitial-lung-disease"],
        "lesions": {"count": 3, "largest_cm": 0.8, "distribution": "localized"},
        "prior_treatments": [{"treatment": "colchicine", "response": "none"}],
    }
    plan = cds.post("/api/recommendations", json=profile).json()
    assert any(step["detail"] for step in plan["trace"])  # the plan itself explains its steps
    record = store.recent_plans(1)[0]
    assert record.trace == [{"step": s["step"], "fired": s["fired"]} for s in plan["trace"]]
    assert record.created_at.microsecond == 0
    trace = json.dumps(record.trace).lower()  # the options are ids and stances, by design
    for word in ("58", "female", "warfarin", "interstitial", "colchicine", "sclerosis", "ssc"):
        assert word not in trace, word


# ------------------------------------------------------------------- feedback
def test_feedback_with_too_many_items_is_refused(tmp_path: Path) -> None:
    with _app(tmp_path, CALCINOSIS_FEEDBACK_MAX_ITEMS="5") as client:
        response = client.post(FEEDBACK, json={"feedback": [item()] * 6})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [
            {"field": "feedback", "message": "at most 5 items per call, got 6"}
        ]
        assert client.post(FEEDBACK, json={"feedback": [item()] * 5}).status_code == 200
        assert stored_feedback(client) == 5


def test_the_default_limit_refuses_twenty_thousand_items(cds: TestClient) -> None:
    response = cds.post(FEEDBACK, json={"feedback": [item()] * 20_000})
    assert response.status_code == 413
    assert stored_feedback(cds) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"outcomeTimestamp": "2" * 65}, "feedback[1].outcomeTimestamp"),
        ({"outcomeTimestamp": "x" * 100_000}, "feedback[1].outcomeTimestamp"),
        ({"card": "c" * 65}, "feedback[1].card"),
        ({"card": "nul\x00card"}, "feedback[1].card"),
        (
            {"outcome": "overridden", "overrideReason": {"reason": {"code": "r" * 129}}},
            "feedback[1].overrideReason.reason.code",
        ),
        (
            {"outcome": "overridden", "overrideReason": {"reason": {"display": "d" * 129}}},
            "feedback[1].overrideReason.reason.display",
        ),
    ],
)
def test_a_value_too_long_for_its_column_is_refused_before_anything_is_stored(
    cds: TestClient, changes: dict[str, Any], field: str
) -> None:
    response = cds.post(FEEDBACK, json={"feedback": [item(), item(**changes), item()]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field
    assert stored_feedback(cds) == 0  # not the good items either: the call is refused whole


def test_values_at_the_limits_are_stored_whole(cds: TestClient) -> None:
    longest = item(
        card="c" * 64,
        outcome="overridden",
        outcomeTimestamp="t" * 64,
        overrideReason={"reason": {"code": "r" * 128}},
    )
    assert cds.post(FEEDBACK, json={"feedback": [longest]}).status_code == 200
    auth = {"Authorization": f"Bearer {ADMIN}"}
    counts = cds.get("/api/cds/feedback", headers=auth).json()["feedback"]
    assert counts[0]["override_reason"] == "r" * 128


# -------------------------------------------------------------------- property
STRINGS = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=60, max_size=200),
    st.sampled_from(["", "\x00", "\ud800", "é" * 64, "é" * 65, "x" * 128, "x" * 129]),
)
ITEMS = st.lists(
    st.fixed_dictionaries(
        {
            "card": STRINGS,
            "outcome": st.sampled_from(["accepted", "overridden"]),
            "outcomeTimestamp": st.none() | STRINGS,
            "overrideReason": st.none()
            | st.fixed_dictionaries(
                {"reason": st.fixed_dictionaries({"code": st.none() | STRINGS})},
                optional={"userComment": STRINGS},
            ),
        }
    ),
    max_size=4,
)
COLUMNS = [
    (model.__tablename__, column.key, column.type.length)  # type: ignore[attr-defined]
    for model in (PlanRecord, CardRecord, FeedbackRecord)
    for column in model.__table__.columns
    if getattr(column.type, "length", None)
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    folder = tmp_path_factory.mktemp("bounded")
    with _app(folder) as client:
        yield client, folder / "records.db"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=ITEMS)
def test_every_string_the_api_stores_fits_its_column(
    shared: tuple[TestClient, Path], items: Any
) -> None:
    """Whatever strings a client sends, the answer is 200, 413 or 422 (never 500 or 503),
    and every string in the database fits its column's declared length (SQLite would
    store longer ones: the check is the application's own)."""
    client, database = shared
    body = json.dumps({"feedback": items})  # ASCII: a lone surrogate travels as \\ud800
    response = client.post(FEEDBACK, content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 413, 422), response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
    with closing(sqlite3.connect(database)) as connection:
        for table, column, length in COLUMNS:
            longest = connection.execute(
                f"SELECT max(length({column})) FROM {table}"  # noqa: S608 - our own names
            ).fetchone()[0]
            assert longest is None or longest <= length, (table, column)
        stored = connection.execute("SELECT count(*) FROM cds_feedback").fetchone()[0]
        connection.execute("DELETE FROM cds_feedback")
        connection.commit()
    assert stored == (len(items) if response.status_code == 200 else 0)


# ------------------------------------------------------------------ 503 in process
def test_a_failed_write_is_a_503_on_every_channel(
    cds: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    store = cds.app.state.store  # type: ignore[attr-defined]

    def full(rows: object) -> None:
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
        raise OperationalError("INSERT INTO plan_audit ...", {"secret": "p-42"}, error)

    store._transaction = full
    api = cds.post("/api/recommendations", json={"age_years": 40, "subtype": "metastatic"})
    assert api.status_code == 503 and api.headers["content-type"] == "application/problem+json"
    assert api.json()["detail"] == "The audit record could not be written; no plan was served."
    assert api.headers["retry-after"] == "5"
    page = cds.get("/?subtype=dystrophic&age_years=58")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "no plan was served" in page.text
    card = cds.post(PATIENT_VIEW, json=fhir("ssc_adult_warfarin_patient_view"))
    assert card.status_code == 503 and "cards" not in card.text
    feedback = cds.post(FEEDBACK, json={"feedback": [item()]})
    assert feedback.status_code == 503
    assert feedback.json()["detail"] == "The feedback could not be stored; none of it was recorded."
    health = cds.get("/api/health")
    assert health.status_code == 503
    assert health.json()["storage"] == "the disk is full (SQLITE_FULL)"
    assert "the disk is full (SQLITE_FULL)" in caplog.text
    assert "p-42" not in caplog.text and "INSERT" not in caplog.text


def test_health_is_degraded_with_the_reason(cds: TestClient) -> None:
    assert cds.get("/api/health").json()["status"] == "ok"
    store = cds.app.state.store  # type: ignore[attr-defined]

    async def reason() -> str:
        return "the database is read-only (SQLITE_READONLY)"

    store.ahealth = reason
    response = cds.get("/api/health")
    assert response.status_code == 503
    document = response.json()
    assert document["status"] == "degraded"
    assert document["storage"] == "the database is read-only (SQLITE_READONLY)"
    assert document["evidence_version"] and document["evidence_released"]
