"""One typed Settings object for the service, read from the environment.

``CALCINOSIS_DATABASE_URL``: SQLite (default: a file in the user's data
directory) or PostgreSQL. ``CALCINOSIS_PUBLIC_URL``: the base URL the server is
reached at (default ``http://{host}:{port}``); CDS Hooks tokens must be
issued for it. ``CALCINOSIS_CDS_ISSUERS``: the JSON file of trusted CDS
clients. Storage (README, "Storage guarantees and faults"):
``CALCINOSIS_STORAGE_WRITE_TIMEOUT`` (seconds a request waits for its audit
record to be committed, default 5), ``CALCINOSIS_STORAGE_BUSY_TIMEOUT``
(seconds a write waits for a lock another process holds, default 2; less than
the write timeout), ``CALCINOSIS_FEEDBACK_MAX_ITEMS`` (feedback items per CDS
Hooks feedback call, default 100). Unsafe or malformed values are refused at
start-up with one line naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict

from calcinosis.errors import CalcinosisError

__all__ = ["Settings", "SettingsError", "default_database_url"]

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


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str
    public_url: str
    cds_issuers: str | None = None  # CALCINOSIS_CDS_ISSUERS: the trusted CDS clients (JSON file)
    insecure_cds: bool = False  # --insecure-cds: CDS Hooks without authentication (development)
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
            storage_write_timeout=write_timeout,
            storage_busy_timeout=busy_timeout,
            feedback_max_items=int(max_items),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
