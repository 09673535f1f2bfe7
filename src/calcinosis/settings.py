"""One typed Settings object for the service, read from the environment with pydantic-settings.

``CALCINOSIS_DATABASE_URL``: SQLite (default: a file in the user's data
directory) or PostgreSQL. ``CALCINOSIS_PUBLIC_URL``: the base URL the server is
reached at (default ``http://{host}:{port}``); CDS Hooks tokens must be
issued for it. ``CALCINOSIS_CDS_ISSUERS``: the JSON file of trusted CDS
clients. ``CALCINOSIS_ADMIN_TOKEN`` and the ``CALCINOSIS_CDS_*`` limits: see
:class:`CdsLimits` (issue 11).

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
Hooks feedback call, default 100).

How it reads: every field that comes from the environment names its variable
(``validation_alias``) and is read by pydantic-settings' environment source, over the
mapping given to :meth:`Settings.from_env` (``os.environ`` by default; no ``.env``
file, no secrets directory; names are case-sensitive; an empty variable counts as
unset). ``host``, ``port`` and ``insecure_cds`` come from the command line only. The
checks are the fields' validators; :meth:`Settings.from_env` turns the first refusal
into one :class:`SettingsError` line naming the variable, so unsafe or malformed
values are refused at start-up.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticUseDefault
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from calcinosis.errors import CalcinosisError

__all__ = ["CdsLimits", "Settings", "SettingsError", "default_database_url", "is_loopback"]

_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")
_ADMIN_TOKEN_MIN_CHARS = 32
DEFAULT_MAX_BODY_BYTES = 1_048_576


class SettingsError(CalcinosisError):
    """A configuration value the service refuses to start with."""


MAX_WORKERS = 64


def _in_memory(url: str) -> bool:
    """Whether the SQLite URL ``url`` names an in-memory database (each process its own)."""
    if not url.startswith("sqlite"):
        return False
    path = url.partition(":///")[2]
    return not path or path.startswith(":memory:") or "mode=memory" in url


def default_database_url() -> str:
    directory = Path(user_data_dir("calcinosis", appauthor=False))
    return f"sqlite:///{directory / 'calcinosis.db'}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- reading the environment -------------------------------------------------------------

# The mapping Settings.from_env reads (None: os.environ). A context variable, so that
# pydantic-settings' sources, which only know the settings class, see it.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("calcinosis_environ", default=None)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over the mapping ``from_env`` was given.

    Only the fields that name their variable (``validation_alias``) are read: ``host``,
    ``port`` and ``insecure_cds`` are the command line's, ``cds`` reads its own fields.
    An empty variable counts as unset.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        environ = _ENVIRON.get()
        self.env_vars = {
            name: value
            for name, value in (os.environ if environ is None else environ).items()
            if value
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if not isinstance(field.validation_alias, str):
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _FromEnvironment(BaseSettings):
    """The base of the settings models: each field that names a variable is read from it."""

    # defer_build: the validators are compiled on first use, not by every command's import.
    model_config = SettingsConfigDict(
        case_sensitive=True, frozen=True, extra="forbid", defer_build=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The values given (the command line's), then the environment; nothing else."""
        return init_settings, _Environment(settings_cls)


# --- refusals ----------------------------------------------------------------------------


def _refused(message: str) -> PydanticCustomError:
    """A refused value; :func:`_one_line` puts its variable's name before ``message``."""
    return PydanticCustomError("refused", "{message}", {"message": message})


def _refused_line(line: str) -> PydanticCustomError:
    """A refusal that is its whole line (it names its variables itself)."""
    return PydanticCustomError("refused_line", "{line}", {"line": line})


def _one_line(error: ValidationError) -> SettingsError:
    """The first refusal of ``error`` as one line naming its variable (the field's alias)."""
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == "refused_line":
        line = first["msg"]
    else:
        names = [part for part in first["loc"] if isinstance(part, str)]
        line = f"{names[-1] if names else 'settings'}: {first['msg']}"
    return SettingsError(line.replace("\r", " ").replace("\n", " "))


def _bound(field: FieldInfo, name: str) -> float:
    """The bound ``name`` (``ge``, ``gt`` or ``le``) that ``field`` declares."""
    bound: float = next(getattr(m, name) for m in field.metadata if hasattr(m, name))
    return bound


def _field(model: type[BaseSettings], info: ValidationInfo) -> FieldInfo:
    return model.model_fields[info.field_name or ""]


def _whole(text: str, unit: str = "bytes") -> int:
    """A positive whole number (``_`` may separate digits)."""
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise _refused(f"must be a whole number of {unit}, got {text!r}") from None
    if value <= 0:
        raise _refused(f"must be positive, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text.strip())
    except ValueError:
        raise _refused(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise _refused(f"must be a positive number of seconds, got {text!r}")
    return value


# --- issue 11: CDS Hooks trust and limits ----------------------------------------------


class CdsLimits(_FromEnvironment):
    """The limits of the CDS Hooks service, each read from its environment variable.

    Sizes are in bytes, times in seconds. ``CALCINOSIS_CDS_MAX_ENTRIES`` bounds every
    JSON array of the FHIR input (a Bundle's entries, a list of resources, codings);
    ``CALCINOSIS_CDS_MAX_STRING_CHARS`` every string the FHIR mapper reads. Each value
    must lie between its field's ``ge`` and ``le``; a blank one is the default.
    """

    # a CDS request body
    max_body_bytes: int = Field(
        5_000_000, ge=1_024, le=100_000_000, validation_alias="CALCINOSIS_CDS_MAX_BODY_BYTES"
    )
    # nesting of any JSON read
    max_json_depth: int = Field(64, ge=8, le=200, validation_alias="CALCINOSIS_CDS_MAX_JSON_DEPTH")
    max_prefetch_keys: int = Field(
        16, ge=3, le=1_000, validation_alias="CALCINOSIS_CDS_MAX_PREFETCH_KEYS"
    )
    # items of any array of FHIR input
    max_entries: int = Field(
        1_000, ge=1, le=1_000_000, validation_alias="CALCINOSIS_CDS_MAX_ENTRIES"
    )
    # strings the mapper reads
    max_string_chars: int = Field(
        4_096, ge=64, le=1_000_000, validation_alias="CALCINOSIS_CDS_MAX_STRING_CHARS"
    )
    # all FHIR fetches of one call
    fetch_timeout: float = Field(
        5.0, ge=0.1, le=120, validation_alias="CALCINOSIS_CDS_FETCH_TIMEOUT"
    )
    # one FHIR answer
    fetch_max_bytes: int = Field(
        5_000_000, ge=1_024, le=100_000_000, validation_alias="CALCINOSIS_CDS_FETCH_MAX_BYTES"
    )
    # exp - iat, and exp - now
    token_max_lifetime: float = Field(
        300.0, ge=10, le=3_600, validation_alias="CALCINOSIS_CDS_TOKEN_MAX_LIFETIME"
    )
    # leeway on exp, iat and nbf
    clock_skew: float = Field(30.0, ge=0, le=300, validation_alias="CALCINOSIS_CDS_CLOCK_SKEW")
    # the in-memory jti cache
    replay_max_entries: int = Field(
        100_000, ge=100, le=10_000_000, validation_alias="CALCINOSIS_CDS_REPLAY_MAX_ENTRIES"
    )
    # one jku fetch, in all
    jwks_timeout: float = Field(5.0, ge=0.1, le=60, validation_alias="CALCINOSIS_CDS_JWKS_TIMEOUT")
    # after a failed fetch (doubles)
    jwks_backoff: float = Field(
        5.0, ge=0.1, le=3_600, validation_alias="CALCINOSIS_CDS_JWKS_BACKOFF"
    )
    # the breaker's longest
    jwks_max_backoff: float = Field(
        300.0, ge=0.1, le=86_400, validation_alias="CALCINOSIS_CDS_JWKS_MAX_BACKOFF"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _between(cls, value: object, info: ValidationInfo) -> object:
        field = _field(cls, info)
        kind = int if field.annotation is int else float
        if isinstance(value, str):
            if not value.strip():
                raise PydanticUseDefault
            try:
                number: float = kind(value.strip())
            except ValueError:
                expected = "an integer" if kind is int else "a number"
                raise _refused(f"must be {expected}, got {value!r}") from None
            value = number
        low, high = _bound(field, "ge"), _bound(field, "le")
        if isinstance(value, int | float) and not low <= value <= high:  # also refuses nan
            raise _refused(f"must be between {low:g} and {high:g}")
        return value

    @model_validator(mode="after")
    def _backoff_capped(self) -> Self:
        if self.jwks_max_backoff < self.jwks_backoff:
            raise _refused_line("CALCINOSIS_CDS_JWKS_MAX_BACKOFF: must not be below the back-off")
        return self


# --- the settings --------------------------------------------------------------------------


class Settings(_FromEnvironment):
    """The service's settings: the command line's ``host``, ``port`` and ``insecure_cds``,
    and one field per ``CALCINOSIS_*`` variable (its ``validation_alias``).

    The fields are checked in this order, and the first refusal is the one reported.
    """

    host: str = "127.0.0.1"  # --host
    database_url: str = Field(
        default_factory=default_database_url, validation_alias="CALCINOSIS_DATABASE_URL"
    )
    port: int = 8000  # --port
    workers: int = 1  # --workers: processes serving the port (web/server.py)
    # "" (unset) is http://{host}:{port}
    public_url: str = Field("", validation_alias="CALCINOSIS_PUBLIC_URL", validate_default=True)
    insecure_cds: bool = False  # --insecure-cds: CDS Hooks without authentication (development)
    # the trusted CDS clients (JSON file)
    cds_issuers: str | None = Field(None, validation_alias="CALCINOSIS_CDS_ISSUERS")
    # --- storage: seconds (busy less than write), and feedback items per call ---
    storage_write_timeout: float = Field(
        5.0, gt=0, le=300, validation_alias="CALCINOSIS_STORAGE_WRITE_TIMEOUT"
    )
    storage_busy_timeout: float = Field(
        2.0, gt=0, le=300, validation_alias="CALCINOSIS_STORAGE_BUSY_TIMEOUT"
    )
    feedback_max_items: int = Field(
        100, gt=0, le=100_000, validation_alias="CALCINOSIS_FEEDBACK_MAX_ITEMS"
    )
    # --- issue 11, CDS Hooks trust and limits (kept together; see CdsLimits above) ---
    # read from its own variables when this field's turn comes
    cds: CdsLimits = Field(default_factory=dict, validate_default=True)
    # the feedback views' credential
    admin_token: SecretStr | None = Field(None, validation_alias="CALCINOSIS_ADMIN_TOKEN")
    # --- HTTP limits (issue 11) ---------------------------------------------------------------
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, validation_alias="CALCINOSIS_MAX_BODY_BYTES"
    )
    # (path prefix, bytes)
    body_limits: Annotated[tuple[tuple[str, int], ...], NoDecode] = Field(
        (), validation_alias="CALCINOSIS_BODY_LIMITS"
    )
    # seconds to send a request head, and a request body
    header_timeout: float = Field(10.0, validation_alias="CALCINOSIS_HEADER_TIMEOUT")
    body_timeout: float = Field(30.0, validation_alias="CALCINOSIS_BODY_TIMEOUT")
    # idle keep-alive seconds
    keep_alive_timeout: int = Field(5, validation_alias="CALCINOSIS_KEEP_ALIVE_TIMEOUT")
    # Host values accepted besides the public URL's
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="CALCINOSIS_ALLOWED_HOSTS"
    )

    @classmethod
    def from_env(
        cls,
        host: str = "127.0.0.1",
        port: int = 8000,
        env: Mapping[str, str] | None = None,
        *,
        insecure_cds: bool = False,
        workers: int = 1,
    ) -> Settings:
        """The settings from ``env`` (default ``os.environ``) and the command line's values.

        A refused value is one SettingsError line naming its variable.
        """
        token = _ENVIRON.set(env)
        try:
            return cls(host=host, port=port, insecure_cds=insecure_cds, workers=workers)
        except ValidationError as error:
            raise _one_line(error) from None
        finally:
            _ENVIRON.reset(token)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    # --- the checks, in the order of the fields -------------------------------------------

    @field_validator("port")
    @classmethod
    def _port(cls, port: int) -> int:
        if not 0 < port < 65536:
            raise _refused_line(f"port must be between 1 and 65535, got {port}")
        return port

    @field_validator("workers")
    @classmethod
    def _workers(cls, workers: int, info: ValidationInfo) -> int:
        if not 1 <= workers <= MAX_WORKERS:
            raise _refused_line(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
        if workers > 1 and not hasattr(os, "fork"):
            raise _refused_line("--workers above 1 needs os.fork, which this platform lacks")
        url = info.data.get("database_url", "")
        if workers > 1 and _in_memory(url):
            raise _refused_line(
                f"--workers {workers}: the workers need one database they share, and "
                f"CALCINOSIS_DATABASE_URL {url!r} is each process's own memory"
            )
        return workers

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        scheme = url.split(":", 1)[0]
        if scheme not in _DATABASE_SCHEMES:
            raise _refused(
                f"unsupported scheme {scheme!r}; valid choices: {', '.join(_DATABASE_SCHEMES)}"
            )
        return url

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str, info: ValidationInfo) -> str:
        url = (url or f"http://{info.data.get('host')}:{info.data.get('port')}").rstrip("/")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise _refused(f"must be an http(s) URL, got {url!r}") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _refused(f"must be an http(s) URL, got {url!r}")
        if parts.query or parts.fragment:
            raise _refused("must have no query or fragment")
        return url

    @field_validator("insecure_cds")
    @classmethod
    def _insecure_cds(cls, insecure: bool, info: ValidationInfo) -> bool:
        host = info.data.get("host", "")
        if insecure and not is_loopback(host):
            raise _refused_line(
                "--insecure-cds is for a loopback --host only (127.0.0.0/8, ::1, localhost), "
                f"not {host!r}"
            )
        return insecure

    @field_validator("cds_issuers")
    @classmethod
    def _cds_issuers(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise _refused(f"no such file {path!r}")
        return path

    @field_validator(
        "storage_write_timeout", "storage_busy_timeout", "feedback_max_items", mode="before"
    )
    @classmethod
    def _storage(cls, value: object, info: ValidationInfo) -> object:
        field = _field(cls, info)
        raw = value
        if isinstance(value, str):
            if not value.strip():
                raise PydanticUseDefault
            try:
                value = float(value)
            except ValueError:
                raise _refused(f"must be a number, got {raw!r}") from None
        low, high = _bound(field, "gt"), _bound(field, "le")
        if isinstance(value, int | float):
            if not math.isfinite(value) or not low < value <= high:
                raise _refused(f"must be more than {low:g} and at most {high:g}, got {raw!r}")
            if field.annotation is int:
                if value != int(value):
                    raise _refused(f"must be a whole number, got {value:g}")
                value = int(value)
        return value

    @field_validator("storage_busy_timeout")
    @classmethod
    def _busy_below_write(cls, busy: float, info: ValidationInfo) -> float:
        write = info.data.get("storage_write_timeout")
        if write is not None and busy >= write:
            raise _refused_line(
                "CALCINOSIS_STORAGE_BUSY_TIMEOUT: must be less than "
                f"CALCINOSIS_STORAGE_WRITE_TIMEOUT ({busy:g} >= {write:g})"
            )
        return busy

    @field_validator("admin_token", mode="before")
    @classmethod
    def _admin_token(cls, token: object) -> object:
        # The token is never echoed, even a bad one.
        if isinstance(token, str) and (
            len(token) < _ADMIN_TOKEN_MIN_CHARS
            or not all("!" <= character <= "~" for character in token)
        ):
            raise _refused(
                f"must be at least {_ADMIN_TOKEN_MIN_CHARS} printable ASCII characters "
                "without spaces (e.g. `openssl rand -hex 32`)"
            )
        return token

    @field_validator("max_body_bytes", "keep_alive_timeout", mode="before")
    @classmethod
    def _whole_number(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            return _whole(value, "seconds" if info.field_name == "keep_alive_timeout" else "bytes")
        return value

    @field_validator("header_timeout", "body_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> object:
        return _seconds(value) if isinstance(value, str) else value

    @field_validator("body_limits", mode="before")
    @classmethod
    def _body_limits(cls, value: object) -> object:
        """``/prefix=BYTES,...``: the limits by path prefix."""
        if not isinstance(value, str):
            return value
        prefixes: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            prefix, sep, size = item.partition("=")
            prefix = prefix.strip()
            if not sep or not prefix.startswith("/"):
                raise _refused(f"expected /path/prefix=BYTES, got {item!r}")
            try:
                prefixes[prefix] = _whole(size)
            except PydanticCustomError as refusal:
                raise _refused_line(
                    f"CALCINOSIS_BODY_LIMITS ({prefix}): {refusal.message()}"
                ) from None
        return tuple(prefixes.items())

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _allowed_hosts(cls, value: object) -> object:
        """``host[:port],...``, lower-cased."""
        if not isinstance(value, str):
            return value
        hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
        for host in hosts:
            if any(c in host for c in "/@?# ") or host.startswith(("http:", "https:")):
                raise _refused(f"expected host or host:port, got {host!r}")
        return hosts
