"""Regular expressions compiled once for later processes (patterns.py): a kept program
gives the same expression as ``re.compile``, and a file that is missing, corrupt, planted
or from another engine is never trusted."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from calcinosis import patterns
from calcinosis.answers.lexicon import read_lexicon
from calcinosis.cachefiles import plain_bytes, read_plain

SAMPLES = (
    " how many patients were in the warfarin trial ",
    " does sodium thiosulfate work for calcinosis in systemic sclerosis ",
    " a 7 year old girl with jdm and calcinosis on her elbows 3 cm ",
    " what should be avoided in a patient with ckd egfr 25 ",
    " is diltiazem effective in dermatomyositis ",
    " y/o w/o s/p f/u and/or 1st 2nd 3rd 12mg 4.5 ",
)


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """patterns with no programs read yet and a cache directory of its own."""
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(patterns, "_known", None)
    monkeypatch.setattr(patterns, "_learnt", {})
    return tmp_path


def _cues() -> list[str]:
    """Every cue expression of the lexicon (the bulk of what the answers compile)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(read_lexicon().cues.model_dump())
    return [p for p in dict.fromkeys(found) if _compiles(p)]


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _same(a: re.Pattern[str], b: re.Pattern[str]) -> None:
    assert (a.pattern, a.flags, a.groups, a.groupindex) == (
        b.pattern,
        b.flags,
        b.groups,
        b.groupindex,
    )
    for text in SAMPLES:
        assert [m.span() for m in a.finditer(text)] == [m.span() for m in b.finditer(text)]
        assert [m.groups() for m in a.finditer(text)] == [m.groups() for m in b.finditer(text)]


def test_a_kept_program_is_the_expression_re_compiles(fresh: Path) -> None:
    cues = _cues()
    assert len(cues) > 100
    extra = [r"(?P<n>\d+) ?(?P<unit>cm|mm)", r"\b(1st|2nd|3rd)\b", r"[\W_]+"]
    for pattern in [*cues, *extra]:
        _same(patterns.compiled(pattern), re.compile(pattern))
    _same(patterns.compiled("Shock|MJ", re.I), re.compile("Shock|MJ", re.I))
    patterns.save()
    # a new process reads the kept programs: no expression is parsed again
    patterns._known = None
    parsed: list[str] = []
    real = patterns._program
    patterns._program = lambda p, f: parsed.append(p) or real(p, f)  # type: ignore[assignment,func-returns-value]
    try:
        for pattern in [*cues, *extra]:
            _same(patterns.compiled(pattern), re.compile(pattern))
        _same(patterns.compiled("Shock|MJ", re.I), re.compile("Shock|MJ", re.I))
    finally:
        patterns._program = real
    assert parsed == []


def _file(directory: Path) -> Path:
    (path,) = directory.glob("regex-*.pickle")
    return path


def test_a_corrupt_planted_or_refused_program_is_compiled_again(fresh: Path) -> None:
    pattern = r" (\d{1,3}) ?(?:years?|yrs?|y) ?old "
    patterns.compiled(pattern)
    patterns.save()
    path = _file(fresh)
    good = read_plain(path)
    assert isinstance(good, dict)
    final, code, groups, names = good[(pattern, 0)]
    wrong = [
        b"",
        b"not a pickle",
        plain_bytes({(pattern, 0): (final, [999_999, *code], groups, names)}),  # engine refuses
        plain_bytes({(pattern, 0): (final, code, -1, names)}),  # no such group count
        plain_bytes({(pattern, 0): (final, code, groups, {"x": groups + 1})}),  # nor group
        plain_bytes({(pattern, 0): ("x", code, groups, names)}),
        plain_bytes({(pattern, 0): (final, code[:3], groups, names)}),  # truncated program
        plain_bytes({(pattern, 0): (final, [*code[:-1], "x"], groups, names)}),
        plain_bytes([1, 2, 3]),
        pickle.dumps(good),  # no SHA-256 ahead of it
    ]
    for content in wrong:
        assert content is not None
        path.write_bytes(content)
        patterns._known = None
        _same(patterns.compiled(pattern), re.compile(pattern))


def test_save_keeps_what_another_process_added(fresh: Path) -> None:
    patterns.compiled("first")
    patterns.save()
    path = _file(fresh)
    other = read_plain(path)
    assert isinstance(other, dict)
    other[("by another", 0)] = other[("first", 0)]
    path.write_bytes(plain_bytes(other) or b"")
    patterns.compiled("second")
    patterns.save()
    kept = read_plain(path)
    assert isinstance(kept, dict)
    assert {("first", 0), ("by another", 0), ("second", 0)} <= set(kept)


def test_a_process_leaves_its_programs_for_the_next(tmp_path: Path) -> None:
    """At exit, a process writes what it compiled; none when nothing was new."""
    env = {**os.environ, "CALCINOSIS_CACHE_DIR": str(tmp_path)}
    script = "from calcinosis.patterns import compiled; compiled(r'calci(nosis|phylaxis)')"
    subprocess.run([sys.executable, "-c", script], env=env, check=True)  # noqa: S603 - this Python
    path = _file(tmp_path)
    kept = read_plain(path)
    assert isinstance(kept, dict)
    assert list(kept) == [(r"calci(nosis|phylaxis)", 0)]
    before = path.stat().st_mtime_ns
    subprocess.run([sys.executable, "-c", script], env=env, check=True)  # noqa: S603 - this Python
    assert path.stat().st_mtime_ns == before  # nothing learnt: not written


def test_no_cache_directory_still_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", "/dev/null")
    monkeypatch.setattr(patterns, "_known", None)
    monkeypatch.setattr(patterns, "_learnt", {})
    _same(patterns.compiled(r"no (cache|directory)"), re.compile(r"no (cache|directory)"))
    patterns.save()  # no error


# The expressions the answers write where they use them (the calls that were ``re``'s).
_WRITTEN = (
    r"[,;:?!()]|\s[-–—]+\s|\.\s|\band (?=what|how|which|when)",
    r"\d+ of \d+|\d+ ?%|\d+/\d+|\d+ percent",
    r"\s*\([^)]*\)$",
    r"[a-z0-9]+",
    r"(?P<n>\d+) (?P<unit>mg|g)\b",
    r"^ (is|are|was|were) there | any ",
)


@pytest.mark.parametrize("pattern", _WRITTEN)
@pytest.mark.parametrize("flags", [0, re.IGNORECASE])
def test_re_functions_give_what_re_gives(fresh: Path, pattern: str, flags: int) -> None:
    texts = (*SAMPLES, "12 of 40 (30%) Had 5 MG, 2 g; and what - then. x", "")
    for text in texts:
        found, expected = patterns.search(pattern, text, flags), re.search(pattern, text, flags)
        assert (found and (found.span(), found.groups())) == (
            expected and (expected.span(), expected.groups())
        )
        for function in (patterns.match, patterns.fullmatch):
            mine = function(pattern, text, flags)
            theirs = getattr(re, function.__name__)(pattern, text, flags)
            assert (mine and mine.span()) == (theirs and theirs.span())
        assert [m.span() for m in patterns.finditer(pattern, text, flags)] == [
            m.span() for m in re.finditer(pattern, text, flags)
        ]
        groups = re.compile(pattern).groups
        if groups <= 1:
            assert patterns.findall(pattern, text, flags) == re.findall(pattern, text, flags)
        else:  # its finds would be tuples, not the strings findall is typed to give
            with pytest.raises(ValueError, match="findall of an expression with 2 groups"):
                patterns.findall(pattern, text, flags)
        if not groups:
            assert patterns.split(pattern, text, 2, flags) == re.split(
                pattern, text, maxsplit=2, flags=flags
            )
        else:  # its groups would be in the list, with None for one that took no part
            with pytest.raises(ValueError, match="split by an expression with"):
                patterns.split(pattern, text, 2, flags)
        assert patterns.sub(pattern, "<\\g<0>>", text, 1, flags) == re.sub(
            pattern, "<\\g<0>>", text, count=1, flags=flags
        )
        assert patterns.sub(pattern, lambda m: m.group(0).upper(), text) == re.sub(
            pattern, lambda m: m.group(0).upper(), text
        )


def test_an_expression_is_compiled_once_per_process(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patterns, "_kept", {})
    calls: list[str] = []
    real = patterns.compiled

    def counting(pattern: str, flags: int = 0) -> re.Pattern[str]:
        calls.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(patterns, "compiled", counting)
    for _ in range(3):
        patterns.search(r"\d+", "a 12")
        patterns.sub(r"\d+", "n", "a 12")
    patterns.search(r"\d+", "a 12", re.IGNORECASE)  # other flags: another expression
    assert calls == [r"\d+", r"\d+"]


def test_the_expressions_kept_in_a_process_are_bounded(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patterns, "_kept", {})
    monkeypatch.setattr(patterns, "_KEPT_AT_MOST", 4)
    for number in range(10):
        assert patterns.search(f"x{number}", f"ax{number}") is not None
        assert len(patterns._kept) <= 4
