"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-47): every row of the time-point tables and the edge
cases oncologists argue about."""

from __future__ import annotations

from datetime import date

import pytest

from mbcnav.dates import PartialDate
from mbcnav.record.model import Lesion, Metastasis, TumorMeasurement
from mbcnav.response.recist import (
    LineWindow,
    ResponseConfig,
    _readings,
    evaluate_line,
    lesion_infos,
    overall_response,
)

from .conftest import src

CFG = ResponseConfig()


# ---- Table 1: target and non-target lesions (RECIST 1.1 §4.4.1) ----------------------------------------------
@pytest.mark.parametrize(
    ("target", "non_target", "new", "want"),
    [
        ("CR", "CR", False, "CR"),
        ("CR", "non-CR/non-PD", False, "PR"),
        ("CR", "NE", False, "PR"),
        ("PR", "non-CR/non-PD", False, "PR"),
        ("PR", "NE", False, "PR"),
        ("PR", "CR", False, "PR"),
        ("SD", "non-CR/non-PD", False, "SD"),
        ("SD", "NE", False, "SD"),
        ("NE", "non-CR/non-PD", False, "NE"),
        ("PD", "non-CR/non-PD", False, "PD"),
        ("PD", "CR", True, "PD"),
        ("SD", "PD", False, "PD"),
        ("CR", "PD", False, "PD"),
        ("CR", "CR", True, "PD"),
        ("SD", "non-CR/non-PD", True, "PD"),
        ("CR", None, False, "CR"),  # no non-target lesions at all
    ],
)
def test_table_1(target: str, non_target: str | None, new: bool, want: str) -> None:
    assert overall_response(target, non_target, new)[0] == want


# ---- Table 2: non-target lesions only -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("non_target", "new", "want", "detail"),
    [
        ("CR", False, "CR", "CR"),
        ("non-CR/non-PD", False, "SD", "non-CR/non-PD"),
        ("NE", False, "NE", "NE"),
        ("PD", False, "PD", "PD"),
        ("non-CR/non-PD", True, "PD", "PD"),
    ],
)
def test_table_2(non_target: str, new: bool, want: str, detail: str) -> None:
    assert overall_response(None, non_target, new) == (want, detail)


# ---- whole-line scenarios ---------------------------------------------------------------------------------------
def m(
    lesion: str, day: str, size: float | None, *, status: str = "measured", site: str = "liver", axis: str = "long"
) -> TumorMeasurement:
    return TumorMeasurement(
        lesion,
        site,
        PartialDate.parse(day),
        size,
        axis,
        "CT",
        src(f"{lesion}-{day}"),  # type: ignore[arg-type]
        status,
    )  # type: ignore[arg-type]


def line(
    *ms: TumorMeasurement,
    start: str = "2024-01-10",
    lesions: tuple[Lesion, ...] = (),
    mets: tuple[Metastasis, ...] = (),
    next_start: str | None = None,
    cfg: ResponseConfig = CFG,
):  # type: ignore[no-untyped-def]
    w = LineWindow(1, PartialDate.parse(start), None, PartialDate.parse(next_start) if next_start else None)
    return evaluate_line(w, lesion_infos(lesions, ms), _readings(ms, cfg), mets, cfg)


def overall(r) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.overall for t in r.timepoints]


def test_confirmed_partial_response() -> None:
    r = line(m("L1", "2024-01-05", 50), m("L1", "2024-03-05", 30), m("L1", "2024-05-05", 28))
    assert overall(r) == ["PR", "PR"]
    assert r.best_overall_response == "PR" and r.confirmed is True
    assert r.timepoints[0].change_from_baseline_pct == -40.0


def test_plus_20_percent_but_under_5_mm_is_not_pd() -> None:
    # nadir 20 mm -> 24 mm is +20% but only +4 mm: not PD (RECIST 1.1 §4.3.1 needs both)
    r = line(m("L1", "2024-01-05", 20), m("L1", "2024-03-05", 24))
    assert r.timepoints[0].target == "SD" and r.progression_date is None


def test_pd_measured_from_nadir_after_baseline() -> None:
    r = line(m("L1", "2024-01-05", 60), m("L1", "2024-03-05", 40), m("L1", "2024-05-05", 49))
    assert [t.target for t in r.timepoints] == ["PR", "PD"]  # 49 vs nadir 40: +22.5%, +9 mm
    assert r.timepoints[1].change_from_nadir_pct == 22.5
    assert r.progression_date == date(2024, 5, 5)


def test_nodes_below_10mm_are_cr_despite_nonzero_sum() -> None:
    r = line(
        m("N1", "2024-01-05", 18, site="axillary lymph node", axis="short"),
        m("L1", "2024-01-05", 20),
        m("N1", "2024-03-05", 8, site="axillary lymph node", axis="short"),
        m("L1", "2024-03-05", 0),
        m("N1", "2024-05-05", 7, site="axillary lymph node", axis="short"),
        m("L1", "2024-05-05", 0),
    )
    assert r.timepoints[0].sum_mm == 8.0 and r.timepoints[0].target == "CR"
    assert r.best_overall_response == "CR" and r.confirmed


def test_missing_target_is_ne() -> None:
    r = line(m("L1", "2024-01-05", 30), m("L2", "2024-01-05", 25, site="lung"), m("L1", "2024-03-05", 28))
    assert r.timepoints[0].target == "NE" and r.timepoints[0].overall == "NE"


def test_missing_target_but_measured_ones_already_pd() -> None:
    r = line(m("L1", "2024-01-05", 30), m("L2", "2024-01-05", 25, site="lung"), m("L1", "2024-03-05", 70))
    assert r.timepoints[0].target == "PD"


def test_new_lesion_only_is_pd() -> None:
    r = line(m("L1", "2024-01-05", 30), m("L1", "2024-03-05", 29), m("B1", "2024-03-05", 12, site="brain"))
    assert r.timepoints[0].target == "SD" and r.timepoints[0].new_lesions
    assert r.timepoints[0].overall == "PD" and r.best_overall_response == "PD"


def test_new_metastasis_condition_counts_as_new_lesion() -> None:
    brain = Metastasis("brain", "brain", PartialDate.parse("2024-02-20"), None, 1, None, "active", src("brain"))
    r = line(m("L1", "2024-01-05", 30), m("L1", "2024-03-05", 29), mets=(brain,))
    assert r.timepoints[0].overall == "PD"
    assert "brain" in r.timepoints[0].new_lesion_evidence[0]


def test_unconfirmed_pr_followed_by_pd() -> None:
    r = line(m("L1", "2024-01-05", 50), m("L1", "2024-02-05", 30), m("L1", "2024-02-25", 45))
    assert overall(r) == ["PR", "PD"]
    # PR at 26 days is before the 42-day SD minimum and never confirmed: best response PD
    assert r.best_overall_response == "PD" and r.confirmed is False
    assert any("PR on 2024-02-05" in n and "not confirmed" in n for n in r.notes)


def test_unconfirmed_pr_after_sd_minimum_is_sd() -> None:
    r = line(m("L1", "2024-01-05", 50), m("L1", "2024-03-01", 30), m("L1", "2024-03-20", 45))
    assert r.best_overall_response == "SD" and r.confirmed is False


def test_an_unconfirmed_response_is_named_with_confirmation_pending_or_not_confirmed() -> None:
    # fresh10 s09: -45.5 % at the only scan after baseline: best overall response SD, and the note says the PR awaits
    # its confirmation scan (RECIST 1.1 §4.6) rather than leaving "SD" alone
    r = line(m("L1", "2024-01-05", 44), m("L1", "2024-03-01", 24))
    assert r.best_overall_response == "SD" and r.confirmed is False
    assert any("PR on 2024-03-01" in n and "confirmation pending" in n for n in r.notes)
    # a scan 3 weeks later is too early to confirm: still pending
    r = line(m("L1", "2024-01-05", 44), m("L1", "2024-03-01", 24), m("L1", "2024-03-20", 25))
    assert any("confirmation pending" in n for n in r.notes)
    # a later scan at >= 4 weeks that is SD: not confirmed
    r = line(m("L1", "2024-01-05", 44), m("L1", "2024-03-01", 24), m("L1", "2024-04-20", 36))
    assert r.best_overall_response == "SD"
    assert any("PR on 2024-03-01" in n and "not confirmed" in n for n in r.notes)
    # a confirmed PR carries no such note
    r = line(m("L1", "2024-01-05", 50), m("L1", "2024-03-05", 30), m("L1", "2024-05-05", 28))
    assert not any("confirm" in n for n in r.notes)


def test_sd_minimum_duration_is_configurable() -> None:
    ms = (m("L1", "2024-01-05", 50), m("L1", "2024-02-05", 48))
    assert line(*ms).best_overall_response == "NE"  # 26 days < 6 weeks
    assert line(*ms, cfg=ResponseConfig(sd_min_days=21)).best_overall_response == "SD"


def test_split_lesion_fragments_are_added() -> None:
    r = line(m("L1", "2024-01-05", 40), m("L1", "2024-03-05", 15), m("L1", "2024-03-05", 14))
    assert r.timepoints[0].sum_mm == 29.0 and r.timepoints[0].target == "SD"


def test_merged_lesions() -> None:
    r = line(
        m("L1", "2024-01-05", 20),
        m("L2", "2024-01-05", 15),
        m("L1", "2024-03-05", 33),
        m("L2", "2024-03-05", None, status="merged"),
    )
    assert r.timepoints[0].sum_mm == 33.0 and r.timepoints[0].target == "SD"


def test_too_small_to_measure_counts_5mm() -> None:
    r = line(m("L1", "2024-01-05", 30), m("L1", "2024-03-05", None, status="too_small"))
    assert r.timepoints[0].sum_mm == 5.0 and r.timepoints[0].target == "PR"


def test_non_target_unequivocal_progression() -> None:
    bone = Lesion("B1", "bone", "non_target", False, False, src("b1"))
    r = line(
        m("L1", "2024-01-05", 30),
        m("B1", "2024-01-05", None, status="present", site="bone"),
        m("L1", "2024-03-05", 29),
        m("B1", "2024-03-05", None, status="unequivocal_progression", site="bone"),
        lesions=(bone,),
    )
    assert r.timepoints[0].non_target == "PD" and r.timepoints[0].overall == "PD"


def test_measurability_and_target_selection() -> None:
    ms = (
        m("A", "2024-01-05", 40),
        m("B", "2024-01-05", 35),
        m("C", "2024-01-05", 30),  # 3 liver
        m("D", "2024-01-05", 9, site="lung"),  # <10 mm: non-measurable
        m("N1", "2024-01-05", 12, site="mediastinal lymph node", axis="short"),  # 10-15: non-target
        m("N2", "2024-01-05", 8, site="hilar lymph node", axis="short"),  # normal: not followed
        m("N3", "2024-01-05", 22, site="cervical lymph node", axis="short"),
    )
    r = line(*ms)
    assert sorted(t.lesion_id for t, _ in r.targets) == ["A", "B", "N3"]  # 2 per organ
    assert sorted(n.lesion_id for n in r.non_targets) == ["C", "D", "N1"]
    assert r.baseline_sum == 97.0


def test_irradiated_lesion_is_not_a_target() -> None:
    rt = Lesion("R1", "bone (irradiated T10)", None, False, True, src("r1"))
    r = line(m("R1", "2024-01-05", 30, site="bone"), m("L1", "2024-01-05", 20), lesions=(rt,))
    assert [t.lesion_id for t, _ in r.targets] == ["L1"]


def test_baseline_window_and_new_line_reset() -> None:
    ms = (
        m("L1", "2023-11-01", 50),  # too early for a line starting 2024-01-10 (>28 days)
        m("L1", "2024-01-05", 40),
        m("L1", "2024-03-05", 26),
        m("L1", "2024-05-05", 25),
        m("L1", "2024-07-01", 35),
        m("L1", "2024-09-01", 20),
    )
    first = line(*ms, next_start="2024-07-05")
    assert first.baseline_date == date(2024, 1, 5) and first.best_overall_response == "PR"
    assert [t.date for t in first.timepoints][-1] == date(2024, 7, 1)  # later assessments belong to line 2
    second = line(*ms, start="2024-07-05")
    assert second.baseline_date == date(2024, 7, 1) and second.baseline_sum == 35.0
    assert second.timepoints[0].change_from_baseline_pct == -42.9


def test_no_baseline_is_reported() -> None:
    r = line(m("L1", "2023-06-01", 50), m("L1", "2024-03-05", 26))
    assert r.baseline_date is None and r.best_overall_response == "NE"
    assert any("no tumour assessment within 28 days" in n for n in r.notes)


def test_duration_of_response() -> None:
    r = line(m("L1", "2024-01-05", 50), m("L1", "2024-03-05", 30), m("L1", "2024-05-05", 28), m("L1", "2024-09-05", 40))
    assert r.best_overall_response == "PR" and r.progression_date == date(2024, 9, 5)
    assert r.duration_of_response_days == (date(2024, 9, 5) - date(2024, 3, 5)).days


def test_progression_after_a_stop_for_toxicity_is_noted_as_off_treatment() -> None:
    # fresh5 n06: T-DXd stopped for pneumonitis in PR (2024-06-24), PD on 2024-10-21 off treatment. The event still
    # closes the line (trial PFS), and the note says it was not progression on the drug.
    ms = (m("L1", "2023-08-28", 23), m("L1", "2023-11-27", 12), m("L1", "2024-02-26", 11), m("L1", "2024-10-21", 22))

    def run(reason: str) -> list[str]:
        w = LineWindow(1, PartialDate.parse("2023-09-18"), PartialDate.parse("2024-06-24"), None, (), reason)
        r = evaluate_line(w, lesion_infos((), ms), _readings(ms, CFG), (), CFG)
        assert r.progression_date == date(2024, 10, 21)
        return [n for n in r.notes if "off treatment" in n]

    assert run("toxicity") == [
        "progression 2024-10-21 found off treatment, 119 days after the line stopped for toxicity (2024-06-24); "
        "counted as this line's event, as in trial PFS"
    ]
    assert run("progression") == []
