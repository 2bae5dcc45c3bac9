"""De novo vs recurrent metastatic disease, and the metastasis-free interval."""

from __future__ import annotations

from dataclasses import dataclass

from mbcnav.assess.config import AssessmentConfig
from mbcnav.dates import AVERAGE_MONTH_DAYS, PartialDate, interval, months_to_days


@dataclass(frozen=True, slots=True)
class Presentation:
    value: str  # de_novo | recurrent | not_metastatic | unknown
    basis: str
    mfi_months: float | None
    mfi_approximate: bool


def assess_presentation(
    metastatic: bool | None,
    diagnosis: PartialDate | None,
    first_metastasis: PartialDate | None,
    config: AssessmentConfig,
) -> Presentation:
    """De novo when the first distant metastasis is found within `de_novo_window_months` of the first breast cancer
    diagnosis (default 4 months, the AJCC 8th staging time frame); recurrent when later. The metastasis-free
    interval (MFI) runs from primary diagnosis to first distant metastasis (as in Lobbezoo et al., Br J Cancer
    2015;112:1445-51). Partial dates give a range; when the range straddles the window the verdict is unknown."""
    if metastatic is False:
        return Presentation("not_metastatic", "no distant metastasis in the record", None, False)
    if metastatic is None:
        return Presentation("unknown", "metastatic status unknown", None, False)
    if diagnosis is None or first_metastasis is None:
        missing = "primary diagnosis date" if diagnosis is None else "date of the first distant metastasis"
        return Presentation("unknown", f"{missing} missing: no dates, no verdict", None, False)
    span = interval(diagnosis, first_metastasis)
    window = months_to_days(config.de_novo_window_months)
    approx = not span.exact
    wording = f"{config.de_novo_window_months:g}-month window (AJCC staging time frame)"
    if span.max_days < -window:
        return Presentation(
            "unknown",
            f"first metastasis ({first_metastasis}) dated more than the window before the "
            f"breast cancer diagnosis ({diagnosis}): check the dates",
            None,
            approx,
        )
    if span.max_days <= window:
        return Presentation(
            "de_novo",
            f"distant metastasis ({first_metastasis}) within the {wording} of diagnosis ({diagnosis})",
            None,
            approx,
        )
    if span.min_days > window:
        months = round(span.min_days / AVERAGE_MONTH_DAYS, 1) if span.exact else span.mid_months
        return Presentation(
            "recurrent",
            f"first distant metastasis ({first_metastasis}) {months:g} months after "
            f"diagnosis ({diagnosis}), beyond the {wording}",
            months,
            approx,
        )
    return Presentation(
        "unknown",
        f"date precision ({diagnosis} to {first_metastasis}) cannot place the first "
        f"metastasis inside or outside the {wording}",
        None,
        True,
    )
