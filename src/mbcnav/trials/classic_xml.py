"""Classic ClinicalTrials.gov `<clinical_study>` XML (public.xsd, AACT-era dumps, TREC corpora) -> Trial."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from mbcnav.trials.records import (
    EXPANDED_ACCESS_TYPES,
    MAX_CRITERIA_CHARS,
    MAX_TEXT_CHARS,
    RecordProblem,
    Sex,
    StudyType,
    Trial,
    age_years,
    bounded,
    clean_text,
    normalise_nct,
    unique,
)

# <study_type> values of the classic format; "Observational [Patient Registry]" is an observational study.
_STUDY_TYPES: dict[str, StudyType] = {
    "interventional": "INTERVENTIONAL",
    "observational": "OBSERVATIONAL",
    "observational [patient registry]": "OBSERVATIONAL",
    "expanded access": "EXPANDED_ACCESS",
}
_SEX: dict[str, Sex] = {"all": "ALL", "both": "ALL", "female": "FEMALE", "male": "MALE"}
_PROCESSED = re.compile(r"processed this data on (.+)$", re.I)


def _text(el: Element | None) -> str | None:
    """The element's text (a <textblock> child's when it has one), dedented, or None when empty."""
    if el is None:
        return None
    block = el.find("textblock")
    raw = (block if block is not None else el).text or ""
    lines = raw.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    text = clean_text(textwrap.dedent("\n".join(lines)))
    return text or None


# A line that starts a new item: a dash / star / bullet, "1." / "1)", "a." / "a)", "(1)" / "(a)" / "(iv)".
_ITEM_START = re.compile(r"\s*(?:[-*+\u2022o](?=\s)|[-*+\u2022]|\d{1,3}\s?[.)](?!\d)|[a-zA-Z][.)]\s|\(\w{1,4}\))")
_CRITERIA_HEADER = re.compile(r"\b(?:inclusion|exclusion|eligibility)\b", re.I)


def _unwrap(text: str) -> str:
    """Join hard-wrapped lines: the classic XML textblock wraps each criterion at about 80 characters, and read line
    by line a fragment loses its negation ("- No prior\\n     chemotherapy" is one criterion). A line continues the
    previous one when both are non-blank, it does not start an item (bullet / number) and the previous line is not a
    header ("Inclusion Criteria:", a short line ending in ":"); blank lines and item starts keep their breaks."""
    out: list[str] = []
    for line in text.split("\n"):
        prev = out[-1] if out else ""
        head = prev.strip()
        if (
            line.strip()
            and head
            and not _ITEM_START.match(line)
            and not (head.endswith(":") and (len(head) < 40 or _CRITERIA_HEADER.search(head) or prev == head))
        ):
            out[-1] = prev.rstrip() + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def _all(root: Element, path: str) -> list[str]:
    return [t for t in (_text(e) for e in root.findall(path)) if t]


def _enum(text: str) -> str:
    """ "Active, not recruiting" -> ACTIVE_NOT_RECRUITING (the API v2 spelling)."""
    value = re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")
    return "UNKNOWN" if value == "UNKNOWN_STATUS" else value


def _phases(text: str | None) -> tuple[str, ...]:
    """ "Phase 1/Phase 2" -> (PHASE1, PHASE2); "Early Phase 1" -> EARLY_PHASE1; "N/A" -> NA (as in API v2)."""
    if not text:
        return ()
    if text.strip().upper() in ("N/A", "NA"):
        return ("NA",)
    return unique([re.sub(r"[^A-Z0-9_]+", "", p.upper().replace("EARLY ", "EARLY_")) for p in text.split("/")])


def _date(text: str | None) -> str | None:
    """ "March 9, 2020" -> 2020-03-09; a month without a day is not a date."""
    if not text:
        return None
    for fmt in ("%B %d, %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _yes(text: str | None) -> bool | None:
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("yes", "accepts healthy volunteers", "true"):
        return True
    if t in ("no", "false"):
        return False
    return None


def parse_xml_study(root: Element, location: str) -> tuple[Trial | None, list[RecordProblem]]:
    """One `<clinical_study>` element -> Trial, or None with the reason; nothing in a record stops the file."""
    try:
        return _parse_xml_study(root, location)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        return None, [RecordProblem(location, f"malformed record ({type(exc).__name__}); skipped")]


def _parse_xml_study(root: Element, location: str) -> tuple[Trial | None, list[RecordProblem]]:
    problems: list[RecordProblem] = []

    def error(message: str) -> tuple[None, list[RecordProblem]]:
        return None, [*problems, RecordProblem(location, message)]

    raw_nct = _text(root.find("id_info/nct_id"))
    if raw_nct is None:
        return error("missing nct_id")
    nct = normalise_nct(raw_nct)
    if nct is None:
        return error(f"invalid nct_id {raw_nct[:40]!r}")
    title = _text(root.find("brief_title")) or _text(root.find("official_title"))
    if title is None:
        return error(f"{nct}: missing brief_title")
    status = _text(root.find("overall_status"))
    if status is None:
        return error(f"{nct}: missing overall_status")
    raw_type = _text(root.find("study_type"))
    if raw_type is None:
        return error(f"{nct}: missing study_type")
    if len(status) > 60:
        return error(f"{nct}: overall_status {status[:40]!r} is not a ClinicalTrials.gov status")
    study_type = _STUDY_TYPES.get(raw_type.lower())
    if study_type is None:
        return error(f"{nct}: unknown study_type {raw_type[:40]!r}")
    at = f"{location} ({nct})"
    elig = root.find("eligibility")
    criteria = _text(elig.find("criteria")) if elig is not None else None
    if criteria is not None:
        criteria = _unwrap(criteria)
    gender = _text(elig.find("gender")) if elig is not None else None
    sex = _SEX.get((gender or "all").lower())
    if sex is None:
        problems.append(RecordProblem(at, f"gender {gender!r} not understood; kept as ALL", "warning"))
        sex = "ALL"

    def elig_text(tag: str) -> str | None:
        return _text(elig.find(tag)) if elig is not None else None

    countries = set(_all(root, "location_countries/country")) | set(_all(root, "location/facility/address/country"))
    processed = _PROCESSED.search(_text(root.find("required_header/download_date")) or "")
    is_ea = study_type == "EXPANDED_ACCESS"
    trial = Trial(
        nct_id=nct,
        title=bounded(title, MAX_TEXT_CHARS, f"{at}: brief_title", problems),
        brief_summary=bounded(
            _text(root.find("brief_summary")) or "", MAX_TEXT_CHARS, f"{at}: brief_summary", problems
        ),
        study_type=study_type,
        phases=_phases(_text(root.find("phase"))),
        status=_enum(status),
        conditions=unique(_all(root, "condition")),
        interventions=unique(_all(root, "intervention/intervention_name")),
        keywords=unique(_all(root, "keyword")),
        eligibility_text=bounded(criteria or "", MAX_CRITERIA_CHARS, f"{at}: eligibility/criteria", problems),
        min_age_years=age_years(elig_text("minimum_age"), f"{at}: minimum_age", problems),
        max_age_years=age_years(elig_text("maximum_age"), f"{at}: maximum_age", problems),
        sex=sex,
        healthy_volunteers=_yes(elig_text("healthy_volunteers")),
        countries=tuple(sorted(countries)),
        last_update=_date(_text(root.find("last_update_posted")) or _text(root.find("lastchanged_date"))),
        has_expanded_access=is_ea or _yes(_text(root.find("has_expanded_access"))) is True,
        expanded_access_nct=None,  # the classic format does not link a study to its expanded access record
        expanded_access_status=None,
        expanded_access_types=tuple(
            t
            for t in EXPANDED_ACCESS_TYPES
            if _yes(_text(root.find(f"expanded_access_info/expanded_access_type_{t}"))) is True
        ),
        source_format="ctgov-xml",
        processed_on=_date(processed.group(1)) if processed else None,
    )
    return trial, problems


def iter_xml(data: bytes, name: str) -> Iterator[tuple[str, Trial | RecordProblem]]:
    """A `<clinical_study>` document, or a document whose children are `<clinical_study>` elements.

    defusedxml refuses entity declarations and external references (billion laughs, XXE).
    """
    try:
        root = fromstring(data)
    except ParseError as exc:
        yield name, RecordProblem(name, f"not valid XML ({exc})")
        return
    except DefusedXmlException as exc:
        yield name, RecordProblem(name, f"XML refused for safety ({type(exc).__name__})")
        return
    if root.tag == "clinical_study":
        studies = [(name, root)]
    else:
        studies = [(f"{name}:clinical_study[{i}]", el) for i, el in enumerate(root.findall("clinical_study"))]
        if not studies:
            yield name, RecordProblem(name, f"not a ClinicalTrials.gov <clinical_study> record (root <{root.tag}>)")
            return
    for where, el in studies:
        trial, problems = parse_xml_study(el, where)
        if trial is not None:
            yield where, trial
        for p in problems:
            yield where, p
