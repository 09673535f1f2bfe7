"""Alembic environment: runs the migrations against the configured URL.

Two servers may start at once on a database that does not exist yet. The whole
upgrade therefore runs in one transaction that first takes a lock every other
upgrade waits for: on SQLite the write lock (``BEGIN IMMEDIATE``, with SQLite's
transactional DDL), on PostgreSQL a transaction-scoped advisory lock. The second
server then reads the version the first one committed and has nothing to do,
instead of failing on "table already exists".
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection

from calcinosis.storage import Base

#: How long an upgrade waits for another one to finish (seconds).
LOCK_WAIT = 30.0
#: The advisory-lock key on PostgreSQL ("calc" in ASCII).
PG_LOCK_KEY = 0x63616C63

url = context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("the migrations need sqlalchemy.url (set by calcinosis.storage.migrate)")
sqlite = url.startswith("sqlite")
engine = create_engine(url, connect_args={"timeout": LOCK_WAIT} if sqlite else {})
if sqlite:

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours, below

    @event.listens_for(engine, "begin")
    def _take_write_lock(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


try:
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=Base.metadata, transactional_ddl=True
        )
        with context.begin_transaction():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            context.run_migrations()
finally:
    engine.dispose()  # also when a migration fails: no connection is left open
