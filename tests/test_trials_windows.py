"""Time windows (trials/windows.py): washouts and intervals read from real ClinicalTrials.gov wordings and checked
against held-out case records (as of 2026-11-26)."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

import pytest

from mbcnav.dates import PartialDate
from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.criteria import parse_criteria
from mbcnav.trials.match import CriterionResult, evaluate_criterion
from mbcnav.trials.model import Constraint, Criterion
from mbcnav.trials.patient_view import PatientView
from mbcnav.trials.windows import check, extract

D = datetime.date(2026, 11, 26)
CASES = Path(__file__).resolve().parents[1] / "benchmarks" / "trials_heldout" / "patients"


def _view(name: str) -> PatientView:
    a, _ = assess_with_response(read_path(CASES / name, today=D), as_of=D)
    return PatientView.of(a)


@pytest.fixture(scope="module")
def h05() -> PatientView:
    # relapse 2021-03-01 on adjuvant anastrozole (ended 2021-03-15); adjuvant AC-T ended 2018-01-15;
    # capecitabine ended 2024-08-26; trastuzumab deruxtecan ended 2026-10-26 (31 days before D); curative RT 2018
    return _view("h05-her2-low-after-two-chemo.yaml")


@pytest.fixture(scope="module")
def h01() -> PatientView:
    return _view("h01-premenopausal-de-novo-hr-pos.yaml")  # de novo stage IV


def _one(section: str, text: str) -> Criterion:
    head = "Inclusion Criteria:\n\n* " if section == "inclusion" else "Exclusion Criteria:\n\n* "
    crits = parse_criteria(head + text)
    assert len(crits) == 1, crits
    return crits[0]


def _mine(c: Criterion, kind: str = "washout") -> list[Constraint]:
    return [k for k in c.constraints if k.type == kind]


def _params(c: Criterion, kind: str = "washout") -> list[tuple[str, dict[str, object]]]:
    return [(k.polarity, k.params) for k in _mine(c, kind)]


def _eval(c: Criterion, p: PatientView) -> CriterionResult:
    return evaluate_criterion(c, p)


# ---- washouts: reading ---------------------------------------------------------------------------------------


def test_chemo_immuno_anticancer_within_21_days() -> None:
    # NCT05095207
    c = _one(
        "exclusion",
        "Any other chemotherapy, immunotherapy or anticancer agents within 21 days of the first "
        "dose of study treatment",
    )
    assert _params(c) == [
        ("excluded", {"therapy": "chemotherapy", "days": 21, "reference": "first_dose"}),
        ("excluded", {"therapy": "immunotherapy", "days": 21, "reference": "first_dose"}),
        ("excluded", {"therapy": "systemic_anticancer", "days": 21, "reference": "first_dose"}),
    ]
    k = _mine(c)[0]
    assert c.text.lower().startswith("any other chemotherapy")
    whole = "Exclusion Criteria:\n\n* " + c.text
    assert whole[k.span[0] : k.span[1]].lower().startswith("chemotherapy")
    assert "first dose" in whole[k.span[0] : k.span[1]]


def test_half_lives_whichever_shorter_and_outside(h05: PatientView) -> None:
    # NCT05985655
    c = _one(
        "exclusion",
        "Received anticancer therapy within 28 days or 5 half-lives (whichever is shorter) before "
        "the first dose of the study treatment.",
    )
    assert _params(c) == [
        ("excluded", {"therapy": "systemic_anticancer", "days": 28, "reference": "first_dose", "half_lives": "shorter"})
    ]
    r = _eval(c, h05)  # T-DXd ended 31 days before: outside 28 days, whatever the half-lives
    assert r.verdict == "not_met" and r.excludes is False
    assert "trastuzumab deruxtecan ended 2026-10-26, 31 days before 2026-11-26" in r.evidence[0]
    assert "outside" in r.evidence[0]


def test_within_window_excludes_and_says_when(h05: PatientView) -> None:
    # NCT05095207 wording, checked against the 31 days since T-DXd: within a 6-week window it excludes
    c = _one("exclusion", "Received prior anticancer therapy within 6 weeks before randomization")
    assert _params(c) == [("excluded", {"therapy": "systemic_anticancer", "days": 42, "reference": "randomisation"})]
    r = _eval(c, h05)
    assert r.verdict == "met" and r.excludes is True
    assert "window 42 days before the randomisation" in r.evidence[0] and r.evidence[0].endswith("within")


def test_major_surgery_and_radiotherapy_outside(h05: PatientView) -> None:
    # NCT06062498
    c = _one("exclusion", "Patients who have received major surgery within 28 days before starting trial therapy.")
    assert _params(c) == [("excluded", {"therapy": "major_surgery", "days": 28, "reference": "first_dose"})]
    r = _eval(c, h05)
    assert r.verdict == "not_met" and "mastectomy" in r.evidence[0].lower()
    # NCT04862663
    c = _one("exclusion", "Radiotherapy within 2 weeks prior to study treatment initiation.")
    assert _params(c) == [("excluded", {"therapy": "radiotherapy", "days": 14, "reference": "first_dose"})]
    assert _eval(c, h05).verdict == "not_met"
    # NCT05269381 (registration as the reference, "=\<" as the comparator)
    c = _one("exclusion", r"Radiation =\< 2 weeks prior to registration")
    assert _params(c) == [("excluded", {"therapy": "radiotherapy", "days": 14, "reference": "registration"})]


def test_investigational_agent_is_read_from_the_therapy_list(h05: PatientView) -> None:
    # NCT06691035
    c = _one(
        "exclusion",
        "Treatment with any investigational compound within 21 days prior to the first dose of "
        "study drugs or during this study.",
    )
    assert _params(c) == [("excluded", {"therapy": "investigational", "days": 21, "reference": "first_dose"})]
    r = _eval(c, h05)  # T-DXd ended 31 days before: outside 21 days, the only drug near the window
    assert r.verdict == "not_met" and "no systemic anticancer therapy recorded in the 21 days" in r.evidence[0]
    # an approved catalogue drug inside the window is not investigational (the therapy list is read as complete)
    wide = _one("exclusion", "Treatment with any investigational compound within 60 days prior to the first dose.")
    r = _eval(wide, h05)
    assert r.verdict == "not_met" and "no investigational agent recorded" in r.evidence[0]
    assert "trastuzumab deruxtecan" in r.evidence[0]
    # a drug the catalogue marks investigational (camizestrant: not approved, knowledge/approvals.yaml) counts
    cami = _with_last(h05, drug="camizestrant", end=None, ongoing=True)
    r = _eval(c, cami)
    assert r.verdict == "met" and r.excludes is True and "camizestrant" in r.evidence[0]
    # a drug the catalogue does not know may be investigational: unknown, never read as the safe value
    unknown = _with_last(h05, drug="azd-9999", known_drug=False, end=None, ongoing=True)
    r = _eval(c, unknown)
    assert r.verdict == "unknown" and "azd-9999" in r.evidence[0]


def test_currently_receiving_investigational_agents(h05: PatientView) -> None:
    # NCT01174121, NCT05150652, NCT05325632: no window, so "currently" (an ongoing course)
    for text in (
        "Patients who are receiving any other investigational agents.",
        "Receiving any other investigational agents that could impact the efficacy of this trial regimen",
        "Patients may not be receiving any other investigational agents for the treatment of their breast cancer.",
    ):
        c = _one("exclusion", text)
        assert _params(c) == [("excluded", {"therapy": "investigational", "days": 0, "reference": "first_dose"})], text
        assert _eval(c, h05).verdict == "not_met"  # nothing ongoing
        ongoing = _with_last(h05, end=None, ongoing=True)
        r = _eval(c, ongoing)
        assert r.verdict == "not_met" and "trastuzumab deruxtecan" in r.evidence[0]
        assert _eval(c, _with_last(h05, drug="camizestrant", end=None, ongoing=True)).verdict == "met"
    # a permission is not the current-receipt exclusion
    allowed = _one("inclusion", "Prior investigational agents are allowed.")
    assert not _params(allowed)


def test_inclusion_no_chemo_and_since_forms(h05: PatientView) -> None:
    # NCT04150042: a negated inclusion is a washout the patient must respect
    c = _one("inclusion", "No chemotherapy within 2 weeks of enrollment.")
    assert _params(c) == [("excluded", {"therapy": "chemotherapy", "days": 14, "reference": "enrolment"})]
    assert _eval(c, h05).verdict == "met"
    # NCT06028022
    c = _one(
        "inclusion",
        "Prior treatment: last chemotherapy ≥ 90 days prior to randomization (if treated with chemotherapy)",
    )
    assert _params(c) == [("excluded", {"therapy": "chemotherapy", "days": 90, "reference": "randomisation"})]
    r = _eval(c, h05)
    assert r.verdict == "met" and "capecitabine ended 2024-08-26, 822 days before 2026-11-26" in r.evidence[0]
    # NCT06910657: one window, three therapies; the allowance in brackets is not read as a therapy
    c = _one(
        "inclusion",
        "At least 28 days since major surgery, prior immunotherapy, or radiotherapy (with "
        "exceptions for minor procedures).",
    )
    assert [p["therapy"] for _, p in _params(c)] == ["major_surgery", "immunotherapy", "radiotherapy"]
    assert {p["days"] for _, p in _params(c)} == {28}
    assert {pol for pol, _ in _params(c)} == {"excluded"}
    assert _eval(c, h05).verdict == "met"


def test_catalogue_drug_washout(h05: PatientView) -> None:
    # NCT04969835: "Cycle 1 Day 1" is a visit, not a second duration
    c = _one("exclusion", "Has received trastuzumab within 7 months of the planned Cycle 1 Day 1 AVA6000 infusion.")
    assert _params(c) == [("excluded", {"therapy": "trastuzumab", "days": 210, "reference": "first_dose"})]
    r = _eval(c, h05)
    assert r.verdict == "not_met" and "trastuzumab: none recorded" in r.evidence[0]


def test_not_washouts() -> None:
    # NCT04616248: a vaccine, NCT05929768: a lab's timing, NCT06538389: how long an AI has been taken
    for text in (
        "Live vaccines within 30 days prior to the first dose of trial treatment and while participating in the trial.",
        r"Hemoglobin \>= 9.0 g/dL or \>= 5.6 mol/L (within 28 days prior to randomization)",
        "Currently taking a third-generation aromatase inhibitor (AI) (e.g., anastrozole, letrozole, or exemestane) "
        "for ≥ 90 days prior to registration with plans to continue for ≥ 180 days after registration",
    ):
        for section in ("inclusion", "exclusion"):
            assert extract(text.lower(), 0, section, False) == [], text


def test_allowances_are_not_exclusions() -> None:
    # NCT06224673: the NOTE allows anti-hormonal therapy up to 7 days before: no endocrine washout
    c = _one(
        "exclusion",
        "Has exposure to any other investigational or commercial anti-cancer agents or therapies "
        "administered with the intention to treat malignancy within 14 days before the first dose of study "
        "treatment. NOTE: Anti-hormonal therapy may be administered up to 7 days prior to the first dose of "
        "study treatment.",
    )
    assert _params(c) == [("excluded", {"therapy": "systemic_anticancer", "days": 14, "reference": "first_dose"})]
    # NCT06150664: palliative radiotherapy is allowed: radiotherapy carries the allowance, no palliative washout
    c = _one(
        "inclusion",
        r"Last dose of previous PD-1 or PD-L1 therapy ≥ 28 days, other anticancer therapy \> 21 "
        r"days (or 2 half-lives for proteins, whichever is longer), radiotherapy \>21 days (concurrent localized "
        r"palliative radiotherapy is allowed during CTX-8371 treatment), or surgical intervention \>21 days prior "
        r"to the first dose of CTX-8371",
    )
    got = _params(c)
    assert (
        "excluded",
        {"therapy": "systemic_anticancer", "days": 21, "reference": "first_dose", "half_lives": "longer"},
    ) in got
    assert (
        "excluded",
        {"therapy": "radiotherapy", "days": 21, "reference": "first_dose", "allowed": "palliative_radiotherapy"},
    ) in got
    assert all(p["therapy"] != "palliative_radiotherapy" for _, p in got)
    # NCT05573126: "Palliative radiotherapy within 6 weeks prior to first dose of study drug is permitted"
    c = _one(
        "exclusion",
        "Radiation therapy within 14 days prior to the first dose of study drug and scheduled to "
        "have radiation therapy during participation in this study. Palliative radiotherapy within 6 weeks "
        "prior to first dose of study drug is permitted",
    )
    assert [p["therapy"] for _, p in _params(c)] == ["radiotherapy"]


def test_negated_list_head_flips() -> None:
    # NCT04862663 wording under "Patients must NOT have:" in the inclusion section
    got = extract("radiotherapy within 2 weeks prior to study treatment initiation.", 100, "inclusion", True)
    assert [(k.polarity, k.params["therapy"], k.span[0]) for k in got] == [("excluded", "radiotherapy", 100)]


# ---- washouts: checking ongoing therapy and partial dates -----------------------------------------------------


def _with_last(p: PatientView, **changes: object) -> PatientView:
    """h05 with its last course (trastuzumab deruxtecan) changed."""
    assert p.record is not None
    th = list(p.record.therapies)
    i = next(i for i, t in enumerate(th) if t.drug == "trastuzumab deruxtecan")
    th[i] = replace(th[i], **changes)  # type: ignore[arg-type]
    return replace(p, record=replace(p.record, therapies=tuple(th)))


def test_ongoing_and_partial_end_dates(h05: PatientView) -> None:
    c = Constraint(
        "washout", "excluded", {"therapy": "systemic_anticancer", "days": 21, "reference": "first_dose"}, (0, 1), "test"
    )
    ongoing = _with_last(h05, end=None, ongoing=True)
    has, ev = check(c, ongoing)
    assert has is True and "trastuzumab deruxtecan ongoing" in ev
    # ended some time in November 2026: 0-25 days before, straddles the 21-day window -> unknown
    partial = _with_last(h05, end=PartialDate.parse("2026-11"), ongoing=False)
    has, ev = check(c, partial)
    assert has is None and "ended 2026-11, 0-25 days before 2026-11-26" in ev
    # ended some time in 2026 with a 600-day window: all of 2026 is inside -> within
    wide = replace(c, params={**c.params, "days": 600})
    has, _ = check(wide, _with_last(h05, end=PartialDate.parse("2026"), ongoing=False))
    assert has is True
    # stopped, no end date, started long before the window -> unknown
    has, ev = check(c, _with_last(h05, end=None, ongoing=False))
    assert has is None and "no end date" in ev
    # "whichever is shorter": within 28 days but 5 half-lives may be shorter -> unknown
    short = replace(c, params={**c.params, "days": 35, "half_lives": "shorter"})
    has, ev = check(short, h05)
    assert has is None and "whichever is shorter" in ev


def test_chemotherapy_class_from_catalogue(h05: PatientView) -> None:
    # T-DXd is an ADC (targeted), not chemotherapy in the catalogue: a 6-week chemotherapy window is clear
    c = Constraint(
        "washout", "excluded", {"therapy": "chemotherapy", "days": 42, "reference": "first_dose"}, (0, 1), "t"
    )
    has, ev = check(c, h05)
    assert has is False and "capecitabine ended 2024-08-26" in ev
    t = replace(c, params={**c.params, "therapy": "targeted"})
    assert check(t, h05)[0] is True


# ---- intervals -------------------------------------------------------------------------------------------------


def test_relapse_within_12_months_of_adjuvant_et(h05: PatientView, h01: PatientView) -> None:
    # NCT06760637: relapse on adjuvant anastrozole excludes; a de novo patient had no adjuvant therapy
    c = _one(
        "exclusion",
        "Have received prior (neo)adjuvant endocrine therapy (ET) and had recurrence during or "
        "within 12 months after the last dose of ET.",
    )
    assert _params(c, "interval") == [
        ("excluded", {"event": "adjuvant_endocrine_end", "until": "recurrence", "max_days": 360})
    ]
    assert _mine(c) == []  # not also a washout
    r = _eval(c, h05)
    assert r.verdict == "met" and r.excludes is True
    assert any("anastrozole) ended 2021-03-15; first distant metastasis 2021-03-01" in e for e in r.evidence)
    r = _eval(c, h01)
    assert r.verdict == "not_met" and any("de novo stage IV" in e for e in r.evidence)


def test_relapse_more_than_12_months_required(h05: PatientView) -> None:
    # NCT05870579
    c = _one(
        "inclusion",
        "relapsed with documented evidence of relapse more than 12 months from completion of "
        "(neo)adjuvant endocrine therapy and then subsequently progressed with documented evidence of "
        "progression after one line of endocrine therapy (except fulvestrant) (+/- CDK4/6 inhibitor) for "
        "advanced disease",
    )
    assert _params(c, "interval") == [
        ("required", {"event": "adjuvant_endocrine_end", "until": "recurrence", "min_days": 360})
    ]
    r = _eval(c, h05)
    assert r.verdict == "not_met" and any("relapse during therapy" in e for e in r.evidence)


def test_disease_free_interval_non_hormonal(h05: PatientView) -> None:
    # NCT05894239: from the end of adjuvant AC-T (2018-01-15) to relapse (2021-03-01) is 1141 days
    c = _one(
        "inclusion",
        r"Disease-free interval from completion of adjuvant or neoadjuvant systemic non-hormonal "
        r"treatment to recurrence of \>= 6 months",
    )
    assert _params(c, "interval") == [
        ("required", {"event": "adjuvant_nonendocrine_end", "until": "recurrence", "min_days": 180})
    ]
    r = _eval(c, h05)
    assert r.verdict == "met"
    assert any("ended 2018-01-15; first distant metastasis 2021-03-01: 1141 days" in e for e in r.evidence)


def test_early_recurrence_after_chemo_and_de_novo_alternative(h05: PatientView, h01: PatientView) -> None:
    # NCT06312176
    c = _one(
        "exclusion",
        r"Has experienced an early recurrence (\<6 months after completing adjuvant/neoadjuvant "
        r"chemotherapy) and therefore is eligible to receive second-line (2L) treatment",
    )
    assert _params(c, "interval") == [
        ("excluded", {"event": "adjuvant_chemotherapy_end", "until": "recurrence", "max_days": 180})
    ]
    assert _eval(c, h05).verdict == "not_met"
    # NCT06790693: "De-novo ... or, alternatively, relapsed ... disease-free interval of at least 1 year"
    c = _one(
        "inclusion",
        "De-novo HR+ , HER2- ABC, or, alternatively, relapsed HR+ , HER2- ABC after at least 2 "
        "years of standard neoadjuvant/adjuvant endocrine therapy without disease progression during that "
        "treatment and disease-free interval of at least 1 year since the completion of that treatment",
    )
    got = _params(c, "interval")
    assert got and got[0][1]["min_days"] == 365 and got[0][1]["de_novo_allowed"] is True
    k = next(x for x in _mine(c, "interval"))
    has, ev = check(k, h01)
    assert has is True and "de novo stage IV" in ev


def test_conditions_and_alternatives_are_not_read() -> None:
    # NCT06630325: a definition ("if recurrence occurred within 6 months ... counts as 1 line")
    # NCT05748834: "one line of anti-HER2 therapy ... or relapsed within 6 months": an alternative
    for text in (
        "PRIMARY TREATMENT: Documented progression after at least 1 line of prior therapy for advanced disease. If "
        "recurrence occurred within 6 months of the last dose of an adjuvant/neoadjuvant therapy, that "
        "adjuvant/neoadjuvant therapy will count as 1 line of therapy",
        "Have had prior treatment with at least 1 line of anti-HER2 therapy for locally advanced/metastatic disease "
        "or relapsed within 6 months of completion of adjuvant anti-HER2 therapy.",
    ):
        assert [k for k in extract(text.lower(), 0, "inclusion", False) if k.type == "interval"] == []


def test_interval_until_today(h05: PatientView) -> None:
    # "until": "as_of" is read from "N months since completion of adjuvant ..." (no corpus study words it so; the
    # check is tested on the constraint itself): anastrozole ended 2021-03-15, 2082 days before 2026-11-26
    k = Constraint(
        "interval", "required", {"event": "adjuvant_endocrine_end", "until": "as_of", "min_days": 360}, (0, 1), "t"
    )
    has, ev = check(k, h05)
    assert has is True and "assessment date 2026-11-26: 2082 days" in ev
    has, ev = check(replace(k, params={**k.params, "min_days": 2100}), h05)
    assert has is False and "required >= 2100 days: no" in ev
