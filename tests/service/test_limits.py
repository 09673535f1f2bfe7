"""Bounded input (issue 11): the JSON depth scan, capped reads, the FHIR input walker,
and EHR text made inert in CommonMark."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from calcinosis.limits import (
    InputLimitError,
    InputLimits,
    JsonTooDeepError,
    TooLargeError,
    check_fhir_input,
    json_depth_exceeds,
    loads_bounded,
    loads_within,
    markdown_text,
    read_capped,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ ab,:\n\t\u00e9'),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ ab', max_size=4), children, max_size=4)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(JSON, st.integers(min_value=0, max_value=8))
def test_the_depth_scan_agrees_with_the_parsed_depth(value: Any, limit: int) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert json_depth_exceeds(text.encode(), limit) == (depth(value) > limit), text


@pytest.mark.parametrize(
    ("data", "limit", "expected"),
    [
        pytest.param(b"[" * 64 + b"]" * 64, 64, False, id="at-the-limit"),
        pytest.param(b"[" * 65 + b"]" * 65, 64, True, id="one-over"),
        pytest.param(b"[" * 200_000, 64, True, id="unclosed-openers"),
        pytest.param(b'["' + b"[" * 1000 + b'"]', 2, False, id="brackets-in-a-string"),
        pytest.param(b'["\\"' + b"[" * 1000 + b'"]', 2, False, id="after-an-escaped-quote"),
        pytest.param(b'["\\\\", ' + b"[" * 5 + b"]" * 5 + b"]", 3, True, id="escaped-backslash"),
        pytest.param(b"[1, [2", 64, False, id="short-and-malformed"),
        pytest.param(b"[[]" * 100, 2, True, id="unbalanced-and-deep"),
        pytest.param(b"", 3, False, id="empty"),
    ],
)
def test_the_depth_scan(data: bytes, limit: int, expected: bool) -> None:
    assert json_depth_exceeds(data, limit) is expected


def _numpy_depth_exceeds(data: bytes, max_depth: int) -> bool:
    """The depth scan as it was first written (numpy), to hold the bytes version to it."""
    import re  # noqa: PLC0415 - only this reference needs them

    import numpy as np  # noqa: PLC0415

    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(unescaped, dtype=np.uint8)
    in_string = np.logical_xor.accumulate(codes == ord('"'))
    bracket = (codes == 0x5B) | (codes == 0x5D) | (codes == 0x7B) | (codes == 0x7D)
    brackets = codes[bracket & ~in_string].tobytes().translate(bytes.maketrans(b"{}", b"[]"))
    if re.search(rb"\[{%d}" % (max_depth + 1), brackets):
        return True
    for removed in range(max_depth + 1):
        if brackets.count(b"[") + removed <= max_depth:
            return False
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return True
        brackets = shorter
    return True


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(
    st.binary(max_size=60) | st.text(alphabet='[]{}"\\ a,', max_size=60).map(str.encode),
    st.integers(min_value=0, max_value=6),
)
def test_the_depth_scan_gives_the_first_version_s_answer_on_any_bytes(
    data: bytes, limit: int
) -> None:
    """Malformed text included: the scan refuses exactly what it refused before."""
    assert json_depth_exceeds(data, limit) is _numpy_depth_exceeds(data, limit)


SMALL = InputLimits(max_entries=3, max_string_chars=6, max_json_depth=64)
READ = st.sampled_from(["text", "code", "id", "x", "data"])  # read by the mapper or not
FHIRISH = st.recursive(
    st.none() | st.integers() | st.text(alphabet='ab"\\\n\u00e9\u2028[,', max_size=9),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(READ, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(FHIRISH)
def test_loads_within_is_true_only_when_the_walk_finds_nothing(value: Any) -> None:
    """``within`` lets the walk be skipped: so it must never be True for a value the
    walk refuses (with limits small enough that both answers come up)."""
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        parsed, within = loads_within(text.encode(), SMALL)
        assert parsed == value
        if within:
            check_fhir_input(parsed, "x", SMALL)  # raises nothing


@pytest.mark.parametrize(
    ("text", "within"),
    [
        pytest.param('{"text": "abcdef"}', True, id="at-the-string-limit"),
        pytest.param('{"text": "abcdefg"}', False, id="one-over"),
        pytest.param('{"data": "abcdefg"}', False, id="any-string-counts"),
        pytest.param('{"text": "' + "\\\\" * 7 + '"}', False, id="escaped-backslashes"),
        pytest.param('{"text": "' + '\\"' * 7 + '"}', False, id="escaped-quotes"),
        pytest.param(
            '{"text": "' + "\\u00e9" * 2 + '"}', False, id="an-escape-counts-its-bytes"
        ),  # 2 characters, 12 bytes: the bound is the bytes (the walk then runs)
        pytest.param('{"a": [1, 2, 3]}', True, id="two-commas"),
        pytest.param('{"a": [1, 2], "b": [3, 4]}', False, id="three-commas-anywhere"),
        pytest.param('{"a": "1,2,3", "b": 4}', True, id="commas-in-a-string"),
    ],
)
def test_loads_within(text: str, within: bool) -> None:
    assert loads_within(text.encode(), SMALL) == (json.loads(text), within)


def test_loads_bounded_never_recurses_too_deep() -> None:
    with pytest.raises(JsonTooDeepError):
        loads_bounded(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 64)
    with pytest.raises(JsonTooDeepError):
        loads_bounded("[" * 100_000, 64)
    with pytest.raises(ValueError, match="Expecting"):
        loads_bounded(b"[1, [2", 64)
    assert loads_bounded('{"a": ["[[[["]}', 2) == {"a": ["[[[["]}


async def chunks(sizes: list[int]) -> AsyncIterator[bytes]:
    for size in sizes:
        yield b"x" * size


def test_read_capped_stops_at_the_cap() -> None:
    assert asyncio.run(read_capped(chunks([3, 3, 4]), 10)) == b"x" * 10
    read: list[int] = []

    async def counted() -> AsyncIterator[bytes]:
        for _ in range(1000):
            read.append(1)
            yield b"x" * 1024

    with pytest.raises(TooLargeError):
        asyncio.run(read_capped(counted(), 4096))
    assert len(read) == 5  # not one chunk more than needed to know


LIMITS = InputLimits(max_entries=3, max_string_chars=10)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        pytest.param({"entry": [{}, {}, {}, {}]}, "x.entry", id="entries"),
        pytest.param([{}, {}, {}, {}], "x", id="a-list-of-resources"),
        pytest.param({"code": {"coding": [{}] * 4}}, "x.code.coding", id="codings"),
        pytest.param({"code": {"text": "a" * 11}}, "x.code.text", id="text"),
        pytest.param(
            {"entry": [{"resource": {"id": "i" * 11}}]}, "x.entry[0].resource.id", id="id"
        ),
        pytest.param({"selections": ["s" * 11]}, "x.selections[0]", id="selections"),
    ],
)
def test_the_fhir_input_walker_names_the_field(value: Any, field: str) -> None:
    with pytest.raises(InputLimitError) as caught:
        check_fhir_input(value, "x", LIMITS)
    assert caught.value.field == field


def test_the_fhir_input_walker_ignores_strings_the_mapper_does_not_read() -> None:
    photo = {"photo": [{"data": "A" * 10_000}], "text": {"div": "<div>" + "x" * 10_000}}
    check_fhir_input(photo, "x", LIMITS)  # passes: the mapper reads neither
    with pytest.raises(InputLimitError) as caught:  # the same string where it is read
        check_fhir_input(photo | {"gender": "A" * 10_000}, "x", LIMITS)
    assert caught.value.field == "x.gender"


def paragraph(markdown: str) -> Any:
    html = MarkdownIt("commonmark").enable("table").render(f"- {markdown}")
    return BeautifulSoup(html, "html.parser").find("li")


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80))
def test_escaped_text_renders_as_itself_and_nothing_else(text: str) -> None:
    item = paragraph(markdown_text(text))
    assert item is not None and item.find() is None  # no link, emphasis, HTML, code...
    shown = " ".join("".join(c for c in text if c in "\t\n\r" or not _is_control(c)).split())
    assert item.get_text() == shown


def _is_control(character: str) -> bool:
    return unicodedata.category(character) in ("Cc", "Cf")


@pytest.mark.parametrize(
    "hostile",
    [
        "[click](https://evil.example/)",
        "![x](https://evil.example/x.png)",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "**bold** __bold__ *it* _it_ ~~s~~",
        "`code` ``code``",
        "# heading\n\n---\n\n> quote\n\n    code block",
        "1. one\n2. two",
        "| a | b |\n|---|---|\n| c | d |",
        "&amp; &#x3C;script&#x3E;",
        "<https://evil.example/>",
        "line\\\nbreak",
        "right-to-left \u202eevil\u202c and zero\u200bwidth",
    ],
)
def test_hostile_text_is_inert(hostile: str) -> None:
    item = paragraph(markdown_text(hostile))
    assert item is not None and item.find() is None


def test_long_text_is_cut() -> None:
    assert markdown_text("a" * 1000, max_chars=10) == "a" * 9 + "…"
