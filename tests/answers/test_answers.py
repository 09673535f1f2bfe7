"""Answers: the typed query, scope, yes/no leads, applicability, disagreements,
citations, and the three entry points (CLI, API, page).

Expectations come from the seed passages (quoted beside them), not from the output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.answers import answer_question as answer_document
from calcinosis.answers import render_answer, understand
from calcinosis.answers.cues import INTENTS
from calcinosis.answers.draft import Draft
from calcinosis.answers.passages import _index, passages, search
from calcinosis.answers.plans import _profile
from calcinosis.answers.vocabulary import ALIASES, CLASSES
from calcinosis.cli import main
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.evidence.knowledge_base import KnowledgeBase
from source_documents import sources_dir

SEEDS = sources_dir() or Path("/nonexistent")  # CALCINOSIS_SOURCES_DIR or ../shared/seeds
CITATION = re.compile(r"\[(\d+)\]")


def answer_question(question: str, kb: KnowledgeBase) -> dict[str, Any]:
    """The answer as its JSON reads (``calcinosis ask --format json``)."""
    return answer_document(question, kb).model_dump()


def _text(answer: dict[str, Any]) -> str:
    return " ".join([answer["answer"], *(s["text"] for s in answer["sections"])])


def _section(answer: dict[str, Any], title: str) -> str:
    return next((s["text"] for s in answer["sections"] if s["title"] == title), "")


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalpha())


# ------------------------------------------------------- 1. the typed query
@pytest.mark.parametrize(
    ("question", "treatments"),
    [
        (
            "Is STS useful?",
            {
                "sodium-thiosulfate-topical",
                "sodium-thiosulfate-intralesional",
                "sodium-thiosulfate-iv",
            },
        ),
        ("intralesional sodium thiosulphate dose", {"sodium-thiosulfate-intralesional"}),
        ("Should a blood thinner be used for calcinosis?", {"warfarin"}),
        # 004: "There are fewer data on the efficacy of other calcium channel blockers ...
        # amlodipine ... Verapamil": the class is the catalog's, not diltiazem alone
        ("Is a CCB worth trying?", {"diltiazem", "amlodipine", "verapamil"}),
        ("ESWL for calcinosis", {"eswt"}),
        ("shock wave lithotripsy results", {"eswt"}),
        ("IVIG in dermatomyositis", {"ivig"}),
        ("anti-TNF in JDM", {"infliximab", "adalimumab"}),
        ("DILTIAZEM DOSE", {"diltiazem"}),
        ("diltiazme for calcinossis", {"diltiazem"}),
        ("minocyclin side effects", {"minocycline"}),
        (
            "Intralesional versus intravenous sodium thiosulfate?",
            {
                "sodium-thiosulfate-intralesional",
                "sodium-thiosulfate-iv",
            },
        ),
        (
            "level IV evidence for sodium thiosulfate?",
            {
                "sodium-thiosulfate-topical",
                "sodium-thiosulfate-intralesional",
                "sodium-thiosulfate-iv",
            },
        ),
    ],
)
def test_treatments_are_recognised(kb: KnowledgeBase, question: str, treatments: set[str]) -> None:
    assert set(understand(question, kb).treatments) == treatments


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Does warfarin promote calcification?",
            {"intent": "mechanism", "proposition": ("warfarin", "promotes-calcification", None)},
        ),
        (
            "How many patients were in the warfarin trial?",
            {"intent": "study-size", "treatments": ["warfarin"], "proposition": None},
        ),
        ("how many pts were in the warfarin RCT?", {"intent": "study-size"}),
        (
            "Is diltiazem safe in heart block?",
            {
                "intent": "contraindication",
                "proposition": ("diltiazem", "safe-with", "cardiac-conduction-abnormality"),
            },
        ),
        (
            "Can an 8-year-old take minocycline?",
            {
                "population": "child",
                "age_years": 8,
                "proposition": ("minocycline", "usable-at-age", "8 years"),
            },
        ),
        ("Which treatments should not be used?", {"intent": "what-not-to-use"}),
        (
            "How common is calcinosis in juvenile dermatomyositis?",
            {
                "intent": "epidemiology",
                "population": "child",
                "disease": "juvenile-dermatomyositis",
            },
        ),
        ("How long does topical sodium thiosulfate take to work?", {"intent": "time-to-response"}),
        ("Does calcinosis come back after rituximab?", {"intent": "relapse"}),
        ("How does diltiazem work?", {"intent": "mechanism"}),
        ("How well does diltiazem work?", {"intent": "efficacy"}),
        ("What are the subtypes of calcinosis cutis?", {"intent": "overview"}),
        ("compare diltiazem vs colchicine", {"intent": "comparison"}),
        ("level of evidence for rituximab", {"intent": "level-or-grade"}),
        ("first line in scleroderma", {"intent": "first-line", "disease": "systemic-sclerosis"}),
        ("treatment of iatrogenic calcinosis", {"intent": "first-line", "subtype": "iatrogenic"}),
        ("how much colchicine", {"intent": "dose"}),
        ("side effects of minocycline", {"intent": "adverse-effects"}),
        (
            "colchicine for calcinosis: dose + side effects?",
            {"intent": "dose", "also": ["adverse-effects"]},
        ),
        (
            "best evidence-based option for widespread calcinosis in SSc when topical STS "
            "isn't practical?",
            {"intent": "first-line", "unavailable": ["sodium-thiosulfate-topical"]},
        ),
        ("what does the review conclude about TNF inhibitors", {"source": "traineau-2020"}),
        ("sts in a kid with jdm - topical or injected?", {"intent": "comparison"}),
        (
            "My patient is a 45-year-old woman with SSc and painful fingertip nodules. What "
            "should I start?",
            {"intent": "patient-specific", "age_years": 45, "population": "adult"},
        ),
        ("What is the capital of France?", {"intent": "unknown", "in_scope": False}),
        (
            "acetic acid iontophoresis for calcinosis, worth trying?",
            {"proposition": ("acetic-acid-iontophoresis", "recommended", None)},
        ),
        (
            "62F limited SSc, small painful deposits, already on amlodipine. What do you suggest?",
            {"treatments": [], "medications": ["amlodipine"], "age_years": 62},
        ),
    ],
)
def test_the_question_becomes_a_typed_query(
    kb: KnowledgeBase, question: str, expected: dict[str, Any]
) -> None:
    understood = understand(question, kb).document().model_dump()
    for key, value in expected.items():
        if key == "proposition":
            got = understood["proposition"]
            assert (got and (got["treatment"], got["predicate"], got["object"])) == value
        else:
            assert understood[key] == value, (key, understood)


def test_the_query_reads_features_diseases_and_corrections(kb: KnowledgeBase) -> None:
    query = understand("Can a 7-year-old with JDM take minocycline?", kb)
    assert query.disease == "juvenile-dermatomyositis" and query.age_years == 7
    assert query.patient_specific and query.intent in INTENTS
    # two diseases named: neither alone is the context
    assert understand("rituximab in DM and SSc", kb).disease is None
    assert understand("calcinosis after trauma, no autoimmune disease", kb).disease == "other"
    # a negated feature is not a feature
    assert not understand("painful calcinosis, no ulcers", kb).has("ulceration")
    assert understand("asymptomatic calcinosis", kb).has("asymptomatic")
    # spelling: typos are corrected, inflections and clinical terms are not
    assert dict(understand("diltiazme", kb).corrections) == {"diltiazme": "diltiazem"}
    assert understand("2nd degree AV block - ok to start diltiazem?", kb).corrections == ()
    assert understand("How frequently should IL STS be injected?", kb).corrections == ()
    assert dict(understand("warfarine", kb).corrections) == {"warfarine": "warfarin"}
    assert understand("minocyclines for kids", kb).treatments == ("minocycline",)
    assert "treated" in understand("How is metastatic calcinosis treated?", kb).norm


@pytest.mark.parametrize(
    "question",
    [
        "what DOESNT work for calcinosis cutis",  # blind round 21, q21-10
        "what does not work for calcinosis cutis",
        "what doesn't work in SSc calcinosis?",
        "which treatments are ineffective for calcinosis",
        "what treatments dont work for calcinosis",
        "which drugs never helped in DM calcinosis",
    ],
)
def test_what_does_not_work_is_not_read_as_what_works(kb: KnowledgeBase, question: str) -> None:
    """A negated "work" or "effective" asks what not to use: the answer leads with the
    three treatments the sources say do not work (Table 4: warfarin IB, IV sodium
    thiosulfate IV, acetic acid iontophoresis IIB), never with the first-line ones."""
    query = understand(question, kb)
    assert query.intent == "what-not-to-use", query
    assert ("ineffective", "effective") not in query.corrections
    answer = answer_document(question, kb).answer
    assert answer.startswith("The sources advise against these: Warfarin")
    for shown in ("Intravenous sodium thiosulfate", "Iontophoresis of acetic acid"):
        assert shown in answer
    assert not answer.startswith("First-line")


def test_arms_of_the_asked_population_are_counted_apart(kb: KnowledgeBase) -> None:
    # blind round 21 (q21-06): for SSc, rituximab's six arms (three in DM, two of them in
    # children) were pooled with no SSc-only figure; Table 2's SSc arms are Narvaez 9/9,
    # Giuggioli 3/6 and Moazedi-Fuerst 3/3: 15 of 18 (counted here by hand)
    document = answer_document("level of evidence for rituximab (rituxan) in SSc calcinosis?", kb)
    text = " ".join(section.text for section in document.sections)
    alone = text.split("The arms about this patient's population alone: ", 1)[1]
    assert alone.startswith("Narváez 2014 9/9 (adults, SSc); Giuggioli 2015 3/6 (adults, SSc)")
    assert "15 of 18 patients responded (any response), 3 studies" in alone
    assert "DM" not in alone.split("[", 1)[0]
    assert (
        "extrapolated: the arms not about this patient's population, about dermatomyositis" in text
    )
    # the complete responses have their own denominator, said so (rounds 20 and 21)
    assert "complete response in 6 of 50 (the 6 arms that report it, not the same as" in text
    # no disease asked: nothing is counted apart
    plain = answer_document("level of evidence for rituximab in calcinosis?", kb)
    assert "population alone" not in " ".join(section.text for section in plain.sections)


def test_a_dose_two_sources_print_in_different_units_says_so_without_the_wrong_figure(
    kb: KnowledgeBase,
) -> None:
    # 004 prints Balin 2012's colchicine dose as "<=1.2 g per day", 001 as "< 1.2 mg/day"
    # (the audit's colchicine-dose-unit finding); blind round 21 (X3): the dose answer
    # used the milligrams silently
    document = answer_document("colchicine dose for calcinosis cutis in an adult?", kb)
    text = " ".join([document.answer, *(section.text for section in document.sections)])
    assert "< 1.2 mg/day" in document.answer
    assert "This tool's audit flags a unit error: The Balin 2012 colchicine dose" in text
    shown = text + " ".join(c.source for c in document.citations)
    assert "1.2 g" not in shown  # the wrong figure is never printed as a dose
    # a dose no finding is about says nothing of units
    diltiazem = answer_document("diltiazem dose for calcinosis?", kb)
    assert "unit error" not in " ".join(s.text for s in diltiazem.sections)


def test_a_word_the_question_denies_brings_no_related_passage(kb: KnowledgeBase) -> None:
    # blind round 21 (q21-20): "no distress" in a neonate's extravasation question brought
    # colchicine's "gastrointestinal distress" among the related passages
    question = (
        "NICU baby w calcium gluconate extravasation hard lump on foot, no distress - what to do?"
    )
    document = answer_document(question, kb)
    text = " ".join(section.text for section in document.sections)
    assert "distress" not in text and "colchicine" not in text.lower()
    assert "extravasation" in document.answer


def test_a_sentence_recorded_twice_is_quoted_once(kb: KnowledgeBase) -> None:
    # the review's "a lack of substantive data precludes recommending a specific regimen of
    # bisphosphonates" is recorded about DM and about DM or SSc: blind round 21 (q21-11)
    # saw it twice in a row in one section
    document = answer_document("pamidronate regimen for JDM calcinosis? dose", kb)
    text = " ".join([document.answer, *(section.text for section in document.sections)])
    assert text.count("precludes recommending a specific regimen of bisphosphonates") == 1
    assert "1 mg/kg/day" in document.answer


def test_a_negating_prefix_is_never_corrected_away(kb: KnowledgeBase) -> None:
    # "effective" is in the vocabulary and "ineffective" is 0.9 close to it: a typo
    # correction must not turn a word into its opposite (or the opposite into it)
    for word in ("ineffective", "unsafe", "noninvasive", "ineffectively"):
        corrected = dict(understand(f"is it {word}?", kb).corrections)
        assert word not in corrected or not corrected[word].endswith(word[2:5]), corrected
    assert "ineffective" in understand("ineffective treatments?", kb).norm
    assert dict(understand("efective treatment?", kb).corrections) == {"efective": "effective"}


def test_what_the_patient_takes_or_took_is_context(kb: KnowledgeBase) -> None:
    failed = understand("Topical STS failed - what next for her SSc calcinosis?", kb)
    assert failed.treatments == () and failed.prior == (("sodium-thiosulfate-topical", "none"),)
    assert failed.intent in ("first-line", "patient-specific")
    switch = understand("Diltiazem didn't work, should I try colchicine?", kb)
    assert switch.treatments == ("colchicine",) and switch.prior == (("diltiazem", "none"),)
    on = understand("A 7-year-old already on minocycline for acne - is that okay?", kb)
    assert on.medications == ("minocycline",)


@pytest.mark.parametrize(
    ("question", "failed"),
    [
        ("what if topical sts doesnt work?", "sodium-thiosulfate-topical"),
        ("what if IL STS fails in my SSc pt?", "sodium-thiosulfate-intralesional"),
        ("if colchicine doesn't help, what next?", "colchicine"),
    ],
)
def test_a_failure_supposed_is_read_as_one_told(
    kb: KnowledgeBase, question: str, failed: str
) -> None:
    # "what if X doesn't work?" asks what comes after X (read as efficacy before, stop 24);
    # without the "if", "X doesnt work in SSc?" stays a question about X
    query = understand(question, kb)
    assert query.prior == ((failed, "none"),) and query.treatments == ()
    assert query.intent in ("first-line", "patient-specific")
    claim = understand("diltiazem doesnt work in SSc?", kb)
    assert claim.treatments == ("diltiazem",) and claim.prior == ()


def test_lay_words_sizes_and_weights_are_read(kb: KnowledgeBase) -> None:
    lumps = understand(
        "hard chalky lumps on her elbows with dermatomyositis, what can be done?", kb
    )
    assert lumps.in_scope and lumps.intent in ("first-line", "patient-specific")
    assert understand("IL STS for a 1 cm nodule?", kb).treatments == (
        "sodium-thiosulfate-intralesional",
    )
    assert understand("3 small (<5 mm) deposits", kb).lesion_cm == 0.5
    assert understand("diltiazem for a child, she weighs 30 kg", kb).weight_kg == 30


def test_the_vocabulary_is_one_table_per_concept(kb: KnowledgeBase) -> None:
    """No phrase stands for two things; class members and aliases exist in the catalog."""
    phrases = [p for term in CLASSES.values() for p in term.phrases] + list(ALIASES)
    assert len(phrases) == len(set(phrases))
    for cls, term in CLASSES.items():
        assert cls in kb.classes, cls
        assert set(term.members) <= set(kb.classes[cls])
    assert set(ALIASES.values()) <= set(kb.treatments)
    catalog = {s.lower() for t in kb.treatments.values() for s in (t.name, *t.synonyms)}
    assert not catalog & set(ALIASES), "an alias repeats a catalog synonym"


def test_the_json_carries_what_was_understood(kb: KnowledgeBase) -> None:
    understood = answer_question("Is diltiazem safe in heart block?", kb)["understood"]
    assert {"intent", "treatments", "population", "disease", "subtype", "proposition"} <= set(
        understood
    )
    assert understood["proposition"] == {
        "treatment": "diltiazem",
        "predicate": "safe-with",
        "object": "cardiac-conduction-abnormality",
        "inverse": False,
    }
    stop = answer_question("should diltiazem be stopped in heart block?", kb)["understood"]
    assert stop["proposition"] == {
        "treatment": "diltiazem",
        "predicate": "safe-with",
        "object": "cardiac-conduction-abnormality",
        "inverse": True,
    }


# ---------------------------------------------------------------- 2. scope
@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What is the capital of France?", ""),
        ("Dose of metformin for type 2 diabetes?", "diabetes"),
        ("Best treatment for hypertension?", "hypertension"),
        ("Breast calcifications on my mammogram: how are they treated?", "breast"),
        ("Is lithotripsy good for kidney stones?", "kidney stones"),
        ("Treatment of nephrolithiasis?", "kidney stones"),
        ("What does a high coronary artery calcification score mean?", "vascular"),
        ("Aortic valve calcification - does warfarin make it worse?", "vascular"),
        ("ESWT for calcific tendinitis of the shoulder?", "tendinitis"),
        ("Is pineal calcification dangerous?", "brain"),
        ("How are gallstones dissolved?", "gallstones"),
        ("How do I remove dental calculus?", "dental calculus"),
        ("Colchicine for chondrocalcinosis?", "chondrocalcinosis"),
        ("Treatment of a heel spur calcification?", "joint calcification"),
        ("Is there treatment for myositis ossificans?", "ossification"),
        # another indication named (blind round 20): RA spelled out, then refused
        ("whats the starting methotrexate dose for RA?", "rheumatoid arthritis"),
        ("amoxicillin dose for strep throat in a 20kg kid", "strep throat"),
        # only a drug no source discusses, and nothing of calcinosis: refused, drug named
        ("amoxicillin dose in a 20kg kid", "amoxicillin, which no source"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_out_of_scope_is_refused_and_says_why(kb: KnowledgeBase, question: str, named: str) -> None:
    answer = answer_question(question, kb)
    assert answer["in_scope"] is False
    assert answer["citations"] == [] and answer["sections"] == []
    assert "calcinosis cutis" in answer["answer"]
    assert named in answer["answer"]


@pytest.mark.parametrize(
    "question",
    [
        "Does warfarin promote calcification?",
        "Is calciphylaxis a vascular calcification?",
        "ESWL for calcinosis cutis",
        "What dose of diltiazem?",
        "Which treatments should not be used?",
        "Tumoral calcinosis on the shoulder: surgery?",
        "Calcinosis cutis in a patient with breast cancer?",
        # a calcinosis word keeps another condition or an unnamed drug in scope
        "RA patient with calcinosis on the fingers, what to use?",
        "amoxicillin for an infected calcinosis ulcer?",
        # a drug the patient is on is context, not the subject
        "62F limited SSc, painful fingertip nodules, already on nifedipine. what next?",
    ],
)
def test_calcinosis_cutis_and_its_subtypes_stay_in_scope(kb: KnowledgeBase, question: str) -> None:
    assert answer_question(question, kb)["in_scope"] is True


# ---------------------------------------------------------- 3. yes and no
def test_warfarin_promoting_calcification_is_a_hedged_yes(kb: KnowledgeBase) -> None:
    # 001 Discussion: "warfarin could promote ectopic calcification via under-carboxylated
    # matrix gla protein"
    answer = answer_question("Does warfarin promote calcification?", kb)
    assert answer["answer"].startswith("Yes, possibly")
    assert "could promote ectopic calcification" in answer["answer"]
    first = answer["citations"][0]
    assert "under-carboxylated matrix gla protein" in first["quote"]


def test_the_size_of_the_warfarin_trial_is_a_count(kb: KnowledgeBase) -> None:
    # 001 Table 1: Berger, 1987, RCT, SSc (2) adults and DM/SSc (1) DM (2) children;
    # Results: "A small placebo-controlled trial ... in 5 patients"
    for question in (
        "How many patients were in the warfarin trial?",
        "how many pts were in the warfarin RCT for calcinosis cutis?",
    ):
        answer = answer_question(question, kb)
        assert not answer["answer"].startswith(("No", "Yes"))
        assert "Berger 1987" in answer["answer"] and "5 patients" in answer["answer"]
        assert "placebo" in _text(answer)


def test_diltiazem_in_heart_block_leads_with_the_caution(kb: KnowledgeBase) -> None:
    # 004: "Risk for adverse effects of diltiazem may be greatest in patients with reduced
    # ventricular function or cardiac conduction abnormalities."
    # The plans avoid it there (the safer reading): the answer leads with that, then the
    # source's own words, which state a risk, not a contraindication.
    answer = answer_question("Is diltiazem safe in heart block?", kb)
    assert answer["answer"].startswith("No, not advised (the safer reading of the source)")
    assert "not a contraindication" in answer["answer"]
    assert "cardiac conduction abnormalities" in answer["answer"]
    assert "atrioventricular block" in answer["answer"]


def test_what_not_to_use_lists_what_the_sources_advise_against(kb: KnowledgeBase) -> None:
    answer = answer_question("Which treatments should not be used?", kb)
    lead = answer["answer"]
    assert "First-line" not in lead
    for words in (
        "low-dose warfarin should not be used for calcinosis cutis",  # 001 Abstract
        "Should not be recommended (IV)",  # 001 Table 4, intravenous STS
        "seems ineffective (IIB)",  # 001 Table 4, iontophoresis
        "under the age of nine years",  # 004 Minocycline
    ):
        assert words in lead, words
    assert "for dystrophic calcinosis cutis" in lead  # whom the IV STS advice is about
    # 001 Discussion: TNF inhibitors' use "should be carefully scrutinized in SSc": a risk
    # the plans take the safer reading of, not advice against (blind rounds 21 and 22)
    assert "carefully scrutinized in SSc" not in lead
    safety = next(s["text"] for s in answer["sections"] if s["title"] == "Safety")
    risk = safety.split("TNF inhibitors", 1)[0].rsplit(". ", 1)[-1]
    assert risk.startswith("A risk the sources state rather than a prohibition")
    assert "carefully scrutinized in SSc" in safety


@pytest.mark.parametrize(
    ("question", "why"),
    [
        ("Is diltiazem safe in pregnancy?", "pregnancy"),
        ("How much does topical STS cost?", "cost"),
        ("Does tofacitinib help calcinosis?", "tofacitinib"),
    ],
)
def test_what_no_source_addresses_is_said_so(kb: KnowledgeBase, question: str, why: str) -> None:
    answer = answer_question(question, kb)
    assert answer["answer"].startswith("The sources do not answer this directly.")
    assert why in answer["answer"].lower()
    assert "First-line" not in answer["answer"] and "mg" not in answer["answer"]


@pytest.mark.parametrize(
    ("disease", "words"),
    [
        ("systemic-sclerosis", "SSc"),
        ("dermatomyositis", "dermatomyositis"),
        ("systemic-lupus-erythematosus", "lupus"),
        ("juvenile-dermatomyositis", "JDM"),
    ],
)
def test_an_answer_is_never_more_permissive_than_the_plan_for_the_same_patient(
    kb: KnowledgeBase, disease: str, words: str
) -> None:
    """Blind round 20: "pregnant, SSc, ok to start minocycline?" answered only "the sources
    do not answer this directly", while the plan for that patient avoids it (its own
    safer reading). Every option the plan avoids as harmful leads the answer as such,
    with the plan's reason; pregnancy stays unaddressed by the sources, and says so."""
    patient = parse_patient(
        {
            "age_years": 30,
            "subtype": "dystrophic",
            "underlying_disease": disease,
            "conditions": ["pregnancy"],
        },
        kb.therapy_ids(),
    )
    harmful = [o for o in recommend_document(patient, kb).options if o.avoid_reason == "harm"]
    assert any(o.id == "minocycline" for o in harmful)  # the plan's pregnancy reading
    for option in harmful:
        question = f"30 yo pregnant woman with {words} calcinosis - ok to start {option.name}?"
        answer = answer_question(question, kb)
        lead = answer["answer"]
        assert lead.startswith(
            f"Not offered for this patient in this tool's plan ({option.name.lower()})"
        ), (option.id, lead)
        assert option.rationale.rstrip(".") in lead
        assert "none of the sources addresses pregnancy" in lead.lower()
        # the assessment link carries the pregnancy, so the plan there is the same one
        assert "conditions=pregnancy" in _section(answer, "For your patient")


def test_a_safety_question_about_a_condition_no_source_names(kb: KnowledgeBase) -> None:
    answer = answer_question("Is diltiazem safe in liver disease?", kb)
    assert answer["answer"].startswith("The sources do not answer this directly.")
    assert "liver disease" in answer["answer"]
    # what they do say about its safety follows: 004 "Risk for adverse effects of diltiazem ..."
    assert "cardiac conduction abnormalities" in _section(answer, "Safety")


def test_a_weight_based_dose_is_worked_out_and_said_to_be(kb: KnowledgeBase) -> None:
    # 004 Diltiazem: "prescribed most often at a dose of 2 to 4 mg/kg per day"
    lead = answer_question("diltiazem dose for a 10 year old, she weighs 30 kg?", kb)["answer"]
    assert "for 30 kg, 60 to 120 mg per day (worked out here from the mg/kg figure)" in lead


def test_the_size_asked_is_set_against_the_size_figures(kb: KnowledgeBase) -> None:
    # 004: "resolution of 13 of 13 lesions ≤2 cm in size and no response in three larger lesions"
    lead = answer_question("Intralesional STS for a 3 cm nodule?", kb)["answer"]
    assert "13 of 13 lesions (lesions up to 2 cm, so not a 3 cm lesion)" in lead
    assert "0 of 3 lesions (lesions over 2 cm, so a lesion this size)" in lead


def test_advice_for_calcinosis_is_not_carried_to_another_indication(kb: KnowledgeBase) -> None:
    # 001: "low-dose warfarin should not be used for calcinosis cutis" is about warfarin as a
    # treatment of calcinosis, not warfarin for atrial fibrillation
    answer = answer_question(
        "Can warfarin be used in a patient with calcinosis who needs anticoagulation for "
        "atrial fibrillation?",
        kb,
    )
    assert answer["answer"].startswith("The sources do not answer this directly.")
    assert "atrial fibrillation" in answer["answer"]
    # 004 Minocycline: "should not be used for children under the age of nine years" holds
    # whatever the indication
    acne = answer_question("A 7-year-old with calcinosis, on minocycline for acne: okay?", kb)
    assert acne["answer"].startswith("No.")


def test_levels_and_grades_asked_by_name(kb: KnowledgeBase) -> None:
    # 001 Table 4: only the warfarin row is IB; 004 gives Grade 2C to initial STS
    level = answer_question("Which treatments have level IB evidence?", kb)["answer"]
    assert "Review Table 4 (Warfarin)" in level and "Diltiazem" not in level
    grade = answer_question("What is grade 2C?", kb)["answer"]
    assert "Grade 2C" in grade and "does not define" in grade
    none = answer_question("Any treatments graded A?", kb)["answer"]
    assert none.startswith("The sources do not answer this directly.")


def test_a_trial_that_does_not_exist_is_said_not_to(kb: KnowledgeBase) -> None:
    # 001 Results: IVIG in "Two retrospective studies including 15 DM patients"
    answer = answer_question("Is there an RCT of IVIG for calcinosis?", kb)["answer"]
    assert answer.startswith("No: the review has no randomized controlled trial")
    assert "retrospective" in answer


def test_a_study_named_is_answered_with_its_arms_and_other_reports(kb: KnowledgeBase) -> None:
    # 001 Table 1: Balin, 2012, NA (14), diltiazem, 9 (64%); 004: "17 patients were given
    # diltiazem ... Of the 17 patients, 9 had a partial response"
    lead = answer_question("What does Balin 2012 report for diltiazem?", kb)["answer"]
    assert lead.startswith("Balin 2012 (retrospective), diltiazem: 9 of 14 responded")
    assert "17 patients were given diltiazem" in lead


def test_agents_no_source_names_are_said_so(kb: KnowledgeBase) -> None:
    for question in ("Does vitamin K help calcinosis?", "Sildenafil for calcinosis?"):
        answer = answer_question(question, kb)["answer"]
        assert answer.startswith("The sources do not answer this directly."), question
        assert "not among the treatments they discuss" in answer


def test_subtype_passages_lead_for_a_subtype_other_than_dystrophic(kb: KnowledgeBase) -> None:
    # 004 Iatrogenic: "Observation without intervention is a reasonable initial approach for
    # asymptomatic lesions because of the potential for spontaneous resolution within six months"
    answer = answer_question("Should an asymptomatic iatrogenic lesion be treated?", kb)
    assert answer["answer"].startswith("No: not when it is asymptomatic")
    assert "spontaneous resolution within six months" in answer["answer"]


@pytest.mark.parametrize(
    ("question", "words"),
    [
        # 004 Introduction: "The diagnosis and evaluation ... is discussed separately."
        ("How is calcinosis diagnosed?", "discussed separately"),
        # 001 Discussion: "treatment of calcinosis cutis is not included in the updated EULAR
        # recommendations for treating SSc"
        ("What do the guidelines say about calcinosis in SSc?", "EULAR"),
        # 004 Calciphylaxis: "many patients die within a few months of diagnosis"
        ("what is the prognosis of calciphylaxis", "die within a few months"),
    ],
)
def test_overview_questions_about_one_aspect(kb: KnowledgeBase, question: str, words: str) -> None:
    answer = answer_question(question, kb)
    assert answer["understood"]["intent"] == "overview"
    assert words in answer["answer"]


def test_time_to_response_is_not_a_schedule(kb: KnowledgeBase) -> None:
    # No source says when ESWT works; 001 Table 3 gives its schedule "1 day/week 3 weeks"
    answer = answer_question("How long until ESWT works?", kb)["answer"]
    assert answer.startswith("The sources do not answer this directly.")
    assert "1 day/week" not in answer


def test_no_yes_or_no_without_a_record_that_says_so(kb: KnowledgeBase) -> None:
    # No source affirms or denies that diltiazem works: 004 "conflicting conclusions on
    # efficacy"; 001 Table 4 "Should be discussed ..." (IV), grade C.
    answer = answer_question("Does diltiazem work for calcinosis?", kb)
    assert not answer["answer"].startswith(("Yes", "No"))
    assert "grade C" in answer["answer"]


def test_yes_and_no_come_from_the_records(kb: KnowledgeBase) -> None:
    warfarin = answer_question("Should warfarin be used for calcinosis?", kb)
    assert warfarin["answer"].startswith("No.") and "grade B" in warfarin["answer"]
    # 004: "Surgery is an additional primary or adjunctive treatment option for discrete,
    # symptomatic areas of calcinosis cutis"
    surgery = answer_question("Is surgical excision reasonable for a single painful lump?", kb)
    assert surgery["answer"].startswith("Yes") and "discrete, symptomatic" in surgery["answer"]
    # 004 Minocycline: "should not be used for children under the age of nine years"
    child = answer_question("Can a 7-year-old take minocycline?", kb)
    assert child["answer"].startswith("No.") and "nine years" in child["answer"]
    older = answer_question("Can a 12-year-old take minocycline?", kb)
    assert not older["answer"].startswith("No") and "does not apply" in older["answer"]
    # 004: "Clinical follow-up without intervention ... is a reasonable option for calcinosis
    # cutis that is asymptomatic, nonprogressive ..."
    lumps = answer_question("does asymptomatic calcinosis need treatment?", kb)
    assert lumps["answer"].startswith("No: not when it is asymptomatic")


# ---------------------------------------------------------- 4. applicability
def test_a_juvenile_dm_answer_uses_the_childrens_arms(kb: KnowledgeBase) -> None:
    # 001 Table 2: children Bader-Meunier 2011 0/6, Alhemairi 2017 4/4; adults Narvaez,
    # Moazedi-Fuerst, Giuggioli, Fredi
    answer = answer_question("Rituximab for calcinosis in juvenile dermatomyositis?", kb)
    lead = answer["answer"]
    assert "in children" in lead and "Bader-Meunier 2011 0/6" in lead
    counted, _, rest = lead.partition("Not counted above")
    assert "Narváez" not in counted and "Narváez" in rest


def test_iv_thiosulfate_advice_is_not_carried_into_calciphylaxis(kb: KnowledgeBase) -> None:
    # 004: "Sodium thiosulfate, an industrial chemical used in the treatment of disorders such
    # as cyanide poisoning, calciphylaxis, and cisplatin toxicity"; 001 Table 4 is about DM/SSc
    answer = answer_question("Is IV sodium thiosulfate used for calciphylaxis?", kb)
    lead = answer["answer"]
    assert not lead.startswith("No")
    assert "calciphylaxis, and cisplatin toxicity" in lead
    assert "in systemic sclerosis and dermatomyositis; it says nothing about calciphylaxis" in lead
    for sentence in re.split(r"(?<=\.)\s", _text(answer)):
        if "Should not be recommended" in sentence:
            assert "calciphylaxis" in sentence or "not apply" in sentence, sentence
    assert "wound care" in _text(answer)  # 004 Calciphylaxis: "wound care, pain control, ..."


def test_a_grade_no_source_gives_is_the_tools_own(kb: KnowledgeBase) -> None:
    for question in ("What grade is given to JAK inhibitors?", "treatment of calciphylaxis"):
        text = _text(answer_question(question, kb))
        assert "grade D" in text
        for sentence in re.split(r"(?<=[.)])\s", text):
            if "grade D" in sentence:
                assert "tool" in sentence, sentence


def test_a_grade_for_another_population_is_labelled_extrapolated(kb: KnowledgeBase) -> None:
    # 004 Summary: the Grade 2C is "For patients with autoimmune connective tissue
    # disease-associated dystrophic calcinosis"
    traumatic = answer_question("Treatment of calcinosis cutis after trauma, no CTD", kb)
    assert "extrapolated from dystrophic calcinosis" in traumatic["answer"]
    # 004 Iatrogenic: "Observation without intervention is a reasonable initial approach for
    # asymptomatic lesions because of the potential for spontaneous resolution within six months"
    iatrogenic = answer_question(
        "neonate with calcinosis after calcium gluconate extravasation, what should we do?", kb
    )
    assert "spontaneous resolution within six months" in iatrogenic["answer"]


def test_a_childs_dose_comes_first_and_adult_doses_say_so(kb: KnowledgeBase) -> None:
    # 004 Colchicine: "colchicine (1 mg per day) in a child ..."; "our typical regimen for
    # adults is 0.6 mg twice daily"
    lead = answer_question("Colchicine dose for a 7 year old with calcinosis", kb)["answer"]
    assert lead.index("1 mg per day") < lead.index("0.6 mg twice daily")
    assert "adult" in lead[lead.index("0.6 mg twice daily") :][:80]


def test_no_dose_follows_not_advised_for_the_patient_asked_about(kb: KnowledgeBase) -> None:
    # 004 Minocycline: "should not be used for children under the age of nine years";
    # "Our typical regimen for adults is 100 mg twice daily" (blind round 24, q24-02)
    child = answer_question("minocyclin dose for calcinosis in a 7 year old with JDM?", kb)
    lead = child["answer"]
    assert lead.startswith("Not advised for this patient (minocycline")
    assert "under the age of nine" in lead
    assert not re.search(r"\d\s*mg", lead)  # no adult dose under "not advised"
    assert "No dose of minocycline is given here" in lead and "/treatments/minocycline" in lead
    assert "No source gives a dose" not in lead
    # an adult asked about: the doses, as before
    adult = answer_question("minocycline dose for calcinosis in a 40 year old with SSc?", kb)
    assert "100 mg twice daily" in adult["answer"]


def test_no_regimen_can_be_recommended_comes_before_the_regimens_reported(
    kb: KnowledgeBase,
) -> None:
    # 001 Discussion: "a lack of substantive data precludes recommending a specific regimen
    # of bisphosphonates"; Table 3: pamidronate "IV 1mg/kg/day ..." (blind round 24, q24-15)
    lead = answer_question(
        "Which bisphosphonate regimen is recommended for juvenile dermatomyositis calcinosis?", kb
    )["answer"]
    assert lead.startswith('The review (Traineau 2020): "Nevertheless, a lack of substantive')
    assert lead.index("precludes recommending a specific regimen") < lead.index("1 mg/kg/day")


def test_a_caution_is_followed_by_what_the_source_offers_instead(kb: KnowledgeBase) -> None:
    # 001 Discussion, lines 247-250: "However, the surgical management of digital calcinosis
    # cutis in SSc may lead to skin necrosis and limited range of motion. Less invasive
    # procedures such as carbon dioxide laser or extracorporeal shockwave therapy may be
    # useful, but the level of evidence is weak." (blind round 24, q24-20)
    lead = answer_question("Is surgery a good idea for fingertip calcinosis in scleroderma?", kb)
    text = lead["answer"]
    assert text.startswith("Yes, with caution: ")
    assert text.index("skin necrosis") < text.index('It goes on: "Less invasive procedures')
    # asked how well it works (blind round 25, q25-18): the caution leads, and goes on
    works = answer_question(
        "Is surgical excision a good option for digital calcinosis in systemic sclerosis?", kb
    )["answer"]
    assert works.index("skin necrosis") < works.index('It goes on: "Less invasive procedures')
    # no caution for this patient (DM), nothing goes on
    dm = answer_question("Is surgery a good idea for calcinosis in dermatomyositis?", kb)
    assert dm["answer"].startswith("Yes: ") and "It goes on" not in dm["answer"]


def test_passages_beside_an_answer_are_about_the_subtype_asked(kb: KnowledgeBase) -> None:
    # blind round 24, q24-19: the review's "No relapse was observed after 2 years'
    # follow-up in one study" (warfarin, dystrophic calcinosis in SSc) was added beside an
    # answer on iatrogenic calcinosis in a newborn
    answer = answer_question(
        "calcinossis after calcium gluconate extravasation in a newborn - what should we do?", kb
    )
    related = _section(answer, "Related passages")
    assert related and "Iatrogenic calcinosis cutis most often results" in related
    assert "warfarin" not in related.lower() and "dystrophic" not in related


# ---------------------------------------------------------- 5. disagreements
@pytest.mark.parametrize(
    "question",
    [
        "Rituximab for calcinosis cutis?",
        "Does IVIG help calcinosis cutis in dermatomyositis?",
        "Bisphosphonates for calcinosis in JDM?",
        "Infliximab in scleroderma calcinosis?",
    ],
)
def test_disagreements_are_about_what_was_asked(kb: KnowledgeBase, question: str) -> None:
    section = _section(answer_question(question, kb), "Where the sources disagree")
    assert "warfarin" not in section.lower()


def test_the_warfarin_disagreement_shows_for_warfarin(kb: KnowledgeBase) -> None:
    section = _section(
        answer_question("Should warfarin be used?", kb), "Where the sources disagree"
    )
    assert section.startswith("On warfarin") or "On warfarin" in section


def test_a_printed_cell_the_counts_contradict_is_shown_for_its_treatment(
    kb: KnowledgeBase,
) -> None:
    """Blind round 25, q25-01 (minor): a warfarin answer counts Cukierman 2004 as 2 of 3
    (SSc) while the review's Table 1 prints "DM (5) SSc (3)"; the answer says so, with
    the row. A question about another treatment does not."""
    section = _section(
        answer_question(
            "Should low-dose warfarin be used to treat calcinosis cutis in systemic sclerosis?", kb
        ),
        "Where the sources disagree",
    )
    assert 'Table 1, Warfarin, Adults, row 3 prints "DM (5) SSc (3)" for Cukierman 2004' in section
    assert "lists 8 patients; the response cells and the text give 3" in section
    other = _section(
        answer_question("Does diltiazem work for calcinosis?", kb), "Where the sources disagree"
    )
    assert "DM (5)" not in other and "Cukierman" not in other


# ------------------------------------------------------------- 6. citations
QUESTIONS = [
    "Should warfarin be used for calcinosis?",
    "What dose of diltiazem?",
    "First-line treatment in systemic sclerosis?",
    "Side effects of intralesional sodium thiosulfate?",
    "Can a 7-year-old take minocycline?",
    "compare diltiazem vs colchicine",
    "level of evidence for rituximab",
    "treatment of calciphylaxis",
    "Does warfarin promote calcification?",
    "How many patients were in the warfarin trial?",
    "Which treatments should not be used?",
    "How common is calcinosis in systemic sclerosis?",
    "How long does topical sodium thiosulfate take to work?",
    "CO2 laser for digital calcinosis in SSc: results, complications, recurrence?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_citation_resolves_and_every_section_is_cited(
    kb: KnowledgeBase, question: str
) -> None:
    answer = answer_question(question, kb)
    assert answer["in_scope"] and answer["answer"]
    numbers = {c["n"] for c in answer["citations"]}
    assert numbers == set(range(1, len(numbers) + 1))
    for text in [answer["answer"], *(s["text"] for s in answer["sections"])]:
        for n in CITATION.findall(text):
            assert int(n) in numbers
    for citation in answer["citations"]:
        assert citation["source"] in kb.sources and citation["location"]
        assert set(citation["reference"]) >= {"authors", "title", "journal", "year", "doi"}
        assert (citation.get("kind") == "ai-generated") == (citation["source"] == "ai-answer-dm")
    for section in answer["sections"]:
        if section["title"] != "For your patient":
            assert CITATION.search(section["text"]), section


@pytest.mark.skipif(
    not SEEDS.is_dir(), reason="source documents absent: set CALCINOSIS_SOURCES_DIR to check quotes"
)
@pytest.mark.parametrize("question", QUESTIONS)
def test_each_citation_quotes_its_own_sentence_from_the_seed(
    kb: KnowledgeBase, question: str
) -> None:
    seeds = {
        source.id: _letters((SEEDS / source.seed_file).read_text(encoding="utf-8"))
        for source in kb.sources.values()
    }
    answer = answer_question(question, kb)
    keys = [(c["source"], c["location"], c["quote"]) for c in answer["citations"]]
    assert len(keys) == len(set(keys)), "two citations for one sentence"
    for citation in answer["citations"]:
        assert citation["quote"], f"a citation without its sentence: {citation}"
        for cell in citation["quote"].split(" | "):  # a table row: its cells
            for fragment in cell.split("..."):
                if len(_letters(fragment)) >= 6:
                    assert _letters(fragment) in seeds[citation["source"]], (citation, fragment)


def test_two_claims_of_one_section_cite_their_own_sentences(kb: KnowledgeBase) -> None:
    # 004 Diltiazem: "Diltiazem is prescribed most often at a dose of 2 to 4 mg/kg per day" and
    # "Our typical dose for adults is 240 mg per day." are two sentences of one paragraph
    answer = answer_question("What dose of diltiazem?", kb)
    quotes = {c["n"]: c["quote"] for c in answer["citations"]}
    for dose in ("2 to 4 mg/kg per day", "240 mg per day"):
        number = int(re.search(rf"{dose}[^\[]*\[(\d+)\]", answer["answer"]).group(1))  # type: ignore[union-attr]
        assert dose in quotes[number], (dose, quotes[number])


def test_the_unit_of_a_count_is_said(kb: KnowledgeBase) -> None:
    # 001 Table 3 footnote: "Improvement in 12/15 digits in 10 treated patients."
    lead = answer_question("Does microdrilling work for digital calcinosis?", kb)["answer"]
    assert "12/15 digits" in lead and "10 patients" in lead


# ------------------------------------------------------------ grounding
def test_the_answers_are_grounded_in_the_records(kb: KnowledgeBase) -> None:
    dose = answer_question("What dose of diltiazem?", kb)["answer"]
    assert "240 mg per day" in dose and "2 to 4 mg/kg per day" in dose
    child = answer_question("Can a 7-year-old take minocycline?", kb)
    assert child["patient_specific"] and _section(child, "For your patient")
    cyclo = answer_question("Does cyclophosphamide work?", kb)
    assert "9/14" in cyclo["answer"] and "69%" not in cyclo["answer"]
    # Table 4's 69% is shown only as the review's internal disagreement (001 Table 4 vs text)
    for section in cyclo["sections"]:
        if "69%" in section["text"]:
            assert section["title"] == "Where the sources disagree"


def test_first_line_shows_where_sources_disagree(kb: KnowledgeBase) -> None:
    answer = answer_question("First-line treatment for calcinosis in dermatomyositis?", kb)
    assert "2C" in answer["answer"] and "sodium thiosulfate" in answer["answer"]
    assert "diltiazem" in _section(answer, "Where the sources disagree").lower()


def test_fts5_index_ranks_passages(kb: KnowledgeBase) -> None:
    count = _index(kb).execute("SELECT count(*) FROM passages").fetchone()[0]
    assert count == len(passages(kb)) >= len({s.quote for s in kb.statements})
    hits = search(kb, "tooth discoloration minocycline children")
    assert hits and "nine" in hits[0].text.lower()


# ---------------------------------------------------------------- entry points
def test_cli_ask(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "What", "dose", "of", "diltiazem?"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the terminal text is wrapped
    assert "240 mg" in out and "CITATIONS" in out and "does not replace" in out
    assert ".txt" not in out, "users never see source file names"
    assert main(["ask", "--format", "json", "Should warfarin be used?"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"in_scope", "answer", "sections", "citations", "understood"} <= set(document)
    assert main(["ask", " "]) == 2
    assert "give a question" in capsys.readouterr().err


def test_render_answer_names_sources_not_files(kb: KnowledgeBase) -> None:
    text = render_answer(answer_document("Side effects of colchicine?", kb))
    assert "seeds/" not in text and ".txt" not in text
    assert "management" in text.lower()


def test_api_and_page(client: TestClient) -> None:
    response = client.post("/api/answers", json={"question": "Side effects of colchicine?"})
    assert response.status_code == 200
    assert "gastrointestinal" in response.json()["answer"].lower()
    assert response.json()["understood"]["intent"] == "adverse-effects"
    assert client.post("/api/answers", json={"question": ""}).status_code == 422
    assert client.post("/api/answers", json={"question": "x" * 1001}).status_code == 422
    page = BeautifulSoup(client.get("/ask?q=Should+warfarin+be+used").text, "html.parser")
    assert page.find(id="answer")["data-in-scope"] == "true"
    assert page.select(".citations li")
    refused = BeautifulSoup(client.get("/ask?q=capital+of+France").text, "html.parser")
    assert refused.find(id="answer")["data-in-scope"] == "false"


# ------------------------------------------------------------- blind round 3q classes
@pytest.mark.parametrize(
    "question",
    [
        "scrotal calcinosis tx",
        "subepidermal calcified nodule treatment",
        "tumoral calcinosis",
    ],
)
def test_idiopathic_forms_get_the_idiopathic_answer(kb: KnowledgeBase, question: str) -> None:
    answer = answer_question(question, kb)
    assert answer["understood"]["subtype"] == "idiopathic"
    assert not answer["answer"].startswith("The sources do not answer")
    assert "surgical excision" in answer["answer"]
    assert "not necessary in asymptomatic" in answer["answer"]


def test_a_dystrophic_grade_asked_of_calciphylaxis_is_no(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "dialysis pt with calciphylaxis ulcers - does the grade 2C topical thiosulfate "
        "recommendation apply?",
        kb,
    )
    assert answer["answer"].startswith("No, not for this subtype")
    assert "multi-interventional" in answer["answer"]
    assert "urgent" in answer["answer"]
    assert all(c["source"] != "nowaczyk-2021" for c in answer["citations"])


def test_iatrogenic_symptoms_not_stated_observes_first(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "NICU baby with a calcified lump after calcium gluconate extravasation, what is the "
        "treatment?",
        kb,
    )
    assert "First-line for iatrogenic calcinosis cutis in a child" in answer["answer"]
    assert re.search(r"algorithm gives it: observation", answer["answer"])


@pytest.mark.parametrize(
    ("question", "distribution"),
    [
        (
            "8 yo with JDM, lots of calcinotic nodules on both legs and buttocks, what to start?",
            "widespread",
        ),
        ("adult DM with calcinosis all over the arms, first-line?", "widespread"),
        ("first-line for one small nodule on the elbow in SSc?", "localized"),
        ("localized calcinosis in dermatomyositis, first-line?", "localized"),
    ],
)
def test_extent_in_words_reaches_the_profile(
    kb: KnowledgeBase, question: str, distribution: str
) -> None:
    profile, _ = _profile(Draft(kb, understand(question, kb)))
    assert profile["lesions"]["distribution"] == distribution
    assert "symptomatic" not in profile  # symptoms not stated: not assumed


def test_widespread_lesions_lead_with_systemic_therapy(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "8 yo with JDM, lots of calcinotic nodules on both legs and buttocks, what to start?", kb
    )
    lead = answer["answer"].split("First-line", 1)[1]
    assert "sodium thiosulfate" not in lead.split("[", 1)[0]


def test_citations_carry_no_file_names(kb: KnowledgeBase) -> None:
    answer = answer_question("Does minocycline work in limited SSc?", kb)
    assert answer["citations"]
    assert all("seed_file" not in c for c in answer["citations"])
    assert ".txt" not in json.dumps(answer)


def test_outcome_yes_no_questions_lead_with_the_answer(kb: KnowledgeBase) -> None:
    eswl = answer_question("does ESWL get rid of calcinosis deposits completely?", kb)
    assert eswl["answer"].startswith("No") and "0 of 7" in eswl["answer"]
    size = answer_question("does lesion size matter for topical sts?", kb)
    assert size["answer"].startswith("Yes")
    treat = answer_question("do i have to treat calcinosis in a DM pt if its asymptomatic?", kb)
    assert treat["answer"].startswith("No")


def test_a_comparison_says_no_head_to_head_study_first(kb: KnowledgeBase) -> None:
    answer = answer_question("diltiazem vs minocycline for calcinosis, which is better?", kb)
    assert answer["answer"].startswith("No study compares diltiazem and minocycline")


def test_a_slash_names_both_treatments(kb: KnowledgeBase) -> None:
    answer = answer_question("success rate of surgical excision / microdrilling in SSc?", kb)
    assert "27/28" in answer["answer"] and "22 of 28" in answer["answer"]


def test_a_study_with_two_populations_names_each(kb: KnowledgeBase) -> None:
    answer = answer_question("does warfarin work for calcinosis?", kb)
    assert "Berger 1987 0/5, 0% (2 adults, SSc; 3 children, DM or SSc)" in _text(answer)


def test_an_extrapolated_grade_names_its_option(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "adult DM pt with widespread calcinosis, too many lesions to inject - what systemic "
        "options?",
        kb,
    )
    assert "That grade is extrapolated" not in answer["answer"]
    assert "The grade of minocycline is extrapolated" in answer["answer"]


def test_a_general_question_is_not_about_one_patient(kb: KnowledgeBase) -> None:
    general = answer_question("should i use low dose warfarin for calcinosis cutis?", kb)
    assert general["patient_specific"] is False
    assert "one patient" not in _text(general)
    assert answer_question("should i give my patient warfarin?", kb)["patient_specific"]


def test_no_citation_quotes_just_an_author_name(kb: KnowledgeBase) -> None:
    for question in (
        "How effective is minocycline for calcinosis in limited cutaneous SSc?",
        "colchicine dose for a child with calcinosis?",
        "can a 7 year old take minocycline for calcinosis?",
    ):
        for citation in answer_question(question, kb)["citations"]:
            quote = citation["quote"] or ""
            assert not re.fullmatch(r"[…\w\s,]{0,30}et al\.?", quote), (question, quote)


# ---------------------------------------------------------------- session 3 classes
@pytest.mark.parametrize(
    ("words", "treatment"),
    [
        ("cellcept", "mycophenolate-mofetil"),
        ("MMF", "mycophenolate-mofetil"),
        ("mtx", "methotrexate"),
        ("privigen", "ivig"),
        ("inflectra", "infliximab"),
        ("truxima", "rituximab"),
        ("calan", "verapamil"),
        ("kenalog", "intralesional-corticosteroids"),
    ],
)
def test_brand_names_and_short_forms_are_understood(
    kb: KnowledgeBase, words: str, treatment: str
) -> None:
    understood = answer_question(f"{words} for calcinosis cutis?", kb)["understood"]
    assert understood["treatments"] == [treatment]


@pytest.mark.parametrize("words", ["methotrexate", "mycophenolate", "prednisone", "xeljanz"])
def test_what_only_the_ai_answer_speaks_of_is_said_first(kb: KnowledgeBase, words: str) -> None:
    # 002 is the only source that names these (the seeds' README: "claims about ...
    # immunosuppressants, JAK inhibitors"); its claims are never read as evidence
    lead = answer_question(f"does {words} help calcinosis in dermatomyositis?", kb)["answer"]
    if words == "xeljanz":  # a brand of a drug the sources name only by its class
        assert lead.startswith("The sources do not answer this directly.")
    else:
        assert lead.startswith("Only the AI-generated answer (not peer-reviewed) speaks of")


def test_a_drug_ruled_out_for_an_exhausted_patient_names_what_remains(kb: KnowledgeBase) -> None:
    # 001: TNF inhibitors "should be carefully scrutinized in SSc because of reports of
    # severe exacerbation of pulmonary fibrosis"; 004 lists other drug therapies (rituximab
    # among them) once the usual options are exhausted
    answer = answer_question(
        "scleroderma + ILD + calcinosis, failed everything, thinking humira or remicade?", kb
    )
    lead = answer["answer"]
    assert lead.startswith("Not advised for this patient")
    assert "rituximab" in lead
    assert "assuming that the options tried and failed are the usual" in lead
    assert answer["understood"]["features"] == ["exhausted"]


def test_asking_leave_to_refer_for_surgery_is_a_yes_no(kb: KnowledgeBase) -> None:
    # 004: "Surgical removal is an additional option for discrete, symptomatic areas"
    lead = answer_question(
        "DM pt, single 4 cm painful calcinotic mass on the thigh. can i refer for excision?", kb
    )["answer"]
    assert lead.startswith("Yes: the management topic says")
    assert "discrete, symptomatic" in lead


def test_a_calciphylaxis_question_carries_its_own_management(kb: KnowledgeBase) -> None:
    # 004: calciphylaxis "Management consists of a multi-interventional approach involving
    # wound care, pain control, prompt treatment of infection..."
    text = render_answer(
        answer_document("calciphylaxis on dialysis: what IV sodium thiosulfate dose?", kb)
    )
    assert "wound care, pain control, prompt treatment of" in " ".join(text.split())


def test_on_a_drug_is_taking_it_and_a_lone_yes_no_is_about_it(kb: KnowledgeBase) -> None:
    understood = answer_question(
        "12yo JDM, ulcerated calcinosis on elbows, on MTX + pred, dose of minocycline?", kb
    )["understood"]
    assert understood["treatments"] == ["minocycline"]
    assert understood["medications"] == ["methotrexate"]  # "pred": prednisone or -olone
    data = answer_question("data on colchicine for calcinosis?", kb)["understood"]
    assert data["treatments"] == ["colchicine"] and data["medications"] == []


def test_spontaneous_resolution_is_answered_for_the_form_the_source_names(
    kb: KnowledgeBase,
) -> None:
    # 004: "subepidermal calcified nodules often spontaneously resolve when the nodule
    # ulcerates and eliminates calcium transepidermally"
    yes = answer_question("do subepidermal calcified nodules go away on their own?", kb)
    assert yes["understood"]["proposition"]["predicate"] == "resolves-alone"
    assert yes["answer"].startswith("Yes, often:") and "transepidermally" in yes["answer"]
    other = answer_question("does scrotal calcinosis go away on its own?", kb)["answer"]
    assert other.startswith("Only for one form, as the sources put it:")
    dystrophic = answer_question("does SSc calcinosis go away on its own?", kb)["answer"]
    assert dystrophic.startswith("The sources do not answer this directly.")


def test_lots_of_inflammation_is_not_lots_of_lesions(kb: KnowledgeBase) -> None:
    inflamed = answer_question(
        "can i start minocin in an 8 yo w JDM calcinosis? lots of inflammation around the nodules",
        kb,
    )["understood"]
    assert "widespread" not in inflamed["features"] and "inflammation" in inflamed["features"]
    many = answer_question("lots of nodules on both legs in JDM, what now?", kb)["understood"]
    assert "widespread" in many["features"]


def test_how_often_lesions_clear_asks_for_a_response_rate(kb: KnowledgeBase) -> None:
    # 004: topical STS "resolution of all 53 treated lesions <0.2 cm"
    answer = answer_question(
        "topical sts for really tiny (<2 mm) calcinosis spots - how often do they clear?", kb
    )
    assert answer["understood"]["intent"] == "efficacy"
    assert "53 of 53 lesions" in answer["answer"]
    dose = answer_question("how often should topical STS be applied?", kb)["understood"]
    assert dose["intent"] == "dose"


def test_no_arm_in_the_disease_asked_is_said_first(kb: KnowledgeBase) -> None:
    # 001 Table 2: the bisphosphonate arms are in DM (mostly juvenile), and Balin 2012
    # does not say its patients' disease
    lead = answer_question("any evidence for bisphosphonates in scleroderma calcinosis?", kb)
    assert lead["answer"].startswith(
        "No study arm in the review is known to be of bisphosphonates in systemic "
        "sclerosis; of its 6 arms, 5 in DM and 1 from Balin 2012"
    )
    ivig = answer_question("IVIG for calcinosis in systemic sclerosis?", kb)["answer"]
    assert ivig.startswith("No direct evidence: no study arm in the review is of intravenous")
    # Table 4 counts DM patients among those given IV STS (DM 4, SSc 3), arms unspecified
    iv = answer_question("IV sodium thiosulfate in DM calcinosis: any data?", kb)["answer"]
    assert "No direct evidence" not in iv and "known to be" not in iv
    diltiazem = answer_question("does diltiazem work in SSc calcinosis?", kb)["answer"]
    assert not diltiazem.startswith("No direct evidence")  # Vayssairat 1998 is in SSc


def test_what_the_patient_cannot_have_is_left_out_of_the_plan(kb: KnowledgeBase) -> None:
    # 004 lists other drug therapies once the usual options are exhausted; surgery is one
    # of the remaining options, but not for a patient who cannot have it
    answer = answer_question(
        "nothings worked - failed topical + IL STS, diltiazem, colchicine and mino, and she is "
        "not a surgical candidate (DM). what now?",
        kb,
    )
    assert answer["understood"]["unavailable"] == ["surgical-excision"]
    lead = answer["answer"]
    assert lead.startswith("Left out, as the question says it cannot be had: surgical excision.")
    assert "rituximab" in lead and "First-line for" not in lead


@pytest.mark.parametrize(
    ("question", "starts"),
    [
        ("minocin ok for a 15 yo with JDM calcinosis and inflamed ulcerated nodules?", "Yes"),
        ("minocin ok for a 7 yo with JDM calcinosis?", "No."),
        ("IV sodium thiosulfate for DM calcinosis (not calciphylaxis) - recommended?", "No."),
    ],
)
def test_a_yes_no_asked_after_the_drug_is_answered_yes_or_no(
    kb: KnowledgeBase, question: str, starts: str
) -> None:
    # 004: minocycline "should not be used for children under the age of nine years";
    # 001 Table 4: intravenous sodium thiosulfate "Should not be recommended (IV)"
    assert answer_question(question, kb)["answer"].startswith(starts)


def test_regimens_asked_of_two_treatments_are_a_dose_question(kb: KnowledgeBase) -> None:
    answer = answer_question("topical vs IL STS - what concentrations and how often?", kb)
    assert answer["understood"]["intent"] == "dose"
    assert "150 to 250 mg/mL" in answer["answer"] and "25%" in answer["answer"]


def test_a_part_the_sources_speak_of_only_in_general_does_not_sink_the_rest(
    kb: KnowledgeBase,
) -> None:
    # 001 Results: IVIG "5/8 (62%)" partial response (Galimberti) and 0/7 (Fredi)
    answer = answer_question(
        "IVIG for DM calcinosis - response rate? and is it worth combining w/ prednisone?", kb
    )["answer"]
    assert not answer.startswith("The sources do not answer this directly.")
    assert "Galimberti 2015 5/8" in answer
    assert "On the other part of the question: the sources speak of combining" in answer
    alone = answer_question("is it worth combining IVIG with prednisone?", kb)["answer"]
    assert alone.startswith("The sources do not answer this directly.")


def test_diseases_ruled_out_are_not_named_and_lupus_panniculitis_is_its_own(
    kb: KnowledgeBase,
) -> None:
    # 004: diltiazem "has appeared to be of benefit ... systemic lupus erythematosus [20],
    # lupus panniculitis [21]"
    answer = answer_question(
        "calcinosis in lupus panniculitis (not SSc or DM) - is there any data for diltiazem?", kb
    )
    assert answer["understood"]["disease"] == "other"
    assert answer["understood"]["subtype"] == "dystrophic"
    assert (
        answer["answer"].startswith("Yes, as reported:")
        and "lupus panniculitis" in answer["answer"]
    )


def test_following_the_dystrophic_algorithm_in_calciphylaxis_is_a_no(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "pt on HD with calciphylaxis (not dystrophic calcinosis) - do I just follow the "
        "topical/IL STS-first algorithm?",
        kb,
    )["answer"]
    assert answer.startswith("No: the management topic manages calciphylaxis on its own terms.")
    assert "avoidance of local tissue trauma" in answer


def test_local_sts_rather_than_oral_drugs_is_a_yes_for_few_lesions(kb: KnowledgeBase) -> None:
    # 004: "we suggest topical or intralesional sodium thiosulfate as initial treatment
    # rather than systemic therapy (Grade 2C)"
    few = answer_question(
        "few small (<1 cm) symptomatic lesions in limited SSc - should topical/IL STS be first "
        "line rather than oral meds?",
        kb,
    )["answer"]
    assert few.startswith("Yes, as initial treatment:")
    many = answer_question(
        "widespread calcinosis all over in SSc - should IL STS be first line rather than oral "
        "meds?",
        kb,
    )["answer"]
    assert many.startswith("Not for widespread lesions:")


def test_the_yes_of_a_two_part_question_is_the_clause_it_answers(kb: KnowledgeBase) -> None:
    # 001: CO2 laser, Bottomley 1996, 5/6 SSc patients improved; its adverse events
    answer = answer_question(
        "co2 laser for fingertip calcinosis in SSc - does it work and what are the risks?", kb
    )
    assert answer["understood"]["proposition"]["predicate"] == "effective"
    assert "adverse-effects" in [answer["understood"]["intent"], *answer["understood"]["also"]]
    assert "Bottomley 1996 5/6" in answer["answer"]
    assert not answer["answer"].startswith("The sources do not answer this directly.")


def test_whether_a_nodule_has_to_be_excised_is_whether_it_needs_treatment(
    kb: KnowledgeBase,
) -> None:
    # 004: "Treatment of idiopathic calcinosis cutis is not necessary in asymptomatic
    # patients who are not bothered by the condition"
    lead = answer_question(
        "6 yo with a subepidermal calcified nodule on the cheek, not bothering him - does it "
        "have to be excised?",
        kb,
    )["answer"]
    assert lead.startswith("No: not when it is asymptomatic.")


@pytest.mark.parametrize(
    ("question", "starts"),
    [
        ("Is diltiazem the right tx for metastatic calcinosis cutis from CKD w/ high phos?", "No"),
        (
            "few small (<1 cm) lesions on fingertips in lcSSc - first line? and what's the grade?",
            "First-line",
        ),
        (
            "Does vitamin K2 (menaquinone) supplementation help SSc calcinosis?",
            "The sources do not answer",
        ),
        (
            "post-traumatic calcinosis cutis on the knee, no CTD - should I start diltiazem?",
            "Not on the sources' evidence",
        ),
    ],
)
def test_round_16_classes(kb: KnowledgeBase, question: str, starts: str) -> None:
    assert answer_question(question, kb)["answer"].startswith(starts)


def test_a_treatment_asked_next_is_not_one_that_failed(kb: KnowledgeBase) -> None:
    understood = answer_question(
        "adult DM, calcinosis failed IL STS, dilt, colch and mino. IVIG next? anything else?", kb
    )["understood"]
    assert understood["treatments"] == ["ivig"]
    assert "ivig" not in [p["treatment"] for p in understood["prior_treatments"]]


def test_a_procedure_s_settings_no_source_reports_are_said_to_be_unreported(
    kb: KnowledgeBase,
) -> None:
    # 001 gives ESWL schedules (Blumhardt 2016, Sultan-Bichat 2012), never shocks or energy
    answer = answer_question(
        "ESWL settings for calcinosis in CREST - how many shocks and what energy?", kb
    )
    assert answer["understood"]["intent"] == "dose"
    assert answer["answer"].startswith(
        "The settings of extracorporeal shock-wave therapy (the number of shocks or pulses, "
        "the energy) are not reported in any source"
    )
    assert "1 day a week for 3 weeks" in answer["answer"]


def test_a_trial_s_result_is_given_per_population_with_its_outcome_status(
    kb: KnowledgeBase,
) -> None:
    # 001 Table 2: Aggarwal, RCT, DM (7) adults and DM (22) children, partial NA, complete
    # 1 (14%) and 1 (4%); Discussion lines 257-259: calcinosis was its secondary outcome
    answer = answer_question("is there any RCT evidence that rituximab works for calcinosis?", kb)
    lead = answer["answer"]
    assert "adults with DM: complete response in 1 of 7 (14%); partial response not reported" in (
        lead
    )
    assert "children with DM: complete response in 1 of 22" in lead
    assert "calcinosis was only a secondary outcome of this trial" in lead
    quotes = [c["quote"] for c in answer["citations"]]
    assert any("calcinosis cutis as the secondary outcome" in q for q in quotes)


def test_a_primary_outcome_trial_gives_responders_of_its_patients(kb: KnowledgeBase) -> None:
    # 001 Table 1: Berger 1987, RCT, SSc (2) adults and DM/SSc (3) children, 0 responders
    lead = answer_question("how many patients were in the warfarin trial?", kb)["answer"]
    assert "adults with SSc: 0 of 2 responded (0%)" in lead
    assert "secondary outcome" not in lead


def test_anything_else_after_a_treatment_asked_next_lists_what_the_plan_offers(
    kb: KnowledgeBase,
) -> None:
    answer = answer_question(
        "adult DM, calcinosis failed IL STS, dilt, colch and mino. IVIG next? anything else?", kb
    )
    assert answer["understood"]["intent"] == "efficacy"  # IVIG, asked first, leads
    assert answer["understood"]["also"] == ["first-line"]
    assert answer["answer"].startswith("Review Table 4 (Intravenous immunoglobulins)")
    # local therapy (IL STS) and the three systemic drugs failed: the topic's other
    # treatments and surgery, not topical STS, are what is left
    assert "what the plan offers: surgical excision" in answer["answer"]
    assert "rituximab" in answer["answer"] and "pamidronate" in answer["answer"]
    assert "what the plan offers: topical sodium thiosulfate" not in answer["answer"]


def test_a_study_the_review_gives_no_count_for_is_said_to_have_none(kb: KnowledgeBase) -> None:
    # 001 Results lines 153-157: Boulter 2011 is one of 3 infliximab studies, with no count
    lead = answer_question("infliximab for JDM calcinosis: how many patients and results?", kb)[
        "answer"
    ]
    assert "Boulter 2011 (retrospective; children with DM): the review gives no number" in lead
    assert "0 of 0" not in lead and "None" not in lead
    one = answer_question("are there any trials of abatacept?", kb)["answer"]
    assert one.startswith(
        "No: the review has no randomized controlled trial of abatacept; its study of it is "
        "retrospective"
    )


@pytest.mark.parametrize(
    ("question", "starts"),
    [
        # 004: "Risk for adverse effects of diltiazem may be greatest in patients with
        # reduced ventricular function or cardiac conduction abnormalities"
        (
            "should I stop diltiazem if the patient has heart failure?",
            "Yes, the safer course is to avoid or stop it",
        ),
        ("is diltiazem safe in heart failure?", "No, not advised"),
        # 004: "Minocycline should not be used for children under the age of nine years"
        ("should minocycline be avoided in an 8 year old?", "Yes, avoid it. Minocycline"),
        ("can an 8 year old take minocycline?", "No. Minocycline"),
        ("should I avoid minocycline in a 12 year old with JDM?", "No, not for its age"),
    ],
)
def test_avoid_or_stop_is_answered_as_asked(kb: KnowledgeBase, question: str, starts: str) -> None:
    assert answer_question(question, kb)["answer"].startswith(starts)


def test_no_plan_instead_when_the_answer_is_not_to_avoid_it(kb: KnowledgeBase) -> None:
    answer = answer_question("should I avoid minocycline in a 12 year old with JDM?", kb)
    assert "instead" not in answer["answer"]


@pytest.mark.parametrize(
    "question",
    [
        "which treatment has the best evidence?",
        "what treatment for calcinosis has the strongest level of evidence?",
    ],
)
def test_the_best_evidence_is_the_highest_grade_and_what_it_is_against(
    kb: KnowledgeBase, question: str
) -> None:
    # 001 Table 4: only warfarin is above grade C (B, level IB, "Should not be
    # recommended"); 004 gives one graded suggestion, topical or IL STS (Grade 2C)
    answer = answer_question(question, kb)
    assert answer["in_scope"] is True
    assert answer["understood"]["intent"] == "level-or-grade"
    lead = answer["answer"]
    assert lead.startswith("No treatment of calcinosis cutis has strong evidence.")
    assert "grade B, and it is a grade against a treatment" in lead
    assert '"Should not be recommended (IB)"' in lead
    assert "The other 12 rows of Table 4 are grade C" in lead
    assert "(Grade 2C)" in lead


def test_the_best_evidence_based_option_for_a_patient_is_still_the_plan(
    kb: KnowledgeBase,
) -> None:
    understood = answer_question(
        "best evidence-based option for widespread calcinosis in SSc when topical STS isn't "
        "practical?",
        kb,
    )["understood"]
    assert understood["intent"] != "level-or-grade"


def test_a_question_naming_a_study_gives_its_arms(kb: KnowledgeBase) -> None:
    # 001 Table 1: Fredi 2015, DM (12), diltiazem, 0 (0%); Results: 1/9 with colchicine
    answer = answer_question("what did Fredi 2015 find?", kb)
    assert answer["in_scope"] is True
    lead = answer["answer"]
    assert lead.startswith("What the review reports of Fredi 2015:")
    assert "diltiazem: 0 of 12 responded" in lead
    assert "colchicine: 1 of 9 responded" in lead


def test_a_relapse_rate_no_source_gives_is_said_to_be_missing(kb: KnowledgeBase) -> None:
    # 004 lists recurrence among the risks of surgery; no source counts relapses after it
    answer = answer_question("how often do calcinosis lesions relapse after surgery?", kb)
    assert answer["understood"]["intent"] == "relapse"
    assert answer["answer"].startswith(
        "No source gives a relapse rate for surgical excision in calcinosis cutis."
    )
    assert "recurrence" in answer["answer"]
    # a relapse figure the review gives is shown with the study's name, never its id
    text = " ".join(
        s["text"]
        for s in answer_question("does calcinosis come back after warfarin?", kb)["sections"]
    )
    assert "Cukierman 2004" in text and "cukierman-2004" not in text


@pytest.mark.parametrize(
    ("question", "age"),
    [
        ("my patient is 8 with JDM and calcinosis on elbows, can we give minocycline?", 8),
        ("45F with SSc and calcinosis, what next?", 45),
        ("she is 15 and has JDM calcinosis, what dose of colchicine?", 15),
    ],
)
def test_ages_as_clinicians_write_them(kb: KnowledgeBase, question: str, age: int) -> None:
    assert answer_question(question, kb)["understood"]["age_years"] == age


def test_an_age_said_as_is_8_decides_the_age_limit(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "my patient is 8 with JDM and calcinosis on elbows, can we give minocycline?", kb
    )
    assert answer["answer"].startswith("No. Minocycline should not be used for children")


@pytest.mark.parametrize(
    ("question", "starts"),
    [
        # 004 "Other drug therapies": "Multiple other treatments have been used ...
        # Examples include ... intralesional corticosteroids [34], ceftriaxone [35]"
        ("is IL triamcinolone used for calcinosis?", "It has been used, with little evidence"),
        ("is ceftriaxone used for calcinosis cutis?", "It has been used, with little evidence"),
    ],
)
def test_whether_a_treatment_is_used_at_all(kb: KnowledgeBase, question: str, starts: str) -> None:
    answer = answer_question(question, kb)
    assert answer["answer"].startswith(starts)
    assert any("Examples include" in c["quote"] for c in answer["citations"])


def test_no_arm_of_the_age_group_asked_is_said_first(kb: KnowledgeBase) -> None:
    # 001 Table 1: the 3 diltiazem arms are all adults (Vayssairat, Balin, Fredi)
    lead = answer_question("what is the response rate to diltiazem in children?", kb)["answer"]
    assert lead.startswith(
        "No study arm in the review is of diltiazem in children; its 3 arms are all in "
        "adults. What follows is extrapolated from them."
    )
    both = answer_question("does minocycline work in kids with JDM?", kb)["answer"]
    assert both.count("What follows is extrapolated from them.") == 1
    assert "of minocycline in children" in both


def test_does_it_work_in_children_asks_how_well_not_whether_age_allows(
    kb: KnowledgeBase,
) -> None:
    answer = answer_question("rituximab in children - does it work?", kb)
    assert answer["understood"]["proposition"]["predicate"] == "effective"
    assert "Bader-Meunier 2011 0/6" in answer["answer"]
    assert "instead" not in answer["answer"]  # no age limit is no "No"


def test_failed_everything_leads_with_what_the_plan_still_offers(kb: KnowledgeBase) -> None:
    lead = answer_question("calcinosis universalis in JDM failed everything — options?", kb)[
        "answer"
    ]
    assert lead.startswith(
        "No option is first-line for dystrophic calcinosis cutis in juvenile dermatomyositis "
        "once the options tried have failed; what the plan offers: rituximab"
    )
    assert "()" not in lead


@pytest.mark.parametrize(
    ("question", "figure"),
    [
        # 001 Introduction: "30% of adult DM patients and 30% to 70% of juvenile DM patients"
        ("is calcinosis cutis common in children with dermatomyositis?", "30% to 70%"),
        # 001 Introduction: "ranges from 18% to 49% in SSc patients"
        ("is calcinosis rare in SSc?", "18% to 49%"),
    ],
)
def test_how_common_asked_as_yes_no(kb: KnowledgeBase, question: str, figure: str) -> None:
    answer = answer_question(question, kb)
    assert answer["understood"]["intent"] == "epidemiology"
    assert figure in answer["answer"]


@pytest.mark.parametrize(
    ("question", "starts"),
    [
        # 004: topical or IL STS "as initial treatment rather than systemic therapy (Grade
        # 2C)"; "Systemic treatment with diltiazem, colchicine, or minocycline is an
        # alternative for patients in whom the number or extent of lesions makes local
        # therapy impractical and patients who do not respond to or cannot access ..."
        (
            "is diltiazem first line for small calcinosis in SSc?",
            "No: for dystrophic calcinosis the first-line treatment is topical or "
            "intralesional sodium thiosulfate, and diltiazem is for when",
        ),
        (
            "is rituximab first-line for calcinosis in DM?",
            "No: for dystrophic calcinosis the first-line treatment is topical or "
            "intralesional sodium thiosulfate, and rituximab is not among the systemic options",
        ),
        (
            "is colchicine first line for widespread calcinosis in DM?",
            "Yes, here, as the lesions are widespread, colchicine is among the systemic options",
        ),
        (
            "failed IL STS, is minocycline first line now?",
            "Yes, here, as local therapy has failed, minocycline is among the systemic options",
        ),
    ],
)
def test_is_a_systemic_drug_first_line(kb: KnowledgeBase, question: str, starts: str) -> None:
    assert answer_question(question, kb)["answer"].startswith(starts)


def test_a_question_word_ends_a_list_of_failures(kb: KnowledgeBase) -> None:
    understood = answer_question("failed IL STS, is minocycline first line now?", kb)["understood"]
    assert [p["treatment"] for p in understood["prior_treatments"]] == [
        "sodium-thiosulfate-intralesional"
    ]
    assert understood["treatments"] == ["minocycline"]


def test_what_works_with_no_treatment_named_is_the_plan(kb: KnowledgeBase) -> None:
    # 004: lupus is an autoimmune connective tissue disease; its algorithm starts with
    # topical or intralesional sodium thiosulfate (Grade 2C)
    answer = answer_question("calcinosis in lupus, what works?", kb)
    assert answer["understood"]["intent"] == "first-line"
    assert answer["answer"].startswith(
        "First-line for dystrophic calcinosis cutis in systemic lupus erythematosus"
    )


def test_a_recommendation_leads_before_an_algorithm_question(kb: KnowledgeBase) -> None:
    lead = answer_question("does treating the underlying dermatomyositis help the calcinosis?", kb)[
        "answer"
    ]
    assert lead.startswith(
        'The management topic: "Suppression of activity of the associated autoimmune disease'
    )


def test_no_source_reports_a_cure(kb: KnowledgeBase) -> None:
    lead = answer_question("is there a cure for calcinosis cutis?", kb)["answer"]
    assert lead.startswith("No source reports a cure for calcinosis cutis")
    assert "major unmet need" in lead


def test_what_to_avoid_for_a_patient_puts_other_diseases_rules_apart(kb: KnowledgeBase) -> None:
    answer = answer_question("what should i avoid in a JDM child with calcinosis?", kb)
    assert answer["understood"]["intent"] == "what-not-to-use"
    lead = answer["answer"]
    assert lead.startswith("The sources advise against these: Warfarin")
    assert "Minocycline (in children under nine" in lead
    # the SSc rule is a risk the review states ("carefully scrutinized"), said apart, with
    # whom it is about, never among what is advised against for this child
    assert "TNF inhibitors" not in lead
    safety = next(s["text"] for s in answer["sections"] if s["title"] == "Safety")
    assert "TNF inhibitors (infliximab and adalimumab) (in systemic sclerosis" in safety


@pytest.mark.parametrize(
    "question", ["does intralesional sts hurt?", "are the STS injections painful?"]
)
def test_does_it_hurt_is_an_adverse_effect_question(kb: KnowledgeBase, question: str) -> None:
    # 004: pain among the adverse effects of sodium thiosulfate; 001: "transient pain (n=2/5)"
    answer = answer_question(question, kb)
    assert answer["understood"]["intent"] == "adverse-effects"
    assert "transient pain (n=2/5)" in answer["answer"]


def test_a_painful_nodule_is_a_symptom_not_a_question_about_pain(kb: KnowledgeBase) -> None:
    understood = answer_question(
        "is surgical excision an option for a single painful calcinotic nodule on the elbow in "
        "adult dermatomyositis?",
        kb,
    )["understood"]
    assert understood["intent"] != "adverse-effects"
    assert understood["proposition"]["predicate"] != "causes"


def test_complete_responses_lead_when_asked_and_are_called_often_when_most(
    kb: KnowledgeBase,
) -> None:
    # 001 Table 3: Balin 2012, surgical excision, 27/28 (96%) partial, 22/28 (79%) complete
    lead = answer_question(
        "how many patients got complete response with surgery in the review?", kb
    )["answer"]
    assert lead.startswith(
        "Complete response to surgical excision in 22 of 28 patients (79%) in the "
        "study arms that report it (Balin 2012 22/28)"
    )
    yes_no = answer_question("does surgery clear calcinosis completely?", kb)["answer"]
    assert yes_no.startswith("Often: complete response to surgical excision in 22 of 28")


def test_whom_to_observe_gives_each_subtype_s_recommendation(kb: KnowledgeBase) -> None:
    # 004: dystrophic "Not all patients require treatment ..."; iatrogenic "Observation
    # without intervention is a reasonable initial approach ..."; idiopathic "Treatment ...
    # is not necessary in asymptomatic patients who are not bothered by the condition"
    lead = answer_question("which calcinosis patients should be observed without treatment?", kb)[
        "answer"
    ]
    assert lead.startswith('The management topic: "Not all patients require treatment')
    assert "(about iatrogenic calcinosis)" in lead
    assert "(about idiopathic calcinosis)" in lead
    assert "level 5, grade D" not in lead


def test_any_rcts_at_all_names_the_review_s_two(kb: KnowledgeBase) -> None:
    # 001 Discussion lines 257-259: "only 2 small RCTs ... including one with calcinosis
    # cutis as the secondary outcome"; Table 1 Berger 1987 (warfarin), Table 2 Aggarwal
    lead = answer_question("are there any RCTs in calcinosis cutis?", kb)["answer"]
    assert lead.startswith('Few: the review says "To date, only 2 small RCTs')
    assert "Warfarin: Berger 1987 (RCT)" in lead
    assert "Rituximab: Aggarwal 2017 (RCT)" in lead


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("what percentage of patients improved with minocycline?", "efficacy"),
        ("is calcinosis cutis painful?", "overview"),
    ],
)
def test_intents_of_round_17_preparation(kb: KnowledgeBase, question: str, intent: str) -> None:
    assert answer_question(question, kb)["understood"]["intent"] == intent


def test_not_recommended_asks_whether_to_avoid(kb: KnowledgeBase) -> None:
    answer = answer_question("is warfarin not recommended?", kb)
    assert answer["understood"]["proposition"]["predicate"] == "avoided"
    assert answer["answer"].startswith("Yes, the review (Traineau 2020) on warfarin")
    # the review's "may be considered ... in SSc" is no "Yes" to "not recommended in DM?"
    dm = answer_question("is diltiazem not recommended in DM?", kb)["answer"]
    assert not dm.startswith("Yes")


def test_two_age_groups_or_diseases_asked_are_set_side_by_side(kb: KnowledgeBase) -> None:
    # 001 Table 2: adults Moazedi-Fuerst 3/3, Narváez 9/9, Giuggioli 3/6, Fredi 1/2 (16/20);
    # children Bader-Meunier 0/6, Alhemairi 4/4 (4/10); Aggarwal reports complete only
    lead = answer_question("Do children with JDM respond better than adults to rituximab?", kb)[
        "answer"
    ]
    assert lead.startswith("No study compares them directly")
    assert "adults: 16 of 20 responded (80%" in lead
    assert "children: 4 of 10 responded (40%" in lead
    assert "not counted (groups mixed or not said, or no any-response count): Aggarwal" in lead
    # 001 Table 1: Vayssairat SSc 3/12, Fredi DM 0/12, Balin DM and SSc together 9/14
    by_disease = answer_question("what's the evidence for diltiazem in SSc vs DM?", kb)["answer"]
    assert "SSc: 3 of 12 responded (25%" in by_disease
    assert "DM: 0 of 12 responded (0%" in by_disease
    assert "Balin 2012" in by_disease.split("Review Table 4")[0]


def test_a_subtype_s_treatment_of_choice_answers_is_it_recommended(kb: KnowledgeBase) -> None:
    # 004 Idiopathic: "If treatment is desired, surgical excision is the treatment of choice"
    lead = answer_question("is excision recommended for tumoral calcinosis?", kb)["answer"]
    assert lead.startswith(
        'Yes, if treatment is wanted: the management topic says "If treatment is desired, '
        'surgical excision is the treatment of choice"'
    )


def test_which_subtype_is_most_common(kb: KnowledgeBase) -> None:
    lead = answer_question("which subtype of calcinosis is most common?", kb)["answer"]
    assert lead.startswith('The management topic: "Dystrophic calcinosis cutis, the most common')


def test_a_yes_never_rests_on_the_ai_answer(kb: KnowledgeBase) -> None:
    lead = answer_question("can I use topical STS on an ulcerated lesion?", kb)["answer"]
    assert not lead.startswith("Yes: the AI-generated answer")


def test_inflamed_lesions_get_the_topic_s_systemic_choice(kb: KnowledgeBase) -> None:
    # 004: "Colchicine or minocycline is generally preferred over diltiazem for patients
    # presenting with prominent inflammation or ulceration"
    lead = answer_question("which drugs help with inflamed calcinosis?", kb)["answer"]
    assert 'When a systemic drug is chosen, the management topic: "Colchicine or minocycline' in (
        lead
    )


def test_whether_the_topic_grades_a_treatment(kb: KnowledgeBase) -> None:
    lead = answer_question("does the management topic grade colchicine?", kb)["answer"]
    assert lead.startswith("No: the management topic gives no grade for colchicine")
    graded = answer_question("what grade does the management topic give topical STS?", kb)
    assert graded["answer"].startswith("Topical sodium thiosulfate: Grade 2C")


def test_round_17_classes(kb: KnowledgeBase) -> None:
    # "start X?" after a description is a yes/no; metastatic: not on the dystrophic evidence
    metastatic = answer_question(
        "ESRD on dialysis, calcified periarticular nodules, high phos, not calciphylaxis. "
        "start diltiazem for the calcinosis?",
        kb,
    )
    assert metastatic["answer"].startswith("No, not for this subtype")
    # the Grade 2C suggestion is about autoimmune CTD: for traumatic calcinosis, not directly
    trauma = answer_question(
        "dystrophic calcinosis after an old crush injury (no CTD) - does the topical/IL STS "
        "first-line suggestion (2C) apply?",
        kb,
    )["answer"]
    assert trauma.startswith("Not directly: the management topic makes this suggestion for")
    assert "First-line in this tool's plan for dystrophic calcinosis cutis without" in trauma
    # "in SSc/DM" is both together, not a comparison; microdrilling's digits are shown
    both = answer_question(
        "what % of calcinosis pts get better with surgical excision in SSc/DM?", kb
    )
    assert not both["answer"].startswith("No study compares them directly")
    text = " ".join(s["text"] for s in both["sections"])
    assert "Fahmy 1998 12/15 digits" in text


def test_microdrilling_numbers_are_no_yes_no(kb: KnowledgeBase) -> None:
    answer = answer_question(
        "how well does microdrilling work for fingertip calcinosis in scleroderma? give me the "
        "numbers",
        kb,
    )
    assert answer["understood"]["proposition"] is None


def test_round_18_classes(kb: KnowledgeBase) -> None:
    # "CYC" is cyclophosphamide (001 Results: complete response 9/14; Table 4 prints 69%)
    cyc = answer_question("IV CYC for calcinosis in severe juvenile DM - response rate?", kb)
    assert cyc["understood"]["treatments"] == ["cyclophosphamide"]
    assert "Moraitis 2013 9/14" in cyc["answer"]
    # "conc + interval" is a dose question beside the side effects asked
    il = answer_question(
        "IL sodium thiosulfate - what conc + interval, and what are the main side effects?", kb
    )
    assert "150 to 250 mg/mL" in il["answer"] and "pain" in il["answer"]
    # a Table 4 row's other treatments are shown one by one, never pooled together
    ionto = answer_question(
        "Is acetic acid iontophoresis + ultrasound effective for SSc calcinosis?", kb
    )
    assert ionto["understood"]["treatments"] == ["acetic-acid-iontophoresis"]
    text = " ".join(s["text"] for s in ionto["sections"])
    assert "78%" not in text and "13 patients" not in text  # no laser-and-ESWT pool
    # "which systemic agent is preferred ... usual adult dose?" with inflamed lesions
    preferred = answer_question(
        "pt w DM calcinosis, lots of inflamed ulcerating lesions - which systemic agent is "
        "preferred, and what's the usual adult dose?",
        kb,
    )["answer"]
    assert "Colchicine or minocycline is generally preferred over diltiazem" in preferred
    assert "0.6 mg twice daily" in preferred and "100 mg twice daily" in preferred
    assert "No treatment was recognised" not in preferred


def test_a_named_source_s_first_line_leads_with_its_label(kb: KnowledgeBase) -> None:
    # 002 (AI answer): "First-line treatments may include calcium channel blockers ..."
    answer = answer_question("what did the AI answer recommend first?", kb)
    assert answer["in_scope"] is True
    assert answer["answer"].startswith(
        'The AI-generated answer: "First-line treatments may include calcium channel blockers'
    )
    assert "That answer is not peer-reviewed" in answer["answer"]


@pytest.mark.parametrize(
    ("question", "treatment", "then"),
    [
        # 004 Iatrogenic: "Observation without intervention is a reasonable initial approach
        # for asymptomatic lesions"; "Topical sodium thiosulfate therapy has been suggested"
        (
            "extravasation calcinosis in a newborn's hand, should we inject STS?",
            "sodium-thiosulfate-intralesional",
            "no source addresses intralesional sodium thiosulfate for it",
        ),
        (
            "iatrogenic calcinosis in a child, is topical STS an option?",
            "sodium-thiosulfate-topical",
            'for symptomatic lesions: "Treatments for dystrophic calcinosis cutis may be attempted',
        ),
    ],
)
def test_iatrogenic_calcinosis_starts_with_observation(
    kb: KnowledgeBase, question: str, treatment: str, then: str
) -> None:
    answer = answer_question(question, kb)
    assert answer["understood"]["treatments"] == [treatment]
    assert answer["answer"].startswith(
        "Not as the first step: for iatrogenic calcinosis cutis the management topic says "
        '"Observation without intervention is a reasonable initial approach'
    )
    assert then in answer["answer"]


def test_a_cause_other_than_injury_is_not_read_as_an_injury(kb: KnowledgeBase) -> None:
    lead = answer_question("does diltiazem help calcinosis in lupus panniculitis?", kb)["answer"]
    assert lead.startswith("Read as dystrophic calcinosis cutis from another cause")
    assert "after an injury" not in lead


def test_a_subtype_is_a_type_of_calcinosis_cutis(kb: KnowledgeBase) -> None:
    # 004: "There are five subtypes of calcinosis cutis: dystrophic, metastatic, idiopathic,
    # iatrogenic, and calciphylaxis"
    lead = answer_question("is calciphylaxis a type of calcinosis cutis?", kb)["answer"]
    assert lead.startswith('Yes. The management topic: "There are five subtypes')


def test_round_19_classes(kb: KnowledgeBase) -> None:
    # "is there any RCT of X?" is a yes/no the review answers (Aggarwal 2017)
    rct = answer_question("is there any RCT of rituximab for calcinosis?", kb)["answer"]
    assert rct.startswith("Yes, one: the randomized controlled trial of rituximab")
    # "next step? is IL STS reasonable?": the second part, then the plan for the first
    answer = answer_question(
        "failed topical STS x6 mo for a few small DM nodules — next step? is IL STS reasonable?",
        kb,
    )
    assert answer["understood"]["also"] == ["first-line"]
    lead = answer["answer"]
    assert lead.startswith(
        "Yes, for small lesions: in the series the sources give for intralesional sodium "
        "thiosulfate"
    )
    assert "diltiazem or colchicine or minocycline" in lead


def test_a_failure_supposed_leads_with_what_comes_after_it(kb: KnowledgeBase) -> None:
    """Blind round 23 (q23-06): "what if topical STS doesn't work?" opened "First-line
    for ..." as if nothing had been said, and still assumed both local therapies offered."""
    typed = answer_document("What if topical sodium thiosulfate doesn't work?", kb)
    text = " ".join(render_answer(typed).split())
    assert typed.answer.startswith("After topical sodium thiosulfate (did not work), first-line")
    assert "diltiazem" in typed.answer and "colchicine" in typed.answer
    assert "both offered" not in text
    plain = answer_document("What is first-line for calcinosis in dermatomyositis?", kb)
    assert plain.answer.startswith("First-line for")


def test_a_subtype_named_in_several_words_is_searched_as_a_phrase(kb: KnowledgeBase) -> None:
    """Blind round 23 (q23-19): the search's stemmer reads "tumoral" as "tumor", so the
    related passages of "treatment for tumoral calcinosis?" were about tumor necrosis
    factor inhibitors in juvenile dermatomyositis."""
    typed = answer_document("Is there any treatment for tumoral calcinosis?", kb)
    text = render_answer(typed)
    assert "surgical excision is the treatment of choice" in " ".join(text.split())
    assert "tumor necrosis factor" not in text.lower()


@pytest.mark.parametrize(
    ("question", "lead"),
    [
        ("Does Cardizem work for calcinosis cutis in dermatomyositis?", "Cardizem"),
        ("cardizm dose for calcinosis?", "Cardizem"),  # a typo corrected: the brand's name
        ("Is CellCept useful for calcinosis?", "CellCept"),  # as the question writes it
    ],
)
def test_a_brand_name_is_read_as_its_drug_and_the_answer_says_so(
    kb: KnowledgeBase, question: str, lead: str
) -> None:
    # No source names a brand; "Cardizem" was read as diltiazem without a word (blind
    # round 25, q25-09, minor).
    text = _text(answer_question(question, kb))
    drug = "mycophenolate mofetil" if lead == "CellCept" else "diltiazem"
    assert f"{lead} is read as {drug} (a brand name)." in text
    generic = question.replace(lead, drug).replace("cardizm", "diltiazem")
    assert "brand name" not in _text(answer_question(generic, kb))


def test_a_brand_named_in_a_yes_no_question_comes_after_the_verdict(kb: KnowledgeBase) -> None:
    answer = answer_question("Should Coumadin be used for calcinosis in SSc?", kb)
    assert answer["answer"].startswith("No. ")
    assert "Coumadin is read as warfarin (a brand name)." in answer["answer"]
