"""Treatment setting of each drug course, lines of therapy in the metastatic setting, and exposure flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from mbcnav.assess.config import AssessmentConfig
from mbcnav.dates import PartialDate, interval
from mbcnav.knowledge.drugs import catalogue
from mbcnav.record.model import DiseaseStatus, LocalTreatment, Record, TherapyExposure

# Drugs that get their own exposure flag (later rules name them, not only their class).
FLAG_DRUGS = (
    "fulvestrant",
    "capecitabine",
    "trastuzumab",
    "pertuzumab",
    "trastuzumab emtansine",
    "trastuzumab deruxtecan",
    "sacituzumab govitecan",
    "datopotamab deruxtecan",
    "eribulin",
    "tamoxifen",
)


@dataclass(frozen=True, slots=True)
class Course:
    """A drug course with its resolved setting."""

    exposure: TherapyExposure
    setting: str  # neoadjuvant | adjuvant | metastatic | unknown
    basis: str

    @property
    def drug(self) -> str:
        return self.exposure.drug

    @property
    def start(self) -> PartialDate | None:
        return self.exposure.start

    @property
    def end(self) -> PartialDate | None:
        return self.exposure.end


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    drugs: tuple[str, ...]
    start: PartialDate | None
    end: PartialDate | None
    reason_stopped: str | None
    ongoing: bool
    courses: tuple[Course, ...]
    why_new: str

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "drugs": list(self.drugs),
            "start": str(self.start) if self.start else None,
            "end": str(self.end) if self.end else None,
            "reason_stopped": self.reason_stopped,
            "ongoing": self.ongoing,
            "why_new_line": self.why_new,
            "sources": sorted({c.exposure.source.resource for c in self.courses}),
            "drugs_stopped": self.drugs_stopped(),
        }

    def drugs_stopped(self) -> list[dict[str, str | None]]:
        """For a line still going: each drug that has stopped (when, why) while others go on (contract 1.1)."""
        if not self.ongoing:
            return []
        running: dict[str, bool] = {}
        last: dict[str, Course] = {}
        for c in self.courses:
            going = c.exposure.ongoing or c.end is None
            running[c.drug] = running.get(c.drug, False) or going
            if not going:
                last[c.drug] = c
        return [
            {"drug": d, "end": str(last[d].end), "reason": last[d].exposure.reason_stopped}
            for d, going in running.items()
            if not going
        ]


def _first_breast_surgery(local: tuple[LocalTreatment, ...]) -> PartialDate | None:
    dates = [
        t.start
        for t in local
        if t.kind == "surgery"
        and t.start is not None
        and (
            t.site is None
            or "breast" in (t.site or "").lower()
            or "breast" in t.description.lower()
            or "mastectomy" in t.description.lower()
            or "lumpectomy" in t.description.lower()
        )
    ]
    return min(dates, key=lambda d: d.earliest) if dates else None


def resolve_settings(record: Record, first_metastasis: PartialDate | None, presentation: str) -> list[Course]:
    """Setting of each course: as stated; else from dates against the first distant metastasis and surgery."""
    surgery = _first_breast_surgery(record.local_treatments)
    out: list[Course] = []
    for t in record.therapies:
        setting, basis = t.setting, t.setting_basis
        if setting == "early" or setting == "unknown":
            if presentation == "de_novo" and t.start is not None:
                setting, basis = "metastatic", "started after a de novo stage IV diagnosis"
            elif first_metastasis is not None and t.start is not None and t.start.earliest >= first_metastasis.earliest:
                if t.setting == "early":
                    setting, basis = (
                        "unknown",
                        "curative intent stated but started after metastasis was found",
                    )
                else:
                    setting, basis = (
                        "metastatic",
                        f"started on/after the first distant metastasis ({first_metastasis})",
                    )
            elif t.start is not None and (
                first_metastasis is not None or presentation == "not_metastatic" or t.setting == "early"
            ):
                if surgery is not None and t.start.latest < surgery.earliest:
                    setting, basis = "neoadjuvant", f"early setting, before breast surgery ({surgery})"
                elif surgery is not None:
                    setting, basis = "adjuvant", f"early setting, after breast surgery ({surgery})"
                else:
                    setting = "adjuvant" if t.setting == "early" else "unknown"
                    basis = (
                        "curative intent, no surgery date: taken as adjuvant"
                        if t.setting == "early"
                        else "before metastasis, but no surgery date to tell neoadjuvant from adjuvant"
                    )
            else:
                setting, basis = "unknown", "no start date or no metastasis date to place it"
        out.append(Course(t, setting, basis))
    return out


def _progressions_between(statuses: tuple[DiseaseStatus, ...], start: PartialDate, end: PartialDate) -> list[date]:
    """The dates of documented progression after `start` and up to `end`."""
    return [
        s.date.earliest
        for s in statuses
        if s.status == "progression" and s.date is not None and start.earliest < s.date.earliest <= end.latest
    ]


def _why_after_progression(
    line: list[Course], progressed: list[Course], statuses: tuple[DiseaseStatus, ...], start: PartialDate, n: int
) -> str:
    """Why a new line began after progression. Progression found after every drug of the line had stopped for
    another reason (fresh5 n06: T-DXd stopped for pneumonitis in response, regrowth four months later) is
    progression off treatment, not on the line: the record's reason for stopping stands (facts progressed_on.*)."""
    if progressed:
        return f"started after progression on line {n}"
    line_start = line[0].start
    ends = [x.end for x in line]
    if line_start is None or any(e is None for e in ends):
        return f"started after progression on line {n}"
    found = _progressions_between(statuses, line_start, start)
    last_end = max(e.latest for e in ends if e is not None)
    if found and min(found) > last_end:
        reasons = sorted({x.exposure.reason_stopped or "reason not recorded" for x in line})
        why = ", ".join(reasons)
        return f"started after progression off treatment ({min(found)}), after line {n} had stopped ({why})"
    return f"started after progression on line {n}"


def build_lines(
    courses: list[Course], statuses: tuple[DiseaseStatus, ...], config: AssessmentConfig
) -> tuple[list[Line], list[str]]:
    """Group metastatic-setting courses into regimens and lines (rules in docs/assessment.md, 'Lines of therapy').

    1. Bone-modifying agents never form or join a line; ovarian suppression joins every line it accompanies
       (started with the line, or still given when the line starts).
    2. Drugs started within `regimen_window_days` of a line's start belong to that line.
    3. A new line starts when a new drug begins after a drug of the current line stopped for progression, or after
       documented progression, or after every drug of the current line has stopped (a switch) — except a switch
       for toxicity within the same drug class (e.g. paclitaxel -> nab-paclitaxel), and maintenance begun within
       `maintenance_window_days` after every drug stopped as planned ("completed"), which stay in the line.
    4. A drug added while the current line is still running without progression joins it (maintenance/add-on);
       dropping drugs (e.g. THP -> HP maintenance) stays the same line."""
    cat = catalogue()
    notes: list[str] = []
    met = [c for c in courses if c.setting == "metastatic" and c.exposure.known_drug]
    unknown_drugs = sorted({c.drug for c in courses if c.setting == "metastatic" and not c.exposure.known_drug})
    if unknown_drugs:
        notes.append("not in the drug catalogue, so not counted in lines of therapy: " + ", ".join(unknown_drugs))
    undated = [c for c in met if c.start is None]
    if undated:
        notes.append("metastatic therapy without a start date: " + ", ".join(sorted({c.drug for c in undated})))
    dated = sorted((c for c in met if c.start is not None), key=lambda c: (c.start.earliest, c.drug))  # type: ignore[union-attr]
    groups: list[tuple[list[Course], str]] = []
    # ovarian suppression begun for early disease and still given when the metastatic line starts (adjuvant
    # goserelin + tamoxifen, relapse, then goserelin + fulvestrant + abemaciclib: fresh12 u05) is part of that line
    companions: list[Course] = [
        c
        for c in courses
        if c.setting in ("neoadjuvant", "adjuvant")
        and c.start is not None
        and c.drug in cat.drugs
        and "ovarian_suppression" in cat.drugs[c.drug].classes
    ]
    for c in dated:
        drug = cat.drugs.get(c.drug)
        if drug is not None and not drug.line_defining:
            if "ovarian_suppression" in drug.classes:
                companions.append(c)
            continue
        assert c.start is not None
        if not groups:
            groups.append(([c], "first therapy in the metastatic setting"))
            continue
        line, _ = groups[-1]
        line_start = line[0].start
        assert line_start is not None
        if (c.start.earliest - line_start.earliest).days <= config.regimen_window_days:
            line.append(c)
            continue
        if c.drug in {x.drug for x in line} and not any(x.exposure.reason_stopped == "progression" for x in line):
            line.append(c)
            continue
        # a drug of the line stopped for progression *before* this one began (rule 3); a drug that stops for
        # progression later, after this one joined the running line (letrozole added to HP maintenance), does not
        # make the add-on a new line
        progressed = [
            x
            for x in line
            if x.exposure.reason_stopped == "progression" and (x.end is None or x.end.earliest <= c.start.earliest)
        ]
        if progressed or _progressions_between(statuses, line_start, c.start):
            groups.append(([c], _why_after_progression(line, progressed, statuses, c.start, len(groups))))
            continue
        running = [x for x in line if x.exposure.ongoing or x.end is None or x.end.latest >= c.start.earliest]
        if running:
            line.append(c)
            continue
        last = max(line, key=lambda x: x.end.earliest if x.end else date.min)
        if (
            all(x.exposure.reason_stopped == "completed" for x in line)
            and last.end is not None
            and (c.start.earliest - last.end.latest).days <= config.maintenance_window_days
        ):
            # planned induction then maintenance without progression (fresh13 v05: weekly paclitaxel for visceral
            # crisis, completed, then goserelin + letrozole + ribociclib): one first line, not two
            line.append(c)
            continue
        if (
            last.exposure.reason_stopped == "toxicity"
            and drug is not None
            and last.drug in cat.drugs
            and (drug.classes - {"chemotherapy", "endocrine"})
            & (cat.drugs[last.drug].classes - {"chemotherapy", "endocrine"})
        ):
            line.append(c)
            continue
        groups.append(([c], f"switch after line {len(groups)} stopped"))
    lines: list[Line] = []
    for i, (members, why) in enumerate(groups, 1):
        start = members[0].start
        assert start is not None
        next_start = groups[i][0][0].start if i < len(groups) else None
        for comp in companions:
            assert comp.start is not None
            early = comp.setting != "metastatic"  # joins only while still given (never "began with" the line)
            began_with_line = not early and comp.start.earliest >= start.earliest - _days(config.regimen_window_days)
            # ovarian suppression given without a break into the next line is part of that regimen too
            # (goserelin + anastrozole + ribociclib, then goserelin + fulvestrant: line 2 is not fulvestrant alone)
            still_running = (
                comp.exposure.ongoing
                or (comp.end is None and not early)
                or (comp.end is not None and comp.end.latest >= start.earliest)
            )
            if (began_with_line or still_running) and (next_start is None or comp.start.earliest < next_start.earliest):
                members = [*members, comp]
        ongoing = any(
            m.exposure.ongoing or m.end is None
            for m in members
            if cat.drugs.get(m.drug) is None or cat.drugs[m.drug].line_defining
        )
        ends = [m.end for m in members if m.end is not None]
        end = None if ongoing or not ends else max(ends, key=lambda d: d.earliest)
        if next_start is not None and ongoing:
            ongoing, end = False, None
        reasons = [m.exposure.reason_stopped for m in members if m.exposure.reason_stopped]
        reason = "progression" if "progression" in reasons else (reasons[-1] if reasons else None)
        if ongoing:  # a line still running has not stopped: a course paused for toxicity and resumed (fresh7 p05:
            # T-DXd held for grade 1 pneumonitis, then restarted) is not the line's reason to stop
            reason = None
        if reason is None and next_start is not None and _progressions_between(statuses, start, next_start):
            reason = "progression"
        drugs = tuple(dict.fromkeys(m.drug for m in members))
        lines.append(Line(i, drugs, start, end, reason, ongoing, tuple(members), why))
    return lines, notes


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def exposures(courses: list[Course], lines: Sequence[Line] = ()) -> dict[str, dict[str, object]]:
    """For every drug class and flagged drug: ever given, given for metastatic disease, given for early disease. A
    course begun for early disease that joined a metastatic line (ovarian suppression given on into it) counts for
    both."""
    joined = {id(m) for line in lines for m in line.courses}
    cat = catalogue()
    keys = list(cat.classes) + list(FLAG_DRUGS)
    out: dict[str, dict[str, object]] = {
        k: {"any": False, "metastatic": False, "early": False, "drugs": []} for k in keys
    }
    for c in courses:
        drug = cat.drugs.get(c.drug)
        if drug is None:
            continue
        for k in [*drug.classes, *([drug.name] if drug.name in FLAG_DRUGS else [])]:
            row = out[k]
            row["any"] = True
            if c.setting == "metastatic" or id(c) in joined:
                row["metastatic"] = True
            if c.setting in ("neoadjuvant", "adjuvant"):
                row["early"] = True
            names = row["drugs"]
            assert isinstance(names, list)
            if drug.name not in names:
                names.append(drug.name)
    return out


def latest_status(statuses: tuple[DiseaseStatus, ...], since: PartialDate | None = None) -> DiseaseStatus | None:
    """The latest dated disease status, on or after `since` when given (record order breaks a tie)."""
    dated = sorted(
        ((s.date.earliest, i, s) for i, s in enumerate(statuses) if s.date is not None),
        key=lambda x: (x[0], x[1]),
    )
    on = [s for d, _, s in dated if since is None or d >= since.earliest]
    return on[-1] if on else None


def latest_status_on(line: Line, statuses: tuple[DiseaseStatus, ...]) -> DiseaseStatus | None:
    """What the record last said about the disease during this line: the latest dated disease status on or after the
    line's start (any dated one when the start is unknown)."""
    return latest_status(statuses, line.start)


# Drug classes whose end before a relapse trial criteria and guidelines time: KEYNOTE-355 (>= 6 months since curative
# treatment), DESTINY-Breast04 and ASCENT (a relapse within 6 / 12 months of (neo)adjuvant chemotherapy counts as a
# line), CLEOPATRA (>= 12 months since (neo)adjuvant HER2 therapy), endocrine resistance (assess/resistance.py).
_EARLY_CLASSES = (
    ("chemotherapy", "chemotherapy"),
    ("her2_directed", "HER2-directed therapy"),
    ("immunotherapy", "immunotherapy"),
    ("endocrine", "endocrine therapy"),
)


def relapse_after_early_treatment(
    courses: list[Course], first_metastasis: PartialDate | None
) -> list[dict[str, object]]:
    """For recurrent disease, per drug class of (neo)adjuvant treatment: its last course, when it ended and the months
    from that end to the first distant metastasis (a range's midpoint when dates are partial), or that the relapse came
    while it was still given. Pure: courses with their settings in, one row per class given in the early setting."""
    if first_metastasis is None:
        return []
    cat = catalogue()
    out: list[dict[str, object]] = []
    for klass, label in _EARLY_CLASSES:
        early = [
            c
            for c in courses
            if c.setting in ("neoadjuvant", "adjuvant")
            and cat.has_class(c.drug, klass)
            and (c.start is None or c.start.earliest <= first_metastasis.latest)
        ]
        if not early:
            continue
        running = [c for c in early if c.end is None or c.end.earliest >= first_metastasis.latest]
        if running:
            c = running[-1]
            out.append(
                {
                    "class": klass,
                    "label": label,
                    "drug": c.drug,
                    "ended": None,
                    "months": None,
                    "approximate": False,
                    "on_treatment": True,
                }
            )
            continue
        last = max(early, key=lambda c: c.end.latest if c.end else date.min)
        assert last.end is not None
        span = interval(last.end, first_metastasis)
        out.append(
            {
                "class": klass,
                "label": label,
                "drug": last.drug,
                "ended": str(last.end),
                "months": span.mid_months,
                "approximate": not span.exact,
                "on_treatment": False,
            }
        )
    return out
