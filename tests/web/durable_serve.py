"""`calcinosis ...` with a fake durable replay check: ``Store.claim_jti`` backed by a SQLite
file (``CALCINOSIS_TEST_JTI_DB``) that every process started this way shares.

It stands in for the database table that the storage branch adds (durable, shared,
pruned): the service picks up any ``claim_jti`` its store has. Run as a script:
``python durable_serve.py serve --port ...``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import datetime

from calcinosis import storage
from calcinosis.cli import main


def claim_jti(_store: object, issuer: str, jti: str, expires_at: datetime) -> bool:
    """True when (issuer, jti) is new; False when any process claimed it before."""
    connection = sqlite3.connect(os.environ["CALCINOSIS_TEST_JTI_DB"], timeout=10)
    try:
        with connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS jti (issuer TEXT, jti TEXT, expires_at TEXT,"
                " PRIMARY KEY (issuer, jti))"
            )
            connection.execute(
                "INSERT INTO jti VALUES (?, ?, ?)", (issuer, jti, expires_at.isoformat())
            )
    except sqlite3.IntegrityError:
        return False
    finally:
        connection.close()
    return True


if __name__ == "__main__":
    storage.Store.claim_jti = claim_jti  # what the storage branch adds, faked
    sys.exit(main(sys.argv[1:]))
