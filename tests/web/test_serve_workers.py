"""`calcinosis serve --workers N`: the port served by N processes forked from one.

Real servers in second processes: the workers are counted in /proc, every answer they
give has its audit record in the one database they share, a CDS token is refused the
second time whichever worker the call reaches, and the supervisor and its workers stop
together whichever of them is stopped.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .test_cds_live import PARTS, signed
from .test_storage_faults import (
    CDS_BODY,
    PATIENT_VIEW,
    SERVE,
    Tally,
    sqlite_counts,
    sqlite_env,
    traffic,
)

Serve = Callable[..., AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]]
SCRIPT = Path(sys.executable).parent / "calcinosis"


def workers_of(process: subprocess.Popen[bytes]) -> list[int]:
    """The worker processes of a supervisor, from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{process.pid}/task").iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def gone(pid: int, within: float = 15) -> bool:
    """Whether process ``pid`` has ended (and was reaped, or is a zombie) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process ``pid`` holds, from /proc."""
    found: set[int] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            found.add(int(target[len("socket:[") : -1]))
    return found


def served_by(connection: http.client.HTTPConnection, port: int, workers: list[int]) -> int:
    """The worker holding the server's end of a kept-alive loopback ``connection``."""
    assert connection.sock is not None
    client = connection.sock.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if (local, remote) == (port, client):
            inodes.add(int(fields[9]))
    holders = [pid for pid in workers if socket_inodes(pid) & inodes]
    assert len(holders) == 1, (client, holders)
    return holders[0]


def kept_alive(host: str, port: int) -> http.client.HTTPConnection:
    """A connection that has had one answer and stays open."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/api/health")
    answer = connection.getresponse()
    answer.read()
    assert answer.status == 200 and not answer.will_close
    return connection


def test_connections_go_to_the_worker_holding_the_fewest(
    tmp_path: Path, serve_process: Serve
) -> None:
    with serve_process(sqlite_env(tmp_path / "audit.db"), *SERVE, "--workers", "2") as (
        base,
        process,
    ):
        workers = workers_of(process)
        host, port = urlsplit(base).hostname or "", urlsplit(base).port or 0
        first = [kept_alive(host, port) for _ in range(8)]
        owners = [served_by(connection, port, workers) for connection in first]
        assert sorted(owners.count(pid) for pid in workers) == [4, 4]
        # the first worker's four close: the next four connections all go to it
        emptied = owners[0]
        before = socket_inodes(emptied)
        for connection, owner in zip(first, owners, strict=True):
            if owner == emptied:
                connection.close()
        deadline = time.monotonic() + 10
        while len(before - socket_inodes(emptied)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the worker has closed its ends
        then = [kept_alive(host, port) for _ in range(4)]
        assert [served_by(connection, port, workers) for connection in then] == [emptied] * 4
        # four each again: the next two go one to each, in turn
        last = [kept_alive(host, port) for _ in range(2)]
        assert sorted(served_by(connection, port, workers) for connection in last) == sorted(
            workers
        )
        for connection in [*first, *then, *last]:
            connection.close()


def test_two_workers_serve_the_port_and_keep_one_audit_trail(
    tmp_path: Path, serve_process: Serve
) -> None:
    database = tmp_path / "audit.db"
    tally = Tally()
    with serve_process(sqlite_env(database), *SERVE, "--workers", "2") as (base, process):
        workers = workers_of(process)
        assert len(workers) == 2 and process.pid not in workers
        traffic(base, tally, expect=200, rounds=6)  # 24 calls from 8 threads, 4 channels
    assert process.returncode == -signal.SIGTERM  # ended as one process ends after it
    assert all(gone(pid) for pid in workers)
    # every plan, card and feedback item answered 200 was committed, whichever worker
    served = {"plan_audit": tally.plans, "cds_card": tally.cards, "cds_feedback": tally.feedback}
    assert sqlite_counts(database) == served
    assert tally.ok == {"api": 6, "web": 6, "cds": 6, "feedback": 6} and tally.cards > 0


def test_a_cds_token_is_refused_the_second_time_whichever_worker_gets_it(
    tmp_path: Path, serve_process: Serve
) -> None:
    issuers = tmp_path / "issuers.json"
    issuers.write_text(
        json.dumps({"issuers": [{"iss": PARTS["payload"]["iss"], "jwks": PARTS["jwks_public"]}]})
    )

    def env(url: str) -> dict[str, str]:
        return {
            "CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
            "CALCINOSIS_PUBLIC_URL": url,
            "CALCINOSIS_CDS_ISSUERS": str(issuers),
        }

    with serve_process(env, "--workers", "2") as (base, _):
        headers = signed(base + PATIENT_VIEW)
        statuses = []
        for _ in range(12):  # a new connection each time: the workers take turns accepting
            with httpx.Client(trust_env=False, timeout=30) as client:
                answer = client.post(base + PATIENT_VIEW, json=CDS_BODY, headers=headers)
                statuses.append(answer.status_code)
        fresh = httpx.post(
            base + PATIENT_VIEW, json=CDS_BODY, headers=signed(base + PATIENT_VIEW), timeout=30
        )
    assert statuses == [200] + [401] * 11
    assert fresh.status_code == 200


def test_a_worker_that_dies_stops_the_others_and_the_supervisor_says_so(
    tmp_path: Path, serve_process: Serve
) -> None:
    log = tmp_path / "serve.log"
    with serve_process(sqlite_env(tmp_path / "audit.db"), *SERVE, "--workers", "3", log=log) as (
        _base,
        process,
    ):
        workers = workers_of(process)
        assert len(workers) == 3
        os.kill(workers[1], signal.SIGKILL)
        assert process.wait(timeout=20) == 2
    assert all(gone(pid) for pid in workers)
    last = log.read_text(encoding="utf-8").strip().splitlines()[-1]
    assert last == (
        f"calcinosis: error: worker 2 of 3 (pid {workers[1]}) was killed by signal 9: "
        "the others were stopped"
    )
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_the_workers_stop_when_their_supervisor_is_killed(
    tmp_path: Path, serve_process: Serve
) -> None:
    with serve_process(sqlite_env(tmp_path / "audit.db"), *SERVE, "--workers", "2") as (
        base,
        process,
    ):
        workers = workers_of(process)
        os.kill(process.pid, signal.SIGKILL)  # nothing can be forwarded: the pipe ends
        process.wait(timeout=10)
        assert all(gone(pid) for pid in workers)
        with pytest.raises(httpx.TransportError):
            httpx.get(base + "/api/health", timeout=2, trust_env=False)


def test_ctrl_c_stops_the_supervisor_and_its_workers(tmp_path: Path, serve_process: Serve) -> None:
    with serve_process(sqlite_env(tmp_path / "audit.db"), *SERVE, "--workers", "2") as (
        _base,
        process,
    ):
        workers = workers_of(process)
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=20) == 130  # the console script's code for an interrupt
    assert all(gone(pid) for pid in workers)


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--workers", "0"], {}, "calcinosis: error: --workers must be between 1 and 64, got 0"),
        (["--workers", "65"], {}, "calcinosis: error: --workers must be between 1 and 64, got 65"),
        (
            ["--workers", "2"],
            {"CALCINOSIS_DATABASE_URL": "sqlite:///:memory:"},
            "calcinosis: error: --workers 2: the workers need one database they share, and "
            "CALCINOSIS_DATABASE_URL 'sqlite:///:memory:' is each process's own memory",
        ),
    ],
)
def test_a_refused_worker_count_is_one_line_before_binding(
    tmp_path: Path, args: list[str], env: dict[str, str], line: str
) -> None:
    environment = {"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite"} | env
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "serve", "--port", "8183", *args],
        env=os.environ | environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [line]
    assert not (tmp_path / "db.sqlite").exists()  # refused before the database was opened


def test_a_worker_count_that_is_not_a_number_is_a_usage_error() -> None:
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "serve", "--workers", "two"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "calcinosis serve: error: argument --workers: invalid int value: 'two'"
    )
