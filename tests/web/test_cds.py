"""CDS Hooks end to end: the official examples, our FHIR fixtures, JWT trust, feedback.

Tokens are signed with the specification's example private key (ES384) for a
trust file listing its public JWKS; the audience is the public URL plus the path.
Missing prefetch is fetched from a fake FHIR server on 127.0.0.1.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import jsonschema_rs
import jwt
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.evidence.knowledge_base import load_knowledge
from calcinosis.integrations.cds import services
from calcinosis.integrations.cds.services import SERVICES, CdsRequest
from calcinosis.integrations.fhir import findings_from_fhir
from calcinosis.settings import Settings, SettingsError
from calcinosis.storage import Store
from calcinosis.web.app import create_app

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks"
FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
PARTS = json.loads((VECTORS / "jwt-example-parts.json").read_text(encoding="utf-8"))
ISSUER = PARTS["payload"]["iss"]
BASE = "http://testserver"
PATIENT_VIEW = "/cds-services/calcinosis-patient-view"
ORDER_SIGN = "/cds-services/calcinosis-order-sign"
ADMIN_TOKEN = "test-admin-token-" + "0123456789abcdef" * 2
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def fixture(name: str, age: int | None = None) -> dict[str, Any]:
    """A FHIR fixture request; ``age`` re-dates the patient relative to today."""
    body: dict[str, Any] = json.loads((FHIR / f"{name}.json").read_text(encoding="utf-8"))
    if age is not None:
        today = date.today()
        born = (
            today.replace(year=today.year - age)
            if not (today.month == 2 and today.day == 29)
            else today.replace(year=today.year - age, day=28)
        )
        body["prefetch"]["patient"]["birthDate"] = born.isoformat()
    return body


def token(audience: str, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    key = jwt.PyJWK(PARTS["jwk_private"]).key
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "example-kid"})


def bearer(audience: str, **changes: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(audience, **changes)}"}


def trusted_client(tmp_path: Path, fhir_servers: list[str] | None = None) -> TestClient:
    """The app trusting the example issuer (which may name ``fhir_servers``)."""
    issuers = tmp_path / "issuers.json"
    entry = {"iss": ISSUER, "jwks": PARTS["jwks_public"], "fhir_servers": fhir_servers or []}
    issuers.write_text(json.dumps({"issuers": [entry]}))
    settings = Settings.from_env(
        env={
            "CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/cds.db",
            "CALCINOSIS_PUBLIC_URL": BASE,
            "CALCINOSIS_CDS_ISSUERS": str(issuers),
            "CALCINOSIS_ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    return TestClient(create_app(settings), base_url=BASE)


@pytest.fixture
def trusted(tmp_path: Path) -> Iterator[TestClient]:
    with trusted_client(tmp_path) as client:
        yield client


def call(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body, headers=bearer(BASE + path))
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------- official examples
@pytest.mark.parametrize("name", ["service-request.json"])
def test_the_sample_request_parses(name: str) -> None:
    request = CdsRequest.model_validate(vector(name))
    assert request.hook == "patient-view" and request.fhirAuthorization


@pytest.mark.parametrize(
    "name",
    [
        "patient-view-context-1.json",
        "patient-view-context-2.json",
        "order-select-r4-context.json",
        "order-sign-r4-context.json",
    ],
)
def test_the_sample_contexts_parse(name: str) -> None:
    data = vector(name)
    context = data.get("context", data)
    request = CdsRequest.model_validate({"hook": "x", "hookInstance": "y", "context": context})
    assert request.context


def test_discovery_has_the_shape_of_the_example(trusted: TestClient) -> None:
    example = vector("discovery-response.json")["services"][0]
    response = trusted.get("/cds-services", headers=bearer(BASE + "/cds-services"))
    services = response.json()["services"]
    assert {s["hook"] for s in services} == {"patient-view", "order-select", "order-sign"}
    for service in services:
        assert {"hook", "id", "title", "description", "prefetch"} <= set(service)
        assert set(example) <= set(service)
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


CARD_KEYS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
}


def assert_card_shape(card: dict[str, Any]) -> None:
    """Our card has the shape of the specification's example cards."""
    examples = [
        *vector("response-cards-1.json")["cards"],
        *vector("response-cards-2.json")["cards"],
    ]
    allowed = CARD_KEYS | {key for example in examples for key in example}
    sample_reason = vector("card-override-reasons.json")["overrideReasons"][0]
    assert set(card) <= allowed
    assert len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"] and card["source"]["url"].startswith(BASE)
    uuid.UUID(card["uuid"])
    for link in card.get("links", []):
        assert link["type"] == "absolute" and link["url"].startswith(BASE)
    for reason in card.get("overrideReasons", []):
        assert set(reason) == set(sample_reason)  # code, system, display


@pytest.mark.parametrize(
    "name",
    ["feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-with-reason.json"],
)
def test_the_sample_feedback_is_accepted_and_counted(trusted: TestClient, name: str) -> None:
    path = PATIENT_VIEW + "/feedback"
    response = trusted.post(path, json=vector(name), headers=bearer(BASE + path))
    assert response.status_code == 200
    counts = trusted.get("/api/cds/feedback", headers=ADMIN).json()["feedback"]
    outcome = vector(name)["feedback"][0]["outcome"]
    assert [row["outcome"] for row in counts] == [outcome]


# -------------------------------------------------------------------- services
def test_patient_view_ssc_adult_on_warfarin(trusted: TestClient) -> None:
    cards = call(trusted, PATIENT_VIEW, fixture("ssc_adult_warfarin_patient_view"))["cards"]
    for card in cards:
        assert_card_shape(card)
    first = cards[0]
    assert first["source"]["topic"]["code"] == "first-line"
    assert "sodium thiosulfate" in first["summary"].lower() and "2C" in first["summary"]
    assert first["indicator"] == "info"
    link = first["links"][0]["url"]
    assert link.startswith(BASE + "/?") and "underlying_disease=systemic-sclerosis" in link
    warning = next(c for c in cards if c["source"]["topic"]["code"] == "avoid-current-medication")
    assert warning["indicator"] == "warning" and "Warfarin" in warning["summary"]
    assert warning["overrideReasons"]
    page = trusted.get(link.removeprefix(BASE))  # the link opens the prefilled assessment
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.find("section", attrs={"data-stance": "first-line"})


def test_patient_view_child_with_jdm_on_minocycline(trusted: TestClient) -> None:
    cards = call(trusted, PATIENT_VIEW, fixture("jdm_child_age_7_minocycline", age=7))["cards"]
    warning = next(c for c in cards if c["source"]["topic"]["code"] == "avoid-current-medication")
    assert "Minocycline" in warning["summary"]
    assert "nine years" in warning["detail"]


def test_patient_view_calciphylaxis_is_critical(trusted: TestClient) -> None:
    cards = call(trusted, PATIENT_VIEW, fixture("calciphylaxis_eskd"))["cards"]
    assert cards[0]["indicator"] == "critical"
    assert "calciphylaxis" in cards[0]["summary"].lower()


def test_no_calcinosis_no_cards(trusted: TestClient) -> None:
    assert call(trusted, PATIENT_VIEW, fixture("no_calcinosis")) == {"cards": []}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("order_warfarin_for_atrial_fibrillation", None),  # another legitimate use: silent
        ("order_warfarin_for_calcinosis", ("warning", "Warfarin")),
        ("order_tnf_inhibitor_ssc", ("critical", "Infliximab")),
        ("order_diltiazem", ("critical", "Diltiazem")),  # conduction disease: avoided
    ],
)
def test_order_sign(trusted: TestClient, name: str, expected: tuple[str, str] | None) -> None:
    cards = call(trusted, ORDER_SIGN, fixture(name))["cards"]
    if expected is None:
        assert cards == []
        return
    indicator, drug = expected
    assert [c["indicator"] for c in cards] == [indicator]
    assert drug in cards[0]["summary"]
    assert cards[0]["overrideReasons"]
    assert_card_shape(cards[0])


def test_order_select_looks_at_the_selected_orders(trusted: TestClient) -> None:
    body = fixture("order_tnf_inhibitor_ssc")
    body["hook"] = "order-select"
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    path = "/cds-services/calcinosis-order-select"
    body["context"]["selections"] = [f"MedicationRequest/{order['id']}"]
    assert call(trusted, path, body)["cards"][0]["indicator"] == "critical"
    body["context"]["selections"] = ["MedicationRequest/something-else"]
    assert call(trusted, path, body)["cards"] == []


def test_minocycline_order_for_a_child(trusted: TestClient) -> None:
    body = fixture("order_diltiazem")
    body["prefetch"]["patient"]["birthDate"] = (
        date.today().replace(year=date.today().year - 6, month=1, day=1).isoformat()
    )
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"text": "Minocycline 50 MG Oral Capsule"}
    cards = call(trusted, ORDER_SIGN, body)["cards"]
    assert [c["indicator"] for c in cards] == ["critical"]
    assert cards[0]["suggestions"][0]["actions"][0]["type"] == "delete"


@pytest.mark.parametrize("value", [None, {"resourceType": "OperationOutcome", "issue": []}])
def test_null_or_operation_outcome_prefetch(trusted: TestClient, value: Any) -> None:
    body = fixture("ssc_adult_warfarin_patient_view")
    body["prefetch"]["medications"] = value
    cards = call(trusted, PATIENT_VIEW, body)["cards"]
    assert cards[0]["source"]["topic"]["code"] == "first-line"


# ------------------------------------------------------- missing prefetch / FHIR
class FakeFhir(BaseHTTPRequestHandler):
    resources: ClassVar[dict[str, Any]] = {}
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        FakeFhir.seen.append((self.path, self.headers.get("Authorization")))
        body = None
        if self.path.startswith("/fhir/Patient/"):
            body = self.resources["Patient"]
        elif self.path.startswith("/fhir/Condition"):
            body = self.resources["Condition"]
        elif self.path.startswith("/fhir/MedicationRequest"):
            body = self.resources["MedicationRequest"]
        elif self.path.startswith("/fhir/Observation"):
            body = self.resources.get("Observation")
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def fhir_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFhir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()


def test_missing_prefetch_is_fetched_from_the_fhir_server(tmp_path: Path, fhir_server: str) -> None:
    source = fixture("ssc_adult_warfarin_patient_view")
    FakeFhir.resources = {
        "Patient": source["prefetch"]["patient"],
        "Condition": source["prefetch"]["conditions"],
        "MedicationRequest": source["prefetch"]["medications"],
    }
    FakeFhir.seen = []
    body = copy.deepcopy(source)
    del body["prefetch"]
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = {
        "access_token": "opaque-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "calcinosis",
    }
    with trusted_client(tmp_path, [fhir_server]) as trusted:
        cards = call(trusted, PATIENT_VIEW, body)["cards"]
    assert cards[0]["source"]["topic"]["code"] == "first-line"
    assert {path.split("?")[0] for path, _ in FakeFhir.seen} == {
        f"/fhir/Patient/{source['context']['patientId']}",
        "/fhir/Condition",
        "/fhir/MedicationRequest",
        "/fhir/Observation",  # optional: this fake has none (404), and the plan is made
    }
    assert all(auth == "Bearer opaque-token" for _, auth in FakeFhir.seen)


def test_missing_prefetch_without_fhir_access_is_412(trusted: TestClient) -> None:
    body = fixture("ssc_adult_warfarin_patient_view")
    del body["prefetch"]["conditions"]
    response = trusted.post(PATIENT_VIEW, json=body, headers=bearer(BASE + PATIENT_VIEW))
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"


# ------------------------------------------------------------------------ trust
@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no header", {}),
        ("expired", "exp"),
        ("wrong audience", "aud"),
        ("unknown issuer", "iss"),
        ("no jti", "jti"),
        ("alg none", "none"),
        ("tampered", "tampered"),
    ],
)
def test_untrusted_calls_get_a_bare_401(trusted: TestClient, case: str, headers: Any) -> None:
    audience = BASE + PATIENT_VIEW
    if headers == "exp":
        headers = bearer(audience, exp=int(time.time()) - 600, iat=int(time.time()) - 900)
    elif headers == "aud":
        headers = bearer(BASE + "/cds-services/another-service")
    elif headers == "iss":
        headers = bearer(audience, iss="https://attacker.example/")
    elif headers == "jti":
        headers = bearer(audience, jti=None)
    elif headers == "none":
        unsigned = jwt.encode(
            {
                "iss": ISSUER,
                "aud": audience,
                "exp": int(time.time()) + 60,
                "iat": int(time.time()),
                "jti": "x",
            },
            None,
            algorithm="none",
        )
        headers = {"Authorization": f"Bearer {unsigned}"}
    elif headers == "tampered":
        good = token(audience).split(".")
        claims = json.loads(jwt.utils.base64url_decode(good[1]))
        claims["iss"] = "https://attacker.example/"
        good[1] = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
        headers = {"Authorization": "Bearer " + ".".join(good)}
    response = trusted.post(PATIENT_VIEW, json=fixture("no_calcinosis"), headers=headers)
    assert response.status_code == 401, case
    assert response.content == b""
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_replayed_token_is_refused(trusted: TestClient) -> None:
    headers = bearer(BASE + PATIENT_VIEW)
    first = trusted.post(PATIENT_VIEW, json=fixture("no_calcinosis"), headers=headers)
    again = trusted.post(PATIENT_VIEW, json=fixture("no_calcinosis"), headers=headers)
    assert (first.status_code, again.status_code) == (200, 401)


def test_without_issuers_every_cds_call_is_refused(client: TestClient) -> None:
    assert client.get("/cds-services").status_code == 401
    assert client.post(PATIENT_VIEW, json=fixture("no_calcinosis")).status_code == 401
    feedback = client.post(PATIENT_VIEW + "/feedback", json=vector("feedback-accepted.json"))
    assert feedback.status_code == 401


def test_insecure_cds_accepts_calls_without_a_token(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/i.db"}, insecure_cds=True
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        assert client.get("/cds-services").status_code == 200


def test_the_feedback_page_counts_by_card_kind(trusted: TestClient) -> None:
    cards = call(trusted, PATIENT_VIEW, fixture("ssc_adult_warfarin_patient_view"))["cards"]
    path = PATIENT_VIEW + "/feedback"
    items = [
        {
            "card": cards[0]["uuid"],
            "outcome": "accepted",
            "outcomeTimestamp": "2026-11-21T10:00:00Z",
        },
        {
            "card": cards[1]["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": {"code": "other-indication"}},
            "outcomeTimestamp": "2026-11-21T10:01:00Z",
        },
    ]
    assert (
        trusted.post(path, json={"feedback": items}, headers=bearer(BASE + path)).status_code == 200
    )
    counts = {
        (r["kind"], r["outcome"], r["override_reason"]): r["count"]
        for r in trusted.get("/api/cds/feedback", headers=ADMIN).json()["feedback"]
    }
    assert counts == {
        ("first-line", "accepted", None): 1,
        ("avoid-current-medication", "overridden", "other-indication"): 1,
    }
    page = BeautifulSoup(trusted.get("/admin/feedback", headers=ADMIN).text, "html.parser")
    rows = page.select("#feedback tbody tr")
    assert len(rows) == 2


def test_every_service_id_is_callable(trusted: TestClient) -> None:
    for service in SERVICES.values():
        body = fixture("no_calcinosis")
        body["hook"] = service.hook
        body["context"].setdefault("draftOrders", {"resourceType": "Bundle", "entry": []})
        assert call(trusted, f"/cds-services/{service.id}", body) == {"cards": []}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (PATIENT_VIEW, "ssc_adult_warfarin_patient_view"),
        (ORDER_SIGN, "order_diltiazem"),
        (ORDER_SIGN, "order_warfarin_for_calcinosis"),
    ],
)
def test_cards_speak_in_references(trusted: TestClient, path: str, name: str) -> None:
    """Cards name sources as references, never a file name or the word "seed"."""
    cards = call(trusted, path, fixture(name))["cards"]
    assert cards
    text = json.dumps(cards)
    assert re.search(r"\bseeds?\b|\d{3}_[0-9a-f]{16}\.txt", text, re.I) is None


# ------------------------------------------------------------------ issue 11
def test_a_durable_claim_on_the_store_is_shared_by_two_app_instances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's claim_jti (added by the storage branch; faked here) is the replay
    check when it exists: a token used on one instance is refused by the other."""
    claimed: dict[tuple[str, str], datetime] = {}

    def claim_jti(_store: Store, issuer: str, jti: str, expires_at: datetime) -> bool:
        if (issuer, jti) in claimed:
            return False
        claimed[(issuer, jti)] = expires_at
        return True

    monkeypatch.setattr(Store, "claim_jti", claim_jti, raising=False)
    headers = bearer(BASE + PATIENT_VIEW)
    body = fixture("no_calcinosis")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with trusted_client(tmp_path / "a") as first, trusted_client(tmp_path / "b") as second:
        assert first.post(PATIENT_VIEW, json=body, headers=headers).status_code == 200
        assert second.post(PATIENT_VIEW, json=body, headers=headers).status_code == 401
    assert len(claimed) == 1
    ((issuer, _jti), expires_at) = next(iter(claimed.items()))
    assert issuer == ISSUER and expires_at.tzinfo is not None


def test_an_unexpected_error_is_a_problem_with_the_security_headers(
    trusted: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded " + "x" * 10_000)

    monkeypatch.setattr("calcinosis.web.routes.cds.respond", explode)
    caplog.set_level(logging.ERROR, logger="calcinosis.web")
    response = trusted.post(
        PATIENT_VIEW, json=fixture("no_calcinosis"), headers=bearer(BASE + PATIENT_VIEW)
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The server could not answer this request."
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options"):
        assert name in response.headers
    assert [r.getMessage() for r in caplog.records] == [
        f"internal error on POST {PATIENT_VIEW}: RecursionError"
    ]


def test_the_feedback_views_are_refused_without_a_configured_admin_token(
    client: TestClient,
) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}):
        api = client.get("/api/cds/feedback", headers=headers)
        assert api.status_code == 403
        assert api.headers["content-type"] == "application/problem+json"
        assert client.get("/admin/feedback", headers=headers).status_code == 403


def test_the_feedback_views_need_the_right_admin_token(trusted: TestClient) -> None:
    wrong = ADMIN_TOKEN[:-1] + ("x" if ADMIN_TOKEN[-1] != "x" else "y")
    for headers in (
        {},
        {"Authorization": f"Bearer {wrong}"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
    ):
        api = trusted.get("/api/cds/feedback", headers=headers)
        assert (api.status_code, api.headers["www-authenticate"]) == (401, "Bearer")
        page = trusted.get("/admin/feedback", headers=headers)
        assert page.status_code == 401 and "admin credential" in page.text
    api = trusted.get("/api/cds/feedback", headers=ADMIN)
    assert (api.status_code, api.headers["cache-control"]) == (200, "no-store")
    assert (
        trusted.get(
            "/admin/feedback", headers={"Authorization": f"bearer {ADMIN_TOKEN}"}
        ).status_code
        == 200
    )


def test_insecure_cds_fetches_only_from_loopback_fhir_servers(tmp_path: Path) -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(404)

    settings = Settings.from_env(
        env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/i.db"}, insecure_cds=True
    )
    body = fixture("no_calcinosis")
    del body["prefetch"]
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer"}
    app = create_app(settings, fhir_transport=httpx.MockTransport(answer))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        for server in (
            "https://ehr.example.org/fhir",
            "http://10.0.0.1/fhir",
            "http://u:p@127.0.0.1/",
        ):
            response = client.post(PATIENT_VIEW, json=body | {"fhirServer": server})
            assert response.status_code == 412
        assert asked == []
        response = client.post(PATIENT_VIEW, json=body | {"fhirServer": "http://127.0.0.1:9/fhir"})
        assert response.status_code == 412  # the fake answers 404
        assert asked == [
            f"http://127.0.0.1:9/fhir/Patient/{fixture('no_calcinosis')['context']['patientId']}"
        ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CALCINOSIS_CDS_MAX_BODY_BYTES", "lots"),
        ("CALCINOSIS_CDS_MAX_BODY_BYTES", "10"),
        ("CALCINOSIS_CDS_FETCH_TIMEOUT", "nan"),
        ("CALCINOSIS_CDS_FETCH_TIMEOUT", "1000"),
        ("CALCINOSIS_CDS_MAX_JSON_DEPTH", "5000"),
        ("CALCINOSIS_CDS_TOKEN_MAX_LIFETIME", "86400"),
        ("CALCINOSIS_CDS_JWKS_MAX_BACKOFF", "1"),
        ("CALCINOSIS_ADMIN_TOKEN", "short"),
        ("CALCINOSIS_ADMIN_TOKEN", "x" * 31 + " with a space"),
    ],
)
def test_unsafe_limits_are_refused_at_start_up(tmp_path: Path, variable: str, value: str) -> None:
    env = {"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/s.db", variable: value}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env=env)
    assert str(caught.value).startswith(f"{variable}: ") and "\n" not in str(caught.value)
    if variable == "CALCINOSIS_ADMIN_TOKEN":  # a secret, even a bad one, is never echoed
        assert value not in str(caught.value)


def test_limits_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {
        "CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
        "CALCINOSIS_CDS_MAX_ENTRIES": "50",
        "CALCINOSIS_CDS_FETCH_TIMEOUT": "2.5",
        "CALCINOSIS_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    settings = Settings.from_env(env=env)
    assert (settings.cds.max_entries, settings.cds.fetch_timeout) == (50, 2.5)
    assert settings.cds.max_body_bytes == 5_000_000  # the defaults for the rest
    assert settings.admin_token is not None and ADMIN_TOKEN not in repr(settings)


def _observation(code: str, value: float, unit: str, when: str, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{code}-{when}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/ssc-adult-1"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    } | more


def test_body_weight_and_height_come_from_observations_converted(
    tmp_path: Path, fhir_server: str
) -> None:
    """LOINC 29463-7 in [lb_av] and 8302-2 in [in_i], the latest valid one of each, reach
    the profile in kg and cm; an impossible value and an unfinished one are not used."""
    source = fixture("ssc_adult_warfarin_patient_view")
    observations = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": _observation("29463-7", 150, "[lb_av]", "2026-01-02")},
            {"resource": _observation("29463-7", 61, "kg", "2025-05-01")},  # older
            {"resource": _observation("29463-7", 9000, "kg", "2026-03-01")},  # impossible
            {"resource": _observation("8302-2", 64, "[in_i]", "2026-01-02")},
            {"resource": _observation("8302-2", 170, "cm", "2026-02-01", status="preliminary")},
        ],
    }
    FakeFhir.resources = {
        "Patient": source["prefetch"]["patient"],
        "Condition": source["prefetch"]["conditions"],
        "MedicationRequest": source["prefetch"]["medications"],
        "Observation": observations,
    }
    FakeFhir.seen = []
    body = copy.deepcopy(source)
    del body["prefetch"]
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = {"access_token": "opaque-token", "token_type": "Bearer"}
    with trusted_client(tmp_path, [fhir_server]) as trusted:
        cards = call(trusted, PATIENT_VIEW, body)["cards"]
    link = next(link["url"] for card in cards for link in card.get("links", []))
    query = dict(parse_qsl(urlsplit(link).query))
    assert query["weight_kg"] == "68"  # 150 lb x 0.45359237 = 68.04 kg, to 0.1 kg
    assert query["height_cm"] == "162.6"  # 64 in x 2.54 = 162.56 cm
    found = findings_from_fhir(
        source["prefetch"]["patient"],
        source["prefetch"]["conditions"],
        source["prefetch"]["medications"],
        observations=observations,
    )
    assert found.profile["weight_kg"] == 68.0 and found.profile["height_cm"] == 162.6
    assert any("out of range" in note for note in found.notes)
    assert any("preliminary" in note for note in found.notes)
    # sent as prefetch, the same Observations are read without a FHIR server
    body = copy.deepcopy(source)
    body["prefetch"]["observations"] = observations
    with trusted_client(tmp_path, []) as trusted:
        cards = call(trusted, PATIENT_VIEW, body)["cards"]
    link = next(link["url"] for card in cards for link in card.get("links", []))
    assert "weight_kg=68" in link


@pytest.mark.parametrize(
    ("hook", "name"),
    [
        ("patient-view", "ssc_adult_warfarin_patient_view"),
        ("patient-view", "calciphylaxis_eskd"),
        ("order-sign", "order_tnf_inhibitor_ssc"),
        ("order-sign", "order_warfarin_for_calcinosis"),
    ],
)
def test_the_cards_and_the_discovery_obey_the_published_schema(
    trusted: TestClient, hook: str, name: str
) -> None:
    spec = trusted.get("/openapi.json").json()

    def check(route: str, method: str, document: Any) -> list[str]:
        ok = spec["paths"][route][method]["responses"]["200"]["content"]["application/json"]
        schema = {**ok["schema"], "components": spec["components"]}
        return [str(error) for error in jsonschema_rs.validator_for(schema).iter_errors(document)]

    path = f"/cds-services/calcinosis-{hook}"
    cards = call(trusted, path, fixture(name))
    assert cards["cards"] and check("/cds-services/{service_id}", "post", cards) == []
    cards["cards"][0]["links"] = [{"label": "x", "url": "y", "type": "relative"}]
    assert check("/cds-services/{service_id}", "post", cards) != []  # the check can fail
    found = trusted.get("/cds-services", headers=bearer(BASE + "/cds-services")).json()
    assert check("/cds-services", "get", found) == []


def test_the_fhir_reading_of_a_prefetch_is_kept_per_prefetch_and_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same prefetch is read from FHIR once a day; what is handed out is a copy, so
    a caller that changes it changes nothing kept."""
    kb = load_knowledge()
    calls: list[object] = []
    real = services.findings_from_fhir

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["today"])
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "findings_from_fhir", counting)
    prefetch = fixture("ssc_adult_warfarin_patient_view")["prefetch"] | {
        "marker": str(uuid.uuid4())
    }
    prefetch["patient"] = prefetch["patient"] | {"id": str(uuid.uuid4())}  # not seen before
    first = services._findings(kb, prefetch)
    first.profile["age_years"] = -1
    second = services._findings(kb, copy.deepcopy(prefetch))
    assert len(calls) == 1 and second.profile["age_years"] != -1
    assert second == real(
        prefetch["patient"],
        prefetch["conditions"],
        prefetch["medications"],
        observations=prefetch.get("observations"),
        kb=kb,
    )
    prefetch["patient"]["gender"] = "male"
    services._findings(kb, prefetch)
    assert len(calls) == 2


def test_patient_view_cards_are_kept_per_prefetch_day_base_and_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cards of a prefetch are worked out once: never another prefetch's, another
    day's, another base's or another public URL's; each call gets its own uuids and its
    plan for the audit; what a call gets equals what working it out gives."""
    kb = load_knowledge()
    made: list[object] = []
    real = services._patient_view

    def counting(ctx: services.Context, found: Any) -> Any:
        made.append(found)
        return real(ctx, found)

    monkeypatch.setattr(services, "_patient_view", counting)
    service = SERVICES["calcinosis-patient-view"]
    limits = services.InputLimits()
    body = fixture("ssc_adult_warfarin_patient_view")
    body["prefetch"]["patient"] = body["prefetch"]["patient"] | {
        "name": [{"text": str(uuid.uuid4())}]
    }

    def answer(request: dict[str, Any], url: str = BASE, base: Any = kb) -> tuple[Any, list[Any]]:
        plans: list[Any] = []
        found = services.respond(
            service, CdsRequest.model_validate(request), {}, base, url, limits=limits, plans=plans
        )
        return found, plans

    def without_uuids(response: Any) -> list[dict[str, Any]]:
        return [card.model_dump(exclude={"uuid"}) for card in response.cards]

    first, first_plans = answer(body)
    second, second_plans = answer(copy.deepcopy(body))
    assert len(made) == 1 and len(first_plans) == len(second_plans) == 1  # audited each time
    assert first_plans[0] is second_plans[0]
    assert without_uuids(first) == without_uuids(second) and len(first.cards) == 2
    uuids = {card.uuid for card in (*first.cards, *second.cards)}
    assert len(uuids) == 4  # no uuid is handed out twice
    assert all(uuid.UUID(u).version == 4 and str(uuid.UUID(u)) == u for u in uuids)
    expected = real(services.Context(kb, BASE), services._findings(kb, body["prefetch"]))
    assert without_uuids(first) == [card.model_dump(exclude={"uuid"}) for card in expected]

    older = copy.deepcopy(body)  # another prefetch: another patient's age, other cards
    older["prefetch"]["patient"]["birthDate"] = "1940-01-01"
    assert without_uuids(answer(older)[0]) != without_uuids(first) and len(made) == 2
    elsewhere = answer(body, url="https://cds.example.org")[0]  # another public URL
    assert len(made) == 3 and "https://cds.example.org/about" in elsewhere.model_dump_json()
    other = dataclasses.replace(kb, version="99.0.0+other")  # another knowledge base
    assert "99.0.0+other" in answer(body, base=other)[0].model_dump_json() and len(made) == 4

    class Tomorrow(date):
        @classmethod
        def today(cls) -> Tomorrow:
            later = date.fromordinal(date.today().toordinal() + 1)
            return cls(later.year, later.month, later.day)

    monkeypatch.setattr(services, "date", Tomorrow)  # another day: read again (ages change)
    answer(body)
    assert len(made) == 5


def test_every_patient_view_call_is_audited_when_its_cards_are_kept(trusted: TestClient) -> None:
    store = trusted.app.state.store  # type: ignore[attr-defined]
    before = store.plan_count()
    answers = [
        call(trusted, PATIENT_VIEW, fixture("ssc_adult_warfarin_patient_view")) for _ in range(3)
    ]
    assert store.plan_count() == before + 3
    issued = sum(
        c["count"] for c in store.card_counts() if c["service"] == "calcinosis-patient-view"
    )
    uuids = {card["uuid"] for answer in answers for card in answer["cards"]}
    assert issued >= 6 and len(uuids) == 6
