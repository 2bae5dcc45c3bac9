"""The trial store (SQLAlchemy): SQLite by default in the user data folder, PostgreSQL by URL; FTS; criteria cache."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from mbcnav.trials.migrations import DIALECTS, StoreError, migrate
from mbcnav.trials.records import Trial

ENV_URL = "MBCNAV_DATABASE_URL"
Outcome = Literal["inserted", "updated", "unchanged", "superseded"]  # of one record
StudyOutcome = Literal["inserted", "updated", "unchanged"]  # of one study, net over several records
# Which record of a study is kept when two differ: API v2 over classic XML (the classic format was retired, so any
# v2 record is the later one), then the later last-update date; on a tie, the record loaded last.
FORMAT_RANK = {"ctgov-xml": 0, "ctgov-v2": 1}
_CHUNK = 500
_RACE_TRIES = 5  # decide again this often when a concurrent writer changed a row between read and write
# Words that carry no meaning for search (PostgreSQL's english configuration drops them too).
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "no", "not", "of"}
    | {"on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "were"}
    | {"will", "with"}
)

_JSON = JSON().with_variant(JSONB(), "postgresql")
_md = MetaData()
trials_table = Table(
    "trials",
    _md,
    Column("nct_id", Text, primary_key=True),
    Column("version", Text, nullable=False),
    Column("source_format", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("study_type", Text, nullable=False),
    Column("phases", _JSON, nullable=False),
    Column("conditions", _JSON, nullable=False),
    Column("interventions", _JSON, nullable=False),
    Column("keywords", _JSON, nullable=False),
    Column("countries", _JSON, nullable=False),
    Column("eligibility_text", Text, nullable=False),
    Column("last_update", Text),
    Column("processed_on", Text),
    Column("record", _JSON, nullable=False),
    Column("loaded_at", Text, nullable=False),
)
parsed_table = Table(
    "parsed_criteria",
    _md,
    Column("nct_id", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("parser_version", Text, primary_key=True),
    Column("payload", _JSON, nullable=False),
    Column("created_at", Text, nullable=False),
)
sync_table = Table(
    "sync_state",
    _md,
    Column("query_key", Text, primary_key=True),
    Column("last_update", Text),
    Column("synced_at", Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What one `upsert` did to each record (`superseded`: lost to a preferred record of the same study), and the
    net outcome per study in `by_nct`."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    by_nct: dict[str, StudyOutcome] = field(default_factory=dict, compare=False)


@dataclass(slots=True)
class _Stored:
    version: str
    key: tuple[int, str]
    processed_on: str | None


def net_outcome(previous: StudyOutcome | None, record: Outcome) -> StudyOutcome:
    """A study's outcome over several records: once inserted or updated it stays so; superseded is unchanged."""
    if previous in ("inserted", "updated"):
        return previous
    if record == "updated":
        return "updated"
    if previous is None:
        return "unchanged" if record == "superseded" else record
    return previous


def precedence(trial: Trial) -> tuple[int, str]:
    return FORMAT_RANK[trial.source_format], trial.last_update or ""


def default_url() -> str:
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('mbcnav')) / 'trials.db'}"


def resolve_url(url: str | None = None) -> str:
    """--db URL, else $MBCNAV_DATABASE_URL, else SQLite in the user data folder; postgresql:// uses psycopg 3."""
    url = url or os.environ.get(ENV_URL) or default_url()
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def missing_store(url: str | None) -> str | None:
    """A SQLite store that does not exist is named, never created (as `mbcnav trials match` does)."""
    try:
        parsed = make_url(resolve_url(url))
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    db = Path(parsed.database or "").expanduser()
    if not db.exists():
        return f"there is no trial store at {db} (load studies with `mbcnav trials load DIR`)"
    return None


def display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _sqlite_hooks(engine: Engine, file_db: bool) -> None:
    """Real transactions for pysqlite (SQLAlchemy's documented recipe): BEGIN (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if file_db:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("mbcnav_write") else "BEGIN")


def _row(trial: Trial, now: str) -> dict[str, Any]:
    return {
        "version": trial.version,
        "source_format": trial.source_format,
        "title": trial.title,
        "status": trial.status,
        "study_type": trial.study_type,
        "phases": list(trial.phases),
        "conditions": list(trial.conditions),
        "interventions": list(trial.interventions),
        "keywords": list(trial.keywords),
        "countries": list(trial.countries),
        "eligibility_text": trial.eligibility_text,
        "last_update": trial.last_update,
        "processed_on": trial.processed_on,
        "record": trial.to_json(),
        "loaded_at": now,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _upper(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value.upper()] if isinstance(value, str) else [v.upper() for v in value]


class TrialStore:
    """Studies by NCT id (one row per study), full-text search, and the parsed-criteria cache per study version."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        try:
            parsed = make_url(self.url)
            if parsed.get_backend_name() not in DIALECTS:
                raise StoreError(f"the trial store supports SQLite and PostgreSQL, not {parsed.get_backend_name()}")
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, json_serializer=_dumps, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError, OSError, ValueError) as exc:
            raise StoreError(f"cannot use the trial store URL {display_url(self.url)}: {exc}") from None
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _sqlite_hooks(self.engine, parsed.database not in (None, "", ":memory:"))
        try:
            with self._write() as conn:
                self.schema_version = migrate(conn)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"cannot open the trial store at {display_url(self.url)}: {reason}") from None
        except StoreError:
            self.engine.dispose()
            raise

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(mbcnav_write=True)
            with conn.begin():
                yield conn

    # ---------------------------------------------------------------------------------------------- studies

    def upsert(self, trials: Iterable[Trial]) -> UpsertCounts:
        """Insert new studies, replace changed ones, in one transaction; loading the same records again is a no-op.

        A record replaces the stored one when its content differs and it is not less preferred (FORMAT_RANK);
        replacing a study drops its parsed criteria of older versions. Safe beside a concurrent writer: an insert
        that meets a row another process has just written (INSERT ... ON CONFLICT DO NOTHING on both dialects), or
        an update of a row another process has just changed (the update is guarded by the version it replaces),
        decides again against that row, so no record is lost and the preferred one stays.
        """
        batch = list(trials)
        if not batch:
            return UpsertCounts()
        with self._write() as conn:
            return self._upsert(conn, batch, _now())

    def _upsert(self, conn: Connection, batch: list[Trial], now: str) -> UpsertCounts:
        by_nct: dict[str, StudyOutcome] = {}
        tally = {"inserted": 0, "updated": 0, "unchanged": 0, "superseded": 0}
        pending = batch
        for _ in range(_RACE_TRIES):
            stored = self._stored(conn, sorted({t.nct_id for t in pending}))
            before = dict(stored)
            decided: list[tuple[Trial, Outcome]] = []
            writes: dict[str, tuple[str, Trial]] = {}  # nct_id -> ("insert" | "update", the trial to write)
            for t in pending:
                cur = stored.get(t.nct_id)
                outcome: Outcome
                if cur is None:
                    outcome, op = "inserted", "insert"
                elif cur.version == t.version:
                    outcome, op = "unchanged", ""
                    if t.processed_on and (cur.processed_on is None or t.processed_on > cur.processed_on):
                        op = "update"  # same content, processed later: keep the later date for attribution
                elif precedence(t) >= cur.key:
                    outcome, op = "updated", "update"
                else:
                    outcome, op = "superseded", ""
                decided.append((t, outcome))
                if op:
                    previous = writes.get(t.nct_id)
                    writes[t.nct_id] = ("insert" if previous and previous[0] == "insert" else op, t)
                    stored[t.nct_id] = _Stored(t.version, precedence(t), t.processed_on)
            lost = self._write_rows(conn, writes, before, now)
            for t, outcome in decided:
                if t.nct_id not in lost:
                    tally[outcome] += 1
                    by_nct[t.nct_id] = net_outcome(by_nct.get(t.nct_id), outcome)
            pending = [t for t in pending if t.nct_id in lost]
            if not pending:
                return UpsertCounts(by_nct=by_nct, **tally)
        raise StoreError(f"{len({t.nct_id for t in pending})} study row(s) kept changing under a concurrent writer")

    def _write_rows(
        self, conn: Connection, writes: dict[str, tuple[str, Trial]], before: dict[str, _Stored], now: str
    ) -> set[str]:
        """Write in NCT order (two writers lock rows in the same order: no deadlock); the NCT ids whose write met a
        row changed by another writer since it was read."""
        lost: set[str] = set()
        inserts = [{"nct_id": n, **_row(t, now)} for n, (op, t) in sorted(writes.items()) if op == "insert"]
        if inserts:
            dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
            stmt = (
                dialect_insert(trials_table)
                .on_conflict_do_nothing(index_elements=[trials_table.c.nct_id])
                .returning(trials_table.c.nct_id)
            )
            done = {r[0] for r in conn.execute(stmt, inserts)}
            lost |= {r["nct_id"] for r in inserts} - done
        c = trials_table.c
        for n, (op, t) in sorted(writes.items()):
            if op != "update":
                continue
            was = before[n]
            result = conn.execute(
                update(trials_table)
                .where(c.nct_id == n, c.version == was.version, c.processed_on.is_not_distinct_from(was.processed_on))
                .values(**_row(t, now))
            )
            if result.rowcount != 1:
                lost.add(n)
                continue
            if was.version != t.version:
                conn.execute(
                    delete(parsed_table).where(parsed_table.c.nct_id == n, parsed_table.c.version != t.version)
                )
        return lost

    def _stored(self, conn: Connection, ids: list[str]) -> dict[str, _Stored]:
        t = trials_table.c
        out: dict[str, _Stored] = {}
        for i in range(0, len(ids), _CHUNK):
            rows = conn.execute(
                select(t.nct_id, t.version, t.source_format, t.last_update, t.processed_on).where(
                    t.nct_id.in_(ids[i : i + _CHUNK])
                )
            )
            for r in rows:
                out[r.nct_id] = _Stored(
                    r.version, (FORMAT_RANK.get(r.source_format, 0), r.last_update or ""), r.processed_on
                )
        return out

    def get(self, nct_id: str) -> Trial | None:
        with self.engine.connect() as conn:
            record = conn.execute(select(trials_table.c.record).where(trials_table.c.nct_id == nct_id)).scalar()
        return None if record is None else Trial.from_json(record)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(trials_table)).scalar() or 0)

    def iter_trials(
        self,
        status: str | Sequence[str] | None = None,
        country: str | None = None,
        study_type: str | Sequence[str] | None = None,
    ) -> Iterator[Trial]:
        """Studies in NCT order, streamed; status and study type match any of those given, country ignores case."""
        stmt = select(trials_table.c.record).order_by(trials_table.c.nct_id)
        statuses, types = _upper(status), _upper(study_type)
        if statuses is not None:
            stmt = stmt.where(trials_table.c.status.in_(statuses))
        if types is not None:
            stmt = stmt.where(trials_table.c.study_type.in_(types))
        if country is not None:
            sql = (
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text(trials.countries) AS c(v) WHERE lower(c.v) = :country)"
                if self.dialect == "postgresql"
                else "EXISTS (SELECT 1 FROM json_each(trials.countries) AS c WHERE lower(c.value) = :country)"
            )
            stmt = stmt.where(text(sql).bindparams(country=country.strip().lower()))
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=200).execute(stmt):
                yield Trial.from_json(row.record)

    # ------------------------------------------------------------------------------------------------ search

    def search(self, query: str, limit: int = 20) -> list[str]:
        """NCT ids whose title, conditions, interventions, keywords or criteria hold every word, best first.

        Ranking: SQLite FTS5 bm25 (title and conditions weigh most, criteria least); PostgreSQL ts_rank over a
        weighted tsvector (same weights); ties by NCT id.
        """
        terms = [w for w in re.findall(r"\w+", query.lower()) if w not in _STOPWORDS]
        if not terms or limit <= 0:
            return []
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                sql = (
                    "SELECT nct_id FROM trials, plainto_tsquery('english', :q) AS q WHERE search_vector @@ q "
                    "ORDER BY ts_rank(search_vector, q) DESC, nct_id LIMIT :n"
                )
                rows = conn.execute(text(sql), {"q": " ".join(terms), "n": limit})
            else:
                sql = (
                    "SELECT nct_id FROM trials_fts WHERE trials_fts MATCH :q "
                    "ORDER BY bm25(trials_fts, 0.0, 10.0, 10.0, 4.0, 4.0, 1.0), nct_id LIMIT :n"
                )
                rows = conn.execute(text(sql), {"q": " ".join(f'"{t}"' for t in terms), "n": limit})
            return [r[0] for r in rows]

    # ------------------------------------------------------------------------------------- parsed criteria

    def get_parsed(self, nct_id: str, version: str, parser_version: str) -> Any | None:
        """The cached parse of this study version by this parser version, or None."""
        p = parsed_table.c
        with self.engine.connect() as conn:
            return conn.execute(
                select(p.payload).where(p.nct_id == nct_id, p.version == version, p.parser_version == parser_version)
            ).scalar()

    def parsed_keys(self, parser_version: str) -> set[tuple[str, str]]:
        """(nct_id, version) of every study version whose parse by this parser version is cached."""
        p = parsed_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(p.nct_id, p.version).where(p.parser_version == parser_version))
            return {(r.nct_id, r.version) for r in rows}

    def put_parsed_many(self, rows: Sequence[tuple[str, str, str, Any]]) -> None:
        """Cache several parses (nct_id, version, parser_version, payload) in one transaction."""
        now = _now()
        keys = ["nct_id", "version", "parser_version"]
        with self._write() as conn:
            for nct_id, version, parser_version, payload in rows:
                row = {"nct_id": nct_id, "version": version, "parser_version": parser_version, "payload": payload}
                self._put(conn, parsed_table, row | {"created_at": now}, keys)

    def put_parsed(self, nct_id: str, version: str, parser_version: str, payload: Any) -> None:
        row = {"nct_id": nct_id, "version": version, "parser_version": parser_version, "payload": payload}
        with self._write() as conn:
            self._put(conn, parsed_table, row | {"created_at": _now()}, ["nct_id", "version", "parser_version"])

    def _put(self, conn: Connection, table: Table, row: dict[str, Any], keys: list[str]) -> None:
        """Insert or replace one row (INSERT ... ON CONFLICT DO UPDATE: safe beside a concurrent writer)."""
        stmt = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table).values(**row)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in row if k not in keys})
        )

    # ------------------------------------------------------------------------------------------------- sync

    def sync_state(self, query_key: str) -> str | None:
        """The last-update date a previous `trials sync` of this query reached."""
        with self.engine.connect() as conn:
            value = conn.execute(select(sync_table.c.last_update).where(sync_table.c.query_key == query_key)).scalar()
        return None if value is None else str(value)

    def set_sync_state(self, query_key: str, last_update: str | None) -> None:
        with self._write() as conn:
            row = {"query_key": query_key, "last_update": last_update, "synced_at": _now()}
            self._put(conn, sync_table, row, ["query_key"])


__all__ = ["StoreError", "TrialStore", "UpsertCounts", "default_url", "display_url", "net_outcome", "resolve_url"]
