"""A load test of the web service: N concurrent connections for a given time, over a mix of
pages, API plans, answers and evidence documents.

Run: .venv/bin/python benchmarks/load.py [SECONDS] [--connections 16] [--url URL --pid PID]

Without ``--url`` it starts ``calcinosis serve`` itself on 127.0.0.1 (a free port, a
temporary SQLite database) and stops it at the end. With ``--url`` it loads a server that
is already running (give ``--pid`` for its memory figures); only do that to a server you
run yourself. Each connection sends one request after another (keep-alive, httpx) from a
fixed weighted mix:

- pages: ``/``, a filled-in assessment, ``/treatments/diltiazem``, ``/evidence``,
  ``/about``, ``/ask?q=...``;
- API: ``POST /api/recommendations`` (six profiles), ``POST /api/answers`` (six
  questions), ``GET /api/evidence/pool/diltiazem``, ``GET /api/evidence/tables/4``,
  ``GET /api/health``.

Each request of the mix is sent once first, unmeasured (the first plan, answer and
page pay for imports and caches). Prints, overall and for each kind: requests, errors
(transport errors and any status but 200), requests/s and the p50/p90/p99/max latency;
then the server's RSS at the start, at the end and its peak, from /proc/<pid>/status
(Linux). The client shares the machine with the server when both run here, so its own
CPU time and the machine's load average are printed too. Exit status 1 if any request
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

SCRIPT = Path(sys.executable).parent / "calcinosis"

from workload import PROFILES, QUESTIONS  # noqa: E402 - benchmarks/ is on sys.path when run

ASSESSMENT = urlencode(
    {
        "subtype": "dystrophic",
        "age_years": "58",
        "underlying_disease": "systemic-sclerosis",
        "symptomatic": "yes",
        "lesions_largest_cm": "0.8",
        "raynaud": "yes",
        "medications": "warfarin",
    }
)

# (kind, method, path, body); the mix is this list cycled, so the weights are the counts.
MIX: list[tuple[str, str, str, bytes | None]] = [
    *[
        ("POST /api/recommendations", "POST", "/api/recommendations", json.dumps(p).encode())
        for p in PROFILES
    ],
    *[
        ("POST /api/answers", "POST", "/api/answers", json.dumps({"question": q}).encode())
        for q in QUESTIONS[:3]
    ],
    ("GET / (assessment)", "GET", f"/?{ASSESSMENT}", None),
    ("GET / (assessment)", "GET", "/", None),
    ("GET /treatments/diltiazem", "GET", "/treatments/diltiazem", None),
    ("GET /evidence", "GET", "/evidence", None),
    ("GET /about", "GET", "/about", None),
    ("GET /ask", "GET", "/ask?" + urlencode({"q": QUESTIONS[3]}), None),
    ("GET /api/evidence/pool/diltiazem", "GET", "/api/evidence/pool/diltiazem", None),
    ("GET /api/evidence/tables/4", "GET", "/api/evidence/tables/4", None),
    ("GET /api/health", "GET", "/api/health", None),
    *[
        ("POST /api/recommendations", "POST", "/api/recommendations", json.dumps(p).encode())
        for p in PROFILES[:3]
    ],
    *[
        ("POST /api/answers", "POST", "/api/answers", json.dumps({"question": q}).encode())
        for q in QUESTIONS[3:]
    ],
    ("GET /api/health", "GET", "/api/health", None),
]


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * (len(values) - 1) + 0.5))]


def proc_status_mib(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(port: int, database: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALCINOSIS_")}
    env["CALCINOSIS_DATABASE_URL"] = f"sqlite:///{database}"
    command = [str(SCRIPT), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(  # noqa: S603 - our own console script
        [*command, "--log-level", "warning"], env=env, stdin=subprocess.DEVNULL
    )


def wait_until_healthy(url: str, server: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server is not None and server.poll() is not None:
                raise SystemExit(f"the server exited with status {server.returncode}")
            try:
                if client.get("/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise SystemExit("the server did not answer /api/health within 60 s")


async def drive(url: str, connections: int, seconds: float) -> tuple[dict[str, Tally], float]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    tallies: dict[str, Tally] = defaultdict(Tally)
    order = itertools.count()
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=httpx.Timeout(30.0), trust_env=False
    ) as client:
        for _kind, method, path, body in dict.fromkeys(MIX):  # warm-up, unmeasured
            await client.request(method, path, content=body, headers=headers if body else None)
        started = time.perf_counter()
        stop_at = started + seconds

        async def connection() -> None:
            while time.perf_counter() < stop_at:
                kind, method, path, body = MIX[next(order) % len(MIX)]
                tally = tallies[kind]
                begin = time.perf_counter()
                try:
                    response = await client.request(
                        method, path, content=body, headers=headers if body else None
                    )
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                tally.latencies_ms.append((time.perf_counter() - begin) * 1000)
                tally.statuses[status] += 1
                if status != "200":
                    tally.errors += 1

        await asyncio.gather(*(connection() for _ in range(connections)))
        return tallies, time.perf_counter() - started


def line(name: str, tally: Tally, seconds: float) -> str:
    lat = sorted(tally.latencies_ms)
    return (
        f"{name:<34} {len(lat):>7} {tally.errors:>6} {len(lat) / seconds:>8.1f} "
        f"{percentile(lat, 0.5):>7.1f} {percentile(lat, 0.9):>7.1f} "
        f"{percentile(lat, 0.99):>7.1f} {(lat[-1] if lat else float('nan')):>8.1f}"
    )


def report(tallies: dict[str, Tally], seconds: float) -> Tally:
    total = Tally()
    for tally in tallies.values():
        total.latencies_ms.extend(tally.latencies_ms)
        total.errors += tally.errors
        for status, count in tally.statuses.items():
            total.statuses[status] += count
    print(
        f"\n{'':<34} {'requests':>7} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>8}"
    )
    for name in sorted(tallies):
        print(line(name, tallies[name], seconds))
    print(line("all", total, seconds))
    shown = ", ".join(f"{status}: {count}" for status, count in sorted(total.statuses.items()))
    print(f"answers by status: {shown}")
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("seconds", nargs="?", type=float, default=60.0, help="default 60")
    parser.add_argument("--connections", type=int, default=16, help="default 16")
    parser.add_argument("--url", help="an already running server (default: start one here)")
    parser.add_argument("--pid", type=int, help="that server's process id, for its RSS")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.connections <= 0:
        parser.error("SECONDS and --connections must be positive")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    with tempfile.TemporaryDirectory(prefix="calcinosis-load-") as tmp:
        server = None
        url, pid = args.url, args.pid
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            server = start_server(port, Path(tmp) / "load.db")
            pid = server.pid
        try:
            wait_until_healthy(url, server)
            start_rss = proc_status_mib(pid, "VmRSS") if pid else None
            print(
                f"calcinosis load test: {url}, {args.connections} connections, "
                f"{args.seconds:g} s, {len(MIX)} requests in the mix; {os.cpu_count()} CPUs, "
                f"load average {os.getloadavg()[0]:.2f}"
            )
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            tallies, seconds = asyncio.run(drive(url, args.connections, args.seconds))
            used = resource.getrusage(resource.RUSAGE_SELF)
            total = report(tallies, seconds)
            client_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
            print(
                f"load generator CPU: {client_cpu:.1f} s ({client_cpu / seconds:.0%} of a core); "
                f"load average {os.getloadavg()[0]:.2f}"
            )
            if pid:
                end_rss = proc_status_mib(pid, "VmRSS")
                peak = proc_status_mib(pid, "VmHWM")

                def mib(value: float | None) -> str:
                    return "unreadable" if value is None else f"{value:.0f} MiB"

                print(
                    f"server RSS: {mib(start_rss)} at the start, {mib(end_rss)} at the end, "
                    f"peak {mib(peak)}"
                )
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)
    return 1 if total.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
