"""Storage faults against a real `calcinosis serve`: no 200 without its committed record.

Each test starts the server (`calcinosis serve --insecure-cds`, loopback only) on its
own database, sends traffic on every channel that stores something (the API, the
assessment page, CDS patient-view, CDS feedback) from several threads, injects a
fault, and checks:

- no 200 without its record: plan, card and feedback rows counted against the 200s
  (records lost: 0);
- every answer under the fault is a 503, ``application/problem+json`` (the assessment
  page: an HTML page) saying that nothing was served;
- ``/api/health`` is 503 ``{"status": "degraded", "storage": "<reason>"}``;
- once the fault is removed, health is ok again and requests are served and recorded.

Faults: a read-only database file, a read-only directory (as root, the server runs
without CAP_DAC_OVERRIDE so that file modes bind it), a write lock held by another
process (``BEGIN EXCLUSIVE``), a file-size limit (``RLIMIT_FSIZE``) that makes every
write of the database fail as a full disk does, PostgreSQL stopped mid-run (a private
throwaway cluster), and an over-long ``outcomeTimestamp`` on PostgreSQL among other
clients' feedback.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from calcinosis.storage import Base, Store

FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
PATIENT_VIEW = "/cds-services/calcinosis-patient-view"
PROFILE = {"age_years": 58, "subtype": "dystrophic", "underlying_disease": "systemic-sclerosis"}
PAGE = "/?subtype=dystrophic&age_years=58&underlying_disease=systemic-sclerosis&symptomatic=yes"
CDS_BODY = json.loads((FHIR / "ssc_adult_warfarin_patient_view.json").read_text(encoding="utf-8"))
FEEDBACK_ITEMS = 3
POSTGRES = os.environ.get("CALCINOSIS_TEST_POSTGRES_URL")
FAST = {  # a held lock is given up on quickly, so that the tests are quick
    "CALCINOSIS_STORAGE_BUSY_TIMEOUT": "0.3",
    "CALCINOSIS_STORAGE_WRITE_TIMEOUT": "5",
}
SERVE = ("--insecure-cds",)
Serve = Callable[
    ..., AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]
]  # CDS calls without tokens (loopback only): trust is not tested here


def _unprivileged() -> list[str]:
    """A command prefix under which file modes bind the server (root ignores them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot bind the server")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "true"], check=False, capture_output=True)  # noqa: S603
    if probe.returncode != 0:
        pytest.skip("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here")
    return prefix


# --------------------------------------------------------------------- traffic
@dataclass
class Tally:
    ok: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    cards: int = 0
    feedback: int = 0

    @property
    def plans(self) -> int:
        return self.ok["api"] + self.ok["web"] + self.ok["cds"]


def _feedback_body(index: int) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": f"card-{index}-{n}",
                "outcome": "accepted",
                "outcomeTimestamp": "2026-12-01T10:00:00Z",
            }
            for n in range(FEEDBACK_ITEMS)
        ]
    }


def _send(client: httpx.Client, channel: str, index: int) -> httpx.Response:
    if channel == "api":
        return client.post("/api/recommendations", json=PROFILE)
    if channel == "web":
        return client.get(PAGE)
    if channel == "cds":
        return client.post(PATIENT_VIEW, json=CDS_BODY | {"hookInstance": f"h-{index}"})
    return client.post(PATIENT_VIEW + "/feedback", json=_feedback_body(index))


def traffic(base: str, tally: Tally, *, expect: int, rounds: int = 4) -> None:
    """``rounds`` requests on each channel from 8 threads; each answer must be ``expect``
    (200, or 503 with the documents the guarantee promises)."""
    jobs = [(channel, i) for i in range(rounds) for channel in ("api", "web", "cds", "feedback")]
    with httpx.Client(base_url=base, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: (job[0], _send(client, *job)), jobs))
    for channel, response in answers:
        assert response.status_code == expect, (channel, response.status_code, response.text)
        if response.status_code == 200:
            tally.ok[channel] += 1
            if channel == "cds":
                tally.cards += len(response.json()["cards"])
            elif channel == "feedback":
                tally.feedback += FEEDBACK_ITEMS
            continue
        tally.refused[channel] += 1
        kind = response.headers["content-type"]
        if channel == "web":
            assert kind.startswith("text/html")
            assert "The audit record could not be written; no plan was served." in response.text
            continue
        assert kind == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 503 and problem["title"] == "Service unavailable"
        expected = {
            "api": "The audit record could not be written; no plan was served.",
            "cds": "The audit record could not be written; no plan was served.",
            "feedback": "The feedback could not be stored; none of it was recorded.",
        }[channel]
        assert problem["detail"] == expected
        assert "INSERT" not in response.text and "Traceback" not in response.text


def health(base: str) -> httpx.Response:
    return httpx.get(f"{base}/api/health", timeout=30)


def wait_for_health(base: str, status: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = health(base)
        if response.status_code == status or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == status, response.text
    document: dict[str, Any] = response.json()
    assert document["evidence_version"] and document["evidence_released"]
    return document


def degraded(base: str, *words: str) -> str:
    document = wait_for_health(base, 503)
    assert document["status"] == "degraded"
    reason: str = document["storage"]
    assert "\n" not in reason and len(reason) < 200
    assert any(word in reason for word in words), reason
    return reason


def recovered(base: str, tally: Tally) -> None:
    assert wait_for_health(base, 200)["status"] == "ok"
    traffic(base, tally, expect=200)


# -------------------------------------------------------------------- counting
def sqlite_counts(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("plan_audit", "cds_card", "cds_feedback")
        }


def postgres_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608
                for table in ("plan_audit", "cds_card", "cds_feedback")
            }
    finally:
        engine.dispose()


def no_record_lost(counts: dict[str, int], tally: Tally, *, exact: bool = True) -> None:
    """Every 200 has its committed record (records lost: 0); with ``exact``, no 503
    left one either."""
    served = {"plan_audit": tally.plans, "cds_card": tally.cards, "cds_feedback": tally.feedback}
    lost = {table: served[table] - counts[table] for table in served}
    assert all(value <= 0 for value in lost.values()), f"records lost: {lost}"
    if exact:
        assert counts == served
    assert tally.plans and sum(tally.refused.values())


def sqlite_env(database: Path) -> dict[str, str]:
    return {"CALCINOSIS_DATABASE_URL": f"sqlite:///{database}", **FAST}


def migrated(database: Path) -> None:
    Store(f"sqlite:///{database}").close()  # the schema, and no -wal or -shm left


# ----------------------------------------------------------------------- tests
def test_read_only_database_file(tmp_path: Path, serve_process: Serve) -> None:
    database = tmp_path / "audit.db"
    migrated(database)
    database.chmod(0o444)
    tally = Tally()
    with serve_process(sqlite_env(database), args=SERVE, prefix=_unprivileged()) as (
        base,
        _,
    ):
        degraded(base, "read-only")
        traffic(base, tally, expect=503)
        degraded(base, "read-only")
        database.chmod(0o644)
        recovered(base, tally)
    no_record_lost(sqlite_counts(database), tally)


def test_read_only_directory(tmp_path: Path, serve_process: Serve) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    database = folder / "audit.db"
    migrated(database)
    folder.chmod(0o555)
    tally = Tally()
    try:
        with serve_process(sqlite_env(database), args=SERVE, prefix=_unprivileged()) as (
            base,
            _,
        ):
            degraded(base, "read-only", "cannot be opened")
            traffic(base, tally, expect=503)
            folder.chmod(0o755)
            recovered(base, tally)
    finally:
        folder.chmod(0o755)
    no_record_lost(sqlite_counts(database), tally)


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    database: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, serve_process: Serve) -> Iterator[Served]:
    """One server on SQLite for the faults injected while it runs (and then removed)."""
    database = tmp_path_factory.mktemp("faults") / "audit.db"
    with serve_process(sqlite_env(database), args=SERVE) as (base, process):
        yield Served(base, process, database)


def since(before: dict[str, int], database: Path) -> dict[str, int]:
    after = sqlite_counts(database)
    return {table: after[table] - before[table] for table in after}


def test_a_lock_held_by_another_process(served: Served) -> None:
    before, tally = sqlite_counts(served.database), Tally()
    traffic(served.base, tally, expect=200)
    with closing(sqlite3.connect(served.database, timeout=10, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")  # what another program writing the file does
        traffic(served.base, tally, expect=503)
        degraded(served.base, "locked")
        other.execute("ROLLBACK")
    recovered(served.base, tally)
    no_record_lost(since(before, served.database), tally)


def test_writes_failing_as_on_a_full_disk(served: Served) -> None:
    """RLIMIT_FSIZE of 1 byte on the server: every write to the database files fails
    (a short write, then EFBIG), as on a full disk; SQLite reports an I/O error."""
    if not hasattr(resource, "prlimit"):
        pytest.skip("no prlimit on this platform: a full disk cannot be simulated")
    before, tally = sqlite_counts(served.database), Tally()
    traffic(served.base, tally, expect=200)
    pid = served.process.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
    try:
        traffic(served.base, tally, expect=503)
        degraded(served.base, "disk")
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
    recovered(served.base, tally)
    no_record_lost(since(before, served.database), tally)


def test_only_real_plan_requests_are_audited(served: Served) -> None:
    """Opening the assessment (no profile submitted), an empty print view, an empty
    subtype, or any other page writes no audit record; a submitted profile writes one."""
    before = sqlite_counts(served.database)
    with httpx.Client(base_url=served.base, timeout=30) as client:
        for path in ("/", "/print", "/?lang=en", "/?subtype=", "/about", "/evidence"):
            assert client.get(path).status_code in (200, 422), path
        assert client.get("/api/health").status_code == 200
        assert since(before, served.database)["plan_audit"] == 0
        assert client.get(PAGE).status_code == 200
    assert since(before, served.database)["plan_audit"] == 1


# ------------------------------------------------------------------ PostgreSQL
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if found:
        return Path(found[-1])
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class Cluster:
    """A throwaway PostgreSQL cluster on a Unix socket, which a test may stop and start."""

    def __init__(self, binaries: Path) -> None:
        self.bin = binaries
        self.dir = Path(tempfile.mkdtemp(prefix="calcinosis-pg-faults-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/postgres?host={self.dir}&port={self.port}"

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(  # noqa: S603 - PostgreSQL's own tools, on our own directory
            [*self.as_postgres, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=''"
        data, log = str(self.dir / "data"), str(self.dir / "log")
        self.run("pg_ctl", "-D", data, "-l", log, "-w", "-o", options, "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(  # noqa: S603
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    binaries = _pg_bin()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("CI has no PostgreSQL binaries: scripts/test should have installed them")
        pytest.skip("PostgreSQL is not installed: a server cannot be stopped mid-run")
    made = Cluster(binaries)
    try:
        yield made
    finally:
        made.remove()


def test_postgres_stopped_mid_run(cluster: Cluster, serve_process: Serve) -> None:
    env = {"CALCINOSIS_DATABASE_URL": cluster.url, **FAST}
    tally = Tally()
    with serve_process(env, args=SERVE) as (base, _):
        traffic(base, tally, expect=200)
        cluster.stop()
        try:
            traffic(base, tally, expect=503)
            degraded(base, "cannot be reached", "shutting down")
        finally:
            cluster.start()
        recovered(base, tally)
    # A commit the server saw fail as PostgreSQL went down may still have happened:
    # then a 503 left its row. A 200 without its row may never happen.
    no_record_lost(postgres_counts(cluster.url), tally, exact=False)


@pytest.fixture
def postgres() -> str:
    if not POSTGRES:
        if os.environ.get("CI"):
            pytest.fail("CI has no PostgreSQL: scripts/test should have started one")
        pytest.skip("no PostgreSQL server (set CALCINOSIS_TEST_POSTGRES_URL)")
    engine = create_engine(POSTGRES)
    tables = ", ".join([*Base.metadata.tables, "alembic_version"])
    with engine.begin() as connection:  # a clean schema
        connection.execute(text(f"DROP TABLE IF EXISTS {tables}"))
    engine.dispose()
    return POSTGRES


def test_an_over_long_outcome_timestamp_on_postgres_loses_no_other_row(
    postgres: str, serve_process: Serve
) -> None:
    """Before: one 100-character outcomeTimestamp failed the whole batch and other
    clients' rows with it, while every client got a 200. Now it is refused (422,
    naming the field) before anything is queued, and every other row is stored."""
    tally = Tally()
    too_long = [("x" * 100, "feedback[1].outcomeTimestamp"), ("y" * 100_000, "feedback[0].card")]
    with serve_process({"CALCINOSIS_DATABASE_URL": postgres}, args=SERVE) as (base, _):

        def bad(job: tuple[str, str]) -> httpx.Response:
            value, name = job
            items = _feedback_body(0)["feedback"][:2]
            if name.endswith("card"):
                items[0]["card"] = value
            else:
                items[1]["outcomeTimestamp"] = value
            return httpx.post(
                f"{base}{PATIENT_VIEW}/feedback", json={"feedback": items}, timeout=30
            )

        with ThreadPoolExecutor(4) as pool:
            good = [pool.submit(traffic, base, tally, expect=200, rounds=6) for _ in range(3)]
            refused = list(pool.map(bad, too_long))
            for future in good:
                future.result()
        for response, (_, name) in zip(refused, too_long, strict=True):
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"][0]["field"] == name
        assert wait_for_health(base, 200)["status"] == "ok"
    counts = postgres_counts(postgres)
    served = {"plan_audit": tally.plans, "cds_card": tally.cards, "cds_feedback": tally.feedback}
    assert counts == served  # records lost: 0
