"""From arms to pooled estimates: the pooling units, and the ``evidence pool`` document.

The pooling unit is one study's arm for the treatment (or class) asked about:
its rows (adult and child, or several drugs of a class) are summed. Rows whose
count for the outcome is null (NA/NS in the review) cannot be counted and are
listed as left out; a study with no countable row is left out entirely.

The document can add what a methodologist checks (the statistics are in
``sensitivity.py``): subgroups by disease or by population with the test for subgroup
differences, leave-one-out, and the Hartung-Knapp interval.

**Subgroups.** By disease, DM and SSc: an arm enters a subgroup only when all its
patients have that disease (``disease`` is DM or SSc and ``disease_counts`` names no
other); arms that mix DM and SSc without separate counts, and arms whose disease is not
reported, are left out of both and listed with the reason. DM includes juvenile DM (the
child arms). By population, adults and children: arms whose age group is not reported
are left out and listed. Within a subgroup the pooling unit is, as above, one study's
arms of that subgroup summed: a study with an adult and a child arm is in both
population subgroups, with different patients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from calcinosis.errors import PoolingError
from calcinosis.evidence.choices import DIMENSIONS, METHODS, Dimension, Method
from calcinosis.evidence.documents import (
    PoolArms,
    PoolDocument,
    PoolGroups,
    PoolHartungKnapp,
    PoolLeaveOneOut,
    PoolLeftOut,
    PoolLogit,
    PoolSubgroupLeftOut,
    PoolSubgroups,
    PoolTest,
    PoolUntruncated,
)
from calcinosis.evidence.knowledge_base import (
    OUTCOMES,
    KnowledgeBase,
    Outcome,
    patients_by_disease,
    responders,
    study_label,
)
from calcinosis.evidence.schemas import Arm
from calcinosis.stats.intervals import proportion_ci

if TYPE_CHECKING:  # numpy and scipy load only when something is pooled
    from calcinosis.stats.pooling import PoolResult, StudyCount

__all__ = [
    "DIMENSIONS",
    "METHODS",
    "OUTCOMES",
    "Dimension",
    "Method",
    "PoolOptions",
    "StudyUnit",
    "pool_document",
    "pool_treatment",
    "study_units",
    "subgroup_document",
    "subgroup_of",
    "whom",
]

SUBGROUPS: dict[Dimension, tuple[str, ...]] = {
    "disease": ("DM", "SSc"),
    "population": ("adult", "child"),
}
GROUP_WORDS = {
    "DM": "dermatomyositis (adult and juvenile)",
    "SSc": "systemic sclerosis",
    "adult": "adults",
    "child": "children",
}
_POPULATION_WORDS = {"adult": "adults", "child": "children", "unspecified": "of unreported age"}
_DISEASE_WORDS = {"DM": "DM", "SSc": "SSc", "unspecified": "disease not reported"}


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


class PoolOptions(TypedDict):
    """The keyword arguments of :func:`pool_document` beyond the pooling itself."""

    by: Dimension | None
    leave_one_out: bool
    hartung_knapp: bool


def study_units(
    kb: KnowledgeBase, arms: Sequence[Arm], outcome: Outcome
) -> tuple[list[StudyUnit], list[PoolLeftOut]]:
    """Each study's responders (``evidence.responders``: its countable arms summed);
    return the units and the arms left out."""
    study_of = {arm.id: arm.study for arm in arms}
    left_out = [
        PoolLeftOut(arm=arm, study=study_of[arm], reason=reason)
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


def _counts(units: Sequence[StudyUnit]) -> list[StudyCount]:
    from calcinosis.stats.pooling import StudyCount  # noqa: PLC0415 - numpy/scipy on demand

    return [StudyCount(unit.label, unit.x, unit.n, unit.design) for unit in units]


def _pool_arms(
    kb: KnowledgeBase, arms: Sequence[Arm], outcome: Outcome, method: Method
) -> tuple[PoolResult | None, list[StudyUnit], list[PoolLeftOut]]:
    from calcinosis.stats.pooling import pool  # noqa: PLC0415 - numpy/scipy on demand

    units, left_out = study_units(kb, arms, outcome)
    if not units:
        return None, units, left_out
    return pool(_counts(units), method=method), units, left_out


def pool_treatment(
    kb: KnowledgeBase, name: str, outcome: Outcome = "any", method: Method = "glmm"
) -> tuple[PoolResult | None, list[StudyUnit], list[PoolLeftOut]]:
    """Pool the arms of a treatment id or class; ``None`` when no arm can be counted."""
    return _pool_arms(kb, kb.arms_for(kb.resolve(name)), outcome, method)


def whom(kb: KnowledgeBase, units: Sequence[StudyUnit]) -> str:
    """Whom the counted arms are about, in patients: '20 adults (SSc 18, DM 2); 10
    children (DM 10)'. Arms counted in digits count their patients; the overlap child
    of Berger 1987 (DM/SSc) counts as DM, as the review counts it."""
    counted = {arm for unit in units for arm in unit.arms}
    by_population: dict[str, dict[str, int]] = {}
    for arm in kb.arms:
        if arm.id not in counted:
            continue
        group = by_population.setdefault(arm.population, {})
        for disease, count in patients_by_disease(arm).items():
            if count:
                group[disease] = group.get(disease, 0) + count
    parts = []
    for population in ("adult", "child", "unspecified"):
        if population in by_population:
            counts = by_population[population]
            inner = ", ".join(
                f"{_DISEASE_WORDS[d]} {counts[d]}"
                for d in ("SSc", "DM", "unspecified")
                if d in counts
            )
            parts.append(f"{sum(counts.values())} {_POPULATION_WORDS[population]} ({inner})")
    text = "; ".join(parts).replace(" of unreported age", " patients of unreported age")
    return text or "no patients"


def subgroup_of(arm: Arm, by: Dimension) -> tuple[str | None, str]:
    """The subgroup of an arm (``by`` disease: DM or SSc; population: adult or child), or
    ``None`` and why it is in neither."""
    if by == "population":
        if arm.population == "unspecified":
            return None, "age group not reported"
        return arm.population, ""
    others = set(arm.disease_counts) - {arm.disease}
    if arm.disease in ("DM", "SSc") and not others:
        return arm.disease, ""
    if arm.disease == "unspecified":
        return None, "disease not reported (DM or SSc)"
    counts = ", ".join(f"{d} {c}" for d, c in arm.disease_counts.items())
    if "DM/SSc" in arm.disease_counts:
        return None, f"includes DM/SSc overlap ({counts})"
    return None, f"mixes DM and SSc ({counts}) without a count of responders for each"


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _pair(values: tuple[float, float]) -> list[float]:
    return [round(values[0], 6), round(values[1], 6)]


def _pair_or_none(values: tuple[float, float] | None) -> list[float] | None:
    return None if values is None else _pair(values)


class _Estimate(TypedDict):
    """The figures of one pooling (``documents.PoolFigures`` and ``converged``), as the
    keyword arguments of the documents that give them."""

    method: str
    pooled: bool
    k: int
    n: int
    x: int
    estimate: float
    ci: list[float]
    logit: PoolLogit
    tau2: float | None
    i2: float | None
    prediction_interval: list[float] | None
    converged: bool


def _estimate(result: PoolResult) -> _Estimate:
    """The figures of one pooling, as every part of the document gives them."""
    return _Estimate(
        method=result.method,
        pooled=result.pooled,
        k=result.k,
        n=result.n,
        x=result.x,
        estimate=round(result.estimate, 6),
        ci=_pair(result.ci),
        logit=PoolLogit(estimate=round(result.logit, 6), se=round(result.logit_se, 6)),
        tau2=_rounded(result.tau2),
        i2=_rounded(result.i2, 4),
        prediction_interval=_pair_or_none(result.prediction_interval),
        converged=result.converged,
    )


def subgroup_document(
    kb: KnowledgeBase, name: str, outcome: Outcome, method: Method, by: Dimension
) -> PoolSubgroups:
    """Subgroup estimates (``by`` disease or population) and the test for differences."""
    from calcinosis.stats.sensitivity import subgroup_difference  # noqa: PLC0415 - scipy on demand

    members: dict[str, list[Arm]] = {group: [] for group in SUBGROUPS[by]}
    outside: list[PoolSubgroupLeftOut] = []
    for arm in kb.arms_for(kb.resolve(name)):
        group, reason = subgroup_of(arm, by)
        if group is None:
            label = study_label(kb.studies[arm.study])
            outside.append(
                PoolSubgroupLeftOut(arm=arm.id, study=arm.study, label=label, reason=reason)
            )
        else:
            members[group].append(arm)
    estimates: dict[str, PoolResult] = {}
    groups: list[PoolGroups] = []
    not_counted: list[PoolLeftOut] = []
    for group, arms in members.items():
        result, units, left = _pool_arms(kb, arms, outcome, method)
        not_counted += left
        about, studies = whom(kb, units), [unit.label for unit in units]
        if result is None:
            entry = PoolGroups(
                group=group,
                label=GROUP_WORDS[group],
                about=about,
                studies=studies,
                method=None,
                pooled=False,
                k=0,
                n=0,
                x=0,
                estimate=None,
                ci=None,
                logit=None,
                tau2=None,
                i2=None,
                prediction_interval=None,
                converged=None,
            )
        else:
            estimates[group] = result
            entry = PoolGroups(
                group=group,
                label=GROUP_WORDS[group],
                about=about,
                studies=studies,
                **_estimate(result),
            )
        groups.append(entry)
    test = subgroup_difference(estimates)
    fallback = [g.label for g in groups if method == "glmm" and g.method == "dl"]
    notes = [
        "Each subgroup is pooled on its own (its own tau2); the test compares the subgroup "
        "estimates on the logit scale: Q between subgroups, chi-squared with (subgroups - 1) "
        "degrees of freedom (as RevMan; metafor: rma(estimates, sei = se, method = 'FE'))."
    ]
    if test is None:
        notes.append("Fewer than two subgroups have a study to pool: no test is possible.")
    if fallback:
        notes.append(
            f"In {' and '.join(fallback)} every study is at 0% or 100%: the GLMM cannot be "
            "fitted there, so DerSimonian-Laird on the logit scale is used (not converged)."
        )
    if outside:
        notes.append(
            f"{len(outside)} arm{'s' if len(outside) != 1 else ''} in neither subgroup "
            "(listed, with the reason)."
        )
    return PoolSubgroups(
        by=by,
        method=method,
        groups=groups,
        test=None
        if test is None
        else PoolTest(q=round(test.q, 6), df=test.df, p=round(test.p, 6), groups=list(test.groups)),
        left_out=outside,
        not_counted=not_counted,
        notes=notes,
    )


def _leave_one_out(
    result: PoolResult, units: Sequence[StudyUnit], method: Method
) -> list[PoolLeaveOneOut]:
    from calcinosis.stats.sensitivity import leave_one_out  # noqa: PLC0415 - numpy/scipy on demand

    refits = leave_one_out(result.studies, method, result.level)
    return [
        PoolLeaveOneOut(omitted=unit.study, label=unit.label, **_estimate(refit.result))
        for unit, refit in zip(units, refits, strict=True)
    ]


def _hartung_knapp(result: PoolResult, method: Method) -> PoolHartungKnapp:
    from calcinosis.stats.sensitivity import hartung_knapp  # noqa: PLC0415 - scipy on demand

    adjusted = hartung_knapp(result.studies, method, result.level)
    return PoolHartungKnapp(
        method=adjusted.method,
        df=adjusted.df,
        q=round(adjusted.q, 6),
        truncated=adjusted.truncated,
        t=round(adjusted.t, 6),
        logit=PoolLogit(estimate=round(adjusted.logit, 6), se=round(adjusted.logit_se, 6)),
        ci=_pair(adjusted.ci),
        untruncated=PoolUntruncated(
            se=round(adjusted.untruncated_se, 6), ci=_pair(adjusted.untruncated_ci)
        ),
    )


class _Nothing(TypedDict):
    """The figures of a pooled document when no arm can be counted (no ``converged``)."""

    method: str
    pooled: bool
    k: int
    n: int
    x: int
    estimate: None
    ci: None
    logit: None
    tau2: None
    i2: None
    prediction_interval: None


class _Asked(TypedDict, total=False):
    """The parts of a pooled document given only when asked for: a key left out here is
    missing from the JSON (``exclude_unset``), not null."""

    subgroups: PoolSubgroups
    leave_one_out: list[PoolLeaveOneOut] | None
    hartung_knapp: PoolHartungKnapp | None


def pool_document(
    kb: KnowledgeBase,
    name: str,
    outcome: Outcome = "any",
    method: Method = "glmm",
    *,
    by: Dimension | None = None,
    leave_one_out: bool = False,
    hartung_knapp: bool = False,
) -> PoolDocument:
    """The ``evidence pool --format json`` document of DESIGN.md; with ``by``, the
    subgroups (``subgroups``), with ``leave_one_out`` each study left out in turn
    (``leave_one_out``), with ``hartung_knapp`` the Hartung-Knapp interval
    (``hartung_knapp``; inverse-variance methods only, else :class:`PoolingError`).
    With fewer than two studies the last two are ``null``, with a note. The keys some
    documents leave out (``converged`` when nothing is pooled, and the parts not asked
    for) are unset: write it with ``model_dump(exclude_unset=True)``."""
    if hartung_knapp and method == "glmm":
        raise PoolingError(
            "the Hartung-Knapp adjustment is for the inverse-variance methods "
            "(dl, reml, pm), not glmm: give --method dl, reml or pm"
        )
    result, units, left_out = pool_treatment(kb, name, outcome, method)
    notes = _notes(result, units, method)
    asked = _Asked()
    if by is not None:
        asked["subgroups"] = subgroup_document(kb, name, outcome, method, by)
    several = result is not None and result.k > 1
    if leave_one_out:
        asked["leave_one_out"] = (
            _leave_one_out(result, units, method) if result is not None and several else None
        )
    if hartung_knapp:
        asked["hartung_knapp"] = (
            _hartung_knapp(result, method) if result is not None and several else None
        )
    if (leave_one_out or hartung_knapp) and not several:
        notes.append("Leave-one-out and the Hartung-Knapp adjustment need at least two studies.")
    # "method" says "dl" when the GLMM fell back (all 0% or 100%)
    figures = _estimate(result) if result is not None else _nothing(method, units)
    return PoolDocument(
        treatment=name,
        treatments=list(kb.resolve(name)),
        outcome=outcome,
        **figures,
        about=whom(kb, units),
        arms=_arms(result, units),
        left_out=left_out,
        notes=notes,
        evidence_version=kb.version,
        evidence_released=kb.released,
        **asked,
    )


def _nothing(method: Method, units: Sequence[StudyUnit]) -> _Nothing:
    return _Nothing(
        method=method,
        pooled=False,
        k=len(units),
        n=sum(unit.n for unit in units),
        x=sum(unit.x for unit in units),
        estimate=None,
        ci=None,
        logit=None,
        tau2=None,
        i2=None,
        prediction_interval=None,
    )


def _arms(result: PoolResult | None, units: Sequence[StudyUnit]) -> list[PoolArms]:
    """Each study pooled, with its Wilson interval and its weight (no study without a
    result: ``pool_treatment`` gives ``None`` only when no arm can be counted)."""
    arms = []
    for index, unit in enumerate(units):
        low, high = proportion_ci(unit.x, unit.n, "wilson")
        arms.append(
            PoolArms(
                study=unit.study,
                label=unit.label,
                reference=unit.reference,
                design=unit.design,
                x=unit.x,
                n=unit.n,
                proportion=round(unit.x / unit.n, 6),
                ci=[round(low, 6), round(high, 6)],
                weight=None if result is None else round(result.weights[index], 4),
                arms=list(unit.arms),
            )
        )
    return arms


def _notes(result: PoolResult | None, units: Sequence[StudyUnit], method: Method) -> list[str]:
    """What the reader of a pooling is told about it."""
    notes: list[str] = []
    if any("digits" in unit.units for unit in units):
        notes.append(
            "Some counts are digits, not patients (Fahmy 1998: 15 digits in 10 patients);"
            " they are pooled as the review tabulates them."
        )
    if result is None:
        notes.append("No arm reports this outcome: nothing to pool.")
    else:
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
    return notes
