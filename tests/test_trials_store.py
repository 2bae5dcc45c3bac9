"""The trial store on SQLite and (with MBCNAV_TEST_DATABASE_URL) PostgreSQL: load, reload, search, cache, CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from mbcnav.cli import main
from mbcnav.trials.load import LoadSummary, load_files, load_paths
from mbcnav.trials.migrations import LATEST, StoreError
from mbcnav.trials.records import Trial, iter_records
from mbcnav.trials.store import FORMAT_RANK, TrialStore, resolve_url, trials_table

from .test_trials_records import EA, TRIALS, one

PG_URL = os.environ.get("MBCNAV_TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="MBCNAV_TEST_DATABASE_URL is not set")),
]
OVERLAP = ("NCT02513394", "NCT03377387")


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'trials.db'}"
        return
    base = make_url(resolve_url(PG_URL))
    schema = f"mbcnav_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as u:
        yield u


@pytest.fixture
def store(url: str) -> Iterator[TrialStore]:
    with TrialStore(url) as s:
        yield s


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TrialStore, LoadSummary]]:
    """The whole shared corpus, loaded once per backend."""
    if not TRIALS.is_dir():
        pytest.skip("../shared/data/trials is not here")
    with database(request.param, tmp_path_factory.mktemp("corpus")) as u, TrialStore(u) as s:
        yield s, load_paths(s, [TRIALS])


@pytest.fixture(scope="module")
def expected() -> dict[str, Trial]:
    """The record each study should keep: API v2 over classic XML, then the later last-update date."""
    if not TRIALS.is_dir():
        pytest.skip("../shared/data/trials is not here")
    best: dict[str, Trial] = {}
    for _, item in iter_records(TRIALS):
        if isinstance(item, Trial):
            cur = best.get(item.nct_id)
            key = (FORMAT_RANK[item.source_format], item.last_update or "")
            if cur is None or key >= (FORMAT_RANK[cur.source_format], cur.last_update or ""):
                best[item.nct_id] = item
    return best


def rows(store: TrialStore) -> list[tuple[Any, ...]]:
    t = trials_table.c
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(t.nct_id, t.version, t.loaded_at).order_by(t.nct_id))]


def ea_trials() -> list[Trial]:
    return [one(p) for p in sorted(EA.iterdir()) if p.suffix in (".json", ".xml")]


# ------------------------------------------------------------------------------------------- the shared corpus


def test_loading_the_whole_corpus(loaded: tuple[TrialStore, LoadSummary]) -> None:
    store, summary = loaded
    assert summary.problems == []
    assert (summary.files, summary.records) == (14 + 2 + 154, 1359 + 2 + 154)
    assert (summary.inserted, summary.updated, summary.unchanged) == (1513, 0, 0)
    assert summary.duplicates == 2  # the XML twins of the two full v2 records
    assert store.count() == 1513


def test_reloading_is_a_no_op(loaded: tuple[TrialStore, LoadSummary]) -> None:
    store, _ = loaded
    before = rows(store)
    again = load_paths(store, [TRIALS / "ctgov-classic-xml", TRIALS])  # XML first this time: order does not matter
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1513)
    assert again.problems == []
    assert rows(store) == before  # nothing written: versions and load times unchanged


def test_one_row_per_study_keeps_the_api_v2_record(loaded: tuple[TrialStore, LoadSummary]) -> None:
    store, _ = loaded
    for nct in OVERLAP:
        t = store.get(nct)
        assert t is not None and t.source_format == "ctgov-v2"
    xml = store.get("NCT00500006")
    assert xml is not None and xml.source_format == "ctgov-xml" and xml.processed_on == "2017-04-10"
    assert store.get("NCT00000000") is None


def test_stored_records_round_trip(loaded: tuple[TrialStore, LoadSummary], expected: dict[str, Trial]) -> None:
    store, _ = loaded
    stored = {t.nct_id: t for t in store.iter_trials()}
    assert stored == expected


def test_filters(loaded: tuple[TrialStore, LoadSummary], expected: dict[str, Trial]) -> None:
    store, _ = loaded
    recruiting = {n for n, t in expected.items() if t.status == "RECRUITING"}
    assert {t.nct_id for t in store.iter_trials(status="recruiting")} == recruiting
    france = {n for n, t in expected.items() if "France" in t.countries}
    assert len(france) > 50
    assert {t.nct_id for t in store.iter_trials(country="FRANCE")} == france
    observational_recruiting = {
        n for n, t in expected.items() if t.study_type == "OBSERVATIONAL" and t.status in ("RECRUITING", "COMPLETED")
    }
    got = store.iter_trials(status=["RECRUITING", "COMPLETED"], study_type="observational")
    assert {t.nct_id for t in got} == observational_recruiting
    assert list(store.iter_trials(country="Atlantis")) == []


def test_search(loaded: tuple[TrialStore, LoadSummary], expected: dict[str, Trial]) -> None:
    store, _ = loaded
    assert store.search("PYNNACLE") == ["NCT04585750"]  # a word of one title
    hits = store.search("trastuzumab deruxtecan", limit=10)
    assert 5 <= len(hits) <= 10 and len(set(hits)) == len(hits)
    for nct in hits:
        t = expected[nct]
        words = " ".join([t.title, *t.conditions, *t.interventions, *t.keywords, t.eligibility_text]).lower()
        assert "trastuzumab" in words and "deruxtecan" in words
    breast = store.search("metastatic breast cancer", limit=5)
    assert all("breast" in expected[n].title.lower() or "Breast" in " ".join(expected[n].conditions) for n in breast)
    assert store.search('HER2-positive AND (brain "metastases') != []  # query syntax is never an error
    assert store.search("") == [] and store.search("the of and") == [] and store.search("breast", limit=0) == []


# ------------------------------------------------------------------------------------------------- migrations


def test_migrations_are_idempotent(url: str) -> None:
    with TrialStore(url) as a:
        assert a.schema_version == LATEST
    with TrialStore(url) as b, b.engine.connect() as conn:
        assert b.schema_version == LATEST
        applied = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
    assert applied == list(range(1, LATEST + 1))


def test_a_newer_schema_is_refused(url: str) -> None:
    with TrialStore(url) as s, s.engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version VALUES (99, 'from the future', 'x')"))
    with pytest.raises(StoreError, match="newer than this mbcnav"):
        TrialStore(url)


# ---------------------------------------------------------------------------------------------------- upsert


def test_upsert_counts_and_search_follow_changes(store: TrialStore) -> None:
    trials = ea_trials()
    c = store.upsert(trials)
    assert (c.inserted, c.updated, c.unchanged, c.superseded) == (3, 0, 0, 0)
    c = store.upsert(trials)
    assert (c.inserted, c.updated, c.unchanged, c.superseded) == (0, 0, 3, 0)
    changed = dataclasses.replace(trials[0], title="Zebrafish Programme", status="NO_LONGER_AVAILABLE")
    c = store.upsert([changed])
    assert (c.updated, c.by_nct) == (1, {changed.nct_id: "updated"})
    assert store.get(changed.nct_id) == changed
    assert store.search("zebrafish") == [changed.nct_id]
    assert store.search("programme synthetic HER2 ADC expanded") == []  # the old title is gone from the index
    assert [t.nct_id for t in store.iter_trials(study_type="EXPANDED_ACCESS")] == ["NCT99000001", "NCT99000003"]
    assert [t.nct_id for t in store.iter_trials(status="available")] == []


def test_precedence_between_formats_and_dates(store: TrialStore) -> None:
    v2 = one(EA / "NCT99000002-with-expanded-access.json")
    xml = dataclasses.replace(v2, source_format="ctgov-xml", status="RECRUITING_OLD")
    assert store.upsert([v2, xml]).superseded == 1  # classic XML never replaces an API v2 record
    c = store.upsert([xml])
    assert (c.superseded, c.by_nct) == (1, {v2.nct_id: "unchanged"})
    older = dataclasses.replace(v2, last_update="2020-01-01", title="Older")
    assert store.upsert([older]).superseded == 1
    newer = dataclasses.replace(v2, last_update="2027-01-01", title="Newer")
    assert store.upsert([newer]).updated == 1
    same_date = dataclasses.replace(newer, title="Corrected")  # same format and date: the record loaded last wins
    assert store.upsert([same_date]).updated == 1
    assert store.get(v2.nct_id) == same_date


def test_xml_then_v2_in_one_batch_is_one_inserted_study(store: TrialStore) -> None:
    v2 = one(EA / "NCT99000002-with-expanded-access.json")
    xml = dataclasses.replace(v2, source_format="ctgov-xml")
    c = store.upsert([xml, v2])
    assert (c.inserted, c.updated, c.by_nct) == (1, 1, {v2.nct_id: "inserted"})
    assert store.count() == 1 and store.get(v2.nct_id) == v2


def test_a_later_processing_date_is_kept_without_a_new_version(store: TrialStore) -> None:
    t = one(EA / "NCT99000003-expanded-access.xml")
    store.upsert([t])
    later = dataclasses.replace(t, processed_on="2024-05-01")
    assert store.upsert([later]).unchanged == 1
    got = store.get(t.nct_id)
    assert got is not None and got.processed_on == "2024-05-01" and got.version == t.version


def test_parsed_criteria_cache(store: TrialStore) -> None:
    t = one(EA / "NCT99000001-expanded-access.json")
    store.upsert([t])
    assert store.get_parsed(t.nct_id, t.version, "p1") is None
    payload = {"criteria": [{"kind": "inclusion", "text": "HER2-positive", "verdict": None}], "n": 1.5}
    store.put_parsed(t.nct_id, t.version, "p1", payload)
    store.put_parsed(t.nct_id, t.version, "p1", payload)  # replacing is fine
    assert store.get_parsed(t.nct_id, t.version, "p1") == payload
    assert store.get_parsed(t.nct_id, t.version, "p2") is None
    store.upsert([t])  # unchanged: the cache stays
    assert store.get_parsed(t.nct_id, t.version, "p1") == payload
    changed = dataclasses.replace(t, eligibility_text="Inclusion Criteria:\n\n* Anyone")
    store.upsert([changed])  # a new version: its parse is not cached, the old one is dropped
    assert store.get_parsed(changed.nct_id, changed.version, "p1") is None
    assert store.get_parsed(t.nct_id, t.version, "p1") is None
    store.upsert(ea_trials())
    for trial in store.iter_trials():  # the matcher's pattern: parse and cache while reading the studies
        if store.get_parsed(trial.nct_id, trial.version, "p3") is None:
            store.put_parsed(trial.nct_id, trial.version, "p3", [trial.nct_id])
    assert [store.get_parsed(x.nct_id, x.version, "p3") for x in store.iter_trials()] == [
        ["NCT99000001"],
        ["NCT99000002"],
        ["NCT99000003"],
    ]


# ----------------------------------------------------------------------------------------------------- loading


def test_a_corrupt_file_is_reported_and_the_rest_loads(store: TrialStore, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(EA, folder)
    (folder / "page-bad.json").write_text('{"studies": [{"protocolSection": ')
    (folder / "zz.xml").write_text("<clinical_study>")
    summary = load_paths(store, [folder])
    assert (summary.files, summary.records, summary.inserted) == (5, 3, 3)
    assert sorted(p.location for p in summary.problems) == ["page-bad.json", "zz.xml"]
    assert store.count() == 3


def test_a_failing_file_loses_only_the_records_that_fail(store: TrialStore, tmp_path: Path) -> None:
    a, b = one(EA / "NCT99000001-expanded-access.json"), one(EA / "NCT99000002-with-expanded-access.json")
    store.upsert([a])
    page = tmp_path / "page.json"
    docs = [json.loads(p.read_text()) for p in sorted(EA.glob("*.json"))]
    docs[0]["protocolSection"]["identificationModule"]["briefTitle"] = "Changed title"  # an update of a
    page.write_text(json.dumps({"studies": docs}))  # ... and an insert of b

    def fail_updates(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE TRIALS"):
            raise OperationalError(statement, {}, Exception("disk full (simulated)"))

    event.listen(store.engine, "before_cursor_execute", fail_updates)
    try:
        summary = load_files(store, [(page, "page.json")])
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_updates)
    assert [str(p) for p in summary.problems] == [
        "page.json: the file could not be stored in one transaction (disk full (simulated)); its records were "
        "stored one by one",
        "page.json:studies[0]: NCT99000001: not stored (disk full (simulated))",
    ]  # the file's transaction was rolled back whole, then each record was tried on its own: only `a` is lost
    assert (summary.records, summary.inserted, summary.skipped) == (1, 1, 1)
    assert store.get(b.nct_id) == b
    assert store.get(a.nct_id) == a  # the failed update left the stored record as it was


def test_conflicting_copies_in_one_load_keep_the_first(store: TrialStore, tmp_path: Path) -> None:
    doc = json.loads((EA / "NCT99000002-with-expanded-access.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(doc))
    doc["protocolSection"]["identificationModule"]["briefTitle"] = "Another title, same date"
    (tmp_path / "b.json").write_text(json.dumps(doc))
    first = load_paths(store, [tmp_path])
    assert (first.inserted, first.records) == (1, 1)
    assert [p.location for p in first.problems] == ["b.json"]
    again = load_paths(store, [tmp_path])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)


# --------------------------------------------------------------------------------------------------------- CLI


def test_cli_load_and_search(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", "load", str(EA), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "Loaded 3 file(s): 3 study record(s)." in out
    assert "Studies: 3 inserted, 0 updated, 0 unchanged; 3 in the store" in out
    assert "Source: ClinicalTrials.gov" in out
    assert main(["trials", "load", str(EA), "--db", url]) == 0
    assert "Studies: 0 inserted, 0 updated, 3 unchanged" in capsys.readouterr().out
    assert main(["trials", "search", "PIK3CA", "--db", url, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["nct_id"] for r in doc["results"]] == ["NCT99000003"]
    assert doc["results"][0]["processed_on"] == "2023-03-03"
    assert main(["trials", "search", "HER2 ADC", "--db", url, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "NCT9900000" in out and "Processed by ClinicalTrials.gov on:" in out


def test_cli_nothing_usable(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("[1, 2")
    assert main(["trials", "load", str(tmp_path / "bad.json"), str(tmp_path / "missing"), "--db", url]) == 2
    captured = capsys.readouterr()
    assert "bad.json: not valid JSON" in captured.out and "missing: no such file or folder" in captured.out
    assert "nothing usable was loaded" in captured.err
    assert main(["trials", "search", "breast", "--db", url]) == 2
    assert "holds no studies" in capsys.readouterr().err


def test_cli_store_errors_are_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", "search", "x", "--db", "not a url"]) == 2
    assert "cannot use the trial store URL" in capsys.readouterr().err
    assert main(["trials", "search", "x", "--db", "postgresql://nobody:secret@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the trial store at postgresql+psycopg://nobody:***@127.0.0.1:1/none" in err
    assert "secret" not in err and "Traceback" not in err
    assert main(["trials", "search", "x", "--db", "mysql://root@127.0.0.1/test"]) == 2
    assert "supports SQLite and PostgreSQL, not mysql" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["trials", "search", "x", "--db", f"sqlite:///{tmp_path}/t.db", "--limit", "0"])
    assert exc.value.code == 2 and "not a positive whole number" in capsys.readouterr().err


def test_database_url_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.delenv("MBCNAV_DATABASE_URL", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / app))
    assert resolve_url() == f"sqlite:///{tmp_path / 'mbcnav' / 'trials.db'}"
    monkeypatch.setenv("MBCNAV_DATABASE_URL", "postgres://u@h/db")
    assert resolve_url() == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"  # --db wins over the environment
    monkeypatch.delenv("MBCNAV_DATABASE_URL")
    with TrialStore() as s:  # the default location is created on first use
        assert s.count() == 0
    assert (tmp_path / "mbcnav" / "trials.db").is_file()


def test_parsed_trials_reads_each_version_once_and_a_new_version_is_parsed_anew(store: TrialStore) -> None:
    from mbcnav.trials.matching_io import parsed_trials

    t = dataclasses.replace(
        one(EA / "NCT99000001-expanded-access.json"),
        eligibility_text="Inclusion Criteria:\n\n* HER2-positive breast cancer\n\nExclusion Criteria:\n\n* Pregnancy",
    )
    store.upsert([t])
    [(got, first)] = list(parsed_trials(store))
    assert got.version == t.version and [c.kind for c in first] == ["inclusion", "exclusion"]
    first.clear()  # a caller's list is its own: the next patient still gets the criteria
    [(_, again)] = list(parsed_trials(store))
    assert [c.text for c in again] == ["HER2-positive breast cancer", "Pregnancy"]
    changed = dataclasses.replace(t, eligibility_text="Inclusion Criteria:\n\n* ER-positive breast cancer")
    store.upsert([changed])  # the changed record's criteria, not the ones decoded for the old version
    [(got, now)] = list(parsed_trials(store))
    assert got.version == changed.version and [c.text for c in now] == ["ER-positive breast cancer"]
