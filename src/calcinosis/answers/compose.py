"""A question in, a cited answer out: the ``ask`` document (DESIGN.md, Contracts).

``answer_question`` understands the question into a typed query first
(``understand.py``), refuses what is not calcinosis cutis (saying what it is
instead), says when the sources do not address what is asked, and otherwise lets
the composer of the query's intent (``intents.py``) write the answer from the
records. The document carries the query as ``understood``.
"""

from __future__ import annotations

import re
import textwrap
from urllib.parse import urlencode

from calcinosis.answers.blocks import fit_every_estimate, nearest, passages_about, safety_lines
from calcinosis.answers.documents import AnswerCitations, AnswerDocument, AnswerSections
from calcinosis.answers.draft import NOT_ANSWERED, SECTIONS, Draft
from calcinosis.answers.intents import COMPOSERS, lower_name
from calcinosis.answers.passages import passages_of, search
from calcinosis.answers.plans import instead, reading_lead, withheld
from calcinosis.answers.query import Query
from calcinosis.answers.selection import subtype_management
from calcinosis.answers.understand import understand
from calcinosis.answers.verdicts import safety_first, verdict
from calcinosis.answers.vocabulary import BRANDS, MEMBER_OF_CLASS
from calcinosis.decision.plan import DISCLAIMER
from calcinosis.evidence.derived import derived
from calcinosis.evidence.documents import CitationDocument
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.evidence.schemas import Provenance, Statement
from calcinosis.patterns import compiled

__all__ = ["answer_question", "prepare", "render_answer"]

_SUBTYPES = "dystrophic, metastatic, idiopathic, iatrogenic and calciphylaxis"


def _refusal(query: Query, kb: KnowledgeBase) -> AnswerDocument:
    if (
        query.out_of_scope
        and query.out_of_scope[0].isupper() is False
        and " " in query.out_of_scope
    ):
        why = f"This question is about {query.out_of_scope}, which is not calcinosis cutis. "
    elif query.out_of_scope:
        why = f"This question is about {query.out_of_scope}, not calcinosis cutis. "
    elif query.unknown_drugs:
        drugs = " and ".join(query.unknown_drugs)
        why = (
            f"This question is about {drugs}, which no source on calcinosis cutis discusses, "
            "and not about calcinosis cutis. "
        )
    else:
        why = "This question is not about calcinosis cutis. "
    return AnswerDocument(
        question=query.text,
        in_scope=False,
        answer=(
            f"{why}I can only answer questions about calcinosis cutis and its five subtypes "
            f"({_SUBTYPES}), from its evidence base."
        ),
        sections=[],
        citations=[],
        patient_specific=False,
        understood=query.document(),
        evidence_version=kb.version,
        evidence_released=kb.released,
        disclaimer=DISCLAIMER,
    )


_PARTS = compiled(r"\?|;|\s[-–—]+\s|\.\s")


def _other_part_answerable(d: Draft) -> bool:
    """A question in several parts ("IVIG for DM calcinosis - response rate? and is it
    worth combining w/ prednisone?") whose first part names a treatment the sources
    speak of: that part is answered, and the unanswerable part is said so after it."""
    parts = [p for p in _PARTS.split(d.query.text) if len(p.split()) >= 2]
    return len(parts) >= 2 and bool(d.query.treatments) and not d.query.unknown_drugs


def _unaddressed(d: Draft) -> bool:
    """Topics no source addresses, and drugs no source names: say so, show the nearest."""
    query = d.query
    reasons = [f"none of the sources addresses {topic}" for topic in query.unanswered]
    reasons += [
        f"the sources speak of {topic} only in general terms" for topic in query.general_only
    ]
    if reasons and not query.unanswered and _other_part_answerable(d):
        # only a general-terms part: answer the rest, and say so of that part at the end
        d.deferred.append("On the other part of the question: " + "; ".join(reasons) + ".")
        return False
    if (
        query.unknown_drugs
        and not query.treatments
        and query.intent not in ("first-line", "patient-specific")  # "on nifedipine, what next?"
    ):
        reasons.append(
            f"{' and '.join(query.unknown_drugs)} "
            f"{'is' if len(query.unknown_drugs) == 1 else 'are'} not among the treatments "
            "they discuss"
        )
    if not reasons:
        return False
    said = "; ".join(reasons)
    withheld(d)  # what this tool's plan does not offer this patient, whatever is unaddressed
    d.lead(f"{NOT_ANSWERED} {said[:1].upper()}{said[1:]}.")
    if not nearest(d, "Nearest passages"):
        covered = next(
            s for s in kb_statements(d) if s.id == "review-abstract-30-studies-288-patients"
        )
        where = Provenance(source=covered.source, location=covered.location, quote=covered.quote)
        d.add("Nearest passages", f'What the review covers: "{covered.quote}" {d.cite(where)}.')
    for treatment in query.treatments[:2]:
        safety_lines(d, treatment)
    return True


_SUBTYPE_NAMES = {
    "metastatic": "metastatic calcinosis cutis",
    "idiopathic": "idiopathic calcinosis cutis",
    "iatrogenic": "iatrogenic calcinosis cutis",
    "calciphylaxis": "calciphylaxis",
}


def _other_subtype(d: Draft) -> bool:
    """ "Does the (dystrophic) recommendation for X apply in calciphylaxis?": when no
    record about X names the asked subtype, the answer is no, and that subtype's own
    management follows (never the dystrophic grade, nor reviews that excluded it)."""
    query = d.query
    p = query.proposition
    subtype = query.subtype
    if (
        subtype not in _SUBTYPE_NAMES
        or subtype == "iatrogenic"  # the topic lets dystrophic treatments be tried there
        or p is None
        or p.predicate not in ("recommended", "effective", "first-line")
        or not query.treatments
    ):
        return False
    treatments = p.treatments or query.treatments
    if passages_about(d, treatments, pattern=rf"\b{subtype}"):
        return False  # a record speaks to it: the verdict quotes it
    names = " and ".join(d.name(t).lower() for t in treatments[:2])
    d.lead(
        f"No, not for this subtype: the sources' recommendations and grades for {names} "
        f"are about dystrophic calcinosis cutis (mostly in systemic sclerosis and "
        f"dermatomyositis), and none of them addresses {_SUBTYPE_NAMES[subtype]}, "
        "which the management topic treats differently."
    )
    if subtype == "calciphylaxis":
        d.lead("Calciphylaxis is life-threatening: its management is urgent.")
    subtype_management(d, count=3)
    return True


def kb_statements(d: Draft) -> tuple[Statement, ...]:
    return d.kb.statements


def _for_your_patient(d: Draft) -> None:
    query = d.query
    profile: dict[str, str | list[str]] = {"subtype": query.subtype or "dystrophic"}
    if query.age_years is not None:
        profile["age_years"] = f"{query.age_years:g}"
    if query.disease:
        profile["underlying_disease"] = query.disease
    # what the question says of the patient that changes the plan (pregnancy, the heart,
    # what is taken) goes with it, so that the assessment starts from the same patient
    if query.conditions:
        profile["conditions"] = list(query.conditions)
    if query.medications:
        profile["medications"] = list(query.medications)
    d.add(
        "For your patient",
        "This is a question about one patient: open the assessment "
        f"(/?{urlencode(profile, doseq=True)}) to get a plan that accounts for the whole "
        "profile, its safety rules and what was tried.",
    )


_PEER_REVIEWED = "the review, the management topic and the review of local therapies"


def only_ai_answer(d: Draft) -> None:
    """A treatment asked about that only the AI-generated answer speaks of (methotrexate,
    JAK inhibitors, PRP): said first, so that its claims are never read as evidence."""
    if any(words in MEMBER_OF_CLASS for words, _ in d.query.mentions):
        return  # "tofacitinib": the composer says the sources name only its class
    for treatment in d.query.treatments[:3]:
        sources = {p.provenance.source for p in passages_of(d.kb, [treatment])}
        studied = any(a.treatment == treatment for a in d.kb.arms)
        if sources == {"ai-answer-dm"} and not studied:
            said = (
                f"Only the AI-generated answer (not peer-reviewed) speaks of "
                f"{lower_name(d.name(treatment))}; none of the peer-reviewed sources "
                f"({_PEER_REVIEWED}) reports it for calcinosis cutis."
            )
            # first when it is what was asked about; after the answer when it is a second
            # treatment ("IVIG ... and with prednisone?")
            if treatment == d.query.treatments[0]:
                d.lead(said)
            else:
                d.deferred.append(said)


def brand_lead(d: Draft) -> None:
    """A brand name asked about is read as its drug, and the answer says so: the sources
    name the drugs, never their brands (blind round 25, q25-09: "Does Cardizem work?")."""
    for words, ids in d.query.mentions:
        if words not in BRANDS or words in MEMBER_OF_CLASS:
            continue  # a member of a class: the composer says the sources name only it
        written = re.search(rf"\b{re.escape(words)}\b", d.query.text, re.IGNORECASE)
        brand = written.group(0) if written else words  # a typo corrected: the brand's
        brand = brand[:1].upper() + brand[1:] if brand.islower() else brand
        names = " and ".join(lower_name(d.name(t)) for t in ids)
        # after what leads (a verdict, "No direct evidence: ..."): never before the answer
        d.deferred.append(f"{brand} is read as {names} (a brand name).")


def prepare(kb: KnowledgeBase) -> None:
    """Build now what answering derives from ``kb`` on first use (the passages and their
    search index, the treatment terms, the typo vocabulary, every pooled estimate): for
    a server, before it serves, so that no request waits for it."""
    understand("calcinosis", kb)
    search(kb, "calcinosis")
    fit_every_estimate(kb)


def answer_question(question: str, kb: KnowledgeBase | None = None) -> AnswerDocument:
    """Answer a clinical question from the evidence base, with numbered citations."""
    kb = kb or load_knowledge()
    query = understand(question, kb)
    if not query.in_scope:
        return _refusal(query, kb)
    d = Draft(kb, query)
    if _other_subtype(d):
        pass
    elif not _unaddressed(d):
        # a yes/no the sources decide leads, whatever else is asked; else a rule that says
        # a treatment asked about harms this patient
        said = verdict(d)
        harmful = None if said else safety_first(d)
        d.lead(said or harmful)
        only_ai_answer(d)
        if harmful and (query.patient_specific or query.prior):
            instead(d)  # a patient for whom it is not advised: what is offered instead
        reading_lead(d)  # "read as traumatic dystrophic calcinosis: ...", whatever is asked
        brand_lead(d)  # "Cardizem is read as diltiazem", at the end of the leading lines
        COMPOSERS[query.intent](d)
        for intent in query.also:
            if intent == "dose" and query.intent == "first-line" and not query.treatments:
                continue  # the first-line composer gives the doses of what it offers
            COMPOSERS[intent](d)
        # a subtype other than dystrophic: its own management, whatever was asked (a dose
        # question in calciphylaxis still needs the topic's calciphylaxis care)
        subtype_management(d, "Guidelines and expert recommendations", count=2)
        if "Nearest passages" not in d.sections:
            nearest(d, "Related passages", 2)
        for line in d.deferred:
            d.lead(line)
    if query.patient_specific:
        _for_your_patient(d)
    if not d.leads:
        d.lead(NOT_ANSWERED)
        nearest(d, "Nearest passages")
    titles = [title for title in SECTIONS if d.sections.get(title)]
    answer, *texts = d.citations.renumber(
        [" ".join(d.leads), *(" ".join(d.sections[title]) for title in titles)]
    )
    return AnswerDocument(
        question=question,
        in_scope=True,
        answer=answer,
        sections=[
            AnswerSections(title=t, text=text) for t, text in zip(titles, texts, strict=True)
        ],
        citations=_citations(d),
        patient_specific=query.patient_specific,
        understood=query.document(),
        evidence_version=kb.version,
        evidence_released=kb.released,
        disclaimer=DISCLAIMER,
    )


MAX_CITATIONS_KEPT = 8192  # answer citations kept per knowledge base, then started afresh


@derived
def _citations_made(kb: KnowledgeBase) -> dict[tuple[int, str, str, str | None], AnswerCitations]:
    """The answers' citations built so far under ``kb``, by number and passage: frozen, so
    one instance serves every answer that cites that passage under that number."""
    return {}


def _citations(d: Draft) -> list[AnswerCitations]:
    """The answer's numbered passages, each built once per number and passage (a citation
    costs several microseconds to build, and an answer has up to some twenty)."""
    made = _citations_made(d.kb)
    found = []
    for c in d.citations.documents():
        key = (c.n, c.source, c.location, c.quote)
        cited = made.get(key)
        if cited is None:
            if len(made) >= MAX_CITATIONS_KEPT:
                made.clear()
            cited = made[key] = _citation(c)
        found.append(cited)
    return found


def _citation(c: CitationDocument) -> AnswerCitations:
    """A numbered passage as an answer cites it: the plan's citation fields, in the order
    an answer's JSON has always had them (the location and quote before the reference)."""
    return AnswerCitations(
        n=c.n,
        label=c.label,
        source=c.source,
        kind=c.kind,
        location=c.location,
        quote=c.quote,
        reference=c.reference,
        reference_text=c.reference_text,
    )


def render_answer(document: AnswerDocument, width: int = 88) -> str:
    """An answer as text for a terminal (sources by name, never by file)."""
    wrap = textwrap.TextWrapper(width=width)
    lines = [wrap.fill(document.answer), ""]
    for section in document.sections:
        lines += [section.title.upper(), wrap.fill(section.text), ""]
    if document.citations:
        lines.append("CITATIONS")
        for c in document.citations:
            quote = f': "{c.quote}"' if c.quote else ""
            lines.append(
                textwrap.fill(
                    f"[{c.n}] {c.label}, {c.location}{quote}",
                    width,
                    subsequent_indent="    ",
                )
            )
        lines.append("")
    lines.append(
        f"Evidence version {document.evidence_version}, released "
        f"{document.evidence_released}. {document.disclaimer}"
    )
    return "\n".join(lines) + "\n"
