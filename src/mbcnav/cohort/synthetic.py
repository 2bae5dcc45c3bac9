"""Synthetic FHIR Bulk Data exports for testing and benchmarking population screening.

Each patient is a variation of one of the example patients (examples/fhir/*.json): every resource and reference
gets a new id, the dates move back by up to ~2.5 years (partial dates keep their precision), the birth date moves
by a few years, and some facts are dropped, duplicated with a contradicting value, or left without a patient. A
share of the patients have another cancer or no cancer at all; a few lines are malformed. Patient `i` of seed `S`
is the same whatever the size of the export (each patient has its own random generator), so exports of different
sizes share their first patients.

The export has one NDJSON file per resource type (`Observation.ndjson`, or `.ndjson.gz`), written as the patients
are made: memory does not grow with N.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

# The examples sit beside src/ in the repository (they are not package data).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "fhir"
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.*)?)?)?$")
_DATE_KEYS = frozenset({"start", "end", "issued", "date", "authoredOn", "recordedDate", "birthDate"})
_DATE_SUFFIXES = ("DateTime", "Instant")

OTHER_CANCERS = (
    ("363406005", "Malignant neoplasm of colon"),
    ("363358000", "Malignant neoplasm of lung"),
    ("399068003", "Malignant neoplasm of prostate"),
)
OTHER_CONDITIONS = (
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Diabetes mellitus type 2"),
    ("195967001", "Asthma"),
)


@dataclass
class SynthStats:
    """What was written: patients by kind, resource lines, and the defects put in on purpose."""

    patients: int = 0
    breast: int = 0
    other_cancer: int = 0
    no_cancer: int = 0
    lines: int = 0
    malformed: int = 0
    orphans: int = 0
    files: dict[str, int] = field(default_factory=dict)


def _templates(folder: Path) -> list[list[dict[str, Any]]]:
    out = []
    for path in sorted(folder.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        out.append([e["resource"] | {"__fullUrl": e.get("fullUrl")} for e in bundle["entry"]])
    if not out:
        raise FileNotFoundError(f"{folder}: no example FHIR bundles to vary")
    return out


def _shift(value: str, days: int, years: int = 0) -> str:
    m = _DATE.match(value)
    if not m:
        return value
    y, mo, d, rest = m.group(1), m.group(2), m.group(3), m.group(4)
    if d is None:  # a year or a month: keep the precision
        total = int(y) * 12 + (int(mo) - 1 if mo else 0) + round(days / 30.44) + years * 12
        return f"{total // 12:04d}" + (f"-{total % 12 + 1:02d}" if mo else "")
    try:
        day = date(int(y) + years, int(mo), int(d))
    except ValueError:  # 29 February moved to a year without it
        day = date(int(y) + years, int(mo), 28)
    return (day + timedelta(days=days)).isoformat() + (rest or "")


def _walk(node: Any, refs: dict[str, str], days: int) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                out[key] = refs.get(value, value)
            elif isinstance(value, str) and (key in _DATE_KEYS or key.endswith(_DATE_SUFFIXES)):
                out[key] = _shift(value, days)
            else:
                out[key] = _walk(value, refs, days)
        return out
    if isinstance(node, list):
        return [_walk(x, refs, days) for x in node]
    return node


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


_SCT = "http://snomed.info/sct"


def _simple_patient(rng: random.Random, pid: str, cancer: bool) -> list[dict[str, Any]]:
    """A patient without breast cancer: another cancer (sometimes metastatic) or a chronic condition only."""
    sex = rng.choice(["female", "female", "male"])
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    onset = date(2018, 1, 1) + timedelta(days=rng.randrange(0, 365 * 7))
    subject = {"reference": f"Patient/{pid}"}
    out: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": pid, "gender": sex, "birthDate": born.isoformat()},
    ]
    code, text = rng.choice(OTHER_CANCERS if cancer else OTHER_CONDITIONS)
    category = [
        _concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")
    ]
    out.append(
        {
            "resourceType": "Condition",
            "id": f"{pid}-c1",
            "clinicalStatus": _concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
            "category": category,
            "code": _concept(_SCT, code, text),
            "subject": subject,
            "onsetDateTime": onset.isoformat(),
        }
    )
    if cancer and rng.random() < 0.4:
        out.append(
            {
                "resourceType": "Condition",
                "id": f"{pid}-c2",
                "category": category,
                "code": _concept(_SCT, "94381002", "Secondary malignant neoplasm of liver"),
                "subject": subject,
                "onsetDateTime": (onset + timedelta(days=rng.randrange(100, 900))).isoformat(),
            }
        )
    for k in range(rng.randrange(1, 4)):
        out.append(
            {
                "resourceType": "Observation",
                "id": f"{pid}-o{k}",
                "status": "final",
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}],
                    "text": "Hemoglobin",
                },
                "subject": subject,
                "effectiveDateTime": (onset + timedelta(days=30 * k)).isoformat(),
                "valueQuantity": {
                    "value": round(rng.uniform(9.5, 15.5), 1),
                    "unit": "g/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "g/dL",
                },
            }
        )
    return out


def _contradiction(res: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of a receptor result that says the opposite (an ER positive next to an ER negative)."""
    text = json.dumps(res)
    if '"positive"' not in text.lower() and '"negative"' not in text.lower():
        return None
    swapped = text
    for pos, neg in (("10828004", "260385009"), ("LA6576-8", "LA6577-6")):  # SNOMED, LOINC answers
        swapped = swapped.replace(pos, "__N__").replace(neg, pos).replace("__N__", neg)
    swapped = swapped.replace('"Positive', '"__P').replace('"Negative', '"Positive').replace('"__P', '"Negative')
    if swapped == text:
        return None
    out: dict[str, Any] = json.loads(swapped)
    out["id"] = f"{res['id']}-x"
    return out


def _breast_patient(rng: random.Random, pid: str, template: list[dict[str, Any]]) -> list[dict[str, Any]]:
    days = -rng.randrange(0, 900)
    refs: dict[str, str] = {}
    ids: list[str] = []
    for k, res in enumerate(template):
        rtype = res["resourceType"]
        new = pid if rtype == "Patient" else f"{pid}-{k}"
        ids.append(new)
        target = f"{rtype}/{new}"
        if res.get("__fullUrl"):
            refs[res["__fullUrl"]] = target
        if res.get("id"):
            refs[f"{rtype}/{res['id']}"] = target
    out: list[dict[str, Any]] = []
    for k, res in enumerate(template):
        body = {key: v for key, v in res.items() if key != "__fullUrl"}
        new_res: dict[str, Any] = _walk(body, refs, days)
        new_res["id"] = ids[k]
        if new_res["resourceType"] == "Patient":
            born = new_res.get("birthDate")
            if isinstance(born, str):
                new_res["birthDate"] = _shift(born, 0, rng.randrange(-4, 5))
            if rng.random() < 0.02:  # a record that contradicts itself: male, with a menopausal status
                new_res["gender"] = "male"
        elif rng.random() < 0.05:
            continue  # a fact missing from this patient's record
        out.append(new_res)
        if new_res["resourceType"] == "Observation" and rng.random() < 0.03:
            contra = _contradiction(new_res)
            if contra is not None:
                out.append(contra)
    return out


def patient_resources(seed: int, i: int, templates: list[list[dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
    """Patient number `i` of the export made with `seed`: (kind, resources)."""
    rng = random.Random(f"mbcnav-synth:{seed}:{i}")
    pid = f"s{seed}p{i:07d}"
    r = rng.random()
    if r < 0.8:
        return "breast", _breast_patient(rng, pid, copy.deepcopy(rng.choice(templates)))
    if r < 0.9:
        return "other_cancer", _simple_patient(rng, pid, cancer=True)
    return "no_cancer", _simple_patient(rng, pid, cancer=False)


def _lines(seed: int, n: int, templates: list[list[dict[str, Any]]], stats: SynthStats) -> Iterator[tuple[str, str]]:
    """(resource type, NDJSON line) for every resource of the export, with the defects put in."""
    for i in range(n):
        kind, resources = patient_resources(seed, i, templates)
        stats.patients += 1
        setattr(stats, kind, getattr(stats, kind) + 1)
        rng = random.Random(f"mbcnav-synth-defects:{seed}:{i}")
        for res in resources:
            rtype = res["resourceType"]
            if rtype != "Patient" and rng.random() < 0.002:  # a resource whose patient reference was lost
                res = {k: v for k, v in res.items() if k not in ("subject", "patient")}
                stats.orphans += 1
            line = json.dumps(res, separators=(",", ":"), ensure_ascii=False)
            if rtype != "Patient" and rng.random() < 0.001:  # a line cut short in transfer
                line = line[: len(line) // 2]
                stats.malformed += 1
            stats.lines += 1
            yield rtype, line


def write_export(
    n: int, out_dir: Path, *, seed: int = 0, compress: bool = False, templates: Path | None = None
) -> SynthStats:
    """Write a Bulk Data export of `n` synthetic patients into `out_dir` (created); the statistics of what was
    written. `compress` writes `.ndjson.gz` files."""
    tmpl = _templates(templates or EXAMPLES)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = SynthStats()
    handles: dict[str, IO[str]] = {}
    try:
        for rtype, line in _lines(seed, n, tmpl, stats):
            fh = handles.get(rtype)
            if fh is None:
                name = f"{rtype}.ndjson" + (".gz" if compress else "")
                path = out_dir / name
                if compress:
                    fh = gzip.open(path, "wt", encoding="utf-8", compresslevel=1)  # noqa: SIM115 - closed below
                else:
                    fh = path.open("w", encoding="utf-8")
                handles[rtype] = fh
            fh.write(line + "\n")
            stats.files[rtype] = stats.files.get(rtype, 0) + 1
    finally:
        for fh in handles.values():
            fh.close()
    return stats


__all__ = ["EXAMPLES", "SynthStats", "patient_resources", "write_export"]
