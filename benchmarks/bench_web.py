"""Throughput and latency of the web service, measured over real HTTP on loopback.

Run: .venv/bin/python benchmarks/bench_web.py [--requests 3000] [--seconds 10] [--concurrency 12]
     [--baseline REF [--repeat 2]]

Starts ``calcinosis serve`` as a second process on 127.0.0.1 (a free port, its
own temporary SQLite database), waits for ``GET /api/health``, then drives it
from this process with a fixed number of keep-alive connections (asyncio +
httpx2): a warm-up, then a fixed number of requests or a fixed duration,
whichever ends first. Prints requests/s, p50/p90/p99/max latency, the count
of non-200 answers, the server's CPU time per request and its peak RSS.

Measured: ``POST /api/recommendations`` (20 varied patient profiles across the
five subtypes), then briefly ``GET /api/evidence/tables/4`` and ``GET /``.
Goal (``POST /api/recommendations``, 2 cores): at least 500 requests/s with
p99 under 50 ms. Client and server share the machine, so the load generator's
own CPU use is printed too.

Every 200 of ``POST /api/recommendations`` is answered only once its audit record
is committed (issue 11); the script counts the audit rows against the 200s
("records lost", which must be 0). ``--baseline REF`` measures, in the same run and
alternately (``--repeat`` times each), a server built from the source of the git
revision REF (``git archive``, run with ``PYTHONPATH``; e.g. the commit before issue
11, whose writes were fire-and-forget), and prints the throughput and latency
ratios of the current code to it.

Nothing but 127.0.0.1 is ever contacted; the server is always stopped. The
exit status is 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx2

from calcinosis.decision.patient import parse_patient
from calcinosis.evidence.knowledge_base import load_knowledge

HOST = "127.0.0.1"  # loopback only: this script never targets another host
SCRIPT = Path(sys.executable).parent / "calcinosis"
GOAL_RPS = 500.0
GOAL_P99_MS = 50.0

# Twenty realistic profiles, four per subtype, from sparse to fully described.
PROFILES: list[dict[str, object]] = [
    # dystrophic
    {
        "age_years": 58,
        "sex": "female",
        "subtype": "dystrophic",
        "underlying_disease": "systemic-sclerosis",
        "disease_active": False,
        "symptomatic": True,
        "progressive": False,
        "lesions": {"count": 3, "largest_cm": 0.8, "distribution": "localized", "digital": True},
        "inflammation": False,
        "ulceration": False,
        "raynaud": True,
        "medications": ["warfarin"],
    },
    {
        "age_years": 7,
        "subtype": "dystrophic",
        "underlying_disease": "juvenile-dermatomyositis",
        "disease_active": True,
        "symptomatic": True,
        "lesions": {"count": 25, "distribution": "widespread"},
        "inflammation": True,
        "ulceration": True,
    },
    {
        "age_years": 52,
        "subtype": "dystrophic",
        "underlying_disease": "dermatomyositis",
        "disease_active": False,
        "symptomatic": True,
        "progressive": True,
        "lesions": {"largest_cm": 1.5, "distribution": "localized"},
        "inflammation": True,
        "medications": ["diltiazem"],
        "prior_treatments": [
            {"treatment": "colchicine", "response": "intolerant"},
            {"treatment": "diltiazem", "response": "partial"},
        ],
    },
    {
        "age_years": 66,
        "subtype": "dystrophic",
        "underlying_disease": "systemic-sclerosis",
        "disease_active": False,
        "symptomatic": True,
        "lesions": {"count": 4, "largest_cm": 1.0, "distribution": "localized", "digital": False},
        "raynaud": True,
        "conditions": ["cardiac-conduction-abnormality"],
        "prior_treatments": [
            {"treatment": "sodium-thiosulfate-topical", "response": "none"},
            {"treatment": "sodium-thiosulfate-intralesional", "response": "none"},
        ],
    },
    {
        "age_years": 38,
        "subtype": "dystrophic",
        "underlying_disease": "systemic-lupus-erythematosus",
        "disease_active": False,
        "symptomatic": True,
        "lesions": {"count": 1, "largest_cm": 3, "distribution": "localized", "digital": False},
    },
    {
        "age_years": 63,
        "subtype": "dystrophic",
        "underlying_disease": "dermatomyositis",
        "disease_active": False,
        "symptomatic": True,
        "lesions": {"count": 40, "distribution": "widespread"},
        "conditions": ["reduced-ventricular-function"],
    },
    {
        "age_years": 8.5,
        "subtype": "dystrophic",
        "underlying_disease": "juvenile-dermatomyositis",
        "disease_active": False,
        "symptomatic": True,
        "lesions": {"largest_cm": 0.1, "distribution": "localized"},
        "medications": ["minocycline"],
    },
    {
        "age_years": 44,
        "sex": "male",
        "subtype": "dystrophic",
        "underlying_disease": "mixed-connective-tissue-disease",
        "disease_active": True,
        "symptomatic": True,
        "lesions": {"count": 6, "largest_cm": 2.2, "distribution": "localized"},
        "conditions": ["interstitial-lung-disease"],
        "prior_treatments": [{"treatment": "rituximab", "response": "partial"}],
    },
    # metastatic
    {
        "age_years": 70,
        "subtype": "metastatic",
        "conditions": ["chronic-kidney-disease"],
        "symptomatic": True,
    },
    {
        "age_years": 55,
        "sex": "male",
        "subtype": "metastatic",
        "conditions": ["end-stage-kidney-disease"],
        "symptomatic": True,
        "lesions": {"count": 12, "distribution": "widespread"},
        "ulceration": True,
    },
    {"age_years": 12, "subtype": "metastatic", "symptomatic": False},
    {
        "age_years": 81,
        "sex": "female",
        "subtype": "metastatic",
        "conditions": ["chronic-kidney-disease", "reduced-ventricular-function"],
        "medications": ["warfarin"],
        "symptomatic": True,
        "lesions": {"largest_cm": 4.5, "distribution": "localized"},
    },
    # idiopathic
    {"age_years": 30, "subtype": "idiopathic", "symptomatic": False, "patient_concerned": False},
    {"age_years": 30, "subtype": "idiopathic", "symptomatic": False, "patient_concerned": True},
    {
        "age_years": 16,
        "sex": "female",
        "subtype": "idiopathic",
        "symptomatic": True,
        "lesions": {"count": 2, "largest_cm": 0.6, "distribution": "localized"},
        "inflammation": True,
    },
    {
        "age_years": 9,
        "subtype": "idiopathic",
        "symptomatic": True,
        "lesions": {"count": 1, "largest_cm": 1.2},
        "local_therapy_accessible": False,
    },
    # iatrogenic
    {"age_years": 4, "subtype": "iatrogenic", "symptomatic": True},
    {"age_years": 0.5, "subtype": "iatrogenic", "symptomatic": False},
    # calciphylaxis
    {
        "age_years": 61,
        "subtype": "calciphylaxis",
        "conditions": ["end-stage-kidney-disease"],
        "medications": ["warfarin"],
        "ulceration": True,
    },
    {
        "age_years": 48,
        "sex": "male",
        "subtype": "calciphylaxis",
        "conditions": ["chronic-kidney-disease"],
        "symptomatic": True,
        "lesions": {"count": 3, "largest_cm": 5, "distribution": "localized"},
    },
]


@dataclass
class Phase:
    """One measured run against one endpoint."""

    name: str
    latencies_ms: list[float]
    errors: int
    seconds: float
    server_cpu_s: float
    client_cpu_s: float

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def proc_children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the workers of ``serve --workers``)."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        return children
    return children


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children, from /proc (0 where
    unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return own + sum(proc_cpu_seconds(child) for child in proc_children(pid))


def proc_peak_rss_mib(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a process, if /proc tells."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def audit_records(database: Path) -> int | None:
    """Rows in the audit table: one per plan served, the insert the benchmark pays for."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            row = connection.execute("SELECT count(*) FROM plan_audit").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


def start_server(port: int, database: Path, source: Path | None = None) -> subprocess.Popen[bytes]:
    """``calcinosis serve``; with ``source``, the package found there (an older revision)."""
    env = dict(os.environ)
    env["CALCINOSIS_DATABASE_URL"] = f"sqlite:///{database}"
    env.pop("CALCINOSIS_PUBLIC_URL", None)
    serve = ["serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    command = [str(SCRIPT), *serve]
    if source is not None:
        env["PYTHONPATH"] = str(source)
        launcher = "import sys; from calcinosis.cli import main; sys.exit(main())"
        command = [sys.executable, "-c", launcher, *serve]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)  # noqa: S603 - our own CLI


def export_revision(revision: str, target: Path) -> Path:
    """The ``src`` tree of a git revision, exported (read-only for the repository)."""
    root = Path(__file__).resolve().parents[1]
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(  # noqa: S603 - git, on this repository
        ["git", "-C", str(root), "archive", "--format=tar", revision, "src"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(  # noqa: S603
        ["tar", "-x", "-C", str(target)],  # noqa: S607
        input=archive,
        check=True,
    )
    return target / "src"


def wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx2.Client(base_url=base_url, timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with status {server.returncode}")
            try:
                if client.get("/api/health").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer /api/health within {timeout_s:.0f} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


Send = Callable[[httpx2.AsyncClient, int], Awaitable[httpx2.Response]]


async def drive(
    name: str,
    base_url: str,
    pid: int,
    send: Send,
    *,
    concurrency: int,
    warmup: int,
    requests: int,
    seconds: float,
) -> Phase:
    """Up to ``requests`` requests within ``seconds``, after ``warmup`` unmeasured ones."""
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx2.Timeout(30.0)
    async with httpx2.AsyncClient(
        base_url=base_url, limits=limits, timeout=timeout, trust_env=False
    ) as client:
        counter = itertools.count()

        async def warm() -> None:
            while (index := next(counter)) < warmup:
                await send(client, index)

        await asyncio.gather(*(warm() for _ in range(concurrency)))

        latencies: list[float] = []
        errors = 0
        issued = itertools.count()
        server_cpu = proc_cpu_seconds(pid)
        client_cpu = own_cpu_seconds()
        started = time.perf_counter()
        stop_at = started + seconds

        async def worker() -> None:
            nonlocal errors
            while True:
                index = next(issued)
                if index >= requests or time.perf_counter() >= stop_at:
                    return
                begin = time.perf_counter()
                try:
                    response = await send(client, index)
                    ok = response.status_code == 200
                except httpx2.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - begin) * 1000)
                if not ok:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Phase(
            name=name,
            latencies_ms=sorted(latencies),
            errors=errors,
            seconds=time.perf_counter() - started,
            server_cpu_s=proc_cpu_seconds(pid) - server_cpu,
            client_cpu_s=own_cpu_seconds() - client_cpu,
        )


def measure(
    name: str,
    base_url: str,
    pid: int,
    send: Send,
    *,
    concurrency: int,
    warmup: int,
    requests: int,
    seconds: float,
) -> Phase:
    return asyncio.run(
        drive(
            name,
            base_url,
            pid,
            send,
            concurrency=concurrency,
            warmup=warmup,
            requests=requests,
            seconds=seconds,
        )
    )


def report(phase: Phase) -> None:
    lat = phase.latencies_ms
    count = len(lat)
    print(f"\n{phase.name}")
    print(f"  requests      {count} in {phase.seconds:.2f} s, {phase.errors} errors (non-200)")
    print(f"  throughput    {phase.rps:,.0f} requests/s")
    print(
        "  latency (ms)  "
        f"p50 {percentile(lat, 0.50):.1f}  p90 {percentile(lat, 0.90):.1f}  "
        f"p99 {percentile(lat, 0.99):.1f}  max {lat[-1] if lat else float('nan'):.1f}"
    )
    if count:
        print(
            f"  CPU / request server {phase.server_cpu_s / count * 1000:.2f} ms, "
            f"load generator {phase.client_cpu_s / count * 1000:.2f} ms "
            f"(server {phase.server_cpu_s / phase.seconds:.0%} of a core, "
            f"load generator {phase.client_cpu_s / phase.seconds:.0%})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=3000, help="per POST run (default 3000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="cap per run (default 10)")
    parser.add_argument("--concurrency", type=int, default=12, help="connections (default 12)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring")
    parser.add_argument(
        "--baseline", metavar="REF", help="also measure the git revision REF, alternately"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each with --baseline")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # ahead of the server's lines

    kb = load_knowledge()
    for profile in PROFILES:  # every profile is valid: an error below is the server's
        parse_patient(profile, kb.therapy_ids())
    bodies = [json.dumps(profile).encode() for profile in PROFILES]
    subtypes = sorted({str(profile["subtype"]) for profile in PROFILES})
    json_headers = {"content-type": "application/json"}

    def post_plan(client: httpx2.AsyncClient, index: int) -> Awaitable[httpx2.Response]:
        return client.post(
            "/api/recommendations", content=bodies[index % len(bodies)], headers=json_headers
        )

    def get_table(client: httpx2.AsyncClient, index: int) -> Awaitable[httpx2.Response]:
        return client.get("/api/evidence/tables/4")

    def get_page(client: httpx2.AsyncClient, index: int) -> Awaitable[httpx2.Response]:
        return client.get("/")

    print(
        f"calcinosis web benchmark: {os.cpu_count()} CPUs, {args.concurrency} connections, "
        f"{len(PROFILES)} profiles ({', '.join(subtypes)})"
    )
    sends: dict[str, Send] = {
        "POST /api/recommendations": post_plan,
        "GET /api/evidence/tables/4": get_table,
        "GET /": get_page,
    }

    with tempfile.TemporaryDirectory(prefix="calcinosis-bench-") as tmp:
        folder = Path(tmp)
        plans = plans_run("current: committed before 200", None, folder, args, sends, others=True)
        if args.baseline:
            source = export_revision(args.baseline, folder / "baseline")
            current_runs = [plans]
            baseline_runs = []
            for _ in range(args.repeat):
                baseline_runs.append(
                    plans_run(
                        f"baseline {args.baseline}", source, folder, args, sends, others=False
                    )
                )
                if len(current_runs) < args.repeat:
                    current_runs.append(
                        plans_run(
                            "current: committed before 200", None, folder, args, sends, others=False
                        )
                    )
            compare(current_runs, baseline_runs, args.baseline)

    p99 = percentile(plans.latencies_ms, 0.99)
    met = plans.rps >= GOAL_RPS and p99 < GOAL_P99_MS and plans.errors == 0
    print(
        f"goal (POST /api/recommendations >= {GOAL_RPS:.0f} requests/s, "
        f"p99 < {GOAL_P99_MS:.0f} ms, no errors): {'met' if met else 'MISSED'} "
        f"({plans.rps:,.0f} requests/s, p99 {p99:.1f} ms)"
    )
    return 0 if met else 1


def plans_run(
    label: str,
    source: Path | None,
    tmp: Path,
    args: argparse.Namespace,
    sends: dict[str, Send],
    *,
    others: bool,
) -> Phase:
    """One server: the POST phase (and, with ``others``, the GET phases)."""
    common = {"concurrency": args.concurrency, "warmup": args.warmup}
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    database = tmp / f"bench-{port}.db"
    server = start_server(port, database, source)
    try:
        wait_until_healthy(base_url, server, timeout_s=60)
        print(f"\n[{label}] server pid {server.pid} on {base_url}; peak RSS at start-up: ", end="")
        start_rss = proc_peak_rss_mib(server.pid)
        print(f"{start_rss:.0f} MiB" if start_rss is not None else "unreadable")
        plans = measure(
            f"POST /api/recommendations [{label}]",
            base_url,
            server.pid,
            sends["POST /api/recommendations"],
            requests=args.requests,
            seconds=args.seconds,
            **common,
        )
        written = audit_records(database)  # at once: what a crash now would keep
        served = len(plans.latencies_ms) - plans.errors + args.warmup
        report(plans)
        lost = served - written if written is not None else None
        print(
            f"  audit records committed when the last answer arrived: {written} for "
            f"{served} plans answered 200 (records lost: {lost})"
        )
        if others:
            for name in ("GET /api/evidence/tables/4", "GET /"):
                report(
                    measure(
                        name,
                        base_url,
                        server.pid,
                        sends[name],
                        requests=max(1, args.requests // 3),
                        seconds=max(1.0, args.seconds / 3),
                        **common,
                    )
                )
        peak = proc_peak_rss_mib(server.pid)
        print(f"server peak RSS: {f'{peak:.0f} MiB' if peak is not None else 'unreadable'}")
        return plans
    finally:
        stop_server(server)


def compare(current: list[Phase], baseline: list[Phase], revision: str) -> None:
    """Medians over the runs of each, and the ratios current / baseline."""

    def summary(runs: list[Phase]) -> tuple[float, float, float]:
        rps = sorted(run.rps for run in runs)[len(runs) // 2]
        p50 = sorted(percentile(run.latencies_ms, 0.50) for run in runs)[len(runs) // 2]
        p99 = sorted(percentile(run.latencies_ms, 0.99) for run in runs)[len(runs) // 2]
        return rps, p50, p99

    now, then = summary(current), summary(baseline)
    print(f"\ncommitted before 200 vs baseline {revision} (median of {len(current)} runs each)")
    print(f"  {'':12} {'requests/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"  {'baseline':12} {then[0]:12,.0f} {then[1]:8.1f} {then[2]:8.1f}")
    print(f"  {'current':12} {now[0]:12,.0f} {now[1]:8.1f} {now[2]:8.1f}")
    print(
        f"  ratio        {now[0] / then[0]:12.2f} {now[1] / then[1]:8.2f} {now[2] / then[2]:8.2f}"
        "  (current / baseline)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
