"""ClinicalTrials.gov study records (API v2 JSON, classic XML) read into one immutable, versioned `Trial`."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import InitVar, asdict, dataclass, field, fields
from datetime import date
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
NCT_ID = re.compile(r"NCT[0-9]{8}")  # ASCII digits only: "NCT" + Arabic-Indic digits is not an NCT id
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Bounds applied before the store, so that SQLite and PostgreSQL accept and reject the same records.
# Criteria text: ClinicalTrials.gov limits Eligibility Criteria to 20,000 characters (PRS data element definitions;
# the longest in the shared corpus has 20,071 after XML dedenting); 32,000 leaves room for markup and old records
# while bounding one study's parse (about 1 s at worst, benchmarks/bench_criteria_worst_case.py) and its
# PostgreSQL tsvector (1 MB at most). Longer text is cut, with a warning.
MAX_CRITERIA_CHARS = 32_000
MAX_TEXT_CHARS = 16_000  # title, summary, a condition, keyword, intervention or country (brief summary: 5,000 max)
MAX_LIST_ITEMS = 2_000  # conditions, keywords, interventions, countries, phases
MAX_AGE_YEARS = 150.0  # an age limit beyond this is not a limit a study can mean; kept as no limit, with a warning
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
_AGE = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*(year|month|week|day|hour|minute)s?", re.I)
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
class Site:
    """One study location as ClinicalTrials.gov lists it (API v2 contactsLocationsModule.locations[])."""

    facility: str
    city: str
    country: str
    status: str | None = None  # RECRUITING, NOT_YET_RECRUITING, ... (the site's own status, when given)
    state: str | None = None
    lat: float | None = None
    lon: float | None = None

    def describe(self) -> str:
        place = ", ".join(x for x in (self.facility, self.city, self.state, self.country) if x)
        return place + (f" ({self.status.lower().replace('_', ' ')})" if self.status else "")


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
    sites: tuple[Site, ...] = ()  # only when the record lists facilities (the shared corpus pages list countries)
    version: str = field(init=False, default="")
    # A record read back from the store carries the hash it was stored with (from_json), so streaming the corpus
    # for every match does not hash every study again; `dataclasses.replace` leaves it out, so a changed copy is
    # hashed anew.
    stored_version: InitVar[str | None] = None

    def __post_init__(self, stored_version: str | None) -> None:
        object.__setattr__(self, "version", stored_version or content_hash(self))

    @property
    def is_expanded_access(self) -> bool:
        return self.study_type == "EXPANDED_ACCESS"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Trial:
        """Rebuild a Trial stored by `to_json` (lists become tuples; the stored version is kept, else computed)."""
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items() if k != "version"}
        kwargs["stored_version"] = doc.get("version") or None
        kwargs["sites"] = tuple(Site(**x) if isinstance(x, dict) else x for x in kwargs.get("sites", ()))
        return cls(**kwargs)


def content_hash(trial: Trial) -> str:
    # the fields read directly (asdict deep-copies every value: a third of a match's time went there); a site is
    # its field values in order
    content: dict[str, Any] = {
        f.name: getattr(trial, f.name) for f in fields(trial) if f.name not in ("version", "processed_on")
    }
    content["sites"] = [[getattr(site, f.name) for f in fields(site)] for site in trial.sites]
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
    m = _AGE.fullmatch(text) if len(text) <= 40 else None
    if not m:
        problems.append(RecordProblem(where, f"age {_short(text)} not understood; kept as no limit", "warning"))
        return None
    years = round(float(m.group(1)) * _AGE_UNITS[m.group(2).lower()], 4)
    if years > MAX_AGE_YEARS:
        problems.append(
            RecordProblem(where, f"age {_short(text)} is over {MAX_AGE_YEARS:g} years; kept as no limit", "warning")
        )
        return None
    return years


def _short(value: Any) -> str:
    """A value for a message: repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def normalise_nct(value: Any) -> str | None:
    """An NCT id as stored ("NCT" + 8 ASCII digits) after NFKC, blank and case normalisation, or None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = unicodedata.normalize("NFKC", value).strip().upper()
    return text if NCT_ID.fullmatch(text) else None


def bounded(text: str, limit: int, where: str, problems: list[RecordProblem]) -> str:
    """Text cut to `limit` characters, with a warning when it was longer."""
    if len(text) <= limit:
        return text
    problems.append(
        RecordProblem(where, f"{len(text):,} characters, longer than {limit:,}: cut to {limit:,}", "warning")
    )
    return text[:limit].rstrip()


def unique(items: list[str]) -> tuple[str, ...]:
    """Cleaned, non-empty, first occurrence kept, order kept; at most MAX_LIST_ITEMS of MAX_TEXT_CHARS each."""
    out: list[str] = []
    folded: set[str] = set()
    for item in items[: MAX_LIST_ITEMS * 2]:
        if len(out) >= MAX_LIST_ITEMS:
            break
        text = clean_text(item)[:MAX_TEXT_CHARS]
        if text and text.casefold() not in folded:
            folded.add(text.casefold())
            out.append(text)
    return tuple(out)


# ------------------------------------------------------------------------------------------------- API v2 (JSON)


class _Fields:
    """Typed access to one API v2 study: a field of the wrong shape (a number where the schema has a list, an object
    where it has text ...) is dropped with a warning that names it; `required` fields make the record an error."""

    def __init__(self, at: str, problems: list[RecordProblem]) -> None:
        self.at = at
        self.problems = problems

    def warn(self, path: str, message: str) -> None:
        self.problems.append(RecordProblem(f"{self.at}: {path}", message, "warning"))

    def module(self, section: dict[str, Any], name: str, path: str) -> dict[str, Any]:
        value = section.get(name)
        if value is None or isinstance(value, dict):
            return value or {}
        self.warn(f"{path}.{name}" if path else name, f"expected an object, found {_kind(value)}; ignored")
        return {}

    def text(self, module: dict[str, Any], name: str, path: str) -> str | None:
        value = module.get(name)
        if value is None or isinstance(value, str):
            return _str(value)
        self.warn(f"{path}.{name}", f"expected text, found {_kind(value)}; ignored")
        return None

    def flag(self, module: dict[str, Any], name: str, path: str) -> bool | None:
        value = module.get(name)
        if value is None or isinstance(value, bool):
            return value
        self.warn(f"{path}.{name}", f"expected true or false, found {_kind(value)}; ignored")
        return None

    def items(self, module: dict[str, Any], name: str, path: str) -> list[Any]:
        value = module.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.warn(f"{path}.{name}", f"expected a list, found {_kind(value)}; ignored")
            return []
        return value

    def texts(self, module: dict[str, Any], name: str, path: str) -> list[str]:
        out: list[str] = []
        bad = 0
        for v in self.items(module, name, path):
            if isinstance(v, str):
                out.append(v)
            else:
                bad += 1
        if bad:
            self.warn(f"{path}.{name}", f"{bad} item(s) that are not text ignored")
        return out

    def named(self, module: dict[str, Any], name: str, key: str, path: str) -> list[str]:
        """`key` (text) of each object of a list (interventions[].name, locations[].country)."""
        out: list[str] = []
        bad = 0
        for v in self.items(module, name, path):
            item = v.get(key) if isinstance(v, dict) else None
            if isinstance(item, str):
                out.append(item)
            elif not (isinstance(v, dict) and item is None):
                bad += 1
        if bad:
            self.warn(f"{path}.{name}", f"{bad} item(s) without a text {key} ignored")
        return out


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _str(value: Any) -> str | None:
    return clean_text(value) if isinstance(value, str) and value.strip() else None


def parse_v2_study(doc: Any, location: str) -> tuple[Trial | None, list[RecordProblem]]:
    """One API v2 study (`protocolSection` with its modules) -> Trial, or None with the reason.

    Field names follow the ClinicalTrials.gov API v2 study data structure (protocolSection.identificationModule.nctId,
    statusModule.overallStatus / lastUpdatePostDateStruct / expandedAccessInfo {hasExpandedAccess, nctId,
    statusForNctId}, designModule.studyType / phases / expandedAccessTypes, eligibilityModule, ...). Every field's
    shape is checked: a malformed optional field is dropped with a warning, a malformed required one skips the
    record; nothing in a record stops the file.
    """
    try:
        return _parse_v2_study(doc, location)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        return None, [RecordProblem(location, f"malformed record ({type(exc).__name__}); skipped")]


def _parse_v2_study(doc: Any, location: str) -> tuple[Trial | None, list[RecordProblem]]:
    problems: list[RecordProblem] = []

    def error(message: str) -> tuple[None, list[RecordProblem]]:
        return None, [*problems, RecordProblem(location, message)]

    if not isinstance(doc, dict):
        return error("not a JSON object (a ClinicalTrials.gov API v2 study was expected)")
    ps = doc.get("protocolSection")
    if not isinstance(ps, dict):
        return error("no protocolSection (not a ClinicalTrials.gov API v2 study)")
    f = _Fields(location, problems)
    ident = f.module(ps, "identificationModule", "protocolSection")
    raw_nct = ident.get("nctId")
    if raw_nct is None:
        return error("missing nctId")
    nct = normalise_nct(raw_nct)
    if nct is None:
        return error(f"invalid nctId {_short(raw_nct)}")
    f.at = at = f"{location} ({nct})"
    status_m = f.module(ps, "statusModule", "protocolSection")
    design = f.module(ps, "designModule", "protocolSection")
    elig = f.module(ps, "eligibilityModule", "protocolSection")
    title = f.text(ident, "briefTitle", "identificationModule") or f.text(
        ident, "officialTitle", "identificationModule"
    )
    if title is None:
        return error(f"{nct}: missing briefTitle")
    status = f.text(status_m, "overallStatus", "statusModule")
    if status is None:
        return error(f"{nct}: missing overallStatus")
    study_type = f.text(design, "studyType", "designModule")
    if study_type is None:
        return error(f"{nct}: missing studyType")
    if study_type.upper() not in STUDY_TYPES:
        return error(f"{nct}: unknown studyType {_short(study_type)}")
    if len(status) > 60:
        return error(f"{nct}: overallStatus {_short(status)} is not a ClinicalTrials.gov status")
    conditions_m = f.module(ps, "conditionsModule", "protocolSection")
    arms = f.module(ps, "armsInterventionsModule", "protocolSection")
    contacts = f.module(ps, "contactsLocationsModule", "protocolSection")
    interventions = f.named(arms, "interventions", "name", "armsInterventionsModule")
    countries = unique(f.named(contacts, "locations", "country", "contactsLocationsModule"))
    locations = contacts.get("locations")  # its shape was reported by f.named above: no second warning
    sites = _sites(locations if isinstance(locations, list) else [])
    updated = f.text(f.module(status_m, "lastUpdatePostDateStruct", "statusModule"), "date", "lastUpdatePostDateStruct")
    ea = f.module(status_m, "expandedAccessInfo", "statusModule")
    ea_types = f.module(design, "expandedAccessTypes", "designModule")
    is_ea = study_type.upper() == "EXPANDED_ACCESS"
    ea_nct = normalise_nct(ea.get("nctId"))
    sex = (f.text(elig, "sex", "eligibilityModule") or "ALL").upper()
    if sex not in ("ALL", "FEMALE", "MALE"):
        problems.append(RecordProblem(at, f"sex {_short(sex)} not understood; kept as ALL", "warning"))
        sex = "ALL"
    summary = f.text(f.module(ps, "descriptionModule", "protocolSection"), "briefSummary", "descriptionModule")
    criteria = f.text(elig, "eligibilityCriteria", "eligibilityModule") or ""
    ea_status = f.text(ea, "statusForNctId", "expandedAccessInfo")
    trial = Trial(
        nct_id=nct,
        title=bounded(title, MAX_TEXT_CHARS, f"{at}: briefTitle", problems),
        brief_summary=bounded(summary or "", MAX_TEXT_CHARS, f"{at}: briefSummary", problems),
        study_type=cast(StudyType, study_type.upper()),
        phases=unique([p.upper() for p in f.texts(design, "phases", "designModule")]),
        status=status.upper(),
        conditions=unique(f.texts(conditions_m, "conditions", "conditionsModule")),
        interventions=unique(interventions),
        keywords=unique(f.texts(conditions_m, "keywords", "conditionsModule")),
        eligibility_text=bounded(criteria, MAX_CRITERIA_CHARS, f"{at}: eligibilityCriteria", problems),
        min_age_years=age_years(f.text(elig, "minimumAge", "eligibilityModule"), f"{at}: minimumAge", problems),
        max_age_years=age_years(f.text(elig, "maximumAge", "eligibilityModule"), f"{at}: maximumAge", problems),
        sex=cast(Sex, sex),
        healthy_volunteers=f.flag(elig, "healthyVolunteers", "eligibilityModule"),
        countries=tuple(sorted(countries)),
        last_update=_iso_date(updated),
        has_expanded_access=is_ea or f.flag(ea, "hasExpandedAccess", "expandedAccessInfo") is True,
        expanded_access_nct=ea_nct if ea_nct and ea_nct != nct else None,
        expanded_access_status=(ea_status or "").upper()[:60] or None,
        expanded_access_types=tuple(t for t in EXPANDED_ACCESS_TYPES if ea_types.get(t) is True),
        source_format="ctgov-v2",
        sites=sites,
    )
    return trial, problems


def _sites(locations: list[Any]) -> tuple[Site, ...]:
    """The facilities of a record's locations (those with a facility name), bounded like every list."""
    out: list[Site] = []
    for loc in locations[:MAX_LIST_ITEMS]:
        if not isinstance(loc, dict) or not isinstance(loc.get("facility"), str):
            continue
        geo = loc.get("geoPoint")
        lat, lon = (geo.get("lat"), geo.get("lon")) if isinstance(geo, dict) else (None, None)
        ok = isinstance(lat, int | float) and isinstance(lon, int | float) and -90 <= lat <= 90 and -180 <= lon <= 180
        out.append(
            Site(
                facility=clean_text(loc["facility"])[:200],
                city=clean_text(str(loc.get("city") or ""))[:100],
                country=clean_text(str(loc.get("country") or ""))[:100],
                status=str(loc["status"]).upper()[:40] if isinstance(loc.get("status"), str) else None,
                state=clean_text(loc["state"])[:100] if isinstance(loc.get("state"), str) else None,
                lat=float(lat) if ok and lat is not None else None,
                lon=float(lon) if ok and lon is not None else None,
            )
        )
    return tuple(out)


def _iso_date(value: str | None) -> str | None:
    """A real calendar date YYYY-MM-DD (ASCII digits), else None."""
    if value is None or not ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


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


def _int(text: str) -> int | float:
    """A JSON integer; one of more than 100 digits (no field mbcnav reads is one) becomes a float (inf), instead of
    the ValueError Python raises past 4,300 digits, and is then reported by the field check that meets it."""
    return int(text) if len(text) <= 100 else float(text)


def _loads(data: bytes) -> Any:
    return json.loads(data, parse_int=_int)


def _ndjson(lines: Iterator[bytes], name: str) -> Iterator[tuple[str, Trial | RecordProblem]]:
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{name}:line {n}"
        try:
            doc = _loads(raw)
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
        doc = _loads(data)
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
