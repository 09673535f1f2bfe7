"""Reading a data file (the knowledge records, the answers' lexicon, the FHIR
terminology): YAML through the safe loader (the C one when available) that refuses a key
written twice, and a pydantic validation error as one :class:`KnowledgeError` line naming
the file, the record and the field.

Even with the C loader, PyYAML builds every node in Python: about 0.4 G instructions of
each ``calcinosis`` process, a fifth of ``evidence table 4``. So the parsed document of
each file is kept in the cache directory (``cachefiles.py``), one file per data file,
under a key that is the SHA-256 of everything the document depends on: the text, this
module's source, PyYAML's version and whether it has its C part, and Python's. A file
whose key differs (an edited data file, another PyYAML) is parsed again and the cache
rewritten, atomically; a corrupt or unreadable one is parsed again. It holds plain data
only, and is read with an unpickler that refuses anything else (no class but the
``datetime`` values YAML makes: ``cachefiles.read_plain``), so a planted file cannot run
code. A text that does not
parse is never kept: its error is raised every time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from functools import cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from calcinosis.cachefiles import cache_dir, plain_bytes, read_plain, replace_atomically
from calcinosis.errors import KnowledgeError, field_path

__all__ = ["read_data", "validation_error"]


@cache
def _loader() -> type[Any]:
    """The safe loader (the C one when available), refusing a key written twice. PyYAML is
    imported only when a file has to be parsed: its import is about 0.12 G instructions,
    more than reading every data file from the cache."""
    import yaml  # noqa: PLC0415 - PyYAML only when a file is not in the cache

    class DataLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        """The safe loader, refusing a key written twice in one mapping."""

    def unique_keys(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return dict(loader.construct_mapping(node))

    DataLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, unique_keys)
    return DataLoader


def read_data(source: Traversable | Path) -> object:
    """The YAML document of ``source``; KnowledgeError (naming it) if it cannot be read."""
    name = source.name
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(name, None, None, "file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(name, None, None, f"cannot be read ({exc})") from None
    key = _key(text)
    kept = _kept(source, key)
    if kept is not _NOTHING:
        return kept
    loader = _loader()
    import yaml  # noqa: PLC0415 - imported by _loader: only its errors are named here

    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else None
        raise KnowledgeError(name, where, None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(name, None, None, f"not valid YAML: {exc}") from None
    _keep(source, key, data)
    return data


FORMAT = 1
_NOTHING = object()


@cache
def _code() -> bytes:
    """What besides the text decides the parsed document: this module's source, PyYAML's
    (its ``__init__.py``, which names its version, and the names of its files, which show
    whether its C part is there: found without importing it) and Python's version. Empty
    when it cannot be known."""
    spec = importlib.util.find_spec("yaml")
    if spec is None or spec.origin is None:
        return b""
    package = Path(spec.origin)
    try:
        ours, theirs = Path(__file__).read_bytes(), package.read_bytes()
        names = sorted(path.name for path in package.parent.iterdir())
    except OSError:
        return b""
    parts = [ours, theirs, "\0".join(names).encode(), f"{FORMAT}\0{sys.version}".encode()]
    return b"\0\0".join(parts)


def _key(text: str) -> str | None:
    code = _code()
    if not code:
        return None
    return hashlib.sha256(code + b"\0" + text.encode("utf-8")).hexdigest()


def _cache_file(source: Traversable | Path) -> Path:
    where = hashlib.sha256(str(source).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir() / f"yaml-{where[:32]}.pickle"


def _kept(source: Traversable | Path, key: str | None) -> object:
    """The document kept for ``source`` under ``key``, or _NOTHING."""
    if key is None:
        return _NOTHING
    try:
        kept = read_plain(_cache_file(source))
    except Exception:
        return _NOTHING
    if not (isinstance(kept, tuple) and len(kept) == 2 and kept[0] == key):
        return _NOTHING
    return kept[1]


def _keep(source: Traversable | Path, key: str | None, data: object) -> None:
    """Keep ``data`` for the next process when it reads back as itself (plain data)."""
    if key is None:
        return
    content = plain_bytes((key, data))
    if content is not None:
        replace_atomically(_cache_file(source), content)


def validation_error(name: str, exc: ValidationError, depth: int = 1) -> KnowledgeError:
    """The first error of ``exc`` as one line: its first ``depth`` location parts are the
    record (``classes.bisphosphonates``, ``cues.intents #3``), the rest the field."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    head, rest = loc[:depth], loc[depth:]
    # a list index right after the record is part of it: "cues.intents #3"
    if rest and isinstance(rest[0], int):
        head, rest = (*head, rest[0]), rest[1:]
    record = ".".join(str(p) for p in head if not isinstance(p, int))
    if head and isinstance(head[-1], int):
        record += f" #{head[-1] + 1}"
    return KnowledgeError(name, record or None, field_path(rest) or None, error["msg"])
