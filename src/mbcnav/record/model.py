"""Immutable, typed facts about one patient, each carrying the resource and date it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mbcnav.dates import PartialDate
from mbcnav.terminology.findings import FindingName

Sex = Literal["female", "male", "other", "unknown"]
Menopause = Literal["pre", "peri", "post", "unknown"]
Setting = Literal["neoadjuvant", "adjuvant", "early", "metastatic", "unknown"]
StopReason = Literal["progression", "toxicity", "completed", "patient_choice", "other"]
StagingType = Literal["clinical", "pathological", "post_therapy", "unknown"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a fact came from: the FHIR resource (Type/id) and its position in the input."""

    resource: str
    location: str

    def __str__(self) -> str:
        return self.resource


@dataclass(frozen=True, slots=True)
class InputIssue:
    """A problem found in the input; `severity` error means the fact was dropped, warning means it was kept."""

    location: str
    message: str
    severity: Literal["error", "warning"] = "warning"

    def as_json(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message, "severity": self.severity}


@dataclass(frozen=True, slots=True)
class Patient:
    id: str | None
    birth_date: PartialDate | None
    sex: Sex
    menopausal_status: Menopause
    pregnant: bool | None
    source: Source | None


@dataclass(frozen=True, slots=True)
class PrimaryCancer:
    diagnosis_date: PartialDate | None
    laterality: Literal["left", "right", "bilateral", "unknown"]
    histology: str | None
    grade: str | None
    description: str
    source: Source


@dataclass(frozen=True, slots=True)
class Specimen:
    """Where tissue for a test came from: the primary breast tumour, a named metastatic site, blood, or unknown."""

    kind: Literal["primary", "metastasis", "blood", "unknown"]
    site: str | None  # a site from the vocabulary when kind == "metastasis"
    date: PartialDate | None
    description: str | None


UNKNOWN_SPECIMEN = Specimen("unknown", None, None, None)


@dataclass(frozen=True, slots=True)
class ReceptorResult:
    """One ER, PR or HER2 (or PD-L1 / Ki-67) result as reported, before any interpretation."""

    marker: Literal["ER", "PR", "HER2", "PD-L1", "Ki67"]
    date: PartialDate | None
    method: Literal["IHC", "ISH", "unspecified"]
    status: Literal["positive", "negative", "low", "equivocal"] | None
    percent: float | None
    ihc_score: Literal["0", "ultralow", "1+", "2+", "3+"] | None
    ish: Literal["positive", "negative", "equivocal"] | None
    cps: float | None
    specimen: Specimen
    source: Source


@dataclass(frozen=True, slots=True)
class GenomicFinding:
    gene: str
    origin: Literal["germline", "somatic", "unknown"]
    result: Literal["pathogenic", "likely_pathogenic", "vus", "benign", "detected", "not_detected", "unknown"]
    variant: str | None
    date: PartialDate | None
    specimen: Specimen
    source: Source


@dataclass(frozen=True, slots=True)
class GenomicSignature:
    """Tumour-wide signatures: MSI, TMB."""

    name: Literal["MSI", "TMB"]
    value: str
    numeric: float | None
    date: PartialDate | None
    source: Source


@dataclass(frozen=True, slots=True)
class Metastasis:
    """A distant (or not yet classified nodal) site of spread."""

    site: str  # vocabulary: see mbcnav/terminology/sites.yaml
    detail: str
    date: PartialDate | None
    method: str | None
    lesion_count: int | None
    # Lymph nodes: "regional" (ipsilateral axillary / internal mammary / supraclavicular, AJCC N) or
    # "distant" (contralateral / cervical / other non-regional, AJCC M1) or None when the record does not say.
    # Skin / chest wall: "regional" when the record calls it a locoregional recurrence (sites.yaml `locoregional`).
    nodal_region: Literal["regional", "distant"] | None
    status: Literal["active", "resolved", "unknown"]
    source: Source


@dataclass(frozen=True, slots=True)
class TnmCategory:
    axis: Literal["T", "N", "M"]
    value: str  # normalised, e.g. "cM1", "pN2a", "cM0(i+)"
    staging_type: StagingType
    date: PartialDate | None
    source: Source


@dataclass(frozen=True, slots=True)
class StageGroup:
    group: str  # "0", "IA" .. "IIIC", "IV"
    staging_type: StagingType
    date: PartialDate | None
    source: Source


@dataclass(frozen=True, slots=True)
class PerformanceStatus:
    scale: Literal["ECOG", "Karnofsky"]
    value: int
    date: PartialDate | None
    source: Source


@dataclass(frozen=True, slots=True)
class TherapyExposure:
    """A continuous course of one cancer drug."""

    drug: str  # lowercase generic name from the drug catalogue, or the text given when unknown
    known_drug: bool
    start: PartialDate | None
    end: PartialDate | None
    ongoing: bool
    setting: Setting
    setting_basis: str
    reason_stopped: StopReason | None
    source: Source


@dataclass(frozen=True, slots=True)
class LocalTreatment:
    kind: Literal["surgery", "radiotherapy"]
    description: str
    start: PartialDate | None
    end: PartialDate | None
    site: str | None
    intent: Literal["curative", "palliative", "unknown"]
    source: Source


LesionStatus = Literal["measured", "present", "absent", "too_small", "unequivocal_progression", "merged"]


@dataclass(frozen=True, slots=True)
class Lesion:
    """A tumour lesion followed over time (mCODE Tumor BodyStructure); RECIST role when the record states it."""

    lesion_id: str
    site: str | None
    role: Literal["target", "non_target"] | None
    lymph_node: bool
    irradiated: bool
    source: Source


@dataclass(frozen=True, slots=True)
class TumorMeasurement:
    """One lesion assessed on one date (the raw material of RECIST): a size, or a radiologist's status."""

    lesion_id: str
    site: str | None
    date: PartialDate | None
    size_mm: float | None
    axis: Literal["long", "short"]
    method: str | None
    source: Source
    status: LesionStatus = "measured"
    slice_thickness_mm: float | None = None
    # RECIST 1.1 §4.2: the role the record gives the lesion at this assessment; a new line's baseline may re-select
    # targets, so a role stated here outranks the lesion's standing role (Lesion.role) at this baseline
    role: Literal["target", "non_target"] | None = None


@dataclass(frozen=True, slots=True)
class DiseaseStatus:
    """A clinician's or radiologist's statement of disease status (mCODE CancerDiseaseStatus)."""

    date: PartialDate | None
    status: Literal["progression", "stable", "responding", "no_evidence_of_disease", "undetermined"]
    source: Source


@dataclass(frozen=True, slots=True)
class Comorbidity:
    """A condition that changes treatment choices or trial eligibility (interstitial lung disease, heart failure, a
    transplant, another primary cancer ...)."""

    name: str  # a condition key of terminology/comorbidities.yaml (interstitial_lung_disease, hepatitis_b ...)
    text: str
    date: PartialDate | None
    source: Source
    # Condition.clinicalStatus: "resolved" for resolved / remission / inactive (a past condition: "history of" it holds,
    # "active" it does not); "active" otherwise, and when the record gives no status (a listed problem is current)
    status: Literal["active", "resolved"] = "active"


@dataclass(frozen=True, slots=True)
class ClinicalJudgement:
    """A clinician's recorded judgement, e.g. visceral crisis present or absent."""

    name: Literal["visceral_crisis"]
    present: bool
    date: PartialDate | None
    source: Source


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """A reference interval in the analyte's canonical unit; `source` "record" or a citation; `assumed` when the
    record gave none and a cited default is used."""

    low: float | None
    high: float | None
    source: str
    assumed: bool


@dataclass(frozen=True, slots=True)
class LabResult:
    """One laboratory (or LVEF) value, read by LOINC and converted to the analyte's canonical UCUM unit."""

    analyte: str  # key of terminology/labs.yaml: bilirubin, alt, ast, alp, albumin, creatinine, egfr, ...
    loinc: str | None
    value: float  # canonical unit
    unit: str  # canonical UCUM unit
    date: PartialDate | None
    reference_range: ReferenceRange | None
    source: Source
    reported_value: float
    reported_unit: str
    postmenopausal_range: ReferenceRange | None = None  # FSH / estradiol: the lab's postmenopausal interval


@dataclass(frozen=True, slots=True)
class MenopauseReading:
    """A recorded menopausal status (Observation value, or a Condition such as "Postmenopausal state")."""

    status: Literal["pre", "peri", "post"]
    date: PartialDate | None
    text: str
    source: Source


@dataclass(frozen=True, slots=True)
class ClinicalFinding:
    """A finding that changes an assessment rule: bilateral oophorectomy, Gilbert's syndrome, biliary obstruction,
    lymphangitic spread, dyspnoea at rest, amenorrhoea (date = onset; last menstrual period for amenorrhoea)."""

    name: FindingName
    text: str
    date: PartialDate | None
    source: Source


@dataclass(frozen=True, slots=True)
class Record:
    """Everything mbcnav read about one patient, plus the problems found while reading it."""

    patient: Patient
    primaries: tuple[PrimaryCancer, ...] = ()
    receptors: tuple[ReceptorResult, ...] = ()
    genomics: tuple[GenomicFinding, ...] = ()
    signatures: tuple[GenomicSignature, ...] = ()
    metastases: tuple[Metastasis, ...] = ()
    tnm: tuple[TnmCategory, ...] = ()
    stage_groups: tuple[StageGroup, ...] = ()
    performance: tuple[PerformanceStatus, ...] = ()
    therapies: tuple[TherapyExposure, ...] = ()
    local_treatments: tuple[LocalTreatment, ...] = ()
    measurements: tuple[TumorMeasurement, ...] = ()
    lesions: tuple[Lesion, ...] = ()
    comorbidities: tuple[Comorbidity, ...] = ()
    judgements: tuple[ClinicalJudgement, ...] = ()
    disease_statuses: tuple[DiseaseStatus, ...] = ()
    labs: tuple[LabResult, ...] = ()
    menopause_readings: tuple[MenopauseReading, ...] = ()
    findings: tuple[ClinicalFinding, ...] = ()
    input_issues: tuple[InputIssue, ...] = field(default=())
    resource_count: int = 0
