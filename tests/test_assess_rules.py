"""Each assessment rule on the edge cases that matter clinically (sources cited in the rule docstrings)."""

from __future__ import annotations

import pytest

from mbcnav.assess import assess
from mbcnav.assess.config import AssessmentConfig
from mbcnav.assess.subtype import her2_value
from mbcnav.record.model import DiseaseStatus, TnmCategory
from mbcnav.terminology.sites import classify_site

from .conftest import TODAY, d, drug, mcat, met, primary, receptor, record, src, stage


def run(**kw):  # type: ignore[no-untyped-def]
    cfg = kw.pop("config", None)
    return assess(record(**kw), as_of=TODAY, config=cfg).to_json()


# ---- stage (AJCC 8th) ----------------------------------------------------------------------------------------------
def test_any_m1_is_stage_iv() -> None:
    j = run(tnm=[mcat("cM1", "2020-01-20")])
    assert j["stage"]["group"] == "IV" and j["metastatic"] is True


def test_cm0_i_plus_is_not_stage_iv() -> None:
    j = run(tnm=[mcat("cM0(i+)", "2020-01-20")], stage_groups=[stage("IIA", "2020-01-20")])
    assert j["stage"]["group"] == "IIA" and j["metastatic"] is False


def test_secondary_condition_alone_makes_stage_iv() -> None:
    j = run(metastases=[met("liver", "2022-05-01")])
    assert j["stage"]["group"] == "IV" and "metastasis" in j["stage"]["basis"]


def test_stage_iii_with_later_relapse_is_not_a_conflict_but_is_named() -> None:
    j = run(stage_groups=[stage("IIIA", "2020-02-01", "pathological")], metastases=[met("bone", "2023-03-01")])
    assert j["stage"]["group"] == "IV"
    assert j["stage"]["initial_group"] == "IIIA"
    assert j["conflicts"] == []


def test_initial_stage_is_the_pathological_group_when_both_are_recorded() -> None:
    """AJCC 8th ch. 48: after surgery first, pT2 pN1a (IIB) supersedes the clinical cT2 cN0 (IIA) of the same week;
    after neoadjuvant therapy the clinical group stays the stage (ypTNM only describes the response); an earlier TNM
    M0 category names no group and must not hide one."""
    j = run(
        tnm=[mcat("cM0", "2019-12-20")],
        stage_groups=[stage("IIA", "2020-01-05", "clinical"), stage("IIB", "2020-01-20", "pathological")],
        metastases=[met("bone", "2023-03-01")],
    )
    assert j["stage"]["initial_group"] == "IIB" and "initial stage IIB (pathological)" in j["stage"]["basis"]
    j = run(
        stage_groups=[stage("IIIA", "2020-01-05", "clinical"), stage("IA", "2020-06-20", "post_therapy")],
        metastases=[met("bone", "2023-03-01")],
    )
    assert j["stage"]["initial_group"] == "IIIA"
    # fresh6 writer: a group the record calls "pathological", with ypT/ypN categories of its date, is post-therapy
    yp = [
        TnmCategory("T", "ypT2", "post_therapy", d("2024-03-18"), src("t")),
        TnmCategory("N", "ypN0", "post_therapy", d("2024-03-18"), src("n")),
    ]
    j = run(
        tnm=yp,
        stage_groups=[stage("IIB", "2023-08-14", "clinical"), stage("IIA", "2024-03-18", "pathological")],
        metastases=[met("lung", "2025-09-01")],
    )
    assert j["stage"]["initial_group"] == "IIB"


def test_stage_iiia_dated_with_metastasis_is_a_conflict() -> None:
    j = run(stage_groups=[stage("IIIA", "2023-03-01")], metastases=[met("bone", "2023-03-01")])
    assert j["stage"]["group"] == "IV"
    assert any("IIIA" in c for c in j["conflicts"])


def test_regional_node_is_not_metastatic() -> None:
    j = run(
        metastases=[met("lymph_node", "2021-01-01", region="regional")],
        stage_groups=[stage("IIB", "2020-01-20")],
    )
    assert j["metastatic"] is False and j["sites"] == []


def test_unclassified_node_is_a_conflict_not_a_guess() -> None:
    j = run(metastases=[met("lymph_node", "2021-01-01")])
    assert j["metastatic"] is None
    assert any("regional (N) or distant (M1)" in c for c in j["conflicts"])


@pytest.mark.parametrize(
    ("text", "laterality", "site", "region"),
    [
        ("ipsilateral axillary lymph node", "left", "lymph_node", "regional"),
        ("left supraclavicular lymph node", "left", "lymph_node", "regional"),  # N3c, AJCC 8th
        ("right internal mammary lymph node", "left", "distant_lymph_node", "distant"),  # contralateral
        ("contralateral axillary lymph node", None, "distant_lymph_node", "distant"),
        ("cervical lymph node", "left", "distant_lymph_node", "distant"),
        ("mediastinal lymph nodes", None, "distant_lymph_node", "distant"),
        ("axillary lymph node", None, "lymph_node", None),  # side unknown: undecided
    ],
)
def test_nodal_region(text: str, laterality: str | None, site: str, region: str | None) -> None:
    m = classify_site({"text": f"Secondary malignant neoplasm of {text}"}, [], [], laterality)
    assert (m.site, m.nodal_region) == (site, region)


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("ipsilateral (left) chest-wall nodule in the mastectomy scar, 26 mm", "regional"),
        ("skin nodule, locoregional recurrence", "regional"),
        ("ipsilateral chest wall recurrence", "regional"),
        ("chest wall nodule", None),  # no side, no word for a local recurrence: stays distant (M1)
        ("contralateral chest wall skin nodules", None),
        ("abdominal wall subcutaneous nodule", None),
    ],
)
def test_a_chest_wall_recurrence_of_the_treated_breast_is_locoregional(text: str, region: str | None) -> None:
    # fresh10 s09: a mastectomy-scar nodule is locoregional (AJCC 8th ch. 48: T4 territory, not M1)
    m = classify_site({"text": f"Metastasis to skin soft tissue ({text})"}, [], [], "left")
    assert (m.site, m.nodal_region) == ("skin_soft_tissue", region)


def test_an_other_visceral_site_keeps_its_organ() -> None:
    # fresh11 writer (t08): "bilateral ovarian metastases" was shown as "other visceral organ" only
    m = classify_site({"text": "Secondary malignant neoplasm of ovary (bilateral, 46 and 32 mm)"}, [], [], "left")
    assert (m.site, m.visceral) == ("other", True)
    assert m.detail.startswith("other visceral organ: ") and "ovary" in m.detail


def test_a_locoregional_recurrence_is_shown_but_not_counted_as_a_distant_site() -> None:
    scar = met("skin_soft_tissue", "2026-07-01", lesions=1, region="regional", detail="mastectomy scar nodule")
    rib = met("bone", "2026-07-13", lesions=1)
    j = run(metastases=[scar, rib], stage_groups=[stage("IIB", "2021-06-14")])
    assert j["stage"]["group"] == "IV" and j["sites"] == ["bone"]
    assert j["bone_only"] is True and j["lesion_count"] == 1
    assert [x["detail"] for x in j["locoregional_disease"]] == ["mastectomy scar nodule"]
    # alone, a locoregional recurrence is not stage IV
    j = run(metastases=[scar], stage_groups=[stage("IIB", "2021-06-14")])
    assert j["metastatic"] is False and j["sites"] == []


@pytest.mark.parametrize(
    ("code", "site"),
    [
        ({"coding": [{"system": "http://snomed.info/sct", "code": "94225005"}]}, "brain"),
        ({"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C78.7"}]}, "liver"),
        ({"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C79.32"}]}, "leptomeninges"),
        ({"text": "Secondary malignant neoplasm of pleura"}, "pleura"),
        ({"text": "peritoneal carcinomatosis"}, "peritoneum"),
    ],
)
def test_site_codes(code: dict, site: str) -> None:  # type: ignore[type-arg]
    assert classify_site(code, [], [], None).site == site


def test_generic_secondary_code_uses_body_site() -> None:
    code = {"coding": [{"system": "http://snomed.info/sct", "code": "128462008"}]}
    body = [{"coding": [{"system": "http://snomed.info/sct", "code": "10200004", "display": "Liver structure"}]}]
    assert classify_site(code, body, [], None).site == "liver"


def test_a_coded_body_site_wins_over_other_organs_named_in_its_text() -> None:
    # fresh7 p10: a distant node whose text says "PET-CT and MRI brain show no other site" was read as brain
    code = {
        "coding": [{"system": "http://snomed.info/sct", "code": "128462008"}],
        "text": "Metastasis to distant lymph node (subcarinal 19 mm; MRI brain 2026-10-26 shows no other site)",
    }
    node = {"coding": [{"system": "http://snomed.info/sct", "code": "59441001"}], "text": "subcarinal lymph node"}
    m = classify_site(code, [node], [], "left")
    assert (m.site, m.nodal_region) == ("distant_lymph_node", "distant")
    brain = {"coding": [{"system": "http://snomed.info/sct", "code": "12738006"}], "text": "Brain structure"}
    assert classify_site({"coding": code["coding"]}, [brain], [], None).site == "brain"


def test_metastatic_tissue_from_an_organ_outside_the_site_vocabulary_is_a_metastasis_biopsy() -> None:
    # fresh7 p06: a gastric biopsy recorded as specimen "other" (2026) lost to a 2024 bone biopsy as "unknown" kind
    from mbcnav.record.markers import specimen_from

    body = {"text": "metastasis: other"}
    kind = {"text": "Metastatic tumour tissue"}
    assert (specimen_from([body, kind], None, None).kind, specimen_from([body, kind], None, None).site) == (
        "metastasis",
        "other",
    )
    assert specimen_from([{"text": "core biopsy"}], None, None).kind == "unknown"  # nothing says metastatic


# ---- presentation -------------------------------------------------------------------------------------------------
def test_de_novo_within_window() -> None:
    j = run(metastases=[met("bone", "2020-03-01")])
    assert j["presentation"] == "de_novo" and j["metastasis_free_interval_months"] is None


def test_recurrent_beyond_window_with_interval() -> None:
    j = run(metastases=[met("bone", "2023-01-15")])
    assert j["presentation"] == "recurrent"
    assert j["metastasis_free_interval_months"] == pytest.approx(36.0, abs=0.1)


def test_window_is_configurable() -> None:
    kw = {"metastases": [met("bone", "2020-05-01")]}  # 3.5 months after diagnosis
    assert run(**kw)["presentation"] == "de_novo"
    assert run(**kw, config=AssessmentConfig(de_novo_window_months=3))["presentation"] == "recurrent"


def test_no_dates_no_verdict() -> None:
    j = run(primaries=[primary(None)], metastases=[met("bone", "2023-01-15")])
    assert j["presentation"] == "unknown"
    assert any(u["item"] == "de novo vs recurrent" for u in j["unknowns"])


def test_partial_dates_that_straddle_the_window_stay_unknown() -> None:
    j = run(primaries=[primary("2020")], metastases=[met("bone", "2020-07")])
    assert j["presentation"] == "unknown" and "precision" in j["presentation_basis"]


def test_year_precision_far_apart_is_recurrent_and_approximate() -> None:
    j = run(primaries=[primary("2015")], metastases=[met("bone", "2022")])
    assert j["presentation"] == "recurrent" and j["metastasis_free_interval_approximate"] is True


# ---- subtype (ASCO/CAP) -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("percent", "er"),
    [(0, "negative"), (0.5, "negative"), (1, "low"), (10, "low"), (11, "positive"), (95, "positive")],
)
def test_er_thresholds(percent: float, er: str) -> None:
    j = run(
        receptors=[
            receptor("ER", percent=percent),
            receptor("PR", percent=0),
            receptor("HER2", ihc_score="0"),
        ]
    )
    assert j["subtype"]["er"] == er


def test_er_low_is_flagged_and_hr_positive() -> None:
    j = run(receptors=[receptor("ER", percent=5), receptor("PR", percent=0), receptor("HER2", ihc_score="1+")])
    assert j["subtype"]["group"] == "HR+/HER2-"
    assert any("ER-low" in n for n in j["subtype"]["notes"])
    # endocrine-naive, so ABC calls it "sensitive": the basis says that is timing only for ER-low disease
    assert j["endocrine_resistance"] == "sensitive"
    assert any("ABC timing only" in b for b in j["endocrine_resistance_basis"])
    j = run(receptors=[receptor("ER", percent=90), receptor("PR", percent=0), receptor("HER2", ihc_score="1+")])
    assert not any("ABC timing only" in b for b in j["endocrine_resistance_basis"])


@pytest.mark.parametrize(
    ("ihc", "ish", "status", "want"),
    [
        ("3+", None, None, "3+"),
        ("2+", "positive", None, "2+/ISH+"),
        ("2+", "negative", None, "2+/ISH-"),
        ("2+", None, None, "2+/ISH-unknown"),
        ("1+", None, None, "1+"),
        ("0", None, None, "0"),
        ("ultralow", None, None, "ultralow"),
        (None, "positive", None, "positive"),
        (None, None, "negative", "negative"),
        (None, None, None, "unknown"),
    ],
)
def test_her2_categories(ihc: str | None, ish: str | None, status: str | None, want: str) -> None:
    assert her2_value(ihc, ish, status) == want


def test_her2_ihc_and_separate_ish_result_are_paired() -> None:
    j = run(
        receptors=[
            receptor("ER", percent=0),
            receptor("PR", percent=0),
            receptor("HER2", ihc_score="2+"),
            receptor("HER2", when="2020-01-25", ish="positive"),
        ]
    )
    assert j["subtype"]["her2"] == "2+/ISH+" and j["subtype"]["group"] == "HR-/HER2+"


def test_bare_negative_her2_asks_for_ihc_score() -> None:
    j = run(
        receptors=[receptor("ER", percent=80), receptor("HER2", status="negative")],
        metastases=[met("bone", "2020-02-01")],
    )
    assert j["subtype"]["her2"] == "negative" and j["subtype"]["her2_category"] == "negative_unspecified"
    assert any(u["item"] == "HER2 IHC score" for u in j["unknowns"])


def test_metastatic_biopsy_preferred_and_discordance_reported() -> None:
    recs = [
        receptor("ER", percent=90),
        receptor("PR", percent=40),
        receptor("HER2", ihc_score="1+"),
        receptor("ER", when="2024-02-01", specimen="metastasis", site="liver", percent=0),
        receptor("PR", when="2024-02-01", specimen="metastasis", site="liver", percent=0),
        receptor("HER2", when="2024-02-01", specimen="metastasis", site="liver", ihc_score="0"),
        receptor("ER", when="2025-01-01", specimen="primary", percent=90),
    ]  # a newer primary re-read
    j = run(receptors=recs, metastases=[met("liver", "2024-01-20")])
    assert j["subtype"]["group"] == "TNBC"
    assert {x["marker"]: x["kind"] for x in j["subtype"]["discordance"]} == {
        "ER": "status",
        "PR": "status",
        "HER2": "her2_low_category",
    }


@pytest.mark.parametrize(
    ("primary_ihc", "metastasis_ihc", "asked"),
    [("1+", "0", True), ("2+", "ultralow", True), ("0", "0", False), ("1+", "1+", False), ("0", "1+", False)],
)
def test_a_her2_low_primary_beside_a_her2_zero_metastasis_asks_for_review(
    primary_ihc: str, metastasis_ihc: str, asked: bool
) -> None:
    # fresh6 o07: a pleural cell block scored 0 was used over the primary's 1+ and nothing said a HER2-low result
    # already existed. The metastasis stays the result used; the review is asked for, never assumed.
    recs = [
        receptor("ER", percent=90),
        receptor("HER2", ihc_score=primary_ihc, ish="negative" if primary_ihc == "2+" else None),
        receptor("ER", when="2024-02-01", specimen="metastasis", site="pleura", percent=90),
        receptor("HER2", when="2024-02-01", specimen="metastasis", site="pleura", ihc_score=metastasis_ihc),
    ]
    j = run(receptors=recs, metastases=[met("pleura", "2024-01-20")])
    assert j["subtype"]["her2"] == metastasis_ihc
    review = [u for u in j["unknowns"] if u["item"] == "HER2-low primary, HER2-0 metastasis"]
    assert bool(review) is asked
    if asked:
        shown = "1+" if primary_ihc == "1+" else "2+/ISH-"
        assert f"the primary was HER2-low ({shown}, 2020-01-15)" in review[0]["why"]


def test_unknown_receptor_is_never_negative() -> None:
    j = run(receptors=[receptor("HER2", ihc_score="0")])
    assert j["subtype"]["er"] == "unknown" and j["subtype"]["group"] == "unknown"
    assert j["endocrine_resistance"] == "unknown"


# ---- sites ---------------------------------------------------------------------------------------------------------
def test_bone_only_and_oligometastatic() -> None:
    j = run(metastases=[met("bone", "2020-02-01", lesions=3)])
    assert j["bone_only"] is True and j["visceral"] is False and j["oligometastatic"] is True


def test_visceral_cns_and_not_oligo() -> None:
    j = run(metastases=[met("liver", "2020-02-01", lesions=4), met("brain", "2020-02-01", lesions=2)])
    assert (j["bone_only"], j["visceral"], j["cns"], j["oligometastatic"]) == (False, True, True, False)


def test_diffuse_spread_is_never_oligometastatic_whatever_the_count() -> None:
    # fresh6 writer: a cytology-proven malignant pleural effusion with two nodules and two bone lesions was
    # "oligometastatic by count: 4 lesions"; serosal, lymphangitic or leptomeningeal spread is not low-volume (ABC)
    effusion = met("pleura", "2026-06-01", lesions=2, detail="malignant pleural effusion with two pleural nodules")
    j = run(metastases=[effusion, met("bone", "2026-06-01", lesions=2)])
    assert j["lesion_count"] == 4 and j["oligometastatic"] is False
    j = run(metastases=[met("leptomeninges", "2026-06-01", lesions=1)])
    assert j["oligometastatic"] is False
    nodules = met("pleura", "2026-06-01", lesions=2, detail="two pleural nodules")
    assert run(metastases=[nodules, met("bone", "2026-06-01", lesions=2)])["oligometastatic"] is True
    # fresh11 writer: "no pleural effusion" in a lung site's text made three nodules "diffuse"; a negated word is not
    lung = met("lung", "2026-06-01", lesions=3, detail="three right lung nodules, largest 14 mm; no pleural effusion")
    assert run(metastases=[lung])["oligometastatic"] is True
    lymph = met("lung", "2026-06-01", lesions=3, detail="lymphangitic spread, no effusion")
    assert run(metastases=[lymph])["oligometastatic"] is False


def test_oligometastatic_unknown_without_counts() -> None:
    j = run(metastases=[met("lung", "2020-02-01", lesions=2), met("bone", "2020-02-01")])
    assert j["oligometastatic"] is None


# ---- endocrine resistance (ESO-ESMO ABC) ------------------------------------------------------------------------
HR_POS = [receptor("ER", percent=90), receptor("PR", percent=50), receptor("HER2", ihc_score="1+")]


@pytest.mark.parametrize(
    ("therapy", "relapse", "want"),
    [
        (
            drug("anastrozole", "2020-03-01", None, setting="adjuvant"),
            "2021-09-01",
            "primary",
        ),  # 18 months in
        (
            drug("anastrozole", "2020-03-01", None, setting="adjuvant"),
            "2023-06-01",
            "secondary",
        ),  # 3+ years in
        (
            drug("tamoxifen", "2020-03-01", "2025-03-01", setting="adjuvant", ongoing=False),
            "2025-10-01",
            "secondary",
        ),
        (
            drug("tamoxifen", "2015-03-01", "2020-03-01", setting="adjuvant", ongoing=False),
            "2023-03-01",
            "sensitive",
        ),
    ],
)
def test_adjuvant_resistance(therapy, relapse: str, want: str) -> None:  # type: ignore[no-untyped-def]
    j = run(receptors=HR_POS, therapies=[therapy], metastases=[met("bone", relapse)])
    assert j["endocrine_resistance"] == want


@pytest.mark.parametrize(("end", "want"), [("2020-06-15", "primary"), ("2021-02-01", "secondary")])
def test_first_line_resistance(end: str, want: str) -> None:
    therapies = [
        drug("letrozole", "2020-02-10", end, setting="metastatic", reason="progression", ongoing=False),
        drug("fulvestrant", end, None, setting="metastatic"),
    ]
    j = run(receptors=HR_POS, therapies=therapies, metastases=[met("bone", "2020-02-01")])
    assert j["endocrine_resistance"] == want


def test_first_line_resistance_counts_from_the_endocrine_course_not_the_line_start() -> None:
    """ESO-ESMO ABC4: time on first-line endocrine therapy. A HER2+ first line that adds letrozole as maintenance
    four months after docetaxel + trastuzumab, and progresses 4.5 months into letrozole, is primary resistance,
    although the line itself ran 8.5 months."""
    her2_hr = [receptor("ER", percent=90), receptor("PR", percent=50), receptor("HER2", ihc_score="3+")]
    therapies = [
        drug("docetaxel", "2020-01-01", "2020-05-01", setting="metastatic", reason="completed", ongoing=False),
        drug("trastuzumab", "2020-01-01", "2020-09-15", setting="metastatic", reason="progression", ongoing=False),
        drug("letrozole", "2020-05-01", "2020-09-15", setting="metastatic", reason="progression", ongoing=False),
        drug("capecitabine", "2020-09-20", None, setting="metastatic"),
    ]
    a = assess(record(receptors=her2_hr, therapies=therapies, metastases=[met("liver", "2019-12-20")]), as_of=TODAY)
    assert a.lines[0].drugs == ("docetaxel", "trastuzumab", "letrozole")
    assert a.resistance.value == "primary"
    assert any("(2020-05-01 to 2020-09-15)" in b for b in a.resistance.basis)


@pytest.mark.parametrize(
    ("progressed", "want"), [("2020-06-01", "primary"), ("2021-06-01", "secondary"), (None, "sensitive")]
)
def test_progression_on_a_first_endocrine_line_that_goes_on_counts(progressed: str | None, want: str) -> None:
    """fresh8 q06: RECIST progression 14.5 months into letrozole + palbociclib, one lesion treated with SBRT, the line
    continued. ABC4 counts progression on first-line ET whether or not the line then stops."""
    therapies = [
        drug("letrozole", "2020-02-10", None, setting="metastatic"),
        drug("palbociclib", "2020-02-10", None, setting="metastatic"),
    ]
    statuses = [DiseaseStatus(d(progressed), "progression", src("status"))] if progressed else []
    j = run(receptors=HR_POS, therapies=therapies, metastases=[met("bone", "2020-02-01")], disease_statuses=statuses)
    assert j["lines"][0]["ongoing"] is True
    assert j["endocrine_resistance"] == want


def test_endocrine_naive_is_sensitive_and_hr_negative_not_applicable() -> None:
    assert run(receptors=HR_POS, metastases=[met("bone", "2020-02-01")])["endocrine_resistance"] == "sensitive"
    tn = [receptor("ER", percent=0), receptor("PR", percent=0), receptor("HER2", ihc_score="0")]
    assert run(receptors=tn, metastases=[met("bone", "2020-02-01")])["endocrine_resistance"] == "not_applicable"


# ---- lines of therapy ---------------------------------------------------------------------------------------------
def test_an_ongoing_line_has_no_reason_to_stop_when_a_course_was_paused_and_resumed() -> None:
    # fresh7 p05: T-DXd held for grade 1 pneumonitis (a course ending "toxicity"), then resumed: one line, running
    her2 = [receptor("ER", percent=0), receptor("PR", percent=0), receptor("HER2", ihc_score="3+")]
    therapies = [
        drug("trastuzumab deruxtecan", "2025-10-06", "2026-04-08", setting="metastatic", reason="toxicity"),
        drug("trastuzumab deruxtecan", "2026-05-04", None, setting="metastatic"),
    ]
    j = run(receptors=her2, therapies=therapies, metastases=[met("lung", "2025-09-20")])
    assert [(x["ongoing"], x["reason_stopped"]) for x in j["lines"]] == [(True, None)]


def test_drugs_started_together_form_one_line_and_progression_starts_next() -> None:
    therapies = [
        drug("letrozole", "2021-01-01", "2022-06-01", reason="progression", ongoing=False),
        drug("palbociclib", "2021-01-10", "2022-06-01", reason="progression", ongoing=False),
        drug("fulvestrant", "2022-06-10"),
        drug("denosumab", "2021-01-05"),
        drug("zoledronic acid", "2022-07-01"),
    ]
    j = run(therapies=therapies, metastases=[met("bone", "2020-12-01")])
    assert [(x["number"], x["drugs"]) for x in j["lines"]] == [
        (1, ["letrozole", "palbociclib"]),
        (2, ["fulvestrant"]),
    ]
    assert j["lines"][0]["reason_stopped"] == "progression"
    assert j["exposures"]["cdk46_inhibitor"]["metastatic"] is True
    assert j["exposures"]["bone_modifying"]["any"] is True


def test_ovarian_suppression_continued_into_the_next_line_is_part_of_both_regimens() -> None:
    # fresh10 s10: goserelin + anastrozole + ribociclib, progression, then goserelin + fulvestrant. Line 2 is not
    # fulvestrant alone (a premenopausal woman on fulvestrant without OFS would be under-treated).
    therapies = [
        drug("goserelin", "2024-11-04", setting="metastatic"),
        drug("anastrozole", "2024-11-04", "2026-06-29", setting="metastatic", reason="progression", ongoing=False),
        drug("ribociclib", "2024-11-04", "2026-06-29", setting="metastatic", reason="progression", ongoing=False),
        drug("fulvestrant", "2026-07-06", setting="metastatic"),
    ]
    j = run(therapies=therapies, metastases=[met("bone", "2024-10-20")])
    assert [(x["number"], sorted(x["drugs"]), x["ongoing"]) for x in j["lines"]] == [
        (1, ["anastrozole", "goserelin", "ribociclib"], False),
        (2, ["fulvestrant", "goserelin"], True),
    ]
    assert j["lines"][0]["end"] == "2026-06-29"
    # stopped with line 1: it does not join line 2
    stopped = [drug("goserelin", "2024-11-04", "2026-06-29", setting="metastatic", ongoing=False), *therapies[1:]]
    j = run(therapies=stopped, metastases=[met("bone", "2024-10-20")])
    assert [x["drugs"] for x in j["lines"]][1] == ["fulvestrant"]


def test_adjuvant_ovarian_suppression_still_given_joins_the_first_metastatic_line() -> None:
    # fresh12 u05: adjuvant goserelin + tamoxifen, bone relapse on them, then goserelin (never stopped) + fulvestrant
    # + abemaciclib. Line 1 without goserelin reads as fulvestrant for a premenopausal woman without OFS.
    therapies = [
        drug("goserelin", "2023-10-30", setting="adjuvant"),
        drug("tamoxifen", "2023-11-06", "2025-04-28", setting="adjuvant", reason="progression", ongoing=False),
        drug("fulvestrant", "2025-05-12", setting="metastatic"),
        drug("abemaciclib", "2025-05-12", setting="metastatic"),
    ]
    j = run(therapies=therapies, metastases=[met("bone", "2025-04-20")])
    assert [(x["number"], sorted(x["drugs"])) for x in j["lines"]] == [(1, ["abemaciclib", "fulvestrant", "goserelin"])]
    ofs = j["exposures"]["ovarian_suppression"]
    assert (ofs["early"], ofs["metastatic"]) == (True, True)
    assert [t["ongoing"] for t in j["therapies"] if t["drug"] == "goserelin"] == [True]
    # stopped before the relapse: adjuvant only, not part of line 1
    stopped = [drug("goserelin", "2023-10-30", "2025-03-01", setting="adjuvant", ongoing=False), *therapies[1:]]
    j = run(therapies=stopped, metastases=[met("bone", "2025-04-20")])
    assert sorted(j["lines"][0]["drugs"]) == ["abemaciclib", "fulvestrant"]
    assert j["exposures"]["ovarian_suppression"]["metastatic"] is False


def test_planned_maintenance_after_completed_induction_is_the_same_line() -> None:
    # fresh13 v05: weekly paclitaxel for a visceral crisis, completed with a response, then goserelin + letrozole +
    # ribociclib 12 days later: one first line (before: two, with "ESR1 at progression" asked of a woman who had never
    # progressed)
    therapies = [
        drug("paclitaxel", "2025-08-27", "2026-02-04", setting="metastatic", reason="completed", ongoing=False),
        drug("goserelin", "2025-08-27", setting="metastatic"),
        drug("letrozole", "2026-02-16", setting="metastatic"),
        drug("ribociclib", "2026-02-16", setting="metastatic"),
    ]
    j = run(therapies=therapies, metastases=[met("liver", "2025-08-10")])
    assert [sorted(x["drugs"]) for x in j["lines"]] == [["goserelin", "letrozole", "paclitaxel", "ribociclib"]]
    # a switch after a drug stopped for another reason, or long after the planned end, is still a new line
    late = [
        *therapies[:2],
        drug("letrozole", "2026-06-01", setting="metastatic"),
        drug("ribociclib", "2026-06-01", setting="metastatic"),
    ]
    assert len(run(therapies=late, metastases=[met("liver", "2025-08-10")])["lines"]) == 2
    chose = [
        drug("paclitaxel", "2025-08-27", "2026-02-04", setting="metastatic", reason="patient_choice", ongoing=False),
        *therapies[1:],
    ]
    assert len(run(therapies=chose, metastases=[met("liver", "2025-08-10")])["lines"]) == 2


def test_maintenance_after_dropping_chemo_is_same_line() -> None:
    therapies = [
        drug("trastuzumab", "2021-01-01"),
        drug("pertuzumab", "2021-01-01"),
        drug("docetaxel", "2021-01-01", "2021-06-01", reason="completed", ongoing=False),
    ]
    j = run(therapies=therapies, metastases=[met("liver", "2020-12-01")])
    assert len(j["lines"]) == 1 and j["lines"][0]["ongoing"] is True


def test_endocrine_therapy_added_to_maintenance_joins_the_line_that_later_progresses() -> None:
    # HR+/HER2+: letrozole added to trastuzumab + pertuzumab maintenance after docetaxel (ESO-ESMO ABC5 option); the
    # whole regimen stops at progression two years later. The add-on began before that progression: one line.
    therapies = [
        drug("docetaxel", "2021-06-07", "2021-09-20", reason="completed", ongoing=False),
        drug("trastuzumab", "2021-06-07", "2023-11-13", reason="progression", ongoing=False),
        drug("pertuzumab", "2021-06-07", "2023-11-13", reason="progression", ongoing=False),
        drug("letrozole", "2021-10-11", "2023-11-13", reason="progression", ongoing=False),
        drug("trastuzumab deruxtecan", "2023-12-04"),
    ]
    j = run(therapies=therapies, metastases=[met("liver", "2021-05-20")])
    assert [(x["number"], x["drugs"]) for x in j["lines"]] == [
        (1, ["docetaxel", "pertuzumab", "trastuzumab", "letrozole"]),
        (2, ["trastuzumab deruxtecan"]),
    ]
    # a drug started after a line member stopped for progression still starts a new line
    later = [*therapies[:3], drug("letrozole", "2023-11-20")]
    j = run(therapies=later, metastases=[met("liver", "2021-05-20")])
    assert [x["drugs"] for x in j["lines"]][-1] == ["letrozole"] and len(j["lines"]) == 2


def test_same_class_switch_for_toxicity_stays_in_line() -> None:
    therapies = [
        drug("paclitaxel", "2021-01-01", "2021-03-01", reason="toxicity", ongoing=False),
        drug("nab-paclitaxel", "2021-03-15", None),
    ]
    j = run(therapies=therapies, metastases=[met("liver", "2020-12-01")])
    assert len(j["lines"]) == 1 and j["lines"][0]["drugs"] == ["paclitaxel", "nab-paclitaxel"]


def test_documented_progression_starts_a_new_line() -> None:
    therapies = [
        drug("capecitabine", "2021-01-01", "2021-08-01", ongoing=False),
        drug("eribulin", "2021-08-10"),
    ]
    status = DiseaseStatus(d("2021-07-20"), "progression", src("status"))
    j = run(therapies=therapies, metastases=[met("liver", "2020-12-01")], disease_statuses=[status])
    assert len(j["lines"]) == 2 and j["lines"][0]["reason_stopped"] == "progression"


def test_an_ongoing_line_with_documented_progression_says_so() -> None:
    # fresh11 writer (t04): elacestrant still taken pending the tumour board after RECIST progression; the line read
    # "ongoing" with nothing to say it is not working
    therapies = [drug("elacestrant", "2025-11-17")]
    pd = DiseaseStatus(d("2026-11-16"), "progression", src("status"))
    j = run(therapies=therapies, metastases=[met("liver", "2021-02-01")], disease_statuses=[pd])
    (line,) = j["lines"]
    assert line["ongoing"] is True and line["progression_documented"]["date"] == "2026-11-16"
    # a later stable status, or one from before the line, is not progression on it
    later = DiseaseStatus(d("2026-11-20"), "stable", src("status2"))
    j = run(therapies=therapies, metastases=[met("liver", "2021-02-01")], disease_statuses=[pd, later])
    assert j["lines"][0]["progression_documented"] is None
    before = DiseaseStatus(d("2025-11-10"), "progression", src("status"))
    j = run(therapies=therapies, metastases=[met("liver", "2021-02-01")], disease_statuses=[before])
    assert j["lines"][0]["progression_documented"] is None


def test_progression_after_a_stop_for_toxicity_is_off_treatment_not_on_the_drug() -> None:
    # fresh5 n06: T-DXd stopped for pneumonitis while responding; regrowth four months later, off treatment.
    therapies = [
        drug("trastuzumab deruxtecan", "2023-09-18", "2024-06-24", reason="toxicity", ongoing=False),
        drug("tucatinib", "2024-11-11"),
    ]
    status = DiseaseStatus(d("2024-10-21"), "progression", src("status"))
    j = run(therapies=therapies, metastases=[met("lung", "2022-09-12")], disease_statuses=[status])
    assert [x["reason_stopped"] for x in j["lines"]] == ["toxicity", None]
    assert j["lines"][1]["why_new_line"] == (
        "started after progression off treatment (2024-10-21), after line 1 had stopped (toxicity)"
    )
    # progression during the line (before it stopped) keeps the old wording
    early = DiseaseStatus(d("2024-06-10"), "progression", src("status"))
    j = run(therapies=therapies, metastases=[met("lung", "2022-09-12")], disease_statuses=[early])
    assert j["lines"][1]["why_new_line"] == "started after progression on line 1"


def test_the_interval_from_early_treatment_to_relapse_is_given_per_class() -> None:
    # fresh11 writer (t07, t10, t02): only the interval from diagnosis was shown, not the one trials time (KEYNOTE-355
    # >= 6 months since curative treatment; DESTINY-Breast04 / ASCENT count an early relapse as a line)
    therapies = [
        drug("doxorubicin", "2024-01-08", "2024-03-04", setting="adjuvant", ongoing=False),
        drug("paclitaxel", "2024-03-18", "2024-06-03", setting="adjuvant", ongoing=False),
        drug("anastrozole", "2024-07-01", None, setting="adjuvant"),
    ]
    j = run(therapies=therapies, metastases=[met("lung", "2025-02-03")], stage_groups=[stage("IIB", "2023-12-01")])
    rows = {r["class"]: r for r in j["relapse_after_early_treatment"]}
    assert rows["chemotherapy"]["drug"] == "paclitaxel" and rows["chemotherapy"]["ended"] == "2024-06-03"
    assert rows["chemotherapy"]["months"] == 8.0 and rows["chemotherapy"]["approximate"] is False
    assert rows["endocrine"]["on_treatment"] is True  # relapse on adjuvant anastrozole
    assert "her2_directed" not in rows
    # de novo disease has no early treatment to time from
    j = run(therapies=[drug("letrozole", "2025-01-01")], metastases=[met("bone", "2025-01-01")])
    assert j["relapse_after_early_treatment"] == []


def test_local_treatments_and_the_latest_disease_status_are_shown() -> None:
    # fresh11 writer (t02, t09, t10): SRS, WBRT and SBRT, and "no evidence of disease", were not in the assessment
    from mbcnav.record.model import LocalTreatment

    wbrt = LocalTreatment(
        "radiotherapy",
        "whole-brain radiotherapy 30 Gy",
        d("2025-11-10"),
        d("2025-11-25"),
        "brain",
        "palliative",
        src("rt"),
    )
    old = DiseaseStatus(d("2025-10-01"), "progression", src("s1"))
    ned = DiseaseStatus(d("2026-10-01"), "no_evidence_of_disease", src("s2"))
    j = run(metastases=[met("brain", "2025-10-01")], local_treatments=[wbrt], disease_statuses=[ned, old])
    (t,) = j["local_treatments"]
    assert (t["kind"], t["site"], t["start"], t["end"]) == ("radiotherapy", "brain", "2025-11-10", "2025-11-25")
    assert j["latest_disease_status"]["status"] == "no_evidence_of_disease"
    assert run(metastases=[met("bone", "2025-10-01")])["latest_disease_status"] is None


def test_adjuvant_therapy_is_not_a_metastatic_line() -> None:
    therapies = [drug("anastrozole", "2020-03-01", "2022-01-01", ongoing=False)]
    j = run(therapies=therapies, metastases=[met("bone", "2023-01-01")])
    assert j["lines"] == [] and j["therapies"][0]["setting"] in ("adjuvant", "unknown")
    assert j["exposures"]["aromatase_inhibitor"]["any"] is True


# ---- drug catalogue ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("trastuzumab", ["trastuzumab"]),
        ("Herceptin 600 mg SC", ["trastuzumab"]),
        ("PHESGO (pertuzumab, trastuzumab, and hyaluronidase)", ["pertuzumab", "trastuzumab"]),
        ("fam-trastuzumab deruxtecan-nxki", ["trastuzumab deruxtecan"]),
        ("T-DM1", ["trastuzumab emtansine"]),
        ("nab-paclitaxel", ["nab-paclitaxel"]),
        ("dexamethasone", []),
    ],
)
def test_drug_names(text: str, drugs: list[str]) -> None:
    from mbcnav.knowledge.drugs import catalogue

    assert catalogue().find(text) == drugs


def test_pik3ca_before_first_line_is_asked_only_where_inavolisib_could_follow() -> None:
    """INAVO120 enrolled relapse during or within 12 months of adjuvant endocrine therapy: an endocrine-naive de novo
    patient is not asked for PIK3CA before first line (she is at progression), a relapse on adjuvant letrozole is."""
    her2_0 = [receptor("ER", percent=90), receptor("PR", percent=50), receptor("HER2", ihc_score="0")]
    item = "PIK3CA status before first line"
    de_novo = run(receptors=her2_0, metastases=[met("bone", "2020-01-20")])
    assert not any(u["item"] == item for u in de_novo["unknowns"])
    early = run(
        receptors=her2_0,
        therapies=[drug("letrozole", "2020-03-01", "2026-05-01", setting="adjuvant", ongoing=False)],
        metastases=[met("bone", "2026-08-01")],
    )
    assert any(u["item"] == item for u in early["unknowns"])


def _case07_with(biomarkers: list[dict], signatures: list[dict]) -> list[str]:  # type: ignore[type-arg]
    """The unknown items of example case 07 (two metastatic lines) with extra genomic results."""
    from pathlib import Path

    from mbcnav.pathway import Evaluation
    from mbcnav.record.casefile import case_to_bundle, load_case
    from mbcnav.record.fhir import record_from_resources
    from mbcnav.record.reader import flatten

    case = load_case(Path(__file__).parent.parent / "examples" / "cases" / "07-her2-low-after-cdk46.yaml")
    case["biomarkers"] = [*case.get("biomarkers", []), *biomarkers]
    case["signatures"] = signatures
    rec = record_from_resources(flatten(case_to_bundle(case), "07.yaml:"), today=TODAY)
    return [u["item"] for u in Evaluation(rec, as_of=TODAY).assessment_json()["unknowns"]]


def test_recorded_negative_agnostic_markers_close_the_profiling_question() -> None:
    # fresh5 n04: MSS, TMB 3, NTRK1-3 / RET / BRAF not detected on ctDNA; the question stayed open because a
    # negative NTRK, RET or BRAF result was read as unknown. Each marker left untested keeps it open.
    neg = [
        {"gene": g, "origin": "somatic", "result": "not_detected", "date": "2026-10-28", "specimen": "blood"}
        for g in ("NTRK1", "NTRK2", "NTRK3", "RET", "BRAF")
    ]
    sig = [{"name": "MSI", "value": "MSS", "date": "2026-10-28"}, {"name": "TMB", "value": 3, "date": "2026-10-28"}]
    assert "tumour-agnostic markers" not in _case07_with(neg, sig)
    assert "tumour-agnostic markers" in _case07_with(neg[1:], sig)  # NTRK1 not reported: a fusion is possible
    assert "tumour-agnostic markers" in _case07_with(neg, sig[:1])  # TMB not reported
    assert "tumour-agnostic markers" in _case07_with([], sig)  # fresh5 n10: only MSI and TMB


def test_tmb_as_printed_and_msi_low_are_results() -> None:
    # fresh6 writer: TMB "4 mut/Mb" (the schema allows text) and MSI "MSI-L" left the profiling question open
    neg = [
        {"gene": g, "origin": "somatic", "result": "not_detected", "date": "2026-10-28", "specimen": "blood"}
        for g in ("NTRK1", "NTRK2", "NTRK3", "RET", "BRAF")
    ]
    sig = [
        {"name": "MSI", "value": "MSI-L", "date": "2026-10-28"},
        {"name": "TMB", "value": "4 mut/Mb", "date": "2026-10-28"},
    ]
    assert "tumour-agnostic markers" not in _case07_with(neg, sig)
    high = [
        {"name": "MSI", "value": "MSS", "date": "2026-10-28"},
        {"name": "TMB", "value": "12.5 mutations/megabase", "date": "2026-10-28"},
    ]
    assert "tumour-agnostic markers" not in _case07_with(neg, high)


def test_the_esr1_pathway_question_names_only_the_genes_not_yet_tested() -> None:
    # fresh8 q05: PIK3CA H1047R known, the question still named "ESR1 / PIK3CA / AKT1 / PTEN"
    from mbcnav.record.model import GenomicFinding, Specimen

    pik3ca = GenomicFinding(
        "PIK3CA", "somatic", "detected", "H1047R", d("2024-01-10"), Specimen("blood", None, None, None), src("g")
    )
    therapies = [
        drug("letrozole", "2022-02-10", "2023-11-01", setting="metastatic", reason="progression"),
        drug("fulvestrant", "2023-11-10", None, setting="metastatic"),
    ]
    j = run(receptors=HR_POS, therapies=therapies, metastases=[met("bone", "2022-02-01")], genomics=[pik3ca])
    (u,) = [x for x in j["unknowns"] if x["item"] == "ESR1 / PIK3CA / AKT1 / PTEN status"]
    assert u["why"].startswith("not yet tested: ESR1.")


def test_the_esr1_pathway_question_waits_for_progression() -> None:
    # fresh11 writer (t01, t05, t06): asked while the first line was working; ASCO 2023 tests ESR1 at progression
    item = "ESR1 / PIK3CA / AKT1 / PTEN status"
    first = [drug("letrozole", "2025-02-10", None, setting="metastatic")]
    working = DiseaseStatus(d("2026-10-01"), "stable", src("s1"))
    j = run(receptors=HR_POS, therapies=first, metastases=[met("bone", "2025-02-01")], disease_statuses=[working])
    assert item not in [u["item"] for u in j["unknowns"]]
    progressing = DiseaseStatus(d("2026-11-01"), "progression", src("s2"))
    j = run(
        receptors=HR_POS,
        therapies=first,
        metastases=[met("bone", "2025-02-01")],
        disease_statuses=[working, progressing],
    )
    assert item in [u["item"] for u in j["unknowns"]]


def test_a_subtype_from_two_specimens_shows_each_date() -> None:
    # fresh9 writer (r01): ER from the bone biopsy, HER2 from the primary, one date printed for both
    from mbcnav.assess.assessment import assessment_json

    rec = record(
        metastases=[met("bone", "2025-08-22")],
        receptors=[
            receptor("ER", when="2025-08-26", specimen="metastasis", site="bone", status="positive", percent=90),
            receptor("PR", when="2025-08-26", specimen="metastasis", site="bone", status="positive", percent=40),
            receptor("HER2", when="2025-08-12", ihc_score="0"),
        ],
    )
    st = assessment_json(assess(rec, as_of=TODAY))["subtype"]
    assert st["specimen_dated"] == "ER: metastasis (bone), 2025-08-26; HER2: primary tumour, 2025-08-12"
    assert st["date"] == "2025-08-26"  # the contract's field keeps its meaning: the later date
    one = record(receptors=[receptor("ER", status="positive", percent=90), receptor("HER2", ihc_score="0")])
    assert assessment_json(assess(one, as_of=TODAY))["subtype"]["specimen_dated"] == "primary tumour, 2020-01-15"
