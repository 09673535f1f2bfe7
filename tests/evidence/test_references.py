"""calcinosis.evidence.references: numbered citations, the one numbering of plans (and answers)."""

from __future__ import annotations

from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import Citations, marks, places
from calcinosis.evidence.schemas import Provenance

TOPIC = "management-topic"
REVIEW = "traineau-2020"


def where(location: str, quote: str | None = None, source: str = TOPIC) -> Provenance:
    return Provenance(source=source, location=location, quote=quote)


def test_one_number_per_passage_in_the_order_first_cited(kb: KnowledgeBase) -> None:
    citations = Citations(kb)
    assert citations.number(where("Treatment", "First words.")) == 1
    assert citations.number(where("Table 4", "A row.", REVIEW)) == 2
    assert citations.number(where("Treatment", "Other words.")) == 3  # same place, new words
    assert citations.number(where("Treatment", "First words.")) == 1  # cited again
    assert citations.numbers([where("Table 4", "A row.", REVIEW), None, where("Treatment")]) == [
        1,
        2,
    ]  # a bare place joins the first passage of its place
    assert [c.n for c in citations.items()] == [1, 2, 3]
    first = citations.documents()[0]
    assert first is citations.items()[0]  # a citation is its document
    assert first.label == "Calcinosis cutis: management (point-of-care topic)"
    assert (first.source, first.location, first.quote) == (TOPIC, "Treatment", "First words.")
    assert first.reference_text and first.reference.title


def test_a_place_cited_bare_keeps_its_number_and_gains_its_words(kb: KnowledgeBase) -> None:
    citations = Citations(kb)
    assert citations.number(where("Surgery")) == 1
    assert citations.number(where("Surgery", "Excision may be curative.")) == 1
    assert citations.items()[0].quote == "Excision may be curative."
    strict = Citations(kb, by_place=False)  # answers: every quote its own passage
    assert strict.number(where("Surgery")) == 1
    assert strict.number(where("Surgery", "Excision may be curative.")) == 2
    assert strict.cited(where("Surgery")) and not strict.cited(where("Surgery", "Other."))


def test_a_dose_printed_in_the_wrong_unit_is_never_shown(kb: KnowledgeBase) -> None:
    citations = Citations(kb)
    citations.number(where("Colchicine"))
    citations.number(where("Colchicine", "Colchicine ≤1.2 g per day was used."))
    citations.number(where("Other", "Up to ≤1.2 g per day."))
    assert [c.quote for c in citations.items()] == [
        "Colchicine […] was used.",
        "Up to […].",
    ]


def test_marks_places_and_renumbering(kb: KnowledgeBase) -> None:
    assert marks([3, 1, 3]) == "[1][3]" and marks([]) == ""
    citations = Citations(kb)
    for location in ("Lines 1-2", "Lines 3-4", "Lines 5-6"):
        citations.number(where(location, f"Words of {location}."))
    first, last = (
        where("Lines 1-2", "Words of Lines 1-2."),
        where("Lines 5-6", "Words of Lines 5-6."),
    )
    assert citations.cite(last, first) == "[1][3]"
    shown = citations.renumber(["Second [3][1].", "Nothing cited."])
    assert shown == ["Second [1][2].", "Nothing cited."]  # [3] is now [1]: shown first
    assert [(c.n, c.location) for c in citations.items()] == [(1, "Lines 5-6"), (2, "Lines 1-2")]
    assert citations.number(where("Lines 5-6")) == 1  # its place follows it
    assert places(citations.documents(), [2, 9]) == (
        "Calcinosis cutis: management (point-of-care topic), Lines 1-2"
    )
