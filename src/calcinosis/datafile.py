"""Reading a YAML data file: the one reader of the knowledge files and the FHIR terminology.

Safe (the C loader when PyYAML has it, ~10x faster than the pure-Python one), and strict
about what YAML would let slip: a key written twice in one mapping is refused, since the
second value would silently replace the first (a second ``dose:`` under one regimen, a
second ``code:`` in one terminology record). Every failure is a ``KnowledgeError`` naming
the file and, where YAML knows it, the line.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from calcinosis.errors import KnowledgeError

__all__ = ["read_yaml"]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def read_yaml(source: Path | Traversable) -> Any:
    """The file's data; ``KnowledgeError`` (file, line) if it is missing, unreadable or
    not valid YAML, or repeats a key in one mapping."""
    name = source.name
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(name, None, None, "file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(name, None, None, f"cannot be read ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else None
        raise KnowledgeError(name, where, None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(name, None, None, f"not valid YAML: {exc}") from None
