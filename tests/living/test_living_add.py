"""`calcinosis evidence add`: a study file joins a knowledge directory whole, or the
directory is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from calcinosis.cli import main
from calcinosis.errors import CalcinosisError
from calcinosis.evidence.documents import PoolDocument
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, read_knowledge
from calcinosis.evidence.synthesis import pool_document
from calcinosis.living import add as add_module
from calcinosis.living.add import add_study

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "calcinosis" / "examples"
MINIMAL = """\
source: {authors: [Doe J, Roe R], title: "Diltiazem for calcinosis in SSc", journal: "J Example", year: 2025, doi: "10.1000/example"}
study: {first_author: Doe, year: 2025, design: rct}
arms:
  - {treatment: diltiazem, population: adult, disease: SSc, n: 20, responders_any: 12, responders_complete: 2, follow_up_months: 12, location: "Table 2"}
"""  # noqa: E501 - the issue's minimal file, verbatim


def _tree(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` and the SHA-256 of its bytes."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def study_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "STUDY.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_the_minimal_file_is_added_with_the_level_the_rules_give(
    knowledge: Path, study_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = read_knowledge(knowledge)
    code = main(["evidence", "add", str(study_file(MINIMAL)), "--knowledge", str(knowledge)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "CEBM level 1b by the rules (individual RCT)" in out
    assert "cited as Doe et al., J Example 2025" in out
    after = read_knowledge(knowledge)
    assert len(after.arms) == len(before.arms) + 1
    arm = next(a for a in after.arms if a.id == "doe-2025-diltiazem")
    assert (arm.n, arm.responders_any, arm.responders_complete, arm.level) == (20, 12, 2, "1b")
    assert arm.source == "publication" and arm.provenance.location == "Table 2"
    assert after.studies["doe-2025"].reference is None
    source = after.sources[arm.provenance.source]
    assert source.kind == "study" and source.doi == "10.1000/example" and source.seed_file is None
    assert after.unreleased and not before.unreleased
    assert after.version.startswith("1.0.8+") and after.version != before.version


def test_the_files_keep_their_text_and_gain_the_records(
    knowledge: Path, study_file: Callable[[str], Path]
) -> None:
    old = (knowledge / "arms.yaml").read_text(encoding="utf-8")
    add_study(study_file(MINIMAL), knowledge)
    new = (knowledge / "arms.yaml").read_text(encoding="utf-8")
    assert new.startswith(old.rstrip("\n"))  # comments and layout kept
    assert "# Added by `calcinosis evidence add`" in new
    assert (knowledge / "treatments.yaml").read_bytes() == (
        KNOWLEDGE_DIR / "treatments.yaml"
    ).read_bytes()


def test_the_complete_example_is_accepted(knowledge: Path) -> None:
    added = add_study(EXAMPLE / "study-example.yaml", knowledge)
    assert [arm.id for arm in added.study.arms] == [
        "doe-2025-diltiazem-ssc",
        "doe-2025-diltiazem-dm",
    ]
    assert all(arm.level == "1b" for arm in added.study.arms)  # 15 of 28 patients
    arm = added.kb.arms[-2]
    assert arm.adverse_events is not None and arm.adverse_events[0].event == "headache"
    assert arm.follow_up_range_months == (12, 12)
    assert added.kb.studies["doe-2025"].quality == "good"


@pytest.mark.parametrize(
    ("quality", "x", "n", "level"),
    [
        ("unknown", 3, 5, "4"),  # a cohort of unknown quality counts as poor
        ("fair", 3, 5, "2b-"),  # wide interval
        ("good", 30, 60, "2b"),
    ],
)
def test_a_cohort_is_levelled_by_the_rules(  # noqa: PLR0917
    knowledge: Path,
    study_file: Callable[[str], Path],
    quality: str,
    x: int,
    n: int,
    level: str,
) -> None:
    text = MINIMAL.replace("design: rct}", f"design: prospective, quality: {quality}}}")
    text = text.replace("n: 20, responders_any: 12", f"n: {n}, responders_any: {x}")
    added = add_study(study_file(text), knowledge)
    assert added.study.arms[0].level == level


# (what to change in the minimal file, the line expected on stderr)
REFUSED = [
    (
        ("responders_any: 12", "responders_any: 25"),
        "arms[0].responders_any: 25 is more than n (20)",
    ),
    (
        ("responders_complete: 2", "responders_complete: 13"),
        "arms[0].responders_complete: 13 is more than responders_any (12)",
    ),
    (
        (
            "responders_any: 12, responders_complete: 2",
            "responders_any: 22, responders_complete: 21",
        ),
        "arms[0].responders_any: 22 is more than n (20)",
    ),
    (
        ("treatment: diltiazem", "treatment: diltiazme"),
        "arms[0].treatment: unknown treatment 'diltiazme'; did you mean 'diltiazem'?",
    ),
    (("treatment: diltiazem", "treatment: aspirin"), "arms[0].treatment: unknown treatment"),
    (("n: 20", 'n: "twenty"'), "arms[0].n: input should be a valid integer (got 'twenty')"),
    (("n: 20", "n: 0"), "arms[0].n: input should be greater than or equal to 1 (got 0)"),
    (("design: rct", "design: case-series"), "study.design: input should be 'rct'"),
    (("year: 2025, design", "year: '2025', design"), "study.year: input should be a valid integer"),
    (('location: "Table 2"', "place: x"), "arms[0].place: unknown field; the fields here are"),
    (('location: "Table 2"', "follow_up: 3"), "arms[0].follow_up: unknown field"),
    ((', doi: "10.1000/example"', ""), "source: give its doi or its pmid (or both)"),
    (('doi: "10.1000/example"', "doi: example"), "source.doi: string should match pattern"),
    (("first_author: Doe", "first_author: Smith"), "study.first_author: 'Smith' is not the first"),
    (("SSc, n: 20", "SSc, disease_counts: {SSc: 5}, n: 20"), "arms[0].disease_counts: add up"),
    (("disease: SSc", "disease: lupus"), "arms[0].disease: input should be 'SSc'"),
    (("population: adult", "population: elderly"), "arms[0].population: input should be"),
]


@pytest.mark.parametrize(("edit", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_impossible_input_is_refused_naming_the_field_and_nothing_changes(
    knowledge: Path,
    study_file: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str],
    message: str,
) -> None:
    old, new = edit
    assert old in MINIMAL
    path = study_file(MINIMAL.replace(old, new, 1))
    before, around = _tree(knowledge), sorted(p.name for p in knowledge.parent.iterdir())
    code = main(["evidence", "add", str(path), "--knowledge", str(knowledge)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"calcinosis: error: {path}: {message}"), err
    assert _tree(knowledge) == before  # byte for byte
    assert sorted(p.name for p in knowledge.parent.iterdir()) == around  # no staging left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source: [unclosed\n", "line 2: not valid YAML"),
        ("- a list\n", "must be a mapping with source, study and arms"),
        (
            MINIMAL.split("study:", maxsplit=1)[0].replace("source:", "sauce:")
            + "study:"
            + MINIMAL.split("study:")[1],
            "sauce: unknown field; the fields here are: source, study, arms",
        ),
        ("study: {first_author: Doe, year: 2025, design: rct}\narms: []\n", "source: required"),
        (
            MINIMAL.split("arms:", maxsplit=1)[0] + "arms: []\n",
            "arms: list should have at least 1 item",
        ),
    ],
    ids=["bad-yaml", "not-a-mapping", "unknown-top-field", "missing-source", "no-arms"],
)
def test_a_malformed_file_is_refused(
    knowledge: Path,
    study_file: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    path = study_file(text)
    before = _tree(knowledge)
    assert main(["evidence", "add", str(path), "--knowledge", str(knowledge)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert _tree(knowledge) == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ((), "study: duplicate study: doe-2025 (Doe 2025"),
        (
            (("Doe J, Roe R", "Moe M"), ("first_author: Doe", "first_author: Moe")),
            "source.doi: duplicate study: 10.1000/example is already in the knowledge",
        ),
    ],
    ids=["same-first-author-and-year", "same-doi"],
)
def test_a_study_already_in_the_knowledge_is_refused(
    knowledge: Path,
    study_file: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    edit: tuple[tuple[str, str], ...],
    message: str,
) -> None:
    add_study(study_file(MINIMAL), knowledge)
    text = MINIMAL
    for old, new in edit:
        text = text.replace(old, new)
    before = _tree(knowledge)
    assert main(["evidence", "add", str(study_file(text)), "--knowledge", str(knowledge)]) == 2
    assert message in capsys.readouterr().err
    assert _tree(knowledge) == before


def test_a_study_of_the_review_is_a_duplicate(
    knowledge: Path, study_file: Callable[[str], Path]
) -> None:
    text = MINIMAL.replace("Doe J, Roe R", "Balin SJ").replace(
        "first_author: Doe", "first_author: Balin"
    )
    text = text.replace("year: 2025, design", "year: 2012, design")
    with pytest.raises(CalcinosisError, match=r"duplicate study: balin-2012 \(Balin 2012"):
        add_study(study_file(text), knowledge)
    text = text.replace("design: rct}", "design: rct, id: balin-2012-second}")
    assert add_study(study_file(text), knowledge).study.study.id == "balin-2012-second"


def test_a_failed_validation_changes_nothing(
    knowledge: Path, study_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(stage: Path, what: str) -> None:
        assert (stage / "arms.yaml").read_text(encoding="utf-8").count("doe-2025") > 0
        raise CalcinosisError(f"{what} would leave the knowledge invalid: (simulated)")

    monkeypatch.setattr(add_module, "validate", refuse)
    path = study_file(MINIMAL)
    before, around = _tree(knowledge), sorted(p.name for p in knowledge.parent.iterdir())
    with pytest.raises(CalcinosisError, match="simulated"):
        add_study(path, knowledge)
    assert _tree(knowledge) == before
    assert sorted(p.name for p in knowledge.parent.iterdir()) == around


def test_the_default_is_a_working_copy_made_the_first_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.yaml").write_text(MINIMAL, encoding="utf-8")
    assert main(["evidence", "add", "one.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Made calcinosis-knowledge/, a working copy of the packaged knowledge")
    assert (tmp_path / "calcinosis-knowledge" / "panel.yaml").is_file()
    assert "doe-2025" in read_knowledge(tmp_path / "calcinosis-knowledge").studies
    second = MINIMAL.replace("Doe J, Roe R", "Roe R").replace(
        "first_author: Doe", "first_author: Roe"
    )
    second = second.replace("10.1000/example", "10.1000/other").replace("in SSc", "in DM")
    (tmp_path / "two.yaml").write_text(second, "utf-8")
    assert main(["evidence", "add", "two.yaml"]) == 0
    assert "Made" not in capsys.readouterr().out
    assert {"doe-2025", "roe-2025"} <= set(read_knowledge("calcinosis-knowledge").studies)
    assert read_knowledge(KNOWLEDGE_DIR).studies.keys().isdisjoint({"doe-2025", "roe-2025"})


def test_a_refused_first_add_makes_no_working_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(MINIMAL.replace("n: 20", "n: 2"), encoding="utf-8")
    assert main(["evidence", "add", "bad.yaml"]) == 2
    assert "arms[0].responders_any: 12 is more than n (2)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_the_directory_may_be_named_before_the_command(
    knowledge: Path, study_file: Callable[[str], Path]
) -> None:
    path = study_file(MINIMAL)
    assert main(["evidence", "--knowledge", str(knowledge), "add", str(path)]) == 0
    assert "doe-2025" in read_knowledge(knowledge).studies


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evidence", "add", "missing.yaml"], "no such file: missing.yaml"),
        (
            ["evidence", "add", "{study}", "--knowledge", "/nonexistent"],
            "not a knowledge directory",
        ),
    ],
)
def test_bad_arguments_are_one_line(
    study_file: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    path = str(study_file(MINIMAL))
    assert main([arg.replace("{study}", path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_the_added_records_are_what_the_schema_reads(knowledge: Path) -> None:
    added = add_study(EXAMPLE / "study-example.yaml", knowledge)
    appended = yaml.safe_load((knowledge / "arms.yaml").read_text(encoding="utf-8"))[-2:]
    assert [record["id"] for record in appended] == [arm.id for arm in added.study.arms]
    assert all("level" in record and record["source"] == "publication" for record in appended)


def test_two_adds_at_once_both_land(knowledge: Path, tmp_path: Path) -> None:
    """The second waits for the first (a lock on the manifest): neither is lost."""
    script = Path(sys.executable).parent / "calcinosis"
    files = []
    for name in ("Doe", "Roe"):
        text = MINIMAL.replace("Doe J, Roe R", f"{name} J").replace("Doe,", f"{name},")
        text = text.replace("10.1000/example", f"10.1000/{name.lower()}")
        text = text.replace("in SSc", f"in SSc ({name})")
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    processes = [
        subprocess.Popen(  # noqa: S603 - our own console script
            [str(script), "evidence", "add", str(path), "--knowledge", str(knowledge)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for path in files
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    assert {"doe-2025", "roe-2025"} <= set(read_knowledge(knowledge).studies)


def test_answers_about_an_added_study_do_not_call_it_the_review_s(
    knowledge: Path, study_file: Callable[[str], Path]
) -> None:
    from calcinosis.answers import answer_question  # noqa: PLC0415 - the answers' vocabulary

    before = answer_question("does diltiazem work?", read_knowledge(knowledge)).answer
    assert "Diltiazem, the review's study arms" in before
    assert main(["evidence", "add", str(study_file(MINIMAL)), "--knowledge", str(knowledge)]) == 0
    after = answer_question("does diltiazem work?", read_knowledge(knowledge)).answer
    assert "Diltiazem, the study arms" in after and "Doe 2025 12/20" in after


def test_an_added_study_is_pooled_without_a_number_in_the_review(
    knowledge: Path, study_file: Callable[[str], Path]
) -> None:
    """Its arm has no reference number: the pooled document (the API's model) says null."""
    assert main(["evidence", "add", str(study_file(MINIMAL)), "--knowledge", str(knowledge)]) == 0
    document = pool_document(read_knowledge(knowledge), "diltiazem")
    doe = next(arm for arm in document.arms if arm.study == "doe-2025")
    assert doe.reference is None and document.k == 4
    assert PoolDocument.model_validate(document.model_dump(exclude_unset=True)) == document
