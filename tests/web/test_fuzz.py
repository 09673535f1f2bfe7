"""Fuzz the JSON API from its own OpenAPI document (schemathesis, in process).

Every operation of ``/openapi.json`` gets generated requests, valid and
invalid. No answer may be a 5xx; every 4xx must be an RFC 9457
``application/problem+json`` document; successful answers must match the
schema the document declares for them.

Bounded and deterministic: 40 Hypothesis examples per operation plus
schemathesis's own coverage cases (about 560 requests in all), derandomized.
The schema is built from the app's routes at import and the requests go to a
fixture's app: ``schemathesis.pytest.from_fixture`` would be the natural fit
but fails under pytest 9 (it reads ``Function._nodeid``, which is gone).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from schemathesis.checks import (
    CheckContext,
    CheckFunction,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.settings import Settings
from calcinosis.web.app import create_app

PROBLEM_JSON = "application/problem+json"

# The document the server publishes at /openapi.json. Building it needs the
# routes only: this app is never started, so its database is never opened.
# (The test below checks the served document is this one.)
_DOCUMENT_APP = create_app(Settings.from_env(env={"CALCINOSIS_DATABASE_URL": "sqlite:///unused"}))
schema = schemathesis.openapi.from_dict(_DOCUMENT_APP.openapi())


def _media_type(response: schemathesis.Response) -> str:
    values = response.headers.get("content-type") or [""]
    return values[0].split(";")[0].strip().lower()


def problem_json_errors(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Every 4xx answer is an RFC 9457 problem document naming its status."""
    if not 400 <= response.status_code < 500:
        return None
    media_type = _media_type(response)
    assert media_type == PROBLEM_JSON, f"{response.status_code} answered as {media_type!r}"
    body = response.json()
    assert isinstance(body, dict) and body.get("status") == response.status_code, body
    assert {"type", "title", "detail"} <= set(body), body
    return None


CHECKS: list[CheckFunction] = [
    not_a_server_error,
    problem_json_errors,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]


def _pick(value: object, choices: Sequence[str]) -> object:
    """A known identifier in place of a generated string, chosen by the string.

    A path parameter is "any string" in the schema (an unknown one is a
    documented 404); mapping most generated strings onto real identifiers
    (deterministically) lets the fuzzer reach the pooling and the catalog
    instead of stopping at 404.
    """
    if not isinstance(value, str) or len(value) > 64:
        return value  # a non-string or over-long value stays the invalid input it was made to be
    return choices[zlib.crc32(value.encode()) % len(choices)]


def _steer(case: schemathesis.Case, kb: KnowledgeBase) -> None:
    if case.path == "/api/evidence/pool/{treatment}":
        # Keep an unknown identifier now and then: 404 is part of the contract.
        choices = [*sorted(kb.pool_choices()), "no-such-treatment"]
        case.path_parameters["treatment"] = _pick(case.path_parameters["treatment"], choices)
        query = case.query or {}
        if query.get("hartung_knapp") in (True, "true") and query.get("method", "glmm") == "glmm":
            # Schema-valid but refused (422): Hartung-Knapp is for the inverse-variance
            # methods (tests/web/test_synthesis_pages.py checks the refusal).
            query["method"] = "reml"
    elif case.path == "/api/treatments/{treatment}":
        choices = [*sorted(kb.treatments), "no-such-treatment"]
        case.path_parameters["treatment"] = _pick(case.path_parameters["treatment"], choices)
    elif case.path in ("/api/evidence/arms", "/api/evidence/certainty") and "treatment" in (
        case.query or {}
    ):
        choices = sorted(kb.pool_choices())
        case.query["treatment"] = _pick(case.query["treatment"], choices)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app under test, with its own SQLite database.

    schemathesis runs its lifespan (knowledge base, store) on the first
    request of each test and ends it when the test ends.
    """
    tmp = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings.from_env(
        env={
            "CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp}/fuzz.db",
            "CALCINOSIS_PUBLIC_URL": "http://testserver",  # the Host schemathesis sends
        },
        insecure_cds=True,
    )
    # CDS calls run unauthenticated here so that the fuzzer reaches the services (the 401s
    # are tested in test_cds.py), and a generated fhirServer is never contacted: every FHIR
    # fetch is answered 404 in process.
    nowhere = httpx.MockTransport(lambda request: httpx.Response(404))
    return create_app(settings_, fhir_transport=nowhere)


def test_fuzzed_document_is_the_served_one(app: FastAPI) -> None:
    served = schemathesis.openapi.from_asgi("/openapi.json", app)
    assert served.raw_schema == schema.raw_schema
    assert len(list(schema.get_all_operations())) == 16  # certainty and changes


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
def test_api_answers_every_request(
    case: schemathesis.Case, app: FastAPI, knowledge: KnowledgeBase
) -> None:
    _steer(case, knowledge)
    case.call_and_validate(app=app, checks=CHECKS)
