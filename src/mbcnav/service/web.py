"""The web page clinicians and patients use (server-rendered, accessible): sign-in, patient list, patient page, and
a plain-language view for the patient.

Every page that shows patient data goes through the same checks as the API (`patient_access` / `role_access`: who
asks, may she, 401/403/404 each audited) and records one AuditEvent once the page has been rendered. The web turns
the errors into pages instead of OperationOutcomes: not signed in → a redirect to /signin; 403/404/400 → an HTML
page with that status. The /api routes keep their JSON errors (nothing here touches them). Jinja2 autoescapes
everything; the timeline SVG escapes its own text (mbcnav.service.timeline). No JavaScript: forms and links only."""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import jinja2
from fastapi import FastAPI, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from mbcnav.dates import DateError, PartialDate
from mbcnav.service.audit import Outcome, audit_event, now
from mbcnav.service.auth import AuthError, Principal
from mbcnav.service.context import (
    TOKEN_COOKIE,
    Access,
    Service,
    patient_access,
    role_access,
    route_template,
    service,
)
from mbcnav.service.errors import ApiError
from mbcnav.service.monitoring_routes import (
    TREND_REPORTS,
    TrendPoint,
    _worklist_patients,
    report_time,
    submit_report,
    symptom_store,
    symptom_trend,
)
from mbcnav.service.timeline import timeline_events, timeline_svg

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation
    from mbcnav.service.registry import PatientRow
    from mbcnav.service.symptoms import StoredReport

log = logging.getLogger("mbcnav.service")
HERE = Path(__file__).resolve().parent
PAGE_SIZE = 25
COOKIE_SECONDS = 12 * 3600
TRIALS_SHOWN = 10

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# ---- template helpers -------------------------------------------------------------------------------------------
def _label(value: object) -> str:
    return "" if value is None else str(value).replace("_", " ")


def _year(citation: object) -> str:
    years = re.findall(r"\b(?:19|20)\d{2}\b", str(citation or ""))
    return years[0] if years else ""


def _stamp(value: object) -> str:
    """'2026-12-04T18:24:06.060Z' → '2026-12-04 18:24 UTC'."""
    text = str(value or "")
    m = re.match(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})", text)
    return f"{m.group(1)} {m.group(2)} UTC" if m else text


def _pct(value: object) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:+.1f}%".replace("-", "−")


def _yesno(value: object) -> str:
    if value is None:
        return "unknown"
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


ENV.filters.update(label=_label, year=_year, stamp=_stamp, pct=_pct, yesno=_yesno)


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    html = ENV.get_template(name).render(principal=principal, **context)
    return HTMLResponse(html, status_code=status)


_ERROR_TITLES = {
    400: "This page cannot be shown",
    403: "Not allowed",
    404: "Not found",
    503: "Not available",
    500: "Something went wrong",
}


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    title = _ERROR_TITLES.get(status, "This page cannot be shown")
    explain = None
    if message == CROSS_SITE:
        explain = "Nothing was saved. Open the page on this site again and send the form from there."
    elif status == 403:
        explain = "Your role or care team does not include this record; the attempt has been recorded."
    return _render(request, "error.html", status=status, title=title, status_code=status, message=message,
                   explain=explain)  # fmt: skip


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never another origin: '//host', '/\\host', 'https://…')."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n"):
        return "/"
    return target


def _to_signin(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/signin?" + urlencode({"next": here}), status_code=303)


def _finish(request: Request, outcome: Outcome, message: str) -> None:
    """Record the failed request's AuditEvent when the access check has not already done so."""
    access = getattr(request.state, "access", None)
    if access is None or access.recorded:
        return
    try:
        access.audit(outcome, message)
    except Exception:  # the audit store failing must not hide the original error
        log.error("audit not recorded for a failed web request")


def _audit_unauthenticated(request: Request, exc: AuthError) -> None:
    """A signed-out attempt on patient data is audited, as the API does for /api/v1/patients."""
    route = route_template(request)
    if not route.startswith("/patients"):  # landing on the list signed out is not an attempt on a record
        return
    svc = service(request)
    pid = request.path_params.get("id")
    try:
        svc.registry.audit(
            audit_event(
                action="R",
                outcome="4",
                subject="(unauthenticated)",
                role="none",
                route=route,
                patient_id=pid if isinstance(pid, str) and svc.registry.patient(pid) else None,
                description=str(exc),
            ),
            None,
        )
    except Exception:
        log.error("audit not recorded for an unauthenticated web request")


def _web(request: Request, page: Callable[[], Response]) -> Response:
    """Run a page: not signed in → /signin; refused or not found → an HTML error page with that status."""
    try:
        return page()
    except AuthError as exc:
        _audit_unauthenticated(request, exc)
        return _to_signin(request)
    except ApiError as exc:
        _finish(request, "4" if exc.status < 500 else "8", exc.message)
        return _error_page(request, exc.status, exc.message)
    except Exception as exc:  # a defect: a page, no traceback, no patient data in the log
        log.error("web page error: %s", type(exc).__name__)
        _finish(request, "8", f"internal error ({type(exc).__name__})")
        return _error_page(request, 500, f"internal error ({type(exc).__name__}); please report it")


def _page_number(text: str | None) -> int:
    try:
        return max(1, min(int(text or "1"), 100_000))
    except ValueError:
        return 1


def _as_of(svc: Service, text: str | None) -> date | None:
    if not text or not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(400, "the as-of date must be a date (YYYY-MM-DD)") from None
    if day > svc.today():
        raise ApiError(400, f"as of {day.isoformat()} is in the future")
    return day


def _diagnosis(ev: Evaluation) -> str | None:
    """The first primary breast cancer diagnosis date (not a key of the assessment JSON)."""
    dated = [p.diagnosis_date for p in ev.record.primaries if p.diagnosis_date is not None]
    return str(min(dated, key=lambda d: d.earliest)) if dated else None


def _trials(svc: Service, ev: Evaluation) -> dict[str, Any]:
    """The top matches from the trial store, or the reason there are none (never an error of the page)."""
    from mbcnav.trials.match import OPEN_STATUSES
    from mbcnav.trials.matching_io import parsed_trials

    try:
        store = svc.trial_store()
        if store.count() == 0:
            return {"problem": "The trial store is empty: load studies with `mbcnav trials load DIR`."}
        report = ev.match_trials(parsed_trials(store, status=list(OPEN_STATUSES)), top=TRIALS_SHOWN)
        return {"report": report.as_json()}
    except ApiError as exc:
        return {"problem": f"Trial matching is not available: {exc.message}."}
    except Exception as exc:
        log.warning("trial matching failed on the web page: %s", type(exc).__name__)
        return {"problem": f"Trial matching failed ({type(exc).__name__}); the rest of the page is unaffected."}


_TIERS = (("preferred", "Preferred"), ("recommended", "Recommended"), ("consider", "Consider"))


def _tiers(options: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, list[Mapping[str, Any]]]]:
    known = {t for t, _ in _TIERS}
    groups = [(t, label, [o for o in options if o.get("tier") == t]) for t, label in _TIERS]
    other = [o for o in options if o.get("tier") not in known]
    if other:
        groups.append(("other", "Other", other))
    return [g for g in groups if g[2]]


# ---- the plain-language view ------------------------------------------------------------------------------------
_SITES_PLAIN = {
    "bone": "the bones",
    "liver": "the liver",
    "lung": "the lungs",
    "pleura": "the lining around the lungs (the pleura)",
    "brain": "the brain",
    "leptomeninges": "the thin layers covering the brain and spinal cord (the leptomeninges)",
    "distant_lymph_node": "lymph nodes (small glands) away from the breast and armpit",
    "skin_soft_tissue": "the skin or soft tissues",
    "peritoneum": "the lining of the tummy (the peritoneum)",
    "other": "another part of the body",
}

# Most specific first: a drug is described by the first class of the assessment's `exposures` that lists it.
_CLASS_PLAIN = (
    (
        "her2_adc",
        "an antibody-drug conjugate that targets HER2 (an antibody that carries chemotherapy to cancer cells)",
    ),
    ("trop2_adc", "an antibody-drug conjugate (an antibody that carries chemotherapy to cancer cells)"),
    ("adc", "an antibody-drug conjugate (an antibody that carries chemotherapy to cancer cells)"),
    ("her2_antibody", "an antibody that blocks the HER2 protein"),
    ("her2_tki", "a tablet that blocks the HER2 protein"),
    ("cdk46_inhibitor", "a targeted tablet that slows the division of cancer cells (a CDK4/6 inhibitor)"),
    ("pi3k_inhibitor", "a targeted tablet that blocks a growth signal inside cancer cells (a PI3K inhibitor)"),
    ("akt_inhibitor", "a targeted tablet that blocks a growth signal inside cancer cells (an AKT inhibitor)"),
    ("mtor_inhibitor", "a targeted tablet that blocks a growth signal inside cancer cells (an mTOR inhibitor)"),
    ("parp_inhibitor", "a targeted tablet for cancers linked to an inherited BRCA gene change (a PARP inhibitor)"),
    ("immunotherapy", "immunotherapy (a medicine that helps the immune system attack the cancer)"),
    ("oral_serd", "a hormone-blocking tablet"),
    ("serd", "a hormone-blocking injection"),
    ("aromatase_inhibitor", "a hormone therapy tablet that lowers oestrogen (an aromatase inhibitor)"),
    ("serm", "a hormone therapy tablet that blocks oestrogen"),
    ("ovarian_suppression", "a medicine that stops the ovaries making oestrogen"),
    ("progestin", "a hormone therapy"),
    ("endocrine", "a hormone therapy"),
    ("chemotherapy", "chemotherapy"),
    ("bone_modifying", "a medicine that strengthens the bones"),
    ("anti_vegf", "a medicine that blocks the blood supply that tumours build"),
    ("tumour_agnostic", "a targeted medicine chosen because of a gene change in the cancer"),
)

_STOPPED_PLAIN = {
    "progression": "stopped because tests showed the cancer was growing",
    "toxicity": "stopped because of side effects",
    "completed": "finished as planned",
    "patient_choice": "stopped by your choice",
    "other": "stopped",
}

# What is not yet known, keyed by the assessment's `unknowns[].item` (knowledge/unknowns.yaml): (what, which test).
_UNKNOWN_PLAIN: dict[str, tuple[str, str]] = {
    "metastatic status": (
        "Whether the cancer has spread is not clear from your records.",
        "Scans, or a biopsy (a small sample of tissue looked at under a microscope).",
    ),
    "de novo vs recurrent": (
        "Whether the cancer had already spread when it was first found, or came back later, is not clear.",
        "The dates of your first diagnosis and of the scans that showed the spread.",
    ),
    "ER status": (
        "Whether the cancer cells have oestrogen receptors is not known.",
        "A hormone receptor test on cancer tissue, ideally from a biopsy of a place the cancer has spread to.",
    ),
    "PR status": (
        "Whether the cancer cells have progesterone receptors is not known.",
        "A hormone receptor test on cancer tissue.",
    ),
    "HER2 status": (
        "Whether the cancer cells make extra HER2 protein is not known.",
        "A HER2 test on cancer tissue.",
    ),
    "HER2 ISH result": (
        "The HER2 test was borderline, so it is not yet clear whether the cancer has extra HER2.",
        "A second laboratory test on the same sample that counts the HER2 genes (called ISH).",
    ),
    "HER2 IHC score": (
        "The exact HER2 level (zero, 'ultralow' or 'low') is not known; it matters for some newer medicines.",
        "A pathologist looking again at the HER2 test, on the most recent biopsy.",
    ),
    "HER2-ultralow or low vs null": (
        "Whether the cancer has a very small amount of HER2 or none at all is not known; it matters for some "
        "newer medicines.",
        "A pathologist looking again at the HER2 test, on the most recent biopsy.",
    ),
    "HER2-low primary, HER2-0 metastasis": (
        "The first tumour showed a low level of HER2 but the later sample showed none; which one fits you matters "
        "for some newer medicines.",
        "A pathologist looking again at the HER2 tests of both samples.",
    ),
    "biopsy of a metastatic site": (
        "The cancer that has spread has not been tested directly; it can change over time.",
        "A biopsy of one of the places the cancer has spread to.",
    ),
    "menopausal status": (
        "Whether you have been through the menopause is not clear from your records; it affects which hormone "
        "medicines fit.",
        "Questions about your periods and any operations, and sometimes a blood test of hormone levels.",
    ),
    "ECOG performance status": (
        "How the illness affects your daily activities is not recorded; it helps decide which treatments suit you.",
        "A conversation with your team about your daily activities and energy.",
    ),
    "germline BRCA1/2 status": (
        "Whether you were born with a change in the BRCA1 or BRCA2 genes is not known; it can open other "
        "treatments and can matter for your family.",
        "A genetic test of blood or saliva, with a genetic counsellor.",
    ),
    "PD-L1 CPS": (
        "Whether the cancer carries a marker called PD-L1 is not known; it decides whether immunotherapy may help.",
        "A PD-L1 test on cancer tissue.",
    ),
    "ESR1 / PIK3CA / AKT1 / PTEN status": (
        "Whether the cancer has changes in certain genes (called ESR1, PIK3CA, AKT1 and PTEN) that some newer "
        "targeted medicines act on is not known.",
        "A blood test that looks for cancer DNA (a 'liquid biopsy'), or a test on tumour tissue.",
    ),
    "PIK3CA status before first line": (
        "Whether the cancer has a change in a gene called PIK3CA is not known; some targeted medicines act on it.",
        "A blood test that looks for cancer DNA (a 'liquid biopsy'), or a test on tumour tissue.",
    ),
    "tumour-agnostic markers": (
        "Whether the cancer has rare gene changes that some medicines target, whatever the cancer type, is not known.",
        "A broad gene test of the cancer (genomic profiling).",
    ),
    "sites of metastasis": (
        "Exactly where the cancer has spread is not recorded.",
        "Your scan reports.",
    ),
    "date of metastasis": (
        "When the spread was found is not recorded for every place.",
        "The dates of your scans.",
    ),
    "exact dates": (
        "Some dates in your records are incomplete.",
        "The full dates of your diagnosis and scans.",
    ),
    "endocrine resistance": (
        "How the cancer has responded to hormone therapy so far is not clear from your records.",
        "The dates of your hormone treatments and of any growth of the cancer.",
    ),
}

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("Metastatic (secondary) breast cancer", "Breast cancer that has spread from the breast to other parts of the "
     "body. It is still breast cancer: breast cancer in the bones is not bone cancer."),
    ("Hormone receptors (ER and PR)", "Switches on cancer cells that respond to the hormones oestrogen (ER) and "
     "progesterone (PR). 'Hormone receptor-positive' (HR+) cancers can be treated with hormone therapy."),
    ("HER2", "A protein on the surface of cells that can drive growth. 'HER2-positive' cancers make a lot of it; "
     "'HER2-negative' cancers do not. 'HER2-low' means a small amount."),
    ("Triple-negative", "A cancer without oestrogen receptors, progesterone receptors or extra HER2."),
    ("Hormone (endocrine) therapy", "Medicines that lower oestrogen or block its effect on cancer cells."),
    ("Targeted therapy", "Medicines that act on a particular feature of cancer cells, such as HER2 or a gene change."),
    ("Chemotherapy", "Medicines that kill dividing cells, given as a drip or as tablets."),
    ("Antibody-drug conjugate", "An antibody that attaches to cancer cells and carries a chemotherapy medicine "
     "into them."),
    ("Immunotherapy", "Medicines that help the body's immune system recognise and attack cancer cells."),
    ("Line of treatment", "One treatment plan used until it is stopped or changed; the next plan is the next line."),
    ("Biopsy", "A small sample of tissue taken to be looked at under a microscope and tested."),
    ("Liquid biopsy", "A blood test that looks for DNA shed by the cancer, to find gene changes."),
    ("Clinical trial", "A research study that tests new treatments or new ways of using existing ones. Taking part "
     "is always your choice."),
    ("Palliative care", "Care that eases symptoms such as pain and supports you and your family. It can start at "
     "any time, alongside treatment of the cancer, not only near the end of life."),
)  # fmt: skip


def _plain_date(text: object) -> str:
    try:
        d = PartialDate.parse(text)
    except DateError:
        return "an unrecorded date"
    if d.precision == "year":
        return str(d.earliest.year)
    month = d.earliest.strftime("%B")
    return f"{month} {d.earliest.year}" if d.precision == "month" else f"{d.earliest.day} {month} {d.earliest.year}"


def _plain_when(text: object) -> str:
    """'on 10 September 2024', 'in September 2024', 'in 2024'."""
    words = _plain_date(text)
    return f"on {words}" if words[:1].isdigit() and " " in words else f"in {words}"


_EARLY_PLAIN = (
    ("her2_directed", "HER2-targeted treatment"),
    ("endocrine", "hormone therapy"),
    ("chemotherapy", "chemotherapy"),
    ("cdk46_inhibitor", "a targeted tablet"),
    ("parp_inhibitor", "a targeted tablet"),
    ("immunotherapy", "immunotherapy"),
    ("bone_modifying", "a bone-strengthening medicine"),
)


def _early_plain(a: Mapping[str, Any]) -> str:
    """(Neo)adjuvant treatment after the first diagnosis: 'chemotherapy (a, b) and hormone therapy (c)'."""
    drugs = list(
        dict.fromkeys(
            str(t.get("drug")) for t in a.get("therapies") or [] if t.get("setting") in ("neoadjuvant", "adjuvant")
        )
    )
    exposures = a.get("exposures") or {}
    groups: dict[str, list[str]] = {}
    for drug in drugs:
        kind = next(
            (text for cls, text in _EARLY_PLAIN if drug in ((exposures.get(cls) or {}).get("drugs") or [])), "other"
        )
        groups.setdefault(kind, []).append(drug)
    parts = [f"{kind} ({', '.join(names)})" if kind != "other" else ", ".join(names) for kind, names in groups.items()]
    return _and(parts)


def _subtype_plain(a: Mapping[str, Any]) -> list[str]:
    s = a.get("subtype") or {}
    group = s.get("group")
    out: list[str] = []
    if group == "HR+/HER2-":
        out.append(
            "The cancer is hormone receptor-positive and HER2-negative (written HR+/HER2−). This means the cancer "
            "cells have receptors for the hormones oestrogen and/or progesterone and use them to grow, so medicines "
            "that lower or block these hormones (hormone therapy) can work against it. The cells do not make extra "
            "amounts of a protein called HER2."
        )
    elif group in ("HR+/HER2+", "HR-/HER2+"):
        hr = (
            "The cells also have receptors for the hormones oestrogen and/or progesterone (hormone receptor-positive), "
            "so hormone therapy can be part of treatment."
            if group == "HR+/HER2+"
            else "The cells do not have hormone receptors (hormone receptor-negative)."
        )
        out.append(
            f"The cancer is HER2-positive (written {group.replace('-', '−')}). This means the cancer cells make extra "
            "amounts of a protein called HER2, which drives their growth; medicines that target HER2 can work against "
            f"it. {hr}"
        )
    elif group == "TNBC":
        out.append(
            "The cancer is triple-negative. This means the cancer cells have no receptors for the hormones oestrogen "
            "or progesterone and do not make extra amounts of a protein called HER2. Hormone therapy and HER2 "
            "medicines do not work against it; chemotherapy, immunotherapy and other medicines can."
        )
    else:
        out.append(
            "The tests that tell which type of breast cancer this is (hormone receptors and HER2) are not complete in "
            "your records yet."
        )
    if s.get("er") == "low":
        out.append(
            "The oestrogen receptor is present only at a low level (called ER-low). Such cancers often behave more "
            "like triple-negative cancers; your team will explain what this means for you."
        )
    if group in ("HR+/HER2-", "TNBC") and s.get("her2_category") in ("low", "ultralow"):
        level = "low" if s.get("her2_category") == "low" else "very low ('ultralow')"
        out.append(
            f"The HER2 level is {level} but not zero. This matters because some newer medicines can work in cancers "
            "with a little HER2."
        )
    if s.get("discordance"):
        out.append(
            "Tests on a sample from a place the cancer spread to gave a different result from the original breast "
            "tumour. This can happen; your team will explain which result guides treatment."
        )
    return out


def _drug_plain(drug: str, exposures: Mapping[str, Any]) -> str:
    for cls, text in _CLASS_PLAIN:
        e = exposures.get(cls)
        if isinstance(e, Mapping) and drug in (e.get("drugs") or []):
            return f"{drug} ({text})"
    return drug


def _and(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return items[0] if items else ""
    return ", ".join(items[:-1]) + " and " + items[-1]


def plain_context(a: Mapping[str, Any], o: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the plain-language view says, from the assessment and options JSON (no abbreviation unexplained,
    no promise of an outcome; options framed as topics to ask the care team about)."""
    exposures = a.get("exposures") or {}
    metastatic = a.get("metastatic")
    presentation = a.get("presentation")
    first = a.get("first_metastasis_date")
    if presentation == "de_novo":
        story = "The cancer had already spread when it was first found."
    elif presentation == "recurrent":
        when = f" {_plain_when(first)}" if first else ""
        story = f"The cancer came back some time after the first breast cancer and was found to have spread{when}."
    elif metastatic is False:
        story = "Your records do not show that the cancer has spread."
    else:
        story = "Your records do not make clear when the cancer spread."
    sites = []
    for s in a.get("site_details") or []:
        if s.get("status") == "resolved":
            continue
        name = _SITES_PLAIN.get(str(s.get("site")), _label(s.get("site")))
        sites.append(
            {"where": name, "when": f"found {_plain_when(s['date'])}" if s.get("date") else "date not recorded"}
        )
    treatments = []
    for line in a.get("lines") or []:
        drugs = [_drug_plain(str(d), exposures) for d in line.get("drugs") or []]
        start = _plain_date(line["start"]) if line.get("start") else "an unrecorded date"
        if line.get("ongoing"):
            period, status = f"since {start}", "still going on"
        else:
            end = _plain_date(line["end"]) if line.get("end") else "an unrecorded date"
            period = f"from {start} to {end}"
            status = _STOPPED_PLAIN.get(str(line.get("reason_stopped")), "stopped")
        treatments.append({"number": line.get("number"), "period": period, "drugs": _and(drugs), "status": status})
    early = _early_plain(a)
    medicines: list[dict[str, Any]] = []
    care: list[dict[str, Any]] = []
    for opt in o.get("options") or []:
        names = sorted({alt for c in opt.get("components") or [] for alt in c.get("alternatives") or []})
        entry = {"text": " ".join(str(opt.get("patient_text") or opt.get("title") or "").split()), "names": names}
        (medicines if opt.get("modality", "systemic") == "systemic" else care).append(entry)
    unknowns = []
    for u in a.get("unknowns") or []:
        item = str(u.get("item") or "")
        known = next((v for k, v in _UNKNOWN_PLAIN.items() if item == k or item.startswith(k)), None)
        if known:
            unknowns.append({"what": known[0], "test": known[1]})
        else:
            unknowns.append({"what": f"Your team may want more information ({item}).", "test": "Ask your team."})
    return {
        "metastatic": metastatic,
        "story": story,
        "subtype": _subtype_plain(a),
        "sites": sites,
        "treatments": treatments,
        "early": early,
        "medicines": medicines,
        "care": care,
        "trials": any(r.get("to") == "clinical_trials" for r in o.get("referrals") or []),
        "unknowns": unknowns,
        "glossary": GLOSSARY,
    }


# ---- monitoring: the symptom questionnaire, the follow-up plan, the care team's alerts ----------------------------
CROSS_SITE = "this form must be sent from a page of this site"
KEY_FIELD = "idempotency_key"
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,200}$")
MAX_FORM_BYTES = 64 * 1024
MAX_NOTE = 1000
REPORTS_SHOWN = 10
_LEVEL_HEADING = {"emergency": "Call now", "same_day": "Call today", "routine": "No call needed today"}
# Short names of the yes/no questions, for the tables (the questions themselves are in knowledge/triage.yaml).
_SHORT = {
    "feverish": "hot and cold or shivery",
    "confusion": "confused or muddled",
    "seizure": "a fit (seizure)",
    "back-pain-new": "back pain new, worse or at night",
    "limb-weakness": "weak arms or legs, or difficulty walking",
    "numbness": "numbness or tingling",
    "bladder-bowel": "bladder or bowel control",
    "leg-swelling": "one leg swollen, painful or red",
    "new-lump": "a new lump",
}


def _same_site(request: Request) -> None:
    """A form POST must come from a page of this site: its Origin header (else its Referer) names this host. The
    sign-in cookie is SameSite=Strict too; this is the second lock. The form pages set the referrer policy
    `same-origin`, so that the browser sends the Origin (with `no-referrer` it would send "null")."""
    host = (request.headers.get("host") or "").strip().lower()
    origin = request.headers.get("origin")
    source = origin if origin and origin.strip().lower() != "null" else request.headers.get("referer")
    if not host or not source:
        raise ApiError(403, CROSS_SITE)
    parts = urlsplit(source.strip())
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host:
        raise ApiError(403, CROSS_SITE)


async def _read_form(request: Request) -> dict[str, str] | ApiError:
    """The fields of a url-encoded form (at most 64 KiB, each field once), or the error to show once the caller's
    access has been checked."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/x-www-form-urlencoded", ""):  # a form without fields may come without a type
        return ApiError(415, "send the form as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return ApiError(413, "the form is too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return ApiError(413, "the form is too large")
        chunks.append(chunk)
    try:
        pairs = parse_qsl(b"".join(chunks).decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return ApiError(400, "the form could not be read")
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            return ApiError(400, f"the form sent {name!r} twice")
        fields[name] = value
    return fields


def _questions(answers: Mapping[str, str]) -> list[dict[str, Any]]:
    """The Questionnaire's items for the form, each with the answer already given (when the form is shown again)."""
    from mbcnav.monitoring.questionnaire import questionnaire

    out = []
    for item in questionnaire()["item"]:
        options = [
            {"code": str(o["valueCoding"]["code"]), "label": str(o["valueCoding"]["display"])}
            for o in item.get("answerOption") or []
        ]
        out.append(
            {
                "link": item["linkId"],
                "text": item["text"],
                "number": item["type"] in ("decimal", "integer", "quantity"),
                "options": options,
                "value": answers.get(item["linkId"], ""),
            }
        )
    return out


def _questionnaire_response(pid: str, fields: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The form as a FHIR QuestionnaireResponse: each answer the item's own answerOption coding (or °C), an item left
    empty left out (never defaulted); and the problems (field id, message) that keep it from being sent."""
    from mbcnav.monitoring.questionnaire import QUESTIONNAIRE_URL, questionnaire

    q = questionnaire()
    items: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    for item in q["item"]:
        link = str(item["linkId"])
        raw = fields.get(link, "").strip()
        if not raw:
            continue
        answer: dict[str, Any]
        if item["type"] in ("decimal", "integer", "quantity"):
            try:
                value = float(raw.replace(",", "."))
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or not 25.0 <= value <= 45.0:
                message = f"The temperature “{raw[:20]}” is not a body temperature in °C (for example 37.5)."
                problems.append({"field": f"q-{link}-value", "message": message + " Correct it or leave it empty."})
                continue
            answer = {"valueDecimal": round(value, 1)}
        else:
            coding = next((o["valueCoding"] for o in item["answerOption"] if o["valueCoding"]["code"] == raw), None)
            if coding is None:
                problems.append({"field": f"q-{link}", "message": f"“{item['text']}”: choose one of the answers."})
                continue
            answer = {"valueCoding": dict(coding)}
        items.append({"linkId": link, "text": item["text"], "answer": [answer]})
    if not items and not problems:
        problems.append({"field": "questions", "message": "Answer at least one question before sending."})
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_URL}|{q['version']}",
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": now(),
        "item": items,
    }
    return response, problems


def _symptoms_form(
    request: Request,
    row: PatientRow,
    pid: str,
    key: str,
    answers: Mapping[str, str] | None = None,
    problems: Sequence[Mapping[str, str]] = (),
    status: int = 200,
) -> HTMLResponse:
    from mbcnav.knowledge.kb import triage_kb

    principal = request.state.principal
    return _render(
        request,
        "symptoms.html",
        status=status,
        title="How are you feeling?",
        row=row,
        pid=pid,
        own=principal.role == "patient",
        questions=_questions(answers or {}),
        key_field=KEY_FIELD,
        key=key,
        problems=list(problems),
        emergency_advice=" ".join(str(triage_kb().levels["emergency"].advice).split()),
    )


def _answer_words(item: Mapping[str, Any]) -> str:
    answer = (item.get("answer") or [{}])[0]
    if "valueDecimal" in answer:
        return f"{answer['valueDecimal']} °C"
    return str((answer.get("valueCoding") or {}).get("display") or "")


def _short(link: str) -> str:
    return _SHORT.get(link, link.replace("-", " "))


def _answers_text(answers: Mapping[str, Any]) -> str:
    """A report's answers in a few words: what was above "none" or "yes", and the temperature."""
    parts = []
    for link, value in answers.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            parts.append(f"temperature {value} °C")
        elif value in ("mild", "moderate", "severe"):
            parts.append(f"{_short(link)}: {value}")
        elif value == "yes":
            parts.append(f"{_short(link)}: yes")
    return "; ".join(parts) or "nothing above “none” or “no”"


def _alert_state(alert: Mapping[str, Any] | None) -> str:
    if alert is None:
        return "no alert"
    if alert.get("acknowledged_at"):
        return f"acknowledged by {alert.get('acknowledged_by')} at {_stamp(alert['acknowledged_at'])}"
    return "open"


def _delivery(alert: Mapping[str, Any]) -> str:
    if alert.get("delivered_at"):
        to = str(alert.get("delivered_to") or "")
        where = "on the work list" if to == "work list" else f"sent to {to}"
        return f"{where} since {_stamp(alert['delivered_at'])}"
    return "not yet delivered (the outbox retries until it is)"


def _monitoring(request: Request, pid: str, ev: Evaluation, day: date | None) -> dict[str, Any]:
    """The patient page's Monitoring section: the follow-up plan, the latest symptom reports, the trend's rows."""
    from mbcnav.monitoring.plan import plan_json

    plan = plan_json(ev)
    store = symptom_store(request)
    stored = store.reports(pid, TREND_REPORTS)
    points: list[TrendPoint] = symptom_trend(stored, day)
    alerts = {a["id"]: a for a in store.alerts(open_only=False, patients={pid}, limit=10_000)}
    shown: list[StoredReport] = [r for r in stored if day is None or report_time(r).date() <= day][:REPORTS_SHOWN]
    reports = [
        {
            "when": report_time(r).strftime("%Y-%m-%d %H:%M UTC"),
            "level": r.level,
            "answers": _answers_text(r.triage.get("answers") or {}),
            "reasons": r.triage.get("reasons") or [],
            "alert": _alert_state(alerts.get(r.alert_id) if r.alert_id else None),
        }
        for r in shown
    ]
    trend = [
        {"when": p.when.strftime("%Y-%m-%d %H:%M UTC"), "level": p.level, "answers": _answers_text(p.answers),
         "unanswered": sum(1 for _ in _unanswered(p.answers))}
        for p in reversed(points)
    ]  # fmt: skip
    return {"plan": plan, "reports": reports, "trend": trend, "total": len(points)}


def _unanswered(answers: Mapping[str, Any]) -> list[str]:
    from mbcnav.knowledge.kb import triage_kb

    return [q.link_id for q in triage_kb().questions if q.link_id not in answers]


def _acknowledge(access: Access, alert_id: str, note: str | None) -> bool:
    """Acknowledge one alert of the caller's work list, as the API route does (who and when, with its audit)."""
    request = access.request
    store = symptom_store(request)
    pid = store.alert_patient(alert_id)
    allowed = _worklist_patients(request, access)
    if pid is None or (allowed is not None and pid not in allowed):
        raise ApiError(404, "no such alert")
    access.patient_id = pid
    event = audit_event(
        action="U", outcome="0", subject=access.principal.subject, role="clinician", route=access.route, patient_id=pid
    )
    changed = store.acknowledge(alert_id, access.principal.subject, note, event)
    access.recorded = True
    return changed


# ---- the routes -------------------------------------------------------------------------------------------------
def _signed_in(request: Request) -> tuple[Principal | None, str | None]:
    """The sign-in cookie's user (not recorded as seen), or why it is not valid."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None, None
    svc = service(request)
    try:
        principal = svc.verifier.verify(token)
    except AuthError as exc:
        return None, str(exc)
    if svc.registry.revoked(principal.subject):
        return None, "this user's access has been revoked"
    return principal, None


def _sign_in(request: Request, token: str, target: str | None) -> Response:
    svc = service(request)
    token = token.strip()
    try:
        if not token:
            raise AuthError("paste a token into the box")
        principal = svc.verifier.verify(token)
        if svc.registry.revoked(principal.subject):
            raise AuthError("this user's access has been revoked")
    except AuthError as exc:
        return _render(request, "signin.html", status=401, title="Sign in", error=str(exc),
                       next=_safe_next(target), signed_out=False, cookie_problem=None)  # fmt: skip
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        max_age=COOKIE_SECONDS,
        secure=request.url.scheme == "https",
    )
    return response


def _plain_url(pid: str, as_of: str | None) -> str:
    query = f"?{urlencode({'as_of': as_of})}" if as_of else ""
    return f"/patients/{quote(pid, safe='')}/plain{query}"


def install(app: FastAPI) -> None:
    """Add the web page's routes and its static files (/static) to the app."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/signin", include_in_schema=False, response_model=None)
    def signin(
        request: Request,
        token: str | None = None,
        target: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
        signed_out: Annotated[str | None, Query(alias="signed_out")] = None,
    ) -> Response:
        if token is not None:
            return _sign_in(request, token, target)
        principal, problem = _signed_in(request)
        request.state.principal = principal
        return _render(request, "signin.html", title="Sign in", error=None, next=_safe_next(target),
                       signed_out=signed_out is not None, cookie_problem=problem)  # fmt: skip

    @app.post("/signin", include_in_schema=False, response_model=None)
    def signin_form(
        request: Request,
        token: Annotated[str, Form(max_length=20_000)] = "",
        target: Annotated[str | None, Form(alias="next", max_length=2000)] = None,
    ) -> Response:
        return _sign_in(request, token, target)

    @app.api_route("/signout", methods=["GET", "POST"], include_in_schema=False, response_model=None)
    def signout() -> Response:
        response = RedirectResponse("/signin?signed_out=1", status_code=303)
        response.delete_cookie(TOKEN_COOKIE, httponly=True, samesite="strict")
        return response

    @app.get("/", include_in_schema=False, response_model=None)
    def patient_list(
        request: Request,
        q: Annotated[str | None, Query(max_length=200)] = None,
        page: str | None = None,
    ) -> Response:
        def render() -> Response:
            access = role_access(request, ("clinician", "patient"))
            p = access.principal
            if p.role == "patient":  # her own record, in plain language
                return RedirectResponse(_plain_url(p.patient or "", None), status_code=303)
            svc = service(request)
            only = svc.registry.care_team_patients(p.subject) if svc.settings.clinician_scope == "care-team" else None
            query = (q or "").strip()[:200]
            number = _page_number(page)
            rows, total = svc.registry.patients(
                query=query or None, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE, only=only
            )
            pages = max(1, math.ceil(total / PAGE_SIZE))

            def link(n: int) -> str:
                return "/?" + urlencode({k: v for k, v in (("q", query), ("page", str(n))) if v})

            html = _render(request, "patients.html", title="Patients", rows=rows, total=total, q=query,
                           page=number, pages=pages, page_size=PAGE_SIZE, link=link)  # fmt: skip
            access.audit(subtype="search-type")
            return html

        return _web(request, render)

    @app.get("/patients/{id}", include_in_schema=False, response_model=None)
    def patient_page(request: Request, id: str, as_of: str | None = None) -> Response:
        def render() -> Response:
            access = patient_access(request, id)
            if access.principal.role == "patient":
                return RedirectResponse(_plain_url(id, as_of), status_code=303)
            svc = service(request)
            day = _as_of(svc, as_of)
            access.version, ev = svc.evaluation(id, day)
            row = svc.registry.patient(id)
            assert row is not None
            a, o, r = ev.assessment_json(), ev.options_json(), ev.response_json()
            dx = _diagnosis(ev)
            html = _render(
                request,
                "patient.html",
                title=row.display,
                row=row,
                pid=id,
                version=access.version,
                as_of=day.isoformat() if day else "",
                today=svc.today().isoformat(),
                a=a,
                o=o,
                r=r,
                tiers=_tiers(o.get("options") or []),
                timeline=Markup(timeline_svg(a, r, diagnosis=dx)),
                events=timeline_events(a, r, diagnosis=dx),
                trials=_trials(svc, ev),
                has_spider=any(
                    isinstance(x.get("baseline"), dict) and x["baseline"].get("date") for x in r.get("lines") or []
                ),
                plot_query=f"?{urlencode({'as_of': day.isoformat()})}" if day else "",
                m=_monitoring(request, id, ev, day),
            )
            access.audit()
            return html

        return _web(request, render)

    @app.get("/patients/{id}/plain", include_in_schema=False, response_model=None)
    def plain_page(request: Request, id: str, as_of: str | None = None) -> Response:
        def render() -> Response:
            access = patient_access(request, id)
            svc = service(request)
            day = _as_of(svc, as_of)
            access.version, ev = svc.evaluation(id, day)
            row = svc.registry.patient(id)
            assert row is not None
            a, o = ev.assessment_json(), ev.options_json()
            html = _render(
                request,
                "plain.html",
                title="Your summary",
                row=row,
                pid=id,
                as_of=_plain_date(a.get("as_of")),
                as_of_param=day.isoformat() if day else "",
                p=plain_context(a, o),
                disclaimer=o.get("disclaimer"),
            )
            access.audit()
            return html

        return _web(request, render)

    @app.get("/patients/{id}/symptoms", include_in_schema=False, response_model=None)
    def symptoms_page(request: Request, id: str) -> Response:
        def render() -> Response:
            access = patient_access(request, id)
            row = service(request).registry.patient(id)
            assert row is not None
            html = _symptoms_form(request, row, id, secrets.token_urlsafe(24))  # one key per form shown
            access.audit()
            return html

        return _web(request, render)

    @app.post("/patients/{id}/symptoms", include_in_schema=False, response_model=None)
    async def symptoms_submit(request: Request, id: str) -> Response:
        fields = await _read_form(request)

        def render() -> Response:
            access = patient_access(request, id, "C")
            _same_site(request)
            if isinstance(fields, ApiError):
                raise fields
            key = fields.get(KEY_FIELD, "")
            if not KEY_RE.fullmatch(key):
                raise ApiError(400, "the form is incomplete: open the questions again and send them from there")
            row = service(request).registry.patient(id)
            assert row is not None
            response, problems = _questionnaire_response(id, fields)
            if problems:  # shown again with the answers given and the same key: nothing stored yet
                html = _symptoms_form(request, row, id, key, fields, problems, status=400)
                access.audit("4", "the form had problems: nothing was stored")
                return html
            stored = submit_report(access, id, response, key)
            triage = stored.triage
            return _render(
                request,
                "symptoms_result.html",
                title=_LEVEL_HEADING.get(stored.level, "Your answers are saved"),
                row=row,
                pid=id,
                own=access.principal.role == "patient",
                level=stored.level,
                advice=str(triage.get("advice") or ""),
                reasons=[str(r) for r in triage.get("reasons") or []],
                received=_stamp(stored.received_at),
                duplicate=stored.duplicate,
                alert=stored.alert_id is not None,
                answers=[(str(i["text"]), _answer_words(i)) for i in response["item"]],
                unanswered=len(_questions({})) - len(response["item"]),
            )

        return await run_in_threadpool(_web, request, render)

    @app.get("/alerts", include_in_schema=False, response_model=None)
    def alerts_page(
        request: Request,
        state: Annotated[str | None, Query(max_length=10)] = None,
        done: Annotated[str | None, Query(max_length=100)] = None,
    ) -> Response:
        def render() -> Response:
            access = role_access(request, ("clinician",))
            show_all = state == "all"
            store = symptom_store(request)
            patients = _worklist_patients(request, access)
            alerts = store.alerts(open_only=not show_all, patients=patients)
            acknowledged = None
            if done:
                everything = alerts if show_all else store.alerts(open_only=False, patients=patients)
                acknowledged = next((a for a in everything if a["id"] == done), None)
            html = _render(
                request,
                "alerts.html",
                title="Care-team alerts",
                alerts=[a | {"delivery": _delivery(a)} for a in alerts],
                show_all=show_all,
                emergencies=sum(1 for a in alerts if a["level"] == "emergency"),
                done=acknowledged,
            )
            access.audit(subtype="search-type")
            return html

        return _web(request, render)

    @app.post("/alerts/{alert_id}/acknowledge", include_in_schema=False, response_model=None)
    async def acknowledge_page(request: Request, alert_id: str) -> Response:
        fields = await _read_form(request)

        def render() -> Response:
            access = role_access(request, ("clinician",), "U")
            _same_site(request)
            if isinstance(fields, ApiError):
                raise fields
            note = fields.get("note", "").strip()
            if len(note) > MAX_NOTE:
                raise ApiError(400, f"the note is longer than {MAX_NOTE} characters")
            _acknowledge(access, alert_id, note or None)
            query = {"done": alert_id} | ({"state": "all"} if fields.get("state") == "all" else {})
            return RedirectResponse("/alerts?" + urlencode(query), status_code=303)

        return await run_in_threadpool(_web, request, render)
