"""Tests for calcinosis.stats.sensitivity: stored metafor values (R call beside each), properties.

The same functions are checked against metafor run live in ``test_metafor_live.py``;
these stored values keep a check when R is absent.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from calcinosis.errors import PoolingError
from calcinosis.stats.pooling import PoolMethod, StudyCount, pool
from calcinosis.stats.sensitivity import hartung_knapp, leave_one_out, subgroup_difference

# R> x <- c(0, 1, 3, 8, 2, 6, 0); n <- c(3, 10, 5, 12, 2, 20, 4)   (test_pooling's dataset A)
REF_X = (0, 1, 3, 8, 2, 6, 0)
REF_N = (3, 10, 5, 12, 2, 20, 4)
# R> res <- rma(measure="PLO", xi=x, ni=n, method="REML", test="knha",
# R+            control=list(threshold=1e-12))    # metafor's default stops at 1e-5
# R> c(res$b, res$se, res$ci.lb, res$ci.ub, res$s2w)
REF_KNHA_REML = (-0.504391809794, 0.519181199921, -1.774782440773, 0.765998821186, 1.071412130099)
# R> res <- rma(measure="PLO", xi=x, ni=n, method="DL", test="knha")
# R> c(res$se, res$ci.lb, res$ci.ub, res$s2w)
REF_KNHA_DL = (0.5190788896, -1.7743468408, 0.7659337324, 1.0727079482)
# R> l <- leave1out(rma(measure="PLO", xi=x, ni=n, method="DL")); l$estimate; l$tau2
REF_L1O_DL_ESTIMATE = (
    -0.3771572910,
    -0.2355108901,
    -0.6898123029,
    -0.8314360339,
    -0.6765477259,
    -0.4464112242,
    -0.3492142150,
)
REF_L1O_DL_TAU2 = (
    0.8271795091,
    0.5818536912,
    0.9610034403,
    0.4842759390,
    0.7193547503,
    1.2678326503,
    0.7690944428,
)
# R> g <- c("a","a","a","b","b","b","b")
# R> fa <- rma(measure="PLO", xi=x[g=="a"], ni=n[g=="a"], method="DL"); fb <- (same, "b")
# R> sub <- rma(yi=c(coef(fa), coef(fb)), sei=c(fa$se, fb$se), method="FE")
# R> c(coef(fa), fa$se, coef(fb), fb$se, sub$QE, sub$QEp)
REF_SUBGROUPS_DL = (-1.0869199569, 0.9261998461, -0.1823680922, 0.6603581379, 0.6323533854)
REF_SUBGROUPS_DL_P = 0.4264933885
# R> x2 <- c(10, 12, 11, 9); n2 <- c(20, 22, 21, 19)    (homogeneous: q < 1)
REF_HOMOGENEOUS = ((10, 12, 11, 9), (20, 22, 21, 19))
# R> res <- rma(measure="PLO", xi=x2, ni=n2, method="DL", test="knha")
# R> c(res$s2w, res$ci.lb, res$ci.ub)
REF_HOMOGENEOUS_KNHA = (0.07768496431, -0.14755909745, 0.24493296647)
# R> res <- rma(measure="PLO", xi=x2, ni=n2, method="DL", test="adhoc"); c(res$ci.lb, res$ci.ub)
REF_HOMOGENEOUS_ADHOC = (-0.6554099115, 0.7527837805)
# R> res <- rma(measure="PLO", xi=x2, ni=n2, method="DL"); c(res$ci.lb, res$ci.ub)
REF_HOMOGENEOUS_Z = (-0.3849431499, 0.4823170189)


def arms(xs: tuple[int, ...] | list[int], ns: tuple[int, ...] | list[int]) -> list[StudyCount]:
    return [StudyCount(f"Study {i + 1}", x, n) for i, (x, n) in enumerate(zip(xs, ns, strict=True))]


def logits(pair: tuple[float, float]) -> tuple[float, float]:
    return float(special.logit(pair[0])), float(special.logit(pair[1]))


def test_hartung_knapp_matches_metafor_knha_reml() -> None:
    res = hartung_knapp(arms(REF_X, REF_N), "reml")
    b, se, low, high, s2w = REF_KNHA_REML
    assert res.logit == pytest.approx(b, abs=1e-10)
    assert res.q == pytest.approx(s2w, rel=1e-10)
    assert not res.truncated  # q > 1: the ad hoc correction changes nothing
    assert res.untruncated_se == pytest.approx(se, rel=1e-10)
    assert res.logit_se == res.untruncated_se
    assert logits(res.ci) == pytest.approx((low, high), abs=1e-10)
    assert res.df == 6
    assert res.t == pytest.approx(2.446911851, rel=1e-9)  # R> qt(0.975, 6)


def test_hartung_knapp_matches_metafor_knha_dl() -> None:
    res = hartung_knapp(arms(REF_X, REF_N), "dl")
    se, low, high, s2w = REF_KNHA_DL
    assert res.q == pytest.approx(s2w, rel=1e-8)
    assert res.logit_se == pytest.approx(se, rel=1e-8)
    assert logits(res.untruncated_ci) == pytest.approx((low, high), abs=1e-8)


def test_hartung_knapp_truncation_is_metafor_adhoc() -> None:
    """q < 1: plain HKSJ is narrower than the z interval; the ad hoc max(1, q) is not."""
    xs, ns = REF_HOMOGENEOUS
    res = hartung_knapp(arms(xs, ns), "dl")
    s2w, low, high = REF_HOMOGENEOUS_KNHA
    assert res.q == pytest.approx(s2w, rel=1e-8)
    assert res.truncated
    assert logits(res.untruncated_ci) == pytest.approx((low, high), abs=1e-8)
    assert logits(res.ci) == pytest.approx(REF_HOMOGENEOUS_ADHOC, abs=1e-8)
    z = pool(arms(xs, ns), "dl")
    assert logits(z.ci) == pytest.approx(REF_HOMOGENEOUS_Z, abs=1e-8)
    assert res.untruncated_ci[0] > z.ci[0]  # narrower than the z interval ...
    assert res.ci[0] < z.ci[0] < z.ci[1] < res.ci[1]  # ... the corrected one is wider


def test_leave_one_out_matches_metafor_leave1out() -> None:
    refits = leave_one_out(arms(REF_X, REF_N), "dl")
    assert [r.omitted.label for r in refits] == [f"Study {i}" for i in range(1, 8)]
    assert [r.result.k for r in refits] == [6] * 7
    assert [r.result.logit for r in refits] == pytest.approx(REF_L1O_DL_ESTIMATE, abs=1e-9)
    assert [r.result.tau2 for r in refits] == pytest.approx(REF_L1O_DL_TAU2, rel=1e-8)


def test_subgroup_difference_matches_metafor() -> None:
    a = pool(arms(REF_X[:3], REF_N[:3]), "dl")
    b = pool(arms(REF_X[3:], REF_N[3:]), "dl")
    ba, sa, bb, sb, qe = REF_SUBGROUPS_DL
    assert (a.logit, a.logit_se, b.logit, b.logit_se) == pytest.approx((ba, sa, bb, sb), abs=1e-9)
    test = subgroup_difference({"a": a, "b": b})
    assert test is not None
    assert test.q == pytest.approx(qe, rel=1e-8)
    assert test.p == pytest.approx(REF_SUBGROUPS_DL_P, rel=1e-8)
    assert (test.df, test.groups) == (1, ("a", "b"))


def test_subgroup_difference_by_hand() -> None:
    """Q = sum w (mu - mu_bar)^2 with w = 1/se^2; a single study enters as its own logit."""
    one = pool(arms([3], [12]))
    two = pool(arms([9, 7], [14, 10]), "reml")
    test = subgroup_difference({"one": one, "two": two})
    assert test is not None
    w = [1 / one.logit_se**2, 1 / two.logit_se**2]
    mean = (w[0] * one.logit + w[1] * two.logit) / sum(w)
    q = w[0] * (one.logit - mean) ** 2 + w[1] * (two.logit - mean) ** 2
    assert test.q == pytest.approx(q, rel=1e-12)
    assert test.p == pytest.approx(math.erfc(math.sqrt(q / 2)), rel=1e-9)  # chi^2 with 1 df
    assert one.logit == pytest.approx(math.log(3 / 9))


def test_refusals() -> None:
    with pytest.raises(PoolingError, match="inverse-variance methods"):
        hartung_knapp(arms(REF_X, REF_N), "glmm")
    with pytest.raises(PoolingError, match="at least 2"):
        hartung_knapp(arms([1], [3]), "dl")
    with pytest.raises(PoolingError, match="at least 2"):
        leave_one_out(arms([1], [3]))
    assert subgroup_difference({"only": pool(arms([1, 2], [3, 4]))}) is None


def test_leave_one_out_of_two_studies_reports_each_alone() -> None:
    refits = leave_one_out(arms([1, 5], [4, 6]), "reml")
    assert [r.result.method for r in refits] == ["single", "single"]
    assert [(r.result.x, r.result.n) for r in refits] == [(5, 6), (1, 4)]


@st.composite
def study_lists(draw: st.DrawFn, min_size: int = 2) -> list[StudyCount]:
    ns = draw(st.lists(st.integers(1, 100), min_size=min_size, max_size=10))
    xs = [draw(st.sampled_from([0, n, draw(st.integers(0, n))])) for n in ns]
    return arms(xs, ns)


FAST = settings(max_examples=40, deadline=None)


@FAST
@given(study_lists(), st.sampled_from(["dl", "reml", "pm"]))
def test_the_hartung_knapp_interval_is_never_narrower_than_the_z_interval(
    studies: list[StudyCount], method: PoolMethod
) -> None:
    res = hartung_knapp(studies, method)
    z = pool(studies, method)
    assert res.ci[0] <= z.ci[0] + 1e-12
    assert res.ci[1] >= z.ci[1] - 1e-12
    assert res.logit_se >= res.untruncated_se - 1e-15
    assert res.truncated == (res.logit_se > res.untruncated_se * (1 + 1e-12))


@FAST
@given(study_lists(), st.sampled_from(["glmm", "dl", "reml", "pm"]))
def test_leave_one_out_leaves_out_each_study_once(
    studies: list[StudyCount], method: PoolMethod
) -> None:
    refits = leave_one_out(studies, method)
    assert [r.omitted for r in refits] == studies
    for refit in refits:
        assert refit.omitted not in refit.result.studies or studies.count(refit.omitted) > 1
        assert refit.result.k == len(studies) - 1


@FAST
@given(study_lists(min_size=1), study_lists(min_size=1))
def test_the_subgroup_test_is_symmetric_and_zero_for_equal_groups(
    a: list[StudyCount], b: list[StudyCount]
) -> None:
    fa, fb = pool(a, "dl"), pool(b, "dl")
    one = subgroup_difference({"a": fa, "b": fb})
    other = subgroup_difference({"b": fb, "a": fa})
    assert one is not None and other is not None
    assert one.q == pytest.approx(other.q, rel=1e-9, abs=1e-12)
    assert 0 <= one.p <= 1
    same = subgroup_difference({"a": fa, "a again": fa})
    assert same is not None
    assert same.q == pytest.approx(0, abs=1e-12)
    assert same.p == pytest.approx(1)
