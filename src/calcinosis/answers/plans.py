"""Questions about what to do: the first-line plan (the engine's, for the question as a
patient profile) and what the sources say not to use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from calcinosis import patterns as rx
from calcinosis.answers.blocks import (
    dose_lines,
    passages_about,
    rule_applies,
)
from calcinosis.answers.draft import SOURCE_NAMES, Draft, sentences
from calcinosis.answers.passages import passages
from calcinosis.answers.selection import not_answered, subtype_management
from calcinosis.answers.verdicts import verdict
from calcinosis.answers.vocabulary import CLASSES, RULE_SCOPES
from calcinosis.decision.documents import OfferedOption, OptionDocument, PlanDocument
from calcinosis.decision.engine import USUAL, recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.evidence.derived import derived
from calcinosis.evidence.documents import CitationDocument
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.schemas import Contraindication, Provenance

__all__ = ["first_line", "instead", "reading_lead", "what_not_to_use", "withheld"]


# "should be carefully scrutinized" (TNF inhibitors in SSc) is a risk to weigh, not advice
# against: said with the risks (blind rounds 21 and 22), though the plans avoid it
_AGAINST_WORDS = r"should not|not be recommended|preclude|ineffective"


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


def what_not_to_use(d: Draft) -> None:
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
        if not rx.search(_AGAINST_WORDS, quote, re.IGNORECASE):
            risks.append(_avoid_line(d, group))
            continue
        applies = any(rule_applies(d, t, r) for t, r in group.owners) or (
            d.query.population == "child" and rule.rule.startswith("age-")
        )
        rank = 0 if applies else 1 + (rule.reason != "ineffective")
        against.append((rank, _avoid_line(d, group)))
    if not against:
        not_answered(d)
        return
    ranked = sorted(against, key=lambda item: item[0])
    described = bool(d.query.disease or d.query.population or d.query.conditions)
    # a rule for another disease (TNF inhibitors in SSc) is not for "a JDM child": apart
    others = [line for rank, line in ranked if rank == 2] if described else []
    d.lead(
        "The sources advise against these: "
        + "; ".join(line for rank, line in ranked if line not in others)
        + "."
    )
    if others:
        d.lead(
            "For other patients, not for the one described (the rule is about another "
            "disease or condition): " + "; ".join(others) + "."
        )
    for line in dict.fromkeys(risks):
        d.add(
            "Safety",
            "A risk the sources state rather than a prohibition (this tool's plans take the "
            f"safer reading and avoid it for these patients): {line}.",
        )
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


def _prior(d: Draft, assumed: list[str]) -> list[dict[str, str]]:
    """The question's treatments tried, as the profile's ``prior_treatments``; "failed
    everything" read as the topic's usual options, each failed (and said so)."""
    q = d.query
    prior = [
        {"treatment": t, "response": r}
        for t, r in q.prior
        if t in d.kb.therapy_ids() and r != "tried"  # tried, outcome not said
    ]
    if q.has("exhausted"):
        named = {x["treatment"] for x in prior}
        usual = [t for t in USUAL if t not in named and t in d.kb.treatments]
        prior += [{"treatment": t, "response": "none"} for t in usual]
        if usual:
            assumed.append(
                "that the options tried and failed are the usual ones ("
                + ", ".join(d.name(t).lower() for t in usual)
                + ")"
            )
    return prior


class _Plans:
    """The engine's plan for each patient profile a question was read as, made once per
    knowledge base and kept with it (``derived``): many questions read as
    the same patient ("first line in SSc?", "what works in SSc?"). The plans are shared,
    so nothing here changes one (they are frozen documents)."""

    _KEPT = 1024  # profiles; then it starts again

    def __init__(self, kb: KnowledgeBase) -> None:
        del kb  # built for one base; the base is given again to each call
        self._plans: dict[str, PlanDocument] = {}

    def plan(self, kb: KnowledgeBase, profile: dict[str, Any]) -> PlanDocument:
        key = json.dumps(profile, sort_keys=True)
        found = self._plans.get(key)
        if found is None:
            patient = parse_patient(profile, kb.therapy_ids())
            found = recommend_document(patient, kb)
            if len(self._plans) >= self._KEPT:
                self._plans.clear()
            self._plans[key] = found
        return found


_plans = derived(_Plans)  # the plans a question's profile asks for, kept with the base


def _plan(d: Draft, profile: dict[str, Any]) -> PlanDocument:
    """The engine's plan document for ``profile`` (shared: read it, never change it)."""
    return _plans(d.kb).plan(d.kb, profile)


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
    if q.subtype is None and not q.reading:
        assumed.append("dystrophic calcinosis (no subtype named)")
    tried = [d.name(t).lower() for t, r in q.prior if r == "tried" and t in d.kb.treatments]
    if tried:
        assumed.append(
            f"nothing about how {' and '.join(tried)} went (tried, outcome not said; still "
            "offered if the plan offers it)"
        )
    if q.lesion_count is not None and q.lesion_count >= MANY_LESIONS and not q.has("localized"):
        assumed.append(
            f"that {q.lesion_count} lesions are too many to treat one by one (no source gives "
            "a number)"
        )
    prior = _prior(d, assumed)
    profile: dict[str, Any] = {
        "age_years": age,
        "subtype": q.subtype or "dystrophic",
        "conditions": list(q.conditions),
        "medications": [m for m in q.medications if m in d.kb.therapy_ids()],
        "prior_treatments": prior,
    }
    # only what the question says: symptoms not stated stay unknown (the engine then
    # says what it assumed, and observes iatrogenic lesions first)
    profile |= _symptoms(d)
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
            "patient_concerned": profile.get("patient_concerned", False),
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


def instead(d: Draft) -> None:
    """After a "No" about a treatment: what the plans offer this question's patient
    instead (the engine's plan for the question as a profile, the asked treatment left
    out), so that a negative answer does not stop short."""
    profile, assumed = _profile(d)
    plan = _plan(d, profile)
    asked = set(d.query.treatments)
    exhausted = [a for a in assumed if a.startswith("that the options tried and failed")]
    offered = [
        o
        for o in plan.options
        if o.stance in ("first-line", "alternative")
        and o.id not in asked
        and o.id != "treat-underlying-disease"
    ]
    if not offered:
        return
    first = [o.name.lower() for o in offered if o.stance == "first-line"]
    others = [o.name.lower() for o in offered if o.stance == "alternative"][:4]
    parts = []
    if first:
        parts.append(f"first-line {' or '.join(first)}")
    if others:
        parts.append(f"alternatives {', '.join(others)}")
    d.lead(
        f"What this tool's plan offers instead for {_context_words(d)}: "
        + "; ".join(parts)
        + (f", assuming {exhausted[0]}" if exhausted else "")
        + " (open the assessment for the whole plan and its grades)."
    )


def withheld(d: Draft) -> None:
    """A treatment asked about that this tool's plan, for the question read as a patient,
    does not offer because it could harm (minocycline in pregnancy: the plan's own safer
    reading where no source speaks): that leads, in the plan's words and citations, so
    that an answer never reads more permissive than the plan for the same patient."""
    if not d.query.treatments or not d.query.conditions:
        return
    profile, _ = _profile(d)
    plan = _plan(d, profile)
    cited = _citer(d, plan)
    for option in plan.options:
        if option.id not in d.query.treatments or option.avoid_reason != "harm":
            continue
        d.ruled_out.add(option.id)
        d.lead(
            f"Not offered for this patient in this tool's plan ({option.name.lower()}): "
            f"{option.rationale.rstrip('.')} {cited(option.citations)}."
        )


# How many lesions this tool takes as too many to treat one by one (a reading of the
# topic's "the number or extent of lesions makes local therapy impractical"; no source
# gives a number), stated in the answer whenever it is used.
MANY_LESIONS = 10


def _symptoms(d: Draft) -> dict[str, Any]:
    """Only what the question says about symptoms, progression and the patient's wish."""
    q = d.query
    said: dict[str, Any] = {}
    if q.has("asymptomatic"):
        said["symptomatic"] = False
    elif q.has("symptomatic") or q.has("ulceration") or q.has("inflammation"):
        said["symptomatic"] = True
    if q.has("nonprogressive"):
        said["progressive"] = False
    if q.has("wants-treatment"):
        said["patient_concerned"] = True
    return said


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
    elif q.has("localized") and not q.has("widespread"):
        lesions["distribution"] = "localized"
    if q.lesion_cm is not None:
        lesions["largest_cm"] = q.lesion_cm
    if q.lesion_count is not None:
        lesions["count"] = q.lesion_count
        if q.lesion_count >= MANY_LESIONS and "distribution" not in lesions:
            lesions["distribution"] = "widespread"  # said in the answer's assumptions
    return lesions


_PROCEDURES = ("surgical-excision", "microdrilling", "co2-laser", "eswt")


def _discrete_lead(d: Draft, options: Options, cited: Cite) -> None:
    """One discrete, symptomatic lesion: the procedures the plan offers for it (the
    topic's "additional primary or adjunctive treatment option for discrete, symptomatic
    areas"), with their warnings for this patient, in the lead, not among alternatives."""
    if not (d.query.has("single") and d.query.has("symptomatic")):
        return
    offered = [o for o in options if o.id in _PROCEDURES and o.stance == "alternative"]
    if not offered:
        return
    names = ", ".join(o.name.lower() for o in offered)
    warnings = list(dict.fromkeys(w for o in offered for w in o.warnings))
    text = (
        f"For one discrete, symptomatic lesion, the plan also offers {names} "
        f"{cited(n for o in offered for n in o.citations)}."
    )
    if warnings:
        text += " For this patient: " + " ".join(warnings)
    d.lead(text)


def _first_line_lead(d: Draft, first: Options, gone: Options, cited: Cite) -> None:
    """ "First-line for ...: X (grade)", or, when what the question rules out leaves no
    first-line option, what the plan offers instead."""
    names = " or ".join(o.name.lower() for o in first)
    grades = "; ".join(dict.fromkeys(o.grade_label or f"grade {o.grade}" for o in first))
    if gone:
        d.lead(
            "Left out, as the question says it cannot be had: "
            + ", ".join(o.name.lower() for o in gone)
            + "."
        )
    if not first:
        d.lead(
            f"No option is left in this tool's plan for {_context_words(d)} after what the "
            "question rules out or says was tried; see the notes below, and the sources' other "
            "treatments, whose evidence is limited."
        )
    elif all(o.stance == "alternative" for o in first):
        why = "once that is left out" if gone else "once the options tried have failed"
        d.lead(
            f"No option is first-line for {_context_words(d)} {why}; what the plan offers: "
            f"{names} ({grades}) {cited(n for o in first for n in o.citations)}."
        )
    elif d.query.disease in ("other", "none"):
        # no autoimmune disease: the topic's algorithm is not about this patient
        d.lead(
            f"First-line in this tool's plan for {_context_words(d)}: {names} ({grades}) "
            f"{cited(n for o in first for n in o.citations)}; the management topic's "
            "algorithm is for autoimmune connective tissue disease, so this is extrapolated "
            "from it."
        )
    else:
        how = {"none": "did not work", "intolerant": "not tolerated"}
        failed = [f"{d.name(t).lower()} ({how[r]})" for t, r in d.query.prior if r in how]
        after = f"After {' and '.join(failed)}, " if failed else ""
        lead = "first-line" if failed else "First-line"
        d.lead(
            f"{after}{lead} for {_context_words(d)}, as the management topic's algorithm gives "
            f"it: {names} ({grades}) {cited(n for o in first for n in o.citations)}."
        )


def _named_source_first(d: Draft) -> None:
    """ "What did the AI answer recommend first?": that source's own first-line sentence
    leads, before this tool's plan (which follows the peer-reviewed sources)."""
    source = d.query.source
    if source is None:
        return
    sources = (source, f"{source}-abstract") if source == "traineau-2020" else (source,)
    pattern = r"[Ff]irst-line|as initial treatment|preferred initial treatment"
    for passage in passages_about(d, (), pattern=pattern, sources=sources)[:1]:
        said = d.quote(passage, 1, pattern=pattern)
        if source == "ai-answer-dm":  # not peer-reviewed: never read as the plan
            said += (
                " That answer is not peer-reviewed; the management topic puts local sodium "
                "thiosulfate first, and this tool's plan follows it."
            )
        d.lead(said)


def _inflammation_lead(d: Draft, first: Options) -> None:
    """ "Which drugs help inflamed calcinosis?": the topic's choice among the systemic drugs
    for prominent inflammation or ulceration, right after the first-line options; and,
    when a dose was asked too, the doses of what is preferred."""
    preferred: tuple[str, ...] = ()
    if d.query.has("inflammation") or d.query.has("ulceration"):
        pattern = r"preferred over \w+ for patients presenting with prominent inflammation"
        for passage in passages_about(d, (), pattern=pattern):
            if passage.provenance.source != "ai-answer-dm" and d.fits(passage.applies_to):
                quote = d.quote(passage, 1, pattern=pattern)
                d.lead("When a systemic drug is chosen, " + quote[:1].lower() + quote[1:])
                preferred = tuple(t for t in passage.treatments if t != "diltiazem")
                break
    if "dose" not in d.query.also:
        return
    drugs = preferred or tuple(o.id for o in first if d.kb.treatments[o.id].kind == "drug")
    for treatment in drugs[:3]:
        d.lead(dose_lines(d, treatment))


Options = list[OptionDocument]
Cite = Callable[[Iterable[int]], str]  # a plan's citation numbers, cited in the answer


def _leading(d: Draft, planned: Options) -> tuple[Options, Options, Options, Options]:
    """The plan's options without what the question says cannot be had ("not a surgical
    candidate"), what was left out, the first-line ones (or, when nothing first-line is
    left, the first alternatives) and the underlying-disease step."""
    gone: Options = [o for o in planned if o.id in d.query.unavailable and o.stance != "avoid"]
    options: Options = [o for o in planned if o not in gone]
    first: Options = [o for o in options if o.stance == "first-line"]
    underlying: Options = [o for o in first if o.id == "treat-underlying-disease"]
    first = [o for o in first if o.id != "treat-underlying-disease"] or first
    if not [o for o in first if o.id != "treat-underlying-disease"]:
        # left out, or tried and failed ("failed everything"): the alternatives lead, the
        # route of a local therapy that failed by the other route last
        alternatives: Options = [o for o in options if o.stance == "alternative"]
        alternatives.sort(key=lambda o: "local therapy has failed" in o.rationale)
        first = alternatives[:6]
    return options, gone, first, underlying


def _citer(d: Draft, plan: PlanDocument) -> Cite:
    """Cites a plan's citation numbers in the answer (its own numbering)."""
    by_n = {c.n: c for c in plan.citations}

    def cited(numbers: Iterable[int]) -> str:
        return d.cite(
            *(
                Provenance(source=by_n[n].source, location=by_n[n].location, quote=by_n[n].quote)
                for n in numbers
                if n in by_n
            )
        )

    return cited


def first_line(d: Draft) -> None:
    profile, assumed = _profile(d)
    plan = _plan(d, profile)
    by_n = {c.n: c for c in plan.citations}
    cited = _citer(d, plan)

    options, gone, first, underlying = _leading(d, plan.options)
    d.lead(verdict(d))
    _named_source_first(d)
    reading_lead(d)
    subtype_management(d, count=2)
    for option in underlying:
        d.lead(f"First, the underlying disease: {option.rationale} {cited(option.citations)}.")
    _first_line_lead(d, first, gone, cited)
    _inflammation_lead(d, first)
    _extrapolation_lead(d, first)
    _discrete_lead(d, options, cited)
    _removal_lead(d, options, first, cited)
    _current_medications(d, first)
    if assumed:
        d.add(
            "Guidelines and expert recommendations",
            "This answer assumes " + " and ".join(assumed) + ".",
        )
    for note in _notes(plan, profile)[:3]:
        d.add("Guidelines and expert recommendations", f"{note.rstrip('.')}.")
    for option in first:
        d.add(
            "Guidelines and expert recommendations",
            f"{option.name}: {option.rationale} {cited(option.citations)}.",
        )
    alternatives = [o for o in options if o.stance in ("alternative", "adjunct")][:5]
    if alternatives:
        d.add(
            "Guidelines and expert recommendations",
            "Alternatives: "
            + "; ".join(
                f"{o.name} ({o.grade_label or 'grade ' + str(o.grade)}) {cited(o.citations)}"
                for o in alternatives
            )
            + ".",
        )
    avoid = [o for o in options if o.stance == "avoid"]
    harms = [o for o in avoid if o.avoid_reason == "harm"]
    if harms and d.query.intent == "contraindication":  # "what is safe?": what is not, first
        names = ", ".join(o.name.lower() for o in harms[:5])
        d.lead(
            f"Not offered for this patient, for its safety rules: {names} "
            f"{cited(n for o in harms[:5] for n in o.citations)}."
        )
    if avoid:
        d.add(
            "Safety",
            "Not to be used here: "
            + "; ".join(f"{o.name} {cited(o.citations)}" for o in avoid)
            + ".",
        )
    for option in first[:2]:
        lines = option.evidence if isinstance(option, OfferedOption) else []
        for line in lines[:3]:
            number = line.citation
            label = ""
            if line.extrapolated:
                label = " (extrapolated: " + "; ".join(line.extrapolation) + ")"
            d.add(
                "Research evidence",
                f"{line.text}{label} {cited([number] if number else [])}.",
            )
    shown = {o.id for o in first}
    for item in plan.disagreements:
        about = _statements_cited(d, [by_n[n] for n in item.citations if n in by_n])
        if about & shown:  # only a disagreement about the options given
            d.add("Where the sources disagree", f"{item.summary} {cited(item.citations)}.")


_READING_PASSAGES = {
    "metastatic": ("answers-topic-metastatic-cause", "management-topic-calciphylaxis"),
    "dystrophic": ("answers-topic-dystrophic-other-causes",),
}


def reading_lead(d: Draft) -> None:
    """Say how the question was read when its subtype or disease came from other words
    (dialysis, a raised phosphate, a scar), with the passage that reads it so; in kidney
    failure, name calciphylaxis as the other diagnosis the topic manages differently."""
    q = d.query
    if not q.reading:
        return
    subtype = q.subtype or "dystrophic"
    by_id = {p.id: p for p in passages(d.kb)}
    found = [by_id[i] for i in _READING_PASSAGES.get(subtype, ()) if i in by_id]
    what = f"{subtype} calcinosis cutis"
    if subtype == "dystrophic":
        injury = "injury" in q.reading or "scar" in q.reading
        what += (
            " after an injury" if injury else " from another cause"
        ) + ", without an autoimmune connective tissue disease"
    d.lead(f"Read as {what}: the question names {q.reading} and no autoimmune disease.")
    if found:
        d.lead(d.quote(found[0], 2, about=""))
    for passage in found[1:]:
        d.add(
            "Guidelines and expert recommendations",
            d.quote(
                passage, 2, prefix="If it is calciphylaxis instead, the management topic", about=""
            ),
        )


def _current_medications(d: Draft, first: Options) -> None:
    """What the patient already takes, against what the plan puts first: a first-line
    drug of the same class is named, and that no source addresses taking both."""
    for medication in d.query.medications:
        entry = d.kb.treatments.get(medication)
        if entry is None:
            continue
        same = [
            o.name.lower()
            for o in first
            if o.id != medication
            and set(entry.classes) & set(d.kb.treatments[o.id].classes)
            and o.id in d.kb.treatments
        ]
        text = f"Already taking {entry.name.lower()}"
        if medication in {o.id for o in first}:
            text += ", which is itself a first-line option here"
        if same:
            shared = sorted(
                set(entry.classes) & {c for o in first for c in d.kb.treatments[o.id].classes}
            )
            words = ", ".join(c.replace("-", " ") for c in shared)
            text += (
                f": {' and '.join(same)} is of the same class ({words}); no source addresses "
                "giving both, so check before adding it"
            )
        d.lead(text + ".")


_REMOVAL = ("surgical-excision",)


def _removal_lead(d: Draft, options: Options, first: Options, cited: Cite) -> None:
    """When the patient wants the lesion out, say where surgery stands in this plan."""
    if not d.query.has("wants-treatment"):
        return
    for option in options:
        if option.id in _REMOVAL and option not in first and option.stance != "avoid":
            d.lead(
                f"The patient wants it removed: {option.name.lower()} is "
                f"{'an ' + option.stance if option.stance == 'alternative' else 'an adjunct'}"
                f" here. {option.rationale} {cited(option.citations)}."
            )
            return


def _extrapolation_lead(d: Draft, first: Options) -> None:
    """Whose grade is extrapolated, when only some first-line options' are."""
    extrapolated = [o for o in first if o.extrapolated]
    for option in extrapolated[:1]:
        why = "; ".join(option.extrapolation)
        text = option.applies_to.text
        # say whose grade it is: the others' rows name this patient's disease
        whose = "That grade" if len(first) == 1 else f"The grade of {option.name.lower()}"
        if len(first) > len(extrapolated):
            others = [o.name.lower() for o in first if not o.extrapolated]
            why += f" (the grades of {' and '.join(others)} are given for this disease)"
        d.lead(f"{whose} is extrapolated from {text}: {why}.")


def _notes(plan: PlanDocument, profile: dict[str, Any]) -> list[str]:
    """The engine's assumptions, less a lesion-size note for widespread lesions (local
    therapy is impractical for them whatever their size)."""
    notes = list(plan.assumptions)
    if profile.get("lesions", {}).get("distribution") == "widespread":
        notes = [n for n in notes if not n.startswith("Lesion size not given")]
    return notes


def _statements_cited(d: Draft, citations: list[CitationDocument]) -> set[str]:
    """The treatments of the statements whose sentences a plan's citations quote."""
    quoted = {(c.source, c.quote) for c in citations}
    return {t for s in d.kb.statements if (s.source, s.quote) in quoted for t in s.treatments}


def _context_words(d: Draft) -> str:
    q = d.query
    subtype = q.subtype or "dystrophic"
    if subtype == "calciphylaxis":
        return "calciphylaxis"
    text = f"{subtype} calcinosis cutis"
    if q.disease in ("other", "none"):
        return f"{text} without an autoimmune connective tissue disease"
    if q.disease:
        text += f" in {q.disease.replace('-', ' ')}"
    if q.population == "child" and q.disease != "juvenile-dermatomyositis":
        text += " in a child"
    return text
