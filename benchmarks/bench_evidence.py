"""Speed and memory of the evidence base, as a user would measure them.

Run: .venv/bin/python benchmarks/bench_evidence.py
Prints: the time to load and validate the knowledge files (uncached), their
peak Python memory, and the wall time and peak RSS of whole `calcinosis
evidence ...` processes.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from calcinosis.evidence.audit import audit
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, _load  # the uncached loader
from calcinosis.evidence.tables import table_rows

SCRIPT = Path(sys.executable).parent / "calcinosis"


def timed(function: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return samples


def describe(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(
        f"{name:<44} median {1000 * statistics.median(samples):8.2f} ms"
        f"   p99 {1000 * p99:8.2f} ms   (n={len(samples)})"
    )


def process(argv: list[str], repeat: int) -> tuple[list[float], int]:
    samples = []
    peak_kib = 0
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(SCRIPT), *argv], check=True, capture_output=True)  # noqa: S603
        samples.append(time.perf_counter() - start)
        peak_kib = max(peak_kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return samples, peak_kib


def main() -> None:
    _load(KNOWLEDGE_DIR)  # warm the file cache and imports
    describe("load + validate knowledge (uncached)", timed(lambda: _load(KNOWLEDGE_DIR), 50))
    tracemalloc.start()
    kb = _load(KNOWLEDGE_DIR)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{'peak Python memory while loading':<44} {peak / 2**20:8.2f} MiB")
    describe("rebuild Table 4 (in process)", timed(lambda: table_rows(kb, 4), 50))
    describe("full audit (in process)", timed(lambda: audit(kb), 50))
    for argv in (
        ["evidence", "table", "4"],
        ["evidence", "audit"],
        ["evidence", "pool", "rituximab", "--format", "json"],
    ):
        samples, peak_kib = process(argv, 10)
        describe("process: calcinosis " + " ".join(argv[:3]), samples)
        print(f"{'':<44} peak RSS {peak_kib / 1024:8.1f} MiB")


if __name__ == "__main__":
    main()
