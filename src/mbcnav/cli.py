"""The `mbcnav` command line: assess, response, options, kb, convert, trials.

Exit codes (mbcnav.outcome): 0 done, 2 unusable input or user error, 70 internal error, 130 interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from mbcnav import __version__
from mbcnav.assess.config import AssessmentConfig
from mbcnav.outcome import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNUSABLE,
    GuardedStream,
    OutputError,
    fail,
    read_patient,
    silence_stdout,
    write_text_atomic,
)
from mbcnav.record.reader import UnusableInput

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_UNUSABLE", "fail", "main"]
FORMAT_HELP = "text (readable, the default) or json (the versioned contract; an OperationOutcome when unusable)"
STRICT_HELP = "reject the input when any problem is found (default: keep what can be read and list the problems)"
PATIENT_HELP = "patient id, when the input holds more than one patient"
AS_OF_HELP = "read the record as known on this date: later facts are left out (default: today)"
PATH_HELP = (
    "FHIR R4 JSON (Bundle, resource, NDJSON), a .yaml case file, or a folder of such files read together as one "
    "patient (--patient ID picks one when it holds several)"
)


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mbcnav", description="Decision support for metastatic breast cancer.", epilog=EXIT_CODES_HELP
    )
    p.add_argument("--version", action="version", version=f"mbcnav {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, help="the command (`mbcnav COMMAND --help` for more)")
    a = sub.add_parser(
        "assess", help="read a record and state what the disease is, with reasons", epilog=EXIT_CODES_HELP
    )
    a.add_argument("path", type=Path, help=PATH_HELP)
    a.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    a.add_argument("--strict", action="store_true", help=STRICT_HELP)
    a.add_argument("--patient", metavar="ID", help=PATIENT_HELP)
    a.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    a.add_argument(
        "--de-novo-window-months",
        type=float,
        default=AssessmentConfig().de_novo_window_months,
        metavar="N",
        help="months after diagnosis within which metastases count as de novo (default 4, AJCC)",
    )
    r = sub.add_parser(
        "response",
        help="RECIST 1.1 response per line of therapy, with spider/swimmer plots; "
        "a folder of patient files gives a cohort waterfall plot",
        epilog=EXIT_CODES_HELP,
    )
    r.add_argument(
        "path",
        type=Path,
        help="one patient (as for assess), or a folder of several patients' files: a cohort (one report per "
        "patient; a file that cannot be read is reported and skipped, and the exit code is 1)",
    )
    r.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    r.add_argument("--baseline", type=_as_of, metavar="YYYY-MM-DD", help="use this assessment date as the baseline")
    r.add_argument("--plot", type=Path, metavar="DIR", help="write PNG and SVG plots into DIR (created if needed)")
    r.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    r.add_argument("--strict", action="store_true", help=STRICT_HELP)
    r.add_argument("--patient", metavar="ID", help=PATIENT_HELP + " (in a folder: only that patient)")
    o = sub.add_parser(
        "options",
        help="guideline-concordant treatment options for this patient, with evidence",
        epilog=EXIT_CODES_HELP,
    )
    o.add_argument("path", type=Path, help=PATH_HELP)
    o.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    o.add_argument("--strict", action="store_true", help=STRICT_HELP)
    o.add_argument("--patient", metavar="ID", help=PATIENT_HELP)
    o.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    o.add_argument(
        "--visceral-crisis",
        choices=["yes", "no"],
        help="clinician's judgement of visceral crisis (overrides the record)",
    )
    kb = sub.add_parser("kb", help="review the knowledge base: lint, show, docs", epilog=EXIT_CODES_HELP)
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, help="what to do with the knowledge base")
    kb_sub.add_parser(
        "lint",
        help="schema, dangling references, uncited options, unknown facts (exit 2 when a problem is found)",
        epilog=EXIT_CODES_HELP,
    )
    show = kb_sub.add_parser(
        "show", help="an option (or all) in readable form with its evidence", epilog=EXIT_CODES_HELP
    )
    show.add_argument("option_id", nargs="?", metavar="ID", help="option id (default: list all options)")
    kb_sub.add_parser("docs", help="print docs/knowledge.md (Markdown) for clinician review", epilog=EXIT_CODES_HELP)
    c = sub.add_parser(
        "convert",
        help="convert a YAML case file to an mCODE FHIR R4 Bundle (JSON on stdout)",
        epilog=EXIT_CODES_HELP,
    )
    c.add_argument("path", type=Path, help="the case file (.yaml, schema mbcnav-case/1)")
    c.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to this file (whole or not at all) instead of stdout"
    )
    from mbcnav.trials.cli import add_parser as add_trials_parser

    add_trials_parser(sub)
    return p


def cmd_assess(args: argparse.Namespace) -> int:
    today = args.as_of or date.today()
    if not 0 < args.de_novo_window_months <= 24:
        return fail(UnusableInput("--de-novo-window-months must be between 0 and 24"), args.format)
    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
    except UnusableInput as err:
        return fail(err, args.format)
    from mbcnav.response import assess_with_response

    result, _ = assess_with_response(
        record, as_of=today, config=AssessmentConfig(de_novo_window_months=args.de_novo_window_months)
    )
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        from mbcnav.report import render_assessment

        render_assessment(result)
    return EXIT_OK


def cmd_options(args: argparse.Namespace) -> int:
    from mbcnav.options import recommend
    from mbcnav.response import assess_with_response

    today = args.as_of or date.today()
    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
    except UnusableInput as err:
        return fail(err, args.format)
    assessment, _ = assess_with_response(record, as_of=today)
    crisis = None if args.visceral_crisis is None else args.visceral_crisis == "yes"
    doc = recommend(assessment, visceral_crisis=crisis).as_json(assessment)
    if args.format == "json":
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        from mbcnav.options.report import render_options

        render_options(doc)
    return EXIT_OK


def cmd_kb(args: argparse.Namespace) -> int:
    from mbcnav.assess.facts import FACTS, is_known_fact
    from mbcnav.knowledge.kb import knowledge_base, lint, load_unchecked
    from mbcnav.options.report import knowledge_markdown, option_markdown

    if args.kb_command == "lint":
        kb = load_unchecked()
        problems = lint(kb, is_known_fact)
        for p in problems:
            print(f"kb: {p}")
        n = len(kb.options["options"])
        print(
            f"knowledge base {kb.version}: {n} options, {len(kb.trials)} trials, {len(kb.guidelines)} guidelines, "
            f"{len(problems)} problem(s)"
        )
        return EXIT_UNUSABLE if problems else EXIT_OK
    kb = knowledge_base()
    if args.kb_command == "show":
        if args.option_id:
            opt = kb.option(args.option_id)
            if opt is None:
                print(f"mbcnav: no option {args.option_id!r}; `mbcnav kb show` lists them", file=sys.stderr)
                return EXIT_UNUSABLE
            print(option_markdown(kb, opt))
        else:
            for opt in kb.options["options"]:
                print(f"{opt['id']:45s} {opt['tier']:12s} {opt['title']}")
        return EXIT_OK
    print(knowledge_markdown(kb, FACTS))
    return EXIT_OK


def cmd_response(args: argparse.Namespace) -> int:
    from mbcnav.response.cli import run_response

    return run_response(args)


def cmd_trials(args: argparse.Namespace) -> int:
    from mbcnav.trials.cli import run_trials

    return run_trials(args)


def cmd_convert(args: argparse.Namespace) -> int:
    from mbcnav.record.casefile import case_to_bundle, load_case

    if args.path.suffix not in (".yaml", ".yml"):
        return fail(UnusableInput(f"{args.path}: convert takes a .yaml case file"), "text")
    try:
        bundle = case_to_bundle(load_case(args.path))
    except UnusableInput as err:
        return fail(err, "text")
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if args.output:
        try:
            write_text_atomic(args.output, text + "\n")  # never a half-written file
        except OutputError as err:
            return fail(err)
    else:
        print(text)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Text copied from a record may hold unpaired surrogates or odd bytes: never let that crash the output.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = _parser().parse_args(argv)
    stdout = sys.stdout
    sys.stdout = GuardedStream(stdout)  # a full disk on stdout is a user error (exit 2), not a defect
    try:
        code = _run(args)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout(stdout)
        return EXIT_OK
    except OutputError as err:  # stdout, -o or --plot cannot be written: the user's environment, not a defect
        if err.target == "standard output":
            silence_stdout(stdout)
        return fail(err, getattr(args, "format", "text"))
    except Exception as exc:  # a defect in mbcnav, not in the input: say so without a traceback or patient data
        print(
            f"mbcnav: internal error ({type(exc).__name__}); please report it with the command you ran",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        sys.stdout = stdout


def _run(args: argparse.Namespace) -> int:
    if args.command == "assess":
        return cmd_assess(args)
    if args.command == "response":
        return cmd_response(args)
    if args.command == "options":
        return cmd_options(args)
    if args.command == "kb":
        return cmd_kb(args)
    if args.command == "trials":
        return cmd_trials(args)
    return cmd_convert(args)


if __name__ == "__main__":
    sys.exit(main())
