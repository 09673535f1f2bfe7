"""A knowledge directory being edited: the working copy, a lock, and changes that are
made whole or not at all.

Every change (a study added, a release stamped) is written to a staging directory beside
the knowledge directory, validated there by loading the whole of it, and only then moved
in: file by file with ``os.replace``, in an order in which every intermediate state is
itself valid (a source before the study that cites it, a study before its arms, the
changelog before the manifest that lists it). A failure before that leaves the directory
byte for byte as it was, and the staging directory is removed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from calcinosis.errors import CalcinosisError, KnowledgeError
from calcinosis.evidence.knowledge_base import CHANGELOG, KnowledgeBase, read_knowledge

__all__ = [
    "PANEL",
    "SNAPSHOT",
    "WORKING_COPY",
    "append_records",
    "commit",
    "knowledge_files",
    "locked",
    "require_directory",
    "snapshot",
    "staging",
    "validate",
    "working_copy",
]

WORKING_COPY = Path("calcinosis-knowledge")  # where `evidence add` works by default
PANEL = "panel.yaml"  # the reference patients the diff plans (not part of the evidence)
SNAPSHOT = ".last-release"  # the files as last released: what the next release is diffed with
_MANIFEST = "manifest.yaml"


def require_directory(directory: Path) -> None:
    """A knowledge directory (one with a manifest), or one line naming it."""
    if not (directory / _MANIFEST).is_file():
        raise CalcinosisError(f"{directory}: not a knowledge directory (no {_MANIFEST})")


def knowledge_files(directory: Path) -> list[str]:
    """The manifest, the files it lists and the panel, when present: what a copy needs."""
    names = [_MANIFEST]
    try:
        listed = yaml.safe_load((directory / _MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        listed = []
    names += [name for name in listed if isinstance(name, str) and name not in names]
    names += [name for name in (CHANGELOG, PANEL) if name not in names]
    return [name for name in names if (directory / name).is_file()]


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the directory's manifest (a second `add` or `release`
    waits): the lock is on the file as it is, so it changes nothing on disk."""
    while True:
        path = directory / _MANIFEST
        with path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
                    continue  # replaced while we waited (a release): lock the new one
            except FileNotFoundError:
                raise CalcinosisError(f"{directory}: the manifest disappeared") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return


@contextmanager
def staging(beside: Path, origin: Path | None, *, whole: bool = False) -> Iterator[Path]:
    """A staging directory next to ``beside`` (same file system, so that moving a file in
    is atomic) holding a copy of ``origin``'s knowledge files (its whole tree with
    ``whole``); removed on exit, whatever happens, unless it was moved away."""
    parent = beside.parent
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{beside.name}.staging-", dir=parent))
    except OSError as exc:
        raise CalcinosisError(f"cannot write in {parent}: {exc.strerror}") from None
    try:
        if origin is not None and whole:
            stage.rmdir()
            shutil.copytree(origin, stage, ignore=shutil.ignore_patterns("__pycache__"))
        elif origin is not None:
            for name in knowledge_files(origin):
                shutil.copy2(origin / name, stage / name)
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def validate(stage: Path, what: str) -> KnowledgeBase:
    """Load the staged directory whole; a failure says what it came from."""
    try:
        return read_knowledge(stage)
    except KnowledgeError as exc:
        raise CalcinosisError(f"{what} would leave the knowledge invalid: {exc}") from None


def commit(stage: Path, directory: Path, names: Sequence[str]) -> None:
    """Move the staged ``names`` into ``directory``, one atomic replace each, in order."""
    for name in names:
        os.replace(stage / name, directory / name)


def _dump(records: Sequence[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        list(records), sort_keys=False, allow_unicode=True, width=88, default_flow_style=False
    )


def append_records(path: Path, records: Sequence[dict[str, Any]], comment: str) -> None:
    """Add records at the end of a list file, keeping its text (comments, layout) as it
    is; when appending cannot be read back as the same list plus the records (a file in
    flow style), the file is written anew."""
    text = path.read_text(encoding="utf-8")
    before = yaml.safe_load(text) or []
    added = text.rstrip("\n") + "\n\n" + "".join(f"# {line}\n" for line in comment.splitlines())
    added += _dump(records)
    try:
        readable = yaml.safe_load(added) == [*before, *records]
    except yaml.YAMLError:
        readable = False
    path.write_text(added if readable else _dump([*before, *records]), encoding="utf-8")


def snapshot(directory: Path) -> None:
    """Keep a copy of the files as they are now in ``directory/.last-release`` (what the
    next release will be compared with), replacing the one before at once."""
    target = directory / SNAPSHOT
    with staging(target, directory) as stage:
        stage.chmod(directory.stat().st_mode & 0o777)  # as readable as the directory
        old = directory / f"{SNAPSHOT}.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        stage.rename(target)
        shutil.rmtree(old, ignore_errors=True)


def working_copy(requested: Path | None) -> tuple[Path, bool]:
    """The directory to edit, and whether it must be made (a copy of the packaged
    knowledge, ``./calcinosis-knowledge``, the first time). The packaged files are never
    the default."""
    if requested is not None:
        require_directory(requested)
        return requested, False
    if WORKING_COPY.exists():
        require_directory(WORKING_COPY)
        return WORKING_COPY, False
    return WORKING_COPY, True
