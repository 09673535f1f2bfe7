"""Tests for calcinosis.stats.pooling: reference values, independent re-derivations, properties.

Reference values from R 4.x with metafor 3.8-1 (``rma.glmm`` fits through lme4 with
nAGQ = 7); each value sits beside the R call that produced it, as in statsmodels'
stats/tests/results/results_meta.py.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial.hermite import hermgauss
from scipy import optimize, special, stats
from statsmodels.stats.meta_analysis import combine_effects  # type: ignore[import-untyped]

from calcinosis.errors import CalcinosisError, PoolingError, UnknownChoiceError
from calcinosis.stats.pooling import PoolMethod, PoolResult, StudyCount, pool, proportion_ci

# --------------------------------------------------------------------------- reference data

# R> x <- c(0, 1, 3, 8, 2, 6, 0); n <- c(3, 10, 5, 12, 2, 20, 4)
REF_A_X = (0, 1, 3, 8, 2, 6, 0)
REF_A_N = (3, 10, 5, 12, 2, 20, 4)
# R> res <- rma.glmm(measure="PLO", xi=x, ni=n); c(coef(res), res$se, res$tau2)
REF_A_GLMM = {"logit": -0.744399, "se": 0.645222, "tau2": 1.686310}
# R> res <- rma(measure="PLO", xi=x, ni=n, method="DL"); c(coef(res), res$se, res$tau2, res$I2)
REF_A_DL = {"logit": -0.504207, "se": 0.501179, "tau2": 0.775999, "i2": 49.5257}

# R> x <- c(0, 1, 3, 5, 12, 2); n <- c(1, 4, 10, 5, 28, 6)
REF_B_X = (0, 1, 3, 5, 12, 2)
REF_B_N = (1, 4, 10, 5, 28, 6)
# R> res <- rma.glmm(measure="PLO", xi=x, ni=n); c(coef(res), res$se, res$tau2)
REF_B_GLMM = {"logit": -0.298493, "se": 0.275202, "tau2": 0.0}

METHODS: tuple[PoolMethod, ...] = ("glmm", "dl", "reml", "pm")
FAST = settings(max_examples=40, deadline=None)


def arms(xs: tuple[int, ...] | list[int], ns: tuple[int, ...] | list[int]) -> list[StudyCount]:
    return [StudyCount(f"Study {i + 1}", x, n) for i, (x, n) in enumerate(zip(xs, ns, strict=True))]


def plo(
    xs: list[int] | tuple[int, ...], ns: list[int] | tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Logit proportions and variances, written out independently of the package."""
    y, v = [], []
    for x, n in zip(xs, ns, strict=True):
        a, b = (x + 0.5, n - x + 0.5) if x in (0, n) else (float(x), float(n - x))
        y.append(math.log(a / b))
        v.append(1 / a + 1 / b)
    return np.array(y), np.array(v)


# --------------------------------------------------------------------------- metafor references


def test_glmm_matches_metafor_dataset_a() -> None:
    res = pool(arms(REF_A_X, REF_A_N), "glmm")
    assert res.method == "glmm"
    assert res.converged
    # Our fit is the exact ML (quadrature error < 1e-9 here); metafor/lme4 use 7-node
    # adaptive quadrature, which is off by ~2e-5 on the logit and ~3e-4 relative on
    # tau^2 (see test_metafor_differences_are_lme4_7_node_quadrature).
    assert res.logit == pytest.approx(REF_A_GLMM["logit"], abs=2e-4)
    assert res.logit_se == pytest.approx(REF_A_GLMM["se"], rel=1e-3)
    assert res.tau2 == pytest.approx(REF_A_GLMM["tau2"], rel=1e-3)
    assert res.estimate == pytest.approx(special.expit(REF_A_GLMM["logit"]), abs=1e-4)


def test_glmm_matches_metafor_dataset_b_boundary() -> None:
    res = pool(arms(REF_B_X, REF_B_N), "glmm")
    assert res.tau2 == 0.0  # exactly on the boundary, as lme4
    assert res.i2 == 0.0
    assert res.logit == pytest.approx(REF_B_GLMM["logit"], abs=2e-6)
    # SE conditional on tau^2 = 0: 1 / sqrt(N p (1 - p)) with p = 23/54
    assert res.logit_se == pytest.approx(REF_B_GLMM["se"], rel=1e-5)
    assert res.logit_se == pytest.approx(1 / math.sqrt(54 * (23 / 54) * (31 / 54)), rel=1e-12)
    assert res.estimate == pytest.approx(23 / 54, rel=1e-9)


def test_dl_matches_metafor() -> None:
    res = pool(arms(REF_A_X, REF_A_N), "dl")
    assert res.logit == pytest.approx(REF_A_DL["logit"], abs=2e-6)
    assert res.logit_se == pytest.approx(REF_A_DL["se"], rel=1e-5)
    assert res.tau2 == pytest.approx(REF_A_DL["tau2"], rel=1e-5)
    assert res.i2 == pytest.approx(REF_A_DL["i2"], abs=1e-4)


def _lme4_style_fit(xs: tuple[int, ...], ns: tuple[int, ...], nodes: int) -> tuple[float, ...]:
    """Independent re-implementation of lme4's nAGQ fit: returns (mu, tau^2, se)."""
    x, n = np.array(xs, float), np.array(ns, float)
    t, w = hermgauss(nodes)
    z, lw = math.sqrt(2) * t, np.log(w / math.sqrt(math.pi)) + t * t

    def deviance(mu: float, theta: float) -> float:
        theta = abs(theta)
        if theta == 0:
            return float(-(x * mu - n * np.logaddexp(0, mu)).sum())
        u = np.zeros_like(x)
        for _ in range(100):  # conditional modes by Newton (spherical u ~ N(0, 1))
            p = special.expit(mu + theta * u)
            u_new = u + (theta * (x - n * p) - u) / (theta * theta * n * p * (1 - p) + 1)
            if np.max(np.abs(u_new - u)) < 1e-13:
                u = u_new
                break
            u = u_new
        p = special.expit(mu + theta * u)
        s = 1 / np.sqrt(theta * theta * n * p * (1 - p) + 1)
        uu = u[:, None] + s[:, None] * z
        eta = mu + theta * uu
        terms = x[:, None] * eta - n[:, None] * np.logaddexp(0, eta) - uu * uu / 2 + lw
        return float(-(special.logsumexp(terms, axis=1) + np.log(s)).sum())

    fit = optimize.minimize(
        lambda q: deviance(q[0], q[1]),
        [0.0, 1.0],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 5000},
    )
    mu, theta = float(fit.x[0]), abs(float(fit.x[1]))
    h = 1e-4
    f = deviance
    hess = np.empty((2, 2))
    hess[0, 0] = (f(mu + h, theta) - 2 * f(mu, theta) + f(mu - h, theta)) / h**2
    hess[1, 1] = (f(mu, theta + h) - 2 * f(mu, theta) + f(mu, theta - h)) / h**2
    hess[0, 1] = hess[1, 0] = (
        f(mu + h, theta + h) - f(mu + h, theta - h) - f(mu - h, theta + h) + f(mu - h, theta - h)
    ) / (4 * h * h)
    return mu, theta * theta, math.sqrt(np.linalg.inv(hess)[0, 0])


def test_metafor_differences_are_lme4_7_node_quadrature() -> None:
    """With lme4's 7 nodes metafor is reproduced to its printed precision; with many nodes
    the same code converges to our (exact ML) numbers."""
    mu7, tau2_7, se7 = _lme4_style_fit(REF_A_X, REF_A_N, 7)
    assert mu7 == pytest.approx(REF_A_GLMM["logit"], abs=2e-6)
    assert tau2_7 == pytest.approx(REF_A_GLMM["tau2"], rel=5e-5)
    assert se7 == pytest.approx(REF_A_GLMM["se"], rel=1e-5)
    mu_many, tau2_many, se_many = _lme4_style_fit(REF_A_X, REF_A_N, 40)
    res = pool(arms(REF_A_X, REF_A_N))
    assert res.logit == pytest.approx(mu_many, abs=1e-6)
    assert res.tau2 == pytest.approx(tau2_many, rel=1e-5)
    assert res.logit_se == pytest.approx(se_many, rel=1e-5)


# --------------------------------------------------------------------------- GLMM by brute force


def _brute_force_glmm(xs: list[int], ns: list[int]) -> tuple[float, float]:
    """ML by a fine fixed grid over the standardised random effect: (mu, tau^2)."""
    x, n = np.array(xs, float)[:, None], np.array(ns, float)[:, None]
    u = np.linspace(-12, 12, 6001)
    log_phi = -u * u / 2 - 0.5 * math.log(2 * math.pi)
    du = u[1] - u[0]

    def deviance(q: np.ndarray) -> float:
        eta = q[0] + math.exp(q[1]) * u
        a = x * eta - n * np.logaddexp(0, eta) + log_phi
        return float(-(special.logsumexp(a, axis=1) + math.log(du)).sum())

    fit = optimize.minimize(
        deviance, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12}
    )
    return float(fit.x[0]), math.exp(2 * fit.x[1])


@pytest.mark.parametrize(
    ("xs", "ns"),
    [
        (list(REF_A_X), list(REF_A_N)),
        ([2, 9, 15, 1, 30, 7, 0, 4], [20, 12, 40, 11, 33, 9, 15, 4]),
        # one informative arm among many 0%/100% arms: tau^2 around 20 (tau ~ 4.7)
        ([0, 1, 3, 0, 0, 0, 0], [1, 2, 3, 3, 3, 1, 3]),
    ],
)
def test_glmm_is_the_exact_ml(xs: list[int], ns: list[int]) -> None:
    mu, tau2 = _brute_force_glmm(xs, ns)
    res = pool(arms(xs, ns))
    assert res.converged
    assert res.logit == pytest.approx(mu, abs=1e-5)
    assert res.tau2 == pytest.approx(tau2, rel=1e-4)


def test_glmm_i2_and_weights_follow_metafor_definitions() -> None:
    res = pool(arms(REF_A_X, REF_A_N))
    _, v = plo(REF_A_X, REF_A_N)
    w = 1 / v
    s2 = (len(v) - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert res.tau2 is not None
    assert res.i2 == pytest.approx(100 * res.tau2 / (res.tau2 + s2), rel=1e-12)
    expected = 1 / (v + res.tau2)
    assert res.weights == pytest.approx(tuple(100 * expected / expected.sum()), rel=1e-12)
    z = stats.norm.ppf(0.975)
    half = z * math.sqrt(res.logit_se**2 + res.tau2)
    assert res.prediction_interval == pytest.approx(
        (special.expit(res.logit - half), special.expit(res.logit + half)), rel=1e-12
    )
    assert res.ci == pytest.approx(
        (special.expit(res.logit - z * res.logit_se), special.expit(res.logit + z * res.logit_se)),
        rel=1e-12,
    )


# --------------------------------------------------------------------------- inverse variance

SM_DATASETS = [  # all with DL tau^2 > 0 (statsmodels does not truncate DL at 0)
    (list(REF_A_X), list(REF_A_N)),
    ([2, 9, 15, 1, 30, 7, 0, 4], [20, 12, 40, 11, 33, 9, 15, 4]),
    ([1, 19], [20, 20]),
    ([10, 12, 30, 2, 5], [50, 40, 60, 30, 9]),
    ([0, 5, 5, 1, 10, 3, 7, 0, 2, 4, 9, 1], [5, 5, 12, 8, 10, 30, 7, 2, 2, 40, 9, 60]),
]


@pytest.mark.parametrize(("xs", "ns"), SM_DATASETS)
@pytest.mark.parametrize(("method", "method_re"), [("dl", "chi2"), ("pm", "iterated")])
def test_dl_and_pm_match_statsmodels(
    xs: list[int], ns: list[int], method: PoolMethod, method_re: str
) -> None:
    y, v = plo(xs, ns)
    ref = combine_effects(y, v, method_re=method_re, use_t=False)
    res = pool(arms(xs, ns), method)
    assert ref.tau2 > 0
    assert res.tau2 == pytest.approx(ref.tau2, rel=1e-6)
    assert res.logit == pytest.approx(ref.mean_effect_re, abs=1e-7)
    assert res.logit_se == pytest.approx(ref.sd_eff_w_re, rel=1e-6)
    if method == "dl":  # for DL, I^2 with metafor's s^2 equals the usual (Q - df) / Q
        assert res.i2 == pytest.approx(100 * ref.i2, rel=1e-9)


def test_inverse_variance_truncates_tau2_at_zero() -> None:
    xs, ns = list(REF_B_X), list(REF_B_N)
    y, v = plo(xs, ns)
    fixed = float((y / v).sum() / (1 / v).sum())
    for method in METHODS[1:]:
        res = pool(arms(xs, ns), method)
        assert res.tau2 == 0.0
        assert res.i2 == 0.0
        assert res.logit == pytest.approx(fixed, abs=1e-12)
        assert res.logit_se == pytest.approx(1 / math.sqrt((1 / v).sum()), rel=1e-12)


def _reml_loglik(tau2: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Restricted log-likelihood (up to a constant) at each tau^2 in the array."""
    w = 1 / (v[None, :] + tau2[:, None])
    mu = (w * y).sum(axis=1) / w.sum(axis=1)
    resid = (w * (y[None, :] - mu[:, None]) ** 2).sum(axis=1)
    log_det = np.log(v[None, :] + tau2[:, None]).sum(axis=1) + np.log(w.sum(axis=1))
    return np.asarray(-0.5 * (log_det + resid))


@pytest.mark.parametrize(("xs", "ns"), [*SM_DATASETS, (list(REF_B_X), list(REF_B_N))])
def test_reml_maximises_the_restricted_likelihood(xs: list[int], ns: list[int]) -> None:
    y, v = plo(xs, ns)
    grid = np.linspace(0, 40, 40001)
    start = grid[int(np.argmax(_reml_loglik(grid, y, v)))]
    brute = optimize.minimize_scalar(
        lambda t: -float(_reml_loglik(np.array([t]), y, v)[0]),
        bounds=(max(0.0, start - 1e-3), start + 1e-3),
        method="bounded",
        options={"xatol": 1e-12},
    ).x
    res = pool(arms(xs, ns), "reml")
    assert res.converged
    assert res.tau2 == pytest.approx(brute, abs=1e-7, rel=1e-6)
    w = 1 / (v + res.tau2)
    mu = (w * y).sum() / w.sum()
    assert res.logit == pytest.approx(mu, abs=1e-12)
    score = (w**2 * (y - mu) ** 2).sum() - (w.sum() - (w**2).sum() / w.sum())
    assert res.tau2 is not None
    if res.tau2 > 0:  # REML estimating equation: sum w^2 (y - mu)^2 = tr(P)
        assert score == pytest.approx(0, abs=1e-8)
    else:
        assert score <= 0


def test_methods_differ_where_they_should() -> None:
    """Guards against every method silently computing the same thing."""
    results = {m: pool(arms(REF_A_X, REF_A_N), m) for m in METHODS}
    taus = [r.tau2 for r in results.values()]
    assert len({round(t, 6) for t in taus if t is not None}) == 4


# --------------------------------------------------------------------------- proportion_ci


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(
    ("x", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (1, 37), (150, 200)]
)
def test_proportion_ci_matches_scipy(x: int, n: int, level: float) -> None:
    ref = stats.binomtest(x, n)
    wilson = ref.proportion_ci(confidence_level=level, method="wilson")
    exact = ref.proportion_ci(confidence_level=level, method="exact")
    assert proportion_ci(x, n, "wilson", level) == pytest.approx(
        (wilson.low, wilson.high), abs=1e-12
    )
    assert proportion_ci(x, n, "clopper-pearson", level) == pytest.approx(
        (exact.low, exact.high), abs=1e-9
    )


def test_proportion_ci_hand_worked() -> None:
    z2 = stats.norm.ppf(0.975) ** 2
    # Wilson, 0/10: [0, z^2 / (n + z^2)]
    assert proportion_ci(0, 10) == pytest.approx((0.0, z2 / (10 + z2)), rel=1e-12)
    assert proportion_ci(0, 10)[1] == pytest.approx(0.277533, abs=1e-6)
    # Wilson, 5/10: 0.5 +- z sqrt(0.025 + z^2/400) / (1 + z^2/10)
    assert proportion_ci(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    # Clopper-Pearson at the edges: (alpha/2)^(1/n)
    assert proportion_ci(0, 10, "clopper-pearson") == pytest.approx((0.0, 1 - 0.025**0.1))
    assert proportion_ci(10, 10, "clopper-pearson") == pytest.approx((0.025**0.1, 1.0))
    assert proportion_ci(10, 10, "clopper-pearson")[0] == pytest.approx(0.691503, abs=1e-6)


def test_proportion_ci_rejects_bad_input() -> None:
    with pytest.raises(UnknownChoiceError):
        proportion_ci(1, 2, "wald")  # type: ignore[arg-type]
    for bad_level in (0.0, 1.0, 95, -0.5, math.nan):
        with pytest.raises(PoolingError):
            proportion_ci(1, 2, level=bad_level)
    with pytest.raises(PoolingError):
        proportion_ci(3, 2)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("x", "n", "fragment"),
    [
        (-1, 5, "x must be between"),
        (6, 5, "x must be between"),
        (0, 0, "n must be positive"),
        (1, -3, "n must be positive"),
        (1.5, 3, "must be an integer"),
        (True, 3, "must be an integer"),
    ],
)
def test_invalid_counts_raise(x: object, n: object, fragment: str) -> None:
    with pytest.raises(PoolingError, match=fragment) as err:
        StudyCount("Balin 2012", x, n)  # type: ignore[arg-type]
    assert "Balin 2012" in str(err.value)
    assert "\n" not in str(err.value)


def test_pool_validates_its_input() -> None:
    with pytest.raises(PoolingError, match="no studies"):
        pool([])
    with pytest.raises(UnknownChoiceError, match="pooling method"):
        pool(arms([1, 2], [3, 4]), "hksj")  # type: ignore[arg-type]
    with pytest.raises(PoolingError, match="level"):
        pool(arms([1, 2], [3, 4]), level=1.5)
    good = StudyCount("ok", 1, 2)
    smuggled = replace(good)
    object.__setattr__(smuggled, "x", 7)  # bypasses __post_init__
    with pytest.raises(PoolingError, match="x must be between"):
        pool([good, smuggled])
    assert issubclass(PoolingError, CalcinosisError)


# --------------------------------------------------------------------------- special cases


def test_single_study_is_not_pooled() -> None:
    res = pool([StudyCount("Balin 2012", 4, 7, "retrospective")])
    assert res.method == "single"
    assert not res.pooled
    assert res.k == 1
    assert (res.x, res.n) == (4, 7)
    assert res.estimate == 4 / 7
    assert res.ci == proportion_ci(4, 7, "wilson")
    assert res.logit == pytest.approx(math.log(4 / 3))
    assert res.logit_se == pytest.approx(math.sqrt(1 / 4 + 1 / 3))
    assert res.tau2 is None
    assert res.i2 is None
    assert res.prediction_interval is None
    assert res.weights == (100.0,)
    zero = pool([StudyCount("Case report", 0, 1)])
    assert zero.estimate == 0.0
    assert zero.logit == pytest.approx(math.log(0.5 / 1.5))
    assert zero.ci[0] == 0.0


@pytest.mark.parametrize("method", METHODS)
def test_prediction_interval_needs_three_studies(method: PoolMethod) -> None:
    two = pool(arms([1, 5], [4, 6]), method)
    assert two.prediction_interval is None
    assert two.i2 is not None
    three = pool(arms([1, 5, 2], [4, 6, 9]), method)
    assert three.prediction_interval is not None
    lo, hi = three.prediction_interval
    assert lo <= three.ci[0] <= three.ci[1] <= hi


@pytest.mark.parametrize(("xs", "ns"), [([0, 0, 0], [5, 10, 1]), ([3, 1, 12], [3, 1, 12])])
def test_glmm_with_every_arm_at_0_or_100_gives_the_combined_count(
    xs: list[int], ns: list[int]
) -> None:
    res = pool(arms(xs, ns), "glmm")
    assert res.method == "combined"
    assert res.pooled is False
    assert (res.x, res.n) == (sum(xs), sum(ns))
    assert res.estimate == sum(xs) / sum(ns)  # exactly 0 or 1: no invented responders
    assert res.ci == proportion_ci(sum(xs), sum(ns), "wilson")
    assert res.tau2 is None and res.prediction_interval is None
    assert sum(res.weights) == pytest.approx(100.0)


def test_glmm_with_arms_at_0_and_100_only_falls_back_to_dl() -> None:
    xs, ns = [0, 1, 0, 2], [1, 1, 4, 2]
    res = pool(arms(xs, ns), "glmm")
    dl = pool(arms(xs, ns), "dl")
    assert res.method == "dl"
    assert not res.converged
    assert res.logit == dl.logit
    assert res.logit_se == dl.logit_se
    assert 0 < res.estimate < 1


def test_glmm_handles_large_counts() -> None:
    res = pool(arms([0, 0, 0, 1], [10**6] * 4))
    assert res.converged
    assert res.tau2 == 0.0
    assert res.estimate == pytest.approx(1 / 4e6, rel=1e-9)
    big = pool(arms([5, 500_000, 250_000], [10, 1_000_000, 400_000]))
    assert big.converged
    assert big.tau2 is not None
    assert big.tau2 > 0
    assert 0.5 < big.estimate < 0.625


@pytest.mark.parametrize("method", METHODS)
def test_level_changes_interval_width(method: PoolMethod) -> None:
    data = arms(REF_A_X, REF_A_N)
    narrow = pool(data, method, level=0.8)
    wide = pool(data, method, level=0.99)
    assert narrow.logit == pytest.approx(wide.logit)
    assert wide.ci[0] < narrow.ci[0] < narrow.ci[1] < wide.ci[1]
    assert (narrow.level, wide.level) == (0.8, 0.99)


def test_pool_is_deterministic() -> None:
    data = arms(REF_A_X, REF_A_N)
    for method in METHODS:
        assert pool(data, method) == pool(data, method)


# --------------------------------------------------------------------------- properties


@st.composite
def study_lists(draw: st.DrawFn, min_size: int = 1) -> list[StudyCount]:
    ns = draw(st.lists(st.integers(1, 200), min_size=min_size, max_size=12))
    xs = [draw(st.integers(0, n)) for n in ns]
    # bias towards the awkward cases: 0% and 100% arms
    xs = [draw(st.sampled_from([x, 0, n])) for x, n in zip(xs, ns, strict=True)]
    return arms(xs, ns)


def _check_sane(res: PoolResult) -> None:
    values = [res.estimate, *res.ci, res.logit, res.logit_se, *res.weights]
    values += [v for v in (res.tau2, res.i2) if v is not None]
    values += list(res.prediction_interval or ())
    assert all(math.isfinite(v) for v in values)
    assert res.ci[0] <= res.estimate <= res.ci[1]
    assert math.fsum(res.weights) == pytest.approx(100.0, abs=1e-9)
    assert len(res.weights) == res.k
    if res.pooled:
        assert 0 < res.estimate < 1
        assert res.tau2 is not None
        assert res.tau2 >= 0
        assert res.i2 is not None
        assert 0 <= res.i2 <= 100
        assert res.logit_se > 0
    else:
        assert 0 <= res.estimate <= 1


@FAST
@given(study_lists())
def test_every_method_returns_sane_numbers(studies: list[StudyCount]) -> None:
    for method in METHODS:
        res = pool(studies, method)
        _check_sane(res)
        y = np.array(
            [
                math.log((s.x + 0.5) / (s.n - s.x + 0.5))
                if s.x in (0, s.n)
                else math.log(s.x / (s.n - s.x))
                for s in studies
            ]
        )
        if res.method in ("dl", "reml", "pm"):  # a weighted mean of the logits
            assert y.min() - 1e-9 <= res.logit <= y.max() + 1e-9
        elif res.method == "glmm" and res.tau2 == 0.0:  # X / N lies between the arms
            props = [s.x / s.n for s in studies]
            assert min(props) <= res.estimate <= max(props)


@settings(max_examples=20, deadline=None)
@given(study_lists(min_size=2), st.randoms(use_true_random=False))
def test_permutation_invariance(studies: list[StudyCount], rnd: random.Random) -> None:
    shuffled = list(studies)
    rnd.shuffle(shuffled)
    for method in METHODS:
        a = pool(studies, method)
        b = pool(shuffled, method)
        assert (a.method, a.converged) == (b.method, b.converged)
        # Degenerate data (one informative arm among many 0%/100% arms) can put tau^2 in the
        # hundreds, where the likelihood is very flat: compare in units of the SE.
        assert b.logit == pytest.approx(a.logit, abs=1e-6 * max(1.0, a.logit_se))
        assert b.logit_se == pytest.approx(a.logit_se, rel=1e-4)
        if a.tau2 is None:
            assert b.tau2 is None
        else:
            assert b.tau2 == pytest.approx(a.tau2, rel=1e-4, abs=1e-8)
        weight_of = dict(zip(map(id, a.studies), a.weights, strict=True))
        for s, w in zip(b.studies, b.weights, strict=True):
            assert w == pytest.approx(weight_of[id(s)], rel=1e-4, abs=1e-8)


@FAST
@given(
    st.integers(1, 19).flatmap(lambda a: st.tuples(st.just(a), st.integers(a + 1, 20))),
    st.lists(st.integers(1, 10), min_size=2, max_size=8),
)
def test_equal_proportions_pool_to_that_proportion(ab: tuple[int, int], ms: list[int]) -> None:
    a, b = ab
    studies = arms([a * m for m in ms], [b * m for m in ms])
    for method in METHODS:
        res = pool(studies, method)
        assert res.tau2 == 0.0
        assert res.i2 == 0.0
        assert a / b - 1e-9 <= res.estimate <= a / b + 1e-9


def test_a_fit_is_made_once_and_kept() -> None:
    """Pooling the same studies again returns the result already fitted (no refit);
    another method or level is another fit."""
    studies = [
        StudyCount("A 2001", 3, 12),
        StudyCount("B 2002", 9, 14),
        StudyCount("C 2003", 0, 12),
    ]
    first = pool(studies)
    assert pool(list(studies)) is first and pool(tuple(studies), "glmm", 0.95) is first
    assert pool(studies, "dl") is not first and pool(studies, level=0.9) is not first
    assert pool(studies, "dl") == pool(studies, "dl")
