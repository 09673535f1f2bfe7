"""What a methodologist checks after pooling: subgroups, leave-one-out, Hartung-Knapp.

Pure statistics on :class:`~calcinosis.stats.pooling.StudyCount` lists: nothing here knows the
knowledge base (``synthesis.py`` splits the arms into subgroups and writes documents).
Conventions follow R's metafor 3.8, and the tests check every function against metafor
run live (``tests/stats/test_metafor_live.py``).

**Test for subgroup differences.** Each subgroup is pooled on its own, with the method
asked for and its own tau^2 (as RevMan and the Cochrane Handbook, section 10.11.3.1, do);
the subgroup estimates mu_g, with standard errors se_g, are then compared by the
fixed-effect Q statistic between them,

    Q_between = sum_g w_g (mu_g - mu_bar)^2,   w_g = 1 / se_g^2,   df = G - 1,

referred to chi^2 with G - 1 degrees of freedom. In metafor this is ``QE`` of
``rma(yi = estimates, sei = ses, method = "FE")`` fitted to the subgroup fits. It needs no
common tau^2 (metafor's ``rma(yi, vi, mods = ~ factor(g))`` QM assumes one) and it works
for every pooling method, the binomial-normal GLMM included. A subgroup with one study
enters with that study's logit and its standard error (0.5 added to both cells of a 0% or
100% arm), as a one-study ``rma`` gives them.

**Leave-one-out** (metafor ``leave1out``): the pooling refitted k times, each time
without one study, by the same method.

**Hartung-Knapp(-Sidik-Jonkman)** for the inverse-variance methods (metafor
``test = "knha"``): the variance of the pooled logit is multiplied by

    q = sum_i w_i (y_i - mu)^2 / (k - 1),   w_i = 1 / (v_i + tau^2),

and the interval uses Student's t with k - 1 degrees of freedom. With few studies and
little heterogeneity q can be below 1 and the interval then narrower than the usual one
(Wiksten et al. 2016; Jackson et al. 2017). We therefore report the interval with the ad
hoc correction q* = max(1, q) (Knapp & Hartung 2003; Röver, Knapp & Friede 2015;
metafor ``test = "adhoc"``) as *the* Hartung-Knapp interval, never narrower than the
z-based one, and the untruncated interval beside it, saying whether the correction
changed anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import special, stats

from calcinosis.errors import PoolingError
from calcinosis.stats.pooling import PoolMethod, PoolResult, StudyCount, logit_effects, pool

__all__ = [
    "INVERSE_VARIANCE",
    "HartungKnapp",
    "Omitted",
    "SubgroupTest",
    "hartung_knapp",
    "leave_one_out",
    "subgroup_difference",
]

InverseVariance = Literal["dl", "reml", "pm"]
_ROUNDING = 1e-9  # q within this of 1 is 1 (REML with two studies gives q = 1 - 2e-16)
INVERSE_VARIANCE: tuple[InverseVariance, ...] = ("dl", "reml", "pm")


def _expit_pair(low: float, high: float) -> tuple[float, float]:
    return float(special.expit(low)), float(special.expit(high))


@dataclass(frozen=True)
class HartungKnapp:
    """The Hartung-Knapp interval of an inverse-variance pooling (proportions, 0-1).

    ``q`` is the variance factor; ``truncated`` says the ad hoc correction max(1, q) was
    applied (q < 1). ``logit_se``/``ci`` are the corrected ones, ``untruncated_se`` and
    ``untruncated_ci`` those of plain HKSJ (metafor ``test="knha"``). ``t`` is the
    Student-t quantile with ``df`` = k - 1 degrees of freedom.
    """

    method: InverseVariance
    k: int
    df: int
    q: float
    truncated: bool
    t: float
    logit: float
    logit_se: float
    ci: tuple[float, float]
    untruncated_se: float
    untruncated_ci: tuple[float, float]
    level: float


def hartung_knapp(
    studies: Sequence[StudyCount], method: PoolMethod, level: float = 0.95
) -> HartungKnapp:
    """The Hartung-Knapp-Sidik-Jonkman interval for ``pool(studies, method, level)``.

    Only for the inverse-variance methods (``dl``, ``reml``, ``pm``): the GLMM is not a
    weighted mean of logits. Needs two studies or
    more. Both refusals raise :class:`PoolingError`.
    """
    if method not in INVERSE_VARIANCE:
        raise PoolingError(
            f"the Hartung-Knapp adjustment is for the inverse-variance methods "
            f"({', '.join(INVERSE_VARIANCE)}), not {method}"
        )
    if len(studies) < 2:
        raise PoolingError("the Hartung-Knapp adjustment needs at least 2 studies")
    result = pool(studies, method, level)
    tau2 = result.tau2
    if tau2 is None:  # pragma: no cover - an inverse-variance pooling of k >= 2 has one
        raise PoolingError(f"no tau^2 from the {method} pooling")
    y, v = logit_effects(result.studies)
    w = 1.0 / (v + tau2)
    k = len(studies)
    q = float((w * (y - result.logit) ** 2).sum()) / (k - 1)
    t = float(stats.t.ppf(0.5 + level / 2.0, k - 1))
    plain_se = math.sqrt(q) * result.logit_se
    se = math.sqrt(max(1.0, q)) * result.logit_se
    mu = result.logit
    return HartungKnapp(
        method=method,
        k=k,
        df=k - 1,
        q=q,
        truncated=q < 1.0 - _ROUNDING,
        t=t,
        logit=mu,
        logit_se=se,
        ci=_expit_pair(mu - t * se, mu + t * se),
        untruncated_se=plain_se,
        untruncated_ci=_expit_pair(mu - t * plain_se, mu + t * plain_se),
        level=level,
    )


@dataclass(frozen=True)
class Omitted:
    """The pooling without one study (``omitted``)."""

    omitted: StudyCount
    result: PoolResult


def leave_one_out(
    studies: Sequence[StudyCount], method: PoolMethod = "glmm", level: float = 0.95
) -> tuple[Omitted, ...]:
    """Each study left out in turn, in the order given (metafor ``leave1out``).

    Needs two studies or more; with two, each refit is one study, reported on its own
    (``method="single"``, its Wilson interval) as :func:`~calcinosis.stats.pooling.pool` does.
    """
    if len(studies) < 2:
        raise PoolingError("leave-one-out needs at least 2 studies")
    items = tuple(studies)
    return tuple(
        Omitted(study, pool(items[:index] + items[index + 1 :], method, level))
        for index, study in enumerate(items)
    )


@dataclass(frozen=True)
class SubgroupTest:
    """The test for subgroup differences: Q between subgroups, its df and p-value."""

    q: float
    df: int
    p: float
    groups: tuple[str, ...]


def subgroup_difference(estimates: Mapping[str, PoolResult]) -> SubgroupTest | None:
    """Q-between of the subgroup estimates (fixed-effect across subgroups, chi^2 with G - 1
    df); ``None`` with fewer than two subgroups."""
    if len(estimates) < 2:
        return None
    names = tuple(estimates)
    weights = [1.0 / estimates[g].logit_se ** 2 for g in names]
    mus = [estimates[g].logit for g in names]
    total = math.fsum(weights)
    mean = math.fsum(w * m for w, m in zip(weights, mus, strict=True)) / total
    q = math.fsum(w * (m - mean) ** 2 for w, m in zip(weights, mus, strict=True))
    df = len(names) - 1
    return SubgroupTest(q=q, df=df, p=float(stats.chi2.sf(q, df)), groups=names)
