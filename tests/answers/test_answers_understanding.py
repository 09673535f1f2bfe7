"""Questions read as a careful clinician reads them (an independent reviewer's set).

The reviewer wrote 80 questions and, for each, only the parts of the reading they were
sure of (intent, treatments, what was tried and how it went, conditions, features,
subtype, age, weight, size, count, scope). The comparison is the reviewer's own: sets for
treatments and medications, "must contain" for features, conditions and other intents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from calcinosis.answers.understand import understand
from calcinosis.evidence.knowledge_base import KnowledgeBase

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[1] / "fixtures" / "understanding_stress.yaml").read_text(
        encoding="utf-8"
    )
)
DISEASE_WORDS = {
    "systemic-sclerosis": "SSc",
    "dermatomyositis": "DM",
    "juvenile-dermatomyositis": "juvenile-DM",
    "systemic-lupus-erythematosus": "SLE",
    "mixed-connective-tissue-disease": "MCTD",
}
# The reviewer read the contracts' intent list, which named this intent "level" by mistake.
INTENT_NAMES = {"level": "level-or-grade"}
# Equivalent readings: a case described and "what first?" is the first-line plan for it.
SAME = {"first-line": {"first-line", "patient-specific"}}
KNOWN_GAPS: dict[str, str] = {}  # strict xfails, none at present


def _differences(expect: dict[str, Any], understood: dict[str, Any]) -> list[str]:  # noqa: PLR0912
    found = []
    intents = [understood["intent"], *understood["also"]]
    for key, want in expect.items():
        got = understood.get(key)
        if key == "intent":
            wanted = [INTENT_NAMES.get(w, w) for w in (want if isinstance(want, list) else [want])]
            accepted = set().union(*(SAME.get(w, {w}) for w in wanted))
            pool = intents if "also" in expect else [understood["intent"]]
            if not accepted & set(pool):
                found.append(f"intent {understood['intent']!r}, wanted {want!r}")
        elif key == "also":
            missing = [w for w in want if INTENT_NAMES.get(w, w) not in intents]
            if missing:
                found.append(f"also lacks {missing}")
        elif key in ("treatments", "medications", "classes"):
            if sorted(want) != sorted(got or []):
                found.append(f"{key} {got}, wanted {want}")
        elif key in ("features", "conditions"):
            missing = [w for w in want if w not in (got or [])]
            if missing:
                found.append(f"{key} lacks {missing}")
        elif key in ("features_absent", "conditions_absent"):
            present = [w for w in want if w in (understood.get(key.split("_")[0]) or [])]
            if present:
                found.append(f"{key.split('_')[0]} has {present}")
        elif key == "prior_treatments":
            wanted_prior = sorted((p["treatment"], p["response"]) for p in want)
            got_prior = sorted((p["treatment"], p["response"]) for p in got or [])
            if wanted_prior != got_prior:
                found.append(f"prior {got_prior}, wanted {wanted_prior}")
        elif key == "disease":
            if DISEASE_WORDS.get(got, got) != want:
                found.append(f"disease {got!r}, wanted {want!r}")
        elif key in ("age_years", "lesion_cm"):
            tolerance = 0.03 if key == "age_years" and want < 1 else 0.05
            if got is None or abs(got - want) > tolerance:
                found.append(f"{key} {got}, wanted {want}")
        elif key == "proposition_predicate":
            predicate = (understood.get("proposition") or {}).get("predicate")
            if predicate != want:
                found.append(f"predicate {predicate!r}, wanted {want!r}")
        elif got != want:
            found.append(f"{key} {got!r}, wanted {want!r}")
    return found


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(reason=KNOWN_GAPS[case["id"]], strict=True))
        if case["id"] in KNOWN_GAPS
        else case
        for case in CASES
    ],
    ids=[case["id"] for case in CASES],
)
def test_the_question_is_read_as_a_clinician_reads_it(
    case: dict[str, Any], kb: KnowledgeBase
) -> None:
    understood = understand(case["question"], kb).document().model_dump()
    assert _differences(case["expect"], understood) == [], case["question"]


def test_the_set_is_the_reviewers_eighty() -> None:
    assert len(CASES) == 80 and len({c["id"] for c in CASES}) == 80


# Blind round 23: a deposit in the skin that is not calcium ("gouty tophi") was answered
# as calcinosis, since a calcinosis drug was named and "gout" alone was listed off topic.
@pytest.mark.parametrize(
    ("question", "in_scope", "about"),
    [
        ("What is the best treatment for gouty tophi?", False, "gout tophi"),
        ("Is colchicine useful for gouty tophi?", False, "gout tophi"),
        ("subcutaneous tophi treatment", False, "gout tophi"),
        ("intralesional STS for a xanthoma?", False, "xanthomas"),
        ("how do I tell calcinosis cutis from gouty tophi?", True, None),
        ("is the colchicine dose for calcinosis the same as for gout?", True, None),
    ],
)
def test_deposits_in_the_skin_that_are_not_calcium_are_out_of_scope(
    question: str, in_scope: bool, about: str | None, kb: KnowledgeBase
) -> None:
    understood = understand(question, kb).document()
    assert understood.in_scope is in_scope
    assert (understood.out_of_scope or "").startswith(about or "")


# Blind round 23: "what did X achieve" is asked about X, not told that X was tried; and a
# study is named by the institution its title calls its own ("the Mayo Clinic experience").
@pytest.mark.parametrize(
    ("question", "studies", "prior"),
    [
        (
            "What response rate did surgical excision achieve in the Mayo Clinic series?",
            ["balin-2012"],
            [],
        ),
        ("how well did colchicine work in the review?", [], []),
        ("she did colchicine for 6 months, no help. next?", [], [("colchicine", "none")]),
        ("she did colchicine, what now?", [], [("colchicine", "tried")]),
    ],
)
def test_did_is_an_auxiliary_before_a_bare_verb(
    question: str, studies: list[str], prior: list[tuple[str, str]], kb: KnowledgeBase
) -> None:
    understood = understand(question, kb).document()
    assert understood.studies == studies
    assert [(p.treatment, p.response) for p in understood.prior_treatments] == prior
