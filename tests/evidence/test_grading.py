"""CEBM 2009 levels and grades, and their disagreements with the review."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcinosis.evidence.grading import (
    LEVELS,
    StudyEvidence,
    grade_for_body,
    level_for_study,
    normalise_level,
)
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.tables import arm_level_rules, table_rows


@pytest.mark.parametrize(
    ("printed", "normalised"),
    [
        ("IB", "1b"),
        ("IIB", "2b"),
        ("IV", "4"),
        ("iv", "4"),
        ("1b-", "1b-"),
        ("V", "5"),
        ("2c", "2c"),
        ("III B", "3b"),
    ],
)
def test_normalise_level(printed: str, normalised: str) -> None:
    assert normalise_level(printed) == normalised


def test_normalise_level_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="not a level of evidence"):
        normalise_level("6")


def test_design_and_quality_give_the_level() -> None:
    assert level_for_study("rct").level == "1b"
    assert level_for_study("rct", primary_outcome=False).level == "2b"
    assert level_for_study("prospective", "good").level == "2b"
    assert level_for_study("retrospective", "fair").level == "2b"
    assert level_for_study("retrospective", "poor").level == "4"
    assert level_for_study("prospective").level == "4"  # unknown quality counts as poor
    assert level_for_study("case-control", "good").level == "3b"
    assert level_for_study("case-series").level == "4"
    assert level_for_study("expert-opinion").level == "5"


def test_minus_for_a_single_result_with_a_wide_interval() -> None:
    # 0/5: Wilson 95% CI 0-43.4%, wider than 40 points -> "1b-"
    assert level_for_study("rct", x=0, n=5).level == "1b-"
    # 2/29: Wilson 95% CI 1.9-22.0%, narrow -> no minus
    assert level_for_study("rct", x=2, n=29).level == "1b"
    # the minus is for levels 1-3; a case series stays 4
    assert level_for_study("retrospective", x=0, n=2).level == "4"


def test_grades_follow_the_best_consistent_level() -> None:
    rct = StudyEvidence("A", "1b", 10, 40)
    cohort = StudyEvidence("B", "2b", 12, 40)
    series = StudyEvidence("C", "4", 3, 10)
    assert grade_for_body([rct]).grade == "A"
    assert grade_for_body([cohort, series]).grade == "B"
    assert grade_for_body([series]).grade == "C"
    assert grade_for_body([StudyEvidence("E", "5", None, None)]).grade == "D"
    assert grade_for_body([]).grade == "D"


def test_inconclusive_evidence_is_set_aside() -> None:
    only_minus = grade_for_body([StudyEvidence("A", "1b-", 0, 5)])
    assert only_minus.grade == "D"
    with_series = grade_for_body([StudyEvidence("A", "1b-", 0, 5), StudyEvidence("B", "4", 1, 3)])
    assert with_series.grade == "C"
    assert "set aside" in with_series.reasons[0]


def test_troublingly_inconsistent_studies_give_d() -> None:
    # 0/12 (Wilson 0-24.2%) and 9/14 (38.8-83.7%) have no point in common
    body = [StudyEvidence("Fredi", "4", 0, 12), StudyEvidence("Balin", "4", 9, 14)]
    result = grade_for_body(body)
    assert result.grade == "D"
    assert "inconsistent" in result.reasons[-1]


def test_complete_only_studies_count_only_when_nothing_else_does() -> None:
    alone = grade_for_body([StudyEvidence("Moraitis", "4", 9, 14, complete_only=True)])
    assert alone.grade == "C"
    mixed = grade_for_body(
        [
            StudyEvidence("Aggarwal", "2b", 2, 29, complete_only=True),
            StudyEvidence("Moazedi", "4", 3, 3),
        ]
    )
    assert mixed.grade == "C"  # the 2b trial reports no overall response


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(LEVELS), st.integers(0, 30), st.integers(1, 30)),
        min_size=1,
        max_size=8,
    )
)
def test_grade_is_never_better_than_the_best_level_allows(
    items: list[tuple[str, int, int]],
) -> None:
    body = [StudyEvidence(str(i), level, min(x, n), n) for i, (level, x, n) in enumerate(items)]
    grade = grade_for_body(body).grade
    best_tier = min(int(level[0]) for level, _, _ in items)
    allowed = {1: "A", 2: "B", 3: "B", 4: "C", 5: "D"}[best_tier]
    assert grade >= allowed  # "A" < "B" < "C" < "D"


def test_the_review_levels_that_the_rules_do_not_give(kb: KnowledgeBase) -> None:
    disagreements = {
        arm.id: (arm.level, arm_level_rules(kb, arm).level)
        for arm in kb.arms
        if arm_level_rules(kb, arm).level != arm.level
    }
    assert disagreements == {
        # Berger 1987: 0/5 in all, Wilson 0-43% -> a single inconclusive result
        "berger-1987-warfarin-adult": ("1b", "1b-"),
        "berger-1987-warfarin-child": ("1b", "1b-"),
        # Aggarwal: calcinosis a secondary outcome -> low-quality RCT
        "aggarwal-2017-rituximab-adult": ("1b", "2b"),
        "aggarwal-2017-rituximab-child": ("1b", "2b"),
        # Shetty 2005: a prospective series of 3, printed IIB
        "shetty-2005-acetic-acid-iontophoresis": ("2b", "4"),
    }


def test_the_review_grades_that_the_rules_do_not_give(kb: KnowledgeBase) -> None:
    rows = {
        row.id: (row.grade, row.grade_rules)
        for row in table_rows(kb, 4)
        if row.grade != row.grade_rules
    }
    assert rows == {
        "warfarin": ("B", "C"),  # the RCT is inconclusive (1b-); the rest is level 4
        "diltiazem": ("C", "D"),  # 0/12 vs 9/14
        "rituximab": ("C", "D"),  # 0/6 vs 9/9
        "sodium-thiosulfate-local": ("C", "D"),  # topical 0/5 vs intralesional 5/5
    }
