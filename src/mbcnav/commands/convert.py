"""`mbcnav convert CASE.yaml [-o FILE]`: a YAML case file as an mCODE FHIR R4 Bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, OutputError, fail, write_text_atomic
from mbcnav.record.reader import UnusableInput


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "convert",
        help="convert a YAML case file to an mCODE FHIR R4 Bundle (JSON on stdout)",
        epilog=EXIT_CODES_HELP,
    )
    c.add_argument("path", type=Path, help="the case file (.yaml, schema mbcnav-case/1)")
    c.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to this file (whole or not at all) instead of stdout"
    )


def run(args: argparse.Namespace) -> int:
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
