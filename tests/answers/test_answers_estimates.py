"""The pooled estimates the answers quote, kept with the knowledge base and in a cache file
(answers/estimates.py): used only when fresh and well formed, written atomically, and
the same figures as a fit."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calcinosis import __version__
from calcinosis.answers import answer_question, prepare
from calcinosis.answers.estimates import Counts, Estimate, Estimates, estimates
from calcinosis.cachefiles import cache_dir
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.stats.pooling import StudyCount, pool

COUNTS: Counts = (("Study A 2001", 3, 10, "retrospective"), ("Study B 2002", 6, 8, "prospective"))
OTHER: Counts = (("Study C 2003", 1, 4, "retrospective"), ("Study D 2004", 4, 4, "retrospective"))


class Fits:
    """A stand-in for the fit that counts its calls (the real one is tested below)."""

    def __init__(self) -> None:
        self.calls: list[Counts] = []

    def __call__(self, counts: Counts) -> Estimate:
        self.calls.append(counts)
        x = sum(c[1] for c in counts) / sum(c[2] for c in counts)
        return (x, x / 2, (1 + x) / 2)


def _store(kb: KnowledgeBase, directory: Path, fits: Fits, code: str = "code-1") -> Estimates:
    return Estimates(kb, directory, fit=fits, fingerprint=code)


def test_an_estimate_is_fitted_once_then_read_by_the_next_process(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    first = Fits()
    assert _store(kb, tmp_path, first).get(COUNTS, also=[OTHER]) == Fits()(COUNTS)
    assert first.calls == [COUNTS, OTHER]  # the miss fitted ``also`` too
    later = Fits()
    store = _store(kb, tmp_path, later)
    assert store.get(COUNTS) == Fits()(COUNTS)
    assert store.get(OTHER) == Fits()(OTHER)
    assert later.calls == []
    assert store.path is not None
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]  # no temporary left


@pytest.mark.parametrize(
    "change",
    ["knowledge", "package", "code"],
)
def test_a_file_of_other_knowledge_another_version_or_other_code_is_not_read(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    _store(kb, tmp_path, Fits()).get(COUNTS)
    code = "code-1"
    if change == "knowledge":
        kb = dataclasses.replace(kb, content_hash="0" * 64)
    elif change == "package":
        monkeypatch.setattr("calcinosis.answers.estimates.__version__", __version__ + ".dev1")
    else:
        code = "code-2"
    again = Fits()
    assert _store(kb, tmp_path, again, code).get(COUNTS) == Fits()(COUNTS)
    assert again.calls == [COUNTS]  # fitted, not read


def test_a_file_whose_header_is_stale_is_not_trusted(kb: KnowledgeBase, tmp_path: Path) -> None:
    store = _store(kb, tmp_path, Fits())
    store.get(COUNTS)
    assert store.path is not None
    data = json.loads(store.path.read_text(encoding="utf-8"))
    data["header"]["knowledge"] = "f" * 64  # the right name, the wrong contents
    data["estimates"][0][1] = [0.5, 0.4, 0.6]
    store.path.write_text(json.dumps(data), encoding="utf-8")
    again = Fits()
    assert _store(kb, tmp_path, again).get(COUNTS) == Fits()(COUNTS)
    assert again.calls == [COUNTS]


CORRUPT = {
    "not JSON": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not an object": lambda text: "[]",
    "estimate above 1": lambda text: text.replace("[0.4", "[1.4", 1),
    "interval not around the estimate": lambda text: _entry(text, [0.5, 0.6, 0.7]),
    "estimate not a number": lambda text: _entry(text, ["0.5", 0.4, 0.6]),
    "estimate not finite": lambda text: _entry(text, [float("nan"), 0.4, 0.6]),
    "two numbers": lambda text: _entry(text, [0.5, 0.4]),
    "responders above patients": lambda text: _counts(text, ["Study A 2001", 11, 10, "x"]),
    "no patients": lambda text: _counts(text, ["Study A 2001", 0, 0, "x"]),
    "a count that is a boolean": lambda text: _counts(text, ["Study A 2001", True, 10, "x"]),
    "a count that is a float": lambda text: _counts(text, ["Study A 2001", 3.0, 10, "x"]),
    "a label that is a number": lambda text: _counts(text, [1, 3, 10, "x"]),
    "estimates not a list": lambda text: _replace(text, "estimates", {}),
    "an entry of one item": lambda text: _replace(text, "estimates", [[1]]),
}


def _replace(text: str, key: str, value: object) -> str:
    data = json.loads(text)
    data[key] = value
    return json.dumps(data)


def _entry(text: str, estimate: object) -> str:
    data = json.loads(text)
    data["estimates"][0][1] = estimate
    return json.dumps(data)  # json writes nan as NaN, which it reads back


def _counts(text: str, study: object) -> str:
    data = json.loads(text)
    data["estimates"][0][0][0] = study
    return json.dumps(data)


@pytest.mark.parametrize("damage", sorted(CORRUPT))
def test_a_corrupt_file_is_refitted_and_rewritten(
    kb: KnowledgeBase, tmp_path: Path, damage: str
) -> None:
    store = Estimates(kb, tmp_path, fit=lambda counts: (0.4, 0.2, 0.6), fingerprint="code-1")
    store.get(COUNTS)
    assert store.path is not None
    good = store.path.read_text(encoding="utf-8")
    store.path.write_text(CORRUPT[damage](good), encoding="utf-8")
    again = Fits()
    assert _store(kb, tmp_path, again).get(COUNTS) == Fits()(COUNTS)
    assert again.calls == [COUNTS]  # not trusted: fitted again
    rewritten = json.loads(store.path.read_text(encoding="utf-8"))
    assert rewritten["estimates"] == [[[list(c) for c in COUNTS], list(Fits()(COUNTS) or ())]]


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(kb, tmp_path, Fits())
    store.get(COUNTS)
    assert store.path is not None
    before = store.path.read_bytes()

    def fail(source: object, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    assert store.get(OTHER) == Fits()(OTHER)  # answered all the same
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]


def test_a_directory_that_cannot_be_written_is_no_error(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Nor is /dev/null, the way to keep nothing."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory", encoding="utf-8")
    for directory in (blocked / "cache", Path(os.devnull)):
        first, second = Fits(), Fits()
        assert _store(kb, directory, first).get(COUNTS) == Fits()(COUNTS)
        assert _store(kb, directory, second).get(COUNTS) == Fits()(COUNTS)
        assert first.calls == second.calls == [COUNTS]  # nothing kept: each process fits
    assert blocked.read_text(encoding="utf-8") == "not a directory"


def test_where_the_estimates_are_kept() -> None:
    assert cache_dir({"CALCINOSIS_CACHE_DIR": "/x/y"}) == Path("/x/y")
    assert cache_dir({"CALCINOSIS_CACHE_DIR": ""}) == Path.home() / ".cache" / "calcinosis"
    assert cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/calcinosis")
    assert cache_dir({}) == Path.home() / ".cache" / "calcinosis"


def test_without_a_directory_or_a_fingerprint_nothing_is_written(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    for store in (
        Estimates(kb, None, fit=Fits(), fingerprint="code-1"),
        Estimates(kb, tmp_path, fit=Fits(), fingerprint=None),
    ):
        assert store.path is None
        store.get(COUNTS)
    assert list(tmp_path.iterdir()) == []


def test_the_kept_estimates_are_the_fits(tmp_path: Path) -> None:
    """The figures read back from the file are the fit's, to the last bit."""
    kb = load_knowledge()
    fresh = Estimates(kb, tmp_path, fingerprint="code-1")
    fresh.get(COUNTS)
    result = pool([StudyCount(*c) for c in COUNTS])
    expected = (result.estimate, result.ci[0], result.ci[1])
    read = Estimates(kb, tmp_path, fit=Fits(), fingerprint="code-1")
    assert read.get(COUNTS) == expected
    single = (COUNTS[0],)
    assert Estimates(kb, None, fingerprint="code-1").get(single) is None  # one arm: not pooled


def test_the_estimates_are_kept_with_their_knowledge_base(tmp_path: Path) -> None:
    kb = load_knowledge()
    assert estimates(kb) is estimates(kb)
    other = dataclasses.replace(kb)
    assert estimates(other) is not estimates(kb)  # a base of its own, indexes of its own


def test_an_answer_is_the_same_from_the_file_and_from_the_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "Does diltiazem work for calcinosis in systemic sclerosis?"
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", str(tmp_path))
    fitted = answer_question(question, dataclasses.replace(load_knowledge()))
    assert "pooled estimate" in fitted.model_dump_json()
    assert list(tmp_path.glob("answers-pooled-*.json"))
    read = answer_question(question, dataclasses.replace(load_knowledge()))
    assert read == fitted


def test_ask_reads_the_estimates_without_numpy_scipy_or_the_web_stack(tmp_path: Path) -> None:
    """``calcinosis ask`` as a process, once the estimates are kept: none of the heavy
    libraries is imported (numpy, scipy, matplotlib, fastapi, sqlalchemy, pydantic-settings)."""
    env = {**os.environ, "CALCINOSIS_CACHE_DIR": str(tmp_path)}
    fill = (
        "from calcinosis.answers import prepare\n"
        "from calcinosis.evidence.knowledge_base import load_knowledge\n"
        "prepare(load_knowledge())\n"
    )
    subprocess.run([sys.executable, "-c", fill], env=env, check=True)  # noqa: S603 - our code
    heavy = ("numpy", "scipy", "matplotlib", "fastapi", "sqlalchemy", "pydantic_settings")
    script = (
        "import sys\n"
        "from calcinosis.cli import main\n"
        "code = main(['ask', 'Does diltiazem work for calcinosis in systemic sclerosis?'])\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert "pooled estimate" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_prepare_fits_every_estimate_an_answer_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", str(tmp_path))
    kb = dataclasses.replace(load_knowledge())
    prepare(kb)
    (path,) = tmp_path.glob("answers-pooled-*.json")
    kept = len(json.loads(path.read_text(encoding="utf-8"))["estimates"])
    assert kept >= 10
    for question in (
        "Does diltiazem work for calcinosis in systemic sclerosis?",
        "Do bisphosphonates work in juvenile dermatomyositis?",
        "How well does sodium thiosulfate work in adults?",
    ):
        answer_question(question, kb)
    assert len(json.loads(path.read_text(encoding="utf-8"))["estimates"]) == kept
