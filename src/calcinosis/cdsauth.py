"""Trusting CDS clients: verify the JWT an EHR sends with every CDS Hooks call.

CDS Hooks 2.0 ("Trusting CDS Clients"): each call carries
``Authorization: Bearer <JWT>``, signed by the CDS client with an asymmetric
key. The service trusts only the issuers listed in the file named by
``CALCINOSIS_CDS_ISSUERS``::

    {"issuers": [{"iss": "https://ehr.example.org/", "jwks": {"keys": [...]}},
                 {"iss": "https://other.example.org/", "jku": "https://other.example.org/jwks"}]}

:class:`TokenVerifier` accepts a token only if all of these hold:

- the header is ``Bearer <token>`` (scheme case-insensitive);
- ``alg`` is one of :data:`ALLOWED_ALGORITHMS` (ES256/384/512, RS256/384/512,
  PS256/384/512). ``none`` and every HMAC algorithm are refused before any
  key is looked up, PyJWT is given ``algorithms=[alg]`` and nothing else, and
  the key's type must match the family (EC for ES*, RSA for RS*/PS*), so a
  public key can never be used as an HMAC secret;
- ``iss`` is an allow-listed issuer;
- the key is found by ``kid`` in that issuer's JWKS: the inline ``jwks``, or
  the one fetched from the issuer's configured ``jku`` (cached for
  ``jwks_ttl`` seconds; on an unknown ``kid`` it is fetched again at most
  once a minute, for key rotation). A ``jku`` in the token header must equal
  the configured one exactly; the service never fetches a URL from a token.
  For an issuer with an inline JWKS nothing is fetched and a ``jku`` header
  is ignored. A token without ``kid`` is accepted only when the issuer's
  JWKS holds exactly one key;
- the signature verifies; ``aud`` equals the expected audience (the
  service's public URL plus the request path; a list containing it is
  accepted, RFC 7519 §4.1.3); ``exp`` is present and live, ``iat`` present
  and not in the future, ``nbf`` (if any) reached, each with ``leeway``
  seconds of clock skew; ``jti`` is a non-empty string not seen before from
  that issuer (:class:`ReplayCache`, remembered until ``exp`` + leeway).

Every refusal is an :class:`AuthError` whose ``reason`` is a short, fixed
phrase for logs and tests; the HTTP layer answers a bare 401. Neither the
token nor its claims ever appear in an exception message or a log line.
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from calcinosis.errors import CalcinosisError
from calcinosis.settings import SettingsError

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AuthError",
    "Issuer",
    "ReplayCache",
    "TokenVerifier",
    "TrustConfig",
    "fetch_jwks_httpx",
    "load_trust",
]

_log = logging.getLogger(__name__)

# Asymmetric signature algorithms only. The CDS Hooks specification requires
# ES384 and RS384; the others of the same families are accepted too.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_KEY_TYPES = ("EC", "RSA")
_MIN_RSA_BITS = 2048
_LOOPBACK_HOSTS = frozenset({"localhost"})
_MAX_TOKEN_CHARS = 16_384
_REFETCH_INTERVAL = 60.0  # seconds between JWKS refetches caused by an unknown kid
_FAILED_FETCH_BACKOFF = 5.0  # seconds without fetching after a failed JWKS fetch
_JWKS_MAX_BYTES = 64 * 1024
_JWKS_CONNECT_TIMEOUT = 2.0
_JWKS_TOTAL_TIMEOUT = 5.0


class AuthError(CalcinosisError):
    """A CDS Hooks call is not trusted. ``reason`` is private: for logs and tests only.

    The message is the reason itself, a short fixed phrase ("expired",
    "replayed", "bad audience", ...); it never contains the token or a claim.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Issuer:
    """One trusted CDS client: exactly one of ``jwks`` (inline) and ``jku`` is set."""

    iss: str
    jwks: dict[str, Any] | None
    jku: str | None


@dataclass(frozen=True)
class TrustConfig:
    """The allow-listed issuers, by ``iss``."""

    issuers: Mapping[str, Issuer]


# --- configuration -----------------------------------------------------------------


class _JwksModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[dict[str, Any]] = Field(min_length=1)


class _IssuerModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: StrictStr = Field(min_length=1)
    jwks: _JwksModel | None = None
    jku: StrictStr | None = None


class _TrustFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: list[_IssuerModel] = Field(min_length=1)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _jku_problem(url: str) -> str | None:
    """Why ``url`` is not an acceptable JWKS URL, or None if it is."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a valid URL"
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and host is not None and _is_loopback(host)
    )
    if not host or not secure:
        return "must be an absolute https URL (http only for 127.0.0.1/localhost)"
    if parts.username is not None or parts.password is not None or parts.fragment:
        return "must carry no credentials and no fragment"
    return None


class _KeyProblemError(Exception):
    def __init__(self, member: str, message: str) -> None:
        self.member = member
        self.message = message
        super().__init__(f"{member}: {message}")


def _check_key(jwk: Mapping[str, Any]) -> None:
    """Raise _KeyProblemError if ``jwk`` cannot serve as a CDS client's public key."""
    kty, alg = jwk.get("kty"), jwk.get("alg")
    if kty == "oct":
        raise _KeyProblemError("kty", "symmetric keys ('oct') are not allowed; use EC or RSA")
    if kty not in _KEY_TYPES:
        raise _KeyProblemError("kty", f"must be one of {', '.join(_KEY_TYPES)}")
    if "d" in jwk:
        raise _KeyProblemError("d", "private key material must not be in the trust file")
    if "kid" in jwk and not isinstance(jwk["kid"], str):
        raise _KeyProblemError("kid", "must be a string")
    if jwk.get("use", "sig") != "sig":
        raise _KeyProblemError("use", "must be 'sig'")
    if alg is not None and (not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS):
        raise _KeyProblemError("alg", f"must be one of {', '.join(sorted(ALLOWED_ALGORITHMS))}")
    if alg is not None and _family_kty(alg) != kty:
        raise _KeyProblemError("alg", f"{alg} does not fit a {kty} key")
    if kty == "EC" and jwk.get("crv") not in _CURVE_FOR_ALG.values():
        raise _KeyProblemError("crv", f"must be one of {', '.join(_CURVE_FOR_ALG.values())}")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg or _default_alg(jwk)).key
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _KeyProblemError("kty", f"not a valid {kty} public key") from None
    if isinstance(key, RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        raise _KeyProblemError("n", f"RSA keys must have at least {_MIN_RSA_BITS} bits")


def _family_kty(alg: str) -> str:
    return "EC" if alg.startswith("ES") else "RSA"


def _default_alg(jwk: Mapping[str, Any]) -> str:
    if jwk.get("kty") == "EC":
        for alg, crv in _CURVE_FOR_ALG.items():
            if jwk.get("crv") == crv:
                return alg
    return "RS256"


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def load_trust(path: str | Path) -> TrustConfig:
    """Read the issuers file, refusing anything malformed with a one-line SettingsError.

    The error names the file and the field (``issuers[0].jku``, ...).
    """
    path = Path(path)

    def fail(where: str, message: str) -> SettingsError:
        line = f"CALCINOSIS_CDS_ISSUERS file {path}: {where}: {message}"
        return SettingsError(line.replace("\r", " ").replace("\n", " "))

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise fail("(file)", f"cannot be read ({error.strerror or type(error).__name__})") from None
    except UnicodeDecodeError:
        raise fail("(file)", "is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise fail("(file)", f"is not valid JSON (line {error.lineno})") from None
    try:
        model = _TrustFileModel.model_validate(raw)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        raise fail(_where(tuple(first["loc"])), first["msg"]) from None

    issuers: dict[str, Issuer] = {}
    for i, entry in enumerate(model.issuers):
        here = f"issuers[{i}]"
        if (entry.jwks is None) == (entry.jku is None):
            raise fail(here, "exactly one of 'jwks' and 'jku' is required")
        if entry.iss in issuers:
            raise fail(f"{here}.iss", "duplicate issuer")
        if entry.jku is not None:
            problem = _jku_problem(entry.jku)
            if problem is not None:
                raise fail(f"{here}.jku", problem)
            issuers[entry.iss] = Issuer(iss=entry.iss, jwks=None, jku=entry.jku)
        elif entry.jwks is not None:
            issuers[entry.iss] = Issuer(
                iss=entry.iss, jwks={"keys": _checked_keys(entry.jwks, here, fail)}, jku=None
            )
    return TrustConfig(issuers=MappingProxyType(issuers))


def _checked_keys(
    jwks: _JwksModel, here: str, fail: Callable[[str, str], SettingsError]
) -> list[dict[str, Any]]:
    kids: set[str] = set()
    for k, jwk in enumerate(jwks.keys):
        try:
            _check_key(jwk)
        except _KeyProblemError as problem:
            raise fail(f"{here}.jwks.keys[{k}].{problem.member}", problem.message) from None
        kid = jwk.get("kid")
        if kid is not None:
            if kid in kids:
                raise fail(f"{here}.jwks.keys[{k}].kid", "duplicate kid")
            kids.add(kid)
    return [dict(jwk) for jwk in jwks.keys]


# --- replay protection ---------------------------------------------------------------


class ReplayCache:
    """The ``(iss, jti)`` pairs already used, each remembered until its expiry.

    Thread-safe. The caller passes the time after which a replay could no
    longer be accepted anyway (:class:`TokenVerifier` passes ``exp + leeway``).
    The size is bounded: when full, expired entries are evicted first; if it
    is still full, new tokens are refused ("replay cache full") rather than
    forgetting live entries, which would re-open the door to replays.
    """

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _evict_expired(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expiry, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expiry:
                del self._expiry[key]

    def check_and_remember(self, iss: str, jti: str, exp: float) -> None:
        """Remember ``(iss, jti)`` until ``exp``; AuthError("replayed") if it is live already."""
        if not math.isfinite(exp):
            raise ValueError("exp must be a finite number")
        key = (iss, jti)
        with self._lock:
            now = self._clock()
            self._evict_expired(now)
            if key in self._expiry:
                raise AuthError("replayed")
            if exp <= now:
                return  # could not be replayed: any later use is refused as expired
            if len(self._expiry) >= self._max_entries:
                _log.warning("CDS Hooks replay cache is full; refusing new tokens")
                raise AuthError("replay cache full")
            self._expiry[key] = exp
            heapq.heappush(self._heap, (exp, key))


# --- fetching JWKS ---------------------------------------------------------------------


def _checked_jwks(document: object) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise AuthError("bad jwks")
    keys = document.get("keys")
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise AuthError("bad jwks")
    return keys


def fetch_jwks_httpx(url: str) -> dict[str, Any]:
    """GET a JWKS: https (or loopback http), no redirects, 64 KiB at most.

    Timeouts: 2 s to connect, 5 s in all (checked between received chunks,
    each read itself bounded by 5 s). The answer must be a JSON object with
    a ``keys`` list; anything else is an AuthError.
    """
    if _jku_problem(url) is not None:
        raise AuthError("jku not allowed")
    deadline = time.monotonic() + _JWKS_TOTAL_TIMEOUT
    timeout = httpx.Timeout(_JWKS_TOTAL_TIMEOUT, connect=_JWKS_CONNECT_TIMEOUT)
    body = bytearray()
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != httpx.codes.OK:
                raise AuthError("jwks fetch failed")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > _JWKS_MAX_BYTES:
                raise AuthError("jwks too large")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _JWKS_MAX_BYTES:
                    raise AuthError("jwks too large")
                if time.monotonic() > deadline:
                    raise AuthError("jwks fetch timed out")
    except httpx.HTTPError:
        raise AuthError("jwks fetch failed") from None
    try:
        document = json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise AuthError("bad jwks") from None
    _checked_jwks(document)
    result: dict[str, Any] = document
    return result


@dataclass(frozen=True)
class _CachedJwks:
    keys: list[dict[str, Any]]
    fetched_at: float


# --- verification ------------------------------------------------------------------


def _parse_authorization(authorization: str | None) -> str:
    if not isinstance(authorization, str):
        raise AuthError("missing authorization")
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise AuthError("not a bearer token")
    token = parts[1]
    if len(token) > _MAX_TOKEN_CHARS:
        raise AuthError("token too large")
    if token.count(".") != 2:
        raise AuthError("malformed")
    return token


def _is_number(value: object) -> bool:
    """A finite JSON number (JSON parsers accept NaN and 1e999, which compare oddly)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class TokenVerifier:
    """Verifies CDS clients' JWTs against a :class:`TrustConfig`. Thread-safe.

    ``verify_exp=False`` exists only so the tests can check the CDS Hooks
    specification's example token, whose ``exp`` lies in 2015; the service
    never sets it.
    """

    def __init__(
        self,
        trust: TrustConfig,
        *,
        fetch_jwks: Callable[[str], dict[str, Any]] | None = None,
        replay: ReplayCache | None = None,
        leeway: float = 30.0,
        jwks_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
        verify_exp: bool = True,
    ) -> None:
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        if jwks_ttl <= 0:
            raise ValueError("jwks_ttl must be positive")
        self._trust = trust
        self._fetch = fetch_jwks if fetch_jwks is not None else fetch_jwks_httpx
        self._replay = replay if replay is not None else ReplayCache(clock=clock)
        self._leeway = leeway
        self._jwks_ttl = jwks_ttl
        self._clock = clock
        self._verify_exp = verify_exp
        self._lock = threading.Lock()
        self._jwks_cache: dict[str, _CachedJwks] = {}
        self._failed_at: dict[str, float] = {}  # last failed fetch per URL

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the call's JWT, or AuthError.

        ``audience`` is the URL the call was made to: the service's public
        URL plus the request path.
        """
        if not audience:
            raise ValueError("audience must be the service URL")
        try:
            return self._verify(authorization, audience)
        except AuthError as error:
            _log.info("CDS Hooks JWT refused: %s", error.reason)
            raise
        except Exception as error:  # fail closed: a surprise is a refusal, not a 500
            _log.warning("CDS Hooks JWT refused: unexpected %s", type(error).__name__)
            raise AuthError("invalid token") from None

    def _verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        token = _parse_authorization(authorization)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, RecursionError):  # RecursionError: absurdly nested JSON
            raise AuthError("malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthError("algorithm not allowed")
        if "crit" in header:
            raise AuthError("unsupported critical header")
        iss = unverified.get("iss")
        issuer = self._trust.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("unknown issuer")
        key = self._public_key(issuer, header, alg)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer.iss,
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "strict_aud": False,
                    # Times are checked below, against the injectable clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise AuthError("bad signature") from None
        except jwt.InvalidAudienceError:
            raise AuthError("bad audience") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(f"missing {error.claim}") from None
        except jwt.exceptions.InvalidJTIError:
            raise AuthError("bad jti") from None
        except jwt.InvalidIssuerError:
            raise AuthError("unknown issuer") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("algorithm not allowed") from None
        except jwt.InvalidKeyError:
            raise AuthError("bad key") from None
        except jwt.PyJWTError:
            raise AuthError("invalid token") from None
        self._check_times_and_replay(claims)
        return claims

    def _check_times_and_replay(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        if not _is_number(exp):
            raise AuthError("bad exp")
        if not _is_number(iat):
            raise AuthError("bad iat")
        if self._verify_exp and exp <= now - self._leeway:
            raise AuthError("expired")
        if iat > now + self._leeway:
            raise AuthError("iat in the future")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self._leeway):
            raise AuthError("not yet valid")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("bad jti")
        self._replay.check_and_remember(claims["iss"], jti, float(exp) + self._leeway)

    # --- keys -------------------------------------------------------------------

    def _public_key(self, issuer: Issuer, header: Mapping[str, Any], alg: str) -> Any:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("malformed")
        if issuer.jwks is not None:
            jwk = self._select(_checked_jwks(issuer.jwks), kid)
        elif issuer.jku is not None:
            if "jku" in header and header["jku"] != issuer.jku:
                raise AuthError("jku not allowed")
            jwk = self._select_fetched(issuer.jku, kid)
        else:
            raise AuthError("unknown issuer")
        return self._load_key(jwk, alg)

    @staticmethod
    def _select(keys: list[dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
        if kid is None:
            if len(keys) != 1:
                raise AuthError("kid required")
            return keys[0]
        matches = [key for key in keys if key.get("kid") == kid]
        if len(matches) > 1:
            raise AuthError("ambiguous kid")
        return matches[0] if matches else None

    def _select_fetched(self, url: str, kid: str | None) -> dict[str, Any] | None:
        """The key from the JWKS at ``url``: cached for ``jwks_ttl`` seconds, fetched
        again on an unknown kid at most once per minute, and not again for a few
        seconds after a failed fetch (refused tokens must not make us hammer it)."""
        now = self._clock()
        with self._lock:
            cached = self._jwks_cache.get(url)
            failed_at = self._failed_at.get(url)
        may_fetch = failed_at is None or now - failed_at >= _FAILED_FETCH_BACKOFF
        if cached is None or now - cached.fetched_at >= self._jwks_ttl:
            if not may_fetch:
                raise AuthError("jwks unavailable")
            cached = self._refresh(url, now)
        jwk = self._select(cached.keys, kid)
        if jwk is None and may_fetch and now - cached.fetched_at >= _REFETCH_INTERVAL:
            jwk = self._select(self._refresh(url, now).keys, kid)
        return jwk

    def _refresh(self, url: str, now: float) -> _CachedJwks:
        try:
            cached = _CachedJwks(keys=_checked_jwks(self._fetch(url)), fetched_at=now)
        except Exception as error:  # any fetcher failure refuses the call, nothing more
            with self._lock:
                self._failed_at[url] = now
            if isinstance(error, AuthError):
                raise
            raise AuthError("jwks fetch failed") from None
        with self._lock:
            self._jwks_cache[url] = cached
            self._failed_at.pop(url, None)
        return cached

    @staticmethod
    def _load_key(jwk: Mapping[str, Any] | None, alg: str) -> Any:
        if jwk is None:
            raise AuthError("unknown kid")
        if jwk.get("kty") != _family_kty(alg):
            raise AuthError("key type mismatch")
        if "d" in jwk or jwk.get("use", "sig") != "sig":
            raise AuthError("bad key")
        if jwk.get("alg", alg) != alg:
            raise AuthError("key algorithm mismatch")
        if alg in _CURVE_FOR_ALG and jwk.get("crv") != _CURVE_FOR_ALG[alg]:
            raise AuthError("key algorithm mismatch")
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("bad key") from None
        if isinstance(key, RSAPublicKey):
            if key.key_size < _MIN_RSA_BITS:
                raise AuthError("bad key")
        elif not isinstance(key, EllipticCurvePublicKey):
            raise AuthError("bad key")
        return key
