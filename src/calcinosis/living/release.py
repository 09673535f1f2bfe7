"""``calcinosis evidence release``: a knowledge directory's content becomes a numbered
version, with its date and a changelog entry.

The entry (``changes.yaml``, newest first, listed in the manifest and validated with it)
holds the editor's note (what triggered this version), a hash of the content released,
and what changed since the release before, generated from the diff against it. The
files of the release before are found in the directory's ``.last-release/`` (which each
release refreshes), or are the packaged knowledge when that is what was released; or
they are given (``--base``). A directory whose content differs from its last release's
(or that was never released) is *unreleased*: the web app says so on every page.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from calcinosis.errors import CalcinosisError, KnowledgeError
from calcinosis.evidence.knowledge_base import (
    CHANGELOG,
    KNOWLEDGE_DIR,
    KnowledgeBase,
    read_knowledge,
    version_key,
)
from calcinosis.evidence.schemas import ChangeCounts, ChangeEntry
from calcinosis.living.diff import Diff, diff
from calcinosis.living.directory import (
    SNAPSHOT,
    commit,
    locked,
    require_directory,
    snapshot,
    staging,
    validate,
)
from calcinosis.living.panel import Profile, load_panel, panel_path
from calcinosis.living.report import changelog_lines

__all__ = ["Released", "last_release_directory", "panel_for", "release"]

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_HEADER = (
    "# The changelog of this knowledge: one entry per release, newest first, written by\n"
    "# `calcinosis evidence release` (the note is the editor's; the rest is generated from\n"
    "# the diff against the release before). `content` is the SHA-256 of the files released.\n"
)


@dataclass(frozen=True)
class Released:
    """What a release did: the entry written, the diff it came from (none the first time)."""

    directory: Path
    entry: ChangeEntry
    diff: Diff | None
    kb: KnowledgeBase


def last_release_directory(directory: Path, kb: KnowledgeBase) -> Path | None:
    """Where the files of ``kb``'s last release are (None: it was never released)."""
    last = kb.last_release
    if last is None:
        return None
    for candidate in (directory / SNAPSHOT, KNOWLEDGE_DIR):
        try:
            if read_knowledge(candidate).content_hash == last.content:
                return candidate
        except KnowledgeError:
            continue
    raise CalcinosisError(
        f"{directory}: the files of its last release ({last.version}) are not found (no "
        f"{SNAPSHOT}/ and it is not the packaged knowledge): name them (BASE, or --base)"
    )


def panel_for(
    base: KnowledgeBase, head: KnowledgeBase, *directories: Path | None
) -> tuple[Profile, ...]:
    """The reference panel of the first directory with one, checked against both."""
    return load_panel(panel_path(*directories), base.therapy_ids() & head.therapy_ids())


def _first_release_lines(kb: KnowledgeBase) -> list[str]:
    added = sum(1 for study in kb.studies.values() if study.reference is None)
    studies = f"{len(kb.studies)} studies" + (f" ({added} added since the review)" if added else "")
    return [
        f"First release: {studies}, {len(kb.arms)} arms, {len(kb.treatments)} treatments, "
        f"{len(kb.statements)} statements, {len(kb.table4)} rows of Table 4, "
        f"{len(kb.sources)} sources"
    ]


def _counts(change: Diff | None, kb: KnowledgeBase) -> ChangeCounts:
    if change is None:
        total = sum(
            len(getattr(kb, name))
            for name in ("sources", "studies", "arms", "treatments", "statements", "table4")
        )
        return ChangeCounts(records_added=total + len(kb.totals) + len(kb.findings))
    return ChangeCounts(
        records_added=len(change.added),
        records_removed=len(change.removed),
        records_changed=len(change.changed),
        pooled_changed=len(change.pooled),
        levels_changed=len(change.levels),
        grades_changed=len(change.grades),
        audit_new=len(change.audit_new),
        audit_resolved=len(change.audit_resolved),
        profiles_changed=len(change.plans),
        profiles=change.profiles,
    )


def _stamp_manifest(text: str, version: str, released: dt.date) -> str:
    """The manifest with the new version and date (and the changelog listed), its
    comments and layout kept; written anew only when that cannot be done in place."""
    data = yaml.safe_load(text)
    expected = dict(data, version=version, released=released)
    if CHANGELOG not in expected["files"]:
        expected["files"] = [*expected["files"], CHANGELOG]
    new = re.sub(r"(?m)^version:.*$", f"version: {version}", text, count=1)
    new = re.sub(r"(?m)^released:.*$", f"released: {released.isoformat()}", new, count=1)
    if CHANGELOG not in data["files"]:
        listed = re.search(r"(?m)^files:\n((?:[ \t]+-[^\n]*\n?)+)", new)
        if listed is not None:
            indent = re.match(r"[ \t]+", listed.group(1))
            block = listed.group(1).rstrip("\n") + "\n"
            line = f"{indent.group(0) if indent else '  '}- {CHANGELOG}\n"
            new = new[: listed.start(1)] + block + line + new[listed.end(1) :]
    try:
        same = yaml.safe_load(new) == expected
    except yaml.YAMLError:
        same = False
    return new if same else yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)


def _check(kb: KnowledgeBase, version: str, note: str, released: dt.date) -> None:
    current = kb.manifest.version
    if not _VERSION.match(version):
        raise CalcinosisError(f"--version: {version!r} is not a version X.Y.Z (e.g. 1.1.0)")
    last = kb.last_release
    newer = version_key(version) > version_key(current)
    if not newer and not (last is None and version == current):  # a first release may be it
        raise CalcinosisError(
            f"--version: {version} is not greater than the current version ({current})"
        )
    if len(note.strip()) < 3:
        raise CalcinosisError('--note: say what triggered this version (e.g. "Doe 2025 added")')
    if last is not None and last.content == kb.content_hash:
        raise CalcinosisError(f"nothing to release: the content is that of release {last.version}")
    if last is not None and released < last.released:
        raise CalcinosisError(
            f"--date: {released.isoformat()} is before the last release ({last.version} of "
            f"{last.released.isoformat()})"
        )


def release(
    directory: Path,
    version: str,
    note: str,
    *,
    released: dt.date | None = None,
    base: Path | None = None,
) -> Released:
    """Release ``directory`` as ``version``; refuse, changing nothing, when it cannot be."""
    require_directory(directory)
    if base is not None:
        require_directory(base)
    day = released or dt.datetime.now(dt.UTC).date()
    with locked(directory):
        head = read_knowledge(directory)
        _check(head, version, note, day)
        base_dir = base or last_release_directory(directory, head)
        change = None
        if base_dir is not None:
            base_kb = read_knowledge(base_dir)
            change = diff(base_kb, head, panel_for(base_kb, head, directory, base_dir))
        last = head.last_release
        entry = ChangeEntry(
            version=version,
            released=day,
            note=" ".join(note.split()),
            previous=last.version if last else None,
            content=head.content_hash,
            changes=changelog_lines(change) if change else _first_release_lines(head),
            counts=_counts(change, head),
        )
        with staging(directory, directory) as stage:
            entries = [entry, *head.changelog]
            documents = [e.model_dump(exclude_defaults=True) for e in entries]  # dates as dates
            (stage / CHANGELOG).write_text(
                _HEADER + yaml.safe_dump(documents, sort_keys=False, allow_unicode=True, width=88),
                encoding="utf-8",
            )
            manifest = stage / "manifest.yaml"
            manifest.write_text(
                _stamp_manifest(manifest.read_text(encoding="utf-8"), version, day),
                encoding="utf-8",
            )
            after = validate(stage, "the release")
            if after.unreleased:  # pragma: no cover - the entry is made from this content
                raise CalcinosisError("the release does not describe the content released")
            commit(stage, directory, [CHANGELOG, "manifest.yaml"])
        snapshot(directory)
    return Released(directory, entry, change, after)
