"""Response for a whole record: one RECIST evaluation per line of therapy (its use by the assessment, RECIST
progression as documented progression, is mbcnav.pathway.assess_with_response)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from mbcnav.assess.therapy import Line
from mbcnav.record.fhir import AS_OF_LOCATION
from mbcnav.record.model import LocalTreatment, Record
from mbcnav.response.recist import LineResponse, LineWindow, ResponseConfig, _readings, evaluate_line, lesion_infos

SCHEMA_VERSION = "1.1"


@dataclass
class ResponseReport:
    patient_id: str | None
    lines: list[LineResponse]
    notes: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "patient": self.patient_id,
            "lines": [line.as_json() for line in self.lines],
            "notes": self.notes,
        }


def windows(lines: tuple[Line, ...] | list[Line]) -> list[LineWindow]:
    out = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1].start if i + 1 < len(lines) else None
        out.append(LineWindow(line.number, line.start, line.end, nxt, line.drugs, line.reason_stopped))
    return out


def evaluate_response(
    record: Record,
    lines: tuple[Line, ...] | list[Line],
    config: ResponseConfig | None = None,
    baseline: date | None = None,
) -> ResponseReport:
    """RECIST 1.1 for each metastatic line. With `baseline`, that date is the baseline of the line it falls in
    (the first line when it precedes them all)."""
    cfg = config or ResponseConfig()
    # --as-of: the record was read as known on that date; say so once, as the assessment does
    notes: list[str] = [i.message for i in record.input_issues if i.location == AS_OF_LOCATION]
    if not record.measurements:
        notes.append("no tumour measurements in the record")
    infos = lesion_infos(record.lesions, record.measurements)
    readings = _readings(record.measurements, cfg)
    wins = windows(lines)
    if not wins and record.measurements:
        notes.append("no line of therapy in the metastatic setting: nothing to measure response against")
    results = []
    for w in wins:
        given = None
        if baseline is not None:
            starts = [x.start.earliest if x.start else date.max for x in wins]
            idx = max([i for i, s in enumerate(starts) if s <= baseline] or [0])
            if wins[idx] is w:
                given = baseline
        results.append(evaluate_line(w, infos, readings, record.metastases, cfg, given))
    for r in results:
        r.notes += _irradiated_targets(r, record.local_treatments)
    return ResponseReport(record.patient.id, results, notes)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _irradiated_targets(r: LineResponse, treatments: tuple[LocalTreatment, ...]) -> list[str]:
    """A target lesion irradiated after the line's baseline (fresh8 q06: SBRT to the progressing rib target while the
    line went on): its later sizes reflect the radiotherapy as well as the line. Matched by the treatment's site,
    every word of which the lesion's name or site must hold ("right 6th rib" in "bone right 6th rib")."""
    if r.baseline_date is None:
        return []
    out = []
    for t in treatments:
        when = t.start.earliest if t.start else None
        site = _words(t.site or "")
        if t.kind != "radiotherapy" or when is None or when <= r.baseline_date or not site:
            continue
        for info, _ in r.targets:
            if site <= _words(f"{info.lesion_id} {info.site}"):
                out.append(
                    f"target {info.lesion_id} was irradiated on {t.start} (after this line's baseline): its later "
                    "sizes reflect the radiotherapy as well as the line; read the response from then on with that in "
                    "mind"
                )
    return out
