"""The reference panel: valid patients that cover every subtype, children and adults,
and every safety rule, so that the diff shows whom a change of the evidence touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import CONDITIONS, RESPONSES, SUBTYPES
from calcinosis.decision.safety import findings_for
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.living.panel import Profile, load_panel, panel_path


@pytest.fixture(scope="module")
def panel(kb: KnowledgeBase) -> tuple[Profile, ...]:
    return load_panel(panel_path(), kb.therapy_ids())


def test_at_least_thirty_valid_profiles_of_every_subtype_and_age(
    panel: tuple[Profile, ...],
) -> None:
    assert len(panel) >= 30
    assert {p.patient.subtype for p in panel} == set(SUBTYPES)
    ages = [p.patient.age_years for p in panel]
    assert sum(age < 18 for age in ages) >= 6 and sum(age >= 18 for age in ages) >= 20
    assert min(ages) < 1 and max(ages) >= 80
    diseases = {p.patient.underlying_disease for p in panel}
    assert diseases >= {
        "systemic-sclerosis",
        "dermatomyositis",
        "juvenile-dermatomyositis",
        "systemic-lupus-erythematosus",
        "mixed-connective-tissue-disease",
        "none",
        "unknown",
    }
    assert {c for p in panel for c in p.patient.conditions} == set(CONDITIONS)
    responses = {prior.response for p in panel for prior in p.patient.prior_treatments}
    assert responses == set(RESPONSES)
    assert any(not p.patient.local_therapy_accessible for p in panel)
    assert any(p.patient.other_conditions for p in panel)
    assert all(p.description[0].isdigit() for p in panel)  # "58-year-old ..."


def test_every_safety_rule_fires_in_some_plan(
    kb: KnowledgeBase, panel: tuple[Profile, ...]
) -> None:
    rules = {rule.rule for entry in kb.treatments.values() for rule in entry.contraindications}
    fired: set[str] = set()
    for profile in panel:
        plan = recommend_document(profile.patient, kb).model_dump()
        for option in plan["options"]:
            found = findings_for(kb, profile.patient, option["id"])
            fired |= {finding.rule.rule for finding in found}
    assert fired == rules


def test_every_plan_offers_something(kb: KnowledgeBase, panel: tuple[Profile, ...]) -> None:
    for profile in panel:
        plan = recommend_document(profile.patient, kb).model_dump()
        assert any(o["stance"] != "avoid" for o in plan["options"]), profile.id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {id: a, description: x y z, profile: {age_years: 50}}\n", r"profile\.subtype"),
        ("- {id: a, description: x y z, profile: {age_years: 50, subtype: other}}\n", "subtype"),
        (
            "- {id: a, description: x y z, profile: {age_years: 5, subtype: dystrophic,"
            " medications: [warfarine]}}\n",
            r"record #1 \(a\), field 'profile\.medications\[0\]': unknown treatment 'warfarine'",
        ),
        ("- {id: A B, description: x y z, profile: {}}\n", "field 'id'"),
        ("{}\n", "must be a list of profiles"),
    ],
)
def test_a_bad_profile_names_the_record_and_the_field(
    tmp_path: Path, kb: KnowledgeBase, text: str, message: str
) -> None:
    path = tmp_path / "panel.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message):
        load_panel(path, kb.therapy_ids())


def test_a_directory_with_its_own_panel_uses_it(tmp_path: Path) -> None:
    (tmp_path / "panel.yaml").write_text("[]\n", encoding="utf-8")
    assert panel_path(None, tmp_path) == tmp_path / "panel.yaml"
    assert panel_path(tmp_path / "none").name == "panel.yaml"
