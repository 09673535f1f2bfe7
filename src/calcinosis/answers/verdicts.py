"""The lead of a yes/no question: "Yes." or "No." only when a record says so.

Each predicate of a :class:`~calcinosis.answers.query.Proposition` has one function
that looks for the records affirming or denying it for the question's context
(subtype, disease, age). A record about another population does not decide the
answer; it is named with whom it is about. When no record speaks to the
proposition, the function returns ``None`` and the intent's composer answers from
the evidence without a yes or a no, or says that the sources do not answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from calcinosis import patterns as rx
from calcinosis.answers.blocks import by_tool, firing_rules, goes_on, passages_about, roman
from calcinosis.answers.draft import NOT_ANSWERED, SOURCE_NAMES, Draft, sentence_with, sentences
from calcinosis.answers.passages import arm_provenance, statement_provenance, whole_passage
from calcinosis.answers.query import Proposition
from calcinosis.answers.vocabulary import CONDITIONS, DISEASES, SUBTYPES
from calcinosis.decision.plan import grading_for
from calcinosis.evidence.applicability import applies_to_row
from calcinosis.evidence.schemas import Contraindication
from calcinosis.evidence.synthesis import study_units
from calcinosis.patterns import compiled

__all__ = ["safety_first", "verdict"]

_DEFINITE_NO = compiled(r"should not|must not|no (clinical|objective) improvement|preclude", re.I)
_HEDGED_NO = compiled(r"seems? ineffective|seemed ineffective", re.I)
_PROMOTES = compiled(r"(promote|cause|induce)\w* (ectopic |vascular )?calcification", re.I)


def _rule_quote(rule: Contraindication) -> str:
    return sentences(rule.provenance.quote or rule.text, 1)


def _grade_note(d: Draft, treatment: str) -> str:
    grading = grading_for(d.kb, treatment)
    if by_tool(grading) or grading.get("direction") != "against":
        return ""
    return f", level {roman(grading.get('level'))}, grade {grading['grade']}"


def _against(d: Draft, treatment: str, hedge: bool = True) -> str | None:
    """The 'should not be used' that applies to the question's context, if any."""
    rules = [r for r in firing_rules(d, treatment) if r.stance == "avoid"]
    ineffective = [r for r in rules if r.reason == "ineffective"]
    if not ineffective:
        return None
    rule = ineffective[0]
    other = d.query.other_indication
    if other and rule.indication == "calcinosis":  # warfarin needed for atrial fibrillation
        source = SOURCE_NAMES[rule.provenance.source]
        text = (
            f"{NOT_ANSWERED} The advice of {source}, "
            f'"{_rule_quote(rule)}" {d.cite(rule.provenance)}, is about '
            f"{d.name(treatment).lower()} as a treatment for calcinosis cutis; no source "
            f"addresses it when it is given for {other}."
        )
        for passage in passages_about(d, [treatment], pattern=_PROMOTES.pattern)[:1]:
            d.quoted.add(passage.id)
            text += (
                f' {_capital(SOURCE_NAMES[passage.provenance.source])} also says "'
                f'{sentence_with(passage.text, _PROMOTES.pattern)}" {d.cite(passage.provenance)}.'
            )
        return text
    row = next((r for r in d.kb.table4 if treatment in r.treatments), None)
    about = d.about(applies_to_row(row)) if row is not None else ""
    hedged = hedge and _HEDGED_NO.search(rule.provenance.quote or "")
    word = "Probably not." if hedged else "No."
    source = SOURCE_NAMES[rule.provenance.source]
    return (
        f"{word} {source[0].upper()}{source[1:]} on {d.name(treatment).lower()}: "
        f'"{_rule_quote(rule)}"{_grade_note(d, treatment)}'
        f"{f' ({about})' if about else ''} {d.cite(rule.provenance)}."
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _outside_subtype(d: Draft, p: Proposition) -> str | None:
    """A 'should not' about another subtype than the one asked, and what the sources
    say about the asked subtype instead (IV sodium thiosulfate in calciphylaxis)."""
    subtype = d.query.subtype
    if subtype is None or subtype == "dystrophic" or p.treatment is None:
        return None
    treatments = p.treatments or (p.treatment,)
    if subtype == "calciphylaxis" and p.predicate != "avoided":
        local = _local_trauma(d, treatments)
        if local:
            return local
    avoid = [
        r
        for t in treatments
        for r in d.kb.treatments[t].contraindications
        if r.stance == "avoid" and r.reason == "ineffective"
    ]
    lines = []
    specific = passages_about(d, treatments, pattern=rf"\b{subtype}")
    for passage in specific[:2]:
        lines.append(d.quote(passage, 1, pattern=rf"\b{subtype}", about=f"it names {subtype}"))
    if avoid:
        rule = avoid[0]
        lines.append(
            f'The "{_rule_quote(rule)}" of {SOURCE_NAMES[rule.provenance.source]} is about '
            f"dystrophic calcinosis cutis in systemic sclerosis and dermatomyositis; it says "
            f"nothing about {subtype} {d.cite(rule.provenance)}."
        )
    return " ".join(lines) or None


def _lesions_of(d: Draft) -> str:
    """ "lesions over 2 cm", "a 3 cm lesion": the size asked about, in a phrase."""
    if d.query.lesion_bound:
        return f"lesions {d.query.size_words()}"
    return f"a {d.query.size_words()} lesion"


def _by_size(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Will X dissolve a 4 cm lesion?": the figure a source gives for lesions of that
    size decides; none responding is a "probably not", with what the topic offers for a
    discrete symptomatic lesion instead."""
    size = d.query.lesion_cm
    if size is None and d.query.has("small"):
        return _small(d, p, treatment)
    if size is None:
        return None
    for statement in d.kb.statements:
        if not set(statement.treatments) & set(p.treatments or (treatment,)):
            continue
        for figure in statement.figures:
            fits = d.query.size_in(figure.max_cm, figure.over_cm)
            if not fits or figure.x is None or not figure.n:
                continue
            scope = (
                f"lesions up to {figure.max_cm:g} cm"
                if figure.max_cm is not None
                else f"lesions over {figure.over_cm:g} cm"
            )
            provenance = statement_provenance(statement)
            counts = f"{figure.x} of {figure.n} {figure.unit} ({scope}) {d.cite(provenance)}"
            if figure.x == 0:
                text = (
                    f"Probably not for {_lesions_of(d)}: in the series the "
                    f"sources give, none of {figure.n} {figure.unit} ({scope}) responded "
                    f"(0 of {figure.n}) {d.cite(provenance)}."
                )
                surgery = passages_about(d, ["surgical-excision"], pattern=r"discrete, symptom")
                if surgery:
                    d.quoted.add(surgery[0].id)
                    text += (
                        " For a discrete, symptomatic lesion, the management topic: "
                        f'"{sentence_with(surgery[0].text, r"discrete, symptom")}" '
                        f"{d.cite(surgery[0].provenance)}."
                    )
                return text
            if figure.x == figure.n:
                return f"In the one series the sources give for lesions this size, yes: {counts}."
    return None


_TRAUMA = r"local tissue trauma"


def _local_trauma(d: Draft, treatments: tuple[str, ...]) -> str | None:
    """An injection or a procedure in calciphylaxis: the topic's management avoids local
    tissue trauma, and no source reports it there; the safer reading is not to."""
    local = [
        t
        for t in treatments
        if d.kb.treatments[t].route == "intralesional" or d.kb.treatments[t].kind == "procedure"
    ]
    if not local or len(local) < len(treatments):  # only a question about a local one
        return None
    found = passages_about(d, ["calciphylaxis-care"], pattern=_TRAUMA)
    if not found:
        return None
    passage = found[0]
    d.quoted.add(passage.id)
    names = " and ".join(d.name(t).lower() for t in local)
    return (
        "No, not advised (the safer reading of the source): the management topic's care "
        f'of calciphylaxis includes "{sentence_with(passage.text, _TRAUMA)}" '
        f"{d.cite(passage.provenance)}, and no source reports {names} in calciphylaxis. "
        "What follows about it is evidence from dystrophic calcinosis, not calciphylaxis."
    )


def _small(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Does X work on tiny lesions?" with no size given: the figure a source gives for
    the smallest lesions it reports on, with that size, when every such lesion responded."""
    best = None
    for statement in d.kb.statements:
        if not set(statement.treatments) & set(p.treatments or (treatment,)):
            continue
        for figure in statement.figures:
            if figure.max_cm is None or figure.x is None or not figure.n or figure.x != figure.n:
                continue
            if best is None or figure.max_cm < best[1].max_cm:  # type: ignore[operator]
                best = (statement, figure)
    if best is None:
        return None
    statement, figure = best
    return (
        f"Yes, for small lesions: in the series the sources give for "
        f"{d.name(treatment).lower()}, {figure.label.lower()}: "
        f"{figure.x} of {figure.n} {figure.unit} (lesions up to {figure.max_cm:g} cm) "
        f"{d.cite(statement_provenance(statement))}."
    )


def _outside_disease(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Post-traumatic calcinosis, no CTD: should I start diltiazem?": a drug whose
    evidence is all about autoimmune connective tissue disease, asked of dystrophic
    calcinosis from another cause: not on the sources' evidence, said so."""
    if d.query.disease not in ("other", "none") or d.query.subtype not in (None, "dystrophic"):
        return None
    if d.kb.treatments[treatment].kind != "drug" or p.predicate != "recommended":
        return None
    named = [w for w, c in DISEASES.items() if c == "other" and f" {w} " in d.query.norm]
    if any(w in passage.text.lower() for passage in passages_about(d, [treatment]) for w in named):
        return None  # a source reports it in that cause (diltiazem in lupus panniculitis)
    return (
        f"Not on the sources' evidence: what they report on {d.name(treatment).lower()} is "
        "about dystrophic calcinosis in autoimmune connective tissue disease (mostly systemic "
        "sclerosis and dermatomyositis); none is about calcinosis from another cause, so "
        "any use here is extrapolated."
    )


def _subtype_first_step(d: Draft, treatment: str) -> str | None:
    """ "Extravasation calcinosis in a newborn: inject STS?": in iatrogenic and idiopathic
    calcinosis the topic's first step is observation of asymptomatic lesions; any other
    treatment asked about is not the first step, in the topic's words."""
    subtype = d.query.subtype
    if subtype not in ("iatrogenic", "idiopathic") or treatment == "observation":
        return None
    found = [
        passage
        for passage in passages_about(d, ["observation"], kinds=("recommendation",))
        if subtype in passage.applies_to.subtypes and passage.provenance.source != "ai-answer-dm"
    ]
    if not found:
        return None
    d.quoted.add(found[0].id)
    source = SOURCE_NAMES[found[0].provenance.source]
    said = (
        f"Not as the first step: for {subtype} calcinosis cutis {source} says "
        f'"{sentences(found[0].text, 2)}" {d.cite(found[0].provenance)}'
    )
    # what the topic says of it for symptomatic lesions of this subtype, when it does
    own = [
        passage
        for passage in passages_about(d, [treatment], kinds=("recommendation",))
        if subtype in passage.applies_to.subtypes and passage.id != found[0].id
    ]
    if own:
        d.quoted.add(own[0].id)
        quote = sentences(own[0].text, 2)
        return f'{said}; for symptomatic lesions: "{quote}" {d.cite(own[0].provenance)}.'
    return f"{said}; no source addresses {d.name(treatment).lower()} for it."


def _effective(d: Draft, p: Proposition, treatment: str) -> str | None:
    if p.predicate == "recommended" and d.query.subtype not in (None, "dystrophic"):
        # "is excision recommended for tumoral calcinosis?": that subtype's own "treatment of
        # choice" answers before anything said of other subtypes
        own = _affirm(d, p, treatment) or _subtype_first_step(d, treatment)
        if own:
            return own
    found = (
        _outside_subtype(d, p)
        or _outside_disease(d, p, treatment)
        or _against(d, treatment, p.predicate == "effective")
        or _by_size(d, p, treatment)
    )
    if found:
        return found
    rules = firing_rules(d, treatment)
    harms = [r for r in rules if r.stance == "avoid"]
    if harms:
        return _harm(d, harms[0], p.object, decisive=True)
    yes = _affirm(d, p, treatment) if p.predicate == "recommended" else None
    yes = yes or _used_in(d, p, treatment)
    cautions = [r for r in rules if r.stance == "caution"]
    if yes and cautions:  # a yes that a caution for this patient qualifies
        if yes.startswith("Yes: "):
            yes = "Yes, with caution: " + yes.removeprefix("Yes: ")
        yes += " " + _harm(d, cautions[0], p.object)
        yes += goes_on(d, cautions[0].provenance)
    return yes


# A recommendation that affirms "should X be used?" for this question only when the
# question has what the recommendation is conditional on.
_AFFIRMING = compiled(
    r"we suggest|is an additional (primary or adjunctive )?(treatment )?option|is the "
    r"treatment of choice|is a reasonable (option|initial approach)|is generally preferred|"
    r"should be considered|may be considered|is suggested|was suggested",
    re.I,
)
_CONDITIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"discrete, symptomatic", ("single", "symptomatic")),
    (r"\basymptomatic", ("asymptomatic",)),
    (r"inflammation or ulceration", ("inflammation", "ulceration")),
    (r"very small lesions|small calcium deposits", ("small",)),
    (r"symptomatic, progressive", ("symptomatic",)),
)


def _affirm(d: Draft, p: Proposition, treatment: str) -> str | None:
    for passage in passages_about(d, p.treatments or (treatment,), pattern=_AFFIRMING.pattern):
        if not d.fits(passage.applies_to) or passage.provenance.source == "ai-answer-dm":
            continue  # a "Yes" rests on a peer-reviewed source, never on the AI answer
        whole = whole_passage(d.kb, passage)
        sentence = sentence_with(passage.text, _AFFIRMING.pattern)
        # "If treatment is desired, surgical excision is the treatment of choice": a yes on
        # that condition alone, whatever the sentence before says of asymptomatic patients
        wanted = rx.match(r"If treatment is (desired|wanted|needed)", sentence) is not None
        required = [feats for pattern, feats in _CONDITIONS if rx.search(pattern, whole)]
        if wanted or all(any(d.query.has(f) for f in feats) for feats in required):
            source = SOURCE_NAMES[passage.provenance.source]
            d.quoted.add(passage.id)
            about = d.about(passage.applies_to)
            how = "Yes, if treatment is wanted" if wanted else "Yes"
            return (
                f'{how}: {source} says "{sentence}"{f" ({about})" if about else ""} '
                f"{d.cite(passage.provenance)}."
            )
    return None


_EVER_USED = compiled(
    r" (ever|been) (used|tried|given|reported)| (used|tried|given|reported) (for|in) (that|this"
    r"|it|them|these|those|such)| (any|some) (data|evidence|reports?|experience) (for|on|with"
    r"|about|of) "
)
_USED_VERBS = (
    r"(appeared to be of benefit|of benefit|has been used|have been used|was used"
    r"|were used|improved|effective|resolution|beneficial)"
)


# "is IL triamcinolone used for calcinosis?", "has STS been used in children?"
_IS_USED = compiled(r" (is|are|has|have) (\S+ ){1,4}(ever |been )*used (for|in|to|as) ")


def _used_at_all(d: Draft, treatment: str, treatments: tuple[str, ...]) -> str | None:
    """Whether a peer-reviewed source reports the treatment used for calcinosis cutis: its
    study arms in the review, else the passage that lists it."""
    name = d.name(treatment).lower()
    arms = [a for a in d.kb.arms if a.treatment in treatments]
    if arms:
        studies = len({a.study for a in arms})
        n = sum(a.n or 0 for a in arms)
        return (
            f"Yes: the review includes {studies} {'study' if studies == 1 else 'studies'} of "
            f"{name} for calcinosis cutis ({n} patients) "
            f"{d.cite(*(arm_provenance(a) for a in arms[:4]))}; how well it worked follows."
        )
    for passage in passages_about(d, treatments, pattern=r"have been used|has been used|used"):
        if passage.provenance.source == "ai-answer-dm":
            continue
        sentence = sentence_with(passage.text, r"used")
        d.quoted.add(passage.id)
        source = SOURCE_NAMES[passage.provenance.source]
        return (
            f'It has been used, with little evidence: {source} says "{sentence}" '
            f"{d.cite(passage.provenance)}, and lists {name} among them."
        )
    return None


def _used_in(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Is X ever used for that (lupus panniculitis)?": a passage reporting X used, or
    of benefit, in the disease the question names answers yes, as reported."""
    if not _EVER_USED.search(d.query.norm):
        if _IS_USED.search(d.query.norm) and not (d.query.disease or d.query.conditions):
            return _used_at_all(d, treatment, p.treatments or (treatment,))
        return None
    words = [w for w in DISEASES if f" {w} " in d.query.norm]
    words = sorted(words, key=len, reverse=True)
    # "lupus panniculitis": the words as the question says them, before any single word
    phrase = (
        rx.search(
            r" ((?:\w+ )?(?:" + "|".join(map(re.escape, words)) + r")(?: \w+)?) ", d.query.norm
        )
        if words
        else None
    )
    candidates = [m for m in (phrase.group(1) if phrase else None, *words) if m]
    for passage in passages_about(d, p.treatments or (treatment,), pattern=_USED_VERBS):
        if passage.provenance.source == "ai-answer-dm":
            continue  # a "Yes" rests on a peer-reviewed source, never on the AI answer
        text = passage.text.lower()
        for disease in candidates:
            if disease in text and len(disease) > 3:
                sentence = sentence_with(passage.text, re.escape(disease))
                d.quoted.add(passage.id)
                said = (
                    f"Yes, as reported: {SOURCE_NAMES[passage.provenance.source]} says "
                    f'"{sentence}" {d.cite(passage.provenance)}.'
                )
                return said + _how_strong(d, p.treatments or (treatment,))
    return None


def _how_strong(d: Draft, treatments: tuple[str, ...]) -> str:
    """' The management topic: "Efficacy data for X are limited to case reports..."': the
    sources' own word on how strong the evidence is, when they give one."""
    pattern = r"limited to (small )?case (reports|series)|primarily limited to"
    for passage in passages_about(d, treatments, pattern=pattern):
        d.quoted.add(passage.id)
        source = SOURCE_NAMES[passage.provenance.source]
        return (
            f' {source[:1].upper()}{source[1:]}: "{sentence_with(passage.text, pattern)}" '
            f"{d.cite(passage.provenance)}."
        )
    return ""


def _avoided(d: Draft, p: Proposition, treatment: str) -> str | None:
    against = _against(d, treatment)
    if against and against.startswith(NOT_ANSWERED):
        return against  # given for another condition: no source says to stop it
    if against:
        return "Yes, " + against.split(" ", 1)[1][0].lower() + against.split(" ", 1)[1][1:]
    harms = [r for r in firing_rules(d, treatment) if r.stance == "avoid"]
    if harms:
        return _harm(d, harms[0])
    outside = _outside_subtype(d, p)
    # the "should not" is about another subtype: it does not say to avoid it here
    return f"No, not on that ground. {outside}" if outside else None


def _preferred(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Is X preferred over Y for ...?": a sentence that prefers one to the other
    decides, with the condition it is given for."""
    others = [t for t in d.query.treatments if t not in (p.treatments or (treatment,))]
    if not others:
        return None
    names = {t: re.escape(d.name(t).split()[0].lower()) for t in (treatment, *others)}
    pattern = rf"(preferred|favou?red) over ({'|'.join(names.values())})"
    for passage in passages_about(d, [treatment, *others], pattern=pattern):
        text = passage.text.lower()
        subject, other = names[treatment], names[others[0]]
        match = rx.search(rf"\b{subject}\b.*?(preferred|favou?red) over {other}", text)
        reverse = rx.search(rf"\b{other}\b.*?(preferred|favou?red) over {subject}", text)
        if not match and not reverse:
            continue
        whole = whole_passage(d.kb, passage)
        required = [feats for cue, feats in _CONDITIONS if rx.search(cue, whole)]
        present = all(any(d.query.has(f) for f in feats) for feats in required)
        sentence = sentence_with(passage.text, pattern)
        source = SOURCE_NAMES[passage.provenance.source]
        d.quoted.add(passage.id)
        about = d.about(passage.applies_to)
        tail = f" ({about})" if about else ""
        said = f'{source} says "{sentence}"{tail} {d.cite(passage.provenance)}'
        if reverse and not match:
            return f"No: {said}."
        if required and not present:
            return f"Yes, for the patients it names: {said}."
        return f"Yes: {said}."
    return _rather_than_systemic(d, p, treatment, others[0])


_SYSTEMIC_ROUTES = frozenset({"systemic", "oral", "intravenous", "infusion", "subcutaneous"})


def _rather_than_systemic(d: Draft, p: Proposition, treatment: str, other: str) -> str | None:
    """ "Is (local) X preferred over (systemic) Y?": the topic's "X ... rather than
    systemic therapy" decides it."""
    mine, theirs = d.kb.treatments[treatment], d.kb.treatments[other]
    if mine.route not in ("topical", "intralesional") or theirs.route not in _SYSTEMIC_ROUTES:
        return None
    for passage in passages_about(d, p.treatments or (treatment,), pattern=r"rather than systemic"):
        sentence = sentence_with(passage.text, r"rather than systemic")
        d.quoted.add(passage.id)
        about = d.about(passage.applies_to)
        tail = f" ({about})" if about else ""
        return (
            f"Yes, as initial treatment: {SOURCE_NAMES[passage.provenance.source]} says "
            f'"{sentence}"{tail} {d.cite(passage.provenance)}; {d.name(other).lower()} is '
            "systemic therapy."
        )
    return None


def _harm(
    d: Draft, rule: Contraindication, condition: str | None = None, decisive: bool = False
) -> str:
    """'No.' when the source says it must not be used; otherwise its caution in its
    own words, with the adverse effects that go with the condition asked about.
    ``decisive``: the question asks whether to use it, and the plans avoid it, so the
    answer leads with that (the safer reading), then the source's words."""
    quote = _rule_quote(rule)
    if _DEFINITE_NO.search(quote):
        return f"No. {quote} {d.cite(rule.provenance)}."
    source = SOURCE_NAMES[rule.provenance.source]
    lead = (
        "No, not advised (the safer reading of the source): "
        if decisive and rule.stance == "avoid"
        else "Caution: "
    )
    text = f'{lead}{source} says "{quote}" {d.cite(rule.provenance)}'
    words = {w.split()[-1] for w in CONDITIONS.get(condition or "", ())}
    for treatment in d.query.treatments[:1]:
        related = [
            e for e in d.kb.treatments[treatment].adverse_effects if words & set(e.text.split())
        ]
        if related:
            names = " and ".join(e.text for e in related[:3])
            text += (
                f"; its reported adverse effects include {names} "
                f"{d.cite(related[0].provenance, claim=related[0].text)}"
            )
    if rule.stance == "avoid":
        text += (
            ". The source states a risk, not a contraindication; this tool's plans take the "
            "safer reading and do not offer it then"
        )
    return text + "."


def _safe_with(d: Draft, p: Proposition, treatment: str) -> str | None:
    if p.object is None:
        return None
    if p.object.startswith("unlisted:"):
        return (
            f"{NOT_ANSWERED} No source addresses {d.name(treatment).lower()} with "
            f"{p.object.removeprefix('unlisted:')}; what they report on its safety follows."
        )
    rules = firing_rules(d, treatment)
    if not rules and p.object == d.query.disease:
        return None  # "... in SSc: what are the risks?": its evidence in SSc answers it
    if not rules:
        return (
            f"{NOT_ANSWERED} No source gives a rule for {d.name(treatment).lower()} "
            f"with {p.object.replace('-', ' ')}; what they report on its safety follows."
        )
    # "is there a higher risk with X in Y?" asks about the risk, not whether to give it
    asks_risk = " risk" in d.query.norm and " safe" not in d.query.norm
    if asks_risk and rules[0].stance in ("avoid", "caution"):
        source = SOURCE_NAMES[rules[0].provenance.source]
        return (
            f'Yes: {source} says "{_rule_quote(rules[0])}" {d.cite(rules[0].provenance)}; '
            "this tool's plans do not offer it then."
            if rules[0].stance == "avoid"
            else f'Yes: {source} says "{_rule_quote(rules[0])}" {d.cite(rules[0].provenance)}.'
        )
    return _harm(d, rules[0], p.object, decisive=True)


def _usable_at_age(d: Draft, p: Proposition, treatment: str) -> str | None:
    entry = d.kb.treatments[treatment]
    age_rules = [r for r in entry.contraindications if r.rule.startswith("age-under-")]
    age = d.query.age_years
    if age_rules:
        rule = age_rules[0]
        limit = int(rule.rule.rsplit("-", 1)[1])
        quote = _rule_quote(rule)
        if age is not None and age < limit:
            return f"No. {quote} {d.cite(rule.provenance)}."
        if age is not None:
            harms = [r for r in firing_rules(d, treatment) if r.stance == "avoid"]
            if harms:  # another rule of this patient's decides
                return _harm(d, harms[0])
            return (
                f"Yes, as far as age goes: the only age limit the sources give is {limit} "
                f'years ("{quote}") {d.cite(rule.provenance)}; at {age:g} years it does not '
                "apply."
            )
        return f"Not under {limit} years: {quote} {d.cite(rule.provenance)}."
    harms = [r for r in firing_rules(d, treatment) if r.stance == "avoid"]
    if harms:
        return _harm(d, harms[0])
    children = passages_about(d, [treatment], pattern=r"child|juvenile|pediatric|paediatric")
    lead = f"No source gives an age limit for {entry.name.lower()}."
    if children:
        lead += " " + d.quote(children[0], 1, pattern=r"child|juvenile|pediatric|paediatric")
    else:
        lead += " None of its evidence in the sources is about children."
    return lead


def _first_line(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Should topical/IL STS be first line rather than oral meds?": the topic's
    "... as initial treatment rather than systemic therapy" decides it for local
    sodium thiosulfate (unless the lesions are widespread, where it offers systemic
    therapy); any other first-line question is answered by the first-line composer,
    which runs the engine for the context."""
    asked = p.treatments or (treatment,)
    if not all(d.kb.treatments[t].route in ("topical", "intralesional") for t in asked):
        return _systemic_first_line(d, asked)
    pattern = r"rather than systemic"
    found = passages_about(d, asked, pattern=pattern)
    if not found:
        return None
    passage = found[0]
    d.quoted.add(passage.id)
    said = (
        f'{SOURCE_NAMES[passage.provenance.source]} says "{sentence_with(passage.text, pattern)}"'
        f" {d.cite(passage.provenance)}"
    )
    if d.query.disease in ("other", "none"):
        # traumatic or another non-autoimmune dystrophic calcinosis: the suggestion is not
        # about it, and no source makes one for it
        return (
            "Not directly: the management topic makes this suggestion for dystrophic "
            "calcinosis associated with autoimmune connective tissue disease, and no source "
            f"makes one for dystrophic calcinosis from {d.query.reading or 'another cause'}; using "
            "it here "
            f"is an extrapolation. {said[:1].upper()}{said[1:]}."
        )
    if d.query.has("widespread"):
        return (
            "Not for widespread lesions: the management topic offers systemic therapy when "
            "the number or extent of lesions makes local therapy impractical; for the "
            f"others, {said}."
        )
    return f"Yes, as initial treatment: {said}."


_LOCAL_FAILED = frozenset({"sodium-thiosulfate-topical", "sodium-thiosulfate-intralesional"})


def _systemic_first_line(d: Draft, asked: tuple[str, ...]) -> str | None:
    """ "Is diltiazem first line for small calcinosis in SSc?": in dystrophic calcinosis
    the topic suggests local sodium thiosulfate first, and systemic diltiazem, colchicine
    or minocycline when the lesions are too many or too extensive for it, or it fails or
    cannot be had."""
    if d.query.subtype not in (None, "dystrophic") or d.query.disease in ("other", "none"):
        return None
    if not all(d.kb.treatments[t].kind == "drug" for t in asked):
        return None
    initial = passages_about(d, (), pattern=r"as initial treatment rather than systemic")
    alternative = passages_about(d, asked, pattern=r"makes local therapy impractical")
    if not initial:
        return None
    first = initial[0]
    d.quoted.add(first.id)
    source = SOURCE_NAMES[first.provenance.source]
    said = (
        f'{source} says "{sentence_with(first.text, r"rather than systemic")}" '
        f"{d.cite(first.provenance)}"
    )
    if alternative:
        d.quoted.add(alternative[0].id)
        said += (
            f', and "{sentence_with(alternative[0].text, r"makes local therapy impractical")}" '
            f"{d.cite(alternative[0].provenance)}"
        )
    name = d.name(asked[0]).lower()
    failed = {t for t, response in d.query.prior if response in ("none", "intolerant")}
    if d.query.has("widespread") or failed & _LOCAL_FAILED:
        why = "local therapy has failed" if failed & _LOCAL_FAILED else "the lesions are widespread"
        return f"Yes, here, as {why}, {name} is among the systemic options: {said}."
    if not alternative:
        return (
            f"No: for dystrophic calcinosis the first-line treatment is topical or "
            f"intralesional sodium thiosulfate, and {name} is not among the systemic options "
            f"the management topic names after it (diltiazem, colchicine or minocycline): "
            f"{said}."
        )
    return (
        f"No: for dystrophic calcinosis the first-line treatment is topical or intralesional "
        f"sodium thiosulfate, and {name} is for when local therapy is impractical, fails or "
        f"cannot be had: {said}."
    )


def _promotes(d: Draft, p: Proposition, treatment: str) -> str | None:
    found = passages_about(d, [treatment], pattern=_PROMOTES.pattern)
    if not found:
        return (
            f"{NOT_ANSWERED} No source says whether {d.name(treatment).lower()} promotes "
            "calcification."
        )
    passage = found[0]
    d.quoted.add(passage.id)
    source = SOURCE_NAMES[passage.provenance.source]
    text = (
        f'Yes, possibly: {source} says "{sentence_with(passage.text, _PROMOTES.pattern)}" '
        f"{d.cite(passage.provenance)}."
    )
    against = _against(d, treatment)
    if against:
        reason = against.split(" ", 1)[1]
        text += " It gives this as a further reason against it: " + reason[0].lower() + reason[1:]
    return text


def _causes(d: Draft, p: Proposition, treatment: str) -> str | None:
    entry = d.kb.treatments[treatment]
    words = [
        w for w in rx.findall(r"[a-z]{4,}", p.object or "") if w not in ("calcinosis", "cutis")
    ]
    hits = [e for e in entry.adverse_effects if any(w[:6] in e.text.lower() for w in words)]
    if not hits:
        return None
    effect = hits[0]
    provenance = effect.provenance
    return (
        f"Yes. {SOURCE_NAMES[provenance.source][0].upper()}"
        f"{SOURCE_NAMES[provenance.source][1:]} reports {effect.text} with "
        f"{entry.name.lower()} {d.cite(provenance, claim=effect.text)}."
    )


def _needs_treatment(d: Draft) -> str | None:
    subtype = d.query.subtype
    if subtype in ("metastatic", "calciphylaxis"):
        # the topic manages both by treating their cause: "yes", in its words
        care = "correct-calcium-phosphate" if subtype == "metastatic" else "calciphylaxis-care"
        found = [p for p in passages_about(d, [care]) if subtype in p.applies_to.subtypes]
        if found:
            return "Yes: the cause is treated. " + d.quote(found[0], 2)
    found = passages_about(
        d, ["observation"], pattern=r"asymptomatic|not necessary|not all patients"
    )
    fitting = [f for f in found if d.fits(f.applies_to)] or found
    if not fitting:
        return None
    word = "No: not when it is asymptomatic." if d.query.has("asymptomatic") else "Not necessarily."
    return f"{word} " + d.quote(fitting[0], 2)


def _managed_like(d: Draft) -> str | None:
    """ "Is calciphylaxis managed the same as dystrophic calcinosis?": no, when the topic
    gives the named subtype a management of its own (in its words)."""
    subtype = d.query.subtype
    if subtype in (None, "dystrophic"):
        return None
    found = [
        p
        for p in passages_about(d, (), sources=("management-topic",))
        if p.applies_to.subtypes == (subtype,) and p.kind in ("recommendation", "summary")
    ]
    if not found:
        return None
    return f"No: the management topic manages {subtype} on its own terms. " + d.quote(
        found[0], 2, about=""
    )


_SPONTANEOUS = r"spontaneous(ly)? resol|resolves? spontaneously|spontaneous resolution"


def _resolves_alone(d: Draft) -> str | None:
    """ "Do subepidermal calcified nodules go away on their own?": yes, often, when a
    passage about the question's subtype says they resolve spontaneously; for another
    subtype the sources say nothing of the kind, and the answer says so."""
    subtype = d.query.subtype or "dystrophic"
    found = [
        p for p in passages_about(d, (), pattern=_SPONTANEOUS) if subtype in p.applies_to.subtypes
    ]
    if not found:
        return (
            f"{NOT_ANSWERED} No source reports spontaneous resolution of {subtype} calcinosis "
            "cutis."
        )
    passage = found[0]
    d.quoted.add(passage.id)
    sentence = sentence_with(passage.text, _SPONTANEOUS)
    said = (
        f'{SOURCE_NAMES[passage.provenance.source]} says "{sentence}" {d.cite(passage.provenance)}.'
    )
    # a sentence about one form of the subtype ("subepidermal calcified nodules") answers
    # only a question about that form
    forms = [w for w, s in SUBTYPES.items() if s == subtype and w != subtype and " " in w]
    named = [w for w in forms if w in sentence.lower()]
    if named and not any(w in d.query.norm for w in named):
        return f"Only for one form, as the sources put it: {said}"
    return f"Yes, often: {said}"


def _can_observe(d: Draft) -> str | None:
    """ "Can we just leave it?": yes when the source's conditions for follow-up without
    intervention are what the question says (asymptomatic, not bothering the patient)."""
    found = passages_about(
        d, ["observation"], pattern=r"asymptomatic|not necessary|reasonable (option|initial)"
    )
    subtype = d.query.subtype or "dystrophic"
    mine = [f for f in found if subtype in f.applies_to.subtypes]
    fitting = [f for f in mine if d.fits(f.applies_to)] or mine
    fitting = fitting or [f for f in found if not f.applies_to.subtypes]
    if not fitting:
        return None
    q = d.query
    if q.has("asymptomatic") and not q.has("wants-treatment") and not q.has("symptomatic"):
        word = "Yes: follow-up without treatment is reasonable when it causes no symptoms."
    elif q.has("symptomatic") or q.has("wants-treatment"):
        word = (
            "Not as the sources put it: they keep observation for lesions that cause no "
            "symptoms and do not bother the patient."
        )
    else:
        word = "Yes, if it causes no symptoms and does not bother the patient."
    return f"{word} " + d.quote(fitting[0], 2)


_SIZE = (
    r"lesion size|<\s*0\.2 cm|≤\s*2 cm|very small lesions|small calcium deposits|"
    r"larger (lesions|calcium deposits)|smaller (lesions|deposits)"
)


def _size_matters(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Does lesion size matter for X?": yes when a record ties X's response to size."""
    found = passages_about(d, p.treatments or (treatment,), pattern=_SIZE)
    if not found:
        return None
    figures = compiled(r"\d+ (treated )?lesions|\d+ of \d+ lesions|<\s*0\.2|≤\s*2 cm")
    found.sort(key=lambda passage: not figures.search(passage.text))  # the counts first
    lines = [d.quote(passage, 2, pattern=_SIZE) for passage in found[:2]]
    return "Yes. " + " ".join(lines)


def _complete_response(d: Draft, p: Proposition, treatment: str) -> str | None:
    """ "Does X clear the deposits completely?": the review's arms that report complete
    response; no when none of them had one."""
    arms = list(d.kb.arms_for(p.treatments or (treatment,)))
    complete, _ = study_units(d.kb, arms, "complete")
    if not complete:
        return None
    x, n = sum(u.x for u in complete), sum(u.n for u in complete)
    name = d.name(treatment).lower()
    by_study = {a.study: a for a in arms}
    cites = d.cite(*(arm_provenance(by_study[u.study]) for u in complete))
    labels = ", ".join(f"{u.label} {u.x}/{u.n}" for u in complete)
    if x == 0:
        return (
            f"No: in the study arms that report it, no patient had a complete "
            f"response to {name} ({labels}: complete response in 0 of {n}) {cites}; "
            "partial responses are what was reported."
        )
    how = "Often" if 2 * x >= n else "Sometimes, not usually"
    return (
        f"{how}: complete response to {name} in {x} of {n} patients ({round(100 * x / n)}%) "
        f"in the study arms that report it ({labels}) {cites}."
    )


def complete_line(d: Draft, treatments: tuple[str, ...]) -> str | None:
    """ "How many had a complete response with surgery?": the complete responses of the
    review's arms that report them, first."""
    if not treatments:
        return None
    said = _complete_response(d, Proposition(treatments[0], "complete-response"), treatments[0])
    if said is None:
        return None
    return said.split(": ", 1)[1][:1].upper() + said.split(": ", 1)[1][1:]


_HANDLERS: dict[str, Callable[[Draft, Proposition, str], str | None]] = {
    "size-matters": _size_matters,
    "complete-response": _complete_response,
    "promotes-calcification": _promotes,
    "safe-with": _safe_with,
    "usable-at-age": _usable_at_age,
    "first-line": _first_line,
    "avoided": _avoided,
    "recommended": _effective,
    "effective": _effective,
    "causes": _causes,
    "preferred-over": _preferred,
}


def safety_first(d: Draft) -> str | None:
    """A treatment asked about that a rule says harms this question's patient (TNF
    inhibitors in SSc, minocycline under nine): that leads, whatever was asked."""
    names = []
    rule = None
    for treatment in d.query.treatments[:4]:
        harms = [
            r for r in firing_rules(d, treatment) if r.stance == "avoid" and r.reason == "harm"
        ]
        if harms:
            names.append(d.name(treatment).lower())
            rule = rule or harms[0]
    if rule is None:
        return None
    d.ruled_out.update(t for t in d.query.treatments if d.name(t).lower() in names)
    said = (
        f"Not advised for this patient ({' and '.join(names)}; the safer reading of the source): "
    )
    if (
        rule.provenance.location.startswith("References")
        or "; References" in rule.provenance.location
    ):
        # the rule rests on a cited report: quote the sentence that draws the conclusion
        against = [
            p
            for p in passages_about(d, d.query.treatments, kinds=("conclusion",))
            if p.direction == "against"
        ]
        if against:
            return said + d.quote(against[0], 1, about="")
    source = SOURCE_NAMES[rule.provenance.source]
    return said + f'{source} says "{_rule_quote(rule)}" {d.cite(rule.provenance)}.'


def verdict(d: Draft) -> str | None:
    """The lead sentence the proposition's records give, or ``None``."""
    p = d.query.proposition
    if p is None:
        return None
    about_the_lesions = _ABOUT_THE_LESIONS.get(p.predicate)
    if about_the_lesions is not None:
        return about_the_lesions(d)
    if p.treatment is None:
        return None
    said = _HANDLERS[p.predicate](d, p, p.treatment)
    if said and said.startswith("No") and p.predicate in _RULING_OUT:
        d.ruled_out.update(p.treatments or (p.treatment,))
    return _inverted(said) if said and p.inverse else said


# The leads of a safety or age verdict, and what they say to "should I avoid or stop it?"
_INVERSE_LEADS = (
    (
        "No, not advised (the safer reading of the source): ",
        "Yes, the safer course is to avoid or stop it: ",
    ),
    ("No. ", "Yes, avoid it. "),
    ("Yes, as far as age goes: ", "No, not for its age: "),
    ("Caution: ", "Not necessarily: the sources give a caution, not a reason to stop: "),
)


def against_it(d: Draft, said: str | None, definite: bool = False) -> bool:
    """Whether a verdict says not to give the treatment asked about: a "No" ("No." when
    ``definite``), or the "Yes" to "should it be avoided?"."""
    if not said:
        return False
    p = d.query.proposition
    if p is not None and p.inverse:
        return said.startswith("Yes, avoid it." if definite else "Yes")
    if definite:
        return said.startswith("No.")
    # "Not on the sources' evidence", "Not advised" are; "No source gives an age limit ..."
    # and "No study arm ..." are no "No"
    return rx.match(r"Not\b|No\b(?! source| study| direct| age limit)", said) is not None


def _inverted(said: str) -> str:
    """A verdict on "is X safe with Y?" as the answer to "should X be avoided with Y?"."""
    for lead, inverse in _INVERSE_LEADS:
        if said.startswith(lead):
            return inverse + said[len(lead) :]
    return said


# predicates about the lesions rather than a treatment
_ABOUT_THE_LESIONS: dict[str, Callable[[Draft], str | None]] = {
    "needs-treatment": _needs_treatment,
    "can-observe": _can_observe,
    "resolves-alone": _resolves_alone,
    "managed-like": _managed_like,
}

# predicates whose "No" says the treatment is not for this question's patient
_RULING_OUT = frozenset({"usable-at-age", "safe-with", "recommended", "effective"})
