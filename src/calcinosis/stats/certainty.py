"""A pre-filled GRADE certainty of a body of evidence: the rules, as code.

GRADE rates the certainty of a body of evidence for one outcome: it starts at *high*
for randomised trials and at *low* for observational studies, and is rated down for
risk of bias, inconsistency, indirectness, imprecision and publication bias (Guyatt et
al., J Clin Epidemiol 2011;64:383-394 and the series that follows). The judgements are
a panel's; this module *pre-fills* them from the data with the explicit thresholds
below, each domain with its reason, for a panel to confirm or overrule. It never says
it is a panel's judgement (:data:`PREFILLED` says so on every output).

The outcome here is the proportion of patients who respond to a treatment, from single
arms (no comparator). Our operational choices, stated once:

* **start**: *high* when every study of the body is an RCT, otherwise *low*. A body
  that mixes one small RCT with case series is rated as the observational body it
  mostly is (a panel may rate the trial on its own).
* **risk of bias**: serious (-1) when more than half of the patients come from studies
  rated poor or not rated. A study's quality is its own rating when the knowledge has
  one; the review rated "26 cohort studies ... as poor quality and only 2 as fair
  quality" (Newcastle-Ottawa scale) without naming them, and reports no judgement of its
  2 RCTs (Cochrane tool), so an unrated study is taken as poor (as ``grading.py`` does).
* **inconsistency**: one study cannot be inconsistent (not rated down, said so); every
  study at 0% (or at 100%) is consistent. Otherwise serious (-1) when I^2 >= 50% or the
  95% prediction interval is wider than 50 percentage points; very serious (-2) when
  I^2 >= 75% and the prediction interval is wider than 75 points (or cannot be given,
  with two studies).
* **indirectness**: serious (-1) when more than half of the patients are in studies
  whose population is not the question's (``applicability.fit`` says *extrapolated*),
  and -1 more when more than half of the counts are not patients (digits); at most -2.
* **imprecision**: very serious (-2) when the 95% CI is wider than 50 percentage points
  (the tool's "very uncertain" everywhere); serious (-1) when it is wider than 20 points
  or the body has fewer patients than :data:`OPTIMAL_INFORMATION_SIZE` (97: the size at
  which a proportion of 50%, the least precise, has a 95% CI of +-10 points).
* **publication bias**: *not assessable* with fewer than 10 studies (funnel plots and
  their tests have too little power; Cochrane Handbook 13.3.5.4), not rated down; with
  10 or more it is left to the panel (*not assessed*).

Pure: nothing here reads the knowledge base (``summary_of_findings.py`` does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CI_VERY_WIDE",
    "CI_WIDE",
    "I2_SERIOUS",
    "I2_VERY_SERIOUS",
    "MIN_STUDIES_PUBLICATION_BIAS",
    "OPTIMAL_INFORMATION_SIZE",
    "PI_VERY_WIDE",
    "PI_WIDE",
    "PREFILLED",
    "Body",
    "Certainty",
    "Domain",
    "StudyAppraisal",
    "rate",
]

PREFILLED = "Pre-filled by the software for a panel to confirm; not a GRADE panel's judgement."
Level = Literal["high", "moderate", "low", "very low"]
Rating = Literal["not serious", "serious", "very serious", "not assessable", "not assessed"]
DomainName = Literal[
    "risk of bias", "inconsistency", "indirectness", "imprecision", "publication bias"
]

LEVELS: tuple[Level, ...] = ("very low", "low", "moderate", "high")
SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}
MAJORITY = 0.5  # "more than half of the patients"
I2_SERIOUS = 50.0
I2_VERY_SERIOUS = 75.0
PI_WIDE = 0.50
PI_VERY_WIDE = 0.75
CI_WIDE = 0.20
CI_VERY_WIDE = 0.50
OPTIMAL_INFORMATION_SIZE = math.ceil(1.959964**2 * 0.25 / 0.10**2)  # 97 patients
MIN_STUDIES_PUBLICATION_BIAS = 10
_RATED: tuple[Rating, ...] = ("not serious", "serious", "very serious")
_OBSERVATIONAL = {"prospective": "prospective", "retrospective": "retrospective"}


@dataclass(frozen=True)
class StudyAppraisal:
    """One study of the body: its design, its quality rating, its count (``n``, in
    ``unit``) and how much of it is about another population than the question's
    (``extrapolated_n``, for the reasons ``extrapolated``)."""

    label: str
    design: str
    quality: str
    n: int
    unit: str = "patients"
    extrapolated: tuple[str, ...] = ()
    extrapolated_n: int = 0  # how much of ``n`` is in its extrapolated arms


@dataclass(frozen=True)
class Body:
    """A body of evidence for one outcome: its studies and its (pooled) estimate."""

    studies: tuple[StudyAppraisal, ...]
    estimate: float
    ci: tuple[float, float]
    i2: float | None
    prediction_interval: tuple[float, float] | None
    all_at_bound: bool = False  # every study at 0% (or every study at 100%)

    @property
    def k(self) -> int:
        return len(self.studies)

    @property
    def n(self) -> int:
        return sum(study.n for study in self.studies)


@dataclass(frozen=True)
class Domain:
    """One GRADE domain: its rating, how many levels it takes off, and why."""

    name: DomainName
    rating: Rating
    downgrade: int
    reason: str

    def document(self) -> dict[str, object]:
        return {
            "domain": self.name,
            "rating": self.rating,
            "downgrade": self.downgrade,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Certainty:
    """The pre-filled certainty: where it starts, each domain, where it ends."""

    start: Level
    start_reason: str
    domains: tuple[Domain, ...]
    level: Level

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    def domain(self, name: DomainName) -> Domain:
        return next(domain for domain in self.domains if domain.name == name)

    def document(self) -> dict[str, object]:
        return {
            "start": {"level": self.start, "reason": self.start_reason},
            "domains": [domain.document() for domain in self.domains],
            "certainty": self.level,
            "symbols": self.symbols,
            "prefilled": PREFILLED,
        }


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def _points(width: float) -> str:
    return f"{100 * width:.0f} percentage points"


def _share(studies: Sequence[StudyAppraisal], total: int, n: int | None = None) -> str:
    counted = sum(study.n for study in studies) if n is None else n
    return f"{_plural(len(studies), 'study')} ({counted} of {total} in the count)"


def _start(body: Body) -> tuple[Level, str]:
    designs = [study.design for study in body.studies]
    rcts = designs.count("rct")
    if rcts == len(designs):
        return "high", f"{_plural(rcts, 'RCT')}: starts at high"
    kinds = [
        _plural(designs.count(design), f"{word} study")
        for design, word in _OBSERVATIONAL.items()
        if designs.count(design)
    ]
    if rcts:
        kinds.insert(0, _plural(rcts, "RCT"))
        return "low", f"{', '.join(kinds)}: a body mostly observational starts at low"
    return "low", f"observational ({', '.join(kinds)}): starts at low"


def _risk_of_bias(body: Body) -> Domain:
    weak = [s for s in body.studies if s.quality in ("poor", "unknown")]
    rated = [s for s in weak if s.quality == "poor"]
    unrated = [s for s in weak if s.quality == "unknown"]
    share = sum(s.n for s in weak) / body.n
    parts = []
    if rated:
        parts.append(f"Rated poor: {_share(rated, body.n)}")
    if unrated:
        why = []
        if any(s.design != "rct" for s in unrated):
            why.append(
                "the review rated 26 of its 28 cohort studies poor and 2 fair "
                "(Newcastle-Ottawa scale) without naming them"
            )
        if any(s.design == "rct" for s in unrated):
            why.append("the review gives no risk-of-bias judgement of its RCTs (Cochrane tool)")
        parts.append(
            f"No rating of their own for {_share(unrated, body.n)}: {' and '.join(why)}, "
            "so an unrated study is taken as poor"
        )
    if share > MAJORITY:
        return Domain("risk of bias", "serious", 1, "; ".join(parts) + ".")
    good = len(body.studies) - len(weak)
    reason = f"Rated good or fair: {_plural(good, 'study')}, most of the count"
    return Domain("risk of bias", "not serious", 0, "; ".join([reason, *parts]) + ".")


def _inconsistency(body: Body) -> Domain:
    if body.k == 1:
        return Domain(
            "inconsistency",
            "not serious",
            0,
            "One study: inconsistency cannot be assessed (not rated down).",
        )
    if body.all_at_bound or body.i2 is None:
        return Domain(
            "inconsistency",
            "not serious",
            0,
            "Every study has the same result (all at 0%, or all at 100%).",
        )
    pi = body.prediction_interval
    width = None if pi is None else pi[1] - pi[0]
    shown = f"I2 {body.i2:.0f}%"
    shown += (
        ", no prediction interval with 2 studies"
        if pi is None
        else (
            f", 95% prediction interval {100 * pi[0]:.0f}% to {100 * pi[1]:.0f}% "
            f"({_points(pi[1] - pi[0])} wide)"
        )
    )
    if body.i2 >= I2_VERY_SERIOUS and (width is None or width > PI_VERY_WIDE):
        return Domain(
            "inconsistency",
            "very serious",
            2,
            f"{shown}: I2 at least {I2_VERY_SERIOUS:.0f}% and the studies' results too far "
            "apart to say what response to expect in a new setting.",
        )
    if body.i2 >= I2_SERIOUS or (width is not None and width > PI_WIDE):
        return Domain(
            "inconsistency",
            "serious",
            1,
            f"{shown}: I2 at least {I2_SERIOUS:.0f}% or a prediction interval wider than "
            f"{_points(PI_WIDE)}.",
        )
    return Domain("inconsistency", "not serious", 0, f"{shown}.")


def _indirectness(body: Body, question: str) -> Domain:
    total = body.n
    away = [s for s in body.studies if s.extrapolated]
    digits = [s for s in body.studies if s.unit != "patients"]
    downgrade = 0
    parts = []
    if away:
        reasons = list(dict.fromkeys(reason for s in away for reason in s.extrapolated))
        moved = sum(s.extrapolated_n for s in away)
        parts.append(
            f"About another population than {question}: {_share(away, total, moved)}: "
            f"{'; '.join(reasons)}"
        )
        if moved / total > MAJORITY:
            downgrade += 1
    if digits:
        units = sorted({s.unit for s in digits})
        parts.append(f"Counted in {', '.join(units)}, not patients: {_share(digits, total)}")
        if sum(s.n for s in digits) / total > MAJORITY:
            downgrade += 1
    if not parts:
        return Domain(
            "indirectness",
            "not serious",
            0,
            f"Every study is about {question}, and counts patients.",
        )
    rating = _RATED[min(downgrade, 2)]
    if not downgrade:
        parts.append("less than half of the count: not rated down")
    return Domain("indirectness", rating, min(downgrade, 2), "; ".join(parts) + ".")


def _imprecision(body: Body) -> Domain:
    width = body.ci[1] - body.ci[0]
    shown = (
        f"95% CI {100 * body.ci[0]:.0f}% to {100 * body.ci[1]:.0f}% ({_points(width)} wide), "
        f"{body.n} in the count"
    )
    if width > CI_VERY_WIDE:
        return Domain(
            "imprecision",
            "very serious",
            2,
            f"{shown}: the interval is wider than {_points(CI_VERY_WIDE)}.",
        )
    small = body.n < OPTIMAL_INFORMATION_SIZE
    if width > CI_WIDE or small:
        why = []
        if width > CI_WIDE:
            why.append(f"the interval is wider than {_points(CI_WIDE)}")
        if small:
            why.append(
                f"fewer than {OPTIMAL_INFORMATION_SIZE} patients (the number that gives a "
                "proportion of 50% a 95% CI of +-10 points)"
            )
        return Domain("imprecision", "serious", 1, f"{shown}: {' and '.join(why)}.")
    return Domain("imprecision", "not serious", 0, f"{shown}.")


def _publication_bias(body: Body) -> Domain:
    if body.k < MIN_STUDIES_PUBLICATION_BIAS:
        return Domain(
            "publication bias",
            "not assessable",
            0,
            f"{_plural(body.k, 'study')}: with fewer than {MIN_STUDIES_PUBLICATION_BIAS} a "
            "funnel plot or its tests cannot detect it (not rated down); small positive case "
            "series are the most likely to be published.",
        )
    return Domain(
        "publication bias",
        "not assessed",
        0,
        f"{_plural(body.k, 'study')}: a funnel plot is possible; the software does not "
        "judge it (not rated down).",
    )


def rate(body: Body, question: str) -> Certainty:
    """The pre-filled certainty of ``body`` for ``question`` (whom the question is about,
    in words, e.g. 'dystrophic calcinosis in adults with systemic sclerosis')."""
    if not body.studies or body.n <= 0:
        raise ValueError("a body of evidence needs at least one study with patients")
    start, start_reason = _start(body)
    domains = (
        _risk_of_bias(body),
        _inconsistency(body),
        _indirectness(body, question),
        _imprecision(body),
        _publication_bias(body),
    )
    score = LEVELS.index(start) - sum(domain.downgrade for domain in domains)
    return Certainty(start, start_reason, domains, LEVELS[max(score, 0)])
