"""Parser 2.18 (docs/trials-criteria.md §2.18): therapy classes the catalogue has no class for (ATR and CDK2
inhibitors, cell therapy, radiopharmaceuticals, topoisomerase I inhibitors, radiotherapy to rule out) and agents named
by code, answered from the treatment list read as complete; renal bounds by eGFR (recorded, or CKD-EPI 2021 from
creatinine) where the criterion asks for one or accepts one; "adequate organ function" heads decided by their
values; a few more permissions. Sentences are quoted verbatim from the shared corpus (checked when it is here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mbcnav.trials.criteria import parse_criteria
from mbcnav.trials.labs_criteria import computed_egfr
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, one, patient_view

FRESH10 = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_fresh10" / "patients"
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def s04() -> PatientView:  # tamoxifen, letrozole, palbociclib, fulvestrant + capivasertib, capecitabine; no RT
    return patient_view(FRESH10 / "s04-esr1-pik3ca-after-capivasertib-on-capecitabine-alt-raised.yaml")


@pytest.fixture(scope="module")
def s06() -> PatientView:  # HER2+: docetaxel/HP, trastuzumab deruxtecan, tucatinib + capecitabine
    return patient_view(FRESH10 / "s06-her2pos-after-tdxd-ild-tucatinib-qtc480.yaml")


@pytest.fixture(scope="module")
def s03() -> PatientView:  # TNBC with radiotherapy on record
    return patient_view(FRESH10 / "s03-tnbc-her2-1plus-after-sg-eribulin-lymphangitic.yaml")


def with_unknown_drug(p: PatientView, name: str) -> PatientView:
    """The patient with one more course of a drug the catalogue does not know (a study drug, say)."""
    assert p.record is not None
    extra = dataclasses.replace(p.record.therapies[0], drug=name, known_drug=False)
    return dataclasses.replace(p, record=dataclasses.replace(p.record, therapies=(*p.record.therapies, extra)))


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


ATR = q("NCT04704661", "Any previous treatment with an ATR inhibitor")
CDK2 = q("NCT06257264", "For all cohorts: Prior therapy selectively targeting CDK2 inhibition.")
TOP1 = q(
    "NCT05123482",
    "Previous treatment with any therapy that contains a TOP1i (eg. irinotecan, topotecan, trastuzumab deruxtecan, "
    "etc.)",
)
CAR_T = q(
    "NCT07213791",
    "Had previous adoptive T-cell therapy (e.g., chimeric antigen receptor T-cell \\[CAR-T therapy, T-cell receptor "
    "\\[TCR\\] therapy, etc.)",
)
RADIOPHARM = q("NCT06590857", "Prior radiopharmaceutical therapy, including radioembolization.")
CODE = q("NCT05508906", "Have received prior treatment with OP-1250.")


def test_a_class_no_catalogue_drug_belongs_to_is_ruled_out_by_a_known_treatment_list(s04: PatientView) -> None:
    # fresh6/fresh9/fresh10: "free text" before, though the judges read the treatment list as complete (convention 2)
    for sentence in (ATR, CDK2, CAR_T, RADIOPHARM, CODE):
        (c,) = exc(sentence)
        assert any(x.type == "prior_therapy" for x in c.constraints), sentence
        r = one([c], s04)
        assert r.verdict == "not_met", sentence
        assert "every drug identified" in r.evidence[0] or "local treatments" in r.evidence[0]


def test_an_unknown_drug_in_the_list_keeps_the_class_open(s04: PatientView) -> None:
    # unknown is never permissive: a drug the catalogue does not know may be an ATR inhibitor
    other = with_unknown_drug(s04, "ceralasertib-like study drug")
    r = one(exc(ATR), other)
    assert r.verdict == "unknown" and "not in the drug catalogue" in r.evidence[0]
    # a course whose own name says the class is received
    named = with_unknown_drug(s04, "investigational ATR inhibitor")
    assert one(exc(ATR), named).verdict == "met"


def test_a_topoisomerase_i_inhibitor_includes_the_catalogue_adcs_with_that_payload(
    s04: PatientView, s06: PatientView
) -> None:
    assert one(exc(TOP1), s06).verdict == "met"  # trastuzumab deruxtecan
    assert one(exc(TOP1), s04).verdict == "not_met"
    # irinotecan is not a catalogue drug: a record naming it cannot be read as "no"
    assert one(exc(TOP1), with_unknown_drug(s04, "irinotecan")).verdict == "unknown"


def test_a_code_is_the_studys_own_drug_after_dose_of_or_a_catalogue_synonym() -> None:
    washout = q(
        "NCT06150664",
        "Last dose of previous PD-1 or PD-L1 therapy ≥ 28 days, other anticancer therapy \\> 21 days (or 2 half-lives "
        "for proteins, whichever is longer), radiotherapy \\>21 days (concurrent localized palliative radiotherapy is "
        "allowed during CTX-8371 treatment), or surgical intervention \\>21 days prior to the first dose of CTX-8371",
    )
    assert not [x for c in inc(washout) for x in c.constraints if "agent:" in str(x.params.get("class"))]
    ds = q(
        "NCT03260491",
        "Prior treatment with an antibody-drug conjugate (ADC) that consists of an exatecan derivative that is a "
        "topoisomerase I inhibitor (eg, DS-8201a) (dose escalation only)",
    )
    classes = [str(x.params.get("class") or x.params.get("drug")) for c in exc(ds) for x in c.constraints]
    assert not [k for k in classes if k.startswith("agent:")]
    # and an inclusion never requires a coded agent ("the effects of DS-8201a on the fetus ...")
    fetus = q(
        "NCT06047379",
        "A negative serum pregnancy test will be required of all female patients of child-bearing potential within "
        "seven days prior to the receipt of NEO212.",
    )
    assert not [x for c in inc(fetus) for x in c.constraints if x.type == "prior_therapy"]


CHEST_RT = q("NCT06139107", "History of chest wall or ipsilateral breast radiation")


def test_radiotherapy_is_read_only_to_rule_out(s04: PatientView, s03: PatientView) -> None:
    assert one(exc(CHEST_RT), s04).verdict == "not_met"  # no radiotherapy on record
    r = one(exc(CHEST_RT), s03)  # radiotherapy on record: which field it was is a person's reading
    assert r.verdict == "unknown" and "radiotherapy recorded" in r.evidence[0]
    # never a requirement, and not when radiotherapy is one of treatments no constraint reads
    recovered = inc("Patients with prior radiation must have recovered from its toxicities.")
    assert not [x for c in recovered for x in c.constraints if x.params.get("class") == "radiotherapy"]
    listed = q(
        "NCT06966700",
        "Has received any prior treatment, including radiation, systemic therapy,and/or definitive surgery for "
        "currently diagnosed breast cancer",
    )
    assert not [x for c in exc(listed) for x in c.constraints if x.params.get("class") == "radiotherapy"]


def test_ckd_epi_2021_from_creatinine(s04: PatientView) -> None:
    def at(creatinine: float, age: float, sex: str) -> float:
        labs = tuple(
            dataclasses.replace(x, value=creatinine, unit="mg/dL") if x.analyte == "creatinine" else x for x in s04.labs
        )
        p = dataclasses.replace(s04, labs=labs, age=(age, age), facts={**s04.facts, "sex": sex})
        got = computed_egfr(p)
        assert got is not None
        return got[0]

    # Inker 2021 equation, rounded as laboratories report it
    assert at(1.0, 50, "female") == 69
    assert at(1.2, 60, "male") == 69
    assert at(0.6, 40, "female") == 116
    no_sex = dataclasses.replace(s04, facts={**s04.facts, "sex": None})
    assert computed_egfr(no_sex) is None


EGFR_BOUND = q("NCT04899908", "Estimated glomerular filtration rate of ≥ 60 mL/min/1.73m2")
CRCL_OR_GFR = q(
    "NCT05455619",
    "Creatinine clearance ≥ 50 mL/min using either the Cockcroft-Gault equation or the CKD-EPI formula for "
    "calculation of eGFR",
)


def test_an_egfr_answers_an_egfr_bound_and_a_clearance_that_accepts_one(s04: PatientView) -> None:
    (c,) = inc(EGFR_BOUND)
    assert [(x.type, x.params["test"], x.params["min"]) for x in c.constraints] == [("organ_function", "eGFR", 60)]
    assert one([c], s04).verdict == "met"  # eGFR 74 recorded
    (c,) = inc(CRCL_OR_GFR)  # two methods joined by "or" are not an alternative bound
    (x,) = c.constraints
    assert x.params == {"test": "creatinine clearance", "unit": "mL/min", "min": 50, "gfr_ok": True}
    r = one([c], s04)
    assert r.verdict == "met" and "accepts an estimated GFR" in r.evidence[0]
    # a Cockcroft-Gault clearance is never estimated from an eGFR
    (c,) = inc("Creatinine clearance ≥ 50 mL/min (Cockcroft-Gault)")
    assert one([c], s04).verdict == "unknown"


def test_an_egfr_written_as_an_alternative_is_left_to_the_lab_reader(s04: PatientView) -> None:
    alt = q(
        "NCT06176261",
        "Serum creatinine ≤ 1.5 mg/dL (or glomerular filtration rate ≥ 30 ml/min as determined by the Cockcroft-Gault "
        "equation)",
    )
    (c,) = inc(alt)
    assert [x.type for x in c.constraints] == ["lab"]
    assert one([c], s04).verdict == "met"


def test_a_system_named_after_the_noun_is_checked_too() -> None:
    text = q(
        "NCT05892068",
        "Adequate bone marrow, liver, renal function, and coagulation parameters (obtained ≤ 7 days prior to the first "
        "day of study treatment:",
    )
    (c, *_) = inc(text)
    systems = [x.params["systems"] for x in c.constraints if x.type == "organ_function"]
    assert systems == [["bone_marrow", "hepatic", "renal", "coagulation"]]


def test_an_organ_function_head_takes_its_values_from_the_sub_bullets(s04: PatientView) -> None:
    from mbcnav.trials.match import match_trial

    from .test_trials_list_heads import study

    text = (
        "Inclusion Criteria:\n\n* Adequate organ function as defined by the following values:\n"
        "  * Hemoglobin ≥ 12.5 g/dL\n  * Platelets ≥100,000/mm3\n"
    )
    m = match_trial(study(text), parse_criteria(text), s04)
    head, hb, _ = m.criteria
    # her haemoglobin passes the usual "adequate" bounds, not this protocol's 12.5 g/dL: the values decide the head
    assert hb.verdict == "not_met" and head.verdict == "not_met" and head.from_children


@pytest.mark.parametrize(
    ("nct", "sentence"),
    [
        ("NCT02302742", "Eligible regardless of genetic testing status"),
        ("NCT06268665", "May participate concurrently in other cancer trials."),
        ("NCT06465069", "Cohorts A1/A2/C: prior treatment with enfortumab vedotin is allowed, but not required"),
    ],
)
def test_more_permissions(nct: str, sentence: str, s04: PatientView) -> None:
    r = one(inc(q(nct, sentence)), s04)
    assert (r.verdict, r.not_applicable) == ("met", True)


@pytest.mark.parametrize(
    ("nct", "sentence", "kind"),
    [
        (
            "NCT03987555",
            "Cervical cancer • Patients considered for curative or palliative chemotherapy with paclitaxel 135-175 "
            "mg/m2 with or without cisplatin, carboplatin, topotecan, or bevacizumab",
            "inclusion",
        ),
        (
            "NCT05005403",
            "Gastric and Gastroesophageal Junction adenocarcinoma (GEA) - Advanced/metastatic progressed on at least 1 "
            "prior cytotoxic chemotherapeutic regimen",
            "inclusion",
        ),
        (
            "NCT05005403",
            "Pancreatic Ductal Adenocarcinoma (PDAC) - Excludes neuroendocrine or acinar pancreatic carcinoma",
            "exclusion",
        ),
    ],
)
def test_another_tumour_types_rule_after_a_separator_does_not_apply(
    nct: str, sentence: str, kind: str, s04: PatientView
) -> None:
    # fresh6/fresh9: "free text" or "prior chemotherapy required" before; the judges read them as not applicable
    text = q(nct, sentence)
    r = one(inc(text) if kind == "inclusion" else exc(text), s04)
    assert r.not_applicable and r.verdict == ("met" if kind == "inclusion" else "not_met")
    # a bare heading still names another cohort, and a breast rule after a separator is read as usual
    (c,) = inc("Breast cancer - HER2-positive")
    assert one([c], s04).verdict == "not_met"  # HR+/HER2-


def test_a_clearance_per_1_73_m2_is_an_estimated_gfr(s04: PatientView) -> None:
    text = q(
        "NCT04234048",
        "Creatinine clearance ≥60 mL/min/1.73m2 by the Modification of Diet in Renal Disease (MDRD) equation",
    )
    (c,) = inc(text)
    assert [x.params.get("gfr_ok") for x in c.constraints] == [True]
    assert one([c], s04).verdict == "met"  # eGFR 74


def test_a_stage_range_before_the_disease_with_a_comma_is_early_stage(s04: PatientView) -> None:
    # fresh10 s04 x NCT04886531: "clinical stage I-III, invasive breast cancer" was met by a stage IV patient
    text = q("NCT04886531", "Anatomic, clinical stage I-III, invasive breast cancer, greater than 10mm")
    (c,) = inc(text)
    assert ("advanced_disease", "excluded") in [(x.type, x.polarity) for x in c.constraints]
    assert one([c], s04).verdict == "not_met"


def test_lab_units_written_in_words(s04: PatientView) -> None:
    # 2.18.2, fresh11 (NCT05563220): "10^9/liter" and "grams/deciliter" left both bounds as free text
    anc = q("NCT05563220", "Absolute neutrophil count ≥1.5 × 10\\^9/liter (L)")
    hb = q("NCT05563220", "Hemoglobin ≥9.0 grams/deciliter (g/dL)")
    for text, unit in ((anc, "10*9/L"), (hb, "g/dL")):
        (c,) = inc(text)
        assert [(x.type, x.params["unit"]) for x in c.constraints] == [("lab", unit)]
        assert one([c], s04).verdict == "met"


def test_antiandrogens_and_a_pneumonectomy_are_answered_from_the_record(s04: PatientView) -> None:
    anti = q("NCT06099769", "Prior antiandrogen therapy (AR antagonist or CYP17 inhibitors).")
    assert one(exc(anti), s04).verdict == "not_met"
    assert one(exc(anti), with_unknown_drug(s04, "enzalutamide")).verdict == "met"  # its name says the class
    lung = q("NCT06439693", "Prior pneumonectomy.")
    r = one(exc(lung), s04)
    assert r.verdict == "not_met" and "local treatments" in r.evidence[0]


def test_a_history_of_breast_cancer_is_a_recurrence(s04: PatientView, s06: PatientView) -> None:
    # 2.18.2: in a de novo study, "Prior history of invasive breast carcinoma" excludes a recurrence (fresh8, fresh11)
    for nct, text in (
        ("NCT06439693", "Prior history of invasive breast carcinoma"),
        ("NCT06139107", "History of ipsilateral breast cancer"),
    ):
        (c,) = exc(q(nct, text))
        assert [(x.type, x.params) for x in c.constraints] == [("advanced_disease", {"kind": "recurrent"})]
        assert one([c], s04).verdict == "met"  # relapsed 8 years after her early breast cancer
        assert one([c], s06).verdict == "not_met"  # de novo stage IV
    # another primary in the other breast is not her recurrence
    assert not [x for c in exc("History of contralateral breast cancer") for x in c.constraints]
