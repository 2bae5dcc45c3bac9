"""Population screening, engine-independent: how a Bulk Data line is keyed to its patient, the pure per-patient
function (the same pathway as every face: mbcnav.pathway.evaluate, the chart's problem-list check, the monitoring
plan, trial matching), the output tables' schemas and sort orders, and the counts behind the summary.

Both engines (cohort/local.py, cohort/spark.py) call `classify_line` on every line and `screen_patient` on every
patient's lines; so they give the same tables, row for row."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mbcnav.dates import PartialDate
from mbcnav.record.inputs import Located, UnusableInput, loads_json

if TYPE_CHECKING:
    from mbcnav.trials.criteria import Criterion
    from mbcnav.trials.records import Trial

# ---- the tables ----------------------------------------------------------------------------------------------------
# Column types: "str", "int", "bool", "float" (Parquet: string, int64, boolean, double); any value may be null.
Schema = tuple[tuple[str, str], ...]
TABLES: dict[str, Schema] = {
    "patients": (
        ("patient_id", "str"),
        ("has_patient_resource", "bool"),
        ("readable", "bool"),
        ("sex", "str"),
        ("age", "int"),
        ("breast_cancer", "bool"),
        ("metastatic", "bool"),
        ("stage", "str"),
        ("presentation", "str"),
        ("subtype", "str"),
        ("her2_category", "str"),
        ("sites", "str"),  # sorted, joined with ";"
        ("visceral", "bool"),
        ("cns", "bool"),
        ("lines", "int"),
        ("ecog", "int"),
        ("endocrine_resistance", "str"),
        ("unknowns", "int"),
        ("conflicts", "int"),
        ("input_issues", "int"),
        ("resources", "int"),
        ("chart_findings", "int"),
        ("overdue", "int"),
        ("trial_candidates", "int"),
    ),
    "chart_findings": (
        ("patient_id", "str"),
        ("seq", "int"),
        ("kind", "str"),
        ("site", "str"),
        ("title", "str"),
        ("action", "str"),
        ("target", "str"),
    ),
    "monitoring_due": (
        ("patient_id", "str"),
        ("seq", "int"),
        ("activity", "str"),
        ("what", "str"),
        ("kind", "str"),
        ("status", "str"),  # overdue | due_soon (due within DUE_SOON_DAYS of the as-of date)
        ("due", "str"),
        ("last_done", "str"),
        ("drugs", "str"),
    ),
    "trial_candidates": (
        ("patient_id", "str"),
        ("rank", "int"),
        ("nct_id", "str"),
        ("verdict", "str"),
        ("score", "float"),
        ("relevance", "str"),
        ("title", "str"),
    ),
    "problems": (
        ("file", "str"),  # "" for a problem of a patient's record as a whole
        ("line", "int"),  # 1-based; 0 for a problem of a patient's record
        ("kind", "str"),  # malformed | orphan | no_patient_resource | unusable_record | internal_error
        ("patient_id", "str"),
        ("resource_type", "str"),
        ("message", "str"),
    ),
}
# Every table is sorted on these columns (never null): a re-run, or the other engine, gives the same rows in order.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "chart_findings": ("patient_id", "seq"),
    "monitoring_due": ("patient_id", "seq"),
    "trial_candidates": ("patient_id", "rank"),
    "problems": ("file", "line", "patient_id", "kind", "message"),
}
PATIENT_TABLES = ("patients", "chart_findings", "monitoring_due", "trial_candidates")
DUE_SOON_DAYS = 30
TOP_TRIALS = 5
# Resource types that belong to no patient by design (reference data): counted, not reported as orphans.
# Medication is kept: a MedicationRequest's medicationReference is resolved against it.
SHARED_TYPES = frozenset(
    {
        "Medication",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "Device",
        "Substance",
        "Group",
        "Endpoint",
        "HealthcareService",
        "Questionnaire",
        "ValueSet",
        "CodeSystem",
        "ResearchStudy",
    }
)

Row = tuple[Any, ...]

# ---- lines -> patients ---------------------------------------------------------------------------------------------
_PATIENT_REF = re.compile(r"^(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")


def patient_key(res: dict[str, Any]) -> str | None:
    """The patient a resource belongs to: Patient.id, or `Patient/<id>` in `subject` or `patient`."""
    if res.get("resourceType") == "Patient":
        pid = res.get("id")
        return pid if isinstance(pid, str) and pid else None
    for name in ("subject", "patient"):
        ref = res.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            m = _PATIENT_REF.match(ref["reference"])
            if m:
                return m.group(1)
    return None


@dataclass(frozen=True, slots=True)
class LineClass:
    """What one NDJSON line is: a patient's resource (key = patient id), shared reference data (a Medication: key =
    Medication/id), an orphan, a malformed line, or blank."""

    kind: str  # patient | shared | orphan | malformed | blank
    key: str | None
    resource_type: str | None
    message: str = ""


def classify_line(text: str) -> LineClass:
    s = text.strip().lstrip("\ufeff")
    if not s:
        return LineClass("blank", None, None)
    try:
        res = loads_json(s)
    except Exception as exc:  # any parse failure (bad JSON, an endless number, deep nesting) is a bad line
        reason = getattr(exc, "msg", None) or type(exc).__name__
        return LineClass("malformed", None, None, f"not valid JSON ({reason})")
    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str) or not res["resourceType"]:
        return LineClass("malformed", None, None, "not a FHIR resource (no resourceType)")
    rtype = res["resourceType"]
    key = patient_key(res)
    if key is not None:
        return LineClass("patient", key, rtype)
    if rtype in SHARED_TYPES:
        rid = res.get("id")
        return LineClass("shared", f"{rtype}/{rid}" if rtype == "Medication" and isinstance(rid, str) else None, rtype)
    if rtype == "Patient":
        return LineClass("orphan", None, rtype, "Patient without an id")
    return LineClass("orphan", None, rtype, "refers to no patient (no Patient/<id> in subject or patient)")


# ---- one patient ---------------------------------------------------------------------------------------------------
Source = tuple[str, int, str]  # (file, line, text)
Medications = dict[str, Source]  # "Medication/<id>" -> where it is
TrialList = Sequence[tuple["Trial", "list[Criterion]"]]


@dataclass
class PatientResult:
    rows: dict[str, list[Row]] = field(default_factory=lambda: {name: [] for name in TABLES})
    tally: Counter[tuple[str, str]] = field(default_factory=Counter)


def _medication_refs(res: dict[str, Any]) -> str | None:
    ref = res.get("medicationReference")
    return ref.get("reference") if isinstance(ref, dict) and isinstance(ref.get("reference"), str) else None


def _age(birth: PartialDate | None, as_of: date) -> int | None:
    """Age in whole years on the as-of date (from a year of birth: the age reached that year)."""
    if birth is None:
        return None
    b = birth.earliest
    if birth.precision == "year":
        return as_of.year - b.year
    if birth.precision == "month":
        return as_of.year - b.year - (as_of.month < b.month)
    return as_of.year - b.year - ((as_of.month, as_of.day) < (b.month, b.day))


def _located(pid: str, sources: Sequence[Source], medications: Medications) -> tuple[list[Located], list[Row], bool]:
    """The patient's resources (file order), the Medications they refer to, and line problems met on the way."""
    located: list[Located] = []
    problems: list[Row] = []
    refs: set[str] = set()
    has_patient = False
    for file, line, text in sources:
        try:
            res = loads_json(text.strip().lstrip("\ufeff"))
        except Exception:  # classify_line parsed it already; never fatal
            problems.append((file, line, "malformed", pid, None, "not valid JSON"))
            continue
        located.append(Located(res, f"{file}:{line}"))
        has_patient = has_patient or res.get("resourceType") == "Patient"
        ref = _medication_refs(res)
        if ref:
            refs.add(ref)
    for ref in sorted(refs):
        if ref in medications:
            file, line, text = medications[ref]
            located.append(Located(loads_json(text.strip().lstrip("\ufeff")), f"{file}:{line}"))
    return located, problems, has_patient


def _patient_row(pid: str, has_patient: bool, resources: int, issues: int = 0) -> list[Any]:
    row: list[Any] = [None] * len(TABLES["patients"])
    row[0], row[1], row[2] = pid, has_patient, False
    row[_COL["input_issues"]] = issues
    row[_COL["resources"]] = resources
    return row


_COL = {name: i for i, (name, _) in enumerate(TABLES["patients"])}


def screen_patient(
    pid: str,
    sources: Sequence[Source],
    *,
    as_of: date,
    today: date,
    trials: TrialList | None = None,
    medications: Medications | None = None,
) -> PatientResult:
    """Everything the cohort learns about one patient: her row, chart findings, monitoring due, trial candidates and
    problems (rows of TABLES), and the counts for the summary. Never raises: a record that cannot be read, or a
    defect met while evaluating it, is a problem row."""
    out = PatientResult()
    ordered = sorted(sources, key=lambda s: (s[0], s[1]))
    located, problems, has_patient = _located(pid, ordered, medications or {})
    out.rows["problems"] += problems
    if not has_patient:
        out.rows["problems"].append(
            ("", 0, "no_patient_resource", pid, "Patient", "resources refer to a Patient that is not in the export")
        )
    try:
        _evaluate(pid, located, has_patient, as_of, today, trials, out)
    except UnusableInput as err:
        out.rows["patients"] = [tuple(_patient_row(pid, has_patient, len(located), len(err.problems)))]
        out.rows["problems"].append(("", 0, "unusable_record", pid, None, err.message[:500]))
        for name in PATIENT_TABLES[1:]:
            out.rows[name] = []
    except Exception as exc:  # a defect in mbcnav must not end a population run: reported, counted
        out.rows["patients"] = [tuple(_patient_row(pid, has_patient, len(located)))]
        out.rows["problems"].append(("", 0, "internal_error", pid, None, f"internal error ({type(exc).__name__})"))
        for name in PATIENT_TABLES[1:]:
            out.rows[name] = []
    out.tally = tally(out.rows)
    return out


def _evaluate(
    pid: str,
    located: list[Located],
    has_patient: bool,
    as_of: date,
    today: date,
    trials: TrialList | None,
    out: PatientResult,
) -> None:
    from mbcnav.chart.problems import check_problem_list
    from mbcnav.monitoring.plan import build_plan
    from mbcnav.pathway import evaluate
    from mbcnav.record.fhir import AS_OF_LOCATION, record_from_resources

    record = record_from_resources(located, today=today, patient_id=pid if has_patient else None, as_of=as_of)
    ev = evaluate(record, as_of=as_of)
    a = ev.assessment
    doc = ev.assessment_json()
    breast = bool(record.primaries)
    findings: list[Row] = []
    due: list[Row] = []
    candidates: list[Row] = []
    if breast:
        chart = check_problem_list(located, a)
        for seq, f in enumerate(chart.findings, 1):
            findings.append((pid, seq, f.kind, f.site, f.title, f.action, f.target))
        plan = build_plan(ev)
        soon = as_of + timedelta(days=DUE_SOON_DAYS)
        for act in plan.activities:
            if act.overdue is True:
                status = "overdue"
            elif act.due is not None and act.due <= soon:
                status = "due_soon"
            else:
                continue
            due.append(
                (
                    pid,
                    len(due) + 1,
                    act.id,
                    act.what,
                    act.kind,
                    status,
                    act.due.isoformat() if act.due else None,
                    str(act.last_done) if act.last_done else None,
                    ";".join(act.drugs) or None,
                )
            )
        if trials and a.stage.metastatic is True:
            report = ev.match_trials(trials, top=TOP_TRIALS)
            for rank, m in enumerate(report.matches, 1):
                candidates.append(
                    (pid, rank, m.trial.nct_id, m.verdict, round(m.score, 3), m.relevance, m.trial.title[:300])
                )
    subtype = doc.get("subtype") or {}
    issues = [i for i in record.input_issues if i.location != AS_OF_LOCATION]
    row = (
        pid,
        has_patient,
        True,
        record.patient.sex,
        _age(record.patient.birth_date, as_of),
        breast,
        doc.get("metastatic"),
        (doc.get("stage") or {}).get("group"),
        doc.get("presentation"),
        subtype.get("group"),
        subtype.get("her2_category"),
        ";".join(sorted(doc.get("sites") or [])) or None,
        doc.get("visceral"),
        doc.get("cns"),
        len(doc.get("lines") or []),
        doc.get("ecog"),
        doc.get("endocrine_resistance"),
        len(doc.get("unknowns") or []),
        len(doc.get("conflicts") or []),
        len(issues),
        len(located),
        len(findings),
        sum(1 for r in due if r[5] == "overdue"),
        len(candidates),
    )
    out.rows["patients"] = [row]
    out.rows["chart_findings"] = findings
    out.rows["monitoring_due"] = due
    out.rows["trial_candidates"] = candidates


# ---- the counts behind summary.html ---------------------------------------------------------------------------------
def tally(rows: dict[str, list[Row]]) -> Counter[tuple[str, str]]:
    """Counts over some rows of the tables (one patient, a partition, everything): summed, they give the summary."""
    c: Counter[tuple[str, str]] = Counter()
    for p in rows.get("patients", []):
        c["total", "patients"] += 1
        c["total", "readable" if p[_COL["readable"]] else "unreadable"] += 1
        if p[_COL["breast_cancer"]]:
            c["total", "breast cancer"] += 1
        if p[_COL["metastatic"]] is True and p[_COL["breast_cancer"]]:
            c["total", "metastatic breast cancer"] += 1
            c["subtype", p[_COL["subtype"]] or "unknown"] += 1
            for site in (p[_COL["sites"]] or "none recorded").split(";"):
                c["site", site] += 1
            lines = p[_COL["lines"]]
            c["line", str(lines) if lines < 5 else "5+"] += 1
            if p[_COL["trial_candidates"]]:
                c["total", "with trial candidates"] += 1
        if p[_COL["chart_findings"]]:
            c["total", "with chart findings"] += 1
        if p[_COL["overdue"]]:
            c["total", "with overdue monitoring"] += 1
    for f in rows.get("chart_findings", []):
        c["gap", f"problem list: {f[2].replace('_', ' ')}"] += 1
    for m in rows.get("monitoring_due", []):
        if m[5] == "overdue":
            c["gap", f"overdue: {m[4]}"] += 1
    for pr in rows.get("problems", []):
        c["problem", pr[2]] += 1
    return c


def merge_rows(results: Iterable[PatientResult]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {name: [] for name in TABLES}
    for r in results:
        for name, rows in r.rows.items():
            out[name] += rows
    return out


__all__ = [
    "DUE_SOON_DAYS",
    "PATIENT_TABLES",
    "SHARED_TYPES",
    "SORT_KEYS",
    "TABLES",
    "TOP_TRIALS",
    "LineClass",
    "Medications",
    "PatientResult",
    "Row",
    "Source",
    "classify_line",
    "merge_rows",
    "patient_key",
    "screen_patient",
    "tally",
]
