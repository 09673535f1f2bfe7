"""Speed of question answering, in process, beside a baseline revision in the same run.

Run: .venv/bin/python benchmarks/bench_answers.py [--baseline REV] [--rounds 20]

Answers every question of tests/fixtures/questions.yaml (or a built-in list) ``--rounds``
times, each question in turn, after a first pass that builds what the answers keep with
the knowledge base (its indexes, the engine's plans, the pooled estimates), and prints
the median, p99 and max per answer and the answers per second of one thread. The same
is measured, in the same run and one after the other, for the code of git revision
``--baseline`` (``git archive``, ``PYTHONPATH``; default ``HEAD``, so that a clean
checkout compares with itself and shows the noise), and each figure is printed with its
ratio to the baseline's. Each side runs in its own process, its cache directory its own
(a temporary one). Goal: p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_side_by_side  # noqa: E402 - the one `git archive` of a revision

QUESTIONS = HERE.parent / "tests" / "fixtures" / "questions.yaml"
FALLBACK = [
    "Should warfarin be used for calcinosis?",
    "What dose of diltiazem?",
    "First-line treatment in systemic sclerosis?",
    "Side effects of intralesional sodium thiosulfate?",
    "Can a 7-year-old take minocycline?",
    "What is the capital of France?",
]
GOAL_P99_MS = 20.0


def questions() -> list[str]:
    if not QUESTIONS.exists():
        return FALLBACK
    import yaml  # noqa: PLC0415 - only the measuring side needs it

    return [item["question"] for item in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))]


def measure(rounds: int) -> dict[str, float]:
    """Answer every question ``rounds`` times (this process's code); the figures, in ms."""
    from calcinosis.answers import answer_question  # noqa: PLC0415 - the code under test
    from calcinosis.evidence.knowledge_base import load_knowledge  # noqa: PLC0415 - the code under test

    kb = load_knowledge()
    asked = questions()
    start = time.perf_counter()
    for question in asked:  # builds what is kept with the knowledge base
        answer_question(question, kb)
    first = time.perf_counter() - start
    samples = []
    for _ in range(rounds):
        for question in asked:
            begin = time.perf_counter()
            answer_question(question, kb)
            samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    return {
        "questions": len(asked),
        "answers": len(samples),
        "first_pass_s": first,
        "median_ms": statistics.median(samples),
        "p99_ms": samples[int(0.99 * (len(samples) - 1))],
        "max_ms": samples[-1],
        "per_second": 1000 * len(samples) / sum(samples),
    }


def run_side(source: Path | None, rounds: int, cache: Path) -> dict[str, float]:
    env = {**os.environ, "CALCINOSIS_CACHE_DIR": str(cache)}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    done = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, __file__, "--measure", str(rounds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def export(revision: str, target: Path) -> Path:
    """``src`` of ``revision`` under ``target``, byte-compiled."""
    target.mkdir(parents=True)
    source = bench_side_by_side.export(revision, target)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True)  # noqa: S603
    return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the questions")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # one side's process
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.baseline, Path(tmp) / "baseline")
        before = run_side(base, args.rounds, Path(tmp) / "cache-baseline")
        after = run_side(None, args.rounds, Path(tmp) / "cache-working-tree")
    print(
        f"{after['questions']:.0f} questions x {args.rounds} rounds ({after['answers']:.0f} "
        f"answers per side); baseline {args.baseline}, then the working tree"
    )
    print(f"{'':22} {'baseline':>10} {'now':>10} {'now/baseline':>13}")
    for key, label in (
        ("first_pass_s", "first pass (s)"),
        ("median_ms", "median (ms)"),
        ("p99_ms", "p99 (ms)"),
        ("max_ms", "max (ms)"),
        ("per_second", "answers/s (1 thread)"),
    ):
        ratio = after[key] / before[key]
        print(f"{label:22} {before[key]:>10.2f} {after[key]:>10.2f} {ratio:>12.2f}x")
    met = "met" if after["p99_ms"] < GOAL_P99_MS else "missed"
    print(f"goal (p99 < {GOAL_P99_MS:g} ms): {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
