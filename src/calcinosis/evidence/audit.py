"""The audit: every published figure that differs from its recomputation or from
another source, with both values and both locations.

Most checks are computed from the data (the printed cells kept in ``arms.yaml``
and ``table4.yaml``, the text totals of ``totals.yaml``, the other sources'
figures in ``statements.yaml``); the rest are findings recorded by reading
(``findings.yaml``). Nothing here corrects the data: it shows the disagreement.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from calcinosis.evidence.documents import AuditDocument
from calcinosis.evidence.knowledge_base import (
    KnowledgeBase,
    patients_by_disease,
    response_figure,
    surname,
)
from calcinosis.evidence.schemas import Arm, Figure, ReviewTotal, Table4Row
from calcinosis.evidence.tables import (
    percent,
    round_down,
    round_half_up,
    table4_arms,
    table4_patients,
)

__all__ = ["CHECKS", "Discrepancy", "audit", "classify_percent", "disease_cell_discrepancy"]

Severity = Literal["error", "inconsistency", "rounding", "note"]
CHECKS = (
    "percent",
    "disease-cell",
    "label",
    "design",
    "table4-patients",
    "table4-vs-text",
    "table4-range",
    "totals",
    "cross-source",
    "percent-achievable",
    "source-conflict",
    "finding",
)


@dataclass(frozen=True)
class Place:
    value: str
    source: str
    location: str


@dataclass(frozen=True)
class Discrepancy:
    id: str
    check: str
    severity: Severity
    subject: str
    published: Place
    found: Place
    explanation: str

    def document(self) -> AuditDocument:
        """The finding as the API and ``evidence audit --format json`` publish it."""
        return AuditDocument.model_validate(asdict(self))


_COUNT = re.compile(r"^\s*(\d+)\s*\(\s*(\d+(?:\.\d+)?)\s*%?\s*\)\s*$")
_DISEASE = re.compile(r"(DM/SSc|DM|SSc|NA)\s*\((\d+)\)")
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*(?:-\s*(\d+(?:\.\d+)?)\s*%?)?\s*$")


def classify_percent(printed: Decimal, x: int, n: int) -> Literal["ok", "truncated", "mismatch"]:
    """Compare a printed percentage with x/n at the printed precision."""
    exact = percent(x, n)
    digits = max(0, -int(printed.as_tuple().exponent))
    if round_half_up(exact, digits) == printed:
        return "ok"
    if digits == 0 and round_down(exact) == printed:
        return "truncated"
    return "mismatch"


def _review(kb: KnowledgeBase) -> str:
    return kb.sources["traineau-2020"].id


def _exact(x: int, n: int) -> str:
    return f"{x}/{n} = {round_half_up(percent(x, n), 2)}%"


def _percent_item(
    item_id: str, subject: str, published: Place, x: int, n: int, *, verdict: str
) -> Discrepancy:
    truncated = verdict == "truncated"
    return Discrepancy(
        item_id,
        "percent",
        "rounding" if truncated else "error",
        subject,
        published,
        Place(_exact(x, n), "recomputed", f"{x} of n={n}"),
        "Truncated, not rounded."
        if truncated
        else "The printed percentage does not match the count.",
    )


def _check_percents(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for arm in kb.arms:
        if arm.printed is None or arm.n is None:
            continue
        cells = (
            ("partial", arm.printed.partial, arm.responders_any),
            ("complete", arm.printed.complete, arm.responders_complete),
        )
        for column, cell, count in cells:
            match = _COUNT.match(cell or "")
            if match is None or count is None:
                continue
            printed_count, printed_pct = int(match.group(1)), Decimal(match.group(2))
            where = f"{arm.provenance.location.split(';')[0]}, {column} response"
            if printed_count != count:
                yield Discrepancy(
                    f"count-{arm.id}-{column}",
                    "percent",
                    "error",
                    arm.id,
                    Place(cell or "", _review(kb), where),
                    Place(f"{count}/{arm.n}", _review(kb), arm.provenance.location),
                    "The printed count differs from the arm's count.",
                )
                continue
            verdict = classify_percent(printed_pct, count, arm.n)
            if verdict != "ok":
                yield _percent_item(
                    f"percent-{arm.id}-{column}",
                    arm.id,
                    Place(cell or "", _review(kb), where),
                    count,
                    arm.n,
                    verdict=verdict,
                )


def disease_cell_discrepancy(kb: KnowledgeBase, arm: Arm) -> Discrepancy | None:
    """The arm's printed disease cell when the patients it lists are not the arm's n
    (Cukierman 2004: "DM (5) SSc (3)" beside responses out of 3); None otherwise."""
    if arm.printed is None or arm.printed.disease is None or arm.n is None:
        return None
    listed = sum(int(count) for _, count in _DISEASE.findall(arm.printed.disease))
    if not listed or listed == arm.n:
        return None
    return Discrepancy(
        f"disease-cell-{arm.id}",
        "disease-cell",
        "error",
        arm.id,
        Place(arm.printed.disease, _review(kb), arm.provenance.location.split(";")[0]),
        Place(f"n = {arm.n}", _review(kb), arm.provenance.location),
        f"The disease cell lists {listed} patients; the response cells and the text "
        f"give {arm.n}. " + " ".join(arm.notes),
    )


def _check_disease_cells(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for arm in kb.arms:
        found = disease_cell_discrepancy(kb, arm)
        if found is not None:
            yield found


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _check_labels(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for study in kb.studies.values():
        if not study.label_printed:
            continue
        author, _, year = study.label_printed.rpartition(",")
        where = f"References, {study.reference}"
        tables = sorted({a.source for a in kb.arms if a.study == study.id and a.printed})
        label_at = ", ".join(tables) + " (study label)"
        if year.strip() and int(year) != study.year:
            yield Discrepancy(
                f"label-year-{study.id}",
                "label",
                "inconsistency",
                study.id,
                Place(study.label_printed, _review(kb), label_at),
                Place(str(study.year), _review(kb), where),
                "The table dates the study differently from the reference list.",
            )
        if _plain(author.strip()) != _plain(surname(study.first_author)):
            yield Discrepancy(
                f"label-author-{study.id}",
                "label",
                "note",
                study.id,
                Place(author.strip(), _review(kb), label_at),
                Place(surname(study.first_author), _review(kb), where),
                "The table spells the first author differently from the reference list.",
            )


def _check_designs(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    by_ref = {study.reference: study for study in kb.studies.values()}
    for total in kb.totals:
        for design, refs in total.designs.items():
            for ref in refs:
                study = by_ref[ref]
                if study.design == design:
                    continue
                reported_at = (
                    "; ".join(
                        sorted(
                            {
                                a.provenance.location.split(",")[0]
                                for a in kb.arms
                                if a.study == study.id and a.printed
                            }
                        )
                    )
                    or "results text"
                )
                yield Discrepancy(
                    f"design-{study.id}-{total.id}",
                    "design",
                    "inconsistency",
                    study.id,
                    Place(f"{design} (reference {ref})", _review(kb), total.provenance.location),
                    Place(study.design, _review(kb), reported_at),
                    "The study's design differs between two places of the review.",
                )


def _parse_patients(cell: str) -> dict[str, int | None]:
    pair = re.match(r"^\s*(\d+)\s*/\s*(\d+)", cell)
    na = re.search(r"NA\s*=\s*(\d+)", cell)
    return {
        "DM": int(pair.group(1)) if pair else None,
        "SSc": int(pair.group(2)) if pair else None,
        "unspecified": int(na.group(1)) if na else (0 if pair else None),
    }


def _fmt_patients(values: dict[str, int | None]) -> str:
    return ", ".join(f"{k} {'?' if v is None else v}" for k, v in values.items())


def _unit_notes(arms: Sequence[Arm]) -> list[str]:
    return [
        f"{arm.id} counts {arm.n} {arm.unit} in {arm.patients} patients; patients are counted."
        for arm in arms
        if arm.unit != "patients"
    ]


def _text_patients(total: ReviewTotal) -> dict[str, int | None]:
    """The text's per-disease totals (a disease it does not name counts 0)."""
    d = total.by_disease
    dm = d.get("DM", d.get("adult-DM", 0) + d.get("juvenile-DM", 0))
    return {"DM": dm, "SSc": d.get("SSc", 0), "unspecified": d.get("unspecified", 0)}


def _check_table4(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for row in kb.table4:
        arms = table4_arms(kb, row)
        where = row.provenance.location
        if row.patients_printed:
            printed = _parse_patients(row.patients_printed)
            computed, _ = table4_patients(arms)
            differs = [k for k, v in printed.items() if v is not None and v != computed[k]]
            unknown = [a.id for a in arms if a.n is None]
            if differs:
                yield Discrepancy(
                    f"table4-patients-{row.id}",
                    "table4-patients",
                    "inconsistency",
                    row.label,
                    Place(row.patients_printed, _review(kb), where + ", DM/SSc patients"),
                    Place(
                        _fmt_patients(dict(computed)),
                        "recomputed",
                        "sum of the arms' disease counts (" + ", ".join(a.id for a in arms) + ")",
                    ),
                    " ".join(
                        ["Table 4's patient counts differ from the arms.", *_unit_notes(arms)]
                        + ([f"Arms without a count: {', '.join(unknown)}."] if unknown else [])
                    ),
                )
            for total in kb.totals:
                if set(total.treatments) != set(row.treatments) or not total.by_disease:
                    continue
                text = _text_patients(total)
                if any(printed[k] is not None and printed[k] != text[k] for k in printed):
                    swapped = printed["DM"] == text["SSc"] and printed["SSc"] == text["DM"]
                    yield Discrepancy(
                        f"table4-vs-text-{row.id}",
                        "table4-vs-text",
                        "error",
                        row.label,
                        Place(row.patients_printed, _review(kb), where + ", DM/SSc patients"),
                        Place(_fmt_patients(text), _review(kb), total.provenance.location),
                        "Table 4 and the results text give different patient counts"
                        + (" (DM and SSc swapped)." if swapped else "."),
                    )
        yield from _check_range(kb, row, arms)


def _check_range(kb: KnowledgeBase, row: Table4Row, arms: Sequence[Arm]) -> Iterator[Discrepancy]:
    row_id, label, cell, where = row.id, row.label, row.range_printed, row.provenance.location
    match = _RANGE.match(cell or "")
    if match is None:
        return
    low_p = Decimal(match.group(1))
    high_p = Decimal(match.group(2) or match.group(1))
    values: list[tuple[Fraction, str]] = []
    complete_only: list[str] = []
    for arm in arms:
        figure = response_figure([arm])
        if figure is not None:
            values.append((percent(figure.x, figure.n), f"{arm.id} {figure.x}/{figure.n}"))
            if figure.outcome == "complete":
                complete_only.append(arm.id)
    if not values:
        return
    low, low_arm = min(values)
    high, high_arm = max(values)
    verdicts = []
    for printed, exact in ((low_p, low), (high_p, high)):
        if round_half_up(exact) == printed:
            verdicts.append("ok")
        elif round_down(exact) == printed:
            verdicts.append("truncated")
        else:
            verdicts.append("mismatch")
    if verdicts == ["ok", "ok"]:
        return
    severity: Severity = "error" if "mismatch" in verdicts else "rounding"
    arms_shown = low_arm if low_arm == high_arm else f"{low_arm}; {high_arm}"
    computed = f"{round_half_up(low, 1)}-{round_half_up(high, 1)}% ({arms_shown})"
    yield Discrepancy(
        f"table4-range-{row_id}",
        "table4-range",
        severity,
        label,
        Place(cell or "", _review(kb), where + ", overall response"),
        Place(computed, "recomputed", "lowest and highest arm response"),
        (
            "Truncated, not rounded."
            if severity == "rounding"
            else "The printed range does not match the arms' responses."
        )
        + (f" Complete responses only for {', '.join(complete_only)}." if complete_only else ""),
    )


def _check_totals(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for total in kb.totals:
        if total.scope == "overall":  # the review's arms: a study added since is not in them
            arms = [a for a in kb.arms if kb.studies[a.study].reference is not None]
        else:
            refs = set(total.references)
            arms = [
                a
                for a in kb.arms
                if a.treatment in total.treatments and kb.studies[a.study].reference in refs
            ]
        studies = {a.study for a in arms}
        counted = [a for a in arms if a.n is not None]
        found: dict[str, int] = {
            "DM": 0,
            "SSc": 0,
            "unspecified": 0,
            "adult-DM": 0,
            "juvenile-DM": 0,
            "patients": 0,
        }
        for arm in counted:
            for disease, count in patients_by_disease(arm).items():
                found[disease] += count
                found["patients"] += count
                if disease == "DM" and arm.population in ("adult", "child"):
                    found["adult-DM" if arm.population == "adult" else "juvenile-DM"] += count
        published: dict[str, int] = {str(k): v for k, v in total.by_disease.items()}
        if total.patients is not None:
            published["patients"] = total.patients
        if total.studies is not None:
            published["studies"] = total.studies
            found["studies"] = len(studies)
        differs = {k: v for k, v in published.items() if found.get(k) != v}
        if not differs:
            continue
        missing = [a.id for a in arms if a.n is None]
        text = ", ".join(f"{k} {v}" for k, v in published.items())
        mine = ", ".join(f"{k} {found.get(k)}" for k in published)
        notes = ["The text's totals differ from what the arms add up to."]
        if total.scope == "overall":
            notes.append(
                "A patient may be counted in several arms (one cohort tried several drugs)."
            )
        notes.extend(_unit_notes(counted))
        if missing:
            notes.append(f"Arms without a count: {', '.join(missing)}.")
        yield Discrepancy(
            f"totals-{total.id}",
            "totals",
            "inconsistency",
            total.scope,
            Place(text, _review(kb), total.provenance.location),
            Place(mine, "recomputed", f"sum of {len(counted)} arms"),
            " ".join(notes),
        )


def _check_cross_source(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    arms = {arm.id: arm for arm in kb.arms}
    for statement in kb.statements:
        if statement.about_arm is None:
            continue
        arm = arms[statement.about_arm]
        figures = [f for f in statement.figures if f.n is not None]
        differing = [f for f in figures if f.n != arm.n]
        if not differing:
            continue
        shown = "; ".join(f"{f.label}: {_figure(f)}" for f in statement.figures)
        yield Discrepancy(
            f"cross-source-{statement.id}",
            "cross-source",
            "inconsistency",
            arm.id,
            Place(
                f"{arm.responders_any}/{arm.n} responders (complete "
                f"{'NA' if arm.responders_complete is None else arm.responders_complete})",
                arm.provenance.source,
                arm.provenance.location,
            ),
            Place(shown, statement.source, statement.location),
            "Two sources report the same cohort with different counts.",
        )


def _figure(figure: Figure) -> str:
    count = "/".join(str(v) for v in (figure.x, figure.n) if v is not None)
    return count + (f" ({figure.percent:g}%)" if figure.percent is not None else "")


def _check_conflicts(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    """Statements of two sources that contradict each other (``conflicts_with``)."""
    statements = {statement.id: statement for statement in kb.statements}
    seen: set[tuple[str, str]] = set()
    for statement in kb.statements:
        for other_id in statement.conflicts_with:
            pair = (min(statement.id, other_id), max(statement.id, other_id))
            if pair in seen:
                continue
            seen.add(pair)
            first, second = statements[pair[0]], statements[pair[1]]
            if first.source == second.source:
                continue  # within the review: the computed checks show the numbers
            yield Discrepancy(
                f"conflict-{pair[0]}--{pair[1]}",
                "source-conflict",
                "inconsistency",
                ", ".join(dict.fromkeys([*first.treatments, *second.treatments])) or first.kind,
                Place(first.quote, first.source, first.location),
                Place(second.quote, second.source, second.location),
                "The sources disagree; both are shown, neither is silently preferred.",
            )


def _check_statement_figures(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for statement in kb.statements:
        for index, figure in enumerate(statement.figures):
            if figure.percent is None or figure.n is None or figure.n == 0:
                continue
            printed = Decimal(str(figure.percent)).normalize()
            if printed == printed.to_integral():
                printed = printed.quantize(Decimal(1))
            if figure.x is not None:
                verdict = classify_percent(printed, figure.x, figure.n)
                if verdict != "ok":
                    yield _percent_item(
                        f"figure-{statement.id}-{index}",
                        statement.id,
                        Place(
                            f"{figure.label}: {figure.percent}%",
                            statement.source,
                            statement.location,
                        ),
                        figure.x,
                        figure.n,
                        verdict=verdict,
                    )
                continue
            achievable = [
                x
                for x in range(figure.n + 1)
                if classify_percent(printed, x, figure.n) != "mismatch"
            ]
            if achievable:
                continue
            total = figure.n
            near = sorted(
                range(total + 1), key=lambda x: abs(percent(x, total) - Fraction(printed))
            )[:2]
            yield Discrepancy(
                f"achievable-{statement.id}-{index}",
                "percent-achievable",
                "inconsistency",
                statement.id,
                Place(
                    f"{figure.label}: {figure.percent}% of {figure.n}",
                    statement.source,
                    statement.location,
                ),
                Place(
                    "; ".join(_exact(x, figure.n) for x in sorted(near)),
                    "recomputed",
                    f"every count out of {figure.n}",
                ),
                f"No whole number of {figure.unit} out of {figure.n} gives {figure.percent}%.",
            )


def _recorded(kb: KnowledgeBase) -> Iterator[Discrepancy]:
    for finding in kb.findings:
        severity: Severity = finding.severity
        yield Discrepancy(
            f"finding-{finding.id}",
            "finding",
            severity,
            finding.summary,
            Place(finding.published, finding.published_at.source, finding.published_at.location),
            Place(finding.other, finding.other_at.source, finding.other_at.location),
            f"Recorded by reading ({finding.kind}).",
        )


def audit(kb: KnowledgeBase) -> list[Discrepancy]:
    """Every disagreement, computed checks first, in a stable order."""
    checks = (
        _check_percents,
        _check_disease_cells,
        _check_labels,
        _check_designs,
        _check_table4,
        _check_totals,
        _check_cross_source,
        _check_statement_figures,
        _check_conflicts,
        _recorded,
    )
    return [item for check in checks for item in check(kb)]
