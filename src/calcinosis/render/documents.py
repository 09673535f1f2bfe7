"""The render layer's documents as typed models: the transparency document
(``about_document``), what ``GET /api/about`` publishes (:class:`AboutDocument`, its
``response_model``) and the ``/about`` page shows, and the patient's handout
(``handout_document``), what the ``/handout`` page shows (:class:`HandoutDocument`)."""

from __future__ import annotations

from calcinosis.decision.documents import TimeToResponse
from calcinosis.evidence.documents import Reference, ResponseDocument

__all__ = [
    "AboutBasis",
    "AboutBibliographicCitation",
    "AboutDataElements",
    "AboutDocument",
    "AboutInputs",
    "AboutLimitations",
    "AboutLogic",
    "AboutRevisionDates",
    "AboutSourceAttributes",
    "AboutSteps",
    "AboutValidation",
    "HandoutDocument",
    "HandoutMedicine",
    "HandoutNote",
    "HandoutSideEffect",
    "HandoutSource",
    "HandoutStart",
    "HandoutStatement",
]


class AboutBibliographicCitation(ResponseDocument):
    """A source, cited."""

    reference_text: str
    reference: Reference
    kind: str


class AboutRevisionDates(ResponseDocument):
    """One release of the evidence."""

    version: str
    released: str | None  # None for evidence served before its release (a preview)
    evidence_version: str


class AboutDataElements(ResponseDocument):
    """A patient data element, and whether a rule reads it."""

    element: str
    used: bool
    fields: list[str]
    note: str


class AboutSourceAttributes(ResponseDocument):
    """The HTI-1 source attributes."""

    regulation: str
    bibliographic_citation: list[AboutBibliographicCitation]
    developer: str
    funding_source: str
    release_date: str
    revision_dates: list[AboutRevisionDates]
    data_elements: list[AboutDataElements]


class AboutInputs(ResponseDocument):
    """An input of the plan, and its use."""

    field: str
    use: str


class AboutSteps(ResponseDocument):
    """The steps of each subtype."""

    dystrophic: list[str]
    metastatic: list[str]
    idiopathic: list[str]
    iatrogenic: list[str]
    calciphylaxis: list[str]


class AboutLogic(ResponseDocument):
    """How the plan is reached."""

    url: str
    description: str
    steps: AboutSteps


class AboutLimitations(ResponseDocument):
    """A limitation, quoted from its source."""

    # ORDERS: 2 key orders
    text: str
    reference_text: str | None = None  # missing from some
    reference: Reference | None = None  # missing from some
    quote: str | None = None  # missing from some


class AboutValidation(ResponseDocument):
    """One round of blind validation."""

    round: int
    date: str
    target: str
    cases: int
    passed_machine: int
    passed_clinical: int
    note: str | None
    machine: str
    clinical: str


class AboutBasis(ResponseDocument):
    """What the plans rest on."""

    inputs: list[AboutInputs]
    logic: AboutLogic
    sources: list[AboutBibliographicCitation]
    limitations: list[AboutLimitations]
    validation: list[AboutValidation]
    validation_method: str


class AboutDocument(ResponseDocument):
    """The transparency document (``GET /api/about``, the ``/about`` page)."""

    name: str
    summary: str
    intended_use: str
    software_version: str
    evidence_version: str
    evidence_released: str
    how_to_cite: str
    source_attributes: AboutSourceAttributes
    basis: AboutBasis
    disclaimer: str


class HandoutSource(ResponseDocument):
    """Where a statement of the handout comes from: its reference, place and words."""

    reference: str
    location: str
    quote: str


class HandoutStatement(ResponseDocument):
    """A sentence of the handout and the passage that says it."""

    text: str
    note: HandoutSource


class HandoutSideEffect(ResponseDocument):
    """A side effect in the source's own first words, cited."""

    text: str
    citation: int


class HandoutStart(ResponseDocument):
    """A treatment to start with, in plain words."""

    name: str
    how: str | None  # how it is given ("put on the skin over the lesions"), when known
    drug: bool
    expect: TimeToResponse | None
    side_effects: list[HandoutSideEffect]
    citations: list[int]


class HandoutMedicine(ResponseDocument):
    """What a current medicine that the plan avoids means for the patient."""

    name: str
    text: str
    citations: list[int]


class HandoutNote(ResponseDocument):
    """A numbered note: the reference and place of a citation of the plan."""

    n: int
    reference: str
    location: str


class HandoutDocument(ResponseDocument):
    """The handout of one plan (the ``/handout`` page)."""

    what_it_is: HandoutStatement
    response_varies: HandoutStatement
    critical: bool
    start: list[HandoutStart]
    next: list[str]
    next_lead: str  # how the handout introduces them ("If it does not help, ...")
    medicines: list[HandoutMedicine]
    not_for_you: list[str]
    notes: list[HandoutNote]
