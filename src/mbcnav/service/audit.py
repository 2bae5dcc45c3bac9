"""Who read or wrote which patient's data, when, and with what outcome: FHIR R4 AuditEvent resources."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

Action = Literal["C", "R", "U", "D", "E"]
# FHIR R4 AuditEvent.outcome: 0 success, 4 minor failure (refused, not found), 8 serious failure, 12 major failure
Outcome = Literal["0", "4", "8", "12"]

_SUBTYPE = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "operation"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit_event(
    *,
    action: Action,
    outcome: Outcome,
    subject: str,
    role: str,
    route: str,
    patient_id: str | None = None,
    version: int | None = None,
    description: str | None = None,
    subtype: str | None = None,
) -> dict[str, Any]:
    """One AuditEvent (FHIR R4, DICOM/HL7 audit vocabularies). `route` is the route template (never the URL with
    its values); `description` says why a request failed, without patient data."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": uuid.uuid4().hex,
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction",
                "code": subtype or _SUBTYPE[action],
            }
        ],
        "action": action,
        "recorded": now(),
        "outcome": outcome,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP" if action == "R" else "AUT",
                        }
                    ]
                },
                "who": {"identifier": {"system": "urn:mbcnav:subject", "value": subject}},
                "role": [{"text": role}],
                "requestor": True,
            }
        ],
        "source": {
            "site": "mbcnav",
            "observer": {"display": "mbcnav service"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": [],
    }
    if outcome != "0" and description:
        event["outcomeDesc"] = description
    entity: dict[str, Any] = {
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
        "description": route,
    }
    if patient_id is not None:
        entity["what"] = {"reference": f"Patient/{patient_id}"}
        entity["type"] = {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"}
    if version is not None:
        entity["detail"] = [{"type": "version", "valueString": str(version)}]
    event["entity"].append(entity)
    return event
