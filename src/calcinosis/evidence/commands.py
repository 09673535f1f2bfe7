"""The methodologist's command line: ``evidence pool --by/--leave-one-out/--hartung-knapp``
and ``evidence certainty``, registered on the ``evidence`` commands by ``cli.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel

from calcinosis.evidence.choices import DIMENSIONS
from calcinosis.evidence.documents import (
    PoolDocument,
    PoolGroups,
    PoolLeaveOneOut,
    PoolSubgroups,
)
from calcinosis.evidence.knowledge_base import OUTCOMES, KnowledgeBase
from calcinosis.evidence.synthesis import PoolOptions

__all__ = ["pool_options", "register_synthesis_commands", "sensitivity_lines"]

# The class of the sub-commands' parsers (``cli.py`` has its own ArgumentParser).
_Parser = TypeVar("_Parser", bound=argparse.ArgumentParser)


def register_synthesis_commands(
    commands: argparse._SubParsersAction[_Parser],
    *,
    knowledge: Callable[[argparse.Namespace], KnowledgeBase],
    emit: Callable[[BaseModel | Mapping[str, object]], None],
) -> None:
    """Add the options of ``evidence pool`` and the ``evidence certainty`` command to
    ``commands`` (the ``evidence`` sub-commands); ``emit`` writes a JSON document."""
    pool = commands.choices["pool"]
    pool.add_argument(
        "--by", choices=DIMENSIONS, help="subgroups by disease (DM, SSc) or population"
    )
    pool.add_argument(
        "--leave-one-out", action="store_true", help="pool again without each study in turn"
    )
    pool.add_argument(
        "--hartung-knapp",
        action="store_true",
        help="the Hartung-Knapp interval (methods dl, reml, pm)",
    )
    certainty = commands.add_parser(
        "certainty",
        help="summary of findings with a pre-filled GRADE certainty (for a panel to confirm)",
    )
    certainty.add_argument(
        "treatment", nargs="?", metavar="TREATMENT", help="a treatment or class (default: all)"
    )
    certainty.add_argument("--outcome", choices=OUTCOMES, help="default: both")
    certainty.add_argument(
        "--disease", choices=("DM", "SSc"), help="the question's disease (default: DM or SSc)"
    )
    certainty.add_argument(
        "--population", choices=("adult", "child"), help="the question's age group"
    )
    certainty.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="default: text"
    )

    def run(args: argparse.Namespace) -> int:
        # the certainty's modules (~0.05 G instructions) only for this command
        from calcinosis.evidence.summary_of_findings import (  # noqa: PLC0415 - certainty
            Scope,
            render_markdown,
            render_text,
            summary_of_findings,
        )

        kb = knowledge(args)
        sof = summary_of_findings(
            kb,
            [args.treatment] if args.treatment else None,
            (args.outcome,) if args.outcome else OUTCOMES,
            Scope(args.disease, args.population),
        )
        if args.format == "json":
            emit(sof.document())
        else:
            sys.stdout.write((render_markdown if args.format == "markdown" else render_text)(sof))
        return 0

    certainty.set_defaults(func=run)


def pool_options(args: argparse.Namespace) -> PoolOptions:
    """The keyword arguments of ``synthesis.pool_document`` that the options give."""
    return PoolOptions(
        by=args.by, leave_one_out=args.leave_one_out, hartung_knapp=args.hartung_knapp
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _figure(entry: PoolGroups | PoolLeaveOneOut, asked: str) -> str:
    """'27.7% (1.5% to 90.5%)', with 'one study' or 'counts added' when not pooled, and
    'DL' when the GLMM asked for could not be fitted (every study at 0% or 100%)."""
    if entry.estimate is None or entry.ci is None:  # both or neither
        return "no study counts it"
    low, high = entry.ci
    text = f"{_pct(entry.estimate)} ({_pct(low)} to {_pct(high)})"
    if asked == "glmm" and entry.method == "dl":
        return text + ", DL (GLMM not estimable)"
    words = {"single": ", one study", "combined": ", counts added"}
    return text + (words.get(entry.method, "") if entry.method is not None else "")


def _heterogeneity(entry: PoolGroups | PoolLeaveOneOut) -> str:
    if entry.tau2 is None:
        return "-"
    return f"{entry.tau2:.3f} / {entry.i2:.0f}%"


def _subgroup_lines(part: PoolSubgroups, method: str) -> list[str]:
    from tabulate import tabulate  # noqa: PLC0415 - only a command that prints a table

    rows = [
        [g.label, g.about, g.k, f"{g.x}/{g.n}", _figure(g, method), _heterogeneity(g)]
        for g in part.groups
    ]
    lines = [
        "",
        f"Subgroups by {part.by} (each pooled on its own, method {method}):",
        tabulate(
            rows,
            headers=["subgroup", "whom", "k", "x/n", "estimate (95% CI)", "tau2 / I2"],
            tablefmt="simple",
        ),
    ]
    test = part.test
    if test is None:
        lines.append("  test for subgroup differences: not possible (fewer than two subgroups)")
    else:
        lines.append(
            f"  test for subgroup differences: Q = {test.q:.2f}, df = {test.df}, p = {test.p:.3f}"
        )
    lines += [f"  not in a subgroup: {o.label} ({o.reason})" for o in part.left_out]
    lines += [f"  note: {note}" for note in part.notes[1:]]  # the first says the method
    return lines


def sensitivity_lines(document: PoolDocument, method: str) -> list[str]:
    """The text of the subgroups, the leave-one-out and the Hartung-Knapp interval of a
    pooling asked for with ``method``."""
    from tabulate import tabulate  # noqa: PLC0415 - only a command that prints a table

    lines: list[str] = []
    if document.subgroups is not None:
        lines += _subgroup_lines(document.subgroups, method)
    if document.leave_one_out:
        rows = [
            [r.label, r.k, f"{r.x}/{r.n}", _figure(r, method), _heterogeneity(r)]
            for r in document.leave_one_out
        ]
        lines += [
            "",
            f"Leave-one-out (method {method}), whom: {document.about}:",
            tabulate(
                rows,
                headers=["without", "k", "x/n", "estimate (95% CI)", "tau2 / I2"],
                tablefmt="simple",
            ),
        ]
    adjusted = document.hartung_knapp
    if adjusted:
        low, high = adjusted.ci
        plain = adjusted.untruncated.ci
        lines += [
            "",
            f"Hartung-Knapp ({adjusted.method}, t with {adjusted.df} df, "
            f"q = {adjusted.q:.3f}): 95% CI {_pct(low)} to {_pct(high)}"
            + (
                f" (ad hoc correction max(1, q) applied; without it {_pct(plain[0])} to "
                f"{_pct(plain[1])})"
                if adjusted.truncated
                else " (q >= 1: no correction needed)"
            ),
        ]
    return lines
