"""A real `calcinosis serve` with CDS Hooks authentication on, called from this process.

The same console command the README starts, configured with CALCINOSIS_CDS_ISSUERS
(the specification's example issuer) and CALCINOSIS_PUBLIC_URL; every call goes over
loopback HTTP with a freshly signed ES384 token.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks"
FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
PARTS = json.loads((VECTORS / "jwt-example-parts.json").read_text(encoding="utf-8"))
ADMIN_TOKEN = "live-admin-token-" + "fedcba9876543210" * 2


@pytest.fixture(scope="module")
def base(
    tmp_path_factory: pytest.TempPathFactory, serve: Callable[..., AbstractContextManager[str]]
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cds-live")
    issuers = folder / "issuers.json"
    issuers.write_text(
        json.dumps({"issuers": [{"iss": PARTS["payload"]["iss"], "jwks": PARTS["jwks_public"]}]})
    )

    def env(url: str) -> dict[str, str]:  # tokens are issued for the server's own URL
        return {
            "CALCINOSIS_DATABASE_URL": f"sqlite:///{folder}/db.sqlite",
            "CALCINOSIS_PUBLIC_URL": url,
            "CALCINOSIS_CDS_ISSUERS": str(issuers),
            "CALCINOSIS_ADMIN_TOKEN": ADMIN_TOKEN,
        }

    with serve(env) as served:
        yield served


def signed(audience: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": PARTS["payload"]["iss"],
        "aud": audience,
        "exp": now + 120,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(
        claims,
        jwt.PyJWK(PARTS["jwk_private"]).key,
        algorithm="ES384",
        headers={"kid": "example-kid"},
    )
    return {"Authorization": f"Bearer {token}"}


def post(base: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(base + path, json=body, headers=headers, timeout=10, trust_env=False)


def test_discovery_with_and_without_a_token(base: str) -> None:
    answer = httpx.get(
        base + "/cds-services", headers=signed(base + "/cds-services"), trust_env=False
    )
    assert answer.status_code == 200
    assert len(answer.json()["services"]) == 3
    assert httpx.get(base + "/cds-services", trust_env=False).status_code == 401


def test_patient_view_feedback_and_replay(base: str) -> None:
    path = "/cds-services/calcinosis-patient-view"
    body = json.loads((FHIR / "ssc_adult_warfarin_patient_view.json").read_text())
    headers = signed(base + path)
    answer = post(base, path, body, headers)
    assert answer.status_code == 200
    cards = answer.json()["cards"]
    assert cards[0]["source"]["topic"]["code"] == "first-line"
    assert cards[0]["links"][0]["url"].startswith(base + "/?")
    replay = post(base, path, body, headers)
    assert (replay.status_code, replay.content) == (401, b"")
    feedback = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-21T12:00:00Z",
            }
        ]
    }
    assert (
        post(base, path + "/feedback", feedback, signed(base + path + "/feedback")).status_code
        == 200
    )
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    counts = httpx.get(base + "/api/cds/feedback", headers=admin, trust_env=False).json()[
        "feedback"
    ]
    assert counts == [
        {
            "service": "calcinosis-patient-view",
            "kind": "first-line",
            "outcome": "accepted",
            "override_reason": None,
            "count": 1,
        }
    ]


def test_order_sign_warfarin_for_atrial_fibrillation_stays_silent(base: str) -> None:
    path = "/cds-services/calcinosis-order-sign"
    quiet = json.loads((FHIR / "order_warfarin_for_atrial_fibrillation.json").read_text())
    loud = json.loads((FHIR / "order_tnf_inhibitor_ssc.json").read_text())
    assert post(base, path, quiet, signed(base + path)).json() == {"cards": []}
    assert post(base, path, loud, signed(base + path)).json()["cards"][0]["indicator"] == (
        "critical"
    )
    wrong_audience = post(base, path, loud, signed(base + "/cds-services/other"))
    assert wrong_audience.status_code == 401
