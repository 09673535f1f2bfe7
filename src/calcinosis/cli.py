"""The ``calcinosis`` command.

Exit codes (DESIGN.md): 0 success; 2 bad usage or bad input, with one line on
stderr and no traceback; 1 an internal error (also one line).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import BaseModel

from calcinosis import DISCLAIMER, __version__
from calcinosis.errors import CalcinosisError, UnknownChoiceError
from calcinosis.evidence.choices import FORMATS, METHODS, TABLES
from calcinosis.evidence.commands import (
    pool_options,
    register_synthesis_commands,
    sensitivity_lines,
)
from calcinosis.evidence.knowledge_base import (
    OUTCOMES,
    KnowledgeBase,
    arm_document,
    load_knowledge,
    require_current_texts,
)
from calcinosis.evidence.synthesis import pool_document, pool_treatment
from calcinosis.living.commands import add_living_commands

__all__ = ["main"]

_DEMO_PATIENT = Path(__file__).parent / "examples" / "ssc_digital_raynaud_on_warfarin.json"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _tabulate(body: Sequence[Sequence[object]], headers: Sequence[str], style: str) -> str:
    from tabulate import tabulate  # noqa: PLC0415 - only a command that prints a table

    return tabulate(body, headers=headers, tablefmt=style)


def _emit_json(document: object) -> None:
    if isinstance(document, BaseModel):  # a typed document: its JSON, as the API gives it
        document = document.model_dump(exclude_unset=True)
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _footer(kb: KnowledgeBase) -> str:
    return f"\n{kb.version_line()}. {DISCLAIMER}\n"


def _kb(args: argparse.Namespace, *, plans: bool = False) -> KnowledgeBase:
    """The knowledge base of ``--knowledge`` (or CALCINOSIS_KNOWLEDGE_DIR, or the packaged
    one); ``plans``: it will make plans and answers, so it must hold this code's texts."""
    directory = args.knowledge or os.environ.get("CALCINOSIS_KNOWLEDGE_DIR")
    kb = load_knowledge(directory)
    if plans and directory:  # the packaged directory holds them (a test says so)
        require_current_texts(kb)
    return kb


# ---------------------------------------------------------------- evidence arms
def _cmd_arms(args: argparse.Namespace) -> int:
    from calcinosis.evidence.tables import arm_level_rules, render  # noqa: PLC0415 - the tables

    kb = _kb(args)
    arms = list(kb.arms)
    if args.treatment:
        wanted = set(kb.resolve(args.treatment))
        arms = [arm for arm in arms if arm.treatment in wanted]
    documents = [arm_document(kb, arm, arm_level_rules(kb, arm).level) for arm in arms]
    if args.format == "json":
        _emit_json([d.model_dump(exclude_unset=True) for d in documents])
        return 0
    columns = [
        "study",
        "treatment",
        "population",
        "disease",
        "n",
        "responders_any",
        "responders_complete",
        "design",
        "level",
        "level_rules",
        "source",
    ]
    cells = [{c: getattr(d, c) for c in columns} for d in documents]
    body = [["" if row[c] is None else row[c] for c in columns] for row in cells]
    if args.format == "csv":
        sys.stdout.write(render(cells, 1, "csv"))
        return 0
    style = "github" if args.format == "markdown" else "simple"
    sys.stdout.write(_tabulate(body, columns, style) + "\n")
    if args.format == "text":
        sys.stdout.write(
            f"\n{len(documents)} arms. Blank counts are NA/NS in the review." + _footer(kb)
        )
    return 0


# --------------------------------------------------------------- evidence table
def _cmd_table(args: argparse.Namespace) -> int:
    from calcinosis.evidence.tables import render, table_rows  # noqa: PLC0415 - the tables

    kb = _kb(args)
    rows = [row.model_dump() for row in table_rows(kb, args.number)]
    if args.format == "json":
        _emit_json(rows)
        return 0
    sys.stdout.write(render(rows, args.number, args.format))
    if args.format == "text":
        sys.stdout.write(_footer(kb))
    return 0


# --------------------------------------------------------------- evidence audit
def _cmd_audit(args: argparse.Namespace) -> int:
    from calcinosis.evidence.audit import audit  # noqa: PLC0415 - the audit's checks

    kb = _kb(args)
    items = audit(kb)
    if args.check:
        items = [item for item in items if item.check == args.check]
    if args.format == "json":
        _emit_json([item.document().model_dump() for item in items])
        return 0
    for number, item in enumerate(items, start=1):
        sys.stdout.write(
            f"{number:>2}. [{item.check}, {item.severity}] {item.subject}\n"
            f"    published: {item.published.value}\n"
            f"               ({item.published.source}: {item.published.location})\n"
            f"    found:     {item.found.value}\n"
            f"               ({item.found.source}: {item.found.location})\n"
            f"    {item.explanation}\n"
        )
    sys.stdout.write(f"\n{len(items)} disagreements." + _footer(kb))
    return 0


# ---------------------------------------------------------------- evidence pool
def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _cmd_pool(args: argparse.Namespace) -> int:
    kb = _kb(args)
    document = pool_document(kb, args.treatment, args.outcome, args.method, **pool_options(args))
    if args.format == "json":
        _emit_json(document.model_dump(exclude_unset=True))
        return 0
    lines = [f"{args.treatment}: {args.outcome} response, method {document.method}"]
    if document.estimate is not None and document.ci is not None:  # both or neither
        low, high = document.ci
        lines.append(
            f"  estimate {_fmt_pct(document.estimate)} "
            f"(95% CI {_fmt_pct(low)} to {_fmt_pct(high)}), "
            f"k={document.k}, n={document.n}"
        )
        if document.pooled:
            pi = document.prediction_interval
            tau2 = "-" if document.tau2 is None else f"{document.tau2:.4f}"
            i2 = "-" if document.i2 is None else f"{document.i2:.1f}%"
            interval = (
                f"{_fmt_pct(pi[0])} to {_fmt_pct(pi[1])}"
                if pi is not None
                else "not estimable with so few studies"
            )
            lines.append(f"  tau2 {tau2}, I2 {i2}, prediction interval {interval}")
        lines.append(f"  whom: {document.about}")
    body = [
        [
            a.label,
            a.design,
            f"{a.x}/{a.n}",
            _fmt_pct(a.proportion),
            f"{_fmt_pct(a.ci[0])} to {_fmt_pct(a.ci[1])}",
            f"{a.weight:.1f}%",
        ]
        for a in document.arms
    ]
    lines.append("")
    headers = ["study", "design", "x/n", "proportion", "Wilson 95% CI", "weight"]
    lines.append(_tabulate(body, headers, "simple"))
    for left in document.left_out:
        lines.append(f"  left out: {left.arm} ({left.reason})")
    lines.extend(sensitivity_lines(document, args.method))
    lines.extend(f"  note: {note}" for note in document.notes)
    sys.stdout.write("\n".join(lines) + "\n" + _footer(kb))
    return 0


# -------------------------------------------------------------- evidence forest
def _cmd_forest(args: argparse.Namespace) -> int:
    kb = _kb(args)
    output = Path(args.output)
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise UnknownChoiceError("output format", output.suffix or output.name, ["svg", "png"])
    result, _units, _left = pool_treatment(kb, args.treatment, args.outcome, args.method)
    if result is None:
        raise CalcinosisError(
            f"no arm of {args.treatment!r} reports a count for the {args.outcome} outcome"
        )
    from calcinosis.render.forest import render_forest  # noqa: PLC0415 - matplotlib (~0.3 s) only to draw

    title = f"{args.treatment}: {args.outcome} response"
    data = render_forest(result, title, "svg" if fmt == "svg" else "png")
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise CalcinosisError(f"cannot write {output}: {exc.strerror}") from None
    sys.stderr.write(f"wrote {output} ({len(data)} bytes)\n")
    return 0


# ------------------------------------------------------------ evidence grading
def _cmd_grading(args: argparse.Namespace) -> int:
    from calcinosis.evidence.tables import arm_level_rules, table_rows  # noqa: PLC0415 - tables

    kb = _kb(args)
    arm_rows = []
    for arm in kb.arms:
        rules = arm_level_rules(kb, arm)
        if rules.level != arm.level:
            arm_rows.append(
                {
                    "arm": arm.id,
                    "level_printed": arm.level,
                    "level_rules": rules.level,
                    "reasons": list(rules.reasons),
                }
            )
    grade_rows = [
        {
            "row": row.label,
            "grade_printed": row.grade,
            "grade_rules": row.grade_rules,
            "reasons": row.grade_rules_reasons,
        }
        for row in table_rows(kb, 4)
        if row.grade != row.grade_rules
    ]
    if args.format == "json":
        _emit_json({"levels": arm_rows, "grades": grade_rows})
        return 0
    for title, rows, keys in (
        (
            "Levels: printed by the review vs given by the CEBM 2009 rules",
            arm_rows,
            ("arm", "level_printed", "level_rules"),
        ),
        (
            "Grades of Table 4: printed vs rules",
            grade_rows,
            ("row", "grade_printed", "grade_rules"),
        ),
    ):
        body = [[*(r[k] for k in keys), "; ".join(r["reasons"])] for r in rows]
        headers = [keys[0], "printed", "rules", "why"]
        sys.stdout.write(f"{title}\n{_tabulate(body, headers, 'simple')}\n\n")
    sys.stdout.write(_footer(kb))
    return 0


# ------------------------------------------------------------ evidence validate
def _cmd_validate(args: argparse.Namespace) -> int:
    kb = load_knowledge(args.directory)
    sys.stdout.write(
        f"ok: {len(kb.studies)} studies, {len(kb.arms)} arms, {len(kb.treatments)} treatments, "
        f"{len(kb.statements)} statements; version {kb.version}\n"
    )
    return 0


# ------------------------------------------------------------------- recommend
def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalcinosisError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalcinosisError(f"cannot read {path}: {exc}") from None


def _cmd_recommend(args: argparse.Namespace) -> int:
    # the engine's modules (~0.13 G instructions) only to recommend, not for every command
    from calcinosis.decision.engine import recommend_document  # noqa: PLC0415 - the engine
    from calcinosis.decision.patient import parse_patient_json  # noqa: PLC0415 - the engine
    from calcinosis.decision.plan import render_text  # noqa: PLC0415 - the engine

    kb = _kb(args, plans=True)
    if args.batch:
        return _recommend_batch(args, kb)
    if args.patient is None:
        raise CalcinosisError("give a patient file (PATIENT.json, or - for stdin) or --batch FILE")
    patient = parse_patient_json(_read_input(args.patient), kb.therapy_ids())
    document = recommend_document(patient, kb)
    if args.format == "json":
        # pydantic's serialiser writes what json.dump(indent=2, ensure_ascii=False) does
        # (the byte comparison in tests/test_documents.py), four times faster
        sys.stdout.write(document.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(render_text(document))
    return 0


def _recommend_batch(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    """One plan per line of NDJSON; a bad line is reported with its number and skipped."""
    from tqdm import tqdm  # noqa: PLC0415 - its progress bar only for a batch

    from calcinosis.decision.engine import recommend_document  # noqa: PLC0415 - the engine
    from calcinosis.decision.patient import parse_patient_json  # noqa: PLC0415 - the engine

    lines = _read_input(args.batch).splitlines()
    therapies = kb.therapy_ids()
    bad = 0
    for number, line in enumerate(
        tqdm(lines, desc="plans", unit="plan", file=sys.stderr, disable=None, leave=False), start=1
    ):
        if not line.strip():
            continue
        try:
            patient = parse_patient_json(line, therapies)
        except CalcinosisError as exc:
            bad += 1
            sys.stderr.write(f"calcinosis: line {number}: {exc}\n")
            continue
        plan = recommend_document(patient, kb).model_dump()
        sys.stdout.write(json.dumps(plan, ensure_ascii=False) + "\n")
    if bad:
        sys.stderr.write(f"calcinosis: {bad} of {len(lines)} lines skipped\n")
    return 2 if bad else 0


# ------------------------------------------------------------------------- ask
def _cmd_ask(args: argparse.Namespace) -> int:
    from calcinosis.answers import answer_question, render_answer  # noqa: PLC0415 - ~60 ms, only to ask

    question = " ".join(args.question).strip()
    if not question:
        raise CalcinosisError('give a question, e.g. calcinosis ask "What dose of diltiazem?"')
    if len(question) > 1000:
        raise CalcinosisError("the question is longer than 1000 characters")
    document = answer_question(question, _kb(args, plans=True))
    if args.format == "json":
        # pydantic's serialiser writes what json.dump(indent=2, ensure_ascii=False) does
        sys.stdout.write(document.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(render_answer(document))
    return 0


# ----------------------------------------------------------------------- serve
def _freeze_long_lived() -> None:
    """Keep the knowledge base loaded (and the imported modules) out of the garbage
    collector's full passes: each pass over them paused every request for 100-300 ms,
    and a request that waits for its audit commit holds its plan long enough to make
    such passes frequent."""
    gc.collect()
    gc.freeze()


def _cmd_serve(args: argparse.Namespace) -> int:
    """Everything that can fail is done before the port is bound: the settings, the
    knowledge base, the database and the sockets; a failure is one line and exit 2."""
    from calcinosis.settings import Settings  # noqa: PLC0415 - pydantic-settings, only to serve

    settings = Settings.from_env(
        args.host, args.port, insecure_cds=args.insecure_cds, workers=args.workers
    )

    from calcinosis.web import server  # noqa: PLC0415 - the web stack (~1 s) only to serve

    store = server.open_store(
        settings.database_url,
        write_timeout=settings.storage_write_timeout,
        busy_timeout=settings.storage_busy_timeout,
    )
    try:
        from calcinosis.answers import prepare  # noqa: PLC0415 - its vocabulary, to serve
        from calcinosis.decision import plan  # noqa: PLC0415 - the pooled evidence, to serve
        from calcinosis.web.app import create_app  # noqa: PLC0415 - the web stack, only to serve

        kb = _kb(args, plans=True)
        # one worker serves with this store; several each open their own (nothing with
        # a thread is forked): this one has checked the database and is closed
        app = create_app(settings, kb=kb, store=store if settings.workers == 1 else None)
        prepare(kb)  # the answers' indexes and estimates: before the port, and frozen with kb
        plan.prepare(kb)  # each option's pooled evidence: the first plan does not wait ~1 s
        sockets = server.bind_sockets(args.host, args.port)
    except BaseException:
        store.close()
        raise
    if settings.workers > 1:
        store.close()
    _freeze_long_lived()
    if settings.insecure_cds:
        sys.stderr.write(
            "\n" + "!" * 78 + "\n"
            "!! WARNING: --insecure-cds: CDS Hooks calls are accepted WITHOUT authentication.\n"
            "!! Anyone who can reach this server can call its CDS services. Development only:\n"
            "!! never use it with real patient data. Configure CALCINOSIS_CDS_ISSUERS instead.\n"
            "!! Missing prefetch is fetched only from a loopback fhirServer (127.0.0.1, ::1,\n"
            "!! localhost), with the fhirAuthorization token the request carries.\n"
            + "!" * 78
            + "\n\n"
        )
    elif not settings.cds_issuers:
        sys.stderr.write("calcinosis: no CALCINOSIS_CDS_ISSUERS: CDS Hooks calls will be refused\n")
    if kb.unreleased:  # a directory being edited: previewed, and every page says so
        sys.stderr.write(
            f"calcinosis: previewing unreleased evidence {kb.version} ({kb.release_status()});"
            " every page says so\n"
        )
    workers = f"; {settings.workers} worker processes" if settings.workers > 1 else ""
    sys.stderr.write(
        f"calcinosis {__version__}: serving on http://{args.host}:{args.port} "
        f"(public URL {settings.public_url}; database {server.shown_url(settings.database_url)}"
        f"{workers})\n"
    )
    server.run(app, settings, sockets, args.log_level)
    return 0


# ------------------------------------------------------------------------ demo
def _cmd_demo(args: argparse.Namespace) -> int:
    kb = _kb(args)
    steps: list[tuple[str, list[str]]] = [
        ("The review's Table 4, rebuilt from the arms", ["evidence", "table", "4"]),
        ("Pooled response to diltiazem (binomial-normal GLMM)", ["evidence", "pool", "diltiazem"]),
        ("What the audit finds", ["evidence", "audit", "--check", "table4-range"]),
        (
            "A plan for a woman with SSc, digital calcinosis and Raynaud's, who takes warfarin",
            ["recommend", str(_DEMO_PATIENT)],
        ),
    ]
    sys.stdout.write(f"calcinosis {__version__}: a tour of the command line\n")
    for title, argv in steps:
        sys.stdout.write(f"\n=== {title}\n$ calcinosis {' '.join(argv)}\n\n")
        sys.stdout.flush()
        _dispatch(argv)
    sys.stdout.write(f"\n{kb.version_line()}.\n")
    return 0


def _add_format(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    parser.add_argument(
        "--format", choices=choices, default="text", help="output format (default: text)"
    )


def _add_service_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    """recommend, ask and serve."""
    recommend = commands.add_parser("recommend", help="a treatment plan for a patient profile")
    recommend.add_argument(
        "patient",
        nargs="?",
        metavar="PATIENT.json",
        help="the patient profile (JSON), or - for stdin",
    )
    recommend.add_argument(
        "--batch", metavar="FILE.ndjson", help="one profile per line; writes one plan per line"
    )
    recommend.add_argument("--knowledge", metavar="DIR", help=argparse.SUPPRESS)
    _add_format(recommend, ("text", "json"))
    recommend.set_defaults(func=_cmd_recommend)

    ask = commands.add_parser("ask", help="answer a clinical question from the evidence")
    ask.add_argument("question", nargs="+", help="the question, in plain language")
    ask.add_argument("--knowledge", metavar="DIR", help=argparse.SUPPRESS)
    _add_format(ask, ("text", "json"))
    ask.set_defaults(func=_cmd_ask)

    serve = commands.add_parser("serve", help="the web app and JSON API")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    serve.add_argument(
        "--insecure-cds",
        action="store_true",
        help="accept CDS Hooks calls without authentication (development only)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes serving the port, sharing the database (default 1; one per core "
        "uses every core)",
    )
    serve.add_argument(
        "--knowledge",
        metavar="DIR",
        help="serve this knowledge directory (default: the packaged one); an unreleased "
        "one is previewed under a banner on every page",
    )
    serve.set_defaults(func=_cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="calcinosis",
        description=("Evidence-based decision support for calcinosis cutis. " + DISCLAIMER),
    )
    parser.add_argument("--version", action="version", version=f"calcinosis {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    evidence = commands.add_parser(
        "evidence", help="the evidence base: arms, tables, audit, pooling"
    )
    evidence.add_argument(
        "--knowledge", metavar="DIR", help="knowledge directory (default: the packaged one)"
    )
    sub = evidence.add_subparsers(dest="evidence_command", required=True, parser_class=_Parser)

    arms = sub.add_parser("arms", help="every study arm with its provenance")
    arms.add_argument("--treatment", help="only this treatment id or class")
    _add_format(arms, FORMATS)
    arms.set_defaults(func=_cmd_arms)

    table = sub.add_parser("table", help="rebuild Table 1, 2, 3 or 4 of the review")
    table.add_argument("number", type=int, choices=TABLES, metavar="{1,2,3,4}")
    _add_format(table, FORMATS)
    table.set_defaults(func=_cmd_table)

    audit_p = sub.add_parser("audit", help="published figures that disagree with the counts")
    audit_p.add_argument("--check", help="only this kind of check")
    _add_format(audit_p, ("text", "json"))
    audit_p.set_defaults(func=_cmd_audit)

    for name, func, helptext in (
        ("pool", _cmd_pool, "pooled response proportion of a treatment or class"),
        ("forest", _cmd_forest, "forest plot of a treatment or class"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("treatment", metavar="TREATMENT")
        p.add_argument("--outcome", choices=OUTCOMES, default="any")
        p.add_argument("--method", choices=METHODS, default="glmm")
        if name == "pool":
            _add_format(p, ("text", "json"))
        else:
            p.add_argument("-o", "--output", required=True, help="plot.svg or plot.png")
        p.set_defaults(func=func)
    register_synthesis_commands(sub, knowledge=_kb, emit=_emit_json)

    grading = sub.add_parser("grading", help="printed levels and grades vs the CEBM rules")
    _add_format(grading, ("text", "json"))
    grading.set_defaults(func=_cmd_grading)

    validate = sub.add_parser("validate", help="validate a knowledge directory")
    validate.add_argument("directory", nargs="?", help="default: the packaged knowledge")
    validate.set_defaults(func=_cmd_validate)

    add_living_commands(sub)  # add, diff, release (calcinosis.living)

    _add_service_commands(commands)

    demo = commands.add_parser("demo", help="a short tour of the evidence commands")
    demo.set_defaults(func=_cmd_demo, knowledge=None)
    return parser


def _dispatch(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``calcinosis`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(arguments)
    except SystemExit as exc:  # argparse: usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else 0
    except CalcinosisError as exc:
        sys.stderr.write(f"calcinosis: error: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("CALCINOSIS_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(
            f"calcinosis: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(set CALCINOSIS_DEBUG=1 for details)\n"
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
