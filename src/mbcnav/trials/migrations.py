"""Versioned schema migrations for the trial store: numbered steps, per dialect where needed, applied once each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

DIALECTS = ("sqlite", "postgresql")
# Arbitrary constant: serialises concurrent migrations on one PostgreSQL database (pg_advisory_xact_lock).
_PG_LOCK = 0x6D62636E  # "mbcn"


class StoreError(Exception):
    """The trial store cannot be used (unsupported database, unreachable, newer schema than this mbcnav)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One migration: SQL statements per dialect ("*" for all); a step never changes once released."""

    number: int
    description: str
    sql: dict[str, tuple[str, ...]]

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sql.get(dialect, ()) + self.sql.get("*", ())


_TRIALS_COLUMNS = """
    nct_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    source_format TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    study_type TEXT NOT NULL,
    phases {json} NOT NULL,
    conditions {json} NOT NULL,
    interventions {json} NOT NULL,
    keywords {json} NOT NULL,
    countries {json} NOT NULL,
    eligibility_text TEXT NOT NULL,
    last_update TEXT,
    processed_on TEXT,
    record {json} NOT NULL,
    loaded_at TEXT NOT NULL
"""
_PARSED = """
CREATE TABLE parsed_criteria (
    nct_id TEXT NOT NULL,
    version TEXT NOT NULL,
    parser_version TEXT NOT NULL,
    payload {json} NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (nct_id, version, parser_version)
)
"""
_INDEXES = (
    "CREATE INDEX ix_trials_status ON trials (status)",
    "CREATE INDEX ix_trials_study_type ON trials (study_type)",
)

# FTS5 rowid = the number of the NCT id (NCT01234567 -> 1234567): unique, stable across VACUUM, and lets the
# triggers find a study's row without scanning the index.
_FTS_ROWID = "CAST(substr({row}.nct_id, 4) AS INTEGER)"
_FTS_VALUES = (
    "{rowid}, {row}.nct_id, {row}.title, "
    "(SELECT group_concat(value, ' ') FROM json_each({row}.conditions)), "
    "(SELECT group_concat(value, ' ') FROM json_each({row}.interventions)), "
    "(SELECT group_concat(value, ' ') FROM json_each({row}.keywords)), "
    "{row}.eligibility_text"
)


def _fts_insert(row: str) -> str:
    return (
        "INSERT INTO trials_fts (rowid, nct_id, title, conditions, interventions, keywords, criteria) VALUES ("
        + _FTS_VALUES.format(rowid=_FTS_ROWID.format(row=row), row=row)
        + ");"
    )


_FTS_DELETE = f"DELETE FROM trials_fts WHERE rowid = {_FTS_ROWID.format(row='old')};"

_PG_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(jsonb_to_tsvector('english'::regconfig, conditions, '[\"string\"]'), 'A') || "
    "setweight(jsonb_to_tsvector('english'::regconfig, interventions, '[\"string\"]'), 'B') || "
    "setweight(jsonb_to_tsvector('english'::regconfig, keywords, '[\"string\"]'), 'B') || "
    "setweight(to_tsvector('english'::regconfig, eligibility_text), 'D')"
)

STEPS: tuple[Step, ...] = (
    Step(
        1,
        "trials and parsed_criteria tables",
        {
            "sqlite": (
                "CREATE TABLE trials (" + _TRIALS_COLUMNS.format(json="JSON") + ")",
                _PARSED.format(json="JSON"),
            ),
            "postgresql": (
                "CREATE TABLE trials (" + _TRIALS_COLUMNS.format(json="JSONB") + ")",
                _PARSED.format(json="JSONB"),
            ),
            "*": _INDEXES,
        },
    ),
    Step(
        2,
        "full-text search over title, conditions, interventions, keywords and criteria",
        {
            "sqlite": (
                "CREATE VIRTUAL TABLE trials_fts USING fts5("
                "nct_id UNINDEXED, title, conditions, interventions, keywords, criteria, "
                "tokenize = 'porter unicode61 remove_diacritics 2')",
                "CREATE TRIGGER trials_fts_insert AFTER INSERT ON trials BEGIN " + _fts_insert("new") + " END",
                "CREATE TRIGGER trials_fts_delete AFTER DELETE ON trials BEGIN " + _FTS_DELETE + " END",
                "CREATE TRIGGER trials_fts_update AFTER UPDATE ON trials BEGIN "
                + _FTS_DELETE
                + " "
                + _fts_insert("new")
                + " END",
                "INSERT INTO trials_fts (rowid, nct_id, title, conditions, interventions, keywords, criteria) "
                "SELECT " + _FTS_VALUES.format(rowid=_FTS_ROWID.format(row="trials"), row="trials") + " FROM trials",
            ),
            "postgresql": (
                f"ALTER TABLE trials ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({_PG_VECTOR}) STORED",
                "CREATE INDEX ix_trials_search ON trials USING GIN (search_vector)",
            ),
        },
    ),
    Step(
        3,
        "sync state: the last-update date reached by `trials sync`, per query",
        {
            "*": ("CREATE TABLE sync_state (query_key TEXT PRIMARY KEY, last_update TEXT, synced_at TEXT NOT NULL)",),
        },
    ),
)
LATEST = STEPS[-1].number


def current_version(conn: Connection) -> int:
    value = conn.execute(text("SELECT max(version) FROM schema_version")).scalar()
    return int(value or 0)


def migrate(conn: Connection) -> int:
    """Apply the steps not yet applied, inside the caller's transaction; idempotent. Returns the schema version."""
    dialect = conn.dialect.name
    if dialect not in DIALECTS:
        raise StoreError(f"the trial store supports SQLite and PostgreSQL, not {dialect}")
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    )
    version = current_version(conn)
    if version > LATEST:
        raise StoreError(f"the trial store has schema version {version}, newer than this mbcnav ({LATEST}): upgrade")
    for step in STEPS:
        if step.number <= version:
            continue
        for sql in step.statements(dialect):
            conn.exec_driver_sql(sql)
        conn.execute(
            text("INSERT INTO schema_version (version, description, applied_at) VALUES (:v, :d, :t)"),
            {"v": step.number, "d": step.description, "t": datetime.now(UTC).isoformat(timespec="seconds")},
        )
        version = step.number
    return version
