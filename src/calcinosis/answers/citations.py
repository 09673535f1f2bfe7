"""Numbered citations for one answer: one number per distinct quoted sentence.

A citation is keyed by its source, location *and* quote, so two claims from the
same section that rest on different sentences get different numbers, each showing
its own sentence; a claim stored without a quote takes the sentence of its
location that carries it (:func:`~calcinosis.answers.passages.fill_quote`).
"""

from __future__ import annotations

import re
from typing import Any

from calcinosis.answers.passages import fill_quote
from calcinosis.evidence import KnowledgeBase
from calcinosis.models import Provenance
from calcinosis.references import citation_kind, redact, reference, reference_text, short_label

__all__ = ["Citations"]


class Citations:
    """The citations of one answer, numbered in the order they are first cited."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._items: dict[tuple[str, str, str], dict[str, Any]] = {}

    def number(self, provenance: Provenance, claim: str | None = None) -> int:
        provenance = fill_quote(self.kb, provenance, claim)
        key = (provenance.source, provenance.location, provenance.quote or "")
        if key not in self._items:
            source = self.kb.sources[provenance.source]
            item: dict[str, Any] = {
                "n": len(self._items) + 1,
                "label": short_label(source),
                "source": source.id,
                "kind": citation_kind(source),
                "location": provenance.location,
                "quote": redact(self.kb, provenance.quote),
                "reference": reference(source),
                "reference_text": reference_text(source),
            }
            self._items[key] = item
        return int(self._items[key]["n"])

    def cite(self, *provenances: Provenance | None, claim: str | None = None) -> str:
        """'[1][3]' for these provenances (``None`` skipped)."""
        numbers = sorted(
            {self.number(p, claim) for p in provenances if p is not None},
        )
        return "".join(f"[{n}]" for n in numbers)

    def cited(self, provenance: Provenance) -> bool:
        """Whether this sentence is cited already."""
        provenance = fill_quote(self.kb, provenance)
        return (provenance.source, provenance.location, provenance.quote or "") in self._items

    def documents(self) -> list[dict[str, Any]]:
        return sorted(self._items.values(), key=lambda item: int(item["n"]))

    def renumber(self, texts: list[str]) -> list[str]:
        """Number the citations in the order the texts show them (uncited ones dropped)."""
        order: dict[int, int] = {}
        for text in texts:
            for found in re.findall(r"\[(\d+)\]", text):
                order.setdefault(int(found), len(order) + 1)
        kept = {}
        for item in self._items.values():
            old = int(item["n"])
            if old in order:
                kept[(item["source"], item["location"], item["quote"] or "")] = item | {
                    "n": order[old]
                }
        self._items = kept

        def swap(text: str) -> str:
            marks = re.sub(r"\[(\d+)\]", lambda m: f"[{order[int(m.group(1))]}]", text)
            # [3][1] -> [1][3]
            return re.sub(
                r"(?:\[\d+\])+",
                lambda m: "".join(
                    f"[{n}]" for n in sorted({int(x) for x in re.findall(r"\d+", m.group(0))})
                ),
                marks,
            )

        return [swap(text) for text in texts]
