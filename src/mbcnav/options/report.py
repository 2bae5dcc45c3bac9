"""Readable reports: the options for one patient (terminal), and the knowledge base for reviewers (Markdown)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from mbcnav.knowledge.kb import KnowledgeBase, currency_gaps, iter_leaves

_TIER_STYLE = {"preferred": "bold green", "recommended": "green", "consider": "yellow"}


def render_options(doc: dict[str, Any], console: Console | None = None) -> None:
    con = console or Console(highlight=False)
    s = doc["summary"]
    con.rule(
        f"[bold]mbcnav options[/bold] — patient {escape(str(doc['patient']))} — knowledge base "
        f"{doc['kb']['version']} (reviewed {doc['kb']['reviewed']})"
    )
    con.print(
        escape(
            f"Stage {s['stage']}, {s['presentation'].replace('_', ' ')}, {s['subtype']} (HER2 {s['her2']}), "
            f"sites: {', '.join(s['sites']) or 'none recorded'}, endocrine resistance "
            f"{s['endocrine_resistance']}, lines so far {s['lines_so_far']}, ECOG {s['ecog']}, menopausal status "
            f"{s.get('menopausal_status', 'unknown')}, visceral crisis {s.get('visceral_crisis', 'unknown')}"
        )
    )
    con.print(doc["disclaimer"], style="italic")
    for n in doc["notes"]:
        con.print(f"note: {escape(n)}", style="yellow")
    con.print("\n[bold]Options to discuss[/bold]")
    for o in doc["options"]:
        con.print(f"• [{_TIER_STYLE[o['tier']]}]{o['tier'].upper()}[/] {escape(o['title'])}")
        con.print(f"    regimen: {escape(o['regimen'])}", style="dim")
        for line in component_lines(o):
            con.print(f"    {escape(line)}")
        con.print(f"    why: {escape('; '.join(dict.fromkeys(o['why'])))}")
        for c in o["cautions"]:
            con.print(f"    caution: {escape(c)}", style="yellow")
        for e in o["evidence"]:
            res = e["result"] or "(result not quoted: see publication)"
            ident = f"PMID {e['pmid']}" if e["pmid"] else (f"doi:{e['doi']}" if e["doi"] else "")
            con.print(
                f"    evidence: {escape(e['trial'])} — {escape(res)} — {escape(e['citation'])} {ident}", style="dim"
            )
        for g in o["source"]:
            con.print(f"    guideline: {escape(g['guideline'])}", style="dim")
        if o.get("regulatory"):
            con.print(f"    regulatory: {escape(o['regulatory'])}", style="dim")
        for line in approval_lines(o):
            con.print(f"    {escape(line)}", style="dim")
    if doc["not_offered"]:
        con.print("\n[bold]Not offered now[/bold]")
        for o in doc["not_offered"]:
            con.print(f"• {escape(o['title'])}: {escape('; '.join(o['why_not']))}")
    if doc["tests_recommended"]:
        con.print("\n[bold]Tests that would change the answer[/bold]")
        for t in doc["tests_recommended"]:
            con.print(f"• {escape(t['test'])} — {escape(t['why'])}")
    if doc["referrals"]:
        con.print("\n[bold]Referrals[/bold]")
        for r in doc["referrals"]:
            style = "bold red" if r["urgency"] == "urgent" else ""
            con.print(f"• [{style or 'default'}]{r['to'].replace('_', ' ')} ({r['urgency']})[/] — {escape(r['why'])}")


def component_lines(option: dict[str, Any]) -> list[str]:
    """'+ ovarian suppression: goserelin | leuprolide | ...' — one line per part of the regimen (one drug from each)."""
    out = []
    for i, c in enumerate(option.get("components", [])):
        lead = "take" if i == 0 else "+"
        extra = " (optional)" if c.get("optional") else ""
        note = f" — {c['note']}" if c.get("note") else ""
        out.append(f"{lead} {c['role'].replace('_', ' ')}{extra}: {' | '.join(c['alternatives'])}{note}")
    if not out and option.get("modality", "systemic") != "systemic":
        out.append(f"modality: {option['modality']}")
    return out


def approval_lines(option: dict[str, Any]) -> list[str]:
    out = []
    for a in option.get("approval", []):
        parts = []
        for region, label in (("fda", "FDA"), ("ema", "EU")):
            r = a.get(region) or {}
            if r:
                parts.append(f"{label} {r.get('status', 'not confirmed')}" + (f" {r['date']}" if r.get("date") else ""))
        out.append(f"label: {a['product'].replace('_', ' ')} — {', '.join(parts)}")
    return out


def _cond_text(cond: dict[str, Any], indent: str = "") -> list[str]:
    if "all" in cond:
        return [f"{indent}- all of:"] + [x for c in cond["all"] for x in _cond_text(c, indent + "  ")]
    if "any" in cond:
        return [f"{indent}- any of:"] + [x for c in cond["any"] for x in _cond_text(c, indent + "  ")]
    if "not" in cond:
        return [f"{indent}- not:", *_cond_text(cond["not"], indent + "  ")]
    op = next(k for k in cond if k not in ("fact", "says"))
    return [f"{indent}- {cond['says']} — `{cond['fact']} {op} {cond[op]}`"]


def option_markdown(kb: KnowledgeBase, opt: dict[str, Any]) -> str:
    trials, guides = kb.trials, kb.guidelines
    parts = [
        f"- {c['role'].replace('_', ' ')}{' (optional)' if c.get('optional') else ''}: {' or '.join(c['alternatives'])}"
        + (f" — only when: {'; '.join(x.strip('- ') for x in _cond_text(c['when']))}" if c.get("when") else "")
        for c in opt.get("components", [])
    ]
    lines = [
        f"### {opt['title']}",
        "",
        f"`{opt['id']}` · category **{opt['category']}** · modality **{opt.get('modality', 'systemic')}** · default "
        f"tier **{opt['tier']}**",
        "",
        f"*Regimen:* {' '.join(opt['regimen'].split())}",
        "",
        *(["*Components (one from each):*", *parts, ""] if parts else []),
        "*Applies to (scope):*",
        *_cond_text(opt["scope"]),
        "",
        "*Offered when:*",
        *_cond_text(opt["requires"]),
    ]
    for r in opt.get("tier_rules", []):
        lines += ["", f"*Tier becomes {r['tier']} when* ({r['why']}):", *_cond_text(r["when"])]
    for x in opt.get("exclusions", []):
        lines += [
            "",
            f"*{'Caution' if x.get('severity') == 'caution' else 'Not offered'} when* — {x['why']}:",
            *_cond_text(x["when"]),
        ]
    for c in opt.get("cautions", []):
        lines += ["", f"*Caution:* {c['text']}"]
    if opt["evidence"]:
        lines += ["", "*Evidence:*"]
        for e in opt["evidence"]:
            t = trials[e]
            ident = f" PMID {t['pmid']}." if t.get("pmid") else (f" doi:{t['doi']}." if t.get("doi") else "")
            lines.append(
                f"- **{t['name']}** — {t['citation']}.{ident} Population: {t.get('population') or '—'}. "
                f"Result: {t.get('result') or t.get('note', '—')}"
            )
    if opt["guideline"]:
        lines += ["", "*Guideline:*"] + [f"- {guides[g]['citation']}" for g in opt["guideline"]]
    if opt.get("regulatory"):
        lines += ["", f"*Regulatory:* {opt['regulatory']}"]
    approvals = approval_lines({"approval": kb.approvals_for(opt["id"])})
    if approvals:
        lines += ["", "*Label status (approvals.yaml):*", *[f"- {a.removeprefix('label: ')}" for a in approvals]]
    lines += ["", f"*For patients:* {' '.join(opt['patient_text'].split())}", ""]
    return "\n".join(lines)


def knowledge_markdown(kb: KnowledgeBase, facts: dict[str, str]) -> str:
    """docs/knowledge.md: the whole knowledge base, readable without the code."""
    o = kb.options
    out = [
        f"# Treatment-options knowledge base — version {kb.version}, reviewed {kb.reviewed}",
        "",
        "Generated by `mbcnav kb docs` from `src/mbcnav/knowledge/options.yaml` and `evidence.yaml`; edit those "
        "files, not this page. An unknown fact never counts as negative: an option whose conditions depend on an "
        "unknown fact is *not offered* and the test that would decide is recommended.",
        "",
        "## Facts the rules use",
        "",
    ]
    out += [f"- `{k}` — {v}" for k, v in facts.items()]
    out += [
        "- `prior_met.<class or drug>`, `prior_any.<...>`, `progressed_on.<...>`, `current.<...>` — exposure to "
        "a drug class or flagged drug of `drugs.yaml` in the metastatic setting, in any setting, on a line that "
        "stopped for progression, in the ongoing line",
        "",
        "## Rules for whole categories",
        "",
    ]
    for c in o.get("completions", []):
        out += [
            f"- **Completes every regimen with {' / '.join(c['roles_any'])}: adds {c['add']['role']} "
            f"({', '.join(c['add']['alternatives'])})** — {' '.join(c['why'].split())}; when unknown: "
            f"{' '.join(c['unknown_note'].split())}",
            *["  " + x for x in _cond_text(c["when"])],
        ]
    for g in o.get("global_exclusions", []):
        targets = ", ".join(
            g.get("categories", [])
            + [f"drug class {x}" for x in g.get("classes_any", [])]
            + [f"without {x}" for x in g.get("lacks_classes", [])]
            + ([f"only {'/'.join(g['only_classes'])} drugs"] if g.get("only_classes") else [])
            + g.get("drugs_any", [])
        )
        out += [
            f"- **Not offered ({targets})** — {' '.join(g['why'].split())}",
            *["  " + x for x in _cond_text(g["when"])],
        ]
    for r in o.get("global_tier_rules", []):
        verb = "raised" if r.get("direction") == "raise" else "lowered"
        out += [
            f"- **Tier {verb} to {r['tier']} ({', '.join(r.get('categories', []) + r.get('classes_any', []))})** — "
            f"{' '.join(r['why'].split())}",
            *["  " + x for x in _cond_text(r["when"])],
        ]
    out += ["", "## Options", ""]
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for opt in o["options"]:
        by_cat.setdefault(opt["category"], []).append(opt)
    for cat, label in o["categories"].items():
        if cat in by_cat:
            out += [f"## {label}", ""] + [option_markdown(kb, x) for x in by_cat[cat]]
    out += ["## Tests that change the answer", ""]
    out += [
        "From `unknowns.yaml`, the one list that `mbcnav assess` (unknowns) and `mbcnav options` (tests) share.",
        "",
    ]
    for t in kb.unknown_entries:
        label = t.get("test") or t["action"]
        out += [
            f"- **{t['item']}** ({t['kind']}: {label}) — {' '.join(t['why'].split())}",
            *["  " + x for x in _cond_text(t["when"])],
        ]
    out += ["", "## Referrals", ""]
    for r in o["referrals"]:
        out += [f"- **{r['to']}** ({r['urgency']}) — {r['why']}", *["  " + x for x in _cond_text(r["when"])]]
    gaps = currency_gaps(kb)
    if gaps:
        out += [
            "",
            "## Guideline currency (reviewer's to-do)",
            "",
            "Options whose newest trial is newer than every guideline they cite — no later guideline could be "
            "confirmed when this version was reviewed; the option rests on its trial and the label:",
            "",
            *[f"- {g}" for g in gaps],
        ]
    out += ["", "## Evidence catalogue", ""]
    for t in kb.evidence["trials"]:
        ident = f" PMID {t['pmid']}." if t.get("pmid") else (f" doi:{t['doi']}." if t.get("doi") else "")
        out.append(f"- **{t['name']}** — {t['citation']}.{ident} {t.get('result') or t.get('note', '')}")
    out += ["", "## Guidelines", ""]
    for g in kb.evidence["guidelines"]:
        ident = f" PMID {g['pmid']}." if g.get("pmid") else (f" doi:{g['doi']}." if g.get("doi") else "")
        out.append(f"- {g['citation']}.{ident} {g.get('statement') or ''}")
    facts_count = sum(1 for _ in (x for opt in o["options"] for x in iter_leaves(opt["requires"])))
    out += [
        "",
        f"*{len(o['options'])} options, {facts_count} eligibility conditions, "
        f"{len(kb.evidence['trials'])} trials, {len(kb.evidence['guidelines'])} guidelines.*",
        "",
    ]
    return "\n".join(out)
