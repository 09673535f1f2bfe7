"""Reading a data file that is not a list of knowledge records (the answers' lexicon, the
FHIR terminology): YAML through the safe loader (the C one when available) that refuses a
key written twice, and a pydantic validation error as one :class:`KnowledgeError` line
naming the file, the record and the field."""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from calcinosis.errors import KnowledgeError, field_path

__all__ = ["DataLoader", "read_data", "validation_error"]


class DataLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, refusing a key written twice in one mapping."""


def _unique_keys(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_mapping(node))


DataLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def read_data(source: Traversable | Path) -> object:
    """The YAML document of ``source``; KnowledgeError (naming it) if it cannot be read."""
    name = source.name
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(name, None, None, "file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(name, None, None, f"cannot be read ({exc})") from None
    try:
        return yaml.load(text, Loader=DataLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else None
        raise KnowledgeError(name, where, None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(name, None, None, f"not valid YAML: {exc}") from None


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
