"""Time windows in eligibility text (washouts before the first dose, minimum intervals since an event), read
and checked against the record's dated treatments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.assess.stage import assess_stage
from mbcnav.dates import PartialDate
from mbcnav.knowledge.drugs import catalogue
from mbcnav.trials.model import Constraint
from mbcnav.trials.numbers import NUMBER_WORDS, number
from mbcnav.trials.tables import alternation, read_table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mbcnav.record.model import LocalTreatment, TherapyExposure
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("washout", "interval")


@dataclass(frozen=True, slots=True)
class _Table:
    """windows.yaml, compiled."""

    units: dict[str, int]
    duration: re.Pattern[str]
    therapies: tuple[tuple[str, re.Pattern[str], dict[str, Any]], ...]
    classes: tuple[tuple[str, re.Pattern[str]], ...]
    surgery_major: re.Pattern[str]
    surgery_minor: re.Pattern[str]
    references: tuple[tuple[str, re.Pattern[str]], ...]
    blockers: re.Pattern[str]
    negation: re.Pattern[str]
    half_lives: re.Pattern[str]
    allow_palliative: re.Pattern[str]
    relapse: re.Pattern[str]
    completion: str
    adjuvant: str
    events: tuple[tuple[str, re.Pattern[str]], ...]
    non_endocrine: re.Pattern[str]
    de_novo: re.Pattern[str]
    current_investigational: re.Pattern[str]
    current_investigational_more: re.Pattern[str]


def _alt(phrases: list[str]) -> str:
    return alternation(phrases, longest_first=True)


def _words(phrases: list[str]) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9])(?:{_alt(phrases)})(?![a-z0-9])")


@cache
def _table() -> _Table:
    data: dict[str, Any] = read_table("windows.yaml")
    units: dict[str, int] = data["units"]
    num = _alt([r"\d{1,3}", *NUMBER_WORDS])
    unit = _alt(list(units))
    # not "cycle 1 day 1" (a visit, not a duration)
    duration = re.compile(
        rf"(?<![\w.])(?<!cycle )(?P<num>{num})\s*(?:-\s*)?(?:calendar\s+)?(?P<unit>{unit})(?![a-z])(?!\s*\d)"
    )
    iv = data["interval"]
    return _Table(
        units=units,
        duration=duration,
        therapies=tuple((t["key"], _words(t["phrases"]), t["match"]) for t in data["therapies"]),
        classes=tuple((k, _words(v)) for k, v in data["classes"].items()),
        surgery_major=re.compile(_alt(data["surgery_major"])),
        surgery_minor=re.compile(_alt(data["surgery_minor"])),
        references=tuple((k, _words(v)) for k, v in data["references"].items()),
        blockers=re.compile(_alt(data["blockers"])),
        negation=re.compile(_alt(data["negations"])),
        half_lives=re.compile(data["half_lives"]),
        allow_palliative=re.compile(data["allow_palliative"]),
        relapse=_words(iv["relapse"]),
        completion=_alt(iv["completion"]),
        adjuvant=iv["adjuvant"],
        events=tuple((k, _words(v)) for k, v in iv["events"].items()),
        non_endocrine=re.compile(iv["non_endocrine"]),
        de_novo=re.compile(iv["de_novo"]),
        current_investigational=re.compile(rf"(?<![a-z0-9])(?:{data['current_investigational']})(?![a-z0-9])"),
        current_investigational_more=re.compile(data["current_investigational_more"]),
    )


# ---------------------------------------------------------------------------------------------------------------
# Reading

# "... or 5 half-lives (whichever is shorter)" right after a duration: consumed so the connector that follows is seen.
_HALF_LIFE_TAIL = re.compile(
    r"\s*,?\s*\(?\s*or\s+(?:\d+|five|three|four|two)\s*(?:\(\d+\)\s*)?(?:drug[- ]elimination\s+|plasma\s+|terminal\s+)?"
    r"half[- ]li(?:fe|ves)(?:\s+(?:of|for)\s+(?:the\s+)?[\w-]+(?:\s+[\w-]+)?)?"
    r"(?:\s*,?\s*\(?whichever\s+is\s+\w+\)?)?\)?"
)
_WITHIN_PRE = re.compile(
    r"(?:\bwithin|\bin\s+the\s+(?:last|past|previous|preceding)|\bduring\s+the(?:\s+last)?|≤|<\s*/?\s*=|<|"
    r"\bless\s+than|\bfewer\s+than)\s*(?:the\s+)?(?:last\s+|past\s+|previous\s+|prior\s+|preceding\s+)?$"
)
_SINCE_PRE = re.compile(
    r"(?:\bat\s+least|≥|>\s*/?\s*=|>|(?<!no\s)(?<!not\s)\bmore\s+than|\bgreater\s+than|\b(?:a\s+)?minimum\s+(?:of\s+)?|"
    r"\bno\s+less\s+than|\bnot\s+less\s+than|\bno\s+sooner\s+than|\bover|\bbeyond)\s*$"
)
_DURATION_OF = re.compile(
    r"\bfor\s+(?:a\s+)?(?:(?:at\s+least|≥|>\s*/?\s*=|>|more\s+than|a\s+minimum\s+of|minimum\s+of|over|up\s+to|"
    r"≤|<|less\s+than)\s*)?$|\blasting\s+\S*\s*$"
)
_EXCEPTION_PRE = re.compile(r"\baside\s+from\b|\bapart\s+from\b|\bother\s+than\b|\bwith\s+the\s+exception\b|\bexcept\b")
# A window after "may be given / is allowed" says what is permitted, not what excludes.
_ALLOWED_PRE = re.compile(r"\bmay\s+(?:be|continue|receive)\b|\ballowed\b|\bpermitted\b|\bacceptable\b|\bnote\b")
_ALLOWED_POST = re.compile(r"\b(?:is|are|will\s+be)\s+(?:permitted|allowed|acceptable)\b")
_ALLOWANCE_PAREN = re.compile(r"\([^()]*\b(?:allowed|permitted|acceptable|except|unless|excluding)\b[^()]*\)")
_PRIOR_POST = re.compile(r"^\s*(?:\([^)]{0,20}\)\s*)?(?:prior\s+to|prior|before|preceding|of|from|since|after)\b")
# "PD-1 therapy >= 28 days, other anticancer therapy > 21 days, ... prior to the first dose": one item of a list
_LIST_POST = re.compile(r"\s*(?:\([^)]*\)\s*)?(?:,|;|$|or\b|and\b)")
_LIST_CONTEXT = re.compile(
    r"\blast\s+(?:dose|treatment|administration)|wash-?out|(?:prior\s+to|before)\s+(?:the\s+)?(?:first|start|"
    r"initiation|randomi|enrol|registration|day\s+1|cycle\s+1)"
)
# "Targeted therapy (CDK4/6i, PARP inhibitor ...): " — a table row's label before its colon
_TABLE_ROW = re.compile(r"^\W*(?P<label>[^:;.]{2,160}?)\s*:\s*$")
_ROW_VALUE = re.compile(r"\s*(?:≥|>\s*/?\s*=|>|at\s+least|more\s+than|no\s+less\s+than|a\s+minimum\s+of)?\s*")
_ELAPSED_POST = re.compile(r"^\s*(?:must|should|will|have|has|need\s+to)\s+(?:have\s+)?(?:elapsed|passed)\b")
_SINCE_POST = re.compile(
    r"^\s*(?:\([^)]{0,20}\)\s*)?(?:must\s+have\s+(?:elapsed|passed)\s+)?(?:since|from|after|following|prior\s+to|"
    r"prior|before|between)\b|^\s*(?:must|should|will|have|has)\s+(?:have\s+)?(?:elapsed|passed)"
)
_AFTER_THERAPY = re.compile(  # used with .match(text, pos): no "^", which would only match at 0
    r"\s*(?:of|from|since|after)\s+(?:the\s+|his\s+|her\s+|their\s+)?(?:last|final|most\s+recent)\s+(?:dose|"
    r"administration|treatment|cycle|fraction)\s+(?:of\s+)?"
)
_BOUNDARY = re.compile(r"[;:\n]|\.(?!\d)|\*")
_CUT_AFTER = re.compile(
    r"\(|\bexcept\b|\bunless\b|\ballowed\b|\bpermitted\b|\bother than\b|\bexcluding\b|\bcan\b|\bmay\b"
)
# Plans and ranges are not washouts: "planned surgery date within 42 days", "completed between 3 and 12 weeks".
_FUTURE_PRE = re.compile(r"\bplan|\bschedul|\bable\s+to\s+start|\bcommence|\bencourag|\bwill\b|\bto\s+start\b|\bintend")
_ALLOWANCE_SENTENCE = re.compile(
    r"\b(?:are|is|be|remain)\s+eligible\b(?!\s+to\b)|\bmay\s+(?:be\s+included|participate|enrol)|\bcan\s+be\s+included|"
    r"\b(?:are|is)\s+(?:allowed|permitted)\b|\bcounts?\s+as\b|\bwill\s+count\b|\bconsidered\s+(?:as\s+)?(?:a|an|one|1)\b|"
    r"\bregarded\s+as\b|\bfor\s+(?:a\s+|any\s+)?(?:participants?|patients?|subjects?)\s+(?:who|with)\b"
)
_BETWEEN = re.compile(r"\bbetween\b[^;.]{0,30}$")
_BETWEEN_POST = re.compile(
    r"\s*(?:and\s+(?:\d|no\s+more|not\s+more|less|up\s+to|within)|(?:must\s+have\s+|have\s+|has\s+)?(?:elapsed|passed)?\s*between\b)"
)
_COMPLETED = re.compile(r"\bcomplet|\blast dose|\bdiscontinu|\bstopp|\bfinish|\bmust\b|\bshould\b")
_MAX_PRE = re.compile(
    r"(?:\bwithin|≤|<\s*/?\s*=|<|\bless\s+than|\bno\s+more\s+than|\bnot\s+more\s+than|\bup\s+to|\bfewer\s+than|"
    r"\bbefore)\s*(?:the\s+)?(?:first\s+)?$"
)
_MIN_PRE = re.compile(
    r"(?:≥|>\s*/?\s*=|>|\bmore\s+than|\bgreater\s+than|\bat\s+least|\bover|\bbeyond|\b(?:a\s+)?minimum\s+(?:of\s+)?|"
    r"\bno\s+less\s+than|\bnot\s+less\s+than|\blonger\s+than)\s*$"
)


def _days(m: re.Match[str]) -> int:
    n = m.group("num")
    count = number(n)
    return count * _table().units[m.group("unit")]


def _clause_start(text: str, pos: int, floor: int) -> int:
    starts = [b.end() for b in _BOUNDARY.finditer(text, floor, pos)]
    return max([floor, *starts])


def _clause_end(text: str, pos: int) -> int:
    b = _BOUNDARY.search(text, pos)
    return b.start() if b else len(text)


def _therapies(text: str, lo: int, hi: int) -> list[tuple[str, int, int]]:
    """(therapy key, start, end) named in text[lo:hi]: the vocabulary, catalogue classes, then catalogue drugs."""
    t = _table()
    # "(palliative radiotherapy is allowed ...)" names what the criterion permits: blanked, same length
    seg = _ALLOWANCE_PAREN.sub(lambda m: " " * len(m.group(0)), text[lo:hi])
    found: list[tuple[str, int, int]] = []
    taken = [False] * len(seg)

    def add(key: str, a: int, b: int) -> None:
        if any(taken[a:b]):
            return
        for i in range(a, b):
            taken[i] = True
        if key not in (f[0] for f in found):
            found.append((key, lo + a, lo + b))

    for key, pat in t.classes:
        for m in pat.finditer(seg):
            add(key, m.start(), m.end())
    for key, pat, _ in t.therapies:
        for m in pat.finditer(seg):
            add(key, m.start(), m.end())
    blank = "".join(" " if taken[i] else ch for i, ch in enumerate(seg))
    for drug in catalogue().find(blank):
        hit = re.search(rf"(?<![a-z0-9]){re.escape(drug)}(?![a-z0-9])", blank)
        if hit:
            add(drug, hit.start(), hit.end())
        elif drug not in (f[0] for f in found):
            found.append((drug, lo, hi))  # named by a synonym or brand: the span is the whole clause
    return sorted(found, key=lambda f: f[1])


def _reference(text: str, lo: int, hi: int) -> tuple[str | None, int]:
    """The first reference point named in text[lo:hi] and where it ends."""
    best: tuple[int, str, int] | None = None
    for key, pat in _table().references:
        m = pat.search(text, lo, hi)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), key, m.end())
    return (best[1], best[2]) if best else (None, lo)


def _flip(polarity: str) -> str:
    return "required" if polarity == "excluded" else "excluded"


def _washouts(text: str, offset: int, section: str, negated: bool, head_context: bool = False) -> list[Constraint]:
    t = _table()
    out: list[Constraint] = []
    floor = 0
    for m in t.duration.finditer(text):
        if m.start() < floor:
            continue
        days = _days(m)
        pre = text[max(0, m.start() - 40) : m.start()]
        tail = _HALF_LIFE_TAIL.match(text, m.end())
        after = tail.end() if tail else m.end()
        post = text[after : after + 60]
        if _BETWEEN.search(pre) or _BETWEEN_POST.match(post):
            continue
        if _DURATION_OF.search(pre) or re.match(r"\s*(?:of\s+)?(?:treatment\s+)?duration", post):
            continue  # "taking an AI for >= 90 days", "endocrine therapy of <= 6 weeks duration": how long, not when
        within = _WITHIN_PRE.search(pre)
        if within and (within.group(0).lstrip().startswith(("within", "in", "during")) or _PRIOR_POST.search(post)):
            form = "within"
        elif (
            _SINCE_PRE.search(pre)
            and (_SINCE_POST.search(post) or (_LIST_POST.match(post) and (head_context or _LIST_CONTEXT.search(text))))
        ) or _ELAPSED_POST.search(post):
            form = "since"
        elif re.match(r"\s*(?:\([^)]{0,20}\)\s*)?(?:prior|before|preceding)", post):
            # a bare "21 days prior to": a window in an exclusion, a washout to respect in an inclusion that says
            # the therapy must be completed / stopped by then
            start = _clause_start(text, m.start(), floor)
            if section == "exclusion":
                form = "within"
            elif _COMPLETED.search(text[start : m.start()]):
                form = "since"
            else:
                continue
        else:
            continue
        start = _clause_start(text, m.start(), floor)
        end = _clause_end(text, after)
        # "Prior HER2 therapy is allowed if delivered at least 4 weeks prior": an allowance, which the parser reads
        # as no constraint (a person confirms it), in either section
        allowance = _ALLOWED_PRE.search(_ALLOWANCE_PAREN.sub(" ", text[start : m.start()])) or _ALLOWED_POST.search(
            _ALLOWANCE_PAREN.sub(" ", text[after:end])
        )
        clause = text[start : m.start()]
        if t.blockers.search(clause) or _EXCEPTION_PRE.search(clause) or _FUTURE_PRE.search(clause) or allowance:
            floor = m.end()
            continue
        nxt = t.duration.search(text, after)
        if nxt:  # "> 4 weeks from major surgery, > 2 weeks from radiation": each window reads up to the next one
            end = min(end, nxt.start())
        ref, ref_end = _reference(text, after, min(end, after + 80))
        if form == "within":
            found = _therapies(text, start, m.start())
            if not found:
                lead = _AFTER_THERAPY.match(text, after)
                if lead:
                    cut = _CUT_AFTER.search(text, lead.end(), end)
                    found = _therapies(text, lead.end(), cut.start() if cut else end)
                    ref, ref_end = _reference(text, lead.end(), end)
                    if ref is None:  # "enrollment must be within 12 weeks of the last dose of ..."
                        ref = _reference(text, start, m.start())[0]
            elif (
                ref is None
                and re.match(r"\s*(?:of|from)\b", post)
                and not re.match(r"\s*(?:of|from)\s+(?:the\s+)?(?:study|trial|protocol|treatment|start)", post)
            ):
                # "within 2 weeks of leukapheresis": timed from something that is not a reference point we know
                floor = m.end()
                continue
        else:
            lead_m = re.match(
                r"^\s*(?:\([^)]{0,20}\)\s*)?(?:must\s+have\s+(?:elapsed|passed)\s+)?(?:since|from|after|following)\s+",
                post,
            )
            found = []
            if lead_m:
                lo = after + lead_m.end()
                cut = _CUT_AFTER.search(text, lo, end)
                hi = cut.start() if cut else end
                found = _therapies(text, lo, hi)
                ref, ref_end = _reference(text, lo, end)
                if not found and ref is None:
                    ref, ref_end = None, hi
            if not found:
                found = _therapies(text, start, m.start())
                if t.blockers.search(text[start : m.start()]):
                    found = []
            # a row of a washout table under its list head: "Hormonal therapy: ≥ 2 weeks" (the label names the
            # therapy, the head says "washout period before randomization, defined as:")
            row = head_context and not found and _ROW_VALUE.fullmatch(text[start : m.start()])
            label = _TABLE_ROW.match(text[:start]) if row else None
            if label:
                found = _therapies(text, 0, label.end("label"))
        if not found:
            floor = m.end()
            continue
        if form == "within":
            local_neg = section == "inclusion" and bool(t.negation.search(text[: m.start()]))
            polarity = "excluded" if section == "exclusion" or local_neg else "required"
        else:
            if section == "exclusion":
                floor = m.end()
                continue
            polarity = "excluded"
        if negated:
            polarity = _flip(polarity)
        hl = t.half_lives.search(text, max(start, m.start() - 40), min(len(text), m.end() + 80))
        allow = t.allow_palliative.search(text)
        span_end = max(ref_end, after)
        for key, a, _b in found:
            params: dict[str, Any] = {"therapy": key, "days": days, "reference": ref or "first_dose"}
            if hl:
                params["half_lives"] = "shorter" if hl.group(1).startswith(("short", "less")) else "longer"
            if allow and key == "radiotherapy":
                params["allowed"] = "palliative_radiotherapy"
            cue = f"{key} {form} {text[m.start() : m.end()]} ({days} days)"
            if ref is None:
                cue += "; reference not stated: read as the first dose of study treatment"
            span = (offset + min(a, m.start()), offset + max(_b, span_end))
            out.append(Constraint("washout", polarity, params, span, cue))
        floor = after
    return out


def _event(clause: str) -> tuple[str, str | None]:
    """The interval's event from the words after "adjuvant": endocrine, chemotherapy, a catalogue class, or any."""
    t = _table()
    if t.non_endocrine.search(clause):
        return "adjuvant_nonendocrine_end", None
    for key, pat in t.events:
        if pat.search(clause):
            return key, None
    for key, pat in t.classes:
        if pat.search(clause):
            return "adjuvant_end", key
    drugs = catalogue().find(clause)
    if drugs:
        return "adjuvant_end", drugs[0]
    return "adjuvant_end", None


def _intervals(text: str, offset: int, section: str, negated: bool) -> list[Constraint]:
    t = _table()
    out: list[Constraint] = []
    anchor = re.compile(
        rf"\s*(?:or\s+more\s+|or\s+longer\s+)?(?:of|after|from|since|following|post)\s+(?:the\s+)?"
        rf"(?:(?:{t.completion})\s+)?(?:(?:any|prior|the|their|her|his|a|an|initial|primary)\s+)*(?:{t.adjuvant})"
    )
    completion = re.compile(
        rf"\s*(?:or\s+more\s+)?(?:of|after|from|since|following)\s+(?:the\s+)?(?:{t.completion})\s+(?:the\s+)?"
    )
    for m in t.duration.finditer(text):
        days = _days(m)
        start = _clause_start(text, m.start(), 0)
        end = _clause_end(text, m.end())
        pre_clause = text[start : m.start()]
        pre = text[max(start, m.start() - 30) : m.start()]
        relapses = list(t.relapse.finditer(pre_clause))
        relapse = relapses[0] if relapses else None
        dfi = any(re.search(r"disease[- ]free|dfi", r.group(0)) for r in relapses)
        am = anchor.match(text, m.end(), end)
        if am is None and re.search(t.adjuvant, pre_clause):
            # "(neo)adjuvant endocrine therapy ... recurrence within 12 months after the last dose of ET"
            am = completion.match(text, m.end(), end)
        if am:
            event_text = text[am.end() : min(end, am.end() + 60)]
            adj_pre = re.search(t.adjuvant, pre_clause)
            if adj_pre and not re.search(t.adjuvant, text[m.end() : am.end()]):
                event_text = pre_clause[adj_pre.end() :] + " " + event_text  # "... the last dose of ET"
            span_start = start + relapse.start() if relapse else m.start()
            span_end = min(end, am.end() + 40)
            until = "recurrence" if relapse else "as_of"
            if not relapse and not re.match(r"^\s*(?:or\s+\w+\s+)?since\b", text[m.end() : am.end()]):
                continue
        elif dfi and relapse is not None:
            adj = re.search(t.adjuvant, pre_clause)
            event_text = pre_clause[adj.end() :] if adj else ""
            span_start, span_end, until = start + relapse.start(), m.end(), "recurrence"
        else:
            continue
        before = text[:span_start]
        if re.search(r"\bif\b|\bwhen\b|\bnote\b", text[_clause_start(text, span_start, 0) : span_start]) or re.search(
            r"\bnote\s*:", before
        ):
            continue  # a condition or a note ("if recurrence occurred within 6 months ..., it counts as a line")
        if _ALLOWANCE_SENTENCE.search(text, _clause_start(text, span_start, 0), _clause_end(text, m.end())):
            continue  # "patients who relapsed > 12 months after adjuvant chemotherapy are eligible": an exception
        last_relapse = start + relapses[-1].start() if relapses else span_start
        lead = re.sub(t.adjuvant, " ", text[:last_relapse])  # "adjuvant or neoadjuvant" is not an alternative
        if re.search(r"\bor\b[^.;]*$", lead) and not t.de_novo.search(text):
            continue  # "one line of anti-HER2 therapy ... or relapsed within 6 months": an alternative, not a must
        if _MAX_PRE.search(pre):
            bound = "max_days"
        elif _MIN_PRE.search(pre) or (dfi and re.search(r"\bof\s+(?:at\s+least\s+)?$", pre)):
            bound = "min_days"
        else:
            continue
        event, klass = _event(event_text)
        params: dict[str, Any] = {"event": event, "until": until, bound: days}
        if klass:
            params["class"] = klass
        if am is None and dfi and not re.search(t.adjuvant, pre_clause):
            params["start_stated"] = False  # a bare "disease-free interval": where it starts is not said
        if t.de_novo.search(text):
            params["de_novo_allowed"] = True
        polarity = "excluded" if section == "exclusion" else "required"
        if section == "inclusion" and t.negation.search(text[:span_start]):
            polarity = "excluded"
        if negated:
            polarity = _flip(polarity)
        op = "<=" if bound == "max_days" else ">="
        cue = (
            f"{'disease-free interval' if dfi else until} {op} {text[m.start() : m.end()]} ({days} days) after {event}"
        )
        out.append(Constraint("interval", polarity, params, (offset + span_start, offset + span_end), cue))
    return out


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """Constraints of this kind in one criterion (see trials/kinds.py for the arguments); `head` is its list head,
    whose washout wording a table row under it shares ("Adequate treatment washout period before randomization,
    defined as:" then "Hormonal therapy: ≥ 2 weeks")."""
    intervals = _intervals(text, offset, section, negated)
    if intervals:  # "recurrence within 12 months of completing adjuvant therapy" is not also a washout
        return intervals
    washouts = _washouts(text, offset, section, negated, bool(head) and bool(_LIST_CONTEXT.search(head)))
    if washouts or section != "exclusion":
        return washouts
    return _current_investigational(text, offset, negated)


def _current_investigational(text: str, offset: int, negated: bool) -> list[Constraint]:
    """ "Patients who are receiving any other investigational agents" (an exclusion with no window): an ongoing
    investigational course excludes, read as a washout of 0 days."""
    m = _table().current_investigational.search(text)
    if (
        m is None
        or _ALLOWED_POST.search(text[m.end() :])
        or _table().current_investigational_more.search(text[m.end() :])
        or re.search(r"\b(?:while|when|during)\s+$", text[: m.start()])
    ):
        return []  # an allowance, or a time ("should not receive a live vaccine while receiving investigational ...")
    params: dict[str, Any] = {"therapy": "investigational", "days": 0, "reference": "first_dose"}
    polarity = _flip("excluded") if negated else "excluded"
    cue = f'investigational currently: "{m.group(0)}" (no window: an ongoing course)'
    return [Constraint("washout", polarity, params, (offset + m.start(), offset + m.end()), cue)]


# ---------------------------------------------------------------------------------------------------------------
# Checking


def _d(x: PartialDate) -> str:
    return x.isoformat()


def _drug_matches(t: TherapyExposure, therapy: str, rule: dict[str, Any] | None) -> bool | None:
    """Does this course count as `therapy`? None: the catalogue does not know the drug, so it cannot say."""
    cat = catalogue()
    drug = cat.drugs.get(t.drug)
    if rule is None:  # a catalogue drug or class named in the criterion
        if therapy in cat.drugs:
            return t.drug == therapy
        return None if drug is None else therapy in drug.classes
    classes = rule["systemic"]
    if classes == "any":
        # Any anticancer drug; bone-modifying agents and ovarian suppression alone do not make an anticancer
        # line (drugs.yaml line_defining), and a drug the catalogue does not know is still a cancer drug here.
        return True if drug is None else drug.line_defining
    if drug is None:
        return None
    return bool(drug.classes & set(classes))


def _window_status(
    ended: PartialDate | None, started: PartialDate | None, ongoing: bool, as_of: date, days: int
) -> tuple[bool | None, str]:
    """Whether exposure falls within `days` before as_of (a dose exactly `days` before is outside: "at least N
    days since" is met on day N), and how that was read."""
    cut = as_of - timedelta(days=days)
    if ongoing:
        return True, "ongoing"
    if ended is None:
        if started is not None and started.earliest >= cut:
            return True, f"started {_d(started)}, no end date"
        return None, f"started {_d(started) if started else 'on an unknown date'}, no end date"
    lo = max(0, (as_of - ended.latest).days)  # a partial end date can reach past as_of: on treatment until then
    hi = max(0, (as_of - ended.earliest).days)
    ago = f"{lo} days" if lo == hi else f"{lo}-{hi} days"
    read = f"ended {_d(ended)}, {ago} before {as_of.isoformat()}"
    if hi < days:
        return True, read
    if lo >= days:
        return False, read
    return None, read + " (partial date)"


def _check_investigational(
    therapies: Sequence[TherapyExposure], as_of: date, days: int, label: str, window: str
) -> tuple[bool | None, str]:
    """An investigational agent inside the window, read from the therapy list (complete, as for every washout): a
    catalogue drug is investigational only when the catalogue marks it so (drugs.yaml, from approvals.yaml); a drug
    the catalogue does not know may be one, so the record cannot say. Bone-modifying agents are supportive care that
    protocols let continue: never a candidate. `days` 0: currently receiving."""
    cat = catalogue()
    inside: list[tuple[bool | None, TherapyExposure, str]] = []
    for th in therapies:
        drug = cat.drugs.get(th.drug)
        if drug is not None and "bone_modifying" in drug.classes:
            continue
        within, read = _window_status(th.end, th.start, th.ongoing, as_of, days)
        if within is not False:
            inside.append((within, th, read))
    span = "currently" if days == 0 else f"in the {days} days before {as_of.isoformat()}"
    if not inside:
        return False, f"no systemic anticancer therapy recorded {span} ({window})"
    flagged = [(w, th, r) for w, th, r in inside if th.drug in cat.drugs and cat.drugs[th.drug].investigational]
    unknown = [(w, th, r) for w, th, r in inside if th.drug not in cat.drugs]
    certain = [(th, r) for w, th, r in flagged if w]
    if certain:
        th, read = certain[0]
        return True, f"{th.drug} ({read}) is investigational (not approved: knowledge/approvals.yaml)"
    if flagged or unknown or any(w is None for w, _, _ in inside):
        names = ", ".join(th.drug for _, th, _ in flagged + unknown) or "a course with a partial date"
        return None, f"{label}: the record does not say whether {names} {span} was investigational"
    names = ", ".join(sorted({th.drug for _, th, _ in inside}))
    return False, (
        f"no investigational agent recorded {span}: {names} not marked investigational in the drug catalogue (the "
        f"therapy list is read as complete) ({window})"
    )


def _check_washout(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    rec, as_of = p.record, p.as_of
    if rec is None or as_of is None:
        return None, "no record to read treatment dates from"
    therapy: str = c.params["therapy"]
    days: int = c.params["days"]
    ref = c.params.get("reference", "first_dose").replace("_", " ")
    label = therapy.replace("_", " ")
    window = (
        f"window {days} days before the {ref} (the assessment date {as_of.isoformat()} stands for it: "
        f"the {ref} is later)"
    )
    rule = next((r for k, _, r in _table().therapies if k == therapy), None)
    if rule is not None and rule.get("investigational"):
        return _check_investigational(rec.therapies, as_of, days, label, window)
    results: list[tuple[bool | None, str, date]] = []  # (within, evidence, the date read: latest first in the evidence)
    if rule is not None and "local" in rule:
        # The record's local-treatment list is what the options engine reads as the surgery / radiotherapy history,
        # so it is read as complete: nothing recorded means none given.
        for lt in rec.local_treatments:
            if lt.kind != rule["local"]:
                continue
            counts = _local_counts(lt, rule)
            if counts is False:
                continue
            has, read = _window_status(lt.end or lt.start, lt.start, False, as_of, days)
            what = f"{lt.kind} ({lt.description[:60]}, intent {lt.intent})"
            if has and c.params.get("allowed") == "palliative_radiotherapy" and lt.kind == "radiotherapy":
                if lt.intent == "palliative":
                    results.append((False, f"{what} {read}: palliative, which the criterion allows", _when(lt)))
                    continue
                if lt.intent == "unknown":
                    has = None
                    read += "; palliative radiotherapy is allowed and the intent is not recorded"
            if has and counts is None:
                has, read = None, read + f"; whether it counts as {label} is not recorded"
            results.append((has, f"{what} {read}", _when(lt)))
    else:
        # The record's therapy list is what the options engine counts as lines, so it is read as complete for
        # systemic therapy: a class with no course recorded was not given.
        for th in rec.therapies:
            counts = _drug_matches(th, therapy, rule)
            if counts is False:
                continue
            has, read = _window_status(th.end, th.start, th.ongoing, as_of, days)
            if has is False and c.params.get("half_lives") == "longer":
                has, read = None, read + f"; the window is {days} days or 5 half-lives, whichever is longer"
            elif has and th.ongoing is False and c.params.get("half_lives") == "shorter":
                has, read = None, read + f"; the window is {days} days or 5 half-lives, whichever is shorter"
            if has and counts is None:
                has, read = None, read + f"; the catalogue does not say whether {th.drug} is {label}"
            results.append((has, f"{th.drug} {read}", _when(th)))
    if not results:
        return False, f"{label}: none recorded ({window})"
    results.sort(key=lambda r: r[2], reverse=True)
    for want in (True, None):
        hit = [e for h, e, _ in results if h is want]
        if hit:
            verdict = "within" if want else "cannot tell"
            return want, f"{'; '.join(hit[:3])}; {window}: {verdict}"
    return False, f"{'; '.join(e for _, e, _ in results[:2])}; {window}: outside"


def _when(x: TherapyExposure | LocalTreatment) -> date:
    d = x.end or x.start
    return date.max if getattr(x, "ongoing", False) or d is None else d.latest


def _local_counts(lt: LocalTreatment, rule: dict[str, Any]) -> bool | None:
    t = _table()
    if rule.get("palliative"):
        return {"palliative": True, "curative": False}.get(lt.intent)
    if rule.get("major"):
        desc = lt.description.lower()
        if t.surgery_minor.search(desc):
            return False
        return True if t.surgery_major.search(desc) else None
    return True


_EVENT_LABEL = {
    "adjuvant_end": "(neo)adjuvant systemic therapy",
    "adjuvant_endocrine_end": "(neo)adjuvant endocrine therapy",
    "adjuvant_chemotherapy_end": "(neo)adjuvant chemotherapy",
    "adjuvant_nonendocrine_end": "(neo)adjuvant non-endocrine systemic therapy",
}


def _event_course(t: TherapyExposure, event: str, klass: str | None) -> bool | None:
    cat = catalogue()
    drug = cat.drugs.get(t.drug)
    if drug is None:
        return None if event != "adjuvant_end" else True
    if klass:
        return t.drug == klass or klass in drug.classes
    if event == "adjuvant_endocrine_end":
        return "endocrine" in drug.classes
    if event == "adjuvant_chemotherapy_end":
        return "chemotherapy" in drug.classes
    if event == "adjuvant_nonendocrine_end":
        return drug.line_defining and "endocrine" not in drug.classes
    return drug.line_defining


def _check_interval(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    rec, as_of = p.record, p.as_of
    if rec is None or as_of is None:
        return None, "no record to read treatment dates from"
    event: str = c.params["event"]
    klass: str | None = c.params.get("class")
    lo_b: int | None = c.params.get("min_days")
    hi_b: int | None = c.params.get("max_days")
    label = _EVENT_LABEL.get(event, event) + (f" ({klass})" if klass else "")
    need = " and ".join(
        x for x in (f">= {lo_b} days" if lo_b is not None else "", f"<= {hi_b} days" if hi_b is not None else "") if x
    )
    if c.params["until"] == "recurrence":
        if p.facts.get("de_novo") is True:
            # A de novo stage IV patient had no (neo)adjuvant therapy to relapse after: an early-relapse requirement
            # is not met; a minimum disease-free interval is met only when the criterion names de novo disease as
            # the alternative, otherwise a person decides whether it applies.
            if hi_b is not None:
                return False, f"de novo stage IV: no relapse after {label} (required {need})"
            if c.params.get("de_novo_allowed"):
                return True, f"de novo stage IV, which the criterion allows alongside a {label} interval {need}"
            return (
                None,
                f"de novo stage IV: no disease-free interval after {label}; whether {need} applies needs a person",
            )
        until = assess_stage(rec).first_metastasis
        if until is None:
            return None, f"no date of first distant metastasis recorded (needed: relapse {need} after {label})"
        until_label = f"first distant metastasis {_d(until)}"
    else:
        until = PartialDate.of(as_of)
        until_label = f"assessment date {as_of.isoformat()}"
    courses: list[TherapyExposure] = []
    unsure: list[TherapyExposure] = []
    for t in rec.therapies:
        counts = _event_course(t, event, klass)
        if counts is False:
            continue
        early = t.setting in ("adjuvant", "neoadjuvant", "early")
        before = t.start is None or t.start.earliest <= until.latest
        if early and before and counts:
            courses.append(t)
        elif before and (t.setting == "unknown" or (early and counts is None)):
            unsure.append(t)
    if not courses:
        if unsure:
            names = ", ".join(sorted({t.drug for t in unsure}))
            return None, f"{names}: setting or class not recorded, cannot tell whether it was {label}"
        if c.params.get("start_stated") is False:
            return None, "no (neo)adjuvant therapy recorded: the disease-free interval's start is not stated"
        return False, f"no {label} recorded before the {until_label} (the therapy list is read as complete)"
    names = ", ".join(sorted({t.drug for t in courses}))
    if any(t.ongoing for t in courses):
        lo = hi = -1  # relapse while still on (neo)adjuvant therapy
        read = f"{names} ongoing at the {until_label}"
    elif any(t.end is None for t in courses):
        return None, f"{names}: end date of {label} not recorded ({until_label})"
    else:
        ends = [t.end for t in courses if t.end is not None]
        e_lo = max(e.earliest for e in ends)
        e_hi = max(e.latest for e in ends)
        lo = (until.earliest - e_hi).days
        hi = (until.latest - e_lo).days
        last = max(ends, key=lambda e: e.latest)
        span = f"{lo} days" if lo == hi else f"{lo}-{hi} days"
        read = f"{label} ({names}) ended {_d(last)}; {until_label}: {span}"
        if hi < 0:
            read += " (relapse during therapy)"

    def ok(d: int) -> bool:
        return (lo_b is None or d >= lo_b) and (hi_b is None or d <= hi_b)

    if ok(lo) and ok(hi):  # the satisfying days form one interval: both ends in it means all of it is
        return True, f"{read}; required {need}: yes"
    inside = [lo_b is None or lo_b <= hi, hi_b is None or hi_b >= lo]
    if not all(inside):
        return False, f"{read}; required {need}: no"
    return None, f"{read}; required {need}: cannot tell (partial dates)"


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Whether the patient has what the constraint's params describe (None: unknown), with the evidence."""
    if c.type == "washout":
        return _check_washout(c, p)
    if c.type == "interval":
        return _check_interval(c, p)
    return None, f"not a time window: {c.type}"
