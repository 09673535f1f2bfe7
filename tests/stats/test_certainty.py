"""Tests for calcinosis.stats.certainty (the pre-filled GRADE rules) and summary_of_findings."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.summary_of_findings import (
    BASIS,
    Scope,
    render_markdown,
    render_text,
    summary_of_findings,
)
from calcinosis.stats.certainty import (
    CI_VERY_WIDE,
    I2_SERIOUS,
    I2_VERY_SERIOUS,
    MIN_STUDIES_PUBLICATION_BIAS,
    OPTIMAL_INFORMATION_SIZE,
    PREFILLED,
    Body,
    StudyAppraisal,
    rate,
)
from source_documents import source_path

QUESTION = "dystrophic calcinosis in patients with systemic sclerosis"


def study(
    design: str = "retrospective", quality: str = "unknown", n: int = 10, **more: object
) -> StudyAppraisal:
    return StudyAppraisal(label=f"{design} {n}", design=design, quality=quality, n=n, **more)  # type: ignore[arg-type]


def body(*studies: StudyAppraisal, **more: object) -> Body:
    values: dict[str, object] = {
        "estimate": 0.5,
        "ci": (0.45, 0.55),
        "i2": 0.0,
        "prediction_interval": (0.45, 0.55),
    }
    values.update(more)
    return Body(studies=studies, **values)  # type: ignore[arg-type]


def test_the_optimal_information_size_is_97() -> None:
    # 1.96^2 * 0.5 * 0.5 / 0.1^2 = 96.04: 97 patients give a 50% proportion +-10 points
    assert OPTIMAL_INFORMATION_SIZE == 97


def test_rcts_start_high_observational_studies_low() -> None:
    rcts = rate(body(study("rct", "good", 60), study("rct", "fair", 60)), QUESTION)
    assert rcts.start == "high"
    assert rcts.level == "high"  # nothing to rate down: 120 patients, a narrow CI
    assert rcts.symbols == "⊕⊕⊕⊕"
    cohorts = rate(
        body(study("prospective", "good", 60), study("retrospective", "good", 60)), QUESTION
    )
    assert cohorts.start == "low"
    assert "1 prospective study, 1 retrospective study" in cohorts.start_reason
    mixed = rate(body(study("rct", "good", 60), study("retrospective", "good", 60)), QUESTION)
    assert mixed.start == "low"
    assert "mostly observational" in mixed.start_reason


def test_risk_of_bias_from_quality_and_the_reviews_aggregate_rating() -> None:
    unrated = rate(body(study(n=60), study(n=60)), QUESTION).domain("risk of bias")
    assert (unrated.rating, unrated.downgrade) == ("serious", 1)
    assert "26 of its 28 cohort studies poor and 2 fair" in unrated.reason
    assert "RCTs" not in unrated.reason
    trial = rate(body(study("rct", n=120)), QUESTION).domain("risk of bias")
    assert trial.downgrade == 1
    assert "no risk-of-bias judgement of its RCTs" in trial.reason
    # more than half the patients from good or fair studies: not rated down
    most = rate(body(study(quality="fair", n=70), study(n=50)), QUESTION).domain("risk of bias")
    assert (most.rating, most.downgrade) == ("not serious", 0)
    half = rate(body(study(quality="fair", n=60), study(quality="poor", n=60)), QUESTION)
    assert half.domain("risk of bias").downgrade == 0  # exactly half is not "more than half"
    assert "Rated poor: 1 study (60 of 120 in the count)" in half.domain("risk of bias").reason


@pytest.mark.parametrize(
    ("i2", "pi", "rating"),
    [
        (0.0, (0.45, 0.55), "not serious"),
        (I2_SERIOUS - 0.1, (0.2, 0.69), "not serious"),
        (I2_SERIOUS, (0.45, 0.55), "serious"),
        (10.0, (0.2, 0.71), "serious"),  # prediction interval wider than 50 points
        (I2_VERY_SERIOUS, (0.2, 0.94), "serious"),  # PI 74 points: not very serious
        (I2_VERY_SERIOUS, (0.1, 0.86), "very serious"),
        (90.0, None, "very serious"),  # two studies: no prediction interval
        (60.0, None, "serious"),
    ],
)
def test_inconsistency_thresholds(i2: float, pi: tuple[float, float] | None, rating: str) -> None:
    domain = rate(body(study(), study(), i2=i2, prediction_interval=pi), QUESTION).domain(
        "inconsistency"
    )
    assert domain.rating == rating
    assert domain.downgrade == {"not serious": 0, "serious": 1, "very serious": 2}[rating]
    assert f"I2 {i2:.0f}%" in domain.reason


def test_inconsistency_of_one_study_or_identical_results() -> None:
    one = rate(body(study(), i2=None, prediction_interval=None), QUESTION).domain("inconsistency")
    assert (one.rating, one.downgrade) == ("not serious", 0)
    assert "One study" in one.reason
    same = rate(body(study(), study(), i2=None, all_at_bound=True), QUESTION)
    assert same.domain("inconsistency").downgrade == 0
    assert "same result" in same.domain("inconsistency").reason


def test_indirectness_from_applicability_and_units() -> None:
    direct = rate(body(study(n=60), study(n=60)), QUESTION).domain("indirectness")
    assert (direct.rating, direct.downgrade) == ("not serious", 0)
    away = ("studied in adults; this is a child",)
    most = rate(
        body(study(n=70, extrapolated=away, extrapolated_n=70), study(n=50)), QUESTION
    ).domain("indirectness")
    assert (most.rating, most.downgrade) == ("serious", 1)
    assert "70 of 120" in most.reason and away[0] in most.reason
    few = rate(
        body(study(n=30, extrapolated=away, extrapolated_n=30), study(n=90)), QUESTION
    ).domain("indirectness")
    assert few.downgrade == 0
    assert "not rated down" in few.reason
    both = rate(
        body(study(n=70, unit="digits", extrapolated=away, extrapolated_n=70), study(n=50)),
        QUESTION,
    ).domain("indirectness")
    assert (both.rating, both.downgrade) == ("very serious", 2)
    assert "digits, not patients" in both.reason


@pytest.mark.parametrize(
    ("ci", "n", "rating"),
    [
        ((0.45, 0.55), 200, "not serious"),
        ((0.45, 0.55), OPTIMAL_INFORMATION_SIZE - 1, "serious"),
        ((0.30, 0.55), 200, "serious"),  # 25 points
        ((0.10, 0.10 + CI_VERY_WIDE + 0.01), 500, "very serious"),
    ],
)
def test_imprecision_thresholds(ci: tuple[float, float], n: int, rating: str) -> None:
    domain = rate(body(study(n=n), ci=ci), QUESTION).domain("imprecision")
    assert domain.rating == rating
    assert f"{n} in the count" in domain.reason


def test_publication_bias_is_not_assessable_under_ten_studies() -> None:
    few = rate(body(*[study() for _ in range(9)]), QUESTION).domain("publication bias")
    assert (few.rating, few.downgrade) == ("not assessable", 0)
    assert "fewer than 10" in few.reason
    many = rate(body(*[study() for _ in range(MIN_STUDIES_PUBLICATION_BIAS)]), QUESTION).domain(
        "publication bias"
    )
    assert (many.rating, many.downgrade) == ("not assessed", 0)


def test_the_level_never_falls_below_very_low() -> None:
    worst = rate(
        body(
            study(n=3, unit="digits", extrapolated=("x",), extrapolated_n=3),
            study(n=2, unit="digits", extrapolated=("x",), extrapolated_n=2),
            ci=(0.0, 0.9),
            i2=95.0,
            prediction_interval=None,
        ),
        QUESTION,
    )
    assert sum(d.downgrade for d in worst.domains) == 7
    assert worst.level == "very low"
    assert worst.symbols == "⊕◯◯◯"


def test_an_empty_body_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one study"):
        rate(body(), QUESTION)


@settings(max_examples=60, deadline=None)
@given(
    designs=st.lists(
        st.sampled_from(["rct", "prospective", "retrospective"]), min_size=1, max_size=12
    ),
    quality=st.sampled_from(["good", "fair", "poor", "unknown"]),
    n=st.integers(1, 300),
    interval=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    i2=st.one_of(st.none(), st.floats(0, 100)),
)
def test_every_domain_has_a_reason_and_the_level_follows_the_downgrades(
    designs: list[str], quality: str, n: int, interval: tuple[float, float], i2: float | None
) -> None:
    studies = [study(d, quality, n) for d in designs]
    low, width = interval
    ci = (low * (1 - width), low * (1 - width) + width)
    result = rate(body(*studies, ci=ci, i2=i2, prediction_interval=None), QUESTION)
    start = 3 if set(designs) == {"rct"} else 1
    downgrades = sum(d.downgrade for d in result.domains)
    assert ["very low", "low", "moderate", "high"].index(result.level) == max(0, start - downgrades)
    assert [d.name for d in result.domains] == [
        "risk of bias",
        "inconsistency",
        "indirectness",
        "imprecision",
        "publication bias",
    ]
    for domain in result.domains:
        assert domain.reason.endswith(".")
        assert 0 <= domain.downgrade <= 2
    assert result.document()["prefilled"] == PREFILLED


# ------------------------------------------------------------------ the knowledge's table
def test_the_table_covers_every_treatment_with_arms(kb: KnowledgeBase) -> None:
    sof = summary_of_findings(kb)
    studied = {arm.treatment for arm in kb.arms}
    assert {row.treatment for row in sof.rows} == studied
    assert len(sof.rows) == 2 * len(studied)
    for row in sof.rows:
        if row.certainty is None:
            assert row.k == 0 and row.about == "no study counts it"
            continue
        assert row.certainty.start == (
            "high" if {s.design for s in row.studies} == {"rct"} else "low"
        )
        assert row.about and row.about[0].isdigit()  # whom: '38 adults (SSc 12, ...)'
        assert all(s.reference and s.label for s in row.studies)
        assert row.certainty.domain("publication bias").rating == "not assessable"


def test_diltiazem_is_very_low_for_the_reasons_it_should_be(kb: KnowledgeBase) -> None:
    row = summary_of_findings(kb, ["diltiazem"], ("any",)).rows[0]
    assert row.certainty is not None
    assert (row.k, row.x, row.n) == (3, 12, 38)
    assert row.about == "38 adults (SSc 12, DM 12, disease not reported 14)"
    ratings = {d.name: (d.rating, d.downgrade) for d in row.certainty.domains}
    assert ratings == {
        "risk of bias": ("serious", 1),
        "inconsistency": ("very serious", 2),  # I2 83%, PI 0.4% to 94%
        "indirectness": ("not serious", 0),
        "imprecision": ("very serious", 2),  # 95% CI 2% to 73%
        "publication bias": ("not assessable", 0),
    }
    assert row.certainty.level == "very low"


def test_indirectness_follows_the_question(kb: KnowledgeBase) -> None:
    """Rituximab's any response for children with DM: 20 of its 30 patients are adults."""
    review = summary_of_findings(kb, ["rituximab"], ("any",)).rows[0]
    children = summary_of_findings(kb, ["rituximab"], ("any",), Scope("DM", "child")).rows[0]
    assert review.certainty and children.certainty
    assert review.certainty.domain("indirectness").downgrade == 0
    domain = children.certainty.domain("indirectness")
    assert domain.downgrade == 1
    assert "20 of 30" in domain.reason
    assert "studied in adults; this is a child" in domain.reason
    assert Scope("DM", "child").words() == "dystrophic calcinosis in children with dermatomyositis"


def test_microdrilling_counts_digits(kb: KnowledgeBase) -> None:
    row = summary_of_findings(kb, ["microdrilling"], ("any",)).rows[0]
    assert row.certainty is not None
    assert row.certainty.domain("indirectness").downgrade == 1
    assert "digits, not patients" in row.certainty.domain("indirectness").reason
    assert row.about == "10 adults (SSc 10)"  # whom: its patients, not its digits


def test_every_output_says_it_is_prefilled_and_cites_references(kb: KnowledgeBase) -> None:
    sof = summary_of_findings(kb, ["warfarin", "bisphosphonates"])
    text, markdown = render_text(sof), render_markdown(sof)
    document = sof.document().model_dump()  # the JSON of `evidence certainty`
    assert PREFILLED.upper() in text
    assert f"**{PREFILLED}**" in markdown
    assert document["prefilled"] == PREFILLED
    assert all(
        row["certainty"]["prefilled"] == PREFILLED for row in document["rows"] if row["certainty"]
    )
    shown = text + markdown + json.dumps(document)
    assert "Traineau et al., J Am Acad Dermatol 2020" in shown
    assert "Berger RG, Am J Med 1987" in shown  # a study as its reference
    for word in ("seed", ".txt", "001_"):
        assert word not in shown.lower()
    assert "Bisphosphonates" not in text  # a class is named by its id
    assert "bisphosphonates" in text


def test_an_unknown_treatment_is_refused_before_pooling(kb: KnowledgeBase) -> None:
    with pytest.raises(Exception, match="unknown treatment 'nonsense'"):
        summary_of_findings(kb, ["nonsense"])


def test_the_basis_quotes_the_review(kb: KnowledgeBase) -> None:
    """Each quote the reasons rest on is in the review, letter for letter."""
    source = kb.sources["traineau-2020"]
    text = "".join(
        c
        for c in source_path(source.seed_file).read_text(encoding="utf-8").casefold()
        if c.isalpha()
    )
    for item in BASIS:
        assert item.source == "traineau-2020"
        assert item.quote is not None
        assert "".join(c for c in item.quote.casefold() if c.isalpha()) in text, item.quote


def test_rows_are_typed_documents(kb: KnowledgeBase) -> None:
    row = summary_of_findings(kb, ["diltiazem"], ("complete",)).rows[0]
    assert row.method == "combined"  # every study at 0%: the counts added, not modelled
    assert row.estimate == 0.0
    document = row.document()
    assert document.certainty is not None and document.certainty.certainty == "very low"
    assert document.certainty.domains[0].domain == "risk of bias"
    assert replace(row, name="x").name == "x"
