"""Parser 2.15 (docs/trials-criteria.md): more brain-metastasis and reproductive subjects, the definition of
premenopausal status, and rules for patients with an infection left open (investigational agents read from the
therapy list: tests/test_trials_windows.py). Sentences are quoted verbatim from the shared corpus (checked when it is
here)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mbcnav.trials.criteria import Criterion, parse_criteria
from mbcnav.trials.match import evaluate_criterion, match_trial
from mbcnav.trials.patient_view import PatientView

from .test_trials_list_heads import study
from .trials_corpus import Quotes, exc, groups, inc, needs_corpus, not_verbatim, one, patient_view

ROOT = Path(__file__).resolve().parents[1]
QUOTES = Quotes()
q = QUOTES.q


@pytest.fixture(scope="module")
def post_woman() -> PatientView:  # postmenopausal, no brain metastases, nothing on the problem list
    return patient_view(ROOT / "examples" / "cases" / "02-recurrence-on-adjuvant-ai.yaml")


@pytest.fixture(scope="module")
def hbv() -> PatientView:  # chronic hepatitis B on entecavir (problem list: hepatitis_b)
    return patient_view(ROOT / "benchmarks" / "trials_fresh8" / "patients" / "q04-esr1-y537s-after-ai-palbo-hepb.yaml")


@pytest.fixture(scope="module")
def man() -> PatientView:
    return patient_view(ROOT / "examples" / "cases" / "09-male-hr-positive.yaml")


HBSAG = q(
    "NCT05947851",
    "Participants who are hepatitis B surface antigen (HBsAg) positive are eligible if they have received hepatitis B "
    "virus (HBV) antiviral therapy for at least 4 weeks and have undetectable HBV deoxyribonucleic acid (DNA) viral "
    "load before randomization",
)
HIV_ART = q(
    "NCT06136650",
    "Human immunodeficiency virus (HIV)-infected participants must have well controlled HIV on antiretroviral therapy "
    "(ART)",
)


@pytest.mark.parametrize("sentence", [HBSAG, HIV_ART])
def test_a_rule_for_patients_with_an_infection_stays_open_when_the_record_does_not_say(
    sentence: str, post_woman: PatientView, hbv: PatientView
) -> None:
    # Judges split on these (TREC convention: infections not in the record are assumed, and the bullet is "unknown";
    # some judges marked it "not applicable"). An empty problem list does not say she has no HBV or HIV: open.
    cs = inc(sentence)
    assert groups(cs) == []
    assert one(cs, post_woman).verdict == "unknown"
    assert one(cs, hbv).verdict == "unknown"


BRAIN_CNS = q(
    "NCT06242470",
    "Patients with history of prior central nervous system (CNS) metastasis must have been treated, be asymptomatic, "
    "and not have concurrent treatment for CNS disease",
)
BRAIN_ELIGIBLE_IF = q(
    "NCT05514717",
    "Participants are eligible if CNS metastases are adequately treated and participants are neurologically stable for "
    "at least 2 weeks prior to enrollment.",
)
BRAIN_FEWER = q(
    "NCT01174121",
    "Patients with 3 or fewer brain metastases that are \\< 1 cm in diameter and asymptomatic are eligible.",
)


@pytest.mark.parametrize("sentence", [BRAIN_CNS, BRAIN_ELIGIBLE_IF, BRAIN_FEWER])
def test_more_brain_metastasis_subjects(sentence: str, post_woman: PatientView) -> None:
    cs = exc(sentence) if sentence is not BRAIN_FEWER else inc(sentence)
    assert groups(cs) == [["brain_metastases"]]
    r = one(cs, post_woman)  # no brain metastases among her recorded sites (the sites are read as complete)
    assert r.not_applicable and r.verdict == ("met" if sentence is BRAIN_FEWER else "not_met")


MALE_HEAD = q("NCT06582017", "Male participants of child-bearing potential must:")


def test_a_mens_reproductive_head_needs_no_reproduction_word_after_it(
    post_woman: PatientView, man: PatientView
) -> None:
    cs = inc(MALE_HEAD)
    assert groups(cs) == [["men_of_reproductive_potential"]]
    assert one(cs, post_woman).not_applicable
    assert not one(cs, man).not_applicable


PRE_HEAD = q("NCT04563507", "Premenopausal status is defined as either:")
PRE_LMP = q("NCT04563507", "Patient had last menstrual period within the last 12 months, OR")


def test_the_definition_of_premenopausal_status_is_moot_for_a_postmenopausal_woman(
    post_woman: PatientView, man: PatientView
) -> None:
    cs = parse_criteria(f"Inclusion Criteria:\n\n* {PRE_HEAD}\n\n  * {PRE_LMP}\n")
    assert groups(cs) == [["premenopausal_definition"], ["premenopausal_definition"]]
    for c in cs:  # the head and its definitions: moot for her and for a man (not "not met": nothing is required)
        for p in (post_woman, man):
            r = evaluate_criterion(c, p)
            assert (r.verdict, r.not_applicable) == ("met", True), (c.text, r)


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


CORD = q("NCT05508906", "Leptomeningeal disease or spinal cord compression.")


def test_cord_compression_needs_a_site_it_can_arise_from(post_woman: PatientView) -> None:
    lung_pleura = patient_view(ROOT / "examples" / "cases" / "03-recurrence-after-adjuvant-ended.yaml")
    r = one(exc(CORD), lung_pleura)  # lung and pleura only: no vertebral metastasis to compress the cord
    assert r.verdict == "not_met" and "no bone" in " ".join(r.evidence)
    # bone metastases (she has them) and no cord compression recorded: a problem list is never complete, so open
    assert one(exc(CORD), post_woman).verdict == "unknown"


IBC = q("NCT05837455", "Inflammatory breast cancer (cT4d disease as per AJCC 8th edition).")
METAPLASTIC = q("NCT06790693", "Metaplastic breast cancer")
NEUROENDOCRINE = q("NCT05059444", "Index cancer has predominantly neuroendocrine histology")


def _t4d(p: PatientView) -> PatientView:
    """The same patient with an inflammatory primary (clinical T4d at diagnosis)."""
    assert p.record is not None
    tnm = tuple(replace(x, value="cT4d") if x.axis == "T" else x for x in p.record.tnm)
    return replace(p, record=replace(p.record, tnm=tnm))


def test_tumour_features_are_read_from_the_primary(post_woman: PatientView) -> None:
    cs = exc(IBC)
    assert [(k.type, k.params) for k in cs[0].constraints] == [("histology", {"feature": "inflammatory"})]
    r = one(cs, post_woman)  # cT2 / pT2 recorded: not T4d, so not inflammatory
    assert r.verdict == "not_met" and "cT2" in r.evidence[0]
    assert one(cs, _t4d(post_woman)).verdict == "met"
    # her histology (invasive ductal carcinoma) is neither metaplastic nor neuroendocrine
    assert one(exc(METAPLASTIC), post_woman).verdict == "not_met"
    assert one(exc(NEUROENDOCRINE), post_woman).verdict == "not_met"
    # nothing recorded about the primary: unknown
    assert post_woman.record is not None
    bare = replace(post_woman, record=replace(post_woman.record, tnm=(), primaries=()))
    assert one(cs, bare).verdict == "unknown"
    assert one(exc(METAPLASTIC), bare).verdict == "unknown"


def test_a_tumour_feature_allowed_is_no_exclusion() -> None:
    # NCT05325632-style allowance inside an exclusion list: "... inflammatory breast cancer are eligible"
    assert exc("Participants with inflammatory breast cancer are eligible.")[0].constraints == ()


BREAST_OR_OVARIAN = q(
    "NCT06268665", "Histologically confirmed invasive breast or ovarian cancer (Stage I, II, III, or IV)"
)
ORGAN_LIST = q(
    "NCT07225309",
    "Pathologically confirmed breast, prostate, colorectal, or thyroid solid tumor cancer (either most recent or new "
    "diagnosis)",
)
ANY_SOLID = q("NCT06745024", "Patients with any solid tumor type (excluding multiple myeloma)")
RECIST = q("NCT04511039", "Have measurable disease per Response Evaluation Criteria in Solid Tumors")


@pytest.mark.parametrize("sentence", [BREAST_OR_OVARIAN, ORGAN_LIST, ANY_SOLID])
def test_breast_cancer_as_one_of_the_diseases_named(sentence: str, post_woman: PatientView) -> None:
    cs = inc(sentence)
    assert "disease_breast" in [k.type for k in cs[0].constraints]
    assert one(cs, post_woman).verdict in ("met", "unknown")  # met by the disease; other constraints may stay open
    assert any(x.startswith("primary breast cancer") for x in one(cs, post_woman).evidence)
    # in an exclusion the list is never "breast cancer excluded"
    assert "disease_breast" not in [k.type for k in exc(sentence)[0].constraints]


def test_the_name_of_recist_is_no_solid_tumour() -> None:
    assert "disease_breast" not in [k.type for k in inc(RECIST)[0].constraints]
    # a list head: its bullets name which solid tumours (NCT06465069: TNBC, not HR+ breast cancer)
    head = q("NCT06465069", "Have one of the following solid tumor cancers:")
    assert "disease_breast" not in [k.type for k in inc(head)[0].constraints]


SWALLOW_INC = q("NCT05663710", "Able to swallow oral medications")
SWALLOW_EXC = q("NCT06268665", "Inability to swallow liquid.")
HYPERCALCAEMIA = q("NCT04802759", "Uncontrolled or symptomatic hypercalcemia")
FULVESTRANT_ALLERGY = q(
    "NCT05696626", "Subjects with a known hypersensitivity to fulvestrant or to any of the excipients"
)


def test_a_current_oral_course_shows_she_swallows_oral_medication(post_woman: PatientView) -> None:
    # example 02: on fulvestrant (injection) + abemaciclib (tablets)
    r = one(inc(SWALLOW_INC), post_woman)
    assert r.verdict == "met" and "abemaciclib" in r.evidence[0]
    assert one(exc(SWALLOW_EXC), post_woman).verdict == "not_met"
    # on an intravenous drug only (example 08: sacituzumab govitecan): the record cannot say
    iv = patient_view(ROOT / "examples" / "cases" / "08-er-low.yaml")
    assert one(inc(SWALLOW_INC), iv).verdict == "unknown"


def test_a_current_calcium_in_range_is_no_hypercalcaemia(post_woman: PatientView) -> None:
    g02 = patient_view(ROOT / "benchmarks" / "trials_fresh2" / "patients" / "g02-hr-her2low-pik3ca-post-cdk46.yaml")
    r = one(exc(HYPERCALCAEMIA), g02)
    assert r.verdict == "not_met" and "calcium" in r.evidence[0]
    assert one(exc(HYPERCALCAEMIA), post_woman).verdict == "unknown"  # no calcium in her record


def test_a_drug_given_and_not_stopped_for_toxicity_caused_no_hypersensitivity(post_woman: PatientView) -> None:
    # example 07: fulvestrant stopped for progression; example 02: fulvestrant ongoing
    tolerated = patient_view(ROOT / "examples" / "cases" / "07-her2-low-after-cdk46.yaml")
    r = one(exc(FULVESTRANT_ALLERGY), tolerated)
    assert r.verdict == "not_met" and "stopped for progression" in r.evidence[0]
    assert one(exc(FULVESTRANT_ALLERGY), post_woman).verdict == "not_met"
    # stopped for toxicity: whether it was a hypersensitivity is for the screening team
    assert tolerated.record is not None
    th = tuple(
        replace(t, reason_stopped="toxicity") if t.drug == "fulvestrant" else t for t in tolerated.record.therapies
    )
    toxic = replace(tolerated, record=replace(tolerated.record, therapies=th))
    assert one(exc(FULVESTRANT_ALLERGY), toxic).verdict == "unknown"
    # never given, but its excipients are named: they are in other products too
    never = patient_view(ROOT / "examples" / "cases" / "01-de-novo-hr-pos-bone-only.yaml")
    assert one(exc(FULVESTRANT_ALLERGY), never).verdict == "unknown"


MEAS_OR_BONE = q(
    "NCT06263543",
    "Measurable disease, as per RECIST V1.1 - a. If a patient has bone-only disease, they are eligible as long as "
    "there is a lytic lesion that is considered measurable.",
)
MEAS_OR_EVALUABLE = q(
    "NCT04704661",
    "Must have at least 1 measurable lesion on CT scan per Response Evaluation Criteria in Solid Tumors (RECIST) 1.1. "
    "Patient without measurable but evaluable disease are allowed for dose-escalation phase",
)
MEAS_ONLY = "Patients must have measurable disease. Non-measurable disease is not allowed."


@pytest.mark.parametrize("sentence", [MEAS_OR_BONE, MEAS_OR_EVALUABLE])
def test_measurable_disease_with_another_kind_allowed(sentence: str, post_woman: PatientView) -> None:
    cs = inc(sentence)
    meas = [k for k in cs[0].constraints if k.type == "measurable_disease"]
    assert [k.params.get("or_other") for k in meas] == [True]
    # a measurable lesion meets it; without one the alternative is for a person to read (never "not met")
    measured = replace(post_woman, measurable=True)
    assert one(cs, measured).verdict == "met"
    r = one(cs, replace(post_woman, measurable=False))
    assert r.verdict == "unknown" and "allows another kind of disease" in " ".join(r.evidence)
    # "not allowed" is no alternative
    strict = [k for k in inc(MEAS_ONLY)[0].constraints if k.type == "measurable_disease"]
    assert [k.params.get("or_other") for k in strict] == [None]
    assert one(inc(MEAS_ONLY), replace(post_woman, measurable=False)).verdict == "not_met"


POST_WOMEN = q("NCT05150652", "Postmenopausal women")
POST_OR_OFS = q(
    "NCT05095207", "Post-menopausal status or receiving ovarian ablation with a GnRH agonist such as goserelin"
)
MALE_OR_POST = q("NCT05455619", "Patient is male or postmenopausal female.")
PRE_REQUIRED = q(
    "NCT05879926", "Patients must be premenopausal (evidence of functioning ovaries) at the time of pre-entry."
)
NO_PRE = q("NCT06671912", "No patients with premenopausal status")


def _status(p: PatientView, status: str | None, ofs: bool = False) -> PatientView:
    return replace(p, facts={**p.facts, "menopausal_status": status, "current.ovarian_suppression": ofs})


@pytest.mark.parametrize("sentence", [POST_WOMEN, MALE_OR_POST, NO_PRE])
def test_a_postmenopausal_requirement(sentence: str, post_woman: PatientView, man: PatientView) -> None:
    cs = inc(sentence)
    meno = [k for k in cs[0].constraints if k.type == "menopausal_status"]
    assert [(k.polarity, k.params["status"]) for k in meno] == [("required", "post")]
    status_only = Criterion("inclusion", sentence, 0, 1, (meno[0],))  # the status alone (no sex constraint)
    assert evaluate_criterion(status_only, post_woman).verdict == "met"
    assert evaluate_criterion(status_only, _status(post_woman, "pre")).verdict == "not_met"
    # on goserelin she is still premenopausal, unless the criterion accepts ovarian suppression
    assert evaluate_criterion(status_only, _status(post_woman, "pre", ofs=True)).verdict == "not_met"
    assert evaluate_criterion(status_only, _status(post_woman, None)).verdict == "unknown"
    # a status for women: a man is not asked it (his sex is the sex criterion's question); with no sex word he is not
    # of the status
    assert evaluate_criterion(status_only, man).verdict == ("not_met" if sentence is NO_PRE else "met")


def test_ovarian_suppression_when_the_criterion_accepts_it(post_woman: PatientView) -> None:
    cs = inc(POST_OR_OFS)
    assert one(cs, _status(post_woman, "pre", ofs=True)).verdict == "met"
    assert one(cs, _status(post_woman, "pre", ofs=False)).verdict == "not_met"


def test_a_premenopausal_requirement(post_woman: PatientView) -> None:
    cs = inc(PRE_REQUIRED)
    assert one(cs, _status(post_woman, "pre")).verdict == "met"
    assert one(cs, _status(post_woman, "peri")).verdict == "met"
    assert one(cs, post_woman).verdict == "not_met"


@pytest.mark.parametrize(
    "sentence",
    [
        q("NCT05696626", "Pre- or postmenopausal women or men"),
        q("NCT03786796", "Postmenopausal or evidence of non-childbearing status for women of childbearing potential:"),
        q("NCT01638676", "Pre-menopausal females and females \\< 2 years after the onset of menopause should have a n"),
        "Premenopausal women must receive an LHRH agonist",
    ],
)
def test_no_status_required(sentence: str) -> None:
    assert "menopausal_status" not in [k.type for c in inc(sentence) for k in c.constraints]


NCI_AGE = q(
    "NCT04704661",
    "Age \\>= 18 years. Because no dosing or adverse event data are currently available on the use of AZD6738 in "
    "combination with DS-8201a in patients \\< 18 years of age, children are excluded from this study",
)


def test_the_nci_age_wording_reads_its_first_sentence() -> None:
    ages = [k.params for k in inc(NCI_AGE)[0].constraints if k.type == "age"]
    assert ages == [{"min": 18}]  # not "< 18" from the sentence on children


@pytest.mark.parametrize(
    "item",
    [q("NCT07118176", t) for t in ("Adrenal cancer", "Penile cancer", "Thymus cancer", "Solitary fibrous tumor")],
)
def test_rarer_tumour_types_in_a_list_of_indications(item: str, post_woman: PatientView) -> None:
    # parser 2.15.1: a FAPI-46 PET study lists 33 cancer types; the judges of the tenth held-out set marked every type
    # but breast cancer "not met" (tumour_types.yaml); it excludes no one
    r = one(inc(item), post_woman)
    assert (r.verdict, r.excludes) == ("not_met", False)


def test_peritoneal_cancer_is_no_other_tumour_type() -> None:
    # peritoneal and pleural disease are metastatic sites of breast cancer: never read as another tumour type
    assert groups(exc("Peritoneal carcinomatosis")) == []
    assert groups(inc(q("NCT07118176", "Peritoneal cancer"))) == []


@pytest.mark.parametrize(
    "sentence",
    [
        q("NCT06084481", "Laboratory values meeting the criteria laid out in the protocol."),
        q("NCT06242470", "Adequate performance and laboratory parameters"),
    ],
)
def test_laboratory_values_per_protocol_are_the_organ_panel(sentence: str) -> None:
    # parser 2.15.1: read like "adequate organ function" (met only when every panel value is current and in range)
    organ = [k.params for k in inc(sentence)[0].constraints if k.type == "organ_function"]
    assert organ == [{"systems": ["organ"]}]
    # a list head's own values decide, not the head
    assert not [k for k in inc(q("NCT04585477", "Acceptable laboratory parameters:"))[0].constraints]


def test_bullets_hung_below_another_tumours_indication_stay_hers(post_woman: PatientView) -> None:
    # NCT03987555: the segmenter hangs the consent bullet below "Vulvar cancer (squamous cell carcinoma)", a cohort's
    # indication (parser 2.15.1 knows vulvar cancer); it binds no sub-bullet, so consent stays hers to give
    vulvar = q("NCT03987555", "Vulvar cancer (squamous cell carcinoma)")
    consent = q(
        "NCT03987555",
        "Ability to understand and the willingness to sign an IRB-approved informed consent document (either directly "
        "or via a legally authorized representative)",
    )
    text = f"Inclusion Criteria:\n\n{vulvar}\n\n* {consent}\n"
    cs = parse_criteria(text)
    assert cs[1].parent == 0  # hung below the indication
    m = match_trial(study(text), cs, post_woman)
    assert m.criteria[0].verdict == "not_met"
    assert not m.criteria[1].not_applicable and m.criteria[1].verdict == "unknown"


def test_a_recorded_second_cancer_or_transplant_answers_the_exclusion(post_woman: PatientView) -> None:
    from mbcnav.record.model import Comorbidity, Source

    assert post_woman.record is not None
    other = q("NCT06242470", "Prior autologous or allogeneic stem cell or solid organ transplant.")
    assert one(exc(other), post_woman).verdict == "unknown"  # nothing recorded: a problem list is never complete
    tx = Comorbidity("organ_transplant", "kidney transplant 2014", None, Source("Condition/tx", "test"))
    with_tx = replace(post_woman, record=replace(post_woman.record, comorbidities=(tx,)))
    assert one(exc(other), with_tx).verdict == "met"
