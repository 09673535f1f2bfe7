"""``calcinosis evidence add``: one study joins a knowledge directory, whole or not at all.

The study file is checked against the directory (``study_file.py``); its records are
appended to a staged copy of the directory, the whole copy is loaded and validated, and
only then are the three files moved in (``directory.py``). The default directory is the
working copy ``./calcinosis-knowledge``, made from the packaged knowledge the first time:
the installed files are never the default.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from calcinosis.errors import CalcinosisError
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, KnowledgeBase, read_knowledge
from calcinosis.living.directory import (
    append_records,
    commit,
    locked,
    staging,
    validate,
    working_copy,
)
from calcinosis.living.study_file import NewStudy, parse_study_file

__all__ = ["Added", "add_study"]

# The files a study's records go to, in the order they are moved in: each state between
# two moves is valid on its own (a source no study cites yet, a study without arms).
_FILES = ("sources.yaml", "studies.yaml", "arms.yaml")


@dataclass(frozen=True)
class Added:
    """What `evidence add` did: where, whether it made the working copy, the records."""

    directory: Path
    created: bool
    study: NewStudy
    kb: KnowledgeBase  # the directory's knowledge after the study was added


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalcinosisError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalcinosisError(f"cannot read {path}: {exc}") from None


def add_study(path: Path, directory: Path | None = None) -> Added:
    """Add the study of the file at ``path`` to ``directory`` (default: the working
    copy, made the first time); refuse it, changing nothing, when it cannot be added."""
    text = _read(path)
    target, create = working_copy(directory)
    origin = KNOWLEDGE_DIR if create else target
    guard: AbstractContextManager[None] = nullcontext() if create else locked(target)
    with guard:
        new = parse_study_file(text, str(path), read_knowledge(origin))
        with staging(target, origin, whole=create) as stage:
            ids = f"doi:{new.source.doi}" if new.source.doi else f"PMID {new.source.pmid}"
            comment = f"Added by `calcinosis evidence add`: {new.label} ({ids})"
            records: dict[str, list[BaseModel]] = {
                "sources.yaml": [new.source],
                "studies.yaml": [new.study],
                "arms.yaml": list(new.arms),
            }
            for name in _FILES:
                dumped = [r.model_dump(mode="json", exclude_defaults=True) for r in records[name]]
                append_records(stage / name, dumped, comment)
            after = validate(stage, f"adding {path}")
            if create:
                try:
                    stage.rename(target)
                except OSError as exc:
                    raise CalcinosisError(f"cannot make {target}: {exc.strerror}") from None
            else:
                commit(stage, target, _FILES)
    return Added(target, create, new, after)
