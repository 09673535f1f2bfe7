"""The statistics against R's metafor 3.8, run live (``tests/metafor_live.py``).

Every dataset the knowledge base can pool (each treatment and class, each outcome, with
two studies or more) and datasets that hypothesis generates are sent to one R process;
``tests/r/metafor_server.R`` holds the exact R calls. Compared:

* DerSimonian-Laird, REML and Paule-Mandel (``rma(method = ...)``): the pooled logit, its
  SE, the CI, tau^2, I^2 and the prediction interval (``predict``);
* Hartung-Knapp (``test = "knha"``, and ``test = "adhoc"`` for the ad hoc correction);
* leave-one-out (``leave1out``);
* the test for subgroup differences (``rma(estimates, sei = se, method = "FE")$QE``
  over the subgroup fits) by disease and by population, for every method;
* the binomial-normal GLMM (``rma.glmm``, lme4), where lme4's adaptive quadrature (7
  nodes by default, 25 at most) is the difference: with 25 nodes metafor agrees with our
  exact ML fit wherever tau^2 is moderate, and with more nodes it moves towards it.

They skip with one line when Rscript is missing, unless ``CI`` is set (then they fail).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import special, stats

from calcinosis.evidence.knowledge_base import OUTCOMES, KnowledgeBase, load_knowledge
from calcinosis.evidence.synthesis import (
    DIMENSIONS,
    Dimension,
    study_units,
    subgroup_document,
    subgroup_of,
)
from calcinosis.stats.pooling import PoolMethod, StudyCount, pool
from calcinosis.stats.sensitivity import hartung_knapp, leave_one_out, subgroup_difference
from metafor_live import Metafor, RError, start

pytestmark = pytest.mark.metafor

IV: tuple[PoolMethod, ...] = ("dl", "reml", "pm")
EXACT = {"abs": 1e-8, "rel": 1e-8}  # closed forms and tightly converged iterations
GLMM_NODES = "25"  # lme4's most


@pytest.fixture(scope="module")
def metafor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metafor]:
    r = start(tmp_path_factory.mktemp("metafor") / "R.log")
    yield r
    r.close()


class Case(NamedTuple):
    """A pooling the knowledge base can do: its treatment or class, outcome and counts."""

    name: str
    outcome: str
    xs: tuple[int, ...]
    ns: tuple[int, ...]


def _datasets() -> list[Case]:
    """Every pooling of two studies or more, once per dataset (a class with one member
    studied, e.g. vitamin-k-antagonists, is its treatment's dataset again)."""
    kb = load_knowledge()
    found: dict[tuple[tuple[int, ...], tuple[int, ...]], Case] = {}
    for name in kb.pool_choices():
        for outcome in OUTCOMES:
            units, _ = study_units(kb, kb.arms_for(kb.resolve(name)), outcome)
            if len(units) >= 2:
                data = (tuple(u.x for u in units), tuple(u.n for u in units))
                found.setdefault(data, Case(name, outcome, *data))
    return list(found.values())


REAL = _datasets()
REAL_IDS = [f"{case.name}-{case.outcome}" for case in REAL]


def _counts(xs: tuple[int, ...] | list[int], ns: tuple[int, ...] | list[int]) -> list[StudyCount]:
    return [StudyCount(f"S{i}", x, n) for i, (x, n) in enumerate(zip(xs, ns, strict=True))]


def _same_interval(
    ours: tuple[float, float] | None, centre: float, half: float, logits: list[float]
) -> None:
    """An interval against metafor's (its bounds on the logit scale): ours as shown
    (proportions) to 1e-10, and its logit bounds ``centre -+ half`` to 1e-8 relative."""
    assert ours is not None
    assert list(ours) == pytest.approx(list(special.expit(logits)), abs=1e-10)
    assert [centre - half, centre + half] == pytest.approx(logits, **EXACT)


def _check_iv(
    metafor: Metafor,
    xs: list[int] | tuple[int, ...],
    ns: list[int] | tuple[int, ...],
    method: PoolMethod,
) -> None:
    studies = _counts(xs, ns)
    ours = pool(studies, method)
    r = metafor.ask("rma", method, xs, ns)
    assert ours.logit == pytest.approx(r["b"][0], **EXACT)
    assert ours.logit_se == pytest.approx(r["se"][0], **EXACT)
    assert ours.tau2 == pytest.approx(r["tau2"][0], abs=1e-8, rel=1e-8)
    assert ours.i2 == pytest.approx(r["I2"][0], abs=1e-7)
    z = stats.norm.ppf(0.975)
    assert ours.tau2 is not None
    _same_interval(ours.ci, ours.logit, z * ours.logit_se, r["ci"])
    if ours.prediction_interval is not None:  # k >= 3 (metafor gives one for any k)
        half = z * math.sqrt(ours.logit_se**2 + ours.tau2)
        _same_interval(ours.prediction_interval, ours.logit, half, r["pi"])

    adjusted = hartung_knapp(studies, method)
    knha = metafor.ask("knha", method, xs, ns)
    assert adjusted.q == pytest.approx(knha["s2w"][0], **EXACT)
    assert adjusted.untruncated_se == pytest.approx(knha["se"][0], **EXACT)
    _same_interval(
        adjusted.untruncated_ci, adjusted.logit, adjusted.t * adjusted.untruncated_se, knha["ci"]
    )
    assert adjusted.logit_se == pytest.approx(knha["adhoc_se"][0], **EXACT)
    _same_interval(adjusted.ci, adjusted.logit, adjusted.t * adjusted.logit_se, knha["adhoc_ci"])
    if abs(adjusted.q - 1) > 1e-9:  # (REML with two studies gives q = 1 to rounding)
        assert adjusted.truncated == (knha["adhoc_se"][0] > knha["se"][0])

    if len(xs) >= 3:  # with two, each refit is one study: we report it unpooled (Wilson)
        refits = leave_one_out(studies, method)
        loo = metafor.ask("l1o", method, xs, ns)
        for i, refit in enumerate(refits):
            assert refit.result.logit == pytest.approx(loo["b"][i], **EXACT)
            assert refit.result.logit_se == pytest.approx(loo["se"][i], **EXACT)
            assert refit.result.tau2 == pytest.approx(loo["tau2"][i], abs=1e-8, rel=1e-8)
            result = refit.result
            _same_interval(
                result.ci, result.logit, z * result.logit_se, [loo["ci_lb"][i], loo["ci_ub"][i]]
            )


# ------------------------------------------------------------------ the knowledge's data
@pytest.mark.parametrize("method", IV)
@pytest.mark.parametrize("case", REAL, ids=REAL_IDS)
def test_inverse_variance_pooling_matches_metafor(
    metafor: Metafor, case: Case, method: PoolMethod
) -> None:
    _check_iv(metafor, case.xs, case.ns, method)


def test_the_knowledge_gives_enough_datasets() -> None:
    names = {case.name for case in REAL}
    assert len(REAL) >= 15
    assert {"diltiazem", "rituximab", "warfarin", "bisphosphonates"} <= names


def _subgroup_data(
    kb: KnowledgeBase, name: str, outcome: str, by: Dimension
) -> tuple[list[int], list[int], list[str]]:
    xs: list[int] = []
    ns: list[int] = []
    groups: list[str] = []
    arms = kb.arms_for(kb.resolve(name))
    for group in ("DM", "SSc") if by == "disease" else ("adult", "child"):
        members = [arm for arm in arms if subgroup_of(arm, by)[0] == group]
        units, _ = study_units(kb, members, outcome)  # type: ignore[arg-type]
        xs += [u.x for u in units]
        ns += [u.n for u in units]
        groups += [group] * len(units)
    return xs, ns, groups


def _subgroup_cases() -> list[tuple[str, str, Dimension]]:
    kb = load_knowledge()
    found: dict[tuple[tuple[int, ...], ...], tuple[str, str, Dimension]] = {}
    for case in REAL:
        for by in DIMENSIONS:
            xs, ns, groups = _subgroup_data(kb, case.name, case.outcome, by)
            if len(set(groups)) == 2:
                key = (tuple(xs), tuple(ns), tuple(g == groups[0] for g in groups))
                found.setdefault(key, (case.name, case.outcome, by))
    return list(found.values())


SUBGROUP_CASES = _subgroup_cases()


@pytest.mark.parametrize("method", [*IV, "glmm"])
@pytest.mark.parametrize("case", SUBGROUP_CASES, ids=["-".join(c) for c in SUBGROUP_CASES])
def test_subgroup_differences_match_metafor(
    metafor: Metafor, kb: KnowledgeBase, case: tuple[str, str, Dimension], method: str
) -> None:
    name, outcome, by = case
    if method == "glmm":
        metafor.need_lme4()
    xs, ns, groups = _subgroup_data(kb, name, outcome, by)
    document = subgroup_document(kb, name, outcome, method, by)  # type: ignore[arg-type]
    r = metafor.ask("subgroups", method, xs, ns, groups)
    ours = [g.logit for g in document.groups if g.k and g.logit is not None]
    test = document.test
    assert test is not None
    assert test.df == 1
    estimates = [logit.estimate for logit in ours]
    ses = [logit.se for logit in ours]
    if method != "glmm":  # the document rounds to 6 decimals
        assert estimates == pytest.approx(r["b"], abs=1e-6)
        assert ses == pytest.approx(r["se"], abs=1e-6)
        assert test.q == pytest.approx(r["QE"][0], abs=1e-6)
        assert test.p == pytest.approx(r["QEp"][0], abs=1e-6)
        return
    for i in range(len(ours)):
        _as_lme4_converges(estimates[i], r["b"][i], r["b7"][i], 1e-4)
        _as_lme4_converges(ses[i], r["se"][i], r["se7"][i], 1e-4)
    _as_lme4_converges(test.q, r["QE"][0], r["QE7"][0], 1e-4)


def test_there_are_subgroup_cases_by_disease_and_by_population() -> None:
    assert {by for _, _, by in SUBGROUP_CASES} == {"disease", "population"}
    assert len(SUBGROUP_CASES) >= 8


# ------------------------------------------------------------------ GLMM (lme4)
STABLE = 1e-4  # lme4 with 7 and with 25 nodes this close: its quadrature has converged


def _as_lme4_converges(ours: float, r25: float, r7: float, tight: float) -> None:
    """Where lme4's answer does not move between 7 and 25 nodes, ours is the same to
    ``tight`` (relative, and absolute near 0); where it moves, 25 nodes is nearer to ours
    than 7 (our fit integrates exactly, ``test_pooling.py``)."""
    if abs(r25 - r7) <= STABLE * max(1.0, abs(r25)):
        assert ours == pytest.approx(r25, rel=tight, abs=tight)
    else:
        assert abs(ours - r25) < abs(ours - r7), (ours, r25, r7)


@pytest.mark.parametrize("case", REAL, ids=REAL_IDS)
def test_glmm_matches_metafor_as_lme4_quadrature_converges(metafor: Metafor, case: Case) -> None:
    metafor.need_lme4()
    xs, ns = case.xs, case.ns
    ours = pool(_counts(xs, ns), "glmm")
    if ours.method == "combined":  # every arm at 0% (or 100%): no ML estimate exists
        with pytest.raises(RError):
            metafor.ask("glmm", GLMM_NODES, xs, ns)
        return
    if ours.method == "dl":  # arms at 0% and 100% only: ML at infinity; DL, said not converged
        assert not ours.converged
        return
    assert ours.tau2 is not None
    try:
        best = metafor.ask("glmm", GLMM_NODES, xs, ns)
    except RError:  # lme4 cannot fit equal proportions (tau^2 = 0 exactly): ours is X / N
        assert ours.tau2 == 0.0
        assert ours.estimate == pytest.approx(sum(xs) / sum(ns), rel=1e-9)
        return
    default = metafor.ask("glmm", "7", xs, ns)
    if ours.tau2 == 0.0:  # the boundary: lme4 stops at tau^2 ~ 1e-7, ours is exactly 0
        assert best["tau2"][0] < 1e-6
        assert ours.logit == pytest.approx(best["b"][0], abs=1e-5)
        if not best["warned"][0]:  # lme4's SE is unreliable where it warns (singular Hessian)
            assert ours.logit_se == pytest.approx(best["se"][0], rel=1e-4)
        return
    _as_lme4_converges(ours.logit, best["b"][0], default["b"][0], 1e-4)
    _as_lme4_converges(ours.logit_se, best["se"][0], default["se"][0], 1e-3)
    _as_lme4_converges(ours.tau2, best["tau2"][0], default["tau2"][0], 1e-3)


def test_glmm_leave_one_out_matches_metafor(metafor: Metafor) -> None:
    """rituximab's complete responses (6 studies, tau^2 ~ 7): each study left out."""
    metafor.need_lme4()
    case = next(case for case in REAL if (case.name, case.outcome) == ("rituximab", "complete"))
    xs, ns = case.xs, case.ns
    refits = leave_one_out(_counts(xs, ns), "glmm")
    r = metafor.ask("glmm_l1o", "glmm", xs, ns)
    for i, refit in enumerate(refits):
        _as_lme4_converges(refit.result.logit, r["b"][i], r["b7"][i], 1e-4)
        _as_lme4_converges(refit.result.logit_se, r["se"][i], r["se7"][i], 1e-3)


# ------------------------------------------------------------------ generated datasets
@st.composite
def datasets(draw: st.DrawFn, min_size: int = 2) -> tuple[list[int], list[int]]:
    ns = draw(st.lists(st.integers(1, 80), min_size=min_size, max_size=12))
    xs = [draw(st.integers(0, n)) for n in ns]
    xs = [draw(st.sampled_from([x, x, 0, n])) for x, n in zip(xs, ns, strict=True)]
    return xs, ns


LIVE = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@LIVE
@given(data=datasets(), method=st.sampled_from(IV))
def test_generated_datasets_match_metafor(
    metafor: Metafor, data: tuple[list[int], list[int]], method: PoolMethod
) -> None:
    xs, ns = data
    ours = pool(_counts(xs, ns), method)
    assume(ours.converged)  # REML's Fisher scoring can fail on extreme data (rare)
    try:
        _check_iv(metafor, xs, ns, method)
    except RError:  # metafor refuses (e.g. REML did not converge): nothing to compare
        assume(False)


@LIVE
@given(
    data=datasets(min_size=3),
    labels=st.lists(st.sampled_from("AB"), min_size=12, max_size=12),
    method=st.sampled_from(IV),
)
def test_generated_subgroup_tests_match_metafor(
    metafor: Metafor, data: tuple[list[int], list[int]], labels: list[str], method: PoolMethod
) -> None:
    xs, ns = data
    groups = labels[: len(xs)]
    assume(len(set(groups)) == 2)
    order = sorted(range(len(xs)), key=lambda i: groups[i])  # R fits the groups as they come
    xs, ns, groups = [xs[i] for i in order], [ns[i] for i in order], [groups[i] for i in order]
    fits = {
        g: pool(
            _counts(
                [x for x, h in zip(xs, groups, strict=True) if h == g],
                [n for n, h in zip(ns, groups, strict=True) if h == g],
            ),
            method,
        )
        for g in ("A", "B")
    }
    assume(all(fit.converged for fit in fits.values()))
    test = subgroup_difference(fits)
    assert test is not None
    try:
        r = metafor.ask("subgroups", method, xs, ns, groups)
    except RError:
        assume(False)
        return
    assert [fits["A"].logit, fits["B"].logit] == pytest.approx(r["b"], **EXACT)
    assert test.q == pytest.approx(r["QE"][0], abs=1e-8, rel=1e-8)
    assert test.p == pytest.approx(r["QEp"][0], abs=1e-9)
    assert math.isfinite(test.q)


def test_the_r_calls_are_kept_with_the_tests() -> None:
    """The exact R beside the expected values (STYLE 6): the server script names them."""
    script = (Path(__file__).parents[1] / "r" / "metafor_server.R").read_text(encoding="utf-8")
    for call in ('escalc(measure = "PLO"', "leave1out(", 'method = "FE"', "rma.glmm(", '"adhoc"'):
        assert call in script
