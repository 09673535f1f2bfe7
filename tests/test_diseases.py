"""The profile's underlying diseases, defined once (knowledge/diseases.yaml): what the
engine, the applicability rules, the answers and the FHIR mapper read of them comes from
it, and a corrupt file is refused with one line naming the file, the record and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcinosis import applicability, engine, patient
from calcinosis.errors import KnowledgeError
from calcinosis.integrations.fhir import terminology

DISEASES = Path(patient.__file__).with_name("knowledge") / "diseases.yaml"


def test_the_diseases_are_the_profile_s_and_every_table_reads_them() -> None:
    assert tuple(patient.DISEASE_RECORDS) == patient.DISEASES
    autoimmune = {d.id for d in patient.DISEASE_RECORDS.values() if d.autoimmune}
    assert set(engine.AUTOIMMUNE) == autoimmune
    assert engine.AUTOIMMUNE["juvenile-dermatomyositis"] == "juvenile dermatomyositis"
    assert engine.DM == ("dermatomyositis", "juvenile-dermatomyositis")
    # the FHIR mapper's order of preference names the same diseases
    assert set(terminology.AUTOIMMUNE) == autoimmune
    # an unknown disease is covered by no evidence code (its evidence is never "not fitting")
    assert "unknown" not in applicability._COVERS
    assert applicability._COVERS["juvenile-dermatomyositis"] >= {"juvenile-DM", "DM"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  - {id: other, name: another underlying cause, autoimmune: false, covered_by: []}\n",
            "",
            r"^diseases\.yaml, record diseases #6, field 'id': expected 'other' "
            r"\(the profile's, in order\)$",
        ),
        (
            "covered_by: [SLE, autoimmune-CTD]}",
            "covered_by: [SLE, lupus]}",
            r"^diseases\.yaml, record diseases #4, field 'covered_by\[1\]': Input should be ",
        ),
        (
            "autoimmune: false, covered_by: []}\n  - {id: none",
            "autoimmune: 'no', covered_by: []}\n  - {id: none",
            r"^diseases\.yaml, record diseases #6, field 'autoimmune': "
            r"Input should be a valid boolean$",
        ),
        (
            "  SLE: systemic lupus erythematosus\n",
            "  SLE: systemic lupus erythematosus\n  SLE: lupus\n",
            r"^diseases\.yaml, record line \d+: not valid YAML: duplicate key 'SLE'$",
        ),
    ],
)
def test_a_corrupt_disease_table_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = DISEASES.read_text(encoding="utf-8")
    assert text.count(old) == 1
    corrupt = tmp_path / "diseases.yaml"
    corrupt.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as info:
        patient.read_diseases(corrupt)
    assert "\n" not in str(info.value)
