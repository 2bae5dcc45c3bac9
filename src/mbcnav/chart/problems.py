"""Problem-list integrity: what the record shows about the cancer against what the problem list says.

A person with metastatic breast cancer is seen by many clinicians who are not her oncologist; they read the problem
list. When the metastatic history is not there, a new back pain is treated as muscular when it is cord compression.
This module compares the record (mCODE primary and secondary cancer Conditions, pathology of a metastasis,
imaging of lesions, stage IV, lines of metastatic therapy — through the Assessment) with the problem list
(`Condition.category` = problem-list-item, http://terminology.hl7.org/CodeSystem/condition-category) and finds:

- metastatic disease missing from the problem list, per site (or recorded there as no longer active while the
  record shows it active later);
- a stage on the problem list that is stale: stage I-III while the disease is now metastatic (stage IV, AJCC 8th:
  any M1 is stage IV);
- the primary breast cancer recorded as resolved (or inactive, in remission) while metastatic disease is active;
- the primary breast cancer missing from the problem list of a patient with metastatic disease;
- a metastatic site recorded twice with different codes.

Each finding proposes the FHIR resource to create or update (mCODE SecondaryCancerCondition / PrimaryCancerCondition,
SNOMED CT + ICD-10-CM codes of problem_codes.yaml), ready to post. Pure functions: no file, no network."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from mbcnav.assess.assessment import Assessment
from mbcnav.assess.stage import distant
from mbcnav.dates import DateError, PartialDate
from mbcnav.record import markers
from mbcnav.record.inputs import Located
from mbcnav.record.model import Metastasis
from mbcnav.terminology.codes import ICD10CM, SNOMED, codings, first_code, texts
from mbcnav.terminology.sites import classify_site, site_table

SCHEMA_VERSION = "1.0"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
RELATED_EXT = "http://hl7.org/fhir/StructureDefinition/condition-related"
PROBLEM_LIST_ITEM = {"system": CATEGORY_SYSTEM, "code": "problem-list-item", "display": "Problem List Item"}
INACTIVE = ("resolved", "remission", "inactive")
# The FHIR resource types a proposed Condition may cite as its evidence (Condition.evidence.detail).
_EVIDENCE_TYPES = ("Condition", "Observation", "DiagnosticReport", "Procedure", "BodyStructure", "ImagingStudy")

Kind = Literal["missing_metastasis", "stale_stage", "primary_resolved", "missing_primary", "duplicate_site"]


@cache
def problem_codes() -> dict[str, Any]:
    """problem_codes.yaml: the codes proposed for the problem list (ICD-10-CM, SNOMED CT, profiles)."""
    data: dict[str, Any] = yaml.safe_load(
        resources.files("mbcnav.chart").joinpath("problem_codes.yaml").read_text("utf-8")
    )
    return data


# ---- what the chart module returns --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact a finding rests on: what, when, and the resource it came from."""

    text: str
    date: str | None
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "date": self.date, "source": self.source}


@dataclass(frozen=True, slots=True)
class Finding:
    """A gap or an error in the problem list, with the resource that fixes it (to create, or the updated one)."""

    kind: Kind
    site: str | None
    message: str
    evidence: tuple[Evidence, ...]
    proposed: dict[str, Any]
    action: Literal["create", "update"]
    target: str | None = None  # the Condition an update replaces (Type/id)

    @property
    def title(self) -> str:
        """A short line (at most 140 characters: a CDS Hooks card summary)."""
        label = site_label(self.site) if self.site else ""
        text = {
            "missing_metastasis": f"Metastatic disease ({label}) is not on the problem list",
            "stale_stage": "Problem list stage is out of date: the breast cancer is now stage IV",
            "primary_resolved": "Breast cancer is recorded as resolved while metastatic disease is active",
            "missing_primary": "Metastatic breast cancer: the primary breast cancer is not on the problem list",
            "duplicate_site": f"Metastatic site ({label}) is on the problem list twice with different codes",
        }[self.kind]
        return text[:140]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "site": self.site,
            "title": self.title,
            "message": self.message,
            "evidence": [e.as_json() for e in self.evidence],
            "proposed": self.proposed,
            "action": self.action,
            "target": self.target,
        }


@dataclass(frozen=True, slots=True)
class ProblemEntry:
    """One Condition of the problem list as mbcnav reads it."""

    source: str  # Condition/id
    kind: Literal["primary", "secondary", "other"]
    site: str | None  # a site key for a distant metastasis; "lymph_node" (regional or undecided) is not distant
    text: str
    status: str | None  # clinicalStatus code
    stage: str | None  # the stage group on Condition.stage (primary)
    codes: tuple[tuple[str, str], ...]
    date: str | None
    resource: dict[str, Any] = field(repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "site": self.site,
            "text": self.text,
            "status": self.status,
            "stage": self.stage,
            "date": self.date,
        }


@dataclass(frozen=True, slots=True)
class ChartReport:
    patient: str | None
    as_of: date
    metastatic: bool | None
    sites: tuple[str, ...]
    problem_list: tuple[ProblemEntry, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return chart_json(self)


def chart_json(report: ChartReport) -> dict[str, Any]:
    """The versioned contract of `mbcnav chart --format json` (docs/cds-hooks.md, 'The chart')."""
    return {
        "schema_version": SCHEMA_VERSION,
        "patient": report.patient,
        "as_of": report.as_of.isoformat(),
        "metastatic": report.metastatic,
        "sites": list(report.sites),
        "problem_list": [p.as_json() for p in report.problem_list],
        "findings": [f.as_json() for f in report.findings],
        "notes": list(report.notes),
    }


# ---- reading the Conditions -----------------------------------------------------------------------------------------
def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _profiles(res: dict[str, Any]) -> str:
    meta = res.get("meta")
    prof = meta.get("profile") if isinstance(meta, dict) else None
    return " ".join(p for p in prof if isinstance(p, str)) if isinstance(prof, list) else ""


def _date(value: Any) -> PartialDate | None:
    try:
        return PartialDate.parse(value) if isinstance(value, str) else None
    except DateError:
        return None


def _condition_date(res: dict[str, Any]) -> PartialDate | None:
    """When a Condition was known: its onset, else when it was recorded."""
    onset = res.get("onsetDateTime")
    if onset is None and isinstance(res.get("onsetPeriod"), dict):
        onset = res["onsetPeriod"].get("start")
    return _date(onset) or _date(res.get("recordedDate"))


def _closed_date(res: dict[str, Any]) -> PartialDate | None:
    """When a resolved Condition was known to be resolved: its abatement, else when it was recorded (None: the
    resolution is undated, so nothing can be said to come after it)."""
    abate = res.get("abatementDateTime")
    if abate is None and isinstance(res.get("abatementPeriod"), dict):
        abate = res["abatementPeriod"].get("end") or res["abatementPeriod"].get("start")
    return _date(abate) or _date(res.get("recordedDate"))


def on_problem_list(res: dict[str, Any]) -> bool:
    """`category` holds problem-list-item (condition-category, or no system: some EHRs send the bare code)."""
    for cat in _list(res.get("category")):
        if not isinstance(cat, dict):
            continue
        for c in _list(cat.get("coding")):
            if isinstance(c, dict) and c.get("code") == "problem-list-item":
                system = c.get("system")
                if system in (None, CATEGORY_SYSTEM):
                    return True
    return False


def _has_category(res: dict[str, Any]) -> bool:
    return bool(_list(res.get("category")))


def _ref(res: dict[str, Any]) -> str:
    return f"{res.get('resourceType')}/{res.get('id', '?')}"


def patient_conditions(
    located: Sequence[Located], patient_id: str | None, as_of: date | None = None
) -> list[dict[str, Any]]:
    """The patient's Conditions as written (raw FHIR JSON), without refuted or entered-in-error ones; with `as_of`,
    those dated after it are left out (the problem list as known then)."""
    patient_full = next(
        (
            x.full_url
            for x in located
            if x.resource.get("resourceType") == "Patient" and x.resource.get("id") == patient_id
        ),
        None,
    )
    out: list[dict[str, Any]] = []
    for item in located:
        res = item.resource
        if res.get("resourceType") != "Condition":
            continue
        subject = res.get("subject") or res.get("patient")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if isinstance(ref, str) and patient_id is not None:
            mine = ref in (f"Patient/{patient_id}", patient_full) or ref.endswith(f"/Patient/{patient_id}")
            if not mine and not (ref.startswith("urn:uuid:") and patient_full is None):
                continue
        ver = first_code(res.get("verificationStatus"), VERIFICATION_SYSTEM)
        if ver in ("refuted", "entered-in-error"):
            continue
        when = _condition_date(res)
        if as_of is not None and when is not None and when.earliest > as_of:
            continue
        out.append(res)
    return out


def _laterality(a: Assessment) -> str | None:
    return next((p.laterality for p in a.record.primaries if p.laterality != "unknown"), None)


def classify_condition(res: dict[str, Any], laterality: str | None) -> tuple[str, str | None, str]:
    """(kind, site, detail) of a Condition, the way the record reader reads it (markers + sites.yaml)."""
    code = res.get("code")
    kind = markers.condition_kind(code, _profiles(res))
    if kind == "primary":
        return "primary", None, next(iter(texts(code)), "breast cancer")
    if kind != "secondary":
        return "other", None, next(iter(texts(code)), "")
    notes = [str(n["text"]) for n in _list(res.get("note")) if isinstance(n, dict) and isinstance(n.get("text"), str)]
    match = classify_site(code, _list(res.get("bodySite")), notes, laterality)
    return "secondary", match.site, match.detail


def _stage_of(res: dict[str, Any]) -> str | None:
    for st in _list(res.get("stage")):
        summary = st.get("summary") if isinstance(st, dict) else None
        group = markers.parse_stage_group(" ; ".join(texts(summary) + [c for _, c, _ in codings(summary)]))
        if group is not None:
            return group
    return None


def problem_list(conditions: Sequence[dict[str, Any]], laterality: str | None) -> list[ProblemEntry]:
    out = []
    for res in conditions:
        if not on_problem_list(res):
            continue
        kind, site, detail = classify_condition(res, laterality)
        when = _condition_date(res)
        out.append(
            ProblemEntry(
                _ref(res),
                kind,  # type: ignore[arg-type]
                _site_key(site, detail) if site else None,
                next(iter(texts(res.get("code"))), detail or "(no text)"),
                first_code(res.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical"),
                _stage_of(res) if kind == "primary" else None,
                tuple(sorted((s, c) for s, c, _ in codings(res.get("code")) if c)),
                str(when) if when else None,
                res,
            )
        )
    return out


# ---- sites ----------------------------------------------------------------------------------------------------------
def _site_key(site: str, detail: str) -> str:
    """A site of the vocabulary; 'other' sites are told apart by what they are (adrenal gland, ovary...)."""
    if site != "other":
        return site
    return f"other:{detail.strip().lower()[:60]}" if detail else "other"


def _vocab_site(key: str) -> str:
    return key.split(":", 1)[0]


def site_label(key: str | None) -> str:
    if not key:
        return "unspecified site"
    if key.startswith("other:"):
        return key.split(":", 1)[1]
    return str(site_table().vocabulary.get(key, {}).get("label", key.replace("_", " ")))


def _distant_key(m: Metastasis) -> str | None:
    if m.site == "unspecified" or not distant(m):
        return None
    return _site_key(m.site, m.detail)


def _match_text(text: str | None, laterality: str | None) -> str | None:
    """The site of a lesion or specimen described in words, when the words name a distant site."""
    if not text:
        return None
    match = classify_site(None, [], [text], laterality)
    if match.matched_by == "none" or match.site == "lymph_node":
        return None
    if match.site == "other" and match.detail in ("contralateral breast",):
        return None
    return _site_key(match.site, match.detail)


def active_sites(a: Assessment, conditions: Sequence[dict[str, Any]] = ()) -> dict[str, list[Evidence]]:
    """Distant sites the record shows active, each with its evidence: secondary cancer Conditions and history
    Observations (through the assessment), biopsies of a metastasis, and imaging of lesions at a distant site.

    A site whose metastases are all recorded as resolved stays resolved unless a biopsy or an image is dated after
    the resolution (`conditions`, the raw Conditions, give the resolution dates); a biopsy taken when the site was
    found says nothing about now."""
    laterality = _laterality(a)
    out: dict[str, list[Evidence]] = {}
    if not a.stage.metastatic:
        return out
    record = a.record
    raw = {_ref(c): c for c in conditions}
    closed: dict[str, PartialDate | None] = {}  # site -> the latest date a resolved metastasis of it speaks of
    for m in record.metastases:
        key = _distant_key(m)
        if key is None or m.status != "resolved":
            continue
        res = raw.get(m.source.resource)
        until = _closed_date(res) if res is not None else None
        if key not in closed:
            closed[key] = until
        else:
            prev = closed[key]
            closed[key] = None if prev is None or until is None else max(prev, until, key=lambda d: d.latest)

    def add(key: str, evidence: Evidence) -> None:
        if key in closed and key not in out:
            until = closed[key]
            if evidence.date is None or until is None or not _after(evidence.date, until):
                return  # found before the site was closed (or the closing is undated): not evidence of now
        out.setdefault(key, []).append(evidence)

    for m in record.metastases:
        key = _distant_key(m)
        if key is None or m.status == "resolved":
            continue
        closed.pop(key, None)  # an active record of the site: the site is active
        how = f" ({m.method})" if m.method else ""
        out.setdefault(key, []).append(
            Evidence(f"metastasis: {m.detail}{how}", str(m.date) if m.date else None, m.source.resource)
        )
    for r in record.receptors:
        if r.specimen.kind != "metastasis" or not r.specimen.site:
            continue
        site_key = r.specimen.site if r.specimen.site != "other" else None
        key = site_key or _match_text(r.specimen.description, laterality)
        if key is None:
            continue
        add(
            key,
            Evidence(
                f"pathology: {r.marker} tested on a biopsy of {r.specimen.description or site_label(key)}",
                str(r.date) if r.date else None,
                r.source.resource,
            ),
        )
    seen_lesions: set[str] = set()
    for t in sorted(record.measurements, key=lambda t: t.date.earliest if t.date else date.min, reverse=True):
        if t.lesion_id in seen_lesions:
            continue  # the latest assessment of each lesion says whether it is still there
        seen_lesions.add(t.lesion_id)
        if t.status in ("absent", "merged"):
            continue
        key = _match_text(t.site, laterality)
        if key is None:
            continue
        size = f" {t.size_mm:g} mm" if t.size_mm is not None and t.status == "measured" else ""
        method = f" on {t.method}" if t.method else ""
        add(
            key, Evidence(f"imaging: {t.site} lesion{size}{method}", str(t.date) if t.date else None, t.source.resource)
        )
    return out


def _earliest(evidence: Sequence[Evidence]) -> str | None:
    dated = [PartialDate.parse(e.date) for e in evidence if e.date]
    return str(min(dated, key=lambda d: d.earliest)) if dated else None


def metastatic_active(a: Assessment, sites: dict[str, list[Evidence]]) -> bool:
    """Metastatic disease is active now: an active site, or stage IV with no site recorded and neither every
    recorded metastasis resolved nor 'no evidence of disease' as the latest disease status."""
    if sites:
        return True
    if not a.stage.metastatic or a.spread.basis == "all recorded metastases resolved":
        return False
    dated = [s for s in a.record.disease_statuses if s.date is not None]
    latest = max(dated, key=lambda s: s.date.earliest if s.date else date.min) if dated else None
    return latest is None or latest.status != "no_evidence_of_disease"


def _metastatic_evidence(a: Assessment) -> list[Evidence]:
    out = [Evidence(e.text, str(e.date) if e.date else None, e.source) for e in a.stage.metastatic_evidence]
    for line in a.lines:
        drugs = ", ".join(line.drugs)
        sources = sorted({c.exposure.source.resource for c in line.courses})
        out.append(
            Evidence(
                f"line {line.number} of therapy for metastatic disease: {drugs}",
                str(line.start) if line.start else None,
                sources[0] if sources else "(assessment)",
            )
        )
    return out


# ---- proposed resources -----------------------------------------------------------------------------------------
def _patient_ref(a: Assessment) -> dict[str, str]:
    pid = a.record.patient.id
    return {"reference": f"Patient/{pid}"} if pid else {"display": "the patient"}


def _evidence_refs(evidence: Sequence[Evidence]) -> list[dict[str, Any]]:
    refs = []
    for e in evidence:
        rtype, _, rid = e.source.partition("/")
        if rtype in _EVIDENCE_TYPES and rid and rid != "?" and {"reference": e.source} not in refs:
            refs.append({"reference": e.source})
    return [{"detail": refs}] if refs else []


def _primary_ref(a: Assessment) -> str | None:
    for p in a.record.primaries:
        rtype, _, rid = p.source.resource.partition("/")
        if rtype == "Condition" and rid and rid != "?":
            return p.source.resource
    return None


def _concept(code: str, display: str, system: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def secondary_condition(
    a: Assessment, key: str, evidence: Sequence[Evidence], *, text: str | None = None
) -> dict[str, Any]:
    """An mCODE SecondaryCancerCondition for one site (problem-list-item, active, confirmed), ready to post."""
    codes = problem_codes()
    site = _vocab_site(key)
    row = codes["secondary"].get(site) or codes["secondary"]["other"]
    rule = site_table().rule_for_site(site)
    snomed = rule.secondary_code if rule is not None and rule.secondary_code else None
    coding = []
    if snomed:
        coding.append(_concept(snomed["code"], snomed["display"], SNOMED))
    else:
        generic = codes["generic_secondary"]
        coding.append(_concept(generic["code"], generic["display"], SNOMED))
    coding.append(_concept(row["icd10cm"], row["icd10cm_display"], ICD10CM))
    label = site_label(key)
    if text is None:
        text = (
            "Distant (non-regional) lymph node metastasis of breast cancer"
            if site == "distant_lymph_node"
            else f"Metastasis of breast cancer to {label}"
        )
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "meta": {"profile": [codes["profiles"]["secondary"]]},
        "clinicalStatus": {"coding": [{"system": CLINICAL_SYSTEM, "code": "active", "display": "Active"}]},
        "verificationStatus": {
            "coding": [{"system": VERIFICATION_SYSTEM, "code": "confirmed", "display": "Confirmed"}]
        },
        "category": [{"coding": [dict(PROBLEM_LIST_ITEM)]}],
        "code": {"coding": coding, "text": text},
        "subject": _patient_ref(a),
    }
    if rule is not None and rule.body_structure:
        bs = rule.body_structure
        resource["bodySite"] = [{"coding": [_concept(bs["code"], bs["display"], SNOMED)], "text": label}]
    primary = _primary_ref(a)
    if primary:
        resource["extension"] = [{"url": RELATED_EXT, "valueReference": {"reference": primary}}]
    onset = _earliest(evidence)
    if onset:
        resource["onsetDateTime"] = onset
    resource["evidence"] = _evidence_refs(evidence)
    if not resource["evidence"]:
        del resource["evidence"]
    return resource


def _stage_iv(a: Assessment) -> dict[str, Any]:
    system = problem_codes()["stage_system"]
    first = a.stage.first_metastasis
    when = f" since {first}" if first else ""
    return {
        "summary": {"text": f"Stage IV (AJCC 8th edition: distant metastasis, M1){when}"},
        "type": {"coding": [_concept(system["code"], system["display"], SNOMED)]},
    }


def _status(code: str) -> dict[str, Any]:
    return {"coding": [{"system": CLINICAL_SYSTEM, "code": code, "display": code.capitalize()}]}


def _now_status(a: Assessment) -> str:
    """The clinical status of a breast cancer that has spread: a recurrence after curative treatment, else active."""
    return "recurrence" if a.presentation.value == "recurrent" else "active"


def primary_condition(a: Assessment) -> dict[str, Any]:
    """An mCODE PrimaryCancerCondition for the breast cancer (problem-list-item), ready to post."""
    codes = problem_codes()
    sex = "male" if a.record.patient.sex == "male" else "female"
    side = _laterality(a) or "unknown"
    icd = codes["primary"]["icd10cm"][sex].get(side, codes["primary"]["icd10cm"][sex]["unknown"])
    snomed = codes["primary"]["snomed"]
    diagnosis = min(
        (p.diagnosis_date for p in a.record.primaries if p.diagnosis_date), key=lambda d: d.earliest, default=None
    )
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "meta": {"profile": [codes["profiles"]["primary"]]},
        "clinicalStatus": _status(_now_status(a)),
        "verificationStatus": {
            "coding": [{"system": VERIFICATION_SYSTEM, "code": "confirmed", "display": "Confirmed"}]
        },
        "category": [{"coding": [dict(PROBLEM_LIST_ITEM)]}],
        "code": {
            "coding": [
                _concept(snomed["code"], snomed["display"], SNOMED),
                _concept(icd["code"], icd["display"], ICD10CM),
            ],
            "text": "Metastatic breast cancer" + (f" ({side} breast)" if side in ("left", "right") else ""),
        },
        "subject": _patient_ref(a),
        "stage": [_stage_iv(a)],
    }
    if diagnosis:
        resource["onsetDateTime"] = str(diagnosis)
    return resource


def _updated(res: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(res)
    out.pop("text", None)  # the narrative no longer matches: the server regenerates it
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta.pop("versionId", None)
        meta.pop("lastUpdated", None)
    return out


# ---- the findings -----------------------------------------------------------------------------------------------
def _missing_sites(
    a: Assessment,
    sites: dict[str, list[Evidence]],
    entries: Sequence[ProblemEntry],
    conditions: Sequence[dict[str, Any]],
) -> list[Finding]:
    laterality = _laterality(a)
    findings = []
    for key in sorted(sites):
        evidence = sites[key]
        listed = [e for e in entries if e.kind == "secondary" and e.site == key]
        if any(e.active for e in listed):
            continue
        label = site_label(key)
        if listed:  # on the problem list, but no longer active: is there active evidence after it was closed?
            closed = max(listed, key=lambda e: (_closed_date(e.resource) or PartialDate.parse("1900")).earliest)
            until = _closed_date(closed.resource)
            later = [
                e
                for e in evidence
                if e.source != closed.source
                and (e.source.startswith("Condition/") or (until is not None and e.date and _after(e.date, until)))
            ]
            if not later:
                continue
            proposed = _updated(closed.resource)
            proposed["clinicalStatus"] = _status("active")
            proposed.pop("abatementDateTime", None)
            proposed.pop("abatementPeriod", None)
            proposed.pop("abatementString", None)
            message = (
                f"The problem list records the {label} metastasis as {closed.status} ({closed.source}), but the record "
                f"shows it active later: {later[0].text} ({later[0].source}"
                + (f", {later[0].date})" if later[0].date else ")")
                + ". Mark it active again."
            )
            findings.append(
                Finding("missing_metastasis", key, message, tuple(later), proposed, "update", closed.source)
            )
            continue
        # Not on the problem list. A secondary-cancer Condition of that site without any category is updated (it
        # gains the problem-list category); otherwise a new problem-list Condition is proposed.
        uncategorised = [
            c
            for c in conditions
            if not _has_category(c)
            and classify_condition(c, laterality)[0] == "secondary"
            and _site_key(*_site_detail(c, laterality)) == key
            and first_code(c.get("clinicalStatus"), CLINICAL_SYSTEM) not in INACTIVE
        ]
        first = _earliest(evidence)
        since = f" since {first}" if first else ""
        what = "; ".join(f"{e.text} ({e.source})" for e in evidence[:3])
        if uncategorised:
            target = uncategorised[0]
            proposed = _updated(target)
            proposed["category"] = [{"coding": [dict(PROBLEM_LIST_ITEM)]}]
            message = (
                f"Metastatic breast cancer in the {label}{since} is in the record ({_ref(target)}) but not on the "
                f"problem list: add it to the problem list. Evidence: {what}."
            )
            findings.append(
                Finding("missing_metastasis", key, message, tuple(evidence), proposed, "update", _ref(target))
            )
            continue
        message = (
            f"Metastatic breast cancer in the {label}{since} is not on the problem list: clinicians who are not her "
            f"oncologist may miss it. Evidence: {what}."
        )
        findings.append(
            Finding(
                "missing_metastasis", key, message, tuple(evidence), secondary_condition(a, key, evidence), "create"
            )
        )
    return findings


def _site_detail(res: dict[str, Any], laterality: str | None) -> tuple[str, str]:
    _, site, detail = classify_condition(res, laterality)
    return site or "other", detail


def _after(text: str, until: PartialDate) -> bool:
    try:
        d = PartialDate.parse(text)
    except DateError:
        return True
    return d.latest > until.latest


def _unspecified(a: Assessment, entries: Sequence[ProblemEntry], sites: dict[str, list[Evidence]]) -> list[Finding]:
    """Metastatic, but no site is known and nothing metastatic is on the problem list."""
    if sites or any(e.kind == "secondary" and e.site for e in entries if e.active):
        return []
    if any(e.kind == "primary" and e.stage == "IV" and e.active for e in entries):
        return []
    evidence = _metastatic_evidence(a)
    if not evidence:
        return []
    what = "; ".join(f"{e.text} ({e.source})" for e in evidence[:3])
    message = (
        "The record shows metastatic (stage IV) breast cancer but the problem list does not, and no site is "
        f"recorded: add metastatic disease (site to be confirmed). Evidence: {what}."
    )
    proposed = secondary_condition(a, "other", evidence, text="Metastatic breast cancer, site not recorded")
    proposed.pop("bodySite", None)
    return [Finding("missing_metastasis", None, message, tuple(evidence), proposed, "create")]


def _stale_stage(a: Assessment, entries: Sequence[ProblemEntry]) -> list[Finding]:
    out = []
    first = a.stage.first_metastasis
    for e in entries:
        if e.kind != "primary" or e.stage is None or e.stage == "IV":
            continue
        when = _condition_date(e.resource)
        after = first is not None and when is not None and first.latest > when.earliest
        proposed = _updated(e.resource)
        proposed["stage"] = [_stage_iv(a), *_list(proposed.get("stage"))]
        evidence = _metastatic_evidence(a)
        change = (
            f"the disease has since become metastatic (first distant metastasis {first})"
            if after
            else "the record shows distant metastasis"
        )
        message = (
            f"The problem list stages the breast cancer as {e.stage} ({e.source}{', ' + e.date if e.date else ''}); "
            f"{change}: stage IV (AJCC 8th: any M1). Add stage IV; the initial stage stays as history."
        )
        out.append(Finding("stale_stage", None, message, tuple(evidence[:6]), proposed, "update", e.source))
    return out


def _primary_status(a: Assessment, entries: Sequence[ProblemEntry], sites: dict[str, list[Evidence]]) -> list[Finding]:
    primaries = [e for e in entries if e.kind == "primary"]
    evidence = [x for ev in sites.values() for x in ev] or _metastatic_evidence(a)
    out = []
    if not primaries:
        what = "; ".join(f"{x.text} ({x.source})" for x in evidence[:3])
        message = (
            "The patient has metastatic breast cancer but the breast cancer itself is not on the problem list: add it "
            f"(stage IV). Evidence: {what}."
        )
        out.append(Finding("missing_primary", None, message, tuple(evidence[:6]), primary_condition(a), "create"))
        return out
    if any(e.active for e in primaries):
        return out
    for e in primaries:
        status = _now_status(a)
        proposed = _updated(e.resource)
        proposed["clinicalStatus"] = _status(status)
        for key in ("abatementDateTime", "abatementPeriod", "abatementString", "abatementAge", "abatementRange"):
            proposed.pop(key, None)
        what = "; ".join(f"{x.text} ({x.source})" for x in evidence[:3])
        message = (
            f"The breast cancer is recorded as {e.status} on the problem list ({e.source}) while metastatic disease is "
            f"active: set its status to {status}. Evidence: {what}."
        )
        out.append(Finding("primary_resolved", None, message, tuple(evidence[:6]), proposed, "update", e.source))
    return out


def _duplicates(entries: Sequence[ProblemEntry]) -> list[Finding]:
    out = []
    by_site: dict[str, list[ProblemEntry]] = {}
    for e in entries:
        if e.kind == "secondary" and e.site and e.site != "lymph_node" and e.active:
            by_site.setdefault(e.site, []).append(e)
    for key, rows in sorted(by_site.items()):
        if len(rows) < 2 or len({r.codes for r in rows}) < 2:
            continue

        def rank(r: ProblemEntry) -> tuple[int, str]:
            snomed_site = any(s == "snomed" and c != problem_codes()["generic_secondary"]["code"] for s, c in r.codes)
            return (0 if snomed_site else 1, r.date or "9999")

        keep, *others = sorted(rows, key=rank)
        proposed = _updated(keep.resource)
        coding = list(_list((proposed.get("code") or {}).get("coding")))
        seen = {(c.get("system"), c.get("code")) for c in coding if isinstance(c, dict)}
        for other in others:
            for c in _list((other.resource.get("code") or {}).get("coding")):
                if isinstance(c, dict) and (c.get("system"), c.get("code")) not in seen:
                    coding.append(c)
                    seen.add((c.get("system"), c.get("code")))
        proposed.setdefault("code", {})["coding"] = coding
        shown = "; ".join(f"{r.source}: {', '.join(f'{s} {c}' for s, c in r.codes) or r.text}" for r in rows)
        message = (
            f"The {site_label(key)} metastasis is on the problem list {len(rows)} times with different codes "
            f"({shown}). "
            f"Keep {keep.source} with all the codes, and retire "
            + ", ".join(o.source for o in others)
            + " (entered in error if it was a duplicate entry)."
        )
        evidence = tuple(Evidence(f"problem list: {r.text}", r.date, r.source) for r in rows)
        out.append(Finding("duplicate_site", key, message, evidence, proposed, "update", keep.source))
    return out


def check_problem_list(located: Sequence[Located], assessment: Assessment) -> ChartReport:
    """Compare the record with its problem list: the findings, each with the resource that fixes it."""
    a = assessment
    pid = a.record.patient.id
    conditions = patient_conditions(located, pid, a.as_of)
    entries = problem_list(conditions, _laterality(a))
    notes: list[str] = []
    if not entries:
        notes.append(
            "the record holds no problem-list Condition (category problem-list-item): every problem below is missing"
        )
    findings: list[Finding] = []
    sites = active_sites(a, conditions)
    if a.stage.metastatic:
        findings += _missing_sites(a, sites, entries, conditions)
        findings += _stale_stage(a, entries)
        if metastatic_active(a, sites):
            findings += _unspecified(a, entries, sites)
            findings += _primary_status(a, entries, sites)
        else:
            notes.append("no metastatic site is active now (all resolved, or no evidence of disease)")
    elif a.stage.metastatic is None:
        notes.append("whether the disease is metastatic is unknown: the problem list is checked for duplicates only")
    findings += _duplicates(entries)
    return ChartReport(
        pid,
        a.as_of,
        a.stage.metastatic,
        tuple(sorted(sites)),
        tuple(entries),
        tuple(findings),
        tuple(notes),
    )


__all__ = [
    "SCHEMA_VERSION",
    "ChartReport",
    "Evidence",
    "Finding",
    "ProblemEntry",
    "active_sites",
    "chart_json",
    "check_problem_list",
    "on_problem_list",
    "patient_conditions",
    "primary_condition",
    "problem_codes",
    "secondary_condition",
    "site_label",
]
