"""What a clinician, a regulator or a hospital needs to know about calcinosis itself.

``about_document(kb)`` is the document behind ``/about`` and ``GET /api/about``:

* the source attributes that the US ONC certification criterion for decision support
  interventions (45 CFR 170.315(b)(11)(iv)(A), HTI-1) asks of an evidence-based
  intervention: its bibliographic citation, developer, funding source, release and
  revision dates, and whether it uses race, ethnicity, language, sexual orientation,
  gender identity, sex, date of birth, social determinants of health or health status
  assessments;
* what the FDA's clinical decision support guidance asks for a clinician to review the
  basis of a recommendation independently: the inputs, the logic, the sources, the known
  limitations and the validation figures the project measures.

The words live in ``about.yaml``; the tests check that each "used" answer matches what
the engine does, and that every quoted limitation is a passage of its source.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from calcinosis import DISCLAIMER, __version__
from calcinosis.decision.engine import STEPS
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.references import reference, reference_text
from calcinosis.render.documents import (
    AboutBasis,
    AboutBibliographicCitation,
    AboutDataElements,
    AboutDocument,
    AboutInputs,
    AboutLimitations,
    AboutLogic,
    AboutRevisionDates,
    AboutSourceAttributes,
    AboutSteps,
    AboutValidation,
)

__all__ = ["About", "about_document", "load_about"]

ABOUT_FILE = Path(__file__).parents[1] / "about.yaml"
HTI1_ELEMENTS = (
    "race",
    "ethnicity",
    "language",
    "sexual orientation",
    "gender identity",
    "sex",
    "date of birth",
    "social determinants of health",
    "health status assessments",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataElement(_Strict):
    element: str
    used: bool
    fields: list[str]
    note: str


class Limitation(_Strict):
    text: str
    source: str | None = None
    quote: str | None = None


class Validation(_Strict):
    round: int = Field(ge=1)
    date: date
    target: Literal["plans", "answers"]
    cases: int = Field(gt=0)
    passed_machine: int = Field(ge=0)
    passed_clinical: int = Field(ge=0)
    note: str | None = None


class About(_Strict):
    name: str
    summary: str
    intended_use: str
    kind: Literal["evidence-based"]
    developer: str
    funding: str
    how_to_cite: str
    data_elements: list[DataElement]
    inputs: dict[str, str]
    limitations: list[Limitation]
    validation: list[Validation]


@cache
def load_about(path: Path = ABOUT_FILE) -> About:
    """``about.yaml``, validated."""
    with path.open(encoding="utf-8") as handle:
        return About.model_validate(yaml.safe_load(handle))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _limitation(kb: KnowledgeBase, item: Limitation) -> AboutLimitations:
    """A limitation; quoted from its source when it has one (else only its text is set)."""
    if not item.source:
        return AboutLimitations(text=_one_line(item.text))
    source = kb.sources[item.source]
    return AboutLimitations(
        text=_one_line(item.text),
        reference_text=reference_text(source),
        reference=reference(source),
        quote=item.quote,
    )


def _pct(passed: int, cases: int) -> str:
    return f"{100 * passed / cases:.0f}%"


def _revisions(kb: KnowledgeBase) -> list[AboutRevisionDates]:
    """Every release of the evidence, newest first (the changelog); evidence served
    before its release comes first, with no date."""
    revisions = [
        AboutRevisionDates(
            version=entry.version,
            released=entry.released.isoformat(),
            evidence_version=f"{entry.version}+{entry.content[:12]}",
        )
        for entry in kb.changelog
    ]
    if kb.unreleased:
        revisions.insert(
            0,
            AboutRevisionDates(
                version=kb.manifest.version, released=None, evidence_version=kb.version
            ),
        )
    return revisions


def _validation(v: Validation) -> AboutValidation:
    return AboutValidation(
        round=v.round,
        date=v.date.isoformat(),
        target=v.target,
        cases=v.cases,
        passed_machine=v.passed_machine,
        passed_clinical=v.passed_clinical,
        note=v.note,
        machine=_pct(v.passed_machine, v.cases),
        clinical=_pct(v.passed_clinical, v.cases),
    )


def about_document(kb: KnowledgeBase, public_url: str = "") -> AboutDocument:
    """The transparency document (``GET /api/about``); a limitation without a source has
    only its text set (serialise with ``exclude_unset``, as the API does)."""
    about = load_about()
    released = kb.released
    sources = [
        AboutBibliographicCitation(
            reference_text=reference_text(s), reference=reference(s), kind=s.kind
        )
        for s in kb.sources.values()
        if s.id != "traineau-2020-abstract"  # the abstract page of the same review
    ]
    return AboutDocument(
        name=about.name,
        summary=_one_line(about.summary),
        intended_use=_one_line(about.intended_use),
        software_version=__version__,
        evidence_version=kb.version,
        evidence_released=released,
        how_to_cite=_one_line(about.how_to_cite).format(
            software_version=__version__, evidence_version=kb.version, evidence_released=released
        ),
        source_attributes=AboutSourceAttributes(
            regulation="45 CFR 170.315(b)(11)(iv)(A) (ONC HTI-1), evidence-based DSI",
            bibliographic_citation=sources,
            developer=_one_line(about.developer),
            funding_source=_one_line(about.funding),
            release_date=released,
            revision_dates=_revisions(kb),
            data_elements=[
                AboutDataElements(
                    element=e.element, used=e.used, fields=e.fields, note=_one_line(e.note)
                )
                for e in about.data_elements
            ],
        ),
        basis=AboutBasis(
            inputs=[
                AboutInputs(field=name, use=_one_line(use)) for name, use in about.inputs.items()
            ],
            logic=AboutLogic(
                url=f"{public_url}/algorithm",
                description=(
                    "Rules written from the management topic's algorithm and the review's "
                    "grades, one chain of steps per subtype, then the safety rules on every "
                    "path; no statistical model is trained on patient data."
                ),
                steps=AboutSteps.model_validate(
                    {
                        subtype: [step.__name__.replace("_", " ") for step in chain]
                        for subtype, chain in STEPS.items()
                    }
                ),
            ),
            sources=sources,
            limitations=[_limitation(kb, item) for item in about.limitations],
            validation=[_validation(v) for v in about.validation],
            validation_method=(
                "Each round, a reviewer who saw only the source documents and the command "
                "line (never the code or the tests) wrote new cases with expected answers "
                "and their passages, then ran them on a frozen copy. 'machine': the "
                "reviewer's own checks passed; 'clinical': no major or moderate defect on "
                "the reviewer's reading. Failures were then fixed by class, and the cases "
                "joined the test suite; each figure is from before those fixes."
            ),
        ),
        disclaimer=DISCLAIMER,
    )
