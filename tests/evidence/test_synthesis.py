"""Pooling the evidence base: units, left-out arms, classes, the contract."""

from __future__ import annotations

import math

import pytest

from calcinosis.errors import UnknownChoiceError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.synthesis import pool_document, study_units
from calcinosis.stats.pooling import StudyCount, pool


def test_subgroup_rows_are_summed_per_study(kb: KnowledgeBase) -> None:
    units, left_out = study_units(kb, kb.arms_for(["warfarin"]), "any")
    berger = next(unit for unit in units if unit.study == "berger-1987")
    assert (berger.x, berger.n) == (0, 5)  # adult 0/2 + child 0/3
    assert left_out == []
    assert units[0].study == "berger-1987"  # ordered by year


def test_null_counts_are_left_out_and_listed(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "rituximab", "any")
    left = {item.arm for item in document.left_out}
    assert left == {"aggarwal-2017-rituximab-adult", "aggarwal-2017-rituximab-child"}
    assert document.k == 6 and document.n == 3 + 9 + 6 + 2 + 6 + 4
    complete = pool_document(kb, "rituximab", "complete")
    assert {item.arm for item in complete.left_out} == {"narvaez-2014-rituximab"}
    aggarwal = next(a for a in complete.arms if a.study == "aggarwal-2017")
    assert (aggarwal.x, aggarwal.n) == (2, 29)


def test_class_pooling(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "bisphosphonates")
    tayfur = next(a for a in document.arms if a.study == "tayfur-2015")
    assert (tayfur.x, tayfur.n) == (
        3,
        6,
    )  # pamidronate 2/3 + risedronate 1/1 + alendronate 0/2
    assert document.k == 4 and document.x == 11 and document.n == 17
    assert sorted(document.treatments) == [
        "alendronate",
        "etidronate",
        "pamidronate",
        "risedronate",
    ]


def test_one_arm_is_not_pooled(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "abatacept")
    assert document.pooled is False and document.k == 1
    assert document.estimate == 1.0
    assert document.tau2 is None and document.prediction_interval is None


def test_nothing_to_pool(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "cyclophosphamide", "any")
    assert document.k == 0 and document.estimate is None
    assert document.left_out[0].arm == "moraitis-2013-cyclophosphamide"
    published = document.model_dump(exclude_unset=True)
    assert "converged" not in published and published["ci"] is None  # as the API gives it


def test_document_matches_a_direct_fit(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "diltiazem", method="dl")
    direct = pool(
        [StudyCount("a", 3, 12), StudyCount("b", 9, 14), StudyCount("c", 0, 12)], method="dl"
    )
    assert document.estimate is not None and document.tau2 is not None
    assert math.isclose(document.estimate, direct.estimate, abs_tol=1e-6)
    assert math.isclose(document.tau2, direct.tau2 or 0.0, abs_tol=1e-6)
    published = document.model_dump(exclude_unset=True)
    for key in (
        "treatment",
        "outcome",
        "method",
        "k",
        "n",
        "estimate",
        "ci",
        "logit",
        "tau2",
        "i2",
        "prediction_interval",
        "arms",
    ):
        assert key in published
    assert set(published["logit"]) == {"estimate", "se"}
    for arm in published["arms"]:
        assert set(arm) >= {"study", "x", "n"}


@pytest.mark.parametrize("method", ["glmm", "dl", "reml", "pm"])
def test_every_treatment_with_arms_pools_with_every_method(kb: KnowledgeBase, method: str) -> None:
    for name in kb.pool_choices():
        for outcome in ("any", "complete"):
            document = pool_document(kb, name, outcome, method)  # type: ignore[arg-type]
            if document.estimate is not None:
                assert document.ci is not None
                low, high = document.ci
                assert 0 <= low <= document.estimate <= high <= 1, (name, outcome)


def test_unknown_treatment(kb: KnowledgeBase) -> None:
    with pytest.raises(UnknownChoiceError, match="unknown treatment 'aspirin'"):
        pool_document(kb, "aspirin")


def test_the_method_said_is_the_method_used_when_the_glmm_cannot_be_fitted(
    kb: KnowledgeBase,
) -> None:
    # the sodium thiosulfate class: arms 0/3, 0/5, 5/5, 3/3, 0/4 (every study at 0% or
    # 100%), where the binomial-normal likelihood has no finite maximum
    document = pool_document(kb, "sodium-thiosulfate")
    assert {(a.x, a.n) for a in document.arms} >= {(0, 5), (5, 5), (3, 3)}
    assert all(a.x in (0, a.n) for a in document.arms) and document.pooled
    assert document.method == "dl"
    assert any("DerSimonian-Laird" in note for note in document.notes)
    mixed = pool_document(kb, "diltiazem")  # 3/12, 9/14, 0/12: the GLMM fits
    assert mixed.method == "glmm"
    assert not any("DerSimonian-Laird" in note for note in mixed.notes)
