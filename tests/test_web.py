"""The web page (server-rendered HTML): sign-in, the patient list, the patient page, the plain-language view —
access and audit as the API's, escaping, basic accessibility, and the timeline picture as a pure function."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mbcnav.service import web
from mbcnav.service.app import create_app
from mbcnav.service.auth import issue_token
from mbcnav.service.context import TOKEN_COOKIE
from mbcnav.service.settings import Settings
from mbcnav.service.timeline import timeline_events, timeline_svg

from .conftest import ROOT, TODAY

FHIR = ROOT / "examples" / "fhir"
TRIALS = ROOT / "tests" / "data" / "trials"
HOSTILE = "<script>alert('x')</script>"
SVG = "{http://www.w3.org/2000/svg}"


@cache
def _bundle(stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FHIR / f"{stem}.json").read_text())
    return data


def named(stem: str, family: str, given: str | None = None, mrn: str | None = None) -> bytes:
    """An example record (examples/fhir) with a name (and an MRN) on its Patient."""
    doc = copy.deepcopy(_bundle(stem))
    for e in doc["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["name"] = [{"family": family, **({"given": [given]} if given else {})}]
            if mrn:
                e["resource"]["identifier"] = [{"system": "urn:test:mrn", "value": mrn}]
    return json.dumps(doc).encode()


class Web:
    """A running app with three patients, a clinician signed in by cookie, and helpers for the other roles."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.client = TestClient(app, follow_redirects=False)
        self.client.__enter__()
        self.registry = app.state.service.registry
        self.secret = self.registry.token_secret()
        self.clinician_token = issue_token(self.secret, sub="dr-web", role="clinician")
        bearer = {"Authorization": f"Bearer {self.clinician_token}", "content-type": "application/fhir+json"}
        ids = []
        for body in (
            named("07-her2-low-after-cdk46", "Lindqvist", "Anna", "MRN-7"),
            named("02-recurrence-on-adjuvant-ai", "Moreau", "Claire", "MRN-2"),
            named("10-receptor-discordance", HOSTILE, None, "MRN-10"),
        ):
            r = self.client.post("/api/v1/patients", content=body, headers=bearer)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        self.anna, self.claire, self.hostile = ids

    def sign_in(self, role: str = "clinician", patient: str | None = None, sub: str = "dr-web") -> None:
        self.client.cookies.clear()
        tok = (
            self.clinician_token
            if role == "clinician"
            else issue_token(self.secret, sub=sub, role=role, patient=patient)
        )
        r = self.client.get("/signin", params={"token": tok})
        assert r.status_code == 303, r.text

    def audit(self, **kw: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.registry.audit_events(limit=10_000, **kw)[0]
        return events

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_url": f"sqlite:///{tmp_path / 'registry.db'}",
        "trials_db_url": f"sqlite:///{tmp_path / 'trials.db'}",
        "warm_trials": False,
        "rate_per_second": 0,
        "today": TODAY,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Web]:
    w = Web(create_app(settings(tmp_path)))
    w.sign_in()
    yield w
    w.close()


class _Page(HTMLParser):
    """What the accessibility checks read from a page: tags with their attributes, labels, headings."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.labels: set[str] = set()
        self.in_thead = False
        self.thead_th: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag == "thead":
            self.in_thead = True
        if tag == "th" and self.in_thead:
            self.thead_th.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self.in_thead = False


def accessible(html: str) -> _Page:
    """The page passes the structural checks: lang, skip link to main, one h1, labelled fields, alt on images,
    scoped table headers, ids unique."""
    p = _Page()
    p.feed(html)
    tags = p.tags
    assert ("html", {"lang": "en"}) in [(t, {"lang": a.get("lang", "")}) for t, a in tags if t == "html"]
    assert any(t == "a" and a.get("href") == "#main" and "skip-link" in (a.get("class") or "") for t, a in tags)
    assert any(t == "main" and a.get("id") == "main" for t, a in tags)
    assert sum(1 for t, _ in tags if t == "h1") == 1
    for t, a in tags:
        if t in ("input", "textarea", "select") and a.get("type") not in ("hidden", "submit"):
            assert a.get("id") in p.labels or a.get("aria-label"), (t, a)
        if t == "img":
            assert (a.get("alt") or "").strip(), a
    assert all(a.get("scope") == "col" for a in p.thead_th)
    ids = [a["id"] for _, a in tags if a.get("id")]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    return p


# ---- sign-in ----------------------------------------------------------------------------------------------------
def test_a_signed_out_visitor_is_sent_to_the_signin_page(site: Web) -> None:
    site.client.cookies.clear()
    for path in ("/", f"/patients/{site.anna}", f"/patients/{site.anna}/plain"):
        r = site.client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/signin?next="), r.headers["location"]
    r = site.client.get("/signin", params={"next": f"/patients/{site.anna}"})
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "mbcnav auth token --sub NAME --role clinician" in r.text
    assert 'method="post" action="/signin"' in r.text
    assert f'value="/patients/{site.anna}"' in r.text
    accessible(r.text)
    # a signed-out attempt on a patient page is audited, as on the API
    refused = [e for e in site.audit(patient_id=None) if e["outcome"] == "4" and "(unauthenticated)" in json.dumps(e)]
    assert any(e["entity"][0]["description"] == "/patients/{id}" for e in refused)


def test_the_signin_form_sets_the_same_cookie_as_the_link(site: Web) -> None:
    site.client.cookies.clear()
    r = site.client.post("/signin", data={"token": site.clinician_token, "next": f"/patients/{site.anna}"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/patients/{site.anna}"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    link = site.client.get("/signin", params={"token": site.clinician_token}).headers["set-cookie"]
    assert {p.strip().lower() for p in link.split(";")[1:]} == {p.strip().lower() for p in cookie.split(";")[1:]}
    assert site.client.get(f"/patients/{site.anna}").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_signin_never_redirects_off_site(site: Web, target: str) -> None:
    r = site.client.post("/signin", data={"token": site.clinician_token, "next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_a_bad_token_is_refused_with_a_page(site: Web) -> None:
    site.client.cookies.clear()
    for r in (site.client.post("/signin", data={"token": "not-a-token"}), site.client.get("/signin?token=x.y.z")):
        assert r.status_code == 401
        assert "Sign-in failed" in r.text
        assert "set-cookie" not in r.headers
    assert site.client.post("/signin", data={"token": "  "}).status_code == 401
    # an expired or forged cookie: back to sign-in, which says why
    site.client.cookies.set(TOKEN_COOKIE, "forged")
    assert site.client.get("/").status_code == 303
    assert "no longer valid" in site.client.get("/signin").text


def test_signout_clears_the_cookie(site: Web) -> None:
    r = site.client.post("/signout")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signin")
    assert f'{TOKEN_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert site.client.get("/").status_code == 303
    assert "You are signed out" in site.client.get("/signin?signed_out=1").text


# ---- the patient list -------------------------------------------------------------------------------------------
def test_the_patient_list_shows_each_patient_and_searches(site: Web) -> None:
    r = site.client.get("/")
    assert r.status_code == 200
    html = r.text
    accessible(html)
    for pid in (site.anna, site.claire, site.hostile):
        assert f'href="/patients/{pid}"' in html
    assert "Lindqvist, Anna" in html and "Moreau, Claire" in html
    row = html.split("Lindqvist, Anna")[1].split("</tr>")[0]
    assert "HR+/HER2-" in row and "IV" in row and "bone, liver" in row and "<td>2</td>" in row
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", row)
    found = site.client.get("/", params={"q": "lindq"}).text
    assert "Lindqvist, Anna" in found and "Moreau, Claire" not in found
    assert "1 patient matching" in found
    assert "MRN-2" not in found and "Moreau" in site.client.get("/", params={"q": "mrn-2"}).text
    assert "No patients match" in site.client.get("/", params={"q": "nobody-by-this-name"}).text


def test_the_patient_list_pages(site: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "PAGE_SIZE", 2)
    first = site.client.get("/").text
    assert "page 1 of 2" in first
    assert 'href="/?page=2"' in first and 'rel="next"' in first
    second = site.client.get("/?page=2").text
    assert second.count('<th scope="row"><a href="/patients/') == 1
    assert 'aria-current="page" href="/?page=2"' in second
    assert site.client.get("/?page=oops").status_code == 200  # a bad page number is page 1, not an error


# ---- the patient page -------------------------------------------------------------------------------------------
def test_the_patient_page_shows_every_section(site: Web) -> None:
    r = site.client.get(f"/patients/{site.anna}")
    assert r.status_code == 200, r.text
    html = r.text
    p = accessible(html)
    assert "<h1>Lindqvist, Anna</h1>" in html
    assert f"<code>{site.anna}</code>" in html and "Record version" in html
    assert 'type="date" id="as_of" name="as_of"' in html
    for section in ("timeline", "assessment", "options", "response", "trials"):
        assert f'<section id="{section}"' in html
    # the timeline: one inline SVG with a title and a description, and the same events as a table
    assert html.count("<svg ") == 1
    assert 'role="img"' in html and '<title id="timeline-title">' in html and '<desc id="timeline-desc">' in html
    assert "Line 1: letrozole + palbociclib" in html and "Progression on line 1 (RECIST 1.1)" in html
    # the assessment
    for text in ("secondary", "metastasis (liver)", "Unknowns that matter", "germline BRCA1/2 status", "ESR1"):
        assert text in html, text
    # options: grouped by tier, complete regimens, evidence with links, facts used, not offered, tests, referrals
    assert '<h3 id="tier-preferred">Preferred' in html
    assert "Elacestrant (ESR1-mutant, after a CDK4/6 inhibitor)" in html
    assert "EMERALD</strong> (2022)" in html
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/35584336/"' in html
    assert 'href="https://doi.org/10.1200/JCO.22.00338"' in html
    assert "ESR1 mutation (esr1 = True)" in html
    assert "Not offered now" in html and "progression on fulvestrant: not re-challenged" in html
    assert "Tests that would change the answer" in html and "palliative care" in html
    # response: per line, plots from the API routes (alt text on each)
    assert "Best response" in html and "2026-06-01" in html
    imgs = [a for t, a in p.tags if t == "img"]
    assert {a["src"] for a in imgs} == {
        f"/api/v1/patients/{site.anna}/response/plots/spider.png",
        f"/api/v1/patients/{site.anna}/response/plots/swimmer.png",
    }
    # trials: the empty store is said on the page, not an error
    assert "The trial store is empty" in html


def test_the_plot_images_load_with_the_signin_cookie(site: Web) -> None:
    for kind in ("spider", "swimmer"):
        r = site.client.get(f"/api/v1/patients/{site.anna}/response/plots/{kind}.png")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def test_trial_matches_show_verdicts_scores_and_criteria(tmp_path: Path) -> None:
    from mbcnav.trials.load import load_paths
    from mbcnav.trials.store import TrialStore

    store = TrialStore(f"sqlite:///{tmp_path / 'trials.db'}")
    assert load_paths(store, [TRIALS]).records > 0
    store.close()
    w = Web(create_app(settings(tmp_path)))
    try:
        w.sign_in()
        html = w.client.get(f"/patients/{w.anna}").text
        section = html.split('<section id="trials"')[1]
        assert "open studies searched" in section
        assert 'href="https://clinicaltrials.gov/study/NCT99000' in section
        assert re.search(r'class="badge badge-(eligible|possibly_eligible|ineligible)"', section)
        assert "score " in section and "<summary>Criteria (" in section
        assert "ClinicalTrials.gov" in section
        assert "Fit: " in section  # the fit explanation of each study
        assert '<section class="compassionate"' not in section  # a recruiting study fits: no compassionate use
    finally:
        w.close()


def test_compassionate_use_routes_when_no_recruiting_study_fits(tmp_path: Path) -> None:
    from mbcnav.trials.load import load_paths
    from mbcnav.trials.store import TrialStore

    # only an expanded-access record and a late-phase study that no longer recruits (synthetic API v2 fixtures)
    store = TrialStore(f"sqlite:///{tmp_path / 'trials.db'}")
    assert load_paths(store, [TRIALS / "expanded-access" / ".compassionate"]).records == 2
    store.close()
    w = Web(create_app(settings(tmp_path)))
    try:
        w.sign_in()
        section = w.client.get(f"/patients/{w.anna}").text.split('<section id="trials"')[1]
        cu = section.split('<section class="compassionate"')[1].split("</section>")[0]
        assert "Why shown: no recruiting study" in cu
        assert "Form FDA 3926" in cu and "Sources: " in cu
    finally:
        w.close()


def test_a_trial_store_that_cannot_be_opened_is_said_on_the_page(tmp_path: Path) -> None:
    w = Web(create_app(settings(tmp_path, trials_db_url="mysql://nowhere/trials")))
    try:
        w.sign_in()
        r = w.client.get(f"/patients/{w.anna}")
        assert r.status_code == 200
        assert "Trial matching is not available" in r.text
    finally:
        w.close()


def test_as_of_reads_the_record_as_known_then(site: Web) -> None:
    html = site.client.get(f"/patients/{site.anna}", params={"as_of": "2025-01-01"}).text
    assert "<dd>2025-01-01</dd>" in html
    assert "Line 2: fulvestrant" not in html  # started 2026-06-08
    assert "spider.png?as_of=2025-01-01" in html
    for bad in ("2099-01-01", "yesterday"):
        r = site.client.get(f"/patients/{site.anna}", params={"as_of": bad})
        assert r.status_code == 400 and "text/html" in r.headers["content-type"]


def test_a_hostile_name_is_escaped_everywhere(site: Web) -> None:
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    for path in ("/", f"/patients/{site.hostile}", f"/?q={HOSTILE}"):
        html = site.client.get(path).text
        assert "<script" not in html, path
        assert escaped in html or "&lt;script&gt;" in html, path
    site.client.get("/signin")  # still signed in
    plain = site.client.get(f"/patients/{site.hostile}/plain").text
    assert "<script" not in plain and escaped in plain
    assert "<script" not in site.client.get("/signin", params={"next": "/x<script>"}).text


def test_an_unknown_patient_is_a_404_page(site: Web) -> None:
    r = site.client.get("/patients/0000000000000000")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    assert "<h1>Not found</h1>" in r.text


# ---- roles and audit --------------------------------------------------------------------------------------------
def test_a_patient_reaches_only_her_own_record_in_plain_language(site: Web) -> None:
    site.sign_in("patient", patient=site.anna, sub="anna")
    r = site.client.get("/")
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{site.anna}/plain"
    r = site.client.get(f"/patients/{site.anna}")
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{site.anna}/plain"
    assert site.client.get(f"/patients/{site.anna}/plain").status_code == 200
    before = len(site.audit(patient_id=site.claire))
    for path in (f"/patients/{site.claire}", f"/patients/{site.claire}/plain"):
        r = site.client.get(path)
        assert r.status_code == 403, path
        assert "text/html" in r.headers["content-type"] and "<h1>Not allowed</h1>" in r.text
        assert "Moreau" not in r.text
    refused = site.audit(patient_id=site.claire)[: len(site.audit(patient_id=site.claire)) - before]
    assert len(refused) == 2 and all(e["outcome"] == "4" for e in refused)
    # the API keeps its OperationOutcome errors for the same cookie
    api = site.client.get(f"/api/v1/patients/{site.claire}/assessment")
    assert api.status_code == 403 and api.json()["resourceType"] == "OperationOutcome"


def test_admin_sees_no_patient_pages(site: Web) -> None:
    site.sign_in("admin", sub="root")
    assert site.client.get("/").status_code == 403
    assert site.client.get(f"/patients/{site.anna}").status_code == 403


def test_api_errors_stay_operation_outcomes(site: Web) -> None:
    site.client.cookies.clear()
    r = site.client.get("/api/v1/patients")
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    site.sign_in()
    r = site.client.get("/api/v1/patients/0000000000000000/assessment")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/patients/{pid}", "/patients/{id}"),
        ("/patients/{pid}/plain", "/patients/{id}/plain"),
    ],
)
def test_each_page_view_is_one_audit_event(site: Web, path: str, route: str) -> None:
    before = site.audit(patient_id=site.anna)
    assert site.client.get(path.format(pid=site.anna)).status_code == 200
    new = site.audit(patient_id=site.anna)[: len(site.audit(patient_id=site.anna)) - len(before)]
    assert len(new) == 1
    e = new[0]
    assert e["outcome"] == "0" and e["action"] == "R"
    assert e["entity"][0]["description"] == route
    assert e["entity"][0]["what"]["reference"] == f"Patient/{site.anna}"
    assert e["agent"][0]["who"]["identifier"]["value"] == "dr-web"


def test_the_patient_list_view_is_audited(site: Web) -> None:
    before = len(site.audit(subject="dr-web"))
    site.client.get("/")
    events = site.audit(subject="dr-web")
    assert len(events) == before + 1
    assert events[0]["entity"][0]["description"] == "/" and events[0]["subtype"][0]["code"] == "search-type"


# ---- the plain-language view ------------------------------------------------------------------------------------
def test_the_plain_language_view_explains_without_jargon(site: Web) -> None:
    r = site.client.get(f"/patients/{site.anna}/plain")
    assert r.status_code == 200
    html = r.text
    accessible(html)
    assert "“Metastatic” means that the cancer has spread" in html
    assert "hormone receptor-positive and HER2-negative (written HR+/HER2−)" in html
    assert "the bones" in html and "the liver" in html
    assert "Treatment 1</strong>, from 7 October 2024 to 8 June 2026" in html
    assert "Ask your team" in html
    assert "A newer hormone tablet" in html  # the option's patient text, not its clinical title
    assert "(ESR1-mutant, after a CDK4/6 inhibitor)" not in html
    assert "What would tell:" in html and "genetic test" in html
    assert "<dt>Palliative care</dt>" in html
    for jargon in ("ECOG", "RECIST", "PMID", "preferred", "HR+/HER2-<"):
        assert jargon not in html, jargon


def test_every_unknown_of_the_knowledge_base_has_plain_words() -> None:
    data = yaml.safe_load((ROOT / "src" / "mbcnav" / "knowledge" / "unknowns.yaml").read_text())
    items = [str(u["item"]).split("{")[0].strip() for u in data["unknowns"]]
    missing = [i for i in items if not any(i == k or i.startswith(k) for k in web._UNKNOWN_PLAIN)]
    assert not missing


def test_plain_context_on_a_fixture() -> None:
    a = _assessment_fixture()
    o = {
        "options": [
            {"title": "Aromatase inhibitor + CDK4/6", "modality": "systemic", "patient_text": "Hormone tablets.",
             "components": [{"alternatives": ["letrozole", "anastrozole"]}, {"alternatives": ["palbociclib"]}]},
            {"title": "Palliative care", "modality": "referral", "patient_text": "Care for symptoms."},
        ],
        "referrals": [{"to": "clinical_trials"}],
    }  # fmt: skip
    p = web.plain_context(a, o)
    assert p["story"].startswith("The cancer came back") and "on 10 September 2024" in p["story"]
    assert p["sites"] == [
        {"where": "the bones", "when": "found on 10 September 2024"},
        {"where": "the liver", "when": "found in September 2024"},
    ]
    assert p["treatments"][0]["period"] == "from 7 October 2024 to 8 June 2026"
    assert "letrozole (a hormone therapy tablet that lowers oestrogen" in p["treatments"][0]["drugs"]
    assert p["treatments"][1]["status"] == "still going on"
    assert p["early"] == "chemotherapy (doxorubicin) and hormone therapy (tamoxifen)"
    assert p["medicines"] == [{"text": "Hormone tablets.", "names": ["anastrozole", "letrozole", "palbociclib"]}]
    assert p["care"] == [{"text": "Care for symptoms.", "names": []}]
    assert p["trials"] is True
    assert p["unknowns"][0]["what"].startswith("Whether you were born with a change in the BRCA1 or BRCA2")


# ---- static files -----------------------------------------------------------------------------------------------
def test_the_stylesheet_is_served(site: Web) -> None:
    r = site.client.get("/static/mbcnav.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "@media (max-width" in r.text


# ---- the timeline picture (a pure function) ---------------------------------------------------------------------
def _assessment_fixture() -> dict[str, Any]:
    return {
        "as_of": "2026-11-26",
        "presentation": "recurrent",
        "presentation_basis": "first distant metastasis (2024-09-10) 111.3 months after diagnosis (2015-06-03), beyond",
        "first_metastasis_date": "2024-09-10",
        "metastatic": True,
        "stage": {"group": "IV", "initial_group": "IIA"},
        "subtype": {"group": "HR+/HER2-", "er": "positive", "her2_category": "low", "discordance": []},
        "sites": ["bone", "liver"],
        "site_details": [
            {"site": "bone", "detail": "T9", "date": "2024-09-10", "lesions": 4, "status": "active"},
            {"site": "liver", "detail": "<b>segment IV</b>", "date": "2024-09", "lesions": 1, "status": "active"},
        ],
        "therapies": [
            {"drug": "doxorubicin", "setting": "adjuvant", "start": "2015-08-03", "end": "2015-09-28"},
            {"drug": "tamoxifen", "setting": "adjuvant", "start": "2016-02-15", "end": "2020-12-14"},
            {"drug": "letrozole", "setting": "metastatic", "start": "2024-10-07", "end": "2026-06-08"},
        ],
        "exposures": {
            "aromatase_inhibitor": {"drugs": ["letrozole"]},
            "cdk46_inhibitor": {"drugs": ["palbociclib"]},
            "serd": {"drugs": ["fulvestrant"]},
            "endocrine": {"drugs": ["tamoxifen", "letrozole", "fulvestrant"]},
            "chemotherapy": {"drugs": ["doxorubicin"]},
        },
        "lines": [
            {"number": 1, "drugs": ["letrozole", "palbociclib"], "start": "2024-10-07", "end": "2026-06-08",
             "reason_stopped": "progression", "ongoing": False},
            {"number": 2, "drugs": ["fulvestrant<x>"], "start": "2026-06-08", "end": None, "reason_stopped": None,
             "ongoing": True},
        ],
        "unknowns": [{"item": "germline BRCA1/2 status", "why": "…", "action": "…"}],
    }  # fmt: skip


def _response_fixture() -> dict[str, Any]:
    return {
        "lines": [
            {"line": 1, "best_overall_response": "SD", "best_overall_response_detail": "SD",
             "progression_date": "2026-06-01", "timepoints": [{"date": "2025-01-13"}, {"date": "2026-06-01"}]},
            {"line": 2, "best_overall_response": "PR", "best_overall_response_detail": "PR",
             "progression_date": None, "timepoints": [{"date": "2026-08-31"}]},
        ]
    }  # fmt: skip


def test_the_timeline_is_one_accessible_svg() -> None:
    svg = timeline_svg(_assessment_fixture(), _response_fixture())
    root = ET.fromstring(svg)  # well-formed XML: every text escaped
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "timeline-title timeline-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "timeline-title" and title.text == "Disease timeline"
    assert desc is not None and desc.text is not None
    assert "Primary breast cancer diagnosed, 2015-06-03" in desc.text
    assert "Line 1: letrozole + palbociclib, 2024-10-07 to 2026-06-08" in desc.text
    assert "compressed" in desc.text  # nine years before the first metastasis are drawn compressed
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for label in ("Primary diagnosis", "Early treatment", "First metastasis", "Bone", "Liver", "Line 1", "Line 2"):
        assert label in texts, label
    assert any("letrozole + palbociclib · best response SD" in t for t in texts)
    assert any(t.startswith("fulvestrant<x>") for t in texts)  # escaped in the markup, intact as text
    assert "<x>" not in svg and "&lt;x&gt;" in svg
    assert "2020" in texts and "2025" in texts  # a year axis
    # one progression cross (line 1, from the response JSON), an arrow for the ongoing line 2
    crosses = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == "#b3121a"]
    assert len(crosses) == 1 + 1  # the plot's and the legend's


def test_timeline_events_are_in_date_order_with_the_response() -> None:
    events = timeline_events(_assessment_fixture(), _response_fixture())
    kinds = [e.kind for e in events]
    assert kinds == [
        "diagnosis",
        "early_therapy",
        "early_therapy",
        "metastasis",
        "first_metastasis",
        "metastasis",
        "line",
        "progression",
        "line",
        "as_of",
    ]  # fmt: skip  (the liver's "2024-09" sorts by its earliest day, before 2024-09-10)
    assert events[0].date == "2015-06-03" and events[0].details == "stage IIA at diagnosis"
    line2 = events[8]
    assert line2.event == "Line 2: fulvestrant<x>" and line2.details == "best response PR; ongoing"
    # the caller's diagnosis date wins over presentation_basis
    assert timeline_events(_assessment_fixture(), {}, diagnosis="2015-05")[0].date == "2015-05"


def test_the_timeline_copes_with_missing_dates_and_an_empty_record() -> None:
    a = {"as_of": "2026-11-26", "site_details": [{"site": "lung", "date": None, "status": "active"}],
         "lines": [{"number": 1, "drugs": [], "start": None}]}  # fmt: skip
    root = ET.fromstring(timeline_svg(a, {}))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert any("date not recorded" in t for t in texts)
    assert any("start not recorded" in t for t in texts)
    empty = ET.fromstring(timeline_svg({}, {}))
    desc = empty.find(f"{SVG}desc")
    assert desc is not None and desc.text == "No dated events in the record."


def test_every_example_patient_renders(tmp_path: Path) -> None:
    """Each example record (de novo, NED, partial dates, HER2-positive, a man, ECOG 3 …) gives both pages, whole."""
    app = create_app(settings(tmp_path))
    with TestClient(app, follow_redirects=False) as client:
        tok = issue_token(app.state.service.registry.token_secret(), sub="dr-web", role="clinician")
        headers = {"Authorization": f"Bearer {tok}", "content-type": "application/fhir+json"}
        client.cookies.set(TOKEN_COOKIE, tok)
        for path in sorted(FHIR.glob("*.json")):
            r = client.post("/api/v1/patients", content=path.read_bytes(), headers=headers)
            assert r.status_code == 201, (path.name, r.text)
            pid = r.json()["id"]
            page = client.get(f"/patients/{pid}")
            assert page.status_code == 200, path.name
            assert page.text.rstrip().endswith("</html>") and "<svg " in page.text, path.name
            ET.fromstring(re.search(r"<svg .*?</svg>", page.text, re.S).group(0))  # type: ignore[union-attr]
            plain = client.get(f"/patients/{pid}/plain")
            assert plain.status_code == 200, path.name
            assert "Your team may want more information" not in plain.text, path.name  # every unknown in plain words
