"""The study file of ``calcinosis evidence add``: one study's publication, its design and
its arms, checked against the knowledge it joins and made into the records of
``sources.yaml``, ``studies.yaml`` and ``arms.yaml``.

The format (``examples/study-example.yaml`` is a complete one)::

    source: {authors: [Doe J, Roe R], title: "...", journal: "J Example", year: 2025,
             doi: "10.1000/example"}            # a doi, a pmid, or both
    study: {first_author: Doe, year: 2025, design: rct}
    arms:
      - {treatment: diltiazem, population: adult, disease: SSc, n: 20, responders_any: 12,
         responders_complete: 2, follow_up_months: 12, location: "Table 2"}

The arms take the fields of the arm contract (``docs/contracts.md``). Everything is
strict: a wrong type, an unknown field, an impossible count (more responders than
patients, more complete responders than responders), an unknown treatment or a study
already in the knowledge is refused with a :class:`~calcinosis.errors.StudyFileError`
naming the field. The level of each arm is not given: the CEBM 2009 rules of
``grading.py`` assign it from the design, the quality and the counts.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from calcinosis.errors import StudyFileError, field_path
from calcinosis.evidence.grading import LevelResult
from calcinosis.evidence.knowledge_base import KnowledgeBase, study_label, surname
from calcinosis.evidence.schemas import (
    SLUG_PATTERN,
    AdverseEvent,
    Arm,
    Design,
    Disease,
    Population,
    Provenance,
    Relapse,
    Source,
    Study,
)
from calcinosis.evidence.tables import arm_level_rules

__all__ = ["NewStudy", "StudyFile", "parse_study_file"]

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64)]
Text = Annotated[str, Field(min_length=1)]
Place = Annotated[str, Field(min_length=3, description="where in the publication")]
Count = Annotated[int, Field(ge=0)]
Doi = Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")]


def _digits(value: object) -> object:
    """A PMID written as a number (``pmid: 34165603``) is the same identifier."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Pmid = Annotated[str, BeforeValidator(_digits), Field(pattern=r"^\d{1,9}$")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)


class SourceIn(_Input):
    """The publication: how the study will be cited."""

    id: Slug | None = None
    authors: list[Text] = Field(min_length=1)
    title: Annotated[str, Field(min_length=3)]
    journal: Text
    year: int = Field(ge=1900, le=2100)
    citation: str | None = Field(default=None, description="volume(issue):pages")
    doi: Doi | None = None
    pmid: Pmid | None = None
    notes: list[str] = []


class StudyIn(_Input):
    """The study: first author, year, design, quality if known."""

    id: Slug | None = None
    first_author: Text
    year: int = Field(ge=1950, le=2030)
    design: Design
    quality: Literal["good", "fair", "poor", "unknown"] = "unknown"
    calcinosis_primary_outcome: bool = True
    title: str | None = None
    location: Place = "Methods"
    notes: list[str] = []


class ArmIn(_Input):
    """One arm: the fields of the arm contract, and where the publication gives them."""

    id: Slug | None = None
    treatment: Slug
    population: Population
    disease: Disease
    disease_counts: dict[Disease, Count] | None = None
    n: int = Field(ge=1)
    unit: Literal["patients", "digits"] = "patients"
    patients: Count | None = None
    responders_any: Count | None
    responders_complete: Count | None
    follow_up_months: float | None = Field(default=None, ge=0)
    follow_up_range_months: list[float] | None = Field(default=None, min_length=2, max_length=2)
    dose: str | None = None
    calcinosis_duration_years: str | None = None
    adverse_events: list[AdverseEvent] | None = None
    relapses: Relapse | None = None
    location: Place
    quote: str | None = None
    notes: list[str] = []


class StudyFile(_Input):
    """A study file: its publication, the study and its arms."""

    source: SourceIn
    study: StudyIn
    arms: list[ArmIn] = Field(min_length=1)


@dataclass(frozen=True)
class NewStudy:
    """The records a study file adds, and the level the rules gave each arm."""

    source: Source
    study: Study
    arms: tuple[Arm, ...]
    levels: Mapping[str, LevelResult]  # by arm id

    @property
    def label(self) -> str:
        return study_label(self.study)


_REQUIRED_HINTS = {
    "source": "the publication (authors, title, journal, year, doi and/or pmid)",
    "study": "the study (first_author, year, design: rct, prospective or retrospective)",
    "arms": "a list of the study's arms",
}


def _fields_of(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the model at ``loc`` (for 'unknown field' messages)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = current.model_fields[part].annotation if current else None
        inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type)]
        candidates = [annotation, *inner]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
    return list(current.model_fields) if current else []


def _message(error: Mapping[str, Any]) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "missing":
        hint = _REQUIRED_HINTS.get(str(loc[-1])) if len(loc) == 1 else None
        return f"required: {hint}" if hint else "required field is missing"
    if kind == "extra_forbidden":
        known = _fields_of(StudyFile, loc)
        return "unknown field" + (f"; the fields here are: {', '.join(known)}" if known else "")
    message = str(error["msg"])
    message = message[0].lower() + message[1:]
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message} (got {value!r})"
    return message


def _fail(file: str, field: str | None, message: str) -> StudyFileError:
    return StudyFileError(file, field, message)


def _read(text: str, file: str) -> StudyFile:
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else None
        raise _fail(file, where, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise _fail(file, None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(file, None, "must be a mapping with source, study and arms")
    try:
        return StudyFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # An unknown field first: it is most often a misspelt one that is then "missing".
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise _fail(file, field_path(error["loc"]) or None, _message(error)) from None


def slug(text: str) -> str:
    """'Marco Puche' -> 'marco-puche'; 'Müller' -> 'muller'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "study"


def _plain(text: str) -> str:
    return slug(text).replace("-", "")


def _check_source(file: str, data: StudyFile, kb: KnowledgeBase) -> None:
    source, study = data.source, data.study
    if source.doi is None and source.pmid is None:
        raise _fail(file, "source", "give its doi or its pmid (or both)")
    first = source.authors[0]
    if not _plain(first).startswith(_plain(surname(study.first_author))):
        raise _fail(
            file,
            "study.first_author",
            f"{study.first_author!r} is not the first of source.authors ({first!r})",
        )
    for known in kb.sources.values():
        for key in ("doi", "pmid"):
            mine, theirs = getattr(source, key), getattr(known, key)
            if mine and theirs and mine.lower() == theirs.lower():
                raise _fail(
                    file,
                    f"source.{key}",
                    f"duplicate study: {mine} is already in the knowledge "
                    f"({' '.join(known.title.split())})",
                )
    title = _plain(study.title or source.title)
    for existing in kb.studies.values():
        if _plain(existing.title) == title:
            raise _fail(
                file,
                "source.title",
                f"duplicate study: {study_label(existing)} has this title and is already in "
                "the knowledge",
            )


def _study_id(file: str, data: StudyFile, kb: KnowledgeBase) -> str:
    study = data.study
    study_id = study.id or f"{slug(surname(study.first_author))}-{study.year}"
    if study_id in kb.studies:
        existing = kb.studies[study_id]
        raise _fail(
            file,
            "study.id" if study.id else "study",
            f"duplicate study: {study_id} ({study_label(existing)}, "
            f"{' '.join(existing.title.split())!r}) is already in the knowledge"
            + (
                ""
                if study.id
                else "; another study by the same first author and year needs its own id (study.id)"
            ),
        )
    return study_id


def _check_arm(file: str, index: int, arm: ArmIn, kb: KnowledgeBase) -> None:
    where = f"arms[{index}]"
    therapies = kb.therapy_ids()
    if arm.treatment not in therapies:
        near = difflib.get_close_matches(arm.treatment, sorted(therapies), n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise _fail(
            file,
            f"{where}.treatment",
            f"unknown treatment {arm.treatment!r}{hint} (the treatment ids: "
            f"{', '.join(sorted(therapies))})",
        )
    for name in ("responders_any", "responders_complete"):
        value = getattr(arm, name)
        if value is not None and value > arm.n:
            raise _fail(file, f"{where}.{name}", f"{value} is more than n ({arm.n})")
    if (
        arm.responders_any is not None
        and arm.responders_complete is not None
        and arm.responders_complete > arm.responders_any
    ):
        raise _fail(
            file,
            f"{where}.responders_complete",
            f"{arm.responders_complete} is more than responders_any ({arm.responders_any}), "
            "which counts every responder, complete ones included",
        )
    if arm.disease_counts is not None and sum(arm.disease_counts.values()) != arm.n:
        raise _fail(
            file,
            f"{where}.disease_counts",
            f"add up to {sum(arm.disease_counts.values())}, not n ({arm.n})",
        )
    if arm.patients is not None and arm.unit == "patients":
        raise _fail(file, f"{where}.patients", "only for an arm counted in digits (unit: digits)")
    if arm.patients is not None and arm.patients > arm.n:
        raise _fail(file, f"{where}.patients", f"{arm.patients} is more than n ({arm.n}) digits")
    span = arm.follow_up_range_months
    if span is not None and span[0] > span[1]:
        raise _fail(file, f"{where}.follow_up_range_months", f"{span[0]} is after {span[1]}")


def _arm_ids(file: str, study_id: str, arms: Sequence[ArmIn], kb: KnowledgeBase) -> list[str]:
    """``doe-2025-diltiazem``; when the study has several arms of one treatment, what
    tells them apart (``...-adult``/``...-child``, ``...-ssc``/``...-dm``), then a
    number. An id given in the file is kept."""
    siblings: dict[str, list[ArmIn]] = {}
    for arm in arms:
        siblings.setdefault(arm.treatment, []).append(arm)
    ids: list[str] = []
    for index, arm in enumerate(arms):
        arm_id = arm.id or f"{study_id}-{arm.treatment}"
        group = siblings[arm.treatment]
        if arm.id is None and len(group) > 1:
            if len({a.population for a in group}) > 1:
                arm_id += f"-{arm.population}"
            if len({a.disease for a in group}) > 1:
                arm_id += f"-{slug(arm.disease)}"
            if arm_id in ids or arm_id == f"{study_id}-{arm.treatment}":
                arm_id += f"-{index + 1}"
        if arm_id in ids or arm_id in {existing.id for existing in kb.arms}:
            raise _fail(file, f"arms[{index}].id", f"duplicate arm id {arm_id!r}")
        ids.append(arm_id)
    return ids


def _records(
    file: str, data: StudyFile, kb: KnowledgeBase, study_id: str
) -> tuple[Source, Study, list[Arm]]:
    given = data.source
    source_id = given.id or (study_id if study_id not in kb.sources else f"{study_id}-article")
    if source_id in kb.sources:
        raise _fail(file, "source.id", f"duplicate source id {source_id!r}")
    source = Source(
        id=source_id,
        kind="study",
        title=given.title,
        authors=list(given.authors),
        journal=given.journal,
        year=given.year,
        citation=given.citation,
        doi=given.doi,
        pmid=given.pmid,
        graded=False,
        notes=list(given.notes),
    )
    spec = data.study
    study = Study(
        id=study_id,
        first_author=spec.first_author,
        year=spec.year,
        title=spec.title or given.title,
        journal=given.journal,
        citation=given.citation,
        doi=given.doi,
        design=spec.design,
        design_in_methods=spec.design,
        quality=spec.quality,
        calcinosis_primary_outcome=spec.calcinosis_primary_outcome,
        provenance=Provenance(source=source_id, location=spec.location),
        notes=list(spec.notes),
    )
    arms: list[Arm] = []
    for arm_id, arm in zip(_arm_ids(file, study_id, data.arms, kb), data.arms, strict=True):
        span = arm.follow_up_range_months
        arms.append(
            Arm(
                id=arm_id,
                study=study_id,
                treatment=arm.treatment,
                population=arm.population,
                disease=arm.disease,
                disease_counts=arm.disease_counts or {arm.disease: arm.n},
                n=arm.n,
                unit=arm.unit,
                patients=arm.patients,
                responders_any=arm.responders_any,
                responders_complete=arm.responders_complete,
                dose=arm.dose,
                calcinosis_duration_years=arm.calcinosis_duration_years,
                follow_up_months=arm.follow_up_months,
                follow_up_range_months=(None if span is None else (span[0], span[1])),
                adverse_events=arm.adverse_events,
                relapses=arm.relapses,
                level="5",  # replaced below by the level the rules give
                source="publication",
                provenance=Provenance(source=source_id, location=arm.location, quote=arm.quote),
                notes=list(arm.notes),
            )
        )
    return source, study, arms


def parse_study_file(text: str, file: str, kb: KnowledgeBase) -> NewStudy:
    """The records a study file adds to ``kb``, each arm with the level the CEBM rules
    give it; a :class:`StudyFileError` naming the field when it cannot be added."""
    data = _read(text, file)
    study_id = _study_id(file, data, kb)
    _check_source(file, data, kb)
    for index, arm in enumerate(data.arms):
        _check_arm(file, index, arm, kb)
    try:
        source, study, arms = _records(file, data, kb, study_id)
    except ValidationError as exc:  # a check above should have said it first
        error = exc.errors()[0]
        raise _fail(file, field_path(error["loc"]) or None, _message(error)) from None
    joined = dataclasses.replace(
        kb, arms=(*kb.arms, *arms), studies={**kb.studies, study.id: study}
    )
    levels = {arm.id: arm_level_rules(joined, arm) for arm in arms}
    graded = tuple(arm.model_copy(update={"level": levels[arm.id].level}) for arm in arms)
    return NewStudy(source, study, graded, levels)
