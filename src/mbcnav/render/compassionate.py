"""Compassionate use as text: why it is shown, matching expanded-access records, late-phase drugs, cited routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from mbcnav.trials.compassionate import ATTRIBUTION, CAVEATS, ROLE_LABELS, knowledge

if TYPE_CHECKING:
    from mbcnav.trials.compassionate import Citation, CompassionateUse, Duty

MAX_WIDTH = 100  # the text report never runs wider than this, whatever the terminal


def _words(code: str) -> str:
    return code.lower().replace("_", " ")


def _availability(available: bool | None, status: str | None) -> str:
    if available is True:
        return "[bold green]available[/]"
    if available is None:
        return "availability not stated"
    return f"[yellow]{escape(_words(status or ''))}[/]"


class _Numbers:
    """Sources numbered in order of first use, so each statement can point to them as [n]."""

    def __init__(self) -> None:
        self.order: list[Citation] = []

    def refs(self, citations: tuple[Citation, ...]) -> str:
        out = []
        for c in citations:
            if c not in self.order:
                self.order.append(c)
            out.append(str(self.order.index(c) + 1))
        return f" [dim]\\[{', '.join(out)}][/]" if out else ""


def render_compassionate(cu: CompassionateUse, console: Console | None = None) -> None:
    """The compassionate-use section, at most 100 columns wide, in plain words."""
    con = console or Console(highlight=False)
    width = min(con.width, MAX_WIDTH)

    def say(text: str, indent: int = 0, style: str | None = None) -> None:
        # Padding gives wrapped lines the same indent as the first (a hanging indent keeps entries apart).
        body = Text.from_markup(text, style=style or "", overflow="fold")
        con.print(Padding(body, (0, 0, 0, indent)), width=width)

    con.print(Rule("[bold]Compassionate use (expanded access)[/]", style="dim"), width=width)
    if cu.needed:
        say(f"Shown because {escape(cu.reason)}.")
    else:
        say(
            f"Not needed now: {cu.recruiting_fits} recruiting "
            f"{'study' if cu.recruiting_fits == 1 else 'studies'} may fit; shown for reference."
        )
    say(f"Checked on {cu.checked_on.isoformat()}.", style="dim")

    say("")
    say("[bold]Expanded-access records that may fit[/] (ClinicalTrials.gov)")
    if not cu.expanded_access:
        say("None among the studies searched.", 2)
    for r in cu.expanded_access:
        say(f"{r.nct_id} {_availability(r.available, r.status)} — {escape(r.title)}", 2)
        labels = knowledge().type_labels
        types = "; ".join(labels.get(t, t) for t in r.types) or "not stated in the record"
        routes = cu.routes_for_types(r.types)
        via = f" — US route: {'; '.join(escape(x.name) for x in routes)}" if routes else ""
        say(f"types: {escape(types)}{via}", 4)
        say(f"drug: {escape(', '.join(r.interventions)) or 'not stated'}; {_words(r.verdict)}", 4)
        if r.countries:
            say(f"countries: {escape(', '.join(r.countries))}", 4)
        say(f"https://clinicaltrials.gov/study/{r.nct_id}", 4, "dim")
    if cu.expanded_access_ruled_out:
        say(f"{cu.expanded_access_ruled_out} other expanded-access record(s) ruled out by the record.", 2, "dim")

    say("")
    say("[bold]Drugs of late-phase studies whose sponsor offers expanded access[/]")
    if not cu.drug_routes:
        say("None among the eligible or possibly eligible phase 2 / phase 3 studies.", 2)
    for d in cu.drug_routes:
        phases = "/".join(p.replace("PHASE", "phase ") for p in d.phases)
        say(f"{d.nct_id} ({phases}, {_words(d.status)}, {_words(d.verdict)}) — {escape(d.title)}", 2)
        drugs = ", ".join(f"{escape(n)}{' (in the drug catalogue)' if known else ''}" for n, known in d.drugs)
        say(f"drugs: {drugs or 'not stated'}", 4)
        if d.expanded_access_nct:
            line = f"expanded access: {d.expanded_access_nct} "
            line += _availability(d.expanded_access_available, d.expanded_access_status)
            if d.expanded_access_types:
                line += f"; types: {', '.join(d.expanded_access_types)}"
            if d.expanded_access_products:
                line += f"; offers {escape(', '.join(d.expanded_access_products))}"
            say(line, 4)
        else:
            say("expanded access: the record says yes but names no expanded-access record; ask the sponsor", 4)

    numbers = _Numbers()
    say("")
    say("[bold]Routes and paperwork[/]")
    for route in cu.routes:
        say(f"[bold]{route.jurisdiction}[/] {escape(route.name)}{numbers.refs(route.citations)}", 2)
        say(escape(route.summary), 4)
        for role, duties in route.roles.items():
            for duty in duties:
                say(f"{_role(role)}: {escape(duty.text)}{numbers.refs(duty.citations)}", 4)
        for form in route.forms:
            say(f"form: {_duty(form, numbers)}", 4)
        for tf in route.time_frames:
            say(f"time frame: {_duty(tf, numbers)}", 4)
        if route.note:
            say(f"note: {escape(route.note)}", 4, "dim")

    say("")
    say("[bold]Sources[/]")
    for n, c in enumerate(numbers.order, 1):
        say(f"\\[{n}] {escape(c.title)} — {escape(c.publisher)}", 2)
        say(c.url, 6, "dim")
    say("")
    for caveat in CAVEATS:
        say(escape(caveat), style="dim")
    say(escape(ATTRIBUTION), style="dim")


def _role(role: str) -> str:
    return ROLE_LABELS.get(role, role)


def _duty(d: Duty, numbers: _Numbers) -> str:
    return f"{escape(d.text)}{numbers.refs(d.citations)}"
