"""One typed Settings object for the service, read from the environment.

``CALCINOSIS_DATABASE_URL``: SQLite (default: a file in the user's data
directory) or PostgreSQL. ``CALCINOSIS_PUBLIC_URL``: the base URL the server is
reached at (default ``http://{host}:{port}``); CDS Hooks tokens must be
issued for it. ``CALCINOSIS_CDS_ISSUERS``: the JSON file of trusted CDS
clients. Unsafe or malformed values are
refused at start-up with one line naming the variable.

HTTP limits (issue 11): ``CALCINOSIS_MAX_BODY_BYTES`` (request bodies, default
1 MiB), ``CALCINOSIS_BODY_LIMITS`` (per path prefix, ``/prefix=BYTES,...``),
``CALCINOSIS_HEADER_TIMEOUT`` (seconds to send a request head, default 10),
``CALCINOSIS_BODY_TIMEOUT`` (seconds to send a request body, default 30),
``CALCINOSIS_KEEP_ALIVE_TIMEOUT`` (idle keep-alive seconds, default 5) and
``CALCINOSIS_ALLOWED_HOSTS`` (``Host`` values accepted besides the public URL's).
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
from pydantic import BaseModel, ConfigDict

from calcinosis.errors import CalcinosisError

__all__ = ["Settings", "SettingsError", "default_database_url", "is_loopback"]

_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


class SettingsError(CalcinosisError):
    """A configuration value the service refuses to start with."""


def default_database_url() -> str:
    directory = Path(user_data_dir("calcinosis", appauthor=False))
    return f"sqlite:///{directory / 'calcinosis.db'}"


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
    # --- HTTP limits (issue 11; read by _http_limits above) ---------------------------------
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # CALCINOSIS_MAX_BODY_BYTES
    body_limits: tuple[tuple[str, int], ...] = ()  # CALCINOSIS_BODY_LIMITS: (path prefix, bytes)
    header_timeout: float = 10.0  # CALCINOSIS_HEADER_TIMEOUT: seconds to send a request head
    body_timeout: float = 30.0  # CALCINOSIS_BODY_TIMEOUT: seconds to send a request body
    keep_alive_timeout: int = 5  # CALCINOSIS_KEEP_ALIVE_TIMEOUT: idle keep-alive seconds
    allowed_hosts: tuple[str, ...] = ()  # CALCINOSIS_ALLOWED_HOSTS: more accepted Host values
    # --- end of HTTP limits ------------------------------------------------------------------

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
        return cls(
            host=host,
            port=port,
            database_url=database_url,
            public_url=public_url,
            cds_issuers=issuers,
            insecure_cds=insecure_cds,
            **_http_limits(env),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
