"""The building blocks of an answer, each from one kind of record.

Grades (who gave them, about whom), the review's study arms (the asked population
first, the mix stated), the other sources' findings, safety rules and adverse
effects, regimens (with whom each dose is for), the disagreements about what was
asked, and the nearest passages. Each block writes cited sentences into a
:class:`~calcinosis.answers.draft.Draft` and returns the one it would lead with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from calcinosis import patterns as rx
from calcinosis.answers.draft import (
    SOURCE_NAMES,
    Draft,
    quotable,
    sentences,
    unit_flag,
)
from calcinosis.answers.estimates import Counts, estimates
from calcinosis.answers.passages import (
    Passage,
    arm_provenance,
    passages,
    passages_of,
    search,
    statement_provenance,
)
from calcinosis.answers.vocabulary import CLASSES, RULE_FACTS, RULE_SCOPES, SUBTYPES
from calcinosis.decision.documents import Grading
from calcinosis.decision.plan import grading_for
from calcinosis.decision.safety import findings_for, rules_patient
from calcinosis.evidence.applicability import (
    AgeGroup,
    AppliesTo,
    applies_to_arm,
    applies_to_row,
    fit,
)
from calcinosis.evidence.audit import disease_cell_discrepancy
from calcinosis.evidence.derived import derived
from calcinosis.evidence.knowledge_base import KnowledgeBase, study_label
from calcinosis.evidence.references import redact
from calcinosis.evidence.schemas import (
    Arm,
    Contraindication,
    Provenance,
    Statement,
    Study,
    Table4Row,
)
from calcinosis.evidence.synthesis import StudyUnit, study_units
from calcinosis.patterns import compiled

__all__ = [
    "arm_provenance",
    "arms_line",
    "disagreements",
    "dose_lines",
    "findings",
    "firing_rules",
    "fit_every_estimate",
    "goes_on",
    "grade_line",
    "nearest",
    "passages_about",
    "roman",
    "rule_applies",
    "safety_lines",
    "size_line",
    "study_lines",
    "table4_line",
]


# ------------------------------------------------------------------ grades
def _table4_row(kb: KnowledgeBase, treatment: str) -> Table4Row | None:
    return next((row for row in kb.table4 if treatment in row.treatments), None)


def _table4_statements(kb: KnowledgeBase, row: Table4Row) -> tuple[Statement, ...]:
    return _row_statements(kb, row.id)


@derived
def _row_statements(kb: KnowledgeBase, row_id: str) -> tuple[Statement, ...]:
    """The Table 4 comments of a row, each a statement with its verbatim cell."""
    row = next(r for r in kb.table4 if r.id == row_id)
    base = rx.sub(r"\s*\(.*\)$", "", row.provenance.location)  # "... row (no level printed)"
    return tuple(
        s
        for s in kb.statements
        if s.location.startswith(base) and set(s.treatments) & set(row.treatments)
    )


def table4_line(d: Draft, treatment: str) -> str | None:
    """'Review Table 4 (Warfarin): "Should not be recommended (IB)", grade B (about ...)'."""
    row = _table4_row(d.kb, treatment)
    if row is None:
        return None
    cells = _table4_statements(d.kb, row)
    comment = "; ".join(f'"{s.quote}"' for s in cells) or f'"{row.comment}"'
    about = d.about(applies_to_row(row))
    cites = d.cite(
        *(Provenance(source=s.source, location=s.location, quote=s.quote) for s in cells)
    )
    level = f", level {row.level_printed}" if row.level_printed else ""
    where = f" ({about})" if about else ""
    return (
        f"Review Table 4 ({row.label}): {comment}, grade {row.grade}{level}{where} "
        f"{cites or d.cite(row.provenance)}."
    )


def _grading(kb: KnowledgeBase, treatment: str) -> Grading:
    return grading_for(kb, treatment)


def by_tool(grading: Grading) -> bool:
    """A grade no source gives: the tool's own, by rule."""
    return grading.get("assigned_by") == "tool" or grading.get("provenance") is None


def grade_line(d: Draft, treatment: str) -> str:
    """The level and grade of a treatment, who gave them and about whom."""
    grading = _grading(d.kb, treatment)
    name = d.name(treatment)
    if by_tool(grading):
        return (
            f"{name}: no source grades it for calcinosis cutis; the level 5, grade D that "
            "this tool assigns by rule (an ungraded expert opinion, CEBM 2009) is the "
            "tool's own, not a source's."
        )
    provenance = grading["provenance"]
    applies = grading.get("applies_to")
    about = d.about(applies) if isinstance(applies, AppliesTo) else ""
    where = f" ({about})" if about else ""
    if str(grading.get("system", "")).startswith("GRADE"):
        text = f"{name}: Grade {grading['grade']} (GRADE, the management topic){where}"
        also = grading.get("also")
        if also:
            text += (
                f"; the review: level {roman(also.get('level'))}, grade {also['grade']}"
                f" (Oxford CEBM) {d.cite(also.get('provenance'))}"
            )
        return f"{text} {d.cite(provenance)}."
    return (
        f"{name}: level {roman(grading.get('level'))}, grade {grading['grade']} "
        f"(the review, Oxford CEBM){where} {d.cite(provenance)}."
    )


def roman(level: object) -> str:
    if not level:
        return "not printed"
    text = str(level)
    number = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}.get(text[0], text[0])
    return f"{number}{text[1:].upper()}"


# --------------------------------------------------------------- the arms
def _counted(
    kb: KnowledgeBase, treatments: Iterable[str], group: AgeGroup | None
) -> tuple[list[Arm], list[Arm], list[Arm], list[StudyUnit], list[StudyUnit], str]:
    """The arms of a treatment (or class) and what is counted of them for an age group:
    (all its arms, the group's, those counted, their units, the complete-response units,
    the outcome counted)."""
    arms = list(kb.arms_for(treatments))
    mine = [a for a in arms if group is not None and a.population == group]
    main = mine or arms
    units, _ = study_units(kb, main, "any")
    complete, _ = study_units(kb, main, "complete")
    outcome = "any response"
    if not units:
        units, complete, outcome = complete, [], "complete response"
    return arms, mine, main, units, complete, outcome


def _pool_counts(units: Sequence[StudyUnit]) -> Counts:
    return tuple((u.label, u.x, u.n, u.design) for u in units)


def fit_every_estimate(kb: KnowledgeBase) -> None:
    """Fit now (or read from the cache file) every pooled estimate an answer can quote."""
    every = list(_every_pooled(kb))
    if every:
        estimates(kb).get(every[0], also=every)


def _every_pooled(kb: KnowledgeBase) -> Iterator[Counts]:
    """The counts of every pooled estimate an answer can quote: each treatment with arms
    and each class, for adults, children or either (fitted together on the first miss)."""
    named: set[frozenset[str]] = {frozenset({arm.treatment}) for arm in kb.arms}
    named |= {frozenset(members) for members in kb.classes.values()}
    named |= {frozenset(term.members) for term in CLASSES.values() if term.members}
    seen: set[Counts] = set()
    for treatments in sorted(named, key=sorted):
        for group in (None, "adult", "child"):
            units = _counted(kb, treatments, group)[3]
            counts = _pool_counts(units)
            if len(units) >= 2 and counts not in seen:
                seen.add(counts)
                yield counts


def _arm_who(arm: Arm) -> str:
    who = {"adult": "adults", "child": "children", "unspecified": "age not given"}[arm.population]
    disease = {"DM/SSc": "DM or SSc", "unspecified": "DM or SSc, not said"}.get(
        arm.disease, arm.disease
    )
    return f"{who}, {disease}"


def _study_who(arms: Sequence[Arm]) -> str:
    """Whom a study's arms are about, each arm its own population when they differ
    (Berger 1987: "2 adults, SSc; 3 children, DM or SSc"); "" for a single arm."""
    if len({(a.population, a.disease) for a in arms}) < 2:
        return ""
    return "; ".join(
        f"{count} {_arm_who(a)}" if (count := a.patients or a.n) else _arm_who(a) for a in arms
    )


def _total(units: Sequence[StudyUnit], outcome: str) -> tuple[str, str]:
    """What the counts count (patients, digits) and their total, said with its unit: a
    digit count never reads as patients ("12 of 15 digits", not "12 of 15 responded")."""
    x, n = sum(u.x for u in units), sum(u.n for u in units)
    digits = ["digits" in u.units for u in units]
    counted = "digits" if all(digits) else "patients" if not any(digits) else "patients or digits"
    total = f"{x} of {n} {counted} responded ({outcome})"
    if all(digits):
        total += "; how many patients improved is not reported"
    elif any(digits):
        total += "; patients and digits counted together, as the review tabulates them"
    return counted, total


def _whose(arms: Sequence[Any]) -> str:
    """ "the review's" while every arm is the review's; "the" once a study added since
    (`calcinosis evidence add`) is among them."""
    return "the review's" if all(a.source != "publication" for a in arms) else "the"


def arms_line(d: Draft, treatments: Sequence[str], label: str) -> str | None:
    """The review's arms for a treatment (or class): the asked age group first, the
    rest named apart; crude counts, and a pooled estimate only with k, n and its CI."""
    kb = d.kb
    group = d.context.age_group
    arms, mine, main, units, complete, outcome = _counted(kb, treatments, group)
    if not arms:
        return None
    if not units:
        return None
    by_study = {a.study: a for a in main}
    parts = []
    for unit in units:
        arm = by_study[unit.study]
        unit_word = "digits" if "digits" in unit.units else ""
        patients = f", {arm.patients} patients" if unit_word and arm.patients else ""
        share = f", {unit.x / unit.n:.0%}" if unit.n else ""
        parts.append(
            f"{unit.label} {unit.x}/{unit.n}{f' {unit_word}' if unit_word else ''}{share}"
            f" ({_study_who([a for a in main if a.study == unit.study]) or _arm_who(arm)}"
            f"{patients})"
        )
    n = sum(u.n for u in units)
    where = "in children" if mine and group == "child" else "in adults" if mine else ""
    counted, total = _total(units, outcome)
    text = (
        f"{label}, {_whose(arms)} study arms{f' {where}' if where else ''} (dystrophic calcinosis "
        f"in DM or SSc): {'; '.join(parts)}: {total}"
    )
    if complete:
        # its own denominator, said so when it counts other arms than the total before
        # (rounds 20 and 21: rituximab's 6 of 50 read beside 20 of 30)
        same = {u.label for u in complete} == {u.label for u in units}
        arms_word = "arm" if len(complete) == 1 else "arms"
        which = (
            "the arms that report it"
            if same
            else f"the {len(complete)} {arms_word} that report it, not the same as those above"
        )
        text += (
            f"; complete response in {sum(u.x for u in complete)} of "
            f"{sum(u.n for u in complete)} ({which})"
        )
    if len(units) >= 2:
        pooled = estimates(kb).get(_pool_counts(units), also=_every_pooled(kb))
        if pooled is not None:
            estimate, low, high = pooled
            text += (
                f"; this tool's random-effects pooled estimate {estimate:.0%} (95% CI "
                f"{low:.0%}–{high:.0%}, {len(units)} studies, {n} {counted}) is uncertain: the "
                "studies are few and small, and the review itself did not pool"
            )
    reasons = {r for a in main for r in fit(d.context, applies_to_arm(a)).reasons}
    direct = [a for a in main if not fit(d.context, applies_to_arm(a)).extrapolated]
    if reasons:
        some = " the arms not about this patient's population," if direct else ""
        text += f" (extrapolated:{some} {'; '.join(sorted(reasons))})"
    if group is not None and not mine:
        text += f" (none of these arms is in {'children' if group == 'child' else 'adults'})"
    text += f" {d.cite(*(arm_provenance(a) for a in main))}."
    if direct and len(direct) < len(main):
        text += _direct_arms(d, direct, outcome)
    others = [a for a in arms if a not in main]
    if others:
        rest, _ = study_units(kb, others, "any")
        who = "adults or age not given" if group == "child" else "children or age not given"
        if rest:
            text += (
                f" Not counted above ({who}): "
                + "; ".join(f"{u.label} {u.x}/{u.n}" for u in rest)
                + f" {d.cite(*(arm_provenance(a) for a in others))}."
            )
    return text


def _direct_arms(d: Draft, direct: Sequence[Arm], outcome: str) -> str:
    """The arms about this patient's own population counted apart, when the arms above
    mix it with others (blind round 21: rituximab in SSc pooled DM and juvenile DM arms
    with no SSc-only count)."""
    units, _ = study_units(
        d.kb, list(direct), "complete" if outcome == "complete response" else "any"
    )
    if not units:
        return ""
    by_study = {a.study: a for a in direct}
    parts = "; ".join(f"{u.label} {u.x}/{u.n} ({_arm_who(by_study[u.study])})" for u in units)
    _, total = _total(units, outcome)
    return (
        f" The arms about this patient's population alone: {parts}: {total}, "
        f"{len(units)} {'study' if len(units) == 1 else 'studies'} "
        f"{d.cite(*(arm_provenance(a) for a in direct))}."
    )


def study_lines(d: Draft) -> list[str]:
    """The arms of the studies the question names (for the treatments it names, if any),
    and what other sources report on the same cohorts."""
    lines = []
    for study_id in d.query.studies:
        arms = [
            a
            for a in d.kb.arms
            if a.study == study_id and (not d.query.treatments or a.treatment in d.query.treatments)
        ]
        study = d.kb.studies[study_id]
        for arm in arms:
            counts = (
                f"{arm.responders_any} of {arm.n} responded"
                if arm.responders_any is not None and arm.n is not None
                else "responders not reported"
            )
            if arm.responders_complete is not None:
                counts += f", {arm.responders_complete} completely"
            lines.append(
                f"{study_label(study)} ({study.design}), {d.name(arm.treatment).lower()}: "
                f"{counts} ({_arm_who(arm)}) {d.cite(arm_provenance(arm))}."
            )
        by_id = {a.id: a for a in arms}
        for statement in d.kb.statements:
            if statement.about_arm in by_id and statement.source != "traineau-2020":
                quote = redact(d.kb, sentences(statement.quote, 2))
                source = SOURCE_NAMES[statement.source]
                lines.append(
                    f"{source[:1].upper()}{source[1:]} on the same cohort: "
                    f'"{quote}"{unit_flag(d.kb, statement.quote)} '
                    f"{d.cite(statement_provenance(statement))}."
                )
                if statement.conflicts_with:
                    lines.append(_same_cohort(by_id[statement.about_arm], statement))
    return lines


def _same_cohort(arm: Arm, statement: Statement) -> str:
    """Two sources' counts for one cohort, side by side, and what can be said about
    which is right: "which is right?" is answered with what can be known."""
    source = SOURCE_NAMES[statement.source]
    complete = next((f for f in statement.figures if "complete" in f.label.lower()), None)
    partial = next((f for f in statement.figures if "partial" in f.label.lower()), None)
    total = next((f.n for f in statement.figures if f.n), None)
    unknown = "this tool cannot say which is right without the original report"
    if (
        complete is None
        or complete.x is None
        or not total
        or arm.responders_any is None
        or arm.n is None
    ):
        return f"The sources disagree on this cohort; neither explains why, and {unknown}."
    responders = complete.x + (partial.x or 0 if partial else 0)
    review = f"{arm.responders_any} of {arm.n} in the review"
    topic = f"{responders} of {total} in {source}"
    if responders == arm.responders_any and total != arm.n:
        return (
            f"The sources disagree on this cohort only in how many patients were treated: "
            f"{arm.responders_any} responders in both ({complete.x} complete), out of "
            f"{arm.n} in the review and {total} in {source}. Neither explains the "
            f"difference, and {unknown}."
        )
    return f"The sources disagree on this cohort: {review}, {topic}; {unknown}."


def size_line(d: Draft, treatments: Sequence[str]) -> str | None:
    """The figures the sources give by lesion size, against the size asked about."""
    size = d.query.lesion_cm
    if size is None:
        return None
    parts = []
    for statement in d.kb.statements:
        if not set(statement.treatments) & set(treatments):
            continue
        for figure in statement.figures:
            if figure.max_cm is None and figure.over_cm is None:
                continue
            fits_size = d.query.size_in(figure.max_cm, figure.over_cm)
            if figure.max_cm is not None:
                scope = f"lesions up to {figure.max_cm:g} cm"
            else:
                scope = f"lesions over {figure.over_cm:g} cm"
            if d.query.lesion_bound:
                asked = d.query.size_words()
                verdict = "lesions this size" if fits_size else f"not lesions {asked}"
            else:
                verdict = "a lesion this size" if fits_size else f"not a {size:g} cm lesion"
            parts.append(
                f"{figure.label}: {figure.x} of {figure.n} {figure.unit} ({scope}, so "
                f"{verdict}) {d.cite(statement_provenance(statement))}"
            )
    if not parts:
        return None
    return f"By lesion size (the question gives {d.query.size_words()}): " + "; ".join(parts) + "."


# ----------------------------------------------------------- other sources
class _Hits:
    """How often each pattern asked for matches each passage (case ignored), counted once
    per knowledge base and kept with it (``derived``): the patterns are the
    composers' own, the texts the base's passages."""

    _KEPT = 512  # patterns; then it starts again

    def __init__(self, kb: KnowledgeBase) -> None:
        del kb  # one per base; the texts are given to each call
        self._counts: dict[str, dict[str, int]] = {}

    def count(self, pattern: str, text: str) -> int:
        counts = self._counts.get(pattern)
        if counts is None:
            if len(self._counts) >= self._KEPT:
                self._counts.clear()
            counts = self._counts[pattern] = {}
        found = counts.get(text)
        if found is None:
            found = counts[text] = sum(1 for _ in rx.finditer(pattern, text, re.IGNORECASE))
        return found


_hits = derived(_Hits)  # one count per base, kept with it


def passages_about(
    d: Draft,
    treatments: Iterable[str],
    pattern: str | None = None,
    sources: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
) -> list[Passage]:
    """The passages about these treatments (matching ``pattern``), the asked
    population's first."""
    wanted = set(treatments)
    allowed = set(sources) if sources is not None else None
    kind_set = set(kinds) if kinds is not None else None
    hits = _hits(d.kb)
    found = [
        p
        for p in (passages_of(d.kb, wanted) if wanted else passages(d.kb))
        if (allowed is None or p.provenance.source in allowed)
        and (kind_set is None or p.kind in kind_set)
        and (pattern is None or hits.count(pattern, p.text))
        and p.quoted
        and quotable(d.kb, p.text)
    ]
    unnamed = d.query.subtype is None

    def key(p: Passage) -> tuple[bool, bool, int, int, int]:
        other_subtype = bool(p.applies_to.subtypes) and "dystrophic" not in p.applies_to.subtypes
        matches = hits.count(pattern, p.text) if pattern else 0
        covered = len(wanted & set(p.treatments))
        return (
            not d.fits(p.applies_to),
            unnamed and other_subtype,
            -matches,
            -covered,
            len(p.treatments),
        )

    return sorted(found, key=key)


def findings(d: Draft, treatments: Sequence[str], limit: int = 4) -> None:
    """What the topic and the local-therapies review report, figures first."""
    words = {w for w in d.query.norm.split() if len(w) > 3}
    candidates = passages_about(
        d,
        treatments,
        sources=("management-topic", "nowaczyk-2021"),
        kinds=("finding", "summary", "conclusion"),
    )
    scored = sorted(
        candidates,
        key=lambda p: (
            not d.fits(p.applies_to),
            -sum(w in p.text.lower() for w in words) - (2 if rx.search(r"\d", p.text) else 0),
            len(p.treatments),
        ),
    )
    for passage in scored[:limit]:
        d.add("Research evidence", d.quote(passage))


# ------------------------------------------------------------------ safety
# A question that gives no age is read as about an adult, not with the rule check's own
# default (``safety.UNKNOWN_AGE``, 0, so that a card shows every age limit): an answer says
# "not for this patient" when a rule applies, and with age 0 every minocycline question
# would be answered as one about a child under 9. A child of unknown age is taken as one
# past the rules' only age limit, so no age rule is assumed to apply.
_UNKNOWN_ADULT_AGE = 40
_UNKNOWN_CHILD_AGE = 12


def _known(d: Draft) -> dict[str, Any]:
    """What the question says of the patient, for :func:`calcinosis.decision.safety.rules_patient`
    (which fills the subtype, dystrophic when unsaid). The age is filled here, unlike a
    card's check: an adult of 40, or a child of 12 (see above), when the question gives none."""
    query = d.query
    age = query.age_years
    if age is None:
        age = _UNKNOWN_CHILD_AGE if query.population == "child" else _UNKNOWN_ADULT_AGE
    known: dict[str, Any] = {
        "age_years": age,
        "subtype": query.subtype,
        "conditions": list(query.conditions),
        "lesions": {"digital": True} if query.has("digital") else {},
    }
    if query.disease:
        known["underlying_disease"] = query.disease
    return known


def firing_rules(d: Draft, treatment: str) -> list[Contraindication]:
    """The rules of ``treatment`` that apply to what the question says."""
    patient, _ = rules_patient(_known(d))  # the age is never unknown here: no note
    return [f.rule for f in findings_for(d.kb, patient, treatment)]


def _stated(d: Draft, fact: str | None) -> bool:
    query = d.query
    return {
        "subtype": query.subtype is not None,
        "age": query.age_years is not None,
        "disease": query.disease is not None,
        "conditions": bool(query.conditions),
    }.get(fact or "", False)


def rule_applies(d: Draft, treatment: str, rule: Contraindication) -> bool | None:
    """True or False when the question states what the rule depends on, else None."""
    if rule in firing_rules(d, treatment):
        return True
    return False if _stated(d, RULE_FACTS.get(rule.rule)) else None


def safety_lines(d: Draft, treatment: str) -> None:
    entry = d.kb.treatments[treatment]
    by_quote: dict[str, list[Contraindication]] = {}
    for rule in entry.contraindications:
        by_quote.setdefault(sentences(rule.provenance.quote or rule.text, 1), []).append(rule)
    for quote, rules in by_quote.items():
        scopes = [s for s in dict.fromkeys(RULE_SCOPES.get(r.rule, "") for r in rules) if s]
        if all(rule_applies(d, treatment, rule) is False for rule in rules):
            scopes.append("does not apply to what was asked")
        scope = "; ".join(scopes)
        d.add(
            "Safety",
            f"{entry.name}{f' ({scope})' if scope else ''}: "
            f'"{quote}" {d.cite(rules[0].provenance)}.',
        )
    if entry.adverse_effects:
        effects = [e for e in entry.adverse_effects if quotable(d.kb, e.text)][:8]
        d.add(
            "Safety",
            f"Reported adverse effects of {entry.name.lower()}: "
            + "; ".join(f"{e.text} {d.cite(e.provenance, claim=e.text)}" for e in effects)
            + ".",
        )


# ------------------------------------------------------------------- doses
_PER_KG = compiled(
    r"(\d+(?:\.\d+)?)(?:\s*(?:to|-|–)\s*(\d+(?:\.\d+)?))?\s*mg/kg(/day| per day| a day)?"
)


def _per_weight(d: Draft, text: str) -> str:
    """A weight-based dose worked out for the weight the question gives."""
    weight = d.query.weight_kg
    match = _PER_KG.search(text)
    if weight is None or match is None:
        return ""
    low = float(match.group(1)) * weight
    high = float(match.group(2) or match.group(1)) * weight
    amount = f"{low:g} mg" if low == high else f"{low:g} to {high:g} mg"
    if match.group(3):
        amount += " per day"
    return f" — for {weight:g} kg, {amount} (worked out here from the mg/kg figure)"


def dose_lines(d: Draft, treatment: str) -> str | None:
    """The regimens, the asked age group's first, each saying whom it is for."""
    entry = d.kb.treatments[treatment]
    regimens = [r for r in entry.regimens if quotable(d.kb, r.text)]
    if not regimens:
        return None
    group = d.context.age_group
    # a study the question names first ("what regimen did Bader-Meunier use?"), then the
    # asked age group's
    named = [label_words(d.kb.studies[s]) for s in d.query.studies]
    regimens.sort(
        key=lambda r: (
            not any(words in (r.setting or "").lower() for words in named),
            group is not None and r.population not in (group, "any"),
        )
    )
    parts = []
    for regimen in regimens[:6]:
        setting = regimen.setting or ""
        if regimen.population == "adult" and "adult" not in setting:
            setting = f"{setting}; adult dose" if setting else "adult dose"
        if regimen.population == "child" and "child" not in setting:
            setting = f"{setting}; in children" if setting else "in children"
        parts.append(
            f"{regimen.text}{f' ({setting})' if setting else ''}{_per_weight(d, regimen.text)} "
            f"{d.cite(regimen.provenance)}"
        )
    sentence = f"{entry.name}: " + "; ".join(parts) + "."
    if group == "child" and not any(r.population == "child" for r in regimens):
        if any(r.population == "any" for r in regimens):
            sentence += (
                " No source gives a dose for children as such; the doses marked adult are "
                "for adults."
            )
        else:
            sentence += " No source gives a paediatric dose; the doses above are for adults."
    d.add("Dose and regimen", sentence)
    return sentence


def label_words(study: Study) -> str:
    """The first author's name as a regimen's setting gives it ("bader-meunier")."""
    return study_label(study).split()[0].lower()


# ---------------------------------------------------------- disagreements
def disagreements(d: Draft, treatments: Sequence[str]) -> None:
    """Only pairs of statements that are both about a treatment that was asked."""
    kb = d.kb
    asked = set(treatments)
    if not asked:
        return
    statements = {s.id: s for s in kb.statements}
    seen: set[tuple[str, ...]] = set()
    for statement in kb.statements:
        for other_id in statement.conflicts_with:
            other = statements[other_id]
            pair = tuple(sorted((statement.id, other_id)))
            shared = set(statement.treatments) & set(other.treatments) & asked
            if pair in seen or not shared:
                continue
            if not (quotable(kb, statement.quote) and quotable(kb, other.quote)):
                continue
            seen.add(pair)
            if other.source == statement.source:
                note = next(iter(statement.notes + other.notes), None)
                if note:
                    d.add(
                        "Where the sources disagree",
                        f"Within {SOURCE_NAMES[statement.source]}: {note.rstrip('.')} "
                        f"{d.cite(statement_provenance(statement), statement_provenance(other))}.",
                    )
                continue
            first, second = sorted((statement, other), key=lambda s: s.source != "traineau-2020")
            d.add(
                "Where the sources disagree",
                f"On {', '.join(d.name(t).lower() for t in sorted(shared))}: "
                f'{SOURCE_NAMES[first.source]}, "{sentences(first.quote, 1, 200)}" '
                f"{d.cite(statement_provenance(first))}, versus {SOURCE_NAMES[second.source]}, "
                f'"{sentences(second.quote, 1, 200)}" {d.cite(statement_provenance(second))}.',
            )
    for arm in kb.arms:  # a printed cell that the review's own counts contradict
        found = disease_cell_discrepancy(kb, arm) if arm.treatment in asked else None
        if found is None:
            continue
        d.add(
            "Where the sources disagree",
            f"Within {SOURCE_NAMES[found.published.source]}: {found.published.location} prints "
            f'"{found.published.value}" for {study_label(kb.studies[arm.study])}. '
            f"{found.explanation.split('. ', 1)[0]}, the n the counts here use "
            f"{d.cite(arm_provenance(arm))}.",
        )


# ---------------------------------------------------------------- nearest
_RULED_OUT_WORDS = compiled(
    r" (?:not|no|without|isn t|is not|ruled out|excluded|negative for)(?: a| an| any)?"
    r" (?:calciphylaxis|metastatic|idiopathic|iatrogenic|dystrophic|ssc|dm|scleroderma"
    r"|dermatomyositis|systemic sclerosis)(?: (?:or|nor|and) (?:ssc|dm|scleroderma"
    r"|dermatomyositis|renal|kidney))*(?= )"
)


# nor is a word the question denies ("no distress" brought colchicine's "gastrointestinal
# distress" as a related passage: blind round 21, q21-20); the treatments named are
# searched for apart
_NEGATED_WORD = compiled(r" (?:no|not|without|denies|never) (?!(?:response|improvement)\b)\w+(?= )")


_SUBTYPE_PHRASES = tuple(name for name in SUBTYPES if " " in name)


def nearest(d: Draft, section: str, limit: int = 3) -> int:
    """The passages nearest to the question (BM25), about its treatments if it names any."""
    query = d.query
    # what the question rules out ("not calciphylaxis") is not what it is about
    asked = _NEGATED_WORD.sub(" ", _RULED_OUT_WORDS.sub(" ", query.norm))
    # a subtype's name of several words ("tumoral calcinosis") is searched as a phrase
    phrases = [name for name in _SUBTYPE_PHRASES if f" {name} " in asked]
    for name in phrases:
        asked = asked.replace(f" {name} ", " ")
    text = " ".join([asked, *(t.replace("-", " ") for t in query.treatments)])
    found = search(d.kb, text, limit + 6, query.treatments, phrases)
    if not found and query.treatments:
        found = passages_about(d, query.treatments)
    # passages added beside an answer are about the subtype asked ("after extravasation in
    # a newborn": not warfarin in dystrophic calcinosis); the nearest, when nothing else
    # answers, may be about another, and say so
    beside = section == "Related passages" and query.subtype not in (None, "dystrophic")
    shown = 0
    for passage in found:
        subtypes = passage.applies_to.subtypes
        if (
            (beside and subtypes and query.subtype not in subtypes)
            or d.shown(passage)
            or not passage.quoted
            or len(passage.text) < 40
            or not quotable(d.kb, passage.text)
        ):
            continue
        d.add(section, d.quote(passage, 1))
        shown += 1
        if shown >= limit:
            break
    return shown


_LINES = compiled(r"^(?P<section>[^,;]+), lines? (?P<first>\d+)(-(?P<last>\d+))?$")


def goes_on(d: Draft, said: Provenance) -> str:
    """The source's next sentence after a caution, when it offers other treatments
    ("... may lead to skin necrosis and limited range of motion. Less invasive procedures
    such as carbon dioxide laser or extracorporeal shockwave therapy may be useful"):
    what the source offers instead, in its own words, or "" (the caution is ``said``)."""
    at = _LINES.match(said.location)
    if at is None:
        return ""
    end = int(at["last"] or at["first"])
    for passage in passages(d.kb):
        after = _LINES.match(passage.provenance.location)
        if (
            after is None
            or passage.provenance.source != said.source
            or after["section"] != at["section"]
            or int(after["first"]) not in (end, end + 1)
            or passage.direction != "for"
            or passage.kind != "conclusion"
            or not d.fits(passage.applies_to)
        ):
            continue
        d.quoted.add(passage.id)
        return f' It goes on: "{sentences(passage.text, 1)}" {d.cite(passage.provenance)}.'
    return ""
