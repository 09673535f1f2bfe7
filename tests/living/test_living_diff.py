"""`calcinosis evidence diff`: records, pools, levels, grades, audit and the plans of the
reference panel, before and after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from calcinosis.cli import main
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, KnowledgeBase, read_knowledge
from calcinosis.living import diff as diff_module
from calcinosis.living.add import add_study
from calcinosis.living.diff import diff
from calcinosis.living.panel import load_panel, panel_path
from calcinosis.living.report import changelog_lines, render_markdown, render_text
from living.test_living_add import MINIMAL


def _copy(tmp_path: Path, name: str = "head") -> Path:
    target = tmp_path / name
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="module")
def head_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged knowledge with the issue's minimal study added."""
    root = tmp_path_factory.mktemp("diff")
    target = _copy(root)
    (root / "STUDY.yaml").write_text(MINIMAL, encoding="utf-8")
    add_study(root / "STUDY.yaml", target)
    return target


@pytest.fixture(scope="module")
def document(kb: KnowledgeBase, head_dir: Path) -> dict[str, object]:
    head = read_knowledge(head_dir)
    panel = load_panel(panel_path(head_dir), head.therapy_ids())
    return diff(kb, head, panel).document()


def test_the_document_has_the_contract_shape(
    document: dict[str, object], kb: KnowledgeBase
) -> None:
    assert set(document) >= {"base", "head", "records", "pooled", "grades", "audit", "plans"}
    assert document["base"]["version"] == kb.version  # type: ignore[index]
    assert document["head"]["unreleased"] is True  # type: ignore[index]
    assert set(document["records"]) >= {"added", "removed", "changed"}  # type: ignore[arg-type]
    assert set(document["audit"]) >= {"new", "resolved"}  # type: ignore[arg-type]
    for pool in document["pooled"]:  # type: ignore[attr-defined]
        assert pool["method"] == "glmm" and pool["outcome"] in ("any", "complete")
        for side in (pool["before"], pool["after"]):
            assert side is None or set(side) >= {"estimate", "ci", "k", "n", "tau2"}
    for plan in document["plans"]:  # type: ignore[attr-defined]
        assert set(plan) >= {"profile", "changes"}
        for change in plan["changes"]:
            assert set(change) >= {"option", "before", "after"}
    json.dumps(document)


def test_the_added_study_is_three_records(document: dict[str, object]) -> None:
    records = document["records"]
    added = [(r["kind"], r["id"]) for r in records["added"]]  # type: ignore[index]
    assert added == [("source", "doe-2025"), ("study", "doe-2025"), ("arm", "doe-2025-diltiazem")]
    assert records["removed"] == records["changed"] == []  # type: ignore[index]
    labels = [r["label"] for r in records["added"]]  # type: ignore[index]
    assert labels[0] == "Doe et al., J Example 2025"  # a reference, never a file name


def test_every_pool_of_diltiazem_changes_and_no_other(document: dict[str, object]) -> None:
    pooled = {(p["treatment"], p["outcome"]): p for p in document["pooled"]}  # type: ignore[attr-defined]
    assert set(pooled) == {
        ("diltiazem", "any"),
        ("diltiazem", "complete"),
        ("calcium-channel-blockers", "any"),
        ("calcium-channel-blockers", "complete"),
    }
    anyr = pooled[("diltiazem", "any")]
    assert (anyr["before"]["k"], anyr["before"]["n"], anyr["before"]["x"]) == (3, 38, 12)
    assert (anyr["after"]["k"], anyr["after"]["n"], anyr["after"]["x"]) == (4, 58, 24)
    assert anyr["before"]["estimate"] == pytest.approx(0.2018, abs=1e-4)  # the README's 20.2%
    assert anyr["after"]["estimate"] > anyr["before"]["estimate"]
    assert pooled[("calcium-channel-blockers", "any")]["kind"] == "class"


def test_levels_and_grades_by_the_rules(document: dict[str, object]) -> None:
    levels = document["levels"]
    assert levels == [  # type: ignore[comparison-overlap]
        {
            "arm": "doe-2025-diltiazem",
            "study": "doe-2025",
            "treatment": "diltiazem",
            "before": None,
            "after": "1b",
        }
    ]
    grades = {g["treatment"]: g for g in document["grades"]}  # type: ignore[attr-defined]
    assert grades["diltiazem"]["before"]["grade"] == "D"  # the three cohorts conflict
    assert grades["diltiazem"]["after"]["grade"] == "A"  # one conclusive level 1 study
    assert grades["diltiazem"]["after"]["level"] == "1b"


def test_the_review_audit_does_not_count_a_study_added_since(document: dict[str, object]) -> None:
    assert document["audit"] == {"new": [], "resolved": [], "changed": []}


def test_whose_plans_change(document: dict[str, object], kb: KnowledgeBase) -> None:
    plans = {p["profile"]: p for p in document["plans"]}  # type: ignore[attr-defined]
    assert "ssc-widespread-62kg" in plans and "metastatic-ckd" not in plans
    assert "ssc-conduction-disease-local-failed" not in plans  # diltiazem avoided there
    change = plans["ssc-widespread-62kg"]["changes"][0]
    assert change["option"] == "diltiazem" and change["changed"] == ["response"]
    assert change["before"]["stance"] == change["after"]["stance"] == "first-line"
    assert (change["before"]["response"]["k"], change["after"]["response"]["k"]) == (3, 4)
    assert change["after"]["response"]["complete"] == {"x": 2, "n": 58, "k": 4}
    panel = document["panel"]
    assert panel == {"profiles": 38, "changed": len(plans), "not_compared": None}  # type: ignore[comparison-overlap]


def test_a_field_changed_is_shown_with_both_values_and_the_audit_follows(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    head = _copy(tmp_path)
    arms = head / "arms.yaml"
    text = arms.read_text(encoding="utf-8")
    start = text.index("- id: balin-2012-diltiazem")
    arms.write_text(
        text[:start] + text[start:].replace("responders_any: 9", "responders_any: 10", 1),
        encoding="utf-8",
    )
    result = diff(kb, read_knowledge(head))
    assert [(r.kind, r.id) for r in result.changed] == [("arm", "balin-2012-diltiazem")]
    (field,) = result.changed[0].fields
    assert (field.field, field.before, field.after) == ("responders_any", 9, 10)
    assert any(item["id"] == "count-balin-2012-diltiazem-partial" for item in result.audit_new)
    back = diff(read_knowledge(head), kb)
    assert [item["id"] for item in back.audit_resolved] == [item["id"] for item in result.audit_new]


def test_a_removed_study_is_listed_as_removed(head_dir: Path, kb: KnowledgeBase) -> None:
    result = diff(read_knowledge(head_dir), kb)
    assert [r.id for r in result.removed] == ["doe-2025", "doe-2025", "doe-2025-diltiazem"]
    pooled = {(c.key["treatment"], c.key["outcome"]): c for c in result.pooled}
    assert pooled[("diltiazem", "any")].after["k"] == 3


def test_the_same_knowledge_has_no_changes(kb: KnowledgeBase, tmp_path: Path) -> None:
    result = diff(kb, read_knowledge(_copy(tmp_path)), load_panel(panel_path(), kb.therapy_ids()))
    assert result.empty and result.profiles == 38
    assert "0 of 38 patients change" in render_text(result)
    assert changelog_lines(result) == []


def test_a_base_this_code_cannot_plan_is_said_not_compared(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    """A base without an algorithm text the engine says (a release before the code that
    says it): the records are compared, the plans are not, and every format says why,
    naming the text; no traceback (1.0.2 added the lupus-like warning's text)."""
    base_dir = _copy(tmp_path, "base")
    algorithm = base_dir / "algorithm.yaml"
    text = algorithm.read_text(encoding="utf-8")
    start = text.index("- id: silent-drugs.like-the-disease\n")
    end = text.index("- id: silent-drugs.check\n")
    algorithm.write_text(text[:start] + text[end:], encoding="utf-8")
    base = read_knowledge(base_dir)
    result = diff(base, kb, load_panel(panel_path(), kb.therapy_ids()))
    assert [r.id for r in result.added] == ["silent-drugs.like-the-disease"]
    assert result.plans == () and result.profiles == 0
    reason = result.plans_not_compared or ""
    assert "record silent-drugs.like-the-disease" in reason and "algorithm.yaml" in reason
    assert result.document()["panel"]["not_compared"] == reason
    for shown in (render_text(result), render_markdown(result), *changelog_lines(result)):
        if "reference panel" in shown.lower():
            assert "not compared" in shown
    assert any("not compared" in line for line in changelog_lines(result))
    # with the text present again, the same base is planned and compared
    assert diff(kb, kb).plans_not_compared is None


def test_a_pool_whose_counts_did_not_change_is_not_fitted(
    kb: KnowledgeBase, head_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[str] = []
    real = diff_module.pool_document

    def counting(kb: KnowledgeBase, name: str, outcome: str, method: str) -> dict[str, object]:
        fitted.append(name)
        return real(kb, name, outcome, method)  # type: ignore[arg-type]

    monkeypatch.setattr(diff_module, "pool_document", counting)
    diff(kb, read_knowledge(head_dir))
    assert set(fitted) == {"diltiazem", "calcium-channel-blockers"}


def test_the_text_and_markdown_say_it(kb: KnowledgeBase, head_dir: Path) -> None:
    head = read_knowledge(head_dir)
    result = diff(kb, head, load_panel(panel_path(head_dir), head.therapy_ids()))
    text = render_text(result)
    assert "+ arm doe-2025-diltiazem: Doe 2025: Diltiazem (adult, SSc)" in text
    assert "before 20.2% (95% CI 2.3% to 73.2%), k=3, n=38" in text
    assert "diltiazem: D (best level 4) -> A (best level 1b)" in text
    assert "ssc-widespread-62kg" in text and "12 of 38 responded (k=3" in text
    markdown = render_markdown(result)
    assert markdown.startswith("# Evidence diff: ")
    assert "| diltiazem | any | 20.2% (95% CI 2.3% to 73.2%)" in markdown
    assert "\n\n\n" not in markdown
    for shown in (text, markdown):
        assert "seed" not in shown.lower() and "001_" not in shown


def test_the_command_in_each_format(
    head_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = _copy(tmp_path, "base")
    assert main(["evidence", "diff", str(base), str(head_dir), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["records"]["added"]) == 3
    assert main(["evidence", "diff", str(base), str(head_dir), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# Evidence diff")
    assert main(["evidence", "diff", str(head_dir)]) == 0  # against its last release: 1.0.8
    out = capsys.readouterr().out
    assert out.startswith("Evidence diff: 1.0.8+") and "RECORDS: 3 added" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evidence", "diff", "/nonexistent", "{head}"], "/nonexistent: not a knowledge directory"),
        (["evidence", "diff", "{head}", "{head}", "{head}"], "give HEAD, or BASE and HEAD"),
        (["evidence", "diff", "{head}", "--format", "yaml"], "invalid choice: 'yaml'"),
    ],
)
def test_bad_arguments_are_one_line(
    head_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([arg.replace("{head}", str(head_dir)) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_directory_never_released_needs_its_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _copy(tmp_path)
    manifest = head / "manifest.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace("  - changes.yaml\n", ""), encoding="utf-8"
    )
    (head / "changes.yaml").unlink()
    assert main(["evidence", "diff", str(head)]) == 2
    assert "was never released: give BASE as well" in capsys.readouterr().err
