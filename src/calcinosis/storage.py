"""What the service remembers: one audit record per plan served, no patient data.

SQLAlchemy with SQLite by default, PostgreSQL by URL; the schema is managed by
Alembic migrations (``migrations/``), applied at start-up. A record holds the
time, the evidence version, the channel, the subtype, the options returned (id
and stance) and the trace: nothing that identifies a patient, and not the
profile itself.

Records are written off the request path: ``record_plan`` queues the row and a
single writer thread inserts queued rows in batches (one transaction each).
``flush()`` waits until every queued row is in the database, and ``close()``
flushes before it stops, so nothing is lost on a clean shutdown. SQLite runs in
WAL mode with ``synchronous=NORMAL``.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

__all__ = ["Base", "CardRecord", "FeedbackRecord", "PlanRecord", "Store"]

log = logging.getLogger("calcinosis.storage")

MIGRATIONS = Path(__file__).parent / "migrations"


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


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


_BATCH = 500
_STOP = object()


class Store:
    """The service's database, with a batched writer for the audit records."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        migrate(url)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._queue: queue.Queue[object] = queue.Queue()  # (model, row) tuples, or _STOP
        self._writer = threading.Thread(
            target=self._write_forever, name="audit-writer", daemon=True
        )
        self._writer.start()

    def record_plan(self, plan: dict[str, Any], channel: str) -> None:
        """Queue the audit record of a plan served; the writer thread inserts it."""
        row = {
            "created_at": datetime.now(UTC),
            "channel": channel,
            "evidence_version": str(plan["evidence_version"]),
            "subtype": str(plan["subtype"]),
            "critical": bool(plan["critical"]),
            "options": [{"id": o["id"], "stance": o["stance"]} for o in plan["options"]],
            "trace": list(plan["trace"]),
        }
        self._queue.put((PlanRecord, row))

    def record_card(self, uuid: str, service: str, kind: str, indicator: str) -> None:
        """Queue the record of a CDS Hooks card issued."""
        row = {
            "uuid": uuid,
            "created_at": datetime.now(UTC),
            "service": service,
            "kind": kind,
            "indicator": indicator,
        }
        self._queue.put((CardRecord, row))

    def record_feedback(
        self,
        service: str,
        card: str,
        outcome: str,
        override_reason: str | None,
        outcome_timestamp: str | None,
    ) -> None:
        """Queue a feedback item; its card's kind is looked up when it is written."""
        row = {
            "received_at": datetime.now(UTC),
            "service": service,
            "card": card,
            "outcome": outcome,
            "override_reason": override_reason,
            "outcome_timestamp": outcome_timestamp,
        }
        self._queue.put((FeedbackRecord, row))

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
        with Session(self.engine) as session:
            rows = session.execute(query.order_by(*columns)).all()
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
        with Session(self.engine) as session:
            rows = session.execute(query.order_by(*columns)).all()
        return [
            {"service": r[0], "kind": r[1], "indicator": r[2], "count": int(r[3])} for r in rows
        ]

    def _write_forever(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[object] = [item]
            while item is not _STOP and len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            rows = [entry for entry in batch if isinstance(entry, tuple)]
            try:
                if rows:
                    self._insert(rows)
            except Exception:  # the writer must outlive a failed write; say so loudly
                log.exception("could not write %d records", len(rows))
            finally:
                for _ in batch:
                    self._queue.task_done()
            if _STOP in batch:
                return

    def _insert(self, rows: list[tuple[type[Base], dict[str, Any]]]) -> None:
        by_model: dict[type[Base], list[dict[str, Any]]] = {}
        for model, row in rows:
            by_model.setdefault(model, []).append(row)
        with self.engine.begin() as connection:
            for model in (PlanRecord, CardRecord, FeedbackRecord):
                if model not in by_model:
                    continue
                values = by_model[model]
                if model is FeedbackRecord:
                    uuids = [row["card"] for row in values]
                    query = select(CardRecord.uuid, CardRecord.kind).where(
                        CardRecord.uuid.in_(uuids)
                    )
                    kinds = {row[0]: row[1] for row in connection.execute(query)}
                    values = [row | {"kind": kinds.get(row["card"], "unknown")} for row in values]
                connection.execute(insert(model), values)

    def flush(self) -> None:
        """Wait until every queued record is written."""
        self._queue.join()

    def plan_count(self) -> int:
        self.flush()
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count(PlanRecord.id))) or 0)

    def recent_plans(self, limit: int = 20) -> list[PlanRecord]:
        self.flush()
        with Session(self.engine) as session:
            query = select(PlanRecord).order_by(PlanRecord.id.desc()).limit(limit)
            return list(session.scalars(query))

    def close(self) -> None:
        """Write what is queued, stop the writer, release the connections."""
        if self._writer.is_alive():
            self._queue.put(_STOP)
            self._writer.join()
        self.engine.dispose()
