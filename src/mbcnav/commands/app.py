"""The `mbcnav` command line: the parser and how a command runs and ends (exit codes: mbcnav.outcome).

Every command lives in this package, one module each, with `add_parser(sub)` and `run(args) -> int`; each reads
its input with mbcnav.outcome, evaluates the patient with mbcnav.pathway and prints with mbcnav.render."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from mbcnav import __version__
from mbcnav.commands import (
    assess,
    auth,
    chart,
    cohort,
    convert,
    kb,
    monitoring,
    options,
    registry_import,
    response,
    serve,
    summary,
    trials,
)
from mbcnav.outcome import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    GuardedStream,
    OutputError,
    fail,
    silence_stdout,
)

# In the order of `mbcnav --help`.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "assess": assess.run,
    "response": response.run,
    "options": options.run,
    "kb": kb.run,
    "convert": convert.run,
    "trials": trials.run,
    "summary": summary.run,
    "chart": chart.run_chart,
    "plan": monitoring.run_plan,
    "triage": monitoring.run_triage,
    "import": registry_import.run,
    "serve": serve.run,
    "auth": auth.run,
    "cohort": cohort.run,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mbcnav", description="Decision support for metastatic breast cancer.", epilog=EXIT_CODES_HELP
    )
    p.add_argument("--version", action="version", version=f"mbcnav {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, help="the command (`mbcnav COMMAND --help` for more)")
    for module in (assess, response, options, kb, convert, trials, summary, chart):
        module.add_parser(sub)
    monitoring.add_parsers(sub)  # plan, triage
    for module in (registry_import, serve, auth, cohort):
        module.add_parser(sub)
    return p


def _subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command that was given (`mbcnav auth token`), to say a user error with its usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return _subparser(action.choices[name], args)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    checks = {"auth": auth.argument_problem, "serve": serve.argument_problem}
    problem = checks[args.command](args) if args.command in checks else None
    if problem:
        _subparser(parser, args).error(problem)  # exit 2 with the usage, as any argparse error
    return args


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Text copied from a record may hold unpaired surrogates or odd bytes: never let that crash the output.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = _parse(argv)
    stdout = sys.stdout
    sys.stdout = GuardedStream(stdout)  # a full disk on stdout is a user error (exit 2), not a defect
    try:
        code = COMMANDS[args.command](args)
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
