"""Symptom reports, the care team's alerts and the alert outbox, stored in the registry's database.

A report is stored once per (patient, client key) in the same transaction as its AuditEvent and, when triage says
emergency or same-day, its alert and the alert's outbox message: a report is never lost, a retry is not a second
report, and an alert is delivered at least once even if the service restarts in between."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.exc import IntegrityError

from mbcnav.service.audit import now
from mbcnav.service.registry import Registry

ALERT_LEVELS = ("emergency", "same_day")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def client_key(response: dict[str, Any], header: str | None) -> str:
    """What makes a retry the same report: the client's Idempotency-Key, else the QuestionnaireResponse's
    identifier, else its content (a byte-identical resubmission)."""
    if header and header.strip():
        return "key:" + header.strip()[:200]
    ident = response.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str) and ident["value"].strip():
        return f"id:{ident.get('system') or ''}|{ident['value'].strip()}"[:300]
    canonical = json.dumps(response, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StoredReport:
    id: str
    patient_id: str
    received_at: str
    authored: str | None
    level: str
    triage: dict[str, Any]
    duplicate: bool = False
    alert_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "patient": self.patient_id,
            "received": self.received_at,
            "authored": self.authored,
            "duplicate": self.duplicate,
            "alert": self.alert_id,
            "triage": self.triage,
        }


def _communication(alert_id: str, pid: str, report_id: str, level: str, triage: dict[str, Any]) -> dict[str, Any]:
    """The outbox message: a FHIR R4 Communication to the care team (priority stat for an emergency)."""
    return {
        "resourceType": "Communication",
        "id": alert_id,
        "status": "completed",
        "priority": "stat" if level == "emergency" else "urgent",
        "subject": {"reference": f"Patient/{pid}"},
        "about": [{"reference": f"QuestionnaireResponse/{report_id}"}],
        "sent": now(),
        "category": [{"text": "mbcnav symptom alert"}],
        "payload": [{"contentString": f"{level}: " + "; ".join(triage.get("reasons", []))[:2000]}],
    }


class SymptomStore:
    """Reports, alerts and outbox over the registry's engine (SQLite or PostgreSQL)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def submit(
        self,
        pid: str,
        key: str,
        response: dict[str, Any],
        triage: dict[str, Any],
        *,
        subject: str,
        audit: dict[str, Any],
    ) -> StoredReport:
        """Store a report (with its audit, alert and outbox message) or, for a retry, return the stored one."""
        for _attempt in range(3):
            existing = self._find(pid, key)
            if existing is not None:
                return existing
            try:
                with self.registry.write() as conn:
                    return self._insert(conn, pid, key, response, triage, subject, audit)
            except IntegrityError:  # the same report arrived twice at once: the other one was stored first
                continue
        found = self._find(pid, key)
        if found is None:
            raise RuntimeError("the symptom report could not be stored")
        return found

    def _insert(
        self,
        conn: Connection,
        pid: str,
        key: str,
        response: dict[str, Any],
        triage: dict[str, Any],
        subject: str,
        audit: dict[str, Any],
    ) -> StoredReport:
        stamp = now()
        rid = uuid.uuid4().hex
        level = str(triage["level"])
        authored = response.get("authored") if isinstance(response.get("authored"), str) else None
        conn.execute(
            text(
                "INSERT INTO registry_reports (id, patient_id, client_key, received_at, authored, submitted_by, level,"
                " response, triage) VALUES (:id, :p, :k, :t, :a, :s, :l, :r, :tr)"
            ),
            {"id": rid, "p": pid, "k": key, "t": stamp, "a": authored, "s": subject, "l": level,
             "r": _dumps(response), "tr": _dumps(triage)},
        )  # fmt: skip
        alert_id = None
        if level in ALERT_LEVELS:
            alert_id = uuid.uuid4().hex
            summary = {"level": level, "reasons": triage.get("reasons", []), "advice": triage.get("advice")}
            conn.execute(
                text(
                    "INSERT INTO registry_alerts (id, patient_id, report_id, level, created_at, summary)"
                    " VALUES (:id, :p, :r, :l, :t, :s)"
                ),
                {"id": alert_id, "p": pid, "r": rid, "l": level, "t": stamp, "s": _dumps(summary)},
            )
            conn.execute(
                text(
                    "INSERT INTO registry_outbox (id, alert_id, created_at, payload, next_attempt_at)"
                    " VALUES (:id, :a, :t, :p, :t)"
                ),
                {"id": uuid.uuid4().hex, "a": alert_id, "t": stamp,
                 "p": _dumps(_communication(alert_id, pid, rid, level, triage))},
            )  # fmt: skip
        self.registry._audit(conn, audit, pid)
        return StoredReport(rid, pid, stamp, authored, level, triage, False, alert_id)

    def _find(self, pid: str, key: str) -> StoredReport | None:
        with self.registry.read() as conn:
            row = conn.execute(
                text(
                    "SELECT r.id, r.received_at, r.authored, r.level, r.triage, a.id AS alert_id"
                    " FROM registry_reports r"
                    " LEFT JOIN registry_alerts a ON a.report_id = r.id WHERE r.patient_id = :p AND r.client_key = :k"
                ),
                {"p": pid, "k": key},
            ).first()
        if row is None:
            return None
        return StoredReport(
            row.id, pid, row.received_at, row.authored, row.level, _loads(row.triage), True, row.alert_id
        )

    def reports(self, pid: str, limit: int = 100) -> list[StoredReport]:
        with self.registry.read() as conn:
            rows = conn.execute(
                text(
                    "SELECT r.id, r.received_at, r.authored, r.level, r.triage, a.id AS alert_id"
                    " FROM registry_reports r"
                    " LEFT JOIN registry_alerts a ON a.report_id = r.id WHERE r.patient_id = :p"
                    " ORDER BY r.received_at DESC LIMIT :n"
                ),
                {"p": pid, "n": limit},
            ).all()
        return [StoredReport(r.id, pid, r.received_at, r.authored, r.level, _loads(r.triage), False, r.alert_id)
                for r in rows]  # fmt: skip

    # ---- the care team's work list -----------------------------------------------------------------------------
    def alerts(
        self, *, open_only: bool = True, patients: set[str] | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Alerts, emergencies first then newest; `patients` restricts to a care team's patients."""
        cond = "a.acknowledged_at IS NULL" if open_only else "1 = 1"
        params: dict[str, Any] = {"n": limit}
        stmt = (
            "SELECT a.id, a.patient_id, a.report_id, a.level, a.created_at, a.summary, a.acknowledged_by,"
            " a.acknowledged_at, a.note, p.display, o.delivered_at, o.delivered_to FROM registry_alerts a"
            " JOIN registry_patients p ON p.id = a.patient_id"
            " LEFT JOIN registry_outbox o ON o.alert_id = a.id"
            f" WHERE {cond}"
        )
        if patients is not None:
            if not patients:
                return []
            stmt += " AND a.patient_id IN :only"
            params["only"] = sorted(patients)
        stmt += " ORDER BY CASE a.level WHEN 'emergency' THEN 0 ELSE 1 END, a.created_at DESC LIMIT :n"
        query = text(stmt)
        if patients is not None:
            query = query.bindparams(bindparam("only", expanding=True))
        with self.registry.read() as conn:
            rows = conn.execute(query, params).all()
        return [
            {
                "id": r.id,
                "patient": r.patient_id,
                "patient_name": r.display,
                "report": r.report_id,
                "level": r.level,
                "created": r.created_at,
                "summary": _loads(r.summary),
                "acknowledged_by": r.acknowledged_by,
                "acknowledged_at": r.acknowledged_at,
                "note": r.note,
                "delivered_at": r.delivered_at,
                "delivered_to": r.delivered_to,
            }
            for r in rows
        ]

    def alert_patient(self, alert_id: str) -> str | None:
        with self.registry.read() as conn:
            value = conn.execute(text("SELECT patient_id FROM registry_alerts WHERE id = :a"), {"a": alert_id}).scalar()
        return str(value) if value is not None else None

    def acknowledge(self, alert_id: str, subject: str, note: str | None, audit: dict[str, Any]) -> bool:
        """Record who acknowledged the alert and when (the first acknowledgement stays; False when it was already)."""
        with self.registry.write() as conn:
            row = conn.execute(
                text("SELECT patient_id, acknowledged_at FROM registry_alerts WHERE id = :a"), {"a": alert_id}
            ).first()
            if row is None:
                return False
            changed = row.acknowledged_at is None
            if changed:
                conn.execute(
                    text(
                        "UPDATE registry_alerts SET acknowledged_by = :s, acknowledged_at = :t, note = :n"
                        " WHERE id = :a AND acknowledged_at IS NULL"
                    ),
                    {"s": subject, "t": now(), "n": (note or "")[:1000] or None, "a": alert_id},
                )
            self.registry._audit(conn, audit, row.patient_id)
        return changed

    # ---- the outbox --------------------------------------------------------------------------------------------
    def pending(self, limit: int = 50) -> list[dict[str, Any]]:
        stamp = now()
        with self.registry.read() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, alert_id, payload, attempts FROM registry_outbox"
                    " WHERE delivered_at IS NULL AND next_attempt_at <= :t ORDER BY seq LIMIT :n"
                ),
                {"t": stamp, "n": limit},
            ).all()
        return [{"id": r.id, "alert": r.alert_id, "payload": _loads(r.payload), "attempts": r.attempts} for r in rows]

    def delivered(self, outbox_id: str, to: str) -> None:
        with self.registry.write() as conn:
            conn.execute(
                text(
                    "UPDATE registry_outbox SET delivered_at = :t, delivered_to = :to, attempts = attempts + 1"
                    " WHERE id = :id AND delivered_at IS NULL"
                ),
                {"t": now(), "to": to, "id": outbox_id},
            )

    def failed(self, outbox_id: str, error: str, attempts: int) -> None:
        wait = min(2 ** min(attempts, 8), 300)  # back off: 1 s, 2 s, 4 s … at most 5 minutes
        later = (datetime.now(UTC) + timedelta(seconds=wait)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self.registry.write() as conn:
            conn.execute(
                text(
                    "UPDATE registry_outbox SET attempts = attempts + 1, last_error = :e, next_attempt_at = :n"
                    " WHERE id = :id"
                ),
                {"e": error[:500], "n": later, "id": outbox_id},
            )
