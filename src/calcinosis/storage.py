"""What the service remembers: one audit record per plan served, no patient data.

SQLAlchemy with SQLite by default, PostgreSQL by URL; the schema is managed by
Alembic migrations (``migrations/``), applied at start-up. A record holds the
time, the evidence version, the channel, the subtype, the options returned (id
and stance) and the trace: nothing that identifies a patient, and not the
profile itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

__all__ = ["Base", "PlanRecord", "Store"]

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


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


class Store:
    """The service's database."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        migrate(url)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)

    def record_plan(self, plan: dict[str, Any], channel: str) -> int:
        record = PlanRecord(
            created_at=datetime.now(UTC),
            channel=channel,
            evidence_version=str(plan["evidence_version"]),
            subtype=str(plan["subtype"]),
            critical=bool(plan["critical"]),
            options=[{"id": o["id"], "stance": o["stance"]} for o in plan["options"]],
            trace=list(plan["trace"]),
        )
        with Session(self.engine) as session, session.begin():
            session.add(record)
            session.flush()
            return record.id

    def plan_count(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count(PlanRecord.id))) or 0)

    def recent_plans(self, limit: int = 20) -> list[PlanRecord]:
        with Session(self.engine) as session:
            query = select(PlanRecord).order_by(PlanRecord.id.desc()).limit(limit)
            return list(session.scalars(query))

    def close(self) -> None:
        self.engine.dispose()
