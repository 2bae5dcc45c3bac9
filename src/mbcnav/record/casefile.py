"""The hand-typed YAML case file -> an mCODE STU4 FHIR R4 Bundle, so both inputs flow through one reader."""

from __future__ import annotations

import json
import math
import uuid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mbcnav.knowledge.drugs import catalogue
from mbcnav.record.inputs import MAX_NUMBER_DIGITS, UnusableInput, read_bounded
from mbcnav.record.labs import lab_table
from mbcnav.terminology.codes import AJCC, LOINC, MBCNAV_CS, MBCNAV_SD, RXNORM, SNOMED, UCUM
from mbcnav.terminology.comorbidities import COMORBIDITY_CS, comorbidity_table
from mbcnav.terminology.sites import site_table

MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition"
# SNOMED CT findings: 22636003 Premenopausal state, 161541000119104 Perimenopausal state, 76498008 Postmenopausal state
_MENOPAUSE_SNOMED = {"pre": "22636003", "peri": "161541000119104", "post": "76498008"}
_NS = uuid.UUID("6f1c1f2e-3a43-4d4f-9a51-6b1e0c7a9d10")  # fixed namespace: the same case gives the same ids

_POSITIVE = {"system": LOINC, "code": "LA6576-8", "display": "Positive"}
_NEGATIVE = {"system": LOINC, "code": "LA6577-6", "display": "Negative"}
_EQUIVOCAL = {"system": LOINC, "code": "LA4259-3", "display": "Equivocal"}
_STATUS_CODING = {"positive": _POSITIVE, "negative": _NEGATIVE, "equivocal": _EQUIVOCAL, "low": _POSITIVE}
# LOINC codes for the receptor tests written out (as in the mCODE STU4 examples).
_RECEPTOR_CODE = {
    "ER": ("85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    "PR": ("85339-0", "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    "HER2": ("48676-1", "HER2 [Interpretation] in Tissue"),
}
_STOP = {  # SNOMED CT situation codes for why a therapy ended
    "progression": ("266721009", "Absent response to treatment (situation)"),
    "toxicity": ("407563006", "Treatment not tolerated (situation)"),
    "completed": ("182992009", "Treatment completed (situation)"),
    "patient_choice": ("105480006", "Refusal of treatment by patient (situation)"),
}
_DISEASE_STATUS = {
    "progression": ("271299001", "Patient's condition worsened (finding)"),
    "stable": ("359746009", "Patient's condition stable (finding)"),
    "responding": ("268910001", "Patient's condition improved (finding)"),
    "no_evidence_of_disease": ("260415000", "Not detected (qualifier value)"),
    "undetermined": ("709137006", "Patient condition undetermined (situation)"),
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Limits for a hand-typed case file (docs/casefile.md): the examples are 2-6 KB and 4 levels deep.
MAX_CASE_BYTES = 1024 * 1024
MAX_CASE_DEPTH = 32
_INT_LIMIT = 10**MAX_NUMBER_DIGITS


def _construct_int(loader: Any, node: Any) -> int:
    """YAML int, refusing numbers Python cannot print (more than 4,300 digits) with the place in the file."""
    text = str(loader.construct_scalar(node))
    if len(text.replace("_", "")) > MAX_NUMBER_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number has more than {MAX_NUMBER_DIGITS} digits", node.start_mark
        )
    try:
        value = int(yaml.constructor.SafeConstructor.construct_yaml_int(loader, node))
    except (ValueError, IndexError, TypeError):  # `!!int ""` fails on its first character
        raise yaml.constructor.ConstructorError(None, None, f"{text[:40]!r} is not a number", node.start_mark) from None
    if abs(value) >= _INT_LIMIT:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number has more than {MAX_NUMBER_DIGITS} digits", node.start_mark
        )
    return value


def _construct_float(loader: Any, node: Any) -> float:
    """YAML float; .nan and .inf are refused (a JSON-schema bound never catches NaN, and no case value is infinite)."""
    text = str(loader.construct_scalar(node))
    try:
        value = float(yaml.constructor.SafeConstructor.construct_yaml_float(loader, node))
    except (ValueError, OverflowError, IndexError, TypeError):
        raise yaml.constructor.ConstructorError(None, None, f"{text[:40]!r} is not a number", node.start_mark) from None
    if not math.isfinite(value):
        raise yaml.constructor.ConstructorError(None, None, f"{text[:40]!r} is not a finite number", node.start_mark)
    return value


def _construct_bool(loader: Any, node: Any) -> bool:
    try:
        return bool(yaml.constructor.SafeConstructor.construct_yaml_bool(loader, node))
    except (KeyError, AttributeError, TypeError):  # `!!bool maybe`
        text = str(loader.construct_scalar(node))
        raise yaml.constructor.ConstructorError(
            None, None, f"{text[:40]!r} is not true or false", node.start_mark
        ) from None


def _construct_timestamp(loader: Any, node: Any) -> Any:
    """A date YAML cannot build (2024-02-30, an offset of 99 hours) stays text, so the date rules report it."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError, AttributeError, TypeError):  # AttributeError: `!!timestamp "x"`
        return str(loader.construct_scalar(node))


_CASE_LOADER: Any = type("_CaseLoader", (_LOADER,), {})
_CASE_LOADER.add_constructor("tag:yaml.org,2002:int", _construct_int)
_CASE_LOADER.add_constructor("tag:yaml.org,2002:float", _construct_float)
_CASE_LOADER.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_CASE_LOADER.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def _at(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _check_shape(text: str, path: Path | str) -> None:
    """Refuse anchors/aliases and deep nesting from the event stream, before anything is built.

    An alias can expand a few hundred bytes into gigabytes ("billion laughs"), and libyaml's composer recurses
    once per level (100,000 levels crash the process). The event parser itself is iterative, so scanning events
    and stopping at the first problem is cheap and safe."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise UnusableInput(
                f"{path}: YAML anchors and aliases (&name, *name) are not accepted in a case file"
                f"{_at(event.start_mark)}; write each value out"
            )
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_CASE_DEPTH:
                raise UnusableInput(
                    f"{path}: YAML nested more than {MAX_CASE_DEPTH} levels deep{_at(event.start_mark)}; "
                    "not a case file"
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


_BREAST_STRUCTURE = {"system": SNOMED, "code": "76752008", "display": "Breast structure"}


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("mbcnav.record").joinpath("schemas/casefile.schema.json").read_text("utf-8")
    return dict(json.loads(text))


def case_schema() -> dict[str, Any]:
    return _schema()


def load_case(path: Path) -> dict[str, Any]:
    """Parse and schema-check a case file; every problem is reported with its place in the file."""
    data_bytes = read_bounded(path, MAX_CASE_BYTES)  # counted while reading: a device or pipe cannot exhaust memory
    return load_case_bytes(data_bytes, path)


def load_case_bytes(data_bytes: bytes, path: Path | str) -> dict[str, Any]:
    """A case file's bytes (from a file or a request body) parsed and schema-checked; `path` names it in messages."""
    if len(data_bytes) > MAX_CASE_BYTES:
        raise UnusableInput(f"{path}: larger than {MAX_CASE_BYTES // 1024} KiB; not a case file")
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableInput(f"{path}: cannot read as UTF-8 text ({exc})") from None
    try:
        _check_shape(text, path)
        data = yaml.load(text, Loader=_CASE_LOADER)  # a safe loader; C speed when libyaml is present
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        kind = "a value cannot be read" if isinstance(exc, yaml.constructor.ConstructorError) else "not valid YAML"
        raise UnusableInput(f"{path}: {kind}{where}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise UnusableInput(f"{path}: YAML nested too deeply") from None
    except (ValueError, OverflowError, KeyError, IndexError, AttributeError, TypeError) as exc:
        # a value the safe constructors still cannot build (an explicit tag on a value that does not fit it)
        raise UnusableInput(f"{path}: a value cannot be read ({str(exc)[:120]})") from None
    return check_case(data, str(path))


def check_case(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnusableInput(f"{where}: a case file is a YAML mapping with schema: mbcnav-case/1")
    try:
        data = _dates_to_text(data)
    except RecursionError:
        raise UnusableInput(f"{where}: the case file refers to itself (a YAML alias loop)") from None
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        from mbcnav.record.model import InputIssue

        problems = [
            InputIssue("/".join(map(str, e.absolute_path)) or "(top)", e.message[:300], "error") for e in errors[:50]
        ]
        raise UnusableInput(f"{where}: case file does not match the schema ({len(errors)} problem(s))", problems)
    checked: dict[str, Any] = data
    return checked


def _dates_to_text(v: Any) -> Any:
    """YAML reads an unquoted 2024-03-01 as a date: turn it back into text so one rule checks every date."""
    import datetime as _dt

    if isinstance(v, dict):
        return {k: _dates_to_text(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dates_to_text(x) for x in v]
    if isinstance(v, _dt.date):
        return v.isoformat()
    return v


class _Builder:
    def __init__(self, case: dict[str, Any]) -> None:
        self.case = case
        self.key = str(case.get("id") or json.dumps(case, sort_keys=True, default=str))
        self.entries: list[dict[str, Any]] = []
        self.patient_ref = ""
        self.primary_ref = ""
        self.met_refs: dict[str, str] = {}
        self.specimens: dict[tuple[str, str], str] = {}
        self.lesion_refs: dict[str, str] = {}

    def rid(self, *parts: Any) -> str:
        return str(uuid.uuid5(_NS, "|".join([self.key, *map(str, parts)])))

    def add(self, resource: dict[str, Any]) -> str:
        """Add an entry; references inside the bundle use its urn:uuid fullUrl (FHIR R4 Bundle rules)."""
        full = f"urn:uuid:{self.rid('fullUrl', resource['resourceType'], resource['id'])}"
        self.entries.append({"fullUrl": full, "resource": resource})
        return full

    def subject(self) -> dict[str, str]:
        return {"reference": self.patient_ref}

    def build(self) -> dict[str, Any]:
        c = self.case
        self.patient(c["patient"])
        self.primary(c.get("primary") or {})
        for i, s in enumerate(c.get("staging") or []):
            self.staging(i, s)
        for i, m in enumerate(c.get("metastases") or []):
            self.metastasis(i, m)
        for i, r in enumerate(c.get("receptors") or []):
            self.receptor(i, r)
        for i, b in enumerate(c.get("biomarkers") or []):
            self.biomarker(i, b)
        for i, s in enumerate(c.get("signatures") or []):
            self.signature(i, s)
        for i, t in enumerate(c.get("therapies") or []):
            self.therapy(i, t)
        for i, p in enumerate(c.get("procedures") or []):
            self.procedure(i, p)
        for i, p in enumerate(c.get("performance") or []):
            self.performance(i, p)
        for i, d in enumerate(c.get("disease_status") or []):
            self.disease_status(i, d)
        for i, m in enumerate(c.get("measurements") or []):
            self.measurement(i, m)
        for i, cm in enumerate(c.get("comorbidities") or []):
            self.comorbidity(i, cm)
        for i, lab in enumerate(c.get("labs") or []):
            self.lab(i, lab)
        if c.get("visceral_crisis"):
            vc = c["visceral_crisis"]
            res: dict[str, Any] = {
                "resourceType": "Observation",
                "id": self.rid("visceral-crisis"),
                "status": "final",
                "code": {
                    "coding": [
                        {
                            "system": f"{MBCNAV_CS}/observation",
                            "code": "visceral-crisis",
                            "display": "Visceral crisis (clinician judgement)",
                        }
                    ]
                },
                "subject": self.subject(),
                "valueBoolean": vc["present"],
            }
            if vc.get("date"):
                res["effectiveDateTime"] = vc["date"]
            self.add(res)
        return {
            "resourceType": "Bundle",
            "id": self.rid("bundle"),
            "type": "collection",
            "entry": self.entries,
        }

    # ---- resources -----------------------------------------------------------------------------------------
    def patient(self, p: dict[str, Any]) -> None:
        res: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.case.get("id") or self.rid("patient"),
            "meta": {"profile": [f"{MCODE}/mcode-cancer-patient"]},
            "gender": p["sex"],
        }
        if p.get("birth_date"):
            res["birthDate"] = p["birth_date"]
        self.patient_ref = self.add(res)
        if p.get("menopausal_status"):
            label = {"pre": "Premenopausal", "peri": "Perimenopausal", "post": "Postmenopausal"}[p["menopausal_status"]]
            self.add(
                {
                    "resourceType": "Observation",
                    "id": self.rid("menopause"),
                    "status": "final",
                    "code": {
                        "coding": [
                            {
                                "system": f"{MBCNAV_CS}/observation",
                                "code": "menopausal-status",
                                "display": "Menopausal status",
                            }
                        ],
                        "text": "Menopausal status",
                    },
                    "subject": self.subject(),
                    "valueCodeableConcept": {
                        "coding": [
                            {
                                "system": f"{MBCNAV_CS}/menopausal-status",
                                "code": p["menopausal_status"],
                                "display": label,
                            },
                            # the SNOMED CT finding as EHRs send it (terminology/findings.yaml)
                            {
                                "system": SNOMED,
                                "code": _MENOPAUSE_SNOMED[p["menopausal_status"]],
                                "display": f"{label} state",
                            },
                        ],
                        "text": label,
                    },
                }
                | ({"effectiveDateTime": p["menopausal_status_date"]} if p.get("menopausal_status_date") else {})
            )
        if "pregnant" in p:
            value = (
                {"system": LOINC, "code": "LA15173-0", "display": "Pregnant"}
                if p["pregnant"]
                else {"system": LOINC, "code": "LA26683-5", "display": "Not pregnant"}
            )
            self.add(
                {
                    "resourceType": "Observation",
                    "id": self.rid("pregnancy"),
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}]},
                    "subject": self.subject(),
                    "valueCodeableConcept": {"coding": [value]},
                }
            )

    def primary(self, p: dict[str, Any]) -> None:
        side = p.get("laterality")
        text = f"Malignant neoplasm of {side + ' ' if side in ('left', 'right') else ''}breast"
        if side == "bilateral":
            text = "Malignant neoplasm of breast, bilateral"
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self.rid("primary"),
            "meta": {"profile": [f"{MCODE}/mcode-primary-cancer-condition"]},
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": p.get("status", "active"),
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {
                        "system": SNOMED,
                        "code": "254837009",
                        "display": "Malignant neoplasm of breast (disorder)",
                    }
                ],
                "text": text,
            },
            "subject": self.subject(),
        }
        if side in ("left", "right", "bilateral"):
            res["bodySite"] = [{"text": f"{side} breast"}]
        if p.get("diagnosis_date"):
            res["onsetDateTime"] = p["diagnosis_date"]
        ext = []
        if p.get("histology"):
            ext.append(
                {
                    "url": f"{MCODE}/mcode-histology-morphology-behavior",
                    "valueCodeableConcept": {"text": p["histology"]},
                }
            )
        if p.get("grade") is not None:
            ext.append({"url": f"{MBCNAV_SD}/histologic-grade", "valueString": str(p["grade"])})
        if ext:
            res["extension"] = ext
        self.primary_ref = self.add(res)

    def staging(self, i: int, s: dict[str, Any]) -> None:
        stype = s.get("type", "clinical")
        if s.get("group"):
            code = (
                {"system": SNOMED, "code": "399588009", "display": "Pathologic TNM stage grouping"}
                if stype == "pathological"
                else {"system": SNOMED, "code": "399537006", "display": "Clinical TNM stage grouping"}
            )
            self.add(
                {
                    "resourceType": "Observation",
                    "id": self.rid("stage", i),
                    "meta": {"profile": [f"{MCODE}/mcode-tnm-stage-group"]},
                    "status": "final",
                    "code": {"coding": [code]},
                    "subject": self.subject(),
                    "focus": [{"reference": self.primary_ref}],
                    "effectiveDateTime": s["date"],
                    "valueCodeableConcept": {
                        "coding": [{"system": AJCC, "code": s["group"]}],
                        "text": f"AJCC stage {s['group']}",
                    },
                }
            )
        loinc = {
            "clinical": {"t": "21905-5", "n": "21906-3", "m": "21907-1"},
            "pathological": {"t": "21899-0", "n": "21900-6", "m": "21901-4"},
        }[stype]
        names = {"t": "primary-tumor", "n": "regional-nodes", "m": "distant-metastases"}
        for axis in ("t", "n", "m"):
            if s.get(axis):
                self.add(
                    {
                        "resourceType": "Observation",
                        "id": self.rid("tnm", i, axis),
                        "meta": {"profile": [f"{MCODE}/mcode-tnm-{names[axis]}-category"]},
                        "status": "final",
                        "code": {"coding": [{"system": LOINC, "code": loinc[axis]}]},
                        "subject": self.subject(),
                        "focus": [{"reference": self.primary_ref}],
                        "effectiveDateTime": s["date"],
                        "valueCodeableConcept": {
                            "coding": [{"system": AJCC, "code": s[axis]}],
                            "text": s[axis],
                        },
                    }
                )

    def metastasis(self, i: int, m: dict[str, Any]) -> None:
        site = m["site"]
        detail = m.get("detail")
        rule = site_table().rule_for_site("lymph_node" if "lymph" in site else site)
        coding: list[dict[str, str]] = []
        body: list[dict[str, Any]] = []
        label = site.replace("_", " ")
        if rule is not None and rule.secondary_code:
            sc = rule.secondary_code
            coding.append({"system": SNOMED, "code": sc["code"], "display": sc["display"]})
        else:
            coding.append({"system": SNOMED, "code": "128462008", "display": "Secondary malignant neoplastic disease"})
            bs: dict[str, Any] = {"text": detail or label}
            if rule is not None and rule.body_structure:
                b = rule.body_structure
                bs["coding"] = [{"system": SNOMED, "code": b["code"], "display": b["display"]}]
            if site == "distant_lymph_node" and not (detail and "distant" in detail.lower()):
                bs["text"] = f"distant (non-regional) lymph node{': ' + detail if detail else ''}"
            if site == "regional_lymph_node":
                bs["text"] = f"ipsilateral regional lymph node{': ' + detail if detail else ''}"
            body.append(bs)
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self.rid("met", i),
            "meta": {"profile": [f"{MCODE}/mcode-secondary-cancer-condition"]},
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/condition-related",
                    "valueReference": {"reference": self.primary_ref},
                }
            ],
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": m.get("status", "active"),
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {"coding": coding, "text": f"Metastasis to {label}" + (f" ({detail})" if detail else "")},
            "subject": self.subject(),
        }
        if body:
            res["bodySite"] = body
        if m.get("date"):
            res["onsetDateTime"] = m["date"]
        if m.get("lesions"):
            res["extension"].append({"url": f"{MBCNAV_SD}/lesion-count", "valueInteger": m["lesions"]})
        if m.get("method"):
            res["evidence"] = [{"code": [{"text": m["method"]}]}]
        self.met_refs.setdefault(site, self.add(res))

    def specimen(self, where: str, date: str | None) -> str | None:
        if where == "unknown":
            return None
        key = (where, date or "")
        if key in self.specimens:
            return self.specimens[key]
        res: dict[str, Any] = {
            "resourceType": "Specimen",
            "id": self.rid("specimen", where, date),
            "subject": self.subject(),
            "collection": {},
        }
        if where == "primary":
            res["type"] = {"text": "Breast tumour tissue"}
            res["collection"]["bodySite"] = {"coding": [_BREAST_STRUCTURE], "text": "breast (primary tumour)"}
        elif where == "blood":
            res["type"] = {
                "coding": [{"system": SNOMED, "code": "119297000", "display": "Blood specimen"}],
                "text": "blood",
            }
        else:
            rule = site_table().rule_for_site(where)
            site_cc: dict[str, Any] = {"text": f"metastasis: {where.replace('_', ' ')}"}
            if rule is not None and rule.body_structure:
                b = rule.body_structure
                site_cc["coding"] = [{"system": SNOMED, "code": b["code"], "display": b["display"]}]
            res["type"] = {"text": "Metastatic tumour tissue"}
            res["collection"]["bodySite"] = site_cc
        if date:
            res["collection"]["collectedDateTime"] = date
        if not res["collection"]:
            del res["collection"]
        ref = self.add(res)
        self.specimens[key] = ref
        return ref

    def receptor(self, i: int, r: dict[str, Any]) -> None:
        marker = r["marker"]
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.rid("receptor", i),
            "meta": {"profile": [f"{MCODE}/mcode-tumor-marker-test"]},
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "subject": self.subject(),
        }
        if marker in _RECEPTOR_CODE:
            code, display = _RECEPTOR_CODE[marker]
            res["code"] = {"coding": [{"system": LOINC, "code": code, "display": display}], "text": marker}
        else:
            res["code"] = {"text": {"PD-L1": "PD-L1 combined positive score (CPS)", "Ki67": "Ki-67"}[marker]}
        if r.get("date"):
            res["effectiveDateTime"] = r["date"]
        spec = self.specimen(r.get("specimen", "unknown"), r.get("date"))
        if spec:
            res["specimen"] = {"reference": spec}
        if r.get("assay"):
            res["method"] = {"text": r["assay"]}
        comps: list[dict[str, Any]] = []
        if marker == "PD-L1":
            if "cps" in r:
                res["valueQuantity"] = {"value": r["cps"], "unit": "CPS", "system": UCUM, "code": "{score}"}
        elif "percent" in r:
            res["valueQuantity"] = {"value": r["percent"], "unit": "%", "system": UCUM, "code": "%"}
            if r.get("status"):
                res["interpretation"] = [{"coding": [_STATUS_CODING[r["status"]]], "text": r["status"]}]
        elif r.get("status"):
            res["valueCodeableConcept"] = {
                "coding": [_STATUS_CODING[r["status"]]],
                "text": "low positive" if r["status"] == "low" else r["status"],
            }
        if marker == "HER2":
            if r.get("ihc"):
                comps.append(
                    {
                        "code": {"text": "HER2 IHC score"},
                        "valueCodeableConcept": {
                            "coding": [{"system": f"{MBCNAV_CS}/her2-ihc", "code": r["ihc"]}],
                            "text": f"IHC {r['ihc']}",
                        },
                    }
                )
            if r.get("ish"):
                comps.append(
                    {
                        "code": {"text": "HER2 ISH result"},
                        "valueCodeableConcept": {"coding": [_STATUS_CODING[r["ish"]]], "text": r["ish"]},
                    }
                )
        if comps:
            res["component"] = comps
        if not any(k in res for k in ("valueQuantity", "valueCodeableConcept")) and comps:
            res["valueCodeableConcept"] = {"text": "; ".join(c["valueCodeableConcept"]["text"] for c in comps)}
        self.add(res)

    def biomarker(self, i: int, b: dict[str, Any]) -> None:
        comps: list[dict[str, Any]] = [
            {
                "code": {"coding": [{"system": LOINC, "code": "48018-6", "display": "Gene studied [ID]"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": "http://www.genenames.org/geneId", "display": b["gene"]}],
                    "text": b["gene"],
                },
            }
        ]
        if b.get("origin"):
            code, disp = ("LA6683-2", "Germline") if b["origin"] == "germline" else ("LA6684-0", "Somatic")
            comps.append(
                {
                    "code": {
                        "coding": [{"system": LOINC, "code": "48002-0", "display": "Genomic source class [Type]"}]
                    },
                    "valueCodeableConcept": {"coding": [{"system": LOINC, "code": code, "display": disp}]},
                }
            )
        if b.get("variant"):
            comps.append(
                {
                    "code": {"coding": [{"system": LOINC, "code": "81290-9", "display": "Genomic DNA change (gHGVS)"}]},
                    "valueCodeableConcept": {"text": b["variant"]},
                }
            )
        sig = {
            "pathogenic": ("LA6668-3", "Pathogenic"),
            "likely_pathogenic": ("LA26332-9", "Likely pathogenic"),
            "vus": ("LA26333-7", "Uncertain significance"),
            "benign": ("LA6675-8", "Benign"),
        }.get(b["result"])
        if sig:
            comps.append(
                {
                    "code": {
                        "coding": [
                            {
                                "system": LOINC,
                                "code": "53037-8",
                                "display": "Genetic variation clinical significance [Imp]",
                            }
                        ]
                    },
                    "valueCodeableConcept": {"coding": [{"system": LOINC, "code": sig[0], "display": sig[1]}]},
                }
            )
        present = b["result"] != "not_detected"
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.rid("variant", i),
            "meta": {"profile": [f"{MCODE}/mcode-genomic-variant"]},
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "69548-6", "display": "Genetic variant assessment"}]},
            "subject": self.subject(),
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": LOINC,
                        "code": "LA9633-4" if present else "LA9634-2",
                        "display": "Present" if present else "Absent",
                    }
                ]
            },
            "component": comps,
        }
        if b.get("date"):
            res["effectiveDateTime"] = b["date"]
        spec = self.specimen(b.get("specimen", "blood" if b.get("origin") == "germline" else "unknown"), b.get("date"))
        if spec:
            res["specimen"] = {"reference": spec}
        self.add(res)

    def signature(self, i: int, s: dict[str, Any]) -> None:
        code = (
            {"system": LOINC, "code": "81695-9", "display": "Microsatellite instability [Interpretation]"}
            if s["name"] == "MSI"
            else {"system": LOINC, "code": "94076-7", "display": "Mutations/Megabase [# Ratio] in Tumor"}
        )
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.rid("signature", i),
            "status": "final",
            "code": {"coding": [code]},
            "subject": self.subject(),
        }
        if isinstance(s["value"], int | float):
            res["valueQuantity"] = {"value": s["value"], "unit": "mut/Mb"}
        else:
            res["valueCodeableConcept"] = {"text": s["value"]}
        if s.get("date"):
            res["effectiveDateTime"] = s["date"]
        self.add(res)

    def therapy(self, i: int, t: dict[str, Any]) -> None:
        cat = catalogue()
        name = t["drug"].strip()
        found = cat.find(name)
        coding = []
        for n in found:
            rx = cat.drugs[n].rxnorm
            if rx:
                coding.append({"system": RXNORM, "code": rx, "display": n})
        med: dict[str, Any] = {"text": name}
        if coding:
            med["coding"] = coding
        status = "completed" if t.get("end") else "active"
        if t.get("reason_stopped") in ("progression", "toxicity", "patient_choice", "other"):
            status = "stopped"
        res: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.rid("therapy", i),
            "meta": {"profile": [f"{MCODE}/mcode-cancer-related-medication-request"]},
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": med,
            "subject": self.subject(),
            "reasonReference": [{"reference": self.primary_ref}],
        }
        ext = []
        setting = t.get("setting")
        if setting:
            ext.append({"url": f"{MBCNAV_SD}/therapy-setting", "valueCode": setting})
            intent = (
                ("363676003", "Palliative - procedure intent")
                if setting == "metastatic"
                else ("373808002", "Curative - procedure intent")
            )
            ext.append(
                {
                    "url": f"{MCODE}/mcode-procedure-intent",
                    "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": intent[0], "display": intent[1]}]},
                }
            )
        if ext:
            res["extension"] = ext
        if t.get("start"):
            res["authoredOn"] = t["start"]
            bounds = {"start": t["start"]}
            if t.get("end"):
                bounds["end"] = t["end"]
            res["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": bounds}}}]
        reason = t.get("reason_stopped")
        if reason:
            code = _STOP.get(reason)
            res["statusReason"] = (
                {"coding": [{"system": SNOMED, "code": code[0], "display": code[1]}], "text": reason}
                if code
                else {"text": reason}
            )
        self.add(res)

    def procedure(self, i: int, p: dict[str, Any]) -> None:
        kind = p["kind"]
        profile = (
            "mcode-radiotherapy-course-summary" if kind == "radiotherapy" else "mcode-cancer-related-surgical-procedure"
        )
        res: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": self.rid("procedure", i),
            "meta": {"profile": [f"{MCODE}/{profile}"]},
            "status": "completed",
            "code": {"text": p["description"]},
            "subject": self.subject(),
        }
        if p.get("date") and p.get("end"):
            res["performedPeriod"] = {"start": p["date"], "end": p["end"]}
        elif p.get("date"):
            res["performedDateTime"] = p["date"]
        if p.get("site"):
            res["bodySite"] = [{"text": p["site"]}]
        if p.get("intent"):
            code = (
                ("373808002", "Curative - procedure intent")
                if p["intent"] == "curative"
                else ("363676003", "Palliative - procedure intent")
            )
            res["extension"] = [
                {
                    "url": f"{MCODE}/mcode-procedure-intent",
                    "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": code[0], "display": code[1]}]},
                }
            ]
        self.add(res)

    def performance(self, i: int, p: dict[str, Any]) -> None:
        for scale, loinc, profile in (
            ("ecog", "89247-1", "mcode-ecog-performance-status"),
            ("karnofsky", "89243-0", "mcode-karnofsky-performance-status"),
        ):
            if scale in p:
                self.add(
                    {
                        "resourceType": "Observation",
                        "id": self.rid("ps", i, scale),
                        "meta": {"profile": [f"{MCODE}/{profile}"]},
                        "status": "final",
                        "code": {"coding": [{"system": LOINC, "code": loinc}]},
                        "subject": self.subject(),
                        "effectiveDateTime": p["date"],
                        "valueInteger": p[scale],
                    }
                )

    def disease_status(self, i: int, d: dict[str, Any]) -> None:
        code, display = _DISEASE_STATUS[d["status"]]
        self.add(
            {
                "resourceType": "Observation",
                "id": self.rid("status", i),
                "meta": {"profile": [f"{MCODE}/mcode-cancer-disease-status"]},
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "97509-4", "display": "Cancer disease status"}]},
                "subject": self.subject(),
                "focus": [{"reference": self.primary_ref}],
                "effectiveDateTime": d["date"],
                "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            }
        )

    def lab(self, i: int, lab: dict[str, Any]) -> None:
        """A laboratory value (or LVEF) as an EHR sends it: LOINC code, UCUM quantity, the report's reference range."""
        analyte = lab_table().analytes[lab["analyte"]]
        unit = lab["unit"]
        # the LOINC code of the property the unit measures: [Moles/volume] for mol units, else the first listed
        molar = "mol/" in unit
        code, display = next(
            ((c, d) for c, d in analyte.loinc.items() if ("[Moles/" in d) == molar),
            next(iter(analyte.loinc.items())),
        )
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.rid("lab", i),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory" if lab["analyte"] != "lvef" else "imaging",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": analyte.name},
            "subject": self.subject(),
            "effectiveDateTime": lab["date"],
            "valueQuantity": {"value": lab["value"], "unit": unit, "system": UCUM, "code": unit},
        }
        rr = {k: {"value": lab[k], "unit": unit, "system": UCUM, "code": unit} for k in ("low", "high") if k in lab}
        if rr:
            res["referenceRange"] = [rr]
        self.add(res)

    @staticmethod
    def comorbidity_code(condition: str, label: str) -> dict[str, Any]:
        """Condition.code: the SNOMED CT concept of terminology/comorbidities.yaml where it has one, the case file's
        own key (mbcnav's comorbidity code system, so the key survives words that name another condition: "rheumatoid
        arthritis; no interstitial lung disease on CT"), and the words."""
        rule = comorbidity_table().rule(condition)
        words = condition.replace("_", " ")
        code: dict[str, Any] = {"text": label if words in label.lower() else f"{words}: {label}"}
        coding = [{"system": COMORBIDITY_CS, "code": condition, "display": rule.label if rule else words}]
        if rule is not None and rule.snomed and rule.snomed_display:
            coding.insert(0, {"system": SNOMED, "code": rule.snomed[0], "display": rule.snomed_display})
        code["coding"] = coding
        return code

    def comorbidity(self, i: int, cm: dict[str, Any]) -> None:
        label = cm.get("text") or cm["condition"].replace("_", " ")
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self.rid("comorbidity", i),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": cm.get("status", "active"),
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": self.comorbidity_code(cm["condition"], label),
            "subject": self.subject(),
        }
        if cm.get("date"):
            res["onsetDateTime"] = cm["date"]
        self.add(res)

    def measurement(self, i: int, m: dict[str, Any]) -> None:
        """A lesion (mCODE Tumor BodyStructure) and one assessment of it: a size (mCODE TumorSize, LOINC 21889-1)
        or, for a non-target / unmeasurable state, an mbcnav RECIST lesion-status Observation."""
        lesion = m["lesion"]
        if lesion not in self.lesion_refs:
            bs: dict[str, Any] = {
                "resourceType": "BodyStructure",
                "id": self.rid("lesion", lesion),
                "meta": {"profile": [f"{MCODE}/mcode-tumor"]},
                "identifier": [{"system": f"{MBCNAV_CS}/lesion", "value": lesion}],
                "patient": self.subject(),
            }
            if m.get("site"):
                bs["location"] = {"text": m["site"]}
            ext: list[dict[str, Any]] = []
            if m.get("role"):
                ext.append({"url": f"{MBCNAV_SD}/recist-role", "valueCode": m["role"].replace("_", "-")})
            if "lymph_node" in m:
                ext.append({"url": f"{MBCNAV_SD}/lymph-node", "valueBoolean": m["lymph_node"]})
            if m.get("irradiated"):
                ext.append({"url": f"{MBCNAV_SD}/previously-irradiated", "valueBoolean": True})
            if ext:
                bs["extension"] = ext
            self.lesion_refs[lesion] = self.add(bs)
        ref = self.lesion_refs[lesion]
        status = m.get("status", "measured")
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.rid("lesion-assessment", i),
            "status": "final",
            "subject": self.subject(),
            "focus": [{"reference": ref}],
            "effectiveDateTime": m["date"],
        }
        if m.get("method"):
            res["method"] = {"text": m["method"]}
        if m.get("role"):  # the role at this assessment: a later line's baseline may re-select targets (RECIST §4.2)
            res["extension"] = [{"url": f"{MBCNAV_SD}/recist-role", "valueCode": m["role"].replace("_", "-")}]
        if "size_mm" in m and status == "measured":
            axis = m.get("axis", "long")
            comp_code = (
                {"coding": [{"system": LOINC, "code": "33728-7", "display": "Size.maximum dimension in Tumor"}]}
                if axis == "long"
                else {
                    "coding": [
                        {"system": f"{MBCNAV_CS}/recist", "code": "short-axis", "display": "Short axis (lymph node)"}
                    ],
                    "text": "short axis",
                }
            )
            res["meta"] = {"profile": [f"{MCODE}/mcode-tumor-size"]}
            res["code"] = {"coding": [{"system": LOINC, "code": "21889-1", "display": "Size Tumor"}]}
            res["component"] = [
                {
                    "code": comp_code,
                    "valueQuantity": {"value": m["size_mm"], "unit": "mm", "system": UCUM, "code": "mm"},
                }
            ]
            if m.get("slice_thickness_mm"):
                res["component"].append(
                    {
                        "code": {
                            "coding": [
                                {
                                    "system": f"{MBCNAV_CS}/recist",
                                    "code": "slice-thickness",
                                    "display": "Slice thickness",
                                }
                            ],
                            "text": "slice thickness",
                        },
                        "valueQuantity": {"value": m["slice_thickness_mm"], "unit": "mm", "system": UCUM, "code": "mm"},
                    }
                )
        else:
            code = status.replace("_", "-")
            res["code"] = {
                "coding": [
                    {"system": f"{MBCNAV_CS}/recist", "code": "lesion-status", "display": "RECIST lesion assessment"}
                ],
                "text": "RECIST lesion assessment",
            }
            res["valueCodeableConcept"] = {
                "coding": [{"system": f"{MBCNAV_CS}/recist-lesion-status", "code": code}],
                "text": status.replace("_", " "),
            }
        self.add(res)


def case_to_bundle(case: dict[str, Any]) -> dict[str, Any]:
    """An mCODE FHIR R4 collection Bundle for a (schema-checked) case file."""
    return _Builder(case).build()
