"""The answers' lexicon (knowledge/lexicon.yaml) and the catalog's synonyms as data: the
tables the answers import are built from the file, a corrupt file is refused with one line
naming the file, the record and the field, and a word added to the data is understood
without a change of code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calcinosis.answers import cues, lexicon, vocabulary
from calcinosis.answers.understand import normalise, understand
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, KnowledgeBase, read_knowledge

LEXICON = Path(lexicon.__file__).parents[1] / "knowledge" / "lexicon.yaml"


def test_the_lexicon_ships_validates_and_names_what_exists(kb: KnowledgeBase) -> None:
    """Read through importlib.resources, as from an installed wheel; every treatment, class
    and source id it names is the knowledge base's."""
    assert lexicon.LEXICON_FILE.is_file()
    assert lexicon.read_lexicon() == lexicon.LEXICON
    lexicon.check_lexicon(kb)
    # the tables the answers import are the file's
    assert vocabulary.ALIASES["cardizem"] == "diltiazem"
    assert vocabulary.CLASSES["sodium-thiosulfate"].members[0] == "sodium-thiosulfate-topical"
    assert cues.INTENT_CUES[0][0] == "study-size"
    assert "no" in cues.NEGATIONS


def test_no_treatment_word_of_the_lexicon_repeats_the_catalog(kb: KnowledgeBase) -> None:
    """The catalog's names and synonyms are read first: a lexicon word that repeats one is
    dead data (a synonym belongs in treatments.yaml, once)."""
    catalog = {
        normalise(words).strip()
        for entry in kb.treatments.values()
        for words in (entry.name, entry.id.replace("-", " "), *entry.synonyms)
    }
    words = [*vocabulary.ALIASES, *(p for t in vocabulary.CLASSES.values() for p in t.phrases)]
    assert [w for w in words if normalise(w).strip() in catalog] == []


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    label: Bisphosphonates\n",
            "    label: Bisphosphonates\n    members: [pamidronate]\n    synonyms: [bps]\n",
            r"^lexicon\.yaml, record classes\.bisphosphonates, field 'synonyms': "
            r"Extra inputs are not permitted$",
        ),
        (
            "  lupus: systemic-lupus-erythematosus\n",
            "  lupus: lupus\n",
            r"^lexicon\.yaml, record diseases\.lupus: Input should be 'systemic-sclerosis', ",
        ),
        (
            "isnt, never, 'no', non,",
            "isnt, never, no, non,",
            r"^lexicon\.yaml, record cues\.negations #10: Input should be a valid string$",
        ),
        (
            "    - intent: dose\n",
            "    - intent: dosing\n",
            r"^lexicon\.yaml, record cues\.intents #12, field 'intent': Input should be ",
        ),
        (
            "  jakis: jak-inhibitors\n",
            "  jakis: jak-inhibitors\n  jaki: tofacitinib\n",
            r"^lexicon\.yaml, record line 93: not valid YAML: duplicate key 'jaki'$",
        ),
        (
            "      - ' how many were '\n",
            "      - ' how many were ('\n",
            r"^lexicon\.yaml, record cues\.intents #1 \(study-size\), field 'patterns\[4\]': "
            r"not a valid pattern: missing \), unterminated subpattern at position 15$",
        ),
        (
            "  pregnancy: [pregnant, pregnancy]\n",
            "  pregnancy: [pregnant, pregnancy, pregnant]\n",
            r"^lexicon\.yaml, record conditions\.pregnancy, field '\[2\]': duplicate 'pregnant'$",
        ),
        (
            "abbreviations:\n",
            "abbreviation: {}\nabbreviations:\n",
            r"^lexicon\.yaml, record abbreviation: Extra inputs are not permitted$",
        ),
    ],
)
def test_a_corrupt_lexicon_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = LEXICON.read_text(encoding="utf-8")
    assert text.count(old) == 1
    corrupt = tmp_path / "lexicon.yaml"
    corrupt.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as info:
        lexicon.read_lexicon(corrupt)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("table", "words"), [("aliases", "dilt"), ("brands", "cardizem")])
def test_a_lexicon_naming_an_unknown_treatment_is_refused(
    kb: KnowledgeBase, table: str, words: str
) -> None:
    entries = getattr(lexicon.LEXICON, table)
    assert entries[words] == "diltiazem"
    wrong = lexicon.LEXICON.model_copy(update={table: {**entries, words: "diltiazam"}})
    with pytest.raises(KnowledgeError) as info:
        lexicon.check_lexicon(kb, wrong)
    assert str(info.value) == (
        f"lexicon.yaml, record {table}.{words}: unknown treatment 'diltiazam'"
    )


def test_a_synonym_added_to_the_catalog_is_understood_without_code(tmp_path: Path) -> None:
    """Colgout is colchicine's brand name in Australia: unknown to the data today, a
    colchicine question once treatments.yaml lists it."""
    question = "Does Colgout help calcinosis?"
    assert understand(question).treatments == ()
    directory = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, directory)
    catalog = directory / "treatments.yaml"
    text = catalog.read_text(encoding="utf-8")
    old = "- id: colchicine\n  name: Colchicine\n"
    assert text.count(old) == 1
    catalog.write_text(text.replace(old, old + "  synonyms: [Colgout]\n"), encoding="utf-8")
    edited = read_knowledge(directory)
    query = understand(question, edited)
    assert query.treatments == ("colchicine",)
    assert query.mentions == (("colgout", ("colchicine",)),)


def test_the_patterns_are_compiled_once_per_file_code_and_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict that every pattern compiles is kept under the file's and the code's
    hash: a second read of the same file skips the compiling; another file (a pattern
    broken) is checked, and refused, even with the first file's verdict kept."""
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", str(tmp_path / "cache"))
    checked: list[str] = []
    real = lexicon._check_patterns

    def counting(name: str, found: lexicon.Cues) -> None:
        checked.append(name)
        real(name, found)

    monkeypatch.setattr(lexicon, "_check_patterns", counting)
    good = tmp_path / "lexicon.yaml"
    shutil.copy(LEXICON, good)
    assert lexicon.read_lexicon(good) == lexicon.LEXICON
    assert lexicon.read_lexicon(good) == lexicon.LEXICON
    assert checked == ["lexicon.yaml"]  # once
    assert len(list((tmp_path / "cache").glob("lexicon-*.checked"))) == 1
    text = LEXICON.read_text(encoding="utf-8")
    pattern = lexicon.LEXICON.cues.intents[0].patterns[0]
    assert text.count(pattern) >= 1
    broken = tmp_path / "broken" / "lexicon.yaml"
    broken.parent.mkdir()
    broken.write_text(text.replace(pattern, pattern + "(", 1), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"not a valid pattern"):
        lexicon.read_lexicon(broken)
    assert checked == ["lexicon.yaml", "lexicon.yaml"]
    # an unwritable cache directory: checked every time, and no error
    monkeypatch.setenv("CALCINOSIS_CACHE_DIR", "/dev/null")
    assert lexicon.read_lexicon(good) == lexicon.LEXICON
    assert len(checked) == 3
