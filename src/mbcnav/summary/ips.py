"""An HL7 International Patient Summary (FHIR R4 document Bundle) of the case, reusing the record's own resources."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from mbcnav.assess.labs import display_number
from mbcnav.dates import DateError, PartialDate
from mbcnav.record.inputs import Located
from mbcnav.record.model import Record, Source
from mbcnav.summary.document import CaseSummary

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation

LOINC = "http://loinc.org"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition"
IPS = "http://hl7.org/fhir/uv/ips/StructureDefinition"
XHTML = "http://www.w3.org/1999/xhtml"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
_NS = uuid.UUID("1d3b2a66-8a0e-4f4b-9f57-2f0c8e6a5b31")  # fixed namespace: the same inputs give the same ids

# The IPS sections this document uses: key -> (LOINC code, display, title). IPS requires the first three.
SECTIONS: dict[str, tuple[str, str, str]] = {
    "problems": ("11450-4", "Problem list - Reported", "Active Problems"),
    "medications": ("10160-0", "History of Medication use Narrative", "Medication Summary"),
    "allergies": ("48765-2", "Allergies and adverse reactions Document", "Allergies and Intolerances"),
    "results": ("30954-2", "Relevant diagnostic tests/laboratory data note", "Results"),
    "procedures": ("47519-4", "History of Procedures Document", "History of Procedures"),
    "past_problems": ("11348-0", "History of Past illness note", "History of Past Problems"),
    "plan": ("18776-5", "Plan of care note", "Plan of Care"),
}
# Resources pulled in because a kept resource points at them (not facts of their own).
SUPPORT_TYPES = frozenset(
    {
        "Specimen",
        "BodyStructure",
        "Medication",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "Device",
    }
)
_MEDICATION_TYPES = frozenset(
    {"MedicationRequest", "MedicationStatement", "MedicationAdministration", "MedicationDispense"}
)
_PAST_STATUS = frozenset({"inactive", "remission", "resolved"})


# ---- narrative (XHTML, escaped) --------------------------------------------------------------------------------------
def _div(*blocks: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{"".join(blocks)}</div>'}


def _p(text: str, bold: str | None = None) -> str:
    head = f"<b>{escape(bold)}</b> " if bold else ""
    return f"<p>{head}{escape(text)}</p>"


def _ul(items: Iterable[str]) -> str:
    rows = "".join(f"<li>{escape(x)}</li>" for x in items)
    return f"<ul>{rows}</ul>" if rows else ""


def _table(headers: Sequence[str], rows: Iterable[Sequence[str | None]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{escape(c or '—')}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _u(value: Any) -> str:
    """A value or the word unknown (never left out)."""
    return "unknown" if value is None or value == "" or value == "unknown" else str(value)


# ---- which resources, and their new fullUrls -------------------------------------------------------------------------
def _profiled_sources(record: Record) -> Iterator[tuple[Source, str | None]]:
    """Every source of a fact with the mCODE STU4 profile its resource plays (None: no mCODE profile)."""
    p = record.patient
    if p.source is not None:
        yield p.source, "mcode-cancer-patient"
    for x in record.primaries:
        yield x.source, "mcode-primary-cancer-condition"
    for m in record.metastases:
        yield m.source, "mcode-secondary-cancer-condition"
    for r in record.receptors:
        yield r.source, "mcode-tumor-marker-test"
    for g in record.genomics:
        yield g.source, "mcode-genomic-variant"
    axis = {"T": "primary-tumor", "N": "regional-nodes", "M": "distant-metastases"}
    for t in record.tnm:
        yield t.source, f"mcode-tnm-{axis[t.axis]}-category"
    for sg in record.stage_groups:
        yield sg.source, "mcode-tnm-stage-group" if sg.source.resource.startswith("Observation/") else None
    for ps in record.performance:
        yield ps.source, "mcode-ecog-performance-status" if ps.scale == "ECOG" else "mcode-karnofsky-performance-status"
    for th in record.therapies:
        kind = th.source.resource.split("/")[0]
        yield (
            th.source,
            {
                "MedicationRequest": "mcode-cancer-related-medication-request",
                "MedicationAdministration": "mcode-cancer-related-medication-administration",
            }.get(kind),
        )
    for lt in record.local_treatments:
        yield (
            lt.source,
            (
                "mcode-radiotherapy-course-summary"
                if lt.kind == "radiotherapy"
                else "mcode-cancer-related-surgical-procedure"
            ),
        )
    for le in record.lesions:
        yield le.source, "mcode-tumor" if le.source.resource.startswith("BodyStructure/") else None
    for me in record.measurements:
        yield me.source, "mcode-tumor-size" if me.status == "measured" and me.size_mm is not None else None
    for ds in record.disease_statuses:
        yield ds.source, "mcode-cancer-disease-status"
    others: tuple[Iterable[Any], ...] = (
        record.signatures,
        record.comorbidities,
        record.judgements,
        record.labs,
        record.menopause_readings,
        record.findings,
    )
    for group in others:
        for fact in group:
            yield fact.source, None


def _key(res: dict[str, Any]) -> str:
    return f"{res.get('resourceType')}/{res.get('id')}"


@dataclass
class _Index:
    """The input's resources by location, by Type/id and by fullUrl."""

    items: list[Located]
    by_location: dict[str, Located] = field(default_factory=dict)
    by_key: dict[str, Located] = field(default_factory=dict)
    by_url: dict[str, Located] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for item in self.items:
            res = item.resource
            if not isinstance(res.get("resourceType"), str) or res.get("resourceType") == "__invalid__":
                continue
            self.by_location.setdefault(item.location, item)
            if isinstance(res.get("id"), str):
                self.by_key.setdefault(_key(res), item)
            if item.full_url:
                self.by_url.setdefault(item.full_url, item)

    def source(self, src: Source) -> Located | None:
        hit = self.by_location.get(src.location)
        if hit is not None and _key(hit.resource) == src.resource:
            return hit
        return self.by_key.get(src.resource)

    def target(self, ref: str) -> Located | None:
        ref = ref.split("/_history/")[0]
        hit = self.by_url.get(ref) or self.by_key.get(ref)
        if hit is None and "/" in ref and not ref.startswith("urn:"):
            parts = ref.rstrip("/").split("/")
            if len(parts) >= 2:
                hit = self.by_key.get(f"{parts[-2]}/{parts[-1]}")
        return hit


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield ref
        for v in node.values():
            if isinstance(v, dict | list):
                yield from _references(v)
    elif isinstance(node, list):
        for v in node:
            yield from _references(v)


def _valid(res: dict[str, Any]) -> bool:
    """True when the fhir.resources R4B model accepts the resource (the project's FHIR R4 check, docs/fhir.md)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(str(res.get("resourceType"))).model_validate(res)
    except (ValidationError, ValueError, TypeError, KeyError, RecursionError):
        return False
    return True


def _parse(value: Any) -> PartialDate | None:
    if not isinstance(value, str):
        return None
    try:
        return PartialDate.parse(value)
    except DateError:
        return None


def _after(value: Any, as_of: date) -> bool:
    d = _parse(value)
    return d is not None and d.earliest > as_of


def _as_known(res: dict[str, Any], as_of: date) -> None:
    """As known on `as_of`: a period end or an abatement dated later is not yet known (removed); a therapy or a
    procedure that ended later was still going on."""
    ended_later = False

    def walk(node: Any) -> None:
        nonlocal ended_later
        if isinstance(node, dict):
            if _after(node.get("end"), as_of):
                del node["end"]
                ended_later = True
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(res)
    for k in ("abatementDateTime", "abatementString"):
        if _after(res.get(k), as_of):
            del res[k]
    medication = res.get("resourceType") in ("MedicationRequest", "MedicationStatement")
    if ended_later and medication and res.get("status") in ("completed", "stopped"):
        res["status"] = "active"
        res.pop("statusReason", None)
    if ended_later and res.get("resourceType") == "Procedure" and res.get("status") == "completed":
        res["status"] = "in-progress"


def _rewrite(node: Any, resolve: dict[str, str]) -> None:
    """Point every reference at the new fullUrl of its target; a target left out keeps only a display text."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and not ref.startswith("#"):
            new = resolve.get(ref)
            if new is not None:
                node["reference"] = new
            else:
                del node["reference"]
                node.setdefault("display", f"{ref} (not part of this summary)")
        for v in node.values():
            if isinstance(v, dict | list):
                _rewrite(v, resolve)
    elif isinstance(node, list):
        for v in node:
            _rewrite(v, resolve)


@dataclass
class _Entry:
    full_url: str
    resource: dict[str, Any]
    origin: Located | None = None


# ---- the sections --------------------------------------------------------------------------------------------------
def _section(key: str, text: dict[str, str], entries: Sequence[str], empty: str | None = None) -> dict[str, Any]:
    code, display, title = SECTIONS[key]
    sec: dict[str, Any] = {
        "title": title,
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "text": text,
    }
    if entries:
        sec["entry"] = [{"reference": u} for u in entries]
    elif empty is not None:
        sec["emptyReason"] = {
            "coding": [{"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}],
            "text": empty,
        }
    return sec


def _code_text(res: dict[str, Any]) -> str:
    code = res.get("code") or res.get("medicationCodeableConcept") or {}
    if isinstance(code, dict):
        if isinstance(code.get("text"), str):
            return str(code["text"])
        for c in code.get("coding") or []:
            if isinstance(c, dict) and (c.get("display") or c.get("code")):
                return str(c.get("display") or c.get("code"))
    return str(res.get("resourceType", "resource"))


def _status_code(res: dict[str, Any]) -> str | None:
    cs = res.get("clinicalStatus")
    if isinstance(cs, dict):
        for c in cs.get("coding") or []:
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                return str(c["code"])
    return None


def _onset(res: dict[str, Any]) -> str | None:
    for k in ("onsetDateTime", "recordedDate", "onsetString"):
        if isinstance(res.get(k), str):
            return str(res[k])
    period = res.get("onsetPeriod")
    return str(period.get("start")) if isinstance(period, dict) and period.get("start") else None


def _disease_line(s: CaseSummary) -> str:
    d = s.disease
    st = d.subtype
    pres = {"de_novo": "de novo", "recurrent": "recurrent", "not_metastatic": "not metastatic"}.get(
        d.presentation, "presentation unknown"
    )
    mfi = f", metastasis-free interval {d.mfi_months:g} months" if d.mfi_months is not None else ""
    sites = ", ".join(x.replace("_", " ") for x in d.active_sites) or (
        "no active distant site" if d.metastatic else "none"
    )
    return (
        f"Breast cancer, stage {_u(d.stage)} ({pres}{mfi}); subtype {_u(st.group)} — ER {_u(st.er)}, PR {_u(st.pr)}, "
        f"HER2 {_u(st.her2)} — from {_u(st.specimen_dated)}; active distant sites: {sites}; "
        f"ECOG {_u(d.ecog)}{f' ({d.ecog_date})' if d.ecog_date else ''}."
    )


def _problems_text(s: CaseSummary, conditions: list[dict[str, Any]]) -> dict[str, str]:
    rows = [(_code_text(r), _status_code(r), _onset(r)) for r in conditions]
    blocks = [_p(_disease_line(s), "Summary:")]
    if s.disease.subtype.discordance:
        blocks.append(
            _p(
                "; ".join(
                    f"{x.marker}: primary {_u(x.primary)} ({_u(x.primary_date)}) vs metastasis {_u(x.metastasis)} "
                    f"({_u(x.metastasis_date)}), the call uses the {_u(x.used)}"
                    for x in s.disease.subtype.discordance
                ),
                "Receptor discordance:",
            )
        )
    blocks.append(_table(("problem", "clinical status", "onset"), rows))
    if not rows:
        blocks.append(_p("No active problem (Condition) is recorded in the source record."))
    return _div(*blocks)


def _medications_text(s: CaseSummary) -> dict[str, str]:
    rows: list[tuple[str | None, ...]] = [
        (t.drug, t.setting, t.start, t.end or "ongoing", t.reason_stopped) for t in s.early_therapies
    ]
    for ln in s.lines:
        rows.append(
            (
                ", ".join(ln.drugs),
                f"metastatic, line {ln.number}",
                ln.start,
                "ongoing" if ln.ongoing else ln.end,
                ln.reason_stopped,
            )
        )
    note = _p(
        "Cancer-related medicines read from the oncology record only; other medicines the patient may take are not "
        "known to this summary."
    )
    if not rows:
        return _div(_p("No information about medicines is available in the source record."), note)
    return _div(_table(("medicine", "setting", "start", "end", "stopped because"), rows), note)


def _results_text(s: CaseSummary, n_measurements: int) -> dict[str, str]:
    d = s.disease
    blocks = []
    rows = []
    for g in d.subtype.by_specimen:
        for r in g.results:
            rows.append((g.label, g.date, r.marker, r.text))
    blocks.append(_p("Receptors and tumour markers by specimen:", None))
    blocks.append(_table(("specimen", "date", "marker", "result"), rows) or _p("ER, PR and HER2: unknown."))
    if d.biomarkers:
        blocks.append(
            _table(
                ("gene / signature", "origin", "result", "variant", "date"),
                [(b.gene, b.origin, b.result.replace("_", " "), b.variant, b.date) for b in d.biomarkers],
            )
        )
    else:
        blocks.append(_p("Germline and tumour genomics: unknown (no result in the record)."))
    if d.labs:
        blocks.append(
            _table(
                ("analyte", "value", "date", "flag", "reference range"),
                [(x.analyte, f"{display_number(x.value)} {x.unit}", x.date, x.flag, x.reference) for x in d.labs],
            )
        )
    blocks.append(
        _p(
            f"Performance status: ECOG {_u(d.ecog)}{f' ({d.ecog_date})' if d.ecog_date else ''}"
            f"{f'; Karnofsky {d.karnofsky}' if d.karnofsky is not None else ''}. "
            f"Tumour measurements (RECIST 1.1 raw data): {n_measurements}."
        )
    )
    return _div(*blocks)


def _procedures_text(s: CaseSummary) -> dict[str, str]:
    rows = [(t.kind, t.description, t.start, t.end, t.site, t.intent) for t in s.local_treatments]
    if not rows:
        return _div(_p("No surgery or radiotherapy is recorded in the source record."))
    return _div(_table(("kind", "procedure", "start", "end", "site", "intent"), rows))


def _past_text(s: CaseSummary, conditions: list[dict[str, Any]]) -> dict[str, str]:
    dx = s.disease.diagnosis
    blocks = [
        _p(
            f"{_u(dx.description)}: histology {_u(dx.histology)}, grade {_u(dx.grade)}, diagnosed {_u(dx.date)}, "
            f"initial stage {_u(dx.initial_stage)}.",
            "First diagnosis:",
        )
    ]
    rows = [(_code_text(r), _status_code(r), _onset(r)) for r in conditions]
    blocks.append(_table(("past problem", "clinical status", "onset"), rows))
    if not rows:
        blocks.append(_p("No resolved or inactive problem (Condition) is recorded in the source record."))
    return _div(*blocks)


def _evidence_text(s: CaseSummary, option_id: str) -> str:
    o = next(x for x in s.options if x.id == option_id)
    parts = [
        f"{e.name}{f' ({e.year})' if e.year else ''}"
        + (f" PMID {e.pmid}" if e.pmid else "")
        + (f" doi:{e.doi}" if e.doi else "")
        for e in o.evidence
    ]
    parts += [f"guideline: {g.citation}" for g in o.guidelines]
    return "; ".join(parts)


def _plan_text(s: CaseSummary) -> dict[str, str]:
    blocks = [_p(f"{s.disclaimer} Knowledge base {s.kb_version} (reviewed {s.kb_reviewed}).")]
    blocks += [_p(n) for n in s.option_notes]
    for tier, items in s.options_by_tier():
        blocks.append(_p("", f"{tier.capitalize()}:"))
        blocks.append(
            _ul(f"{o.title} — {o.regimen} — evidence: {_evidence_text(s, o.id) or 'none cited'}" for o in items)
        )
    if not s.options:
        blocks.append(_p("No option is offered by the knowledge base for this record."))
    if s.not_offered:
        blocks.append(_p("", "Not offered, and why:"))
        blocks.append(_ul(f"{x.title}: {'; '.join(x.why_not)}" for x in s.not_offered))
    if s.tests:
        blocks.append(_p("", "Tests that would change the options:"))
        blocks.append(_ul(f"{t.test} ({t.why})" for t in s.tests))
    if s.unknowns:
        blocks.append(_p("", "Unknown and matters:"))
        blocks.append(_ul(f"{u.item}: {u.why} → {u.action}" for u in s.unknowns))
    if s.referrals:
        blocks.append(_p("", "Referrals:"))
        blocks.append(_ul(f"{r.to.replace('_', ' ')} ({r.urgency}): {r.why}" for r in s.referrals))
    blocks.append(_p(s.trials.note, "Clinical trials:"))
    if s.trials.candidates:
        blocks.append(_ul(f"{t.nct_id}: {t.title} ({t.verdict.replace('_', ' ')})" for t in s.trials.candidates))
    if s.questions:
        blocks.append(_p("", "Questions the patient wants answered:"))
        blocks.append(_ul(s.questions))
    return _div(*blocks)


# ---- the generated resources -----------------------------------------------------------------------------------------
def _uri(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, key)}"


def _activity(kind: str | None, code: str, description: str, uris: Sequence[str], reasons: Sequence[str]) -> Any:
    detail: dict[str, Any] = {"status": "not-started", "code": {"text": code}, "description": description}
    if kind:
        detail["kind"] = kind
    if uris:
        detail["instantiatesUri"] = list(dict.fromkeys(uris))
    if reasons:
        detail["reasonReference"] = [{"reference": r} for r in reasons]
    return {"detail": detail}


def _options_plan(
    s: CaseSummary, rid: str, patient: str, author: str, addresses: Sequence[str], created: str
) -> dict[str, Any]:
    acts = []
    for o in s.options:
        uris = [e.url for e in o.evidence if e.url] + [g.url for g in o.guidelines if g.url]
        kind = "MedicationRequest" if o.modality == "systemic" else "ServiceRequest"
        why = "; ".join(o.why)
        acts.append(
            _activity(
                kind,
                o.title,
                f"{o.tier.upper()}: {o.regimen}. Why: {why}. Evidence: {_evidence_text(s, o.id) or 'none cited'}",
                [u for u in uris if u],
                addresses,
            )
        )
    for t in s.tests:
        acts.append(_activity("ServiceRequest", t.test, f"Test to ask for: {t.why}", [], addresses))
    for r in s.referrals:
        acts.append(_activity("ServiceRequest", f"Referral: {r.to.replace('_', ' ')}", f"{r.urgency}: {r.why}", [], []))
    notes = [{"text": f"Not offered — {x.title}: {'; '.join(x.why_not)}"} for x in s.not_offered]
    notes += [{"text": f"Unknown — {u.item}: {u.why} ({u.action})"} for u in s.unknowns]
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": rid,
        "text": _div(
            _p(f"Treatment options to discuss for this patient (knowledge base {s.kb_version}). {s.disclaimer}"),
            _ul(f"{o.tier}: {o.title}" for o in s.options),
        ),
        "status": "draft",
        "intent": "proposal",
        "title": "Treatment options to discuss (decision support, not a decision)",
        "description": f"Guideline-concordant options, tests and referrals from mbcnav's knowledge base {s.kb_version} "
        f"(reviewed {s.kb_reviewed}), as of {s.as_of}. {s.disclaimer}",
        "subject": {"reference": patient},
        "created": created,
        "author": {"reference": author},
    }
    if addresses:
        plan["addresses"] = [{"reference": a} for a in addresses]
    if acts:
        plan["activity"] = acts
    if notes:
        plan["note"] = notes
    return plan


def _trials_plan(s: CaseSummary, rid: str, patient: str, author: str, created: str) -> dict[str, Any]:
    acts = [
        _activity(
            None,
            f"Ask the study team about {t.nct_id}",
            f"{t.title} — {t.verdict.replace('_', ' ')}; status {t.status.lower().replace('_', ' ')}"
            + (f"; open questions: {' | '.join(t.questions[:5])}" if t.questions else ""),
            [t.url],
            [],
        )
        for t in s.trials.candidates + s.trials.expanded_access
    ]
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": rid,
        "text": _div(_p(s.trials.note), _ul(f"{t.nct_id}: {t.title}" for t in s.trials.candidates)),
        "status": "draft",
        "intent": "proposal",
        "title": "Clinical trials to ask about",
        "description": s.trials.note + (f" {s.trials.attribution}" if s.trials.attribution else ""),
        "subject": {"reference": patient},
        "created": created,
        "author": {"reference": author},
    }
    if acts:
        plan["activity"] = acts
    return plan


def _device(rid: str, version: str) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": rid,
        "text": _div(_p(f"mbcnav {version}: decision support software that generated this summary.")),
        "deviceName": [{"name": "mbcnav", "type": "user-friendly-name"}],
        "type": {"text": "Clinical decision support software"},
        "version": [{"value": version}],
    }


def _patient(record: Record, rid: str) -> dict[str, Any]:
    p = record.patient
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": rid,
        "meta": {"profile": [f"{MCODE}/mcode-cancer-patient"]},
        "text": _div(_p(f"Patient {p.id or '(no id in the record)'}; no Patient resource was in the record.")),
        "gender": p.sex,
    }
    if p.birth_date is not None:
        res["birthDate"] = str(p.birth_date)
    return res


# ---- the document --------------------------------------------------------------------------------------------------
def build_ips(
    ev: Evaluation,
    summary: CaseSummary,
    resources: Sequence[Located] | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The IPS document Bundle: a Composition (LOINC 60591-5) with the IPS sections, the record's own resources as
    entries (codes kept, mCODE profiles added where a resource has none), and generated CarePlans for the options
    and trial candidates. Every reference resolves to an entry's urn:uuid fullUrl."""
    record = ev.record
    when = (now or datetime.fromisoformat(summary.generated_at)).isoformat(timespec="seconds")
    pkey = record.patient.id or "patient"
    index = _Index(list(resources or []))

    # 1. the record's resources behind its facts, and the profile each plays
    chosen: dict[int, Located] = {}
    profiles: dict[int, str] = {}
    for src, profile in _profiled_sources(record):
        item = index.source(src)
        if item is None:
            continue
        chosen.setdefault(id(item), item)
        if profile and id(item) not in profiles:
            profiles[id(item)] = profile
    patient_item = index.source(record.patient.source) if record.patient.source else None
    # allergies are not facts mbcnav reads: the patient's own AllergyIntolerance resources, as known on as_of
    if patient_item is not None:
        patient_refs = {_key(patient_item.resource)} | ({patient_item.full_url} if patient_item.full_url else set())
        for item in index.items:
            res = item.resource
            if res.get("resourceType") != "AllergyIntolerance":
                continue
            ref = (res.get("patient") or {}).get("reference") if isinstance(res.get("patient"), dict) else None
            target = index.target(ref) if isinstance(ref, str) else None
            recorded = res.get("recordedDate") or res.get("onsetDateTime")
            if (target is patient_item or ref in patient_refs) and not _after(recorded, ev.as_of):
                chosen.setdefault(id(item), item)
    # 2. what they point at: supporting resources (specimens, lesions, medications, practitioners) come along
    queue = list(chosen.values())
    while queue:
        item = queue.pop()
        for ref in _references(item.resource):
            if ref.startswith("#"):
                continue
            target = index.target(ref)
            if target is None or id(target) in chosen:
                continue
            if target.resource.get("resourceType") in SUPPORT_TYPES:
                chosen[id(target)] = target
                queue.append(target)
    # 3. only what the FHIR R4 model accepts goes into the document (the facts stay in the narrative)
    left_out = [item for item in chosen.values() if not _valid(item.resource)]
    for item in left_out:
        del chosen[id(item)]
    # 4. fullUrls: the record's own urn:uuid when it has one, else a stable new one
    entries: list[_Entry] = []
    resolve: dict[str, str] = {}
    used: set[str] = set()
    for item in chosen.values():
        url = item.full_url if item.full_url and re.fullmatch(r"urn:uuid:[0-9a-fA-F-]{36}", item.full_url) else None
        if url is None or url in used:
            url = _uri(f"{pkey}|{_key(item.resource)}|{item.location}")
        used.add(url)
        entries.append(_Entry(url, copy.deepcopy(item.resource), item))
        resolve[_key(item.resource)] = url
        if item.full_url:
            resolve[item.full_url] = url
    # references written as absolute URLs or with a version resolve too
    for item in chosen.values():
        for ref in _references(item.resource):
            target = index.target(ref)
            if target is not None and id(target) in chosen and ref not in resolve:
                resolve[ref] = resolve[_key(target.resource)]
    # 5. the patient (the record's, or a minimal one when the record had none) and the generated resources
    if patient_item is not None and id(patient_item) in chosen:
        patient_url = resolve[_key(patient_item.resource)]
    else:
        pid = record.patient.id or str(uuid.uuid5(_NS, f"{pkey}|patient"))
        patient_url = _uri(f"{pkey}|Patient/{pid}")
        entries.insert(0, _Entry(patient_url, _patient(record, pid)))
        if record.patient.id:
            resolve[f"Patient/{record.patient.id}"] = patient_url
    for e in entries:
        if e.origin is None:
            continue
        _as_known(e.resource, ev.as_of)
        _rewrite(e.resource, resolve)
        profile = profiles.get(id(e.origin))
        meta = e.resource.get("meta") if isinstance(e.resource.get("meta"), dict) else None
        if profile and not (meta and meta.get("profile")):
            e.resource["meta"] = {**(meta or {}), "profile": [f"{MCODE}/{profile}"]}

    # 6. sections
    def kind(e: _Entry) -> str:
        return str(e.resource.get("resourceType"))

    facts = [e for e in entries if kind(e) not in SUPPORT_TYPES and kind(e) != "Patient"]
    active = [e for e in facts if kind(e) == "Condition" and _status_code(e.resource) not in _PAST_STATUS]
    past = [e for e in facts if kind(e) == "Condition" and _status_code(e.resource) in _PAST_STATUS]
    meds = [e for e in facts if kind(e) in _MEDICATION_TYPES]
    allergies = [e for e in facts if kind(e) == "AllergyIntolerance"]
    results = [e for e in facts if kind(e) in ("Observation", "DiagnosticReport")]
    procedures = [e for e in facts if kind(e) == "Procedure"]
    device_url = _uri(f"device|mbcnav|{summary.mbcnav_version}")
    device_id = f"mbcnav-{summary.mbcnav_version}".replace(".", "-")
    primary = next((e for e in facts if e.origin is not None and _is_primary(e, record)), None)
    addresses = [primary.full_url] if primary is not None else []
    stamp = f"{pkey}|{summary.as_of}|{when}"
    plan_url = _uri(f"careplan|options|{stamp}")
    plans = [
        _Entry(
            plan_url, _options_plan(summary, str(uuid.uuid5(_NS, plan_url)), patient_url, device_url, addresses, when)
        )
    ]
    if summary.trials.searched:
        trials_url = _uri(f"careplan|trials|{stamp}")
        plans.append(
            _Entry(trials_url, _trials_plan(summary, str(uuid.uuid5(_NS, trials_url)), patient_url, device_url, when))
        )
    n_measurements = sum(1 for x in record.measurements)
    sections = [
        _section(
            "problems",
            _problems_text(summary, [e.resource for e in active]),
            [e.full_url for e in active],
            "No active problem is recorded in the source record.",
        ),
        _section(
            "medications",
            _medications_text(summary),
            [e.full_url for e in meds],
            "No information about medicines is available in the source record.",
        ),
        _section(
            "allergies",
            _div(
                _p(
                    "No information about allergies or intolerances is available in the source record (mbcnav reads "
                    "the oncology record; an absent allergy list does not mean no known allergies)."
                )
            )
            if not allergies
            else _div(
                _table(
                    ("allergy or intolerance", "clinical status"),
                    [(_code_text(e.resource), _status_code(e.resource)) for e in allergies],
                )
            ),
            [e.full_url for e in allergies],
            "No information about allergies or intolerances is available in the source record.",
        ),
        _section(
            "results",
            _results_text(summary, n_measurements),
            [e.full_url for e in results],
            "No result is recorded in the source record.",
        ),
        _section(
            "procedures",
            _procedures_text(summary),
            [e.full_url for e in procedures],
            "No procedure is recorded in the source record.",
        ),
        _section(
            "past_problems",
            _past_text(summary, [e.resource for e in past]),
            [e.full_url for e in past],
            None,
        ),
        _section("plan", _plan_text(summary), [p.full_url for p in plans]),
    ]
    if not past:  # the narrative states the first diagnosis; no Condition entry, so say why the list is empty
        sections[5]["emptyReason"] = {
            "coding": [{"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}],
            "text": "No resolved or inactive problem is recorded in the source record.",
        }
    comp_id = str(uuid.uuid5(_NS, f"composition|{stamp}"))
    title = (
        f"Patient summary — metastatic breast cancer — patient {summary.patient.id or '(no id)'}, as of {summary.as_of}"
    )
    event: dict[str, Any] = {
        "code": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActClass", "code": "PCPR"}]}],
        "period": {"end": summary.as_of},
    }
    if summary.disease.diagnosis.date:
        event["period"]["start"] = summary.disease.diagnosis.date
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "id": comp_id,
        "meta": {"profile": [f"{IPS}/Composition-uv-ips"]},
        "language": "en",
        "text": _div(
            _p(title, None),
            _p(_disease_line(summary)),
            _p(
                f"Generated by mbcnav {summary.mbcnav_version} on {when} from the record as known on {summary.as_of}; "
                "not attested by a clinician. Decision support, not a decision."
            ),
            _p(
                f"{len(left_out)} resource(s) of the record fail the FHIR R4 model and are left out of this document "
                f"(their facts stay in the narrative): {', '.join(_key(i.resource) for i in left_out[:10])}."
            )
            if left_out
            else "",
        ),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{comp_id}"},
        "status": "preliminary",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": patient_url},
        "date": when,
        "author": [{"reference": device_url, "display": f"mbcnav {summary.mbcnav_version}"}],
        "title": title,
        "confidentiality": "N",
        "event": [event],
        "section": sections,
    }
    comp_url = f"urn:uuid:{comp_id}"
    patient_entry = next(e for e in entries if e.full_url == patient_url)
    ordered = [patient_entry] + [e for e in entries if e is not patient_entry] + plans
    ordered.append(_Entry(device_url, _device(device_id, summary.mbcnav_version)))
    bundle_id = str(uuid.uuid5(_NS, f"bundle|{stamp}"))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [f"{IPS}/Bundle-uv-ips"]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{bundle_id}"},
        "type": "document",
        "timestamp": when,
        "entry": [{"fullUrl": comp_url, "resource": composition}]
        + [{"fullUrl": e.full_url, "resource": e.resource} for e in ordered],
    }
    return bundle


def _is_primary(e: _Entry, record: Record) -> bool:
    key = _key(e.resource)
    return any(p.source.resource == key for p in record.primaries)


def references(bundle: dict[str, Any]) -> list[str]:
    """Every reference in the Bundle (contained '#id' references excluded)."""
    return [r for r in _references(bundle) if not r.startswith("#")]


__all__ = ["SECTIONS", "build_ips", "references"]
