"""`calcinosis evidence release`: a numbered, dated version with its changelog entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from calcinosis.cli import main
from calcinosis.errors import CalcinosisError, KnowledgeError
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, KnowledgeBase, read_knowledge
from calcinosis.living.add import add_study
from calcinosis.living.release import release
from living.test_living_add import MINIMAL

NOTE = "Doe 2025, a randomised trial of diltiazem in SSc"


def _tree(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """A working copy with the minimal study added, not yet released."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "one.yaml").write_text(MINIMAL, encoding="utf-8")
    add_study(tmp_path / "one.yaml", target)
    return target


def _packaged_versions() -> list[str]:
    """The packaged knowledge's releases, newest first (a release cut from it adds one)."""
    return [entry.version for entry in read_knowledge(KNOWLEDGE_DIR).changelog]


def test_the_packaged_knowledge_is_its_own_last_release(kb: KnowledgeBase) -> None:
    assert not kb.unreleased, (
        "the packaged knowledge differs from its last release: after editing it, run "
        "calcinosis evidence release src/calcinosis/knowledge --version X.Y.Z --note '...'"
    )
    last, first = kb.changelog[0], kb.changelog[-1]
    assert (last.version, last.previous) == ("1.0.8", "1.0.7")  # Raynaud's, no diltiazem
    assert last.content == kb.content_hash and kb.version == f"1.0.8+{kb.content_hash[:12]}"
    assert last.released.isoformat() == kb.released
    assert last.changes[0] == "Added 1 algorithm-text"  # silent.raynaud-without-diltiazem
    warfarin = kb.changelog[1]
    assert warfarin.changes[0] == "Added 1 algorithm-text"  # silent.warfarin-procedures
    iatrogenic = kb.changelog[2]
    assert iatrogenic.changes[0] == "Added 1 algorithm-text"  # iatrogenic.dystrophic
    assert "Plans of the reference panel: not compared" in iatrogenic.changes[1]  # code changed
    tnf = kb.changelog[3]
    assert tnf.changes == [
        "Changed 2 treatments: Infliximab (contraindications[0].text); Adalimumab "
        "(contraindications[0].text)"
    ]
    medication = kb.changelog[4]
    assert medication.changes == ["Added 1 algorithm-text"]  # no panel patient takes one
    excision, lupus, texts = kb.changelog[5], kb.changelog[6], kb.changelog[7]
    assert excision.changes == [
        "Changed 1 algorithm-text: the algorithm's text idiopathic.excision (offers[0].direction)"
    ]
    assert (lupus.version, lupus.previous) == ("1.0.2", "1.0.1")  # the lupus-like warning
    assert lupus.changes[0] == "Added 1 algorithm-text" and lupus.counts.records_added == 1
    assert "Plans of the reference panel: not compared" in lupus.changes[1]  # the code changed
    assert (texts.version, texts.previous) == ("1.0.1", "1.0.0")  # texts as data
    assert texts.changes == [] and texts.counts.profiles_changed == 0
    assert (first.version, first.previous) == ("1.0.0", None)
    assert "review" in first.note and first.changes[0].startswith("First release: 30 studies")
    assert "changes.yaml" in kb.manifest.files
    assert kb.version_line() == f"Evidence version {kb.version}, released {kb.released}"


def test_a_release_stamps_the_version_and_writes_the_entry(
    edited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_before = (edited / "manifest.yaml").read_text(encoding="utf-8")
    argv = ["evidence", "release", str(edited), "--version", "1.1.0", "--note", NOTE]
    assert main([*argv, "--date", "2026-12-15"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Released {edited} as 1.1.0 on 2026-12-15")
    assert f"What triggered it: {NOTE}" in out and "Changes since 1.0.8:" in out
    kb = read_knowledge(edited)
    assert not kb.unreleased
    assert (kb.manifest.version, kb.released) == ("1.1.0", "2026-12-15")
    assert kb.version == f"1.1.0+{kb.content_hash[:12]}"
    entry = kb.changelog[0]
    assert (entry.version, entry.previous, entry.note) == ("1.1.0", "1.0.8", NOTE)
    assert entry.content == kb.content_hash
    assert (
        entry.changes[0]
        == "Added 1 source, 1 study, 1 arm: Doe 2025; Doe 2025: Diltiazem (adult, SSc)"
    )
    assert any(
        line.startswith("Pooled diltiazem, any response (GLMM): 20.2%") for line in entry.changes
    )
    assert any("Grade of diltiazem by the CEBM rules: D" in line for line in entry.changes)
    assert entry.changes[-1].startswith("Plans of the reference panel: 24 of 38 patients change")
    counts = entry.counts
    assert (counts.records_added, counts.records_removed, counts.records_changed) == (3, 0, 0)
    assert (counts.pooled_changed, counts.levels_changed, counts.grades_changed) == (4, 1, 2)
    assert (counts.audit_new, counts.audit_resolved) == (0, 0)
    assert (counts.profiles_changed, counts.profiles) == (24, 38)
    assert [e.version for e in kb.changelog] == ["1.1.0", *_packaged_versions()]
    manifest = (edited / "manifest.yaml").read_text(encoding="utf-8")
    assert manifest.splitlines()[0] == manifest_before.splitlines()[0]  # its comments kept
    assert "version: 1.1.0\nreleased: 2026-12-15\n" in manifest
    snapshot = read_knowledge(edited / ".last-release")
    assert snapshot.content_hash == kb.content_hash


def test_the_next_release_is_compared_with_the_last(edited: Path, tmp_path: Path) -> None:
    release(edited, "1.1.0", NOTE, released=dt.date(2026, 12, 15))
    second = MINIMAL.replace("Doe J, Roe R", "Roe R").replace(
        "first_author: Doe", "first_author: Roe"
    )
    second = second.replace("10.1000/example", "10.1000/two").replace("in SSc", "in DM")
    second = second.replace("treatment: diltiazem", "treatment: colchicine")
    (tmp_path / "two.yaml").write_text(second, encoding="utf-8")
    add_study(tmp_path / "two.yaml", edited)
    assert read_knowledge(edited).unreleased
    done = release(edited, "1.2.0", "Roe 2025 added", released=dt.date(2027, 1, 5))
    assert done.entry.previous == "1.1.0"
    assert (
        done.entry.changes[0]
        == "Added 1 source, 1 study, 1 arm: Roe 2025; Roe 2025: Colchicine (adult, SSc)"
    )
    assert not any("diltiazem" in line for line in done.entry.changes)
    assert [e.version for e in read_knowledge(edited).changelog] == [
        "1.2.0",
        "1.1.0",
        *_packaged_versions(),
    ]


@pytest.mark.parametrize(
    ("version", "note", "date", "message"),
    [
        ("1.0.8", NOTE, None, "--version: 1.0.8 is not greater than the current version (1.0.8)"),
        ("0.9.9", NOTE, None, "--version: 0.9.9 is not greater than the current version"),
        ("1.1", NOTE, None, "--version: '1.1' is not a version X.Y.Z"),
        ("1.1.0", "  ", None, "--note: say what triggered this version"),
        ("1.1.0", NOTE, "2026-11-30", "--date: 2026-11-30 is before the last release (1.0.8"),
    ],
)
def test_a_release_that_cannot_be_is_refused_and_changes_nothing(  # noqa: PLR0917
    edited: Path,
    capsys: pytest.CaptureFixture[str],
    version: str,
    note: str,
    date: str | None,
    message: str,
) -> None:
    before = _tree(edited)
    argv = ["evidence", "release", str(edited), "--version", version, "--note", note]
    assert main(argv + (["--date", date] if date else [])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert _tree(edited) == before


def test_nothing_to_release(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.raises(
        CalcinosisError, match=r"nothing to release: the content is that of release 1\.0\.8"
    ):
        release(target, "1.0.9", "again")


def test_a_bad_date_is_a_usage_error(edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evidence", "release", str(edited), "--version", "1.1.0", "--note", NOTE]
    assert main([*argv, "--date", "15/12/2026"]) == 2
    assert "'15/12/2026' is not a date YYYY-MM-DD" in capsys.readouterr().err


def test_without_the_last_release_files_the_base_is_asked_for(edited: Path, tmp_path: Path) -> None:
    release(edited, "1.1.0", NOTE, released=dt.date(2026, 12, 15))
    shutil.rmtree(edited / ".last-release")
    (tmp_path / "two.yaml").write_text(
        MINIMAL.replace("Doe J, Roe R", "Roe R")
        .replace("first_author: Doe", "first_author: Roe")
        .replace("10.1000/example", "10.1000/two")
        .replace("in SSc", "in DM"),
        encoding="utf-8",
    )
    add_study(tmp_path / "two.yaml", edited)
    day = dt.date(2027, 1, 5)
    with pytest.raises(CalcinosisError, match=r"files of its last release \(1.1.0\) are not found"):
        release(edited, "1.2.0", "Roe 2025", released=day)
    done = release(
        edited, "1.2.0", "Roe 2025", released=day, base=KNOWLEDGE_DIR
    )  # compared with it
    assert done.entry.previous == "1.1.0" and done.entry.counts.records_added == 6


def test_a_first_release_of_a_directory_never_released(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "changes.yaml").unlink()
    manifest = target / "manifest.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace("  - changes.yaml\n", ""), encoding="utf-8"
    )
    kb = read_knowledge(target)
    assert (
        kb.unreleased
        and kb.release_status() == "not released: this evidence has never been released"
    )
    done = release(target, "1.0.8", "First", released=dt.date(2026, 12, 4))  # the manifest's
    assert done.diff is None and done.entry.changes[0].startswith("First release: 30 studies")
    assert "  - changes.yaml" in manifest.read_text(encoding="utf-8")
    assert not read_knowledge(target).unreleased


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: [e[0] | {"previous": None}, *e[1:]], "previous"),
        (lambda e: [e[0] | {"version": "0.1.0"}, *e[1:]], "version"),
        (lambda e: [e[0] | {"content": "abc"}, *e[1:]], "content"),
    ],
    ids=["previous-not-named", "older-than-the-next", "bad-hash"],
)
def test_a_broken_changelog_fails_at_load(edited: Path, edit: object, message: str) -> None:
    release(edited, "1.1.0", NOTE, released=dt.date(2026, 12, 15))
    path = edited / "changes.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(edit(entries)), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(KnowledgeError, match=message) as failure:
        read_knowledge(edited)
    assert failure.value.file == "changes.yaml"
