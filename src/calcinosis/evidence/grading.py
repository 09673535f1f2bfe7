"""Oxford CEBM 2009 levels of evidence and grades of recommendation, as code.

The review grades its evidence with "the modified Oxford Centre for
Evidence-Based Medicine Levels of Evidence and Grades of Recommendation"
(seed 001, Methods lines 114-117; its reference 25, CEBM, March 2009). For
therapy, CEBM 2009 gives:

====  ==========================================================================
1a    systematic review (with homogeneity) of RCTs
1b    individual RCT (with narrow confidence interval)
1c    all or none
2a    systematic review (with homogeneity) of cohort studies
2b    individual cohort study (including low-quality RCT, e.g. <80% follow-up)
2c    "outcomes" research; ecological studies
3a    systematic review (with homogeneity) of case-control studies
3b    individual case-control study
4     case series (and poor-quality cohort and case-control studies)
5     expert opinion without explicit critical appraisal
====  ==========================================================================

A minus ("1b-") marks evidence that fails to give a conclusive answer (a single
result with a wide confidence interval); such evidence can only support a
grade D. Grades: A consistent level 1 studies; B consistent level 2 or 3
studies (or extrapolations from level 1); C level 4 studies (or extrapolations
from level 2 or 3); D level 5 evidence or troublingly inconsistent or
inconclusive studies of any level.

CEBM leaves "wide", "consistent" and "poor quality" to the reader. Our
operational choices, stated once here and applied everywhere:

* **wide CI**: the Wilson 95% interval of the study's response proportion spans
  more than :data:`WIDE_CI` (40 percentage points). Applied to levels 1-3 only.
* **quality**: a cohort study is level 2b only if rated good or fair; unknown
  quality counts as poor (the review rated 26 of its 28 cohort studies poor,
  lines 127-128, without naming them), so level 4.
* **secondary outcome**: an RCT in which calcinosis was a secondary outcome is a
  low-quality RCT for this question: level 2b.
* **consistent**: the Wilson 95% intervals of the studies at the best level have
  a point in common. Studies without a count of responders cannot show
  consistency; a study that reports complete responses only is used (as a
  lower bound) when no study of the body reports all responders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from calcinosis.evidence.schemas import normalise_level
from calcinosis.stats.intervals import proportion_ci

__all__ = [
    "LEVELS",
    "WIDE_CI",
    "GradeResult",
    "LevelResult",
    "StudyEvidence",
    "grade_for_body",
    "level_for_study",
    "level_rank",
    "normalise_level",
]

LEVELS = ("1a", "1b", "1c", "2a", "2b", "2c", "3a", "3b", "4", "5")
WIDE_CI = 0.40

Grade = Literal["A", "B", "C", "D"]
StudyDesign = Literal[
    "rct", "prospective", "retrospective", "case-control", "case-series", "expert-opinion"
]
Quality = Literal["good", "fair", "poor", "unknown"]
_TIER_GRADE: dict[int, Grade] = {1: "A", 2: "B", 3: "B", 4: "C"}


@dataclass(frozen=True)
class LevelResult:
    level: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class StudyEvidence:
    """One study's contribution to a body of evidence."""

    label: str
    level: str
    x: int | None
    n: int | None
    complete_only: bool = False


@dataclass(frozen=True)
class GradeResult:
    grade: Grade
    reasons: tuple[str, ...]


def level_rank(level: str) -> int:
    """Position in :data:`LEVELS` (0 is best); a minus sorts just after its level."""
    base = level.rstrip("-")
    if base not in LEVELS:
        raise ValueError(f"not a CEBM 2009 level: {level!r}")
    return LEVELS.index(base)


def _wide(x: int | None, n: int | None) -> bool:
    if x is None or n is None or n == 0:
        return False
    low, high = proportion_ci(x, n, "wilson")
    return high - low > WIDE_CI


def level_for_study(
    design: StudyDesign,
    quality: Quality = "unknown",
    *,
    primary_outcome: bool = True,
    x: int | None = None,
    n: int | None = None,
) -> LevelResult:
    """The CEBM 2009 therapy level a study's design and quality give it."""
    reasons: list[str] = []
    if design == "rct":
        if primary_outcome:
            level = "1b"
            reasons.append("individual RCT")
        else:
            level = "2b"
            reasons.append("RCT with calcinosis as a secondary outcome: low-quality RCT")
    elif design in ("prospective", "retrospective"):
        if quality in ("good", "fair"):
            level = "2b"
            reasons.append(f"{design} cohort study of {quality} quality")
        else:
            level = "4"
            reasons.append(f"{design} cohort study of {quality} quality: case series level")
    elif design == "case-control":
        level = "3b" if quality in ("good", "fair") else "4"
        reasons.append(f"case-control study of {quality} quality")
    elif design == "case-series":
        level = "4"
        reasons.append("case series")
    else:
        level = "5"
        reasons.append("expert opinion")
    if level_rank(level) <= level_rank("3b") and _wide(x, n):
        level += "-"
        reasons.append(f"single result with a wide 95% CI (over {WIDE_CI:.0%} for {x}/{n})")
    return LevelResult(level, tuple(reasons))


def _consistent(items: Sequence[StudyEvidence]) -> bool:
    bounds = [
        proportion_ci(item.x, item.n, "wilson") for item in items if item.x is not None and item.n
    ]
    if len(bounds) < 2:
        return True
    return max(low for low, _ in bounds) <= min(high for _, high in bounds)


def grade_for_body(evidence: Sequence[StudyEvidence]) -> GradeResult:
    """The CEBM 2009 grade a body of evidence (one study each) supports."""
    if not evidence:
        return GradeResult("D", ("no evidence",))
    conclusive = [item for item in evidence if not item.level.endswith("-")]
    set_aside = [item.label for item in evidence if item.level.endswith("-")]
    reasons: list[str] = []
    if set_aside:
        reasons.append("inconclusive (minus) evidence set aside: " + ", ".join(set_aside))
    if not conclusive:
        return GradeResult("D", (*reasons, "only inconclusive evidence"))
    counted = [item for item in conclusive if item.x is not None and item.n]
    if any(not item.complete_only for item in counted):
        dropped = [item.label for item in counted if item.complete_only]
        counted = [item for item in counted if not item.complete_only]
        if dropped:
            reasons.append("complete responses only, set aside: " + ", ".join(dropped))
    # The best level among the studies that count; when none reports responders,
    # among the conclusive ones.
    best = min(level_rank(item.level) for item in (counted or conclusive))
    tier = int(LEVELS[best][0])
    best_items = [item for item in counted if int(item.level.rstrip("-")[0]) == tier]
    if not _consistent(best_items):
        labels = ", ".join(f"{i.label} {i.x}/{i.n}" for i in best_items)
        return GradeResult(
            "D", (*reasons, f"troublingly inconsistent level {tier} studies ({labels})")
        )
    grade = _TIER_GRADE.get(tier, "D")
    count = len(best_items) or len([i for i in conclusive if int(i.level[0]) == tier])
    reasons.append(f"best evidence: level {tier} ({count} stud{'y' if count == 1 else 'ies'})")
    return GradeResult(grade, tuple(reasons))
