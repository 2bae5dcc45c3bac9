"""Shared helpers: small Record builders so each rule is tested on exactly the facts it needs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mbcnav.dates import PartialDate
from mbcnav.record.model import (
    UNKNOWN_SPECIMEN,
    Metastasis,
    Patient,
    PrimaryCancer,
    ReceptorResult,
    Record,
    Source,
    Specimen,
    StageGroup,
    TherapyExposure,
    TnmCategory,
)

TODAY = date(2026, 11, 26)
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def d(text: str | None) -> PartialDate | None:
    return PartialDate.parse(text) if text else None


def src(name: str = "x") -> Source:
    return Source(f"Test/{name}", name)


def patient(sex: str = "female", menopause: str = "post") -> Patient:
    return Patient("p1", d("1960-01-01"), sex, menopause, None, src("patient"))  # type: ignore[arg-type]


def primary(diagnosed: str | None = "2020-01-15") -> PrimaryCancer:
    return PrimaryCancer(d(diagnosed), "left", None, None, "breast cancer", src("primary"))


def met(
    site: str,
    when: str | None,
    *,
    lesions: int | None = None,
    region: str | None = None,
    status: str = "active",
    detail: str | None = None,
) -> Metastasis:
    return Metastasis(site, detail or site, d(when), None, lesions, region, status, src(f"met-{site}"))  # type: ignore[arg-type]


def receptor(
    marker: str, *, when: str = "2020-01-15", specimen: str = "primary", site: str | None = None, **kw: Any
) -> ReceptorResult:
    spec = UNKNOWN_SPECIMEN if specimen == "unknown" else Specimen(specimen, site, d(when), None)  # type: ignore[arg-type]
    values: dict[str, Any] = {"status": None, "percent": None, "ihc_score": None, "ish": None, "cps": None}
    values.update(kw)
    return ReceptorResult(
        marker,
        d(when),
        "IHC",
        values["status"],
        values["percent"],
        values["ihc_score"],  # type: ignore[arg-type]
        values["ish"],
        values["cps"],
        spec,
        src(f"{marker}-{when}-{specimen}"),
    )


def drug(
    name: str,
    start: str | None,
    end: str | None = None,
    *,
    setting: str = "unknown",
    reason: str | None = None,
    ongoing: bool | None = None,
) -> TherapyExposure:
    return TherapyExposure(
        name,
        True,
        d(start),
        d(end),
        end is None if ongoing is None else ongoing,
        setting,
        "test",
        reason,
        src(f"{name}-{start}"),
    )  # type: ignore[arg-type]


def stage(group: str, when: str | None, kind: str = "clinical") -> StageGroup:
    return StageGroup(group, kind, d(when), src(f"stage-{group}"))  # type: ignore[arg-type]


def mcat(value: str, when: str | None) -> TnmCategory:
    return TnmCategory("M", value, "clinical", d(when), src(f"m-{value}"))


def record(**kw: Any) -> Record:
    kw.setdefault("patient", patient())
    kw.setdefault("primaries", (primary(),))
    return Record(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})


@pytest.fixture
def today() -> date:
    return TODAY


# A primary breast cancer Condition (SNOMED 254837009) of patient p1, diagnosed 2019-02-01, for FHIR reader tests.
PRIMARY_BREAST_CANCER: dict[str, object] = {
    "resourceType": "Condition",
    "id": "c1",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
    "subject": {"reference": "Patient/p1"},
    "onsetDateTime": "2019-02-01",
}
