"""Questions about a topic rather than a choice of treatment: time to response, relapse,
how common calcinosis is, mechanisms and causes, study sizes, levels and grades asked by
name, and the overview (subtypes, definitions, the evidence as a whole)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calcinosis import patterns as rx
from calcinosis.answers.blocks import (
    arm_provenance,
    passages_about,
    roman,
    table4_line,
)
from calcinosis.answers.cues import BEST_EVIDENCE
from calcinosis.answers.draft import NOT_ANSWERED, SOURCE_NAMES, Draft, sentence_with, sentences
from calcinosis.answers.selection import by_words, lead_passages, not_answered, subtype_management
from calcinosis.answers.verdicts import verdict
from calcinosis.evidence.knowledge_base import study_label
from calcinosis.evidence.schemas import Provenance, normalise_level
from calcinosis.patterns import compiled

__all__ = [
    "by_level_or_grade",
    "epidemiology",
    "mechanism",
    "overview",
    "relapse",
    "study_size",
    "time_to_response",
]


_TIME = (
    r"within (the )?(first )?((a )?few |several |\w+ to \w+ |one |two |three |four |six |\d+ )?"
    r"(month|months|weeks?|treatments|days)|evident within|treatment duration|durations? of "
    r"treatment|months to years|within (one|two|four|six|\d+) "
)


_RELAPSE = r"relaps|recurren|reappear"


_EPIDEMIOLOGY = (
    r"prevalence|develops in|most frequent|most common|most often|usually occurs|primarily "
    r"occurs|occurs in|\d+% (of|to)"
)


_MECHANISM = (
    r"antagonist|inhibit|thought to result|\bvia\b|antioxidant|vasodilat|anti-inflammatory|"
    r"metabolite|channel blocker|calcium influx"
)


_CAUSES = (
    r"pathophysiolog|pathogenesis|results from|tissue injury|underlying defect|deposition of "
    r"insoluble|defined by|mechanistic|precipitat|contributes to risk"
)


_RCT = compiled(r" (trial|rct|randomi[sz]ed|placebo)")


_LEVEL_ASKED = compiled(r" level (i|ii|iii|iv|v|ia|ib|iia|iib|[1-5] ?[abc]?) ")


_GRADE_ASKED = compiled(r" graded? ([abcd]|[12] ?[abc]) ")


def best_evidence(d: Draft) -> bool:
    """ "Which treatment has the best evidence?": the grades as Table 4 and the management
    topic give them, highest first, and what the highest is for or against."""
    if not any(rx.search(cue, d.query.norm) for cue in BEST_EVIDENCE):
        return False
    rows = [r for r in d.kb.table4 if r.grade and r.parent is None]
    if not rows:
        return False
    best = min(r.grade for r in rows)
    top = [r for r in rows if r.grade == best]
    rest = sorted({r.grade for r in rows if r.grade != best})
    against = [r for r in top if r.direction == "against"]
    d.lead(
        f"No treatment of calcinosis cutis has strong evidence. The highest grade in the "
        f"review's Table 4 is grade {best}"
        + (
            ", and it is a grade against a treatment"
            if against and len(against) == len(top)
            else ""
        )
        + ":"
    )
    for row in top:
        line = table4_line(d, row.treatments[0])
        if line:
            d.lead(line)
    if rest:
        others = [r for r in rows if r.grade != best]
        d.lead(
            f"The other {len(others)} rows of Table 4 are grade {' or '.join(rest)} "
            f"{d.cite(*(r.provenance for r in others[:1]))}."
        )
    graded = [s for s in d.kb.statements if s.source == "management-topic" and s.grade]
    for statement in graded[:2]:
        where = Provenance(
            source=statement.source, location=statement.location, quote=statement.quote
        )
        d.lead(
            f"The management topic's graded suggestion (Grade {statement.grade}): "
            f'"{sentences(statement.quote, 1)}" '
            f"{d.cite(where)}."
        )
    for passage in passages_about(d, (), pattern=r"only 2 small RCTs|Few included studies")[:2]:
        d.add("Research evidence", d.quote(passage, 1))
    return True


def by_level_or_grade(d: Draft) -> bool:
    """ "Which treatments have level IB?", "What is grade 2C?": who gives it to what."""
    level = _LEVEL_ASKED.search(d.query.norm)
    grade = _GRADE_ASKED.search(d.query.norm)
    asked = level or grade
    if asked is None:
        return False
    wanted_level = normalise_level(level.group(1).replace(" ", "")) if level else None
    wanted_grade = grade.group(1).replace(" ", "").upper() if grade else None
    rows = [
        row
        for row in d.kb.table4
        if (
            wanted_level
            and row.level_printed
            and normalise_level(row.level_printed) == wanted_level
        )
        or (wanted_grade and row.grade == wanted_grade)
    ]
    graded = [
        s
        for s in d.kb.statements
        if s.source == "management-topic"
        and wanted_grade
        and (s.grade or "").upper() == wanted_grade
    ]
    words = f"level {roman(wanted_level)}" if wanted_level else f"Grade {wanted_grade}"
    if not rows and not graded:
        d.lead(f"{NOT_ANSWERED} No source gives {words} to any treatment of calcinosis cutis.")
        return True
    for row in rows:
        d.lead(table4_line(d, row.treatments[0]))
    for statement in graded[:2]:
        where = Provenance(
            source=statement.source, location=statement.location, quote=statement.quote
        )
        d.lead(
            f'The management topic gives {words}: "{sentences(statement.quote, 1)}" '
            f"{d.cite(where)}."
        )
    if graded:
        d.lead("The management topic does not define its grades in its text.")
    return True


def time_to_response(d: Draft) -> None:
    found = [p for p in passages_about(d, d.query.treatments, pattern=_TIME) if p.kind != "regimen"]
    if d.query.treatments:
        found = [p for p in found if set(p.treatments) & set(d.query.treatments)]
    elif d.query.subtype:
        found = [p for p in found if d.fits(p.applies_to) and p.applies_to.subtypes]
    else:
        found = by_words(d, found)
    if not lead_passages(d, found, pattern=_TIME):
        not_answered(d)


def relapse(d: Draft) -> None:
    found = passages_about(d, d.query.treatments, pattern=_RELAPSE)
    arms = [a for a in d.kb.arms_for(d.query.treatments) if a.relapses is not None]
    counted = [p for p in found if rx.search(r"\d", sentence_with(p.text, _RELAPSE))]
    if d.query.treatments and not arms and not counted:
        # "how often do they come back after surgery?": the topic names recurrence as a
        # risk; no source counts it
        names = " or ".join(d.name(t).lower() for t in d.query.treatments[:2])
        d.lead(f"No source gives a relapse rate for {names} in calcinosis cutis.")
    if not lead_passages(d, found, 3, pattern=_RELAPSE) and not arms:
        not_answered(d)
    for arm in arms[:3]:
        relapses = arm.relapses
        if relapses is not None:
            d.add(
                "Research evidence",
                f"{d.name(arm.treatment)}, {study_label(d.kb.studies[arm.study])}: "
                f"{relapses.text} {d.cite(arm_provenance(arm))}.",
            )


def epidemiology(d: Draft) -> None:
    """How common calcinosis cutis is, and in whom: figures first, the asked disease's."""
    found = [p for p in passages_about(d, (), pattern=_EPIDEMIOLOGY) if not p.treatments]
    words = {w for w in d.query.norm.split() if len(w) > 3}
    found.sort(
        key=lambda p: (
            not d.fits(p.applies_to),
            "%" not in p.text,
            -sum(w in p.text.lower() for w in words),
        )
    )
    if not lead_passages(d, found, 2, pattern=_EPIDEMIOLOGY):
        not_answered(d)
    for passage in found[2:4]:
        d.add("Research evidence", d.quote(passage, 1))


_CLASS_ONLY_WORDS = 8  # "Diltiazem, a calcium channel blocker" names a class, says no action


def mechanism(d: Draft) -> None:
    lead = verdict(d)
    d.lead(lead)
    if lead:
        return
    if d.query.treatments:
        # each treatment asked about ("how does STS work? and why would diltiazem help"),
        # one mechanism passage each, in the order asked
        groups = [ids for _, ids in d.query.mentions] or [d.query.treatments]
        said = False
        for ids in list(dict.fromkeys(groups))[:3]:
            own = passages_about(d, ids, kinds=("mechanism",)) or passages_about(
                d, ids, pattern=_MECHANISM
            )
            # a sentence that says how it acts before one that only names its class
            own.sort(key=lambda p: len(p.text.split()) < _CLASS_ONLY_WORDS)
            said = lead_passages(d, [p for p in own if not d.shown(p)], 1) or said
        if not said:
            not_answered(d)
        return
    else:
        found = by_words(d, passages_about(d, (), pattern=_CAUSES))
        pattern = _CAUSES
    if not lead_passages(d, list(dict.fromkeys(found)), 2, pattern=pattern):
        not_answered(d)


def _what_studies(d: Draft, by_study: dict[str, list[Any]]) -> str:
    """ "The randomized controlled trial", "The studies", or "Yes, one: the randomized
    controlled trial" for "is there any RCT of X?"."""
    kb = d.kb
    trials = sum(kb.studies[s].design == "rct" for s in by_study)
    if not (_RCT.search(d.query.norm) and trials):
        return "The studies"
    if rx.match(r"^ (is|are|was|were) there | any ", d.query.norm):
        return f"Yes, {'one' if trials == 1 else trials}: the randomized controlled trial"
    return "The randomized controlled trial"


def _trials_overall(d: Draft) -> None:
    """ "Are there any RCTs in calcinosis cutis?": the review's two, and what they tested."""
    kb = d.kb
    trials = [a for a in kb.arms if kb.studies[a.study].design == "rct"]
    by_study: dict[str, list[Any]] = {}
    for arm in trials:
        by_study.setdefault(arm.study, []).append(arm)
    statement = kb.statements_by_id.get("review-discussion-only-two-rcts")
    if statement is not None:
        d.lead(
            f'Few: the review says "{sentences(statement.quote, 1)}" '
            + d.cite(
                Provenance(
                    source=statement.source, location=statement.location, quote=statement.quote
                )
            )
            + "."
        )
    lines = [
        f"{d.name(arms[0].treatment)}: " + _study_line(d, study_id, arms)
        for study_id, arms in by_study.items()
    ]
    if lines:
        d.lead("The trials: " + "; ".join(lines) + ".")


def study_size(d: Draft) -> None:
    kb = d.kb
    if not d.query.treatments and _RCT.search(d.query.norm):
        _trials_overall(d)
        return
    if not d.query.treatments:
        overall = next(t for t in kb.totals if t.scope == "overall")
        d.lead(
            f"The review included {overall.studies} studies with {overall.patients} patients "
            f"{d.cite(overall.provenance)}."
        )
        for passage in passages_about(d, (), pattern=r"\d+ (studies|patients)")[:3]:
            d.add("Research evidence", d.quote(passage, 1))
        return
    arms = list(kb.arms_for(d.query.treatments))
    names = " or ".join(d.name(t).lower() for t in d.query.treatments[:3])
    if _RCT.search(d.query.norm):
        trials = [a for a in arms if kb.studies[a.study].design == "rct"]
        if not trials and arms:
            designs = sorted({kb.studies[a.study].design for a in arms})
            d.lead(
                f"No: the review has no randomized controlled trial of {names}; "
                + _studies_are(len({a.study for a in arms}), designs)
                + " "
                f"{d.cite(*(arm_provenance(a) for a in arms))}."
            )
        arms = trials or arms
    group = d.context.age_group
    if group is not None:
        arms = [a for a in arms if a.population == group] or arms
    by_study: dict[str, list[Any]] = {}
    for arm in arms:
        by_study.setdefault(arm.study, []).append(arm)
    parts = [_study_line(d, study_id, study_arms) for study_id, study_arms in by_study.items()]
    what = _what_studies(d, by_study)
    if parts:
        d.lead(f"{what} of {names} in the review: " + "; ".join(parts) + ".")
    for total in kb.totals:
        if set(total.treatments) & set(d.query.treatments) and total.patients:
            scope = total.scope.replace("-", " ")
            d.lead(
                f"In all, the review counts {total.studies} studies and {total.patients} "
                f"patients for {scope} {d.cite(total.provenance)}."
            )
    for passage in passages_about(d, d.query.treatments, pattern=r"\b\d+ (patients|studies)")[:2]:
        d.add("Research evidence", d.quote(passage, 1))
    if not d.leads:
        not_answered(d)


def _studies_are(count: int, designs: Sequence[str]) -> str:
    """'its 1 study of it is retrospective', 'its 3 studies of it are ...'."""
    kinds = " and ".join(designs)
    return f"its study of it is {kinds}" if count == 1 else f"its {count} studies of it are {kinds}"


def _study_line(d: Draft, study_id: str, study_arms: list[Any]) -> str:
    """'Aggarwal 2017 (RCT): 29 patients (...); adults with DM: complete response in 1 of 7
    (14%) ...', with the review's word when calcinosis was not the study's primary outcome."""
    kb = d.kb
    study = kb.studies[study_id]
    n = sum(a.patients if a.unit != "patients" and a.patients else (a.n or 0) for a in study_arms)
    who = "; ".join(f"{a.n} {_who(a)}" if a.n else _who(a) for a in study_arms)
    if any(a.n is None for a in study_arms):
        # Boulter 2011: the review gives no count for the study
        none_complete = all(a.responders_complete == 0 for a in study_arms)
        return (
            f"{study_label(study)} ({study.design}; {who}): the review gives no number of "
            f"patients for this study{', and no complete responder' if none_complete else ''} "
            f"{d.cite(*(arm_provenance(a) for a in study_arms))}"
        )
    design = "RCT" if study.design == "rct" else study.design
    secondary = ""
    if not study.calcinosis_primary_outcome:
        statement = kb.statements_by_id.get("review-discussion-only-two-rcts")
        cite = (
            " "
            + d.cite(
                Provenance(
                    source=statement.source, location=statement.location, quote=statement.quote
                )
            )
            if statement is not None
            else ""
        )
        secondary = f"; calcinosis was only a secondary outcome of this trial{cite}"
    return (
        f"{study_label(study)} ({design}): {n} patients ({who}){_responders(study_arms)} "
        f"{d.cite(*(arm_provenance(a) for a in study_arms))}{secondary}"
    )


def _responders(arms: list[Any]) -> str:
    """', 27 responded (22 completely)' for a study's arms, when they report it; each arm's
    own count when the study has arms of different populations."""
    if len(arms) > 1 and len({a.population for a in arms}) > 1:
        each = [_responders([a]) for a in arms]
        if any(each):
            return "; " + "; ".join(
                f"{_who(a)}:{text[1:]}" for a, text in zip(arms, each, strict=True) if text
            )
        return ""
    counted = [a for a in arms if a.responders_any is not None]
    complete = [a for a in arms if a.responders_complete is not None]
    if not counted:
        if not complete:
            return ""
        x = sum(a.responders_complete for a in complete)
        n = sum(a.n or 0 for a in complete)
        return f", complete response in {x} of {n} ({_pct(x, n)}); partial response not reported"
    x = sum(a.responders_any for a in counted)
    n = sum(a.n or 0 for a in counted)
    text = f", {x} of {n} responded ({_pct(x, n)})"
    complete = [a for a in counted if a.responders_complete is not None]
    if complete:
        text += f", {sum(a.responders_complete for a in complete)} completely"
    return text


def _pct(x: int, n: int) -> str:
    """'14%'; one decimal under 10% ('4.5%' for 1 of 22, which the review prints as 4%)."""
    if not n:
        return "n/a"
    value = 100 * x / n
    return f"{value:.1f}%" if 0 < value < 10 else f"{round(value)}%"


def _who(arm: Any) -> str:
    who = {"adult": "adults", "child": "children", "unspecified": "of unstated age"}
    disease = {"DM/SSc": "DM or SSc", "unspecified": "DM or SSc"}.get(arm.disease, arm.disease)
    unit = " digits" if arm.unit == "digits" else ""
    return f"{who[arm.population]}{unit} with {disease}".replace(
        "adults digits", "digits in adults"
    )


# Overview questions about one aspect of calcinosis cutis: the question's words, and the
# words of the passages that answer them.
_TOPICS_CURE = r" cure | curative| curable | cured "
_TOPICS: tuple[tuple[str, str], ...] = (
    (
        r" painful| symptoms ",
        r"accompanied by pain|impaired quality of life|extreme debilitation",
    ),
    (r" diagnos", r"diagnosis and evaluation"),
    (r" guidelines?| eular | consensus ", r"guideline|EULAR|consensus"),
    (
        r" risk factors? ",
        r"strongly related|associated with calcinosis|contributes to risk|high risk",
    ),
    (r" prevent", r"\bprevent"),
    (
        _TOPICS_CURE,
        r"curative|often challenging|major unmet need|resolve spontaneously|"
        r"spontaneous resolution|minimize symptoms",
    ),
    (
        r" prognosis| untreated",
        r"die within|mortality|quality of life|resolve spontaneously|spontaneous resolution|"
        r"minimize symptoms",
    ),
)


def overview(d: Draft) -> None:
    text = d.query.norm
    statements = {s.id: s for s in d.kb.statements}

    def say(statement_id: str, section: str | None = None) -> None:
        s = statements.get(statement_id)
        if s is None:
            return
        line = (
            f"{SOURCE_NAMES[s.source][0].upper()}{SOURCE_NAMES[s.source][1:]}: "
            f'"{sentences(s.quote, 2)}" '
            f"{d.cite(Provenance(source=s.source, location=s.location, quote=s.quote))}."
        )
        if section:
            d.add(section, line)
        else:
            d.lead(line)

    if rx.search(r" (grading|oxford|cebm|graded|grading system)", text):
        say("review-methods-oxford-levels")
        say("review-abstract-limitations", "Research evidence")
        return
    if rx.search(r" (evidence|studies|overall)", text) and not d.query.subtype:
        say("review-abstract-30-studies-288-patients")
        say("review-discussion-only-two-rcts", "Research evidence")
        say("review-abstract-limitations", "Research evidence")
        say("nowaczyk-40-studies-136-patients", "Research evidence")
        return
    for question, passage in _TOPICS:
        if rx.search(question, text):
            # no passage calls anything a cure ("no formal curative effect of diltiazem")
            if question == _TOPICS_CURE and not passages_about(
                d, (), pattern=r"\bcure[sd]?\b|\bcurable\b"
            ):
                d.lead(
                    "No source reports a cure for calcinosis cutis; what they say of its treatment:"
                )
            found = by_words(d, passages_about(d, (), pattern=passage))
            if not lead_passages(d, found, 2, pattern=passage):
                not_answered(d)
            return
    five = statements.get("management-topic-five-subtypes")
    if (
        d.query.subtype
        and five is not None
        and d.query.subtype in five.quote
        and rx.search(r" (a )?(type|subtype|kind|form) of calcinosis", text)
    ):
        d.lead("Yes.")  # "is calciphylaxis a type of calcinosis cutis?": the topic's five
        say("management-topic-five-subtypes")
    if d.query.subtype and not rx.search(r" (subtypes?|types|kinds|forms) ", text):
        subtype_management(d, count=3)  # "what is calciphylaxis?": that subtype's passages
        say("management-topic-five-subtypes", "Guidelines and expert recommendations")
        return
    if rx.search(r" (most|more) (common|frequent|often)", text):
        say("answers-topic-dystrophic-most-common")  # "which subtype is most common?"
    say("management-topic-five-subtypes")
    say("answers-review-definition", "Guidelines and expert recommendations")
    for statement_id in (
        "answers-topic-dystrophic-most-common",
        "management-topic-metastatic",
        "management-topic-idiopathic",
        "management-topic-iatrogenic-observation",
        "management-topic-calciphylaxis",
        "management-topic-initial-sts-2c",
    ):
        say(statement_id, "Guidelines and expert recommendations")
