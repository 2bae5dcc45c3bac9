"""Laboratory criteria (trials/labs_criteria.py): real ClinicalTrials.gov wordings read into `lab` constraints and
checked against a case file's labs through parse_criteria and match.evaluate_criterion."""

from __future__ import annotations

import dataclasses
import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mbcnav.trials import labs_criteria
from mbcnav.trials.criteria import _normalise, parse_criteria
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.model import Constraint
from mbcnav.trials.patient_view import PatientView

D = datetime.date(2026, 11, 26)
H05 = (
    Path(__file__).resolve().parents[1]
    / "benchmarks"
    / "trials_heldout"
    / "patients"
    / "h05-her2-low-after-two-chemo.yaml"
)


@cache
def _h05() -> PatientView:
    """ANC 1.6 ×10^9/L, platelets 148, Hb 108 g/L, ALT 52 U/L (7–35), AST 61 (10–35), ALP 184 (30–130), bilirubin
    18 µmol/L (0–21), creatinine 70 µmol/L (45–84), all 2026-11-02; liver and bone metastases."""
    from mbcnav.pathway import assess_with_response
    from mbcnav.record import read_path

    a, _ = assess_with_response(read_path(H05, today=D), as_of=D)
    return PatientView.of(a)


def _labs(sentence: str, section: str = "inclusion") -> list[Constraint]:
    heading = "Inclusion Criteria:" if section == "inclusion" else "Exclusion Criteria:"
    criteria = parse_criteria(f"{heading}\n\n* {sentence}\n")
    assert len(criteria) == 1 and criteria[0].kind == section
    return [c for c in criteria[0].constraints if c.type == "lab"]


def _params(sentence: str, section: str = "inclusion") -> list[tuple[str, dict[str, Any]]]:
    return [(c.polarity, c.params) for c in _labs(sentence, section)]


def _verdict(sentence: str, p: PatientView, section: str = "inclusion") -> tuple[str, list[str]]:
    heading = "Inclusion Criteria:" if section == "inclusion" else "Exclusion Criteria:"
    (criterion,) = parse_criteria(f"{heading}\n\n* {sentence}\n")
    r = evaluate_criterion(criterion, p)
    return r.verdict, r.evidence


# ------------------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize(
    ("sentence", "analyte", "op", "value"),
    [
        # NCT02339571
        (
            "Absolute neutrophil count (ANC) \\>= 1,500/uL (obtained within 4 weeks prior to randomization)",
            "neutrophils",
            ">=",
            1.5,
        ),
        # NCT04890613
        ("Absolute Neutrophil Count ≥ 1.5 x 10\\^9/L", "neutrophils", ">=", 1.5),
        # NCT04090567 (superscript lost: "109/L" is 10^9/L)
        (
            "Absolute neutrophil count (ANC) \\>/= 1.5 x 109/L with no GCSF administration within 28 days prior to "
            "administration of study treatment",
            "neutrophils",
            ">=",
            1.5,
        ),
        # NCT06378866
        (
            "Absolute neutrophil count (ANC) ≥ 1500/mm\\^3 (obtained ≤ 15 days prior to registration)",
            "neutrophils",
            ">=",
            1.5,
        ),
        # NCT04585958
        ("Platelets \\>= 100,000/mcL (within 21 days of randomization/enrollment)", "platelets", ">=", 100.0),
        # NCT04563507: thousands grouped by a space, as SI writes them
        ("Platelets ≥100 000/µL", "platelets", ">=", 100.0),
        # NCT06582771
        ("Platelets ≥ 75 x 10\\^9/L", "platelets", ">=", 75.0),
        # NCT06374459
        ("Platelets ≥ 100 K/cumm", "platelets", ">=", 100.0),
        # NCT06574880
        ("Hemoglobin \\> 10 g/dL", "haemoglobin", ">", 10.0),
        # NCT04166409
        ("Albumin \\>= 2 g/dL (performed within 7 days prior to enrollment)", "albumin", ">=", 2.0),
        # NCT03567889: µmol/L -> mg/dL (÷ 17.1)
        ("Total bilirubin ≤ 30 μmol/L (or ≤ 2.0 mg/dl).", "bilirubin", "<=", 1.754385),
    ],
)
def test_absolute_bounds_convert_to_the_canonical_unit(sentence: str, analyte: str, op: str, value: float) -> None:
    ((polarity, params),) = _params(sentence)
    assert polarity == "required"
    assert params == {"analyte": analyte, "op": op, "value": pytest.approx(value), "unit": params["unit"]}
    assert (
        params["unit"]
        == {
            "neutrophils": "10*9/L",
            "platelets": "10*9/L",
            "haemoglobin": "g/dL",
            "albumin": "g/dL",
            "bilirubin": "mg/dL",
        }[analyte]
    )


def test_haemoglobin_in_g_per_litre() -> None:
    # NCT05961124 (a run-on list; Hb in g/L)
    found = _params(
        "i. Absolute neutrophil count \\>/= 1.5 x109/L ii. Platelets \\>/= 100 x109/L iii. Hemoglobin \\>/= 100 g/L "
        "without transfusion"
    )
    assert [(p["analyte"], p["value"]) for _, p in found] == [
        ("neutrophils", 1.5),
        ("platelets", 100.0),
        ("haemoglobin", 10.0),
    ]


def test_times_uln_with_liver_metastases_alternative() -> None:
    # NCT02339571
    found = _params(
        "Aspartate aminotransferase (AST) and alanine aminotransferase (ALT) =\\< 3 x ULN (=\\< 5 x ULN for patients "
        "with documented liver metastases) (obtained within 4 weeks prior to randomization)"
    )
    alt = [{"condition": "liver_metastases", "times_uln": 5.0}]
    assert found == [
        ("required", {"analyte": "ast", "op": "<=", "times_uln": 3.0, "unit": "x ULN", "alternatives": alt}),
        ("required", {"analyte": "alt", "op": "<=", "times_uln": 3.0, "unit": "x ULN", "alternatives": alt}),
    ]
    # NCT04266730: the alternative after "unless ... in which case"
    found = _params(
        "Aspartate aminotransferase (AST) and alanine aminotransferase (ALT) ≤ 2.5 x upper limit of normal (ULN) "
        "(unless liver metastases are present, in which case they must be ≤ 5 x ULN);"
    )
    assert [(p["analyte"], p["times_uln"], p["alternatives"]) for _, p in found] == [
        ("ast", 2.5, [{"condition": "liver_metastases", "times_uln": 5.0}]),
        ("alt", 2.5, [{"condition": "liver_metastases", "times_uln": 5.0}]),
    ]


def test_bone_and_liver_alternative_and_gilbert_alternatives() -> None:
    # NCT06582771
    ((_, alp),) = _params("Alkaline phosphatase \\< 2 x ULN (if liver or bone metastases are present,\\< 3 xULN)")
    assert alp["analyte"] == "alp" and alp["op"] == "<" and alp["times_uln"] == 2.0
    assert alp["alternatives"] == [
        {"condition": "liver_metastases", "times_uln": 3.0},
        {"condition": "bone_metastases", "times_uln": 3.0},
    ]
    # NCT03203525: Gilbert's alternative in mg/dL
    ((_, bili),) = _params(
        "Total bilirubin =\\< 1.5 x ULN (upper limit of normal) (except patients with Gilbert's syndrome, who must "
        "have a total bilirubin =\\< 3.0 mg/dL)"
    )
    assert bili == {
        "analyte": "bilirubin",
        "op": "<=",
        "times_uln": 1.5,
        "unit": "x ULN",
        "alternatives": [{"condition": "gilberts", "value": 3.0}],
    }
    # NCT02693535: Gilbert's exempt
    ((_, bili),) = _params("Total bilirubin \\< 2.0 mg/ dl, except in patients with Gilbert's Syndrome")
    assert bili["value"] == 2.0 and bili["alternatives"] == [{"condition": "gilberts", "waived": True}]


def test_alternative_this_reader_cannot_decide() -> None:
    # NCT02178163: creatinine OR creatinine clearance (clearance is the parser's organ_function, not read here)
    ((_, creat),) = _params(
        "Serum creatinine =\\< 1.5 times the institutional upper limit of normal (ULN) or calculated creatinine "
        "clearance (Cockcroft-Gault formula) of \\> 45 mL/min"
    )
    assert creat["analyte"] == "creatinine" and creat["times_uln"] == 1.5
    assert [a["condition"] for a in creat["alternatives"]] == ["other"]


def test_exclusion_polarity_and_spans() -> None:
    # NCT06588686
    text = (
        "Known impaired hepatic function or clinically significant liver disease (Child-Pugh B or C hepatic "
        "impairment), or aspartate aminotransferase (AST) or alanine aminotransferase (ALT) \\>3 times upper limit "
        "of normal (ULN) or total bilirubin \\>1.5 times ULN at visit 1."
    )
    found = _labs(text, "exclusion")
    assert [(c.polarity, c.params) for c in found] == [
        ("excluded", {"analyte": "ast", "op": ">", "times_uln": 3.0, "unit": "x ULN"}),
        ("excluded", {"analyte": "alt", "op": ">", "times_uln": 3.0, "unit": "x ULN"}),
        ("excluded", {"analyte": "bilirubin", "op": ">", "times_uln": 1.5, "unit": "x ULN"}),
    ]
    whole = f"Exclusion Criteria:\n\n* {text}\n"
    s, e = found[2].span
    assert whole[s:e] == "total bilirubin \\>1.5 times ULN"


def test_negated_list_flips_polarity() -> None:
    # NCT04150042 (exclusion "Albumin < 3.0 g/dl."), read as if under a negated inclusion head ("must not have:")
    sentence = "Albumin \\< 3.0 g/dl."
    (c,) = labs_criteria.extract(_normalise(sentence), 100, "inclusion", True)
    assert (c.polarity, c.params) == ("excluded", {"analyte": "albumin", "op": "<", "value": 3.0, "unit": "g/dL"})
    assert c.span == (100, 100 + len("Albumin \\< 3.0 g/dl"))
    (c,) = labs_criteria.extract(_normalise(sentence), 0, "exclusion", True)
    assert c.polarity == "required"


def test_not_lab_bounds() -> None:
    # NCT06290141: glycated haemoglobin is not haemoglobin
    assert (
        _params("Poorly controlled diabetes (HbA1c glycated hemoglobin \\>7% at the Screening visit).", "exclusion")
        == []
    )
    # NCT06305598: creatinine clearance is the parser's organ_function
    assert _params("Creatinine clearance (CrCl) \\> 50 mL/min (Cockcroft-Gault equation)") == []
    # NCT01913106: "mg/dl" for haemoglobin is a unit that does not fit: not read, never guessed
    assert _params("hemoglobin ≥ 8.5 mg/dl") == []


def test_conditional_or_unreadable_orders() -> None:
    # NCT04969835: the first bound is the conditional one, the default comes second: not read rather than misread
    assert (
        _params(
            "Alkaline phosphatase (ALP) \\<5 × ULN in patients with documented liver or bone metastases, or ALP \\< 2 "
            "× ULN in patients without documented metastases."
        )
        == []
    )
    # NCT04553770: creatinine clearance OR creatinine: the clearance alternative (not read here) keeps a failing
    # creatinine unknown
    ((_, creat),) = _params(
        "Creatinine clearance \\>= 30 mL/min as calculated using the Cockcroft-Gault equation or serum creatinine =\\< "
        "1.5 x upper limit of normal (ULN) (within 14 days before randomization/enrollment)"
    )
    assert creat["times_uln"] == 1.5 and [a["condition"] for a in creat["alternatives"]] == ["other"]
    # NCT05095207: "Hemoglobin < 8 g/L" is 0.8 g/dL, outside labs.yaml's plausible range: a unit slip, not read
    assert (
        _params(
            "Hemoglobin \\< 8 g/L (Patients may receive erythrocyte transfusions to achieve this hemoglobin "
            "level at the discretion of the investigator.",
            "exclusion",
        )
        == []
    )


def test_restated_bound_in_other_units_is_not_an_alternative() -> None:
    # NCT04971499
    ((_, hb),) = _params("Hemoglobin ≥9.0 g/dL or ≥5.6 mmol/La")
    assert hb == {"analyte": "haemoglobin", "op": ">=", "value": 9.0, "unit": "g/dL"}


def test_unit_factors_agree_with_terminology_labs() -> None:
    from importlib import resources

    import yaml

    labs = yaml.safe_load(resources.files("mbcnav.terminology").joinpath("labs.yaml").read_text("utf-8"))["analytes"]
    assert 1 / labs["bilirubin"]["units"]["umol/L"] == pytest.approx(17.1, rel=1e-3)
    t = labs_criteria._table()
    micro = next(u for u in t.units if "bilirubin" in u.to)
    assert micro.to["bilirubin"] == pytest.approx(labs["bilirubin"]["units"]["umol/L"])
    assert micro.to["creatinine"] == pytest.approx(labs["creatinine"]["units"]["umol/L"])


# ------------------------------------------------------------------------------------------------ checking


def test_case_file_met_and_evidence() -> None:
    p = _h05()
    # NCT02339571
    verdict, evidence = _verdict(
        "Absolute neutrophil count (ANC) \\>= 1,500/uL (obtained within 4 weeks prior to randomization)", p
    )
    assert verdict == "met"
    assert evidence == ["neutrophils (absolute) 1.6 10*9/L (2026-11-02) ≥ 1.5 10*9/L: yes"]
    # NCT06582771: platelets 148 x 10^9/L ≥ 75 holds; NCT04840589: ≥ 150,000/mcL does not
    assert _verdict("Platelets ≥ 75 x 10\\^9/L", p)[0] == "met"
    verdict, evidence = _verdict("Platelets \\>= 150,000/mcL", p)
    assert verdict == "not_met" and evidence == ["platelets 148 10*9/L (2026-11-02) ≥ 150 10*9/L: no"]
    # NCT03574571: SGOT (AST) 1.74 × ULN is over 1.5 × ULN (no liver-metastases alternative written)
    assert _verdict("SGOT (AST) ≤ 1.5 x ULN", p)[0] == "not_met"
    # NCT06574880: Hb 108 g/L = 10.8 g/dL > 10
    assert _verdict("Hemoglobin \\> 10 g/dL", p)[0] == "met"


def test_case_file_liver_metastases_alternative_decides() -> None:
    p = _h05()
    # NCT06574880: AST 61 U/L = 1.74 × ULN < 3 × ULN
    verdict, evidence = _verdict("Aspartate aminotransferase (AST) \\< 3× ULN", p)
    assert verdict == "met"
    # NCT04119024 (AST and ALT ≤ 2.5 × ULN with no liver alternative) holds at 1.74 / 1.49 × ULN
    verdict, _ = _verdict(
        "Aspartate and alanine aminotransferases (AST, ALT) =\\< 2.5 x upper limit of normal (ULN)", p
    )
    assert verdict == "met"
    # NCT06582771: ALP 1.42 × ULN; the record's liver and bone metastases bring in the alternative bound too
    verdict, evidence = _verdict(
        "Alkaline phosphatase \\< 2 x ULN (if liver or bone metastases are present,\\< 3 xULN)", p
    )
    assert verdict == "met"
    assert "(liver metastases in the record): yes" in evidence[0]
    # AST at 4 × ULN: over 2.5 × ULN, within the 5 × ULN allowed with the record's liver metastases
    tight = dataclasses.replace(
        p, labs=tuple(dataclasses.replace(x, times_uln=4.0) if x.analyte == "ast" else x for x in p.labs)
    )
    sentence = (  # NCT06176261
        "AST(SGOT)/ALT(SGPT) ≤ 2.5 × institutional ULN OR ≤ 5.0 x institutional ULN for patients with documented "
        "liver metastases"
    )
    verdict, evidence = _verdict(sentence, tight)
    assert verdict == "met"
    assert (
        "AST 61 U/L = 4 × ULN (2026-11-02) ≤ 2.5 × ULN: no; ≤ 5 × ULN (liver metastases in the record): yes" in evidence
    )
    no_liver = dataclasses.replace(tight, sites=("bone",))
    assert _verdict(sentence, no_liver)[0] == "not_met"


def test_case_file_exclusion() -> None:
    p = _h05()
    # NCT06588686: AST 1.74, ALT 1.49, bilirubin 0.86 × ULN: none over, not excluded (the criterion also names
    # liver disease, which the record cannot settle, so look at the lab checks themselves)
    text = (
        "aspartate aminotransferase (AST) or alanine aminotransferase (ALT) \\>3 times upper limit of normal (ULN) or "
        "total bilirubin \\>1.5 times ULN at visit 1."
    )
    verdict, evidence = _verdict(text, p, "exclusion")
    assert verdict == "not_met"
    assert evidence[0] == "AST 61 U/L = 1.7 × ULN (2026-11-02) > 3 × ULN: no"
    # NCT04150042: albumin 3.6 g/dL is not < 3.0
    assert _verdict("Albumin \\< 3.0 g/dl.", p, "exclusion")[0] == "not_met"
    # an AST 4 × ULN excludes
    high = dataclasses.replace(
        p, labs=tuple(dataclasses.replace(x, times_uln=4.0) if x.analyte == "ast" else x for x in p.labs)
    )
    assert _verdict(text, high, "exclusion")[0] == "met"


def test_missing_stale_and_rangeless_labs_are_unknown() -> None:
    p = _h05()
    # NCT06574880
    verdict, evidence = _verdict("Creatinine ≤ 1.5x ULN", dataclasses.replace(p, labs=()))
    assert verdict == "unknown" and evidence == ["creatinine: not in the record (criterion ≤ 1.5 × ULN)"]
    # 2026-11-02 is 91 days before 2027-02-01: older than 60 days, not used, but quoted
    stale = dataclasses.replace(p, as_of=datetime.date(2027, 2, 1))
    verdict, evidence = _verdict("Creatinine ≤ 1.5x ULN", stale)
    assert verdict == "unknown"
    assert evidence[0].startswith("creatinine 0.7919 mg/dL = 0.83 × ULN (2026-11-02) is 91 days old")
    # × ULN with no reference range in the record
    rangeless = dataclasses.replace(
        p,
        labs=tuple(
            dataclasses.replace(x, times_uln=None, reference_range=None) if x.analyte == "creatinine" else x
            for x in p.labs
        ),
    )
    verdict, evidence = _verdict("Creatinine ≤ 1.5x ULN", rangeless)
    assert verdict == "unknown" and "no reference range in the record" in evidence[0]


def test_undecidable_alternative_turns_a_failure_into_unknown() -> None:
    p = _h05()
    high = dataclasses.replace(
        p, labs=tuple(dataclasses.replace(x, times_uln=2.0) if x.analyte == "creatinine" else x for x in p.labs)
    )
    sentence = (  # NCT02178163
        "Serum creatinine =\\< 1.5 times the institutional upper limit of normal (ULN) or calculated creatinine "
        "clearance (Cockcroft-Gault formula) of \\> 45 mL/min"
    )
    verdict, evidence = _verdict(sentence, high)
    assert verdict == "unknown"
    assert "cannot decide" in evidence[0]
    assert _verdict(sentence, p)[0] == "met"
