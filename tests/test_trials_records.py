"""Trial records: API v2 JSON (study, page, NDJSON) and classic XML, expanded access, ages, versions, bad input."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from mbcnav.trials.records import RecordProblem, Trial, age_years, iter_records

from .conftest import ROOT, SHARED

TRIALS = SHARED / "data" / "trials"
FIXTURES = ROOT / "tests" / "data" / "trials"
EA = FIXTURES / "expanded-access"
needs_shared = pytest.mark.skipif(not TRIALS.is_dir(), reason="../shared/data/trials is not here")


def read(path: Path | str) -> tuple[list[Trial], list[RecordProblem], list[str]]:
    trials, problems, locations = [], [], []
    for location, item in iter_records(path):
        locations.append(location)
        if isinstance(item, Trial):
            trials.append(item)
        else:
            problems.append(item)
    return trials, problems, locations


def one(path: Path) -> Trial:
    trials, problems, _ = read(path)
    assert len(trials) == 1 and not problems, problems
    return trials[0]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Trial], list[RecordProblem], list[str]]:
    if not TRIALS.is_dir():
        pytest.skip("../shared/data/trials is not here")
    return read(TRIALS)


# ------------------------------------------------------------------------------------------- the shared corpus


def test_shared_corpus_reads_whole(corpus: tuple[list[Trial], list[RecordProblem], list[str]]) -> None:
    trials, problems, _ = corpus
    assert problems == []
    by_folder = Counter(t.source_format for t in trials)
    assert by_folder == {"ctgov-v2": 1359 + 2, "ctgov-xml": 154}
    ids = Counter(t.nct_id for t in trials)
    assert len(ids) == 1513  # the 2 full v2 records are also among the XML records
    assert {n for n, c in ids.items() if c > 1} == {"NCT02513394", "NCT03377387"}
    v2_pages = [t for t in trials if t.source_format == "ctgov-v2" and t.nct_id not in ("NCT02513394", "NCT03377387")]
    assert len(v2_pages) == 1359
    assert Counter(t.study_type for t in v2_pages) == {"INTERVENTIONAL": 1172, "OBSERVATIONAL": 187}
    assert Counter(t.status for t in v2_pages) == {
        "RECRUITING": 1266,
        "NOT_YET_RECRUITING": 66,
        "ENROLLING_BY_INVITATION": 27,
    }
    assert not any(t.is_expanded_access for t in trials)  # PROVENANCE.md: no Expanded Access record in this set


@needs_shared
def test_locations_are_relative_to_the_folder(corpus: tuple[list[Trial], list[RecordProblem], list[str]]) -> None:
    _, _, locations = corpus
    assert "ctgov-v2-2026-01/page-003.json:studies[17]" in locations
    assert "ctgov-classic-xml/NCT00500006.xml" in locations
    assert "ctgov-v2-full-records/NCT03377387.json" in locations


@needs_shared
def test_full_v2_record() -> None:
    t = one(TRIALS / "ctgov-v2-full-records" / "NCT03377387.json")
    assert t.title.startswith("Capecitabine 7/7 Schedule With Neratinib")
    assert (t.study_type, t.status, t.phases) == ("INTERVENTIONAL", "ACTIVE_NOT_RECRUITING", ("PHASE1", "PHASE2"))
    assert (t.sex, t.min_age_years, t.max_age_years, t.healthy_volunteers) == ("FEMALE", 18.0, None, False)
    assert t.interventions[:2] == ("Capecitabine", "Neratinib")
    assert "HER2-Positive" in t.keywords
    assert t.countries == ("United States",)
    assert t.last_update == "2023-04-18"
    assert (t.has_expanded_access, t.expanded_access_nct, t.expanded_access_types) == (False, None, ())
    assert t.eligibility_text.startswith("Inclusion Criteria:\n\n* Aged ≥18 years")


@needs_shared
def test_classic_xml_record() -> None:
    t = one(TRIALS / "ctgov-classic-xml" / "NCT03377387.xml")
    v2 = one(TRIALS / "ctgov-v2-full-records" / "NCT03377387.json")
    assert t.source_format == "ctgov-xml" and t.nct_id == v2.nct_id and t.title == v2.title
    assert (t.status, t.phases, t.sex) == ("RECRUITING", ("PHASE1", "PHASE2"), "FEMALE")
    assert (t.last_update, t.processed_on) == ("2020-07-14", "2020-07-24")  # last_update_posted; download_date
    assert t.version != v2.version
    # the <textblock> is dedented: no XML indentation left at the start of a line
    assert t.eligibility_text.startswith("Inclusion Criteria:\n\n-  Aged ≥18 years")


@needs_shared
def test_trec_2017_xml_record() -> None:
    t = one(TRIALS / "ctgov-classic-xml" / "NCT00500006.xml")
    assert (t.status, t.phases, t.study_type) == ("TERMINATED", ("PHASE1",), "INTERVENTIONAL")
    assert t.conditions == ("Chronic Myelogenous Leukemia", "Leukemia, Lymphoblastic, Acute, Philadelphia-Positive")
    assert t.interventions == ("MK0457", "dasatinib")
    assert t.processed_on == "2017-04-10"
    assert t.last_update is not None and t.last_update.startswith("20")  # lastchanged_date "Month D, YYYY"


# ---------------------------------------------------------------------------------------------- expanded access


def test_expanded_access_record_v2() -> None:
    t = one(EA / "NCT99000001-expanded-access.json")
    assert t.study_type == "EXPANDED_ACCESS" and t.is_expanded_access
    assert t.status == "AVAILABLE"
    assert t.expanded_access_types == ("individual", "intermediate")
    assert t.has_expanded_access and t.expanded_access_nct is None
    assert t.phases == () and t.healthy_volunteers is None
    assert t.countries == ("France", "United States")


def test_interventional_study_with_expanded_access_v2() -> None:
    t = one(EA / "NCT99000002-with-expanded-access.json")
    assert t.study_type == "INTERVENTIONAL" and not t.is_expanded_access
    assert (t.has_expanded_access, t.expanded_access_nct, t.expanded_access_status) == (
        True,
        "NCT99000001",
        "AVAILABLE",
    )
    assert t.phases == ("PHASE3",)


def test_expanded_access_record_classic_xml() -> None:
    t = one(EA / "NCT99000003-expanded-access.xml")
    assert t.study_type == "EXPANDED_ACCESS" and t.has_expanded_access
    assert t.status == "TEMPORARILY_NOT_AVAILABLE"
    assert t.expanded_access_types == ("individual", "treatment")
    assert t.sex == "ALL"  # the classic format's "Both"
    assert (t.last_update, t.processed_on) == ("2023-02-27", "2023-03-03")
    assert t.eligibility_text == (
        "Inclusion Criteria:\n\n  -  PIK3CA-mutant, HR-positive, HER2-negative metastatic breast cancer\n\n"
        "Exclusion Criteria:\n\n  -  Uncontrolled diabetes"
    )


def test_expanded_access_folder_and_ndjson(tmp_path: Path) -> None:
    trials, problems, _ = read(EA)
    expected = sorted(p.name[:11] for p in EA.iterdir() if p.suffix in (".json", ".xml"))  # one study per fixture
    assert {"NCT99000001", "NCT99000002", "NCT99000003"} <= set(expected)
    assert sorted(t.nct_id for t in trials) == expected and not problems
    lines = [json.dumps(json.loads(p.read_text())) for p in sorted(EA.glob("*.json"))]
    nd = tmp_path / "studies.ndjson"
    nd.write_text(lines[0] + "\n{not json\n\n" + lines[1] + "\n")
    trials, problems, locations = read(nd)
    assert [t.nct_id for t in trials] == ["NCT99000001", "NCT99000002"]
    assert [str(p) for p in problems] == [
        "studies.ndjson:line 2: not valid JSON (Expecting property name enclosed in double quotes)"
    ]
    assert locations == ["studies.ndjson:line 1", "studies.ndjson:line 2", "studies.ndjson:line 4"]
    assert trials[0] == one(EA / "NCT99000001-expanded-access.json")


# ------------------------------------------------------------------------------------------------------- ages


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("18 Years", 18.0),
        ("1 Year", 1.0),
        ("6 Months", 0.5),
        ("25 Weeks", round(25 * 7 / 365.25, 4)),
        ("28 Days", round(28 / 365.25, 4)),
        ("N/A", None),
        ("", None),
        (None, None),
    ],
)
def test_ages(text: str | None, years: float | None) -> None:
    problems: list[RecordProblem] = []
    assert age_years(text, "x", problems) == years
    assert problems == []


def test_unreadable_age_is_a_warning_and_no_limit() -> None:
    problems: list[RecordProblem] = []
    assert age_years("eighteen", "x", problems) is None
    assert problems[0].severity == "warning" and "eighteen" in problems[0].message


# ------------------------------------------------------------------------------------------------- versions


def test_version_is_a_stable_content_hash() -> None:
    a = one(EA / "NCT99000001-expanded-access.json")
    b = one(EA / "NCT99000001-expanded-access.json")
    assert a.version == b.version and len(a.version) == 16
    assert Trial.from_json(json.loads(json.dumps(a.to_json()))) == a
    import dataclasses

    assert dataclasses.replace(a, status="NO_LONGER_AVAILABLE").version != a.version
    assert dataclasses.replace(a, processed_on="2026-01-20").version == a.version  # metadata, not content


# --------------------------------------------------------------------------------------------- bad input


def page(studies: list[object]) -> str:
    return json.dumps({"studies": studies})


def test_a_malformed_record_is_reported_and_the_rest_continue(tmp_path: Path) -> None:
    good = json.loads((EA / "NCT99000002-with-expanded-access.json").read_text())
    no_id = json.loads(json.dumps(good))
    del no_id["protocolSection"]["identificationModule"]["nctId"]
    bad_type = json.loads(json.dumps(good))
    bad_type["protocolSection"]["designModule"]["studyType"] = "RANDOM"
    bad_id = json.loads(json.dumps(good))
    bad_id["protocolSection"]["identificationModule"]["nctId"] = "ISRCTN123"
    (tmp_path / "page-003.json").write_text(page([good, no_id, "text", bad_type, bad_id, {"x": 1}]))
    trials, problems, _ = read(tmp_path / "page-003.json")
    assert [t.nct_id for t in trials] == ["NCT99000002"]
    assert [str(p) for p in problems] == [
        "page-003.json:studies[1]: missing nctId",
        "page-003.json:studies[2]: not a JSON object (a ClinicalTrials.gov API v2 study was expected)",
        "page-003.json:studies[3]: NCT99000002: unknown studyType 'RANDOM'",
        "page-003.json:studies[4]: invalid nctId 'ISRCTN123'",
        "page-003.json:studies[5]: no protocolSection (not a ClinicalTrials.gov API v2 study)",
    ]


def test_bad_files_are_problems_for_that_file_only(tmp_path: Path) -> None:
    shutil.copy(EA / "NCT99000001-expanded-access.json", tmp_path / "a.json")
    shutil.copy(EA / "NCT99000003-expanded-access.xml", tmp_path / "b.xml")
    (tmp_path / "c.json").write_text('{"studies": [')
    (tmp_path / "d.xml").write_text("<clinical_study><id_info>")
    (tmp_path / "e.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "f.xml").write_text("<html><body>not a study</body></html>")
    (tmp_path / "g.json").write_text('{"resourceType": "Bundle"}')
    (tmp_path / "notes.txt").write_text("ignored: not a record file")
    trials, problems, _ = read(tmp_path)
    assert sorted(t.nct_id for t in trials) == ["NCT99000001", "NCT99000003"]
    messages = {p.location: p.message for p in problems}
    assert set(messages) == {"c.json", "d.xml", "e.json", "f.xml", "g.json"}
    assert messages["c.json"].startswith("not valid JSON (line 1, column 14")
    assert messages["d.xml"].startswith("not valid XML")
    assert messages["e.json"] == "neither JSON nor XML (a ClinicalTrials.gov record was expected)"
    assert messages["f.xml"] == "not a ClinicalTrials.gov <clinical_study> record (root <html>)"
    assert all(p.severity == "error" for p in problems)


def test_xml_entities_are_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        "<clinical_study><brief_title>&lol2;</brief_title></clinical_study>"
    )
    (tmp_path / "bomb.xml").write_text(bomb)
    trials, problems, _ = read(tmp_path / "bomb.xml")
    assert trials == [] and [str(p) for p in problems] == ["bomb.xml: XML refused for safety (EntitiesForbidden)"]


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    _, problems, _ = read(tmp_path / "nope")
    assert problems[0].message == "no such file or folder"
    _, problems, _ = read(tmp_path)
    assert problems[0].message == "folder holds no .json, .ndjson or .xml files"


def test_list_of_studies_and_concatenated_json(tmp_path: Path) -> None:
    docs = [json.loads(p.read_text()) for p in sorted(EA.glob("*.json"))][:2]
    (tmp_path / "list.json").write_text(json.dumps(docs))
    trials, _, locations = read(tmp_path / "list.json")
    assert len(trials) == 2 and locations == ["list.json:[0]", "list.json:[1]"]
    (tmp_path / "more.json").write_text("\n".join(json.dumps(d) for d in docs))
    trials, problems, _ = read(tmp_path / "more.json")
    assert len(trials) == 2 and not problems


def test_text_is_made_safe_for_any_database(tmp_path: Path) -> None:
    doc = json.loads((EA / "NCT99000002-with-expanded-access.json").read_text())
    doc["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = "a\x00b\r\nc\ud800d"
    doc["protocolSection"]["conditionsModule"]["conditions"] = ["Breast Cancer", "breast cancer", " ", 7]
    (tmp_path / "x.json").write_text(json.dumps(doc))
    (t,), problems, _ = read(tmp_path / "x.json")
    assert [str(p) for p in problems] == [
        "x.json (NCT99000002): conditionsModule.conditions: 1 item(s) that are not text ignored"
    ]  # the number 7 is reported, not silently dropped
    assert t.eligibility_text == "ab\nc?d"  # NUL dropped (PostgreSQL refuses it), lone surrogate replaced
    assert t.conditions == ("Breast Cancer",)


def test_a_stored_record_keeps_its_version_and_a_changed_copy_is_hashed_anew() -> None:
    # the store streams every study for every match: the version it was stored with is read, not recomputed
    a = one(EA / "NCT99000001-expanded-access.json")
    doc = json.loads(json.dumps(a.to_json()))
    doc["version"] = "stored-elsewhere"
    assert Trial.from_json(doc).version == "stored-elsewhere"
    del doc["version"]
    assert Trial.from_json(doc).version == a.version  # no stored version: computed
    import dataclasses

    back = Trial.from_json(json.loads(json.dumps(a.to_json())))
    assert dataclasses.replace(back, title="Another title").version != a.version
