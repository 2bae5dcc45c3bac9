"""The problem list: comorbidities read by SNOMED CT code, ICD-10-CM prefix or words (comorbidities.yaml)."""

from __future__ import annotations

import datetime
from pathlib import Path

from mbcnav.record import read_path
from mbcnav.record.model import Record
from mbcnav.terminology.comorbidities import comorbidity_names, comorbidity_of

D = datetime.date(2026, 11, 26)
CASES = Path(__file__).resolve().parents[1] / "examples" / "cases"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _case_with(tmp_path: Path, *comorbidities: str) -> Record:
    """Example case 07 read with these `comorbidities` entries (YAML flow mappings) added."""
    f = tmp_path / "c.yaml"
    entries = "".join(f"  - {c}\n" for c in comorbidities)
    f.write_text((CASES / "07-her2-low-after-cdk46.yaml").read_text() + "\ncomorbidities:\n" + entries)
    return read_path(f, today=D)


def test_read_by_code_before_words() -> None:
    assert comorbidity_of({"coding": [{"system": ICD, "code": "B18.1"}]}) == "hepatitis_b"
    assert comorbidity_of({"coding": [{"system": ICD, "code": "I48.91"}]}) == "cardiac_arrhythmia"
    assert comorbidity_of({"coding": [{"system": SCT, "code": "441509002"}]}) == "cardiac_pacemaker"
    assert comorbidity_of({"coding": [{"system": SCT, "code": "86406008"}], "text": "diabetes"}) == "hiv"
    assert comorbidity_of({"text": "Chronic hepatitis C, SVR 2017"}) == "hepatitis_c"
    # a family history, a negative test or a vaccination is not the condition
    assert comorbidity_of({"text": "Family history of stroke"}) is None
    assert comorbidity_of({"text": "Hepatitis B vaccination"}) is None


def test_a_case_files_comorbidity_is_coded_and_never_a_metastasis(tmp_path: Path) -> None:
    r = _case_with(
        tmp_path,
        '{condition: peripheral_neuropathy, date: "2024", text: "grade 2, paclitaxel for metastatic disease"}',
        '{condition: hepatitis_b, date: "2013", text: "chronic hepatitis B on entecavir"}',
    )
    assert [c.name for c in r.comorbidities] == ["peripheral_neuropathy", "hepatitis_b"]
    plain = read_path(CASES / "07-her2-low-after-cdk46.yaml", today=D)
    assert len(r.metastases) == len(plain.metastases)  # "metastatic disease" in the note is no site
    assert not r.input_issues


def test_a_negated_condition_in_the_words_is_not_that_condition() -> None:
    # written for the ninth held-out set (r09): read as interstitial lung disease, a false contraindication to T-DXd
    text = "Seropositive rheumatoid arthritis on methotrexate 15 mg weekly; no interstitial lung disease on CT"
    assert comorbidity_of({"text": text}) == "autoimmune_disease"
    assert comorbidity_of({"text": "No history of diabetes"}) is None
    assert comorbidity_of({"text": "Without pneumonitis after pembrolizumab"}) is None
    # the cue must stand in the same clause, just before the words
    assert comorbidity_of({"text": "No smoking history, interstitial lung disease since 2019"}) == (
        "interstitial_lung_disease"
    )
    assert comorbidity_of({"text": "Type 2 diabetes, not on insulin"}) == "diabetes"


def test_a_case_files_condition_key_wins_over_its_words(tmp_path: Path) -> None:
    r = _case_with(
        tmp_path,
        '{condition: autoimmune_disease, date: "2012", text: "rheumatoid arthritis with interstitial lung disease on '
        'CT, stable"}',
    )
    # the key the case file states, not the first condition its words name (ILD comes first in the table)
    assert [c.name for c in r.comorbidities] == ["autoimmune_disease"]
    assert comorbidity_of(
        {"coding": [{"system": "https://mbcnav.org/fhir/CodeSystem/comorbidity", "code": "hiv"}]}
    ) == ("hiv")
    # a key that is not ours is not read from that system
    assert (
        comorbidity_of({"coding": [{"system": "https://mbcnav.org/fhir/CodeSystem/comorbidity", "code": "x"}]}) is None
    )


def test_every_condition_key_is_in_the_case_file_schema() -> None:
    import json

    schema = json.loads(
        (Path(__file__).resolve().parents[1] / "src/mbcnav/record/schemas/casefile.schema.json").read_text()
    )
    enum = schema["properties"]["comorbidities"]["items"]["properties"]["condition"]["enum"]
    assert enum == list(comorbidity_names())


def test_a_transplant_and_another_primary_cancer_have_keys(tmp_path: Path) -> None:
    # writer findings of three held-out sets: a kidney transplant on tacrolimus and a treated thyroid cancer had no key
    assert comorbidity_of({"coding": [{"system": ICD, "code": "Z94.0"}]}) == "organ_transplant"
    assert comorbidity_of({"coding": [{"system": ICD, "code": "Z85.850"}]}) == "other_malignancy"
    assert comorbidity_of({"coding": [{"system": ICD, "code": "Z85.3"}]}) is None  # history of breast cancer: hers
    assert comorbidity_of({"text": "Kidney transplant recipient (2014) on tacrolimus"}) == "organ_transplant"
    assert comorbidity_of({"text": "Papillary thyroid carcinoma 2015, thyroidectomy and radioiodine"}) == (
        "other_malignancy"
    )
    r = _case_with(
        tmp_path,
        '{condition: other_malignancy, date: "2015", text: "papillary thyroid carcinoma, thyroidectomy + RAI"}',
        '{condition: organ_transplant, date: "2014", text: "deceased-donor kidney transplant, on tacrolimus"}',
    )
    assert [c.name for c in r.comorbidities] == ["other_malignancy", "organ_transplant"]
    assert not r.input_issues
