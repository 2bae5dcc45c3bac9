"""Menopausal status with provenance (NCCN Breast Cancer guideline, definition of menopause). Pure.

In order: men (and other sex) -> not applicable; a bilateral oophorectomy -> post; age >= 60 on the as-of date ->
post; else the latest dated recorded status; else amenorrhoea for >= 12 months without chemotherapy, tamoxifen /
toremifene or ovarian suppression, with FSH and estradiol in the laboratory's postmenopausal range -> post; else
unknown. Unknown is never read as postmenopausal.

"In the postmenopausal range": FSH at or above the lower limit of the postmenopausal range (menopause raises FSH; a
value above the range's upper limit is no less postmenopausal), estradiol at or below its upper limit. The range is
the one the record labels postmenopausal; without one, the cited default of terminology/labs.yaml, named as assumed
in the basis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from mbcnav.assess.labs import display_number
from mbcnav.dates import PartialDate
from mbcnav.knowledge.drugs import catalogue
from mbcnav.record.model import LabResult, MenopauseReading, Record

Status = Literal["pre", "peri", "post", "unknown", "not_applicable"]
NCCN = "NCCN Breast Cancer guideline, definition of menopause"
AGE_POSTMENOPAUSAL = 60
AMENORRHOEA_MONTHS = 12
# Drug classes after which amenorrhoea does not establish menopause (NCCN): chemotherapy, SERMs (tamoxifen,
# toremifene), ovarian function suppression.
_CONFOUNDING_CLASSES = ("chemotherapy", "serm", "ovarian_suppression")


@dataclass(frozen=True, slots=True)
class MenopauseAssessment:
    status: Status
    basis: str
    source: str | None  # "Procedure/x", "Observation/y", "Patient/z" (birth date) ...
    date: PartialDate | None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "basis": self.basis,
            "source": self.source,
            "date": str(self.date) if self.date else None,
        }

    @property
    def record_status(self) -> Literal["pre", "peri", "post", "unknown"]:
        """The status as the patient-level vocabulary (pre/peri/post/unknown) has it."""
        return self.status if self.status in ("pre", "peri", "post") else "unknown"


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _on_or_before(d: PartialDate | None, as_of: date) -> bool:
    return d is None or d.earliest <= as_of


def latest_reading(readings: tuple[MenopauseReading, ...], as_of: date) -> MenopauseReading | None:
    """The latest dated reading on or before as_of (undated ones only when none is dated and all agree)."""
    dated = [r for r in readings if r.date is not None and r.date.earliest <= as_of]
    if dated:
        newest = max(r.date.earliest for r in dated if r.date is not None)
        top = [r for r in dated if r.date is not None and r.date.earliest == newest]
    else:
        top = [r for r in readings if r.date is None]
    if not top or len({r.status for r in top}) > 1:
        return None
    return top[-1]


def _in_postmenopausal_range(lab: LabResult | None, side: Literal["at_least_low", "at_most_high"]) -> bool | None:
    """FSH: at or above the range's lower limit; estradiol: at or below its upper limit (the other bound only when
    the range has no such limit)."""
    if lab is None or lab.postmenopausal_range is None:
        return None
    rr = lab.postmenopausal_range
    if side == "at_least_low" and rr.low is not None:
        return lab.value >= rr.low
    if side == "at_most_high" and rr.high is not None:
        return lab.value <= rr.high
    return (rr.low is None or lab.value >= rr.low) and (rr.high is None or lab.value <= rr.high)


def _range_note(lab: LabResult) -> str:
    rr = lab.postmenopausal_range
    if rr is None:
        return ""
    if lab.analyte == "fsh" and rr.low is not None:
        bound = f"≥ {rr.low:.3g}"
    elif rr.high is not None:
        bound = f"≤ {rr.high:.3g}"
    else:
        bound = f"≥ {rr.low:.3g}" if rr.low is not None else ""
    where = f"assumed, no postmenopausal range in the record: {rr.source}" if rr.assumed else "the record's range"
    return f", postmenopausal {bound} {lab.unit} ({where})"


def _latest_lab(record: Record, analyte: str, as_of: date) -> LabResult | None:
    rows = [r for r in record.labs if r.analyte == analyte and r.date is not None and r.date.earliest <= as_of]
    return max(rows, key=lambda r: r.date.earliest if r.date else date.min) if rows else None


def _amenorrhoea(record: Record, as_of: date) -> tuple[MenopauseAssessment | None, str | None]:
    """Post by amenorrhoea + FSH + estradiol (NCCN), or (None, why it does not apply)."""
    rows = [f for f in record.findings if f.name == "amenorrhoea" and f.date is not None and f.date.earliest <= as_of]
    if not rows:
        return None, None
    amen = max(rows, key=lambda f: f.date.earliest if f.date else date.min)
    assert amen.date is not None
    months = (as_of - amen.date.latest).days / 30.4375
    if months < AMENORRHOEA_MONTHS:
        return None, f"amenorrhoea since {amen.date} is shorter than {AMENORRHOEA_MONTHS} months"
    cat = catalogue()
    window_start = amen.date.earliest - timedelta(days=365)
    for t in record.therapies:
        if not any(cat.has_class(t.drug, k) for k in _CONFOUNDING_CLASSES):
            continue
        ends_after = t.ongoing or t.end is None or t.end.latest >= window_start
        if ends_after and _on_or_before(t.start, as_of):
            return None, (
                f"amenorrhoea since {amen.date} follows or overlaps {t.drug} ({t.source.resource}): after "
                "chemotherapy, tamoxifen/toremifene or ovarian suppression it does not establish menopause"
            )
    fsh = _latest_lab(record, "fsh", as_of)
    e2 = _latest_lab(record, "estradiol", as_of)
    fsh_ok = _in_postmenopausal_range(fsh, "at_least_low")
    e2_ok = _in_postmenopausal_range(e2, "at_most_high")
    if fsh_ok and e2_ok and fsh is not None and e2 is not None:
        return (
            MenopauseAssessment(
                "post",
                f"amenorrhoea for {months:.0f} months (since {amen.date}, {amen.source.resource}) without "
                "chemotherapy, tamoxifen/toremifene or ovarian suppression, "
                f"FSH {display_number(fsh.value)} {fsh.unit} "
                f"({fsh.source.resource}{_range_note(fsh)}) and estradiol {display_number(e2.value)} {e2.unit} "
                f"({e2.source.resource}{_range_note(e2)}) in the postmenopausal range ({NCCN})",
                amen.source.resource,
                max(fsh.date, e2.date) if fsh.date and e2.date else amen.date,
            ),
            None,
        )
    missing = [n for n, ok in (("FSH", fsh_ok), ("estradiol", e2_ok)) if not ok]
    return None, (
        f"amenorrhoea for {months:.0f} months, but {' and '.join(missing)} not shown in the laboratory's "
        "postmenopausal range (missing, outside it, or no postmenopausal reference range in the record)"
    )


def assess_menopause(record: Record, as_of: date) -> MenopauseAssessment:
    p = record.patient
    if p.sex in ("male", "other"):
        return MenopauseAssessment("not_applicable", f"sex recorded as {p.sex}", None, None)
    reading = latest_reading(record.menopause_readings, as_of)
    recorded_note = ""
    if reading is not None:
        recorded_note = f"; recorded status {reading.status} ({reading.date or 'undated'}, {reading.source.resource})"
    oophorectomies = [f for f in record.findings if f.name == "bilateral_oophorectomy" and _on_or_before(f.date, as_of)]
    if oophorectomies:
        o = oophorectomies[0]
        return MenopauseAssessment(
            "post",
            f"bilateral oophorectomy ({o.text}, {o.date or 'undated'}) ({NCCN})"
            + (recorded_note if reading is not None and reading.status != "post" else ""),
            o.source.resource,
            o.date,
        )
    if p.birth_date is not None and _add_years(p.birth_date.latest, AGE_POSTMENOPAUSAL) <= as_of:
        return MenopauseAssessment(
            "post",
            f"age {AGE_POSTMENOPAUSAL} or older on {as_of} (born {p.birth_date}) ({NCCN})"
            + (recorded_note if reading is not None and reading.status != "post" else ""),
            p.source.resource if p.source else None,
            PartialDate.of(_add_years(p.birth_date.latest, AGE_POSTMENOPAUSAL)),
        )
    if reading is not None:
        return MenopauseAssessment(
            reading.status,
            f"recorded: {reading.text} "
            + (f"({reading.date}; the latest dated reading)" if reading.date else "(undated; no dated reading)"),
            reading.source.resource,
            reading.date,
        )
    if not record.menopause_readings and p.menopausal_status != "unknown":
        return MenopauseAssessment(
            p.menopausal_status,
            "recorded on the patient",
            p.source.resource if p.source else None,
            None,
        )
    derived, why = _amenorrhoea(record, as_of)
    if derived is not None:
        return derived
    age = (
        "age under 60"
        if p.birth_date is not None and _add_years(p.birth_date.earliest, AGE_POSTMENOPAUSAL) > as_of
        else "age unknown"
        if p.birth_date is None
        else "age possibly 60 (partial birth date)"
    )
    basis = f"no recorded menopausal status, no bilateral oophorectomy, {age}"
    if why:
        basis += f"; {why}"
    if record.menopause_readings:
        basis += "; recorded readings disagree on their latest date"
    return MenopauseAssessment("unknown", basis + ": not assumed postmenopausal", None, None)
