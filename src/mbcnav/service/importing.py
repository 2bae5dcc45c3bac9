"""Importing records into the registry, the same way from the API and from `mbcnav import`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

from mbcnav.record.reader import UnusableInput
from mbcnav.service.audit import audit_event
from mbcnav.service.records import Document, document
from mbcnav.service.registry import Imported, Registry


def list_summary(bundle: dict[str, Any], today: date) -> dict[str, Any]:
    """What the patient list shows without evaluating each patient again (as of the import)."""
    from mbcnav.pathway import evaluate
    from mbcnav.service.records import read_bundle

    a = evaluate(read_bundle(bundle, today=today), as_of=today).assessment_json()
    subtype = a.get("subtype") or {}
    return {
        "subtype": subtype.get("group"),
        "her2_category": subtype.get("her2_category"),
        "stage": (a.get("stage") or {}).get("group"),
        "presentation": a.get("presentation"),
        "sites": [s for s in a.get("sites", []) if isinstance(s, str)][:10],
        "lines": len(a.get("lines", [])),
        "as_of": a.get("as_of"),
    }


def store(registry: Registry, doc: Document, *, subject: str, role: str, route: str, today: date) -> Imported:
    """Store one document as a new version of its patient, with its AuditEvent in the same transaction."""
    event = audit_event(action="C", outcome="0", subject=subject, role=role, route=route)
    return registry.import_document(doc, subject=subject, summary=list_summary(doc.bundle, today), audit=event)


def documents_of(path: Path) -> list[tuple[str, Document]]:
    """The documents of a file (one patient) or of a folder (each file one patient); UnusableInput names the file."""
    from mbcnav.record.casefile import case_to_bundle, load_case
    from mbcnav.record.reader import parse_json_bytes, read_bounded

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".yaml", ".yml"))
        if not files:
            raise UnusableInput(f"{path}: the folder holds no .json or .yaml files")
        return [item for f in files for item in documents_of(f)]
    if not path.exists():
        raise UnusableInput(f"{path}: no such file or folder")
    if path.suffix in (".yaml", ".yml"):
        return [(str(path), document(case_to_bundle(load_case(path)), "case"))]
    doc = parse_json_bytes(read_bounded(path), str(path))
    if not isinstance(doc, dict):
        raise UnusableInput(f"{path}: not a FHIR resource")
    try:
        return [(str(path), document(doc, "fhir"))]
    except UnusableInput as err:
        raise UnusableInput(f"{path}: {err.message}", err.problems) from None


def import_cli(paths: list[Path], *, db_url: str | None, subject: str) -> int:
    """`mbcnav import`: each file (or each file of a folder) as a new version of its patient. Exit 0 when all were
    stored, 1 when some were skipped (each said), 2 when none could be."""
    from mbcnav.outcome import EXIT_OK, EXIT_PARTIAL, EXIT_UNUSABLE, user_error
    from mbcnav.service.migrations import RegistryError

    try:
        registry = Registry(db_url)
    except RegistryError as exc:
        return user_error(str(exc))
    stored = skipped = 0
    files: list[Path] = []
    for path in paths:  # a folder is its files, each imported on its own: one bad file does not stop the others
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".yaml", ".yml"))
            if not found:
                print(f"mbcnav: {path}: the folder holds no .json or .yaml files", file=sys.stderr)
                skipped += 1
            files += found
        else:
            files.append(path)
    with registry:
        for path in files:
            try:
                docs = documents_of(path)
            except UnusableInput as err:
                print(f"mbcnav: {err.message}", file=sys.stderr)
                skipped += 1
                continue
            for where, doc in docs:
                try:
                    got = store(
                        registry, doc, subject=subject, role="clinician", route="mbcnav import", today=date.today()
                    )
                except RegistryError as exc:
                    print(f"mbcnav: {where}: {exc}", file=sys.stderr)
                    skipped += 1
                    continue
                stored += 1
                state = "new patient" if got.created else "new version"
                print(f"{got.id}  version {got.version:<3d} {state:12s} {where}")
    print(f"mbcnav: {stored} record(s) imported into {registry.url.split('?')[0]}", file=sys.stderr)
    if stored == 0:
        return EXIT_UNUSABLE
    return EXIT_PARTIAL if skipped else EXIT_OK
