"""What the layers derive from a knowledge base, kept with that base.

``@derived`` (and ``@derived_bounded(maxsize)`` for arguments a request chooses) replace
module-level ``functools`` caches keyed on a :class:`KnowledgeBase`: such a cache keeps
every base it ever saw alive, whereas these keep each value in the base's own
``_derived`` table, so that it goes when the base goes.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from calcinosis.evidence.knowledge_base import KnowledgeBase

__all__ = ["derived", "derived_bounded"]

P = ParamSpec("P")
R = TypeVar("R")


def derived(
    fn: Callable[Concatenate[KnowledgeBase, P], R],
) -> Callable[Concatenate[KnowledgeBase, P], R]:
    """What ``fn`` works out from a knowledge base (and hashable arguments): computed once
    per base and kept with it, so that it goes when the base goes.

    For the indexes the other layers build on the base (the passages of the answers, the
    grading of a treatment, the evidence map): a module-level ``@cache`` keyed on the base
    would keep every base it ever saw alive, and a second base (``serve --knowledge``, a
    study just added) would sit beside the first for the life of the process. Two threads
    may both compute a value the first time; both get an equal one (the functions are
    pure), and one is kept. For arguments a request chooses (a weight, a lesion size), use
    :func:`derived_bounded`.
    """
    return _kept(fn, None)


def derived_bounded(
    maxsize: int,
) -> Callable[
    [Callable[Concatenate[KnowledgeBase, P], R]], Callable[Concatenate[KnowledgeBase, P], R]
]:
    """:func:`derived`, keeping at most ``maxsize`` values of ``fn`` per base (the oldest
    go first): for functions whose arguments come from requests, so that a stream of
    distinct weights or sizes cannot grow the memory without bound."""
    if maxsize < 1:
        raise ValueError("maxsize must be at least 1")

    def decorate(
        fn: Callable[Concatenate[KnowledgeBase, P], R],
    ) -> Callable[Concatenate[KnowledgeBase, P], R]:
        return _kept(fn, maxsize)

    return decorate


def _kept(
    fn: Callable[Concatenate[KnowledgeBase, P], R], maxsize: int | None
) -> Callable[Concatenate[KnowledgeBase, P], R]:
    def once(kb: KnowledgeBase, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            values = cast("dict[object, R]", kb._derived[fn])
        except KeyError:
            values = cast("dict[object, R]", kb._derived.setdefault(fn, {}))
        key = (args, frozenset(kwargs.items())) if kwargs else args
        try:
            return values[key]
        except KeyError:
            value = fn(kb, *args, **kwargs)
            if maxsize is not None and len(values) >= maxsize:
                # the oldest kept; another thread may have taken it (or changed the dict)
                with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                    del values[next(iter(values))]
            values[key] = value
            return value

    functools.update_wrapper(once, fn)
    return once
