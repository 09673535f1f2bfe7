"""One composer per intent: what a question of that kind is answered with.

Each composer reads the :class:`~calcinosis.answers.query.Query` through its
:class:`~calcinosis.answers.draft.Draft` and writes the lead and the sections from
the records that answer *that* intent. When none does, it says so
(:data:`~calcinosis.answers.draft.NOT_ANSWERED`) and shows the nearest passages; it
never falls back on another intent's template. The treatment intents are here; the
topic intents are in ``topics.py``, the plans in ``plans.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from calcinosis import patterns as rx
from calcinosis.answers.blocks import (
    arms_line,
    disagreements,
    dose_lines,
    findings,
    firing_rules,
    goes_on,
    grade_line,
    passages_about,
    safety_lines,
    size_line,
    study_lines,
    table4_line,
)
from calcinosis.answers.cues import WHEN_CUES, Intent
from calcinosis.answers.draft import SOURCE_NAMES, Draft, sentence_with, sentences
from calcinosis.answers.passages import arm_provenance
from calcinosis.answers.plans import first_line, instead, what_not_to_use
from calcinosis.answers.selection import (
    by_words,
    groups,
    lead_passages,
    not_answered,
    subtype_management,
    subtype_passages,
)
from calcinosis.answers.topics import (
    best_evidence,
    by_level_or_grade,
    epidemiology,
    mechanism,
    overview,
    relapse,
    study_size,
    time_to_response,
)
from calcinosis.answers.verdicts import against_it, complete_line, verdict
from calcinosis.answers.vocabulary import CLASSES, MEMBER_OF_CLASS
from calcinosis.evidence.knowledge_base import responders, study_label
from calcinosis.evidence.names import DISEASE_RECORDS, EVIDENCE_DISEASE_WORDS
from calcinosis.patterns import compiled

__all__ = ["COMPOSERS", "groups", "lower_name"]


_COMPARATIVE = r"preferred over|rather than|compared with|in contrast|versus|than|instead"


def _treatment_sections(d: Draft, treatments: tuple[str, ...], label: str) -> None:
    """The sections every treatment answer carries."""
    subtype_management(d, "Guidelines and expert recommendations")
    for treatment in treatments[:3]:
        d.add("Guidelines and expert recommendations", table4_line(d, treatment))
        for passage in passages_about(
            d, [treatment], sources=("management-topic",), kinds=("recommendation",)
        )[:2]:
            d.add("Guidelines and expert recommendations", d.quote(passage, 1))
    d.add("Research evidence", arms_line(d, treatments, label))
    findings(d, treatments)
    for treatment in treatments[:3]:
        safety_lines(d, treatment)
        if treatment not in d.ruled_out:
            dose_lines(d, treatment)
    disagreements(d, treatments)


# ----------------------------------------------------------------- intents
def _matches_when(d: Draft) -> bool:
    return any(rx.search(cue, d.query.norm) for cue in WHEN_CUES)


_CHILD_WORDS = r"(children|child|kids?|pediatric|paediatric|juvenile|jdm)"
_BOTH_AGES = compiled(rf" adults?\b.*\b{_CHILD_WORDS}\b| {_CHILD_WORDS}\b.*\badults?\b")
_BOTH_DISEASES = compiled(
    r" (ssc|scleroderma|systemic sclerosis)\b.*\b(dm|jdm|dermatomyositis)\b"
    r"| (dm|jdm|dermatomyositis)\b.*\b(ssc|scleroderma|systemic sclerosis)\b"
)


_COMPARING = compiled(r" (vs|versus|than|compared|comparison|differ\w*|or only|rather than) ")


def _by_group(d: Draft) -> str | None:
    """ "Do children respond better than adults to rituximab?", "diltiazem in SSc vs DM":
    the review's arms of each group side by side, and that no study compares them."""
    if not d.query.treatments or not _COMPARING.search(d.query.norm):
        return None  # "in SSc/DM" asks about both together, not one against the other
    if _BOTH_AGES.search(d.query.norm):
        key, groups_ = "population", (("adult", "adults"), ("child", "children"))
    elif _BOTH_DISEASES.search(d.query.norm):
        key, groups_ = "disease", (("SSc", "SSc"), ("DM", "DM"))
    else:
        return None
    arms = d.kb.arms_for(d.query.treatments)
    parts = []
    for value, words in groups_:
        mine = [a for a in arms if getattr(a, key) == value]
        count = responders(mine, "any")
        if not count.k:
            parts.append(f"{words}: no study arm is of {words} alone")
            continue
        labels = ", ".join(
            f"{study_label(d.kb.studies[a.study])} {a.responders_any}/{a.n}"
            for a in mine
            if a.id in count.arms
        )
        parts.append(
            f"{words}: {count.x} of {count.n} responded ({round(100 * count.x / count.n)}%; "
            f"{labels}) {d.cite(*(arm_provenance(a) for a in mine if a.id in count.arms))}"
        )
    if all(": no study arm is of" in part for part in parts):
        return None  # no arm of either group alone: nothing to set side by side
    counted = {
        a.id
        for value, _ in groups_
        for a in arms
        if getattr(a, key) == value and a.id in responders([a], "any").arms
    }
    rest = sorted({study_label(d.kb.studies[a.study]) for a in arms if a.id not in counted})
    name = " or ".join(d.name(t).lower() for t in d.query.treatments[:2])
    return (
        f"No study compares them directly; the review's arms of {name}, by "
        f"{'age group' if key == 'population' else 'disease'} (any response; small, "
        f"different studies): "
        + "; ".join(parts)
        + (
            f"; not counted (groups mixed or not said, or no any-response count): {', '.join(rest)}"
            if rest
            else ""
        )
        + "."
    )


def _verdict_lead(d: Draft) -> str | None:
    """The yes/no first (and, after a no for this patient, what is offered instead); with
    no yes/no, the complete responses when that is what was asked."""
    said = verdict(d)
    d.lead(said)
    if against_it(d, said) and d.query.patient_specific:
        instead(d)
    if not said and _COMPLETE_ASKED.search(d.query.norm):
        d.lead(complete_line(d, d.query.treatments))  # "how many cleared completely?"
    if not said:
        d.lead(_by_group(d))
    return said


def _whom_to_observe(d: Draft) -> bool:
    """ "Which patients can be observed without treatment?": the management topic's
    recommendation for each subtype it gives one for (the subtype asked, if any)."""
    if d.query.treatments != ("observation",) or d.query.proposition is not None:
        return False
    found = [
        p
        for p in passages_about(d, ["observation"], kinds=("recommendation",))
        if d.query.subtype is None or d.query.subtype in p.applies_to.subtypes
    ]
    seen: set[tuple[str, ...]] = set()
    for passage in found:
        subtypes = tuple(passage.applies_to.subtypes)
        if subtypes in seen:
            continue
        seen.add(subtypes)
        d.lead(d.quote(passage, 2, about=f"about {' or '.join(subtypes)} calcinosis"))
    return bool(seen)


def _efficacy(d: Draft) -> None:
    """The grade and the review's arms for the first treatment asked, one line for each
    other, the figure of another source that covers most of what was asked."""
    if _whom_to_observe(d):
        return
    said = _verdict_lead(d)
    for words, ids in d.query.mentions:
        if MEMBER_OF_CLASS.get(words) in ids:
            name = lower_name(d.name(MEMBER_OF_CLASS[words]))
            d.lead(
                f"The sources do not answer this directly. They do not name {words}; they "
                f"speak only of its class, {name}."
            )
    recommended = d.query.proposition and d.query.proposition.predicate == "recommended"
    if _matches_when(d) or (recommended and not said):
        # "when should X be used?", "should I use X?": the sources' indications first
        for passage in passages_about(
            d, d.query.treatments, sources=("management-topic",), kinds=("recommendation",)
        )[:2]:
            d.lead(d.quote(passage, 2))
    for line in study_lines(d):
        d.lead(line)
    if d.query.subtype not in (None, "dystrophic"):
        subtype_management(d, count=1)
    _named_source_conclusions(d)
    _feature_passages(d)
    if d.ruled_out and d.query.subtype not in (None, "dystrophic"):
        # ruled out for this subtype: its evidence from dystrophic calcinosis is not put
        # forward as if it were about this patient
        d.add(
            "Research evidence",
            "The evidence on it in the sources is about dystrophic calcinosis cutis; ask "
            "about it without the subtype to see it.",
        )
        return
    d.lead(size_line(d, d.query.treatments))  # the size asked: its figures first
    for index, (label, treatments) in enumerate(groups(d, 3)):
        if index == 0 and not said:
            _no_direct_arm(d, treatments, label)
        _efficacy_of(d, index, label, treatments, lead=not said)
    if not said:
        figures = [
            p
            for p in passages_about(
                d,
                d.query.treatments,
                sources=("management-topic", "nowaczyk-2021"),
                kinds=("finding", "summary"),
            )
            if rx.search(r"\d+ (of \d+|percent|%)|\d+%|\d+/\d+", p.text) and d.fits(p.applies_to)
        ]
        if figures:
            d.lead(d.quote(figures[0], 2))


_FEATURE_WORDS = {
    "inflammation": r"inflammation|inflamed",
    "ulceration": r"ulcerat",
    "small": r"small",
    "digital": r"digital|finger",
    "raynaud": r"raynaud",
    "widespread": r"number or extent|widespread",
}


def _feature_passages(d: Draft) -> None:
    """What the sources say about the treatment for the features the question gives
    ("ulcerated", "small", "on the fingers")."""
    if d.ruled_out & set(d.query.treatments):
        return  # after "No" for this patient, no passage in favour of it
    for feature, pattern in _FEATURE_WORDS.items():
        if not d.query.has(feature):
            continue
        found = [p for p in passages_about(d, d.query.treatments, pattern=pattern) if p.quoted][:1]
        for passage in found:
            if not d.shown(passage):
                # a caution ("digital surgery in SSc may lead to skin necrosis"), with what
                # the source offers instead when its next sentence does
                instead = goes_on(d, passage.provenance) if passage.direction == "against" else ""
                d.lead(d.quote(passage, 1, pattern=pattern) + instead)


def _named_source_conclusions(d: Draft) -> None:
    """ "What does the review conclude about X?": that source's conclusions first."""
    source = d.query.source
    if source is None:
        return
    sources = (source, f"{source}-abstract") if source == "traineau-2020" else (source,)
    found = passages_about(
        d, d.query.treatments, sources=sources, kinds=("conclusion", "recommendation")
    )
    for passage in found[:2]:
        d.lead(d.quote(passage, 2))


def _class_evidence(d: Draft, treatments: tuple[str, ...]) -> None:
    """A drug with no data of its own: what the sources say of its class, by name
    ("tumor necrosis factor inhibitors might be useful..." for adalimumab), labelled."""
    for treatment in treatments[:1]:
        for cls in d.kb.treatments[treatment].classes:
            term = CLASSES.get(cls)
            if term is None:
                continue
            words = "|".join(re.escape(w) for w in (*term.phrases, term.label.lower()))
            members = [m for m in d.kb.classes.get(cls, ()) if m != treatment]
            found = [
                p
                for p in passages_about(d, members, pattern=rf"\b({words}|tumou?r necrosis)")
                if p.direction != "against" and not d.shown(p)
            ]
            found.sort(key=lambda p: not d.fits(p.applies_to))
            for passage in found[:2]:
                d.lead(
                    d.quote(
                        passage,
                        2,
                        prefix=f"Of its class, {term.label}, "
                        + SOURCE_NAMES.get(passage.provenance.source, ""),
                    )
                )
            if found:
                return


def lower_name(name: str) -> str:
    """'JAK inhibitors' stays so; 'Colchicine' becomes 'colchicine'."""
    return " ".join(w if w[:2].isupper() else w.lower() for w in name.split())


_FIGURE = r"\d+ (of \d+|percent|%)|\d+%|\d+/\d+"


# A profile disease -> the review arms' code for it, and that code in words (diseases.yaml).
_ARM_DISEASE: dict[str, tuple[str, str]] = {
    d.id: (d.arms, EVIDENCE_DISEASE_WORDS[d.arms])
    for d in DISEASE_RECORDS.values()
    if d.arms is not None
}


def _no_arm_in_disease(d: Draft, treatments: tuple[str, ...], label: str) -> str | None:
    """ "Any evidence for bisphosphonates in scleroderma?": when no arm is of the disease
    asked about, that is the answer's first words, before any figure from another one."""
    asked = _ARM_DISEASE.get(d.query.disease or "")
    arms = d.kb.arms_for(treatments)
    if asked is None or not arms:
        return None
    code, words = asked
    if any(a.disease in (code, "DM/SSc") for a in arms):
        return None
    rows = [r for r in d.kb.table4 if set(r.treatments) & set(treatments)]
    if any(code in r.diseases for r in rows):
        return None  # Table 4 counts patients with the disease (IV STS: DM 4, SSc 3)
    known = sorted({a.disease for a in arms if a.disease != "unspecified"})
    if not known:
        return None  # no arm says its disease: nothing to set against the question
    unsaid = sorted(
        {study_label(d.kb.studies[a.study]) for a in arms if a.disease == "unspecified"}
    )
    parts = [f"{sum(a.disease == k for a in arms)} in {k}" for k in known]
    if unsaid:
        count = sum(a.disease == "unspecified" for a in arms)
        parts.append(f"{count} from {', '.join(unsaid)}, whose patients' disease is not said")
    opening = (
        f"No study arm in the review is known to be of {lower_name(label)} in {words}"
        if unsaid
        else f"No direct evidence: no study arm in the review is of {lower_name(label)} in {words}"
    )
    return (
        f"{opening}; of its {len(arms)} arms, {' and '.join(parts)}. What follows is "
        "extrapolated from them."
    )


_COMPLETE_ASKED = compiled(
    r" complete(ly)? (response|resolution|remission|clearance|resolv|clear)| (cleared|resolved)"
    r" completely"
)


def _no_direct_arm(d: Draft, treatments: tuple[str, ...], label: str) -> None:
    """That no arm is of the disease or the age group asked about, first."""
    by_disease = _no_arm_in_disease(d, treatments, label)
    by_age = _no_arm_in_population(d, treatments, label)
    if by_disease and by_age:  # one "what follows is extrapolated", not two
        by_disease = by_disease.removesuffix(" What follows is extrapolated from them.")
    d.lead(by_disease)
    d.lead(by_age)


_GROUP_WORDS = {"child": "children", "adult": "adults", "unspecified": "of unstated age"}


def _no_arm_in_population(d: Draft, treatments: tuple[str, ...], label: str) -> str | None:
    """ "Response rate to diltiazem in children?": when no arm is of the age group asked
    about, that comes first, before figures from the other one."""
    group = d.context.age_group
    arms = d.kb.arms_for(treatments)
    if group is None or not arms or any(a.population == group for a in arms):
        return None
    groups_ = [p for p in ("adult", "child", "unspecified") if any(a.population == p for a in arms)]
    where = {"adult": "in adults", "child": "in children", "unspecified": "of unstated age"}
    if len(groups_) == 1:
        counts = f"{'its arm is' if len(arms) == 1 else f'its {len(arms)} arms are all'} "
        counts += where[groups_[0]]
    else:
        counts = f"of its {len(arms)} arms, " + " and ".join(
            f"{sum(a.population == p for a in arms)} {where[p]}" for p in groups_
        )
    return (
        f"No study arm in the review is of {lower_name(label)} in {_GROUP_WORDS[group]}; "
        f"{counts}. What follows is extrapolated from them."
    )


def _efficacy_of(
    d: Draft, index: int, label: str, treatments: tuple[str, ...], *, lead: bool
) -> None:
    """One treatment (or class) of an efficacy answer: in the lead when it is the first
    and no yes/no was given, in the sections otherwise."""
    subtype = d.query.subtype
    for passage in subtype_passages(d, treatments)[:1]:
        if not d.shown(passage):
            # the sentence naming the subtype, and the next one when it opens the passage
            # ("...may be attempted; however, data are lacking. Topical STS has been suggested
            # based upon case reports...")
            opens = sentences(passage.text, 1) == sentence_with(passage.text, rf"\b{subtype}")
            pattern = None if opens else rf"\b{subtype}"
            d.lead(d.quote(passage, 2, pattern=pattern, about=f"it names {subtype}"))
    line = table4_line(d, treatments[0])
    arms = arms_line(d, treatments, label)
    if not line:
        found = by_words(d, passages_about(d, treatments))
        found = [p for p in found if p.kind not in ("regimen", "adverse-effect", "rule")]
        # what a source recommends or concludes about it before a line of an algorithm that
        # only names it ("Is the underlying ... disease adequately treated?")
        found.sort(key=lambda p: p.text.rstrip().endswith("?"))
        if found and not d.shown(found[0]) and lead:
            if d.fits(found[0].applies_to):
                d.lead(d.quote(found[0], 2))
            else:  # about another population: not the lead of this answer
                d.add("Guidelines and expert recommendations", d.quote(found[0], 2))
        if index == 0 and lead:
            d.lead(grade_line(d, treatments[0]))
        else:
            d.add("Guidelines and expert recommendations", grade_line(d, treatments[0]))
    if arms is None and not by_words(d, passages_about(d, treatments, pattern=_FIGURE)):
        d.lead(f"No source reports a response rate for {lower_name(label)} in calcinosis cutis.")
        if lead:
            _class_evidence(d, treatments)
    if not lead or (index and line and arms):
        _in_sections(d, treatments[0], line, arms)
    else:
        d.lead(line)
        d.lead(arms)
    _same_row(d, treatments, index)
    _treatment_sections(d, treatments, label)


def _in_sections(d: Draft, treatment: str, line: str | None, arms: str | None) -> None:
    """Table 4's line and the arms, after a yes/no led; with the level it is graded at when
    its row prints none (rituximab)."""
    if line and not _row_prints_level(d, treatment):
        d.add("Guidelines and expert recommendations", grade_line(d, treatment))
    d.add("Guidelines and expert recommendations", line)
    d.add("Research evidence", arms)


def _row_prints_level(d: Draft, treatment: str) -> bool:
    row = next((r for r in d.kb.table4 if treatment in r.treatments), None)
    return row is not None and bool(row.level_printed)


def _same_row(d: Draft, treatments: tuple[str, ...], index: int = 0) -> None:
    """The other treatments of the asked one's Table 4 row ("surgical excision and
    physical therapies": microdrilling's 12 of 15 digits), which its grade also covers."""
    row = next((r for r in d.kb.table4 if set(r.treatments) & set(treatments)), None)
    if row is None or index:
        return  # the first treatment asked only
    others = [t for t in row.treatments if t not in treatments and t not in d.query.treatments]
    for other in others:  # one line each: a row's treatments are never pooled together
        line = arms_line(d, (other,), d.name(other))
        if line:
            d.add(
                "Research evidence",
                f"In the same row of the review's Table 4 ({row.label}): {line}",
            )


_SETTINGS = compiled(
    r" (settings?|parameters?|shocks|pulses|impulses|energy|intensity|power"
    r"|wavelength|fluence|pressure) "
)
_SETTING_WORDS = compiled(r"shock|pulse|impulse|energy|mj\b|\bbar\b|watt|\bw\b|hz|fluence", re.I)


def _settings_unreported(d: Draft) -> None:
    """ "ESWL settings: how many shocks, what energy?": a procedure's schedule may be
    reported where its settings are not; say so rather than let the schedule pass for them."""
    if not _SETTINGS.search(d.query.norm):
        return
    for treatment in d.query.treatments[:3]:
        entry = d.kb.treatments[treatment]
        if entry.kind not in ("procedure", "physical"):
            continue
        if not any(_SETTING_WORDS.search(r.text) for r in entry.regimens):
            d.lead(
                f"The settings of {entry.name.lower()} (the number of shocks or pulses, the "
                "energy) are not reported in any source; they give only its schedule."
                if entry.regimens
                else f"The settings of {entry.name.lower()} are not reported in any source."
            )


def _unit_slip(d: Draft, treatment: str) -> str | None:
    """Where two sources print a regimen of ``treatment`` in different units and the audit
    calls one a unit error, the dose answer says so, without printing the wrong figure
    (blind round 21: colchicine's "< 1.2 mg/day" in the review is grams in the topic)."""
    regimens = [r.text for r in d.kb.treatments[treatment].regimens]
    for finding in d.kb.findings:
        if finding.kind != "unit" or not any(text in finding.other for text in regimens):
            continue
        given = SOURCE_NAMES.get(finding.other_at.source, "another source")
        return (
            f"This tool's audit flags a unit error: {finding.summary.rstrip('.')}; the figure "
            f"above is the one in {given}, and the other is not repeated here "
            f"{d.cite(finding.other_at)}."
        )
    return None


_NO_SET_REGIMEN = (
    r"precludes recommending a specific regimen|not standardi[sz]ed|"
    r"standardi[sz]ation and additional research are required"
)


def _dose(d: Draft) -> None:
    no = verdict(d)
    if against_it(d, no, definite=True) and d.query.patient_specific:
        d.lead(no)  # the patient must not get it: no doses under the "No."
        return
    _settings_unreported(d)
    # "a lack of substantive data precludes recommending a specific regimen": what every
    # dose below is read against comes before them (blind round 24, q24-15)
    caveats = [
        passage
        for passage in passages_about(d, d.query.treatments, pattern=_NO_SET_REGIMEN)
        if passage.kind != "regimen"
        and passage.provenance.source != "ai-answer-dm"  # never the AI answer first
        and d.fits(passage.applies_to)
    ]
    for passage in caveats[:1]:
        d.lead(d.quote(passage, 1, pattern=_NO_SET_REGIMEN))
    any_dose = withheld = False
    for _, treatments in groups(d, 3):
        for treatment in treatments[:3]:
            if treatment in d.ruled_out and d.query.patient_specific:
                # a rule says it harms this patient (minocycline under nine): the lead
                # says so, and no dose follows it
                withheld = True
                d.lead(
                    f"No dose of {d.name(treatment).lower()} is given here, as it is not "
                    f"advised for this patient; the doses the sources report are on its "
                    f"page (/treatments/{treatment})."
                )
                safety_lines(d, treatment)
                continue
            line = dose_lines(d, treatment)
            against = [r for r in firing_rules(d, treatment) if r.stance == "avoid"]
            if against:  # what the sources say against it comes before any dose
                rule = against[0]
                d.lead(
                    f'{d.name(treatment)}: "{sentences(rule.provenance.quote or rule.text, 1)}" '
                    f"{d.cite(rule.provenance)}."
                )
            if line:
                any_dose = True
                d.lead(line)
                d.add("Dose and regimen", _unit_slip(d, treatment))
            safety_lines(d, treatment)
    for passage in passages_about(
        d, d.query.treatments, pattern=r"regimen|not standardi|dosing|heterogeneous"
    )[:2]:
        if not d.shown(passage) and passage.kind not in ("regimen",):
            d.add("Dose and regimen", d.quote(passage, 1, pattern=r"regimen|standardi|dosing"))
    if not any_dose and not withheld:
        names = " or ".join(d.name(t).lower() for t in d.query.treatments[:3])
        procedures = all(
            d.kb.treatments[t].kind in ("procedure", "physical") for t in d.query.treatments[:3]
        )
        what = "the settings or schedule (shocks, energy, sessions)" if procedures else "a dose"
        not_answered(
            d,
            f"No source gives {what} for {names}."
            if names
            else "No treatment was recognised in the question, so no dose can be given.",
        )


def _adverse(d: Draft) -> None:
    d.lead(verdict(d))
    said = False
    for treatment in d.query.treatments[:3]:
        entry = d.kb.treatments[treatment]
        if entry.adverse_effects:
            said = True
            safety_lines(d, treatment)
            lines = d.sections.pop("Safety")
            d.lead(next(line for line in lines if line.startswith("Reported adverse")))
            for line in lines:
                d.add("Safety", line)
        else:
            reported = passages_about(d, [treatment], pattern=r"adverse|side effect")
            if reported:
                said = True
                d.lead(d.quote(reported[0], 1))
    if not said:
        not_answered(d)


def _contraindication(d: Draft) -> None:
    lead = verdict(d)
    d.lead(lead)
    if against_it(d, lead):
        instead(d)
    if not d.query.treatments:
        if d.query.conditions or d.query.patient_specific:
            # "SSc pt with AV block, what systemic options are safe?": the plan for this
            # patient, whose safety rules have already left out what the condition forbids
            first_line(d)
            return
        what_not_to_use(d)
        return
    for treatment in d.query.treatments[:3]:
        entry = d.kb.treatments[treatment]
        if lead is None:
            for rule in entry.contraindications:
                d.lead(
                    f'{entry.name}: "{sentences(rule.provenance.quote or rule.text, 1)}" '
                    f"{d.cite(rule.provenance)}."
                )
        safety_lines(d, treatment)
        if lead is None and not entry.contraindications:  # "is X safe?": what is reported
            d.lead(next((x for x in d.sections.get("Safety", []) if "adverse" in x), None))
        d.add("Guidelines and expert recommendations", table4_line(d, treatment))
    if not d.leads:
        not_answered(d)


def _level(d: Draft) -> None:
    if not d.query.treatments:
        if not (best_evidence(d) or by_level_or_grade(d)):
            overview(d)
        return
    if d.query.source == "management-topic":
        # "does the management topic grade colchicine?": whether it does, first
        for treatment in d.query.treatments[:2]:
            graded = [
                s
                for s in d.kb.statements
                if s.source == "management-topic" and s.grade and treatment in s.treatments
            ]
            if not graded:
                d.lead(
                    f"No: the management topic gives no grade for {d.name(treatment).lower()}; "
                    "the review's grade follows."
                )
    for label, treatments in groups(d, 3):
        d.lead(grade_line(d, treatments[0]))
        line = table4_line(d, treatments[0])
        if line:
            d.lead(line)
        d.add("Research evidence", arms_line(d, treatments, label))
    designs = passages_about(d, d.query.treatments, pattern=r"randomi[sz]ed|placebo|level")
    for passage in designs[:2]:
        d.add("Research evidence", d.quote(passage, 1))
    disagreements(d, d.query.treatments)


def _comparison(d: Draft) -> None:
    pairs = groups(d, 4)
    named = [set(t) for _, t in pairs]
    comparative = []
    for passage in passages_about(d, d.query.treatments, pattern=_COMPARATIVE):
        covered = [
            bool(set(passage.treatments) & ids)
            or any(
                d.kb.treatments[t].name.lower() in passage.text.lower()
                or (d.kb.treatments[t].route or "~") in passage.text.lower()
                for t in ids
            )
            for ids in named
        ]
        if sum(covered) >= 2:
            comparative.append(passage)
    names = " and ".join(label.lower() for label, _ in pairs)
    if comparative and any(p.kind == "finding" for p in comparative):
        lead_passages(d, comparative, 1)
    elif comparative:
        # an expert preference is not a comparison: say that no study made one first
        d.lead(
            f"No study compares {names} head to head; the figures below come from "
            "different patients and cannot rank them. The sources' stated preference:"
        )
        lead_passages(d, comparative, 1)
    else:
        d.lead(f"No source compares {names} directly; what each has, side by side:")
    for label, treatments in pairs:
        line = table4_line(d, treatments[0]) or grade_line(d, treatments[0])
        arms = arms_line(d, treatments, label)
        if line not in d.leads:  # one Table 4 row for both: their arms tell them apart
            d.lead(line)
        d.lead(arms)
        for treatment in treatments[:2]:
            safety_lines(d, treatment)
            if treatment not in d.ruled_out:
                dose_lines(d, treatment)  # what choosing one would mean: its usual regimen
    d.lead(size_line(d, d.query.treatments))
    disagreements(d, d.query.treatments)


def _patient(d: Draft) -> None:
    if d.query.treatments:
        _efficacy(d)
    else:
        first_line(d)


def _unknown(d: Draft) -> None:
    if d.query.studies:
        # "what did Fredi 2015 find?": that study's arms, as the review counts them
        lines = study_lines(d)
        if lines:
            d.lead(
                "What the review reports of "
                + " and ".join(study_label(d.kb.studies[s]) for s in d.query.studies)
                + ":"
            )
            for line in lines:
                d.lead(line)
            return
    not_answered(d)


COMPOSERS: dict[Intent, Callable[[Draft], None]] = {
    "efficacy": _efficacy,
    "dose": _dose,
    "adverse-effects": _adverse,
    "contraindication": _contraindication,
    "level-or-grade": _level,
    "comparison": _comparison,
    "time-to-response": time_to_response,
    "relapse": relapse,
    "epidemiology": epidemiology,
    "mechanism": mechanism,
    "what-not-to-use": what_not_to_use,
    "first-line": first_line,
    "study-size": study_size,
    "overview": overview,
    "patient-specific": _patient,
    "unknown": _unknown,
}
