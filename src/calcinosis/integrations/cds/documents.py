"""The CDS Hooks responses as typed models: what /openapi.json publishes for the discovery
document, a service's cards and the feedback counts.

``services.discovery`` and ``services.respond`` return these models (the CDS Hooks 2.0
shapes). A member that a card leaves out (``links``, ``overrideReasons``,
``selectionBehavior``, ``suggestions``) is None and is left out of the JSON
(``exclude_none``: no card has a member that is null).
"""

from __future__ import annotations

from typing import Literal

from calcinosis.evidence.documents import ResponseDocument

__all__ = [
    "Action",
    "Card",
    "CardCount",
    "CardSource",
    "CdsResponse",
    "Coding",
    "Discovery",
    "FeedbackCount",
    "FeedbackCounts",
    "Link",
    "ServiceDescription",
    "Suggestion",
]


class ServiceDescription(ResponseDocument):
    """One service of the discovery document."""

    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usageRequirements: str  # noqa: N815 - the CDS Hooks name


class Discovery(ResponseDocument):
    """The discovery document (``GET /cds-services``)."""

    services: list[ServiceDescription]


class Coding(ResponseDocument):
    """A code, its system and its words (a card's topic, an override reason)."""

    code: str
    system: str
    display: str


class CardSource(ResponseDocument):
    """Where a card comes from: this tool, and the kind of card."""

    label: str
    url: str
    topic: Coding


class Link(ResponseDocument):
    """A link of a card (the prefilled assessment)."""

    label: str
    url: str
    type: Literal["absolute", "smart"]


class Action(ResponseDocument):
    """What a suggestion does (remove a draft order)."""

    type: Literal["create", "update", "delete"]
    description: str
    resourceId: list[str]  # noqa: N815 - the CDS Hooks name


class Suggestion(ResponseDocument):
    """A suggestion of a card."""

    label: str
    uuid: str
    actions: list[Action]


class Card(ResponseDocument):
    """One card (CDS Hooks 2.0)."""

    uuid: str
    summary: str
    indicator: Literal["info", "warning", "critical"]
    detail: str
    source: CardSource
    overrideReasons: list[Coding] | None = None  # noqa: N815 - the CDS Hooks name
    selectionBehavior: Literal["at-most-one", "any"] | None = None  # noqa: N815
    suggestions: list[Suggestion] | None = None
    links: list[Link] | None = None


class CdsResponse(ResponseDocument):
    """A service's answer (``POST /cds-services/{id}``)."""

    cards: list[Card]


class CardCount(ResponseDocument):
    """Cards issued, by service, kind and indicator."""

    service: str
    kind: str
    indicator: str
    count: int


class FeedbackCount(ResponseDocument):
    """Feedback, by service, card kind, outcome and override reason."""

    service: str
    kind: str
    outcome: str
    override_reason: str | None
    count: int


class FeedbackCounts(ResponseDocument):
    """The feedback counted (``GET /api/cds/feedback``, admin credential required)."""

    cards: list[CardCount]
    feedback: list[FeedbackCount]
