"""Issue 16, trials classes: malformed records are reported and skipped field by field; no record is lost silently
(SQLite and PostgreSQL agree, two loads at once, kill -9); the criteria parser is linear and bounded; progress."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbcnav.cli import main
from mbcnav.trials.criteria import MAX_CRITERION_CHARS, PARSER_VERSION, fill_parse_cache, parse_criteria
from mbcnav.trials.load import LoadSummary, load_paths
from mbcnav.trials.records import MAX_CRITERIA_CHARS, RecordProblem, Trial, iter_records
from mbcnav.trials.store import TrialStore

from .test_trials_records import EA, FIXTURES, TRIALS
from .test_trials_store import BACKENDS, database

TEMPLATE = json.loads((EA / "NCT99000002-with-expanded-access.json").read_text())
ROOT = Path(__file__).resolve().parent.parent


def study(n: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(TEMPLATE)
    doc["protocolSection"]["identificationModule"]["nctId"] = f"NCT{98000000 + n:08d}"
    doc["protocolSection"]["identificationModule"]["briefTitle"] = f"Generated study {n}"
    for path, value in changes.items():
        node = doc
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return doc


def read(path: Path) -> tuple[list[Trial], list[RecordProblem]]:
    items = [item for _, item in iter_records(path)]
    return [t for t in items if isinstance(t, Trial)], [p for p in items if isinstance(p, RecordProblem)]


# ------------------------------------------------------------------------------ malformed fields (issue item 2)

# Every field mbcnav reads from an API v2 study, by its path under protocolSection.
FIELDS = (
    "identificationModule",
    "identificationModule.briefTitle",
    "identificationModule.officialTitle",
    "statusModule",
    "statusModule.overallStatus",
    "statusModule.lastUpdatePostDateStruct",
    "statusModule.lastUpdatePostDateStruct.date",
    "statusModule.expandedAccessInfo",
    "statusModule.expandedAccessInfo.hasExpandedAccess",
    "statusModule.expandedAccessInfo.nctId",
    "statusModule.expandedAccessInfo.statusForNctId",
    "designModule",
    "designModule.studyType",
    "designModule.phases",
    "designModule.expandedAccessTypes",
    "conditionsModule",
    "conditionsModule.conditions",
    "conditionsModule.keywords",
    "armsInterventionsModule",
    "armsInterventionsModule.interventions",
    "contactsLocationsModule",
    "contactsLocationsModule.locations",
    "descriptionModule",
    "descriptionModule.briefSummary",
    "eligibilityModule",
    "eligibilityModule.eligibilityCriteria",
    "eligibilityModule.minimumAge",
    "eligibilityModule.maximumAge",
    "eligibilityModule.sex",
    "eligibilityModule.healthyVolunteers",
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_any_malformed_field_loses_at_most_its_record(field: str, value: Any) -> None:
    bad = study(1, **{f"protocolSection.{field}": value})
    page = {"studies": [study(0), bad, study(2)]}
    located = list(_records_of(page))
    trials = {t.nct_id for _, t in located if isinstance(t, Trial)}
    assert {"NCT98000000", "NCT98000002"} <= trials  # the rest of the file is read
    problems = [p for _, p in located if isinstance(p, RecordProblem)]
    if "NCT98000001" not in trials:  # skipped: with the reason, at its location
        assert any(p.severity == "error" and p.location.startswith("page.json:studies[1]") for p in problems)


def _records_of(page: dict[str, Any]) -> list[tuple[str, Trial | RecordProblem]]:
    from mbcnav.trials.records import _v2_document

    return list(_v2_document(json.loads(json.dumps(page)), "page.json"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("armsInterventionsModule.interventions", 7, "armsInterventionsModule.interventions: expected a list"),
        ("contactsLocationsModule.locations", 3.5, "contactsLocationsModule.locations: expected a list"),
        ("conditionsModule.conditions", {"a": 1}, "conditionsModule.conditions: expected a list"),
        ("conditionsModule.keywords", "HER2", "conditionsModule.keywords: expected a list"),
        ("designModule.phases", 2, "designModule.phases: expected a list"),
        ("eligibilityModule.eligibilityCriteria", {"text": "x"}, "eligibilityCriteria: expected text"),
        ("eligibilityModule.healthyVolunteers", "yes", "healthyVolunteers: expected true or false"),
        ("eligibilityModule", [1, 2], "protocolSection.eligibilityModule: expected an object"),
        ("armsInterventionsModule.interventions", [{"name": 5}, "x"], "2 item(s) without a text name"),
    ],
)
def test_a_malformed_optional_field_is_dropped_with_a_warning(field: str, value: Any, message: str) -> None:
    located = _records_of({"studies": [study(1, **{f"protocolSection.{field}": value})]})
    assert isinstance(located[0][1], Trial)
    warnings = [str(p) for _, p in located if isinstance(p, RecordProblem)]
    assert len(warnings) == 1 and message in warnings[0], warnings
    assert warnings[0].startswith("page.json:studies[0] (NCT98000001): ")


def test_a_number_of_5000_digits_is_a_field_problem_not_a_crash(tmp_path: Path) -> None:
    text = json.dumps({"studies": [study(1), study(2)]}).replace('"18 Years"', "9" * 5000, 1)
    (tmp_path / "page.json").write_text(text)
    (tmp_path / "page.ndjson").write_text(text + "\n")
    for name in ("page.json", "page.ndjson"):
        trials, problems = read(tmp_path / name)
        assert [t.nct_id for t in trials] == ["NCT98000001", "NCT98000002"]
        assert [p.message for p in problems] == ["expected text, found a number; ignored"]
        assert trials[0].min_age_years is None and trials[1].min_age_years == 18


def test_ids_ages_and_text_are_normalised_before_the_store(tmp_path: Path) -> None:
    arabic = "NCT" + "".join(chr(0x0660 + int(c)) for c in "12345678")  # Arabic-Indic digits: \d, not [0-9]
    fullwidth = "ＮＣＴ" + "".join(chr(0xFF10 + int(c)) for c in "98000005")  # NFKC -> NCT98000005
    page = {
        "studies": [
            study(1, **{"protocolSection.identificationModule.nctId": arabic}),
            study(2, **{"protocolSection.identificationModule.nctId": fullwidth}),
            study(3, **{"protocolSection.eligibilityModule.minimumAge": "9" * 400 + " Years"}),
            study(4, **{"protocolSection.eligibilityModule.maximumAge": "999 Years"}),
            study(6, **{"protocolSection.eligibilityModule.eligibilityCriteria": "* HER2-positive\n" * 5000}),
            study(7, **{"protocolSection.statusModule.lastUpdatePostDateStruct.date": "2026-02-31"}),
        ]
    }
    (tmp_path / "page.json").write_text(json.dumps(page))
    trials, problems = read(tmp_path / "page.json")
    by_id = {t.nct_id: t for t in trials}
    assert sorted(by_id) == ["NCT98000003", "NCT98000004", "NCT98000005", "NCT98000006", "NCT98000007"]
    assert [p.location for p in problems if p.severity == "error"] == ["page.json:studies[0]"]  # the Arabic id
    assert by_id["NCT98000003"].min_age_years is None and by_id["NCT98000004"].max_age_years is None
    assert by_id["NCT98000007"].last_update is None  # not a calendar date
    criteria = by_id["NCT98000006"].eligibility_text
    assert len(criteria) <= MAX_CRITERIA_CHARS
    cut = [str(p) for p in problems if "eligibilityCriteria" in p.location]
    assert cut == [
        f"page.json:studies[4] (NCT98000006): eligibilityCriteria: 79,999 characters, longer than "
        f"{MAX_CRITERIA_CHARS:,}: cut to {MAX_CRITERIA_CHARS:,}"
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sqlite_and_postgresql_keep_the_same_records(backend: str, tmp_path: Path) -> None:
    """The hostile values above are settled before the store: both databases store the same five studies."""
    test_ids_ages_and_text_are_normalised_before_the_store(tmp_path)
    with database(backend, tmp_path) as url, TrialStore(url) as store:
        summary = load_paths(store, [tmp_path / "page.json"])
        assert (summary.inserted, summary.skipped) == (5, 1)
        assert store.count() == 5
        assert store.search("HER2") != []


def test_cli_load_exits_1_with_the_count_when_a_record_is_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = {"studies": [study(1), study(2, **{"protocolSection.identificationModule.nctId": "NCT1"})]}
    (tmp_path / "page.json").write_text(json.dumps(page))
    db = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["trials", "load", str(tmp_path / "page.json"), "--db", db]) == 1
    out, err = capsys.readouterr()
    assert "Problems: 1 skipped" in out and "page.json:studies[1]: invalid nctId 'NCT1'" in out
    assert "mbcnav: 1 record(s) or file(s) not loaded (listed above)" in err


# --------------------------------------------------------------------------- two loads at once (issue item 12)


def generated_corpus(folder: Path, files: int = 12, per_file: int = 30) -> set[str]:
    """Pages of API v2 studies; every study also appears in the next page (so two loaders meet on every file)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids: set[str] = set()
    for f in range(files):
        docs = [study(f * per_file + i) for i in range(per_file + 5)]  # 5 studies of the next page too
        ids |= {d["protocolSection"]["identificationModule"]["nctId"] for d in docs}
        (folder / f"page-{f:03d}.json").write_text(json.dumps({"studies": docs}))
    return ids


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("corpus", ["generated", "shared"])
def test_two_loads_at_once_store_every_study_exactly_once(backend: str, corpus: str, tmp_path: Path) -> None:
    if corpus == "shared":
        if not TRIALS.is_dir():
            pytest.skip("../shared/data/trials is not here")
        folder, expected = TRIALS, 1513
    else:
        folder, expected = tmp_path / "corpus", len(generated_corpus(tmp_path / "corpus"))
    with database(backend, tmp_path) as url:
        TrialStore(url).close()  # the schema exists before the race (opening is safe too, but not the point)
        start = threading.Barrier(2)
        results: list[LoadSummary | BaseException] = []

        def load() -> None:
            try:
                with TrialStore(url) as store:  # a store (engine, connection pool) of its own, as a process has
                    start.wait()
                    results.append(load_paths(store, [folder]))
            except BaseException as exc:  # reported below
                results.append(exc)

        began = time.monotonic()
        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.monotonic() - began
        assert len(results) == 2 and all(isinstance(r, LoadSummary) for r in results), results
        summaries = [r for r in results if isinstance(r, LoadSummary)]
        for s in summaries:
            assert s.problems == [] and s.skipped == 0  # no file, no record lost
            assert s.studies == expected
        assert sum(s.inserted for s in summaries) == expected  # each study inserted by exactly one of the two
        with TrialStore(url) as store:
            stored = [t.nct_id for t in store.iter_trials()]
            assert len(stored) == len(set(stored)) == expected
            assert len(store.search("generated" if corpus == "generated" else "breast", limit=10_000)) > 0
        assert elapsed < 60


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_during_a_load_leaves_a_consistent_store(backend: str, tmp_path: Path) -> None:
    """Each file is one transaction: a load killed at any moment leaves whole files; loading again completes it."""
    ids = generated_corpus(tmp_path / "corpus", files=40, per_file=25)
    with database(backend, tmp_path) as url:
        TrialStore(url).close()
        code = "import sys; from mbcnav.cli import main; sys.exit(main(sys.argv[1:]))"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "trials", "load", str(tmp_path / "corpus"), "--db", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        with TrialStore(url) as store:
            deadline = time.monotonic() + 60
            while store.count() == 0 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            got = {t.nct_id for t in store.iter_trials()}
            # whole files only, in name order: page k holds studies 25k .. 25k+29, so m whole pages are 25m+5 studies
            assert got == {f"NCT{98000000 + i:08d}" for i in range(len(got))}
            assert len(got) == 0 or (len(got) - 5) % 25 == 0, len(got)
            summary = load_paths(store, [tmp_path / "corpus"])
            assert summary.problems == [] and summary.inserted == len(ids) - len(got)
            assert store.count() == len(ids)
            assert len(store.search("generated", limit=10_000)) == len(ids)  # the search index followed


# ------------------------------------------------------------------- the criteria parser is linear (issue item 9)


def _sentences() -> list[str]:
    source = TRIALS if TRIALS.is_dir() else FIXTURES
    out: list[str] = []
    for _, item in iter_records(source):
        if isinstance(item, Trial):
            out += [s.strip(" *-") for s in item.eligibility_text.splitlines() if 20 < len(s.strip()) < 300]
    return sorted(set(out))[:3000]


SENTENCES = _sentences()
NOISE = st.sampled_from(["-", " ", "- ", "/ ", "and/or ", "or ", ", ", "\n", "(", ".", "1, ", "_", "=", "*", "\\-"])


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    sentence=st.sampled_from(SENTENCES),
    other=st.sampled_from(SENTENCES),
    noise=NOISE,
    runs=st.integers(10, 400),
    where=st.floats(0, 1),
    repeat=st.integers(1, 40),
)
def test_no_text_makes_the_parser_hang(
    sentence: str, other: str, noise: str, runs: int, where: float, repeat: int
) -> None:
    cut = int(len(sentence) * where)
    criterion = sentence[:cut] + " " + noise * runs + " " + sentence[cut:] + " " + (other[:40] + ", ") * repeat
    criterion = criterion[:2000]
    text = f"Inclusion Criteria:\n\n* {criterion}\n\nExclusion Criteria:\n\n* {criterion}"
    began = time.perf_counter()
    parse_criteria(text)
    assert time.perf_counter() - began < 1.0  # generous: these parse in milliseconds (see the benchmark)


@pytest.mark.parametrize(
    "criterion",
    [
        "Patients with early " + "-" * 200,  # 47 s before (catastrophic backtracking in _EARLY)
        "Women " + "and/or " * 200 + "x",  # exponential in _SEX_LEAD before
        "HER2 positive" + " / " * 300 + "x",  # exponential in _HER2_ALT before
        "ER " + " " * 3000 + "x",  # cubic in the receptor status patterns before
        "Prior tamoxifen, letrozole, fulvestrant, palbociclib, " * 40,
    ],
)
def test_known_worst_cases_parse_quickly(criterion: str) -> None:
    began = time.perf_counter()
    parse_criteria("Exclusion Criteria:\n\n* " + criterion)
    assert time.perf_counter() - began < 1.0


def test_an_overlong_criterion_is_free_text_and_a_time_box_keeps_the_rest() -> None:
    long = "Prior tamoxifen or letrozole, " * (MAX_CRITERION_CHARS // 30 + 1)
    (criterion,) = parse_criteria("Exclusion Criteria:\n\n* " + long)
    assert criterion.constraints == () and len(criterion.text) > MAX_CRITERION_CHARS
    text = "Inclusion Criteria:\n\n* HER2-positive breast cancer\n* ECOG 0-1"
    assert all(c.constraints for c in parse_criteria(text))
    assert all(not c.constraints for c in parse_criteria(text, time_budget_s=-1.0))  # the box closed at once


# ------------------------------------------------------------------------------ parse-cache progress (item 13)


def test_fill_parse_cache_reports_progress_and_fills_once(tmp_path: Path) -> None:
    with TrialStore(f"sqlite:///{tmp_path / 't.db'}") as store:
        load_paths(store, [EA])
        seen: list[tuple[int, int]] = []
        assert fill_parse_cache(store, progress=lambda done, total: seen.append((done, total))) == 3
        assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
        for t in store.iter_trials():
            assert store.get_parsed(t.nct_id, t.version, PARSER_VERSION) is not None
        seen.clear()
        assert fill_parse_cache(store, progress=lambda done, total: seen.append((done, total))) == 0
        assert seen == [(0, 0)]
