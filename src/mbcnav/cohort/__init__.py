"""Population screening of a FHIR Bulk Data export (`mbcnav cohort`): per patient the same pathway as every face
(assessment, problem-list findings, monitoring due, trial candidates), as tables; two engines, local and Spark,
give the same tables. See docs/cohort.md."""

from __future__ import annotations

from mbcnav.cohort.core import SORT_KEYS, TABLES, classify_line, patient_key, screen_patient
from mbcnav.cohort.run import RunResult, screen_export

__all__ = ["SORT_KEYS", "TABLES", "RunResult", "classify_line", "patient_key", "screen_export", "screen_patient"]
