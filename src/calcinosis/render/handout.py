"""A handout for the patient: the same plan, in plain words, from the same sources.

It says only what the plan and its sources say: what calcinosis cutis is (the
review's definition), that the response to treatment varies (the management
topic), the treatment to start with and how it is given, when a response may be
seen and the side effects the sources list for it, what else can be tried, and what
the patient's current medicines mean for it. Where the sources say nothing (when to
come back, the dose for this patient), it says to ask the clinician. Every statement
carries the citation of its passage.
"""

from __future__ import annotations

import re

from calcinosis.decision.documents import (
    AdverseEffect,
    AvoidedOption,
    OfferedOption,
    PlanDocument,
)
from calcinosis.decision.patient import Patient
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import reference_text
from calcinosis.render.documents import (
    HandoutDocument,
    HandoutMedicine,
    HandoutNote,
    HandoutSideEffect,
    HandoutSource,
    HandoutStart,
    HandoutStatement,
)

__all__ = ["handout_document"]

ROUTE_WORDS = {
    "topical": "put on the skin over the lesions",
    "intralesional": "injected into the lesions",
    "oral": "taken by mouth",
    "intravenous": "given into a vein",
    "infusion": "given into a vein",
}
DEFINITION = "answers-review-definition"
VARIABLE_RESPONSE = "management-topic-decision-to-treat"


def _statement(kb: KnowledgeBase, text: str, statement_id: str) -> HandoutStatement:
    """``text``, with the passage of the statement ``statement_id`` that says it."""
    statement = next(s for s in kb.statements if s.id == statement_id)
    note = HandoutSource(
        reference=reference_text(kb.sources[statement.source]),
        location=statement.location,
        quote=statement.quote,
    )
    return HandoutStatement(text=text, note=note)


def _notes(plan: PlanDocument, used: set[int]) -> list[HandoutNote]:
    return [
        HandoutNote(n=c.n, reference=c.reference_text, location=c.location)
        for c in plan.citations
        if c.n in used
    ]


def _medicines(kb: KnowledgeBase, patient: Patient, plan: PlanDocument) -> list[HandoutMedicine]:
    """What each current medicine that the plan avoids means for the patient."""
    avoided = {o.id: o for o in plan.options if isinstance(o, AvoidedOption)}
    found = []
    for medication in patient.medications:
        option = avoided.get(medication)
        if option is None:
            continue
        name = kb.treatments[medication].name
        rules = [
            r
            for r in kb.treatments[medication].contraindications
            if r.stance == "avoid" and r.text in option.rationale
        ]
        everywhere = any(rule.indication == "any" for rule in rules)
        if everywhere:
            text = (
                f"Please talk soon with the doctor who prescribed {name.lower()}: "
                f"{option.reason[:1].lower()}{option.reason[1:]}"
            )
        elif option.avoid_reason == "ineffective":
            text = (
                f"{name} does not treat calcinosis. If you take it for another reason, do not "
                "stop it on your own: ask the doctor who prescribed it."
            )
        else:
            text = (
                f"Ask the doctor who prescribed {name.lower()} whether you should keep taking it."
            )
        found.append(HandoutMedicine(name=name, text=text, citations=option.citations))
    return found


def _side_effects(effects: list[AdverseEffect]) -> list[HandoutSideEffect]:
    """The sources' adverse effects in their own first words, without counts, once each
    ("transient pain (n=2/5)" and "transient pain in over 11% of patients" are one)."""
    plain: dict[str, HandoutSideEffect] = {}
    for effect in effects:
        words = re.split(r"[,(;]| in over | in \d", effect.text)[0].strip()
        if words.lower() not in plain:
            plain[words.lower()] = HandoutSideEffect(text=words, citation=effect.citation)
    return list(plain.values())


def handout_document(kb: KnowledgeBase, patient: Patient, plan: PlanDocument) -> HandoutDocument:
    """The handout of one plan: sections of plain sentences, each with its citations."""
    first = [o for o in plan.options if isinstance(o, OfferedOption) and o.stance == "first-line"]
    start = []
    for option in first:
        entry = kb.treatments[option.id]
        how = ROUTE_WORDS.get((entry.route or "").split(" ")[0])
        item = HandoutStart(
            name=option.name,
            how=how,
            drug=entry.kind == "drug",
            expect=option.time_to_response,
            side_effects=_side_effects(option.adverse_effects),
            citations=option.citations,
        )
        start.append(item)
    used = {o.time_to_response.citation for o in first if o.time_to_response}
    used |= {e.citation for i in start for e in i.side_effects}
    return HandoutDocument(
        what_it_is=_statement(
            kb,
            "Calcinosis cutis means deposits of calcium in the skin and in the tissue "
            "just under the skin.",
            DEFINITION,
        ),
        response_varies=_statement(
            kb,
            "How well a treatment works differs from one person to another, and "
            "treatments can have side effects: your clinician weighs them with you.",
            VARIABLE_RESPONSE,
        ),
        critical=plan.critical,
        start=start,
        next=[e.name for e in plan.summary.next],  # observation, if offered, is no next step
        next_lead=(
            "If you want treatment later, treatments can be discussed, such as"
            if plan.summary.next_title == "If treatment becomes wanted"
            else "If it does not help, other treatments can be discussed, such as"
        ),
        medicines=_medicines(kb, patient, plan),
        not_for_you=[
            o.name
            for o in plan.options
            if o.stance == "avoid" and o.avoid_reason in ("harm", "tried")
        ],
        notes=_notes(plan, used),
    )
