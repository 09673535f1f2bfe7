"""From arms to pooled estimates: the pooling units, and the ``evidence pool`` document.

The pooling unit is one study's arm for the treatment (or class) asked about:
its rows (adult and child, or several drugs of a class) are summed. Rows whose
count for the outcome is null (NA/NS in the review) cannot be counted and are
listed as left out; a study with no countable row is left out entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from calcinosis.evidence import OUTCOMES, KnowledgeBase, Outcome, responders, study_label
from calcinosis.intervals import proportion_ci
from calcinosis.models import Arm

if TYPE_CHECKING:  # numpy and scipy load only when something is pooled
    from calcinosis.pooling import PoolResult

__all__ = [
    "METHODS",
    "OUTCOMES",
    "StudyUnit",
    "pool_document",
    "pool_treatment",
    "study_units",
]

Method = Literal["glmm", "dl", "reml", "pm"]
METHODS: tuple[Method, ...] = ("glmm", "dl", "reml", "pm")


@dataclass(frozen=True)
class StudyUnit:
    """One study's summed arms for a treatment or class."""

    study: str
    label: str
    design: str
    reference: int | None  # its number in the review (None: a study added since)
    x: int
    n: int
    arms: tuple[str, ...]
    units: tuple[str, ...]


def study_units(
    kb: KnowledgeBase, arms: Sequence[Arm], outcome: Outcome
) -> tuple[list[StudyUnit], list[dict[str, Any]]]:
    """Each study's responders (``evidence.responders``: its countable arms summed);
    return the units and the arms left out."""
    study_of = {arm.id: arm.study for arm in arms}
    left_out = [
        {"arm": arm, "study": study_of[arm], "reason": reason}
        for arm, reason in responders(arms, outcome).left_out
    ]
    grouped: dict[str, list[Arm]] = {}
    for arm in arms:
        grouped.setdefault(arm.study, []).append(arm)
    units: list[StudyUnit] = []
    for study_id, study_arms in grouped.items():
        count = responders(study_arms, outcome)
        if not count.k:
            continue
        study = kb.studies[study_id]
        units.append(
            StudyUnit(
                study=study_id,
                label=study_label(study),
                design=study.design,
                reference=study.reference,
                x=count.x,
                n=count.n,
                arms=count.arms,
                units=tuple(sorted({arm.unit for arm in study_arms if arm.id in count.arms})),
            )
        )
    units.sort(key=lambda unit: (kb.studies[unit.study].year, unit.label))
    return units, left_out


def pool_treatment(
    kb: KnowledgeBase, name: str, outcome: Outcome = "any", method: Method = "glmm"
) -> tuple[PoolResult | None, list[StudyUnit], list[dict[str, Any]]]:
    """Pool the arms of a treatment id or class; ``None`` when no arm can be counted."""
    from calcinosis.pooling import StudyCount, pool  # noqa: PLC0415 - numpy/scipy on demand

    treatments = kb.resolve(name)
    units, left_out = study_units(kb, kb.arms_for(treatments), outcome)
    if not units:
        return None, units, left_out
    counts = [StudyCount(unit.label, unit.x, unit.n, unit.design) for unit in units]
    return pool(counts, method=method), units, left_out


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _pair(values: tuple[float, float] | None) -> list[float] | None:
    return None if values is None else [round(values[0], 6), round(values[1], 6)]


def pool_document(
    kb: KnowledgeBase, name: str, outcome: Outcome = "any", method: Method = "glmm"
) -> dict[str, Any]:
    """The ``evidence pool --format json`` document of DESIGN.md."""
    result, units, left_out = pool_treatment(kb, name, outcome, method)
    treatments = list(kb.resolve(name))
    notes: list[str] = []
    if any("digits" in unit.units for unit in units):
        notes.append(
            "Some counts are digits, not patients (Fahmy 1998: 15 digits in 10 patients);"
            " they are pooled as the review tabulates them."
        )
    arms_doc = []
    for index, unit in enumerate(units):
        low, high = proportion_ci(unit.x, unit.n, "wilson")
        arms_doc.append(
            {
                "study": unit.study,
                "label": unit.label,
                "reference": unit.reference,
                "design": unit.design,
                "x": unit.x,
                "n": unit.n,
                "proportion": round(unit.x / unit.n, 6),
                "ci": [round(low, 6), round(high, 6)],
                "weight": None if result is None else round(result.weights[index], 4),
                "arms": list(unit.arms),
            }
        )
    document: dict[str, Any] = {
        "treatment": name,
        "treatments": treatments,
        "outcome": outcome,
        "method": method,
        "pooled": False,
        "k": len(units),
        "n": sum(unit.n for unit in units),
        "x": sum(unit.x for unit in units),
        "estimate": None,
        "ci": None,
        "logit": None,
        "tau2": None,
        "i2": None,
        "prediction_interval": None,
        "arms": arms_doc,
        "left_out": left_out,
        "notes": notes,
        "evidence_version": kb.version,
        "evidence_released": kb.released,
    }
    if result is not None:
        document.update(
            {
                "method": result.method,  # "dl" when the GLMM fell back (all 0% or 100%)
                "pooled": result.pooled,
                "estimate": _rounded(result.estimate),
                "ci": _pair(result.ci),
                "logit": {"estimate": _rounded(result.logit), "se": _rounded(result.logit_se)},
                "tau2": _rounded(result.tau2),
                "i2": _rounded(result.i2, 4),
                "prediction_interval": _pair(result.prediction_interval),
                "converged": result.converged,
            }
        )
        if method == "glmm" and result.pooled and result.method == "dl":
            notes.append(
                "The binomial-normal model (GLMM) cannot be fitted when every study is at 0% "
                "or 100%: DerSimonian-Laird on the logit scale was used instead."
            )
        if result.method == "combined":
            notes.append(
                "Every arm is at 0% (or every arm at 100%): no random-effects estimate exists, "
                "so the combined count is shown with its Wilson 95% CI, not pooled."
            )
        elif not result.pooled:
            notes.append("One study only: its own estimate (Wilson 95% CI), not pooled.")
        elif not result.converged:
            notes.append(
                "The model did not converge (arms at 0% and 100% only, or extreme "
                "heterogeneity): interpret with caution."
            )
    else:
        notes.append("No arm reports this outcome: nothing to pool.")
    return document
