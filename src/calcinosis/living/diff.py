"""Two versions of the knowledge compared: what an editor needs to see before a release.

``diff(base, head, panel)`` gives a :class:`Diff`: both versions; the records added,
removed and changed, field by field; every pooled estimate (treatment or class, any and
complete response, the default GLMM) that changed; the levels and grades the CEBM rules
give that changed; the audit's findings new and resolved; and, for each profile of the
reference panel, every option whose stance, order, grade or response figure changed.
``Diff.document()`` is the stable JSON of ``docs/contracts.md``.

Nothing is computed twice: a pool whose input counts are the same in both versions is
not fitted at all for the comparison (the same counts give the same fit), and the fits
the plans need are shared between the versions (``pooling.pool`` keeps each fit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from calcinosis.decision.documents import OfferedOption, OptionDocument, PlanDocument
from calcinosis.decision.engine import recommend_document
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.audit import audit
from calcinosis.evidence.grading import grade_for_body, level_rank
from calcinosis.evidence.knowledge_base import OUTCOMES, KnowledgeBase, Outcome, study_label
from calcinosis.evidence.references import short_label
from calcinosis.evidence.synthesis import pool_document, study_units
from calcinosis.evidence.tables import arm_level_rules, evidence_body
from calcinosis.living.panel import Profile

__all__ = ["RECORD_KINDS", "Diff", "diff", "version_document"]

# (kind, attribute of the knowledge base): the records compared, in this order.
RECORD_KINDS = (
    ("source", "sources"),
    ("study", "studies"),
    ("arm", "arms"),
    ("treatment", "treatments"),
    ("statement", "statements"),
    ("table4-row", "table4"),
    ("total", "totals"),
    ("finding", "findings"),
    ("algorithm-text", "algorithm"),
)
_HIDDEN_FIELDS = frozenset({"seed_file"})  # where a source's text is kept: never shown
_POOL_FIELDS = ("estimate", "ci", "k", "n", "x", "tau2", "i2", "prediction_interval", "method")
_OPTION_FIELDS = ("stance", "order", "grade", "response")


def version_document(kb: KnowledgeBase) -> dict[str, Any]:
    """A version as the diff names it."""
    last = kb.last_release
    return {
        "version": kb.version,
        "manifest_version": kb.manifest.version,
        "released": kb.released,
        "unreleased": kb.unreleased,
        "status": kb.release_status(),
        "last_release": last.version if last else None,
    }


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    def document(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RecordChange:
    kind: str
    id: str
    label: str
    fields: tuple[FieldChange, ...] = ()

    def document(self, *, with_fields: bool = False) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "id": self.id, "label": self.label}
        if with_fields:
            document["fields"] = [change.document() for change in self.fields]
        return document


@dataclass(frozen=True)
class Change:
    """One thing before and after (a pool, a level, a grade, an audit item, an option)."""

    key: Mapping[str, Any]
    before: Any
    after: Any
    changed: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        document = {**self.key, "before": self.before, "after": self.after}
        if self.changed:
            document["changed"] = list(self.changed)
        return document


@dataclass(frozen=True)
class PlanChanges:
    profile: str
    description: str
    changes: tuple[Change, ...]

    def document(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "description": self.description,
            "changes": [change.document() for change in self.changes],
        }


@dataclass(frozen=True)
class Diff:
    """What changed from ``base`` to ``head``."""

    base: dict[str, Any]
    head: dict[str, Any]
    added: tuple[RecordChange, ...]
    removed: tuple[RecordChange, ...]
    changed: tuple[RecordChange, ...]
    pooled: tuple[Change, ...]
    levels: tuple[Change, ...]
    grades: tuple[Change, ...]
    audit_new: tuple[dict[str, Any], ...]
    audit_resolved: tuple[dict[str, Any], ...]
    audit_changed: tuple[Change, ...]
    plans: tuple[PlanChanges, ...]
    profiles: int
    # why the panel's plans were not compared (the knowledge before cannot be planned by
    # this code: it lacks a text the code says), or None
    plans_not_compared: str | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.pooled
            or self.levels
            or self.grades
            or self.audit_new
            or self.audit_resolved
            or self.audit_changed
            or self.plans
        )

    def document(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "records": {
                "added": [record.document() for record in self.added],
                "removed": [record.document() for record in self.removed],
                "changed": [record.document(with_fields=True) for record in self.changed],
            },
            "pooled": [change.document() for change in self.pooled],
            "levels": [change.document() for change in self.levels],
            "grades": [change.document() for change in self.grades],
            "audit": {
                "new": list(self.audit_new),
                "resolved": list(self.audit_resolved),
                "changed": [change.document() for change in self.audit_changed],
            },
            "plans": [plan.document() for plan in self.plans],
            "panel": {
                "profiles": self.profiles,
                "changed": len(self.plans),
                "not_compared": self.plans_not_compared,
            },
        }


# ------------------------------------------------------------------------ records
def _records(kb: KnowledgeBase, attribute: str) -> dict[str, BaseModel]:
    value = getattr(kb, attribute)
    if isinstance(value, Mapping):
        return dict(value)
    return {str(record.id): record for record in value}


def _arm_label(kb: KnowledgeBase, arm: Any) -> str:
    study = kb.studies.get(arm.study)
    name = kb.treatments[arm.treatment].name if arm.treatment in kb.treatments else arm.treatment
    return f"{study_label(study) if study else arm.study}: {name} ({arm.population}, {arm.disease})"


def _statement_label(kb: KnowledgeBase, statement: Any) -> str:
    source = kb.sources.get(statement.source)
    return f"{short_label(source) if source else statement.source}, {statement.location}"


_LABELS: dict[str, Callable[[KnowledgeBase, Any], str]] = {
    "source": lambda _kb, record: short_label(record),
    "study": lambda _kb, record: study_label(record),
    "arm": _arm_label,
    "treatment": lambda _kb, record: str(record.name),
    "statement": _statement_label,
    "table4-row": lambda _kb, record: f"Table 4, {record.label}",
    "total": lambda _kb, record: f"review total ({record.scope})",
    "finding": lambda _kb, record: str(record.summary),
    "algorithm-text": lambda _kb, record: f"the algorithm's text {record.id}",
}


def _label(kb: KnowledgeBase, kind: str, record: Any) -> str:
    """How a record is named in the diff: a reference or a study, never a file."""
    return _LABELS[kind](kb, record)


def _field_changes(before: Any, after: Any, path: str) -> list[FieldChange]:
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[FieldChange] = []
        for key in dict.fromkeys([*before, *after]):
            if not path and key in _HIDDEN_FIELDS:
                continue
            inner = f"{path}.{key}" if path else str(key)
            found += _field_changes(before.get(key), after.get(key), inner)
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            found += _field_changes(old, new, f"{path}[{index}]")
        return found
    return [] if before == after else [FieldChange(path, before, after)]


def _compare_records(
    base: KnowledgeBase, head: KnowledgeBase
) -> tuple[list[RecordChange], list[RecordChange], list[RecordChange]]:
    added: list[RecordChange] = []
    removed: list[RecordChange] = []
    changed: list[RecordChange] = []
    for kind, attribute in RECORD_KINDS:
        old, new = _records(base, attribute), _records(head, attribute)
        for key, record in new.items():
            if key not in old:
                added.append(RecordChange(kind, key, _label(head, kind, record)))
            elif old[key] != record:
                fields = _field_changes(
                    old[key].model_dump(mode="json"), record.model_dump(mode="json"), ""
                )
                if fields:
                    changed.append(
                        RecordChange(kind, key, _label(head, kind, record), tuple(fields))
                    )
        removed += [
            RecordChange(kind, key, _label(base, kind, record))
            for key, record in old.items()
            if key not in new
        ]
    return added, removed, changed


# ---------------------------------------------------------------- pools, levels, grades
def _pool_input(kb: KnowledgeBase, name: str, outcome: Outcome) -> tuple[Any, ...] | None:
    """What a pool is computed from: the same input gives the same estimate."""
    if name not in kb.treatments and name not in kb.classes:
        return None
    units, _ = study_units(kb, kb.arms_for(kb.resolve(name)), outcome)
    return tuple((unit.label, unit.x, unit.n, unit.design) for unit in units) or None


def _pool_summary(kb: KnowledgeBase, name: str, outcome: Outcome) -> dict[str, Any] | None:
    document = pool_document(kb, name, outcome, "glmm")
    if not document.k:
        return None
    figures = document.model_dump(include=set(_POOL_FIELDS))
    return {key: figures[key] for key in _POOL_FIELDS} | {"pooled": document.pooled}


def _compare_pools(base: KnowledgeBase, head: KnowledgeBase) -> list[Change]:
    names = sorted(set(base.pool_choices()) | set(head.pool_choices()))
    found: list[Change] = []
    for name in names:
        kind = "class" if name in head.classes or name in base.classes else "treatment"
        for outcome in OUTCOMES:
            before, after = _pool_input(base, name, outcome), _pool_input(head, name, outcome)
            if before == after:
                continue  # the same counts: the same estimate, not fitted again
            found.append(
                Change(
                    {"treatment": name, "kind": kind, "outcome": outcome, "method": "glmm"},
                    _pool_summary(base, name, outcome) if before else None,
                    _pool_summary(head, name, outcome) if after else None,
                )
            )
    return found


def _compare_levels(base: KnowledgeBase, head: KnowledgeBase) -> list[Change]:
    def levels(kb: KnowledgeBase) -> dict[str, tuple[str, str, str]]:
        return {
            arm.id: (arm.study, arm.treatment, arm_level_rules(kb, arm).level) for arm in kb.arms
        }

    old, new = levels(base), levels(head)
    found = []
    for arm_id in dict.fromkeys([*old, *new]):
        before, after = old.get(arm_id), new.get(arm_id)
        if before is None or after is None or before[2] != after[2]:
            study, treatment, _ = after or before or ("", "", "")
            found.append(
                Change(
                    {"arm": arm_id, "study": study, "treatment": treatment},
                    before[2] if before else None,
                    after[2] if after else None,
                )
            )
    return found


def _grade(kb: KnowledgeBase, name: str) -> dict[str, Any] | None:
    if name not in kb.treatments and name not in kb.classes:
        return None
    body = evidence_body(kb, kb.arms_for(kb.resolve(name)))
    if not body:
        return None
    result = grade_for_body(body)
    best = min((item.level for item in body), key=level_rank)
    return {"grade": result.grade, "level": best, "reasons": list(result.reasons)}


def _compare_grades(base: KnowledgeBase, head: KnowledgeBase) -> list[Change]:
    found = []
    for name in sorted(set(base.pool_choices()) | set(head.pool_choices())):
        before, after = _grade(base, name), _grade(head, name)
        key = ("grade", "level")
        if (before and [before[k] for k in key]) != (after and [after[k] for k in key]):
            kind = "class" if name in head.classes or name in base.classes else "treatment"
            found.append(Change({"treatment": name, "kind": kind}, before, after))
    return found


def _compare_audit(
    base: KnowledgeBase, head: KnowledgeBase
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Change]]:
    """New findings, resolved ones, and those found in both whose values changed."""
    old = {item.id: item.document().model_dump() for item in audit(base)}
    new = {item.id: item.document().model_dump() for item in audit(head)}
    changed = [
        Change({"id": key}, old[key], item)
        for key, item in new.items()
        if key in old and old[key] != item
    ]
    return (
        [item for key, item in new.items() if key not in old],
        [item for key, item in old.items() if key not in new],
        changed,
    )


# ---------------------------------------------------------------------------- plans
def _response(option: OptionDocument) -> dict[str, Any] | None:
    """The response figure a plan shows for an option: counts, k, the pooled estimate."""
    response = option.response if isinstance(option, OfferedOption) else None
    if not response:
        return None
    any_, complete = response.any, response.complete
    return {
        "x": any_.x,
        "n": any_.n,
        "k": any_.k,
        "estimate": any_.estimate,
        "ci": any_.ci,
        "complete": {"x": complete.x, "n": complete.n, "k": complete.k},
    }


def _snapshots(plan: PlanDocument) -> dict[str, dict[str, Any]]:
    orders: dict[str, int] = {}
    found: dict[str, dict[str, Any]] = {}
    for option in plan.options:
        orders[option.stance] = orders.get(option.stance, 0) + 1
        found[option.id] = {
            "name": option.name,
            "stance": option.stance,
            "order": orders[option.stance],
            "grade": option.grade_label,
            "response": _response(option),
        }
    return found


def _compare_plan(before: PlanDocument, after: PlanDocument) -> list[Change]:
    old, new = _snapshots(before), _snapshots(after)
    found = []
    for option in dict.fromkeys([*old, *new]):
        a, b = old.get(option), new.get(option)
        changed = tuple(
            name for name in _OPTION_FIELDS if (a or {}).get(name) != (b or {}).get(name)
        )
        if changed:
            name = (b or a or {}).get("name", option)
            strip = {k: v for k, v in (a or {}).items() if k != "name"} if a else None
            after_ = {k: v for k, v in (b or {}).items() if k != "name"} if b else None
            found.append(Change({"option": option, "name": name}, strip, after_, changed))
    return found


def _compare_plans(
    base: KnowledgeBase, head: KnowledgeBase, panel: Iterable[Profile]
) -> list[PlanChanges]:
    found = []
    for profile in panel:
        changes = _compare_plan(
            recommend_document(profile.patient, base), recommend_document(profile.patient, head)
        )
        if changes:
            found.append(PlanChanges(profile.id, profile.description, tuple(changes)))
    return found


def diff(base: KnowledgeBase, head: KnowledgeBase, panel: Sequence[Profile] = ()) -> Diff:
    """What changed from ``base`` to ``head``, and for whom in ``panel``."""
    added, removed, changed = _compare_records(base, head)
    new, resolved, audit_changed = _compare_audit(base, head)
    plans: list[PlanChanges] = []
    not_compared = None
    if base is not head:
        try:
            plans = _compare_plans(base, head, panel)
        except KnowledgeError as exc:  # the code changed with the knowledge
            not_compared = f"the knowledge before cannot be planned by this code ({exc})"
    return Diff(
        base=version_document(base),
        head=version_document(head),
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        pooled=tuple(_compare_pools(base, head)),
        levels=tuple(_compare_levels(base, head)),
        grades=tuple(_compare_grades(base, head)),
        audit_new=tuple(new),
        audit_resolved=tuple(resolved),
        audit_changed=tuple(audit_changed),
        plans=tuple(plans),
        profiles=0 if not_compared else len(panel),
        plans_not_compared=not_compared,
    )
