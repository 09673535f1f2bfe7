"""The plan cache (``plan_cache.py``): bounded, keyed so that no patient is ever given
another's plan nor a plan of another knowledge base, and what the routes make of it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcinosis.decision import plan_cache
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import CONDITIONS, DISEASES, SUBTYPES, Patient, parse_patient
from calcinosis.decision.plan_cache import CachedPlan, PlanCache, plan_json
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.integrations.fhir.resources import _parse_resource, parse_resource
from calcinosis.storage import Store
from calcinosis.web.routes import cds

FIXTURES = Path(__file__).parents[1] / "fixtures"
SSC = {
    "age_years": 58,
    "subtype": "dystrophic",
    "underlying_disease": "systemic-sclerosis",
    "symptomatic": True,
    "lesions": {"count": 3, "largest_cm": 0.8, "distribution": "localized", "digital": True},
    "raynaud": True,
    "medications": ["warfarin"],
}
QUERY = (
    "subtype=dystrophic&age_years=58&underlying_disease=systemic-sclerosis&symptomatic=yes"
    "&lesions_count=3&lesions_largest_cm=0.8&lesions_distribution=localized"
    "&lesions_digital=yes&raynaud=yes&medications=warfarin"
)

maybe = st.none() | st.booleans()
profiles = st.fixed_dictionaries(
    {
        # whole years and halves: neighbours that a sloppy key would merge
        "age_years": st.integers(0, 240).map(lambda half_years: half_years / 2),
        "subtype": st.sampled_from(SUBTYPES),
    },
    optional={
        "underlying_disease": st.sampled_from(DISEASES),
        "disease_active": maybe,
        "symptomatic": maybe,
        "patient_concerned": maybe,
        "inflammation": maybe,
        "raynaud": maybe,
        "lesions": st.fixed_dictionaries(
            {},
            optional={
                "count": st.integers(0, 30),
                "largest_cm": st.sampled_from([0.5, 2.0, 3.0, 5.0]),
                "distribution": st.sampled_from(["localized", "widespread"]),
            },
        ),
        "conditions": st.lists(st.sampled_from(CONDITIONS), unique=True, max_size=2),
        "medications": st.lists(
            st.sampled_from(["warfarin", "diltiazem", "minocycline", "colchicine"]),
            unique=True,
            max_size=2,
        ),
        "weight_kg": st.sampled_from([20.0, 62.0, 80.0]),
    },
)


def _patient(kb: KnowledgeBase, data: dict[str, Any]) -> Patient:
    return parse_patient(data, kb.therapy_ids())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.lists(profiles, min_size=2, max_size=2))
def test_two_patients_get_each_their_own_plan(pair: list[dict[str, Any]]) -> None:
    """Whatever was planned before, the cache answers exactly the engine's plan of the
    patient asked about: two different patients never share a plan."""
    kb = load_knowledge()
    first, second = (_patient(kb, data) for data in pair)
    cache = PlanCache(kb, maxsize=4)
    for patient in (first, second, first, second):  # misses, then hits
        served = cache.plan(patient, kb)
        assert served.json == plan_json(recommend_document(patient, kb))
    assert len(cache) == (1 if first == second else 2)
    if PlanCache.key(first) == PlanCache.key(second):
        assert first == second  # the key tells apart what the engine tells apart


def test_the_cache_is_bounded_and_keeps_the_last_used(kb: KnowledgeBase) -> None:
    cache = PlanCache(kb, maxsize=3)
    patients = [_patient(kb, {"age_years": age, "subtype": "idiopathic"}) for age in range(5)]
    for patient in patients[:3]:
        cache.plan(patient, kb)
    assert cache.cached(patients[0], kb) is not None  # used again: kept
    for patient in patients[3:]:
        cache.plan(patient, kb)
    assert len(cache) == 3
    assert cache.cached(patients[1], kb) is None and cache.cached(patients[2], kb) is None
    assert all(cache.cached(p, kb) is not None for p in (patients[0], *patients[3:]))
    assert (cache.hits, cache.misses) == (4, 5)
    with pytest.raises(ValueError, match="maxsize"):
        PlanCache(kb, maxsize=0)


def test_another_knowledge_base_never_reuses_a_plan(kb: KnowledgeBase) -> None:
    other = dataclasses.replace(kb, version="99.0.0+other")  # another base, other plans
    patient = _patient(kb, SSC)
    cache = PlanCache(kb)
    mine = cache.plan(patient, kb)
    assert cache.cached(patient, other) is None
    theirs = cache.plan(patient, other)
    assert theirs.document.evidence_version == "99.0.0+other"
    assert mine.document.evidence_version == kb.version
    assert cache.cached(patient, kb) is mine and len(cache) == 1  # nothing of it kept
    assert cache.plan(patient, other) is not theirs  # computed again: never kept


def test_a_derived_value_is_computed_once_per_plan(kb: KnowledgeBase) -> None:
    plan = CachedPlan({"a": 1}, b"{}")
    calls: list[dict[str, Any]] = []
    made = [
        plan.derived("x", lambda doc: calls.append(doc) or {"part": str(len(calls))})
        for _ in range(3)
    ]
    assert made == [{"part": "1"}] * 3 and calls == [{"a": 1}]


# ------------------------------------------------------------------ the routes
def test_every_request_is_audited_even_when_its_plan_is_cached(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    before = store.plan_count()
    answers = [client.post("/api/recommendations", json=SSC) for _ in range(3)]
    pages_ = [client.get(f"/?{QUERY}") for _ in range(2)]
    assert all(r.status_code == 200 for r in (*answers, *pages_))
    assert store.plan_count() == before + 5
    assert len({r.content for r in answers}) == 1 and len({r.content for r in pages_}) == 1
    assert client.app.state.plans.hits >= 4  # type: ignore[attr-defined]


def test_a_plan_not_cached_is_worked_out_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    engine = plan_cache.recommend_document

    def spy(patient: Patient, kb: KnowledgeBase) -> dict[str, Any]:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        seen.append((threading.current_thread().name, on_loop))
        return engine(patient, kb)

    monkeypatch.setattr(plan_cache, "recommend_document", spy)
    response = client.post("/api/recommendations", json=SSC | {"age_years": 59})
    assert response.status_code == 200
    assert len(seen) == 1 and seen[0][1] is False
    client.post("/api/recommendations", json=SSC | {"age_years": 59})
    assert len(seen) == 1  # the second time: from the cache


def test_serving_a_cached_plan_never_changes_it(client: TestClient) -> None:
    kb = client.app.state.kb  # type: ignore[attr-defined]
    patient = _patient(kb, SSC)
    assert client.post("/api/recommendations", json=SSC).status_code == 200
    cached = client.app.state.plans.cached(patient, kb)  # type: ignore[attr-defined]
    assert cached is not None
    for path in ("/", "/print", "/handout", "/"):
        assert client.get(f"{path}?{QUERY}").status_code == 200
    assert client.post("/api/recommendations", json=SSC).content == cached.json
    assert cached.document.model_dump() == json.loads(cached.json)
    assert cached.json == plan_json(recommend_document(patient, kb))


def test_the_pages_kept_are_the_pages_the_templates_render(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page kept with its plan (and the plan's HTML kept with it) is, byte for byte,
    the page rendered anew with the plan's templates included; two queries of the same
    plan each get their own page."""
    # the same patient: the order of the fields, and a field at its default value
    queries = [
        QUERY,
        QUERY.replace("subtype=dystrophic&age_years=58", "age_years=58&subtype=dystrophic"),
        QUERY + "&sex=unknown",
    ]
    paths = ("/", "/print", "/handout")
    kept = {(path, q): client.get(f"{path}?{q}") for path in paths for q in queries}
    again = {(path, q): client.get(f"{path}?{q}") for path in paths for q in queries}
    monkeypatch.setattr(CachedPlan, "derived", lambda self, name, make: None)
    monkeypatch.setattr(CachedPlan, "page", lambda self, key: None)
    for (path, q), response in kept.items():
        fresh = client.get(f"{path}?{q}")
        assert response.status_code == fresh.status_code == 200
        assert response.content == again[(path, q)].content == fresh.content, (path, q)
        assert response.headers["content-type"] == fresh.headers["content-type"]
    assert kept[("/", queries[0])].content != kept[("/", queries[2])].content  # its own
    assert b"plan-title" in kept[("/", QUERY)].content


def test_a_plan_keeps_its_last_pages_only(kb: KnowledgeBase) -> None:
    plan = CachedPlan({}, b"{}")
    for index in range(plan_cache.MAX_PAGES + 2):
        plan.keep_page(("assess.html", str(index).encode()), f"page {index}".encode())
    kept = [
        i for i in range(plan_cache.MAX_PAGES + 2) if plan.page(("assess.html", str(i).encode()))
    ]
    assert kept == list(range(2, plan_cache.MAX_PAGES + 2))
    assert plan.page(("print.html", b"2")) is None  # keyed by the template too


# ------------------------------------------------------------------ CDS Hooks
def test_the_store_claim_is_awaited_unless_it_was_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path}/claims.db")
    try:
        assert cds._awaitable_claim(store) == store.aclaim_jti
        assert cds._awaitable_claim(object()) is None

        def replaced(_store: Store, issuer: str, jti: str, expires_at: object) -> bool:
            return True

        monkeypatch.setattr(Store, "claim_jti", replaced)
        assert cds._awaitable_claim(store) is None  # the replaced claim runs in a thread
    finally:
        store.close()


def test_a_fhir_verdict_kept_is_the_verdict_and_a_fresh_copy() -> None:
    body = json.loads((FIXTURES / "fhir" / "ssc_adult_warfarin_patient_view.json").read_text())
    condition = body["prefetch"]["conditions"]["entry"][0]["resource"]
    snipped = condition | {"...": True}  # a repair note each time, kept or not
    first_notes: list[str] = []
    first = parse_resource(snipped, first_notes)
    assert first is not None and "..." not in first and first_notes
    first["code"] = "changed by a caller"
    again_notes: list[str] = []
    again = parse_resource(snipped, again_notes)
    assert again is not None and again["code"] == condition["code"]
    assert again_notes == first_notes
    uncached: list[str] = []
    assert _parse_resource(snipped, uncached) == again and uncached == first_notes
    not_json = condition | {"code": (1, 2)}  # a tuple: never looked up by its JSON
    notes: list[str] = []
    assert parse_resource(not_json, notes) is None
    assert notes and "not valid FHIR R4" in notes[0]
