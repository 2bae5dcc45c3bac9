"""The second-opinion packet (mbcnav.summary): the IPS document, the clinician and patient pages, the PDF, the CLI."""

from __future__ import annotations

import argparse
import html as htmllib
import json
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from mbcnav.commands.summary import add_parser, run, run_summary
from mbcnav.outcome import read_patient
from mbcnav.pathway import Evaluation, evaluate
from mbcnav.record.reader import load_resources
from mbcnav.summary import CaseSummary, build_summary
from mbcnav.summary.html import make_plots, prose, render_html, visible_text
from mbcnav.summary.ips import build_ips, references
from mbcnav.summary.plain import fk_grade

from .conftest import ROOT, TODAY

EXAMPLES = sorted(p for p in (ROOT / "examples" / "cases").glob("*.yaml") if p.name != "EXPECTED.yaml") + sorted(
    (ROOT / "examples" / "fhir").glob("*.json")
)
EXAMPLE_IDS = [f"{p.parent.name}/{p.name}" for p in EXAMPLES]
GENERATED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
EA_TRIALS = ROOT / "tests" / "data" / "trials" / "expanded-access"
NO_STORE = "sqlite:////nonexistent-mbcnav-folder/trials.db"
REQUIRED = {"11450-4", "10160-0", "48765-2"}  # IPS: problems, medications, allergies
USED = REQUIRED | {"30954-2", "47519-4", "11348-0", "18776-5"}  # + results, procedures, past problems, plan of care
XHTML = "{http://www.w3.org/1999/xhtml}"


@cache
def evaluated(path: Path) -> tuple[Evaluation, CaseSummary]:
    ev = evaluate(read_patient(path, as_of=TODAY), as_of=TODAY)
    return ev, build_summary(ev, generated_at=GENERATED)


@cache
def ips(path: Path) -> dict[str, Any]:
    ev, summary = evaluated(path)
    return build_ips(ev, summary, load_resources(path))


def sections(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    comp = bundle["entry"][0]["resource"]
    return {s["code"]["coding"][0]["code"]: s for s in comp["section"]}


def entry_of(bundle: dict[str, Any], url: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == url)


# ---- the IPS document ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_ips_document_bundle_of_every_example(path: Path) -> None:
    bundle = ips(path)
    Bundle.model_validate(bundle)  # the whole document, and each resource on its own, against the R4B models
    for e in bundle["entry"]:
        get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])
    assert bundle["type"] == "document" and bundle["identifier"]["value"] and bundle["timestamp"]
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls)) and all(u.startswith("urn:uuid:") for u in urls)
    assert sorted(set(references(bundle)) - set(urls)) == []  # every reference resolves to an entry
    comp = bundle["entry"][0]["resource"]
    assert comp["resourceType"] == "Composition"
    assert [c["code"] for c in comp["type"]["coding"]] == ["60591-5"]
    assert entry_of(bundle, comp["subject"]["reference"])["resourceType"] == "Patient"
    assert entry_of(bundle, comp["author"][0]["reference"])["resourceType"] == "Device"
    assert comp["date"] and comp["title"]
    assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition") == 1
    secs = sections(bundle)
    assert set(secs) >= USED
    for code, sec in secs.items():
        assert sec["title"] and sec["code"]["coding"][0]["system"] == "http://loinc.org"
        div = ET.fromstring(sec["text"]["div"])  # well-formed XHTML, text escaped
        assert div.tag == f"{XHTML}div" and "".join(div.itertext()).strip(), code
        assert ("entry" in sec) != ("emptyReason" in sec) or code not in REQUIRED  # IPS ips-comp-1
        assert not ("entry" in sec and "emptyReason" in sec)  # FHIR cmp-2
    # the examples hold no allergy information: said so the IPS way, never "no known allergies"
    allergies = secs["48765-2"]
    assert allergies["emptyReason"]["coding"][0]["code"] == "unavailable" and "entry" not in allergies
    plans = [entry_of(bundle, x["reference"]) for x in secs["18776-5"]["entry"]]
    assert plans and {p["resourceType"] for p in plans} == {"CarePlan"}
    assert "not searched" in secs["18776-5"]["text"]["div"]  # no trial store was given


def test_ips_reuses_the_records_resources_and_codes() -> None:
    path = ROOT / "examples" / "fhir" / "02-recurrence-on-adjuvant-ai.json"
    source = json.loads(path.read_text())
    er = next(
        e["resource"]
        for e in source["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and any(c.get("code") == "85337-4" for c in e["resource"].get("code", {}).get("coding", []))
    )
    liver = next(
        e["resource"]
        for e in source["entry"]
        if e["resource"]["resourceType"] == "Condition"
        and any(c.get("code") == "94381002" for c in e["resource"]["code"].get("coding", []))
    )
    bundle = ips(path)
    by_id = {(e["resource"]["resourceType"], e["resource"].get("id")): e for e in bundle["entry"]}
    got_er = by_id[("Observation", er["id"])]
    got_liver = by_id[("Condition", liver["id"])]
    assert {"system": "http://loinc.org", "code": "85337-4"}.items() <= got_er["resource"]["code"]["coding"][0].items()
    assert got_liver["resource"]["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert got_liver["resource"]["code"]["coding"][0]["code"] == "94381002"
    assert got_er["resource"]["meta"]["profile"] == er["meta"]["profile"]  # mCODE profile kept
    secs = sections(bundle)
    assert got_er["fullUrl"] in [x["reference"] for x in secs["30954-2"]["entry"]]  # Results
    assert got_liver["fullUrl"] in [x["reference"] for x in secs["11450-4"]["entry"]]  # Problems
    # the specimen of the receptor result came along, and the reference points at it
    specimen = entry_of(bundle, got_er["resource"]["specimen"]["reference"])
    assert specimen["resourceType"] == "Specimen"
    # every resource of the record that is a fact keeps an mCODE profile
    profiled = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] in ("Condition", "Patient")]
    assert all(any("/mcode-" in p for p in r["meta"]["profile"]) for r in profiled)
    results_text = secs["30954-2"]["text"]["div"]
    assert "metastasis (liver)" in results_text and "2024-03-01" in results_text  # receptors per specimen, dated


def test_ips_mcode_profile_added_where_the_record_has_none(tmp_path: Path) -> None:
    doc = json.loads((ROOT / "examples" / "fhir" / "10-receptor-discordance.json").read_text())
    for e in doc["entry"]:
        e["resource"].pop("meta", None)
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(doc))
    ev = evaluate(read_patient(path, as_of=TODAY), as_of=TODAY)
    bundle = build_ips(ev, build_summary(ev, generated_at=GENERATED), load_resources(path))
    profiles = {
        e["resource"]["resourceType"] + ":" + p.rsplit("/", 1)[1]
        for e in bundle["entry"]
        for p in e["resource"].get("meta", {}).get("profile", [])
    }
    assert {
        "Condition:mcode-primary-cancer-condition",
        "Condition:mcode-secondary-cancer-condition",
        "Observation:mcode-tumor-marker-test",
        "MedicationRequest:mcode-cancer-related-medication-request",
        "Patient:mcode-cancer-patient",
    } <= profiles


MINIMAL = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"resource": {"resourceType": "Patient", "id": "min-1", "gender": "female", "birthDate": "1968-05-02"}},
        {
            "resource": {
                "resourceType": "Condition",
                "id": "min-primary",
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
                "subject": {"reference": "Patient/min-1"},
                "onsetDateTime": "2025-02-10",
            }
        },
        {
            "resource": {
                "resourceType": "Condition",
                "id": "min-bone",
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "94222008"}]},
                "subject": {"reference": "Patient/min-1"},
                "onsetDateTime": "2025-02-20",
                "evidence": [{"detail": [{"reference": "Observation/not-in-this-record"}]}],
            }
        },
    ],
}


def test_unknown_facts_appear_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "minimal.json"
    path.write_text(json.dumps(MINIMAL))
    ev = evaluate(read_patient(path, as_of=TODAY), as_of=TODAY)
    summary = build_summary(ev, generated_at=GENERATED)
    assert summary.disease.subtype.group == "unknown" and summary.disease.ecog is None
    clinician = visible_text(render_html(summary, audience="clinician"))
    for fact in ("ECOG unknown", "histology unknown", "grade unknown", "HER2 unknown", "ER unknown"):
        assert fact in clinician, fact
    assert "unknown: no ER, PR or HER2 result in the record" in clinician
    assert "unknown (no germline or tumour genomic result in the record)" in clinician
    patient = visible_text(render_html(summary, audience="patient"))
    assert "The record does not show a performance status score" in patient
    assert "The record has no hormone receptor or HER2 test result" in patient
    assert "The record does not say enough to tell the type of cancer cells" in patient
    bundle = build_ips(ev, summary, load_resources(path))
    Bundle.model_validate(bundle)
    assert sorted(set(references(bundle)) - {e["fullUrl"] for e in bundle["entry"]}) == []
    secs = sections(bundle)
    assert "ER, PR and HER2: unknown" in secs["30954-2"]["text"]["div"]
    assert secs["10160-0"]["emptyReason"]["coding"][0]["code"] == "unavailable"  # no medicine information
    assert "No information about medicines" in secs["10160-0"]["text"]["div"]
    bone = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "min-bone")
    detail = bone["evidence"][0]["detail"][0]
    assert "reference" not in detail and "not part of this summary" in detail["display"]  # dangling: display only


def test_as_of_leaves_out_later_facts_and_ends() -> None:
    path = ROOT / "examples" / "cases" / "10-receptor-discordance.yaml"
    day = date(2024, 12, 1)  # during line 1 (paclitaxel, stopped 2025-01-20); the liver biopsy is known
    ev = evaluate(read_patient(path, as_of=day), as_of=day)
    bundle = build_ips(ev, build_summary(ev, generated_at=GENERATED), load_resources(path))
    meds = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    assert not [m for m in meds if "sacituzumab" in json.dumps(m).lower()]  # line 2 began 2025-01-20: not yet known
    paclitaxel = next(m for m in meds if "paclitaxel" in json.dumps(m["medicationCodeableConcept"]).lower())
    assert paclitaxel["status"] == "active" and "statusReason" not in paclitaxel
    assert "end" not in paclitaxel["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]


# ---- the pages -----------------------------------------------------------------------------------------------------
ABBREVIATION = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Z0-9/+-]*[A-Z0-9+](?![A-Za-z0-9])")


def abbreviations(text: str) -> set[str]:
    tokens = {t for t in ABBREVIATION.findall(text) if sum(c.isupper() for c in t) >= 2}
    return {"NCT" if re.fullmatch(r"NCT\d{8}", t) else t for t in tokens}


def glossary_terms(page: str) -> list[str]:
    return [htmllib.unescape(t) for t in re.findall(r"<dt>(.*?)</dt>", page)]


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_html_pages_of_every_example(path: Path) -> None:
    ev, summary = evaluated(path)
    clinician = render_html(summary, audience="clinician", plots=make_plots(ev))
    text = visible_text(clinician)
    assert text.index("1. The disease now") < text.index("2. Treatment so far") < text.index("3. Options")
    assert "Decision support, not a decision" in text
    assert f"Stage {summary.disease.stage}" in text
    if summary.lines:
        assert "data:image/svg+xml;base64," in clinician  # the swimmer plot, inline
    for o in summary.options:  # evidence shown with its year and PMID/DOI when the knowledge base has them
        for e in o.evidence:
            assert e.name in text
            if e.pmid:
                assert f"PMID {e.pmid}" in text
    for q in summary.questions:
        assert q in text
    patient = render_html(summary, audience="patient")
    ptext = visible_text(patient, skip_classes=("verbatim",))
    assert "Your breast cancer summary" in ptext and "Questions to ask your specialist" in ptext
    # no abbreviation without explanation: every abbreviation-looking token is a glossary term (or part of one)
    terms = glossary_terms(patient)
    missing = {
        t for t in abbreviations(ptext) if not any(re.search(rf"(?<![A-Za-z0-9]){re.escape(t)}", x) for x in terms)
    }
    assert missing == set(), missing
    # decision support: no promise of an outcome
    for phrase in ("will cure", "guarantee", "you will live", "will shrink", "will stop the cancer"):
        assert phrase not in ptext.lower() and phrase not in text.lower()


def test_patient_version_reading_grade(capsys: pytest.CaptureFixture[str]) -> None:
    """Flesch-Kincaid grade of the patient version's prose (textstat's formula; see docs/summary.md)."""
    grades = {}
    method = ""
    for path in EXAMPLES:
        if path.suffix != ".yaml":
            continue  # the FHIR examples are the same patients
        _, summary = evaluated(path)
        grades[path.stem], method = fk_grade(prose(render_html(summary, audience="patient")))
    with capsys.disabled():
        print(f"\npatient version, Flesch-Kincaid grade ({method}):")
        for name, g in grades.items():
            print(f"  {name:40s} {g:5.2f}")
        print(f"  max {max(grades.values()):.2f}, mean {sum(grades.values()) / len(grades):.2f}")
    assert max(grades.values()) <= 9.0


def test_patient_version_numbers_come_from_the_record_or_the_knowledge_base() -> None:
    """Every figure in the patient version is in the evaluation (record, assessment, response, options with their
    cited evidence), possibly rounded or turned from months into years; the glossary's scales are the exception."""
    for name in (
        "04-her2-positive-brain.yaml",
        "10-receptor-discordance.yaml",
        "14-partial-dates-oligometastatic.yaml",
    ):
        ev, summary = evaluated(ROOT / "examples" / "cases" / name)
        page = render_html(summary, audience="patient")
        text = visible_text(page, skip_classes=("glossary", "verbatim"))
        text = re.sub(r"\bNCT\d{8}\b|\bCDK4/6\b|\b[A-Z]+[A-Z0-9-]*\d\b", " ", text)  # names, not figures
        text = text.replace("0 (no effect) to 4 (in bed all day)", " ")  # the ECOG scale's ends
        source = json.dumps([ev.assessment_json(), ev.options_json(), ev.response_json(), asdict(summary)], default=str)
        known = {float(x) for x in re.findall(r"\d+(?:\.\d+)?", source)}
        derived = known | {float(round(x)) for x in known} | {float(round(x / 12)) for x in known}
        for figure in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text):
            assert float(figure) in derived, (name, figure)


# ---- PDF -----------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
@pytest.mark.parametrize(
    ("case", "audience"),
    [
        ("04-her2-positive-brain.yaml", "clinician"),
        ("04-her2-positive-brain.yaml", "patient"),
        ("10-receptor-discordance.yaml", "clinician"),
    ],
)
def test_pdf_opens_and_has_pages(tmp_path: Path, case: str, audience: str) -> None:
    out = tmp_path / f"summary-{audience}.pdf"
    path = ROOT / "examples" / "cases" / case
    started = time.perf_counter()
    assert run_summary(path, fmt="pdf", output=out, audience=audience, as_of=TODAY, trials_db=NO_STORE) == 0
    elapsed = time.perf_counter() - started
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    assert not (tmp_path / f"{out.name}.tmp").exists()
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(out), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 1
    first = pages[0]
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and first.stat().st_size > 10_000  # a page with content
    assert elapsed < 20


# ---- the command ---------------------------------------------------------------------------------------------------
def test_cli_fhir_to_stdout_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "examples" / "fhir" / "05-tnbc-pdl1-cps-high.json"
    assert run_summary(path, fmt="fhir", as_of=TODAY, trials_db=NO_STORE) == 0
    doc = json.loads(capsys.readouterr().out)
    Bundle.model_validate(doc)
    assert doc["type"] == "document"
    out = tmp_path / "patient.html"
    assert run_summary(path, fmt="html", output=out, audience="patient", as_of=TODAY, trials_db=NO_STORE) == 0
    page = out.read_text()
    assert "Your breast cancer summary" in page and "Clinical trials were not searched" in page
    assert capsys.readouterr().out == ""


def test_cli_unusable_input_is_an_operation_outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_summary(bad, fmt="fhir") == 2
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["resourceType"] == "OperationOutcome" and "not valid JSON" in outcome["issue"][0]["diagnostics"]
    assert run_summary(bad, fmt="html") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "not valid JSON" in captured.err
    messy = tmp_path / "messy.json"
    doc = json.loads(json.dumps(MINIMAL))
    doc["entry"][1]["resource"]["onsetDateTime"] = "2025-02-31"  # an input issue: rejected only under --strict
    messy.write_text(json.dumps(doc))
    assert run_summary(messy, fmt="fhir", strict=True, trials_db=NO_STORE) == 2
    assert json.loads(capsys.readouterr().out)["resourceType"] == "OperationOutcome"
    assert run_summary(messy, fmt="fhir", trials_db=NO_STORE) == 0
    capsys.readouterr()


def test_cli_output_errors_and_option_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "examples" / "cases" / "01-de-novo-hr-pos-bone-only.yaml"
    assert run_summary(path, fmt="html", output=tmp_path, trials_db=NO_STORE) == 2  # a folder, not a file
    assert "cannot write" in capsys.readouterr().err
    assert run_summary(path, fmt="html", output=tmp_path / "no" / "such" / "dir" / "x.html", trials_db=NO_STORE) == 2
    capsys.readouterr()
    assert run_summary(path, fmt="docx") == 2
    assert run_summary(path, audience="family") == 2
    assert "unknown" in capsys.readouterr().err


def test_cli_pdf_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = ROOT / "examples" / "cases" / "12-no-evidence-of-disease.yaml"
    assert run_summary(path, fmt="pdf", audience="patient", as_of=TODAY, trials_db=NO_STORE) == 0
    assert capsysbinary.readouterr().out.startswith(b"%PDF-")


def test_cli_parser_runs_the_command(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="mbcnav")
    add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "ips.json"
    args = parser.parse_args(
        [
            "summary",
            str(ROOT / "examples" / "cases" / "09-male-hr-positive.yaml"),
            "--format",
            "fhir",
            "-o",
            str(out),
            "--as-of",
            "2026-11-26",
            "--trials-db",
            NO_STORE,
        ]
    )
    assert (args.format, args.audience, args.as_of) == ("fhir", "clinician", TODAY)
    assert run(args) == 0
    assert json.loads(out.read_text())["type"] == "document"
    with pytest.raises(SystemExit):
        parser.parse_args(["summary", "x.json", "--format", "docx"])


def test_trial_candidates_from_a_store(tmp_path: Path) -> None:
    from mbcnav.trials.load import load_paths
    from mbcnav.trials.store import TrialStore

    url = f"sqlite:///{tmp_path / 'trials.db'}"
    with TrialStore(url) as store:
        load_paths(store, [EA_TRIALS])
    path = ROOT / "examples" / "cases" / "07-her2-low-after-cdk46.yaml"
    out = tmp_path / "ips.json"
    assert run_summary(path, fmt="fhir", output=out, as_of=TODAY, trials_db=url) == 0
    bundle = json.loads(out.read_text())
    plan = sections(bundle)["18776-5"]
    cares = [entry_of(bundle, x["reference"]) for x in plan["entry"]]
    trials = next(c for c in cares if c["title"] == "Clinical trials to ask about")
    uris = [u for a in trials["activity"] for u in a["detail"].get("instantiatesUri", [])]
    assert "https://clinicaltrials.gov/study/NCT99000002" in uris
    assert "studies searched" in plan["text"]["div"]
    page = tmp_path / "c.html"
    assert run_summary(path, fmt="html", output=page, as_of=TODAY, trials_db=url) == 0
    text = visible_text(page.read_text())
    assert "NCT99000002" in text and "Eligibility is decided by the study team" in text
    patient = tmp_path / "p.html"
    assert run_summary(path, fmt="html", output=patient, audience="patient", as_of=TODAY, trials_db=url) == 0
    ptext = visible_text(patient.read_text())
    assert "Only the study team can say if you can join" in ptext and "NCT99000002" in ptext
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    TrialStore(empty).close()
    assert run_summary(path, fmt="html", output=page, as_of=TODAY, trials_db=empty) == 0
    assert "not searched: the trial store holds no study" in page.read_text()
