"""ClinicalTrials.gov study records (API v2 JSON, classic XML) read into one immutable, versioned `Trial`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

StudyType = Literal["INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"]
Sex = Literal["ALL", "FEMALE", "MALE"]
SourceFormat = Literal["ctgov-v2", "ctgov-xml"]
Severity = Literal["error", "warning"]

STUDY_TYPES: tuple[str, ...] = get_args(StudyType)
# API v2 designModule.expandedAccessTypes: {individual, intermediate, treatment} (booleans), the three expanded
# access types of section 561 of the Federal Food, Drug, and Cosmetic Act (ClinicalTrials.gov EA data elements).
EXPANDED_ACCESS_TYPES = ("individual", "intermediate", "treatment")
NCT_ID = re.compile(r"NCT\d{8}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_FILE_BYTES = 256 * 1024 * 1024  # a .json or .xml file is read whole; NDJSON is read line by line
SUFFIXES = (".json", ".ndjson", ".jsonl", ".xml")

# Age units of ClinicalTrials.gov minimumAge / maximumAge ("18 Years", "6 Months", "N/A"), in years.
_AGE_UNITS = {
    "year": 1.0,
    "month": 1 / 12,
    "week": 7 / 365.25,
    "day": 1 / 365.25,
    "hour": 1 / (24 * 365.25),
    "minute": 1 / (60 * 24 * 365.25),
}
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """A problem with a record or a file; severity error means the record (or file) was skipped, warning kept."""

    location: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class Trial:
    """One study as mbcnav uses it. `version` hashes the normalised content: a changed record is a new version.

    `processed_on` (the date ClinicalTrials.gov processed the data, shown for attribution) is metadata, not content:
    it is not part of the version.
    """

    nct_id: str
    title: str
    brief_summary: str
    study_type: StudyType
    phases: tuple[str, ...]
    status: str
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    keywords: tuple[str, ...]
    eligibility_text: str
    min_age_years: float | None
    max_age_years: float | None
    sex: Sex
    healthy_volunteers: bool | None
    countries: tuple[str, ...]
    last_update: str | None
    has_expanded_access: bool
    expanded_access_nct: str | None
    expanded_access_status: str | None
    expanded_access_types: tuple[str, ...]
    source_format: SourceFormat
    processed_on: str | None = None
    version: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", content_hash(self))

    @property
    def is_expanded_access(self) -> bool:
        return self.study_type == "EXPANDED_ACCESS"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Trial:
        """Rebuild a Trial stored by `to_json` (lists become tuples; the version is recomputed)."""
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items() if k != "version"}
        return cls(**kwargs)


def content_hash(trial: Trial) -> str:
    content = {k: v for k, v in asdict(trial).items() if k not in ("version", "processed_on")}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------- normalising


def clean_text(value: str) -> str:
    """Text safe for any database: no NUL or control characters, no lone surrogates, \n line ends, stripped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return value.encode("utf-8", "replace").decode("utf-8").strip()


def age_years(text: str | None, where: str, problems: list[RecordProblem]) -> float | None:
    """ "18 Years" -> 18.0, "6 Months" -> 0.5, "N/A" or absent -> None (no limit)."""
    if text is None:
        return None
    text = text.strip()
    if not text or text.upper() in ("N/A", "NA", "NONE"):
        return None
    m = _AGE.fullmatch(text)
    if not m:
        problems.append(RecordProblem(where, f"age {text!r} not understood; kept as no limit", "warning"))
        return None
    return round(float(m.group(1)) * _AGE_UNITS[m.group(2).lower()], 4)


def unique(items: list[str]) -> tuple[str, ...]:
    """Cleaned, non-empty, first occurrence kept, order kept."""
    out: list[str] = []
    folded: set[str] = set()
    for item in items:
        text = clean_text(item)
        if text and text.casefold() not in folded:
            folded.add(text.casefold())
            out.append(text)
    return tuple(out)


# ------------------------------------------------------------------------------------------------- API v2 (JSON)


def _module(section: dict[str, Any], name: str) -> dict[str, Any]:
    value = section.get(name)
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return clean_text(value) if isinstance(value, str) and value.strip() else None


def _strs(value: Any, where: str, problems: list[RecordProblem]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(RecordProblem(where, "expected a list; ignored", "warning"))
        return []
    return [v for v in value if isinstance(v, str)]


def parse_v2_study(doc: Any, location: str) -> tuple[Trial | None, list[RecordProblem]]:
    """One API v2 study (`protocolSection` with its modules) -> Trial, or None with the reason.

    Field names follow the ClinicalTrials.gov API v2 study data structure (protocolSection.identificationModule.nctId,
    statusModule.overallStatus / lastUpdatePostDateStruct / expandedAccessInfo {hasExpandedAccess, nctId,
    statusForNctId}, designModule.studyType / phases / expandedAccessTypes, eligibilityModule, ...).
    """
    problems: list[RecordProblem] = []

    def error(message: str) -> tuple[None, list[RecordProblem]]:
        return None, [*problems, RecordProblem(location, message)]

    if not isinstance(doc, dict):
        return error("not a JSON object (a ClinicalTrials.gov API v2 study was expected)")
    ps = doc.get("protocolSection")
    if not isinstance(ps, dict):
        return error("no protocolSection (not a ClinicalTrials.gov API v2 study)")
    ident, status_m = _module(ps, "identificationModule"), _module(ps, "statusModule")
    design, elig = _module(ps, "designModule"), _module(ps, "eligibilityModule")
    nct = ident.get("nctId")
    if nct is None:
        return error("missing nctId")
    if not isinstance(nct, str) or not NCT_ID.fullmatch(nct.strip()):
        return error(f"invalid nctId {nct!r}")
    nct = nct.strip()
    title = _str(ident.get("briefTitle")) or _str(ident.get("officialTitle"))
    if title is None:
        return error(f"{nct}: missing briefTitle")
    status = _str(status_m.get("overallStatus"))
    if status is None:
        return error(f"{nct}: missing overallStatus")
    study_type = _str(design.get("studyType"))
    if study_type is None:
        return error(f"{nct}: missing studyType")
    if study_type.upper() not in STUDY_TYPES:
        return error(f"{nct}: unknown studyType {study_type!r}")
    at = f"{location} ({nct})"
    conditions_m, arms = _module(ps, "conditionsModule"), _module(ps, "armsInterventionsModule")
    interventions = [
        i["name"] for i in (arms.get("interventions") or []) if isinstance(i, dict) and isinstance(i.get("name"), str)
    ]
    locations = _module(ps, "contactsLocationsModule").get("locations") or []
    countries = {clean_text(loc["country"]) for loc in locations if isinstance(loc, dict) and _str(loc.get("country"))}
    updated = _module(status_m, "lastUpdatePostDateStruct").get("date")
    ea = _module(status_m, "expandedAccessInfo")
    ea_types = _module(design, "expandedAccessTypes")
    is_ea = study_type.upper() == "EXPANDED_ACCESS"
    ea_nct = _str(ea.get("nctId"))
    sex = (_str(elig.get("sex")) or "ALL").upper()
    if sex not in ("ALL", "FEMALE", "MALE"):
        problems.append(RecordProblem(at, f"sex {sex!r} not understood; kept as ALL", "warning"))
        sex = "ALL"
    healthy = elig.get("healthyVolunteers")
    trial = Trial(
        nct_id=nct,
        title=title,
        brief_summary=_str(_module(ps, "descriptionModule").get("briefSummary")) or "",
        study_type=cast(StudyType, study_type.upper()),
        phases=unique([p.upper() for p in _strs(design.get("phases"), f"{at}: phases", problems)]),
        status=status.upper(),
        conditions=unique(_strs(conditions_m.get("conditions"), f"{at}: conditions", problems)),
        interventions=unique(interventions),
        keywords=unique(_strs(conditions_m.get("keywords"), f"{at}: keywords", problems)),
        eligibility_text=_str(elig.get("eligibilityCriteria")) or "",
        min_age_years=age_years(_str(elig.get("minimumAge")), f"{at}: minimumAge", problems),
        max_age_years=age_years(_str(elig.get("maximumAge")), f"{at}: maximumAge", problems),
        sex=cast(Sex, sex),
        healthy_volunteers=healthy if isinstance(healthy, bool) else None,
        countries=tuple(sorted(countries)),
        last_update=updated if isinstance(updated, str) and ISO_DATE.fullmatch(updated) else None,
        has_expanded_access=is_ea or ea.get("hasExpandedAccess") is True,
        expanded_access_nct=ea_nct if ea_nct and NCT_ID.fullmatch(ea_nct) and ea_nct != nct else None,
        expanded_access_status=(_str(ea.get("statusForNctId")) or "").upper() or None,
        expanded_access_types=tuple(t for t in EXPANDED_ACCESS_TYPES if ea_types.get(t) is True),
        source_format="ctgov-v2",
    )
    return trial, problems


def _v2_document(doc: Any, name: str) -> Iterator[tuple[str, Trial | RecordProblem]]:
    """A single study, a `{"studies": [...]}` page, or a JSON list of studies."""
    if isinstance(doc, dict) and isinstance(doc.get("studies"), list):
        items: list[tuple[str, Any]] = [(f"{name}:studies[{i}]", s) for i, s in enumerate(doc["studies"])]
    elif isinstance(doc, dict) and "protocolSection" in doc:
        items = [(name, doc)]
    elif isinstance(doc, list):
        items = [(f"{name}:[{i}]", s) for i, s in enumerate(doc)]
    else:
        yield name, RecordProblem(name, "not a ClinicalTrials.gov API v2 study or page (no protocolSection or studies)")
        return
    for where, study in items:
        yield from _outcome(where, *parse_v2_study(study, where))


def _outcome(
    where: str, trial: Trial | None, problems: list[RecordProblem]
) -> Iterator[tuple[str, Trial | RecordProblem]]:
    if trial is not None:
        yield where, trial
    for p in problems:
        yield where, p


# -------------------------------------------------------------------------------------------------------- files


def source_files(path: Path) -> tuple[list[tuple[Path, str]], list[RecordProblem]]:
    """The record files under a path, each with the name used in locations (relative to a folder argument)."""
    if not path.exists():
        return [], [RecordProblem(str(path), "no such file or folder")]
    if path.is_file():
        return [(path, path.name)], []
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        return [], [RecordProblem(str(path), "folder holds no .json, .ndjson or .xml files")]
    return [(f, f.relative_to(path).as_posix()) for f in files], []


def _read_bytes(file: Path, name: str) -> bytes | RecordProblem:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            return RecordProblem(
                name, f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB (split it or use NDJSON)"
            )
        return file.read_bytes()
    except OSError as exc:
        return RecordProblem(name, f"cannot read ({exc.strerror})")


def _ndjson(lines: Iterator[bytes], name: str) -> Iterator[tuple[str, Trial | RecordProblem]]:
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{name}:line {n}"
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield where, RecordProblem(where, f"not valid JSON ({getattr(exc, 'msg', 'not UTF-8')})")
            continue
        except RecursionError:
            yield where, RecordProblem(where, "JSON nested too deeply")
            continue
        yield from _v2_document(doc, where)


def iter_file(file: Path, name: str) -> Iterator[tuple[str, Trial | RecordProblem]]:
    """Every record of one file; a file that is neither JSON nor XML is one problem, for that file only."""
    if file.suffix.lower() in (".ndjson", ".jsonl"):
        try:
            with file.open("rb") as fh:
                yield from _ndjson(iter(fh), name)
        except OSError as exc:
            yield name, RecordProblem(name, f"cannot read ({exc.strerror})")
        return
    data = _read_bytes(file, name)
    if isinstance(data, RecordProblem):
        yield name, data
        return
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        from mbcnav.trials.classic_xml import iter_xml

        yield from iter_xml(data, name)
        return
    if head not in (b"{", b"["):
        yield name, RecordProblem(name, "neither JSON nor XML (a ClinicalTrials.gov record was expected)")
        return
    try:
        doc = json.loads(data)
    except UnicodeDecodeError:
        yield name, RecordProblem(name, "not UTF-8 text")
        return
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several JSON documents, one a line: NDJSON under a .json name
            yield from _ndjson(iter(data.splitlines()), name)
        else:
            yield name, RecordProblem(name, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
        return
    except RecursionError:
        yield name, RecordProblem(name, "JSON nested too deeply")
        return
    yield from _v2_document(doc, name)


def iter_records(path: Path | str) -> Iterator[tuple[str, Trial | RecordProblem]]:
    """(location, Trial | RecordProblem) for each record of a file or folder (.json, .ndjson, .xml)."""
    files, problems = source_files(Path(path))
    for p in problems:
        yield p.location, p
    for file, name in files:
        yield from iter_file(file, name)
