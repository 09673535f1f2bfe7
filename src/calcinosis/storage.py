"""What the service remembers: one audit record per plan served, no patient data.

SQLAlchemy with SQLite by default, PostgreSQL by URL; the schema is managed by
Alembic migrations (``migrations/``), applied at start-up. A record holds the
time (to the second), the evidence version, the channel, the subtype, the
options returned (id and stance) and the trace (each step's name and whether it
fired, none of the words the steps wrote about the patient): nothing that
identifies a patient, and not the profile itself.

**Committed before answered.** ``write``/``awrite`` (and ``record_plan``,
``record_card``, ``record_feedback``, ``claim_jti``) queue their rows and then
wait until the single writer thread has *committed* the batch holding them
(group commit: rows queued while a batch is being written form the next one).
When the write fails, or is not confirmed within ``write_timeout`` seconds, they
raise ``StorageError`` and the caller must not answer as if it had been stored
(the web app answers 503). A row is checked against its columns before it is
queued (``FieldValueError`` names the column); when a batch still fails on a
row's value, its rows are retried one by one so that only that row fails. A
failed write is logged with the error's kind only, never the SQL parameters.

``health()``/``ahealth()`` say whether the store can write now: the outcome of a
write in the last seconds, or else a probe write through the same writer.

``claim_jti`` is the durable replay cache of the CDS Hooks JWTs (table
``cds_jti``). SQLite runs in WAL mode with ``synchronous=NORMAL`` and takes its
write lock at the start of each write transaction (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from calcinosis.decision.documents import PlanDocument
from calcinosis.errors import CalcinosisError

__all__ = [
    "Base",
    "CardRecord",
    "FeedbackRecord",
    "FieldValueError",
    "JtiRecord",
    "PlanRecord",
    "Row",
    "StorageError",
    "Store",
    "card_row",
    "feedback_row",
    "plan_row",
]

log = logging.getLogger("calcinosis.storage")

MIGRATIONS = Path(__file__).parent / "migrations"

WRITE_TIMEOUT = 5.0  # seconds a caller waits for its rows to be committed
BUSY_TIMEOUT = 2.0  # seconds a write waits for a lock another process holds
HEALTH_FRESH = 2.0  # a write outcome younger than this answers health() without a probe
MAX_PENDING = 10_000  # rows queued at most; beyond, writes are refused at once
JTI_MAX_AHEAD = timedelta(days=1)  # a jti is kept until its token expires, at most this long
JTI_PRUNE_EVERY = 60.0  # seconds between deletions of expired jtis
CHECKPOINT_EVERY = 0.5  # seconds at least between two SQLite WAL checkpoints
WAL_RESTART_FRAMES = 4000  # WAL pages (about 16 MB) past which the writer starts it over


def _wal_restart_bytes() -> int:  # read at each use: tests lower WAL_RESTART_FRAMES
    """The WAL file size at WAL_RESTART_FRAMES frames of SQLite's default 4 KiB pages."""
    return WAL_RESTART_FRAMES * (4096 + 24)


PLAN_DETAIL = "The audit record could not be written; no plan was served."
CARD_DETAIL = "The audit record could not be written; no card was served."
FEEDBACK_DETAIL = "The feedback could not be stored; none of it was recorded."
READ_DETAIL = "The database could not be read."


class Base(DeclarativeBase):
    pass


class PlanRecord(Base):
    """One plan served: the audit trail, with no patient identifiers."""

    __tablename__ = "plan_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    evidence_version: Mapped[str] = mapped_column(String(64))
    subtype: Mapped[str] = mapped_column(String(32))
    critical: Mapped[bool] = mapped_column(Boolean)
    options: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    trace: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class CardRecord(Base):
    """A CDS Hooks card issued: its uuid and kind, so feedback can be counted by kind."""

    __tablename__ = "cds_card"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    indicator: Mapped[str] = mapped_column(String(16))


class FeedbackRecord(Base):
    """What a clinician did with a card (CDS Hooks feedback), without patient data."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    service: Mapped[str] = mapped_column(String(64))
    card: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    override_reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome_timestamp: Mapped[str | None] = mapped_column(String(64), nullable=True)


class JtiRecord(Base):
    """A CDS Hooks JWT id already used: the SHA-256 of (issuer, jti), until it expires."""

    __tablename__ = "cds_jti"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix seconds


class ProbeRecord(Base):
    """One row the health probe rewrites, to learn whether the database takes writes."""

    __tablename__ = "storage_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StorageError(CalcinosisError):
    """Rows were not written (or not confirmed in time). ``reason`` is one line for
    the log and the health check (no row contents); ``detail`` is for the client."""

    retryable = True  # a 503 with Retry-After: the client may try again (a CDS call too)

    def __init__(self, reason: str, detail: str = PLAN_DETAIL) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason)


class FieldValueError(ValueError):
    """A value that its column cannot hold (too long, NUL, not UTF-8): names the column."""

    def __init__(self, column: str, message: str, limit: int | None = None) -> None:
        self.column = column
        self.message = message
        self.limit = limit
        super().__init__(f"{column}: {message}")


# ------------------------------------------------------------------------ rows
Kind = Literal["plan", "card", "feedback", "jti", "probe"]
_MODELS: dict[str, type[Base]] = {
    "plan": PlanRecord,
    "card": CardRecord,
    "feedback": FeedbackRecord,
    "jti": JtiRecord,
    "probe": ProbeRecord,
}


_BATCHED: tuple[Kind, ...] = ("plan", "card")  # inserted as they are, many rows at once


@dataclass(eq=False)
class Row:
    """One row on its way to the database, with its outcome once written."""

    kind: Kind
    values: dict[str, Any]
    result: object = None
    error: StorageError | None = None
    cancelled: bool = False


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)  # second precision, on purpose


def _checked(kind: Kind, values: dict[str, Any]) -> Row:
    """The row, once every string fits its column (else ``FieldValueError``)."""
    table = _MODELS[kind].__table__
    for column in table.columns:
        value = values.get(column.key)
        if not isinstance(value, str):
            continue
        length = getattr(column.type, "length", None)
        if length is not None and len(value) > length:
            raise FieldValueError(column.key, f"at most {length} characters", length)
        if "\x00" in value:
            raise FieldValueError(column.key, "must not contain NUL characters", length)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldValueError(column.key, "must be valid Unicode text", length) from None
    return Row(kind, values)


def plan_row(plan: PlanDocument, channel: str) -> Row:
    """The audit record of a plan served: ids, stances and step names, no patient words."""
    return _checked(
        "plan",
        {
            "created_at": _now(),
            "channel": channel,
            "evidence_version": plan.evidence_version,
            "subtype": plan.subtype,
            "critical": plan.critical,
            "options": [{"id": o.id, "stance": o.stance} for o in plan.options],
            "trace": [{"step": s.step, "fired": s.fired} for s in plan.trace],
        },
    )


def card_row(uuid: str, service: str, kind: str, indicator: str) -> Row:
    """The record of a CDS Hooks card issued."""
    return _checked(
        "card",
        {
            "uuid": uuid,
            "created_at": _now(),
            "service": service,
            "kind": kind,
            "indicator": indicator,
        },
    )


def feedback_row(
    service: str,
    card: str,
    outcome: str,
    override_reason: str | None,
    outcome_timestamp: str | None,
) -> Row:
    """A feedback item; its card's kind is looked up when it is written."""
    return _checked(
        "feedback",
        {
            "received_at": _now(),
            "service": service,
            "card": card,
            "outcome": outcome,
            "override_reason": override_reason,
            "outcome_timestamp": outcome_timestamp,
        },
    )


def _jti_key(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{len(issuer)}:{issuer}|{jti}".encode()).hexdigest()


# ---------------------------------------------------------------------- errors
_SQLITE_PHRASES = (
    ("SQLITE_READONLY", "the database is read-only"),
    ("SQLITE_FULL", "the disk is full"),
    ("SQLITE_BUSY", "the database is locked by another process"),
    ("SQLITE_LOCKED", "the database is locked by another process"),
    ("SQLITE_CANTOPEN", "the database file cannot be opened (is its directory read-only?)"),
    ("SQLITE_IOERR", "the disk could not be written (I/O error)"),
    ("SQLITE_CONSTRAINT", "a value breaks a constraint of its column"),
    ("SQLITE_CORRUPT", "the database file is corrupt"),
    ("SQLITE_NOTADB", "the database file is not a database"),
)
_POSTGRES_PHRASES = (
    ("08", "the database server cannot be reached"),
    ("53100", "the database server's disk is full"),
    ("53", "the database server is out of resources"),
    ("55P03", "the database is locked by another session"),
    ("57014", "a write took too long and was cancelled"),
    ("57P", "the database server is shutting down or restarting"),
    ("25006", "the database is read-only"),
    ("22", "a value does not fit its column"),
    ("23", "a value breaks a constraint of its column"),
    ("42", "the database schema is not the expected one"),
)


def _is_row_error(exc: BaseException) -> bool:
    """An error caused by a row's value (retry the rows one by one), not by the database."""
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    return not isinstance(exc, sa_exc.DBAPIError) and isinstance(
        exc, sa_exc.StatementError | ValueError | TypeError
    )


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, with no SQL and no row contents."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", None) or type(orig).__name__
        phrase = next((p for code, p in _SQLITE_PHRASES if name.startswith(code)), None)
        return f"{phrase or 'database error'} ({name})"
    sqlstate = getattr(orig, "sqlstate", None)
    module = type(orig).__module__
    if module.startswith("psycopg"):
        code = sqlstate or "08"  # no SQLSTATE: the connection itself failed
        phrase = next((p for prefix, p in _POSTGRES_PHRASES if code.startswith(prefix)), None)
        shown = f"{type(orig).__name__}, SQLSTATE {sqlstate}" if sqlstate else type(orig).__name__
        return f"{phrase or 'database error'} ({shown})"
    if isinstance(orig, OSError):
        return f"the database cannot be reached ({type(orig).__name__})"
    return f"database error ({type(orig).__name__})"


# ---------------------------------------------------------------------- writer
@dataclass(eq=False)
class _Batch:
    rows: list[Row] = field(default_factory=list)
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=list
    )

    def finish(self) -> None:
        self.done.set()
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for loop, future in self.futures:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():  # one wake-up per event loop per batch
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _time_out(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _sqlite_connect(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours (see _sqlite_begin)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
        cursor.execute("PRAGMA journal_size_limit=16777216")  # a restarted WAL shrinks back
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    return on_connect


def _sqlite_begin(connection: Connection) -> None:
    # Writes take the lock first, so that a lock held elsewhere is waited for (busy
    # timeout) instead of failing at once when a read turns into a write.
    writing = connection.get_execution_options().get("calcinosis_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


_CONNECTION_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.InternalError)

# The columns the hot inserts name, in the order plan_row and card_row give them.
_INSERTED: dict[Kind, tuple[str, ...]] = {
    "plan": (
        "created_at",
        "channel",
        "evidence_version",
        "subtype",
        "critical",
        "options",
        "trace",
    ),
    "card": ("uuid", "created_at", "service", "kind", "indicator"),
}


class _Compiled:
    """A statement compiled once, for the engine's dialect, and run on the DBAPI cursor of
    the writer's connection, inside its transaction: SQLAlchemy's per-statement machinery
    (cache key, execution context, result object) is left out, not what it does to the
    values and the errors. Each value goes through its column type's bind processor, as
    SQLAlchemy's own execution would (JSON serialised, dates formatted for SQLite); a
    DBAPI error is raised as SQLAlchemy's wrapper of it (``IntegrityError``,
    ``OperationalError``, ...), with ``connection_invalidated`` when the dialect reads it
    as a lost connection (which is then invalidated), and a missing value is a
    ``StatementError``, so that the writer's fault handling is the same."""

    def __init__(
        self,
        statement: ClauseElement,
        engine: Engine,
        keys: Sequence[str] | None = None,
        *,
        many: bool = False,
    ) -> None:
        dialect = engine.dialect
        # for_executemany: no implicit RETURNING of the primary key (PostgreSQL)
        compiled = statement.compile(
            dialect=dialect, column_keys=list(keys) if keys else None, for_executemany=many
        )
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 - an INSERT compiles to SQL
        self.sql = compiled.string
        self.dialect = dialect
        self.positional = compiled.positiontup is not None
        names = list(compiled.positiontup or compiled.binds)
        self.binds = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        ]

    def parameters(self, values: dict[str, Any]) -> Any:
        converted = []
        for name, process in self.binds:
            try:
                value = values[name]
            except KeyError:
                raise sa_exc.StatementError(
                    f"no value for the column {name}", self.sql, None, None
                ) from None
            converted.append(value if process is None else process(value))
        if self.positional:
            return converted
        return dict(zip((name for name, _ in self.binds), converted, strict=True))

    def run(self, connection: Connection, rows: Sequence[dict[str, Any]], *, fetch: bool) -> Any:
        """``rows`` (executemany, or one row and its first result row when ``fetch``)."""
        parameters = [self.parameters(values) for values in rows]
        proxied = connection.connection
        cursor = proxied.cursor()
        try:
            if fetch:
                cursor.execute(self.sql, parameters[0])
                return cursor.fetchone()
            cursor.executemany(self.sql, parameters)
            return None
        except self.dialect.loaded_dbapi.Error as exc:
            lost = bool(self.dialect.is_disconnect(exc, proxied.dbapi_connection, cursor))
            if lost:
                connection.invalidate(exc)
            raise sa_exc.DBAPIError.instance(
                self.sql,
                None,
                exc,
                self.dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=lost,
                dialect=self.dialect,
            ) from exc
        finally:
            with contextlib.suppress(Exception):
                cursor.close()


class WriterTurns:
    """Writers of one SQLite file in several processes (``serve --workers``), one at a
    time: each holds an exclusive ``flock`` on ``path`` for its transaction.

    SQLite makes a writer that finds the write lock taken sleep and try again, for 1,
    2, 5, 10, ... up to 100 ms at a time, so two processes committing several times a
    request each made every tenth CDS call wait 50-100 ms. A waiter here tries again
    after 0.25 ms, doubling to at most 2 ms. The lock only spares that wait: SQLite's
    own locking keeps the writes correct without it, so after ``busy_timeout`` seconds
    (a process stopped while holding it), or where the file cannot be opened or
    locked, the transaction goes ahead without its turn and SQLite's busy timeout
    decides, as before.
    """

    FIRST_WAIT = 0.000_25
    LONGEST_WAIT = 0.002

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._fd: int | None = None

    def _descriptor(self) -> int | None:
        if self._fd is None:
            with contextlib.suppress(OSError):
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    @contextlib.contextmanager
    def taken(self) -> Iterator[bool]:
        """Hold the turn (True), or go ahead without it (False) after ``busy_timeout``."""
        fd = self._descriptor()
        held = fd is not None and self._take(fd)
        try:
            yield held
        finally:
            if held and fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _take(self, fd: int) -> bool:
        deadline = time.monotonic() + self.busy_timeout
        wait = self.FIRST_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
            except OSError:  # a file system without flock: SQLite alone decides
                return False
            time.sleep(wait)
            wait = min(wait * 2, self.LONGEST_WAIT)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


class Store:
    """The service's database, with a group-committing writer for every record."""

    def __init__(
        self,
        url: str,
        *,
        write_timeout: float = WRITE_TIMEOUT,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.url = url
        self.write_timeout = write_timeout
        self.busy_timeout = busy_timeout
        self._lock = threading.Condition()
        self._open = _Batch()
        self._inflight: _Batch | None = None
        self._pending = 0
        self._closing = False
        self._state: tuple[float, str | None] | None = None  # (when, None or the reason)
        self._last_prune = time.monotonic()
        self._jti_since_prune = False
        self._migrated = False
        self._sqlite = url.startswith("sqlite")
        try:
            if self._sqlite and url.startswith("sqlite:///") and ":memory:" not in url:
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            migrate(url)
            self._migrated = True
        except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError) as exc:
            # The database cannot be reached or written now: start degraded (health
            # says so, writes answer 503) and migrate as soon as it can be.
            self._state = (time.monotonic(), describe(exc))
            log.error("storage unavailable at start-up: %s", describe(exc))
        connect_args: dict[str, Any] = {}
        if self._sqlite:
            connect_args["timeout"] = busy_timeout
        elif url.startswith("postgresql"):
            connect_args["connect_timeout"] = max(1, round(busy_timeout))
            connect_args["options"] = (
                f"-c lock_timeout={int(busy_timeout * 1000)} "
                f"-c statement_timeout={int(write_timeout * 1000)}"
            )
        self.engine: Engine = create_engine(
            url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args
        )
        if self._sqlite:
            event.listen(self.engine, "connect", _sqlite_connect(busy_timeout))
            event.listen(self.engine, "begin", _sqlite_begin)
        self._writes = self.engine.execution_options(calcinosis_write=True)
        # compiled once and run on the DBAPI cursor (_Compiled): the replay claim and
        # the audit rows are two transactions a CDS call, on the writer thread, which
        # competes with the event loop for the interpreter lock
        self._jti_upsert = _Compiled(self._jti_statement(), self.engine)
        self._inserts = {
            kind: _Compiled(insert(_MODELS[kind]), self.engine, _INSERTED[kind], many=True)
            for kind in _BATCHED
        }
        self._connection: Connection | None = None  # the writer thread's own
        self._wrote = threading.Event()  # set after each committed batch
        self._wal_full = False
        # the writer itself watches the WAL's size: on a loaded machine the checkpointer
        # thread can run too late to ask for the restart in time
        database = self.engine.url.database if self._sqlite else None
        self._wal_file = Path(f"{database}-wal") if database and database != ":memory:" else None
        self._wal_seen = 0  # the WAL file's size when the writer last asked for a restart
        # writers of other processes (``serve --workers``) take turns on this file lock
        self._turns = (
            WriterTurns(Path(f"{database}-writer.lock"), busy_timeout)
            if database and database != ":memory:"
            else None
        )
        self._stopped = threading.Event()
        self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._writer.start()
        self._checkpointer: threading.Thread | None = None
        if self._sqlite:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_forever, name="wal-checkpointer", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_forever(self) -> None:
        """Copy the WAL into the database file (and fsync both) off the commit path: an
        automatic checkpoint runs inside the commit that crosses 1000 pages and held
        that batch for over 100 ms. PASSIVE: it never blocks the writer. Under steady
        writes it never catches up with the last frames, so the WAL would only grow:
        past WAL_RESTART_FRAMES the writer itself checkpoints between two batches with
        RESTART (which waits for this thread's checkpoint instead of giving up), and its
        next transaction starts the WAL over. The writer also watches the file's growth,
        so the restart does not wait on this thread being scheduled."""
        while not self._stopped.is_set():
            if not self._wrote.wait(timeout=1.0):
                continue
            if self._stopped.is_set():  # woken by close: no checkpoint while it closes
                break
            self._wrote.clear()
            try:
                raw = self.engine.raw_connection()  # autocommit: no BEGIN around it
                try:
                    cursor = raw.cursor()
                    _busy, frames, _done = cursor.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                    cursor.close()
                    if frames >= WAL_RESTART_FRAMES:
                        self._wal_full = True  # the writer finishes it between two batches
                finally:
                    raw.close()
            except Exception as exc:  # the next one will try again
                log.debug("WAL checkpoint failed: %s", describe(exc))
            self._stopped.wait(timeout=CHECKPOINT_EVERY)

    # ------------------------------------------------------------ queueing
    def _enqueue(
        self,
        rows: Sequence[Row],
        future: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None,
    ) -> _Batch:
        with self._lock:
            if self._closing:
                raise StorageError("the store is closed", _detail_for(rows))
            if self._pending + len(rows) > MAX_PENDING:
                raise StorageError(
                    f"more than {MAX_PENDING} rows are waiting to be written", _detail_for(rows)
                )
            batch = self._open
            batch.rows.extend(rows)
            if future is not None:
                batch.futures.append(future)
            self._pending += len(rows)
            self._lock.notify()
            return batch

    def _abandon(self, batch: _Batch, rows: Sequence[Row], timeout: float) -> StorageError:
        with self._lock:
            if not batch.started:  # never reaches the database
                for row in rows:
                    row.cancelled = True
        return StorageError(
            f"the database did not confirm the write within {timeout:g} s", _detail_for(rows)
        )

    @staticmethod
    def _outcome(rows: Sequence[Row]) -> list[object]:
        for row in rows:
            if row.error is not None:
                raise StorageError(row.error.reason, _detail_for(rows))
        return [row.result for row in rows]

    def write(self, rows: Sequence[Row], *, timeout: float | None = None) -> list[object]:
        """Queue ``rows`` and wait until the batch holding them is committed; their
        results (``claim_jti``'s booleans, else ``None``). ``StorageError`` when any of
        them could not be written or was not confirmed within the timeout."""
        if not rows:
            return []
        limit = self.write_timeout if timeout is None else timeout
        batch = self._enqueue(rows)
        if not batch.done.wait(limit):
            raise self._abandon(batch, rows, limit)
        return self._outcome(rows)

    async def awrite(self, rows: Sequence[Row], *, timeout: float | None = None) -> list[object]:
        """``write`` for the event loop: awaits the commit without blocking the loop."""
        if not rows:
            return []
        limit = self.write_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        batch = self._enqueue(rows, (loop, future))
        timer = loop.call_later(limit, _time_out, future)
        try:
            await future
        except TimeoutError:
            raise self._abandon(batch, rows, limit) from None
        finally:
            timer.cancel()
        return self._outcome(rows)

    # ------------------------------------------------------------ records
    def record_plan(self, plan: PlanDocument, channel: str) -> None:
        """Write the audit record of a plan served; returns once it is committed."""
        self.write([plan_row(plan, channel)])

    def record_card(self, uuid: str, service: str, kind: str, indicator: str) -> None:
        """Write the record of a CDS Hooks card issued; returns once it is committed."""
        self.write([card_row(uuid, service, kind, indicator)])

    def record_feedback(
        self,
        service: str,
        card: str,
        outcome: str,
        override_reason: str | None,
        outcome_timestamp: str | None,
    ) -> None:
        """Write a feedback item; returns once it is committed."""
        self.write([feedback_row(service, card, outcome, override_reason, outcome_timestamp)])

    # ------------------------------------------------------------ replay cache
    def _jti_row(self, issuer: str, jti: str, expires_at: datetime) -> Row:
        if not issuer or not jti:
            raise ValueError("issuer and jti must not be empty")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        if expires_at - datetime.now(UTC) > JTI_MAX_AHEAD:
            raise ValueError(f"expires_at is more than {JTI_MAX_AHEAD} ahead")
        seconds = int(expires_at.timestamp()) + (expires_at.microsecond > 0)  # ceiling
        return Row("jti", {"k": _jti_key(issuer, jti), "e": seconds})

    def claim_jti(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Claim a JWT id for replay protection: True the first time ``(issuer, jti)``
        is claimed, False when it was already claimed and has not expired (a replay).

        Durable (the ``cds_jti`` table; it survives restarts) and shared by every
        worker and instance on the same database: the claim is one atomic
        ``INSERT ... ON CONFLICT`` on the primary key (SHA-256 of issuer and jti), so
        of two concurrent claims exactly one wins, on SQLite and PostgreSQL alike.
        ``expires_at`` (timezone-aware) is the token's ``exp`` plus the verifier's
        leeway; at most a day ahead (``ValueError`` otherwise: CDS Hooks tokens live
        five minutes). Expired entries are deleted once a minute, so the table holds
        only live tokens; an expired entry can be claimed again. Commits before it
        returns (group commit with the audit rows); ``StorageError`` when the
        database cannot be written, in which case the token must be refused.
        """
        result = self.write([self._jti_row(issuer, jti, expires_at)])
        return bool(result[0])

    async def aclaim_jti(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """``claim_jti`` for the event loop."""
        result = await self.awrite([self._jti_row(issuer, jti, expires_at)])
        return bool(result[0])

    def _jti_statement(self) -> ClauseElement:
        """INSERT one jti; an existing key is taken over only when it has expired.
        RETURNING gives the key when it was inserted or taken over: the claim won."""
        table = JtiRecord.__table__
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(key=bindparam("k"), expires_at=bindparam("e"))
        upsert: ClauseElement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"expires_at": statement.excluded.expires_at},
            where=table.c.expires_at < bindparam("now"),
        ).returning(table.c.key)
        return upsert

    def _claim(self, connection: Connection, rows: list[Row]) -> None:
        # One statement per claim, in the batch's transaction: a second claim of the
        # same key in the batch sees the first. (A multi-row INSERT measured no faster.)
        # Keys are claimed in key order, so that two servers' batches on one PostgreSQL
        # database lock them in the same order and cannot deadlock (40P01 was seen with
        # batches of two claimed in opposite orders).
        now = int(time.time())
        for row in sorted(rows, key=lambda r: str(r.values["k"])):
            found = self._jti_upsert.run(connection, [row.values | {"now": now}], fetch=True)
            row.result = found is not None

    # ------------------------------------------------------------ health
    def _health_known(self) -> tuple[bool, str | None]:
        if not self._writer.is_alive():
            return True, "the audit writer has stopped"
        state = self._state
        if state is not None and time.monotonic() - state[0] < HEALTH_FRESH:
            return True, state[1]
        return False, None

    @property
    def unavailable_at_start(self) -> str | None:
        """Why the database could not be migrated when the store opened, or None."""
        if self._migrated or self._state is None:
            return None
        return self._state[1]

    def health(self) -> str | None:
        """None when the store can write now, else the reason in one line."""
        known, reason = self._health_known()
        if known:
            return reason
        try:
            self.write([Row("probe", {})])
        except StorageError as exc:
            return exc.reason
        return None

    async def ahealth(self) -> str | None:
        """``health`` for the event loop."""
        known, reason = self._health_known()
        if known:
            return reason
        try:
            await self.awrite([Row("probe", {})])
        except StorageError as exc:
            return exc.reason
        return None

    # ------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._open.rows and not self._closing:
                    self._lock.wait()
                batch = self._open
                if not batch.rows:
                    self._open.finish()
                    return  # closing, and nothing left
                batch.started = True
                self._open = _Batch()
                self._inflight = batch
                self._pending -= len(batch.rows)
            rows = [row for row in batch.rows if not row.cancelled]
            try:
                if rows:
                    self._write_rows(rows)
            except BaseException as exc:  # the writer must outlive anything
                failure = StorageError(describe(exc), _detail_for(rows))
                for row in rows:
                    row.error = row.error or failure
                log.error("could not write %d records: %s", len(rows), failure.reason)
            finally:
                batch.finish()
                self._inflight = None
            self._maybe_prune()
            self._watch_wal()
            if self._wal_full:
                self._wal_full = False
                self._checkpoint_here()

    def _watch_wal(self) -> None:
        """Ask for the restart when the WAL file has grown by WAL_RESTART_FRAMES since the
        last time: the file never shrinks below its high-water mark (a restarted WAL is
        written over from its start), so its growth, not its size, says that the WAL has
        not started over."""
        if self._wal_file is None or self._wal_full:
            return
        with contextlib.suppress(OSError):
            size = self._wal_file.stat().st_size
            if size - self._wal_seen >= _wal_restart_bytes():
                self._wal_full, self._wal_seen = True, size

    def _checkpoint_here(self) -> None:
        connection = self._connection
        if connection is None or connection.in_transaction():
            return
        try:
            dbapi = connection.connection.dbapi_connection
            if dbapi is not None:
                # RESTART: waits (busy timeout) for the checkpointer thread, copies every
                # frame, and makes the next transaction start the WAL over
                with self._turn():
                    dbapi.execute("PRAGMA wal_checkpoint(RESTART)")
        except Exception as exc:  # the checkpointer asks again
            log.debug("WAL checkpoint failed: %s", describe(exc))

    def _set_state(self, reason: str | None) -> None:
        self._state = (time.monotonic(), reason)
        if reason is None and self._sqlite:
            self._wrote.set()

    def _write_rows(self, rows: list[Row]) -> None:
        try:
            if not self._migrated:
                migrate(self.url)
                self._migrated = True
            self._transaction(rows)
        except Exception as exc:
            reason = describe(exc)
            if not _is_row_error(exc) or len(rows) == 1:
                for row in rows:
                    row.error = StorageError(reason, _detail_for([row]))
                if not _is_row_error(exc):
                    self._set_state(reason)
                log.error("could not write %d records: %s", len(rows), reason)
                return
            log.warning("a batch of %d records failed (%s): retrying one by one", len(rows), reason)
            self._one_by_one(rows)
            return
        self._set_state(None)

    def _one_by_one(self, rows: list[Row]) -> None:
        for index, row in enumerate(rows):
            try:
                self._transaction([row])
            except Exception as exc:
                reason = describe(exc)
                row.error = StorageError(reason, _detail_for([row]))
                log.error("could not write a %s record: %s", row.kind, reason)
                if not _is_row_error(exc):  # the database itself failed: so will the rest
                    self._set_state(reason)
                    for rest in rows[index + 1 :]:
                        rest.error = StorageError(reason, _detail_for([rest]))
                    return
            else:
                self._set_state(None)

    def _transaction(self, rows: list[Row]) -> None:
        """One transaction on the writer's own connection (kept between batches: no pool
        checkout or ping per batch). After a database error the connection is dropped,
        so that the next batch opens a new one (e.g. once a read-only file is writable
        again); a connection found dead is replaced once, at once (PostgreSQL restarted)."""
        for attempt in (1, 2):
            connection = self._connection
            if connection is None:
                connection = self._connection = self._writes.connect()
            try:
                with self._turn(), connection.begin():
                    self._apply(connection, rows)
                return
            except sa_exc.DBAPIError as exc:
                if exc.connection_invalidated or isinstance(exc, _CONNECTION_ERRORS):
                    self._drop_connection()
                if exc.connection_invalidated and attempt == 1:
                    continue
                raise

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        if self._turns is None:
            yield
            return
        with self._turns.taken():
            yield

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()
                connection.close()

    def _apply(self, connection: Connection, rows: list[Row]) -> None:
        grouped: dict[str, list[Row]] = {}
        for row in rows:
            grouped.setdefault(row.kind, []).append(row)
        for kind in _BATCHED:
            if kind in grouped:
                self._inserts[kind].run(connection, [r.values for r in grouped[kind]], fetch=False)
        if "feedback" in grouped:
            values = [r.values for r in grouped["feedback"]]
            uuids = sorted({v["card"] for v in values})
            query = select(CardRecord.uuid, CardRecord.kind).where(CardRecord.uuid.in_(uuids))
            kinds: dict[str, str] = {row[0]: row[1] for row in connection.execute(query)}
            connection.execute(
                insert(FeedbackRecord),
                [v | {"kind": kinds.get(v["card"], "unknown")} for v in values],
            )
        if "jti" in grouped:
            self._claim(connection, grouped["jti"])
            self._jti_since_prune = True
        if "probe" in grouped:
            changed = connection.execute(
                update(ProbeRecord).where(ProbeRecord.id == 1).values(checked_at=_now())
            ).rowcount
            if not changed:
                connection.execute(insert(ProbeRecord).values(id=1, checked_at=_now()))

    def _maybe_prune(self) -> None:
        if not self._jti_since_prune or time.monotonic() - self._last_prune < JTI_PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        self._jti_since_prune = False
        try:
            self.prune_jtis()
        except Exception as exc:  # pruning is housekeeping: try again next time
            log.warning("could not delete expired jtis: %s", describe(exc))

    def prune_jtis(self, now: datetime | None = None) -> int:
        """Delete the expired jtis now (the writer does it once a minute); how many."""
        cutoff = int((now or datetime.now(UTC)).timestamp())
        with self._writes.begin() as connection:
            deleted = connection.execute(delete(JtiRecord).where(JtiRecord.expires_at < cutoff))
            count: int = deleted.rowcount or 0
            return count

    def jti_count(self) -> int:
        """The jtis kept (claimed and not yet pruned)."""
        query = select(func.count()).select_from(JtiRecord)
        return int(self._read(lambda s: s.scalar(query) or 0))

    # ------------------------------------------------------------ reads
    def _read(self, query: Any) -> Any:
        try:
            with Session(self.engine) as session:
                return query(session)
        except sa_exc.SQLAlchemyError as exc:
            raise StorageError(describe(exc), READ_DETAIL) from None

    def feedback_counts(self) -> list[dict[str, Any]]:
        """Feedback counted by service, card kind, outcome and override reason."""
        self.flush()
        columns = (
            FeedbackRecord.service,
            FeedbackRecord.kind,
            FeedbackRecord.outcome,
            FeedbackRecord.override_reason,
        )
        query = select(*columns, func.count(FeedbackRecord.id)).group_by(*columns)
        rows = self._read(lambda s: s.execute(query.order_by(*columns)).all())
        return [
            {
                "service": r[0],
                "kind": r[1],
                "outcome": r[2],
                "override_reason": r[3],
                "count": int(r[4]),
            }
            for r in rows
        ]

    def card_counts(self) -> list[dict[str, Any]]:
        """Cards issued, by service, kind and indicator."""
        self.flush()
        columns = (CardRecord.service, CardRecord.kind, CardRecord.indicator)
        query = select(*columns, func.count(CardRecord.uuid)).group_by(*columns)
        rows = self._read(lambda s: s.execute(query.order_by(*columns)).all())
        return [
            {"service": r[0], "kind": r[1], "indicator": r[2], "count": int(r[3])} for r in rows
        ]

    def flush(self) -> None:
        """Wait until every row queued so far is written (or has failed)."""
        with self._lock:
            batch = self._open if self._open.rows else self._inflight
        if batch is not None:
            batch.done.wait()

    def plan_count(self) -> int:
        self.flush()
        return int(self._read(lambda s: s.scalar(select(func.count(PlanRecord.id))) or 0))

    def recent_plans(self, limit: int = 20) -> list[PlanRecord]:
        self.flush()
        query = select(PlanRecord).order_by(PlanRecord.id.desc()).limit(limit)
        return list(self._read(lambda s: list(s.scalars(query))))

    def close(self) -> None:
        """Write what is queued, stop the writer, release the connections."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._writer.join(timeout=self.write_timeout + self.busy_timeout + 1)
        self._stopped.set()
        self._wrote.set()  # wakes the checkpointer now, to stop (not up to 1 s later)
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=self.write_timeout)
        if not self._writer.is_alive():
            self._drop_connection()
            if self._turns is not None:
                self._turns.close()
        self.engine.dispose()


def _detail_for(rows: Sequence[Row]) -> str:
    kinds = {row.kind for row in rows}
    if "plan" in kinds:
        return PLAN_DETAIL
    if "feedback" in kinds:
        return FEEDBACK_DETAIL
    if "card" in kinds:
        return CARD_DETAIL
    return "The database could not be written."
