"""The random-effects estimates the answers quote, fitted once and kept between processes.

An answer about a treatment with two or more study arms quotes this tool's pooled
estimate of them (``blocks.arms_line``). The fit needs NumPy and SciPy: about 0.4 s to
import and then the fit itself, most of the time of a ``calcinosis ask`` process. So
each estimate is kept with the knowledge base in memory (``KnowledgeBase.derived``) and
in a file of the user's cache directory, which the next process reads instead of
importing SciPy to fit again.

The file is a cache, never a source: it is used only when it is exactly what this
code would write for this knowledge base, and otherwise the estimate is fitted again.

- Its name and its header carry the format, the package version, the knowledge
  content hash and a fingerprint (SHA-256) of the pooling code's source; a file whose
  header differs in anything is stale, and is not read.
- Every entry is checked: the counts (a label, 0 <= x <= n, n >= 1, a design), and
  the estimate with its interval (three finite numbers, 0 <= low <= estimate <= high
  <= 1) or null (not pooled). One bad entry and the whole file is refused as corrupt.
- Each entry is keyed by the counts themselves, the whole input of the fit.
- It is written atomically: a temporary file in the same directory, then
  ``os.replace``, so that a reader sees the old file or the new one, never a part.
- A directory that cannot be written (a read-only home) is no error: the process fits.

Where: ``$CALCINOSIS_CACHE_DIR``, else ``$XDG_CACHE_HOME/calcinosis``, else
``~/.cache/calcinosis`` (an empty variable counts as unset, as for the settings);
``CALCINOSIS_CACHE_DIR=/dev/null`` keeps nothing (no directory can be made there). When
the code's source cannot be read (no fingerprint), nothing is kept on disk either.

``prepare`` fits, in one go, every estimate the answers can quote for a knowledge base
(each treatment with arms and each class, for adults, children and either), so that
the first fit a process has to make fills the file for all the others.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from threading import Lock
from typing import Any

from calcinosis import __version__
from calcinosis.cachefiles import cache_dir, replace_atomically
from calcinosis.evidence.derived import derived
from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = ["Counts", "Estimate", "Estimates", "estimates"]

Counts = tuple[tuple[str, int, int, str], ...]  # (label, responders, patients, design) per study
Estimate = tuple[float, float, float] | None  # (estimate, CI low, CI high), or None: not pooled
Fit = Callable[[Counts], Estimate]

FORMAT = 1
# The modules whose source decides an estimate: a change to any of them makes the file stale.
_CODE = ("calcinosis.stats.pooling", "calcinosis.stats.intervals", "calcinosis.answers.estimates")


def _fingerprint() -> str | None:
    """SHA-256 of the source of the code that computes an estimate (None: unreadable)."""
    digest = hashlib.sha256()
    for name in _CODE:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            return None
        try:
            digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def _fit(counts: Counts) -> Estimate:
    from calcinosis.stats.pooling import StudyCount, pool  # noqa: PLC0415 - numpy/scipy on demand

    result = pool([StudyCount(*c) for c in counts])
    if not result.pooled:
        return None
    return result.estimate, result.ci[0], result.ci[1]


def _counts(value: Any) -> Counts | None:
    """The counts of an entry read back, or None when they are not well formed."""
    if not isinstance(value, list) or not value:
        return None
    found = []
    for study in value:
        if not (isinstance(study, list) and len(study) == 4):
            return None
        label, x, n, design = study
        if not (isinstance(label, str) and isinstance(design, str)):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, n)):
            return None
        if not 0 <= x <= n or n < 1:
            return None
        found.append((label, x, n, design))
    return tuple(found)


def _estimate(value: Any) -> tuple[bool, Estimate]:
    """(well formed?, the estimate) of an entry read back."""
    if value is None:
        return True, None
    if not (isinstance(value, list) and len(value) == 3):
        return False, None
    if not all(isinstance(v, float) and math.isfinite(v) for v in value):
        return False, None
    estimate, low, high = value
    if not 0.0 <= low <= estimate <= high <= 1.0:
        return False, None
    return True, (estimate, low, high)


class Estimates:
    """The pooled estimates of one knowledge base: fitted once, kept in memory and (when
    a cache directory is given) on disk. Thread-safe; ``fit`` is the fit (the real one,
    except in tests)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        directory: Path | None,
        fit: Fit = _fit,
        fingerprint: str | None = None,
    ) -> None:
        self._fit = fit
        self._lock = Lock()
        self._known: dict[Counts, Estimate] = {}
        self._header = {
            "format": FORMAT,
            "package": __version__,
            "knowledge": kb.content_hash,
            "code": fingerprint,
        }
        self.path: Path | None = None
        if directory is not None and fingerprint is not None:
            key = hashlib.sha256(json.dumps(self._header, sort_keys=True).encode()).hexdigest()
            self.path = directory / f"answers-pooled-{key[:32]}.json"
            self._known = self._read(self.path)

    def _read(self, path: Path) -> dict[Counts, Estimate]:
        """The entries of the file, or nothing when it is missing, stale or corrupt."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("header") != self._header:
            return {}
        entries = data.get("estimates")
        if not isinstance(entries, list):
            return {}
        known: dict[Counts, Estimate] = {}
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 2):
                return {}
            counts = _counts(entry[0])
            good, estimate = _estimate(entry[1])
            if counts is None or not good:
                return {}
            known[counts] = estimate
        return known

    def _write(self) -> None:
        """The file, replaced atomically by one with every estimate known (no error when
        the directory cannot be written: the next process fits again)."""
        if self.path is None:
            return
        entries = [[[list(c) for c in counts], e] for counts, e in self._known.items()]
        text = json.dumps({"header": self._header, "estimates": entries}, sort_keys=True)
        replace_atomically(self.path, text.encode("utf-8"))

    def get(self, counts: Counts, also: Iterable[Counts] = ()) -> Estimate:
        """The estimate of ``counts``; on a miss, those of ``also`` are fitted too (the
        fit's libraries are loaded by then) and the file is written once for all."""
        try:
            return self._known[counts]
        except KeyError:
            pass
        with self._lock:
            if counts not in self._known:
                for wanted in (counts, *also):
                    if wanted not in self._known:
                        self._known[wanted] = self._fit(wanted)
                self._write()
            return self._known[counts]


def estimates(kb: KnowledgeBase) -> Estimates:
    """The estimates kept with ``kb`` (``evidence.knowledge_base.derived``), read from the
    cache directory the first time."""
    return _for_base(kb)


@derived
def _for_base(kb: KnowledgeBase) -> Estimates:
    return Estimates(kb, cache_dir(), fingerprint=_fingerprint())
