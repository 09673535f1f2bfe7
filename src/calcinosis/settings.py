"""One typed Settings object for the service, read from the environment.

``CALCINOSIS_DATABASE_URL``: SQLite (default: a file in the user's data
directory) or PostgreSQL. ``CALCINOSIS_PUBLIC_URL``: the base URL the server is
reached at (default ``http://{host}:{port}``); CDS Hooks tokens must be
issued for it. ``CALCINOSIS_CDS_ISSUERS``: the JSON file of trusted CDS
clients. Unsafe or malformed values are
refused at start-up with one line naming the variable.
"""

from __future__ import annotations

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
        return cls(
            host=host,
            port=port,
            database_url=database_url,
            public_url=public_url,
            cds_issuers=issuers,
            insecure_cds=insecure_cds,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
