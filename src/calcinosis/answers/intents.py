"""One composer per intent: what a question of that kind is answered with.

Each composer reads the :class:`~calcinosis.answers.query.Query` through its
:class:`~calcinosis.answers.draft.Draft` and writes the lead and the sections from
the records that answer *that* intent. When none does, it says so
(:data:`~calcinosis.answers.draft.NOT_ANSWERED`) and shows the nearest passages; it
never falls back on another intent's template.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from calcinosis.answers.blocks import (
    arm_provenance,
    arms_line,
    disagreements,
    dose_lines,
    findings,
    firing_rules,
    grade_line,
    nearest,
    passages_about,
    roman,
    rule_applies,
    safety_lines,
    size_line,
    table4_line,
)
from calcinosis.answers.draft import NOT_ANSWERED, SOURCE_NAMES, Draft, sentences
from calcinosis.answers.passages import Passage
from calcinosis.answers.understand import normalise
from calcinosis.answers.verdicts import verdict
from calcinosis.answers.vocabulary import CLASSES, RULE_SCOPES, WHEN_CUES, Intent
from calcinosis.engine import recommend_document
from calcinosis.evidence import study_label
from calcinosis.models import Contraindication, Provenance, normalise_level
from calcinosis.patient import parse_patient

__all__ = ["COMPOSERS", "groups"]

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
_RCT = re.compile(r" (trial|rct|randomi[sz]ed|placebo)")
_COMMON = frozenset({"calci", "cutis", "patie", "treat", "what", "does", "with", "that", "there"})
_COMPARATIVE = r"preferred over|rather than|compared with|in contrast|versus|than|instead"
_AGAINST_WORDS = r"should not|not be recommended|preclude|ineffective|scrutini"


# ---------------------------------------------------------------- helpers
def groups(d: Draft, limit: int = 4) -> list[tuple[str, tuple[str, ...]]]:
    """(label, treatments) per treatment named; a class word the review pools as a
    class (e.g. bisphosphonates) stays one group."""
    out: list[tuple[str, tuple[str, ...]]] = []
    poolable = set(d.kb.pool_choices())
    for words, ids in d.query.mentions:
        cls = next(
            (c for c, t in CLASSES.items() if words in {normalise(p).strip() for p in t.phrases}),
            None,
        )
        if cls and len(ids) > 1 and not CLASSES[cls].members and cls in poolable:
            out.append((CLASSES[cls].label, ids))
        else:
            out += [(d.name(t), (t,)) for t in ids]
    unique = list(dict.fromkeys(out))
    return unique[:limit]


def _lead_passages(
    d: Draft, found: list[Passage], count: int = 2, pattern: str | None = None
) -> bool:
    """Lead with the passages that fit the question best; with ``pattern``, the
    sentence of each that carries what was asked."""
    fitting = [p for p in found if d.fits(p.applies_to)] + [
        p for p in found if not d.fits(p.applies_to)
    ]
    for passage in fitting[:count]:
        d.lead(d.quote(passage, 2, pattern=pattern))
    return bool(fitting)


def _not_answered(d: Draft, why: str = "") -> None:
    d.lead(f"{NOT_ANSWERED}{f' {why}' if why else ''}")
    if not nearest(d, "Nearest passages"):
        d.add(
            "Nearest passages",
            "Nothing in the evidence base comes close; it covers the treatment of "
            "calcinosis cutis in the five sources only.",
        )


def _subtype_passages(d: Draft, treatments: tuple[str, ...]) -> list[Passage]:
    subtype = d.query.subtype
    if subtype is None or subtype == "dystrophic":
        return []
    return passages_about(d, treatments, pattern=rf"\b{subtype}")


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
        dose_lines(d, treatment)
    disagreements(d, treatments)


# ----------------------------------------------------------------- intents
def _matches_when(d: Draft) -> bool:
    return any(re.search(cue, d.query.norm) for cue in WHEN_CUES)


def _efficacy(d: Draft) -> None:
    """The grade and the review's arms for the first treatment asked, one line for each
    other, the figure of another source that covers most of what was asked."""
    said = verdict(d)
    d.lead(said)
    if _matches_when(d):  # "when should X be used?": the sources' indications first
        for passage in passages_about(
            d, d.query.treatments, sources=("management-topic",), kinds=("recommendation",)
        )[:2]:
            d.lead(d.quote(passage, 2))
    _named_source_conclusions(d)
    _feature_passages(d)
    for index, (label, treatments) in enumerate(groups(d, 3)):
        _efficacy_of(d, index, label, treatments, lead=not said)
    d.lead(size_line(d, d.query.treatments))
    if not said:
        figures = [
            p
            for p in passages_about(
                d,
                d.query.treatments,
                sources=("management-topic", "nowaczyk-2021"),
                kinds=("finding", "summary"),
            )
            if re.search(r"\d+ (of \d+|percent|%)|\d+%|\d+/\d+", p.text) and d.fits(p.applies_to)
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
    for feature, pattern in _FEATURE_WORDS.items():
        if not d.query.has(feature):
            continue
        found = [p for p in passages_about(d, d.query.treatments, pattern=pattern) if p.quoted][:1]
        for passage in found:
            if not d.shown(passage):
                d.lead(d.quote(passage, 1, pattern=pattern))


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


def _efficacy_of(
    d: Draft, index: int, label: str, treatments: tuple[str, ...], *, lead: bool
) -> None:
    """One treatment (or class) of an efficacy answer: in the lead when it is the first
    and no yes/no was given, in the sections otherwise."""
    subtype = d.query.subtype
    for passage in _subtype_passages(d, treatments)[:1]:
        if not d.shown(passage):
            d.lead(d.quote(passage, 2, pattern=rf"\b{subtype}", about=f"it names {subtype}"))
    line = table4_line(d, treatments[0])
    arms = arms_line(d, treatments, label)
    if not line:
        found = _by_words(d, passages_about(d, treatments))
        found = [p for p in found if p.kind not in ("regimen", "adverse-effect", "rule")]
        if found and not d.shown(found[0]) and lead:
            d.lead(d.quote(found[0], 2))
        if index == 0 and lead:
            d.lead(grade_line(d, treatments[0]))
        else:
            d.add("Guidelines and expert recommendations", grade_line(d, treatments[0]))
    if not lead or (index and line and arms):
        d.add("Guidelines and expert recommendations", line)
        d.add("Research evidence", arms)
    else:
        d.lead(line)
        d.lead(arms)
    _treatment_sections(d, treatments, label)


def _dose(d: Draft) -> None:
    no = verdict(d)
    if no and no.startswith("No.") and d.query.patient_specific:
        d.lead(no)  # the patient must not get it: no doses under the "No."
        return
    any_dose = False
    for _, treatments in groups(d, 3):
        for treatment in treatments[:3]:
            line = dose_lines(d, treatment)
            if line:
                any_dose = True
                d.lead(line)
            against = [r for r in firing_rules(d, treatment) if r.stance == "avoid"]
            if against:
                rule = against[0]
                d.lead(
                    f'{d.name(treatment)}: "{sentences(rule.provenance.quote or rule.text, 1)}" '
                    f"{d.cite(rule.provenance)}."
                )
            safety_lines(d, treatment)
    for passage in passages_about(
        d, d.query.treatments, pattern=r"regimen|not standardi|dosing|heterogeneous"
    )[:2]:
        if not d.shown(passage) and passage.kind not in ("regimen",):
            d.add("Dose and regimen", d.quote(passage, 1, pattern=r"regimen|standardi|dosing"))
    if not any_dose:
        _not_answered(
            d,
            "No source gives a dose for "
            + " or ".join(d.name(t).lower() for t in d.query.treatments[:3])
            + ".",
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
        _not_answered(d)


def _contraindication(d: Draft) -> None:
    lead = verdict(d)
    d.lead(lead)
    if not d.query.treatments:
        _what_not_to_use(d)
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
        _not_answered(d)


_LEVEL_ASKED = re.compile(r" level (i|ii|iii|iv|v|ia|ib|iia|iib|[1-5] ?[abc]?) ")
_GRADE_ASKED = re.compile(r" graded? ([abcd]|[12] ?[abc]) ")


def _by_level_or_grade(d: Draft) -> bool:
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


def _level(d: Draft) -> None:
    if not d.query.treatments:
        if not _by_level_or_grade(d):
            _overview(d)
        return
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
    if comparative:
        _lead_passages(d, comparative, 1)
    else:
        names = " and ".join(label.lower() for label, _ in pairs)
        d.lead(f"No source compares {names} directly; what each has, side by side:")
    for label, treatments in pairs:
        line = table4_line(d, treatments[0]) or grade_line(d, treatments[0])
        arms = arms_line(d, treatments, label)
        if line not in d.leads:  # one Table 4 row for both: their arms tell them apart
            d.lead(line)
        d.lead(arms)
        for treatment in treatments[:2]:
            safety_lines(d, treatment)
    d.lead(size_line(d, d.query.treatments))
    disagreements(d, d.query.treatments)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower())} - _COMMON


def _by_words(d: Draft, found: list[Passage]) -> list[Passage]:
    """Passages that fit first, then those sharing most words (stems) with the question."""
    asked = _stems(d.query.norm)
    return sorted(found, key=lambda p: (not d.fits(p.applies_to), -len(asked & _stems(p.text))))


def _time(d: Draft) -> None:
    found = [p for p in passages_about(d, d.query.treatments, pattern=_TIME) if p.kind != "regimen"]
    if d.query.treatments:
        found = [p for p in found if set(p.treatments) & set(d.query.treatments)]
    elif d.query.subtype:
        found = [p for p in found if d.fits(p.applies_to) and p.applies_to.subtypes]
    else:
        found = _by_words(d, found)
    if not _lead_passages(d, found, pattern=_TIME):
        _not_answered(d)


def _relapse(d: Draft) -> None:
    found = passages_about(d, d.query.treatments, pattern=_RELAPSE)
    arms = [a for a in d.kb.arms_for(d.query.treatments) if a.relapses is not None]
    if not _lead_passages(d, found, 3, pattern=_RELAPSE) and not arms:
        _not_answered(d)
    for arm in arms[:3]:
        relapses = arm.relapses
        if relapses is not None:
            d.add(
                "Research evidence",
                f"{d.name(arm.treatment)}, {arm.study}: {relapses.text} "
                f"{d.cite(arm_provenance(arm))}.",
            )


def _epidemiology(d: Draft) -> None:
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
    if not _lead_passages(d, found, 2, pattern=_EPIDEMIOLOGY):
        _not_answered(d)
    for passage in found[2:4]:
        d.add("Research evidence", d.quote(passage, 1))


def _mechanism(d: Draft) -> None:
    lead = verdict(d)
    d.lead(lead)
    if lead:
        return
    if d.query.treatments:
        first = d.query.mentions[0][1] if d.query.mentions else d.query.treatments
        found = passages_about(d, first, kinds=("mechanism",))
        found = found or passages_about(d, d.query.treatments, pattern=_MECHANISM)
        pattern = None
    else:
        found = _by_words(d, passages_about(d, (), pattern=_CAUSES))
        pattern = _CAUSES
    if not _lead_passages(d, list(dict.fromkeys(found)), 2, pattern=pattern):
        _not_answered(d)


@dataclass
class _Avoid:
    """The 'should not' rules of one treatment, or of a class sharing one rule."""

    family: str
    names: list[str] = field(default_factory=list)
    owners: list[tuple[str, Contraindication]] = field(default_factory=list)


def _avoid_groups(d: Draft) -> list[_Avoid]:
    groups_: dict[tuple[str, ...], _Avoid] = {}
    for entry in d.kb.treatments.values():
        if d.query.treatments and entry.id not in d.query.treatments:
            continue
        family = sorted(
            set(entry.classes) & set(CLASSES), key=lambda c: len(d.kb.classes.get(c, ()))
        )[:1]
        for rule in entry.contraindications:
            if rule.stance != "avoid":
                continue
            key = (rule.rule, *family) if family else (rule.rule, entry.id)
            group = groups_.setdefault(key, _Avoid(family[0] if family else ""))
            group.names.append(entry.name)
            group.owners.append((entry.id, rule))
    return list(groups_.values())


def _avoid_line(d: Draft, group: _Avoid) -> str:
    rules = [rule for _, rule in group.owners]
    who = " and ".join(dict.fromkeys(group.names))
    if group.family and len(set(group.names)) > 1:
        who = f"{CLASSES[group.family].label} ({who.lower()})"
    rule = rules[0]
    scope = RULE_SCOPES.get(rule.rule, "")
    if rule.rule == "dystrophic-calcinosis" and d.query.subtype not in (None, "dystrophic"):
        scope += f"; about dystrophic calcinosis, not {d.query.subtype}"
    first_by_source = {r.provenance.source: r for r in reversed(rules)}
    quotes = "; ".join(
        f'{SOURCE_NAMES[r.provenance.source]}, "{sentences(r.provenance.quote or r.text, 1)}"'
        f" {d.cite(r.provenance)}"
        for r in sorted(first_by_source.values(), key=rules.index)
    )
    return f"{who} ({scope}): {quotes}"


def _what_not_to_use(d: Draft) -> None:
    """Everything a source says not to use, with whom it is about; risks apart. "Why
    not X?" leads with the sources' reasons."""
    if " why " in d.query.norm and d.query.treatments:
        reasons = [
            p
            for p in passages_about(d, d.query.treatments, kinds=("conclusion", "finding"))
            if p.direction == "against" and p.provenance.source != "ai-answer-dm"
        ]
        for passage in reasons[:2]:
            d.lead(d.quote(passage, 3))
    against: list[tuple[int, str]] = []
    risks: list[str] = []
    for group in _avoid_groups(d):
        rule = group.owners[0][1]
        quote = sentences(rule.provenance.quote or rule.text, 1)
        if not re.search(_AGAINST_WORDS, quote, re.IGNORECASE):
            risks.append(_avoid_line(d, group))
            continue
        applies = any(rule_applies(d, t, r) for t, r in group.owners) or (
            d.query.population == "child" and rule.rule.startswith("age-")
        )
        rank = 0 if applies else 1 + (rule.reason != "ineffective")
        against.append((rank, _avoid_line(d, group)))
    if not against:
        _not_answered(d)
        return
    d.lead(
        "The sources advise against these: "
        + "; ".join(line for _, line in sorted(against, key=lambda item: item[0]))
        + "."
    )
    for line in dict.fromkeys(risks):
        d.add("Safety", f"A risk stated by the sources, not a prohibition: {line}.")
    for entry in d.kb.treatments.values():
        if d.query.treatments and entry.id not in d.query.treatments:
            continue
        for rule in entry.contraindications:
            if rule.stance == "caution":
                d.add(
                    "Safety",
                    f"A caution, {entry.name.lower()}: "
                    f'"{sentences(rule.provenance.quote or rule.text, 1)}" '
                    f"{d.cite(rule.provenance)}.",
                )


def _profile(d: Draft) -> tuple[dict[str, Any], list[str]]:
    """The question as a patient for the engine, and what had to be assumed."""
    q = d.query
    assumed = []
    age = q.age_years
    if age is None:
        age = 10 if q.population == "child" else 40
        assumed.append(
            "a child (age not given)" if q.population == "child" else "an adult (age not given)"
        )
    if q.subtype is None:
        assumed.append("dystrophic calcinosis (no subtype named)")
    profile: dict[str, Any] = {
        "age_years": age,
        "subtype": q.subtype or "dystrophic",
        "symptomatic": not q.has("asymptomatic"),
        "conditions": list(q.conditions),
        "medications": [m for m in q.medications if m in d.kb.therapy_ids()],
        "prior_treatments": [
            {"treatment": t, "response": r} for t, r in q.prior if t in d.kb.therapy_ids()
        ],
    }
    local = {"sodium-thiosulfate-topical", "sodium-thiosulfate-intralesional"}
    if local & set(q.unavailable):
        profile["local_therapy_accessible"] = False
    if q.has("active"):
        profile["disease_active"] = True
    elif q.has("controlled"):
        profile["disease_active"] = False
    if q.has("asymptomatic"):
        profile |= {
            "progressive": False,
            "internal_involvement": False,
            "patient_concerned": False,
        }
        assumed.append("no internal involvement and little concern to the patient")
    for feature in ("inflammation", "ulceration", "raynaud"):
        if q.has(feature):
            profile[feature] = True
    lesions = _lesions(d)
    if lesions:
        profile["lesions"] = lesions
    if q.disease:
        profile["underlying_disease"] = q.disease
    return profile, assumed


def _lesions(d: Draft) -> dict[str, Any]:
    """What the question says about the lesions, as the profile's ``lesions``."""
    q = d.query
    lesions: dict[str, Any] = {}
    if q.has("digital"):
        lesions["digital"] = True
    if q.has("widespread"):
        lesions["distribution"] = "widespread"
    if q.has("single"):
        lesions |= {"count": 1, "distribution": "localized"}
    if q.lesion_cm is not None:
        lesions["largest_cm"] = q.lesion_cm
    return lesions


def subtype_management(d: Draft, section: str | None = None, count: int = 3) -> bool:
    """The management topic's own words for a subtype other than dystrophic: the direct
    answer for that subtype (lead), or a section of the answer."""
    subtype = d.query.subtype
    if not subtype or subtype == "dystrophic":
        return False
    found = [
        p
        for p in passages_about(d, (), sources=("management-topic",))
        if p.applies_to.subtypes == (subtype,) and p.kind in ("recommendation", "summary")
    ]
    for passage in found[:count]:
        if d.shown(passage):
            continue
        line = d.quote(passage, 2, about="")
        if section:
            d.add(section, line)
        else:
            d.lead(line)
    return bool(found)


def _first_line(d: Draft) -> None:
    profile, assumed = _profile(d)
    plan = recommend_document(parse_patient(profile, d.kb.therapy_ids()), d.kb)
    by_n = {c["n"]: c for c in plan["citations"]}

    def cited(numbers: Any) -> str:
        return d.cite(
            *(
                Provenance(
                    source=by_n[n]["source"], location=by_n[n]["location"], quote=by_n[n]["quote"]
                )
                for n in numbers
                if n in by_n
            )
        )

    options = plan["options"]
    first = [o for o in options if o["stance"] == "first-line"]
    underlying = [o for o in first if o["id"] == "treat-underlying-disease"]
    first = [o for o in first if o["id"] != "treat-underlying-disease"] or first
    d.lead(verdict(d))
    subtype_management(d, count=2)
    for option in underlying:
        d.lead(
            f"First, the underlying disease: {option['rationale']} {cited(option['citations'])}."
        )
    names = " or ".join(o["name"].lower() for o in first)
    grades = "; ".join(
        dict.fromkeys(str(o.get("grade_label") or f"grade {o['grade']}") for o in first)
    )
    d.lead(
        f"First-line for {_context_words(d)}, as the management topic's algorithm gives it: "
        f"{names} ({grades}) {cited(n for o in first for n in o['citations'])}."
    )
    for option in [o for o in first if o.get("extrapolated")][:1]:
        why = "; ".join(option.get("extrapolation") or [])
        text = (option.get("applies_to") or {}).get("text", "another population")
        d.lead(f"That grade is extrapolated from {text}: {why}.")
    if assumed:
        d.add(
            "Guidelines and expert recommendations",
            "This answer assumes " + " and ".join(assumed) + ".",
        )
    for note in (plan.get("assumptions") or [])[:3]:
        d.add("Guidelines and expert recommendations", f"{note.rstrip('.')}.")
    for option in first:
        d.add(
            "Guidelines and expert recommendations",
            f"{option['name']}: {option['rationale']} {cited(option['citations'])}.",
        )
    alternatives = [o for o in options if o["stance"] in ("alternative", "adjunct")][:5]
    if alternatives:
        d.add(
            "Guidelines and expert recommendations",
            "Alternatives: "
            + "; ".join(
                f"{o['name']} ({o.get('grade_label') or 'grade ' + str(o['grade'])}) "
                f"{cited(o['citations'])}"
                for o in alternatives
            )
            + ".",
        )
    avoid = [o for o in options if o["stance"] == "avoid"]
    if avoid:
        d.add(
            "Safety",
            "Not to be used here: "
            + "; ".join(f"{o['name']} {cited(o['citations'])}" for o in avoid)
            + ".",
        )
    for option in first[:2]:
        for line in (option.get("evidence") or [])[:3]:
            number = line.get("citation")
            label = ""
            if line.get("extrapolated"):
                label = " (extrapolated: " + "; ".join(line.get("extrapolation") or []) + ")"
            d.add(
                "Research evidence",
                f"{line['text']}{label} {cited([number] if number else [])}.",
            )
    shown = {o["id"] for o in first}
    for item in plan["disagreements"]:
        about = _statements_cited(d, [by_n[n] for n in item["citations"] if n in by_n])
        if about & shown:  # only a disagreement about the options given
            d.add("Where the sources disagree", f"{item['summary']} {cited(item['citations'])}.")


def _statements_cited(d: Draft, citations: list[dict[str, Any]]) -> set[str]:
    """The treatments of the statements whose sentences a plan's citations quote."""
    quoted = {(c["source"], c["quote"]) for c in citations}
    return {t for s in d.kb.statements if (s.source, s.quote) in quoted for t in s.treatments}


def _context_words(d: Draft) -> str:
    q = d.query
    subtype = q.subtype or "dystrophic"
    if subtype == "calciphylaxis":
        return "calciphylaxis"
    text = f"{subtype} calcinosis cutis"
    if q.disease == "other":
        return f"{text} without an autoimmune connective tissue disease"
    if q.disease:
        text += f" in {q.disease.replace('-', ' ')}"
    if q.population == "child" and q.disease != "juvenile-dermatomyositis":
        text += " in a child"
    return text


def _study_size(d: Draft) -> None:
    kb = d.kb
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
                f"No: the review has no randomized controlled trial of {names}; its "
                f"{len({a.study for a in arms})} studies of it are {' and '.join(designs)} "
                f"{d.cite(*(arm_provenance(a) for a in arms))}."
            )
        arms = trials or arms
    group = d.context.age_group
    if group is not None:
        arms = [a for a in arms if a.population == group] or arms
    by_study: dict[str, list[Any]] = {}
    for arm in arms:
        by_study.setdefault(arm.study, []).append(arm)
    parts = []
    for study_id, study_arms in by_study.items():
        study = kb.studies[study_id]
        n = sum(
            a.patients if a.unit != "patients" and a.patients else (a.n or 0) for a in study_arms
        )
        who = "; ".join(f"{a.n} {_who(a)}" for a in study_arms)
        design = "RCT" if study.design == "rct" else study.design
        parts.append(
            f"{study_label(study)} ({design}): {n} patients ({who}){_responders(study_arms)} "
            f"{d.cite(*(arm_provenance(a) for a in study_arms))}"
        )
    trial = _RCT.search(d.query.norm) and any(kb.studies[s].design == "rct" for s in by_study)
    what = "The randomized controlled trial" if trial else "The studies"
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
        _not_answered(d)


def _responders(arms: list[Any]) -> str:
    """', 27 responded (22 completely)' for a study's arms, when they report it."""
    counted = [a for a in arms if a.responders_any is not None]
    if not counted:
        return ""
    text = f", {sum(a.responders_any for a in counted)} responded"
    complete = [a for a in counted if a.responders_complete is not None]
    if complete:
        text += f" ({sum(a.responders_complete for a in complete)} completely)"
    return text


def _who(arm: Any) -> str:
    who = {"adult": "adults", "child": "children", "unspecified": "of unstated age"}
    disease = {"DM/SSc": "DM or SSc", "unspecified": "DM or SSc"}.get(arm.disease, arm.disease)
    unit = " digits" if arm.unit == "digits" else ""
    return f"{who[arm.population]}{unit} with {disease}".replace(
        "adults digits", "digits in adults"
    )


def _overview(d: Draft) -> None:
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

    if re.search(r" (grading|oxford|cebm|graded|grading system)", text):
        say("review-methods-oxford-levels")
        say("review-abstract-limitations", "Research evidence")
        return
    if re.search(r" (evidence|studies|overall)", text) and not d.query.subtype:
        say("review-abstract-30-studies-288-patients")
        say("review-discussion-only-two-rcts", "Research evidence")
        say("review-abstract-limitations", "Research evidence")
        say("nowaczyk-40-studies-136-patients", "Research evidence")
        return
    if d.query.subtype and not re.search(r" (subtypes?|types|kinds|forms) ", text):
        subtype_management(d, count=3)  # "what is calciphylaxis?": that subtype's passages
        say("management-topic-five-subtypes", "Guidelines and expert recommendations")
        return
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


def _patient(d: Draft) -> None:
    if d.query.treatments:
        _efficacy(d)
    else:
        _first_line(d)


def _unknown(d: Draft) -> None:
    _not_answered(d)


COMPOSERS: dict[Intent, Callable[[Draft], None]] = {
    "efficacy": _efficacy,
    "dose": _dose,
    "adverse-effects": _adverse,
    "contraindication": _contraindication,
    "level-or-grade": _level,
    "comparison": _comparison,
    "time-to-response": _time,
    "relapse": _relapse,
    "epidemiology": _epidemiology,
    "mechanism": _mechanism,
    "what-not-to-use": _what_not_to_use,
    "first-line": _first_line,
    "study-size": _study_size,
    "overview": _overview,
    "patient-specific": _patient,
    "unknown": _unknown,
}
