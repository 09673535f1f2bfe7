"""Alembic environment: runs the migrations against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from calcinosis.storage import Base

url = context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("the migrations need sqlalchemy.url (set by calcinosis.storage.migrate)")
engine = create_engine(url)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()  # also when a migration fails: no connection is left open
