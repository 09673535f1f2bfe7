"""The pool document's subgroups, leave-one-out, Hartung-Knapp and whom it is about."""

from __future__ import annotations

import pytest

from calcinosis.errors import PoolingError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.synthesis import pool_document, pool_treatment, subgroup_of, whom
from calcinosis.stats.pooling import pool
from calcinosis.stats.sensitivity import hartung_knapp


def _arm(kb: KnowledgeBase, arm_id: str):  # type: ignore[no-untyped-def]
    return next(arm for arm in kb.arms if arm.id == arm_id)


def test_only_single_disease_arms_enter_the_disease_subgroups(kb: KnowledgeBase) -> None:
    assert subgroup_of(_arm(kb, "vayssairat-1998-diltiazem"), "disease") == ("SSc", "")
    assert subgroup_of(_arm(kb, "fredi-2015-diltiazem"), "disease") == ("DM", "")
    group, reason = subgroup_of(_arm(kb, "balin-2012-diltiazem"), "disease")
    assert group is None and reason == "disease not reported (DM or SSc)"
    group, reason = subgroup_of(_arm(kb, "sultan-bichat-2012-eswt"), "disease")
    assert group is None and reason.startswith("mixes DM and SSc (DM 1, SSc 2)")
    group, reason = subgroup_of(_arm(kb, "berger-1987-warfarin-child"), "disease")
    assert group is None and "DM/SSc overlap" in reason
    assert subgroup_of(_arm(kb, "berger-1987-warfarin-child"), "population") == ("child", "")
    group, reason = subgroup_of(_arm(kb, "galimberti-2015-ivig"), "population")
    assert group is None and reason == "age group not reported"


def test_how_many_arms_each_dimension_leaves_out(kb: KnowledgeBase) -> None:
    """Of the 46 arms: by disease, the mixed and unreported ones; by population, those of
    unreported age. The README gives these numbers."""
    out_disease = [arm for arm in kb.arms if subgroup_of(arm, "disease")[0] is None]
    out_population = [arm for arm in kb.arms if subgroup_of(arm, "population")[0] is None]
    mixed = [arm for arm in out_disease if arm.disease == "DM/SSc"]
    assert (len(kb.arms), len(out_disease), len(mixed), len(out_population)) == (46, 12, 3, 5)


def test_warfarin_by_disease(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "warfarin", by="disease")
    part = document.subgroups
    assert part is not None and part.test is not None
    groups = {g.group: g for g in part.groups}
    assert groups["SSc"].studies == ["Berger 1987", "Lassoued 1988", "Cukierman 2004"]
    assert (groups["SSc"].x, groups["SSc"].n) == (2, 6)  # Berger's adults only
    assert groups["DM"].method == "single" and groups["DM"].about == "2 adults (DM 2)"
    assert [o.arm for o in part.left_out] == [
        "balin-2012-warfarin",
        "berger-1987-warfarin-child",
    ]
    assert part.test.df == 1
    assert 0 < part.test.p < 1
    assert any("2 arms in neither subgroup" in note for note in part.notes)


def test_the_subgroup_test_is_the_q_between_of_the_groups(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "rituximab", "complete", "reml", by="population")
    part = document.subgroups
    assert part is not None and part.test is not None
    logits = [g.logit for g in part.groups if g.logit is not None]
    w = [1 / logit.se**2 for logit in logits]
    mu = [logit.estimate for logit in logits]
    mean = sum(a * b for a, b in zip(w, mu, strict=True)) / sum(w)
    q = sum(a * (b - mean) ** 2 for a, b in zip(w, mu, strict=True))
    assert len(logits) == 2 and part.test.q == pytest.approx(q, abs=1e-5)
    assert [g.about for g in part.groups] == ["18 adults (SSc 9, DM 9)", "32 children (DM 32)"]
    assert part.not_counted[0].arm == "narvaez-2014-rituximab"


def test_no_test_with_one_subgroup(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "diltiazem", by="population")  # adults only
    part = document.subgroups
    assert part is not None and part.test is None
    assert [g.k for g in part.groups] == [3, 0]
    assert part.groups[1].estimate is None
    assert any("no test is possible" in note for note in part.notes)


def test_leave_one_out_and_hartung_knapp_in_the_document(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "diltiazem", method="dl", leave_one_out=True, hartung_knapp=True)
    loo = document.leave_one_out
    assert loo is not None
    assert [r.omitted for r in loo] == ["vayssairat-1998", "balin-2012", "fredi-2015"]
    assert all(r.k == 2 for r in loo)
    result, _, _ = pool_treatment(kb, "diltiazem", method="dl")
    assert result is not None
    expected = hartung_knapp(result.studies, "dl")
    part = document.hartung_knapp
    assert part is not None
    assert part.ci == [round(expected.ci[0], 6), round(expected.ci[1], 6)]
    assert part.df == 2 and part.method == "dl"
    assert part.untruncated.ci == [
        round(expected.untruncated_ci[0], 6),
        round(expected.untruncated_ci[1], 6),
    ]
    without_balin = pool([s for s in result.studies if s.label != "Balin 2012"], "dl")
    assert loo[1].estimate == round(without_balin.estimate, 6)


def test_hartung_knapp_is_refused_for_the_glmm(kb: KnowledgeBase) -> None:
    with pytest.raises(PoolingError, match="inverse-variance methods"):
        pool_document(kb, "diltiazem", hartung_knapp=True)


def test_one_study_has_no_leave_one_out(kb: KnowledgeBase) -> None:
    document = pool_document(
        kb, "microdrilling", method="reml", leave_one_out=True, hartung_knapp=True
    )
    assert document.leave_one_out is None and document.hartung_knapp is None
    published = document.model_dump(exclude_unset=True)  # asked for: null, not missing
    assert published["leave_one_out"] is None and published["hartung_knapp"] is None
    assert "subgroups" not in published
    assert any("need at least two studies" in note for note in document.notes)


def test_the_plain_document_is_unchanged_but_says_whom(kb: KnowledgeBase) -> None:
    document = pool_document(kb, "rituximab")
    published = document.model_dump(exclude_unset=True)
    assert not {"subgroups", "leave_one_out", "hartung_knapp"} & set(published)
    assert document.about == "20 adults (SSc 18, DM 2); 10 children (DM 10)"
    _, units, _ = pool_treatment(kb, "surgical-excision")
    assert whom(kb, units) == "28 adults (disease not reported 28)"
    _, units, _ = pool_treatment(kb, "sodium-thiosulfate-iv")
    assert whom(kb, units) == "7 patients of unreported age (disease not reported 7)"
