"""``evidence pool --by/--leave-one-out/--hartung-knapp`` and ``evidence certainty``."""

from __future__ import annotations

import json

import pytest

from calcinosis.stats.certainty import PREFILLED
from cli.test_cli import run


def test_pool_json_with_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "evidence",
        "pool",
        "rituximab",
        "--outcome",
        "complete",
        "--method",
        "reml",
        "--by",
        "population",
        "--leave-one-out",
        "--hartung-knapp",
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["subgroups"]["by"] == "population"
    assert [g["group"] for g in document["subgroups"]["groups"]] == ["adult", "child"]
    assert set(document["subgroups"]["test"]) == {"q", "df", "p", "groups"}
    assert len(document["leave_one_out"]) == document["k"] == 6
    assert document["hartung_knapp"]["df"] == 5
    assert document["about"] == "18 adults (SSc 9, DM 9); 32 children (DM 32)"


def test_pool_text_shows_the_subgroups_whom_and_the_test(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "evidence", "pool", "warfarin", "--by", "disease")
    assert code == 0
    assert "whom: 11 adults (SSc 6, DM 2, disease not reported 3); 3 children (DM 3)" in out
    assert "Subgroups by disease (each pooled on its own, method glmm):" in out
    assert "systemic sclerosis" in out and "6 adults (SSc 6)" in out
    assert "test for subgroup differences: Q = 0.08, df = 1, p = 0.772" in out
    assert "not in a subgroup: Balin 2012 (disease not reported (DM or SSc))" in out
    assert "does not replace, clinical judgement" in out


def test_pool_text_leave_one_out_and_hartung_knapp(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "evidence", "pool", "diltiazem", "--method", "dl", "--leave-one-out",
        "--hartung-knapp",
    )  # fmt: skip
    assert code == 0
    assert "Leave-one-out (method dl), whom: 38 adults" in out
    for label in ("Vayssairat 1998", "Balin 2012", "Fredi 2015"):
        assert label in out.split("Leave-one-out")[1]
    assert "Hartung-Knapp (dl, t with 2 df, q = " in out


def test_hartung_knapp_with_the_glmm_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evidence", "pool", "diltiazem", "--hartung-knapp")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "inverse-variance methods (dl, reml, pm), not glmm" in err


def test_bad_subgroup_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evidence", "pool", "diltiazem", "--by", "age")
    assert code == 2
    assert "invalid choice: 'age'" in err and "disease" in err and "population" in err


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_certainty_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, err = run(capsys, "evidence", "certainty", "diltiazem", "--format", fmt)
    assert (code, err) == (0, "")
    if fmt == "json":
        document = json.loads(out)
        assert document["prefilled"] == PREFILLED
        assert [(r["treatment"], r["outcome"]) for r in document["rows"]] == [
            ("diltiazem", "any"),
            ("diltiazem", "complete"),
        ]
        assert document["question"]["text"].startswith("dystrophic calcinosis")
        assert document["rows"][0]["certainty"]["certainty"] == "very low"
    else:
        assert PREFILLED.upper() in out or f"**{PREFILLED}**" in out
        assert "risk of bias: serious, -1." in out
        assert "Vayssairat M, Ann Rheum Dis 1998" in out


def test_certainty_for_a_question(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "evidence", "certainty", "rituximab", "--outcome", "any", "--disease", "DM",
        "--population", "child",
    )  # fmt: skip
    assert code == 0
    assert "Summary of findings: dystrophic calcinosis in children with dermatomyositis" in out
    assert "indirectness: serious, -1. About another population" in out


def test_certainty_of_everything(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evidence", "certainty", "--format", "json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert len({row["treatment"] for row in rows}) == 23
    assert "seed" not in out.lower()


def test_certainty_of_an_unknown_treatment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evidence", "certainty", "nonsense")
    assert (code, out) == (2, "")
    assert "unknown treatment 'nonsense'; valid choices:" in err
