"""The command line: contracts, formats, and one-line errors with exit 2."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from calcinosis import cli as cli_module
from calcinosis.cli import main
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_arms_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evidence", "arms", "--format", "json")
    assert code == 0 and err == ""
    arms = json.loads(out)
    assert len(arms) == 46
    balin = next(a for a in arms if a["id"] == "balin-2012-diltiazem")
    assert balin["study"] == "balin-2012" and balin["reference"] == 28
    assert (balin["n"], balin["responders_any"], balin["responders_complete"]) == (14, 9, 0)
    assert balin["design"] == "retrospective" and balin["level"] == "4"
    assert balin["source"] == "Table 1" and balin["disease"] == "unspecified"


def test_arms_filter_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "evidence", "arms", "--treatment", "bisphosphonates", "--format", "csv"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["treatment"] for row in rows} == {
        "etidronate",
        "pamidronate",
        "risedronate",
        "alendronate",
    }


@pytest.mark.parametrize("number", ["1", "2", "3", "4"])
def test_table_formats(capsys: pytest.CaptureFixture[str], number: str) -> None:
    code, out, _ = run(capsys, "evidence", "table", number, "--format", "json")
    assert code == 0 and isinstance(json.loads(out), list)
    code, out, _ = run(capsys, "evidence", "table", number, "--format", "markdown")
    assert code == 0 and out.startswith("|")
    code, out, _ = run(capsys, "evidence", "table", number)
    assert code == 0 and "does not replace, clinical judgement" in out


def test_pool_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "evidence",
        "pool",
        "diltiazem",
        "--format",
        "json",
        "--method",
        "dl",
        "--outcome",
        "any",
    )
    assert code == 0
    document = json.loads(out)
    assert document["treatment"] == "diltiazem" and document["method"] == "dl"
    assert document["k"] == 3 and document["n"] == 38
    assert [a["study"] for a in document["arms"]] == ["vayssairat-1998", "balin-2012", "fredi-2015"]


def test_audit_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evidence", "audit", "--format", "json")
    assert code == 0
    ids = {item["id"] for item in json.loads(out)}
    assert "table4-range-cyclophosphamide" in ids
    code, out, _ = run(capsys, "evidence", "audit", "--check", "label", "--format", "json")
    assert {item["check"] for item in json.loads(out)} == {"label"}


def test_grading_lists_disagreements(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evidence", "grading", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert {row["arm"] for row in document["levels"]} >= {"berger-1987-warfarin-adult"}
    assert {row["row"] for row in document["grades"]} >= {"Warfarin"}


def test_forest_writes_svg_and_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    svg = tmp_path / "plot.svg"
    code, _, err = run(capsys, "evidence", "forest", "rituximab", "-o", str(svg))
    assert code == 0 and "wrote" in err
    texts = "".join(ET.parse(svg).getroot().itertext())  # noqa: S314 - our own file
    assert "Giuggioli 2015" in texts  # the study's label, as text (searchable), not paths
    png = tmp_path / "plot.png"
    code, _, _ = run(capsys, "evidence", "forest", "bisphosphonates", "-o", str(png))
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["evidence", "pool", "aspirin"], "unknown treatment 'aspirin'; valid choices: "),
        (["evidence", "table", "7"], "invalid choice: 7"),
        (["evidence", "table", "four"], "invalid int value: 'four'"),
        (["evidence", "pool", "warfarin", "--method", "bayes"], "invalid choice: 'bayes'"),
        (["evidence", "arms", "--colour"], "unrecognized arguments: --colour"),
        (
            ["evidence", "forest", "warfarin", "-o", "plot.pdf"],
            "unknown output format '.pdf'; valid choices: svg, png",
        ),
        (
            ["evidence", "forest", "cyclophosphamide", "-o", "x.svg"],
            "no arm of 'cyclophosphamide' reports a count for the any outcome",
        ),
        (["evidence", "validate", "/nonexistent"], "manifest.yaml: file is missing"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and expected in err, err
    assert "Traceback" not in err


def test_the_console_script_has_no_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "knowledge"
    broken.mkdir()
    (broken / "manifest.yaml").write_text("name: x\nversion: one\n", encoding="utf-8")
    script = Path(sys.executable).parent / "calcinosis"
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(script), "evidence", "validate", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("calcinosis: error: manifest.yaml")
    assert result.stderr.count("\n") == 1


def test_the_demo_tour_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "$ calcinosis recommend" in out
    assert "FIRST-LINE" in out
    assert "69%" in out  # the audit's cyclophosphamide finding


def test_an_internal_error_with_a_message_of_several_lines_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug whose message spans lines (a pydantic ValidationError, say) is still one line
    on stderr, exit 1, and no traceback."""

    def broken(arguments: list[str]) -> int:
        raise ValueError("2 validation errors for TableRow\ncomputed\n  Input should be a string")

    monkeypatch.setattr(cli_module, "_dispatch", broken)
    monkeypatch.delenv("CALCINOSIS_DEBUG", raising=False)
    assert main(["evidence", "table", "4"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("calcinosis: internal error: ValueError: 2 validation errors for")
    assert "computed Input should be a string" in err


def _knowledge_without(tmp_path: Path, text_id: str) -> Path:
    """The packaged knowledge as a directory released before ``text_id`` was added."""
    target = tmp_path / "older"
    shutil.copytree(KNOWLEDGE_DIR, target)
    path = target / "algorithm.yaml"
    texts = yaml.safe_load(path.read_text(encoding="utf-8"))
    kept = [text for text in texts if text["id"] != text_id]
    assert len(kept) == len(texts) - 1, text_id
    path.write_text(yaml.safe_dump(kept, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


OLDER_TEXT = "silent-drugs.like-the-disease"  # added with knowledge release 1.0.2
FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_an_older_knowledge_directory_is_refused_for_plans_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    older = str(_knowledge_without(tmp_path, OLDER_TEXT))
    patient = FIXTURES / "patients" / "dystrophic_sle_large_lesion_3cm.json"
    for argv in (
        ["recommend", "--knowledge", older, str(patient)],
        ["ask", "--knowledge", older, "diltiazem dose?"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and OLDER_TEXT in err and "older than the code" in err
    # reading it needs no texts: its arms, tables and pooling still work
    code, out, _ = run(capsys, "evidence", "--knowledge", older, "arms", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 46


def test_serve_refuses_an_older_knowledge_directory_before_binding(tmp_path: Path) -> None:
    older = _knowledge_without(tmp_path, OLDER_TEXT)
    script = Path(sys.executable).parent / "calcinosis"
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(script), "serve", "--port", "8179", "--knowledge", str(older)],
        env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and OLDER_TEXT in result.stderr
    assert "Traceback" not in result.stderr
