"""The tool's names, defined once (knowledge/names.yaml): what the engine, the
applicability rules, the answers and the FHIR mapper read of the profile's diseases, and
how every face names a source, come from it; a corrupt file is refused with one line
naming the file, the record and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcinosis.decision import engine, patient
from calcinosis.errors import KnowledgeError
from calcinosis.evidence import applicability, names
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import short_label
from calcinosis.integrations.fhir import terminology

NAMES = Path(names.__file__).parents[1] / "knowledge" / "names.yaml"


def test_the_diseases_are_the_profile_s_and_every_table_reads_them() -> None:
    assert tuple(names.DISEASE_RECORDS) == patient.DISEASES
    autoimmune = {d.id for d in names.DISEASE_RECORDS.values() if d.autoimmune}
    assert set(engine.AUTOIMMUNE) == autoimmune
    assert engine.AUTOIMMUNE["juvenile-dermatomyositis"] == "juvenile dermatomyositis"
    assert engine.DM == ("dermatomyositis", "juvenile-dermatomyositis")
    # the FHIR mapper's order of preference names the same diseases
    assert set(terminology.AUTOIMMUNE) == autoimmune
    # an unknown disease is covered by no evidence code (its evidence is never "not fitting")
    assert "unknown" not in applicability._COVERS
    assert applicability._COVERS["juvenile-dermatomyositis"] >= {"juvenile-DM", "DM"}


def test_every_source_document_is_named_and_only_they(kb: KnowledgeBase) -> None:
    documents = {s.id for s in kb.sources.values() if s.kind != "study"}
    assert set(names.SOURCE_NAMES) == documents
    assert short_label(kb.sources["management-topic"]) == (
        "Calcinosis cutis: management (point-of-care topic)"
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  - {id: other, name: another underlying cause, autoimmune: false, covered_by: []}\n",
            "",
            r"^names\.yaml, record diseases #6, field 'id': expected 'other' "
            r"\(the profile's, in order\)$",
        ),
        (
            "covered_by: [SLE, autoimmune-CTD],",
            "covered_by: [SLE, lupus],",
            r"^names\.yaml, record diseases #4, field 'covered_by\[1\]': Input should be ",
        ),
        (
            "mimicked_by: [lupus-like]}",
            "mimicked_by: lupus-like}",
            r"^names\.yaml, record diseases #4, field 'mimicked_by': Input should be a valid list$",
        ),
        (
            "autoimmune: false, covered_by: []}\n  - {id: none",
            "autoimmune: 'no', covered_by: []}\n  - {id: none",
            r"^names\.yaml, record diseases #6, field 'autoimmune': "
            r"Input should be a valid boolean$",
        ),
        (
            "    short: management topic\n",
            "    shorter: management topic\n",
            r"^names\.yaml, record sources\.management-topic, field 'shorter': "
            r"Extra inputs are not permitted$",
        ),
        (
            "  SLE: systemic lupus erythematosus\n",
            "  SLE: systemic lupus erythematosus\n  SLE: lupus\n",
            r"^names\.yaml, record line \d+: not valid YAML: duplicate key 'SLE'$",
        ),
    ],
)
def test_a_corrupt_names_file_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = NAMES.read_text(encoding="utf-8")
    assert text.count(old) == 1
    corrupt = tmp_path / "names.yaml"
    corrupt.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as info:
        names.read_names(corrupt, patient.DISEASES)
    assert "\n" not in str(info.value)
