"""One typed Settings object for the service, read from the environment.

``CALCINOSIS_DATABASE_URL``: SQLite (default: a file in the user's data
directory) or PostgreSQL. ``CALCINOSIS_PUBLIC_URL``: the base URL the server is
reached at (default ``http://{host}:{port}``); CDS Hooks tokens must be
issued for it. ``CALCINOSIS_CDS_ISSUERS``: the JSON file of trusted CDS
clients. ``CALCINOSIS_ADMIN_TOKEN`` and the ``CALCINOSIS_CDS_*`` limits: see
:class:`CdsLimits` (issue 11). Unsafe or malformed values are refused at
start-up with one line naming the variable.

HTTP limits (issue 11): ``CALCINOSIS_MAX_BODY_BYTES`` (request bodies, default
1 MiB), ``CALCINOSIS_BODY_LIMITS`` (per path prefix, ``/prefix=BYTES,...``),
``CALCINOSIS_HEADER_TIMEOUT`` (seconds to send a request head, default 10),
``CALCINOSIS_BODY_TIMEOUT`` (seconds to send a request body, default 30),
``CALCINOSIS_KEEP_ALIVE_TIMEOUT`` (idle keep-alive seconds, default 5) and
``CALCINOSIS_ALLOWED_HOSTS`` (``Host`` values accepted besides the public URL's).

Storage (README, "Storage guarantees and faults"):
``CALCINOSIS_STORAGE_WRITE_TIMEOUT`` (seconds a request waits for its audit
record to be committed, default 5), ``CALCINOSIS_STORAGE_BUSY_TIMEOUT``
(seconds a write waits for a lock another process holds, default 2; less than
the write timeout), ``CALCINOSIS_FEEDBACK_MAX_ITEMS`` (feedback items per CDS
Hooks feedback call, default 100). Unsafe or malformed values are refused at
start-up with one line naming the variable.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict, SecretStr

from calcinosis.errors import CalcinosisError

__all__ = ["CdsLimits", "Settings", "SettingsError", "default_database_url", "is_loopback"]

_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


class SettingsError(CalcinosisError):
    """A configuration value the service refuses to start with."""


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not low < value <= high:
        raise SettingsError(f"{name}: must be more than {low:g} and at most {high:g}, got {raw!r}")
    return value


def default_database_url() -> str:
    directory = Path(user_data_dir("calcinosis", appauthor=False))
    return f"sqlite:///{directory / 'calcinosis.db'}"


# --- issue 11: CDS Hooks trust and limits ----------------------------------------------


class CdsLimits(BaseModel):
    """The limits of the CDS Hooks service, each read from its environment variable.

    Sizes are in bytes, times in seconds. ``CALCINOSIS_CDS_MAX_ENTRIES`` bounds every
    JSON array of the FHIR input (a Bundle's entries, a list of resources, codings);
    ``CALCINOSIS_CDS_MAX_STRING_CHARS`` every string the FHIR mapper reads.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = 5_000_000  # CALCINOSIS_CDS_MAX_BODY_BYTES: a CDS request body
    max_json_depth: int = 64  # CALCINOSIS_CDS_MAX_JSON_DEPTH: nesting of any JSON read
    max_prefetch_keys: int = 16  # CALCINOSIS_CDS_MAX_PREFETCH_KEYS
    max_entries: int = 1_000  # CALCINOSIS_CDS_MAX_ENTRIES: items of any array of FHIR input
    max_string_chars: int = 4_096  # CALCINOSIS_CDS_MAX_STRING_CHARS: strings the mapper reads
    fetch_timeout: float = 5.0  # CALCINOSIS_CDS_FETCH_TIMEOUT: all FHIR fetches of one call
    fetch_max_bytes: int = 5_000_000  # CALCINOSIS_CDS_FETCH_MAX_BYTES: one FHIR answer
    token_max_lifetime: float = 300.0  # CALCINOSIS_CDS_TOKEN_MAX_LIFETIME: exp - iat, exp - now
    clock_skew: float = 30.0  # CALCINOSIS_CDS_CLOCK_SKEW: leeway on exp, iat and nbf
    replay_max_entries: int = 100_000  # CALCINOSIS_CDS_REPLAY_MAX_ENTRIES: in-memory jti cache
    jwks_timeout: float = 5.0  # CALCINOSIS_CDS_JWKS_TIMEOUT: one jku fetch, in all
    jwks_backoff: float = 5.0  # CALCINOSIS_CDS_JWKS_BACKOFF: after a failed fetch (doubles)
    jwks_max_backoff: float = 300.0  # CALCINOSIS_CDS_JWKS_MAX_BACKOFF: the breaker's longest


# (field, variable, type, lowest, highest)
_CDS_VARIABLES: tuple[tuple[str, str, type[int] | type[float], float, float], ...] = (
    ("max_body_bytes", "CALCINOSIS_CDS_MAX_BODY_BYTES", int, 1_024, 100_000_000),
    ("max_json_depth", "CALCINOSIS_CDS_MAX_JSON_DEPTH", int, 8, 200),
    ("max_prefetch_keys", "CALCINOSIS_CDS_MAX_PREFETCH_KEYS", int, 3, 1_000),
    ("max_entries", "CALCINOSIS_CDS_MAX_ENTRIES", int, 1, 1_000_000),
    ("max_string_chars", "CALCINOSIS_CDS_MAX_STRING_CHARS", int, 64, 1_000_000),
    ("fetch_timeout", "CALCINOSIS_CDS_FETCH_TIMEOUT", float, 0.1, 120),
    ("fetch_max_bytes", "CALCINOSIS_CDS_FETCH_MAX_BYTES", int, 1_024, 100_000_000),
    ("token_max_lifetime", "CALCINOSIS_CDS_TOKEN_MAX_LIFETIME", float, 10, 3_600),
    ("clock_skew", "CALCINOSIS_CDS_CLOCK_SKEW", float, 0, 300),
    ("replay_max_entries", "CALCINOSIS_CDS_REPLAY_MAX_ENTRIES", int, 100, 10_000_000),
    ("jwks_timeout", "CALCINOSIS_CDS_JWKS_TIMEOUT", float, 0.1, 60),
    ("jwks_backoff", "CALCINOSIS_CDS_JWKS_BACKOFF", float, 0.1, 3_600),
    ("jwks_max_backoff", "CALCINOSIS_CDS_JWKS_MAX_BACKOFF", float, 0.1, 86_400),
)
_ADMIN_TOKEN_MIN_CHARS = 32


def _issue11_settings(env: Mapping[str, str]) -> dict[str, object]:
    """``cds`` (CdsLimits) and ``admin_token`` from the environment, or a SettingsError."""
    values: dict[str, float] = {}
    for name, variable, kind, lowest, highest in _CDS_VARIABLES:
        raw = env.get(variable)
        if raw is None or not raw.strip():
            continue
        try:
            value: float = kind(raw.strip())
        except ValueError:
            raise SettingsError(
                f"{variable}: must be {'an integer' if kind is int else 'a number'}, got {raw!r}"
            ) from None
        if not lowest <= value <= highest:  # also refuses nan
            raise SettingsError(f"{variable}: must be between {lowest:g} and {highest:g}")
        values[name] = value
    cds = CdsLimits.model_validate(values)
    if cds.jwks_max_backoff < cds.jwks_backoff:
        raise SettingsError("CALCINOSIS_CDS_JWKS_MAX_BACKOFF: must not be below the back-off")
    token = env.get("CALCINOSIS_ADMIN_TOKEN") or None
    if token is not None and (
        len(token) < _ADMIN_TOKEN_MIN_CHARS
        or not all("!" <= character <= "~" for character in token)
    ):
        raise SettingsError(
            f"CALCINOSIS_ADMIN_TOKEN: must be at least {_ADMIN_TOKEN_MIN_CHARS} printable "
            "ASCII characters without spaces (e.g. `openssl rand -hex 32`)"
        )
    return {"cds": cds, "admin_token": SecretStr(token) if token is not None else None}


# --- HTTP limits (issue 11) ------------------------------------------------------------------
DEFAULT_MAX_BODY_BYTES = 1_048_576


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _positive_int(name: str, text: str, unit: str = "bytes") -> int:
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name}: must be a whole number of {unit}, got {text!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {text!r}")
    return value


def _seconds(name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise SettingsError(f"{name}: must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name}: must be a positive number of seconds, got {text!r}")
    return value


def _http_limits(env: Mapping[str, str]) -> dict[str, Any]:
    """The HTTP limits from the environment; a malformed value is one line naming it."""
    limits: dict[str, Any] = {}
    if text := env.get("CALCINOSIS_MAX_BODY_BYTES"):
        limits["max_body_bytes"] = _positive_int("CALCINOSIS_MAX_BODY_BYTES", text)
    if text := env.get("CALCINOSIS_BODY_LIMITS"):
        prefixes: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            prefix, sep, size = item.partition("=")
            prefix = prefix.strip()
            if not sep or not prefix.startswith("/"):
                raise SettingsError(
                    f"CALCINOSIS_BODY_LIMITS: expected /path/prefix=BYTES, got {item!r}"
                )
            prefixes[prefix] = _positive_int(f"CALCINOSIS_BODY_LIMITS ({prefix})", size)
        limits["body_limits"] = tuple(prefixes.items())
    if text := env.get("CALCINOSIS_HEADER_TIMEOUT"):
        limits["header_timeout"] = _seconds("CALCINOSIS_HEADER_TIMEOUT", text)
    if text := env.get("CALCINOSIS_BODY_TIMEOUT"):
        limits["body_timeout"] = _seconds("CALCINOSIS_BODY_TIMEOUT", text)
    if text := env.get("CALCINOSIS_KEEP_ALIVE_TIMEOUT"):
        limits["keep_alive_timeout"] = _positive_int(
            "CALCINOSIS_KEEP_ALIVE_TIMEOUT", text, "seconds"
        )
    if text := env.get("CALCINOSIS_ALLOWED_HOSTS"):
        hosts = tuple(h.strip().lower() for h in text.split(",") if h.strip())
        for host in hosts:
            if any(c in host for c in "/@?# ") or host.startswith(("http:", "https:")):
                raise SettingsError(
                    f"CALCINOSIS_ALLOWED_HOSTS: expected host or host:port, got {host!r}"
                )
        limits["allowed_hosts"] = hosts
    return limits


# --- end of HTTP limits ----------------------------------------------------------------------


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str
    public_url: str
    cds_issuers: str | None = None  # CALCINOSIS_CDS_ISSUERS: the trusted CDS clients (JSON file)
    insecure_cds: bool = False  # --insecure-cds: CDS Hooks without authentication (development)
    # --- issue 11, CDS Hooks trust and limits (kept together; see CdsLimits below) ---
    cds: CdsLimits = CdsLimits()
    admin_token: SecretStr | None = None  # CALCINOSIS_ADMIN_TOKEN: the feedback views' credential
    # --- HTTP limits (issue 11; read by _http_limits above) ---------------------------------
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # CALCINOSIS_MAX_BODY_BYTES
    body_limits: tuple[tuple[str, int], ...] = ()  # CALCINOSIS_BODY_LIMITS: (path prefix, bytes)
    header_timeout: float = 10.0  # CALCINOSIS_HEADER_TIMEOUT: seconds to send a request head
    body_timeout: float = 30.0  # CALCINOSIS_BODY_TIMEOUT: seconds to send a request body
    keep_alive_timeout: int = 5  # CALCINOSIS_KEEP_ALIVE_TIMEOUT: idle keep-alive seconds
    allowed_hosts: tuple[str, ...] = ()  # CALCINOSIS_ALLOWED_HOSTS: more accepted Host values
    # --- end of HTTP limits ------------------------------------------------------------------
    storage_write_timeout: float = 5.0  # CALCINOSIS_STORAGE_WRITE_TIMEOUT, seconds
    storage_busy_timeout: float = 2.0  # CALCINOSIS_STORAGE_BUSY_TIMEOUT, seconds
    feedback_max_items: int = 100  # CALCINOSIS_FEEDBACK_MAX_ITEMS

    @classmethod
    def from_env(
        cls,
        host: str = "127.0.0.1",
        port: int = 8000,
        env: Mapping[str, str] | None = None,
        *,
        insecure_cds: bool = False,
    ) -> Settings:
        env = os.environ if env is None else env
        database_url = env.get("CALCINOSIS_DATABASE_URL") or default_database_url()
        scheme = database_url.split(":", 1)[0]
        if scheme not in _DATABASE_SCHEMES:
            raise SettingsError(
                f"CALCINOSIS_DATABASE_URL: unsupported scheme {scheme!r}; "
                f"valid choices: {', '.join(_DATABASE_SCHEMES)}"
            )
        if not 0 < port < 65536:
            raise SettingsError(f"port must be between 1 and 65535, got {port}")
        public_url = (env.get("CALCINOSIS_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/")
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(
                f"CALCINOSIS_PUBLIC_URL: must be an http(s) URL, got {public_url!r}"
            )
        if parts.query or parts.fragment:
            raise SettingsError("CALCINOSIS_PUBLIC_URL: must have no query or fragment")
        if insecure_cds and not is_loopback(host):
            raise SettingsError(
                f"--insecure-cds is for a loopback --host only (127.0.0.0/8, ::1, localhost), "
                f"not {host!r}"
            )
        issuers = env.get("CALCINOSIS_CDS_ISSUERS") or None
        if issuers is not None and not Path(issuers).is_file():
            raise SettingsError(f"CALCINOSIS_CDS_ISSUERS: no such file {issuers!r}")
        write_timeout = _number(env, "CALCINOSIS_STORAGE_WRITE_TIMEOUT", 5.0, 0.0, 300.0)
        busy_timeout = _number(env, "CALCINOSIS_STORAGE_BUSY_TIMEOUT", 2.0, 0.0, 300.0)
        if busy_timeout >= write_timeout:
            raise SettingsError(
                "CALCINOSIS_STORAGE_BUSY_TIMEOUT: must be less than "
                f"CALCINOSIS_STORAGE_WRITE_TIMEOUT ({busy_timeout:g} >= {write_timeout:g})"
            )
        max_items = _number(env, "CALCINOSIS_FEEDBACK_MAX_ITEMS", 100, 0, 100_000)
        if max_items != int(max_items):
            raise SettingsError(
                f"CALCINOSIS_FEEDBACK_MAX_ITEMS: must be a whole number, got {max_items:g}"
            )
        return cls(
            host=host,
            port=port,
            database_url=database_url,
            public_url=public_url,
            cds_issuers=issuers,
            insecure_cds=insecure_cds,
            **_issue11_settings(env),
            **_http_limits(env),
            storage_write_timeout=write_timeout,
            storage_busy_timeout=busy_timeout,
            feedback_max_items=int(max_items),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
