"""The algorithm's words, citations and ranks as data (knowledge/algorithm.yaml): every
record is said by the step it names and every text a step says is a record; a corrupt
file is refused with one line naming the file, the record and the field (exit 2 from the
command line); an edit of the data changes the plan without a change of code."""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calcinosis.cli import main
from calcinosis.decision import engine
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.knowledge_base import (
    KNOWLEDGE_DIR,
    KnowledgeBase,
    load_knowledge,
    read_knowledge,
)

ALGORITHM = KNOWLEDGE_DIR / "algorithm.yaml"
ENGINE = Path(engine.__file__)
DIGITAL_SSC = {
    "age_years": 52,
    "subtype": "dystrophic",
    "underlying_disease": "systemic-sclerosis",
    "symptomatic": True,
    "lesions": {"count": 1, "largest_cm": 0.8, "distribution": "localized", "digital": True},
}


def _texts_said_by_the_engine(kb: KnowledgeBase) -> dict[str, set[str]]:
    """Each algorithm id written in engine.py -> the functions it is written in."""
    said: dict[str, set[str]] = {}

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef) else function
            if (
                isinstance(child, ast.Constant)
                and isinstance(child.value, str)
                and child.value in kb.algorithm
            ):
                said.setdefault(child.value, set()).add(function)
            visit(child, inner)

    visit(ast.parse(ENGINE.read_text(encoding="utf-8")), "")
    return said


def test_every_record_is_said_by_its_step_and_every_text_said_is_a_record(
    kb: KnowledgeBase,
) -> None:
    said = _texts_said_by_the_engine(kb)
    assert sorted(set(kb.algorithm) - set(said)) == []  # no record left unsaid
    for text_id, record in kb.algorithm.items():
        assert said[text_id] == {record.step}, text_id
        assert callable(getattr(engine, record.step)), record.step
    # and no call of the Builder names a text that is not in the data
    source = ENGINE.read_text(encoding="utf-8")
    named = re.findall(r"\b(?:say|words|ranks|offer_as)\(\s*\"([^\"]+)\"", source)
    assert named and sorted(set(named) - set(kb.algorithm)) == []


def test_each_subtype_s_ranks_are_given_once(kb: KnowledgeBase) -> None:
    for subtype in engine.STEPS:
        ranks = [
            offer.rank
            for record in kb.algorithm.values()
            if record.plan in (subtype, "every")
            for offer in record.offers
        ]
        assert len(ranks) == len(set(ranks)), subtype


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    directory = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, directory)
    text = ALGORITHM.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    (directory / "algorithm.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return directory


CORRUPT = [
    (
        "  offers: [{treatment: microdrilling, rank: 31}]\n",
        "  offers: [{treatment: microdrilling, rank: 31}]\n  weight: 3\n",
        r"^algorithm\.yaml, record #\d+ \(surgery\.microdrilling\), field 'weight': "
        r"Extra inputs are not permitted$",
    ),
    (
        "  cites: [review-discussion-surgery]\n  offers: [{treatment: microdrilling",
        "  cites: [review-discussion-surgeries]\n  offers: [{treatment: microdrilling",
        r"^algorithm\.yaml, record surgery\.microdrilling, field 'cites\[0\]': "
        r"unknown statement 'review-discussion-surgeries'$",
    ),
    (
        "{treatment: microdrilling, rank: 31}",
        "{treatment: micro-drilling, rank: 31}",
        r"^algorithm\.yaml, record surgery\.microdrilling, field 'offers\[0\]\.treatment': "
        r"unknown treatment 'micro-drilling'$",
    ),
    (
        "{treatment: microdrilling, rank: 31}",
        "{treatment: microdrilling, rank: 30}",
        r"^algorithm\.yaml, record surgery\.microdrilling, field 'offers\[0\]\.rank': "
        r"rank 30 is given twice in the dystrophic plan \(first by surgery\.excision\)$",
    ),
    (
        "  offers: [{treatment: observation, rank: 99}]\n",
        "  offers: [{treatment: observation, rank: 10}]\n",
        r"^algorithm\.yaml, record nothing-left, field 'offers\[0\]\.rank': "
        r"rank 10 is given twice in the dystrophic plan \(first by local\.intralesional\)$",
    ),
    (
        "  plan: dystrophic\n  text: Microdrilling",
        "  plan: dermatomyositis\n  text: Microdrilling",
        r"^algorithm\.yaml, record #\d+ \(surgery\.microdrilling\), field 'plan': ",
    ),
    (
        "  ranks_from: 60\n",
        "  ranks_from: 40\n",
        r"^algorithm\.yaml, record exhausted\.other-drugs, field 'ranks_from': "
        r"rank 40 is given twice in the dystrophic plan \(first by specific\.rituximab\)$",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), CORRUPT)
def test_a_corrupt_algorithm_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(KnowledgeError, match=message) as info:
        read_knowledge(_edited(tmp_path, old, new))
    assert "\n" not in str(info.value)


def test_a_corrupt_algorithm_is_one_line_and_exit_2_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, message = CORRUPT[3]
    directory = _edited(tmp_path, old, new)
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(DIGITAL_SSC), encoding="utf-8")
    code = main(["recommend", "--knowledge", str(directory), str(patient)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert re.match(message.replace("^", "^calcinosis: error: "), err.rstrip("\n")), err


def _plan(kb: KnowledgeBase, profile: dict[str, Any] = DIGITAL_SSC) -> dict[str, Any]:
    return recommend_document(parse_patient(profile, kb.therapy_ids()), kb).model_dump()


def _option(plan: dict[str, Any], treatment: str) -> dict[str, Any]:
    return next(o for o in plan["options"] if o["id"] == treatment)


def test_a_text_and_a_rank_edited_in_the_data_change_the_plan(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    before = _plan(kb)
    ids = [o["id"] for o in before["options"]]
    assert ids.index("microdrilling") < ids.index("co2-laser") < ids.index("eswt")
    words = "Microdrilling improved 12 of 15 digits with calcinosis (Fahmy 1998)."
    assert _option(before, "microdrilling")["rationale"] == words

    directory = _edited(
        tmp_path,
        "  offers: [{treatment: co2-laser, rank: 32}, {treatment: eswt, rank: 33}]\n",
        "  offers: [{treatment: co2-laser, rank: 34}, {treatment: eswt, rank: 33}]\n",
    )
    algorithm = directory / "algorithm.yaml"
    text = algorithm.read_text(encoding="utf-8")
    algorithm.write_text(text.replace(words, "Twelve of 15 digits improved."), encoding="utf-8")
    after = _plan(read_knowledge(directory))
    ids = [o["id"] for o in after["options"]]
    assert ids.index("microdrilling") < ids.index("eswt") < ids.index("co2-laser")
    assert _option(after, "microdrilling")["rationale"] == "Twelve of 15 digits improved."


def test_a_directory_released_before_the_algorithm_was_data_plans_alike(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    """Its manifest lists no algorithm.yaml: the packaged texts (the code's, then) are read,
    and they are not part of its version."""
    directory = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, directory)
    (directory / "algorithm.yaml").unlink()
    manifest = directory / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("  - algorithm.yaml\n", ""), encoding="utf-8")
    older = read_knowledge(directory)
    assert older.algorithm == kb.algorithm
    assert older.content_hash != kb.content_hash
    plan, same = _plan(kb), _plan(older)
    assert same["options"] == plan["options"]


def test_the_packaged_algorithm_is_part_of_the_version(
    knowledge_copy: Callable[..., Path],
) -> None:
    directory = knowledge_copy()
    algorithm = directory / "algorithm.yaml"
    algorithm.write_text(algorithm.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert load_knowledge(directory).version != load_knowledge().version
