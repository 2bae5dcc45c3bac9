"""The structured form of eligibility criteria: constraints (typed, with polarity, span and cue) and criteria."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The parser's own constraint types (trials/criteria.py), then those of the readers registered in trials/kinds.py.
CONSTRAINT_TYPES: tuple[str, ...] = (
    "disease_breast",
    "advanced_disease",
    "hr_status",
    "her2_status",
    "her2_low",
    "tnbc",
    "receptor_any",  # receptor groups joined by "or" ("TNBC or ER-low"): params options = [[{type, params}, ...], ...]
    "prior_lines",
    "prior_therapy",
    "brain_mets",
    "measurable_disease",
    "ecog",
    "karnofsky",
    "age",
    "sex",
    "biomarker",
    "pregnancy",
    "life_expectancy",
    "organ_function",
    "other",
    "lab",  # trials/labs_criteria.py: a laboratory value or organ-function bound against the record's labs
    "washout",  # trials/windows.py: no therapy of a kind within N days before the first dose
    "interval",  # trials/windows.py: a minimum / maximum time since an event (end of adjuvant therapy, relapse ...)
    "comorbidity",  # trials/screening.py: a condition (infection, cardiac, other cancer ...) that excludes
    "screening",  # trials/screening.py: a procedural item confirmed at screening (consent, contraception, tissue)
    "standard_therapy",  # trials/standard_therapy.py: progressed on standard therapy / no standard option left
    "subgroup",  # trials/subgroups.py: the criterion binds only a subgroup (men, women of childbearing potential ...)
    "permission",  # trials/permissions.py: the criterion only allows something ("prior fulvestrant is allowed")
    "histology",  # trials/histology.py: a feature of the breast tumour (inflammatory, metaplastic, neuroendocrine)
    "menopausal_status",  # trials/menopause.py: postmenopausal / pre- or perimenopausal required
    "planned_therapy",  # trials/plans.py: a treatment the patient is to receive ("anticipated to receive paclitaxel")
    "trial_enrolment",  # trials/plans.py: currently enrolled in a treatment trial
    "tracer_uptake",  # trials/plans.py: a lesion positive on PET with a study tracer (SSTR, PSMA, FES ...)
    "oligoprogression",  # trials/progression.py: progression in N or fewer lesions ("1-3 sites of oligoprogression")
    "complete_response",  # trials/progression.py: the breast cancer in complete remission now
)
POLARITIES = ("required", "excluded")

# Types the record cannot decide by design: procedural items a study team confirms at screening. They are read (so
# a coordinator sees them grouped), never counted as met, and not counted among the decisive criteria of a study.
# A subgroup says whom a criterion binds, not a fact to decide (its other constraints are what decide).
NON_DECISIVE_TYPES: frozenset[str] = frozenset({"screening", "subgroup"})


@dataclass(frozen=True, slots=True)
class Constraint:
    """One structured requirement read from a criterion; `span` and `cue` say where and why."""

    type: str
    polarity: str  # "required": the patient must satisfy params; "excluded": the patient must NOT satisfy them
    params: dict[str, Any]
    span: tuple[int, int]  # offsets in the original, full criteria text
    cue: str


@dataclass(frozen=True, slots=True)
class Criterion:
    """One inclusion or exclusion criterion as written; no constraints means free text (verdict unknown).

    `cohort` names the cohort / part / arm a criterion applies to when the study lists criteria per cohort
    (None: every participant); `any_of` groups alternatives ("one of the following:", lines joined by "OR"): the
    inclusion criteria sharing an `any_of` id are met when one of them is (None: on its own); `all_of` marks an
    exclusion whose constraints exclude only together ("gBRCA mutation *and* prior PARP inhibitor"); `conditional`
    marks a criterion that binds only under a condition the reader cannot name."""

    kind: str  # "inclusion" | "exclusion"
    text: str
    start: int
    end: int
    constraints: tuple[Constraint, ...]
    cohort: str | None = None
    any_of: str | None = None
    all_of: bool = False
    parent: int | None = None  # index (in the study's criteria) of the list head this criterion is a sub-bullet of
    # binds only under a condition the reader cannot name ("If HER2-positive:", an arm heading it does not recognise):
    # its constraints are read, and the matcher lets them decide only where the condition cannot matter (an
    # exclusion the patient does not trigger); otherwise the criterion stays unknown
    conditional: bool = False
