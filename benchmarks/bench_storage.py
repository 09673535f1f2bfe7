"""The store on its own: claim_jti and audit writes per second, committed before return.

Run: .venv/bin/python benchmarks/bench_storage.py [--seconds 3] [--postgres URL]

On a temporary SQLite file (and on PostgreSQL with ``--postgres`` or
``CALCINOSIS_TEST_POSTGRES_URL``; its tables are dropped first, so give it a
throwaway database), measures for a fixed time each:

- ``claim_jti``, one caller at a time (each claim waits for its own commit): the
  latency a CDS call pays when the verifier claims its token's jti synchronously;
- ``aclaim_jti`` with 64 claims in flight (the event loop; they share commits);
- ``claim_jti`` of a jti already claimed (a replay: refused);
- ``write`` of a plan's audit record, one caller, and ``awrite`` with 64 in flight.

Prints operations/s and p50/p99 latency. Goal, on SQLite: a claim alone costs
under 1 ms at p50, and at least 2,000 claims/s are committed with claims in
flight (a CDS round trip is about 10 ms; p99 on a shared machine is mostly
scheduling, so it is printed, not judged).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import create_engine, text

from calcinosis.storage import Base, Store, plan_row

# What plan_row reads of a PlanDocument (its attributes), without the engine
PLAN = SimpleNamespace(
    evidence_version="1.0.0+bench",
    subtype="dystrophic",
    critical=False,
    options=[
        SimpleNamespace(id="diltiazem", stance="first-line"),
        SimpleNamespace(id="warfarin", stance="avoid"),
    ],
    trace=[SimpleNamespace(step=f"step_{n}", fired=n % 2 == 0) for n in range(12)],
)
IN_FLIGHT = 64
GOAL_P50_MS = 1.0
GOAL_CLAIMS = 2000.0


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))]


def line(name: str, count: int, seconds: float, latencies_ms: Sequence[float]) -> float:
    rate = count / seconds
    print(
        f"  {name:44} {rate:10,.0f} /s   p50 {percentile(latencies_ms, 0.5):6.2f} ms"
        f"   p99 {percentile(latencies_ms, 0.99):6.2f} ms"
    )
    return rate


def serial(name: str, seconds: float, operation: Callable[[int], object]) -> tuple[float, float]:
    """Operations/s and p50 (ms), one at a time."""
    latencies: list[float] = []
    started = time.perf_counter()
    for index in itertools.count():
        begin = time.perf_counter()
        operation(index)
        latencies.append((time.perf_counter() - begin) * 1000)
        if begin - started > seconds:
            break
    elapsed = time.perf_counter() - started
    return line(name, len(latencies), elapsed, latencies), percentile(latencies, 0.5)


def in_flight(name: str, seconds: float, operation: Callable[[int], Awaitable[object]]) -> float:
    async def run() -> tuple[int, float, list[float]]:
        latencies: list[float] = []
        counter = itertools.count()
        started = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() - started < seconds:
                begin = time.perf_counter()
                await operation(next(counter))
                latencies.append((time.perf_counter() - begin) * 1000)

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return len(latencies), time.perf_counter() - started, latencies

    count, elapsed, latencies = asyncio.run(run())
    return line(name, count, elapsed, latencies)


def bench(url: str, seconds: float) -> tuple[float, float]:
    store = Store(url)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    prefix = uuid.uuid4().hex
    store.claim_jti("bench", "seen", expires)
    _, p50 = serial(
        "claim_jti, one caller",
        seconds,
        lambda i: store.claim_jti("bench", f"{prefix}-s{i}", expires),
    )
    claims = in_flight(
        f"aclaim_jti, {IN_FLIGHT} in flight",
        seconds,
        lambda i: store.aclaim_jti("bench", f"{prefix}-a{i}", expires),
    )
    serial(
        "claim_jti of a replayed jti (refused)",
        seconds,
        lambda i: store.claim_jti("bench", "seen", expires),
    )
    serial(
        "write(plan record), one caller", seconds, lambda i: store.write([plan_row(PLAN, "api")])
    )
    in_flight(
        f"awrite(plan record), {IN_FLIGHT} in flight",
        seconds,
        lambda i: store.awrite([plan_row(PLAN, "api")]),
    )
    print(f"  jtis kept: {store.jti_count():,}")
    store.close()
    return claims, p50


def clean_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join([*Base.metadata.tables, "alembic_version"])
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {tables}"))
    engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--postgres", default=os.environ.get("CALCINOSIS_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    print(f"calcinosis storage benchmark: {os.cpu_count()} CPUs, {args.seconds:g} s each")
    with tempfile.TemporaryDirectory(prefix="calcinosis-bench-storage-") as tmp:
        print("\nSQLite (WAL, synchronous=NORMAL)")
        claims, p50 = bench(f"sqlite:///{Path(tmp) / 'bench.db'}", args.seconds)
    if args.postgres:
        print("\nPostgreSQL")
        clean_postgres(args.postgres)
        bench(args.postgres, args.seconds)
        clean_postgres(args.postgres)
    met = p50 < GOAL_P50_MS and claims >= GOAL_CLAIMS
    print(
        f"\ngoal (SQLite: one claim p50 < {GOAL_P50_MS:g} ms, >= {GOAL_CLAIMS:,.0f} claims/s in "
        f"flight): {'met' if met else 'MISSED'} (p50 {p50:.2f} ms, {claims:,.0f} claims/s)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
