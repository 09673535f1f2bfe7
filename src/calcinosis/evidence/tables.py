"""The review's Tables 1-4 rebuilt from the arms, printed cells beside recomputed ones.

Tables 1-3 list the arms row by row. Table 4 summarises each treatment: the
patients by disease and the response range are recomputed from the arms, the
level and grade the rules of ``grading.py`` give are shown beside the printed
ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal, overload

from pydantic import JsonValue
from tabulate import tabulate

from calcinosis.errors import UnknownChoiceError
from calcinosis.evidence.choices import FORMATS, TABLES, Format
from calcinosis.evidence.derived import derived
from calcinosis.evidence.documents import (
    Table4Patients,
    Table4ResponseRange,
    Table4RowDocument,
    TableRow,
)
from calcinosis.evidence.grading import (
    GradeResult,
    LevelResult,
    StudyEvidence,
    grade_for_body,
    level_for_study,
    level_rank,
)
from calcinosis.evidence.knowledge_base import (
    KnowledgeBase,
    patients_by_disease,
    response_figure,
    study_label,
)
from calcinosis.evidence.schemas import Arm, Table4Row, normalise_level

__all__ = [
    "FORMATS",
    "TABLES",
    "arm_level_rules",
    "evidence_body",
    "percent",
    "render",
    "round_down",
    "round_half_up",
    "table4_arms",
    "table4_patients",
    "table_rows",
]


def percent(x: int, n: int) -> Fraction:
    """The exact percentage x/n, as a fraction."""
    return Fraction(100 * x, n)


def round_half_up(value: Fraction, digits: int = 0) -> Decimal:
    """Conventional rounding (0.5 up), as a clinician would round by hand."""
    quantum = Decimal(1).scaleb(-digits)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(quantum, rounding=ROUND_HALF_UP)


def round_down(value: Fraction) -> Decimal:
    """Truncation: what a printed percentage shows when digits were cut off."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1), rounding=ROUND_FLOOR)


def _fmt_count(x: int | None, n: int | None) -> str:
    if x is None or n is None:
        return "NA"
    if n == 0:
        return f"{x}/0"
    return f"{x}/{n} ({round_half_up(percent(x, n), 1)}%)"


def _study_counts(kb: KnowledgeBase, arm: Arm) -> tuple[int | None, int | None, bool]:
    """The study's summed counts for this arm's treatment: (x, n, complete_only)."""
    siblings = [a for a in kb.arms if a.study == arm.study and a.treatment == arm.treatment]
    figure = response_figure(siblings)
    if figure is None:
        return None, None, False
    return figure.x, figure.n, figure.outcome == "complete"


def arm_level_rules(kb: KnowledgeBase, arm: Arm) -> LevelResult:
    """The level the CEBM rules give the study behind an arm."""
    study = kb.studies[arm.study]
    x, n, _ = _study_counts(kb, arm)
    return level_for_study(
        study.design, study.quality, primary_outcome=study.calcinosis_primary_outcome, x=x, n=n
    )


def _section(kb: KnowledgeBase, arm: Arm) -> str:
    if arm.source == "Table 3":
        if arm.treatment in kb.classes.get("bisphosphonates", ()):
            return "Bisphosphonates"
        return "Surgery and physical therapies"
    return kb.treatments[arm.treatment].name


@derived
def _table_1_to_3(kb: KnowledgeBase, number: int) -> list[TableRow]:
    rows = []
    arms = sorted((a for a in kb.arms if a.source == f"Table {number}"), key=lambda a: a.row or 0)
    for arm in arms:
        study = kb.studies[arm.study]
        printed = arm.printed
        rules = arm_level_rules(kb, arm)
        rows.append(
            TableRow(
                table=number,
                row=arm.row,
                section=_section(kb, arm),
                population=arm.population,
                label=printed.label if printed and printed.label else study.first_author,
                study=study.id,
                reference=study.reference,
                arm=arm.id,
                treatment=arm.treatment,
                disease=printed.disease if printed else arm.disease,
                n=arm.n,
                unit=arm.unit,
                design=study.design,
                design_printed=printed.design if printed else None,
                duration_years=arm.calcinosis_duration_years,
                dose=arm.dose,
                partial_printed=printed.partial if printed else None,
                any_computed=_fmt_count(arm.responders_any, arm.n),
                complete_printed=printed.complete if printed else None,
                complete_computed=_fmt_count(arm.responders_complete, arm.n),
                follow_up_months=printed.follow_up if printed else None,
                level_printed=printed.level if printed else None,
                level=arm.level,
                level_rules=rules.level,
                location=arm.provenance.location,
            )
        )
    return rows


def table4_arms(kb: KnowledgeBase, row: Table4Row) -> list[Arm]:
    """The arms behind a Table 4 row: its treatments, in its references."""
    refs = set(row.references)
    wanted = set(row.treatments)
    return [
        arm
        for arm in kb.arms
        if arm.treatment in wanted and kb.studies[arm.study].reference in refs
    ]


def table4_patients(arms: Iterable[Arm]) -> tuple[dict[str, int], list[str]]:
    totals = {"DM": 0, "SSc": 0, "unspecified": 0}
    unknown: list[str] = []
    for arm in arms:
        if arm.n is None:
            unknown.append(arm.id)
            continue
        for disease, count in patients_by_disease(arm).items():
            totals[disease] += count
    return totals, unknown


def _response_range(arms: Sequence[Arm], reported: str | None) -> Table4ResponseRange:
    values: list[Fraction] = []
    complete_only: list[str] = []
    for arm in arms:
        figure = response_figure([arm])
        if figure is not None:
            values.append(percent(figure.x, figure.n))
            if figure.outcome == "complete":
                complete_only.append(arm.id)
    if not values:
        return Table4ResponseRange(
            computed=None, rounded=None, reported=reported, complete_only=complete_only
        )
    low, high = min(values), max(values)
    return Table4ResponseRange(
        computed=[float(round_half_up(low, 1)), float(round_half_up(high, 1))],
        rounded=[int(round_half_up(low)), int(round_half_up(high))],
        reported=reported,
        complete_only=complete_only,
    )


def evidence_body(kb: KnowledgeBase, arms: Sequence[Arm]) -> list[StudyEvidence]:
    """The body of evidence of these arms for the grading rules: one item per study,
    with the level the rules give it and its response figure."""
    evidence = []
    for study_id in dict.fromkeys(arm.study for arm in arms):
        study = kb.studies[study_id]
        figure = response_figure(a for a in arms if a.study == study_id)
        x, n = (figure.x, figure.n) if figure is not None else (None, None)
        level = level_for_study(
            study.design,
            study.quality,
            primary_outcome=study.calcinosis_primary_outcome,
            x=x,
            n=n,
        ).level
        evidence.append(
            StudyEvidence(
                label=study_label(study),
                level=level,
                x=x,
                n=n,
                complete_only=figure is not None and figure.outcome == "complete",
            )
        )
    return evidence


def table4_grade_rules(kb: KnowledgeBase, row: Table4Row) -> tuple[GradeResult, str | None]:
    """The grade (and best level) the CEBM rules give a Table 4 row's evidence."""
    body = evidence_body(kb, table4_arms(kb, row))
    best = min((item.level for item in body), key=level_rank, default=None)
    return grade_for_body(body), best


@derived
def _table_4(kb: KnowledgeBase) -> list[Table4RowDocument]:
    rows = []
    for row in sorted(kb.table4, key=lambda r: r.row):
        arms = table4_arms(kb, row)
        patients, unknown = table4_patients(arms)
        grade, best_level = table4_grade_rules(kb, row)
        rows.append(
            Table4RowDocument(
                row=row.row,
                id=row.id,
                label=row.label,
                parent=row.parent,
                treatments=list(row.treatments),
                references=list(row.references),
                studies=sorted({arm.study for arm in arms}),
                patients=Table4Patients(**patients),
                patients_unknown=unknown,
                patients_reported=row.patients_printed,
                response_range=_response_range(arms, row.range_printed),
                level=normalise_level(row.level_printed) if row.level_printed else None,
                level_rules=best_level,
                grade=row.grade,
                grade_rules=grade.grade,
                grade_rules_reasons=list(grade.reasons),
                direction=row.direction,
                comment=row.comment,
                location=row.provenance.location,
            )
        )
    return rows


@overload
def table_rows(kb: KnowledgeBase, number: Literal[4]) -> list[Table4RowDocument]: ...
@overload
def table_rows(kb: KnowledgeBase, number: int) -> list[TableRow] | list[Table4RowDocument]: ...
def table_rows(kb: KnowledgeBase, number: int) -> list[TableRow] | list[Table4RowDocument]:
    """The rows of Table ``number`` (1-4) as their documents (computed once per knowledge
    base and shared: callers must not change the list)."""
    if number not in TABLES:
        raise UnknownChoiceError("table", number, [str(t) for t in TABLES])
    return _table_4(kb) if number == 4 else _table_1_to_3(kb, number)


def _flat(row: Mapping[str, JsonValue]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in row.items():
        computed = value.get("computed") if isinstance(value, dict) else None
        if key == "response_range" and isinstance(value, dict) and isinstance(computed, list):
            low, high = computed
            flat["response_range.computed"] = f"{low:g}-{high:g}%"
            flat.update(
                {f"response_range.{k}": _cell(v) for k, v in value.items() if k != "computed"}
            )
        elif isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = _cell(inner)
        else:
            flat[key] = _cell(value)
    return flat


def _cell(value: JsonValue) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


# Human formats: (key of the flat row, header, wrap width or None).
_ARM_COLUMNS = [
    ("row", "row", None),
    ("section", "section", 14),
    ("population", "pop.", None),
    ("label", "study", 18),
    ("disease", "disease", 10),
    ("design_printed", "design", None),
    ("dose", "dose", 18),
    ("partial_printed", "partial (printed)", 9),
    ("any_computed", "all responders", 12),
    ("complete_printed", "complete (printed)", 9),
    ("complete_computed", "complete", 12),
    ("follow_up_months", "follow-up (mo)", 10),
    ("level_printed", "level", None),
    ("level_rules", "rules", None),
]
_TEXT_COLUMNS: dict[int, list[tuple[str, str, int | None]]] = {
    1: _ARM_COLUMNS,
    2: _ARM_COLUMNS,
    3: _ARM_COLUMNS,
    4: [
        ("row", "row", None),
        ("label", "treatment", 22),
        ("patients.DM", "DM", None),
        ("patients.SSc", "SSc", None),
        ("patients.unspecified", "NA", None),
        ("patients_reported", "printed DM/SSc", 10),
        ("response_range.computed", "response", 10),
        ("response_range.reported", "printed", 8),
        ("level", "level", None),
        ("level_rules", "rules", None),
        ("grade", "grade", None),
        ("grade_rules", "rules", None),
        ("comment", "comment", 34),
    ],
}


def render(rows: Sequence[Mapping[str, JsonValue]], number: int, fmt: Format) -> str:
    """Rows of one table (their JSON documents, ``model_dump()``) as csv, markdown or
    terminal text (json is the caller's)."""
    flat = [_flat(row) for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        fields = list(flat[0]) if flat else []
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buffer.getvalue()
    columns = _TEXT_COLUMNS[number]
    body = [[row.get(key, "") for key, _, _ in columns] for row in flat]
    headers = [header for _, header, _ in columns]
    if fmt == "markdown":
        return tabulate(body, headers=headers, tablefmt="github") + "\n"
    widths = [width for _, _, width in columns]
    return tabulate(body, headers=headers, tablefmt="simple", maxcolwidths=widths) + "\n"
