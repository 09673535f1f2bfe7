"""Timing of the pooling estimators and the forest plot.

Run: .venv/bin/python benchmarks/bench_pooling.py [--repeat N]

Prints median and p99 wall time per call (time.perf_counter, after a warm-up) for one
fit of each method on the 7-study reference dataset (goal for the GLMM: < 50 ms) and
for rendering one forest plot as SVG and as PNG.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

from calcinosis.render.forest import ForestFormat, render_forest
from calcinosis.stats.pooling import PoolMethod, StudyCount, pool

# metafor's reference dataset (tests/stats/test_pooling.py):
# x = c(0,1,3,8,2,6,0), n = c(3,10,5,12,2,20,4)
STUDIES = [
    StudyCount("Balin 2012", 0, 3, "retrospective"),
    StudyCount("Mageau 2019", 1, 10, "prospective cohort"),
    StudyCount("Nguyen 2020", 3, 5, "case series"),
    StudyCount("Smith 2015", 8, 12, "retrospective"),
    StudyCount("García 2018", 2, 2, "case report"),
    StudyCount("Baumgartner 2016", 6, 20, "open-label trial"),
    StudyCount("Lee 2021", 0, 4, "case series"),
]
GLMM_GOAL_MS = 50.0
METHODS: tuple[PoolMethod, ...] = ("glmm", "dl", "reml", "pm")
FORMATS: tuple[ForestFormat, ...] = ("svg", "png")


def timings(fn: Callable[[], object], repeat: int, warmup: int = 3) -> list[float]:
    """Wall time of ``repeat`` calls, in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per fit")
    args = parser.parse_args()
    result = pool(STUDIES)
    rows: list[tuple[str, int, list[float]]] = []
    for method in METHODS:
        fit = functools.partial(pool, STUDIES, method)
        rows.append((f"pool {method}", args.repeat, timings(fit, args.repeat)))
    plots = max(30, args.repeat // 5)
    for fmt in FORMATS:
        draw = functools.partial(render_forest, result, "Benchmark", fmt)
        rows.append((f"forest {fmt}", plots, timings(draw, plots)))
    print(f"{'task (k = 7)':<14}{'calls':>7}{'median ms':>12}{'p99 ms':>10}")
    for name, calls, values in rows:
        print(f"{name:<14}{calls:>7}{statistics.median(values):>12.3f}{p99(values):>10.3f}")
    glmm = statistics.median(rows[0][2])
    verdict = "meets" if glmm < GLMM_GOAL_MS else "MISSES"
    print(f"GLMM median {glmm:.1f} ms {verdict} the {GLMM_GOAL_MS:.0f} ms goal.")


if __name__ == "__main__":
    main()
