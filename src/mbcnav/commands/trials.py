"""`mbcnav trials load | search | match | sync`: the trial store from the command line. Exit codes as every
command (mbcnav.outcome): 0 done, 1 some records skipped, 2 unusable input or user error, 70 internal error."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mbcnav.commands.common import AS_OF_HELP, as_of_date, iso_date, positive
from mbcnav.outcome import EXIT_CODES_HELP, EXIT_OK, EXIT_PARTIAL, fail, read_patient, user_error
from mbcnav.record.reader import UnusableInput

if TYPE_CHECKING:
    from mbcnav.trials.records import RecordProblem
    from mbcnav.trials.store import TrialStore

_T = TypeVar("_T")
MAX_PROBLEMS_SHOWN = 50

# ClinicalTrials.gov overall statuses (API v2 enum; classic XML is normalised to them), plus "open" and "any".
STATUSES = (
    "RECRUITING",
    "NOT_YET_RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "COMPLETED",
    "WITHDRAWN",
    "UNKNOWN",
    "AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING",
    "WITHHELD",
)


def _status(text: str) -> str:
    """open | any | a ClinicalTrials.gov status (any case, spaces, hyphens or commas); anything else is refused."""
    value = text.strip().upper().replace(",", "").replace("-", "_").replace(" ", "_")
    if value in ("OPEN", "ANY"):
        return value.lower()
    if value not in STATUSES:
        choices = ", ".join(["open", "any"] + [x.lower() for x in STATUSES])
        raise argparse.ArgumentTypeError(f"unknown status {text!r}; choose from: {choices}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser(
        "trials",
        help="clinical trials: load ClinicalTrials.gov records, sync, search the trial store, match a patient",
        epilog=EXIT_CODES_HELP,
    )
    tsub = t.add_subparsers(dest="trials_command", required=True, help="what to do with the trial store")
    db_help = "trial store URL (default: $MBCNAV_DATABASE_URL, else SQLite in the user data folder)"
    fmt_help = "text (readable, the default) or json (an OperationOutcome when unusable)"
    load = tsub.add_parser(
        "load", help="load API v2 JSON / NDJSON or classic XML records (files or folders)", epilog=EXIT_CODES_HELP
    )
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="record files or folders of them")
    load.add_argument("--db", metavar="URL", help=db_help)
    search = tsub.add_parser(
        "search",
        help="full-text search over titles, conditions, interventions and criteria",
        epilog=EXIT_CODES_HELP,
    )
    search.add_argument("query", metavar="QUERY", help="words to look for (full-text search)")
    search.add_argument("--db", metavar="URL", help=db_help)
    search.add_argument("--limit", type=positive, default=20, metavar="N", help="at most N results (default 20)")
    search.add_argument("--format", choices=["text", "json"], default="text", help=fmt_help)
    sync = tsub.add_parser(
        "sync", help="fetch studies from the ClinicalTrials.gov API v2 (online)", epilog=EXIT_CODES_HELP
    )
    sync.add_argument("--db", metavar="URL", help=db_help)
    sync.add_argument("--since", type=iso_date, metavar="YYYY-MM-DD", help="studies last updated on or after this date")
    sync.add_argument("--query-term", metavar="TERM", help="ClinicalTrials.gov search terms (query.term)")
    sync.add_argument("--max-studies", type=positive, metavar="N", help="stop after about N studies")
    match = tsub.add_parser(
        "match", help="match a patient to stored trials, criterion by criterion", epilog=EXIT_CODES_HELP
    )
    match.add_argument(
        "path",
        type=Path,
        metavar="PATIENT",
        help="the patient: FHIR R4 / mCODE JSON, a .yaml case file, or a folder read as for assess",
    )
    match.add_argument("--db", metavar="URL", help=db_help)
    match.add_argument("--top", type=positive, default=10, metavar="N", help="list the N best studies (default 10)")
    match.add_argument(
        "--status",
        type=_status,
        default="open",
        metavar="STATUS",
        help="open (recruiting, not yet recruiting, by invitation, available; the default), any, or a "
        "ClinicalTrials.gov status such as recruiting or active_not_recruiting",
    )
    match.add_argument("--country", metavar="C", help="only studies with a site in this country")
    match.add_argument("--format", choices=["text", "json"], default="text", help=fmt_help)
    match.add_argument("--all", action="store_true", help="also list ineligible studies (with the reasons)")
    match.add_argument("--as-of", type=as_of_date, metavar="YYYY-MM-DD", help=AS_OF_HELP)
    match.add_argument(
        "--strict",
        action="store_true",
        help="reject the patient's record when any problem is found (default: keep what can be read)",
    )
    match.add_argument("--patient", metavar="ID", help="patient id, when the input holds more than one patient")
    match.add_argument(
        "--explain",
        metavar="NCT",
        type=_nct,
        help="one study in full: cohort, criteria met / not met / unknown with the record's evidence, what to "
        "check next, sites",
    )
    match.add_argument(
        "--near",
        metavar="LAT,LON",
        type=_lat_lon,
        help="with --explain: list the study's sites nearest to this place first (when the record gives sites)",
    )


def _nct(value: str) -> str:
    v = value.strip().upper()
    if not re.fullmatch(r"NCT\d{8}", v):
        raise argparse.ArgumentTypeError(f"{value!r} is not an NCT number (NCT followed by 8 digits)")
    return v


def _lat_lon(value: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give latitude,longitude in degrees, e.g. 48.85,2.35") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"{value!r}: latitude -90..90 and longitude -180..180")
    return lat, lon


def run(args: argparse.Namespace) -> int:
    """The trials command; a store that cannot be opened or fails is a user error (an OperationOutcome under
    --format json), never an internal one."""
    from sqlalchemy.exc import SQLAlchemyError

    from mbcnav.trials.migrations import StoreError

    fmt = getattr(args, "format", "text")  # load and sync have no --format
    try:
        if args.trials_command == "load":
            return cmd_load(args)
        if args.trials_command == "search":
            return cmd_search(args)
        if args.trials_command == "match":
            return cmd_match(args)
        return cmd_sync(args)
    except StoreError as exc:
        return user_error(str(exc), fmt)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return user_error(f"the trial store failed: {reason}", fmt)


def _missing_store(url: str | None) -> str | None:
    """For commands that read the store: a SQLite file or folder that does not exist is named (not created)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from mbcnav.trials.store import resolve_url

    try:
        parsed = make_url(resolve_url(url))
    except ArgumentError:
        return None  # TrialStore says what is wrong with the URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    db = Path(parsed.database or "").expanduser()
    if not db.parent.is_dir():
        return (
            f"the trial store folder {db.parent} does not exist (store {db}); check --db or $MBCNAV_DATABASE_URL, "
            "or create the store with `mbcnav trials load PATH`"
        )
    if not db.exists():
        return (
            f"the trial store is empty: there is no store at {db} yet; load trials first, "
            "e.g. `mbcnav trials load ../shared/data/trials`"
        )
    return None


def _open(url: str | None, must_exist: bool = False) -> TrialStore:
    """The trial store; with must_exist (search, match) a missing SQLite store is a user error, never created."""
    from mbcnav.trials.migrations import StoreError
    from mbcnav.trials.store import TrialStore

    if must_exist:
        problem = _missing_store(url)
        if problem:
            raise StoreError(problem)
    return TrialStore(url)


def _problems(problems: list[RecordProblem], *, failed: bool = False) -> None:
    """The problems, errors (records or files dropped) counted apart; "No problems." only when nothing failed."""
    if not problems:
        if not failed:
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

    from mbcnav.render.trials import ATTRIBUTION
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
    if not summary.records:
        return user_error("nothing usable was loaded")
    if summary.skipped:
        print(f"mbcnav: {summary.skipped} record(s) or file(s) not loaded (listed above)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    from mbcnav.render.trials import ATTRIBUTION
    from mbcnav.trials.migrations import StoreError
    from mbcnav.trials.store import display_url

    try:
        opened = _open(args.db, must_exist=True)
    except StoreError as exc:
        return user_error(str(exc), args.format)
    with opened as store:
        if store.count() == 0:
            return user_error(
                f"the trial store ({display_url(store.url)}) holds no studies: "
                "run `mbcnav trials load PATH` or `mbcnav trials sync` first",
                args.format,
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
    from mbcnav.render.trials import render_search

    render_search(found)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    from mbcnav.render.trials import ATTRIBUTION
    from mbcnav.trials import sync as sync_mod
    from mbcnav.trials.store import display_url

    with _open(args.db) as store:
        if not (args.since or args.query_term or store.sync_state("")):
            return user_error(
                "say what to fetch: --query-term TERM and/or --since YYYY-MM-DD "
                "(ClinicalTrials.gov holds over half a million studies)"
            )
        with sync_mod.client() as http:

            def show(s: sync_mod.SyncSummary) -> None:
                print(f"mbcnav: page {s.pages} stored: {s.records} studies so far", file=sys.stderr, flush=True)

            def waiting(message: str) -> None:
                print(f"mbcnav: {message}…", file=sys.stderr, flush=True)

            summary = sync_mod.sync(
                store,
                http,
                since=args.since,
                query_term=args.query_term,
                max_studies=args.max_studies,
                on_page=show,
                notify=waiting,
            )
        total, where = store.count(), display_url(store.url)
    print(
        f"Fetched {summary.pages} page(s): {summary.records} study record(s) updated since {summary.since or 'ever'}."
    )
    print(
        f"Studies: {summary.inserted} inserted, {summary.updated} updated, {summary.unchanged} unchanged; "
        f"{total} in the store ({where}). Data processed by ClinicalTrials.gov on {summary.processed_on or 'unknown'}."
    )
    _problems(summary.problems, failed=summary.error is not None)
    print(ATTRIBUTION)
    if summary.error:
        resume = f"; the next sync resumes from {summary.reached}" if summary.reached else ""
        return user_error(f"sync stopped: {summary.error}{resume}")
    if summary.skipped:
        print(f"mbcnav: {summary.skipped} record(s) not stored (listed above)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _matching_progress(items: Iterator[_T], total: int | None) -> Iterator[_T]:
    """A progress bar on stderr (a terminal only, cleared at the end) while studies are matched: the first match
    after a load parses every study's criteria (seconds), later ones read the parse cache."""
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("matching trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("", total=total)
        for item in items:
            yield item
            progress.advance(task)


def _fill_parse_cache(store: TrialStore, status: list[str] | None, country: str | None) -> None:
    """Parse the criteria not yet cached (the first match after a load: ~10 s for the shared corpus), with progress:
    a bar on a terminal, one line otherwise; nothing when every parse is cached."""
    from mbcnav.trials.criteria import fill_parse_cache

    if not sys.stderr.isatty():

        def announce(done: int, total: int) -> None:
            if done == 0 and total:
                print(f"mbcnav: parsing the eligibility criteria of {total} studies (once per load)…", file=sys.stderr)

        fill_parse_cache(store, status=status, country=country, progress=announce)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("parsing eligibility criteria"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = None

    def advance(done: int, total: int) -> None:
        nonlocal task
        if task is None and total:
            bar.start()
            task = bar.add_task("", total=total)
        if task is not None:
            bar.update(task, completed=done)

    try:
        fill_parse_cache(store, status=status, country=country, progress=advance)
    finally:
        bar.stop()


def cmd_match(args: argparse.Namespace) -> int:
    from mbcnav.pathway import evaluate
    from mbcnav.trials.match import OPEN_STATUSES
    from mbcnav.trials.matching_io import parsed_trials
    from mbcnav.trials.migrations import StoreError

    today = args.as_of or date.today()
    try:
        record = read_patient(args.path, strict=args.strict, as_of=args.as_of, patient_id=args.patient)
    except UnusableInput as err:
        return fail(err, args.format)
    try:
        store = _open(args.db, must_exist=True)
    except StoreError as exc:
        return user_error(str(exc), args.format)
    with store:
        if store.count() == 0:
            return user_error(
                "the trial store is empty: load trials first, e.g. `mbcnav trials load ../shared/data/trials`",
                args.format,
            )
        if args.country:  # an unknown filter value is refused, not an empty list that looks like "no trial"
            studies = store.iter_trials(country=args.country)
            known = next(iter(studies), None) is not None
            close = getattr(studies, "close", None)
            if close is not None:
                close()
            if not known:
                return user_error(
                    f"no stored study has a site in the country {args.country!r} (use ClinicalTrials.gov's names, "
                    "e.g. 'United States', 'United Kingdom', 'Germany')",
                    args.format,
                )
        evaluation = evaluate(record, as_of=today)
        status = None if args.status == "any" else (list(OPEN_STATUSES) if args.status == "open" else [args.status])
        _fill_parse_cache(store, status, args.country)
        if args.explain and store.get(args.explain) is None:
            return user_error(f"{args.explain} is not in the trial store", args.format)
        report = evaluation.match_trials(
            _matching_progress(
                parsed_trials(store, status=None if args.explain else status, country=args.country),
                store.count() if (status is None or args.explain) and not args.country else None,
            ),
            top=1_000_000 if args.explain else args.top,
            include_ineligible=args.all or bool(args.explain),
        )
    if args.explain:
        study = next((m for m in report.matches + report.expanded_access if m.trial.nct_id == args.explain), None)
        if study is None:  # stored but filtered out (another country)
            return user_error(f"{args.explain} is not among the studies matched with these filters", args.format)
        if args.format == "json":
            print(json.dumps(study.as_json(), indent=2, ensure_ascii=False))
        else:
            from mbcnav.render.trials import render_explain

            render_explain(study, near=args.near)
        return EXIT_OK
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        from mbcnav.render.trials import render_trials

        render_trials(report)
    return EXIT_OK
