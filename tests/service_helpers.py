"""Shared helpers for the service's tests: a fresh registry (SQLite file, or a PostgreSQL schema of its own when
MBCNAV_TEST_DATABASE_URL is set), an app on it, tokens, and importing an example patient."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from mbcnav.service.app import create_app
from mbcnav.service.audit import audit_event
from mbcnav.service.auth import issue_token
from mbcnav.service.records import document
from mbcnav.service.registry import Imported, Registry, resolve_url
from mbcnav.service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fhir" / "01-de-novo-hr-pos-bone-only.json"
PG_URL = os.environ.get("MBCNAV_TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="MBCNAV_TEST_DATABASE_URL is not set")),
]


@contextmanager
def registry_url(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty registry database: a SQLite file in `folder`, or a PostgreSQL schema of its own (its
    registry_* tables live there only) that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'registry.db'}"
        return
    if not PG_URL:
        pytest.skip("MBCNAV_TEST_DATABASE_URL is not set")
    base = make_url(resolve_url(PG_URL))
    schema = f"mbcnav_registry_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def settings_for(url: str, folder: Path, **overrides: Any) -> Settings:
    """Test settings: no rate limit, no background trial warming, an empty trial store in `folder` (never the
    user's own data folder)."""
    values: dict[str, Any] = {
        "db_url": url,
        "trials_db_url": f"sqlite:///{folder / 'trials.db'}",
        "rate_per_second": 0,
        "warm_trials": False,
    }
    values.update(overrides)
    return Settings(**values)


def make_app(url: str, folder: Path, **overrides: Any) -> tuple[FastAPI, Registry]:
    """The app on a registry at `url` (the caller closes the registry, or lets the app's lifespan do it)."""
    registry = Registry(url)
    return create_app(settings_for(url, folder, **overrides), registry=registry), registry


def token(
    registry: Registry, *, sub: str = "test-clinician", role: str = "clinician", patient: str | None = None
) -> str:
    return issue_token(registry.token_secret(), sub=sub, role=role, patient=patient)


def auth(registry: Registry, **kw: Any) -> dict[str, str]:
    """The Authorization header of a token (clinician `test-clinician` by default)."""
    return {"Authorization": f"Bearer {token(registry, **kw)}"}


@cache
def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def example_bundle() -> dict[str, Any]:
    """A fresh copy of the example patient's FHIR Bundle (examples/fhir/01-…)."""
    return copy.deepcopy(_example())


def patient_bundle(patient_id: str, extra: str | None = None) -> dict[str, Any]:
    """A small record of one patient (Patient, primary breast cancer) and, with `extra`, an Observation of that id:
    imports of the same `patient_id` are versions of one registry patient; `extra` tells the imports apart."""
    ref = {"reference": f"Patient/{patient_id}"}
    entries: list[dict[str, Any]] = [
        {"resource": {"resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1960-01-01"}},
        {
            "resource": {
                "resourceType": "Condition",
                "id": f"{patient_id}-primary",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
                "subject": ref,
                "onsetDateTime": "2019-02-01",
            }
        },
    ]
    if extra is not None:
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": extra,
                    "status": "final",
                    "code": {"text": f"reliability test note {extra}"},
                    "subject": ref,
                    "effectiveDateTime": "2020-01-01",
                    "valueString": extra,
                }
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def import_bundle(registry: Registry, bundle: dict[str, Any], *, subject: str = "test-clinician") -> Imported:
    """Store a FHIR record as the API does (a new version, with its create AuditEvent), without HTTP."""
    event = audit_event(action="C", outcome="0", subject=subject, role="clinician", route="/api/v1/patients")
    return registry.import_document(document(bundle, "fhir"), subject=subject, summary={}, audit=event)


def import_example(registry: Registry) -> str:
    """Import the example patient; returns its registry id."""
    return import_bundle(registry, example_bundle()).id


def resource_ids(bundle: dict[str, Any], resource_type: str | None = None) -> set[str]:
    return {
        str(e["resource"].get("id"))
        for e in bundle.get("entry", [])
        if resource_type is None or e["resource"].get("resourceType") == resource_type
    }
