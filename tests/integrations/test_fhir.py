"""FHIR R4 -> patient profile (``calcinosis.integrations.fhir``).

The fixtures in ``tests/fixtures/fhir/`` are CDS Hooks requests, so that the
CDS service tests can reuse them::

    {
      "hook": "patient-view" | "order-sign",
      "hookInstance": "<uuid>",
      "context": {"userId": ..., "patientId": ...,
                  "draftOrders": <Bundle of the draft MedicationRequest>},  # orders only
      "prefetch": {
        "patient": <Patient>,
        "conditions": <searchset Bundle of Condition>,
        "medications": <searchset Bundle of MedicationRequest / MedicationStatement>
      }
    }

Ages are computed on ``TODAY`` (2025-06-01): the JDM child, born 2018-03-14,
is 7 then. What each fixture holds:

* ``ssc_adult_warfarin_patient_view`` - SSc (M34.1 + SNOMED 89155008), calcinosis
  cutis (L94.2), Raynaud (I73.00), active warfarin (RxNorm 855290, Coumadin 1 mg).
* ``jdm_child_age_7_minocycline`` - JDM (M33.02 + SNOMED 1212005), L94.2,
  active minocycline (text only).
* ``calciphylaxis_eskd`` - E83.59 "Calciphylaxis", ESRD N18.6, active IV sodium
  thiosulfate, a stopped warfarin, an active sevelamer MedicationStatement.
* ``no_calcinosis`` - SSc (M34.9) and a *refuted* L94.2; no medications.
* ``order_warfarin_for_atrial_fibrillation`` / ``order_warfarin_for_calcinosis`` -
  SSc + L94.2 + atrial fibrillation (I48.91); a draft warfarin 5 mg with reasonCode
  I48.91, respectively L94.2.
* ``order_tnf_inhibitor_ssc`` - SSc (M34.0) + L94.2; a draft infliximab (RxNorm
  191831) for L94.2.
* ``order_diltiazem`` - DM (M33.12 + SNOMED 396230008) + L94.2 + second-degree AV
  block (I44.1); a draft diltiazem 120 mg ER for L94.2.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcinosis.decision.patient import CONDITIONS, parse_patient
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.integrations import fhir
from calcinosis.integrations.fhir import (
    FhirFindings,
    findings_from_fhir,
    is_calcinosis_reason,
    medication_ids,
    order_reasons,
    resources,
    terminology,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"
VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks"
TODAY = date(2025, 6, 1)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
PID = "p1"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def from_fixture(name: str) -> FhirFindings:
    prefetch = load(name)["prefetch"]
    return findings_from_fhir(
        prefetch["patient"], prefetch["conditions"], prefetch["medications"], today=TODAY
    )


def draft_order(name: str) -> dict[str, Any]:
    found = resources(load(name)["context"]["draftOrders"])
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------ builders


def patient(birth: str | None = "1970-05-05", gender: str | None = "female") -> dict[str, Any]:
    data: dict[str, Any] = {"resourceType": "Patient", "id": PID}
    if birth is not None:
        data["birthDate"] = birth
    if gender is not None:
        data["gender"] = gender
    return data


def condition(
    *codings: tuple[str, str],
    text: str | None = None,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    subject: str = PID,
    ident: str | None = None,
) -> dict[str, Any]:
    code: dict[str, Any] = {"coding": [{"system": s, "code": c} for s, c in codings]}
    if text is not None:
        code["text"] = text
    data: dict[str, Any] = {
        "resourceType": "Condition",
        "code": code,
        "subject": {"reference": f"Patient/{subject}"},
    }
    if ident is not None:
        data["id"] = ident
    if clinical is not None:
        data["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification is not None:
        data["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return data


def icd(code: str, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
    return condition((ICD, code), text=text, **kwargs)


def bundle(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": item, "search": {"mode": "match"}} for item in items],
    }


def request(
    text: str | None = None,
    *,
    status: str = "active",
    route: str | None = None,
    codes: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if text is not None:
        concept["text"] = text
    if codes:
        concept["coding"] = [{"system": RX, "code": code} for code in codes]
    data: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "mr",
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{PID}"},
    }
    if route is not None:
        data["dosageInstruction"] = [{"route": {"text": route}}]
    data.update(extra)
    return data


def findings(*conditions: dict[str, Any], **kwargs: Any) -> FhirFindings:
    return findings_from_fhir(
        kwargs.pop("patient", patient()),
        bundle(*conditions),
        kwargs.pop("medications", None),
        today=TODAY,
        **kwargs,
    )


def has_note(result: FhirFindings, *fragments: str) -> bool:
    return any(all(f in note for f in fragments) for note in result.notes)


def complete(profile: dict[str, Any]) -> dict[str, Any]:
    """What the clinician adds when FHIR could not say it."""
    return {"age_years": 40, "subtype": "dystrophic", **profile}


# ------------------------------------------------------------------ the API


def test_public_api() -> None:
    assert set(fhir.__all__) >= {
        "FhirFindings",
        "findings_from_fhir",
        "is_calcinosis_reason",
        "medication_ids",
        "order_reasons",
        "resources",
    }
    result = findings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.subtype = "dystrophic"  # type: ignore[misc]


# ------------------------------------------------------------------ the fixtures


def test_ssc_adult_warfarin(kb: KnowledgeBase) -> None:
    result = from_fixture("ssc_adult_warfarin_patient_view")
    assert result.has_calcinosis and result.subtype == "dystrophic"
    assert result.profile == {
        "age_years": 57,
        "sex": "female",
        "underlying_disease": "systemic-sclerosis",
        "subtype": "dystrophic",
        "raynaud": True,
        "conditions": [],
        "medications": ["warfarin"],
    }
    assert result.unmapped_medications == ()
    assert has_note(result, "Coumadin", "-> warfarin")
    parse_patient(result.profile, kb.therapy_ids())


def test_jdm_child_age_7_minocycline(kb: KnowledgeBase) -> None:
    result = from_fixture("jdm_child_age_7_minocycline")
    assert result.has_calcinosis and result.subtype == "dystrophic"
    assert result.profile["age_years"] == 7
    assert result.profile["sex"] == "male"
    assert result.profile["underlying_disease"] == "juvenile-dermatomyositis"
    assert result.profile["medications"] == ["minocycline"]
    assert parse_patient(result.profile, kb.therapy_ids()).age_years < 9


def test_calciphylaxis_eskd(kb: KnowledgeBase) -> None:
    result = from_fixture("calciphylaxis_eskd")
    assert result.has_calcinosis and result.subtype == "calciphylaxis"
    assert result.profile["conditions"] == ["end-stage-kidney-disease"]
    assert "underlying_disease" not in result.profile  # none coded: not "none"
    # the stopped warfarin is not a current medication; IV by its route
    assert result.profile["medications"] == ["sodium-thiosulfate-iv"]
    assert result.unmapped_medications == ("sevelamer carbonate 800 MG Oral Tablet",)
    assert has_note(result, "eskd1-warfarin", "stopped")
    parse_patient(result.profile, kb.therapy_ids())


def test_no_calcinosis(kb: KnowledgeBase) -> None:
    result = from_fixture("no_calcinosis")
    assert not result.has_calcinosis and result.subtype is None
    assert "subtype" not in result.profile
    assert result.profile["underlying_disease"] == "systemic-sclerosis"
    assert has_note(result, "refuted")
    parse_patient(complete(result.profile), kb.therapy_ids())


@pytest.mark.parametrize(
    ("name", "medication", "for_calcinosis"),
    [
        ("order_warfarin_for_atrial_fibrillation", "warfarin", False),
        ("order_warfarin_for_calcinosis", "warfarin", True),
        ("order_tnf_inhibitor_ssc", "infliximab", True),
        ("order_diltiazem", "diltiazem", True),
    ],
)
def test_order_fixtures(
    kb: KnowledgeBase, name: str, medication: str, for_calcinosis: bool
) -> None:
    order = draft_order(name)
    assert order["status"] == "draft"
    assert medication_ids([order]) == ([medication], [])
    assert is_calcinosis_reason(order) is for_calcinosis
    result = from_fixture(name)
    assert result.has_calcinosis and result.subtype == "dystrophic"
    parse_patient(result.profile, kb.therapy_ids())


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixtures_are_valid_r4(path: Path) -> None:
    result = from_fixture(path.stem)
    assert not has_note(result, "not valid FHIR R4")
    assert not has_note(result, "ignored (not FHIR R4)")
    assert not has_note(result, "list of one")


def test_order_reasons() -> None:
    assert order_reasons(draft_order("order_warfarin_for_atrial_fibrillation")) == [
        "unspecified atrial fibrillation",
        f"{ICD}|I48.91",
    ]
    assert f"{ICD}|L94.2" in order_reasons(draft_order("order_warfarin_for_calcinosis"))
    assert order_reasons(request("warfarin")) == []


def test_order_diltiazem_conduction_abnormality() -> None:
    result = from_fixture("order_diltiazem")
    assert result.profile["conditions"] == ["cardiac-conduction-abnormality"]
    assert result.profile["underlying_disease"] == "dermatomyositis"


# ------------------------------------------------------------------ resources()


def test_resources_shapes() -> None:
    one = patient()
    assert resources(None) == []
    assert resources(one) == [one]
    assert resources(bundle(one, icd("L94.2"))) == [one, icd("L94.2")]
    assert resources([one, None, "x", bundle(one)]) == [one, one]
    assert resources({"resourceType": "Bundle", "type": "searchset"}) == []
    assert resources({"no": "resourceType"}) == []
    assert resources("Patient/{{context.patientId}}") == []
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "Access denied"}],
    }
    assert resources(outcome) == []
    with_outcome = bundle(one)
    with_outcome["entry"].append({"resource": outcome, "search": {"mode": "outcome"}})
    assert resources(with_outcome) == [one]


def test_operation_outcome_and_null_prefetch_are_noted() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "Access denied"}],
    }
    result = findings_from_fhir(patient(), outcome, None, today=TODAY)
    assert not result.has_calcinosis
    assert has_note(result, "conditions", "OperationOutcome", "Access denied")
    assert has_note(result, "medications", "null")
    assert result.profile == {"age_years": 55, "sex": "female", "conditions": [], "medications": []}
    nothing = findings_from_fhir(None, None, None, today=TODAY)
    assert nothing.profile == {"conditions": [], "medications": []}
    assert has_note(nothing, "No usable Patient")


def test_a_patient_in_a_bundle_and_several_patients() -> None:
    assert findings_from_fhir(bundle(patient()), None, None, today=TODAY).profile["age_years"] == 55
    two = findings_from_fhir(bundle(patient(), patient()), None, None, today=TODAY)
    assert "age_years" not in two.profile and has_note(two, "several Patient")


# ------------------------------------------------------------------ official test vectors


def vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def test_official_prefetch_data() -> None:
    prefetch = vector("prefetch-data.json")["prefetch"]
    for value in prefetch.values():
        resources(value)
    result = findings_from_fhir(
        prefetch["patient"], prefetch["hemoglobin-a1c"], prefetch["user"], today=TODAY
    )
    assert not result.has_calcinosis
    # the "..." (snipped for brevity) marker does not lose the Patient
    assert result.profile["age_years"] == 50 and result.profile["sex"] == "male"
    assert has_note(result, '"..."')
    assert has_note(result, "Observation", "not a Condition")


def test_official_prefetch_templates_are_not_resources() -> None:
    templates = vector("prefetch-templates.json")["prefetch"]
    for value in templates.values():
        assert resources(value) == []
    result = findings_from_fhir(
        templates["patient"], templates["diabetes-type2"], templates["user"], today=TODAY
    )
    assert not result.has_calcinosis and has_note(result, "unresolved")


@pytest.mark.parametrize("name", ["patient-view-context-1.json", "patient-view-context-2.json"])
def test_official_patient_view_contexts(name: str) -> None:
    request_ = vector(name)
    prefetch = request_.get("prefetch", {})
    result = findings_from_fhir(
        prefetch.get("patient"), prefetch.get("conditions"), prefetch.get("medications")
    )
    assert not result.has_calcinosis
    assert resources(request_["context"]) == []


@pytest.mark.parametrize("name", ["order-select-r4-context.json", "order-sign-r4-context.json"])
def test_official_order_contexts(name: str) -> None:
    orders = resources(vector(name)["context"]["draftOrders"])
    assert [r["resourceType"] for r in orders] == ["NutritionOrder", "MedicationRequest"]
    # amoxicillin is not in the catalog; the example's dosage slips are repaired
    amoxicillin = "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension"
    assert medication_ids(orders) == ([], [amoxicillin])
    assert [is_calcinosis_reason(r) for r in orders] == [False, False]
    assert [order_reasons(r) for r in orders] == [[], []]
    result = findings_from_fhir(None, None, vector(name)["context"]["draftOrders"], today=TODAY)
    assert not result.has_calcinosis
    assert result.unmapped_medications == (amoxicillin,)
    assert has_note(result, "NutritionOrder", "not a medication")
    assert has_note(result, "dosageInstruction[0].dose")


# ------------------------------------------------------------------ age and sex


@pytest.mark.parametrize(
    ("birth", "age"),
    [
        ("2016-06-01", 9),  # ninth birthday today
        ("2016-06-02", 8),
        ("2016-06", 8),  # born 1-30 June 2016: 8 or 9 -> the youngest, 8
        ("2016", 8),  # born in 2016: 8 or 9 -> 8
        ("2017", 7),
        ("2025", 0),  # born this year, possibly after today: 0
        ("2025-06", 0),
        ("1955-02-28", 70),
    ],
)
def test_age_is_the_youngest_possible(birth: str, age: int) -> None:
    result = findings(patient=patient(birth))
    assert result.profile["age_years"] == age
    if len(birth) < 10:
        assert has_note(result, "youngest possible")


def test_year_only_birth_date_keeps_the_minocycline_rule(kb: KnowledgeBase) -> None:
    """Born in 2016 and seen on 2025-06-01: maybe 9, maybe 8 - treated as 8."""
    result = findings(icd("M33.03"), icd("L94.2"), patient=patient("2016"))
    assert parse_patient(result.profile, kb.therapy_ids()).age_years < 9


@pytest.mark.parametrize("birth", [None, "2025-07-01", "2026", "1890-01-01"])
def test_no_usable_birth_date_gives_no_age(birth: str | None) -> None:
    result = findings(patient=patient(birth))
    assert "age_years" not in result.profile
    assert has_note(result, "no age")


def test_impossible_birth_date_is_not_a_crash() -> None:
    result = findings(patient=patient("2019-02-30"))
    assert "age_years" not in result.profile


@pytest.mark.parametrize("gender", ["female", "male", "other", "unknown"])
def test_sex(gender: str) -> None:
    assert findings(patient=patient(gender=gender)).profile["sex"] == gender


def test_sex_absent_or_not_a_code() -> None:
    assert "sex" not in findings(patient=patient(gender=None)).profile
    wrong = findings(patient=patient(gender="F"))
    assert "sex" not in wrong.profile and has_note(wrong, "'F'")


# ------------------------------------------------------------------ calcinosis


@pytest.mark.parametrize(
    "item",
    [
        icd("L94.2"),
        icd("L942"),  # without the dot
        condition((SCT, "000000"), text="Calcinosis cutis of the hands"),
        condition(text="CALCINOSIS CUTIS"),
        condition(text="Cutaneous calcinosis"),
        icd("L94.2", clinical="recurrence"),
        icd("L94.2", clinical="relapse"),
        icd("L94.2", verification=None),
        icd("L94.2", verification="provisional"),
    ],
)
def test_calcinosis_cutis_is_recognised(item: dict[str, Any]) -> None:
    assert findings(item).has_calcinosis


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (icd("L94.2", verification="refuted"), "refuted"),
        (icd("L94.2", verification="entered-in-error", clinical=None), "entered-in-error"),
        (icd("L94.2", clinical="resolved"), "resolved"),
        (icd("L94.2", clinical="inactive"), "inactive"),
        (icd("L94.2", clinical="remission"), "remission"),
        (icd("L94.2", clinical=None), "no clinical status"),
        (condition(text="Calcinosis"), "not said to be of the skin"),
        (condition(text="Tumoral calcinosis"), "not said to be of the skin"),
        (condition(("http://hl7.org/fhir/sid/icd-10", "L94.2")), "No current calcinosis"),
        (icd("L94.2", subject="someone-else"), "another patient"),
    ],
)
def test_calcinosis_cutis_not_counted(item: dict[str, Any], why: str) -> None:
    result = findings(item)
    assert not result.has_calcinosis and result.subtype is None
    assert has_note(result, why)


def test_calciphylaxis() -> None:
    coded = findings(icd("E83.59", text="Calciphylaxis"), icd("N18.6"))
    assert coded.has_calcinosis and coded.subtype == "calciphylaxis"
    assert coded.profile["subtype"] == "calciphylaxis"
    by_text = findings(condition(text="Calcific uremic arteriolopathy"))
    assert by_text.subtype == "calciphylaxis"
    display_only = condition((ICD, "E83.59"))
    display_only["code"]["coding"][0]["display"] = "Calciphylaxis"
    assert findings(display_only).subtype == "calciphylaxis"
    # L94.2 and calciphylaxis named: calciphylaxis
    assert findings(icd("L94.2"), condition(text="calciphylaxis")).subtype == "calciphylaxis"


def test_e83_59_alone_is_not_calciphylaxis() -> None:
    result = findings(icd("E83.59", text="Other disorders of calcium metabolism"))
    assert not result.has_calcinosis
    assert has_note(result, "E83.59 without a calciphylaxis diagnosis")


# ------------------------------------------------------------------ underlying disease


@pytest.mark.parametrize(
    ("item", "disease"),
    [
        (icd("M34.0"), "systemic-sclerosis"),
        (icd("M34.81"), "systemic-sclerosis"),
        (icd("M34"), "systemic-sclerosis"),
        (icd("M33.00"), "juvenile-dermatomyositis"),
        (icd("M33.09"), "juvenile-dermatomyositis"),
        (icd("M33.10"), "dermatomyositis"),
        (icd("M33.13"), "dermatomyositis"),
        (icd("M33.90"), "dermatomyositis"),
        (icd("M32.14"), "systemic-lupus-erythematosus"),
        (icd("M32.9"), "systemic-lupus-erythematosus"),
        (icd("M35.1"), "mixed-connective-tissue-disease"),
        (condition((SCT, "89155008")), "systemic-sclerosis"),
        (condition((SCT, "396230008")), "dermatomyositis"),
        (condition((SCT, "1212005")), "juvenile-dermatomyositis"),
        (condition(text="Diffuse cutaneous systemic sclerosis"), "systemic-sclerosis"),
        (condition(text="Scleroderma"), "systemic-sclerosis"),
        (condition(text="CREST syndrome"), "systemic-sclerosis"),
        (condition(text="Juvenile dermatomyositis"), "juvenile-dermatomyositis"),
        (condition(text="Amyopathic dermatomyositis"), "dermatomyositis"),
        (condition(text="Systemic lupus erythematosus"), "systemic-lupus-erythematosus"),
        (condition(text="Mixed connective tissue disease"), "mixed-connective-tissue-disease"),
    ],
)
def test_underlying_disease(kb: KnowledgeBase, item: dict[str, Any], disease: str) -> None:
    result = findings(item, icd("L94.2"))
    assert result.profile["underlying_disease"] == disease
    assert result.subtype == "dystrophic"  # an autoimmune CTD with calcinosis cutis
    parse_patient(result.profile, kb.therapy_ids())


def test_polymyositis_is_not_dermatomyositis() -> None:
    result = findings(icd("M33.20"), icd("L94.2"))
    assert result.profile["underlying_disease"] == "other"
    assert result.subtype is None  # not an autoimmune CTD of the dystrophic rule
    assert has_note(result, "Polymyositis", "not dermatomyositis")
    assert findings(condition(text="Polymyositis")).profile["underlying_disease"] == "other"
    with_dm = findings(icd("M33.20"), icd("M33.10"))
    assert with_dm.profile["underlying_disease"] == "dermatomyositis"


def test_localized_scleroderma_is_not_systemic_sclerosis() -> None:
    for text in ("Localized scleroderma", "Linear scleroderma", "Morphea (localised scleroderma)"):
        assert "underlying_disease" not in findings(condition(text=text)).profile


def test_juvenile_dm_is_preferred_over_dm() -> None:
    result = findings(icd("M33.10"), icd("M33.02"))
    assert result.profile["underlying_disease"] == "juvenile-dermatomyositis"
    assert has_note(result, "juvenile-dermatomyositis", "dermatomyositis", "confirm")


def test_several_diseases_are_all_noted() -> None:
    result = findings(icd("M32.10"), icd("M34.1"), icd("L94.2"))
    assert result.profile["underlying_disease"] == "systemic-sclerosis"
    assert has_note(result, "Several", "systemic-sclerosis", "systemic-lupus-erythematosus")


def test_no_disease_coded_leaves_it_unknown() -> None:
    result = findings(icd("L94.2"))
    assert "underlying_disease" not in result.profile
    assert result.subtype is None
    assert has_note(result, "subtype unknown")


# ------------------------------------------------------------------ subtype


def test_subtype_is_never_guessed(kb: KnowledgeBase) -> None:
    for items in ([icd("L94.2")], [icd("L94.2"), icd("E21.0")], [icd("M34.1")]):
        result = findings(*items)
        assert result.subtype is None and "subtype" not in result.profile
    # a kidney disease makes a metabolic cause possible
    with_ckd = findings(icd("M34.1"), icd("L94.2"), icd("N18.4"))
    assert with_ckd.has_calcinosis and with_ckd.subtype is None
    assert has_note(with_ckd, "metabolic cause")
    parse_patient(complete(with_ckd.profile), kb.therapy_ids())


# ------------------------------------------------------------------ conditions and Raynaud


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (icd("I44.2"), "cardiac-conduction-abnormality"),
        (icd("I45.10"), "cardiac-conduction-abnormality"),
        (icd("I49.5"), "cardiac-conduction-abnormality"),
        (condition(text="Complete heart block"), "cardiac-conduction-abnormality"),
        (condition(text="Left bundle branch block"), "cardiac-conduction-abnormality"),
        (icd("I50.22"), "reduced-ventricular-function"),
        (icd("I50.42"), "reduced-ventricular-function"),
        (
            condition(text="Heart failure with reduced ejection fraction"),
            "reduced-ventricular-function",
        ),
        (icd("J84.10"), "interstitial-lung-disease"),
        (condition(text="Interstitial lung disease"), "interstitial-lung-disease"),
        (icd("N18.1"), "chronic-kidney-disease"),
        (icd("N18.30"), "chronic-kidney-disease"),
        (icd("N18.5"), "chronic-kidney-disease"),
        (icd("N18.9"), "chronic-kidney-disease"),
        (condition(text="CKD stage 3b"), "chronic-kidney-disease"),
        (icd("N18.6"), "end-stage-kidney-disease"),
        (condition(text="End-stage renal disease"), "end-stage-kidney-disease"),
        (icd("Z33.1"), "pregnancy"),
        (icd("Z3A.20"), "pregnancy"),
        (icd("O09.90"), "pregnancy"),
        (icd("O9A.111"), "pregnancy"),
        (icd("O24.410"), "pregnancy"),
        (condition(text="Pregnancy"), "pregnancy"),
    ],
)
def test_conditions(kb: KnowledgeBase, item: dict[str, Any], expected: str) -> None:
    result = findings(item)
    assert result.profile["conditions"] == [expected]
    assert set(result.profile["conditions"]) <= set(CONDITIONS)
    parse_patient(complete(result.profile), kb.therapy_ids())


@pytest.mark.parametrize("code", ["I50.9", "I50.30", "I50.1"])
def test_heart_failure_without_reduced_ef_is_not_assumed(code: str) -> None:
    result = findings(icd(code))
    assert result.profile["conditions"] == []
    assert has_note(result, "reduced ventricular function not assumed")


def test_inactive_conditions_do_not_count() -> None:
    assert findings(icd("Z33.1", clinical="resolved")).profile["conditions"] == []
    assert findings(icd("I44.2", verification="refuted")).profile["conditions"] == []


@pytest.mark.parametrize(
    "item", [icd("I73.00"), icd("I73.01"), icd("I73.0"), condition(text="Raynaud's phenomenon")]
)
def test_raynaud(item: dict[str, Any]) -> None:
    result = findings(item)
    assert result.profile["raynaud"] is True
    assert result.profile["conditions"] == []


def test_unknown_booleans_stay_absent() -> None:
    profile = from_fixture("jdm_child_age_7_minocycline").profile
    for field in (
        "raynaud",
        "disease_active",
        "symptomatic",
        "progressive",
        "internal_involvement",
        "patient_concerned",
        "inflammation",
        "ulceration",
        "lesions",
        "prior_treatments",
        "local_therapy_accessible",
    ):
        assert field not in profile


# ------------------------------------------------------------------ medications


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (request("Diltiazem Hydrochloride 120 MG Extended Release Oral Capsule"), ["diltiazem"]),
        (request("warfarin sodium 5 MG Oral Tablet"), ["warfarin"]),
        (request("Warfarin Sodium 1 MG Oral Tablet [Coumadin]"), ["warfarin"]),
        (request(codes=("11289",)), ["warfarin"]),
        (request(codes=("202421",)), ["warfarin"]),
        (request(codes=("121191",)), ["rituximab"]),
        (request(codes=("191831",)), ["infliximab"]),
        (request(codes=("327361",)), ["adalimumab"]),
        (request("Mycophenolate Mofetil 500 MG Oral Tablet"), ["mycophenolate-mofetil"]),
        (request("amlodipine 5 MG / valsartan 160 MG Oral Tablet"), ["amlodipine"]),
        (request("Colchicine 0.6 MG Oral Tablet"), ["colchicine"]),
        (request("IVIG 10% solution"), ["ivig"]),
        (request("Topical sodium thiosulfate 25% cream"), ["sodium-thiosulfate-topical"]),
        (
            request("sodium thiosulfate 25% injection", route="Intravenous"),
            ["sodium-thiosulfate-iv"],
        ),
        (request("sodium thiosulfate 25% injection", route="IV"), ["sodium-thiosulfate-iv"]),
        (request("sodium thiosulfate 25%", route="Topical"), ["sodium-thiosulfate-topical"]),
        (
            request("sodium thiosulfate 250 MG/ML Injectable Solution", route="Intralesional"),
            ["sodium-thiosulfate-intralesional"],
        ),
        (request("Sodium Thiosulfate 25% Topical Cream"), ["sodium-thiosulfate-topical"]),
    ],
)
def test_medication_ids(kb: KnowledgeBase, item: dict[str, Any], expected: list[str]) -> None:
    ids, unmapped = medication_ids([item])
    assert (ids, unmapped) == (expected, [])
    assert set(ids) <= kb.therapy_ids()


@pytest.mark.parametrize(
    "item",
    [
        request("sodium thiosulfate 25% injection"),  # IV or intralesional? not said
        request("sodium thiosulfate 25% injection", route="intravenous or intralesional"),
        request("Prednisolone 5 MG Oral Tablet"),  # not prednisone
        request("Tofacitinib 5 MG Oral Tablet"),  # a JAK inhibitor, but not named so
        request("Observation"),  # a management step, not something a patient takes
        request(codes=("999999999",)),
    ],
)
def test_medications_left_unmapped(item: dict[str, Any]) -> None:
    ids, unmapped = medication_ids([item])
    assert ids == [] and len(unmapped) == 1


def test_sodium_thiosulfate_without_route_is_noted() -> None:
    result = findings(medications=bundle(request("sodium thiosulfate 25% injection")))
    assert result.profile["medications"] == []
    assert result.unmapped_medications == ("sodium thiosulfate 25% injection",)
    assert has_note(result, "sodium thiosulfate with no route")


@pytest.mark.parametrize(
    ("status", "current"),
    [
        ("active", True),
        ("on-hold", True),
        ("draft", True),
        ("unknown", True),
        ("stopped", False),
        ("cancelled", False),
        ("completed", False),
        ("entered-in-error", False),
    ],
)
def test_medication_request_status(status: str, current: bool) -> None:
    result = findings(medications=bundle(request("Diltiazem 60 MG Oral Tablet", status=status)))
    assert result.profile["medications"] == (["diltiazem"] if current else [])


def test_do_not_perform_is_not_a_medication() -> None:
    assert medication_ids([request("Minocycline 50 MG", doNotPerform=True)]) == ([], [])


@pytest.mark.parametrize(
    ("status", "current"),
    [
        ("active", True),
        ("intended", True),
        ("on-hold", True),
        ("unknown", True),
        ("completed", False),
        ("stopped", False),
        ("not-taken", False),
        ("entered-in-error", False),
    ],
)
def test_medication_statement_status(status: str, current: bool) -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "status": status,
        "medicationCodeableConcept": {"text": "Colchicine 0.6 MG Oral Tablet"},
        "subject": {"reference": f"Patient/{PID}"},
    }
    assert medication_ids([statement])[0] == (["colchicine"] if current else [])


def test_medication_references() -> None:
    contained = request(
        medicationReference={"reference": "#med"},
        contained=[
            {"resourceType": "Medication", "id": "med", "code": {"text": "Minocycline 100 MG"}}
        ],
    )
    del contained["medicationCodeableConcept"]
    assert medication_ids([contained]) == (["minocycline"], [])
    referenced = request(medicationReference={"reference": "Medication/m1"})
    del referenced["medicationCodeableConcept"]
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"text": "Compounded cream"},
        "ingredient": [{"itemCodeableConcept": {"text": "sodium thiosulfate"}}],
        "form": {"text": "cream"},
    }
    assert medication_ids([referenced, medication]) == (["sodium-thiosulfate-topical"], [])
    # an inactive ingredient is not the drug
    excipient = copy.deepcopy(medication)
    excipient["code"] = {"text": "lidocaine 2% / epinephrine cream"}
    excipient["ingredient"] = [
        {"itemCodeableConcept": {"text": "sodium metabisulfite"}, "isActive": False}
    ]
    assert medication_ids([referenced, excipient]) == ([], ["lidocaine 2% / epinephrine cream"])
    # a Medication alone is not something the patient takes
    assert medication_ids([medication]) == ([], [])
    missing = request(medicationReference={"reference": "Medication/gone", "display": "warfarin"})
    del missing["medicationCodeableConcept"]
    assert medication_ids([missing]) == (["warfarin"], [])


def test_medications_of_another_patient_are_ignored() -> None:
    other = request("warfarin 5 MG", subject={"reference": "Patient/someone-else"})
    result = findings(medications=bundle(other))
    assert result.profile["medications"] == [] and has_note(result, "another patient")


def test_catalog_names_longest_first(kb: KnowledgeBase) -> None:
    ids, _ = medication_ids([request("PRP with intralesional sodium thiosulfate")])
    assert ids == ["prp-with-intralesional-sts"]
    ids, _ = medication_ids([request("Intravenous sodium thiosulfate")])
    assert ids == ["sodium-thiosulfate-iv"]
    assert medication_ids([request("intravenous immunoglobulin")]) == (["ivig"], [])


# ------------------------------------------------------------------ leniency


def test_unparseable_resources_are_skipped_and_noted() -> None:
    broken = icd("L94.2")
    broken["code"] = "L94.2"  # a string where a CodeableConcept belongs
    result = findings(broken, icd("M34.1"))
    assert not result.has_calcinosis
    assert result.profile["underlying_disease"] == "systemic-sclerosis"
    assert has_note(result, "skipped: not valid FHIR R4", "code")
    bad_request = request("warfarin 5 MG")
    bad_request["status"] = 7  # not a code
    ids, unmapped = medication_ids([bad_request])
    assert ids == [] and unmapped == ["MedicationRequest/mr (unreadable; not evaluated)"]
    no_status = request("warfarin 5 MG")
    del no_status["status"]
    assert medication_ids([no_status])[1] == ["MedicationRequest/mr (unreadable; not evaluated)"]
    assert order_reasons(bad_request) == [] and not is_calcinosis_reason(bad_request)


def test_unknown_top_level_element_skips_the_resource() -> None:
    misspelt = icd("L94.2")
    misspelt["verficationStatus"] = misspelt.pop("verificationStatus")
    misspelt["verficationStatus"]["coding"][0]["code"] = "refuted"
    result = findings(misspelt)
    assert not result.has_calcinosis and has_note(result, "verficationStatus")


def test_nested_slips_are_repaired_and_noted() -> None:
    item = icd("L94.2")
    item["code"]["coding"] = item["code"]["coding"][0]  # an object, not an array
    item["note"] = [{"text": "biopsy proven", "author": "Dr X"}]  # unknown nested element
    result = findings(item)
    assert result.has_calcinosis
    assert has_note(result, "code.coding read as a list of one")
    assert has_note(result, "unknown element note[0].author ignored")


def test_modifier_extensions_are_not_read() -> None:
    item = icd("L94.2")
    item["modifierExtension"] = [{"url": "http://example.org/negated", "valueBoolean": True}]
    result = findings(item)
    assert not result.has_calcinosis and has_note(result, "modifierExtension")
    order = draft_order("order_warfarin_for_calcinosis")
    order["modifierExtension"] = [{"url": "http://example.org/x", "valueBoolean": True}]
    assert not is_calcinosis_reason(order)
    assert medication_ids([order])[1] == [
        "MedicationRequest/draft-warfarin (unreadable; not evaluated)"
    ]


def test_elision_marker_is_ignored() -> None:
    item = icd("L94.2")
    item["..."] = "<snipped for brevity>"
    result = findings(item)
    assert result.has_calcinosis and has_note(result, '"..."')


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
RESOURCE_TYPES = st.sampled_from(
    ["Patient", "Condition", "MedicationRequest", "MedicationStatement", "Medication", "Bundle"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(RESOURCE_TYPES, st.dictionaries(st.text(max_size=12), JSON, max_size=4)),
        max_size=4,
    ),
    JSON,
)
def test_never_a_crash(
    kb: KnowledgeBase, items: list[tuple[str, dict[str, Any]]], raw: Any
) -> None:
    found = [{**body, "resourceType": kind} for kind, body in items]
    result = findings_from_fhir(found, found, found, today=TODAY)
    findings_from_fhir(raw, raw, raw, today=TODAY)
    medication_ids(resources(raw))
    for item in found:
        order_reasons(item)
        is_calcinosis_reason(item)
    patient = parse_patient(complete(result.profile), kb.therapy_ids())
    # whatever came in, the findings agree with themselves and the profile is a valid one
    assert result.profile.get("subtype") == result.subtype
    assert patient.subtype == (result.subtype or "dystrophic")
    assert set(patient.medications) <= kb.therapy_ids()


# ------------------------------------------------------------------ reasons for orders


def test_reason_reference_to_a_condition() -> None:
    order = draft_order("order_warfarin_for_atrial_fibrillation")
    del order["reasonCode"]
    order["reasonReference"] = [{"reference": "#dx"}]
    order["contained"] = [{**icd("L94.2"), "id": "dx"}]
    assert is_calcinosis_reason(order)
    order["contained"] = [{**icd("L94.2", verification="refuted"), "id": "dx"}]
    assert not is_calcinosis_reason(order)

    prefetched = load("order_warfarin_for_calcinosis")["prefetch"]["conditions"]
    by_id = copy.deepcopy(order)
    del by_id["contained"]
    by_id["reasonReference"] = [{"reference": "Condition/sscaf-calcinosis"}]
    assert is_calcinosis_reason(by_id, conditions=resources(prefetched))
    by_id["reasonReference"] = [{"reference": "Condition/sscaf-af"}]
    assert not is_calcinosis_reason(by_id, conditions=resources(prefetched))
    by_display = copy.deepcopy(by_id)
    by_display["reasonReference"] = [{"reference": "Condition/x", "display": "Calciphylaxis"}]
    assert is_calcinosis_reason(by_display)
    assert not is_calcinosis_reason(request("warfarin"))


def test_calciphylaxis_reason() -> None:
    order = request(
        "sodium thiosulfate",
        status="draft",
        reasonCode=[{"coding": [{"system": ICD, "code": "E83.59"}], "text": "Calciphylaxis"}],
    )
    assert is_calcinosis_reason(order)
    order["reasonCode"][0]["text"] = "Hypercalcaemia"
    assert not is_calcinosis_reason(order)


# ------------------------------------- the JSON is read, not the fhir.resources models
# The models are the gate (a resource is read only once its model validates); what is
# read is its JSON, because the models coerce what FHIR JSON does not allow and rewrite
# dateTimes (module docstring, "Reading the resources"). These fail if the reader
# switched to the models without saying what that changes.


def weight(value: object, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "w1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org"},
        **extra,
    }


def test_a_date_time_is_read_as_written() -> None:
    """fhir.resources reads it as a datetime, whose isoformat() says +00:00."""
    measured = weight(61, "2025-05-02T09:00:00.50Z")
    result = findings_from_fhir(patient(), [], [], observations=[measured], today=TODAY)
    assert result.profile["weight_kg"] == 61
    assert has_note(result, "weight_kg 61 from an Observation of 2025-05-02T09:00:00.50Z.")


def test_a_number_written_as_text_is_not_a_quantity() -> None:
    """fhir.resources reads "62" as Decimal('62'); FHIR JSON's decimal is a number."""
    result = findings_from_fhir(
        patient(), [], [], observations=[weight("62", "2025-05-01")], today=TODAY
    )
    assert "weight_kg" not in result.profile
    assert has_note(result, "Observation/w1: no value in a unit")


def test_a_boolean_written_as_text_is_not_a_boolean() -> None:
    """fhir.resources reads "true" as True; FHIR JSON's boolean is true or false."""
    assert medication_ids([request("Warfarin 5 MG", doNotPerform="true")])[0] == ["warfarin"]
    assert medication_ids([request("Warfarin 5 MG", doNotPerform=True)])[0] == []


# ------------------------------------------------------------------ terminology.yaml

TERMINOLOGY = Path(terminology.__file__).with_name("terminology.yaml")


def test_the_terminology_ships_and_validates() -> None:
    """Read through importlib.resources, as from an installed wheel."""
    assert terminology.TERMINOLOGY_FILE.is_file()
    assert terminology.read_terminology().systems.icd10cm == fhir.ICD10CM
    assert terminology.RXNORM_IDS["114194"] == "warfarin"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "medication: rituximab,",
            "medication: rituximab, dose: 1,",
            r"^terminology\.yaml, record rxnorm #6 \(121191\), field 'dose': "
            r"Extra inputs are not permitted$",
        ),
        (
            '{code: "6851",',
            "{code: 6851,",
            r"^terminology\.yaml, record rxnorm #10, field 'code': Input should be a valid string$",
        ),
        (
            '{code: "1212005",',
            '{code: "89155008",',
            r"^terminology\.yaml, record snomed_diseases #3 \(89155008\), field 'code': "
            r"duplicate '89155008' \(first at #1\)$",
        ),
        (
            "[M33.1, M33.9]",
            "[M33.1, M34]",
            r"^terminology\.yaml, record icd_diseases #3 \(M34\), field 'prefixes': "
            r"duplicate 'M34' \(first at #1\)$",
        ),
        (
            "{low: 0.3, high: 400.0}",
            "{low: 0.3, high: heavy}",
            r"^terminology\.yaml, record measures #1 \(29463-7\), field 'range\.high': "
            r"Input should be a valid number$",
        ),
        (
            "genders: [female, male, other, unknown]",
            "genders: [female, male, female]",
            r"^terminology\.yaml, record statuses, field 'genders\[2\]': duplicate 'female'$",
        ),
        (
            "  ucum: http://unitsofmeasure.org",
            "  ucum: http://unitsofmeasure.org\n  ucum: http://example.org",
            r"^terminology\.yaml, record line 15: not valid YAML: duplicate key 'ucum'$",
        ),
    ],
)
def test_a_corrupt_terminology_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = TERMINOLOGY.read_text(encoding="utf-8")
    assert text.count(old) == 1
    corrupt = tmp_path / "terminology.yaml"
    corrupt.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as info:
        terminology.read_terminology(corrupt)
    assert "\n" not in str(info.value)
