"""/openapi.json publishes a closed schema for every response, and real responses obey it.

The schemas come from the documents' pydantic models (``response_model``); each real
response of the API is validated against the schema /openapi.json publishes for its
route with a JSON Schema validator (jsonschema-rs, which schemathesis brings), not
with the models themselves.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from calcinosis.settings import Settings
from calcinosis.web.app import create_app

PATIENT = json.loads(
    (
        Path(__file__).parents[1]
        / "fixtures"
        / "patients"
        / "dystrophic_ssc_adult_digital_raynaud.json"
    ).read_text(encoding="utf-8")
)
# Routes whose success has no body at all (an empty 200).
NO_BODY = {("POST", "/cds-services/{service_id}/feedback")}
# One real request per route of the API (the CDS routes are in test_cds.py: they need a
# signed token): (method, route, url, JSON body).
REQUESTS: list[tuple[str, str, str, Any]] = [
    ("POST", "/api/recommendations", "/api/recommendations", PATIENT),
    (
        "POST",
        "/api/recommendations",
        "/api/recommendations",
        {
            "age_years": 7,
            "subtype": "dystrophic",
            "underlying_disease": "juvenile-dermatomyositis",
            "weight_kg": 24,
            "medications": ["minocycline"],
        },
    ),
    (
        "POST",
        "/api/recommendations",
        "/api/recommendations",
        {"age_years": 61, "subtype": "calciphylaxis"},
    ),
    ("POST", "/api/answers", "/api/answers", {"question": "Does diltiazem work in SSc?"}),
    ("POST", "/api/answers", "/api/answers", {"question": "What is the weather?"}),
    ("GET", "/api/evidence/arms", "/api/evidence/arms", None),
    ("GET", "/api/evidence/arms", "/api/evidence/arms?treatment=bisphosphonates", None),
    *[
        ("GET", "/api/evidence/tables/{number}", f"/api/evidence/tables/{n}", None)
        for n in (1, 2, 3, 4)
    ],
    ("GET", "/api/evidence/audit", "/api/evidence/audit", None),
    ("GET", "/api/evidence/changes", "/api/evidence/changes", None),
    ("GET", "/api/evidence/pool/{treatment}", "/api/evidence/pool/diltiazem", None),
    (
        "GET",
        "/api/evidence/pool/{treatment}",
        "/api/evidence/pool/rituximab?by=population&leave_one_out=true&method=reml"
        "&hartung_knapp=true",
        None,
    ),
    ("GET", "/api/evidence/certainty", "/api/evidence/certainty", None),
    (
        "GET",
        "/api/evidence/certainty",
        "/api/evidence/certainty?treatment=rituximab&disease=DM",
        None,
    ),
    ("GET", "/api/treatments", "/api/treatments", None),
    ("GET", "/api/treatments/{treatment}", "/api/treatments/diltiazem", None),
    ("GET", "/api/about", "/api/about", None),
    ("GET", "/api/health", "/api/health", None),
]


@pytest.fixture(scope="module")
def spec(client_module: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client_module.get("/openapi.json").json()
    return document


@pytest.fixture(scope="module")
def client_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("openapi") / "web.db"
    settings = Settings.from_env(env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{path}"})
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield client


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route of the app, through the included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def response_schema(spec: dict[str, Any], method: str, route: str) -> dict[str, Any] | None:
    """The schema of a route's 200 response, with the components it refers to."""
    ok = spec["paths"][route][method.lower()]["responses"]["200"]
    content = ok.get("content")
    if not content:
        return None
    schema: dict[str, Any] = content["application/json"]["schema"]
    return {**schema, "components": spec["components"]}


def _objects(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a response schema stands for (through $ref, arrays, unions)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return _objects(spec, spec["components"]["schemas"][name])
    if schema.get("type") == "array":
        return _objects(spec, schema["items"])
    if "anyOf" in schema or "oneOf" in schema:
        return [o for s in schema.get("anyOf", schema.get("oneOf", [])) for o in _objects(spec, s)]
    return [schema]


def validator(spec: dict[str, Any], method: str, route: str) -> jsonschema_rs.Validator:
    schema = response_schema(spec, method, route)
    assert schema is not None, (method, route)
    return jsonschema_rs.validator_for(schema)


def test_every_route_publishes_a_closed_response_schema(
    client_module: TestClient, spec: dict[str, Any]
) -> None:
    routes = {
        (method, route.path)
        for route in _api_routes(client_module.app.routes)  # type: ignore[attr-defined]
        if route.include_in_schema
        for method in route.methods
    }
    published = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert routes == published
    for method, route in sorted(published):
        schema = response_schema(spec, method, route)
        if (method, route) in NO_BODY:
            assert schema is None
            continue
        assert schema is not None, f"{method} {route}: no response schema"
        objects = _objects(spec, schema)
        assert objects, f"{method} {route}"
        for found in objects:  # never {} nor an open object: named, closed properties
            assert found.get("type") == "object" and found.get("properties"), (method, route)
            assert found.get("additionalProperties") is False, (method, route, found.get("title"))


def test_every_route_of_the_api_has_a_real_request_here(spec: dict[str, Any]) -> None:
    api = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p.startswith("/api/")}
    assert api - {("GET", "/api/cds/feedback")} == {(m, r) for m, r, _, _ in REQUESTS}


@pytest.mark.parametrize(("method", "route", "url", "body"), REQUESTS, ids=[r[2] for r in REQUESTS])
def test_real_responses_validate_against_the_published_schema(
    client_module: TestClient, spec: dict[str, Any], *, method: str, route: str, url: str, body: Any
) -> None:
    response = client_module.request(method, url, json=body)
    assert response.status_code == 200, response.text
    errors = [str(e) for e in validator(spec, method, route).iter_errors(response.json())]
    assert errors == []


def test_the_schema_refuses_a_drifted_plan(client_module: TestClient, spec: dict[str, Any]) -> None:
    """The check can fail: a renamed key, an unknown key, a null where none is allowed,
    and an avoided option carrying an offered option's fields are all refused."""
    plan = client_module.post("/api/recommendations", json=PATIENT).json()
    check = validator(spec, "POST", "/api/recommendations")
    assert check.is_valid(plan)
    offered = next(i for i, o in enumerate(plan["options"]) if o["stance"] != "avoid")
    avoided = next(i for i, o in enumerate(plan["options"]) if o["stance"] == "avoid")
    renamed = copy.deepcopy(plan)
    renamed["options"][offered]["grade_text"] = renamed["options"][offered].pop("grade_label")
    unknown = copy.deepcopy(plan)
    unknown["summary"]["first"] = []
    null = copy.deepcopy(plan)
    null["options"][offered]["citations"] = None
    mixed = copy.deepcopy(plan)
    mixed["options"][avoided]["evidence"] = []
    for drifted in (renamed, unknown, null, mixed):
        assert not check.is_valid(drifted)
