"""How long `calcinosis evidence diff` takes, as a methodologist runs it.

Run: .venv/bin/python benchmarks/bench_diff.py [--repeat 5]
Prints: the wall time of whole processes (median and fastest of alternating runs) of
`evidence diff` of the packaged knowledge against a copy with the example study added
(the full knowledge with the reference panel: every profile planned under both
versions), in text and JSON, of a copy against itself, and of `evidence validate` (the
baseline: start-up and one load), with each one's ratio to the baseline; then where
the time of one diff goes, in process, and the user CPU time of a diff process.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calcinosis.decision.engine import recommend_document
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, read_knowledge
from calcinosis.living import diff as diff_module
from calcinosis.living.panel import load_panel, panel_path

SCRIPT = Path(sys.executable).parent / "calcinosis"
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "calcinosis" / "examples"
GOAL_S = 3.0


def _run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(SCRIPT), *argv], check=True, capture_output=True)  # noqa: S603
    return time.perf_counter() - start


def _stage(before: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now, now - before


def _in_process(head_dir: Path) -> list[tuple[str, float]]:
    """Where one diff's time goes (a fresh process: every fit is made once)."""
    stages: list[tuple[str, float]] = []
    start = time.perf_counter()
    base, head = read_knowledge(KNOWLEDGE_DIR), read_knowledge(head_dir)
    now, took = _stage(start)
    stages.append(("load both versions", took))
    panel = load_panel(panel_path(head_dir), base.therapy_ids() & head.therapy_ids())
    now, took = _stage(now)
    stages.append((f"read and check the panel ({len(panel)} profiles)", took))
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("records, field by field", lambda: diff_module._compare_records(base, head)),
        ("pools that changed (fits)", lambda: diff_module._compare_pools(base, head)),
        ("levels and grades by the rules", lambda: diff_module._compare_grades(base, head)),
        ("audit of both", lambda: diff_module._compare_audit(base, head)),
        (
            "plans under the base (the fits)",
            lambda: [recommend_document(p.patient, base) for p in panel],
        ),
        ("plans under the head", lambda: [recommend_document(p.patient, head) for p in panel]),
        ("the whole diff again (cached)", lambda: diff_module.diff(base, head, panel)),
    ]
    for name, step in steps:
        step()
        now, took = _stage(now)
        stages.append((name, took))
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        root = Path(tmp)
        head = root / "head"
        same = root / "same"
        for target in (head, same):
            shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(  # noqa: S603
            [
                str(SCRIPT),
                "evidence",
                "add",
                str(EXAMPLE / "study-example.yaml"),
                "--knowledge",
                str(head),
            ],
            check=True,
            capture_output=True,
        )
        commands = {
            "evidence validate (baseline)": ["evidence", "validate"],
            "evidence diff packaged +study (text)": [
                "evidence",
                "diff",
                str(KNOWLEDGE_DIR),
                str(head),
            ],
            "evidence diff packaged +study (json)": [
                "evidence",
                "diff",
                str(KNOWLEDGE_DIR),
                str(head),
                "--format",
                "json",
            ],
            "evidence diff copy itself (text)": ["evidence", "diff", str(same), str(same)],
        }
        for argv in commands.values():
            _run(argv)  # warm the file cache
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # alternating, so that load on the machine is shared
            for name, argv in commands.items():
                samples[name].append(_run(argv))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        _run(commands["evidence diff packaged +study (text)"])
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
        baseline = statistics.median(samples["evidence validate (baseline)"])
        print(
            f"processes, {args.repeat} alternating runs each (goal for the diff: < {GOAL_S:.0f} s)"
        )
        for name, values in samples.items():
            median = statistics.median(values)
            print(
                f"  {name:<40} median {median:6.2f} s  fastest {min(values):6.2f} s"
                f"  x{median / baseline:5.2f} the baseline"
            )
        print(f"  user CPU of one diff process: {cpu:.2f} s")
        print("\nin process, one diff (packaged against +study, full panel):")
        for name, took in _in_process(head):
            print(f"  {name:<44} {1000 * took:8.1f} ms")


if __name__ == "__main__":
    main()
