"""How the settings are read (pydantic-settings): which variables, from where, and the
one line a refused value gives. Each variable's own checks are tested beside what it
limits (``tests/service/test_storage.py``, ``tests/web/test_http_limits.py``,
``tests/web/test_cds.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calcinosis.settings import CdsLimits, Settings, SettingsError

SQLITE = {"CALCINOSIS_DATABASE_URL": "sqlite:///unused.db"}


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """``os.environ`` without the suite's own CALCINOSIS_* variables, to change at will."""
    for name in [name for name in os.environ if name.startswith("CALCINOSIS_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_every_variable_is_a_field_alias() -> None:
    """One field per variable, named in full, so that `grep CALCINOSIS_X src` finds it."""
    aliases = [
        field.validation_alias
        for model in (Settings, CdsLimits)
        for field in model.model_fields.values()
        if field.validation_alias is not None
    ]
    assert len(aliases) == len(set(aliases)) == 13 + 13
    assert all(isinstance(a, str) and a.startswith("CALCINOSIS_") for a in aliases)
    assert all(
        field.validation_alias.startswith("CALCINOSIS_CDS_")  # type: ignore[union-attr]
        for field in CdsLimits.model_fields.values()
    )


def test_the_command_line_fields_are_never_read_from_the_environment(
    environ: pytest.MonkeyPatch,
) -> None:
    for name in ("host", "CALCINOSIS_HOST"):
        environ.setenv(name, "0.0.0.0")  # noqa: S104
    assert Settings().host == "127.0.0.1"  # pydantic-settings' own way in reads os.environ
    env = SQLITE | {"host": "0.0.0.0", "port": "1", "CALCINOSIS_HOST": "0.0.0.0"}  # noqa: S104
    env |= {"CALCINOSIS_PORT": "1", "insecure_cds": "true", "cds": "{not json"}
    settings = Settings.from_env("127.0.0.1", 8123, env)
    assert (settings.host, settings.port, settings.insecure_cds) == ("127.0.0.1", 8123, False)
    assert settings.cds == CdsLimits.model_validate({})


def test_names_are_case_sensitive_and_an_empty_variable_is_unset() -> None:
    env = SQLITE | {"calcinosis_cds_max_entries": "50", "CALCINOSIS_MAX_BODY_BYTES": ""}
    settings = Settings.from_env(env=env | {"CALCINOSIS_PUBLIC_URL": ""})
    assert settings.cds.max_entries == 1_000
    assert settings.max_body_bytes == 1_048_576
    assert settings.public_url == "http://127.0.0.1:8000"


def test_only_the_mapping_given_is_read(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("CALCINOSIS_DATABASE_URL", "mysql://refused/if/read")
    environ.setenv("CALCINOSIS_CDS_MAX_ENTRIES", "50")
    assert Settings.from_env(env=SQLITE).cds.max_entries == 1_000
    with pytest.raises(SettingsError, match=r"^CALCINOSIS_DATABASE_URL: unsupported scheme"):
        Settings.from_env()  # os.environ
    environ.setenv("CALCINOSIS_DATABASE_URL", SQLITE["CALCINOSIS_DATABASE_URL"])
    assert Settings.from_env().cds.max_entries == 50


def test_no_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("CALCINOSIS_DATABASE_URL=mysql://x/y\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(env={"CALCINOSIS_CDS_MAX_ENTRIES": "7"}).cds.max_entries == 7


@pytest.mark.parametrize(
    ("env", "line"),
    [
        # the first refusal in the order of the fields is the one named
        (
            {"CALCINOSIS_DATABASE_URL": "mysql://x", "CALCINOSIS_CDS_MAX_ENTRIES": "0"},
            "CALCINOSIS_DATABASE_URL: unsupported scheme 'mysql'",
        ),
        (
            {"CALCINOSIS_CDS_MAX_ENTRIES": "0", "CALCINOSIS_MAX_BODY_BYTES": "0"},
            "CALCINOSIS_CDS_MAX_ENTRIES: must be between 1 and 1e+06",
        ),
        (
            {"CALCINOSIS_BODY_LIMITS": "/api=x"},
            "CALCINOSIS_BODY_LIMITS (/api): must be a whole number of bytes, got 'x'",
        ),
        # urlsplit's own refusal is a line too, not a traceback
        ({"CALCINOSIS_PUBLIC_URL": "http://[::1"}, "CALCINOSIS_PUBLIC_URL: must be an http(s) URL"),
    ],
)
def test_a_refusal_is_one_line_naming_its_variable(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env=SQLITE | env)
    assert str(refused.value).startswith(line) and "\n" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
