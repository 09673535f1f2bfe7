"""Confidence intervals for one proportion, and the checks on counts.

Wilson's score interval is the default (Wilson 1927; recommended for small n by
Brown, Cai & DasGupta 2001); Clopper-Pearson's exact interval is available
(Clopper & Pearson 1934). Wilson needs only the standard library, so the
tables, the grading and the audit start fast; scipy is imported only for
Clopper-Pearson.
"""

from __future__ import annotations

import math
from numbers import Integral
from statistics import NormalDist
from typing import Literal, get_args

from calcinosis.errors import PoolingError, UnknownChoiceError

__all__ = ["CIMethod", "check_counts", "proportion_ci", "z_value"]

CIMethod = Literal["wilson", "clopper-pearson"]


def _as_count(value: object, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise PoolingError(f"{where}{name} must be an integer, got {value!r}")
    return int(value)


def check_counts(x: object, n: object, label: str = "") -> None:
    """Raise :class:`PoolingError` unless 0 <= x <= n and n >= 1, both integers."""
    where = f"study {label!r}: " if label else ""
    xi, ni = _as_count(x, "x", where), _as_count(n, "n", where)
    if ni <= 0:
        raise PoolingError(f"{where}n must be positive, got n={ni}")
    if xi < 0 or xi > ni:
        raise PoolingError(f"{where}x must be between 0 and n={ni}, got x={xi}")


def z_value(level: float) -> float:
    """The two-sided standard-normal quantile of a confidence level (1.96 for 0.95)."""
    if not (isinstance(level, float | int) and 0.0 < level < 1.0):
        raise PoolingError(f"confidence level must be strictly between 0 and 1, got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def proportion_ci(
    x: int,
    n: int,
    method: CIMethod = "wilson",
    level: float = 0.95,
) -> tuple[float, float]:
    """Confidence interval for the binomial proportion ``x/n``.

    The bound at 0 (x = 0) or 1 (x = n) is returned exactly.
    """
    check_counts(x, n)
    z = z_value(level)
    if method == "wilson":
        p = x / n
        z2 = z * z
        denom = 1.0 + z2 / n
        center = (p + z2 / (2.0 * n)) / denom
        half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
        lo = 0.0 if x == 0 else max(0.0, center - half)
        hi = 1.0 if x == n else min(1.0, center + half)
        return lo, hi
    if method == "clopper-pearson":
        from scipy.stats import beta  # noqa: PLC0415 - scipy only when this interval is asked for

        alpha = 1.0 - level
        lo = 0.0 if x == 0 else float(beta.ppf(alpha / 2.0, x, n - x + 1))
        hi = 1.0 if x == n else float(beta.ppf(1.0 - alpha / 2.0, x + 1, n - x))
        return lo, hi
    raise UnknownChoiceError("confidence interval method", method, get_args(CIMethod))
