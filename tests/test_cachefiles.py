"""The cache directory's files: plain data only, written atomically, and the parsed YAML
of the data files (datafiles.py), used only for the exact text that produced it."""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
from pathlib import Path

import pytest

from calcinosis import datafiles
from calcinosis.cachefiles import plain_bytes, read_plain, replace_atomically
from calcinosis.errors import KnowledgeError


class _Planted:
    """An object whose unpickling would run code (what a planted cache file would hold)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _signed(payload: bytes) -> bytes:
    """A cache file's bytes for ``payload``, with the right SHA-256 (as a planter would)."""
    return hashlib.sha256(payload).digest() + payload


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", str(directory))
    return directory


def test_plain_data_reads_back_as_itself(tmp_path: Path) -> None:
    data = {
        "a": [1, 2.5, None, True, "x", b"y", (3, 4), {5}],
        "released": datetime.date(2024, 5, 1),
        "at": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC),
    }
    content = plain_bytes(data)
    assert content is not None
    path = tmp_path / "f.pickle"
    assert replace_atomically(path, content)
    assert read_plain(path) == data


def test_anything_but_plain_data_is_neither_written_nor_read(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    assert plain_bytes({"x": _Planted(marker)}) is None
    assert plain_bytes({"x": Path("/")}) is None  # a class that is harmless is refused too
    assert plain_bytes([float("nan")]) is None  # would not read back as itself
    planted = tmp_path / "planted.pickle"
    planted.write_bytes(_signed(pickle.dumps(_Planted(marker))))
    with pytest.raises(pickle.UnpicklingError, match=r"posix\.system is not plain data"):
        read_plain(planted)
    assert not marker.exists()


def test_a_damaged_file_is_not_read(tmp_path: Path) -> None:
    content = plain_bytes({"level": "IV", "n": [5, 12]})
    assert content is not None
    path = tmp_path / "f.pickle"
    flipped = content[:40] + bytes([content[40] ^ 1]) + content[41:]  # one bit
    for damaged in (content[:-1], content[:10], b"", flipped):
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="corrupt"):
            read_plain(path)


def test_an_unwritable_directory_is_no_error(tmp_path: Path) -> None:
    assert not replace_atomically(Path("/dev/null/x.pickle"), b"x")
    target = tmp_path / "dir"
    target.mkdir()
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):  # root writes anyway: the /dev/null case stands
            return
        assert not replace_atomically(target / "x.pickle", b"x")
        assert list(target.iterdir()) == []
    finally:
        target.chmod(0o700)


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _kept(cache: Path) -> list[Path]:
    return sorted(cache.glob("yaml-*.pickle"))


def test_a_parsed_file_is_kept_and_read_back_without_parsing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _yaml(tmp_path, "released: 2024-05-01\nitems: [1, two, 3.5]\n")
    first = datafiles.read_data(path)
    assert first == {"released": datetime.date(2024, 5, 1), "items": [1, "two", 3.5]}
    assert len(_kept(cache)) == 1

    def no_parsing() -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(datafiles, "_loader", no_parsing)
    assert datafiles.read_data(path) == first


def test_an_edited_file_is_parsed_again(tmp_path: Path, cache: Path) -> None:
    path = _yaml(tmp_path, "value: 1\n")
    assert datafiles.read_data(path) == {"value": 1}
    path.write_text("value: 2\n", encoding="utf-8")
    assert datafiles.read_data(path) == {"value": 2}
    assert len(_kept(cache)) == 1  # one cache file per data file, rewritten


def test_a_corrupt_or_planted_cache_file_is_parsed_again(tmp_path: Path, cache: Path) -> None:
    path = _yaml(tmp_path, "value: 1\n")
    datafiles.read_data(path)
    (kept,) = _kept(cache)
    marker = tmp_path / "ran"
    planted = pickle.dumps(_Planted(marker))
    for content in (b"", b"\x80\x05garbage", planted, _signed(planted), _signed(b"\x80")):
        kept.write_bytes(content)
        assert datafiles.read_data(path) == {"value": 1}
    kept.write_bytes(_signed(pickle.dumps(("k", 1))))
    assert datafiles.read_data(path) == {"value": 1}
    assert not marker.exists()
    assert read_plain(kept) != ("k", 1)  # rewritten with the real document


def test_the_same_text_under_another_key_is_not_taken(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key covers the code as well as the text: a document kept under another key (as
    another PyYAML or Python would have made it) is parsed again."""
    path = _yaml(tmp_path, "value: 1\n")
    datafiles.read_data(path)
    (kept,) = _kept(cache)
    kept_now = read_plain(kept)
    assert isinstance(kept_now, tuple)
    key = str(kept_now[0])
    kept.write_bytes(plain_bytes(("another" + key[7:], {"value": "stale"})) or b"")
    assert datafiles.read_data(path) == {"value": 1}


def test_errors_are_never_kept(tmp_path: Path, cache: Path) -> None:
    path = _yaml(tmp_path, "a: 1\na: 2\n")
    for _ in range(2):
        with pytest.raises(KnowledgeError, match="duplicate key 'a'"):
            datafiles.read_data(path)
    path.write_text("a: [1\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(KnowledgeError, match="not valid YAML"):
            datafiles.read_data(path)
    assert _kept(cache) == []


def test_no_cache_directory_still_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", "/dev/null")
    path = _yaml(tmp_path, "value: 1\n")
    assert datafiles.read_data(path) == {"value": 1}
    assert datafiles.read_data(path) == {"value": 1}
