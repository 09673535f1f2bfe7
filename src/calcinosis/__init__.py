"""calcinosis: evidence-based clinical decision support for calcinosis cutis.

The public Python API (DESIGN.md's contracts are the CLI, the JSON and HTTP; this is the
same thing in process)::

    from calcinosis import load_knowledge, parse_patient, recommend_document, answer

    kb = load_knowledge()
    patient = parse_patient({"subtype": "dystrophic", ...}, kb.treatments)
    plan = recommend_document(patient, kb)     # the plan document of DESIGN.md
    reply = answer("Does warfarin promote calcification?", kb)

The entry points are loaded on first use (PEP 562), so that ``import calcinosis``, which
every module of the package does for :data:`DISCLAIMER`, loads nothing else: each command
imports only the layers it needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__all__ = [
    "DISCLAIMER",
    "KnowledgeBase",
    "Patient",
    "Plan",
    "__version__",
    "answer",
    "load_knowledge",
    "parse_patient",
    "recommend",
    "recommend_document",
]

__version__ = "0.1.0"
# Every output says it (DESIGN.md): the CLI's last line, the plan and answer documents, the
# pages, the cards, the OpenAPI description. The one place this sentence is written.
DISCLAIMER = (
    "calcinosis supports, and does not replace, clinical judgement: check what it says "
    "against the patient in front of you and the cited sources."
)

if TYPE_CHECKING:
    from calcinosis.answers.compose import answer_question as answer
    from calcinosis.decision.engine import recommend, recommend_document
    from calcinosis.decision.patient import Patient, parse_patient
    from calcinosis.decision.plan import Plan
    from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge

# name -> (module, attribute): where each public entry point is defined.
_ENTRY_POINTS = {
    "answer": ("calcinosis.answers.compose", "answer_question"),
    "recommend": ("calcinosis.decision.engine", "recommend"),
    "recommend_document": ("calcinosis.decision.engine", "recommend_document"),
    "Patient": ("calcinosis.decision.patient", "Patient"),
    "parse_patient": ("calcinosis.decision.patient", "parse_patient"),
    "Plan": ("calcinosis.decision.plan", "Plan"),
    "KnowledgeBase": ("calcinosis.evidence.knowledge_base", "KnowledgeBase"),
    "load_knowledge": ("calcinosis.evidence.knowledge_base", "load_knowledge"),
}


def __getattr__(name: str) -> object:
    try:
        module, attribute = _ENTRY_POINTS[name]
    except KeyError:
        raise AttributeError(f"module 'calcinosis' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
