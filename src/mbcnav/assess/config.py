"""Tunable parameters of the assessment rules, each with the source of its default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AssessmentConfig:
    # De novo window: distant metastases found within this many months of the first breast cancer diagnosis count
    # as metastatic at diagnosis. Default 4 months = the AJCC staging time frame (AJCC Cancer Staging Manual 8th
    # ed., ch. 1: staging uses findings up to 4 months after diagnosis, or through first-course surgery if
    # longer, absent progression). Registries often use 3 months for "synchronous" disease: set 3 to follow them.
    de_novo_window_months: float = 4.0
    # Drugs started within this many days of a regimen's first drug belong to that regimen (project convention
    # after the line-of-therapy framework of Saini & Twelves, Br J Cancer 2021;125:155-63).
    regimen_window_days: int = 28
    # A regimen that follows, within this many days and without documented progression, a line whose every drug
    # stopped as planned ("completed": induction chemotherapy, then maintenance endocrine therapy + CDK4/6 inhibitor)
    # is maintenance of that line, not a new line (project convention after Saini & Twelves 2021: a line ends with
    # progression or a switch for another reason; a planned switch to maintenance is not one).
    maintenance_window_days: int = 56
    # ESO-ESMO ABC4 (Cardoso et al., Ann Oncol 2018;29:1634-57) endocrine-resistance time points.
    adjuvant_primary_resistance_months: float = 24.0
    post_adjuvant_secondary_months: float = 12.0
    first_line_primary_resistance_months: float = 6.0
    # ABC4: oligometastatic = low-volume disease, up to 5 lesions, not necessarily in the same organ.
    oligometastatic_max_lesions: int = 5
    # ASCO/CAP 2020 (Allison et al., J Clin Oncol 2020;38:1346-66): ER 1-10% is "ER Low Positive".
    er_low_max_percent: float = 10.0
    # HER2 IHC and ISH results on the same specimen within this many days are read together (ASCO/CAP 2018 reflex).
    her2_pairing_days: int = 60
