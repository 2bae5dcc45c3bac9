"""`mbcnav summary PATH`: the second-opinion packet as an IPS FHIR document, an HTML page or a PDF (exit codes)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from mbcnav.commands.common import as_of_date as _as_of_date
from mbcnav.outcome import (
    EXIT_CODES_HELP,
    EXIT_OK,
    OutputError,
    fail,
    output_error,
    read_folder,
    read_patient,
    user_error,
    write_text_atomic,
)
from mbcnav.record.inputs import Located
from mbcnav.record.reader import UnusableInput, load_resources

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation
    from mbcnav.trials.match import MatchReport

FORMATS = ("fhir", "html", "pdf")
AUDIENCES = ("clinician", "patient")
TOP_TRIALS = 10


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `summary` subcommand (the lead's parser calls this; `run(args)` runs it)."""
    s = sub.add_parser(
        "summary",
        help="second-opinion packet: IPS FHIR document, or an HTML / PDF summary for the clinician or the patient",
        epilog=EXIT_CODES_HELP,
    )
    s.add_argument(
        "path",
        type=Path,
        help="FHIR R4 JSON (Bundle, resource, NDJSON), a .yaml case file, or a folder of such files read together "
        "as one patient (--patient ID picks one when it holds several)",
    )
    s.add_argument(
        "--format",
        choices=FORMATS,
        default="html",
        help="fhir (an IPS document Bundle; an OperationOutcome when unusable), html (default) or pdf",
    )
    s.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE (whole or not at all)")
    s.add_argument(
        "--audience",
        choices=AUDIENCES,
        default="clinician",
        help="clinician (one page per question, plots, evidence) or patient (plain language, glossary)",
    )
    s.add_argument(
        "--as-of",
        type=_as_of_date,
        metavar="YYYY-MM-DD",
        help="read the record as known on this date: later facts are left out (default: today)",
    )
    s.add_argument("--patient", metavar="ID", help="patient id, when the input holds more than one patient")
    s.add_argument(
        "--strict",
        action="store_true",
        help="reject the input when any problem is found (default: keep what can be read and list the problems)",
    )
    s.add_argument(
        "--trials-db",
        metavar="URL",
        help="trial store to search for candidates (default: $MBCNAV_DATABASE_URL or the user's store); without "
        "studies, the summary says trials were not searched",
    )


def run(args: argparse.Namespace) -> int:
    return run_summary(
        args.path,
        fmt=args.format,
        output=args.output,
        audience=args.audience,
        as_of=args.as_of,
        patient_id=args.patient,
        strict=args.strict,
        trials_db=args.trials_db,
    )


def _resources(path: Path, patient_id: str | None) -> list[Located]:
    """The input's resources, as read_patient saw them (a folder: that patient's files and loose resources)."""
    if not path.is_dir():
        return load_resources(path)
    folder = read_folder(path)
    files = folder.files
    if patient_id is not None:
        files = [f for f in files if patient_id in f[2] or not f[2]]
    return [loc for _, res, _ in files for loc in res]


def trial_matches(ev: Evaluation, url: str | None) -> tuple[MatchReport | None, str | None]:
    """Trial candidates from the store at `url` (default store when None), or why trials were not searched."""
    from sqlalchemy.exc import SQLAlchemyError

    from mbcnav.trials.match import OPEN_STATUSES
    from mbcnav.trials.matching_io import parsed_trials
    from mbcnav.trials.migrations import StoreError
    from mbcnav.trials.store import TrialStore, missing_store

    problem = missing_store(url)
    if problem:
        return None, f"Clinical trials were not searched: {problem}."
    try:
        with TrialStore(url) as store:
            if store.count() == 0:
                return None, "Clinical trials were not searched: the trial store holds no study."
            report = ev.match_trials(parsed_trials(store, status=list(OPEN_STATUSES)), top=TOP_TRIALS)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return (
            None,
            f"Clinical trials were not searched: the trial store cannot be used ({reason or type(exc).__name__}).",
        )
    return report, None


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    if path.is_dir():
        raise OutputError(str(path), "it is a folder")
    if path.exists() and not path.is_file():
        try:
            with path.open("wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise output_error(path, exc) from None
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise output_error(path, exc) from None


def _stdout_bytes(data: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    try:
        sys.stdout.flush()
        if buffer is None:
            raise OSError("standard output does not take bytes")
        buffer.write(data)
        buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError("standard output", exc.strerror or str(exc)) from None


def run_summary(
    path: Path,
    *,
    fmt: str = "html",
    output: Path | None = None,
    audience: str = "clinician",
    as_of: date | None = None,
    patient_id: str | None = None,
    strict: bool = False,
    trials_db: str | None = None,
) -> int:
    """`mbcnav summary`: 0 written; 2 unusable input (an OperationOutcome on stdout under --format fhir), an output
    that cannot be written, or an unknown option value."""
    from mbcnav.pathway import evaluate
    from mbcnav.summary.document import build_summary

    outcome_fmt = "json" if fmt == "fhir" else "text"
    if fmt not in FORMATS:
        return user_error(f"unknown format {fmt!r}; choose fhir, html or pdf", outcome_fmt)
    if audience not in AUDIENCES:
        return user_error(f"unknown audience {audience!r}; choose clinician or patient", outcome_fmt)
    if fmt == "pdf" and output is None and sys.stdout.isatty():
        return user_error("a PDF is binary: write it with -o FILE or redirect standard output", outcome_fmt)
    try:
        record = read_patient(path, strict=strict, as_of=as_of, patient_id=patient_id)
        resources = _resources(Path(path), patient_id) if fmt == "fhir" else []
    except UnusableInput as err:
        return fail(err, outcome_fmt)
    ev = evaluate(record, as_of=as_of)
    report, note = trial_matches(ev, trials_db)
    summary = build_summary(ev, trials=report, trials_note=note)
    try:
        if fmt == "fhir":
            from mbcnav.summary.ips import build_ips

            text = json.dumps(build_ips(ev, summary, resources), indent=2, ensure_ascii=False) + "\n"
            _emit_text(text, output)
            return EXIT_OK
        from mbcnav.summary.html import make_plots, render_html

        plots = make_plots(ev) if audience == "clinician" else None
        html = render_html(summary, audience=audience, plots=plots)
        if fmt == "html":
            _emit_text(html, output)
            return EXIT_OK
        from mbcnav.summary.pdf import html_to_pdf

        data = html_to_pdf(html)
        if output is not None:
            _write_bytes_atomic(output, data)
        else:
            _stdout_bytes(data)
    except OutputError as err:
        return fail(err, outcome_fmt)
    return EXIT_OK


def _emit_text(text: str, output: Path | None) -> None:
    if output is not None:
        write_text_atomic(output, text)
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise output_error("standard output", exc) from None


__all__ = ["add_parser", "run", "run_summary", "trial_matches"]
