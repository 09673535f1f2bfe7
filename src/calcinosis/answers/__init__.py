"""Clinical questions in plain language, answered only from the evidence base.

``answer_question("Does warfarin promote calcification?")`` first understands the
question into a typed :class:`Query` (``understand``: intent, treatments,
population, disease, subtype, and for a yes/no question the proposition asked),
then composes the answer for that intent from the records of the knowledge base,
every sentence followed by numbered citations that quote the sentence carrying
the claim, and each grade or figure said with whom it is about. "Yes." or "No."
leads only when a record affirms or denies the proposition; what the sources do
not address is said to be so. A question outside calcinosis cutis gets
``in_scope: false`` and a refusal naming what it is about instead.

Modules: ``lexicon`` (``knowledge/lexicon.yaml``, the words of questions, validated),
``vocabulary`` (what a question is about) and ``cues`` (what it asks), both built from
the lexicon, ``query`` (the typed query), ``understand`` (words -> query), ``passages``
(the quotable sentences and their FTS5 index), ``draft`` (an answer being written,
its citations numbered by ``references.Citations``), ``blocks`` (grades, arms,
findings, safety, doses, disagreements), ``verdicts`` (yes/no leads), ``selection``
(what to lead with), ``intents``, ``topics`` and ``plans`` (one composer per intent),
``estimates`` (the pooled estimates quoted, fitted once and kept between processes),
``compose`` (the ``ask`` document; ``prepare`` builds the indexes before a server serves).
What they derive from a knowledge base (its terms, passages, search index, plans and
estimates) is kept with that base (``KnowledgeBase.derived``), built on first use.
"""

from __future__ import annotations

from calcinosis.answers.compose import answer_question, prepare, render_answer
from calcinosis.answers.query import Proposition, Query
from calcinosis.answers.understand import understand

__all__ = ["Proposition", "Query", "answer_question", "prepare", "render_answer", "understand"]
