"""The audit finds what the review gets wrong, and only that."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calcinosis.evidence.audit import CHECKS, audit, classify_percent, disease_cell_discrepancy
from calcinosis.evidence.knowledge_base import KnowledgeBase


@pytest.fixture(scope="module")
def found(kb: KnowledgeBase) -> dict[str, dict[str, object]]:
    return {item.id: item.document().model_dump() for item in audit(kb)}


def test_classify_percent() -> None:
    assert classify_percent(Decimal(67), 2, 3) == "ok"
    assert classify_percent(Decimal(66), 2, 3) == "truncated"
    assert classify_percent(Decimal(88), 8, 9) == "truncated"
    assert classify_percent(Decimal(69), 9, 14) == "mismatch"
    assert classify_percent(Decimal("62.5"), 5, 8) == "ok"
    assert classify_percent(Decimal(25), 3, 12) == "ok"


def test_cyclophosphamide_64_vs_69(found: dict[str, dict[str, object]]) -> None:
    item = found["table4-range-cyclophosphamide"]
    assert item["severity"] == "error"
    assert item["published"]["value"] == "69%"  # type: ignore[index]
    assert "64.3" in item["found"]["value"]  # type: ignore[index]


def test_truncated_percentages(found: dict[str, dict[str, object]]) -> None:
    assert found["percent-cukierman-2004-warfarin-partial"]["severity"] == "rounding"
    assert found["table4-range-warfarin"]["severity"] == "rounding"  # 2/3 as 66%
    assert found["table4-range-minocycline"]["severity"] == "rounding"  # 8/9 as 88%
    assert found["table4-range-ivig"]["severity"] == "rounding"  # 5/8 as 62%
    assert "percent-tayfur-2015-pamidronate-partial" in found
    assert "percent-saini-2016-alendronate-partial" in found
    assert "percent-aggarwal-2017-rituximab-child-complete" in found  # 1/22 as 4%


def test_warfarin_patient_counts(found: dict[str, dict[str, object]]) -> None:
    versus_text = found["table4-vs-text-warfarin"]
    assert "swapped" in str(versus_text["explanation"])
    assert found["totals-warfarin"]["published"]["value"].startswith("DM 10, SSc 6")  # type: ignore[index]
    assert found["disease-cell-cukierman-2004-warfarin"]["published"]["value"] == "DM (5) SSc (3)"  # type: ignore[index]


def test_a_disease_cell_is_checked_against_the_arms_n(kb: KnowledgeBase) -> None:
    """Table 1 prints "DM (5) SSc (3)" for Cukierman 2004: 5 + 3 = 8 patients, against
    responses out of 3 (2, 66%). The same row printed "SSc (3)" would be no finding, and
    a row that prints no disease count is none either."""
    arm = next(a for a in kb.arms if a.id == "cukierman-2004-warfarin")
    assert arm.printed is not None and arm.n == 3
    found = disease_cell_discrepancy(kb, arm)
    assert found is not None
    assert found.explanation.startswith("The disease cell lists 8 patients;")
    assert found.published.location == "Table 1, Warfarin, Adults, row 3"
    consistent = arm.model_copy(
        update={"printed": arm.printed.model_copy(update={"disease": "SSc (3)"})}
    )
    assert disease_cell_discrepancy(kb, consistent) is None
    uncounted = arm.model_copy(
        update={"printed": arm.printed.model_copy(update={"disease": "SSc"})}
    )
    assert disease_cell_discrepancy(kb, uncounted) is None


def test_aggarwal_year_and_giuggioli_design(found: dict[str, dict[str, object]]) -> None:
    assert found["label-year-aggarwal-2017"]["published"]["value"] == "Aggarwal, 2016"  # type: ignore[index]
    assert found["label-year-aggarwal-2017"]["found"]["value"] == "2017"  # type: ignore[index]
    assert "label-year-marco-puche-2010" in found
    design = found["design-giuggioli-2015-overall"]
    assert design["published"]["value"] == "retrospective (reference 33)"  # type: ignore[index]
    assert design["found"]["value"] == "prospective"  # type: ignore[index]


def test_balin_counts_differ_between_review_and_management_topic(
    found: dict[str, dict[str, object]],
) -> None:
    cross = {key: item for key, item in found.items() if item["check"] == "cross-source"}
    subjects = {item["subject"] for item in cross.values()}
    assert {"balin-2012-diltiazem", "balin-2012-colchicine", "balin-2012-minocycline"} <= subjects
    for item in cross.values():
        assert item["found"]["source"] == "management-topic"  # type: ignore[index]


def test_totals(found: dict[str, dict[str, object]]) -> None:
    overall = found["totals-overall"]
    assert "patients 288" in overall["published"]["value"]  # type: ignore[index]
    assert "studies 30" in overall["found"]["value"]  # type: ignore[index]
    assert "totals-surgery-and-physical-therapies" in found
    assert "finding-colchicine-dose-unit" in found


def test_every_item_has_both_values_and_both_locations(kb: KnowledgeBase) -> None:
    items = audit(kb)
    assert len({item.id for item in items}) == len(items)
    for item in items:
        assert item.check in CHECKS
        for place in (item.published, item.found):
            assert place.value and place.source and place.location


def test_correct_figures_are_not_flagged(found: dict[str, dict[str, object]]) -> None:
    # Balin 9/14 (64%), Vayssairat 3/12 (25 %), Galimberti colchicine 3/7 43% are right
    assert "percent-balin-2012-diltiazem-partial" not in found
    assert "percent-vayssairat-1998-diltiazem-partial" not in found
    assert "table4-range-colchicine" not in found
    assert "table4-range-diltiazem" not in found
