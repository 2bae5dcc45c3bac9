"""`mbcnav trials load | search | sync`: the trial store from the command line. Exit 0 done, 2 nothing usable."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mbcnav.trials.records import RecordProblem
    from mbcnav.trials.store import TrialStore

EXIT_OK = 0
EXIT_UNUSABLE = 2
MAX_PROBLEMS_SHOWN = 50
ATTRIBUTION = (
    "Source: ClinicalTrials.gov, a U.S. government database (National Library of Medicine). Records are normalised "
    "by mbcnav (see docs/trials.md); check ClinicalTrials.gov for the current record."
)


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser("trials", help="clinical trials: load ClinicalTrials.gov records, sync, search the trial store")
    tsub = t.add_subparsers(dest="trials_command", required=True)
    db_help = "trial store URL (default: $MBCNAV_DATABASE_URL, else SQLite in the user data folder)"
    load = tsub.add_parser("load", help="load API v2 JSON / NDJSON or classic XML records (files or folders)")
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    load.add_argument("--db", metavar="URL", help=db_help)
    search = tsub.add_parser("search", help="full-text search over titles, conditions, interventions and criteria")
    search.add_argument("query")
    search.add_argument("--db", metavar="URL", help=db_help)
    search.add_argument("--limit", type=_positive, default=20, metavar="N")
    search.add_argument("--format", choices=["text", "json"], default="text")
    sync = tsub.add_parser("sync", help="fetch studies from the ClinicalTrials.gov API v2 (online)")
    sync.add_argument("--db", metavar="URL", help=db_help)
    sync.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="studies last updated on or after this date")
    sync.add_argument("--query-term", metavar="TERM", help="ClinicalTrials.gov search terms (query.term)")
    sync.add_argument("--max-studies", type=_positive, metavar="N", help="stop after about N studies")
    match = tsub.add_parser("match", help="match a patient to stored trials, criterion by criterion")
    match.add_argument("path", type=Path, help="the patient (FHIR R4 / mCODE, or a .yaml case file)")
    match.add_argument("--db", metavar="URL", help=db_help)
    match.add_argument("--top", type=_positive, default=10, metavar="N")
    match.add_argument(
        "--status",
        default="open",
        metavar="STATUS",
        help="open (recruiting, not yet recruiting, by invitation; the default), any, or a "
        "ClinicalTrials.gov status such as recruiting",
    )
    match.add_argument("--country", metavar="C", help="only studies with a site in this country")
    match.add_argument("--format", choices=["text", "json"], default="text")
    match.add_argument("--all", action="store_true", help="also list ineligible studies (with the reasons)")
    match.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="assess the patient as of this date")


def _err(message: str) -> int:
    print(f"mbcnav: {message}", file=sys.stderr)
    return EXIT_UNUSABLE


def _open(url: str | None) -> TrialStore:
    from mbcnav.trials.store import TrialStore

    return TrialStore(url)


def _problems(problems: list[RecordProblem]) -> None:
    if not problems:
        print("No problems.")
        return
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"Problems: {errors} skipped, {len(problems) - errors} kept with a warning:")
    for p in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {'skipped' if p.severity == 'error' else 'warning'}  {p}")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"  … {len(problems) - MAX_PROBLEMS_SHOWN} more")


def cmd_load(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mbcnav.trials.load import collect_files, load_files
    from mbcnav.trials.store import display_url

    files, problems = collect_files(args.paths)
    with _open(args.db) as store:
        progress = Progress(
            TextColumn("loading trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            disable=not sys.stderr.isatty(),
            transient=True,
        )
        with progress:
            task = progress.add_task("", total=len(files))
            summary = load_files(
                store, files, problems, lambda name: progress.update(task, advance=1, description=name)
            )
        total = store.count()
        where = display_url(store.url)
    print(f"Loaded {summary.files} file(s): {summary.records} study record(s).")
    print(
        f"Studies: {summary.inserted} inserted, {summary.updated} updated, {summary.unchanged} unchanged; "
        f"{total} in the store ({where})."
    )
    if summary.duplicates:
        print(
            f"{summary.duplicates} record(s) were another record of a study counted above: one row per study keeps "
            "the preferred record (API v2 over classic XML, then the later last-update date)."
        )
    _problems(summary.problems)
    print(ATTRIBUTION)
    return EXIT_OK if summary.records else _err("nothing usable was loaded")


def cmd_search(args: argparse.Namespace) -> int:
    from mbcnav.trials.store import display_url

    with _open(args.db) as store:
        if store.count() == 0:
            return _err(
                f"the trial store ({display_url(store.url)}) holds no studies: "
                "run `mbcnav trials load PATH` or `mbcnav trials sync` first"
            )
        ids = store.search(args.query, args.limit)
        found = [t for t in (store.get(n) for n in ids) if t is not None]
    if args.format == "json":
        doc = {
            "query": args.query,
            "results": [
                {
                    "nct_id": t.nct_id,
                    "title": t.title,
                    "status": t.status,
                    "study_type": t.study_type,
                    "phases": list(t.phases),
                    "last_update": t.last_update,
                    "processed_on": t.processed_on,
                }
                for t in found
            ],
            "attribution": ATTRIBUTION,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not found:
        print(f"No study matches {args.query!r}.")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("NCT id", "status", "type / phase", "title"):
        table.add_column(col, overflow="fold")
    for t in found:
        phases = "/".join(p.lower().replace("phase", "phase ").replace("_", " ") for p in t.phases if p != "NA")
        kind = "expanded access" if t.is_expanded_access else phases or t.study_type.lower()
        table.add_row(t.nct_id, t.status.lower().replace("_", " "), kind, t.title)
    con = Console(highlight=False)
    con.print(table)
    dates = Counter(t.processed_on or "not recorded" for t in found)
    con.print(
        "Processed by ClinicalTrials.gov on: " + ", ".join(f"{d} ({n})" for d, n in sorted(dates.items())),
        markup=False,
    )
    con.print(ATTRIBUTION, markup=False)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    from mbcnav.trials import sync as sync_mod
    from mbcnav.trials.store import display_url

    with _open(args.db) as store:
        if not (args.since or args.query_term or store.sync_state("")):
            return _err(
                "say what to fetch: --query-term TERM and/or --since YYYY-MM-DD "
                "(ClinicalTrials.gov holds over half a million studies)"
            )
        with sync_mod.client() as http:

            def show(s: sync_mod.SyncSummary) -> None:
                if sys.stderr.isatty():
                    print(f"\rpage {s.pages}: {s.records} studies", end="", file=sys.stderr, flush=True)

            summary = sync_mod.sync(
                store, http, since=args.since, query_term=args.query_term, max_studies=args.max_studies, on_page=show
            )
        if sys.stderr.isatty():
            print(file=sys.stderr)
        total, where = store.count(), display_url(store.url)
    print(
        f"Fetched {summary.pages} page(s): {summary.records} study record(s) updated since {summary.since or 'ever'}."
    )
    print(
        f"Studies: {summary.inserted} inserted, {summary.updated} updated, {summary.unchanged} unchanged; "
        f"{total} in the store ({where}). Data processed by ClinicalTrials.gov on {summary.processed_on or 'unknown'}."
    )
    _problems(summary.problems)
    print(ATTRIBUTION)
    if summary.error:
        resume = f"; the next sync resumes from {summary.reached}" if summary.reached else ""
        return _err(f"sync stopped: {summary.error}{resume}")
    return EXIT_OK


def cmd_match(args: argparse.Namespace) -> int:
    from mbcnav.options import recommend
    from mbcnav.record.reader import UnusableInput, read_path
    from mbcnav.response import assess_with_response
    from mbcnav.trials.match import OPEN_STATUSES, match_patient
    from mbcnav.trials.matching_io import parsed_trials, render_matches

    today = date.fromisoformat(args.as_of) if args.as_of else date.today()
    try:
        record = read_path(args.path, today=today)
    except UnusableInput as err:
        return _err(err.message)
    store = _open(args.db)
    if store.count() == 0:
        return _err("the trial store is empty: load trials first, e.g. `mbcnav trials load ../shared/data/trials`")
    assessment, _ = assess_with_response(record, as_of=today)
    options = recommend(assessment)
    systemic = [
        o
        for o in options.offered
        if o["category"] not in ("supportive", "bone_health", "radiotherapy", "surgery") and o["tier"] != "consider"
    ]
    status = (
        None
        if args.status.lower() == "any"
        else (list(OPEN_STATUSES) if args.status.lower() == "open" else [args.status.upper().replace(" ", "_")])
    )
    report = match_patient(
        assessment,
        parsed_trials(store, status=status, country=args.country),
        top=args.top,
        include_ineligible=args.all,
        options_exhausted=not systemic,
    )
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        render_matches(report)
    return EXIT_OK


def run_trials(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from mbcnav.trials.migrations import StoreError

    try:
        if args.trials_command == "load":
            return cmd_load(args)
        if args.trials_command == "search":
            return cmd_search(args)
        if args.trials_command == "match":
            return cmd_match(args)
        return cmd_sync(args)
    except StoreError as exc:
        return _err(str(exc))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return _err(f"the trial store failed: {reason}")
