"""R's metafor, run live for the tests: one ``Rscript`` process per session.

``tests/r/metafor_server.R`` reads one request per line and answers one line each, so a
test (or each of hypothesis's examples) asks R about a dataset without starting R again
(R and metafor take about a second to start; a request takes milliseconds).

Without ``Rscript`` (or without metafor) the tests skip with one line saying how to
install them, unless ``CI`` is set (``CI=true``): there a missing R is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pytest

SERVER = Path(__file__).parent / "r" / "metafor_server.R"
INSTALL = (
    "Debian: apt-get install r-base-core r-cran-metafor r-cran-lme4 (scripts/test does it as root)"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> None:
    """Skip (or, under CI, fail) because R cannot be run."""
    if in_ci():
        pytest.fail(f"CI is set and {reason}: {INSTALL}", pytrace=False)
    pytest.skip(f"{reason}, so the live metafor checks skip ({INSTALL}); with CI=true they fail")


class RError(Exception):
    """metafor refused the dataset (its message)."""


class Metafor:
    """One R process answering requests (see ``tests/r/metafor_server.R``)."""

    def __init__(self, rscript: str, log: Path) -> None:
        self._log = log.open("w", encoding="utf-8")
        self._process = subprocess.Popen(  # noqa: S603 - Rscript and our own script
            [rscript, "--vanilla", str(SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self._count = 0
        first = self._stdout.readline().split()
        if first[:1] != ["ready"]:
            self.close()
            missing(f"R did not start metafor ({log.read_text(encoding='utf-8')[-300:]!r})")
        self.lme4 = "lme4" in first  # metafor's rma.glmm needs it

    @property
    def _stdout(self) -> IO[str]:
        assert self._process.stdout is not None
        return self._process.stdout

    def need_lme4(self) -> None:
        """Skip (or fail under CI) a GLMM check when R has no lme4."""
        if not self.lme4:
            missing("R's lme4 is not installed (metafor's rma.glmm needs it)")

    def ask(
        self,
        analysis: str,
        method: str,
        x: Sequence[int],
        n: Sequence[int],
        groups: Sequence[str] = (),
    ) -> dict[str, list[float]]:
        """metafor's answer about one dataset: each key's numbers (see the R script)."""
        self._count += 1
        fields = [str(self._count), analysis, method, ",".join(map(str, x)), ",".join(map(str, n))]
        if groups:
            fields.append(",".join(groups))
        assert self._process.stdin is not None
        self._process.stdin.write("\t".join(fields) + "\n")
        self._process.stdin.flush()
        line = self._stdout.readline()
        if not line:
            raise RuntimeError("R stopped: see its log")
        number, reply = line.rstrip("\n").split("\t", 1)
        assert number == str(self._count), line
        if reply.startswith("error="):
            raise RError(reply.removeprefix("error="))
        answer: dict[str, list[float]] = {}
        for item in reply.split(";"):
            key, values = item.split("=", 1)
            answer[key] = [float(v) for v in values.split(",")]
        return answer

    @property
    def requests(self) -> int:
        return self._count

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stdout.close()
        self._log.close()


def start(log: Path) -> Metafor:
    rscript = shutil.which("Rscript")
    if rscript is None:
        missing("Rscript is not installed")
    assert rscript is not None
    return Metafor(rscript, log)
