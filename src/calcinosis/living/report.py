"""A diff as an editor reads it: terminal text, Markdown (for a pull request or a
release note), and the few lines a changelog entry keeps."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from calcinosis.living.diff import Change, Diff, RecordChange

__all__ = ["changelog_lines", "render_markdown", "render_text"]

_OUTCOME_WORDS = {"any": "any response", "complete": "complete response"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pool(summary: Mapping[str, Any] | None) -> str:
    if summary is None:
        return "none (no arm counted)"
    low, high = summary["ci"]
    text = f"{_pct(summary['estimate'])} (95% CI {_pct(low)} to {_pct(high)}), k={summary['k']}"
    text += f", n={summary['n']}"
    if summary["tau2"] is not None:
        text += f", tau2 {summary['tau2']:.4f}"
    if not summary["pooled"]:
        text += " (not pooled)"
    return text


def _grade(grade: Mapping[str, Any] | None) -> str:
    return "none" if grade is None else f"{grade['grade']} (best level {grade['level']})"


def _value(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def _figure(response: Mapping[str, Any] | None) -> str:
    if response is None:
        return "no studies"
    text = f"{response['x']} of {response['n']} responded (k={response['k']}"
    if response["estimate"] is not None and response["k"] > 1:
        low, high = response["ci"]
        text += f"; pooled {100 * response['estimate']:.0f}%, 95% CI {100 * low:.0f}%-"
        text += f"{100 * high:.0f}%"
    return text + ")"


def _option(state: Mapping[str, Any] | None) -> str:
    if state is None:
        return "not in the plan"
    text = f"{state['stance']} #{state['order']}, {state['grade']}"
    if state["stance"] != "avoid":
        text += f", {_figure(state['response'])}"
    return text


def _option_change(change: Change) -> str:
    before, after = change.before, change.after
    if before is None or after is None:
        return f"{change.key['name']}: {_option(before)} -> {_option(after)}"
    parts = []
    for name in change.changed:
        if name == "response":
            parts.append(f"{_figure(before[name])} -> {_figure(after[name])}")
        elif name == "order":
            parts.append(f"{after['stance']} #{before['order']} -> #{after['order']}")
        else:
            parts.append(f"{name} {before[name]} -> {after[name]}")
    return f"{change.key['name']} ({after['stance']}): " + "; ".join(parts)


def _level(change: Change) -> str:
    before = change.before or "none"
    return f"{change.key['arm']} ({change.key['treatment']}): {before} -> {change.after or 'none'}"


def _records_line(records: Iterable[RecordChange]) -> str:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.kind] = counts.get(record.kind, 0) + 1
    return ", ".join(f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in counts.items())


def _heading(diff: Diff) -> str:
    base, head = diff.base, diff.head
    return (
        f"Evidence diff: {base['version']} ({base['status']})\n"
        f"           to {head['version']} ({head['status']})"
    )


def render_text(diff: Diff) -> str:
    """The diff for the terminal."""
    lines = [_heading(diff), ""]
    lines.append(
        f"RECORDS: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.changed)} changed"
    )
    lines += [f"  + {r.kind} {r.id}: {r.label}" for r in diff.added]
    lines += [f"  - {r.kind} {r.id}: {r.label}" for r in diff.removed]
    for record in diff.changed:
        lines.append(f"  ~ {record.kind} {record.id}: {record.label}")
        lines += [
            f"      {f.field}: {_value(f.before)} -> {_value(f.after)}" for f in record.fields
        ]
    lines += ["", f"POOLED ESTIMATES (GLMM): {len(diff.pooled)} changed"]
    for change in diff.pooled:
        key = change.key
        lines.append(f"  {key['treatment']}, {_OUTCOME_WORDS[key['outcome']]}:")
        lines.append(f"      before {_pool(change.before)}")
        lines.append(f"      after  {_pool(change.after)}")
    lines += ["", f"LEVELS BY THE CEBM RULES: {len(diff.levels)} changed"]
    lines += [f"  {_level(change)}" for change in diff.levels]
    lines += ["", f"GRADES BY THE CEBM RULES: {len(diff.grades)} changed"]
    for change in diff.grades:
        why = "; ".join(change.after["reasons"]) if change.after else "no evidence left"
        lines.append(
            f"  {change.key['treatment']}: {_grade(change.before)} -> {_grade(change.after)}"
            f" ({why})"
        )
    lines += [
        "",
        f"AUDIT: {len(diff.audit_new)} new, {len(diff.audit_resolved)} resolved, "
        f"{len(diff.audit_changed)} changed",
    ]
    lines += [f"  new: {item['subject']}: {item['explanation']}" for item in diff.audit_new]
    lines += [
        f"  resolved: {item['subject']}: {item['explanation']}" for item in diff.audit_resolved
    ]
    for change in diff.audit_changed:
        lines.append(
            f"  changed: {change.key['id']}: found {change.before['found']['value']} -> "
            f"{change.after['found']['value']}"
        )
    lines += [
        "",
        f"PLANS OF THE REFERENCE PANEL: not compared: {diff.plans_not_compared}"
        if diff.plans_not_compared
        else f"PLANS OF THE REFERENCE PANEL: {len(diff.plans)} of {diff.profiles} patients change",
    ]
    for plan in diff.plans:
        lines.append(f"  {plan.profile}: {plan.description}")
        lines += [f"      {_option_change(change)}" for change in plan.changes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: Diff) -> str:
    """The diff as Markdown: a release note, or a pull request's description."""
    base, head = diff.base, diff.head
    out = [
        f"# Evidence diff: {base['version']} to {head['version']}",
        "",
        f"- base: `{base['version']}` ({base['status']})",
        f"- head: `{head['version']}` ({head['status']})",
        "",
        f"## Records: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.changed)} changed",
        "",
    ]
    if diff.added or diff.removed or diff.changed:
        out += [
            "| | kind | id | record | field | before | after |",
            "|---|---|---|---|---|---|---|",
        ]
        for sign, records in (("added", diff.added), ("removed", diff.removed)):
            out += [f"| {sign} | {r.kind} | `{r.id}` | {_md(r.label)} | | | |" for r in records]
        for r in diff.changed:
            out += [
                f"| changed | {r.kind} | `{r.id}` | {_md(r.label)} | `{f.field}` | "
                f"{_md(_value(f.before))} | {_md(_value(f.after))} |"
                for f in r.fields
            ]
        out.append("")
    out += [f"## Pooled estimates (GLMM): {len(diff.pooled)} changed", ""]
    if diff.pooled:
        out += ["| treatment | outcome | before | after |", "|---|---|---|---|"]
        out += [
            f"| {c.key['treatment']} | {c.key['outcome']} | {_pool(c.before)} | {_pool(c.after)} |"
            for c in diff.pooled
        ]
        out.append("")
    out += [f"## Levels and grades by the CEBM rules: {len(diff.levels) + len(diff.grades)}", ""]
    out += [f"- level of {_level(change)}" for change in diff.levels]
    out += [
        f"- grade of {c.key['treatment']}: {_grade(c.before)} -> {_grade(c.after)}"
        for c in diff.grades
    ]
    out += [
        "",
        f"## Audit: {len(diff.audit_new)} new, {len(diff.audit_resolved)} resolved, "
        f"{len(diff.audit_changed)} changed",
        "",
    ]
    out += [f"- new: {_md(item['subject'])}: {_md(item['explanation'])}" for item in diff.audit_new]
    out += [
        f"- resolved: {_md(item['subject'])}: {_md(item['explanation'])}"
        for item in diff.audit_resolved
    ]
    out += [f"- changed: `{change.key['id']}`" for change in diff.audit_changed]
    out += [
        "",
        f"## Plans of the reference panel: not compared: {_md(diff.plans_not_compared)}"
        if diff.plans_not_compared
        else f"## Plans of the reference panel: {len(diff.plans)} of {diff.profiles} patients "
        "change",
        "",
    ]
    for plan in diff.plans:
        out.append(f"- **{plan.profile}** ({_md(plan.description)})")
        out += [f"  - {_md(_option_change(change))}" for change in plan.changes]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip("\n") + "\n"


def changelog_lines(diff: Diff) -> list[str]:
    """What a changelog entry says changed: a line per kind of change."""
    lines: list[str] = []
    if diff.added:
        named = [r.label for r in diff.added if r.kind in ("study", "arm")]
        lines.append(
            f"Added {_records_line(diff.added)}" + (f": {'; '.join(named)}" if named else "")
        )
    if diff.removed:
        lines.append(
            f"Removed {_records_line(diff.removed)}: " + "; ".join(r.label for r in diff.removed)
        )
    if diff.changed:
        lines.append(
            f"Changed {_records_line(diff.changed)}: "
            + "; ".join(f"{r.label} ({', '.join(f.field for f in r.fields)})" for r in diff.changed)
        )
    for change in diff.pooled:
        key = change.key
        lines.append(
            f"Pooled {key['treatment']}, {_OUTCOME_WORDS[key['outcome']]} (GLMM): "
            f"{_pool(change.before)} -> {_pool(change.after)}"
        )
    for change in diff.grades:
        lines.append(
            f"Grade of {change.key['treatment']} by the CEBM rules: {_grade(change.before)} -> "
            f"{_grade(change.after)}"
        )
    if diff.audit_new or diff.audit_resolved or diff.audit_changed:
        lines.append(
            f"Audit: {len(diff.audit_new)} new, {len(diff.audit_resolved)} resolved, "
            f"{len(diff.audit_changed)} changed"
        )
    if diff.plans_not_compared:
        lines.append(f"Plans of the reference panel: not compared: {diff.plans_not_compared}")
    if diff.plans:
        options = sorted({c.key["name"] for plan in diff.plans for c in plan.changes})
        lines.append(
            f"Plans of the reference panel: {len(diff.plans)} of {diff.profiles} patients "
            f"change ({', '.join(options)})"
        )
    return lines
