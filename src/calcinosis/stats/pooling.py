"""Random-effects meta-analysis of single-arm proportions (responders / patients).

Calcinosis cutis evidence is mostly small case series, with many arms at 0% or
100%. The default model is therefore the binomial-normal random-intercept model
(a GLMM, Stijnen, Hamza & Özdemir 2010), which uses the exact binomial
likelihood and needs no continuity correction. The classic inverse-variance
estimators on the logit scale are also offered: DerSimonian & Laird (1986),
REML (Viechtbauer 2005) and Paule & Mandel (1982).

Conventions follow R's metafor (``rma.glmm`` / ``rma`` with ``measure="PLO"``):
z-based intervals, back-transformed with the inverse logit; logit sampling
variances with 0.5 added to both cells only for arms at 0% or 100%. The GLMM
likelihood is integrated accurately (not with lme4's 7-node rule), so it is the
exact ML fit; it agrees with metafor to ~2e-5 on the logit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.polynomial.hermite import hermgauss
from numpy.typing import NDArray
from scipy import optimize, special

from calcinosis.errors import PoolingError, UnknownChoiceError
from calcinosis.stats.intervals import CIMethod, check_counts, proportion_ci, z_value

__all__ = [
    "CIMethod",
    "PoolMethod",
    "PoolResult",
    "StudyCount",
    "logit_effects",
    "pool",
    "proportion_ci",
]

PoolMethod = Literal["glmm", "dl", "reml", "pm"]
Vec = NDArray[np.float64]

# Adaptive Gauss-Hermite nodes per study. lme4/metafor use 7; 51 makes the quadrature error
# negligible (< 1e-6 on the log-likelihood) instead of ~1e-4 with tau^2 around 1-2.
_AGQ_NODES = 51
_TAU2_MAX = 1e3  # logit-scale tau^2 cap (tau = 31.6): far beyond any plausible heterogeneity
_FD_STEP = 1e-3  # finite-difference step for the Hessian


@dataclass(frozen=True)
class StudyCount:
    """One study arm: ``x`` responders out of ``n`` patients.

    Raises :class:`PoolingError` on construction if the counts are invalid.
    """

    label: str
    x: int
    n: int
    design: str = ""

    def __post_init__(self) -> None:
        check_counts(self.x, self.n, self.label)


@dataclass(frozen=True)
class PoolResult:
    """Outcome of :func:`pool`. Proportions are on the 0-1 scale.

    ``logit``/``logit_se`` are the pooled log-odds and its standard error;
    ``ci`` and ``prediction_interval`` are back-transformed from the logit
    scale. ``tau2`` is the between-study variance on the logit scale and ``i2``
    is in percent. ``prediction_interval`` is ``None`` when ``k < 3``: with one
    or two studies tau^2 is not meaningfully estimable (Riley et al. 2011).
    ``weights`` are percentages summing to 100; for the GLMM they are the
    approximate inverse-variance weights 1/(v_i + tau^2), for display only.
    ``pooled`` is False for a single arm, reported on its own: ``estimate`` is
    then x/n (0 or 1 possible) with its Wilson interval. ``level`` is the
    confidence level of ``ci`` and ``prediction_interval``. ``converged`` is
    False when the estimator did not converge or, for the GLMM, when its ML
    estimate does not exist (every arm at 0% or 100%): the result is then the
    DerSimonian-Laird fallback and ``method`` says ``"dl"``.
    """

    method: Literal["glmm", "dl", "reml", "pm", "single", "combined"]
    k: int
    n: int
    x: int
    estimate: float
    ci: tuple[float, float]
    logit: float
    logit_se: float
    tau2: float | None
    i2: float | None
    prediction_interval: tuple[float, float] | None
    weights: tuple[float, ...]
    studies: tuple[StudyCount, ...]
    pooled: bool
    converged: bool
    level: float = 0.95


def _plo(x: Vec, n: Vec) -> tuple[Vec, Vec]:
    """Logit proportions and sampling variances, 0.5 added to both cells of 0%/100% arms.

    This is metafor's ``escalc(measure="PLO", add=1/2, to="only0")``.
    """
    extreme = (x == 0) | (x == n)
    xa = np.where(extreme, x + 0.5, x)
    ma = np.where(extreme, n - x + 0.5, n - x)
    return np.log(xa) - np.log(ma), 1.0 / xa + 1.0 / ma


def logit_effects(studies: Sequence[StudyCount]) -> tuple[Vec, Vec]:
    """The studies' logit proportions and sampling variances (as metafor's ``escalc``)."""
    x = np.array([s.x for s in studies], dtype=np.float64)
    n = np.array([s.n for s in studies], dtype=np.float64)
    return _plo(x, n)


def _typical_variance(v: Vec) -> float:
    """Higgins & Thompson's typical within-study variance s^2 (the basis of I^2)."""
    w = 1.0 / v
    sw = float(w.sum())
    return (v.size - 1) * sw / (sw * sw - float((w * w).sum()))


def _tau2_dl(y: Vec, v: Vec) -> float:
    """DerSimonian & Laird (1986) method-of-moments tau^2, truncated at 0."""
    w = 1.0 / v
    sw = float(w.sum())
    mu = float((w * y).sum()) / sw
    q = float((w * (y - mu) ** 2).sum())
    return max(0.0, (q - (y.size - 1)) / (sw - float((w * w).sum()) / sw))


def _generalised_q(tau2: float, y: Vec, v: Vec) -> float:
    w = 1.0 / (v + tau2)
    mu = float((w * y).sum() / w.sum())
    return float((w * (y - mu) ** 2).sum())


def _tau2_pm(y: Vec, v: Vec) -> float:
    """Paule & Mandel (1982): tau^2 with generalised Q equal to k - 1 (0 if Q(0) <= k - 1).

    Q(tau^2) decreases monotonically to 0, so the root is bracketed and found by Brent's method.
    """
    df = y.size - 1
    if _generalised_q(0.0, y, v) <= df:
        return 0.0
    hi = max(1.0, float(np.var(y)))
    while _generalised_q(hi, y, v) > df:
        hi *= 2.0
    root = optimize.brentq(lambda t: _generalised_q(t, y, v) - df, 0.0, hi, xtol=1e-13)
    return float(root)


def _tau2_reml(y: Vec, v: Vec) -> tuple[float, bool]:
    """REML tau^2 by Fisher scoring (Viechtbauer 2005), started at DL and truncated at 0.

    The estimating equation is sum(w^2 (y - mu)^2) = tr(P), with w = 1/(v + tau^2).
    """
    tau2 = _tau2_dl(y, v)
    for _ in range(200):
        w = 1.0 / (v + tau2)
        sw = float(w.sum())
        sw2 = float((w * w).sum())
        mu = float((w * y).sum()) / sw
        tr_p = sw - sw2 / sw
        tr_pp = sw2 - 2.0 * float((w**3).sum()) / sw + (sw2 / sw) ** 2
        score = float(((w * (y - mu)) ** 2).sum()) - tr_p
        new = max(0.0, tau2 + score / tr_pp)
        if abs(new - tau2) <= 1e-12 * max(1.0, tau2):
            return new, True
        tau2 = new
    return tau2, False


def _logsumexp_rows(a: Vec) -> Vec:
    top = a.max(axis=1)
    return np.asarray(top + np.log(np.exp(a - top[:, None]).sum(axis=1)), dtype=np.float64)


def _conditional_modes(mu: float, tau: float, x: Vec, n: Vec, start: Vec | None = None) -> Vec:
    """Per-study modes of eta = mu + u of the integrand Bin(x | n, expit(eta)) N(u | 0, tau^2).

    They solve g(eta) = x - n expit(eta) - (eta - mu) / tau^2 = 0, g decreasing, with the
    root in [mu + tau^2 (x - n), mu + tau^2 x]: Newton's method, safeguarded by bisection
    when a step leaves the bracket or fails to halve |g| (as Numerical Recipes' rtsafe).
    """
    t2 = tau * tau
    lo = mu + t2 * (x - n)
    hi = mu + t2 * x
    eta = np.full_like(x, mu) if start is None else np.clip(start, lo, hi)
    g_old = np.full_like(x, np.inf)
    for _ in range(200):
        p = special.expit(eta)
        g = x - n * p - (eta - mu) / t2
        lo = np.where(g > 0.0, eta, lo)
        hi = np.where(g < 0.0, eta, hi)
        step = g / (n * p * (1.0 - p) + 1.0 / t2)
        active = np.abs(step) > 1e-12 * (1.0 + np.abs(eta))
        new = eta + step
        bisect = active & ((new <= lo) | (new >= hi) | (np.abs(g) > 0.5 * g_old))
        eta = np.where(bisect, 0.5 * (lo + hi), new)
        g_old = np.abs(g)
        if not active.any():
            break
    return eta


@functools.cache
def _normal_rule(nodes: int) -> tuple[Vec, Vec]:
    """Gauss-Hermite nodes for a standard normal weight; log weights include exp(z^2/2)."""
    t, w = hermgauss(nodes)
    z = math.sqrt(2.0) * t
    return z, np.log(w / math.sqrt(math.pi)) + 0.5 * z * z


class _Deviance:
    """Minus the log marginal likelihood of the binomial-normal model (plus a constant).

    Arms with 0 < x < n: adaptive Gauss-Hermite quadrature. Arms at 0% (or 100%) have a
    step-like integrand when tau is large, where Gauss-Hermite converges slowly; for
    tau >= 0.8 their integral P(eta < M) = E[Phi((M - mu) / tau)] (or the mirror image),
    M the minimum of n standard logistic variables, is computed instead by tanh-sinh
    quadrature over M's quantiles (both rules agree to ~1e-13 at the switch). At tau = 0
    the integral is the binomial likelihood. The function is even in tau.
    """

    def __init__(self, x: Vec, n: Vec, nodes: int) -> None:
        self.z, self.log_w = _normal_rule(nodes)
        self.x, self.n = x, n
        self._modes: dict[int, Vec] = {}
        self.saturated = float((special.xlogy(x, x / n) + special.xlogy(n - x, (n - x) / n)).sum())
        self.mixed = (x > 0) & (x < n)
        ext = ~self.mixed
        self.sign = np.where(x[ext] == 0, 1.0, -1.0)  # x = 0: P(eta < M); x = n: P(-eta < M)
        h, half = 0.05, 80  # tanh-sinh step and half-width: s = expit(pi sinh t), t = j h
        a = math.pi * np.sinh(h * np.arange(-half, half + 1))
        self.log_w_ts = np.log(h * math.pi * np.cosh(h * np.arange(-half, half + 1)))
        self.log_w_ts += special.log_expit(a) + special.log_expit(-a)
        log_surv = special.log_expit(-a)[None, :] / n[ext][:, None]  # log(1 - s) / n
        self.quantiles = np.log(-np.expm1(log_surv)) - log_surv  # logit(1 - (1 - s)^(1/n))

    def _agq(self, mu: float, tau: float, x: Vec, n: Vec) -> Vec:
        """log of int Bin(x | n, expit(mu + tau u)) phi(u) du per study, by adaptive Gauss-Hermite.

        The rule (standard-normal nodes ``z``, ``log_w`` including exp(z^2/2)) is centred at the
        conditional mode and scaled by the curvature there (Liu & Pierce 1994) as lme4's
        ``glmer(nAGQ=...)``. Binomial coefficients are omitted.
        """
        eta = _conditional_modes(mu, tau, x, n, self._modes.get(x.size))
        self._modes[x.size] = eta  # warm start for the next call (deterministic sequence)
        p = special.expit(eta)
        scale = 1.0 / np.sqrt(tau * tau * n * p * (1.0 - p) + 1.0)  # sd of u at the mode
        u = ((eta - mu) / tau)[:, None] + scale[:, None] * self.z[None, :]
        e = mu + tau * u
        terms = (
            x[:, None] * e - n[:, None] * np.logaddexp(0.0, e) - 0.5 * u * u + self.log_w[None, :]
        )
        return np.asarray(_logsumexp_rows(terms) + np.log(scale), dtype=np.float64)

    def __call__(self, mu: float, tau: float) -> float:
        tau = abs(tau)
        x, n = self.x, self.n
        if tau < 1e-10:  # indistinguishable from 0 in double precision (error ~ tau^2)
            return self.saturated - float((x * mu - n * np.logaddexp(0.0, mu)).sum())
        if tau < 0.8:
            return self.saturated - float(self._agq(mu, tau, x, n).sum())
        m = self.mixed
        total = float(self._agq(mu, tau, x[m], n[m]).sum())
        args = (self.quantiles - (self.sign * mu)[:, None]) / tau
        total += float(_logsumexp_rows(self.log_w_ts[None, :] + special.log_ndtr(args)).sum())
        return self.saturated - total


def _fd_derivatives(f: Callable[[float, float], float], a: float, b: float) -> tuple[Vec, Vec]:
    """Central-difference gradient (step 1e-5) and Hessian (step 1e-3) of f at (a, b).

    The larger Hessian step keeps rounding noise (~1e-15 / h^2) small where mu and tau are
    strongly correlated; its truncation error is ~1e-7 relative.
    """
    g, h, f0 = 1e-5, _FD_STEP, f(a, b)
    grad = np.array([f(a + g, b) - f(a - g, b), f(a, b + g) - f(a, b - g)]) / (2.0 * g)
    haa = (f(a + h, b) - 2.0 * f0 + f(a - h, b)) / (h * h)
    hbb = (f(a, b + h) - 2.0 * f0 + f(a, b - h)) / (h * h)
    hab = (f(a + h, b + h) - f(a + h, b - h) - f(a - h, b + h) + f(a - h, b - h)) / (4.0 * h * h)
    return grad, np.array([[haa, hab], [hab, hbb]])


def _fit_glmm(
    x: Vec, n: Vec, start: tuple[float, float], nodes: int = _AGQ_NODES
) -> tuple[float, float, float, bool]:
    """ML fit of the binomial-normal model (Stijnen, Hamza & Özdemir 2010).

    Needs at least one arm with 0 < x < n (otherwise the ML estimate is at infinity).
    Returns (mu, tau2, se_mu, converged). L-BFGS-B over (mu, tau^2 >= 0), then Newton
    polishing in (mu, tau). SE: the mu-block of the inverse observed information over
    (mu, tau) when tau^2 > 0; at the boundary tau^2 = 0, the SE conditional on tau^2 = 0
    (as lme4 and metafor report).
    """
    dev = _Deviance(x, n, nodes)
    res = optimize.minimize(
        lambda q: dev(float(q[0]), math.sqrt(max(float(q[1]), 0.0))),
        np.array(start),
        method="L-BFGS-B",
        bounds=[(None, None), (0.0, _TAU2_MAX)],
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000},
    )
    mu, tau = float(res.x[0]), math.sqrt(max(float(res.x[1]), 0.0))
    best = float(res.fun)
    # Boundary candidate: tau^2 = 0 is ordinary logistic regression, mu = logit(X / N).
    p_fe = float(x.sum() / n.sum())
    mu_fe = math.log(p_fe) - math.log1p(-p_fe)
    if dev(mu_fe, 0.0) <= best + 1e-10:
        se = 1.0 / math.sqrt(float((n * p_fe * (1.0 - p_fe)).sum()))
        return mu_fe, 0.0, se, True
    converged = False
    for _ in range(20):  # Newton polishing; step sizes measured in standard errors
        grad, hess = _fd_derivatives(dev, mu, tau)
        if not np.all(np.isfinite(hess)) or np.any(np.linalg.eigvalsh(hess) <= 0.0):
            converged = False
            break
        cov = np.linalg.inv(hess)
        step = cov @ grad
        size = float(np.max(np.abs(step) / np.sqrt(np.diag(cov))))
        converged = size < 1e-3  # a proper maximum, within 0.001 SE
        if size < 1e-8:
            break
        trial = dev(mu - float(step[0]), tau - float(step[1]))
        if not trial < best:  # no progress: the step is at rounding level
            break
        mu, tau, best = mu - float(step[0]), abs(tau - float(step[1])), trial
    converged = converged and tau * tau < _TAU2_MAX
    if converged:
        se = math.sqrt(float(cov[0, 0]))
    else:  # no proper maximum: report the SE conditional on tau
        se = 1.0 / math.sqrt(max(float(hess[0, 0]), 1e-12))
    return mu, tau * tau, se, converged


def _result(
    method: Literal["glmm", "dl", "reml", "pm"],
    studies: tuple[StudyCount, ...],
    *,
    mu: float,
    se: float,
    tau2: float,
    v: Vec,
    z: float,
    level: float,
    converged: bool,
) -> PoolResult:
    w = 1.0 / (v + tau2)
    weights = w / w.sum() * 100.0
    k = len(studies)
    pi = None
    if k >= 3:
        half = z * math.sqrt(se * se + tau2)
        pi = (float(special.expit(mu - half)), float(special.expit(mu + half)))
    s2 = _typical_variance(v)
    return PoolResult(
        method=method,
        k=k,
        n=int(sum(s.n for s in studies)),
        x=int(sum(s.x for s in studies)),
        estimate=float(special.expit(mu)),
        ci=(float(special.expit(mu - z * se)), float(special.expit(mu + z * se))),
        logit=mu,
        logit_se=se,
        tau2=tau2,
        i2=100.0 * tau2 / (tau2 + s2),
        prediction_interval=pi,
        weights=tuple(float(p) for p in weights),
        studies=studies,
        pooled=True,
        converged=converged,
        level=level,
    )


def _inverse_variance(
    method: Literal["dl", "reml", "pm"], y: Vec, v: Vec
) -> tuple[float, float, float, bool]:
    converged = True
    if method == "dl":
        tau2 = _tau2_dl(y, v)
    elif method == "pm":
        tau2 = _tau2_pm(y, v)
    else:
        tau2, converged = _tau2_reml(y, v)
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    return float((w * y).sum()) / sw, 1.0 / math.sqrt(sw), tau2, converged


def pool(
    studies: Sequence[StudyCount],
    method: PoolMethod = "glmm",
    level: float = 0.95,
) -> PoolResult:
    """Random-effects pooled proportion of ``studies``.

    ``"glmm"`` (default): binomial-normal random-intercept logistic model,
    x_i ~ Bin(n_i, expit(mu + u_i)), u_i ~ N(0, tau^2), fitted by maximum
    likelihood (Stijnen, Hamza & Özdemir 2010), the model of metafor's
    ``rma.glmm(measure="PLO")``. The integrals are computed to ~1e-6 or
    better; metafor/lme4 use 7-node adaptive quadrature, whose error moves
    their estimates by ~2e-5 on the logit and ~3e-4 relative on tau^2 for the
    reference data in the tests. If no arm has 0 < x < n the ML estimate does
    not exist. When every arm is at 0% (or every arm at 100%) the combined count
    is returned, not pooled (``method="combined"``, Wilson interval): a
    continuity-corrected estimate would invent responders that no study saw.
    When the arms mix 0% and 100%, the DerSimonian-Laird result is returned
    with ``converged=False``.

    ``"dl"``, ``"reml"``, ``"pm"``: inverse-variance random effects on the
    logit scale with tau^2 from DerSimonian & Laird (1986), REML or Paule &
    Mandel (1982).

    A single study is returned unpooled (``method="single"``) with its Wilson
    interval. Invalid counts, an empty list or a bad level raise
    :class:`PoolingError`; an unknown method raises :class:`UnknownChoiceError`.

    The fit is a pure function of its arguments, so each is fitted once per process and
    kept (the last 4096): a plan, a page or an answer that pools the same studies again
    gets the same result without refitting.
    """
    if method not in get_args(PoolMethod):
        raise UnknownChoiceError("pooling method", method, get_args(PoolMethod))
    return _pool(tuple(studies), method, level)


@functools.lru_cache(maxsize=4096)
def _pool(arms: tuple[StudyCount, ...], method: PoolMethod, level: float) -> PoolResult:
    z = z_value(level)
    if not arms:
        raise PoolingError("no studies to pool")
    for s in arms:
        check_counts(s.x, s.n, s.label)
    x = np.array([s.x for s in arms], dtype=np.float64)
    n = np.array([s.n for s in arms], dtype=np.float64)
    y, v = _plo(x, n)

    if len(arms) == 1:
        only = arms[0]
        return PoolResult(
            method="single",
            k=1,
            n=only.n,
            x=only.x,
            estimate=only.x / only.n,
            ci=proportion_ci(only.x, only.n, "wilson", level),
            logit=float(y[0]),
            logit_se=math.sqrt(float(v[0])),
            tau2=None,
            i2=None,
            prediction_interval=None,
            weights=(100.0,),
            studies=arms,
            pooled=False,
            converged=True,
            level=level,
        )

    if method == "glmm" and (np.all(x == 0) or np.all(x == n)):
        total_x, total_n = int(x.sum()), int(n.sum())
        y_all, v_all = _plo(np.array([float(total_x)]), np.array([float(total_n)]))
        return PoolResult(
            method="combined",
            k=len(arms),
            n=total_n,
            x=total_x,
            estimate=total_x / total_n,
            ci=proportion_ci(total_x, total_n, "wilson", level),
            logit=float(y_all[0]),
            logit_se=math.sqrt(float(v_all[0])),
            tau2=None,
            i2=None,
            prediction_interval=None,
            weights=tuple(100.0 * s.n / total_n for s in arms),
            studies=arms,
            pooled=False,
            converged=True,
            level=level,
        )

    used: Literal["glmm", "dl", "reml", "pm"] = method
    if method == "glmm":
        mu, se, tau2, ok = _inverse_variance("dl", y, v)
        if np.any((x > 0) & (x < n)):
            mu, tau2, se, ok = _fit_glmm(x, n, (mu, tau2))
        else:  # every arm at 0% or 100%: the ML estimate is at infinity; DL fallback
            used, ok = "dl", False
    else:
        mu, se, tau2, ok = _inverse_variance(method, y, v)
    return _result(used, arms, mu=mu, se=se, tau2=tau2, v=v, z=z, level=level, converged=ok)
