"""Oligoprogression (trials/progression.py, progression.yaml): a requirement of 1-N progressing lesions, read from
progression now and the lesions that progressed at the latest tumour assessment. Sentences are quoted verbatim from
the shared corpus (checked when it is here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbcnav.trials.patient_view import PatientView

from .trials_corpus import Quotes, exc, inc, needs_corpus, not_verbatim, one, patient_view

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
QUOTES = Quotes()
q = QUOTES.q

BOSS = q(
    "NCT06055881",
    "Patients with metastatic breast cancer and at least 12 months of clinical response to first-line systemic "
    "therapy, with the subsequent development of 1-3 extracranial sites of oligoprogressive disease, and who plan for "
    "the continuation of the current systemic therapy.",
)
BOSS_EXCLUSION = q("NCT06055881", "More than 3 extracranial sites of oligoprogressive disease")
SBRT = q(
    "NCT06260033",
    "The presence of metastatic breast cancer at the time of study entry with progression in 1-4 lesions (including "
    "new lesions).",
)


@pytest.fixture(scope="module")
def s04() -> PatientView:  # liver progression on capecitabine: three enlarging and two new liver lesions
    return patient_view(
        BENCH / "trials_fresh10/patients/s04-esr1-pik3ca-after-capivasertib-on-capecitabine-alt-raised.yaml"
    )


@pytest.fixture(scope="module")
def u05() -> PatientView:  # stable on first-line goserelin + fulvestrant + abemaciclib
    return patient_view(
        BENCH / "trials_fresh12/patients/u05-premenopausal-bone-only-relapse-on-adjuvant-tam-ofs-fulv-abema.yaml"
    )


@pytest.fixture(scope="module")
def u01() -> PatientView:  # progression in one lung nodule after anastrozole + palbociclib
    return patient_view(BENCH / "trials_fresh12/patients/u01-denovo-hrpos-her2low-pik3ca-post-cdk46.yaml")


@needs_corpus
def test_quotes_are_verbatim() -> None:
    assert not_verbatim(QUOTES) == []


def test_the_wordings_are_read_with_their_limit() -> None:
    def params(cs: list) -> list[dict]:
        return [x.params for c in cs for x in c.constraints if x.type == "oligoprogression"]

    assert params(inc(BOSS)) == [{"max": 3, "extracranial": True}]
    assert params(inc(SBRT)) == [{"max": 4}]
    assert params(exc(BOSS_EXCLUSION)) == [{"more_than": 3, "extracranial": True}]
    # not an oligoprogression requirement
    assert params(inc("Progressive disease on at least 1 prior line of endocrine therapy")) == []


def test_more_progressing_lesions_than_the_study_accepts(s04: PatientView) -> None:
    # fresh10 s04: judged "not oligoprogression (5 progressing liver lesions)" for BOSS and the SBRT study, which
    # ranked in her top 3 with the limit unread
    for sentence in (BOSS, SBRT):
        r = one(inc(sentence), s04)
        assert r.verdict == "not_met", sentence
        assert "more than" in r.evidence[-1] and "(new)" in r.evidence[-1]
    assert one(exc(BOSS_EXCLUSION), s04).verdict == "met"


def test_no_progression_now_is_no_oligoprogression(u05: PatientView) -> None:
    assert u05.progressing_now is False
    assert one(inc(BOSS), u05).verdict == "not_met"
    assert one(exc(BOSS_EXCLUSION), u05).verdict == "not_met"


def test_within_the_limit_a_person_confirms(u01: PatientView) -> None:
    # one lung nodule grew: the measured count fits, but lesions may progress unmeasured and BOSS asks more (months
    # of response, continuing the current therapy): unknown, with the count as evidence
    r = one(inc(SBRT), u01)
    assert r.verdict == "unknown" and "1 lesion(s) progressing" in r.evidence[-1]
    assert one(exc(BOSS_EXCLUSION), u01).verdict == "unknown"


CRR = q(
    "NCT05959291",
    "Patients in complete radiological remission (CRR), including a stable bone scan, as determined by computed "
    "tomography (CT), positron-emission tomography (PET), or PET-CT.",
)


def test_complete_remission_is_read_from_the_latest_disease_status(s04: PatientView, u05: PatientView) -> None:
    # Free-HER (stopping maintenance anti-HER2 therapy) ranked in the top 10 of twelve HER2+ patients who were
    # progressing or responding; the judges' grade: 1
    (c,) = inc(CRR)
    assert [x.type for x in c.constraints] == ["complete_response"]
    assert one([c], s04).verdict == "not_met"  # progression
    assert one([c], u05).verdict == "not_met"  # stable disease
    u08 = patient_view(
        BENCH / "trials_fresh12/patients/u08-denovo-oligometastatic-sternum-her2low-ned-on-letrozole-ribociclib.yaml"
    )
    assert one([c], u08).verdict == "met"  # no evidence of disease
    # not this requirement: a pathological complete response, another cancer's remission
    for other in (
        "Pathological complete response following treatment with neoadjuvant therapy",
        "Other cancer that has been in complete remission for ≥2 years.",
    ):
        assert not any(x.type == "complete_response" for cc in inc(other) for x in cc.constraints)
