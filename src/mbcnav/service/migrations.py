"""Versioned schema of the patient registry: numbered steps, the same on SQLite and PostgreSQL, applied once each."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import Connection, text

DIALECTS = ("sqlite", "postgresql")
_PG_LOCK = 0x6D62726D  # "mbrm": serialises concurrent migrations on one PostgreSQL database


class RegistryError(Exception):
    """The registry cannot be used (unsupported database, unreachable, a schema newer than this mbcnav)."""


def _json(dialect: str) -> str:
    return "JSONB" if dialect == "postgresql" else "JSON"


def _autoid(dialect: str) -> str:
    return "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"


def _step1(dialect: str) -> tuple[str, ...]:
    j = _json(dialect)
    return (
        "CREATE TABLE registry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # one row per patient; `latest_version` moves forward only, in the transaction that adds the version
        "CREATE TABLE registry_patients ("
        " id TEXT PRIMARY KEY, latest_version INTEGER NOT NULL, display TEXT NOT NULL,"
        f" search_text TEXT NOT NULL, summary {j} NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        # every import is a new version: the merged record as a FHIR Bundle; nothing is ever updated in place
        "CREATE TABLE registry_versions ("
        " patient_id TEXT NOT NULL REFERENCES registry_patients (id), version INTEGER NOT NULL,"
        " imported_at TEXT NOT NULL, imported_by TEXT NOT NULL, source_format TEXT NOT NULL,"
        f" content_sha256 TEXT NOT NULL, bundle {j} NOT NULL, PRIMARY KEY (patient_id, version))",
        # identifiers (system|value, or the source's Patient id) -> registry patient: a later import merges by them
        "CREATE TABLE registry_identifiers ("
        " key TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES registry_patients (id))",
        "CREATE TABLE registry_care_team ("
        " patient_id TEXT NOT NULL REFERENCES registry_patients (id), subject TEXT NOT NULL,"
        " added_at TEXT NOT NULL, PRIMARY KEY (patient_id, subject))",
        "CREATE TABLE registry_users ("
        " subject TEXT PRIMARY KEY, role TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,"
        " revoked_at TEXT)",
        f"CREATE TABLE registry_audit (seq {_autoid(dialect)}, id TEXT NOT NULL UNIQUE, recorded TEXT NOT NULL,"
        f" patient_id TEXT, subject TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, event {j} NOT NULL)",
        "CREATE INDEX ix_registry_audit_patient ON registry_audit (patient_id)",
        "CREATE INDEX ix_registry_patients_updated ON registry_patients (updated_at)",
    )


def _step2(dialect: str) -> tuple[str, ...]:
    j = _json(dialect)
    return (
        # a patient's symptom report: stored once per (patient, client key) so a client's retry is not a second report
        "CREATE TABLE registry_reports ("
        " id TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES registry_patients (id), client_key TEXT NOT NULL,"
        " received_at TEXT NOT NULL, authored TEXT, submitted_by TEXT NOT NULL, level TEXT NOT NULL,"
        f" response {j} NOT NULL, triage {j} NOT NULL, UNIQUE (patient_id, client_key))",
        "CREATE INDEX ix_registry_reports_patient ON registry_reports (patient_id, received_at)",
        # an emergency or same-day report raises an alert for the care team's work list
        "CREATE TABLE registry_alerts ("
        " id TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES registry_patients (id),"
        " report_id TEXT NOT NULL REFERENCES registry_reports (id), level TEXT NOT NULL, created_at TEXT NOT NULL,"
        f" summary {j} NOT NULL, acknowledged_by TEXT, acknowledged_at TEXT, note TEXT)",
        "CREATE INDEX ix_registry_alerts_open ON registry_alerts (acknowledged_at, created_at)",
        # transactional outbox: written with the alert, delivered at least once by the dispatcher (survives restarts)
        f"CREATE TABLE registry_outbox (seq {_autoid(dialect)}, id TEXT NOT NULL UNIQUE,"
        " alert_id TEXT NOT NULL REFERENCES registry_alerts (id), created_at TEXT NOT NULL,"
        f" payload {j} NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,"
        " delivered_at TEXT, delivered_to TEXT, last_error TEXT)",
        "CREATE INDEX ix_registry_outbox_pending ON registry_outbox (delivered_at, next_attempt_at)",
    )


STEPS: tuple[tuple[int, str], ...] = (
    (1, "patients, versions, identifiers, care team, users, audit"),
    (2, "symptom reports, alerts and the alert outbox"),
)
LATEST = STEPS[-1][0]


def _statements(number: int, dialect: str) -> tuple[str, ...]:
    if number == 1:
        return _step1(dialect)
    if number == 2:
        return _step2(dialect)
    raise AssertionError(number)


def migrate(conn: Connection) -> int:
    """Apply the steps not yet applied, inside the caller's transaction; idempotent. Returns the schema version."""
    dialect = conn.dialect.name
    if dialect not in DIALECTS:
        raise RegistryError(f"the registry supports SQLite and PostgreSQL, not {dialect}")
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS registry_schema_version "
            "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    )
    version = int(conn.execute(text("SELECT max(version) FROM registry_schema_version")).scalar() or 0)
    if version > LATEST:
        raise RegistryError(f"the registry has schema version {version}, newer than this mbcnav ({LATEST}): upgrade")
    for number, description in STEPS:
        if number <= version:
            continue
        for sql in _statements(number, dialect):
            conn.exec_driver_sql(sql)
        if number == 1:
            # The embedded issuer's signing key: made here, kept in the database, never in the repository or a log.
            conn.execute(
                text("INSERT INTO registry_meta (key, value) VALUES ('token_secret', :v)"),
                {"v": secrets.token_urlsafe(48)},
            )
        conn.execute(
            text("INSERT INTO registry_schema_version (version, description, applied_at) VALUES (:v, :d, :t)"),
            {"v": number, "d": description, "t": datetime.now(UTC).isoformat(timespec="seconds")},
        )
        version = number
    return version
