"""The command line of living evidence: ``evidence add``, ``evidence diff`` and
``evidence release`` (registered by ``cli.py`` under ``calcinosis evidence``)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TypeVar

from calcinosis import DISCLAIMER
from calcinosis.errors import CalcinosisError
from calcinosis.evidence.knowledge_base import KnowledgeBase, read_knowledge
from calcinosis.evidence.references import short_label

__all__ = ["add_living_commands"]

P = TypeVar("P", bound=argparse.ArgumentParser)  # the parser class of the subcommands


def _footer(kb: KnowledgeBase) -> str:
    return f"\n{kb.version_line()}. {DISCLAIMER}\n"


def _directory(value: str | None) -> Path | None:
    return None if value is None else Path(value)


# Each command imports its own modules: their study-file and panel models are about 0.2 G
# instructions that every other ``calcinosis`` command would otherwise pay at start.


def _cmd_add(args: argparse.Namespace) -> int:
    from calcinosis.living.add import add_study  # noqa: PLC0415 - only to add a study

    added = add_study(Path(args.study), _directory(getattr(args, "knowledge", None)))
    where = added.directory
    out = sys.stdout
    if added.created:
        out.write(
            f"Made {where}/, a working copy of the packaged knowledge (the installed files "
            "are never changed); the next `evidence add` adds to it.\n"
        )
    study = added.study
    arms = len(study.arms)
    out.write(
        f"Added {study.label} ({study.study.design}) to {where}: {arms} arm"
        f"{'s' if arms > 1 else ''}, cited as {short_label(study.source)}.\n"
    )
    for arm in study.arms:
        counts = (
            f"{arm.responders_any} of {arm.n} {arm.unit} responded"
            if arm.responders_any is not None
            else f"{arm.n} {arm.unit}, responders not reported"
        )
        if arm.responders_complete is not None:
            counts += f", {arm.responders_complete} completely"
        reasons = "; ".join(study.levels[arm.id].reasons)
        out.write(
            f"  {arm.id}: {arm.treatment}, {arm.population}, {arm.disease}: {counts}\n"
            f"    CEBM level {arm.level} by the rules ({reasons})\n"
        )
    out.write(f"See what it changes: calcinosis evidence diff {where}\n")
    out.write(_footer(added.kb))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from calcinosis.living.diff import diff  # noqa: PLC0415 - only to compare
    from calcinosis.living.directory import require_directory  # noqa: PLC0415 - PyYAML, only to compare
    from calcinosis.living.release import last_release_directory, panel_for  # noqa: PLC0415 - only to compare
    from calcinosis.living.report import render_markdown, render_text  # noqa: PLC0415 - only to compare

    if len(args.directories) > 2:
        raise CalcinosisError("give HEAD, or BASE and HEAD (two knowledge directories)")
    paths = [Path(value) for value in args.directories]
    for path in paths:
        require_directory(path)
    head_dir = paths[-1]
    head = read_knowledge(head_dir)
    base_dir = paths[0] if len(paths) == 2 else last_release_directory(head_dir, head)
    if base_dir is None:
        raise CalcinosisError(f"{head_dir} was never released: give BASE as well (BASE HEAD)")
    base = read_knowledge(base_dir)
    result = diff(base, head, panel_for(base, head, head_dir, base_dir))
    if args.format == "json":
        json.dump(result.document(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(result))
    else:
        sys.stdout.write(render_text(result) + _footer(head))
    return 0


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def _cmd_release(args: argparse.Namespace) -> int:
    from calcinosis.living.release import release  # noqa: PLC0415 - only to release

    done = release(
        Path(args.directory),
        args.version,
        args.note,
        released=args.date,
        base=_directory(args.base),
    )
    entry = done.entry
    out = sys.stdout
    out.write(
        f"Released {done.directory} as {entry.version} on {entry.released.isoformat()}: "
        f"evidence version {done.kb.version}.\n"
        f"  What triggered it: {entry.note}\n"
        f"  Changes{f' since {entry.previous}' if entry.previous else ''}:\n"
    )
    out.writelines(f"    - {line}\n" for line in entry.changes)
    out.write(
        f"The changelog is {done.directory / 'changes.yaml'}. See it on the web: "
        f"calcinosis serve --knowledge {done.directory} (then /evidence/changes)\n"
    )
    out.write(_footer(done.kb))
    return 0


def add_living_commands(sub: argparse._SubParsersAction[P]) -> None:
    """``evidence add``, ``evidence diff`` and ``evidence release``."""
    add = sub.add_parser("add", help="add one study (a study file) to a knowledge directory")
    add.add_argument("study", metavar="STUDY.yaml", help="the study file (see the README)")
    add.add_argument(
        "--knowledge",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the knowledge directory to add to (default: ./calcinosis-knowledge, a "
        "working copy of the packaged knowledge made the first time)",
    )
    add.set_defaults(func=_cmd_add)

    compare = sub.add_parser(
        "diff", help="what changed between two knowledge directories, and for which patients"
    )
    compare.add_argument(
        "directories",
        nargs="+",
        metavar="DIR",
        help="BASE HEAD; or only HEAD, compared with its last release",
    )
    compare.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="default: text"
    )
    compare.set_defaults(func=_cmd_diff)

    cut = sub.add_parser("release", help="release a knowledge directory as a numbered version")
    cut.add_argument("directory", metavar="DIR")
    cut.add_argument("--version", required=True, metavar="X.Y.Z", help="greater than the current")
    cut.add_argument("--note", required=True, help="what triggered this version")
    cut.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="default: today (UTC)")
    cut.add_argument(
        "--base", metavar="DIR", help="the files of the release before (default: found)"
    )
    cut.set_defaults(func=_cmd_release)
