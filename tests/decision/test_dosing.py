"""Doses worked out for one patient, against figures worked out by hand."""

from __future__ import annotations

import math

import pytest

from calcinosis.decision.dosing import body_surface_area, worked_dose
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.errors import ProfileError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.schemas import DoseRate

DILTIAZEM = DoseRate(low=2, high=4, unit="mg", per="kg", interval="per day")
PAMIDRONATE = DoseRate(low=1, unit="mg", per="kg", interval="per day, every 3 months")
RITUXIMAB_SSC = DoseRate(low=375, unit="mg", per="m2", interval="at weeks 0, 1, 2 and 3")
RITUXIMAB_DM = DoseRate(low=0.575, high=1, unit="g", per="m2", interval="at weeks 0 and 1")


@pytest.mark.parametrize(
    ("dose", "weight", "height", "amount", "arithmetic"),
    [
        # 2 x 62 = 124; 4 x 62 = 248
        (
            DILTIAZEM,
            62,
            None,
            "124 to 248 mg per day",
            "2 mg/kg × 62 kg = 124 mg; 4 mg/kg × 62 kg = 248 mg",
        ),
        # a child of 27.5 kg: 2 x 27.5 = 55; 4 x 27.5 = 110
        (
            DILTIAZEM,
            27.5,
            None,
            "55 to 110 mg per day",
            "2 mg/kg × 27.5 kg = 55 mg; 4 mg/kg × 27.5 kg = 110 mg",
        ),
        # 1 x 23 = 23
        (PAMIDRONATE, 23, None, "23 mg per day, every 3 months", "1 mg/kg × 23 kg = 23 mg"),
        # under 10 mg the decimals stay: 1 x 8.4 = 8.4
        (PAMIDRONATE, 8.4, None, "8.4 mg per day, every 3 months", "1 mg/kg × 8.4 kg = 8.4 mg"),
        # BSA = sqrt(170 x 68 / 3600) = sqrt(3.2111) = 1.792 -> 1.79 m2; 375 x 1.79 = 671.25
        (RITUXIMAB_SSC, 68, 170, "671 mg at weeks 0, 1, 2 and 3", "375 mg/m² × 1.79 m² = 671 mg"),
        # 0.575 x 1.79 = 1.029 -> 1.03 g; 1 x 1.79 = 1.79 g
        (RITUXIMAB_DM, 68, 170, "1.03 to 1.79 g at weeks 0 and 1", "1 g/m² × 1.79 m² = 1.79 g"),
    ],
)
def test_worked_doses_match_the_hand_worked_figures(
    dose: DoseRate, weight: float, height: float | None, amount: str, arithmetic: str
) -> None:
    worked = worked_dose(dose, weight, height)
    assert worked.needs is None
    assert worked.amount == amount
    assert arithmetic in worked.arithmetic


def test_body_surface_area_is_mosteller() -> None:
    assert body_surface_area(68, 170) == 1.79
    assert body_surface_area(24, 122) == round(math.sqrt(122 * 24 / 3600), 2) == 0.9
    assert "√(170 cm × 68 kg / 3600) = 1.79 m²" in worked_dose(RITUXIMAB_SSC, 68, 170).arithmetic


def test_what_is_missing_is_said_not_guessed() -> None:
    assert worked_dose(DILTIAZEM, None, None).needs == "weight"
    assert worked_dose(RITUXIMAB_SSC, 68, None).needs == "weight and height"
    assert worked_dose(RITUXIMAB_SSC, 68, None).amount is None


def test_no_maximum_the_sources_do_not_give() -> None:
    """A series' "up to 480 mg per day" is not a cap: 2-4 mg/kg of 150 kg is 300-600."""
    worked = worked_dose(DILTIAZEM, 150, None)
    assert (worked.low, worked.high) == (300, 600)
    assert "max" not in " ".join(str(v) for v in worked.model_dump().values()).lower()


def _regimens(kb: KnowledgeBase, profile: dict[str, object], treatment: str) -> list[dict]:
    plan = recommend_document(parse_patient(profile, kb.therapy_ids()), kb).model_dump()
    option = next(o for o in plan["options"] if o["id"] == treatment)
    return option["regimens"]


def test_a_child_gets_the_per_kg_dose_first_and_the_adult_dose_last(kb: KnowledgeBase) -> None:
    child = {
        "age_years": 7,
        "subtype": "dystrophic",
        "underlying_disease": "juvenile-dermatomyositis",
        "symptomatic": True,
        "lesions": {"distribution": "widespread"},
        "weight_kg": 24,
    }
    regimens = _regimens(kb, child, "diltiazem")
    assert regimens[0]["text"] == "2 to 4 mg/kg per day" and regimens[0]["group"] == "starting"
    assert regimens[0]["for_weight"]["amount"] == "48 to 96 mg per day"  # 2 x 24, 4 x 24
    adult = [r for r in regimens if r["text"] == "240 mg per day"]
    assert adult[0]["group"] == "other-age-group" and regimens.index(adult[0]) > 0


def test_an_adult_gets_the_adult_starting_dose_then_per_kg_then_the_studies(
    kb: KnowledgeBase,
) -> None:
    adult = {
        "age_years": 58,
        "subtype": "dystrophic",
        "underlying_disease": "systemic-sclerosis",
        "symptomatic": True,
        "lesions": {"distribution": "widespread"},
        "weight_kg": 70,
        "height_cm": 165,
    }
    regimens = _regimens(kb, adult, "diltiazem")
    assert [r["group"] for r in regimens[:2]] == ["starting", "starting"]
    assert regimens[0]["text"] == "240 mg per day"
    assert regimens[1]["for_weight"]["amount"] == "140 to 280 mg per day"  # 2 x 70, 4 x 70
    assert {r["group"] for r in regimens[2:]} == {"reported"}
    rituximab = _regimens(kb, adult, "rituximab")
    giuggioli = next(r for r in rituximab if r["text"].startswith("375 mg/m2"))
    # BSA sqrt(165 x 70 / 3600) = sqrt(3.2083) = 1.791 -> 1.79 m2; 375 x 1.79 = 671.25
    assert giuggioli["for_weight"]["amount"] == "671 mg at weeks 0, 1, 2 and 3"
    assert giuggioli["group"] == "reported"


@pytest.mark.parametrize(
    ("field", "value"), [("weight_kg", 0), ("weight_kg", 401), ("height_cm", 5)]
)
def test_weight_and_height_are_validated(kb: KnowledgeBase, field: str, value: float) -> None:
    with pytest.raises(ProfileError) as raised:
        parse_patient({"age_years": 40, "subtype": "idiopathic", field: value}, kb.therapy_ids())
    assert raised.value.field == field
