"""The web routes side by side with a bare FastAPI endpoint, in one run, on loopback.

Run: .venv/bin/python benchmarks/bench_side_by_side.py [--seconds 6] [--connections 8 16]
     [--source REV] [--processes 5] [--ports 8140-8159] [--routes answers bare]

Starts ``calcinosis serve`` (its own temporary SQLite database) and the bare endpoint of
``bare.py`` (same uvicorn, same httptools protocol and uvloop, one process each), on two
free ports of ``--ports`` (8140-8159 by default) of 127.0.0.1, then loads each route in turn (those
whose name contains a word of ``--routes``, if given; the bare one always), wrk-style:
N keep-alive connections, each sending one request after another for a fixed time,
after a one-second warm-up. Before each route it waits (15 s at most) until the server
is idle, so that a route is not charged for the checkpointing a writing route before it
left behind. The load generator is plain asyncio over sockets with the
requests prepared in advance (not an HTTP client library), so that it costs the shared
2 cores as little as it can.

Measured at each number of connections:

- ``POST /api/recommendations``: six patient profiles in turn (each plan is committed
  to the audit table before it is answered; after the warm-up, from the plan cache);
- ``POST /api/recommendations new``: 4,200 profiles (the six at other ages), each
  connection through its own part of them (and the warm-up through others): none is
  asked twice in a run of a few seconds, so each plan is worked out by the engine;
- ``POST /api/answers``: six questions in turn;
- ``GET /`` with a filled assessment: the page with its plan;
- ``POST /bare``: the bare endpoint.

Prints req/s, p50 and p99 latency, and each route's req/s as a ratio to the bare
endpoint's at the same number of connections. Then times two commands as processes
(``calcinosis ask`` and ``calcinosis evidence table 4``): the median and the fastest of
``--processes`` runs. ``--source REV`` runs the server and the commands from the source
of git revision REV (``git archive``, ``PYTHONPATH``): the "before" of a change. The
source run is byte-compiled first (``compileall``), as ``scripts/setup`` does, so that
both sides time the code, not the compiling of it. Nothing but 127.0.0.1 is ever
contacted; both servers are always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

HOST = "127.0.0.1"  # loopback only
PORTS = "8140-8159"  # the default --ports
HERE = Path(__file__).resolve().parent
SCRIPT = Path(sys.executable).parent / "calcinosis"

from workload import PROFILES, QUESTIONS  # noqa: E402 - benchmarks/ is on sys.path when run

ASSESSMENT = urlencode(
    {
        "subtype": "dystrophic",
        "age_years": "58",
        "underlying_disease": "systemic-sclerosis",
        "symptomatic": "yes",
        "lesions_count": "3",
        "lesions_largest_cm": "0.8",
        "lesions_distribution": "localized",
        "lesions_digital": "yes",
        "raynaud": "yes",
        "medications": "warfarin",
    }
)
ASK = "Does diltiazem work for calcinosis in systemic sclerosis?"


def request(method: str, path: str, body: object | None = None) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    # "{HOST}" is a placeholder: measure() puts the server's host:port in its place
    head = [f"{method} {path} HTTP/1.1", "Host: {HOST}", "Connection: keep-alive"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


@dataclass
class Route:
    name: str
    server: str  # "calcinosis" or "bare"
    requests: list[bytes]
    warmup: list[bytes] | None = None  # other requests for the warm-up (default: the same)


def _new_profiles(ages: range) -> list[bytes]:
    """The workload's profiles at ages ``ages`` (tenths of a year): none planned before."""
    return [
        request("POST", "/api/recommendations", p | {"age_years": 20 + tenth / 10})
        for tenth in ages
        for p in PROFILES
    ]


ROUTES = [
    Route(
        "POST /api/recommendations",
        "calcinosis",
        [request("POST", "/api/recommendations", p) for p in PROFILES],
    ),
    Route(
        "POST /api/recommendations new",  # a profile not planned before: the engine runs
        "calcinosis",
        _new_profiles(range(700)),
        warmup=_new_profiles(range(700, 800)),
    ),
    Route(
        "POST /api/answers",
        "calcinosis",
        [request("POST", "/api/answers", {"question": q}) for q in QUESTIONS],
    ),
    Route("GET / (filled plan)", "calcinosis", [request("GET", f"/?{ASSESSMENT}")]),
    Route(
        "POST /bare",
        "bare",
        [request("POST", "/bare", {"age_years": 58, "subtype": "dystrophic", "symptomatic": True})],
    ),
]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length bodies); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _connection(port: int, requests: list[bytes], until: float, result: Result) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for raw in itertools.cycle(requests):
            if time.perf_counter() >= until:
                return
            started = time.perf_counter()
            writer.write(raw)
            status = await _answer(reader)
            result.latencies.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"{status} from port {port}: the benchmark's request is wrong")
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], connections: int, seconds: float) -> Result:
    result = Result()
    until = time.perf_counter() + seconds
    starts = [i * len(requests) // connections for i in range(connections)]  # apart
    await asyncio.gather(
        *(_connection(port, requests[k:] + requests[:k], until, result) for k in starts)
    )
    return result


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, most: float = 15.0) -> float:
    """Wait until the server is idle (under 5% of a core for half a second) or ``most``
    seconds have passed; the seconds waited. A route that writes leaves the database
    checkpointing for a while, which the next route would otherwise pay for."""
    started = time.perf_counter()
    if not Path(f"/proc/{pid}/stat").exists():
        return 0.0
    used = cpu_seconds(pid)
    while time.perf_counter() - started < most:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - used < 0.025:
            break
        used = now
    return time.perf_counter() - started


def measure(port: int, route: Route, connections: int, seconds: float) -> tuple[float, Result]:
    host = f"{HOST}:{port}".encode()  # the Host the server answers (its public URL's)
    requests = [raw.replace(b"{HOST}", host, 1) for raw in route.requests]
    warmup = [raw.replace(b"{HOST}", host, 1) for raw in route.warmup or route.requests]
    asyncio.run(_load(port, warmup, connections, 1.0))  # warm-up, not counted
    started = time.perf_counter()
    result = asyncio.run(_load(port, requests, connections, seconds))
    return len(result.latencies) / (time.perf_counter() - started), result


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_ports(count: int, ports: str) -> list[int]:
    first, _, last = ports.partition("-")
    found = []
    for port in range(int(first), int(last or first) + 1):
        with closing(socket.socket()) as probe:
            if probe.connect_ex((HOST, port)) != 0:
                found.append(port)
        if len(found) == count:
            return found
    raise SystemExit(f"no {count} free ports in {ports}")


def wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited with {process.returncode}")
        with closing(socket.socket()) as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after {timeout:.0f} s")


def export(revision: str, target: Path) -> Path:
    archive = subprocess.run(  # noqa: S603 - git, with a revision the user gave
        ["git", "archive", revision, "src"],  # noqa: S607
        cwd=HERE.parent,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)  # noqa: S603, S607
    return target / "src"


def command(source: Path | None, *argv: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if source is None:
        return [str(SCRIPT), *argv], env
    env["PYTHONPATH"] = str(source)
    launcher = "import sys; from calcinosis.cli import main; sys.exit(main())"
    return [sys.executable, "-c", launcher, *argv], env


def process_seconds(source: Path | None, runs: int, *argv: str) -> list[float]:
    times = []
    for _ in range(runs):
        argv_, env = command(source, *argv)
        started = time.perf_counter()
        subprocess.run(argv_, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        times.append(time.perf_counter() - started)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--source", help="git revision to run the server and commands from")
    parser.add_argument("--processes", type=int, default=5, help="runs of each command")
    parser.add_argument("--ports", default=PORTS, help="the range to take two free ports from")
    parser.add_argument("--routes", nargs="+", help="only the routes named with these words")
    args = parser.parse_args(argv)
    routes = [
        route
        for route in ROUTES
        if not args.routes or route.server == "bare" or any(w in route.name for w in args.routes)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        source = export(args.source, Path(tmp)) if args.source else None
        compiled = source or HERE.parent / "src"
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(compiled)], check=True)  # noqa: S603
        port, bare_port = free_ports(2, args.ports)
        serve, env = command(
            source, "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"
        )
        env["CALCINOSIS_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
        env.pop("CALCINOSIS_PUBLIC_URL", None)
        servers = {
            "calcinosis": subprocess.Popen(serve, env=env, stdin=subprocess.DEVNULL),  # noqa: S603
            "bare": subprocess.Popen(  # noqa: S603
                [sys.executable, str(HERE / "bare.py"), str(bare_port)], stdin=subprocess.DEVNULL
            ),
        }
        ports = {"calcinosis": port, "bare": bare_port}
        try:
            for name, process in servers.items():
                wait_for(ports[name], process)
            print(f"code: {args.source or 'working tree'}; {args.seconds:g} s per route")
            print(
                f"{'route':28} {'conn':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>7}"
            )
            for connections in args.connections:
                rows = []
                for route in routes:
                    settle(servers[route.server].pid)
                    rate, result = measure(ports[route.server], route, connections, args.seconds)
                    rows.append((route, rate, result))
                bare_rate = next(rate for route, rate, _ in rows if route.server == "bare")
                for route, rate, result in rows:
                    p50 = 1000 * percentile(result.latencies, 0.50)
                    p99 = 1000 * percentile(result.latencies, 0.99)
                    errors = f"  ({result.errors} not 200)" if result.errors else ""
                    print(
                        f"{route.name:28} {connections:>4} {rate:>8.0f} {p50:>8.1f} {p99:>8.1f}"
                        f" {rate / bare_rate:>6.2f}x{errors}"
                    )
        finally:
            for process in servers.values():
                process.terminate()
            for process in servers.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        print(f"processes ({args.processes} runs each): median, fastest")
        for label, argv_ in (
            ("calcinosis ask", ("ask", ASK)),
            ("calcinosis evidence table 4", ("evidence", "table", "4")),
        )[: 2 if args.processes else 0]:
            times = process_seconds(source, args.processes, *argv_)
            print(f"  {label:28} {statistics.median(times):.2f} s, {min(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
