"""What the CDS Hooks routes store, checked and committed before they answer.

``record_answer``: the audit record of each patient-view plan (channel ``cds``)
and the record of every card, in one batch; the cards are answered only once it
is committed. ``record_feedback``: at most ``CALCINOSIS_FEEDBACK_MAX_ITEMS``
items per call (413 beyond), every stored string checked against its column
before anything is queued (422 naming the field, e.g.
``feedback[3].outcomeTimestamp``); all the items are committed in one batch
before the 200. A ``StorageError`` becomes a 503 (``web/app.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calcinosis.decision.documents import PlanDocument
from calcinosis.errors import CalcinosisError
from calcinosis.storage import FieldValueError, Row, Store, card_row, feedback_row, plan_row

__all__ = ["RefusedFieldError", "record_answer", "record_feedback"]


class RefusedFieldError(CalcinosisError):
    """A request refused before anything is stored: names the field (422 or 413)."""

    def __init__(self, status: int, field: str, message: str) -> None:
        self.status = status
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


async def record_answer(
    store: Store, service: str, cards: Sequence[dict[str, Any]], plans: Sequence[PlanDocument]
) -> None:
    """Commit the plans (channel ``cds``) and the cards of one CDS Hooks answer."""
    rows = [plan_row(plan, "cds") for plan in plans]
    rows += [
        card_row(card["uuid"], service, card["source"]["topic"]["code"], card["indicator"])
        for card in cards
    ]
    await store.awrite(rows)


def _reason_code(item: Any) -> tuple[str | None, str]:
    """The override reason stored (its code, else its display) and its field name."""
    override = getattr(item, "overrideReason", None)
    reason = getattr(override, "reason", None) if override is not None else None
    if reason is None:
        return None, "overrideReason.reason.code"
    if reason.code:
        return str(reason.code), "overrideReason.reason.code"
    if reason.display:
        return str(reason.display), "overrideReason.reason.display"
    return None, "overrideReason.reason.code"


_FIELDS = {"card": "card", "outcome": "outcome", "outcome_timestamp": "outcomeTimestamp"}


async def record_feedback(store: Store, service: str, items: Sequence[Any], max_items: int) -> None:
    """Check every feedback item, then commit them all (``RefusedFieldError`` first)."""
    if len(items) > max_items:
        raise RefusedFieldError(
            413, "feedback", f"at most {max_items} items per call, got {len(items)}"
        )
    rows: list[Row] = []
    for index, item in enumerate(items):
        code, code_field = _reason_code(item)
        try:
            rows.append(feedback_row(service, item.card, item.outcome, code, item.outcomeTimestamp))
        except FieldValueError as exc:
            name = code_field if exc.column == "override_reason" else _FIELDS.get(exc.column)
            raise RefusedFieldError(
                422, f"feedback[{index}].{name or exc.column}", exc.message
            ) from None
    await store.awrite(rows)
