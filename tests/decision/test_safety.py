"""calcinosis.decision.safety: the patient a rule check assumes when the record is silent."""

from __future__ import annotations

from calcinosis.decision.safety import UNKNOWN_AGE_NOTE, findings_for, rules_patient
from calcinosis.evidence.knowledge_base import KnowledgeBase


def rules(kb: KnowledgeBase, known: dict[str, object], treatment: str) -> set[str]:
    patient, _ = rules_patient(known)
    return {finding.rule.rule for finding in findings_for(kb, patient, treatment)}


def test_an_unknown_age_applies_the_age_limits(kb: KnowledgeBase) -> None:
    patient, notes = rules_patient({"subtype": "dystrophic"})
    assert patient.age_years == 0 and notes == [UNKNOWN_AGE_NOTE]
    assert "age-under-9" in rules(kb, {}, "minocycline")
    assert "age-under-9" not in rules(kb, {"age_years": 40}, "minocycline")
    assert rules_patient({"age_years": 40})[1] == []  # nothing assumed, nothing said


def test_an_unknown_subtype_is_dystrophic_and_nothing_else_is_assumed(kb: KnowledgeBase) -> None:
    patient, _ = rules_patient({"age_years": 50, "subtype": None, "medications": ["warfarin"]})
    assert patient.subtype == "dystrophic"
    assert "dystrophic-calcinosis" in rules(kb, {"age_years": 50}, "sodium-thiosulfate-iv")
    assert patient.medications == [] and patient.prior_treatments == []
    assert patient.underlying_disease == "unknown" and patient.conditions == []
    assert not rules(kb, {"age_years": 50}, "diltiazem")  # no heart condition assumed
    ssc = {"age_years": 50, "underlying_disease": "systemic-sclerosis"}
    assert "digital-ssc" in rules(kb, ssc, "surgical-excision")  # digital lesions not excluded
