"""The audit store: SQLite by default, PostgreSQL by URL (tested when a server is up).

``scripts/test`` starts a throwaway PostgreSQL cluster and sets
``CALCINOSIS_TEST_POSTGRES_URL``; without it the PostgreSQL cases skip, except in
CI, where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
import re
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import OperationalError

from calcinosis import storage
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.evidence.knowledge_base import load_knowledge
from calcinosis.settings import Settings, SettingsError
from calcinosis.storage import (
    Base,
    FieldValueError,
    Row,
    StorageError,
    Store,
    card_row,
    describe,
    feedback_row,
    plan_row,
)
from calcinosis.web.app import create_app

POSTGRES = os.environ.get("CALCINOSIS_TEST_POSTGRES_URL")
# A real plan (a 58-year-old woman with SSc, on warfarin): what the faces record.
PATIENT = {
    "age_years": 58,
    "sex": "female",
    "subtype": "dystrophic",
    "underlying_disease": "systemic-sclerosis",
    "symptomatic": True,
    "medications": ["warfarin"],
}
FULL_PLAN = recommend_document(
    parse_patient(PATIENT, load_knowledge().therapy_ids()), load_knowledge()
).model_copy(update={"evidence_version": "1.0.0+test", "critical": False})
IDS_AND_STANCES = [{"id": o.id, "stance": o.stance} for o in FULL_PLAN.options]
# The same plan cut to one option and one step: the size of record the load and WAL tests
# were calibrated with.
PLAN = FULL_PLAN.model_copy(update={"options": FULL_PLAN.options[:1], "trace": FULL_PLAN.trace[:1]})


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
    tables = set(inspect(store.engine).get_table_names())
    assert {"plan_audit", "cds_card", "cds_feedback", "cds_jti", "storage_probe"} <= tables
    Store(url).close()  # migrating twice is a no-op
    store.close()


def _migrate_in_a_process(url: str) -> str:
    try:
        storage.migrate(url)
    except Exception as exc:  # reported to the test, which fails on it
        return f"{type(exc).__name__}: {exc}"[:300]
    return "ok"


def test_servers_starting_at_once_on_a_new_database_all_migrate(url: str) -> None:
    """Six processes upgrade the same empty database at the same moment: all succeed
    (the upgrade waits for a lock), and the schema is made once. Without the lock, on
    SQLite every round failed with "table plan_audit already exists"."""
    context = multiprocessing.get_context("spawn")
    for _ in range(2):
        with context.Pool(6) as pool:
            results = pool.map(_migrate_in_a_process, [url] * 6)
        assert results == ["ok"] * 6, results
        engine = create_engine(url)
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            probes = connection.execute(text("SELECT count(*) FROM storage_probe")).scalar()
        engine.dispose()
        assert len(versions) == 1 and probes == 1


def test_a_plan_record_keeps_ids_and_stances_only(url: str) -> None:
    store = Store(url)
    store.record_plan(FULL_PLAN, "api")
    store.record_plan(FULL_PLAN.model_copy(update={"critical": True}), "web")
    assert store.plan_count() == 2
    newest = store.recent_plans(1)[0]
    assert newest.channel == "web" and newest.critical is True
    assert newest.options == IDS_AND_STANCES  # no rationale
    assert {"id": "warfarin", "stance": "avoid"} in newest.options
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


# --------------------------------------------------------------- the guarantee
def test_a_write_returns_once_its_row_is_committed(url: str) -> None:
    store = Store(url)
    other = create_engine(url)  # another connection sees it at once: committed
    with other.connect() as connection:
        for expected in (1, 2, 3):
            store.record_plan(PLAN, "api")
            assert connection.scalar(text("SELECT count(*) FROM plan_audit")) == expected
            connection.rollback()
    other.dispose()
    store.close()


def test_concurrent_writers_share_batches(url: str) -> None:
    store = Store(url)

    async def many() -> None:
        await asyncio.gather(*(store.awrite([plan_row(PLAN, "api")]) for _ in range(300)))

    asyncio.run(many())
    assert store.plan_count() == 300
    store.close()


def _bad_row(url: str) -> Row:
    """A row its column refuses, which skipped the checks: too long for PostgreSQL's
    varchar(64); on SQLite (which stores any length) a NULL where none is allowed."""
    if url.startswith("postgresql"):
        row = feedback_row("svc", "card-bad", "accepted", None, None)
        row.values["outcome_timestamp"] = "9" * 100
        return row
    row = plan_row(PLAN, "api")
    row.values["channel"] = None
    return row


def test_one_bad_row_loses_no_other_row_of_its_batch(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(url)
    good = [plan_row(PLAN, "api") for _ in range(5)]
    good += [feedback_row("svc", f"card-{n}", "accepted", None, "t") for n in range(5)]
    bad = _bad_row(url)
    bad.values["evidence_version" if "channel" in bad.values else "service"] = "SECRET-p-42"
    rows = [*good[:5], bad, *good[5:]]
    with pytest.raises(StorageError) as failure:
        store.write(rows)  # one batch: its rows are enqueued together
    assert failure.value.reason.startswith(("a value does not fit", "a value breaks"))
    assert all(row.error is None for row in good) and bad.error is not None
    assert store.plan_count() == 5
    assert sum(r["count"] for r in store.feedback_counts()) == 5
    assert store.health() is None  # a bad value is not a storage fault
    assert "SECRET-p-42" not in caplog.text and "INSERT" not in caplog.text
    assert "retrying one by one" in caplog.text
    store.close()


def test_columns_are_checked_before_rows_are_queued() -> None:
    with pytest.raises(FieldValueError) as too_long:
        feedback_row("svc", "c", "accepted", None, "x" * 65)
    assert too_long.value.column == "outcome_timestamp" and too_long.value.limit == 64
    with pytest.raises(FieldValueError, match="card: must not contain NUL"):
        feedback_row("svc", "a\x00b", "accepted", None, None)
    with pytest.raises(FieldValueError, match="override_reason: must be valid Unicode"):
        feedback_row("svc", "c", "overridden", "\ud800", None)
    with pytest.raises(FieldValueError, match="kind: at most 64"):
        card_row("u", "svc", "k" * 65, "info")
    assert feedback_row("svc", "c" * 64, "overridden", "r" * 128, "t" * 64).error is None


def test_plan_rows_keep_no_patient_words() -> None:
    row = plan_row(FULL_PLAN, "api")
    assert row.values["trace"] == [{"step": s.step, "fired": s.fired} for s in FULL_PLAN.trace]
    assert any(s.detail for s in FULL_PLAN.trace)  # the plan's trace has words; the row none
    assert row.values["options"] == IDS_AND_STANCES
    recorded = repr({k: v for k, v in row.values.items() if k != "created_at"})
    assert "58" not in recorded and "female" not in recorded
    assert row.values["created_at"].microsecond == 0


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "locked.db"


def test_a_write_not_confirmed_in_time_is_an_error_and_never_written_later(
    sqlite_file: Path,
) -> None:
    """A held lock keeps the writer on batch A; B, queued behind it, times out and is
    dropped before it reaches the database; A is committed once the lock goes."""
    store = Store(f"sqlite:///{sqlite_file}", write_timeout=5, busy_timeout=3)
    other = sqlite3.connect(sqlite_file, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    first = threading.Thread(
        target=store.record_plan, args=(PLAN.model_copy(update={"subtype": "a"}), "api")
    )
    first.start()
    time.sleep(0.3)  # the writer is now waiting for the lock, with A
    with pytest.raises(StorageError, match=r"did not confirm the write within 0\.2 s"):
        store.write([plan_row(PLAN.model_copy(update={"subtype": "b"}), "api")], timeout=0.2)
    other.execute("ROLLBACK")
    other.close()
    first.join()
    assert [r.subtype for r in store.recent_plans()] == ["a"]
    store.close()


def test_a_lock_past_the_busy_timeout_fails_the_write_and_health(sqlite_file: Path) -> None:
    store = Store(f"sqlite:///{sqlite_file}", write_timeout=5, busy_timeout=0.2)
    other = sqlite3.connect(sqlite_file, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StorageError, match=r"locked by another process \(SQLITE_BUSY\)"):
        store.record_plan(PLAN, "api")
    assert store.health() == "the database is locked by another process (SQLITE_BUSY)"
    other.execute("ROLLBACK")
    other.close()
    store.record_plan(PLAN, "api")
    assert store.health() is None
    assert store.plan_count() == 1
    store.close()


def _turn_taken_elsewhere(database: Path) -> int:
    """An exclusive hold on the writers' turn of ``database``, as another process's writer
    holds it (flock: another open file description conflicts even in this process)."""
    fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_writer_waits_for_its_turn_and_writes_once_it_is_given(sqlite_file: Path) -> None:
    store = Store(f"sqlite:///{sqlite_file}", write_timeout=30, busy_timeout=15)
    held = _turn_taken_elsewhere(sqlite_file)
    writing = threading.Thread(target=store.record_plan, args=(PLAN, "api"))
    writing.start()
    writing.join(timeout=0.5)
    assert writing.is_alive()  # waiting for the turn, not for SQLite's lock
    with sqlite3.connect(sqlite_file) as reader:  # (plan_count would wait for the write)
        assert reader.execute("SELECT count(*) FROM plan_audit").fetchone() == (0,)
    fcntl.flock(held, fcntl.LOCK_UN)
    writing.join(timeout=10)
    assert not writing.is_alive()
    assert store.plan_count() == 1
    os.close(held)
    store.close()


def test_a_turn_held_past_the_busy_timeout_is_gone_ahead_without(sqlite_file: Path) -> None:
    # a process stopped while holding the turn: SQLite's own lock is free, so the write
    # goes ahead after busy_timeout rather than failing or waiting for ever
    store = Store(f"sqlite:///{sqlite_file}", write_timeout=10, busy_timeout=0.3)
    held = _turn_taken_elsewhere(sqlite_file)
    began = time.monotonic()
    store.record_plan(PLAN, "api")
    assert time.monotonic() - began >= 0.3
    assert store.plan_count() == 1 and store.health() is None
    os.close(held)
    store.close()


def test_a_file_system_without_flock_writes_as_before(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(fd: int, operation: int) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(storage.fcntl, "flock", refused)
    store = Store(f"sqlite:///{sqlite_file}")
    store.record_plan(PLAN, "api")
    assert store.plan_count() == 1
    store.close()


def test_a_store_starts_degraded_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@/db?host={tmp_path}/nowhere&port=1"
    store = Store(url, write_timeout=2, busy_timeout=1)
    reason = store.health()
    assert reason is not None and reason.startswith("the database server cannot be reached")
    with pytest.raises(StorageError) as failure:
        store.record_plan(PLAN, "api")
    assert failure.value.detail == "The audit record could not be written; no plan was served."
    store.close()


def test_health_after_the_writer_stopped(url: str) -> None:
    store = Store(url)
    assert store.health() is None
    store.close()
    assert store.health() == "the audit writer has stopped"
    with pytest.raises(StorageError, match="the store is closed"):
        store.record_plan(PLAN, "api")


def test_describe_names_the_fault_without_values() -> None:
    error = sqlite3.OperationalError("attempt to write a readonly database")
    error.sqlite_errorname = "SQLITE_READONLY_DIRECTORY"  # type: ignore[attr-defined]
    wrapped = OperationalError("INSERT INTO x VALUES (?)", ("p-42",), error)
    assert describe(wrapped) == "the database is read-only (SQLITE_READONLY_DIRECTORY)"
    assert describe(ValueError("p-42")) == "database error (ValueError)"


# ------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CALCINOSIS_STORAGE_WRITE_TIMEOUT": "soon"}, "must be a number"),
        ({"CALCINOSIS_STORAGE_WRITE_TIMEOUT": "0"}, "must be more than 0"),
        ({"CALCINOSIS_STORAGE_WRITE_TIMEOUT": "nan"}, "must be more than 0"),
        ({"CALCINOSIS_STORAGE_BUSY_TIMEOUT": "5"}, "must be less than"),
        ({"CALCINOSIS_FEEDBACK_MAX_ITEMS": "0"}, "must be more than 0"),
        ({"CALCINOSIS_FEEDBACK_MAX_ITEMS": "2.5"}, "must be a whole number"),
    ],
)
def test_storage_settings_are_checked(env: dict[str, str], message: str) -> None:
    name = next(iter(env))
    if "BUSY" in name:
        name = "CALCINOSIS_STORAGE_BUSY_TIMEOUT"
    with pytest.raises(SettingsError, match=f"{name}: {message}"):
        Settings.from_env(env=env)


def test_storage_settings_defaults_and_values() -> None:
    default = Settings.from_env(env={})
    assert (default.storage_write_timeout, default.storage_busy_timeout) == (5.0, 2.0)
    assert default.feedback_max_items == 100
    chosen = Settings.from_env(
        env={
            "CALCINOSIS_STORAGE_WRITE_TIMEOUT": "10",
            "CALCINOSIS_STORAGE_BUSY_TIMEOUT": "0.5",
            "CALCINOSIS_FEEDBACK_MAX_ITEMS": "20",
        }
    )
    assert (chosen.storage_write_timeout, chosen.storage_busy_timeout) == (10.0, 0.5)
    assert chosen.feedback_max_items == 20


# ------------------------------------------------------------- the jti cache
SOON = timedelta(minutes=5)


def test_a_jti_is_claimed_once(url: str) -> None:
    store = Store(url)
    expires = datetime.now(UTC) + SOON
    assert store.claim_jti("https://ehr.example", "abc", expires) is True
    assert store.claim_jti("https://ehr.example", "abc", expires) is False
    assert store.claim_jti("https://other.example", "abc", expires) is True  # per issuer
    assert store.claim_jti("https://ehr.example", "abd", expires) is True
    assert store.claim_jti("a|b", "c", expires) is True  # no ambiguity across the join
    assert store.claim_jti("a", "b|c", expires) is True
    store.close()


def test_a_jti_claimed_by_one_instance_is_refused_by_another(url: str) -> None:
    first, second = Store(url), Store(url)
    expires = datetime.now(UTC) + SOON
    assert first.claim_jti("iss", "shared", expires) is True
    assert second.claim_jti("iss", "shared", expires) is False
    first.close()
    second.close()


def test_claimed_jtis_survive_a_restart(url: str) -> None:
    store = Store(url)
    expires = datetime.now(UTC) + SOON
    assert store.claim_jti("iss", "durable", expires) is True
    store.close()
    again = Store(url)
    assert again.claim_jti("iss", "durable", expires) is False
    again.close()


def test_concurrent_claims_of_one_jti_have_one_winner(url: str) -> None:
    # two stores (two servers) on one database; generous lock waits, so that a loaded
    # machine measures who wins, not how long a lock is held (a busy lock is a 503 by design)
    stores = [Store(url, busy_timeout=15.0, write_timeout=30.0) for _ in range(2)]
    expires = datetime.now(UTC) + SOON
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def claim(index: int) -> None:
        for n in range(40):
            won = stores[index % 2].claim_jti("iss", f"race-{n}", expires)
            with lock:
                results.append((n, won))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = Counter(n for n, won in results if won)
    assert winners == dict.fromkeys(range(40), 1)
    for store in stores:
        store.close()


def test_expired_jtis_are_pruned_and_may_be_claimed_again(url: str) -> None:
    store = Store(url)
    now = datetime.now(UTC)
    assert store.claim_jti("iss", "old", now - timedelta(seconds=5)) is True
    assert store.claim_jti("iss", "live", now + SOON) is True
    assert store.jti_count() == 2
    assert store.claim_jti("iss", "old", now + SOON) is True  # expired: claimable again
    assert store.prune_jtis(now + timedelta(minutes=10)) == 2
    assert store.jti_count() == 0
    store.close()


def test_the_writer_prunes_expired_jtis(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "JTI_PRUNE_EVERY", 0.0)
    store = Store(url)
    now = datetime.now(UTC)
    for n in range(5):
        store.claim_jti("iss", f"gone-{n}", now - timedelta(seconds=5))
    store.claim_jti("iss", "kept", now + SOON)
    deadline = time.monotonic() + 5
    while store.jti_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.jti_count() == 1
    store.close()


def test_a_jti_claim_checks_its_arguments(url: str) -> None:
    store = Store(url)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.claim_jti("iss", "j", datetime.now() + SOON)  # naive: refused
    with pytest.raises(ValueError, match="more than 1 day"):
        store.claim_jti("iss", "j", datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(ValueError, match="must not be empty"):
        store.claim_jti("", "j", datetime.now(UTC) + SOON)
    assert store.jti_count() == 0
    store.close()


def test_a_jti_claim_in_the_event_loop(url: str) -> None:
    store = Store(url)
    expires = datetime.now(UTC) + SOON

    async def both() -> list[bool]:
        return list(await asyncio.gather(*(store.aclaim_jti("i", "j", expires) for _ in range(5))))

    assert sorted(asyncio.run(both())) == [False, False, False, False, True]
    store.close()


def test_the_wal_stays_bounded_under_steady_writes(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints run off the commit path; under writes that never pause, the writer
    still starts the WAL over once it is long."""
    monkeypatch.setattr(storage, "WAL_RESTART_FRAMES", 64)
    monkeypatch.setattr(storage, "CHECKPOINT_EVERY", 0.01)
    store = Store(f"sqlite:///{sqlite_file}")
    wal = sqlite_file.with_name(sqlite_file.name + "-wal")
    largest = 0
    for _ in range(3000):
        store.record_plan(PLAN, "api")
        largest = max(largest, wal.stat().st_size)
    assert store.plan_count() == 3000
    # without restarts: about 3000 pages (12 MB); with them, under 4 MB on a quiet machine.
    # The checkpointer is a thread: on a loaded 2-core machine it runs late, so the bound
    # is half the unbounded size, which a WAL that never restarts cannot meet.
    assert largest < 6_000_000
    store.close()


# ------------------------------------------------------------------ the compiled inserts
def test_compiled_inserts_store_what_sqlalchemy_stores(url: str) -> None:
    """The writer's plan and card inserts and the replay claim run on the DBAPI cursor
    (``storage._Compiled``): the rows they store read back exactly as rows inserted
    through SQLAlchemy's own execution (JSON, timestamps, booleans)."""
    store = Store(url)
    plan = plan_row(FULL_PLAN, "cds")
    card = card_row("card-raw", "svc", "kind-a", "warning")
    store.write([plan, card])
    twin = plan_row(FULL_PLAN, "cds").values | {"created_at": plan.values["created_at"]}
    with store.engine.begin() as connection:  # the same values, the ORM's way
        connection.execute(insert(storage.PlanRecord), [twin])
        connection.execute(
            insert(storage.CardRecord),
            [card.values | {"uuid": "card-orm"}],
        )
    with store.engine.connect() as connection:
        plans = connection.execute(select(storage.PlanRecord).order_by(storage.PlanRecord.id))
        raw, orm = (tuple(row)[1:] for row in plans)  # all but the id
        cards = connection.execute(select(storage.CardRecord).order_by(storage.CardRecord.uuid))
        by_orm, by_raw = (tuple(row)[1:] for row in cards)
        stored = connection.exec_driver_sql("SELECT created_at FROM plan_audit").all()
    assert raw == orm and raw[5] == IDS_AND_STANCES  # options
    assert by_raw == by_orm
    assert len({row[0] for row in stored}) == 1  # the same text or timestamp in the table
    store.close()


def test_compiled_insert_errors_are_sqlalchemys(url: str) -> None:
    """A value the database refuses is SQLAlchemy's IntegrityError (a row error: the rows
    are retried one by one); a missing value a StatementError, never a KeyError."""
    store = Store(url)
    statement = store._inserts["card"]

    def insert_card(values: dict[str, object]) -> None:
        with store.engine.begin() as connection:
            statement.run(connection, [values], fetch=False)

    insert_card(card_row("dup", "svc", "k", "info").values)
    with pytest.raises(sa_exc.IntegrityError) as duplicate:
        insert_card(card_row("dup", "svc", "k", "info").values)
    assert storage._is_row_error(duplicate.value)
    assert describe(duplicate.value).startswith("a value breaks a constraint")
    assert "[parameters" not in str(duplicate.value)  # hide_parameters, as the engine
    values = card_row("other", "svc", "k", "info").values
    del values["kind"]
    with pytest.raises(sa_exc.StatementError, match="no value for the column kind") as missing:
        insert_card(values)
    assert storage._is_row_error(missing.value)
    store.close()
