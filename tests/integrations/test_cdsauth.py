"""Trusting CDS clients: the JWT checks, with the CDS Hooks specification's own example.

The vectors (``tests/fixtures/cds-hooks``, the specification's own examples): the spec's ES384 token
(its ``exp`` lies in 2015), the public JWKS and the example private JWK that
signed it; fresh tokens are signed with that private key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from calcinosis.integrations.cds.auth import (
    ALLOWED_ALGORITHMS,
    AuthError,
    ReplayCache,
    TokenVerifier,
    TrustConfig,
    VerifiedClaims,
    fetch_jwks_httpx,
    load_trust,
    loopback_fhir_server_url,
)
from calcinosis.settings import SettingsError

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks"
PARTS: dict[str, Any] = json.loads((VECTORS / "jwt-example-parts.json").read_text("utf-8"))
EXAMPLE_TOKEN = (VECTORS / "jwt-example-token.txt").read_text("utf-8").strip()

ISS: str = PARTS["payload"]["iss"]
AUD: str = PARTS["payload"]["aud"]
KID: str = PARTS["header"]["kid"]
JKU: str = PARTS["header"]["jku"]
PUBLIC_JWKS: dict[str, Any] = PARTS["jwks_public"]
EXAMPLE_KEY = ECAlgorithm.from_jwk(json.dumps(PARTS["jwk_private"]))
assert isinstance(EXAMPLE_KEY, ec.EllipticCurvePrivateKey)

RSA_ISS = "https://rsa-ehr.example.org/"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
P256_KEY = ec.generate_private_key(ec.SECP256R1())
JKU_ISS = "https://jku-ehr.example.org/"
JKU_URL = "https://jku-ehr.example.org/.well-known/jwks.json"

NOW = 1_700_000_000.0
DROP = object()  # a claim value meaning "leave the claim out"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(**overrides: object) -> dict[str, Any]:
    """Live claims for the example issuer, with a fresh jti."""
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "jti": str(uuid.uuid4()),
        "tenant": PARTS["payload"]["tenant"],
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not DROP}


def sign(
    payload: dict[str, Any] | None = None,
    key: Any = EXAMPLE_KEY,
    alg: str = "ES384",
    headers: dict[str, Any] | None = None,
) -> str:
    header = {"kid": KID} if headers is None else headers
    return jwt.encode(claims() if payload is None else payload, key, algorithm=alg, headers=header)


def hand_made(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built without PyJWT (which refuses to produce these)."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    if secret is None:
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    mac = hmac.new(secret, signing_input.encode(), digest[header["alg"]]).digest()
    return f"{signing_input}.{b64(mac)}"


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def write_trust(directory: Path, issuers: list[dict[str, Any]]) -> Path:
    path = directory / "issuers.json"
    path.write_text(json.dumps({"issuers": issuers}), "utf-8")
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def trust(tmp_path: Path) -> TrustConfig:
    """The spec's example issuer (inline JWKS) and an issuer with an RSA and a P-256 key."""
    rsa_jwks = {"keys": [public_jwk(RSA_KEY, "rsa-1"), public_jwk(P256_KEY, "p256-1")]}
    return load_trust(
        write_trust(
            tmp_path,
            [{"iss": ISS, "jwks": PUBLIC_JWKS}, {"iss": RSA_ISS, "jwks": rsa_jwks}],
        )
    )


@pytest.fixture
def verifier(trust: TrustConfig, clock: Clock) -> TokenVerifier:
    return TokenVerifier(trust, clock=clock, fetch_jwks=refuse_to_fetch)


def refuse_to_fetch(url: str) -> dict[str, Any]:
    raise AssertionError(f"an inline-JWKS issuer must never fetch ({url})")


def refused(verifier: TokenVerifier, authorization: str | None, audience: str = AUD) -> str:
    with pytest.raises(AuthError) as caught:
        verifier.verify(authorization, audience)
    return caught.value.reason


# --- the specification's example ----------------------------------------------------


def test_example_vector_is_consistent() -> None:
    assert jwt.get_unverified_header(EXAMPLE_TOKEN) == PARTS["header"]
    payload = jwt.decode(EXAMPLE_TOKEN, options={"verify_signature": False})
    assert payload == PARTS["payload"]
    assert PARTS["header"]["alg"] in ALLOWED_ALGORITHMS


class FakeFetcher:
    """Counts calls; answers with ``jwks`` (or raises ``error``)."""

    def __init__(self, jwks: dict[str, Any] | None = None) -> None:
        self.jwks: Any = PUBLIC_JWKS if jwks is None else jwks
        self.error: Exception | None = None
        self.urls: list[str] = []

    def __call__(self, url: str) -> dict[str, Any]:
        self.urls.append(url)
        if self.error is not None:
            raise self.error
        result: dict[str, Any] = self.jwks
        return result


@pytest.mark.parametrize("source", ["inline-jwks", "configured-jku"])
def test_example_token_verifies_with_expiry_check_off(tmp_path: Path, source: str) -> None:
    entry = (
        {"iss": ISS, "jwks": PUBLIC_JWKS} if source == "inline-jwks" else {"iss": ISS, "jku": JKU}
    )
    fetcher = FakeFetcher()
    verifier = TokenVerifier(
        load_trust(write_trust(tmp_path, [entry])), fetch_jwks=fetcher, verify_exp=False
    )
    assert verifier.verify(f"Bearer {EXAMPLE_TOKEN}", AUD).claims == PARTS["payload"]
    assert fetcher.urls == ([] if source == "inline-jwks" else [JKU])


def test_example_token_is_expired_with_expiry_check_on(trust: TrustConfig) -> None:
    assert refused(TokenVerifier(trust), f"Bearer {EXAMPLE_TOKEN}") == "expired"


def test_example_token_refused_for_another_audience(trust: TrustConfig) -> None:
    verifier = TokenVerifier(trust, verify_exp=False)
    audience = "https://cds.example.org/cds-services/other-service"
    assert refused(verifier, f"Bearer {EXAMPLE_TOKEN}", audience) == "bad audience"


# --- fresh tokens accepted ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "headers", "scheme"),
    [
        pytest.param(claims(), {"kid": KID}, "Bearer", id="es384-with-kid"),
        pytest.param(claims(), None, "Bearer", id="no-kid-single-key-jwks"),
        pytest.param(
            claims(), {"kid": KID, "jku": "https://x.example/"}, "Bearer", id="jku-ignored-inline"
        ),
        pytest.param(
            claims(aud=[AUD, "https://other.example/"]), {"kid": KID}, "Bearer", id="aud-list"
        ),
        pytest.param(claims(exp=int(NOW) - 20), {"kid": KID}, "Bearer", id="expired-within-leeway"),
        pytest.param(
            claims(iat=int(NOW) + 20), {"kid": KID}, "Bearer", id="iat-ahead-within-leeway"
        ),
        pytest.param(claims(nbf=int(NOW) - 1), {"kid": KID}, "Bearer", id="nbf-reached"),
        pytest.param(claims(exp=NOW + 60.5), {"kid": KID}, "Bearer", id="float-exp"),
        pytest.param(claims(), {"kid": KID}, "bearer", id="lower-case-scheme"),
        pytest.param(claims(), {"kid": KID}, "BEARER", id="upper-case-scheme"),
    ],
)
def test_fresh_token_accepted(
    verifier: TokenVerifier, payload: dict[str, Any], headers: dict[str, Any] | None, scheme: str
) -> None:
    token = sign(payload, headers={} if headers is None else headers)
    assert verifier.verify(f"{scheme} {token}", AUD).claims == payload


@pytest.mark.parametrize(
    ("alg", "key", "kid"),
    [
        pytest.param("RS384", RSA_KEY, "rsa-1", id="RS384"),
        pytest.param("RS256", RSA_KEY, "rsa-1", id="RS256"),
        pytest.param("RS512", RSA_KEY, "rsa-1", id="RS512"),
        pytest.param("PS384", RSA_KEY, "rsa-1", id="PS384"),
        pytest.param("ES256", P256_KEY, "p256-1", id="ES256"),
    ],
)
def test_other_asymmetric_algorithms_accepted(
    verifier: TokenVerifier, alg: str, key: Any, kid: str
) -> None:
    payload = claims(iss=RSA_ISS)
    token = sign(payload, key=key, alg=alg, headers={"kid": kid})
    assert verifier.verify(f"Bearer {token}", AUD).claims == payload


# --- refused ------------------------------------------------------------------------


def tampered_payload() -> str:
    header, _, signature = sign().split(".")
    return f"{header}.{b64json(claims())}.{signature}"  # another jti, same signature


def tampered_signature() -> str:
    header, payload, signature = sign().split(".")
    raw = bytearray(unb64(signature))
    raw[5] ^= 0x01
    return f"{header}.{payload}.{b64(bytes(raw))}"


def public_key_pem() -> bytes:
    key = ECAlgorithm.from_jwk(json.dumps(PUBLIC_JWKS["keys"][0]))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hmac_token(alg: str, secret: bytes) -> str:
    return hand_made({"alg": alg, "typ": "JWT", "kid": KID}, claims(), secret)


def garbage_signature(header: dict[str, Any], payload: dict[str, Any] | None = None) -> str:
    return f"{b64json(header)}.{b64json(claims() if payload is None else payload)}.{b64(b'x' * 96)}"


REFUSED: list[Any] = [
    pytest.param(tampered_payload, "bad signature", id="tampered-payload"),
    pytest.param(tampered_signature, "bad signature", id="tampered-signature"),
    pytest.param(lambda: sign(claims(exp=int(NOW) - 31)), "expired", id="expired"),
    pytest.param(lambda: sign(claims(iat=int(NOW) + 31)), "iat in the future", id="iat-future"),
    pytest.param(lambda: sign(claims(nbf=int(NOW) + 120)), "not yet valid", id="nbf-future"),
    pytest.param(lambda: sign(claims(exp=DROP)), "missing exp", id="missing-exp"),
    pytest.param(lambda: sign(claims(iat=DROP)), "missing iat", id="missing-iat"),
    pytest.param(lambda: sign(claims(jti=DROP)), "missing jti", id="missing-jti"),
    pytest.param(lambda: sign(claims(aud=DROP)), "missing aud", id="missing-aud"),
    pytest.param(lambda: sign(claims(iss=DROP)), "unknown issuer", id="missing-iss"),
    pytest.param(lambda: sign(claims(jti="")), "bad jti", id="empty-jti"),
    pytest.param(lambda: sign(claims(jti=42)), "bad jti", id="numeric-jti"),
    pytest.param(lambda: sign(claims(exp="soon")), "bad exp", id="string-exp"),
    pytest.param(lambda: sign(claims(exp=True)), "bad exp", id="boolean-exp"),
    pytest.param(lambda: sign(claims(iat="now")), "bad iat", id="string-iat"),
    pytest.param(lambda: sign(claims(exp=float("nan"))), "bad exp", id="nan-exp"),
    pytest.param(lambda: sign(claims(exp=float("inf"))), "bad exp", id="infinite-exp"),
    pytest.param(lambda: sign(claims(iat=float("nan"))), "bad iat", id="nan-iat"),
    pytest.param(lambda: sign(claims(exp=1e308)), "bad exp", id="exp-1e308"),
    pytest.param(lambda: sign(claims(exp=-1)), "bad exp", id="negative-exp"),
    pytest.param(lambda: sign(claims(iat=-300, exp=0)), "bad iat", id="negative-iat"),
    pytest.param(lambda: sign(claims(exp=None)), "bad exp", id="null-exp"),
    pytest.param(
        lambda: sign(claims(exp=int(NOW) + 100 * 365 * 86_400)),
        "lifetime too long",
        id="exp-100-years-ahead",
    ),
    pytest.param(lambda: sign(claims(iat=1)), "lifetime too long", id="iat-1"),
    pytest.param(
        lambda: sign(claims(iat=int(NOW) - 1, exp=int(NOW) + 300)),
        "lifetime too long",
        id="lifetime-301-s",
    ),
    pytest.param(
        lambda: sign(claims(iat=int(NOW) + 31, exp=int(NOW) + 331)),
        "exp too far ahead",
        id="exp-beyond-lifetime-and-skew",
    ),
    pytest.param(lambda: sign(claims(jti="j" * 256)), "bad jti", id="jti-too-long"),
    pytest.param(lambda: sign(claims(aud={"url": AUD})), "bad audience", id="object-aud"),
    pytest.param(lambda: sign(claims(aud="")), "missing aud", id="empty-aud"),
    pytest.param(lambda: sign(claims(aud=[])), "missing aud", id="empty-aud-list"),
    pytest.param(lambda: sign(claims(aud=[1, AUD])), "bad audience", id="aud-list-with-a-number"),
    pytest.param(lambda: sign(claims(sub=5)), "invalid token", id="numeric-sub"),
    pytest.param(
        lambda: garbage_signature({"alg": "ES384", "kid": KID}, claims(iss=[ISS])),
        "unknown issuer",
        id="list-iss",
    ),
    pytest.param(
        lambda: sign(claims(aud="https://cds.example.org/")), "bad audience", id="wrong-aud"
    ),
    pytest.param(lambda: sign(claims(aud=AUD + "/")), "bad audience", id="aud-trailing-slash"),
    pytest.param(
        lambda: sign(claims(aud=["https://a.example/"])), "bad audience", id="aud-list-without"
    ),
    pytest.param(
        lambda: sign(claims(iss="https://evil.example/")), "unknown issuer", id="unknown-iss"
    ),
    pytest.param(lambda: sign(claims(iss=ISS.rstrip("/"))), "unknown issuer", id="iss-not-exact"),
    pytest.param(lambda: sign(headers={"kid": "rotated-away"}), "unknown kid", id="unknown-kid"),
    pytest.param(
        lambda: garbage_signature({"alg": "ES384", "kid": 7}), "malformed", id="numeric-kid"
    ),
    pytest.param(
        lambda: hand_made({"alg": "none", "typ": "JWT", "kid": KID}, claims(), None),
        "algorithm not allowed",
        id="alg-none",
    ),
    pytest.param(
        lambda: hand_made({"alg": "None", "kid": KID}, claims(), None),
        "algorithm not allowed",
        id="alg-None",
    ),
    pytest.param(
        lambda: hand_made({"typ": "JWT", "kid": KID}, claims(), None),
        "algorithm not allowed",
        id="no-alg",
    ),
    pytest.param(
        lambda: hmac_token("HS256", public_key_pem()),
        "algorithm not allowed",
        id="HS256-public-key",
    ),
    pytest.param(
        lambda: hmac_token("HS256", json.dumps(PUBLIC_JWKS["keys"][0]).encode()),
        "algorithm not allowed",
        id="HS256-public-jwk",
    ),
    pytest.param(
        lambda: hmac_token("HS256", b"s" * 64), "algorithm not allowed", id="HS256-secret"
    ),
    pytest.param(
        lambda: hmac_token("HS384", b"s" * 64), "algorithm not allowed", id="HS384-secret"
    ),
    pytest.param(
        lambda: hmac_token("HS512", b"s" * 64), "algorithm not allowed", id="HS512-secret"
    ),
    pytest.param(
        lambda: garbage_signature({"alg": "EdDSA", "kid": KID}), "algorithm not allowed", id="EdDSA"
    ),
    pytest.param(
        lambda: sign(key=RSA_KEY, alg="RS384", headers={"kid": KID}),
        "key type mismatch",
        id="RS384-against-EC-key",
    ),
    pytest.param(
        lambda: sign(key=RSA_KEY, alg="RS384", headers={}),
        "key type mismatch",
        id="RS384-no-kid-EC-only",
    ),
    pytest.param(
        lambda: sign(claims(iss=RSA_ISS), key=EXAMPLE_KEY, alg="ES384", headers={"kid": "rsa-1"}),
        "key type mismatch",
        id="ES384-against-RSA-key",
    ),
    pytest.param(
        lambda: garbage_signature({"alg": "ES256", "kid": KID}),
        "key algorithm mismatch",
        id="ES256-against-ES384-key",
    ),
    pytest.param(
        lambda: garbage_signature({"alg": "ES384", "kid": "p256-1"}, claims(iss=RSA_ISS)),
        "key algorithm mismatch",
        id="ES384-against-P256-key",
    ),
    pytest.param(
        lambda: sign(claims(iss=RSA_ISS), key=RSA_KEY, alg="RS384", headers={}),
        "kid required",
        id="no-kid-two-key-jwks",
    ),
    pytest.param(
        lambda: garbage_signature({"alg": "ES384", "kid": KID, "crit": ["exp"]}),
        "malformed",
        id="crit-unknown-extension",
    ),
    pytest.param(
        lambda: garbage_signature({"alg": "ES384", "kid": KID, "crit": ["b64"], "b64": True}),
        "unsupported critical header",
        id="crit-b64",
    ),
    pytest.param(
        lambda: garbage_signature({"alg": "ES384", "kid": KID, "crit": ["b64"], "b64": False}),
        "malformed",
        id="crit-unencoded-payload",
    ),
    pytest.param(lambda: "garbage", "malformed", id="garbage"),
    pytest.param(lambda: ".".join(sign().split(".")[:2]), "malformed", id="two-parts"),
    pytest.param(lambda: sign() + ".xyz", "malformed", id="four-parts"),
    pytest.param(lambda: "..", "malformed", id="empty-parts"),
    pytest.param(
        lambda: f"{b64(b'not json')}.{b64json(claims())}.{b64(b'sig')}",
        "malformed",
        id="non-json-header",
    ),
    pytest.param(
        lambda: f"{b64json(['ES384'])}.{b64json(claims())}.{b64(b'sig')}",
        "malformed",
        id="array-header",
    ),
    pytest.param(
        lambda: f"{b64json({'alg': 'ES384', 'kid': KID})}.{b64(b'{not json')}.{b64(b'sig')}",
        "malformed",
        id="non-json-payload",
    ),
    pytest.param(
        lambda: f"{b64json({'alg': 'ES384', 'kid': KID})}.{b64json([1, 2])}.{b64(b'sig')}",
        "malformed",
        id="array-payload",
    ),
    pytest.param(
        lambda: f"{b64(b'[' * 9000)}.{b64json(claims())}.{b64(b'sig')}",
        "malformed",
        id="deeply-nested-header",
    ),
    pytest.param(lambda: "a.b.c" + "d" * 20_000, "token too large", id="too-large"),
]


@pytest.mark.parametrize(("make_token", "reason"), REFUSED)
def test_token_refused(verifier: TokenVerifier, make_token: Callable[[], str], reason: str) -> None:
    assert refused(verifier, f"Bearer {make_token()}") == reason


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        pytest.param(None, "missing authorization", id="missing"),
        pytest.param("", "not a bearer token", id="empty"),
        pytest.param("Bearer", "not a bearer token", id="scheme-only"),
        pytest.param("Bearer ", "not a bearer token", id="scheme-and-space"),
        pytest.param("Basic dXNlcjpwYXNz", "not a bearer token", id="basic"),
        pytest.param("Token {token}", "not a bearer token", id="other-scheme"),
        pytest.param("{token}", "not a bearer token", id="no-scheme"),
        pytest.param("Bearer {token} extra", "not a bearer token", id="trailing-words"),
        pytest.param("Bearer: {token}", "not a bearer token", id="colon"),
    ],
)
def test_authorization_header_refused(
    verifier: TokenVerifier, authorization: str | None, reason: str
) -> None:
    header = None if authorization is None else authorization.format(token=sign())
    assert refused(verifier, header) == reason


def test_replayed_jti_refused_on_second_use(verifier: TokenVerifier) -> None:
    token = sign()
    verifier.verify(f"Bearer {token}", AUD)
    assert refused(verifier, f"Bearer {token}") == "replayed"
    again = sign(claims(jti=jwt.decode(token, options={"verify_signature": False})["jti"]))
    assert refused(verifier, f"Bearer {again}") == "replayed"


def test_refused_token_does_not_use_up_its_jti(verifier: TokenVerifier) -> None:
    payload = claims()
    assert refused(verifier, f"Bearer {sign(payload)}", "https://wrong.example/") == "bad audience"
    header, _, signature = sign(claims()).split(".")
    forged = f"{header}.{b64json(payload)}.{signature}"
    assert refused(verifier, f"Bearer {forged}") == "bad signature"
    assert verifier.verify(f"Bearer {sign(payload)}", AUD).claims == payload


def test_a_key_is_loaded_once_and_its_checks_run_on_every_call(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public key object is kept (not the verdict): a second token with the same key
    is not parsed into a key again, and one whose header does not fit the key is still
    refused."""
    loaded: list[str] = []
    real = jwt.PyJWK

    def counting(data: dict[str, Any], algorithm: str | None = None) -> jwt.PyJWK:
        loaded.append(str(algorithm))
        return real(data, algorithm=algorithm)

    monkeypatch.setattr(jwt, "PyJWK", counting)
    for _ in range(3):
        verifier.verify(f"Bearer {sign()}", AUD)
    assert loaded == ["ES384"]
    forged = garbage_signature({"alg": "ES256", "kid": KID})
    assert refused(verifier, f"Bearer {forged}") == "key algorithm mismatch"
    assert refused(verifier, f"Bearer {tampered_signature()}") == "bad signature"
    assert loaded == ["ES384"]


def test_same_jti_from_two_issuers_is_not_a_replay(verifier: TokenVerifier) -> None:
    """A jti is one issuer's: the same jti from another issuer is accepted, and each
    issuer's token is still refused the second time it is sent."""
    jti = str(uuid.uuid4())
    first = sign(claims(jti=jti))
    assert verifier.verify(f"Bearer {first}", AUD).iss == ISS
    other = sign(claims(iss=RSA_ISS, jti=jti), key=RSA_KEY, alg="RS384", headers={"kid": "rsa-1"})
    assert verifier.verify(f"Bearer {other}", AUD).iss == RSA_ISS
    assert refused(verifier, f"Bearer {first}") == "replayed"
    assert refused(verifier, f"Bearer {other}") == "replayed"


def test_replay_remembered_until_exp_plus_leeway(verifier: TokenVerifier, clock: Clock) -> None:
    token = sign(claims(exp=int(NOW) + 60))
    verifier.verify(f"Bearer {token}", AUD)
    clock.advance(60 + 29)
    assert refused(verifier, f"Bearer {token}") == "replayed"
    clock.advance(2)
    assert refused(verifier, f"Bearer {token}") == "expired"


def test_refusals_leak_neither_token_nor_claims(
    verifier: TokenVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calcinosis.integrations.cds.auth")
    payload = claims(exp=int(NOW) - 3600)
    token = sign(payload)
    with pytest.raises(AuthError) as caught:
        verifier.verify(f"Bearer {token}", AUD)
    error = caught.value
    assert str(error) == "expired"
    assert error.__cause__ is None and error.__context__ is None
    assert "expired" in caplog.text
    for secret in (token, payload["jti"], payload["tenant"], ISS):
        assert secret not in str(error) and secret not in caplog.text
    with pytest.raises(AuthError) as malformed:
        verifier.verify("Bearer not.a.token", AUD)
    assert malformed.value.__cause__ is None and malformed.value.__suppress_context__


def test_verifier_arguments_checked(trust: TrustConfig, verifier: TokenVerifier) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(trust, leeway=-1)
    with pytest.raises(ValueError, match="jwks_ttl"):
        TokenVerifier(trust, jwks_ttl=0)
    with pytest.raises(ValueError, match="audience"):
        verifier.verify(f"Bearer {sign()}", "")


# --- keys fetched from the configured jku -------------------------------------------


@pytest.fixture
def jku_trust(tmp_path: Path) -> TrustConfig:
    return load_trust(write_trust(tmp_path, [{"iss": JKU_ISS, "jku": JKU_URL}]))


def jku_token(kid: str = KID, **headers: Any) -> str:
    return f"Bearer {sign(claims(iss=JKU_ISS), headers={'kid': kid, **headers})}"


def test_jku_fetched_once_and_cached_for_ttl(jku_trust: TrustConfig, clock: Clock) -> None:
    fetcher = FakeFetcher()
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock, jwks_ttl=300)
    for _ in range(3):
        verifier.verify(jku_token(), AUD)
    assert fetcher.urls == [JKU_URL]
    clock.advance(299)
    verifier.verify(jku_token(), AUD)
    assert len(fetcher.urls) == 1
    clock.advance(1)
    verifier.verify(jku_token(), AUD)
    assert fetcher.urls == [JKU_URL, JKU_URL]


def test_unknown_kid_refetches_at_most_once_a_minute(jku_trust: TrustConfig, clock: Clock) -> None:
    fetcher = FakeFetcher()
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock, jwks_ttl=3600)
    verifier.verify(jku_token(), AUD)
    assert refused(verifier, jku_token("rotated")) == "unknown kid"  # just fetched: no refetch
    assert len(fetcher.urls) == 1
    # The EHR rotates its key: a minute later, the unknown kid triggers one refetch.
    fetcher.jwks = {"keys": [{**PUBLIC_JWKS["keys"][0], "kid": "rotated"}]}
    clock.advance(61)
    verifier.verify(jku_token("rotated"), AUD)
    assert len(fetcher.urls) == 2
    for _ in range(5):
        assert refused(verifier, jku_token("bogus")) == "unknown kid"
    assert len(fetcher.urls) == 2
    clock.advance(61)
    assert refused(verifier, jku_token("bogus")) == "unknown kid"
    assert len(fetcher.urls) == 3


@pytest.mark.parametrize(
    "header_jku",
    [
        pytest.param("https://evil.example/jwks.json", id="other-host"),
        pytest.param(JKU_URL + "?", id="not-exactly-equal"),
        pytest.param(JKU_URL.replace("https", "http"), id="http"),
        pytest.param(["https://evil.example/"], id="not-a-string"),
    ],
)
def test_jku_header_must_be_the_configured_one(
    jku_trust: TrustConfig, clock: Clock, header_jku: Any
) -> None:
    fetcher = FakeFetcher()
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock)
    assert refused(verifier, jku_token(jku=header_jku)) == "jku not allowed"
    assert fetcher.urls == []
    verifier.verify(jku_token(jku=JKU_URL), AUD)
    assert fetcher.urls == [JKU_URL]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param({"no": "keys"}, "bad jwks", id="no-keys"),
        pytest.param({"keys": {"kid": KID}}, "bad jwks", id="keys-not-a-list"),
        pytest.param({"keys": ["x"]}, "bad jwks", id="key-not-an-object"),
        pytest.param([PUBLIC_JWKS], "bad jwks", id="not-an-object"),
        pytest.param({"keys": []}, "unknown kid", id="empty"),
        pytest.param(
            {"keys": [{"kty": "oct", "kid": KID, "k": "c2VjcmV0"}]}, "key type mismatch", id="oct"
        ),
        pytest.param({"keys": [{**PARTS["jwk_private"]}]}, "bad key", id="private-key"),
        pytest.param({"keys": [{**PUBLIC_JWKS["keys"][0], "use": "enc"}]}, "bad key", id="use-enc"),
        pytest.param(
            {"keys": [{**PUBLIC_JWKS["keys"][0], "x": "AAAA"}]}, "bad key", id="bad-point"
        ),
        pytest.param({"keys": [PUBLIC_JWKS["keys"][0]] * 2}, "ambiguous kid", id="duplicate-kid"),
    ],
)
def test_unusable_fetched_jwks_refused(
    jku_trust: TrustConfig, clock: Clock, answer: Any, reason: str
) -> None:
    verifier = TokenVerifier(jku_trust, fetch_jwks=FakeFetcher(answer), clock=clock)
    assert refused(verifier, jku_token()) == reason


def test_failed_fetch_refuses_and_backs_off(jku_trust: TrustConfig, clock: Clock) -> None:
    fetcher = FakeFetcher()
    fetcher.error = OSError("connection refused")
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock)
    assert refused(verifier, jku_token()) == "jwks fetch failed"
    assert refused(verifier, jku_token()) == "jwks unavailable"
    assert len(fetcher.urls) == 1
    clock.advance(5)
    fetcher.error = None
    verifier.verify(jku_token(), AUD)
    assert len(fetcher.urls) == 2


# --- fetch_jwks_httpx against a local server ----------------------------------------

BIG = b'{"keys": [], "padding": "' + b"x" * (70 * 1024) + b'"}'
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/jwks": (200, {"Content-Type": "application/json"}, json.dumps(PUBLIC_JWKS).encode()),
    "/not-json": (200, {"Content-Type": "text/html"}, b"<html>hello</html>"),
    "/array": (200, {}, b"[]"),
    "/nested": (200, {}, b"[" * 60_000),
    "/no-keys": (200, {}, b'{"kid": "x"}'),
    "/big-declared": (200, {"Content-Length": str(len(BIG))}, BIG),
    "/big-streamed": (200, {}, BIG),
    "/redirect": (302, {"Location": "/jwks"}, b""),
    "/error": (500, {}, b'{"keys": []}'),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()  # HTTP/1.0: without Content-Length the body ends at close
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _QuietServer(HTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """The client hanging up on a too-large answer is expected."""


@pytest.fixture
def jwks_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def fetch(url: str) -> dict[str, Any]:
    return asyncio.run(fetch_jwks_httpx(url))


def test_fetch_jwks_httpx_reads_a_jwks(jwks_server: str) -> None:
    assert fetch(f"{jwks_server}/jwks") == PUBLIC_JWKS


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        pytest.param("/not-json", "bad jwks", id="not-json"),
        pytest.param("/array", "bad jwks", id="json-array"),
        pytest.param("/nested", "bad jwks", id="deeply-nested"),
        pytest.param("/no-keys", "bad jwks", id="no-keys"),
        pytest.param("/big-declared", "jwks too large", id="too-large-declared"),
        pytest.param("/big-streamed", "jwks too large", id="too-large-streamed"),
        pytest.param("/redirect", "jwks fetch failed", id="redirect-not-followed"),
        pytest.param("/error", "jwks fetch failed", id="server-error"),
        pytest.param("/missing", "jwks fetch failed", id="not-found"),
    ],
)
def test_fetch_jwks_httpx_refuses(jwks_server: str, path: str, reason: str) -> None:
    with pytest.raises(AuthError) as caught:
        fetch(f"{jwks_server}{path}")
    assert caught.value.reason == reason


def test_fetch_jwks_httpx_connection_refused(jwks_server: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AuthError) as caught:
        fetch(f"http://127.0.0.1:{port}/jwks")
    assert caught.value.reason == "jwks fetch failed"


@pytest.mark.parametrize(
    "url",
    [
        "http://ehr.example.org/jwks",
        "ftp://127.0.0.1/jwks",
        "/jwks",
        "https://user:pw@ehr.example/",
    ],
)
def test_fetch_jwks_httpx_refuses_unsafe_urls_without_connecting(url: str) -> None:
    with pytest.raises(AuthError) as caught:
        fetch(url)
    assert caught.value.reason == "jku not allowed"


def test_verifier_with_real_fetcher_end_to_end(tmp_path: Path, jwks_server: str) -> None:
    trust = load_trust(write_trust(tmp_path, [{"iss": JKU_ISS, "jku": f"{jwks_server}/jwks"}]))
    verifier = TokenVerifier(trust)  # the real clock and the real fetcher
    now = int(time.time())
    payload = claims(iss=JKU_ISS, exp=now + 120, iat=now)
    assert verifier.verify(f"Bearer {sign(payload)}", AUD).claims == payload
    assert refused(verifier, f"Bearer {sign(payload)}") == "replayed"


# --- the trust file -----------------------------------------------------------------

EC_JWK: dict[str, Any] = PUBLIC_JWKS["keys"][0]
SMALL_RSA = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused


def test_load_trust_reads_both_kinds(tmp_path: Path) -> None:
    path = write_trust(
        tmp_path,
        [
            {"iss": ISS, "jwks": PUBLIC_JWKS},
            {"iss": JKU_ISS, "jku": JKU_URL},
            {"iss": "dev-1", "jku": "http://127.0.0.1:8080/jwks"},
            {"iss": "dev-2", "jku": "http://localhost/jwks"},
            {"iss": "dev-3", "jku": "http://[::1]:9000/jwks"},
            {"iss": RSA_ISS, "jwks": {"keys": [public_jwk(RSA_KEY, "r")]}},
        ],
    )
    trust = load_trust(str(path))
    assert list(trust.issuers) == [ISS, JKU_ISS, "dev-1", "dev-2", "dev-3", RSA_ISS]
    assert trust.issuers[ISS].jwks == PUBLIC_JWKS and trust.issuers[ISS].jku is None
    assert trust.issuers[JKU_ISS].jku == JKU_URL and trust.issuers[JKU_ISS].jwks is None
    with pytest.raises(TypeError):
        trust.issuers["x"] = trust.issuers[ISS]  # type: ignore[index]


def issuers(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"issuers": list(entries)}


BAD_TRUST: list[Any] = [
    pytest.param("{not json", "(file)", id="not-json"),
    pytest.param([], "(top level)", id="top-level-array"),
    pytest.param({}, "issuers", id="no-issuers"),
    pytest.param(issuers(), "issuers", id="empty-issuers"),
    pytest.param(
        {**issuers({"iss": ISS, "jku": JKU}), "version": 2}, "version", id="unknown-top-field"
    ),
    pytest.param(
        issuers({"iss": ISS, "jku": JKU, "name": "EHR"}), "issuers[0].name", id="unknown-field"
    ),
    pytest.param(issuers({"jku": JKU}), "issuers[0].iss", id="missing-iss"),
    pytest.param(issuers({"iss": "", "jku": JKU}), "issuers[0].iss", id="empty-iss"),
    pytest.param(issuers({"iss": 5, "jku": JKU}), "issuers[0].iss", id="numeric-iss"),
    pytest.param(issuers({"iss": ISS}), "'jwks' and 'jku'", id="neither-jwks-nor-jku"),
    pytest.param(
        issuers({"iss": ISS, "jku": JKU, "jwks": PUBLIC_JWKS}), "'jwks' and 'jku'", id="both"
    ),
    pytest.param(
        issuers({"iss": ISS, "jku": "http://ehr.example/jwks"}), "issuers[0].jku", id="http-jku"
    ),
    pytest.param(
        issuers({"iss": ISS, "jku": "ftp://ehr.example/jwks"}), "issuers[0].jku", id="ftp-jku"
    ),
    pytest.param(issuers({"iss": ISS, "jku": "/jwks"}), "issuers[0].jku", id="relative-jku"),
    pytest.param(
        issuers({"iss": ISS, "jku": "https://u:p@ehr.example/"}), "issuers[0].jku", id="creds"
    ),
    pytest.param(issuers({"iss": ISS, "jku": 7}), "issuers[0].jku", id="numeric-jku"),
    pytest.param(issuers({"iss": ISS, "jwks": {}}), "issuers[0].jwks.keys", id="jwks-without-keys"),
    pytest.param(issuers({"iss": ISS, "jwks": {"keys": []}}), "issuers[0].jwks.keys", id="no-keys"),
    pytest.param(
        issuers({"iss": ISS, "jwks": {**PUBLIC_JWKS, "extra": 1}}),
        "issuers[0].jwks.extra",
        id="jwks-extra",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
        "issuers[0].jwks.keys[0].kty",
        id="symmetric-key",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}}),
        "issuers[0].jwks.keys[0].kty",
        id="okp-key",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{"x": "AA"}]}}),
        "issuers[0].jwks.keys[0].kty",
        id="no-kty",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [PARTS["jwk_private"]]}}),
        "issuers[0].jwks.keys[0].d",
        id="private-key",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{**EC_JWK, "alg": "HS256"}]}}),
        "issuers[0].jwks.keys[0].alg",
        id="hmac-alg",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{**EC_JWK, "alg": "RS384"}]}}),
        "issuers[0].jwks.keys[0].alg",
        id="alg-of-other-family",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{**EC_JWK, "use": "enc"}]}}),
        "issuers[0].jwks.keys[0].use",
        id="encryption-key",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{**EC_JWK, "crv": "secp256k1"}]}}),
        "issuers[0].jwks.keys[0].crv",
        id="unsupported-curve",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{**EC_JWK, "x": "AAAA"}]}}),
        "issuers[0].jwks.keys[0].kty",
        id="invalid-point",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [{**EC_JWK, "kid": 1}]}}),
        "issuers[0].jwks.keys[0].kid",
        id="numeric-kid",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [EC_JWK, EC_JWK]}}),
        "issuers[0].jwks.keys[1].kid",
        id="duplicate-kid",
    ),
    pytest.param(
        issuers({"iss": ISS, "jwks": {"keys": [public_jwk(SMALL_RSA, "small")]}}),
        "issuers[0].jwks.keys[0].n",
        id="rsa-1024",
    ),
    pytest.param(
        issuers({"iss": ISS, "jku": JKU}, {"iss": ISS, "jwks": PUBLIC_JWKS}),
        "issuers[1].iss",
        id="duplicate-iss",
    ),
]


@pytest.mark.parametrize(("content", "field"), BAD_TRUST)
def test_load_trust_refuses_malformed(tmp_path: Path, content: Any, field: str) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    with pytest.raises(SettingsError) as caught:
        load_trust(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert field in message


def test_load_trust_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(SettingsError, match="cannot be read") as caught:
        load_trust(path)
    assert str(path) in str(caught.value)


# --- the replay cache ---------------------------------------------------------------


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_replay_cache_forgets_after_expiry(clock: Clock) -> None:
    cache = ReplayCache(clock=clock)
    assert cache.claim(ISS, "a", at(NOW + 10)) is True
    assert cache.claim(ISS, "a", at(NOW + 10)) is False
    assert cache.claim(RSA_ISS, "a", at(NOW + 10)) is True  # per issuer
    assert len(cache) == 2
    clock.advance(10)
    assert cache.claim(ISS, "a", at(NOW + 20)) is True
    assert len(cache) == 1
    assert cache.claim(ISS, "past", at(NOW - 1)) is True  # already expired: not remembered
    assert len(cache) == 1


def test_replay_cache_bounded_refuses_rather_than_forgets(clock: Clock) -> None:
    cache = ReplayCache(max_entries=3, clock=clock)
    cache.claim(ISS, "short", at(NOW + 5))
    cache.claim(ISS, "long-1", at(NOW + 100))
    cache.claim(ISS, "long-2", at(NOW + 100))
    with pytest.raises(AuthError, match="replay cache full"):
        cache.claim(ISS, "new", at(NOW + 100))
    for jti in ("short", "long-1", "long-2"):  # still remembered
        assert cache.claim(ISS, jti, at(NOW + 100)) is False
    clock.advance(5)  # "short" expires: its place is free
    assert cache.claim(ISS, "new", at(NOW + 100)) is True
    assert len(cache) == 3
    with pytest.raises(ValueError, match="max_entries"):
        ReplayCache(max_entries=0)


def test_replay_cache_is_thread_safe(clock: Clock) -> None:
    cache = ReplayCache(clock=clock)
    jtis = [f"jti-{i}" for i in range(300)]
    accepted: list[str] = []
    replayed: list[str] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for jti in jtis:
            if cache.claim(ISS, jti, at(NOW + 60)):
                accepted.append(jti)
            else:
                replayed.append(jti)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(accepted) == sorted(jtis)
    assert len(replayed) == 7 * len(jtis)
    assert len(cache) == len(jtis)


# --- issue 11: lifetime caps, pluggable replay claim, non-blocking JWKS, fhir_servers ----


def test_a_token_of_exactly_the_maximum_lifetime_is_accepted(verifier: TokenVerifier) -> None:
    payload = claims(iat=int(NOW), exp=int(NOW) + 300)
    assert verifier.verify(f"Bearer {sign(payload)}", AUD).claims == payload


def test_the_lifetime_cap_is_configurable(trust: TrustConfig, clock: Clock) -> None:
    verifier = TokenVerifier(trust, clock=clock, max_lifetime=60)
    assert refused(verifier, f"Bearer {sign(claims(exp=int(NOW) + 61))}") == "lifetime too long"
    verifier.verify(f"Bearer {sign(claims(exp=int(NOW) + 60))}", AUD)
    with pytest.raises(ValueError, match="max_lifetime"):
        TokenVerifier(trust, max_lifetime=0)
    with pytest.raises(ValueError, match="jwks_backoff"):
        TokenVerifier(trust, jwks_backoff=10, jwks_max_backoff=5)


class SharedClaims:
    """A fake durable claim_jti (one table shared by several verifiers)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], datetime] = {}
        self.error: Exception | None = None

    def __call__(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        if self.error is not None:
            raise self.error
        if (issuer, jti) in self.rows:
            return False
        self.rows[(issuer, jti)] = expires_at
        return True


def test_a_pluggable_claim_is_shared_by_two_verifiers(trust: TrustConfig, clock: Clock) -> None:
    shared = SharedClaims()
    first = TokenVerifier(trust, clock=clock, claim=shared)
    second = TokenVerifier(trust, clock=clock, claim=shared)  # another instance, or a restart
    payload = claims(exp=int(NOW) + 120)
    token = f"Bearer {sign(payload)}"
    assert first.verify(token, AUD).claims == payload
    assert refused(second, token) == "replayed"
    assert refused(first, token) == "replayed"
    assert shared.rows == {(ISS, payload["jti"]): at(NOW + 120 + 30)}  # exp + leeway, UTC


def test_a_failing_claim_refuses_the_call(
    trust: TrustConfig, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    shared = SharedClaims()
    shared.error = OSError("database is down")
    verifier = TokenVerifier(trust, clock=clock, claim=shared)
    assert refused(verifier, f"Bearer {sign()}") == "replay check failed"
    assert "replay check failed: OSError" in caplog.text and "database" not in caplog.text


def test_a_replay_store_that_cannot_be_written_is_a_storage_error_not_a_401(
    trust: TrustConfig, clock: Clock
) -> None:
    # the durable claim raises StorageError when the database cannot be written: the call
    # is answered 503 "try again" (the app's handler), not 401 "bad credentials"
    from calcinosis.storage import StorageError  # noqa: PLC0415

    shared = SharedClaims()
    shared.error = StorageError("the database is read-only (SQLITE_READONLY)")
    verifier = TokenVerifier(trust, clock=clock, claim=shared)
    with pytest.raises(StorageError):
        verifier.verify(f"Bearer {sign()}", AUD)


def test_the_in_memory_replay_cache_is_bounded(trust: TrustConfig, clock: Clock) -> None:
    verifier = TokenVerifier(trust, clock=clock, replay_max_entries=2)
    for _ in range(2):
        verifier.verify(f"Bearer {sign()}", AUD)
    assert refused(verifier, f"Bearer {sign()}") == "replay cache full"
    clock.advance(300 + 30)  # every entry has expired: room again, never refused for good
    fresh = claims(iat=int(clock.now), exp=int(clock.now) + 60)
    verifier.verify(f"Bearer {sign(fresh)}", AUD)


class SlowFetcher:
    """An async fetcher: each fetch takes ``seconds`` of the (fake) clock and of real time."""

    def __init__(self, clock: Clock, seconds: float, fail: bool = False) -> None:
        self.clock = clock
        self.seconds = seconds
        self.fail = fail
        self.calls = 0

    async def __call__(self, url: str) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0.05)
        self.clock.advance(self.seconds)
        if self.fail:
            raise AuthError("jwks fetch timed out")
        result: dict[str, Any] = PUBLIC_JWKS
        return result


def test_concurrent_calls_share_one_jwks_fetch(jku_trust: TrustConfig, clock: Clock) -> None:
    fetcher = SlowFetcher(clock, seconds=1)
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock)

    async def many() -> list[Any]:
        tokens = [jku_token() for _ in range(50)]
        calls = [verifier.verify_async(token, AUD) for token in tokens]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(many())
    assert fetcher.calls == 1
    assert all(isinstance(outcome, VerifiedClaims) for outcome in outcomes)


def test_forged_tokens_start_one_fetch_per_back_off_window(
    jku_trust: TrustConfig, clock: Clock
) -> None:
    """The back-off counts from when the failed fetch ENDED, doubles with each failure
    (the breaker), and forged tokens meanwhile cost no fetch at all."""
    fetcher = SlowFetcher(clock, seconds=10, fail=True)
    verifier = TokenVerifier(
        jku_trust, fetch_jwks=fetcher, clock=clock, jwks_backoff=5, jwks_max_backoff=12
    )

    async def forged(count: int) -> list[str]:
        calls = [verifier.verify_async(jku_token(kid=str(uuid.uuid4())), AUD) for _ in range(count)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        return [o.reason if isinstance(o, AuthError) else repr(o) for o in outcomes]

    assert set(asyncio.run(forged(20))) == {"jwks fetch timed out"}  # 20 callers, one fetch
    assert fetcher.calls == 1  # it began at NOW and ended at NOW + 10
    clock.now = NOW + 10 + 4.9  # a back-off stamped at the start would have ended at NOW + 5
    assert set(asyncio.run(forged(20))) == {"jwks unavailable"}
    assert fetcher.calls == 1
    clock.now = NOW + 10 + 5  # the window ends: one probe
    assert set(asyncio.run(forged(5))) == {"jwks fetch timed out"}
    assert fetcher.calls == 2  # ended at NOW + 25; the second failure doubles it: 10 s
    clock.now = NOW + 25 + 9.9
    assert set(asyncio.run(forged(5))) == {"jwks unavailable"}
    clock.now = NOW + 25 + 10
    asyncio.run(forged(1))
    assert fetcher.calls == 3  # ended at NOW + 45; doubled again, capped at 12 s
    clock.now = NOW + 45 + 11.9
    assert set(asyncio.run(forged(5))) == {"jwks unavailable"}
    fetcher.fail = False
    clock.now = NOW + 45 + 12
    payload = claims(iss=JKU_ISS, iat=int(clock.now), exp=int(clock.now) + 60)
    token = f"Bearer {sign(payload, headers={'kid': KID})}"
    assert asyncio.run(verifier.verify_async(token, AUD)).claims == payload  # the issuer is back
    assert fetcher.calls == 4


def test_stale_forgeries_never_fetch(jku_trust: TrustConfig, clock: Clock) -> None:
    """Times are checked before any key is fetched."""
    fetcher = FakeFetcher()
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock)
    for payload in (claims(iss=JKU_ISS, exp=int(NOW) - 60), claims(iss=JKU_ISS, exp=1e308)):
        refused(verifier, f"Bearer {sign(payload)}")
    assert fetcher.urls == []


def test_verify_is_refused_inside_an_event_loop(verifier: TokenVerifier) -> None:
    async def inside() -> None:
        verifier.verify(f"Bearer {sign()}", AUD)

    with pytest.raises(RuntimeError, match="verify_async"):
        asyncio.run(inside())


@pytest.mark.parametrize(
    ("listed", "named", "used"),
    [
        pytest.param(
            "https://ehr.example.org/fhir",
            "https://ehr.example.org/fhir",
            "https://ehr.example.org:443/fhir",
            id="exact",
        ),
        pytest.param(
            "https://ehr.example.org/fhir",
            "https://EHR.example.org:443/fhir/",
            "https://ehr.example.org:443/fhir",
            id="case-default-port-trailing-slash",
        ),
        pytest.param(
            "https://ehr.example.org/fhir",
            "https://ehr.example.org/fhir/tenant-1",
            "https://ehr.example.org:443/fhir/tenant-1",
            id="under-the-prefix",
        ),
        pytest.param(
            "https://ehr.example.org",
            "https://ehr.example.org/r4",
            "https://ehr.example.org:443/r4",
            id="root",
        ),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org/fhirx", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org/", None),
        pytest.param("https://ehr.example.org/fhir", "http://ehr.example.org/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org:8443/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://evil.example/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://u:p@ehr.example.org/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org@evil/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org/fhir/../x", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org/fhir/%2e%2e", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org/fhir?x=1", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org/fhir#x", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org\\@x/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.example.org//fhir", None),
        pytest.param("https://ehr.example.org/fhir", " https://ehr.example.org/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "https://ehr.exämple.org/fhir", None),
        pytest.param("https://ehr.example.org/fhir", "ftp://ehr.example.org/fhir", None),
        pytest.param(
            "http://127.0.0.1:8080/fhir",
            "http://127.0.0.1:8080/fhir/x",
            "http://127.0.0.1:8080/fhir/x",
            id="loopback",
        ),
        pytest.param("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8081/fhir", None),
    ],
)
def test_fhir_servers_match_exactly(
    tmp_path: Path, listed: str, named: object, used: str | None
) -> None:
    entry = {"iss": ISS, "jwks": PUBLIC_JWKS, "fhir_servers": [listed]}
    issuer = load_trust(write_trust(tmp_path, [entry])).issuers[ISS]
    assert issuer.fhir_server_url(named) == used


def test_an_issuer_without_fhir_servers_names_none(trust: TrustConfig) -> None:
    assert trust.issuers[ISS].fhir_servers == ()
    assert trust.issuers[ISS].fhir_server_url("https://fhir-ehr.example.com/fhir") is None
    assert trust.issuers[ISS].fhir_server_url(None) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://ehr.example.org/fhir",  # http only on loopback
        "https://u:p@ehr.example.org/fhir",
        "https://ehr.example.org/fhir?tenant=1",
        "https://ehr.example.org/fhir#x",
        "https://ehr.example.org/%66hir",
        "https://ehr.example.org/a/../fhir",
        "ehr.example.org/fhir",
        "",
    ],
)
def test_load_trust_refuses_bad_fhir_servers(tmp_path: Path, url: str) -> None:
    entry = {"iss": ISS, "jwks": PUBLIC_JWKS, "fhir_servers": [url]}
    with pytest.raises(SettingsError, match=r"issuers\[0\]\.fhir_servers\[0\]"):
        load_trust(write_trust(tmp_path, [entry]))


def test_insecure_mode_allows_only_loopback_fhir_servers() -> None:
    assert loopback_fhir_server_url("http://127.0.0.1:9/fhir") == "http://127.0.0.1:9/fhir"
    assert loopback_fhir_server_url("http://localhost/r4/") == "http://localhost:80/r4"
    assert loopback_fhir_server_url("https://[::1]:8443/fhir") == "https://[::1]:8443/fhir"
    for url in ("http://10.0.0.1/fhir", "http://ehr.example.org/fhir", "http://u:p@127.0.0.1/"):
        assert loopback_fhir_server_url(url) is None


# --- the jku key cache is the service's own, not PyJWT's PyJWKClient (README) ----------


def test_a_cached_key_is_answered_while_a_refetch_is_in_flight(
    jku_trust: TrustConfig, clock: Clock
) -> None:
    """A forged kid's refetch, however slow, holds up no call whose key is cached."""

    class GatedFetcher:
        def __init__(self) -> None:
            self.calls = 0
            self.gate: asyncio.Event | None = None

        async def __call__(self, url: str) -> dict[str, Any]:
            self.calls += 1
            if self.gate is not None:
                await self.gate.wait()
            result: dict[str, Any] = PUBLIC_JWKS
            return result

    fetcher = GatedFetcher()
    verifier = TokenVerifier(jku_trust, fetch_jwks=fetcher, clock=clock)

    async def scenario() -> None:
        await verifier.verify_async(jku_token(), AUD)  # the key is cached
        clock.advance(61)  # an unknown kid may cause a refetch again
        fetcher.gate = asyncio.Event()
        forged = asyncio.create_task(verifier.verify_async(jku_token("forged"), AUD))
        while fetcher.calls < 2:
            await asyncio.sleep(0)
        await asyncio.wait_for(verifier.verify_async(jku_token(), AUD), timeout=5)
        assert not forged.done()  # its refetch is still waiting
        fetcher.gate.set()
        with pytest.raises(AuthError, match="unknown kid"):
            await forged

    asyncio.run(scenario())
    assert fetcher.calls == 2


# PyJWT's PyJWKClient, as locked, on the checks the README says it cannot keep: a test
# here that fails after an upgrade means the reason for the service's own cache may have
# gone (README, "Why not PyJWT's PyJWKClient").


class ServedJwks(jwt.PyJWKClient):
    """PyJWKClient with its fetch replaced by ``serve`` (no network)."""

    def __init__(self, serve: Callable[[], dict[str, Any]], cooldown: float = 0) -> None:
        super().__init__(JKU_URL, cooldown_duration=cooldown)
        self.serve = serve

    def fetch_data(self) -> Any:
        return self.serve()


def test_pyjwkclient_makes_a_cached_key_wait_behind_a_refetch() -> None:
    jwks = {"keys": [public_jwk(P256_KEY, "known")]}
    started = threading.Event()

    def serve() -> dict[str, Any]:
        if client.jwk_set_cache is not None and client.jwk_set_cache.get() is not None:
            started.set()
            time.sleep(0.5)  # the refetch that the forged kid caused
        return jwks

    client = ServedJwks(serve)
    client.get_signing_key("known")

    def forged() -> None:
        with pytest.raises(jwt.PyJWKClientError):
            client.get_signing_key("forged")

    thread = threading.Thread(target=forged)
    thread.start()
    assert started.wait(5)
    began = time.monotonic()
    assert client.get_signing_key("known").key_id == "known"  # cached, yet it waited
    waited = time.monotonic() - began
    thread.join()
    assert waited > 0.25


def test_pyjwkclient_chooses_keys_otherwise() -> None:
    one_key_without_kid = {
        "keys": [{k: v for k, v in public_jwk(P256_KEY, "").items() if k != "kid"}]
    }
    with pytest.raises(jwt.PyJWKClientError, match="did not contain any signing keys"):
        ServedJwks(lambda: one_key_without_kid).get_signing_keys()  # accepted here, kid-less
    twice = {"keys": [public_jwk(P256_KEY, "same"), public_jwk(RSA_KEY, "same")]}
    assert ServedJwks(lambda: twice).get_signing_key("same").key_type == "EC"  # no refusal
    private = {**PARTS["jwk_private"], "kid": "private"}
    unparsable = {**public_jwk(P256_KEY, "bad"), "x": "AAAA"}
    client = ServedJwks(lambda: {"keys": [private, unparsable]})
    assert isinstance(client.get_signing_key("private").key, ec.EllipticCurvePrivateKey)
    assert [key.key_id for key in client.get_signing_keys()] == ["private"]  # "bad" dropped


def test_pyjwkclient_fetches_a_dead_issuer_on_every_call() -> None:
    fetches: list[int] = []

    def dead() -> dict[str, Any]:
        fetches.append(1)
        raise jwt.PyJWKClientConnectionError("connection refused")

    client = ServedJwks(dead, cooldown=30)  # its default: it counts from a successful fetch
    for _ in range(5):
        with pytest.raises(jwt.PyJWKClientConnectionError):
            client.get_signing_key(KID)
    assert len(fetches) == 5  # the service's own cache: 1 (then it backs off)
