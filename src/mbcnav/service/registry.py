"""The patient registry: versioned patient records, their audit trail, care teams and known users (SQLite or
PostgreSQL, the same migrations).

Every import is a new version in one transaction with its AuditEvent: nothing is overwritten, a crash leaves the
last committed state, and two imports of the same patient at once both land (the second merges onto the first)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError, SQLAlchemyError

from mbcnav.service.audit import now
from mbcnav.service.migrations import DIALECTS, RegistryError, migrate
from mbcnav.service.records import Document, display_name, identity_keys, merge, search_text
from mbcnav.trials.store import display_url

ENV_URL = "MBCNAV_DATABASE_URL"
_RETRIES = 8


def default_url() -> str:
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('mbcnav')) / 'mbcnav.db'}"


def resolve_url(url: str | None = None) -> str:
    """--db URL, else $MBCNAV_DATABASE_URL, else SQLite in the user data folder; postgresql:// uses psycopg 3."""
    url = url or os.environ.get(ENV_URL) or default_url()
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class Imported:
    id: str
    version: int
    created: bool


@dataclass(frozen=True)
class PatientRow:
    id: str
    latest_version: int
    display: str
    summary: dict[str, Any]
    created_at: str
    updated_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.latest_version,
            "name": self.display,
            "summary": self.summary,
            "created": self.created_at,
            "updated": self.updated_at,
        }


class Registry:
    """Patients over time. Thread-safe (one SQLAlchemy engine); one instance per process."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        try:
            parsed = make_url(self.url)
            if parsed.get_backend_name() not in DIALECTS:
                raise RegistryError(f"the registry supports SQLite and PostgreSQL, not {parsed.get_backend_name()}")
            memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
            if parsed.get_backend_name() == "sqlite" and not memory:
                Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"json_serializer": _dumps, "pool_pre_ping": True}
            if memory:
                from sqlalchemy.pool import StaticPool

                kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            elif parsed.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs.update(pool_size=10, max_overflow=20)
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError, OSError, ValueError) as exc:
            raise RegistryError(f"cannot use the registry URL {display_url(self.url)}: {exc}") from None
        self.dialect = self.engine.dialect.name
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        if self.dialect == "sqlite":
            _sqlite_hooks(self.engine, not memory)
            self._write_lock = threading.Lock()
        try:
            with self.write() as conn:
                self.schema_version = migrate(conn)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise RegistryError(f"cannot open the registry at {display_url(self.url)}: {reason}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE, so writers queue instead of failing late).

        On SQLite the writers of this process also queue on a lock of their own: SQLite's busy handler sleeps in
        growing steps (up to 100 ms) while another writer holds the database, which under 50 concurrent requests
        turned a 3 ms audit write into a long tail; a Python lock wakes the next writer at once. Writers in other
        processes still meet SQLite's lock and its busy timeout."""
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(mbcnav_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # ---- secrets -------------------------------------------------------------------------------------------------
    def token_secret(self) -> str:
        with self.read() as conn:
            value = conn.execute(text("SELECT value FROM registry_meta WHERE key = 'token_secret'")).scalar()
        if not isinstance(value, str):
            raise RegistryError("the registry has no token secret (a damaged database?)")
        return value

    # ---- patients ------------------------------------------------------------------------------------------------
    def import_document(
        self, doc: Document, *, subject: str, summary: dict[str, Any], audit: dict[str, Any] | None = None
    ) -> Imported:
        """Store an import as a new version of its patient (created when new), with its AuditEvent, atomically.
        A concurrent import of the same patient is retried on top of the other's version: both are kept."""
        keys = identity_keys(doc.bundle)
        last: Exception | None = None
        for attempt in range(_RETRIES):
            try:
                with self.write() as conn:
                    result = self._import(conn, doc, keys, subject, summary)
                    if audit is not None:
                        self._audit(conn, _with_entity(audit, result.id, result.version), result.id)
                    return result
            except (IntegrityError, OperationalError) as exc:  # a concurrent writer won the race: read and retry
                last = exc
                time.sleep(0.01 * (attempt + 1))
        raise RegistryError(f"the import could not be stored after {_RETRIES} attempts: {type(last).__name__}")

    def _import(
        self, conn: Connection, doc: Document, keys: list[str], subject: str, summary: dict[str, Any]
    ) -> Imported:
        stamp = now()
        found: set[str] = set()
        if keys:
            rows = conn.execute(
                text("SELECT key, patient_id FROM registry_identifiers WHERE key IN :keys").bindparams(
                    _expanding("keys")
                ),
                {"keys": keys},
            ).all()
            found = {r.patient_id for r in rows}
        if len(found) > 1:
            raise RegistryConflict(
                f"the record's identifiers belong to {len(found)} different registry patients: not merged"
            )
        if not found:
            pid = uuid.uuid4().hex[:16]
            conn.execute(
                text(
                    "INSERT INTO registry_patients (id, latest_version, display, search_text, summary, created_at,"
                    " updated_at) VALUES (:id, 1, :display, :search, :summary, :t, :t)"
                ),
                {
                    "id": pid,
                    "display": display_name(doc.bundle),
                    "search": search_text(doc.bundle),
                    "summary": _dumps(summary),
                    "t": stamp,
                },
            )
            self._add_keys(conn, pid, keys)
            self._insert_version(conn, pid, 1, doc.bundle, doc, subject, stamp)
            self._care_team(conn, pid, subject, stamp)
            return Imported(pid, 1, True)
        pid = next(iter(found))
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        latest = int(
            conn.execute(
                text(f"SELECT latest_version FROM registry_patients WHERE id = :id{lock}"), {"id": pid}
            ).scalar_one()
        )
        previous = _loads(
            conn.execute(
                text("SELECT bundle FROM registry_versions WHERE patient_id = :id AND version = :v"),
                {"id": pid, "v": latest},
            ).scalar_one()
        )
        merged = merge(previous, doc.bundle)
        version = latest + 1
        self._insert_version(conn, pid, version, merged, doc, subject, stamp)
        updated = conn.execute(
            text(
                "UPDATE registry_patients SET latest_version = :v, display = :display, search_text = :search,"
                " summary = :summary, updated_at = :t WHERE id = :id AND latest_version = :old"
            ),
            {
                "v": version,
                "old": latest,
                "id": pid,
                "display": display_name(merged),
                "search": search_text(merged),
                "summary": _dumps(summary),
                "t": stamp,
            },
        )
        if updated.rowcount != 1:  # another import moved the patient on: retry on top of it
            raise OperationalError("registry_patients", {}, Exception("concurrent import"))
        self._add_keys(conn, pid, [k for k in keys if k not in _existing(conn, keys)])
        return Imported(pid, version, False)

    def _add_keys(self, conn: Connection, pid: str, keys: list[str]) -> None:
        for key in keys:
            conn.execute(
                text("INSERT INTO registry_identifiers (key, patient_id) VALUES (:k, :p)"), {"k": key, "p": pid}
            )

    def _insert_version(
        self, conn: Connection, pid: str, version: int, bundle: dict[str, Any], doc: Document, subject: str, t: str
    ) -> None:
        conn.execute(
            text(
                "INSERT INTO registry_versions (patient_id, version, imported_at, imported_by, source_format,"
                " content_sha256, bundle) VALUES (:p, :v, :t, :by, :fmt, :sha, :bundle)"
            ),
            {
                "p": pid,
                "v": version,
                "t": t,
                "by": subject,
                "fmt": doc.source_format,
                "sha": doc.sha256,
                "bundle": _dumps(bundle),
            },
        )

    def _care_team(self, conn: Connection, pid: str, subject: str, t: str) -> None:
        conn.execute(
            text("INSERT INTO registry_care_team (patient_id, subject, added_at) VALUES (:p, :s, :t)"),
            {"p": pid, "s": subject, "t": t},
        )

    def patient(self, pid: str) -> PatientRow | None:
        with self.read() as conn:
            row = conn.execute(
                text(
                    "SELECT id, latest_version, display, summary, created_at, updated_at FROM registry_patients"
                    " WHERE id = :id"
                ),
                {"id": pid},
            ).first()
        return _patient_row(row) if row is not None else None

    def patients(
        self, *, query: str | None = None, offset: int = 0, limit: int = 50, only: set[str] | None = None
    ) -> tuple[list[PatientRow], int]:
        """A page of patients (most recently updated first) and the total; `query` searches name, birth date and
        identifiers; `only` restricts to a care team's patients."""
        where: list[str] = ["1 = 1"]
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if query:
            where.append("search_text LIKE :q")
            params["q"] = f"%{query.strip().lower()}%"
        stmt_only = ""
        if only is not None:
            if not only:
                return [], 0
            stmt_only = " AND id IN :only"
            params["only"] = sorted(only)
        cond = " AND ".join(where) + stmt_only
        with self.read() as conn:
            total_stmt = text(f"SELECT count(*) FROM registry_patients WHERE {cond}")
            page_stmt = text(
                "SELECT id, latest_version, display, summary, created_at, updated_at FROM registry_patients"
                f" WHERE {cond} ORDER BY updated_at DESC, id LIMIT :limit OFFSET :offset"
            )
            if only is not None:
                total_stmt = total_stmt.bindparams(_expanding("only"))
                page_stmt = page_stmt.bindparams(_expanding("only"))
            total = int(conn.execute(total_stmt, params).scalar_one())
            rows = conn.execute(page_stmt, params).all()
        return [_patient_row(r) for r in rows], total

    def bundle(self, pid: str, version: int | None = None) -> tuple[int, dict[str, Any]] | None:
        """The stored record (a FHIR collection Bundle) at a version (default: the latest)."""
        with self.read() as conn:
            if version is None:
                version = conn.execute(
                    text("SELECT latest_version FROM registry_patients WHERE id = :id"), {"id": pid}
                ).scalar()
                if version is None:
                    return None
            value = conn.execute(
                text("SELECT bundle FROM registry_versions WHERE patient_id = :id AND version = :v"),
                {"id": pid, "v": version},
            ).scalar()
        return (int(version), _loads(value)) if value is not None else None

    def versions(self, pid: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                text(
                    "SELECT version, imported_at, imported_by, source_format, content_sha256 FROM registry_versions"
                    " WHERE patient_id = :id ORDER BY version"
                ),
                {"id": pid},
            ).all()
        return [
            {
                "version": r.version,
                "imported": r.imported_at,
                "imported_by": r.imported_by,
                "source_format": r.source_format,
                "sha256": r.content_sha256,
            }
            for r in rows
        ]

    # ---- care teams and users ------------------------------------------------------------------------------------
    def care_team_patients(self, subject: str) -> set[str]:
        with self.read() as conn:
            rows = conn.execute(
                text("SELECT patient_id FROM registry_care_team WHERE subject = :s"), {"s": subject}
            ).all()
        return {r.patient_id for r in rows}

    def on_care_team(self, pid: str, subject: str) -> bool:
        with self.read() as conn:
            return (
                conn.execute(
                    text("SELECT 1 FROM registry_care_team WHERE patient_id = :p AND subject = :s"),
                    {"p": pid, "s": subject},
                ).first()
                is not None
            )

    def add_to_care_team(self, pid: str, subject: str, audit: dict[str, Any]) -> bool:
        with self.write() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM registry_care_team WHERE patient_id = :p AND subject = :s"),
                {"p": pid, "s": subject},
            ).first()
            if exists is None:
                self._care_team(conn, pid, subject, now())
            self._audit(conn, audit, pid)
        return exists is None

    def seen(self, subject: str, role: str) -> bool:
        """Note a signed-in subject (for the admin's user list); False when the subject has been revoked. Reads
        first, and writes only for a new user or at most once a minute per user (no write lock on every request)."""
        stamp = now()
        with self.read() as conn:
            row = conn.execute(
                text("SELECT revoked_at, last_seen FROM registry_users WHERE subject = :s"), {"s": subject}
            ).first()
        if row is not None and row.revoked_at is not None:
            return False
        if row is not None and stamp[:16] == str(row.last_seen)[:16]:
            return True
        with self.write() as conn:
            if row is None:
                # a new user's first requests may arrive at once: the first insert wins, the others change nothing
                conn.execute(
                    text(
                        "INSERT INTO registry_users (subject, role, first_seen, last_seen) VALUES (:s, :r, :t, :t)"
                        " ON CONFLICT (subject) DO NOTHING"
                    ),
                    {"s": subject, "r": role, "t": stamp},
                )
            else:
                conn.execute(
                    text("UPDATE registry_users SET last_seen = :t, role = :r WHERE subject = :s"),
                    {"s": subject, "r": role, "t": stamp},
                )
            revoked = conn.execute(
                text("SELECT revoked_at FROM registry_users WHERE subject = :s"), {"s": subject}
            ).scalar()
        return revoked is None

    def revoked(self, subject: str) -> bool:
        with self.read() as conn:
            value = conn.execute(
                text("SELECT revoked_at FROM registry_users WHERE subject = :s"), {"s": subject}
            ).first()
        return value is not None and value.revoked_at is not None

    def users(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                text("SELECT subject, role, first_seen, last_seen, revoked_at FROM registry_users ORDER BY subject")
            ).all()
        return [
            {
                "subject": r.subject,
                "role": r.role,
                "first_seen": r.first_seen,
                "last_seen": r.last_seen,
                "revoked": r.revoked_at,
            }
            for r in rows
        ]

    def revoke(self, subject: str, audit: dict[str, Any]) -> None:
        stamp = now()
        with self.write() as conn:
            row = conn.execute(text("SELECT 1 FROM registry_users WHERE subject = :s"), {"s": subject}).first()
            if row is None:
                conn.execute(
                    text(
                        "INSERT INTO registry_users (subject, role, first_seen, last_seen, revoked_at)"
                        " VALUES (:s, 'unknown', :t, :t, :t)"
                    ),
                    {"s": subject, "t": stamp},
                )
            else:
                conn.execute(
                    text("UPDATE registry_users SET revoked_at = :t WHERE subject = :s"), {"s": subject, "t": stamp}
                )
            self._audit(conn, audit, None)

    # ---- audit ---------------------------------------------------------------------------------------------------
    def _audit(self, conn: Connection, event_: dict[str, Any], patient_id: str | None) -> None:
        agent = event_["agent"][0]
        conn.execute(
            text(
                "INSERT INTO registry_audit (id, recorded, patient_id, subject, action, outcome, event)"
                " VALUES (:id, :t, :p, :s, :a, :o, :e)"
            ),
            {
                "id": event_["id"],
                "t": event_["recorded"],
                "p": patient_id,
                "s": agent["who"]["identifier"]["value"],
                "a": event_["action"],
                "o": event_["outcome"],
                "e": _dumps(event_),
            },
        )

    def audit(self, event_: dict[str, Any], patient_id: str | None = None) -> None:
        """Record an AuditEvent on its own (a read, or a refusal)."""
        with self.write() as conn:
            self._audit(conn, event_, patient_id)

    def audit_events(
        self, *, patient_id: str | None = None, subject: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        where: list[str] = ["1 = 1"]
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if patient_id:
            where.append("patient_id = :p")
            params["p"] = patient_id
        if subject:
            where.append("subject = :s")
            params["s"] = subject
        cond = " AND ".join(where)
        with self.read() as conn:
            total = int(conn.execute(text(f"SELECT count(*) FROM registry_audit WHERE {cond}"), params).scalar_one())
            rows = conn.execute(
                text(f"SELECT event FROM registry_audit WHERE {cond} ORDER BY seq DESC LIMIT :limit OFFSET :offset"),
                params,
            ).all()
        return [_loads(r.event) for r in rows], total

    # ---- consistency (tests, `kill -9` checks) ------------------------------------------------------------------
    def check(self) -> list[str]:
        """Problems in the stored state: a patient whose latest version is missing, a gap in the versions, a
        version without its import AuditEvent. Empty when consistent."""
        problems = []
        with self.read() as conn:
            for row in conn.execute(text("SELECT id, latest_version FROM registry_patients")).all():
                versions = [
                    r.version
                    for r in conn.execute(
                        text("SELECT version FROM registry_versions WHERE patient_id = :p ORDER BY version"),
                        {"p": row.id},
                    ).all()
                ]
                if versions != list(range(1, row.latest_version + 1)):
                    problems.append(f"patient {row.id}: versions {versions}, latest {row.latest_version}")
                creates = conn.execute(
                    text(
                        "SELECT count(*) FROM registry_audit WHERE patient_id = :p AND action = 'C' AND outcome = '0'"
                    ),
                    {"p": row.id},
                ).scalar_one()
                if int(creates) < len(versions):
                    problems.append(f"patient {row.id}: {len(versions)} versions but {creates} import AuditEvents")
        return problems


class RegistryConflict(RegistryError):
    """An import that cannot be merged without a person deciding (its identifiers name two patients)."""


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def _existing(conn: Connection, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    rows = conn.execute(
        text("SELECT key FROM registry_identifiers WHERE key IN :keys").bindparams(_expanding("keys")), {"keys": keys}
    ).all()
    return {r.key for r in rows}


def _with_entity(audit: dict[str, Any], pid: str, version: int) -> dict[str, Any]:
    entity = {
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
        "what": {"reference": f"Patient/{pid}"},
        "description": audit["entity"][0]["description"] if audit.get("entity") else "import",
        "detail": [{"type": "version", "valueString": str(version)}],
    }
    return {**audit, "entity": [entity]}


def _patient_row(row: Any) -> PatientRow:
    return PatientRow(
        row.id, int(row.latest_version), row.display, _loads(row.summary) or {}, row.created_at, row.updated_at
    )


def _sqlite_hooks(engine: Engine, file_db: bool) -> None:
    """Real transactions for pysqlite (SQLAlchemy's documented recipe): BEGIN, or BEGIN IMMEDIATE for writers."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if file_db:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a committed import survives a power cut, not only kill -9
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("mbcnav_write") else "BEGIN")
