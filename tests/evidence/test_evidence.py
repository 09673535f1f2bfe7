"""The knowledge base: hand-checked counts, provenance, and broken files."""

from __future__ import annotations

import gc
import re
import shutil
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from calcinosis.errors import KnowledgeError, UnknownChoiceError
from calcinosis.evidence.derived import derived, derived_bounded
from calcinosis.evidence.knowledge_base import (
    KNOWLEDGE_DIR,
    KnowledgeBase,
    arm_document,
    load_knowledge,
    patients_by_disease,
    read_knowledge,
    responders,
    response_figure,
)
from calcinosis.evidence.schemas import Arm
from calcinosis.evidence.synthesis import study_units
from calcinosis.evidence.tables import table_rows
from source_documents import source_path

# Hand-read from seed 001 (Tables 1-3 and the results text), independently of
# arms.yaml: arm id -> (n, responders_any, responders_complete). None = NA/NS.
HAND_CHECKED: dict[str, tuple[int | None, int | None, int | None]] = {
    # Table 1, warfarin
    "berger-1987-warfarin-adult": (2, 0, 0),
    "lassoued-1988-warfarin": (1, 0, 0),
    "cukierman-2004-warfarin": (3, 2, 2),  # "2 (66%)"; text "(2/3; 66%)", line 134
    "balin-2012-warfarin": (3, 2, 0),
    "fredi-2015-warfarin": (2, 0, 0),
    "berger-1987-warfarin-child": (3, 0, 0),  # DM/SSc (1) DM (2)
    # Table 1, diltiazem
    "vayssairat-1998-diltiazem": (12, 3, 0),
    "balin-2012-diltiazem": (14, 9, 0),
    "fredi-2015-diltiazem": (12, 0, 0),
    # Table 2, rituximab
    "aggarwal-2017-rituximab-adult": (7, None, 1),
    "moazedi-fuerst-2015-rituximab": (3, 3, 3),
    "narvaez-2014-rituximab": (9, 9, None),
    "giuggioli-2015-rituximab": (6, 3, 0),
    "fredi-2015-rituximab": (2, 1, 0),
    "aggarwal-2017-rituximab-child": (22, None, 1),
    "bader-meunier-2011-rituximab": (6, 0, 0),
    "alhemairi-2017-rituximab": (4, 4, 1),
    # Table 3, bisphosphonates
    "balin-2012-etidronate": (2, 1, 0),
    "marco-puche-2010-pamidronate": (3, 3, 1),
    "tayfur-2015-pamidronate": (3, 2, 1),
    "tayfur-2015-risedronate": (1, 1, 1),
    "tayfur-2015-alendronate": (2, 0, 0),
    "saini-2016-alendronate": (6, 4, 0),
    # Table 3, surgery and physical therapies
    "bottomley-1996-co2-laser": (6, 5, None),
    "balin-2012-surgical-excision": (28, 27, 22),
    "balin-2012-low-frequency-ultrasound": (1, 1, 0),
    "blumhardt-2016-eswt": (4, 4, 0),
    "sultan-bichat-2012-eswt": (3, 1, 0),
    "shetty-2005-acetic-acid-iontophoresis": (3, 0, 0),
    "fahmy-1998-microdrilling": (15, 12, None),  # digits
    # results text
    "fredi-2015-infliximab": (2, 0, 0),
    "riley-2008-infliximab": (5, 4, 0),  # 80% of 5
    "boulter-2011-infliximab": (None, None, 0),
    "deguzman-2017-abatacept": (4, 4, None),  # Table 4 only
    "galimberti-2015-ivig": (8, 5, 0),
    "fredi-2015-ivig": (7, 0, 0),
    "trysberg-2014-sts-iv": (3, 0, 0),
    "mageau-2017-sts-iv": (4, 0, 0),
    "fredi-2015-sts-topical": (5, 0, 0),
    "del-barrio-diaz-2016-metabisulfite": (3, 3, 1),
    "baumgartner-nielsen-2016-sts-intralesional": (5, 5, 2),
    "robertson-2003-minocycline": (9, 8, None),
    "balin-2012-minocycline": (3, 1, None),
    "balin-2012-colchicine": (7, 3, 1),
    "fredi-2015-colchicine": (9, 1, None),
    "moraitis-2013-cyclophosphamide": (14, None, 9),
}

# DESIGN.md, "Treatment identifiers"
DESIGN_IDS = [
    "warfarin",
    "diltiazem",
    "rituximab",
    "infliximab",
    "abatacept",
    "pamidronate",
    "alendronate",
    "risedronate",
    "etidronate",
    "ivig",
    "sodium-thiosulfate-topical",
    "sodium-thiosulfate-intralesional",
    "sodium-thiosulfate-iv",
    "sodium-metabisulfite-topical",
    "minocycline",
    "colchicine",
    "cyclophosphamide",
    "surgical-excision",
    "microdrilling",
    "co2-laser",
    "eswt",
    "low-frequency-ultrasound",
    "acetic-acid-iontophoresis",
    "observation",
    "treat-underlying-disease",
    "correct-calcium-phosphate",
    "calciphylaxis-care",
]


def test_every_arm_is_hand_checked(kb: KnowledgeBase) -> None:
    assert {arm.id for arm in kb.arms} == set(HAND_CHECKED)
    for arm in kb.arms:
        assert (arm.n, arm.responders_any, arm.responders_complete) == HAND_CHECKED[arm.id], arm.id


def test_the_thirty_included_studies(kb: KnowledgeBase) -> None:
    references = sorted(study.reference for study in kb.studies.values())
    assert references == [10, 20, *range(26, 54)]
    assert {arm.study for arm in kb.arms} == set(kb.studies)


def test_designs_match_the_methods_lists(kb: KnowledgeBase) -> None:
    # Methods, lines 123-124: 2 RCTs, 11 prospective, 17 retrospective
    by_design: dict[str, list[int]] = {}
    for study in kb.studies.values():
        by_design.setdefault(study.design_in_methods, []).append(study.reference)
    assert sorted(by_design["rct"]) == [20, 30]
    assert sorted(by_design["prospective"]) == [31, 32, 36, 43, 44, 45, 46, 47, 48, 51, 53]
    assert len(by_design["retrospective"]) == 17


def _letters(text: str) -> str:
    """Letters only: the seeds interleave line numbers and superscript references."""
    return "".join(c for c in text.casefold() if c.isalpha())


def _all_quotes(kb: KnowledgeBase) -> list[tuple[str, str, str]]:
    """(record, source id, quote) for every quote in the knowledge base."""
    quotes = [(a.id, a.provenance.source, a.provenance.quote) for a in kb.arms]
    quotes += [(s.id, s.source, s.quote) for s in kb.statements]
    quotes += [(t.id, t.provenance.source, t.provenance.quote) for t in kb.totals]
    for entry in kb.treatments.values():
        claims = [*entry.mechanism, *entry.regimens, *entry.adverse_effects, *entry.notes]
        claims += [entry.time_to_response] if entry.time_to_response else []
        quotes += [(entry.id, c.provenance.source, c.provenance.quote) for c in claims]
        quotes += [
            (entry.id, r.provenance.source, r.provenance.quote) for r in entry.contraindications
        ]
    return [(record, source, quote) for record, source, quote in quotes if quote]


def test_every_quote_is_in_its_seed(kb: KnowledgeBase) -> None:
    seeds = {
        source.id: _letters(source_path(source.seed_file).read_text(encoding="utf-8"))
        for source in kb.sources.values()
    }
    quotes = _all_quotes(kb)
    assert len(quotes) > 100
    missing = []
    for record, source, quote in quotes:
        for fragment in quote.split("..."):  # an ellipsis marks words left out
            if len(_letters(fragment)) >= 8 and _letters(fragment) not in seeds[source]:
                missing.append((record, source, fragment.strip()))
    assert missing == []


def test_every_arm_names_its_passage(kb: KnowledgeBase) -> None:
    for arm in kb.arms:
        assert arm.provenance.source == "traineau-2020"
        assert arm.provenance.location.startswith(("Table", "Results")), arm.id


def test_printed_cells_are_verbatim_for_table_arms(kb: KnowledgeBase) -> None:
    review = source_path(kb.sources["traineau-2020"].seed_file).read_text(encoding="utf-8")
    for arm in kb.arms:
        if arm.source in ("Table 1", "Table 2", "Table 3"):
            assert arm.printed is not None and arm.row is not None
            for cell in (arm.printed.partial, arm.printed.complete):
                assert cell is not None and cell in review, (arm.id, cell)


def test_design_treatment_ids_exist(kb: KnowledgeBase) -> None:
    missing = [tid for tid in DESIGN_IDS if tid not in kb.treatments]
    assert missing == []
    assert set(kb.classes["bisphosphonates"]) == {
        "pamidronate",
        "alendronate",
        "risedronate",
        "etidronate",
    }


def test_resolve_names_the_valid_choices(kb: KnowledgeBase) -> None:
    assert kb.resolve("warfarin") == ("warfarin",)
    with pytest.raises(UnknownChoiceError, match="unknown treatment 'aspirin'; valid choices: "):
        kb.resolve("aspirin")


def test_patients_by_disease_counts_patients_not_digits(kb: KnowledgeBase) -> None:
    arms = {arm.id: arm for arm in kb.arms}
    assert patients_by_disease(arms["fahmy-1998-microdrilling"]) == {
        "DM": 0,
        "SSc": 10,
        "unspecified": 0,
    }
    # the overlap child of Berger 1987 counts as DM, as the review's text does
    assert patients_by_disease(arms["berger-1987-warfarin-child"])["DM"] == 3


def test_arm_document_has_the_contract_fields(kb: KnowledgeBase) -> None:
    document = arm_document(kb, kb.arms[0], kb.arms[0].level).model_dump(exclude_unset=True)
    for key in (
        "study",
        "first_author",
        "year",
        "reference",
        "design",
        "treatment",
        "population",
        "disease",
        "n",
        "responders_any",
        "responders_complete",
        "follow_up_months",
        "level",
        "source",
    ):
        assert key in document
    assert document["study"] == "berger-1987" and document["design"] == "rct"


def test_version_is_stable_and_content_addressed(kb: KnowledgeBase, tmp_path: Path) -> None:
    """The version is the manifest's plus a hash of the files' bytes: the same files give
    the same version wherever they are; one byte changed gives another; put back, the first."""
    assert re.fullmatch(re.escape(kb.manifest.version) + r"\+[0-9a-f]{12}", kb.version)
    assert load_knowledge() is kb  # loaded once
    copy = tmp_path / "copy"
    shutil.copytree(KNOWLEDGE_DIR, copy)
    assert load_knowledge(copy).version == kb.version  # another place, the same content
    arms = copy / "arms.yaml"
    original = arms.read_bytes()
    changed = tmp_path / "changed"
    shutil.copytree(copy, changed)
    (changed / "arms.yaml").write_bytes(original + b"# one more line\n")  # same records
    edited = load_knowledge(changed)
    assert edited.arms == kb.arms
    assert edited.version.startswith(kb.manifest.version + "+") and edited.version != kb.version
    restored = tmp_path / "restored"
    shutil.copytree(changed, restored)
    (restored / "arms.yaml").write_bytes(original)
    assert load_knowledge(restored).version == kb.version


@pytest.mark.parametrize(
    ("name", "fixture", "expected"),
    [
        (
            "arms",
            "arms_unknown_field.yaml",
            "arms.yaml, record #1 (berger-1987-warfarin-adult), field 'responders_partial': "
            "Extra inputs are not permitted",
        ),
        (
            "arms",
            "arms_responders_exceed_n.yaml",
            "arms.yaml, record #1 (lassoued-1988-warfarin): ",
        ),
        ("arms", "arms_negative_n.yaml", "arms.yaml, record #1 (fredi-2015-warfarin), field 'n': "),
        (
            "arms",
            "arms_unknown_treatment.yaml",
            "arms.yaml, record fredi-2015-warfarin, field 'treatment': "
            "unknown treatment 'vitamin-k'",
        ),
        (
            "arms",
            "arms_bad_level.yaml",
            "arms.yaml, record #1 (fredi-2015-warfarin), field 'level': ",
        ),
        ("studies", "studies_not_yaml.yaml", "studies.yaml, record line "),
        # A key written twice: YAML would keep the second value and drop the first silently.
        (
            "studies",
            "studies_repeated_key.yaml",
            "studies.yaml, record line 5: not valid YAML: duplicate key 'year'",
        ),
        (
            "studies",
            "studies_duplicate_id.yaml",
            "studies.yaml, record #2 (berger-1987), field 'id': duplicate id 'berger-1987'",
        ),
        ("sources", "sources_mapping_not_list.yaml", "sources.yaml: must be a list of records"),
    ],
)
def test_a_broken_file_names_file_record_and_field(
    knowledge_copy: Callable[..., Path], name: str, fixture: str, expected: str
) -> None:
    directory = knowledge_copy(**{name: fixture})
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(directory)
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message
    assert info.value.file == f"{name}.yaml"


def test_a_missing_file_is_named(knowledge_copy: Callable[..., Path]) -> None:
    directory = knowledge_copy()
    (directory / "table4.yaml").unlink()
    with pytest.raises(KnowledgeError, match=r"^table4\.yaml: file is missing$"):
        load_knowledge(directory)


def _arm(kb: KnowledgeBase, arm_id: str, **changes: object) -> Arm:
    arm = next(a for a in kb.arms if a.id == arm_id)
    return arm.model_copy(update={"id": f"{arm_id}-variant", **changes})


def test_responders_the_one_rule_for_nulls(kb: KnowledgeBase) -> None:
    """An arm counts when it reports n (at least 1) and the outcome's count; a null is
    left out with its reason, never read as 0 nor taken from the other outcome."""
    both = _arm(kb, "balin-2012-diltiazem", n=14, responders_any=9, responders_complete=0)
    no_any = _arm(kb, "balin-2012-diltiazem", n=7, responders_any=None, responders_complete=1)
    no_n = _arm(kb, "balin-2012-diltiazem", n=None, responders_any=2, responders_complete=1)
    empty = _arm(kb, "balin-2012-diltiazem", n=0, responders_any=0, responders_complete=0)
    count = responders([both, no_any, no_n, empty], "any")
    assert (count.outcome, count.x, count.n, count.k) == ("any", 9, 14, 1)
    assert count.left_out == (
        (no_any.id, "responders_any not reported (null)"),
        (no_n.id, "n not reported (null)"),
        (empty.id, "n is 0"),
    )
    complete = responders([both, no_any, no_n, empty], "complete")
    assert (complete.x, complete.n, complete.arms) == (1, 21, (both.id, no_any.id))
    assert responders([no_n], "any").k == 0 and responders([], "complete").x == 0
    # a study's figure: any response when one arm reports it (the other arm left out),
    # else complete responses only, else none
    assert response_figure([both, no_any]) == responders([both, no_any], "any")
    only_complete = response_figure([no_any, no_n])
    assert only_complete is not None and only_complete.outcome == "complete"
    assert (only_complete.x, only_complete.n) == (1, 7)
    assert response_figure([no_n, empty]) is None


def test_every_count_of_responders_follows_the_rule(kb: KnowledgeBase) -> None:
    """Pooling, the level rules, Table 4's range and the audit all count with it:
    Aggarwal 2017 reports complete responses only (any response NA) in both its arms."""
    arms = kb.arms_for(["rituximab"])
    units, left_out = study_units(kb, arms, "any")
    assert "aggarwal-2017" not in {unit.study for unit in units}
    assert {item.arm for item in left_out} >= {
        "aggarwal-2017-rituximab-adult",
        "aggarwal-2017-rituximab-child",
    }
    complete, _ = study_units(kb, arms, "complete")
    aggarwal = next(unit for unit in complete if unit.study == "aggarwal-2017")
    assert (aggarwal.x, aggarwal.n) == (2, 29)  # 1 of 7 adults and 1 of 22 children
    row = next(r for r in table_rows(kb, 4) if "rituximab" in r.treatments)
    assert set(row.response_range.complete_only) >= {"aggarwal-2017-rituximab-adult"}


def test_the_indexes_answer_as_a_scan_of_the_records_would(kb: KnowledgeBase) -> None:
    """Built once with the base and kept: the same object each time, and the same answer
    as reading the records in file order."""
    assert kb.statements_by_id is kb.statements_by_id and kb.drug_names is kb.drug_names
    for treatment in kb.treatments:
        assert kb.statements_about(treatment) == tuple(
            s for s in kb.statements if treatment in s.treatments
        )
        assert kb.arms_for([treatment]) == tuple(a for a in kb.arms if a.treatment == treatment)
        assert kb.table4_row(treatment) == next(
            (row for row in kb.table4 if treatment in row.treatments), None
        )
        for statement, other in kb.conflicts_about(treatment):
            assert other.id in statement.conflicts_with
            assert treatment in statement.treatments and treatment in other.treatments
    assert kb.statement("management-topic-two-questions").id == "management-topic-two-questions"
    assert kb.conflicts_about("warfarin")  # the sources disagree about it
    assert kb.table4_row("aspirin") is None and kb.statements_about("aspirin") == ()
    both = kb.arms_for(["warfarin", "diltiazem"])
    assert both == tuple(a for a in kb.arms if a.treatment in ("warfarin", "diltiazem"))
    names = dict(kb.drug_names)
    assert names["low-dose warfarin"] == names["warfarin"] == "warfarin"  # a synonym, the name
    assert names["iv sodium thiosulfate"] == "sodium-thiosulfate-iv"
    assert names["sodium thiosulfate iv"] == "sodium-thiosulfate-iv"  # the id in words
    lengths = [len(name) for name, _ in kb.drug_names]
    assert lengths == sorted(lengths, reverse=True)
    assert set(names.values()) <= kb.therapy_ids()
    assert kb.flagged_figures == ("≤1.2 g per day",)


def test_what_is_derived_from_a_base_is_computed_once_per_base_and_goes_with_it() -> None:
    calls: list[tuple[str, str]] = []

    @derived
    def therapies_named(kb: KnowledgeBase, letter: str) -> tuple[str, ...]:
        calls.append((kb.version, letter))
        return tuple(t for t in sorted(kb.therapy_ids()) if t.startswith(letter))

    first, second = read_knowledge(KNOWLEDGE_DIR), read_knowledge(KNOWLEDGE_DIR)
    assert therapies_named(first, "d") is therapies_named(first, "d")
    assert "diltiazem" in therapies_named(first, "d")
    assert therapies_named(first, letter="m") is therapies_named(first, letter="m")
    assert therapies_named(second, "d") == therapies_named(first, "d")
    assert therapies_named(second, "d") is not therapies_named(first, "d")  # its own
    assert len(calls) == 3  # (first, d), (first, m), (second, d)
    gone = weakref.ref(second)
    del second
    gc.collect()
    assert gone() is None  # nothing outside the base kept it alive


def test_a_bounded_derived_value_keeps_at_most_its_bound_per_base() -> None:
    @derived_bounded(3)
    def scaled(kb: KnowledgeBase, weight: float) -> float:
        return weight * len(kb.treatments)

    kb = read_knowledge(KNOWLEDGE_DIR)
    values = [scaled(kb, w) for w in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert values == [w * len(kb.treatments) for w in (1.0, 2.0, 3.0, 4.0, 5.0)]
    kept = kb._derived[scaled.__wrapped__]  # type: ignore[attr-defined]
    assert len(kept) == 3  # type: ignore[arg-type]
    assert set(kept) == {(w,) for w in (3.0, 4.0, 5.0)}  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="at least 1"):
        derived_bounded(0)
