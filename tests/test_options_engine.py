"""The options engine and knowledge base: three-valued conditions, lint, and the safety rules that matter most."""

from __future__ import annotations

import json

import pytest

from mbcnav.assess import assess
from mbcnav.assess.facts import is_known_fact
from mbcnav.cli import main
from mbcnav.knowledge.kb import evaluate, knowledge_base, lint
from mbcnav.options import recommend
from mbcnav.render.knowledge import knowledge_markdown

from .conftest import ROOT, TODAY, drug, met, receptor, record

LEAF_TRUE = {"fact": "a", "eq": 1, "says": "a"}
LEAF_FALSE = {"fact": "b", "eq": 1, "says": "b"}
LEAF_UNKNOWN = {"fact": "c", "eq": 1, "says": "c"}
FACTS = {"a": 1, "b": 2, "c": None}


@pytest.mark.parametrize(
    ("cond", "want"),
    [
        ({"all": [LEAF_TRUE, LEAF_UNKNOWN]}, None),
        ({"all": [LEAF_FALSE, LEAF_UNKNOWN]}, False),
        ({"any": [LEAF_TRUE, LEAF_UNKNOWN]}, True),
        ({"any": [LEAF_FALSE, LEAF_UNKNOWN]}, None),
        ({"not": LEAF_UNKNOWN}, None),
        ({"not": LEAF_FALSE}, True),
        ({"fact": "c", "is_unknown": True, "says": "c unknown"}, True),
        ({"fact": "c", "ne": 1, "says": "c"}, None),  # unknown is never "not equal": it stays unknown
    ],
)
def test_three_valued_logic(cond: dict, want: bool | None) -> None:  # type: ignore[type-arg]
    assert evaluate(cond, FACTS).result is want


def test_knowledge_base_lints_clean() -> None:
    assert lint(knowledge_base(), is_known_fact) == []


def test_docs_knowledge_md_is_current() -> None:
    from mbcnav.assess.facts import FACTS as FACT_DOCS

    committed = (ROOT / "docs" / "knowledge.md").read_text()
    assert committed.strip() == knowledge_markdown(knowledge_base(), FACT_DOCS).strip(), "run: mbcnav kb docs"


def test_every_option_cites_evidence_with_a_source() -> None:
    kb = knowledge_base()
    for opt in kb.options["options"]:
        assert opt["evidence"] or opt["guideline"], opt["id"]
    for t in kb.evidence["trials"]:
        assert t["result"] or t.get("note"), t["id"]  # no result without a citation, no silent gap


def _options(**kw):  # type: ignore[no-untyped-def]
    a = assess(record(**kw), as_of=TODAY)
    return recommend(a).as_json(a)


def ids(doc: dict, key: str = "options") -> set[str]:  # type: ignore[type-arg]
    return {o["id"] for o in doc[key]}


def test_unknown_her2_offers_nothing_her2_dependent() -> None:
    doc = _options(
        receptors=[receptor("ER", percent=90), receptor("PR", percent=50)], metastases=[met("liver", "2023-01-01")]
    )
    offered = ids(doc)
    assert not offered & {
        "her2-thp-first-line",
        "hr-ai-cdk46-first-line",
        "tdxd-her2-low-after-chemo",
        "tdxd-her2-low-ultralow-chemo-naive",
        "chemo-anthracycline",
    }
    assert any("HER2" in t["test"] for t in doc["tests_recommended"])


def test_pembrolizumab_needs_known_cps() -> None:
    tn = [receptor("ER", percent=0), receptor("PR", percent=0), receptor("HER2", ihc_score="0")]
    unknown = _options(receptors=tn, metastases=[met("lung", "2023-01-01")])
    assert "tnbc-pembrolizumab-chemo" not in ids(unknown)
    assert "tnbc-pembrolizumab-chemo" in ids(unknown, "not_offered")
    assert any("PD-L1" in t["test"] for t in unknown["tests_recommended"])
    low = _options(receptors=[*tn, receptor("PD-L1", cps=3)], metastases=[met("lung", "2023-01-01")])
    assert "tnbc-pembrolizumab-chemo" not in ids(low)
    high = _options(receptors=[*tn, receptor("PD-L1", cps=15)], metastases=[met("lung", "2023-01-01")])
    assert "tnbc-pembrolizumab-chemo" in ids(high)
    opt = next(o for o in high["options"] if o["id"] == "tnbc-pembrolizumab-chemo")
    assert any("PD-L1 CPS >= 10" in w for w in opt["why"])
    assert any(e["trial"].startswith("KEYNOTE-355") and e["result"] for e in opt["evidence"])


def test_her2_zero_is_never_offered_tdxd() -> None:
    hr0 = [receptor("ER", percent=90), receptor("PR", percent=40), receptor("HER2", ihc_score="0")]
    therapies = [
        drug("letrozole", "2023-02-01", "2024-01-01", setting="metastatic", reason="progression", ongoing=False),
        drug("palbociclib", "2023-02-01", "2024-01-01", setting="metastatic", reason="progression", ongoing=False),
        drug("fulvestrant", "2024-01-10", "2024-09-01", setting="metastatic", reason="progression", ongoing=False),
    ]
    doc = _options(receptors=hr0, therapies=therapies, metastases=[met("liver", "2023-01-01")])
    assert "tdxd-her2-low-ultralow-chemo-naive" not in ids(doc)
    low = _options(
        receptors=[*hr0[:2], receptor("HER2", ihc_score="1+")],
        therapies=therapies,
        metastases=[met("liver", "2023-01-01")],
    )
    assert "tdxd-her2-low-ultralow-chemo-naive" in ids(low)


def test_ecog_3_withholds_chemotherapy_and_puts_supportive_care_first() -> None:
    """ASCO Choosing Wisely: no cytotoxic therapy at PS 3-4 without strong evidence of benefit; the clinician decides
    when poor PS is due to untreated, responsive disease (said in the notes, never a silent default)."""
    from mbcnav.record.model import PerformanceStatus

    from .conftest import d, src

    tn = [receptor("ER", percent=0), receptor("PR", percent=0), receptor("HER2", ihc_score="0")]
    doc = _options(
        receptors=tn,
        metastases=[met("liver", "2023-01-01")],
        performance=[PerformanceStatus("ECOG", 3, d("2026-11-01"), src("ecog"))],
    )
    tiers = {o["id"]: o["tier"] for o in doc["options"]}
    assert tiers["best-supportive-care"] == "preferred" and tiers["palliative-care-concurrent"] == "preferred"
    assert "chemo-single-agent" not in tiers
    withheld = {o["id"]: o for o in doc["not_offered"]}
    assert withheld["chemo-single-agent"]["excluded_by"] == ["poor-performance-no-cytotoxic"]
    assert any("clinician's decision" in n for n in doc["notes"])
    assert doc["referrals"][0] == {**doc["referrals"][0], "to": "palliative_care", "urgency": "urgent"}


def test_options_cli_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["options", "examples/cases/07-her2-low-after-cdk46.yaml", "--format", "json", "--as-of", "2026-11-26"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"kb", "options", "not_offered", "tests_recommended", "referrals"}
    assert set(doc["kb"]) == {"version", "reviewed"}
    for o in doc["options"]:
        assert set(o) >= {"id", "title", "category", "drugs", "tier", "why", "cautions", "evidence", "source"}
        assert o["tier"] in ("preferred", "recommended", "consider")
        assert all(d == d.lower() for d in o["drugs"])
        for e in o["evidence"]:
            assert set(e) >= {"trial", "citation", "result"}
    for o in doc["not_offered"]:
        assert set(o) >= {"id", "title", "drugs", "why_not"} and o["why_not"]
    assert {r["to"] for r in doc["referrals"]} >= {"palliative_care", "clinical_trials"}


def test_kb_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "lint"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    assert main(["kb", "show", "parp-gbrca"]) == 0
    out = capsys.readouterr().out
    assert "OlympiAD" in out and "germline BRCA1/2" in out
    assert main(["kb", "show", "no-such-option"]) == 2


def test_options_text_report_runs_on_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    for case in sorted((ROOT / "examples" / "fhir").glob("*.json")):
        assert main(["options", str(case), "--as-of", "2026-11-26"]) == 0
        out = capsys.readouterr().out
        assert "Options to discuss" in out and "Traceback" not in out


def test_no_options_for_a_non_metastatic_record(capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import SHARED

    jenny = SHARED / "data" / "fhir" / "mcode-ig-stu4" / "examples" / "Bundle-mcode-patient-bundle-jenny-m.json"
    if not jenny.exists():
        pytest.skip("../shared not present")
    assert main(["options", str(jenny), "--format", "json", "--as-of", "2026-11-26"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["options"] == []  # stage IIB: no metastatic-disease option is offered
    assert any("metastatic" in n for n in doc["notes"])


def test_ecog_4_withholds_elective_local_therapy_but_keeps_palliative_radiotherapy() -> None:
    """ESO-ESMO ABC: at ECOG 3-4 best supportive care first — no elective surgery of the primary or ablation of an
    oligometastasis; radiotherapy for painful bone metastases is symptom control and stays."""
    from mbcnav.record.model import PerformanceStatus

    from .conftest import d, primary, src

    hr = [receptor("ER", percent=90), receptor("PR", percent=50), receptor("HER2", ihc_score="0")]
    for ecog, elective_offered in ((1, True), (4, False)):
        doc = _options(
            receptors=hr,
            primaries=[primary("2023-01-10")],
            metastases=[met("bone", "2023-01-12", lesions=2)],
            performance=[PerformanceStatus("ECOG", ecog, d("2026-11-01"), src("ecog"))],
        )
        offered = ids(doc)
        assert ("surgery-primary-de-novo" in offered) is elective_offered, ecog
        assert ("oligometastatic-local-therapy" in offered) is elective_offered, ecog
        assert "rt-painful-bone" in offered, ecog
        if not elective_offered:
            withheld = {o["id"]: o for o in doc["not_offered"]}
            assert withheld["surgery-primary-de-novo"]["excluded_by"] == ["poor-performance-elective-local"]
