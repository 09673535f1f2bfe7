"""Tables 1-4 rebuilt from the arms."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from calcinosis.errors import UnknownChoiceError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.tables import percent, render, round_down, round_half_up, table_rows


def test_rounding_helpers() -> None:
    assert round_half_up(percent(2, 3)) == Decimal(67)
    assert round_down(percent(2, 3)) == Decimal(66)
    assert round_half_up(percent(5, 8)) == Decimal(63)  # 62.5 rounds up
    assert round_half_up(Fraction(1, 8) * 100, 1) == Decimal("12.5")
    assert round_half_up(percent(9, 14), 1) == Decimal("64.3")


def json_rows(kb: KnowledgeBase, number: int) -> list[dict[str, Any]]:
    """The rows of a table as its JSON (``evidence table N --format json``)."""
    return [row.model_dump() for row in table_rows(kb, number)]


def test_tables_1_to_3_have_the_review_rows(kb: KnowledgeBase) -> None:
    # Table 1: 6 warfarin + 3 diltiazem rows; Table 2: 8 rituximab rows; Table 3: 6 + 7
    assert [len(json_rows(kb, n)) for n in (1, 2, 3)] == [9, 8, 13]
    table1 = json_rows(kb, 1)
    assert [row["section"] for row in table1].count("Warfarin") == 6
    cukierman = table1[2]
    assert cukierman["label"] == "Cukierman, 2004"
    assert cukierman["partial_printed"] == "2 (66%)"
    assert cukierman["any_computed"] == "2/3 (66.7%)"
    table3 = json_rows(kb, 3)
    assert [row["section"] for row in table3[:6]] == ["Bisphosphonates"] * 6
    assert table3[-1]["unit"] == "digits"


def test_table_4_recomputes_patients_and_ranges(kb: KnowledgeBase) -> None:
    rows = {row["id"]: row for row in json_rows(kb, 4)}
    assert len(rows) == 15
    warfarin = rows["warfarin"]
    # Fredi DM 2 + Berger child DM/SSc 1 + DM 2; SSc Berger 2 + Lassoued 1 + Cukierman 3
    assert warfarin["patients"] == {"DM": 5, "SSc": 6, "unspecified": 3}
    assert warfarin["patients_reported"] == "6/10 (NA=3)"
    assert warfarin["response_range"]["computed"] == [0.0, 66.7]
    assert warfarin["response_range"]["reported"] == "0-66%"
    assert warfarin["level"] == "1b" and warfarin["grade"] == "B"
    cyclo = rows["cyclophosphamide"]
    assert cyclo["response_range"]["computed"] == [64.3, 64.3]  # 9/14, not 69%
    assert cyclo["response_range"]["complete_only"] == ["moraitis-2013-cyclophosphamide"]
    surgery = rows["surgery"]
    assert surgery["patients"] == {"DM": 0, "SSc": 10, "unspecified": 28}  # 10 patients
    assert surgery["response_range"]["computed"] == [80.0, 96.4]
    rituximab = rows["rituximab"]
    assert rituximab["patients"] == {"DM": 41, "SSc": 18, "unspecified": 0}
    assert rituximab["level"] is None  # Table 4 prints no level for rituximab
    assert rows["infliximab"]["patients_unknown"] == ["boulter-2011-infliximab"]
    assert rows["acetic-acid-iontophoresis"]["parent"] == "surgery"


def test_table_4_has_the_contract_fields(kb: KnowledgeBase) -> None:
    for row in json_rows(kb, 4):
        assert set(row["patients"]) == {"DM", "SSc", "unspecified"}
        assert set(row["response_range"]) >= {"computed", "reported"}
        for key in ("label", "treatments", "level", "grade", "comment"):
            assert key in row


def test_unknown_table_names_the_choices(kb: KnowledgeBase) -> None:
    with pytest.raises(UnknownChoiceError, match="unknown table 7; valid choices: 1, 2, 3, 4"):
        table_rows(kb, 7)


def test_render_csv_and_markdown(kb: KnowledgeBase) -> None:
    rows = json_rows(kb, 4)
    parsed = list(csv.DictReader(io.StringIO(render(rows, 4, "csv"))))
    assert len(parsed) == 15
    assert parsed[0]["patients.DM"] == "5"
    markdown = render(rows, 4, "markdown").splitlines()
    assert markdown[0].startswith("|") and set(markdown[1]) <= set("|-: ")
    assert len(markdown) == 2 + 15
