"""One way to say how strong an option is: a plain-language certainty and direction.

The sources grade on two scales. The management topic uses GRADE ("Grade 2C": the
number is the strength of the recommendation, 1 strong ("we recommend") or 2 weak
("we suggest"); the letter the quality of the evidence, A high, B moderate, C low).
The review uses the Oxford CEBM 2009 levels (1a-5, the design of the studies) and
grades (A-D: A consistent level 1 studies; B consistent level 2 or 3 studies or
extrapolations from level 1; C level 4 studies or extrapolations from level 2 or 3;
D level 5 evidence or troublingly inconsistent or inconclusive studies of any level).

This module reads both into the same words, beside the source's own notation, which is
always kept: ``low certainty, suggested``; ``moderate certainty, ineffective: do not
use``. The reading of the letters is this tool's, stated here and on the about page;
the direction is the source's (its recommendation for or against, or the rule that
holds for this patient).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from calcinosis.decision.documents import Strength

if TYPE_CHECKING:
    from calcinosis.decision.documents import Grading

__all__ = [
    "CEBM_EXPLAINED",
    "CEBM_GRADES",
    "CEBM_LEVELS",
    "GRADE_EXPLAINED",
    "GRADE_LETTERS",
    "GRADE_NUMBERS",
    "strength",
]

GRADE_NUMBERS = {"1": "recommended", "2": "suggested"}
GRADE_LETTERS = {"A": "high", "B": "moderate", "C": "low"}
CEBM_GRADES = {"A": "high", "B": "moderate", "C": "low", "D": "very low"}
GRADE_EXPLAINED = {
    "1": "1 = a strong recommendation ('we recommend')",
    "2": "2 = a weak recommendation ('we suggest')",
    "A": "A = high-quality evidence",
    "B": "B = moderate-quality evidence",
    "C": "C = low-quality evidence",
}
CEBM_LEVELS = {
    "1": "level 1 = randomised controlled trials",
    "2": "level 2 = cohort studies or low-quality randomised trials",
    "3": "level 3 = case-control studies",
    "4": "level 4 = case series and poor-quality cohort studies",
    "5": "level 5 = expert opinion",
}
CEBM_EXPLAINED = {
    "A": "grade A = consistent level 1 studies",
    "B": "grade B = consistent level 2 or 3 studies, or extrapolations from level 1",
    "C": "grade C = level 4 studies, or extrapolations from level 2 or 3",
    "D": "grade D = level 5 evidence, or inconsistent or inconclusive studies",
}
AVOID_DIRECTIONS = {
    "ineffective": "ineffective: do not use",
    "harm": "harmful for this patient: do not use",
    "tried": "not offered again: it did not work or was not tolerated before",
}


def _cebm_notation(level: str | None, grade: str | None) -> tuple[str, str]:
    text = f"level {level or '-'}, grade {grade}"
    parts = []
    if level and level[0] in CEBM_LEVELS:
        parts.append(CEBM_LEVELS[level[0]] + (" (a wide interval)" if level.endswith("-") else ""))
    if grade in CEBM_EXPLAINED:
        parts.append(CEBM_EXPLAINED[grade])
    return text, "Oxford CEBM 2009 (the review): " + "; ".join(parts)


def _grade_notation(grade: str) -> tuple[str, str]:
    parts = [GRADE_EXPLAINED[c] for c in grade if c in GRADE_EXPLAINED]
    return f"Grade {grade}", "GRADE (the management topic): " + "; ".join(parts)


def strength(
    grading: Grading,
    stance: str,
    avoid_reason: str | None = None,
    *,
    step: bool = True,
) -> Strength:
    """The certainty and direction of one option, with the source's notation.

    ``grading`` is :func:`calcinosis.decision.plan.grading_for`'s (or a precaution's) document."""
    also = grading.get("also")
    return _strength(
        grading["assigned_by"],
        grading["system"],
        grading["level"],
        grading["grade"],
        (also["level"], also["grade"]) if also else None,
        option=(stance, avoid_reason, step),
    )


@lru_cache(maxsize=1024)
def _strength(
    by: str,
    system: str,
    level: str | None,
    grade: str | None,
    also: tuple[str | None, str | None] | None,
    *,
    option: tuple[str, str | None, bool],
) -> Strength:
    """:func:`strength` from what it reads of the grading, once each (shared: frozen)."""
    stance, avoid_reason, step = option
    notation, explanation = "", ""
    certainty: str | None = None
    if by == "source" and system.startswith("GRADE"):
        text = str(grade)
        notation, explanation = _grade_notation(text)
        certainty = GRADE_LETTERS.get(text[-1:])
        direction = GRADE_NUMBERS.get(text[:1], "suggested")
        if also:
            cebm, why = _cebm_notation(*also)
            notation += f"; review: {cebm}"
            explanation += f". {why}"
    elif by == "source":
        notation, explanation = _cebm_notation(level, grade)
        certainty = CEBM_GRADES.get(str(grade))
        direction = "may be considered"
    elif by == "tool":
        # a management step (observation, treating the underlying disease) is one of the
        # algorithm's; a treatment no source grades is only named, with its data
        notation = "not graded by any source"
        what = (
            "it is a step of the sources' algorithm"
            if step
            else "a source names it, with limited or no efficacy data"
        )
        explanation = (
            f"No source grades it: {what}; this tool places it at level 5, grade D (expert "
            "opinion) by the CEBM 2009 rule."
        )
        direction = "a step of the sources' algorithm" if step else "named by a source, ungraded"
    else:
        notation = "not graded"
        explanation = (
            "this patient's own past response"
            if by == "patient"
            else "a precaution that the source states without a grade"
        )
        direction = ""
    if stance == "avoid":
        direction = AVOID_DIRECTIONS[avoid_reason or "harm"]
    if by == "tool" and stance != "avoid":
        label = f"not graded: {direction}"
    elif certainty is None:
        label = direction if by == "patient" else f"{direction} (a precaution, not graded)"
    else:
        label = f"{certainty} certainty, {direction}"
    return Strength(
        certainty=certainty,
        direction=direction,
        label=label,
        notation=notation,
        explanation=explanation,
    )
