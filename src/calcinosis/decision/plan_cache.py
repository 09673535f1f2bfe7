"""Plans memoised for one knowledge base: a bounded LRU keyed by the canonical profile.

A plan is a pure function of the validated patient profile and the knowledge base
(``engine.recommend_document``: no clock, no settings, no randomness), so the web app
keeps the plans of the profiles it was asked about last, with their JSON as the API
answers it (``POST /api/recommendations`` answers those bytes as they are). The key
is the validated :class:`~calcinosis.decision.patient.Patient` dumped to JSON with every field,
defaults included: two profiles share a plan only when the engine cannot tell them
apart. The cache belongs to one knowledge base (the app's, in ``app.state.plans``); asked
for a plan of another one, it computes that plan and keeps nothing of it.

A cached document is shared between requests: never mutate it. What each request needs
of its own (the audit record and its time) is built per request from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from calcinosis.decision.documents import PlanDocument
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import Patient
from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = ["MAX_PAGES", "MAX_PLANS", "CachedPlan", "PlanCache", "plan_json"]

MAX_PLANS = 128  # plans kept (about 200 KB each, the document and its JSON, and pages)
MAX_PAGES = 2  # pages kept with a plan (about 140 KB each: the assessment page)

# What is derived from a plan alone and kept with it: the parts of a page rendered from
# the plan, by name (the assessment page's summary and plan, as HTML).
Parts = Mapping[str, str]


def plan_json(document: PlanDocument) -> bytes:
    """The plan as the API answers it: pydantic's JSON of the typed document."""
    return document.model_dump_json().encode()


@dataclass(frozen=True, eq=False)
class CachedPlan:
    """A plan document (shared: never mutate it), its JSON, what was derived from the
    document alone (the plan's HTML parts of the assessment page), and the last pages
    rendered with it (``MAX_PAGES``), kept with it."""

    document: PlanDocument
    json: bytes
    _derived: dict[str, Parts] = field(default_factory=dict, repr=False)
    _pages: OrderedDict[Hashable, bytes] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def page(self, key: Hashable) -> bytes | None:
        """The page kept under ``key`` (see :meth:`keep_page`), or None."""
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
            return found

    def keep_page(self, key: Hashable, body: bytes) -> None:
        """Keep ``body``, a page rendered from this plan and from nothing but ``key``
        (the template and the query it answered) and this plan's knowledge base."""
        with self._lock:
            self._pages[key] = body
            self._pages.move_to_end(key)
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)

    def derived(self, name: str, make: Callable[[PlanDocument], Parts]) -> Parts:
        """``make(document)``, the parts of a page, computed once for this plan under
        ``name``: ``make`` must depend on the document only (two threads may both
        compute it once)."""
        try:
            found = self._derived[name]
        except KeyError:
            found = self._derived[name] = make(self.document)
        return found


class PlanCache:
    """The plans of the last ``maxsize`` profiles planned with ``kb``; thread-safe."""

    def __init__(self, kb: KnowledgeBase, maxsize: int = MAX_PLANS) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.kb = kb
        self.maxsize = maxsize
        self._plans: OrderedDict[str, CachedPlan] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._plans)

    @staticmethod
    def key(patient: Patient) -> str:
        """The canonical profile: every field of the validated patient, in JSON."""
        return patient.model_dump_json()

    def cached(self, patient: Patient, kb: KnowledgeBase) -> CachedPlan | None:
        """The plan of ``patient`` if it is kept (and ``kb`` is this cache's), else None."""
        if kb is not self.kb:
            return None
        key = self.key(patient)
        with self._lock:
            found = self._plans.get(key)
            if found is not None:
                self._plans.move_to_end(key)
                self.hits += 1
            return found

    def plan(self, patient: Patient, kb: KnowledgeBase) -> CachedPlan:
        """The plan of ``patient`` under ``kb``: kept, or computed (CPU-bound: a thread)
        and kept when ``kb`` is this cache's knowledge base."""
        found = self.cached(patient, kb)
        if found is not None:
            return found
        document = recommend_document(patient, kb)
        made = CachedPlan(document, plan_json(document))
        if kb is not self.kb:
            return made  # another knowledge base: nothing of it is kept
        key = self.key(patient)
        with self._lock:
            self.misses += 1
            self._plans[key] = made
            self._plans.move_to_end(key)
            while len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return made
