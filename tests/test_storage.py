"""The audit store: SQLite by default, PostgreSQL by URL (tested when a server is up).

``scripts/test`` starts a throwaway PostgreSQL cluster and sets
``CALCINOSIS_TEST_POSTGRES_URL``; without it the PostgreSQL cases skip, except in
CI, where a missing server is a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from calcinosis.settings import Settings, SettingsError
from calcinosis.storage import Base, Store
from calcinosis.web.app import create_app

POSTGRES = os.environ.get("CALCINOSIS_TEST_POSTGRES_URL")
PLAN = {
    "evidence_version": "1.0.0+test",
    "subtype": "dystrophic",
    "critical": False,
    "options": [{"id": "observation", "stance": "first-line", "rationale": "private"}],
    "trace": [{"step": "decide_whether_to_treat", "fired": True, "detail": "x"}],
}


def _urls(tmp_path: Path) -> list[str]:
    urls = [f"sqlite:///{tmp_path}/store.db"]
    if POSTGRES:
        urls.append(POSTGRES)
    elif os.environ.get("CI"):
        pytest.fail("CI has no PostgreSQL: scripts/test should have started one")
    return urls


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    urls = _urls(tmp_path)
    if request.param == "postgresql":
        if len(urls) < 2:
            pytest.skip("no PostgreSQL server (set CALCINOSIS_TEST_POSTGRES_URL)")
        engine = create_engine(urls[1])
        tables = ", ".join([*Base.metadata.tables, "alembic_version"])
        with engine.begin() as connection:  # a clean schema for each test
            connection.execute(text(f"DROP TABLE IF EXISTS {tables}"))
        engine.dispose()
        return urls[1]
    return urls[0]


def test_migrations_create_the_schema(url: str) -> None:
    store = Store(url)
    columns = {c["name"] for c in inspect(store.engine).get_columns("plan_audit")}
    assert columns == {
        "id",
        "created_at",
        "channel",
        "evidence_version",
        "subtype",
        "critical",
        "options",
        "trace",
    }
    Store(url).close()  # migrating twice is a no-op
    store.close()


def test_a_plan_record_keeps_ids_and_stances_only(url: str) -> None:
    store = Store(url)
    store.record_plan(PLAN, "api")
    store.record_plan(PLAN | {"critical": True}, "web")
    assert store.plan_count() == 2
    newest = store.recent_plans(1)[0]
    assert newest.channel == "web" and newest.critical is True
    assert newest.options == [{"id": "observation", "stance": "first-line"}]  # no rationale
    assert newest.created_at is not None
    store.close()


def test_the_app_serves_and_audits_on_either_database(url: str) -> None:
    settings = Settings.from_env(env={"CALCINOSIS_DATABASE_URL": url})
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        response = client.post(
            "/api/recommendations", json={"age_years": 40, "subtype": "metastatic"}
        )
        assert response.status_code == 200
        assert client.app.state.store.plan_count() == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CALCINOSIS_DATABASE_URL": "mysql://x/y"},
            "CALCINOSIS_DATABASE_URL: unsupported scheme 'mysql'",
        ),
        (
            {"CALCINOSIS_PUBLIC_URL": "ftp://example.org"},
            "CALCINOSIS_PUBLIC_URL: must be an http(s) URL",
        ),
        (
            {"CALCINOSIS_PUBLIC_URL": "https://example.org/?a=1"},
            "CALCINOSIS_PUBLIC_URL: must have no query or fragment",
        ),
    ],
)
def test_unsafe_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env=env)


def test_default_settings(tmp_path: Path) -> None:
    settings = Settings.from_env("127.0.0.1", 8123, env={})
    assert settings.public_url == "http://127.0.0.1:8123"
    assert settings.database_url.startswith("sqlite:///") and settings.is_sqlite
    assert settings.database_url.endswith("calcinosis.db")


def test_queued_records_survive_a_clean_shutdown(url: str) -> None:
    store = Store(url)
    for _ in range(250):
        store.record_plan(PLAN, "api")
    store.close()  # flushes the queue before it stops
    again = Store(url)
    assert again.plan_count() == 250
    again.close()
