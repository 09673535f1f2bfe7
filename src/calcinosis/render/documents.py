"""The transparency document (``about_document``) as typed models: what ``GET /api/about``
publishes, validated against :class:`AboutDocument` (``response_model``)."""

from __future__ import annotations

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
]


class AboutBibliographicCitation(ResponseDocument):
    """A source, cited."""

    reference_text: str
    reference: Reference
    kind: str


class AboutRevisionDates(ResponseDocument):
    """One release of the evidence."""

    version: str
    released: str
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
