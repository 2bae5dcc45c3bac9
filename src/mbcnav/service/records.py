"""Imported documents as registry records: one patient per import, identity keys, merging a later import."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from mbcnav.record.fhir import record_from_resources
from mbcnav.record.model import InputIssue, Record
from mbcnav.record.reader import UnusableInput, flatten


@dataclass(frozen=True)
class Document:
    """An import made ready to store: the patient's resources as a FHIR collection Bundle, and how it arrived."""

    bundle: dict[str, Any]
    source_format: str  # "fhir" or "case"
    issues: tuple[InputIssue, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical(self.bundle).encode()).hexdigest()


def canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def as_bundle(doc: dict[str, Any]) -> dict[str, Any]:
    """A single resource becomes a collection Bundle; a Bundle's nested resources are flattened into one."""
    entries = []
    for loc in flatten(doc, "body:"):
        entry: dict[str, Any] = {"resource": loc.resource}
        if loc.full_url:
            entry["fullUrl"] = loc.full_url
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def read_bundle(bundle: dict[str, Any], *, as_of: date | None = None, today: date | None = None) -> Record:
    """The Record of a stored bundle, read as known on `as_of` (default today)."""
    now = date.today()
    return record_from_resources(
        flatten(bundle, "record:"), today=max(now, as_of) if as_of else (today or now), as_of=as_of
    )


def document(doc: dict[str, Any], source_format: str) -> Document:
    """Check that an import is one usable patient's record (UnusableInput says why not)."""
    bundle = as_bundle(doc)
    patients = [e["resource"] for e in bundle["entry"] if e["resource"].get("resourceType") == "Patient"]
    ids = {str(p.get("id")) for p in patients}
    if not patients:
        raise UnusableInput("the record holds no Patient resource: the registry stores one patient per import")
    if len(ids) > 1 or len(patients) > 1:
        raise UnusableInput(
            f"the record holds {len(patients)} Patient resources: import one patient at a time "
            "(a Bulk Data export is read by `mbcnav cohort`)"
        )
    record = read_bundle(bundle)
    return Document(bundle, source_format, record.input_issues)


def patient_resource(bundle: dict[str, Any]) -> dict[str, Any]:
    for e in bundle.get("entry", []):
        if e.get("resource", {}).get("resourceType") == "Patient":
            res: dict[str, Any] = e["resource"]
            return res
    return {}


def identity_keys(bundle: dict[str, Any]) -> list[str]:
    """How a later import of the same patient is recognised: every identifier (system|value); without any, the
    source's Patient id (weaker: two systems may reuse an id, so identifiers are preferred)."""
    patient = patient_resource(bundle)
    keys = []
    for ident in patient.get("identifier", []) or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str) and ident["value"].strip():
            keys.append(f"{ident.get('system') or ''}|{ident['value'].strip()}")
    if not keys and isinstance(patient.get("id"), str):
        keys.append(f"Patient/{patient['id']}")
    return sorted(set(keys))


def display_name(bundle: dict[str, Any]) -> str:
    """The name a clinician reads in the patient list ('Family, Given'), or the source's id when there is none."""
    patient = patient_resource(bundle)
    for name in patient.get("name", []) or []:
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        given = " ".join(g for g in name.get("given", []) or [] if isinstance(g, str))
        if family or given:
            return ", ".join(x for x in (family, given) if x)
    return f"(no name; record id {patient.get('id', '?')})"


def search_text(bundle: dict[str, Any]) -> str:
    """What the patient-list search looks in: the name, birth date and identifiers (lower case)."""
    patient = patient_resource(bundle)
    parts = [display_name(bundle), str(patient.get("birthDate", "")), str(patient.get("id", ""))]
    parts += [str(i.get("value", "")) for i in patient.get("identifier", []) or [] if isinstance(i, dict)]
    return " ".join(parts).lower()


def _key(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{resource.get('resourceType')}/{rid}"
    return "sha256:" + hashlib.sha256(canonical(resource).encode()).hexdigest()


def _rewrite(node: Any, refs: set[str], target: str) -> Any:
    if isinstance(node, dict):
        return {k: (target if k == "reference" and v in refs else _rewrite(v, refs, target)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, refs, target) for v in node]
    return node


def _patient_entry(bundle: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in bundle.get("entry", []) if e["resource"].get("resourceType") == "Patient"), None)


def merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A later import of the same patient: resources with the same type and id are replaced by the new import's,
    new ones are added, and nothing the previous version held is dropped (the versions table keeps each state).

    The record keeps the Patient id it was first imported with: when the later import calls the same person by
    another id, its references to her are rewritten to the kept id (as a FHIR server assigns its own ids), so that
    the facts of both imports stay hers."""
    old_patient, new_patient = _patient_entry(previous), _patient_entry(new)
    if old_patient is not None and new_patient is not None:
        old_id, new_id = old_patient["resource"].get("id"), new_patient["resource"].get("id")
        old_full, new_full = old_patient.get("fullUrl"), new_patient.get("fullUrl")
        refs: set[str] = set()
        if new_id != old_id and isinstance(new_id, str):
            refs.add(f"Patient/{new_id}")
        if new_full and new_full != old_full:
            refs.add(new_full)
        target = f"Patient/{old_id}" if isinstance(old_id, str) and old_id else old_full
        if refs and target:
            new = _rewrite(new, refs, target)
            for e in new.get("entry", []):
                if e["resource"].get("resourceType") == "Patient":
                    e["resource"] = {**e["resource"], "id": old_id} if old_id else e["resource"]
                    e.pop("fullUrl", None)
                    if old_full:
                        e["fullUrl"] = old_full
    entries: dict[str, dict[str, Any]] = {}
    for e in previous.get("entry", []):
        entries[_key(e["resource"])] = e
    for e in new.get("entry", []):
        entries[_key(e["resource"])] = e
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries.values())}
