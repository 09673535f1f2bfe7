"""Bounded input: JSON nesting checked before parsing, bodies read with a cap, FHIR input
walked for over-long arrays and strings, and EHR text escaped for CommonMark.

Everything here is cheap and iterative (no recursion on untrusted nesting):

* :func:`json_depth_exceeds` scans the bytes, strings removed, for brackets, so that
  ``json.loads`` (and the recursive readers after it) never see nesting deeper than
  the limit and a ``RecursionError`` cannot happen; :func:`loads_within` also tells,
  from the same scan, when no string and no array can be over the limits below;
* :func:`read_capped` stops reading an async byte stream as soon as it passes the cap;
* :func:`check_fhir_input` walks parsed FHIR JSON (already depth-checked) and names
  the first array with too many items or string the mapper reads that is too long;
* :func:`markdown_text` makes a piece of EHR text inert in a card's markdown.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAPPER_STRING_KEYS",
    "InputLimitError",
    "InputLimits",
    "JsonTooDeepError",
    "TooLargeError",
    "check_fhir_input",
    "json_depth_exceeds",
    "loads_bounded",
    "loads_within",
    "markdown_text",
    "read_capped",
]


class TooLargeError(Exception):
    """A body or an answer is larger than its cap (it was not read further)."""


class JsonTooDeepError(ValueError):
    """JSON nested deeper than the limit (it was not parsed)."""


class InputLimitError(Exception):
    """FHIR input beyond a limit: ``field`` is the JSON path, ``message`` says which limit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


_TO_SQUARE: Final = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS: Final = bytes(set(range(256)) - set(b"[]{}"))
_QUOTE: Final = b'"'


@dataclass(frozen=True)
class _Scan:
    """What one pass over a JSON text's bytes tells before it is parsed."""

    brackets: bytes  # the brackets outside strings, in order, ``{}`` as ``[]``
    longest_string: int  # at least the characters of the text's longest string
    commas: int  # the commas outside strings


def _scan(data: bytes) -> _Scan:
    """Strings removed (brackets inside them do not count): escaped backslashes, then
    escaped quotes, are dropped, so that every quote left delimits a string, and what
    lies between an odd quote and the next is a string: the pieces of a split at the
    quotes alternate between outside (even) and inside (odd). Bytes operations only, at
    C speed.

    ``longest_string`` bounds the characters a string of valid JSON decodes to: its
    bytes left inside the quotes (each decodes to at most one character: an escape
    ``\\n`` or ``\\u00e9`` and a UTF-8 sequence are several bytes for one) plus one
    for each escape dropped, all of them counted for every string."""
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    pieces = unescaped.split(_QUOTE)
    outside = b"".join(pieces[::2])
    dropped = (len(data) - len(unescaped)) // 2
    return _Scan(
        brackets=outside.translate(_TO_SQUARE, _NOT_BRACKETS),
        longest_string=max(map(len, pieces[1::2]), default=0) + dropped,
        commas=outside.count(b","),
    )


def _too_deep(brackets: bytes, max_depth: int) -> bool:
    if re.search(rb"\[{%d}" % (max_depth + 1), brackets):  # a plain run of openers
        return True
    for removed in range(max_depth + 1):
        if brackets.count(b"[") + removed <= max_depth:
            return False
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):  # no pair left: unmatched openers, too many
            return True
        brackets = shorter
    return True  # max_depth + 1 levels of pairs were removed: deeper than the limit


def json_depth_exceeds(data: bytes, max_depth: int) -> bool:
    """Whether the JSON text ``data`` nests arrays and objects deeper than ``max_depth``.

    Strings are removed first (see :func:`_scan`). Then only the brackets are kept and
    innermost pairs are removed, one level per pass: at most ``max_depth + 1`` passes
    of C-speed ``bytes.replace``. The levels removed plus the openers left bound the
    depth from above; unbalanced openers count too (the parser would recurse into them
    before finding the text malformed), so malformed JSON may be refused here rather
    than by the parser.
    """
    return _too_deep(_scan(data).brackets, max_depth)


def loads_bounded(data: bytes | str, max_depth: int) -> object:
    """``json.loads`` after the depth check: JsonTooDeepError or ValueError when refused."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return _loads_scanned(raw, _scan(raw), max_depth)


def _loads_scanned(raw: bytes, scan: _Scan, max_depth: int) -> object:
    if _too_deep(scan.brackets, max_depth):
        raise JsonTooDeepError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # pragma: no cover - the depth check makes this unreachable
        raise JsonTooDeepError(f"JSON nested deeper than {max_depth} levels") from None


def loads_within(data: bytes, limits: InputLimits) -> tuple[object, bool]:
    """:func:`loads_bounded` with ``limits.max_json_depth``, and whether no part of the
    value can be refused by :func:`check_fhir_input` with ``limits``, known from the
    same scan of the bytes: no string of the text is longer than ``max_string_chars``
    (see :func:`_scan`), and there are fewer commas outside its strings than
    ``max_entries`` (an array of more items has at least that many). When True the walk
    would find nothing and may be skipped; when False it must run."""
    scan = _scan(data)
    value = _loads_scanned(data, scan, limits.max_json_depth)
    within = scan.longest_string <= limits.max_string_chars and scan.commas < limits.max_entries
    return value, within


async def read_capped(chunks: AsyncIterable[bytes], max_bytes: int) -> bytes:
    """The bytes of ``chunks``, or TooLargeError as soon as there are more than ``max_bytes``."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise TooLargeError(f"more than {max_bytes} bytes")
    return bytes(body)


@dataclass(frozen=True)
class InputLimits:
    """How much FHIR input one CDS call may carry."""

    max_entries: int = 1_000  # items of any JSON array
    max_string_chars: int = 4_096  # characters of a string the mapper reads
    max_prefetch_keys: int = 16
    max_json_depth: int = 64


# The members whose string values the FHIR mapper (integrations/fhir/,
# integrations/cds/services.py) reads; a string anywhere else (an attachment's data, a
# narrative) is bounded by the body cap.
MAPPER_STRING_KEYS: Final = frozenset(
    {
        "resourceType",
        "id",
        "text",
        "display",
        "code",
        "system",
        "reference",
        "birthDate",
        "gender",
        "deceasedDateTime",
        "status",
        "mode",
        "diagnostics",
        "patientId",
        "userId",
        "encounterId",
        "selections",
    }
)


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def check_fhir_input(value: object, path: str, limits: InputLimits) -> None:
    """InputLimitError naming the first over-long array or mapper-read string in ``value``.

    Iterative (a stack, not recursion); ``value`` is parsed JSON.
    """
    stack: list[tuple[object, str, bool]] = [(value, path, False)]
    while stack:
        node, where, read = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                stack.append((item, _join(where, str(key)), key in MAPPER_STRING_KEYS))
        elif isinstance(node, list):
            if len(node) > limits.max_entries:
                raise InputLimitError(where, f"more than {limits.max_entries} items")
            stack.extend((item, _join(where, i), read) for i, item in enumerate(node))
        elif read and isinstance(node, str) and len(node) > limits.max_string_chars:
            raise InputLimitError(where, f"longer than {limits.max_string_chars} characters")


# CommonMark: any ASCII punctuation character may be backslash-escaped.
_MARKDOWN_PUNCTUATION: Final = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_text(value: object, max_chars: int = 500) -> str:
    """EHR text made inert in CommonMark: one line, controls removed, punctuation escaped.

    Whitespace (newlines included) collapses to single spaces, so the text cannot start
    a block (a heading, a list, a code block, a thematic break); control and format
    characters (bidirectional overrides, zero-width joiners) are dropped; every ASCII
    punctuation character is backslash-escaped, so the text cannot open emphasis, a
    link, an image, raw HTML, an entity or a table cell. Over ``max_chars`` it is cut.
    """
    text = "".join(
        character
        for character in str(value)
        if unicodedata.category(character) not in ("Cc", "Cf") or character in "\t\n\r"
    )
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
