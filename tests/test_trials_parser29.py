"""Parser 2.9: permissions, an elided "× ULN" comparator, "ECOG from 0 to 2", topoisomerase I inhibitor ADCs, and
recorded comorbidities (hepatitis B ...) deciding trial exclusions. Each reading quotes the shared corpus."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path
from mbcnav.trials.criteria import Criterion
from mbcnav.trials.match import evaluate_criterion
from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim

QUOTES = Quotes()
q = QUOTES.q
D = datetime.date(2026, 11, 26)
CASES = Path(__file__).resolve().parents[1] / "examples" / "cases"


def types(cs: list[Criterion]) -> set[str]:
    return {k.type for c in cs for k in c.constraints}


def of(cs: list[Criterion], type_: str) -> list[dict[str, Any]]:
    return [k.params for c in cs for k in c.constraints if k.type == type_]


def view(path: Path) -> PatientView:
    a, _ = assess_with_response(read_path(path, today=D), as_of=D)
    return PatientView.of(a)


# ------------------------------------------------------------------------------------------------ permissions


def test_a_permission_restricts_no_one() -> None:
    p = view(CASES / "07-her2-low-after-cdk46.yaml")
    for c in (
        inc(q("NCT04802759", "Prior fulvestrant therapy is allowed"))[0],
        inc(q("NCT05892068", "No limit on prior lines of systemic therapy"))[0],
        inc(q("NCT06374459", "Presence of bone metastasis is not required."))[0],
    ):
        r = evaluate_criterion(c, p)
        assert (r.verdict, r.not_applicable, r.decisive) == ("met", True, False), c.text
    for c in (
        exc(q("NCT04314401", "Factor X inhibitors are permitted"))[0],
        exc(
            q(
                "NCT03971409",
                r"Systemic corticosteroids at physiologic doses =\< 10 mg/day of prednisone or equivalent are permitted",  # noqa: E501
            )
        )[0],
    ):
        r = evaluate_criterion(c, p)
        assert (r.verdict, r.not_applicable) == ("not_met", True), c.text


def test_a_bound_condition_or_population_is_not_a_permission() -> None:
    # a bound ("up to 2 prior lines ... is allowed") restricts; "X may enroll" can define the population; a relative
    # clause ("... for which no other active therapy is required") describes the disease
    for text in (
        q("NCT04840589", "In the expansion cohorts, up to 2 prior lines in the platinum-resistant setting is allowed"),
        q("NCT05230810", "Patients with HR-/HER2+ or HR+/HER2+ breast cancer may enroll"),
        q(
            "NCT04657068",
            "Advanced or metastatic cancer which is refractory to standard therapies, or for which no standard "
            "therapies exist, or for which the investigator feels no other active therapy is required for the "
            "duration of the study",
        ),
    ):
        assert "permission" not in types(inc(text)), text
    # a prohibition stays a prohibition
    assert "permission" not in types(exc("Prior CDK4/6 inhibitor is not allowed."))


# ------------------------------------------------------------------------------------------------ readings


def test_an_alternative_uln_bound_without_its_comparator_is_read() -> None:
    text = q(
        "NCT05826964",
        "Aspartate aminotransferase (AST) (serum glutamic-oxaloacetic transaminase (SGOT)) and alanine transaminase "
        "(ALT) (serum glutamic-pyruvic transaminase (SGPT)). Aminotransferase (AST and ALT) ≤ 2.5 x ULN or 5 X ULN "
        "for patients with liver metastases",
    )
    labs = of(inc(text), "lab")
    assert {x["analyte"] for x in labs} == {"ast", "alt"}
    for x in labs:  # the 5 × ULN bound is the liver-metastases alternative, not the rule for everyone
        assert x["times_uln"] == 2.5 and x["alternatives"] == [{"condition": "liver_metastases", "times_uln": 5.0}]


def test_ecog_from_0_to_2_is_a_range() -> None:
    text = q("NCT05959291", "Patients with an Eastern Cooperative Oncology Group (ECOG) performance score from 0 to 2.")
    assert of(inc(text), "ecog") == [{"max": 2}]


def test_a_topoisomerase_i_inhibitor_adc_is_its_own_class() -> None:
    text = q("NCT06966700", "Received prior treatment with a topoisomerase I inhibitor-containing ADC.")
    assert of(exc(text), "prior_therapy") == [{"class": "topo1_adc"}]
    no_adc = view(CASES / "07-her2-low-after-cdk46.yaml")  # endocrine, CDK4/6 and adjuvant AC-paclitaxel only
    assert evaluate_criterion(exc(text)[0], no_adc).verdict == "not_met"


# ------------------------------------------------------------------------------------------------ comorbidities


def test_a_recorded_hepatitis_b_decides_a_plain_exclusion(tmp_path: Path) -> None:
    case = (CASES / "05-tnbc-pdl1-cps-high.yaml").read_text()
    with_hbv = tmp_path / "hbv.yaml"
    with_hbv.write_text(
        case
        + '\ncomorbidities:\n  - {condition: hepatitis_b, date: "2021", text: "chronic hepatitis B on entecavir"}\n'
    )
    c = exc("History of hepatitis B infection")[0]
    assert evaluate_criterion(c, view(with_hbv)).verdict == "met"
    assert evaluate_criterion(c, view(CASES / "05-tnbc-pdl1-cps-high.yaml")).verdict == "unknown"


def test_quotes_are_verbatim() -> None:
    assert not not_verbatim(QUOTES)


test_quotes_are_verbatim = needs_corpus(test_quotes_are_verbatim)
