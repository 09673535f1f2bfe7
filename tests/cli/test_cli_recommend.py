"""`calcinosis recommend`: the plan contract, text, stdin, batch, bad profiles."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema_rs
import pytest

from calcinosis.cli import main
from calcinosis.decision.documents import PlanDocument

PATIENTS = Path(__file__).parents[1] / "fixtures" / "patients"
SSC = str(PATIENTS / "dystrophic_ssc_adult_digital_raynaud.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "recommend", SSC, "--format", "json")
    assert code == 0 and err == ""
    plan = json.loads(out)
    # the shape: the published schema of the plan (closed: no key missing or added)
    schema = jsonschema_rs.validator_for(PlanDocument.model_json_schema())
    assert [str(error) for error in schema.iter_errors(plan)] == []
    assert plan["evidence_version"] and plan["trace"]
    numbers = [c["n"] for c in plan["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))


def test_text_is_readable_and_ends_with_the_reminder(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "recommend", SSC)
    assert code == 0
    headings = [line for line in out.splitlines() if line.isupper() and not line[0].isspace()]
    assert headings == [
        "IN SHORT",
        "FIRST-LINE",
        "ALTERNATIVES",
        "AVOID: HARMFUL FOR THIS PATIENT",
        "AVOID: DOES NOT WORK FOR CALCINOSIS",
        "WHERE THE SOURCES DISAGREE",
        "ASSUMPTIONS MADE",  # the weight, for diltiazem's per-kg dose
        "CITATIONS",
    ]
    assert "does not replace, clinical judgement" in out.splitlines()[-1]
    assert max(len(line) for line in out.splitlines()[:-1]) <= 88


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"age_years": 30, "subtype": "idiopathic"}'))
    code, out, _ = run(capsys, "recommend", "-", "--format", "json")
    assert code == 0
    assert json.loads(out)["options"][0]["id"] == "observation"


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (
            '{"age_years": 130, "subtype": "dystrophic"}',
            "patient field 'age_years': input should be less than or equal to 120",
        ),
        ('{"age_years": 30, "subtype": "dystrophik"}', "patient field 'subtype': input should be"),
        (
            '{"age_years": 30, "subtype": "dystrophic", "lesions": {"largest_cm": -1}}',
            "patient field 'lesions.largest_cm': input should be greater than 0",
        ),
        (
            '{"age_years": 30, "subtype": "dystrophic", "lesions": {"count": -2}}',
            "patient field 'lesions.count': input should be greater than or equal to 0",
        ),
        (
            '{"age_years": 30, "subtype": "dystrophic", "medications": ["minocyclin"]}',
            "patient field 'medications[0]': unknown treatment 'minocyclin'; did you mean "
            "'minocycline'?; valid choices: ",
        ),
        (
            '{"age_years": 30, "subtype": "dystrophic", "other_medications": ["humira"]}',
            "patient field 'other_medications[0]': 'humira' is 'adalimumab' of this tool's "
            "catalog, or looks like it: give 'adalimumab' in medications, where the rules read it",
        ),
        (
            '{"age_years": 30, "subtype": "dystrophic", "medications": ["observation"]}',
            "patient field 'medications[0]': unknown treatment 'observation'",
        ),
        (
            '{"age_years": "30", "subtype": "dystrophic"}',
            "patient field 'age_years': input should be a valid number",
        ),
        (
            '{"age_years": 30, "subtype": "dystrophic", "raynaud": "yes"}',
            "patient field 'raynaud': input should be a valid boolean",
        ),
        ('{"age_years": 30}', "patient field 'subtype': required field is missing"),
        (
            '{"age_years": 30, "subtype": "dystrophic", "colour": "red"}',
            "patient field 'colour': unknown field",
        ),
        ("[1, 2]", "patient field 'patient': must be a JSON object"),
        ("{not json", "patient field 'patient': not valid JSON"),
    ],
)
def test_bad_profiles_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, profile: str, expected: str
) -> None:
    path = tmp_path / "patient.json"
    path.write_text(profile, encoding="utf-8")
    code, out, err = run(capsys, "recommend", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith("calcinosis: error: " + expected), err
    assert err.count("\n") == 1


def test_missing_file_and_missing_argument(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "recommend", "/no/such/patient.json")
    assert code == 2 and "no such file: /no/such/patient.json" in err
    code, _, err = run(capsys, "recommend")
    assert code == 2 and "give a patient file" in err


def test_batch_skips_bad_lines_and_reports_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = [
        '{"age_years": 30, "subtype": "idiopathic"}',
        '{"age_years": 30, "subtype": "nonsense"}',
        "",
        '{"age_years": 61, "subtype": "calciphylaxis"}',
        "{broken",
    ]
    path = tmp_path / "patients.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "recommend", "--batch", str(path))
    plans = [json.loads(line) for line in out.splitlines()]
    assert [plan["subtype"] for plan in plans] == ["idiopathic", "calciphylaxis"]
    assert "line 2: patient field 'subtype'" in err
    assert "line 5: patient field 'patient': not valid JSON" in err
    assert "2 of 5 lines skipped" in err
    assert code == 2


def test_with_nothing_first_line_the_summary_lists_options_not_a_next_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # blind reviewers (rounds 17-19): "Next, if it does not help" read oddly with no first step
    failed = [
        {"treatment": t, "response": "none"}
        for t in ("sodium-thiosulfate-intralesional", "diltiazem", "colchicine", "minocycline")
    ]
    profile = {
        "age_years": 50,
        "subtype": "dystrophic",
        "underlying_disease": "dermatomyositis",
        "lesions": {"distribution": "widespread"},
        "prior_treatments": failed,
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile), encoding="utf-8")
    assert main(["recommend", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Options, none first-line:" in out
    assert "Next, if it does not help" not in out
