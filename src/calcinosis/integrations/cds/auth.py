"""Trusting CDS clients: verify the JWT an EHR sends with every CDS Hooks call.

CDS Hooks 2.0 ("Trusting CDS Clients"): each call carries
``Authorization: Bearer <JWT>``, signed by the CDS client with an asymmetric
key. The service trusts only the issuers listed in the file named by
``CALCINOSIS_CDS_ISSUERS``::

    {"issuers": [{"iss": "https://ehr.example.org/", "jwks": {"keys": [...]},
                  "fhir_servers": ["https://ehr.example.org/fhir"]},
                 {"iss": "https://other.example.org/", "jku": "https://other.example.org/jwks"}]}

``fhir_servers`` lists the FHIR base URLs the issuer's calls may name as
``fhirServer`` (:meth:`Issuer.fhir_server_url`); missing prefetch is fetched
from nowhere else, so the access token goes nowhere else.

:class:`TokenVerifier` accepts a token only if all of these hold:

- the header is ``Bearer <token>`` (scheme case-insensitive);
- ``alg`` is one of :data:`ALLOWED_ALGORITHMS` (ES256/384/512, RS256/384/512,
  PS256/384/512). ``none`` and every HMAC algorithm are refused before any
  key is looked up, PyJWT is given ``algorithms=[alg]`` and nothing else, and
  the key's type must match the family (EC for ES*, RSA for RS*/PS*), so a
  public key can never be used as an HMAC secret;
- ``iss`` is an allow-listed issuer;
- the times, checked before any key is fetched: ``exp`` and ``iat`` are numbers
  of seconds between 0 and 10^10; ``exp`` is live, ``iat`` not in the future,
  ``nbf`` (if any) reached, each with ``leeway`` seconds of clock skew; and
  neither ``exp - iat`` nor ``exp - now`` exceeds ``max_lifetime`` (plus the
  leeway for the second), so no token lives longer than a few minutes;
- the key is found by ``kid`` in that issuer's JWKS: the inline ``jwks``, or
  the one fetched from the issuer's configured ``jku`` (cached for
  ``jwks_ttl`` seconds; on an unknown ``kid`` it is fetched again at most
  once a minute, for key rotation). A ``jku`` in the token header must equal
  the configured one exactly; the service never fetches a URL from a token.
  For an issuer with an inline JWKS nothing is fetched and a ``jku`` header
  is ignored. A token without ``kid`` is accepted only when the issuer's
  JWKS holds exactly one key. Fetches never block the event loop (async
  httpx), there is at most one in flight per URL (every caller waits for the
  same one), and after a failed fetch no other starts for ``jwks_backoff``
  seconds counted from when it *ended*, doubling with each consecutive
  failure up to ``jwks_max_backoff`` (a circuit breaker: open while backing
  off, one probe when the window ends);
- the signature verifies; ``aud`` equals the expected audience (the
  service's public URL plus the request path; a list containing it is
  accepted, RFC 7519 §4.1.3); ``jti`` is a non-empty string of at most 255
  characters that ``claim(iss, jti, expires_at)`` accepts as new. ``claim``
  is pluggable (a durable, shared store's ``claim_jti``); the default is
  the bounded in-memory :class:`ReplayCache`.

Every refusal is an :class:`AuthError` whose ``reason`` is a short, fixed
phrase for logs and tests; the HTTP layer answers a bare 401. Neither the
token nor its claims ever appear in an exception message or a log line.

Why the ``jku`` key cache is this module's own and not PyJWT's ``PyJWKClient``
(2.15; the README's "Issuer keys" has the measurements). An overridden
``fetch_data`` could give it today's fetch (64 KiB cap, one deadline for the
whole fetch, no redirects, no proxy variables) and a back-off after failures,
which it lacks (its cooldown counts from the last *successful* fetch, so a dead
issuer is fetched on every call). Two checks it cannot keep without replacing
its lookup, ``get_signing_key``: (1) it holds one lock across the blocking
fetch, so every waiting call holds a thread, and a call whose key is cached
waits behind a refetch that a forged ``kid`` started; (2) its key selection
ignores keys without ``kid`` (so the one-key JWKS that a token without ``kid``
may use here has no key there), takes the first of two keys with the same
``kid`` (refused here: ``ambiguous kid``), and its ``PyJWKSet`` silently drops
keys it cannot parse and keeps private ones (refused here: ``bad key``). What
would be left of it is a value with a time stamp.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import ipaddress
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TypeGuard
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import Algorithm, get_default_algorithms
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from calcinosis.errors import CalcinosisError, field_path
from calcinosis.limits import TooLargeError, loads_bounded, read_capped
from calcinosis.settings import SettingsError

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AsyncClaimJti",
    "AuthError",
    "ClaimJti",
    "FhirServer",
    "Issuer",
    "JwksFetcher",
    "ReplayCache",
    "TokenVerifier",
    "TrustConfig",
    "VerifiedClaims",
    "fetch_jwks_httpx",
    "load_trust",
    "loopback_fhir_server_url",
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
_JWKS_MAX_BYTES = 64 * 1024
_JWKS_MAX_DEPTH = 16
_CONNECT_TIMEOUT = 2.0
_MAX_TIMESTAMP = 1e10  # seconds since 1970: year 2286; anything later is absurd
_MAX_JTI_CHARS = 255
_MAX_URL_CHARS = 2_048

# The durable replay check: True when (issuer, jti) is claimed now, False when it was
# claimed before. ``expires_at`` is when the claim may be forgotten.
ClaimJti = Callable[[str, str, datetime], bool]
AsyncClaimJti = Callable[[str, str, datetime], Awaitable[bool]]
# A JWK or a JWKS document as JSON gives it: free-form, checked where it is used.
Jwk = Mapping[str, object]
JwksFetcher = Callable[[str], Awaitable[Mapping[str, object]] | Mapping[str, object]]
PublicKey = EllipticCurvePublicKey | RSAPublicKey
# The verifiers of the allowed algorithms, PyJWT's own (what jwt.decode would use).
_ALGORITHMS: Mapping[str, Algorithm] = MappingProxyType(
    {name: found for name, found in get_default_algorithms().items() if name in ALLOWED_ALGORITHMS}
)
_KEY_CACHE_ENTRIES = 1_024  # loaded public keys kept, by (alg, JWK); cleared when full


class AuthError(CalcinosisError):
    """A CDS Hooks call is not trusted. ``reason`` is private: for logs and tests only.

    The message is the reason itself, a short fixed phrase ("expired",
    "replayed", "bad audience", ...); it never contains the token or a claim.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class FhirServer:
    """A FHIR base URL an issuer may name: scheme, host and port exact, path a prefix."""

    scheme: str
    host: str
    port: int
    path: str  # "" or "/fhir": no trailing slash

    def matches(self, other: FhirServer) -> bool:
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port) and (
            other.path == self.path or other.path.startswith(self.path + "/")
        )

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"


@dataclass(frozen=True)
class Issuer:
    """One trusted CDS client: exactly one of ``jwks`` (inline) and ``jku`` is set."""

    iss: str
    jwks: Mapping[str, list[Jwk]] | None
    jku: str | None
    fhir_servers: tuple[FhirServer, ...] = ()

    def fhir_server_url(self, url: object) -> str | None:
        """The URL to fetch prefetch from for the ``fhirServer`` ``url``, or None.

        ``url`` must parse strictly (:func:`_split_fhir_url`: no credentials,
        query, fragment, percent-escapes or dot segments) and fall under one of
        ``fhir_servers``. The URL returned is rebuilt from the listed entry's
        scheme, host and port, so that no parser difference can send the
        access token elsewhere.
        """
        wanted = _split_fhir_url(url)
        if wanted is None:
            return None
        for allowed in self.fhir_servers:
            if allowed.matches(wanted):
                return allowed.url(wanted.path)
        return None


def loopback_fhir_server_url(url: object) -> str | None:
    """``--insecure-cds`` (development): any loopback ``fhirServer``, nothing else."""
    wanted = _split_fhir_url(url)
    if wanted is None or not _is_loopback(wanted.host):
        return None
    return wanted.url(wanted.path)


def _split_fhir_url(url: object) -> FhirServer | None:
    """A strictly parsed http(s) base URL, or None.

    Refused: anything but ASCII printable characters, a backslash, ``@``
    (credentials), ``%`` (escapes), ``?`` or ``#``; a scheme other than http(s);
    no host; a bad port; empty, ``.`` or ``..`` path segments.
    """
    if not isinstance(url, str) or not url or len(url) > _MAX_URL_CHARS:
        return None
    if any(not "!" <= character <= "~" for character in url) or any(c in url for c in "\\@%?#"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host or parts.username is not None:
        return None
    path = parts.path.rstrip("/")
    if path and (
        not path.startswith("/") or any(s in ("", ".", "..") for s in path[1:].split("/"))
    ):
        return None
    return FhirServer(scheme, host, port or (443 if scheme == "https" else 80), path)


@dataclass(frozen=True)
class TrustConfig:
    """The allow-listed issuers, by ``iss``."""

    issuers: Mapping[str, Issuer]


# --- configuration -----------------------------------------------------------------


class _JwksModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[dict[str, object]] = Field(min_length=1)


class _IssuerModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: StrictStr = Field(min_length=1)
    jwks: _JwksModel | None = None
    jku: StrictStr | None = None
    fhir_servers: list[StrictStr] = Field(default_factory=list, max_length=100)


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


def _check_key(jwk: Jwk) -> None:
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


def _default_alg(jwk: Jwk) -> str:
    if jwk.get("kty") == "EC":
        for alg, crv in _CURVE_FOR_ALG.items():
            if jwk.get("crv") == crv:
                return alg
    return "RS256"


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
        raise fail(field_path(first["loc"], "(top level)"), first["msg"]) from None

    issuers: dict[str, Issuer] = {}
    for i, entry in enumerate(model.issuers):
        here = f"issuers[{i}]"
        if (entry.jwks is None) == (entry.jku is None):
            raise fail(here, "exactly one of 'jwks' and 'jku' is required")
        if entry.iss in issuers:
            raise fail(f"{here}.iss", "duplicate issuer")
        servers = _fhir_servers(entry.fhir_servers, f"{here}.fhir_servers", fail)
        if entry.jku is not None:
            problem = _jku_problem(entry.jku)
            if problem is not None:
                raise fail(f"{here}.jku", problem)
            issuers[entry.iss] = Issuer(
                iss=entry.iss, jwks=None, jku=entry.jku, fhir_servers=servers
            )
        elif entry.jwks is not None:
            issuers[entry.iss] = Issuer(
                iss=entry.iss,
                jwks={"keys": _checked_keys(entry.jwks, here, fail)},
                jku=None,
                fhir_servers=servers,
            )
    return TrustConfig(issuers=MappingProxyType(issuers))


def _fhir_servers(
    urls: list[str], here: str, fail: Callable[[str, str], SettingsError]
) -> tuple[FhirServer, ...]:
    servers = []
    for k, url in enumerate(urls):
        server = _split_fhir_url(url)
        if server is None:
            raise fail(
                f"{here}[{k}]",
                "must be an http(s) base URL without credentials, query, fragment, "
                "percent-escapes or dot segments",
            )
        if server.scheme != "https" and not _is_loopback(server.host):
            raise fail(f"{here}[{k}]", "must be https (http only for 127.0.0.1/localhost)")
        servers.append(server)
    return tuple(servers)


def _checked_keys(
    jwks: _JwksModel, here: str, fail: Callable[[str, str], SettingsError]
) -> list[Jwk]:
    kids: set[object] = set()
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
    """The in-memory default replay check: ``(iss, jti)`` pairs, each until it expires.

    Thread-safe; :meth:`claim` has the signature of a durable store's
    ``claim_jti``. It does not survive a restart and is not shared between
    instances (configure a durable store for that). Its size is bounded: expired
    entries are pruned on every claim; if it is still full of live entries, new
    tokens are refused ("replay cache full") rather than forgetting live ones,
    which would re-open the door to replays. With the token lifetime cap every
    entry expires within minutes, so a full cache refuses new calls for minutes,
    never for good.
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

    def claim(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """True if ``(issuer, jti)`` is new (remembered until ``expires_at``), False if seen."""
        until = expires_at.timestamp()
        if not math.isfinite(until):
            raise ValueError("expires_at must be a finite time")
        key = (issuer, jti)
        with self._lock:
            now = self._clock()
            self._evict_expired(now)
            if key in self._expiry:
                return False
            if until <= now:
                return True  # could not be replayed: any later use is refused as expired
            if len(self._expiry) >= self._max_entries:
                _log.warning("CDS Hooks replay cache is full; refusing new tokens")
                raise AuthError("replay cache full")
            self._expiry[key] = until
            heapq.heappush(self._heap, (until, key))
            return True


# --- fetching JWKS ---------------------------------------------------------------------


def _checked_jwks(document: object) -> list[Jwk]:
    if not isinstance(document, dict):
        raise AuthError("bad jwks")
    keys = document.get("keys")
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise AuthError("bad jwks")
    return keys


async def fetch_jwks_httpx(
    url: str, *, timeout: float = 5.0, max_bytes: int = _JWKS_MAX_BYTES
) -> dict[str, object]:
    """GET a JWKS without blocking: https (or loopback http), no redirects, 64 KiB at most.

    ``timeout`` bounds the whole fetch (connect, headers and body; 2 s at most to
    connect). The answer is read uncompressed (``Accept-Encoding: identity``) and
    streamed against the cap; it must be a JSON object with a ``keys`` list, nested
    16 levels at most; anything else is an AuthError. Proxy variables and netrc
    files of the environment are not used.
    """
    if _jku_problem(url) is not None:
        raise AuthError("jku not allowed")
    limits = httpx.Timeout(timeout, connect=min(_CONNECT_TIMEOUT, timeout))
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=limits, follow_redirects=False, trust_env=False) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != httpx.codes.OK:
                raise AuthError("jwks fetch failed")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise AuthError("jwks fetch failed")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise AuthError("jwks too large")
            body = await read_capped(response.aiter_raw(), max_bytes)
    except TooLargeError:
        raise AuthError("jwks too large") from None
    except TimeoutError:
        raise AuthError("jwks fetch timed out") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError):
        raise AuthError("jwks fetch failed") from None
    try:
        document = loads_bounded(body, _JWKS_MAX_DEPTH)
    except ValueError:
        raise AuthError("bad jwks") from None
    _checked_jwks(document)
    if not isinstance(document, dict):  # refused by _checked_jwks already; for the types
        raise AuthError("bad jwks")
    return document


@dataclass
class _JwksState:
    """What is known of one jku: its keys and the fetches' history (guarded by a lock)."""

    keys: list[Jwk] | None = None
    fetched_at: float = -math.inf  # when the last successful fetch ended
    ended_at: float = -math.inf  # when the last fetch ended, whatever its outcome
    failures: int = 0  # consecutive failed fetches
    retry_at: float = -math.inf  # no fetch before (the breaker is open until then)
    in_flight: asyncio.Task[list[Jwk]] | None = field(default=None, repr=False)


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


def _is_timestamp(value: object) -> TypeGuard[float]:
    """Seconds since 1970 between 0 and 10^10 (JSON parsers accept NaN and 1e999, and a
    finite 1e308 is as absurd)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= _MAX_TIMESTAMP
    )


@dataclass(frozen=True)
class VerifiedClaims:
    """The claims of a verified token: the ones checked, typed, and the whole claims set
    (``claims``: free-form JSON, e.g. a ``tenant``) as the token gave it."""

    iss: str
    jti: str
    exp: float
    iat: float
    claims: Mapping[str, object]


@dataclass(frozen=True)
class _Token:
    """A compact JWS parsed once: its header, its claims, what was signed and the signature."""

    header: Mapping[str, object]
    claims: Mapping[str, object]
    signing_input: bytes
    signature: bytes


def _parse_token(token: str) -> _Token:
    """The token's parts, or AuthError("malformed"), parsed as ``jwt.decode`` parses them.

    PyJWT's own parser (with the signature not checked yet): the base64url segments
    strictly, the header a JSON object whose ``kid`` is a string and whose ``crit``
    names only extensions it supports, and the unencoded-payload form refused; then
    the payload, a JSON object.
    """
    try:
        parts = jwt.api_jws.decode_complete(token, options={"verify_signature": False})
        claims = json.loads(parts["payload"])
    except (jwt.PyJWTError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise AuthError("malformed") from None
    header = parts["header"]
    if not isinstance(claims, dict) or not isinstance(header, dict):
        raise AuthError("malformed")
    signature = parts["signature"]
    if not isinstance(signature, bytes):  # pragma: no cover - PyJWT gives bytes
        raise AuthError("malformed")
    # what _load signs: the token up to its last dot (ASCII: the segments were checked)
    return _Token(header, claims, token.encode("utf-8").rsplit(b".", 1)[0], signature)


class TokenVerifier:
    """Verifies CDS clients' JWTs against a :class:`TrustConfig`.

    :meth:`verify_async` is what the service awaits: it never blocks the event
    loop (JWKS fetches are async; a pluggable ``claim`` runs in a thread).
    :meth:`verify` runs it to completion for synchronous callers (tests, tools).
    State is shared safely between threads and event loops.

    ``fetch_jwks`` may be a coroutine function or a plain function (tests); it
    defaults to :func:`fetch_jwks_httpx` with ``jwks_timeout``. ``claim``
    defaults to a :class:`ReplayCache` of ``replay_max_entries``; ``aclaim``, when
    given with it, is the same claim for the event loop, awaited instead of running
    ``claim`` in a thread (the store's ``aclaim_jti``).
    ``verify_exp=False`` exists only so the tests can check the CDS Hooks
    specification's example token, whose ``exp`` lies in 2015 and which lives
    three years: it turns off the expiry and the lifetime checks. The service
    never sets it.
    """

    def __init__(
        self,
        trust: TrustConfig,
        *,
        fetch_jwks: JwksFetcher | None = None,
        claim: ClaimJti | None = None,
        aclaim: AsyncClaimJti | None = None,
        leeway: float = 30.0,
        max_lifetime: float = 300.0,
        jwks_ttl: float = 300.0,
        jwks_timeout: float = 5.0,
        jwks_backoff: float = 5.0,
        jwks_max_backoff: float = 300.0,
        replay_max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
        verify_exp: bool = True,
    ) -> None:
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        if jwks_ttl <= 0:
            raise ValueError("jwks_ttl must be positive")
        if max_lifetime <= 0:
            raise ValueError("max_lifetime must be positive")
        if not 0 < jwks_backoff <= jwks_max_backoff:
            raise ValueError("jwks_backoff must be positive and at most jwks_max_backoff")
        self._trust = trust
        self._fetch: JwksFetcher = (
            fetch_jwks
            if fetch_jwks is not None
            else lambda url: fetch_jwks_httpx(url, timeout=jwks_timeout)
        )
        # The in-memory default is called directly; a pluggable claim runs in a thread.
        self._memory = ReplayCache(replay_max_entries, clock=clock) if claim is None else None
        if aclaim is not None and claim is None:
            raise ValueError("aclaim is the awaitable form of claim: give both")
        self._claim = claim
        self._aclaim = aclaim
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._jwks_ttl = jwks_ttl
        self._backoff = jwks_backoff
        self._max_backoff = jwks_max_backoff
        self._clock = clock
        self._verify_exp = verify_exp
        self._lock = threading.Lock()
        self._jwks: dict[str, _JwksState] = {}
        # Public keys loaded from JWKs that passed _load_key's checks, by (alg, the JWK as
        # JSON): the checks on the JWK still run on every call, only PyJWK's parsing of
        # the key (about 0.1 ms for a P-384 point) is not repeated.
        self._keys: dict[tuple[str, str], PublicKey] = {}

    @property
    def trust(self) -> TrustConfig:
        return self._trust

    def verify(self, authorization: str | None, audience: str) -> VerifiedClaims:
        """:meth:`verify_async`, run to completion; not for use inside an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop running: the expected case
        else:
            raise RuntimeError("TokenVerifier.verify called in an event loop: await verify_async")
        return asyncio.run(self.verify_async(authorization, audience))

    async def verify_async(self, authorization: str | None, audience: str) -> VerifiedClaims:
        """The verified claims of the call's JWT, or AuthError.

        ``audience`` is the URL the call was made to: the service's public
        URL plus the request path.
        """
        if not audience:
            raise ValueError("audience must be the service URL")
        try:
            return await self._verify(authorization, audience)
        except AuthError as error:
            _log.info("CDS Hooks JWT refused: %s", error.reason)
            raise
        except Exception as error:  # fail closed: a surprise is a refusal, not a 500
            if getattr(error, "retryable", False):
                raise  # the replay store could not be written: answered 503, not 401
            _log.warning("CDS Hooks JWT refused: unexpected %s", type(error).__name__)
            raise AuthError("invalid token") from None

    async def _verify(self, authorization: str | None, audience: str) -> VerifiedClaims:
        token = _parse_token(_parse_authorization(authorization))  # parsed once, here
        header, unverified = token.header, token.claims
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthError("algorithm not allowed")
        if "crit" in header:
            raise AuthError("unsupported critical header")
        iss = unverified.get("iss")
        issuer = self._trust.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("unknown issuer")
        self._check_times(unverified)  # before any key is fetched: stale forgeries cost nothing
        key = self._load_key(await self._public_key(issuer, header), alg)
        claims = _verified(token, key, alg, audience, issuer.iss)
        self._check_times(claims)  # again: the clock has moved while the key was fetched
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS:
            raise AuthError("bad jti")
        exp, iat = claims["exp"], claims["iat"]
        if not (_is_timestamp(exp) and _is_timestamp(iat)):  # pragma: no cover - checked
            raise AuthError("bad exp")
        await self._claim_once(issuer.iss, jti, float(exp) + self._leeway)
        return VerifiedClaims(iss=issuer.iss, jti=jti, exp=exp, iat=iat, claims=claims)

    def _check_times(self, claims: Mapping[str, object]) -> None:
        now = self._clock()
        if "exp" not in claims:
            raise AuthError("missing exp")
        if "iat" not in claims:
            raise AuthError("missing iat")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        if not _is_timestamp(exp):
            raise AuthError("bad exp")
        if not _is_timestamp(iat):
            raise AuthError("bad iat")
        if self._verify_exp:
            if exp <= now - self._leeway:
                raise AuthError("expired")
            if exp - iat > self._max_lifetime:
                raise AuthError("lifetime too long")
            if exp - now > self._max_lifetime + self._leeway:
                raise AuthError("exp too far ahead")
        if iat > now + self._leeway:
            raise AuthError("iat in the future")
        if nbf is not None and (not _is_timestamp(nbf) or nbf > now + self._leeway):
            raise AuthError("not yet valid")

    async def _claim_once(self, iss: str, jti: str, until: float) -> None:
        expires_at = datetime.fromtimestamp(until, tz=UTC)
        try:
            if self._aclaim is not None:  # awaits the database's commit, holds no thread
                fresh = await self._aclaim(iss, jti, expires_at)
            elif self._claim is not None:  # a database call: off the event loop
                fresh = await asyncio.to_thread(self._claim, iss, jti, expires_at)
            elif self._memory is not None:
                fresh = self._memory.claim(iss, jti, expires_at)
            else:  # pragma: no cover - one of the two is always set
                raise AuthError("replay check failed")
        except AuthError:
            raise
        except Exception as error:  # the replay check failed: refuse, say so in one line
            if getattr(error, "retryable", False):
                raise  # the store is down (a 503 "try again"), not a bad token
            _log.warning("CDS Hooks replay check failed: %s", type(error).__name__)
            raise AuthError("replay check failed") from None
        if fresh is not True:
            raise AuthError("replayed")

    # --- keys -------------------------------------------------------------------

    async def _public_key(self, issuer: Issuer, header: Mapping[str, object]) -> Jwk | None:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("malformed")
        if issuer.jwks is not None:
            return self._select(_checked_jwks(issuer.jwks), kid)
        if issuer.jku is not None:
            if "jku" in header and header["jku"] != issuer.jku:
                raise AuthError("jku not allowed")
            return await self._select_fetched(issuer.jku, kid)
        raise AuthError("unknown issuer")

    @staticmethod
    def _select(keys: list[Jwk], kid: str | None) -> Jwk | None:
        if kid is None:
            if len(keys) != 1:
                raise AuthError("kid required")
            return keys[0]
        matches = [key for key in keys if key.get("kid") == kid]
        if len(matches) > 1:
            raise AuthError("ambiguous kid")
        return matches[0] if matches else None

    async def _select_fetched(self, url: str, kid: str | None) -> Jwk | None:
        """The key from the JWKS at ``url``: cached for ``jwks_ttl`` seconds, fetched
        again on an unknown kid at most once a minute, and never while the breaker is
        open (refused tokens must not make us hammer the issuer)."""
        now = self._clock()
        with self._lock:
            state = self._jwks.setdefault(url, _JwksState())
            keys, fetched_at, ended_at = state.keys, state.fetched_at, state.ended_at
            backing_off = now < state.retry_at and state.in_flight is None
        fresh = keys is not None and now - fetched_at < self._jwks_ttl
        if fresh and keys is not None:
            jwk = self._select(keys, kid)
            if jwk is not None or backing_off or now - ended_at < _REFETCH_INTERVAL:
                return jwk
        elif backing_off:
            raise AuthError("jwks unavailable")
        return self._select(await self._fetch_once(url), kid)

    async def _fetch_once(self, url: str) -> list[Jwk]:
        """The JWKS at ``url`` fetched now, by one fetch shared by every caller waiting."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._jwks.setdefault(url, _JwksState())
            task = state.in_flight
            if task is None or task.done() or task.get_loop() is not loop:
                task = loop.create_task(self._fetch_and_record(url, state))
                task.add_done_callback(_retrieve)
                state.in_flight = task
        return await asyncio.shield(task)  # a caller who gives up leaves the fetch to others

    async def _fetch_and_record(self, url: str, state: _JwksState) -> list[Jwk]:
        try:
            answer = self._fetch(url)
            document = await answer if inspect.isawaitable(answer) else answer
            keys = _checked_jwks(document)
        except Exception as error:  # any fetcher failure refuses the call, nothing more
            ended = self._clock()
            with self._lock:
                state.failures += 1
                delay = min(self._backoff * 2 ** min(state.failures - 1, 32), self._max_backoff)
                state.ended_at, state.retry_at, state.in_flight = ended, ended + delay, None
            reason = error.reason if isinstance(error, AuthError) else "jwks fetch failed"
            _log.warning("CDS Hooks JWKS fetch failed (%s); next attempt in %.0f s", reason, delay)
            raise AuthError(reason) from None
        ended = self._clock()
        with self._lock:
            state.keys, state.fetched_at, state.ended_at = keys, ended, ended
            state.failures, state.retry_at, state.in_flight = 0, -math.inf, None
        return keys

    def _load_key(self, jwk: Jwk | None, alg: str) -> PublicKey:
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
            cache_key: tuple[str, str] | None = (alg, json.dumps(jwk, sort_keys=True))
        except (TypeError, ValueError):  # not JSON (a fetcher's oddity): loaded, not kept
            cache_key = None
        key = self._keys.get(cache_key) if cache_key is not None else None
        if key is not None:
            return key
        loaded = _public_key_of(jwk, alg)
        if cache_key is not None:
            if len(self._keys) >= _KEY_CACHE_ENTRIES:
                self._keys.clear()  # a flood of forged kids must not grow it without bound
            self._keys[cache_key] = loaded
        return loaded


def _public_key_of(jwk: Jwk, alg: str) -> PublicKey:
    """The public key of ``jwk`` for ``alg`` (EC, or RSA of 2048 bits or more), or AuthError."""
    try:
        key: object = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (jwt.PyJWTError, ValueError, TypeError):
        raise AuthError("bad key") from None
    if isinstance(key, RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise AuthError("bad key")
    elif not isinstance(key, EllipticCurvePublicKey):
        raise AuthError("bad key")
    return key


def _verified(
    token: _Token, key: PublicKey, alg: str, audience: str, iss: str
) -> Mapping[str, object]:
    """The claims of ``token`` once its signature verifies with ``key`` and its claims
    pass what ``jwt.decode`` checks with ``require=[iss, aud, exp, iat, jti]``,
    ``issuer=iss``, ``audience=audience`` and the times left to :meth:`_check_times`:
    the same checks in the same order, with PyJWT's own verifier of ``alg``, on the
    token parsed once."""
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None:  # pragma: no cover - alg is allowed, so PyJWT has it
        raise AuthError("algorithm not allowed")
    try:
        prepared = algorithm.prepare_key(key)
    except jwt.PyJWTError:
        raise AuthError("bad key") from None
    # (PyJWT's check_key_length would only warn: RSA keys under 2048 bits are refused.)
    if not algorithm.verify(token.signing_input, prepared, token.signature):
        raise AuthError("bad signature")
    claims = token.claims
    for name in ("iss", "aud", "exp", "iat", "jti"):  # PyJWT's "require", in its order
        if claims.get(name) is None:
            raise AuthError(f"missing {name}")
    if claims["iss"] != iss:  # a string: the issuer was found by it
        raise AuthError("unknown issuer")
    audiences = claims["aud"]
    if not audiences:  # "" or []: PyJWT's audience check calls it missing
        raise AuthError("missing aud")
    if isinstance(audiences, str):
        audiences = [audiences]
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise AuthError("bad audience")
    if audience not in audiences:  # a list containing it will do (RFC 7519 4.1.3)
        raise AuthError("bad audience")
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise AuthError("invalid token")
    if not isinstance(claims["jti"], str):
        raise AuthError("bad jti")
    return claims


def _retrieve(task: asyncio.Task[object]) -> None:
    """Mark a shared fetch's outcome as seen, even when every waiter has gone."""
    if not task.cancelled():
        task.exception()
