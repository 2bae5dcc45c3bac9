"""HTML of the case summary (Jinja2 templates, print CSS for A4): the clinician page and the plain-language version."""

from __future__ import annotations

import base64
import re
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from mbcnav.summary import plain
from mbcnav.summary.document import CaseSummary, LineSummary, OptionSummary, ReceptorValue

if TYPE_CHECKING:
    from mbcnav.pathway import Evaluation

AUDIENCES = ("clinician", "patient")
_ENV: Environment | None = None


def _env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = Environment(
            loader=PackageLoader("mbcnav.summary", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _ENV


@dataclass(frozen=True, slots=True)
class Plots:
    """The response plots as data: URIs (SVG), or None when there is nothing to draw."""

    spider: str | None = None
    swimmer: str | None = None


def make_plots(ev: Evaluation) -> Plots:
    """Spider and swimmer plots of the evaluation (mbcnav.response.plots, drawn in a temporary folder)."""
    from mbcnav.response import plots

    report = ev.response
    has_lines = bool(report.lines)
    has_baseline = any(line.baseline_date is not None and line.baseline_sum is not None for line in report.lines)
    if not has_lines:
        return Plots()
    with tempfile.TemporaryDirectory(prefix="mbcnav-summary-") as tmp:
        folder = Path(tmp)
        plots.swimmer(report, folder, today=ev.as_of)
        swimmer = _svg_uri(folder / "swimmer.svg")
        spider = None
        if has_baseline:
            plots.spider(report, folder)
            spider = _svg_uri(folder / "spider.svg")
    return Plots(spider=spider, swimmer=swimmer)


def _svg_uri(path: Path) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _css_string(text: str) -> Markup:
    """Text for a CSS string inside <style> (no HTML escaping applies there): quotes, backslashes and < escaped."""
    cleaned = re.sub(r"[\x00-\x1f\x7f]", " ", text)
    cleaned = cleaned.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ").replace(">", "\\3E ")
    return Markup(cleaned)


def render_html(summary: CaseSummary, *, audience: str = "clinician", plots: Plots | None = None) -> str:
    """The summary as one HTML page for `audience` (clinician or patient); plots only in the clinician version."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}; choose clinician or patient")
    pid = summary.patient.id or "unknown"
    if audience == "clinician":
        footer = _css_string(
            f"mbcnav second-opinion summary — patient {pid} — as of {summary.as_of} — decision support"
        )
        return _env().get_template("clinician.html").render(s=summary, plots=plots, footer_left=footer)
    footer = _css_string(f"Your cancer summary — record {pid} — facts as of {summary.as_of}")
    view = patient_view(summary)
    template = _env().get_template("patient.html")
    first = template.render(s=summary, p=view, glossary=[], footer_left=footer, date_text=plain.date_text)
    text = visible_text(first, skip_classes=("verbatim", "glossary"))
    terms = plain.glossary(text, view["study_names"])
    while True:  # a definition may use another explained term (BRCA -> BRCA1): add those too
        more = plain.glossary(text + "\n" + "\n".join(d for _, d in terms), view["study_names"])
        if len(more) == len(terms):
            break
        terms = more
    return template.render(s=summary, p=view, glossary=terms, footer_left=footer, date_text=plain.date_text)


# ---- the plain-language view ---------------------------------------------------------------------------------------
def _v(text: Any) -> Markup:
    """Text copied as written from the record or a registry: shown in italics (may hold words not explained)."""
    return Markup('<span class="verbatim">{}</span>').format(text)


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _span(months: float) -> str:
    if months < 24:
        return f"{round(months)} months"
    return f"about {round(months / 12)} years ({round(months)} months)"


def _marker_value(marker: str, value: ReceptorValue | None) -> str:
    if value is None:
        return "—"
    if marker == "HER2" and value.ihc:
        score = value.ihc
        if score == "2+":
            score = {"negative": "2+/ISH-", "positive": "2+/ISH+"}.get(value.ish or "", "2+/ISH-unknown")
        return plain.her2_score(score)
    parts = [plain.receptor_status(value.status)] if value.status else []
    if value.percent is not None and marker in ("ER", "PR", "Ki67"):
        parts.append(f"{value.percent:g}%")
    if value.cps is not None:
        parts.append(f"score {value.cps:g}")
    return ", ".join(parts) or "—"


def _sample(label_kind: str, site: str | None) -> str:
    if label_kind == "primary":
        return "the breast tumor"
    if label_kind == "metastasis":
        return f"a place the cancer spread to: {plain.site(site or 'other')}"
    if label_kind == "blood":
        return "a blood sample"
    return "a sample the record does not name"


def _subtype_from(specimen: str | None) -> str | None:
    if not specimen:
        return None
    m = re.match(r"metastasis \((.+)\)$", specimen)
    if m:
        return f"a sample from {plain.site(m.group(1).replace(' ', '_'))}"
    if specimen.startswith("primary"):
        return "a sample of the breast tumor"
    return "more than one sample (see the table)"


_GENE_RESULT = {
    "pathogenic": "a harmful change was found",
    "likely_pathogenic": "a change that is likely harmful was found",
    "vus": "a change of unknown meaning was found",
    "benign": "only a harmless change was found",
    "detected": "a change was found",
    "not_detected": "no change was found",
    "unknown": "the result is not known",
}
_ORIGIN = {"germline": "inherited (you were born with it)", "somatic": "in the cancer cells", "unknown": ""}


def _line_view(ln: LineSummary) -> dict[str, Any]:
    when = f"From {plain.date_text(ln.start)}"
    when += " until now. It is still going on." if ln.ongoing else f" to {plain.date_text(ln.end)}."
    response_text = plain.response(ln.best_response, ln.best_response_detail)
    resp = f"At best, {response_text}." if ln.best_response else response_text[:1].upper() + response_text[1:] + "."
    if ln.best_change_pct is not None and ln.best_response is not None:
        pct = ln.best_change_pct
        if pct < 0:
            resp += f" At most, the measured tumors shrank by {abs(pct):g}%."
        elif pct > 0:
            resp += f" The measured tumors did not shrink; they grew by {pct:g}% at the least."
    if ln.progression_date:
        resp += f" The scans showed growth on {plain.date_text(ln.progression_date)}."
    stop = "" if ln.ongoing else plain.stop_reason(ln.reason_stopped)
    return {"title": f"Treatment {ln.number}: {_and(list(ln.drugs))}", "when": when, "response": resp, "stop": stop}


def _option_heading(o: OptionSummary) -> str:
    if o.modality == "systemic" and o.components:
        parts = [_or(list(alts)) for _role, alts in o.components]
        return "Medicines: " + " + ".join(parts)
    return o.title


def _option_basis(o: OptionSummary) -> str:
    studies = [f"{e.name} ({e.year})" if e.year else e.name for e in o.evidence]
    parts = []
    if studies:
        parts.append(("the study " if len(studies) == 1 else "the studies ") + _and(studies))
    if o.guidelines:
        parts.append("a guideline" if len(o.guidelines) == 1 else f"{len(o.guidelines)} guidelines")
    return ("Based on " + " and ".join(parts) + ".") if parts else "No study is cited for this choice."


def _not_fit(summary: CaseSummary) -> tuple[list[str], int]:
    missing: dict[str, None] = {}
    rules: dict[str, None] = {}
    other = 0
    for x in summary.not_offered:
        if not x.drugs:
            continue
        name = _or(list(x.drugs))
        if any(w.startswith(("unknown", "cannot tell")) for w in x.why_not):
            tests = sorted({plain.plain_test(t) for t in x.tests})
            need = f" It would need {_and(tests)}." if tests else ""
            missing[f"{name}: a fact that decides it is missing.{need}"] = None
        elif any(not w.startswith("not met") for w in x.why_not):
            rules[f"{name}: a safety rule or an earlier treatment rules it out for now."] = None
        else:
            other += 1
    return list(missing) + list(rules), other


_NOTE_PLAIN = (
    (r"is ongoing", "Your current treatment is still going on. The choices below are for when a change is needed."),
    (r"ECOG 3-4", "The illness affects your daily life a lot, so comfort and symptom care come first."),
    (r"visceral crisis", "Your care team should check how well your organs work before choosing a treatment."),
)


def patient_view(summary: CaseSummary) -> dict[str, Any]:
    """The plain-language sentences of the patient version, built from the summary's facts (no new numbers)."""
    s = summary
    d = s.disease
    dx = d.diagnosis
    st = d.subtype
    now: list[str] = []
    if d.metastatic is True:
        now.append(
            "You have breast cancer that has spread to other parts of the body. Doctors call this metastatic "
            "breast cancer, or stage 4."
        )
    elif d.metastatic is False:
        group = plain.stage(d.stage)
        now.append(f"The record shows breast cancer that has not spread to other parts of the body (stage {group}).")
    else:
        now.append("The record does not show whether the cancer has spread to other parts of the body.")
    if dx.date:
        now.append(f"The breast cancer was first found on {plain.date_text(dx.date)}.")
    else:
        now.append("The record does not show when the breast cancer was first found.")
    if d.presentation == "de_novo":
        now.append("It had already spread when it was first found. Doctors call this de novo.")
    elif d.presentation == "recurrent":
        first = plain.date_text(d.first_metastasis_date)
        gap = f", {_span(d.mfi_months)} after it was first found" if d.mfi_months is not None else ""
        now.append(f"It came back in another part of the body on {first}{gap}. Doctors call this recurrent.")
        if dx.initial_stage and dx.initial_stage != "unknown":
            now.append(f"When it was first found, it was stage {plain.stage(dx.initial_stage)}.")
    elif d.metastatic:
        now.append("The record does not show if the cancer had already spread when it was first found.")
    active = [x for x in d.sites if x.status != "resolved" and x.site in d.active_sites]
    where: list[str] = []
    for x in active:
        count = f" ({x.lesions} {'spot' if x.lesions == 1 else 'spots'} seen)" if x.lesions else ""
        where.append(f"{plain.site(x.site)}{count}")
    where = list(dict.fromkeys(where))
    if where:
        sites_text = f"Right now the cancer is found in {_and(where)}."
    elif d.metastatic:
        sites_text = "The record shows no place where the cancer is active now."
    else:
        sites_text = ""
    gone = sorted({plain.site(x.site) for x in d.sites if x.status == "resolved"})
    if gone:
        sites_text += f" It was found before in {_and(gone)}, but it is no longer seen there."
    samples = [
        {
            "label": _sample(g.kind, g.site),
            "date": plain.date_text(g.date, "not known"),
            "ER": _marker_value("ER", g.value("ER")),
            "PR": _marker_value("PR", g.value("PR")),
            "HER2": _marker_value("HER2", g.value("HER2")),
        }
        for g in st.by_specimen
        if any(g.value(m) for m in ("ER", "PR", "HER2"))
    ]
    changes = []
    for dc in st.discordance:
        her2 = dc.marker == "HER2"
        first_v = plain.her2_score(dc.primary or "unknown") if her2 else plain.receptor_status(dc.primary)
        later_v = plain.her2_score(dc.metastasis or "unknown") if her2 else plain.receptor_status(dc.metastasis)
        changes.append(
            f"The {plain.marker(dc.marker)} result changed. The breast tumor "
            f"({plain.date_text(dc.primary_date, 'date not known')}) was {first_v}. The sample from "
            f"{plain.site(dc.metastasis_site or 'other')} ({plain.date_text(dc.metastasis_date, 'date not known')}) "
            f"was {later_v}."
        )
    if changes:
        changes.append("Your doctors use the newest result to choose treatment.")
    genes = [
        {
            "gene": b.gene,
            "origin": _ORIGIN.get(b.origin, ""),
            "result": _GENE_RESULT.get(b.result),
            "raw": b.result,
            "date": plain.date_text(b.date, "date not known"),
        }
        for b in d.biomarkers
    ]
    if d.ecog is not None:
        daily = (
            f"Your care team rated how much the illness affects your daily life (performance status). It was "
            f"{d.ecog} on a scale from 0 (no effect) to 4 (in bed all day), on {plain.date_text(d.ecog_date)}."
        )
    else:
        daily = "The record does not show a performance status score (how much the illness affects daily life)."
    meno = None
    if s.patient.sex == "female":
        meno = f"Menopause: {plain.menopause(s.patient.menopausal_status)}."
    before = []
    for t in s.early_therapies:
        span = f"from {plain.date_text(t.start)}" + (f" to {plain.date_text(t.end)}" if t.end else "")
        before.append(Markup("{} ({}), {}.").format(t.drug, plain.setting(t.setting), span))
    for lt in s.local_treatments:
        kind = "Surgery" if lt.kind == "surgery" else "Radiotherapy"
        span = plain.date_text(lt.start)
        if lt.end and lt.end != lt.start:
            span += f" to {plain.date_text(lt.end)}"
        place = Markup(" on {}").format(_v(lt.site)) if lt.site else Markup("")
        before.append(Markup("{}{} ({}).").format(kind, place, span))
    tiers = [
        (
            plain.tier(tier),
            [{"heading": _option_heading(o), "text": o.patient_text, "basis": _option_basis(o)} for o in items],
        )
        for tier, items in s.options_by_tier()
    ]
    notes = [text for pattern, text in _NOTE_PLAIN if any(re.search(pattern, n) for n in s.option_notes)]
    not_fit, not_fit_other = _not_fit(s)
    unknowns = []
    for u in s.unknowns:
        what, why = plain.unknown(u.item)
        unknowns.append(f"The record does not show {what}. {why}")
    tests = [t[:1].upper() + t[1:] + "." for t in dict.fromkeys(plain.plain_test(t.test) for t in s.tests)]
    study_names: dict[str, str] = {}
    for o in s.options:
        for e in o.evidence:
            if not plain.abbreviations(e.name):
                continue  # a name in plain words needs no entry
            when = f", published in {e.year}" if e.year else ""
            study_names[e.name] = f"The name of a research study{when}. Your specialist's version gives the details."
    for b in d.biomarkers:
        study_names.setdefault(b.gene, "The name of a gene that was tested.")
    return {
        "now": now,
        "sites": sites_text,
        "subtype": plain.subtype(st.group),
        "subtype_from": _subtype_from(st.specimen),
        # two specimens have two dates (the table shows each): no single date for the subtype
        "subtype_date": plain.date_text(st.date) if st.date and not (st.specimen or "").startswith("ER: ") else None,
        "samples": samples,
        "changes": changes,
        "genes": genes,
        "daily": daily,
        "menopause": meno,
        "before": before,
        "lines": [_line_view(ln) for ln in s.lines],
        "tiers": tiers,
        "option_notes": notes,
        "not_fit": not_fit,
        "not_fit_other": not_fit_other,
        "unknowns": unknowns,
        "tests": tests,
        "referrals": [plain.referral(r.to) for r in s.referrals],
        "study_names": study_names,
    }


# ---- reading the rendered page back ---------------------------------------------------------------------------------
class _Text(HTMLParser):
    def __init__(self, want: str | None, skip: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.want, self.skip = want, skip
        self.stack: list[tuple[str, bool, bool]] = []  # tag, inside a wanted element, inside a skipped one
        self.parts: list[str] = []

    _VOID = frozenset({"br", "img", "meta", "hr", "input", "link", "col", "source", "wbr"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        inside_want = (self.stack[-1][1] if self.stack else self.want is None) or (self.want in classes)
        hidden = tag in ("style", "script", "title")
        inside_skip = (self.stack[-1][2] if self.stack else False) or bool(classes & set(self.skip)) or hidden
        if tag in self._VOID:
            if tag == "br" and inside_want and not inside_skip:
                self.parts.append(" ")
            return
        self.stack.append((tag, inside_want, inside_skip))
        if tag in ("p", "li", "div", "td", "th", "h1", "h2", "h3", "dt", "dd", "tr") and inside_want:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()
            if top[0] == tag:
                break
        if tag in ("p", "li", "div", "td", "th", "h1", "h2", "h3", "dt", "dd"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        want = self.stack[-1][1] if self.stack else self.want is None
        skip = self.stack[-1][2] if self.stack else False
        if want and not skip:
            self.parts.append(data)


def visible_text(html: str, *, only_class: str | None = None, skip_classes: tuple[str, ...] = ()) -> str:
    """The text a reader sees (no style, script or title), optionally only inside elements of `only_class` and
    without elements of `skip_classes`; blocks are separated by new lines."""
    parser = _Text(only_class, skip_classes)
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def prose(html: str) -> str:
    """The prose of the patient version: its sentences (class "prose"), without copied record or registry text."""
    lines = visible_text(html, only_class="prose", skip_classes=("verbatim",)).splitlines()
    return " ".join(line if line.rstrip().endswith((".", "?", "!", ":")) else line + "." for line in lines)


__all__ = ["AUDIENCES", "Plots", "make_plots", "patient_view", "prose", "render_html", "visible_text"]
