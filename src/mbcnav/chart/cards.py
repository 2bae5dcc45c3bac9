"""The content of CDS Hooks 2.0 cards (https://cds-hooks.hl7.org/2.0/#cds-service-response): problem-list gaps,
red flags for a patient with metastatic disease, interactions of a drafted order. Plain JSON dicts, no HTTP: the
service (mbcnav.service.cds_hooks) adds the links and answers the EHR.

Every card has a summary of at most 140 characters, an indicator (info, warning, critical), a source naming the
guideline or label it rests on, a Markdown detail, and — where something can be created or changed — suggestions
with FHIR actions."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mbcnav.chart.interactions import InteractionHit, detail_text
from mbcnav.chart.problems import ChartReport, Finding, site_label
from mbcnav.knowledge.kb import knowledge_base

SUMMARY_MAX = 140
MCODE_SECONDARY_PAGE = "https://hl7.org/fhir/us/mcode/STU4/StructureDefinition-mcode-secondary-cancer-condition.html"
MCODE_PRIMARY_PAGE = "https://hl7.org/fhir/us/mcode/STU4/StructureDefinition-mcode-primary-cancer-condition.html"
_NS = uuid.UUID("6f1c1f8e-3b7a-5f0e-9c55-1d3a0b6e2c41")  # mbcnav's namespace for card and suggestion ids

Indicator = Literal["info", "warning", "critical"]


def card_id(patient: str | None, key: str) -> str:
    """A stable id per patient and card content: the EHR's feedback on a card can be counted over visits."""
    return str(uuid.uuid5(_NS, f"{patient or '?'}|{key}"))


def _summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _card(
    *,
    patient: str | None,
    key: str,
    summary: str,
    indicator: Indicator,
    detail: str,
    source: dict[str, str],
    links: Sequence[dict[str, Any]] = (),
    suggestions: Sequence[dict[str, Any]] = (),
    selection: str | None = None,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": card_id(patient, key),
        "summary": _summary(summary),
        "indicator": indicator,
        "detail": detail,
        "source": source,
    }
    if suggestions:
        card["suggestions"] = list(suggestions)
        card["selectionBehavior"] = selection or "any"
    if links:
        card["links"] = list(links)
    return card


# ---- problem list -------------------------------------------------------------------------------------------------
def _action(f: Finding) -> dict[str, Any]:
    what = "Add to the problem list" if f.action == "create" else f"Update {f.target}"
    return {
        "type": f.action,
        "description": f"{what}: {f.proposed.get('code', {}).get('text', '')}",
        "resource": f.proposed,
    }


def _suggestion(patient: str | None, f: Finding) -> dict[str, Any]:
    label = {
        "missing_metastasis": f"Add metastatic disease ({site_label(f.site)}) to the problem list",
        "missing_primary": "Add metastatic breast cancer to the problem list",
        "stale_stage": "Add stage IV to the breast cancer on the problem list",
        "primary_resolved": "Mark the breast cancer as active again",
        "duplicate_site": f"Merge the codes of the {site_label(f.site)} metastasis into one entry",
    }[f.kind]
    if f.action == "update" and f.kind == "missing_metastasis" and f.target:
        label = f"Put the {site_label(f.site)} metastasis on the problem list (active)"
    return {
        "label": label,
        "uuid": card_id(patient, f"suggestion|{f.kind}|{f.site}|{f.target}"),
        "isRecommended": f.kind in ("missing_metastasis", "missing_primary"),
        "actions": [_action(f)],
    }


def _evidence_md(f: Finding) -> str:
    rows = [f"- {e.text} ({e.source}{', ' + e.date if e.date else ''})" for e in f.evidence[:5]]
    more = f"\n- … {len(f.evidence) - 5} more" if len(f.evidence) > 5 else ""
    return "\n".join(rows) + more


def problem_list_cards(report: ChartReport, links: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Metastatic disease missing from the problem list: one warning card whose suggestions create (or update) each
    missing Condition; each other finding (stale stage, resolved primary, duplicate) an info card of its own."""
    pid = report.patient
    cards = []
    missing = [f for f in report.findings if f.kind in ("missing_metastasis", "missing_primary")]
    if missing:
        sites = [site_label(f.site) for f in missing if f.kind == "missing_metastasis"]
        if len(missing) == 1:
            summary = missing[0].title
        else:
            what = f" ({', '.join(sites)})" if sites else ""
            summary = f"Metastatic breast cancer{what} is missing from the problem list"
        detail = (
            "Clinicians who are not her oncologist read the problem list: metastatic disease that is not there is "
            "missed (a new back pain can be spinal cord compression).\n\n"
            + "\n\n".join(f"**{f.title}.** {f.message}\n\n{_evidence_md(f)}" for f in missing)
            + "\n\nEach suggestion posts an mCODE Condition coded in SNOMED CT and ICD-10-CM."
        )
        cards.append(
            _card(
                patient=pid,
                key="problem-list|missing|" + "|".join(sorted(f"{f.kind}:{f.site}" for f in missing)),
                summary=summary,
                indicator="warning",
                detail=detail,
                source={
                    "label": "HL7 mCODE STU4: secondary cancer condition (problem list)",
                    "url": MCODE_SECONDARY_PAGE,
                },
                links=links,
                suggestions=[_suggestion(pid, f) for f in missing],
                selection="any",
            )
        )
    for f in report.findings:
        if f in missing:
            continue
        source = (
            {
                "label": "AJCC 8th edition: any M1 is stage IV (mCODE STU4 primary cancer condition)",
                "url": MCODE_PRIMARY_PAGE,
            }
            if f.kind in ("stale_stage", "primary_resolved")
            else {"label": "HL7 mCODE STU4: secondary cancer condition (problem list)", "url": MCODE_SECONDARY_PAGE}
        )
        cards.append(
            _card(
                patient=pid,
                key=f"problem-list|{f.kind}|{f.site}|{f.target}",
                summary=f.title,
                indicator="info",
                detail=f"{f.message}\n\n{_evidence_md(f)}",
                source=source,
                links=links,
                suggestions=[_suggestion(pid, f)],
                selection="at-most-one",
            )
        )
    return cards


# ---- red flags --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RedFlag:
    """A symptom that needs urgent action in this patient (from the triage rules), with the action and its source."""

    symptoms: str
    meaning: str
    urgency: str
    action: str
    sources: tuple[dict[str, str], ...]  # {label, url?}
    why_her: str = ""  # what in her record makes it matter (sites, drugs)


def red_flag_card(
    patient: str | None,
    flags: Sequence[RedFlag],
    *,
    sites: Sequence[str],
    drugs: Sequence[str],
    links: Sequence[dict[str, Any]] = (),
) -> dict[str, Any] | None:
    """One card for a patient with metastatic disease seen for something else: the red flags that matter for her
    sites and drugs, each with the urgent action and where it comes from."""
    if not flags:
        return None
    where = ", ".join(site_label(s) for s in sites) or "site not recorded"
    on = f"; on {', '.join(drugs)}" if drugs else ""
    summary = f"Metastatic breast cancer ({where}{on}): red flags to ask about"
    if len(summary) > SUMMARY_MAX:
        summary = f"Metastatic breast cancer ({where}): red flags to ask about"
    rows = []
    for f in flags:
        why = f" _{f.why_her}_" if f.why_her else ""
        rows.append(f"- **{f.symptoms}** → {f.meaning}. **{f.urgency}**: {f.action}{why}")
    cited = {s["label"]: s for f in flags for s in f.sources}
    refs = "\n".join(f"- {s['label']}" + (f" <{s['url']}>" if s.get("url") else "") for s in cited.values())
    detail = (
        "She has metastatic breast cancer. If she presents with any of these, think of the complication first:\n\n"
        + "\n".join(rows)
        + f"\n\nSources:\n{refs}"
    )
    first = next(iter(cited.values()), {"label": "mbcnav triage rules"})
    source = {"label": first["label"]}
    if first.get("url"):
        source["url"] = first["url"]
    return _card(
        patient=patient,
        key="red-flags|" + "|".join(sorted(f.symptoms for f in flags)),
        summary=summary,
        indicator="warning",
        detail=detail,
        source=source,
        links=links,
    )


# ---- interactions ---------------------------------------------------------------------------------------------------
def _short(citation: str) -> str:
    """A citation's head: up to 'prescribing information' for a label, else up to its first colon."""
    head = citation.split(":")[0].strip()
    label = re.search(r"prescribing information", head, re.IGNORECASE)
    if label is not None:
        head = head[: label.end()]
    return head if len(head) <= 80 else head[:79] + "…"


def evidence_label(evidence_id: str) -> str:
    kb = knowledge_base()
    entry = kb.guidelines.get(evidence_id) or kb.trials.get(evidence_id)
    if entry is None:
        return evidence_id
    return _short(str(entry.get("name") or entry.get("citation") or evidence_id))


def interaction_cards(
    patient: str | None, hits: Sequence[InteractionHit], links: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One card per interaction of the drafted order; a critical one suggests removing the drafted order."""
    cards = []
    for hit in hits:
        ix = hit.interaction
        first = ix.sources[0]
        source = {"label": f"{evidence_label(first.evidence)} — {first.section}"[:200]}
        if first.url:
            source["url"] = first.url
        refs = "\n".join(
            f"- {evidence_label(s.evidence)}, {s.section}" + (f" <{s.url}>" if s.url else "") for s in ix.sources
        )
        suggestions = []
        rtype, _, rid = hit.drug.source.partition("/")
        if ix.indicator == "critical" and rid and rid != "?":
            suggestions.append(
                {
                    "label": f"Cancel the draft order of {hit.drug.name}",
                    "uuid": card_id(patient, f"suggestion|cancel|{hit.key}|{hit.drug.source}"),
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "delete",
                            "description": f"Remove the draft {rtype} for {hit.drug.name}",
                            "resourceId": hit.drug.source,
                        }
                    ],
                }
            )
        cards.append(
            _card(
                patient=patient,
                key=f"interaction|{hit.key}",
                summary=hit.summary,
                indicator=ix.indicator,
                detail=f"{detail_text(hit)}\n\nSources:\n{refs}",
                source=source,
                links=links,
                suggestions=suggestions,
                selection="at-most-one",
            )
        )
    return cards


__all__ = [
    "SUMMARY_MAX",
    "RedFlag",
    "card_id",
    "evidence_label",
    "interaction_cards",
    "problem_list_cards",
    "red_flag_card",
]
