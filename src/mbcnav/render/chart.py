"""`mbcnav chart` as text: the problem list and what is missing or wrong in it, from the JSON contract document."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

_KIND = {
    "missing_metastasis": "MISSING",
    "missing_primary": "MISSING",
    "stale_stage": "STALE STAGE",
    "primary_resolved": "WRONG STATUS",
    "duplicate_site": "DUPLICATE",
}
_STYLE = {"MISSING": "bold red", "STALE STAGE": "yellow", "WRONG STATUS": "yellow", "DUPLICATE": "cyan"}


def _code_line(resource: dict[str, Any]) -> str:
    code = resource.get("code") or {}
    parts = [f"{str(c.get('system', '')).rsplit('/', 1)[-1]} {c.get('code')}" for c in code.get("coding") or []]
    return f"{code.get('text', '')} [{'; '.join(parts)}]"


def render_chart(doc: dict[str, Any], console: Console | None = None, *, show_resources: bool = True) -> None:
    """The chart document (`chart_json`): the problem list as read, then each finding with the fix to post."""
    con = console or Console(highlight=False)
    con.rule(f"[bold]mbcnav chart[/bold] — patient {escape(str(doc['patient']))} — as of {doc['as_of']}")
    con.print("Decision support, not a decision: each finding shows the facts it used.", style="italic")
    metastatic = {True: "yes", False: "no", None: "unknown"}[doc["metastatic"]]
    con.print(f"Metastatic: {metastatic}; active sites in the record: {escape(', '.join(doc['sites']) or 'none')}")
    con.print("\n[bold]Problem list (as recorded)[/bold]")
    if not doc["problem_list"]:
        con.print("  (no Condition with category problem-list-item)", style="dim")
    for p in doc["problem_list"]:
        extra = f", stage {p['stage']}" if p.get("stage") else ""
        site = f" [{p['site']}]" if p.get("site") else ""
        con.print(
            f"  • {escape(p['text'])}{escape(site)} — {p.get('status') or 'status not given'}{extra} "
            f"({escape(p['source'])})"
        )
    for n in doc.get("notes", []):
        con.print(f"note: {escape(n)}", style="yellow")
    con.print("\n[bold]Findings[/bold]")
    if not doc["findings"]:
        con.print("  The problem list agrees with the record.", style="green")
    for f in doc["findings"]:
        label = _KIND.get(f["kind"], f["kind"].upper())
        con.print(f"• [{_STYLE.get(label, 'bold')}]{label}[/] {escape(f['title'])}")
        con.print(f"    {escape(f['message'])}")
        for e in f["evidence"][:6]:
            when = f", {e['date']}" if e.get("date") else ""
            con.print(f"    evidence: {escape(e['text'])} ({escape(e['source'])}{when})", style="dim")
        target = f" {f['target']}" if f.get("target") else ""
        con.print(f"    proposed: {f['action']}{escape(target)} — {escape(_code_line(f['proposed']))}", style="cyan")
        if show_resources:
            con.print(escape(json.dumps(f["proposed"], indent=2, ensure_ascii=False)), style="dim")


# ---- CDS Hooks cards as an EHR shows them (docs/cds-hooks.md; the screenshot docs/img/cds-cards.png) ---------------
_INDICATOR_COLOUR = {"critical": "#c62828", "warning": "#ef8f00", "info": "#1565c0"}


def _inline(text: str) -> str:
    """The inline Markdown cards use: **bold**, _italic_, <https://…> links (HTML escaped first)."""
    import html
    import re

    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w/])_(.+?)_(?![\w/])", r"<em>\1</em>", out)
    return re.sub(r"&lt;(https://\S+?)&gt;", r'<a href="\1">\1</a>', out)


def markdown_html(text: str) -> str:
    """The small Markdown of card details (paragraphs and '- ' lists) as HTML."""
    blocks = []
    for block in text.split("\n\n"):
        lines = [x for x in block.split("\n") if x.strip()]
        lead = [x for x in lines if not x.startswith("- ")]
        items = [x for x in lines if x.startswith("- ")]
        if lead and (not items or lines.index(items[0]) == len(lead)):
            blocks.append("<p>" + "<br>".join(_inline(x) for x in lead) + "</p>")
        elif lead:  # text and list items interleaved: keep them as lines
            blocks.append("<p>" + "<br>".join(_inline(x) for x in lines) + "</p>")
            continue
        if items:
            blocks.append("<ul>" + "".join(f"<li>{_inline(x[2:])}</li>" for x in items) + "</ul>")
    return "\n".join(blocks)


def cards_html(sections: list[tuple[str, list[dict[str, Any]]]], title: str = "CDS Hooks cards") -> str:
    """A page of CDS Hooks cards styled like an EHR's card panel: one section per hook call (heading, cards)."""
    import html

    parts = []
    for heading, cards in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if not cards:
            parts.append('<p class="none">No card.</p>')
        for c in cards:
            colour = _INDICATOR_COLOUR.get(str(c.get("indicator")), "#607d8b")
            source = c.get("source") or {}
            label = html.escape(str(source.get("label", "")))
            src = f'<a href="{html.escape(source["url"])}">{label}</a>' if source.get("url") else label
            buttons = "".join(
                f'<button class="{"primary" if s.get("isRecommended") else ""}">{html.escape(s["label"])}</button>'
                for s in c.get("suggestions") or []
            )
            links = "".join(
                f'<a class="app" href="{html.escape(x["url"])}">{html.escape(x["label"])}'
                f"{' ↗' if x.get('type') == 'absolute' else ' (SMART)'}</a>"
                for x in c.get("links") or []
            )
            indicator = html.escape(str(c.get("indicator")))
            summary = html.escape(str(c.get("summary")))
            parts.append(
                f'<div class="card" style="border-left-color:{colour}">'
                f'<div class="head"><span class="ind" style="background:{colour}">{indicator}</span>'
                f'<span class="summary">{summary}</span></div>'
                f'<div class="source">Source: {src}</div>'
                f'<div class="detail">{markdown_html(str(c.get("detail") or ""))}</div>'
                + (f'<div class="actions">{buttons}</div>' if buttons else "")
                + (f'<div class="links">{links}</div>' if links else "")
                + '<div class="dismiss">Dismiss ▾</div></div>'
            )
    style = (
        "body{font:13px/1.4 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;background:#eef1f4;margin:0;padding:16px;"
        "width:760px;color:#1d2429}h1{font-size:15px;margin:0 0 8px;color:#37474f}h2{font-size:13px;color:#546e7a;"
        "text-transform:uppercase;letter-spacing:.04em;margin:18px 0 6px}.card{background:#fff;"
        "border:1px solid #d5dbe0;border-left:6px solid;border-radius:4px;margin:0 0 10px;padding:10px 12px;"
        "box-shadow:0 1px 2px #0001}"
        ".head{display:flex;gap:8px;align-items:baseline}.ind{color:#fff;border-radius:3px;padding:1px 6px;"
        "font-size:11px;text-transform:uppercase;font-weight:600}.summary{font-weight:600;font-size:14px}"
        ".source{color:#607d8b;font-size:11.5px;margin:3px 0 6px}.source a{color:#455a64}.detail p{margin:4px 0}"
        ".detail ul{margin:4px 0;padding-left:18px}.detail li{margin:2px 0}.actions{margin-top:8px;display:flex;"
        "flex-wrap:wrap;gap:6px}button{font:inherit;border:1px solid #90a4ae;background:#f5f7f8;border-radius:3px;"
        "padding:3px 9px}button.primary{background:#1565c0;border-color:#1565c0;color:#fff}.links{margin-top:6px;"
        "display:flex;gap:14px}.links a{color:#1565c0;font-size:12px}.dismiss{float:right;margin-top:-18px;"
        "color:#90a4ae;font-size:11px}.none{color:#78909c}"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{style}</style>'
        f"</head><body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>"
    )
