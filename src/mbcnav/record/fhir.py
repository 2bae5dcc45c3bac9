"""FHIR R4 / mCODE (STU1-STU4) resources -> Record; every problem becomes an InputIssue with its location."""

from __future__ import annotations

import json
import re
import typing
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import ValidationError

from mbcnav.dates import DateError, PartialDate
from mbcnav.knowledge.drugs import catalogue
from mbcnav.record import markers
from mbcnav.record.inputs import Located, UnusableInput
from mbcnav.record.labs import analyte_of, parse_lab
from mbcnav.record.model import (
    ClinicalFinding,
    ClinicalJudgement,
    Comorbidity,
    DiseaseStatus,
    GenomicFinding,
    GenomicSignature,
    InputIssue,
    LabResult,
    Lesion,
    LocalTreatment,
    MenopauseReading,
    Metastasis,
    Patient,
    PerformanceStatus,
    PrimaryCancer,
    Record,
    Source,
    Specimen,
    StageGroup,
    StagingType,
    TherapyExposure,
    TnmCategory,
    TumorMeasurement,
)
from mbcnav.terminology import findings
from mbcnav.terminology.codes import LOINC, MBCNAV_SD, codings, first_code, has_code, texts
from mbcnav.terminology.comorbidities import comorbidity_of
from mbcnav.terminology.sites import classify_site

# Resource types mbcnav reads; others (Practitioner, Organization...) are accepted and ignored.
READ_TYPES = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationAdministration",
        "Medication",
        "Procedure",
        "BodyStructure",
        "Specimen",
        "DiagnosticReport",
    }
)

# Administrations of the same drug less than this many days apart are one continuous course (project convention,
# configurable; cycles of 3-4 weeks and short treatment breaks must not split a course).
ADMINISTRATION_GAP_DAYS = 60

CURATIVE = "373808002"
PALLIATIVE = "363676003"
SETTING_EXT = f"{MBCNAV_SD}/therapy-setting"
LESIONS_EXT = f"{MBCNAV_SD}/lesion-count"
GRADE_EXT = f"{MBCNAV_SD}/histologic-grade"
HISTOLOGY_EXT_SUFFIX = "mcode-histology-morphology-behavior"
RECIST_ROLE_EXT = f"{MBCNAV_SD}/recist-role"
LYMPH_NODE_EXT = f"{MBCNAV_SD}/lymph-node"
IRRADIATED_EXT = f"{MBCNAV_SD}/previously-irradiated"


def _profiles(res: dict[str, Any]) -> str:
    meta = res.get("meta")
    prof = meta.get("profile") if isinstance(meta, dict) else None
    return " ".join(p for p in prof if isinstance(p, str)) if isinstance(prof, list) else ""


def _loc_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _stu3_reason(res: dict[str, Any]) -> str | None:
    """A tell-tale of FHIR STU3 (3.0): fields whose type changed in R4."""
    rtype = res.get("resourceType")
    if rtype == "Condition" and isinstance(res.get("clinicalStatus"), str):
        return "Condition.clinicalStatus is a plain code (STU3); R4 uses a CodeableConcept"
    if rtype == "Condition" and isinstance(res.get("verificationStatus"), str):
        return "Condition.verificationStatus is a plain code (STU3); R4 uses a CodeableConcept"
    if rtype == "MedicationStatement" and "taken" in res:
        return "MedicationStatement.taken exists only in STU3"
    if rtype == "MedicationRequest" and "context" in res:
        return "MedicationRequest.context exists only in STU3 (R4: encounter)"
    if rtype in ("Observation", "MedicationDispense", "Procedure", "DiagnosticReport") and "context" in res:
        return f"{rtype}.context exists only in STU3 (R4: encounter)"
    if rtype == "Condition" and "patient" in res and "subject" not in res:
        return "Condition.patient is DSTU2 (R4: subject)"
    if rtype == "AllergyIntolerance" and isinstance(res.get("verificationStatus"), str):
        return "AllergyIntolerance.verificationStatus is a plain code (STU3)"
    return None


# The one input issue that says facts dated after --as-of were left out (the same string in mbcnav.outcome, where
# --strict does not count it as a problem).
AS_OF_LOCATION = "(as-of)"
# The date that places a resource in time, for --as-of: when it happened, else when it was recorded.
_FACT_DATE_KEYS = (
    "effectiveDateTime",
    "effectivePeriod",
    "onsetDateTime",
    "onsetPeriod",
    "performedDateTime",
    "performedPeriod",
    "occurrenceDateTime",
    "collection",
    "authoredOn",
    "recordedDate",
    "issued",
    "dateAsserted",
)


def _fact_date(res: dict[str, Any]) -> PartialDate | None:
    """The date of a resource (see _FACT_DATE_KEYS), read quietly: a bad date is reported where it is used."""
    for key in _FACT_DATE_KEYS:
        value = res.get(key)
        if isinstance(value, dict):
            value = value.get("start") if key != "collection" else value.get("collectedDateTime")
        if isinstance(value, str):
            try:
                return PartialDate.parse(value)
            except DateError:
                return None
    return None


# ---- validation, remembered -----------------------------------------------------------------------------------------
# fhir.resources validates each complex element (a CodeableConcept, an Extension, a Reference...) as a model of its
# own type: whether it is valid depends only on that type and its value, never on where it sits. The resource's own
# model checks read only its keys, which values are null, null items in lists of elements, and its primitives'
# `_field` extensions (its "shape"). So, for a resource of plain JSON (see record_from_resources):
#   - an element seen valid is not validated again (remembered by type and value);
#   - a resource whose every field is valid on its own (a primitive checked alone with the field's own validator, an
#     element seen valid or validated alone) and whose shape was seen in a valid resource is valid: not validated;
#   - otherwise the resource is validated with each element known to be valid replaced by a stand-in (an instance
#     of its type, which the parent accepts as it is), so the errors are the same, in the same order, at the same
#     locations, as a validation of the resource as written.
# Nothing is learnt from an invalid resource or element: every problem is still found and reported as before.
# Remembered: the elements' and shapes' reprs (values of JSON types: their repr is their value).
_MAX_REMEMBERED = 100_000  # elements and shapes; the memory is dropped and rebuilt when it is full
_valid: set[tuple[Any, ...]] = set()  # (type, repr) of elements, (type, JSON) of resources, shapes
_stand_in: dict[type, tuple[int, Any]] = {}
_model_fields: dict[type, dict[str, tuple[type, bool]]] = {}


def _field_model(annotation: Any) -> tuple[type | None, bool]:
    """The one FHIR model type of a field and whether the field is a list, or (None, False) for a primitive field
    and for a field of several or polymorphic types (see _models_in)."""
    found = _models_in(annotation)
    if len(found) != 1 or found[0][0] is type(None):
        return None, False
    return found[0]


def _models_in(annotation: Any) -> list[tuple[type, bool]]:
    """The FHIR model types a field's annotation names, each with whether it is in a list (NoneType: polymorphic)."""
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    found: list[tuple[type, bool]] = []

    def walk(tp: Any, in_list: bool) -> None:
        origin = typing.get_origin(tp)
        if origin is list:
            for arg in typing.get_args(tp):
                walk(arg, True)
        elif origin is not None:
            for arg in typing.get_args(tp):
                walk(arg, in_list)
        elif isinstance(tp, type) and issubclass(tp, FhirBase):
            if issubclass(tp, FhirElementOrResourceBase):
                found.append((type(None), in_list))  # polymorphic: never replaced
            else:
                found.append((tp.get_model_klass(), in_list))

    walk(annotation, False)
    return found


def _fields_of(cls: type) -> dict[str, tuple[type, bool]]:
    """JSON key -> (model type, is a list) of the complex fields of a model that may be replaced by a stand-in."""
    fields = _model_fields.get(cls)
    if fields is None:
        fields = {}
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            if name.endswith("__ext"):
                continue  # a primitive's extension: the parent reads its content (a required primitive's reason)
            model, is_list = _field_model(info.annotation)
            if model is None or model.__name__ == "FHIRPrimitiveExtension":
                continue
            fields[info.alias or name] = (model, is_list)
        _model_fields[cls] = fields
    return fields


_Misses = list[tuple[tuple[type, str], dict[str, Any]]]


def _shrink_one(model: type, value: dict[str, Any], misses: _Misses) -> Any:
    key = (model, repr(value))  # plain JSON (see record_from_resources): its repr is its value, and fast to make
    stand_in = _stand_in.get(model)  # read before the set: another thread may clear both (a stand-in stays valid)
    if stand_in is not None and key in _valid:
        return stand_in[1]
    misses.append((key, value))
    return _shrink(model, value, misses)


def _shrink(cls: type, data: dict[str, Any], misses: _Misses) -> dict[str, Any]:
    """`data` with each complex element known to be valid replaced by its type's stand-in (a shallow copy when
    anything is replaced); the elements not known yet go to `misses`, to be remembered if the resource is valid."""
    fields = _fields_of(cls)
    out: dict[str, Any] | None = None
    for key, value in data.items():
        spec = fields.get(key)
        if spec is None:
            continue
        model, is_list = spec
        if is_list and isinstance(value, list):
            items: list[Any] | None = None
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    new = _shrink_one(model, item, misses)
                    if new is not item:
                        items = items if items is not None else list(value)
                        items[i] = new
            if items is not None:
                out = out if out is not None else dict(data)
                out[key] = items
        elif not is_list and isinstance(value, dict):
            new = _shrink_one(model, value, misses)
            if new is not value:
                out = out if out is not None else dict(data)
                out[key] = new
    return out if out is not None else data


_top_fields: dict[type, dict[str, tuple[str, Any]]] = {}


def _field_kinds(cls: type) -> dict[str, tuple[str, Any]]:
    """JSON key -> how a resource's top-level field is checked on its own: ("ext", None) a primitive's extension,
    ("model", (type, is a list)) a complex element, ("primitive", TypeAdapter) anything else but a polymorphic field
    (left out: a resource holding one is always validated in full)."""
    kinds = _top_fields.get(cls)
    if kinds is None:
        from pydantic import TypeAdapter

        kinds = {}
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            key = info.alias or name
            if name.endswith("__ext"):
                kinds[key] = ("ext", None)
                continue
            found = _models_in(info.annotation)
            if not found:
                kinds[key] = ("primitive", TypeAdapter(info.annotation))
            elif len(found) == 1 and found[0][0] is not type(None):
                kinds[key] = ("model", found[0])
        _top_fields[cls] = kinds
    return kinds


def _shape(cls: type, res: dict[str, Any]) -> tuple[Any, ...] | None:
    """What the model-level checks of a resource read (its keys, which are null, its primitives' extensions), when
    every field of the resource can be checked on its own and is valid; else None."""
    kinds = _field_kinds(cls)
    shape: list[tuple[str, Any]] = []
    for key, value in res.items():
        if key == "resourceType":
            shape.append((key, value))
            continue
        kind = kinds.get(key)
        if kind is None:
            return None
        if value is None:
            shape.append((key, None))
        elif kind[0] == "ext":
            shape.append((key, repr(value)))
        elif kind[0] == "primitive":
            try:
                kind[1].validate_python(value)
            except Exception:  # any failure: the full validation says what it is
                return None
            shape.append((key, True))
        else:
            model, is_list = kind[1]
            items = value if is_list and isinstance(value, list) else [value] if not is_list else None
            if items is None or not all(isinstance(i, dict) and _element_valid(model, i) for i in items):
                return None
            shape.append((key, True))
    return (cls, "shape", *sorted(shape, key=lambda kv: kv[0]))


def _element_valid(model: Any, value: dict[str, Any]) -> bool:
    """Whether a complex element is valid for its type (validated alone, its known-valid parts replaced), learnt."""
    key = (model, repr(value))
    if key in _valid:
        return True
    misses: _Misses = [(key, value)]
    try:
        model.model_validate(_shrink(model, value, misses))
    except Exception:  # not valid, whatever the reason: the full validation reports it
        return False
    _learn(misses)
    return True


def _learn(misses: _Misses) -> None:
    """Remember elements validated without error (and the smallest of each type as its stand-in)."""
    if len(_valid) + len(misses) > _MAX_REMEMBERED:
        _valid.clear()
        _stand_in.clear()
        return
    for key, value in misses:
        _valid.add(key)
        model: Any = key[0]
        size = len(key[1])
        if model not in _stand_in or size < _stand_in[model][0]:
            _stand_in[model] = (size, model.model_validate(value))


def _validate_resource(cls: Any, res: dict[str, Any]) -> None:
    """cls.model_validate(res), raising what it raises, without validating again what is known to be valid: a
    resource whose every field is valid on its own (a primitive checked alone, a complex element seen valid before)
    and whose shape (see _shape) was seen in a valid resource is valid."""
    try:
        shape = _shape(cls, res)
        if shape is not None and shape in _valid:
            return
        misses: _Misses = []
        shrunk = _shrink(cls, res, misses)
    except (TypeError, ValueError, RecursionError):  # keys that are not text, too deep: validated as before
        cls.model_validate(res)
        return
    try:
        cls.model_validate(shrunk)
    except ValidationError:
        raise
    except Exception:
        if shrunk is res:
            raise
        cls.model_validate(res)  # a message that may quote the input: raise it from the input itself
        raise
    _learn(misses)
    if shape is not None:  # every field was valid on its own, and now the whole: this shape is valid
        _valid.add(shape)


class _Reader:
    def __init__(self, located: list[Located], today: date, patient_id: str | None, as_of: date | None = None) -> None:
        self.today = today
        # --as-of: facts dated after it are left out, later dates of kept facts unknown; said once (later_note).
        self.as_of = as_of
        self.later_facts = 0
        self.later_dates = 0
        self.issues: list[InputIssue] = []
        self.located = located
        self.plain_json = False  # every resource is plain JSON: validation may be remembered (_validate_resource)
        self.by_ref: dict[str, Located] = {}
        self.patient_id = patient_id
        self.condition_stages: list[StageGroup] = []
        self.lesions: dict[str, Lesion] = {}
        self.comorbidities: list[Comorbidity] = []
        self.judgements: list[ClinicalJudgement] = []
        self.labs: list[LabResult] = []
        self.menopause_readings: list[MenopauseReading] = []
        self.findings: list[ClinicalFinding] = []

    # ---- helpers -------------------------------------------------------------------------------------------
    def issue(self, loc: str, msg: str, severity: str = "warning") -> None:
        self.issues.append(InputIssue(loc, msg, "error" if severity == "error" else "warning"))

    def date(self, value: Any, loc: str, field: str) -> PartialDate | None:
        if value is None:
            return None
        try:
            d = PartialDate.parse(value)
        except DateError as exc:
            self.issue(f"{loc}.{field}", f"{exc}; treated as unknown", "error")
            return None
        if d.is_future(self.today):
            self.issue(
                f"{loc}.{field}",
                f"date {d} is in the future (today is {self.today}); treated as unknown",
                "error",
            )
            return None
        if d.earliest.year < 1900:
            self.issue(f"{loc}.{field}", f"implausible date {d}; treated as unknown", "error")
            return None
        if self.as_of is not None and d.earliest > self.as_of:
            self.later_dates += 1  # not yet known on the as-of date (e.g. the end of a therapy then ongoing)
            return None
        return d

    def known_as_of(self, items: list[Located]) -> list[Located]:
        """--as-of means "as known on that date": resources dated after it are left out (counted, not listed)."""
        if self.as_of is None:
            return items
        kept = []
        for item in items:
            d = _fact_date(item.resource)
            if d is not None and d.earliest > self.as_of and not d.is_future(self.today):
                self.later_facts += 1
                continue
            kept.append(item)
        return kept

    def later_note(self) -> None:
        if not (self.later_facts or self.later_dates):
            return
        parts = []
        if self.later_facts:
            parts.append(f"{self.later_facts} later fact(s) not used")
        if self.later_dates:
            parts.append(f"{self.later_dates} later date(s) of facts used read as not yet known")
        self.issues.append(
            InputIssue(
                AS_OF_LOCATION, f"as known on {self.as_of}: " + "; ".join(parts) + f" (dated after {self.as_of})"
            )
        )

    def effective(self, res: dict[str, Any], loc: str) -> PartialDate | None:
        for key in ("effectiveDateTime", "issued", "onsetDateTime", "performedDateTime", "recordedDate"):
            if key in res:
                return self.date(res[key], loc, key)
        period = res.get("effectivePeriod") or res.get("performedPeriod") or res.get("onsetPeriod")
        if isinstance(period, dict):
            return self.date(period.get("start"), loc, "period.start")
        return None

    def resolve(self, ref: Any) -> Located | None:
        if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
            return None
        r = ref["reference"]
        return self.by_ref.get(r) or self.by_ref.get(r.split("/_history")[0])

    def source(self, item: Located) -> Source:
        res = item.resource
        return Source(f"{res.get('resourceType')}/{res.get('id', '?')}", item.location)

    # ---- validation ----------------------------------------------------------------------------------------
    def validate(self, items: list[Located]) -> list[Located]:
        """Check each read resource against the FHIR model (fhir.resources R4B, see docs/fhir.md).

        Invalid resources are kept for lenient extraction: a broken field is reported and skipped, the rest of
        the resource is still read."""
        from fhir.resources.R4B import get_fhir_model_class

        kept: list[Located] = []
        for item in items:
            res = item.resource
            rtype = res.get("resourceType")
            if rtype == "__invalid__":
                self.issue(item.location, "entry has no resource object; skipped", "error")
                continue
            if not isinstance(rtype, str):
                self.issue(item.location, "resource has no resourceType; skipped", "error")
                continue
            if rtype not in READ_TYPES:
                continue
            try:
                model = get_fhir_model_class(rtype)
                _validate_resource(model, res) if self.plain_json else model.model_validate(res)
            except ValidationError as exc:
                for err in exc.errors()[:10]:
                    where = _loc_path(tuple(err.get("loc", ())))
                    msg = err.get("msg", "invalid value")
                    if err.get("type") == "extra_forbidden":
                        msg = "element not defined in FHIR R4"
                    self.issue(f"{item.location}.{where}" if where else item.location, f"invalid {rtype}: {msg}")
            except (ValueError, TypeError, RecursionError) as exc:
                self.issue(item.location, f"invalid {rtype}: {str(exc)[:200]}")
            kept.append(item)
        return kept

    # ---- main ----------------------------------------------------------------------------------------------
    def run(self) -> Record:
        items = self.located
        for item in items:
            reason = _stu3_reason(item.resource)
            if reason:
                raise UnusableInput(
                    f"{item.location}: this looks like FHIR STU3 or earlier, not R4 ({reason}). mbcnav reads FHIR R4 "
                    "(4.0.1) with mCODE profiles; convert the record to R4 first."
                )
        items = self.known_as_of(self.validate(items))
        for item in items:
            res = item.resource
            rid = res.get("id")
            if isinstance(rid, str):
                self.by_ref[f"{res['resourceType']}/{rid}"] = item
            if item.full_url:
                self.by_ref[item.full_url] = item
        # Bundle-level fullUrls (urn:uuid) are in the raw entries; register them too.
        patients = [i for i in items if i.resource.get("resourceType") == "Patient"]
        patient_item = self.pick_patient(patients)
        by_type: dict[str, list[Located]] = defaultdict(list)
        for item in items:
            if item.resource.get("resourceType") != "Patient" and self.belongs(item, patient_item):
                by_type[item.resource["resourceType"]].append(item)

        primaries, metastases = self.conditions(by_type["Condition"])
        laterality = next((p.laterality for p in primaries if p.laterality != "unknown"), None)
        obs = self.observations(by_type["Observation"], laterality)
        therapies = self.medications(by_type)
        local = self.procedures(by_type["Procedure"])
        for item in by_type["BodyStructure"]:
            if "mcode-tumor" in _profiles(item.resource) or RECIST_ROLE_EXT in str(item.resource.get("extension")):
                self.lesion(item)
        patient = self.patient(patient_item, self.latest_menopause(), obs.pop("_pregnant", None))
        if not primaries:
            self.issue("(record)", "no primary breast cancer Condition found")
        self.later_note()
        return Record(
            patient=patient,
            primaries=tuple(primaries),
            receptors=tuple(obs["receptors"]),
            genomics=tuple(obs["genomics"]),
            signatures=tuple(obs["signatures"]),
            metastases=tuple(metastases) + tuple(obs["history_mets"]),
            tnm=tuple(obs["tnm"]),
            stage_groups=tuple(obs["stage_groups"]) + tuple(self.condition_stages),
            performance=tuple(obs["performance"]),
            therapies=tuple(therapies),
            local_treatments=tuple(local),
            measurements=tuple(obs["measurements"]),
            disease_statuses=tuple(obs["statuses"]),
            lesions=tuple(self.lesions.values()),
            comorbidities=tuple(self.comorbidities),
            judgements=tuple(self.judgements),
            labs=tuple(self.labs),
            menopause_readings=tuple(self.menopause_readings),
            findings=tuple(self.findings),
            input_issues=tuple(self.issues),
            resource_count=len(self.located),
        )

    def pick_patient(self, patients: list[Located]) -> Located | None:
        ids = {str(p.resource.get("id")) for p in patients}
        if self.patient_id is not None:
            chosen = [p for p in patients if p.resource.get("id") == self.patient_id]
            if not chosen:
                raise UnusableInput(f"no Patient with id {self.patient_id!r} in the input")
            return chosen[0]
        if len(ids) > 1:
            raise UnusableInput(
                f"the input holds {len(ids)} different patients ({', '.join(sorted(map(str, ids))[:5])}); "
                "mbcnav reads one patient at a time: pass --patient ID"
            )
        if len(patients) > 1:
            self.issue(patients[1].location, "duplicate Patient resource; the first one is used")
        return patients[0] if patients else None

    def belongs(self, item: Located, patient: Located | None) -> bool:
        if patient is None:
            return True
        subject = item.resource.get("subject") or item.resource.get("patient")
        if not isinstance(subject, dict) or not isinstance(subject.get("reference"), str):
            return True
        ref = subject["reference"]
        pid = patient.resource.get("id")
        full = patient.full_url
        if (ref.startswith("Patient/") and isinstance(pid, str) and ref != f"Patient/{pid}") or (
            ref.startswith("urn:uuid:") and full is not None and ref != full
        ):
            self.issue(item.location, f"refers to another patient ({ref}); skipped")
            return False
        return True

    # ---- Patient -------------------------------------------------------------------------------------------
    def patient(self, item: Located | None, menopause: Any, pregnant: Any) -> Patient:
        if item is None:
            self.issue("(record)", "no Patient resource: sex and age unknown")
            return Patient(None, None, "unknown", menopause or "unknown", pregnant, None)
        res = item.resource
        gender = res.get("gender")
        sex: Any = gender if gender in ("female", "male", "other") else "unknown"
        birth = self.date(res.get("birthDate"), item.location, "birthDate")
        pid = res.get("id") if isinstance(res.get("id"), str) else None
        return Patient(pid, birth, sex, menopause or "unknown", pregnant, self.source(item))

    # ---- Conditions ----------------------------------------------------------------------------------------
    def conditions(self, items: list[Located]) -> tuple[list[PrimaryCancer], list[Metastasis]]:
        primaries: list[PrimaryCancer] = []
        secondaries: list[tuple[Located, PartialDate | None]] = []
        seen: dict[tuple[str, str], str] = {}
        for item in items:
            res = item.resource
            code = res.get("code")
            if not isinstance(code, dict) or not (code.get("coding") or code.get("text")):
                self.issue(f"{item.location}.code", "Condition without a code; skipped", "error")
                continue
            ver = first_code(
                res.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/condition-ver-status"
            )
            if ver in ("refuted", "entered-in-error"):
                self.issue(item.location, f"Condition marked {ver}; ignored")
                continue
            kind = markers.condition_kind(code, _profiles(res))
            if kind is None and self.condition_finding(item):
                continue
            if kind is None:
                como: Any = comorbidity_of(code)
                status = first_code(
                    res.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical"
                )
                if como is not None:
                    # a resolved condition is kept as history ("history of ILD" holds; "active hepatitis B" does not)
                    text = next(iter(texts(code)), como)
                    past = status in ("resolved", "inactive", "remission")
                    self.comorbidities.append(
                        Comorbidity(
                            como,
                            text,
                            self.effective(res, item.location),
                            self.source(item),
                            "resolved" if past else "active",
                        )
                    )
                continue
            onset = self.effective(res, item.location)
            key = (
                kind
                + "|"
                + "|".join(sorted(f"{s}:{c}" for s, c, _ in codings(code)))
                + "|"
                + " ".join(texts(code)[:1]),
                str(onset),
            )
            if key in seen:
                self.issue(item.location, f"duplicate of {seen[key]}; ignored")
                continue
            seen[key] = self.source(item).resource
            if kind == "primary":
                primaries.append(self.primary(item, onset))
            else:
                secondaries.append((item, onset))
        # Regional vs distant nodes depend on the primary's side (AJCC 8th ch. 48): read metastases after primaries.
        laterality = next((p.laterality for p in primaries if p.laterality != "unknown"), None)
        return primaries, [self.metastasis(item, onset, laterality) for item, onset in secondaries]

    def primary(self, item: Located, onset: PartialDate | None) -> PrimaryCancer:
        res = item.resource
        words = " ".join(texts(res.get("code")) + [t for b in _list(res.get("bodySite")) for t in texts(b)]).lower()
        lat: Any = "unknown"
        if "bilateral" in words:
            lat = "bilateral"
        elif re.search(r"\bleft\b", words):
            lat = "left"
        elif re.search(r"\bright\b", words):
            lat = "right"
        histology = grade = None
        for ext in _list(res.get("extension")):
            if not isinstance(ext, dict) or not isinstance(ext.get("url"), str):
                continue
            if ext["url"].endswith(HISTOLOGY_EXT_SUFFIX):
                histology = next(iter(texts(ext.get("valueCodeableConcept"))), None)
            elif ext["url"] == GRADE_EXT and isinstance(ext.get("valueString"), str):
                grade = ext["valueString"]
        if onset is None:
            self.issue(item.location, "primary breast cancer without a diagnosis date (onset)")
        for st in _list(res.get("stage")):
            summary = st.get("summary") if isinstance(st, dict) else None
            group = markers.parse_stage_group(" ; ".join(texts(summary) + [c for _, c, _ in codings(summary)]))
            if group is not None:
                stype = markers.staging_type(st.get("type"), "")
                self.condition_stages.append(StageGroup(group, stype, onset, self.source(item)))
        desc = next(iter(texts(res.get("code"))), "breast cancer")
        return PrimaryCancer(onset, lat, histology, grade, desc, self.source(item))

    def metastasis(self, item: Located, onset: PartialDate | None, laterality: str | None) -> Metastasis:
        res = item.resource
        extra: list[str] = [
            str(n["text"]) for n in _list(res.get("note")) if isinstance(n, dict) and isinstance(n.get("text"), str)
        ]
        match = classify_site(res.get("code"), _list(res.get("bodySite")), extra, laterality)
        if match.matched_by == "none":
            self.issue(
                f"{item.location}.code",
                f"metastatic site not recognised ({match.detail!r}); recorded as other",
            )
        count = None
        method = None
        for ext in _list(res.get("extension")):
            if isinstance(ext, dict) and ext.get("url") == LESIONS_EXT:
                v = ext.get("valueInteger")
                if isinstance(v, int) and 0 < v < 10_000:
                    count = v
                else:
                    self.issue(
                        f"{item.location}.extension", "lesion count is not a plausible whole number; ignored", "error"
                    )
        for ev in _list(res.get("evidence")):
            if isinstance(ev, dict):
                t = texts(_first(ev.get("code")))
                if t:
                    method = t[0]
        clinical = first_code(res.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical")
        status: Any = (
            "resolved"
            if clinical in ("resolved", "remission", "inactive")
            else "active"
            if clinical in ("active", "recurrence", "relapse")
            else "unknown"
        )
        if onset is None:
            self.issue(item.location, "metastasis without a date (onsetDateTime)")
        return Metastasis(match.site, match.detail, onset, method, count, match.nodal_region, status, self.source(item))

    # ---- Observations --------------------------------------------------------------------------------------
    def observations(self, items: list[Located], laterality: str | None) -> dict[str, Any]:
        out: dict[str, Any] = defaultdict(list)
        handlers: dict[str, Callable[[Located, PartialDate | None, dict[str, Any]], None]] = {
            "stage_group": self.obs_stage_group,
            "tnm": self.obs_tnm,
            "receptor": self.obs_receptor,
            "performance": self.obs_performance,
            "genomic": self.obs_genomic,
            "signature": self.obs_signature,
            "status": self.obs_status,
            "tumor_size": self.obs_tumor_size,
            "lesion_status": self.obs_lesion_status,
            "visceral_crisis": self.obs_visceral_crisis,
            "menopause": self.obs_menopause,
            "pregnancy": self.obs_pregnancy,
            "history_mets": self.obs_history_mets,
        }
        for item in items:
            res = item.resource
            if res.get("status") in ("entered-in-error", "cancelled"):
                self.issue(item.location, f"Observation status {res.get('status')}; ignored")
                continue
            code = res.get("code")
            if not isinstance(code, dict) or not (code.get("coding") or code.get("text")):
                self.issue(f"{item.location}.code", "Observation without a code; skipped", "error")
                continue
            if self.obs_lab_or_finding(item):
                continue
            kind = markers.observation_kind(code, _profiles(res))
            if kind is None:
                continue
            when = self.effective(res, item.location)
            handlers[kind](item, when, out)
        out.setdefault("receptors", [])
        for key in (
            "genomics",
            "signatures",
            "tnm",
            "stage_groups",
            "performance",
            "measurements",
            "statuses",
            "history_mets",
        ):
            out.setdefault(key, [])
        return out

    def no_value(self, item: Located, what: str) -> None:
        self.issue(item.location, f"{what} Observation has no value; ignored")

    def obs_stage_group(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        value = markers.value_words(res)
        group = markers.parse_stage_group(value)
        if group is None:
            if not value:
                self.no_value(item, "stage group")
            else:
                self.issue(f"{item.location}.value", f"stage group not understood: {value[:60]!r}")
            return
        stype = markers.staging_type(res.get("code"), value)
        out["stage_groups"].append(StageGroup(group, stype, when, self.source(item)))

    def obs_tnm(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        value = markers.value_words(res)
        axis = markers.tnm_axis(res.get("code"), _profiles(res))
        parsed = markers.parse_tnm(value, axis)
        if parsed is None:
            if not value:
                self.no_value(item, "TNM category")
            else:
                self.issue(f"{item.location}.value", f"TNM category not understood: {value[:60]!r}")
            return
        axis_found, category = parsed
        stype: StagingType = markers.staging_type(res.get("code"), category)
        out["tnm"].append(TnmCategory(axis_found, category, stype, when, self.source(item)))  # type: ignore[arg-type]

    def specimen_of(self, res: dict[str, Any], laterality: str | None = None) -> Specimen:
        """Where the tested tissue came from: Observation.specimen -> Specimen, bodySite, or focus Condition."""
        candidates: list[Any] = []
        spec = self.resolve(res.get("specimen"))
        spec_date = None
        desc = None
        if spec is not None:
            s = spec.resource
            raw_coll = s.get("collection")
            coll: dict[str, Any] = raw_coll if isinstance(raw_coll, dict) else {}
            candidates.append(coll.get("bodySite"))
            candidates.append(s.get("type"))
            spec_date = self.date(coll.get("collectedDateTime"), spec.location, "collection.collectedDateTime")
            desc = next(iter(texts(coll.get("bodySite")) + texts(s.get("type"))), None)
        candidates.append(res.get("bodySite"))
        for f in _list(res.get("focus")):
            target = self.resolve(f)
            if target is not None and target.resource.get("resourceType") == "Condition":
                candidates.append(target.resource.get("code"))
                for b in _list(target.resource.get("bodySite")):
                    candidates.append(b)
        return markers.specimen_from(candidates, spec_date, desc)

    def obs_receptor(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        parsed = markers.parse_receptor(res)
        if parsed is None:
            self.no_value(item, "receptor")
            return
        problem = parsed.pop("_problem", None)
        for where, message in parsed.pop("_range", []):  # impossible numbers: reported, never used
            self.issue(f"{item.location}{where}", message, "error")
        if problem:
            self.issue(f"{item.location}.value", str(problem))
        if all(parsed.get(k) is None for k in ("status", "percent", "ihc_score", "ish", "cps")):
            return
        specimen = self.specimen_of(res)
        out["receptors"].append(markers.make_receptor(parsed, when, specimen, self.source(item)))

    def obs_performance(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        scale = "Karnofsky" if markers.is_karnofsky(res.get("code")) else "ECOG"
        v = markers.integer_value(res)
        limits = (0, 5) if scale == "ECOG" else (0, 100)
        q = res.get("valueQuantity")
        if v is None and isinstance(q, dict) and q.get("value") is not None:
            self.issue(
                f"{item.location}.valueQuantity.value",
                f"{scale} value {str(q['value'])[:30]} is impossible; ignored",
                "error",
            )
            return
        if v is None:
            self.no_value(item, f"{scale} performance status")
            return
        if not limits[0] <= v <= limits[1] or (scale == "Karnofsky" and v % 10):
            self.issue(f"{item.location}.value", f"{scale} value {v} is impossible; ignored", "error")
            return
        out["performance"].append(PerformanceStatus(scale, v, when, self.source(item)))  # type: ignore[arg-type]

    def obs_genomic(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        g = markers.parse_genomic(res)
        if g is None:
            self.issue(item.location, "genomic variant without a gene; ignored")
            return
        out["genomics"].append(
            GenomicFinding(
                g["gene"],
                g["origin"],
                g["result"],
                g["variant"],
                when,
                self.specimen_of(res),
                self.source(item),
            )
        )

    def obs_signature(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        s = markers.parse_signature(res)
        q = res.get("valueQuantity")
        field, raw = ("valueQuantity.value", q.get("value")) if isinstance(q, dict) else ("valueInteger", None)
        if s is not None and s[0] == "TMB" and not isinstance(q, dict):
            raw = res.get("valueInteger")
        if raw is not None and markers.num(raw) is None:  # text, NaN, or beyond 10^9
            self.issue(
                f"{item.location}.{field}", f"MSI/TMB value {str(raw)[:30]} is not a usable number; ignored", "error"
            )
            if s is None or s[0] == "TMB":
                return
        if s is None:
            self.no_value(item, "MSI/TMB")
            return
        if s[0] == "TMB" and s[2] is not None and not markers.in_range(s[2], markers.TMB_RANGE):
            lo, hi = markers.TMB_RANGE
            self.issue(
                f"{item.location}.{field}",
                f"TMB {s[2]:g} mutations/Mb is impossible (outside {lo:g}-{hi:g}); ignored",
                "error",
            )
            return
        out["signatures"].append(GenomicSignature(s[0], s[1], s[2], when, self.source(item)))  # type: ignore[arg-type]

    def obs_status(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        st = markers.parse_disease_status(item.resource)
        if st is None:
            self.no_value(item, "disease status")
            return
        out["statuses"].append(DiseaseStatus(when, st, self.source(item)))  # type: ignore[arg-type]

    def lesion_of(self, res: dict[str, Any], item: Located | None) -> tuple[str | None, str | None]:
        """Lesion identity and site of the BodyStructure an Observation focuses on; registers the Lesion."""
        for f in _list(res.get("focus")):
            target = self.resolve(f)
            if target is not None and target.resource.get("resourceType") == "BodyStructure":
                lesion = self.lesion(target)
                return lesion.lesion_id, lesion.site
        return None, None

    def lesion(self, item: Located) -> Lesion:
        key = self.source(item).resource
        if key in self.lesions:
            return self.lesions[key]
        bs = item.resource
        ident = _first(bs.get("identifier"))
        lesion_id = str((ident.get("value") if isinstance(ident, dict) else None) or bs.get("id") or item.location)
        site = next(iter(texts(bs.get("location"))), None)
        role: Any = None
        lymph = bool(site and re.search(r"lymph|nod(e|al)", site, re.I))
        irradiated = False
        for ext in _list(bs.get("extension")):
            if not isinstance(ext, dict):
                continue
            if ext.get("url") == RECIST_ROLE_EXT and ext.get("valueCode") in ("target", "non-target"):
                role = ext["valueCode"].replace("-", "_")
            elif ext.get("url") == LYMPH_NODE_EXT and isinstance(ext.get("valueBoolean"), bool):
                lymph = ext["valueBoolean"]
            elif ext.get("url") == IRRADIATED_EXT and isinstance(ext.get("valueBoolean"), bool):
                irradiated = ext["valueBoolean"]
        lesion = Lesion(lesion_id, site, role, lymph, irradiated, self.source(item))
        self.lesions[key] = lesion
        return lesion

    def obs_tumor_size(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        lesion_id, site = self.lesion_of(res, item)
        if lesion_id is None:
            lesion_id = res.get("id") or item.location
        size, axis, problem = markers.parse_size(res)
        if problem:
            self.issue(f"{item.location}.component", problem, "error")
            return
        if size is None:
            self.no_value(item, "tumour size")
            return
        if when is None:
            self.issue(item.location, "tumour measurement without a date; not usable for response", "error")
            return
        method = next(iter(texts(res.get("method"))), None)
        out["measurements"].append(
            TumorMeasurement(
                str(lesion_id),
                site,
                when,
                size,
                axis,  # type: ignore[arg-type]
                method,
                self.source(item),
                "measured",
                markers.slice_thickness(res),
                _stated_role(res),
            )
        )

    def obs_lesion_status(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        lesion_id, site = self.lesion_of(res, item)
        status = markers.parse_lesion_status(res)
        if lesion_id is None or status is None or when is None:
            self.issue(item.location, "lesion assessment without a lesion (focus), a status or a date; ignored")
            return
        size = 0.0 if status in ("absent", "merged") else (5.0 if status == "too_small" else None)
        method = next(iter(texts(res.get("method"))), None)
        out["measurements"].append(
            TumorMeasurement(
                lesion_id,
                site,
                when,
                size,
                "long",
                method,
                self.source(item),
                status,  # type: ignore[arg-type]
                role=_stated_role(res),
            )
        )

    def obs_visceral_crisis(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        v = item.resource.get("valueBoolean")
        if not isinstance(v, bool):
            self.no_value(item, "visceral crisis")
            return
        self.judgements.append(ClinicalJudgement("visceral_crisis", v, when, self.source(item)))

    def obs_menopause(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        """Menopausal status by code and by meaning: a question (SNOMED 161712005, mbcnav code, "menopausal status")
        with its answer in the value, or a finding as the code itself (e.g. SNOMED 76498008 Postmenopausal state)."""
        res = item.resource
        code = res.get("code")
        if findings.menopause_question(code) and ("valueCodeableConcept" in res or "valueString" in res):
            vc = res.get("valueCodeableConcept")
            if isinstance(vc, dict):
                status, why = findings.menopause_status(vc)
                text = next(iter(texts(vc)), "") or next((c for _, c, _ in codings(vc) if c), "")
            elif isinstance(res.get("valueString"), str):
                text = res["valueString"]
                status, why = findings.menopause_from_text(text)
            else:
                self.no_value(item, "menopausal status")
                return
        else:
            status, why = findings.menopause_status(code)
            if status is None and why is None and findings.menopause_question(code):
                self.no_value(item, "menopausal status")
                return
            text = next(iter(texts(code)), "")
            if status is not None and res.get("valueBoolean") is False:
                status, why = None, f"{text!r} recorded as absent (valueBoolean false): the status is not stated"
        if status is None:
            self.issue(
                f"{item.location}.value", f"menopausal status not read: {why or repr(text[:60]) + ' not understood'}"
            )
            return
        self.menopause_readings.append(MenopauseReading(status, when, text or status, self.source(item)))

    def latest_menopause(self) -> Any:
        """The latest dated reading wins (not the last in the file); undated readings count only when no reading is
        dated and they agree. Readings of the same latest date that disagree leave the status unknown."""
        rows = self.menopause_readings
        if not rows:
            return None
        dated = [r for r in rows if r.date is not None]
        if dated:
            newest = max(r.date.earliest for r in dated if r.date is not None)
            top = {r.status for r in dated if r.date is not None and r.date.earliest == newest}
        else:
            top = {r.status for r in rows}
        if len(top) > 1:
            srcs = ", ".join(r.source.resource for r in rows)
            self.issue("(record)", f"menopausal status readings disagree on the same latest date ({srcs}); unknown")
            return None
        return top.pop()

    def condition_finding(self, item: Located) -> bool:
        """A Condition that is a menopausal status or a finding of findings.yaml; True when it was consumed."""
        res = item.resource
        code = res.get("code")
        status, why = findings.menopause_status(code)
        text = next(iter(texts(code)), "")
        clinical = first_code(res.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical")
        if status is not None:
            self.menopause_readings.append(
                MenopauseReading(status, self.effective(res, item.location), text or status, self.source(item))
            )
            return True
        if why is not None:
            self.issue(f"{item.location}.code", f"menopausal status not read: {why}")
            return True
        name, negated = findings.finding_of(code)
        if name is None:
            return False
        if negated:
            self.issue(f"{item.location}.code", f"{text[:60]!r} is negated; not read as {name.replace('_', ' ')}")
            return True
        if clinical in ("resolved", "inactive", "remission") and name in (
            "biliary_obstruction",
            "dyspnoea_at_rest",
            "lymphangitic_spread",
        ):
            return True
        self.findings.append(ClinicalFinding(name, text or name, self.effective(res, item.location), self.source(item)))
        return True

    def procedure_finding(self, item: Located) -> None:
        res = item.resource
        name, negated = findings.finding_of(res.get("code"))
        if name == "bilateral_oophorectomy" and not negated and res.get("status") not in ("preparation", "stopped"):
            text = next(iter(texts(res.get("code"))), "bilateral oophorectomy")
            self.findings.append(ClinicalFinding(name, text, self.effective(res, item.location), self.source(item)))

    def obs_lab_or_finding(self, item: Located) -> bool:
        """Lab values by LOINC (also as components of a panel), the last menstrual period (LOINC 8665-2), and
        findings recorded as Observations; True when the Observation was consumed."""
        res = item.resource
        code = res.get("code")
        analyte = analyte_of(code)
        if analyte is not None:
            self.lab(res, analyte, item, f"{item.location}.value", self.effective(res, item.location))
            return True
        comps = [c for c in _list(res.get("component")) if isinstance(c, dict) and analyte_of(c.get("code"))]
        if comps and not any(s == "loinc" and c in markers.LOINC_KINDS for s, c, _ in codings(code)):
            when = self.effective(res, item.location)
            for i, comp in enumerate(_list(res.get("component"))):
                a = analyte_of(comp.get("code")) if isinstance(comp, dict) else None
                if a is not None:
                    self.lab(comp, a, item, f"{item.location}.component[{i}]", when)
            return True
        if has_code(code, "loinc", "8665-2"):  # Last menstrual period start date
            lmp = self.date(res.get("valueDateTime"), item.location, "valueDateTime")
            if lmp is None:
                self.no_value(item, "last menstrual period")
            else:
                self.findings.append(ClinicalFinding("amenorrhoea", "last menstrual period", lmp, self.source(item)))
            return True
        if findings.menopause_question(code) or findings.menopause_from_code(code) is not None:
            self.obs_menopause(item, self.effective(res, item.location), {})
            return True
        name, negated = findings.finding_of(code)
        if name in ("dyspnoea_at_rest", "lymphangitic_spread", "gilbert_syndrome", "biliary_obstruction"):
            if not negated and res.get("valueBoolean") is not False:
                text = next(iter(texts(code)), str(name))
                self.findings.append(ClinicalFinding(name, text, self.effective(res, item.location), self.source(item)))
            return True
        return False

    def lab(self, res: dict[str, Any], analyte: Any, item: Located, loc: str, when: PartialDate | None) -> None:
        result, problems = parse_lab(res, analyte, when, self.source(item))
        for p in problems:
            self.issue(loc, p, "error" if result is None else "warning")
        if result is None:
            return
        if when is None:
            self.issue(item.location, f"{analyte.name} value without a date; kept, but it has no place in a trend")
        self.labs.append(result)

    def obs_pregnancy(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        p = markers.parse_pregnancy(item.resource)
        if p is None:
            self.no_value(item, "pregnancy status")
            return
        out["_pregnant"] = p

    def obs_history_mets(self, item: Located, when: PartialDate | None, out: dict[str, Any]) -> None:
        res = item.resource
        match = classify_site(res.get("code"), [], [], None)
        out["history_mets"].append(
            Metastasis(
                match.site,
                match.detail,
                when,
                "history of metastatic cancer",
                None,
                match.nodal_region,
                "unknown",
                self.source(item),
            )
        )

    # ---- Medications ---------------------------------------------------------------------------------------
    def medications(self, by_type: dict[str, list[Located]]) -> list[TherapyExposure]:
        out: list[TherapyExposure] = []
        admins: dict[str, list[tuple[PartialDate | None, PartialDate | None, Located, Any]]] = defaultdict(list)
        for rtype in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
            for item in by_type[rtype]:
                res = item.resource
                concept = res.get("medicationCodeableConcept")
                if concept is None:
                    med = self.resolve(res.get("medicationReference"))
                    concept = med.resource.get("code") if med is not None else None
                    if concept is None and isinstance(res.get("medicationReference"), dict):
                        concept = {"text": res["medicationReference"].get("display")}
                drugs = self.identify_drugs(concept, item)
                if not drugs:
                    continue
                status = res.get("status")
                if status in ("entered-in-error", "cancelled", "not-taken", "draft"):
                    self.issue(item.location, f"{rtype} status {status}; ignored")
                    continue
                later = self.later_dates
                start, end = self.med_period(res, item.location)
                ended_later = self.later_dates > later  # --as-of: ended after it, so ongoing as known then
                if start and end and end.earliest < start.latest and end.latest < start.earliest:
                    self.issue(
                        item.location,
                        f"therapy ends ({end}) before it starts ({start}); end ignored",
                        "error",
                    )
                    end = None
                setting, basis = self.med_setting(res)
                reason = None if ended_later else markers.stop_reason(res)
                ongoing = (status in ("active", "on-hold", "in-progress", "intended") or ended_later) and end is None
                for drug, known in drugs:
                    if rtype == "MedicationAdministration":
                        admins[drug].append((start, end, item, (known, setting, basis, reason)))
                    else:
                        out.append(
                            TherapyExposure(drug, known, start, end, ongoing, setting, basis, reason, self.source(item))
                        )
        for drug, rows in admins.items():
            out += self.merge_administrations(drug, rows)
        return out

    def identify_drugs(self, concept: Any, item: Located) -> list[tuple[str, bool]]:
        cat = catalogue()
        names: list[str] = []
        for system, code, _ in codings(concept):
            if system == "rxnorm" and code in cat.by_rxnorm:
                names += [n for n in cat.by_rxnorm[code] if n not in names]
        for t in texts(concept):
            names += [n for n in cat.find(t) if n not in names]
        if names:
            return [(n, True) for n in names]
        label = next(iter(texts(concept)), None)
        if label is None:
            first = next((c for _, c, _ in codings(concept) if c), None)
            if first is None:
                self.issue(item.location, "medication without a code or name; ignored", "error")
                return []
            label = f"code {first}"
        # Not in the catalogue: kept by name so a clinician sees it, but it drives no rule.
        self.issue(item.location, f"medication {label!r} is not in the drug catalogue; kept, but no rule uses it")
        return [(label.lower()[:80], False)]

    def med_period(self, res: dict[str, Any], loc: str) -> tuple[PartialDate | None, PartialDate | None]:
        period = res.get("effectivePeriod")
        if not isinstance(period, dict):
            for di in _list(res.get("dosageInstruction")) + _list(res.get("dosage")):
                timing = di.get("timing") if isinstance(di, dict) else None
                rep = timing.get("repeat") if isinstance(timing, dict) else None
                bp = rep.get("boundsPeriod") if isinstance(rep, dict) else None
                if isinstance(bp, dict):
                    period = bp
                    break
        if isinstance(period, dict):
            start = self.date(period.get("start"), loc, "period.start")
            end = self.date(period.get("end"), loc, "period.end")
            if start is None and "authoredOn" in res:
                start = self.date(res.get("authoredOn"), loc, "authoredOn")
            return start, end
        for key in ("effectiveDateTime", "authoredOn", "dateAsserted"):
            if key in res:
                d = self.date(res[key], loc, key)
                return d, (d if res.get("resourceType") == "MedicationAdministration" else None)
        self.issue(loc, "therapy without a start date")
        return None, None

    def med_setting(self, res: dict[str, Any]) -> tuple[Any, str]:
        for ext in _list(res.get("extension")):
            if not isinstance(ext, dict) or not isinstance(ext.get("url"), str):
                continue
            if ext["url"] == SETTING_EXT and ext.get("valueCode") in (
                "neoadjuvant",
                "adjuvant",
                "metastatic",
                "early",
            ):
                return ext["valueCode"], "stated in the record"
        for ext in _list(res.get("extension")):
            if (
                isinstance(ext, dict)
                and isinstance(ext.get("url"), str)
                and (ext["url"].endswith("mcode-procedure-intent") or ext["url"].endswith("mcode-treatment-intent"))
            ):
                concept = ext.get("valueCodeableConcept")
                if has_code(concept, "snomed", PALLIATIVE):
                    return "metastatic", "palliative intent"
                if has_code(concept, "snomed", CURATIVE):
                    return "early", "curative intent (early breast cancer)"
        for rr in _list(res.get("reasonReference")):
            target = self.resolve(rr)
            if (
                target is not None
                and markers.condition_kind(target.resource.get("code"), _profiles(target.resource)) == "secondary"
            ):
                return "metastatic", "given for a secondary cancer condition"
        return "unknown", "not stated"

    def merge_administrations(self, drug: str, rows: list[Any]) -> list[TherapyExposure]:
        dated = sorted((r for r in rows if r[0] is not None), key=lambda r: r[0].earliest)
        out: list[TherapyExposure] = []
        cur: list[Any] | None = None
        for start, end, item, meta in dated:
            last = end or start
            if cur and (start.earliest - cur[1].latest).days <= ADMINISTRATION_GAP_DAYS:
                cur[1] = last if last.earliest > cur[1].earliest else cur[1]
                continue
            if cur:
                out.append(self._course(drug, cur))
            cur = [start, last, item, meta]
        if cur:
            out.append(self._course(drug, cur))
        return out

    def _course(self, drug: str, cur: list[Any]) -> TherapyExposure:
        start, end, item, (known, setting, basis, reason) = cur
        return TherapyExposure(drug, known, start, end, False, setting, basis, reason, self.source(item))

    # ---- Procedures ----------------------------------------------------------------------------------------
    def procedures(self, items: list[Located]) -> list[LocalTreatment]:
        out: list[LocalTreatment] = []
        for item in items:
            res = item.resource
            if res.get("status") in ("entered-in-error", "not-done"):
                continue
            self.procedure_finding(item)
            kind = markers.procedure_kind(res.get("code"), res.get("category"), _profiles(res))
            if kind is None:
                continue
            start = self.effective(res, item.location)
            period = res.get("performedPeriod")
            end = (
                self.date(period.get("end"), item.location, "performedPeriod.end")
                if isinstance(period, dict)
                else start
            )
            intent: Any = "unknown"
            for ext in _list(res.get("extension")):
                if isinstance(ext, dict) and str(ext.get("url", "")).endswith("procedure-intent"):
                    c = ext.get("valueCodeableConcept")
                    intent = (
                        "curative"
                        if has_code(c, "snomed", CURATIVE)
                        else ("palliative" if has_code(c, "snomed", PALLIATIVE) else "unknown")
                    )
            site = next(iter(t for b in _list(res.get("bodySite")) for t in texts(b)), None)
            desc = next(iter(texts(res.get("code"))), kind)
            out.append(LocalTreatment(kind, desc, start, end, site, intent, self.source(item)))  # type: ignore[arg-type]
        return out


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _first(v: Any) -> Any:
    return v[0] if isinstance(v, list) and v else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(v: Any) -> Any:
    """Replace lone surrogates (from JSON escapes such as \\ud800) with U+FFFD so no text from a record can break
    the UTF-8 output later."""
    if isinstance(v, str):
        return _SURROGATE.sub("\ufffd", v) if _SURROGATE.search(v) else v
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {(_clean(k) if isinstance(k, str) else k): _clean(x) for k, x in v.items()}
    return v


def _clean_located(x: Located) -> tuple[Located, bool]:
    """x with lone surrogates replaced (see _clean) — x itself when it holds none, found by one scan of its JSON (the
    reader never changes a resource, so it need not be copied) — and whether it is plain JSON."""
    try:
        text: str | None = json.dumps(x.resource, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not plain JSON, or deep: clean it element by element
        text = None
    if text is not None and not _SURROGATE.search(text) and not _SURROGATE.search(x.location + (x.full_url or "")):
        return x, True
    return Located(_clean(x.resource), _clean(x.location), _clean(x.full_url)), text is not None


def record_from_resources(
    located: list[Located], *, today: date, patient_id: str | None = None, as_of: date | None = None
) -> Record:
    """Build the Record for one patient from located FHIR resources. `today` is the date after which a date is in
    the future (an input issue); `as_of` (optional, at most `today`) reads the record as known on that date: facts
    dated after it are left out and said so once."""
    try:
        cleaned = [_clean_located(x) for x in located]
    except RecursionError:
        raise UnusableInput("the input is nested too deeply to be a FHIR resource") from None
    reader = _Reader([c for c, _ in cleaned], today, patient_id, as_of)
    reader.plain_json = all(plain for _, plain in cleaned)
    return reader.run()


__all__ = ["LOINC", "record_from_resources"]


def _stated_role(res: dict[str, Any]) -> Any:
    """The RECIST role an assessment Observation states for its lesion (mbcnav recist-role extension), or None."""
    for ext in _list(res.get("extension")):
        if not isinstance(ext, dict) or ext.get("url") != RECIST_ROLE_EXT:
            continue
        if ext.get("valueCode") in ("target", "non-target"):
            return ext["valueCode"].replace("-", "_")
    return None
