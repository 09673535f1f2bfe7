"""The tool's names for the profile's underlying diseases and for its source documents:
``knowledge/names.yaml``, read once at import through a strict schema (the diseases must
be the profile's, each once and in its order; an unknown field, a wrong type or a key
written twice is refused by a :class:`KnowledgeError` naming the file, the record and the
field). Not evidence: a knowledge directory of any release is named alike.

The engine (the autoimmune diseases by name, the DM family), the applicability rules (the
evidence codes that cover a disease), the answers, the summary of findings and the
citations (``references.short_label``) read them from here.
"""

# No `from __future__ import annotations` here: pydantic then takes these models' annotations
# as objects instead of strings it must evaluate (callgrind: ~0.03 G of every process).

from collections.abc import Mapping, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calcinosis.datafiles import read_data, validation_error
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.schemas import Disease as ArmDisease
from calcinosis.evidence.schemas import EvidenceDisease

__all__ = [
    "DISEASE_RECORDS",
    "EVIDENCE_DISEASE_WORDS",
    "NAMES_FILE",
    "SOURCE_NAMES",
    "Names",
    "ProfileDisease",
    "SourceName",
    "check_profile_diseases",
    "read_names",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProfileDisease(_Strict):
    """One underlying disease of the profile."""

    id: str = Field(min_length=1)  # the profile's (decision.patient checks them at import)
    name: str = Field(min_length=1)
    autoimmune: bool
    covered_by: list[EvidenceDisease] | None = None  # None: the disease is not known
    arms: ArmDisease | None = None
    # words that, in a drug's adverse effect, name a reaction like the disease itself
    mimicked_by: list[str] = Field(default_factory=list)


class SourceName(_Strict):
    """How the tool names one source document."""

    label: str = Field(min_length=1)
    short: str | None = None
    called: str = Field(min_length=1)


class Names(_Strict):
    """``names.yaml``, validated."""

    diseases: list[ProfileDisease]
    evidence_codes: dict[EvidenceDisease, str]
    sources: dict[str, SourceName]


NAMES_FILE: Final[Traversable] = files("calcinosis") / "knowledge" / "names.yaml"


def read_names(source: Traversable | Path = NAMES_FILE, diseases: Sequence[str] = ()) -> Names:
    """``names.yaml`` (or ``source``), validated; KnowledgeError (one line) if it is not.
    With ``diseases`` (the profile's), its diseases must be those, each once, in order."""
    name = source.name
    data = read_data(source)
    if not isinstance(data, dict):
        raise KnowledgeError(name, None, None, "must be a mapping of tables")
    try:
        names = Names.model_validate(data)
    except ValidationError as exc:
        raise validation_error(name, exc, 2) from None
    if diseases:
        _check_diseases(name, names, diseases)
    return names


def _check_diseases(name: str, names: Names, diseases: Sequence[str]) -> None:
    ids = [disease.id for disease in names.diseases]
    for index, wanted in enumerate(diseases):
        found = ids[index] if index < len(ids) else None
        if found != wanted:
            record = f"diseases #{index + 1}"
            raise KnowledgeError(
                name, record, "id", f"expected {wanted!r} (the profile's, in order)"
            )
    if len(ids) > len(diseases):
        record = f"diseases #{len(diseases) + 1}"
        raise KnowledgeError(name, record, "id", "not one of the profile's diseases")


def check_profile_diseases(diseases: Sequence[str]) -> None:
    """The packaged names name the profile's diseases, each once, in order: called by the
    profile's module (``decision.patient``), which owns the list, when it loads."""
    _check_diseases(NAMES_FILE.name, _NAMES, diseases)


_NAMES: Final = read_names()
DISEASE_RECORDS: Final[Mapping[str, ProfileDisease]] = {d.id: d for d in _NAMES.diseases}
EVIDENCE_DISEASE_WORDS: Final[Mapping[str, str]] = dict(_NAMES.evidence_codes.items())
SOURCE_NAMES: Final[Mapping[str, SourceName]] = dict(_NAMES.sources)
