"""The reader against third-party FHIR data in ../shared/data/fhir (mCODE STU1/STU4 examples, extraction-framework
fixtures, SMART STU3 bundles): every file loads or is rejected with a message, and known facts come out right."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from mbcnav.assess import assess
from mbcnav.record.model import Record
from mbcnav.record.reader import UnusableInput, read_path

TODAY = date(2026, 11, 26)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FHIR = SHARED / "data" / "fhir"
FOLDERS = (
    "mcode-ig-stu4/examples",
    "mcode-ig-stu1/examples",
    "mcode-extraction-framework/fixtures",
    "smart-sample-stu3",
)

if not FHIR.is_dir():
    pytest.skip(f"shared FHIR data not found at {FHIR}", allow_module_level=True)

STU4 = FHIR / "mcode-ig-stu4" / "examples"
STU1 = FHIR / "mcode-ig-stu1" / "examples"
EXTRACTION = FHIR / "mcode-extraction-framework" / "fixtures"
SMART_STU3 = FHIR / "smart-sample-stu3"

ALL_FILES = sorted(p for folder in FOLDERS for p in (FHIR / folder).rglob("*.json"))
TEMPLATE_DATE_FILES = sorted(p for p in EXTRACTION.glob("*.json") if "YYYY-MM-DD" in p.read_text("utf-8"))


def _rel(p: Path) -> str:
    return str(p.relative_to(FHIR))


def test_shared_data_is_there() -> None:
    # Guards the parametrisation below against silently running over nothing.
    counts = {folder: len(list((FHIR / folder).rglob("*.json"))) for folder in FOLDERS}
    assert counts == {
        "mcode-ig-stu4/examples": 179,
        "mcode-ig-stu1/examples": 28,
        "mcode-extraction-framework/fixtures": 19,
        "smart-sample-stu3": 8,
    }
    assert len(TEMPLATE_DATE_FILES) >= 3


@pytest.mark.parametrize("path", ALL_FILES, ids=_rel)
def test_every_file_loads_or_is_unusable(path: Path) -> None:
    try:
        record = read_path(path, today=TODAY)
    except UnusableInput as err:
        assert isinstance(err.message, str)
        assert err.message.strip()
        assert str(err) == err.message
        return
    assert isinstance(record, Record)
    assert record.resource_count >= 1
    for issue in record.input_issues:
        assert issue.location.strip()
        assert issue.message.strip()
        assert issue.severity in ("error", "warning")
    # What loads can be assessed and written out as strict JSON.
    out = assess(record, as_of=TODAY).to_json()
    json.dumps(out, allow_nan=False)


# ---- mCODE STU4: the Jenny M patient bundle ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def jenny() -> Record:
    return read_path(STU4 / "Bundle-mcode-patient-bundle-jenny-m.json", today=TODAY)


def _receptor(record: Record, marker: str) -> list[str | None]:
    return [r.status for r in record.receptors if r.marker == marker]


def test_jenny_m_receptors(jenny: Record) -> None:
    assert _receptor(jenny, "ER") == ["positive"]
    assert _receptor(jenny, "PR") == ["negative"]
    assert _receptor(jenny, "HER2") == ["negative"]


def test_jenny_m_staging_and_performance(jenny: Record) -> None:
    assert [g.group for g in jenny.stage_groups if g.staging_type == "clinical"] == ["IIB"]
    assert [t.value for t in jenny.tnm if t.axis == "M"] == ["cM0"]
    assert [(p.scale, p.value) for p in jenny.performance] == [("ECOG", 0)]
    assert jenny.metastases == ()


def test_jenny_m_therapies(jenny: Record) -> None:
    drugs = {t.drug for t in jenny.therapies}
    assert "anastrozole" in drugs
    anastrozole = next(t for t in jenny.therapies if t.drug == "anastrozole")
    assert anastrozole.known_drug
    assert str(anastrozole.start) == "2018-09-30"


def test_jenny_m_assessment(jenny: Record) -> None:
    out = assess(jenny, as_of=TODAY).to_json()
    assert out["subtype"]["er"] == "positive"
    assert out["subtype"]["pr"] == "negative"
    assert out["subtype"]["her2"] == "negative"
    assert out["stage"]["group"] == "IIB"
    assert out["metastatic"] is False
    assert out["ecog"] == 0
    assert "anastrozole" in {t["drug"] for t in out["therapies"]}


# ---- mCODE STU1 and STU4 single resources ------------------------------------------------------------------------


def test_stu1_clinical_stage_group_3c_is_iiic() -> None:
    path = STU1 / "Observation-mCODETNMClinicalStageGroupExample01.json"
    raw = json.loads(path.read_text("utf-8"))
    assert any(c.get("code") == "21908-9" for c in raw["code"]["coding"])  # the premise of this test
    assert "3C" in json.dumps(raw["valueCodeableConcept"])
    record = read_path(path, today=TODAY)
    assert [(g.group, g.staging_type) for g in record.stage_groups] == [("IIIC", "clinical")]


def test_stu1_secondary_cancer_condition_is_brain_metastasis() -> None:
    record = read_path(STU1 / "Condition-mCODESecondaryCancerConditionExample01.json", today=TODAY)
    assert [m.site for m in record.metastases] == ["brain"]
    assert record.primaries == ()


def test_stu4_brain_mets_condition_site_is_brain() -> None:
    record = read_path(STU4 / "Condition-secondary-cancer-condition-brain-mets.json", today=TODAY)
    assert [m.site for m in record.metastases] == ["brain"]
    assert str(record.metastases[0].date) == "2019-05-01"
    out = assess(record, as_of=TODAY).to_json()
    assert out["metastatic"] is True
    assert out["cns"] is True


# ---- STU3 is rejected --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SMART_STU3.glob("*.json")), ids=lambda p: p.name)
def test_smart_stu3_bundles_are_rejected_as_stu3(path: Path) -> None:
    with pytest.raises(UnusableInput) as info:
        read_path(path, today=TODAY)
    assert "STU3" in info.value.message


def test_stu3_observation_context_is_a_tell_tale() -> None:
    # patient-765583 .02 holds only Observations: their STU3 `context` element is what gives it away.
    with pytest.raises(UnusableInput) as info:
        read_path(SMART_STU3 / "patient-765583.fhir-bundle.02.json", today=TODAY)
    assert "Observation.context" in info.value.message


def test_stu3_tell_tale_is_located() -> None:
    with pytest.raises(UnusableInput) as info:
        read_path(SMART_STU3 / "patient-765583.fhir-bundle.json", today=TODAY)
    assert "entry[" in info.value.message
    assert "R4" in info.value.message


# ---- extraction-framework fixtures with template dates -----------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATE_DATE_FILES, ids=lambda p: p.name)
def test_template_dates_become_located_input_issues(path: Path) -> None:
    record = read_path(path, today=TODAY)  # no exception
    date_issues = [i for i in record.input_issues if "YYYY-MM-DD" in i.message or "DateTime value" in i.message]
    assert date_issues, record.input_issues
    for issue in date_issues:
        assert "entry[" in issue.location
        assert issue.location.startswith(path.name)
    # A template date is never used as a date.
    for therapy in record.therapies:
        assert therapy.start is None and therapy.end is None


def test_unparseable_template_date_names_the_field() -> None:
    record = read_path(EXTRACTION / "csv-medication-request-bundle.json", today=TODAY)
    hits = [i for i in record.input_issues if "YYYY-MM-DD" in i.message]
    assert hits
    assert any(i.location.endswith("authoredOn") and i.severity == "error" for i in hits)


@pytest.mark.parametrize("path", TEMPLATE_DATE_FILES, ids=lambda p: p.name)
def test_strict_rejects_a_file_with_input_issues(path: Path) -> None:
    lenient = read_path(path, today=TODAY)
    assert lenient.input_issues
    with pytest.raises(UnusableInput) as info:
        read_path(path, strict=True, today=TODAY)
    assert "strict" in info.value.message
    assert list(info.value.problems) == list(lenient.input_issues)


def test_strict_accepts_a_clean_file() -> None:
    # The strict rejection above is about the issues, not about strict mode rejecting everything.
    clean = Path(__file__).resolve().parents[1] / "examples" / "fhir" / "01-de-novo-hr-pos-bone-only.json"
    record = read_path(clean, strict=True, today=TODAY)
    assert record.input_issues == ()
