"""``calcinosis ask`` and ``calcinosis evidence table 4`` as whole processes, beside another
revision in the same run: seconds, and instructions counted by callgrind.

Run: .venv/bin/python benchmarks/bench_processes.py [--source REV] [--runs 9] [--instructions]

Each side (the working tree, and with ``--source REV`` that revision's ``src``, from
``git archive`` and byte-compiled as ``scripts/setup`` does) gets a cache directory of its
own (``CALCINOSIS_CACHE_DIR``). The first process of each command starts with it empty,
as the first after an install or an edit of the knowledge does ("cold"); the next runs
find what it kept ("warm": the usual case). Warm runs of the two sides alternate, so that
a machine that slows down part way through slows both. Prints the median and the fastest
of ``--runs`` warm runs and the ratio of the medians.

Seconds on a shared 2-core machine swing by a third from one hour to the next; with
``--instructions`` each warm command is also run once under ``valgrind --tool=callgrind``
(Debian's valgrind), whose count of instructions repeats exactly whatever else the
machine is doing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_side_by_side import export  # noqa: E402 - the one `git archive` of a revision

SCRIPT = Path(sys.executable).with_name("calcinosis")
ASK = "Does sodium thiosulfate work for calcinosis in systemic sclerosis?"
COMMANDS = (("calcinosis ask", ("ask", ASK)), ("evidence table 4", ("evidence", "table", "4")))


class Side:
    """One revision's code, with its own cache directory."""

    def __init__(self, label: str, source: Path | None, cache: Path) -> None:
        self.label = label
        self.env = {**os.environ, "CALCINOSIS_CACHE_DIR": str(cache)}
        self.env.pop("CALCINOSIS_KNOWLEDGE_DIR", None)
        if source is None:
            self.prefix = [str(SCRIPT)]
        else:
            self.env["PYTHONPATH"] = str(source)
            launcher = "import sys; from calcinosis.cli import main; sys.exit(main())"
            self.prefix = [sys.executable, "-c", launcher]

    def seconds(self, argv: tuple[str, ...]) -> float:
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - this Python, the package's own command
            [*self.prefix, *argv], env=self.env, check=True, stdout=subprocess.DEVNULL
        )
        return time.perf_counter() - started

    def instructions(self, argv: tuple[str, ...]) -> int:
        done = subprocess.run(  # noqa: S603 - valgrind on the package's own command
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *self.prefix, *argv],  # noqa: S607
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if found is None:
            raise SystemExit("valgrind printed no instruction count")
        return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=9, help="warm runs of each command")
    parser.add_argument("--instructions", action="store_true", help="count them (valgrind)")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sides = [Side("working tree", None, root / "cache-tree")]
        if args.source:
            source = export(args.source, root)
            sides.append(Side(args.source, source, root / "cache-source"))
        for compiled in [HERE.parent / "src", *([root / "src"] if args.source else [])]:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(compiled)], check=True)  # noqa: S603
        print(f"{'command':18} {'code':14} {'cold s':>7} {'warm median s':>14} {'fastest s':>10}")
        for label, argv in COMMANDS:
            cold = {side.label: side.seconds(argv) for side in sides}
            warm: dict[str, list[float]] = {side.label: [] for side in sides}
            for _ in range(args.runs):
                for side in sides:
                    warm[side.label].append(side.seconds(argv))
            for side in sides:
                times = warm[side.label]
                print(
                    f"{label:18} {side.label[:14]:14} {cold[side.label]:>7.2f}"
                    f" {statistics.median(times):>14.2f} {min(times):>10.2f}"
                )
            if len(sides) == 2:
                ratio = statistics.median(warm[sides[0].label]) / statistics.median(
                    warm[sides[1].label]
                )
                print(f"{'':18} {'ratio':14} {'':>7} {ratio:>13.2f}x")
            if args.instructions:
                counts = [side.instructions(argv) for side in sides]
                line = ", ".join(
                    f"{side.label[:14]} {count / 1e9:.3f} G"
                    for side, count in zip(sides, counts, strict=True)
                )
                ratio_text = f" ({counts[0] / counts[1]:.2f}x)" if len(counts) == 2 else ""
                print(f"{'':18} instructions: {line}{ratio_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
