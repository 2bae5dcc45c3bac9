"""ClinicalTrials.gov eligibility criteria -> structured, explainable constraints for metastatic breast cancer.

`parse_criteria(text)` splits an `eligibilityCriteria` text into inclusion and exclusion criteria (one per bullet,
numbered item or paragraph) and reads, in each, the constraints that matter for metastatic breast cancer: disease
and stage, HR / HER2 status (HER2-low / ultralow, TNBC), prior lines and prior therapies (drug and class, from the
drug catalogue drugs.yaml), brain metastases, measurable disease, ECOG / Karnofsky, age, sex, biomarkers, pregnancy,
life expectancy and organ function. Anything else, and anything not understood, stays a criterion with no
constraints: free text whose verdict is "unknown" later. Nothing is guessed.

Context (negation, "history of", "prior ... is allowed", exceptions, conditions) is read with a small NegEx-style
rule set: trigger phrases with a forward (pre) or backward (post) scope that ends at a termination term or at the
end of the sentence — Chapman WW, Bridewell W, Hanbury P, Cooper GF, Buchanan BG. A simple algorithm for identifying
negated findings and diseases in discharge summaries. J Biomed Inform 2001;34(5):301-10 — extended, as ConText
(Harkema H et al., J Biomed Inform 2009;42:839-51) does, with categories for eligibility text: absolute exclusion
("are not eligible"), allowance ("is allowed"), exception ("unless", "except"), condition ("if", "for patients
with"), history ("history of") and, for therapies, blockers ("hypersensitivity to", "candidate for", washouts).
See docs/trials-criteria.md for the constraint types, their params, and the limits of this approach.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from mbcnav.knowledge.drugs import catalogue
from mbcnav.terminology.tumour_types import tumour_types
from mbcnav.trials import cohorts, kinds, novel_therapies, subgroups
from mbcnav.trials.context import Trigger, find_triggers, tokens_between
from mbcnav.trials.drug_names import find_drugs as _find_drugs
from mbcnav.trials.model import CONSTRAINT_TYPES as CONSTRAINT_TYPES
from mbcnav.trials.model import POLARITIES as POLARITIES
from mbcnav.trials.model import Constraint as Constraint
from mbcnav.trials.model import Criterion as Criterion
from mbcnav.trials.numbers import number
from mbcnav.trials.tables import read_table

if TYPE_CHECKING:
    from mbcnav.trials.store import TrialStore

PARSER_VERSION = "2.22.0"
# The longest criterion (one bullet) of the shared corpus has 2,230 characters; one over 5,000 is read as free text
# (verdict unknown), which bounds the parse of one criterion (some rules look at a whole sentence per mention).
MAX_CRITERION_CHARS = 5_000


def _load_cues() -> dict[str, str]:
    """The cue patterns of criteria_cues.yaml by name, each checked: it compiles, says what it means, has an example."""
    out: dict[str, str] = {}
    for key, row in read_table("criteria_cues.yaml")["cues"].items():
        if not row.get("means") or not row.get("examples"):
            raise ValueError(f"criteria_cues.yaml: {key} needs `means` and `examples`")
        re.compile(row["pattern"])
        out[key] = str(row["pattern"])
    return out


_CUES = _load_cues()  # read once, at import: the patterns below are module constants

# ------------------------------------------------------------------------------------------------ text helpers

_TRANSLATE = str.maketrans(
    {
        "\u2212": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u00ad": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u200b": " ",
        "\t": " ",
        "\r": " ",
        "\u2019": "'",
        "\u2018": "'",
        "\u2a7e": "≥",
        "\u2267": "≥",
        "\u2a7d": "≤",
        "\u2266": "≤",
        "\uff1e": ">",
        "\uff1c": "<",
        "\u00ef": "i",
        "\u03b1": "a",
        "\u2022": "*",
        "\u00b7": "*",
        "\u25cf": "*",
        "\u25e6": "*",
        "\u25aa": "*",
        "\u25a0": "*",
        "\u25a1": "*",
        "\u25ba": "*",
        "\u27a2": "*",
        "\u2219": "*",
        "\u2023": "*",
        "\uf0b7": "*",
    }
)
_ESCAPE = re.compile(r"\\(?=[^\w\s])")
# HTML character references left in some registry texts ("ER/PgR \&lt;1%"): read as the character, padded with
# spaces to the reference's length so offsets hold
_ENTITIES = {
    "&lt;": "<",
    "&gt;": ">",
    "&le;": "≤",
    "&ge;": "≥",
    "&amp;": "&",
    "&#39;": "'",
    "&#34;": '"',
    "&quot;": '"',
}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))


def _entity(m: re.Match[str]) -> str:
    return _ENTITIES[m.group(0)].ljust(len(m.group(0)))


# "18 years-of-age": the hyphenated form of "years of age" (same length, so offsets hold)
_YEARS_OF_AGE = re.compile(r"(?<=\byears)-of-(?=age\b)")


def _normalise(text: str) -> str:
    """Lower-case, unify dashes/comparators, blank out markdown escapes — same length as `text`, so offsets hold."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return _YEARS_OF_AGE.sub(" of ", _ESCAPE.sub(" ", _ENTITY.sub(_entity, low).translate(_TRANSLATE)))


_NUM = r"(?:\d{1,3}|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a single|single)"


def _num(text: str) -> int:
    return number(text)


# comparators: symbols (after normalisation "\>=" is " >=") and words
_CMP_SYM = r"(?:≥|≤|>\s*/?\s*=|<\s*/?\s*=|=\s*>|=\s*<|>|<)"
_GE_WORDS = (
    r"greater than or equal to|greater than or equal|equal to or greater than|equal or greater than|"
    r"more than or equal to|at least|of at least|no less than|not less than|no fewer than|not fewer than|"
    r"a minimum of|minimum of|minimum|from"
)
_GT_WORDS = r"greater than|more than|higher than|longer than|older than|above|over|exceeding|in excess of"
_LE_WORDS = (
    r"less than or equal to|less than or equal|equal to or less than|equal or less than|no more than|"
    r"not more than|no greater than|not greater than|not exceeding|not to exceed|at most|up to|a maximum of|"
    r"maximum of|maximum|no older than|not older than"
)
_LT_WORDS = r"less than|fewer than|lower than|shorter than|younger than|below|under"
_CMP = rf"(?:{_CMP_SYM}|{_GE_WORDS}|{_LE_WORDS}|{_GT_WORDS}|{_LT_WORDS})"


def _op(text: str) -> str:
    """'ge' | 'gt' | 'le' | 'lt' for a comparator phrase."""
    t = re.sub(r"\s+", " ", text.strip())
    compact = t.replace(" ", "").replace("/", "")
    if compact in ("≥", ">=", "=>"):
        return "ge"
    if compact in ("≤", "<=", "=<"):
        return "le"
    if compact == ">":
        return "gt"
    if compact == "<":
        return "lt"
    if re.fullmatch(_GE_WORDS, t):
        return "ge"
    if re.fullmatch(_LE_WORDS, t):
        return "le"
    if re.fullmatch(_GT_WORDS, t):
        return "gt"
    return "lt"


# ------------------------------------------------------------------------------------------------ segmentation

_BULLET = re.compile(
    r"(?:[*+>\-o](?=\s)|[*+\-]{1,4}|\d{1,3}\s?[.)](?!\d)|\(\d{1,3}\)|[a-z][.)](?=\s)|\([a-z]\)|"
    r"(?:i{1,3}|iv|v|vi{1,3}|ix|x)[.)](?=\s)|\((?:i{1,3}|iv|v|vi{1,3}|ix|x)\))"
)
_HEADER_WORD = re.compile(r"\b(inclusions?|exclusions?|ineligibility|eligibility)\b")
_HEADER_NOT = re.compile(
    r"may apply|will apply|\bapply\b\.?$|as defined in|per protocol|refer to|\bsee\b|not exclusion|"
    r"is not an? |does not|are not|assessed within|will be assessed|there are no"
)
_INLINE_HEADER = re.compile(
    r"^[\[(]?\s*(?:key |main |major |general |selected )?(?:inclusion|exclusion)(?: criteria|"
    r" criterion)?\s*[\])]?\s*:\s*"
)
_COND_SCOPE = re.compile(
    r"\b(?:cohorts?|arms?|parts?|strat(?:um|a)|sub-?stud(?:y|ies)|modules?|dose[- ](?:escalation|expansion)|"
    r"escalation|expansion|phase\s*(?:i{1,3}|[1-3])\s*[ab]?\d?|step\s*[2-9]|only|specific|donors?|recipients?|"
    r"healthy|controls?|caregivers?|partners?|family|families|providers?|procurement|dl\s?\d|"
    r"(?:for|in)\s+(?:potential\s+)?(?:patients|participants|subjects|women|men|those|individuals|females|males))\b"
)
_COND_OVERRIDE = re.compile(r"\b(?:all|both|every|general|common)\b")
_COND_PREFIX = re.compile(
    r"^\W*(?:(?:for|in)\s+(?:the\s+)?(?:\w+\s+){0,3}?(?:patients?|participants?|subjects?|women|men|those|"
    r"individuals|females|males|pts|cohorts?|arms?|parts?|modules?|phase|dose)\b|if\b|when\b|where\b|"
    r"(?:cohorts?|arms?|parts?|modules?|strat(?:um|a)|sub-?study|group)\s*[a-z0-9]{1,4}\b"
    r"(?:\s*(?:,|and|&|/|or)\s*[a-z0-9]{1,4}\b)*(?:\s+arm\s*\d)?(?:\s+[\w/+-]+){0,3}?\s*:|"
    r"(?:cohorts?|arms?|parts?|modules?|strat(?:um|a)|sub-?study|group)\s*[a-z0-9]{1,4}\b"
    r"(?:\s*(?:,|and|&|/|or)\s*[a-z0-9]{1,4}\b)*(?:\s+arm\s*\d)?"
    r"(?:\s+only)?\s*[:(,-]|note\b|notes\b|nb\b|definitions?\b|"
    r"(?:male|female)s?(?:\s+(?:patients|participants|subjects))?\s*:|aim\s*\d\s*:)"
)
_DEFINITION = re.compile(
    r"\bqualif(?:y|ies|ied)\b[^.;]{0,60}\bas\b|\b(?:is|are) (?:defined|considered) (?:as|to be|if)\b|"
    r"\bdefined as follows\b|\bdefinitions?\s*(?:of|:)|\bto qualify\b"
)
_COND_ONLY = re.compile(
    r"\b(?:(?:cohorts?|arms?|parts?|modules?|groups?|phase)\s+[a-z0-9]{1,4}|(?:dose[- ])?(?:expansion|escalation))\b"
    r"[^.;:]{0,40}\bonly\b"
)
_COND_PAREN = re.compile(
    r"\([^()]*\b(?:cohorts?|arms?|parts?|phase|module|stratum|dose escalation|dose expansion|expansion|group)\s+"
    r"[a-z0-9]{1,4}\b[^()]*\)|\([^()]*\bonly\)|\b(?:for|in)\s+(?:the\s+)?(?:cohorts?|arms?|parts?|modules?)\s+[a-z0-9]"
)
_NEG_PARENT = re.compile(
    r"\b(?:must not|should not|may not|cannot|none of the following|not (?:have|meet|be|had)|are excluded|"
    r"will be excluded|not eligible|ineligible|excluded if|exclude[sd]?)\b"
)
_OR_PARENT = re.compile(
    r"\b(?:(?:one|any|either|1)\s+(?:or more\s+)?of\s+(?:the\s+)?(?:following|these|below)|either|one of|"
    r"at least one of|any of)\b"
)
_EXC_PARENT = re.compile(
    r"\b(?:unless|except|exceptions?|eligible if|allowed if|permitted if|eligible provided|provided that|"
    r"may be (?:eligible|enrolled|included)|(?:are|is) (?:eligible|allowed|permitted) if|can be enrolled|"
    r"may participate|not exclud\w*|not an exclusion|note|notes|allowed|permitted|eligible)\b"
)
_ALNUM = re.compile(r"[a-z0-9]")
_TRAILING_OR = re.compile(r"(?:[,;]|\s)(?:or|and/or)\W*$")
_NOTE = re.compile(r"\W*(?:note|notes|nb|n\.b)\b")
_TOKEN = re.compile(r"[a-z0-9]+")
_PAREN = re.compile(r"[()\[\]]")


@dataclass(slots=True)
class _Item:
    start: int  # content start (after the bullet) in the text
    end: int
    level: int
    section: str
    negated: bool  # an ancestor says "must not have any of the following:"
    alternative: bool  # an ancestor says "one of the following:" (inclusion)
    exception: bool  # an ancestor introduces exceptions / notes
    conditional: bool  # a cohort- / subgroup-specific section or ancestor
    parent: int | None
    constraints: list[Constraint] = field(default_factory=list)
    brain_allowance: bool = False
    own_flags: tuple[bool, bool, bool, bool] = (False, False, False, False)  # neg, or, exc, cond of its own text
    cohort: str | None = None  # the cohort / part / arm it applies to (conditional items only)
    all_of: bool = False  # an exclusion whose constraints exclude only together
    alt_group: str | None = None  # the alternatives this item is one of (see _alternative_groups)
    held: bool = False  # binds only under a condition no cohort name says: read, decided only where it cannot matter


def _lines(text: str) -> Iterable[tuple[int, int]]:
    pos = 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        if nl < 0:
            nl = n
        yield pos, nl
        pos = nl + 1


def _header(content: str) -> tuple[str | None, bool, int] | None:
    """(section or None, conditional, offset of inline text or -1) when `content` is a section header."""
    stripped = content.strip(" *[]()\\#_:-")
    if not stripped or len(content) > 160:
        return None
    words = _HEADER_WORD.findall(stripped)
    if not words:
        return None
    inline = _INLINE_HEADER.match(content)
    ends_colon = content.rstrip(" *_)]").endswith(":")
    n_words = len(stripped.split())
    if inline and inline.end() < len(content.rstrip()):
        rest = content[inline.end() :]
        if _ALNUM.search(rest):
            return ("exclusion" if "exclusion" in inline.group(0) else "inclusion"), False, inline.end()
    if not (ends_colon or n_words <= 14) or _HEADER_NOT.search(stripped):
        return None
    if not ends_colon and re.search(r"\b(?:must|should|are|is|will|have|has)\b", stripped) and n_words > 6:
        return None
    has_in = any(w.startswith("inclusion") for w in words)
    has_ex = any(w.startswith("exclusion") or w == "ineligibility" for w in words)
    kind: str | None
    if has_in and has_ex:
        kind = None
    elif has_ex:
        kind = "exclusion"
    elif has_in:
        kind = "inclusion"
    else:
        kind = None
        if not ends_colon:
            return None
    rest_words = _HEADER_WORD.sub(" ", stripped)
    conditional = bool(_COND_SCOPE.search(rest_words)) and not _COND_OVERRIDE.search(rest_words)
    return kind, conditional, -1


_INLINE_ENUM = re.compile(r"(?<=[\s.;:])(\d{1,2})\\?[.)]\s+(?=[A-Z])")


def _inline_items(text: str, start: int, end: int, first_num: int | None) -> list[tuple[int, int]]:
    """A paragraph with inline numbering ("... 2. Ongoing use of ... 3. Any brain lesion ...") as separate items."""
    cands = [(m.start(), m.end(), int(m.group(1))) for m in _INLINE_ENUM.finditer(text, start, end)]
    if not cands:
        return [(start, end)]
    expected = first_num + 1 if first_num is not None else None
    cuts: list[tuple[int, int]] = []
    for i, (a, b, n) in enumerate(cands):
        if expected is None:
            if any(c[2] == n + 1 for c in cands[i + 1 :]):
                expected = n
            else:
                continue
        if n == expected:
            cuts.append((a, b))
            expected = n + 1
    if not cuts:
        return [(start, end)]
    out: list[tuple[int, int]] = []
    pos = start
    for a, b in cuts:
        piece_end = len(text[pos:a].rstrip()) + pos
        if piece_end > pos:
            out.append((pos, piece_end))
        pos = b
    out.append((pos, end))
    return out


def _segment(text: str, norm: str) -> list[_Item]:
    items: list[_Item] = []
    section = "inclusion"
    sec_cond = False
    group_cond = False
    stack: list[tuple[int, int]] = []  # (level, item index)
    or_lines: list[int] = []  # item count at each standalone "OR" line

    def add(cstart: int, cend: int, indent: int, bullet: bool) -> None:
        content = norm[cstart:cend]
        level = indent + (1 if bullet else 0)
        while stack and stack[-1][0] >= level:
            stack.pop()
        parent = stack[-1][1] if stack else None
        base_neg = base_or = base_exc = False
        base_cond = sec_cond
        if parent is not None:
            p = items[parent]
            base_neg = p.negated ^ p.own_flags[0]
            base_or = p.alternative or p.own_flags[1]
            base_exc = p.exception or p.own_flags[2]
            base_cond = base_cond or p.conditional or p.own_flags[3]
        ends_colon = content.rstrip(" *_)]").endswith(":") or bool(re.search(r"\bfollowing\W*$", content))
        own_neg = ends_colon and section == "inclusion" and bool(_NEG_PARENT.search(content))
        own_or = ends_colon and section == "inclusion" and not own_neg and bool(_OR_PARENT.search(content))
        own_exc = ends_colon and bool(_EXC_PARENT.search(content)) and not own_neg
        subheader = ends_colon or (not bullet and len(content) < 100 and not content.rstrip().endswith("."))
        own_cond = bool(_COND_PREFIX.search(content) or _DEFINITION.search(content)) and subheader
        item = _Item(
            start=cstart,
            end=cend,
            level=level,
            section=section,
            negated=base_neg,
            alternative=base_or,
            exception=base_exc,
            conditional=base_cond,
            parent=parent,
            own_flags=(own_neg, own_or, own_exc, own_cond),
        )
        items.append(item)
        stack.append((level, len(items) - 1))

    for ls, le in _lines(norm):
        raw = norm[ls:le]
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        m = _BULLET.match(raw, indent)
        cstart = ls + indent
        bullet = False
        if m:
            after = raw[m.end() :]
            if after[:1] in (" ", "") or not m.group(0)[-1].isalnum():
                bullet = True
                cstart = ls + m.end() + (len(after) - len(after.lstrip(" ")))
        content = norm[cstart:le].rstrip()
        if not _ALNUM.search(content):
            continue
        if re.fullmatch(r"\W*(?:or|and/or)\W*", content):
            or_lines.append(len(items))
            continue
        hdr = _header(content)
        if hdr is not None:
            kind, cond, inline_at = hdr
            if kind is None:
                group_cond = cond
                sec_cond = cond
            else:
                section = kind
                sec_cond = cond or group_cond
            stack.clear()
            if inline_at < 0:
                continue
            cstart += inline_at
            content = norm[cstart:le].rstrip()
            bullet = False
            indent = 0
        # a wrapped line (lower-case start, previous item unfinished) continues the previous item
        if not bullet and items and text[cstart : cstart + 1].islower() and items[-1].section == section:
            prev = items[-1]
            if not norm[prev.start : prev.end].rstrip().endswith((".", ":", ";")) and cstart - prev.end < 8:
                prev.end = cstart + len(content)
                continue
        first_num = int(m.group(0).strip("(). ")) if bullet and m and m.group(0).strip("(). ").isdigit() else None
        pieces = _inline_items(text, cstart, cstart + len(content), first_num)
        for k, (ps, pe) in enumerate(pieces):
            add(ps, pe, indent, bullet or k > 0)

    # a bullet ending in "OR" is an alternative to the next one at its level
    for idx, it in enumerate(items):
        if _TRAILING_OR.search(norm[it.start : it.end]):
            or_lines.append(idx + 1)
    # items on either side of a standalone "OR" line are alternatives of each other
    for at in or_lines:
        for idx in (at - 1, at):
            if 0 <= idx < len(items) and items[idx].section == "inclusion":  # excluded X or Y: both excluded
                items[idx].alternative = True
                lvl = items[idx].level
                j = idx + 1
                while j < len(items) and items[j].level > lvl:
                    items[j].alternative = True
                    j += 1
    _alternative_groups(items, or_lines)
    return items


def _alternative_groups(items: list[_Item], or_lines: list[int]) -> None:
    """Name the groups of alternatives whose members are read on their own: the direct children of a "one of the
    following:" head, and the items on either side of "OR" (chains A OR B OR C are one group). Deeper items (the
    details of one alternative) get no group: they keep no constraints, as before."""
    for it in items:
        if it.parent is not None and items[it.parent].own_flags[1] and it.section == "inclusion":
            it.alt_group = f"one-of-{it.parent}"
    root: dict[int, int] = {}

    def find(i: int) -> int:
        while root.get(i, i) != i:
            i = root[i]
        return i

    for at in or_lines:
        a, b = at - 1, at
        if a < 0 or b >= len(items):
            continue
        if items[a].section != "inclusion" or items[b].section != "inclusion" or items[a].level != items[b].level:
            continue
        if items[a].alt_group or items[b].alt_group:
            continue
        root[find(b)] = find(a)
    for idx in {i for pair in root.items() for i in pair}:
        items[idx].alt_group = f"or-{find(idx)}"


# ------------------------------------------------------------------------------------------------ context (NegEx)
# NegEx (Chapman WW et al., J Biomed Inform 2001;34:301-10) and ConText (Harkema H et al., J Biomed Inform
# 2009;42:839-51): the trigger phrases are a reviewed table, context_rules.yaml (loaded by trials/context.py), one row
# per trigger with its category, direction (forward / backward / bidirectional) and scope in tokens; pseudo-triggers
# ("no more than") look like negations but are not. How a category acts on a constraint: _Doc.context below.


def _alt(*phrases: str) -> str:
    return "|".join(sorted(phrases, key=len, reverse=True))


_ABBREV = ("e.g", "i.e", "vs", "etc", "approx", "incl", "no", "dr", "st", "fig", "ca", "e.g.", "i.e.", "al", "v")
_Trig = Trigger  # a matched row of context_rules.yaml (rule, start, end, text)


@dataclass(slots=True)
class _Ctx:
    neg: _Trig | None = None
    absolute: _Trig | None = None
    allow: _Trig | None = None
    exception: _Trig | None = None
    block: _Trig | None = None
    hist: _Trig | None = None
    post_neg: _Trig | None = None


class _Doc:
    """One criterion's normalised text with its sentences, parentheses and context triggers."""

    __slots__ = ("groups", "s", "sent_starts", "triggers")

    def __init__(self, s: str) -> None:
        self.s = s
        starts = [0]
        for m in re.finditer(r"[.;](?=\s|$)|\n\s*\n", s):
            if m.group(0) == ".":
                before = s[max(0, m.start() - 6) : m.start()].split()
                word = before[-1] if before else ""
                if word.rstrip(".") in _ABBREV or re.fullmatch(r"[a-z]", word):
                    continue
            starts.append(m.end())
        self.sent_starts = starts
        self.groups: list[tuple[int, int]] = []
        stack: list[int] = []
        if "(" in s or "[" in s:
            for pm in _PAREN.finditer(s):
                if pm.group(0) in "([":
                    stack.append(pm.start())
                elif stack:
                    self.groups.append((stack.pop(), pm.end()))
        self.triggers: list[_Trig] = find_triggers(s)

    def sentence(self, pos: int) -> tuple[int, int]:
        i = bisect_right(self.sent_starts, pos) - 1
        end = self.sent_starts[i + 1] if i + 1 < len(self.sent_starts) else len(self.s)
        return self.sent_starts[i], end

    def group_of(self, pos: int) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for a, b in self.groups:
            if a <= pos < b and (best is None or a > best[0]):
                best = (a, b)
        return best

    def _reaches(self, t: _Trig, ms: int, me: int) -> bool:
        """Parentheses: a trigger inside a group only reaches inside that group."""
        g = self.group_of(t.start)
        return g is None or (g[0] <= ms and me <= g[1])

    def condition_after(self, ms: int, me: int) -> bool:
        """A condition ("if", "for patients with") later in the sentence, outside unrelated parentheses."""
        _, se = self.sentence(ms)
        own = self.group_of(ms)
        for t in self.triggers:
            if t.cat != "condition" or t.start < me or t.start >= se or t.text in ("when", "as long as"):
                continue
            if t.text.startswith("provided"):
                continue
            g = self.group_of(t.start)
            if g is None or g == own:
                return True
        return False

    def _terminated(self, t: _Trig, a: int, b: int, ms: int, me: int) -> bool:
        """A terminating trigger (or literal) of t's rule between a and b, reaching the target, ends t's scope."""
        rule = t.rule
        if rule.terminated_by_literals and any(lit in self.s[a:b] for lit in rule.terminated_by_literals):
            return True
        return bool(rule.terminated_by) and any(
            u.cat in rule.terminated_by and a <= u.start < b and self._reaches(u, ms, me) for u in self.triggers
        )

    def context(self, ms: int, me: int) -> _Ctx:
        """The triggers (context_rules.yaml) whose scope reaches the target [ms, me): within its sentence, forward
        (the nearest preceding trigger wins) or backward (the nearest following one wins), in tokens."""
        ss, se = self.sentence(ms)
        ctx = _Ctx()
        s = self.s
        for t in self.triggers:
            if t.start < ss or t.start >= se:
                continue
            cat = t.cat
            if t.end <= ms:
                if not t.rule.reaches("forward", tokens_between(s, t.end, ms)):
                    continue
                if cat in ("exception", "condition"):
                    # a sentence-initial condition ("If ...", "When ...") makes the whole sentence conditional
                    if (cat == "condition" and not s[ss : t.start].strip(" -*,:(") and t.text in ("if", "when")) or (
                        self._reaches(t, ms, me)
                        and (
                            cat == "exception"
                            or not re.search(r"[,:]\s*$", s[t.end : ms])
                            or t.text not in ("if", "when")
                        )
                    ):
                        ctx.exception = t
                    continue
                if not self._reaches(t, ms, me) or self._terminated(t, t.end, ms, ms, me):
                    continue
                if cat == "negation":
                    ctx.neg = t
                elif cat == "absolute_exclusion":
                    ctx.absolute = t
                elif cat in ("allowance", "not_required"):
                    ctx.allow = t  # "Patient is allowed prior fulvestrant", "permitted including prior X"
                elif cat == "therapy_blocker":
                    ctx.block = t
                elif cat == "history":
                    ctx.hist = t
            elif t.start >= me:
                if not t.rule.reaches("backward", tokens_between(s, me, t.start)):
                    continue
                if not self._reaches(t, ms, me) or self._terminated(t, me, t.start, ms, me):
                    continue
                if cat == "absolute_exclusion" and ctx.absolute is None:
                    ctx.absolute = t
                elif cat in ("allowance", "not_required") and ctx.allow is None:
                    ctx.allow = t
                elif cat == "negation" and ctx.post_neg is None:
                    ctx.post_neg = t
        return ctx


# ------------------------------------------------------------------------------------------------ concept finders


@dataclass(slots=True)
class _Hit:
    type: str
    params: dict[str, Any]
    start: int  # local offsets in the criterion text
    end: int
    cue: str = ""
    inverted: bool = False  # the phrase itself asserts the opposite (non-metastatic, treatment-naive, non-measurable)
    numeric: bool = False  # bounds: exclusion converts to a required complement
    fixed_polarity: str | None = None  # pregnancy: always "excluded"
    ctx_types: str = ""  # "q": a qualified breast-cancer phrase; "bio": a gene finding
    count: tuple[int | None, int | None] | None = None  # "at least 2 lines of <this therapy>"
    specific: bool = False  # a count of lines of a named therapy: gives `count` to that therapy, not a line count


def _w(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w])(?:{pattern})(?![\w])")


# disease and stage
_BREAST = _w(
    r"breast\s+(?:cancers?|carcinomas?|adenocarcinomas?|neoplasms?|malignanc(?:y|ies)|tumou?rs?)|"
    r"(?:carcinoma|adenocarcinoma|cancer)s?\s+of\s+the\s+(?:male\s+|female\s+)?breast|mbc|(?:metastatic|advanced)\s+bc"
)
_BREAST_BLOCK_BEFORE = re.compile(
    r"(?:family history|risk|in situ|dcis|lcis|screening|suspected|suspicious|survivorship|"
    r"relatives?|mother|sister)\W+(?:\w+\W+){0,4}$"
)
_BREAST_BLOCK_AFTER = re.compile(r"^\W*(?:in situ|susceptibility|gene|risk|screening|prevention|survivors?)")
# excluded only when the phrase stands alone ("History of breast cancer", "... breast cancer within 5 years")
_BREAST_BARE_AFTER = re.compile(
    r"\s*(?:$|[.;,)]|or\b|and\b|(?:diagnosed\s+)?(?:within|in the (?:last|past|previous))\b|\((?:current|prior|"
    r"history))"
)
_BREAST_QUALIFIER = re.compile(
    r"(?:inflammatory|contralateral|ipsilateral|bilateral|male|second|secondary|another|other|new|occult|"
    r"early|early-stage|localized|local|operable|non-?metastatic|metastatic|advanced|recurrent|stage\s*\w+|"
    r"her2\S*|hr\S*|er\S*|pr\S*|triple\S*|luminal|hormone\S*|negative|positive|unresectable|"
    r"inoperable|de novo|invasive lobular|lobular|ductal|metaplastic|synchronous|metachronous)"
    r"\W+(?:\w+\W+){0,4}$"
)
_ADV_WORD = (
    r"(?:inoperable|unresectable|non-?resectable|locally[- ]advanced|locoregionally[- ]advanced|advanced|"
    r"recurrent|relapsed|metastatic|metastasized|stage\s*(?:iv|4)(?![\w-])|\(?m1\)?|de novo metastatic|"
    r"distant metastas[ie]s|distant metastatic disease|"
    r"locally recurrent)"
)
_ADV_SEQ = _w(rf"{_ADV_WORD}(?:\s*(?:,|/|and/or|or|and|\(|\))?\s*{_ADV_WORD})*")
_ADV_NOUN = re.compile(
    r"^[\s,()/-]*(?:\(?(?:m1|stage iv)\)?\s*)?(?:(?:and|or|and/or|/|,|-)\s*)?(?:[\w-]+[\s/,]+){0,6}?"
    r"(?:breast|cancers?|carcinomas?|adenocarcinomas?|disease|tumou?rs?|malignanc\w*|neoplasms?|bc|mbc|tnbc|"
    r"solid|her2\S*|hr\S*|er\S*|triple|hormone|luminal|estrogen|oestrogen|stage|sarcomas?|melanomas?|lymphomas?|"
    r"myelomas?|gliomas?|nsclc|crc|hcc|rcc|scchn|hnscc|mcrpc|pdac)\b"
)
_ADV_AFTER_BLOCK = re.compile(r"^[\s,()/-]*(?:setting|lesions?|sites?|biops\w+|tissue|sample|specimen|deposits?)\b")
_SETTING_ALT = re.compile(r"\b(?:neo-?adjuvant|\(neo\)\s*adjuvant|adjuvant|curative|early)\b[^.;]{0,60}\bor\b")
_THERAPY_SETTING = re.compile(
    r"\b(?:therap\w*|treatments?|chemo\w*|lines?|regimens?|endocrine|received|prior|inhibitors?|agents?|"
    r"exposure|progress\w*|relapse\w*)\b[^.;]{0,40}\b(?:for|in|of|during)\s+(?:the\s+)?(?:treatment of\s+)?$"
)
# "No evidence of metastasis (M0)": the negation is part of the phrase (read as metastasis excluded, never required)
_NONMET = _w(
    r"non-?metastatic|m0|(?:no|without) (?:(?:clinical |radiological |radiologic )*evidence of |signs? of )?"
    r"(?:distant )?(?:metastas[ie]s|metastatic disease)(?:\s*\(m0\))?"
)
_EARLY = _w(
    r"(?:early(?:[- ]stage)?|stage\s*(?:0|i{1,3}|[1-3])[abc]?(?:\s*(?:-|to|through|or|,|and|/)\s*(?:stage\s*)?"
    r"(?:i{1,3}|[1-3])[abc]?)*|operable|(?<!un)(?<!non-)(?<!non)resectable),?\s++[\s/-]*+"
    # up to 3 words between (a hyphenated word is one word): word and separator classes are disjoint and
    # possessive, so a run of dashes or spaces has one reading (linear; `[\w()-]+[\s/-]+` backtracked
    # catastrophically on "early" + a run of dashes)
    r"(?:[\w()]++(?:-++[\w()]++)*+[\s/-]++){0,3}?"
    r"(?:breast\s+(?:cancer|carcinoma)|(?:carcinoma|cancer) of the breast|ebc\b|tnbc|her2\S*\s+(?:breast|bc)|"
    r"hr\S*\s+(?:breast|bc))"
)

# disease setting beyond "metastatic": advanced_disease kinds the record can answer (metastatic, de novo vs
# recurrent, breast surgery done); see _find_setting
_INCURABLE = _w(
    r"(?:not|cannot|can not|non)\s+(?:be\s+)?(?:amenable|treatable|treated|candidates?|suitable|eligible)\s+"
    r"(?:to|for|with)\s+(?:[\w/-]+\s+){0,4}?(?:curative|definitive)(?:[\s-]+(?:intent|therapy|treatment|resection|surgery|"
    r"radiation|radiotherapy|surgical resection))?|incurable"
)
_CURABLE = _w(
    r"amenable\s+to\s+(?:[\w/-]+\s+){0,4}?(?:curative|definitive)(?:[\s-]+(?:intent|therapy|treatment|resection|"
    r"surgery|radiation|radiotherapy))?|(?:potentially\s+)?curable\s+(?:breast|disease|cancer)"
)
_PRIMARY = r"primary\s+(?:breast\s+)?(?:tumou?rs?|cancers?|lesions?|sites?)"
_PRIMARY_RESECTED = _w(
    rf"{_PRIMARY}\s+(?:(?:must|should|has|have|had|need to)\s+)*(?:been\s+)?(?:surgically\s+|completely\s+)?"
    r"(?:removed|resected|excised)|(?:underwent|undergone|had|prior|previous|after|following|post-?)\s*"
    rf"(?:[\w-]+\s+){{0,2}}?(?:surgical\s+)?(?:resection|removal|excision|surgery)\s+of\s+(?:the\s+|their\s+)?{_PRIMARY}"
)
_PRIMARY_IN_PLACE = _w(rf"{_PRIMARY}\s+(?:(?:must|should|is|are|be|still)\s+)*(?:in place|intact|in situ|unresected)")
_DE_NOVO = _w(
    r"de[- ]novo\s+(?:metastatic|stage\s*(?:iv|4)|mbc|advanced)|(?:metastatic|stage\s*(?:iv|4))[^.;]{0,25}?\bat\s+"
    r"(?:initial\s+|the\s+time\s+of\s+(?:initial\s+)?)?diagnosis"
)
_SETTING_BLOCK_BEFORE = re.compile(
    r"(?:\bif|\bintent|\bplan\w*|\bcandidates?|\bschedul\w*|\bwill|\bto undergo|\bsuitable|\bfeasible|\bable to|"
    r"\bmay|\bcan|\bor|\bwith or without)\W+(?:[\w-]+\W+){0,3}$"
)

# receptors
_POS = r"(?:\+\s?ve\b|\+(?!\d)|\(\+\)|positive\b|pos\b|-positive\b|rich\b|expressing\b)"
_NEGV = r"(?:-\s?ve\b|-(?=[\s/,;.)\]]|$|her|hr|pr|er)|\(-\)|negative\b|neg\b|-negative\b|poor\b)"
_HR_UNIT = (
    r"(?:hr|hormone[- ]receptors?|er\s*(?:and/or|and|or|/|&)\s*(?:pr|pgr)|estrogen[- ]receptor\s*(?:\(er\)\s*)?"
    r"(?:and/or|and|or|/)\s*progesterone[- ]receptors?|er/pr|er/pgr|oestrogen[- ]receptor\s*(?:and/or|and|or)\s*"
    r"progesterone[- ]receptors?|(?:o)?estrogen\s*(?:and/or|or|/)\s*progesterone[- ]receptors?)"
)
_ER_UNIT = r"(?:er|estrogen[- ]receptors?|oestrogen[- ]receptors?|er\s*\(estrogen receptor\))"
_PR_UNIT = r"(?:pr|pgr|progesterone[- ]receptors?)"
# possessive whitespace, one optional dash: "\s*...\s*[- ]?\s*" read a run of spaces in cubic time
_STATUS_TAIL = rf"\s*+(?:\((?:hr|er|pr|pgr)\)\s*+)?(?:-\s*+)?(?:(?P<pos>{_POS})|(?P<neg>{_NEGV}))"
_HR_RE = re.compile(rf"(?<![\w])(?P<unit>{_HR_UNIT}){_STATUS_TAIL}")
_ER_RE = re.compile(rf"(?<![\w])(?P<unit>{_ER_UNIT}){_STATUS_TAIL}")
_PR_RE = re.compile(rf"(?<![\w])(?P<unit>{_PR_UNIT}){_STATUS_TAIL}")
_ERPR_OR = _w(
    # "estrogen receptor (ER) positive and/or progesterone receptor (PgR) positive" (NCT06678269): one HR status
    rf"{_ER_UNIT}\s*+(?:\(er\)\s*+)?(?:-\s*+)?(?:\+|positive)\s*+(?:[\[(]?\s*+\w*+\s*+\+?\s*+[\])]?\s*+)?"
    rf"(?:and/or|or|/)\s*+{_PR_UNIT}\s*+(?:\((?:pr|pgr)\)\s*+)?(?:-\s*+)?"
    r"(?:\+|positive)"
    # "positive hormone receptor status", "positive for either ER or PR or both"
    r"|positive\s+(?:hormone[- ]receptors?|hr)\s+status|positive for (?:either\s+)?(?:er|estrogen receptors?|"
    r"oestrogen receptors?)\s*(?:and/or|or|/)\s*(?:pr|pgr|progesterone receptors?)"
)
# "negative hormone receptor status"
_HR_NEG_STATUS = _w(r"negative\s+(?:hormone[- ]receptors?|hr)\s+status")
_ER_LOW = _w(r"er[- ]low(?:[- ]positive)?|estrogen receptor[- ]low|hr[- ]low(?:[- ]positive)?")
_POS_FOR = _w(r"positive for (?:estrogen|oestrogen|er|hormone)")
_HER2 = r"(?:her[- ]?2(?:\s*/\s*neu)?|erbb2|her-2/neu|human epidermal growth factor receptor[- ]?2(?:\s*\(her2\))?)"
_HER2_RE = _w(
    rf"(?P<unit>{_HER2})\s*+\)?\s*+(?:status\s*+(?:is\s*+|:\s*+)?)?(?:-\s*+)?(?P<st>\+(?!\d)|\(\+\)|\+\s?ve\b|positive|pos\b|"
    # "HER2 positivity per the results of ... testing, defined as IHC 3+ ..." (NCT05514717); not "in the absence of
    # HER2 positivity are ineligible", which no such word follows
    r"positivity(?=\s+(?:per|as|defined|by|according|on|in)\b)|"
    r"over-?expressing|overexpression|over-?expressed|amplified|amplification|enriched|-(?=[\s/,;.)]|$|bc\b)|\(-\)|"
    r"-\s?ve\b|negative|neg\b|non-?amplified|not amplified|ultra-?low|low(?:-expressing)?|zero|null|0(?![\d+])|"
    r"mutant|mutated|mutations?|activating mutations?)"
)
_EITHER = re.compile(r"\s*+(?:[,/]\s*+)?(?:or|and/or|/)\s*+(?:negative|positive|unknown|neg|pos|-|\+)(?![\w])")
_HER2_ALT = re.compile(
    r"(?:\s*+(?:or|and/or|/|,)\s*+(?:her[- ]?2[- ]?)?(?:over-?expressed|amplified|positive|\+)?)*\s*(?:or|and/or|/)\s*"
    r"(?:her[- ]?2[- ]?)?(?:expressing|low|mutant|mutated|mutations?|ultra-?low)"
)
_RECEPTOR_HINT = re.compile(
    r"\b(?:hr|er|pr|pgr|her|her2|erbb2|hormone|estrogen|oestrogen|progesterone|triple|tnbc|human)"
)
_HER2_LOW_IHC = re.compile(
    r"ihc\s*(?:score\s*(?:of\s*)?)?1\s*\+\s*(?:,|or|and/or|/)\s*(?:ihc\s*)?2\s*\+\s*(?:and|with|/|,)?\s*"
    r"(?:a\s+)?(?:negative\s+)?(?:ish|fish|cish|sish)\s*[- ]?\s*(?:negative|-|non-?amplified|not amplified)?"
)
_HER2_ZERO = re.compile(r"\bihc\s*(?:score\s*(?:of\s*)?)?0(?![\d+.])|her2[- ]?(?:0|zero|null)\b|\bher2\s*ihc\s*0\b")
# "IHC 0, 1+, or 2+ and in situ hybridization (ISH) non-amplified" (NCT05464810): HER2-negative by its definition
_HER2_NEG_IHC = re.compile(
    r"\bihc\s*0\s*,\s*(?:ihc\s*)?1\s*\+\s*,?\s*(?:or|and/or)\s*(?:ihc\s*)?2\s*\+[^.;]{0,40}?\b(?:ish|fish|cish|sish)\b"
    r"[^.;]{0,30}?(?:non-?amplified|not amplified|negative|-)"
)
_HER2_BC = re.compile(r"(?<![\w])her[- ]?2\s?-(?=bc\b)")
_ULTRALOW = re.compile(r"ultra-?\s?low|ihc\s*>\s*0\s*(?:and\s*)?<\s*1\+|ihc\s*0\s*\+|faint.{0,40}(?:≤|<)\s*10\s*%")
_TNBC = _w(
    r"triple[- ]negative|tnbc|triple[- ]receptor[- ]negative|er\s*-\s*/\s*pr\s*-\s*/\s*her2\s*-|"
    r"(?:er|estrogen receptor)\s*(?:,|/)\s*(?:pr|progesterone receptor)\s*,?\s*(?:and|&|/)\s*her2\s*[- ]?\s*"
    r"(?:negative|-)|negative for (?:er|estrogen receptor)\s*,?\s*(?:pr|progesterone receptor)\s*,?\s*(?:and|&)\s*"
    r"her2"
)

# prior therapy classes
# topoisomerase I ("topoisomerase II" and "topo IV" excluded) and an antibody-drug conjugate, as class phrases use them
_TOPO1 = r"(?:topoisomerase[- ]?(?:i|1)|topo-?\s?(?:i|1))(?![iv\d])"
_ADC = r"(?:adcs?|antibody[- ]drug\s+conjugates?)"
_CLASS_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "cdk46_inhibitor",
        r"cdk\s*-?\s*4\s*(?:/|and|&|-|,)\s*(?:cdk\s*)?6(?:\s*-?\s*(?:inhibitors?|inhibition|i|is|blockers?|"
        r"targeting agents?|targeted (?:therapy|agents?)|therapy))?|cyclin[- ]dependent kinases?\s*(?:\(cdk\)\s*)?"
        r"4\s*(?:/|and)\s*6(?:\s*(?:\(cdk\s*4/6\)\s*)?inhibitors?)?",
    ),
    ("oral_serd", r"oral\s+serds?|oral\s+selective\s+(?:o)?estrogen\s+receptor\s+(?:degraders?|downregulators?)"),
    ("serd", r"serds?|selective\s+(?:o)?estrogen\s+receptor\s+(?:degraders?|downregulators?)"),
    ("serm", r"serms?|selective\s+(?:o)?estrogen\s+receptor\s+modulators?"),
    ("aromatase_inhibitor", r"(?:non-?steroidal\s+|steroidal\s+)?aromatase\s+inhibitors?|n?s?ais?(?![\w-])"),
    (
        "parp_inhibitor",
        r"parp\s*-?\s*(?:1/2\s*)?(?:inhibitors?|inhibition|i|is)|"
        r"poly[- ]adp[- ]ribose polymerase (?:\(parp\) )?inhibit\w*|poly\s*\(adp-ribose\)\s*polymerase inhibitors?",
    ),
    ("pi3k_inhibitor", r"pi3k(?:a|-alpha|alpha|ca)?\s*-?\s*inhibitors?|pik3ca\s+inhibitors?|pi3k-?a\s+inhibitors?"),
    ("akt_inhibitor", r"akt\s*-?\s*inhibitors?"),
    ("mtor_inhibitor", r"mtor\s*-?\s*inhibitors?|mtori"),
    (
        "her2_adc",
        r"(?:her2|anti-?her2)(?:-?\s?(?:directed|targeted|targeting))?\s+(?:adcs?|antibody[- ]drug\s+conjugates?)",
    ),
    (
        "trop2_adc",
        r"(?:trop-?2|anti-?trop-?2)(?:-?\s?(?:directed|targeted|targeting))?\s+(?:adcs?|"
        r"antibody[- ]drug\s+conjugates?)",
    ),
    (  # the payload class: deruxtecan and SN-38 are topoisomerase I inhibitors (FDA labels of Enhertu, Trodelvy,
        # Datroway: "... antibody and topoisomerase inhibitor conjugate")
        # "a topoisomerase payload" without the "I": every ADC topoisomerase payload of the catalogue is a type I
        # inhibitor; "topoisomerase II" (anthracyclines, etoposide) never matches
        "topo1_adc",
        rf"(?:{_TOPO1}(?:\s+inhibitors?)?(?:[- ]?(?:based|containing|payload))?|"
        r"topoisomerase(?:\s+inhibitors?)?[- ]payload)\s+"
        rf"{_ADC}|{_ADC}\s+(?:\(adcs?\)\s+)?(?:with|containing|carrying|bearing)\s+(?:an?\s+)?"
        rf"(?:{_TOPO1}(?:\s+inhibitors?)?(?:[- ]?(?:based|containing))?(?:\s+payloads?)?|"
        r"topoisomerase(?:\s+inhibitors?)?\s+payloads?)",
    ),
    ("adc", r"adcs?|antibody[- ]drug\s+conjugates?"),
    ("her2_tki", r"her2\s*(?:-?\s?targeted\s+)?(?:tkis?|tyrosine\s+kinase\s+inhibitors?)"),
    (
        "her2_directed",
        r"(?:anti-?her2|her2-?\s?(?:directed|targeted|targeting|blocking))(?:\s+(?:therapy|therapies|treatments?|"
        r"agents?|drugs?|regimens?|antibod(?:y|ies)|monoclonal antibod(?:y|ies)))?",
    ),
    (
        "immunotherapy",
        r"(?:immune\s+)?checkpoint\s+(?:inhibitors?|inhibition|blockade|blockers?)|icis?|"
        r"anti-?pd-?l?1(?:\s*(?:/|or|,)\s*(?:anti-?)?pd-?l[12])*(?:\s+(?:antibod(?:y|ies)|agents?|therapy|"
        r"inhibitors?|drugs?|checkpoint inhibitors?))?|pd-?l?1\s*(?:/\s*pd-?l1\s*)?(?:inhibitors?|blockade|blockers?)|"
        r"anti-?ctla-?4|immunotherapy",
    ),
    ("taxane", r"taxanes?(?:[- ]based|[- ]containing)?(?:\s+(?:chemotherapy|regimens?|therapy))?"),
    ("anthracycline", r"anthracyclines?(?:[- ]based|[- ]containing)?(?:\s+(?:chemotherapy|regimens?|therapy))?"),
    ("platinum", r"platinum(?:[- ]based|[- ]containing)?(?:\s+(?:chemotherapy|agents?|salts?|compounds?|regimens?))?"),
    ("anti_vegf", r"anti-?vegf(?:\s+(?:therapy|agents?|antibod(?:y|ies)))?"),
    (
        "ovarian_suppression",
        r"ovarian\s+(?:function\s+)?suppression|gnrh\s+(?:agonists?|analogues?|analogs?)|lhrh\s+(?:agonists?|"
        r"analogues?|analogs?)",
    ),
    (
        "endocrine",
        r"endocrine(?:-based)?\s+(?:therapy|therapies|treatments?|agents?)|hormonal\s+(?:therapy|therapies|treatments?|"
        r"agents?)|hormone\s+(?:therapy|therapies|treatments?)|anti-?(?:o)?estrogens?(?:\s+(?:therapy|agents?))?|"
        r"et(?!\s+al)",
    ),
    ("chemotherapy", r"chemotherap(?:y|ies)|cytotoxic(?:\s+(?:chemotherapy|therapy|agents?|drugs?|treatments?))?"),
)
# treatments named beside radiotherapy that no prior-therapy constraint reads (novel_therapies.rule_out_only)
_OTHER_LOCAL = re.compile(
    r"\b(?:surgery|surgical|resection|systemic (?:anti-?cancer )?(?:therapy|therapies|treatments?)|any (?:prior )?"
    r"treatment|ablation|ablative|locoregional|loco-regional|local therap\w*|biologic\w*|other (?:therapy|therapies|"
    r"treatments?)|anti-?cancer (?:therapy|therapies|treatments?))\b"
)
# the words a class phrase can start with: the class pattern is tried only there (speed)
_CLASS_START_WORDS = (
    "cdk cdk4 cyclin oral serd serds selective serm serms non nonsteroidal steroidal aromatase ai ais nsai nsais sai "
    "parp parpi poly pi3k pi3ka pi3kalpha pik3ca akt mtor mtori her2 anti antiher2 trop trop2 adc adcs antibody "
    "immune checkpoint ici icis antipd pd pd1 pdl1 antictla immunotherapy taxane taxanes anthracycline "
    "anthracyclines platinum antivegf ovarian gnrh lhrh endocrine hormonal hormone antiestrogen antiestrogens "
    "antioestrogen antioestrogens antiestrogenic et chemotherapy chemotherapies cytotoxic topoisomerase topo topo1"
)
_CLASS_STARTS = frozenset(_CLASS_START_WORDS.split())
_CLASS_RE = re.compile(
    "|".join(f"(?P<c{i}>(?<![\\w])(?:{pat})(?![\\w]))" for i, (_, pat) in enumerate(_CLASS_PATTERNS))
)
_PRIOR_CUE = re.compile(
    r"(?<![\w])(?:prior|previous(?:ly)?|pre-?treated|pretreatment|received|receipt|treated|treatment history|"
    r"exposure|exposed|progress(?:ed|ion|ing|ive)?|relapsed?|relapsing|recurrence|recurred|refractory|resistant|"
    r"resistance|failed|failure|had|history of|underwent|completed|completion)(?![\w])"
)
# progression, relapse, refractoriness on a therapy just before it is named ("progressed on prior", "progression
# during or after the last administered"; not "failed", which also covers stopping for intolerance)
_PROGRESSION_BEFORE = re.compile(_CUES["progression_before"])
# cues of response ("refractory to X") do not say that an exclusion bans X: only exposure cues do
_RESPONSE_CUE = re.compile(r"progress|relaps|recurr|refractory|resistan|fail")
# a therapy excluded because of how it went ("discontinued due to toxicity") is not a ban on the therapy
_TOX_AFTER = re.compile(
    r"\b(?:adverse (?:events?|reactions?)|toxicit\w*|iraes?|imaes?|immune[- ](?:related|mediated)|"
    r"discontinu\w+ (?:\w+ ){0,4}?due to|intoleran\w*|hypersensitiv\w*|allerg\w*|not tolerate\w*|"
    r"resulted in|neuropath\w*|dose reduc\w*|due to (?:safety|toxicit\w*|adverse))"
)
_DISTRIB = re.compile(
    r"(?<![\w])((?:pi3k|pik3ca|akt|mtor|cdk\s?4/6|parp)(?:\s*(?:,|/|or|and/or|and)\s*(?:pi3k|pik3ca|akt|mtor|cdk\s?4/6|"
    r"parp))+)\s*(?:pathway\s+)?inhibitors?"
)
_DISTRIB_CLASS = {
    "pi3k": "pi3k_inhibitor",
    "pik3ca": "pi3k_inhibitor",
    "akt": "akt_inhibitor",
    "mtor": "mtor_inhibitor",
    "cdk4/6": "cdk46_inhibitor",
    "parp": "parp_inhibitor",
}
_COUNTS_AS = re.compile(r"^\W*(?:\w+\W+){0,3}?(?:counts?|counted|considered|regarded)\s+as\b")
_COUNTED_BEFORE = re.compile(r"\b(?:counts?|counted|considered|regarded)\s+as\b[^.;]{0,40}$")
# "current use of X", "currently receiving X": the patient is on X now (the record's ongoing line), not ever exposed
_CURRENT_CUE = re.compile(_CUES["current_use"])
_THERAPY_IF = re.compile(
    r"\bif (?:\w+ ){0,4}?(?:received|treated|given|applicable|any|available|approved|accessible|eligible|"
    r"indicated|appropriate|feasible)\b|\bwhere (?:\w+ ){0,2}?(?:available|approved)\b|\bas applicable\b"
)
_SINCE = re.compile(r"\b(?:days?|weeks?|months?)\s+(?:since|from (?:the )?(?:last|completion|end))\b")
_MENOPAUSE_DEF = re.compile(r"amenorrh|menopaus|menses|\bfsh\b|estradiol")
_ADC_QUALIFIED = re.compile(
    r"topoisomerase|topo-?\s?i\b|mmae|auristatin|payload|camptothecin|exatecan|maytansin|\bdm1\b|vedotin|b7-?h3|"
    r"[a-z0-9]+-(?:targeted|directed|targeting)"
)
_PRIOR_POST = re.compile(r"^\s*-?\s*(?:pre-?treated|pretreated|exposed|refractory|resistant|experienced)\b")
_NAIVE_POST = re.compile(r"^\s*-?\s*(?:naive|naïve)\b")
_SETTING_MET = re.compile(
    r"\b(?:metastatic|advanced|recurrent|unresectable|inoperable|incurable|non-?curative|mbc|abc|palliative|"
    r"stage iv)\b(?:\s*(?:/|or|and/or|,)\s*\w+)*\s*(?:setting|disease|breast|bc|cancer|stage|\))|"
    r"\bfor\s+(?:advanced|metastatic|recurrent)|\bin the (?:advanced|metastatic)"
)
_SETTING_EARLY = re.compile(
    r"(?:\(neo\)\s*-?adjuvant|neo-?adjuvant|\badjuvant|\bearly[- ]stage|\bearly breast|\bcurative[- ]intent|"
    r"\bperioperative|\(neo\)adjuvant)"
)
_WINDOW = re.compile(
    r"\bwithin\s+(?:the\s+)?(?:last\s+|past\s+|previous\s+|prior\s+)?(?:\d|one|two|three|four|five|six|"
    r"seven|eight|ten|twelve)|\b\d+\s*(?:days?|weeks?|wks?|months?|hours?|half-lives)\s*(?:of|before|prior|"
    r"preceding|from)|(?:≤|<|<=|less than)\s*\d+\s*(?:days?|weeks?|months?)\b|\bin the (?:last|past|previous)\s+\d|"
    r"\bwash-?out|half-lives|\bwithin\s+the\s+following\s+(?:time\s+)?(?:periods?|windows?|intervals?)"
)

# prior lines
_QPRE = (
    r"at least|at most|a minimum of|minimum of|a maximum of|maximum of|no more than|not more than|no fewer than|"
    r"not fewer than|no less than|not less than|more than|greater than|fewer than|less than|up to|only|exactly|"
    r"≥|≤|>\s*/?\s*=|<\s*/?\s*=|=\s*>|=\s*<|>|<"
)
_LINE_FILL = (
    r"(?:(?:prior|previous|previously|additional|different|distinct|separate|consecutive|systemic|cytotoxic|chemo|"
    r"chemotherapy|chemotherapeutic|chemotherapy-based|endocrine|endocrine-based|hormonal|hormone|hormone-based|"
    r"anti-?cancer|anti-?neoplastic|standard|standard-of-care|palliative|treatment|therapy|therapies|based|"
    r"targeted|et|of|and|or|and/or|line\(s\)|lines?|regimens?|non-?endocrine|non-endocrine-based|"
    r"of care|care|combination|single[- ]agent)[\s,]+){0,8}?"
)
_LINE_NOUN = r"(?:lines?|line\(s\)|regimens?|regimen\(s\)|therapies|therapy|treatments?|chemotherapies|chemotherapy)"
_LINES_RE = re.compile(
    rf"(?<![\w.])(?:(?P<pre>{_QPRE})\s*)?(?P<n1>{_NUM})(?:\s*\(\s*\d+\s*\))?"
    rf"(?:\s*(?P<join>-|to|or|and|but|,)\s*(?:(?P<pre2>no more than|not more than|at most|up to|a maximum of|"
    rf"maximum of|≤|fewer than|less than)\s*)?(?P<n2>{_NUM})(?:\s*\(\s*\d+\s*\))?)?"
    rf"(?:\s*(?P<post>or more|or greater|or fewer|or less|\+))?\s+{_LINE_FILL}(?P<noun>{_LINE_NOUN})(?![\w])"
    r"(?P<tail>(?:\s+(?:of|with|containing)\s+(?:(?:systemic|cytotoxic|chemo|chemotherapy|endocrine|endocrine-based|"
    r"hormonal|hormone|anti-?cancer|standard|palliative|prior|treatment|therapy|therapies|based|targeted|et|and|or|"
    r"and/or|non-?endocrine|combination|adcs?|antibody[- ]drug conjugates?)[\s,]*){1,6})?)"
)
_KIND_WORD = re.compile(
    r"systemic|cytotoxic|chemo|endocrine|hormon|anti-?cancer|standard|palliative|treatment|therapy|therapies|"
    r"targeted|\bet\b"
)
_OF_NAMED = re.compile(
    r"\s*(of|with|containing|including)\s+(?:an?\s+|the\s+|any\s+|prior\s+)*(?!(?:systemic|therapy|treatment|chemo|"
    r"endocrine|hormon|standard|palliative|anti-?cancer)\b)\w"
)
_LINES_SETTING_RE = re.compile(
    r"(?<![\w])(?P<pre>prior|previous|previously received|received|any)\s+(?P<kind>(?:(?:systemic|cytotoxic|chemo|"
    r"chemotherapy|endocrine|hormonal|hormone|anti-?cancer|antineoplastic|standard|palliative|targeted|or|and|"
    r"and/or|,)\s*){0,5})(?P<noun>therapy|therapies|treatments?|chemotherapy|chemotherapies|regimens?|lines?"
    r"(?: of (?:systemic )?(?:therapy|treatment))?)(?![\w])"
)
_SETTING_AFTER = re.compile(
    r"^\s*(?:\([^)]*\)\s*)?(?:(?:given|administered|received)\s+)?(?:in|for)\s+(?:the\s+)?(?:setting of\s+)?"
    r"(?:(?:the\s+)?treatment\s+of\s+)?"  # "prior systemic therapy for treatment of ... metastatic breast cancer"
    r"(?:(?:advanced|metastatic|recurrent|unresectable|locally advanced|locally recurrent|inoperable|incurable|"
    r"non-?curative|"
    r"palliative|mbc|abc|stage iv|or|and/or|and|/|,)\s*)+(?:setting|disease|breast|bc|cancer|stage|mbc|abc)?"
)
_NAIVE_RE = _w(
    # "(disease) that has not been treated with systemic therapy in the metastatic setting" (NCT02732860)
    r"(?:ha(?:s|ve) not (?:yet )?(?:been )?(?:previously )?(?:treated|received|had) (?:with )?(?:any )?(?:prior )?"
    r"(?:systemic |anti-?cancer )+(?:therapy|therapies|treatments?) (?:in|for) (?:the )?(?:metastatic|advanced)"
    r"(?: or (?:metastatic|advanced))?(?: setting| disease)?)|"
    r"(?:previously untreated|treatment-?naive|treatment-?naïve|untreated|therapy-?naive|systemic therapy-?naive)"
    # "previously untreated with any systemic anticancer therapy for their locally advanced or metastatic ..."
    r"(?:\s+(?:with|by)\s+(?:any\s+)?(?:prior\s+)?(?:systemic\s+)?(?:anti-?cancer\s+|antineoplastic\s+)?"
    r"(?:therapy|therapies|treatments?)\s+(?:for|in)\s+(?:their|the)?)?"
    r"\s+(?:(?:locally advanced|advanced|metastatic|recurrent|unresectable|inoperable|or|and|and/or|/|,)\s*)+"
    r"(?:breast|disease|cancer|tnbc|her2\S*|hr\S*|triple|mbc|setting)"
)
_MET_WORD = re.compile(r"\b(?:metastatic|advanced|recurrent|unresectable|inoperable|incurable|mbc|abc|stage iv)\b")

# brain metastases
_BRAIN = _w(
    r"(?:brain|cns|central nervous system|cerebral|intracranial|intra-cranial)(?:\s*(?:\(cns\)|/|or|and/or)\s*"
    r"(?:brain|cns|central nervous system|leptomeningeal|spinal cord)?)*\s*(?:metastas[ie]s|metastatic disease|mets|"
    r"metastatic lesions?|involvement|disease|lesions?)|metastas[ie]s\s+(?:to|in|of)\s+the\s+(?:brain|cns|"
    r"central nervous system)|metastatic involvement of the (?:brain|central nervous system|cns)|"
    # "CNS parenchymal progression" (NCT05892068): brain metastases that progress
    r"(?:brain|cns|central nervous system|intracranial)\s+(?:parenchymal\s+)?(?:progression|progressive disease)"
)
_LEPTO = _w(
    r"leptomeningeal(?:\s+(?:disease|metastas[ie]s|carcinomatosis|involvement|spread))?|carcinomatous meningitis|"
    r"meningeal carcinomatosis|neoplastic meningitis"
)
_BRAIN_STATE = (
    ("untreated", re.compile(r"\buntreated\b|\bnot (?:been )?(?:previously )?treated\b|\bunirradiated\b")),
    ("symptomatic", re.compile(r"(?<![a-z])symptomatic\b")),
    (
        "active",
        re.compile(r"\bactive\b|\bprogress(?:es|ed|ing|ive)\b|\bunstable\b|\buncontrolled\b|\bgrowing\b"),
    ),
)
_BRAIN_TREATED = re.compile(
    r"\b(?:treated|stable|asymptomatic|controlled|inactive|irradiated|resected|radiated|previously treated)\b"
)
_BRAIN_ALLOW = re.compile(
    r"\b(?:treated|stable|asymptomatic|controlled|inactive|irradiated|resected)\b[^.;]{0,160}?\b(?:allowed|eligible|"
    r"permitted|acceptable|may (?:participate|enroll|be enrolled|be included|be eligible|be allowed)|"
    r"can (?:participate|enroll|be enrolled|be included)|are included|not (?:be )?excluded|"
    r"not (?:be )?(?:an )?exclusion)|"
    r"\b(?:allowed|eligible|permitted|may participate|may enroll|can (?:participate|enroll))\b[^.;]{0,100}?"
    r"\b(?:if|provided|as long as|when)\b[^.;]{0,160}?\b(?:treated|stable|asymptomatic|controlled|inactive)|"
    r"\b(?:unless|except|excluding|provided|other than|does not include)\b[^.;]{0,120}?\b(?:treated|stable|"
    r"asymptomatic|controlled|inactive)\b"
)

# measurable disease
_MEASURABLE = re.compile(
    r"(?<![\w-])(?P<non>non-?\s?|not\s+|un)?measurable\b(?=\W+(?:\w+\W+){0,3}?(?:disease|lesions?|tumou?rs?|target|"
    r"sites?|metastas\w*|per|by|according|as defined|using|recist|\())"
)
_EVALUABLE = re.compile(r"(?<![\w-])(?:evaluable|assessable)\s+(?:disease|lesions?|metastas[ie]s)\b")
_MEAS_EITHER = re.compile(
    r"measurable\s*(?:and/or|or|/)\s*(?:non-?\s?measurable|evaluable)|evaluable\s*(?:and/or|or|/)\s*measurable|"
    r"non-?\s?measurable[^.;]{0,80}?\b(?:allowed|eligible|permitted|acceptable)|bone[- ]only[^.;]{0,80}?"
    r"\b(?:allowed|eligible|permitted|acceptable)|or bone[- ]only|(?:and/or|or)\s+(?:lytic|mixed|bone)|"
    r"measurable\s+(?:disease|lesions?)\s*(?:and/or|or)\s*non-?\s?measurable\s+(?:bone|disease|lesions?)"
)

# performance status
_ECOG_ANCHOR = _w(
    r"ecog|eastern cooperative oncology group|zubrod|who\s+(?:performance status|ps)|performance status|ps"
)
_KPS_ANCHOR = _w(r"karnofsky|kps")
_OTHER_SCALE = re.compile(r"\b(?:karnofsky|kps|lansky)\b")

# age
_AGE_ANCHOR = re.compile(r"\b(?:age[ds]?|old|older|younger|adults?|birthday)\b")
# ages in definitions of menopause / childbearing potential or in family histories are not age limits
_AGE_SKIP = re.compile(
    r"menopaus|amenorrh|menses|childbearing|child-bearing|reproductive|family history|relatives?\b|sudden death|"
    r"qtc|lansky"
)
# ... and in the sentence of the age only: "Age >= 18 years. Because no dosing ... data are currently available ...,
# children are excluded from this study" (the NCI wording) reads the first sentence, not the second
_AGE_SKIP_SENTENCE = re.compile(
    r"paediatric|pediatric|children|adolescents|no dosing|adverse event \(?(?:ae\)? )?data|not relevant to"
)
_AGE_RANGE = re.compile(
    r"(?<![\w.])(?:between\s*(?:the\s*ages?\s*of\s*)?|from\s*|aged?\s*)?(?P<a>\d{1,3})\s*(?:years?|yrs?)?\s*"
    r"(?:-|to|and)\s*(?P<b>\d{1,3})\s*(?:years?|yrs?)(?:\s*(?:of\s*age|old))?(?:,?\s*inclusive)?"
)
_AGE_CMP = re.compile(
    rf"(?P<op>{_CMP})\s*(?:the\s+age\s+of\s+)?(?P<n>\d{{1,3}})(?![\d.])\s*(?:years?|yrs?|y\b)?"
    r"(?P<tail>[\s-]*(?:of\s*age|old|of\s*age\s*or\s*older))?"  # "18 years-old"
)
_AGE_POST = re.compile(
    r"(?<![\w.])(?P<n>\d{1,3})\s*(?:years?|yrs?)(?:\s*of\s*age|[\s-]*old)?\s*(?:or|and)\s*"
    r"(?P<dir>older|over|above|greater|more|younger|under|less|below)(?!\s*than)"
)
_AGE_POST_BARE = re.compile(
    r"\bage[ds]?\s*(?:of\s*)?(?P<n>\d{1,3})\s*(?:\+|(?:or|and)\s*(?:older|over|above))(?!\s*than)"
)

# sex
_SEX_LEAD = re.compile(
    r"^\W*(?:(?:patients?|participants?|subjects?)\s+(?:must\s+be\s+|is\s+|are\s+)?)?(?:(?:adult|pre-?|post-?|peri-?|"
    # possessive: "and/or" is also "and" "/" "or", "post-menopausal" two words; no word here starts a sex word,
    # so the loop never has to give one back (linear on a run of "and/or", which backtracked exponentially)
    r"premenopausal|postmenopausal|perimenopausal|menopausal|ambulatory|biological|cisgender|or|and|and/or|,|/)\s*)*+"
    r"(?P<sex>females?|women|woman|males?|men|man)\b"
)
_SEX_BLOCK = re.compile(
    r"^[^.;]{0,120}?\b(?:child|childbearing|child-bearing|reproductive|potential|wocbp|partners?|agree|willing|"
    r"sexually|fertile|father|capable|contracept\w*|pregnan\w*|breast[- ]?feeding|lactat\w*|nursing|"
    r"must|should|will|need|may|can|sterile|sterili[sz]ed)\b"
)
_SEX_NEXT = re.compile(
    r"\s*(?:$|[,;.(]|(?:patients?|participants?|subjects?|individuals|adults?|persons?|sex|gender)\b|aged?\b|of age\b|"
    r"≥|>|=|over\b|at least\b|older\b|\d|with\b|diagnosed\b|18\b)"
)
_SEX_ANY = re.compile(r"\b(?:females?|women|woman|girls?)\b"), re.compile(r"\b(?:males?|men|man|boys?)\b")
# a criterion made only of population words: who may take part, restricting no one ("Pre- or postmenopausal women
# or men.", NCT06016738); any other word (a disease, an obligation) and it is not read as open
_SEX_OPEN = re.compile(
    r"\W*(?:(?:adults?|females?|women|woman|males?|men|man|participants?|patients?|subjects?|pre-?|post-?|peri-?|"
    r"menopausal|premenopausal|postmenopausal|perimenopausal|status|any|either|both|of|and|or|and/or|can|may|be|are|"
    r"is|eligible|included|regardless|sex|gender)\b[\s,/.()-]*)+"
)
_MENO_ALL = re.compile(r"\bpre-?\W+(?:\w+\W+){0,3}post-?\s*-?\s*(?:menopaus|\W)|\bregardless of menopausal")
_SEX_EXPLICIT = re.compile(r"\b(?:must be|is|be)\s+(?P<sex>female|male)\b|\b(?P<sex2>female|male)\s+(?:sex|gender)\b")

# biomarkers
_GENES = (
    "brca1/2",
    "brca1/brca2",
    "brca 1/2",
    "brca1",
    "brca2",
    "gbrca1/2",
    "gbrca",
    "gbrcam",
    "sbrca",
    "brcam",
    "brca",
    "pik3ca",
    "esr1",
    "akt1",
    "pten",
    "palb2",
    "atm",
    "chek2",
    "rad51c",
    "rad51d",
    "bard1",
    "brip1",
    "tp53",
    "cdh1",
    "nf1",
    "rb1",
    "erbb2",
    "fgfr1",
    "fgfr2",
    "fgfr3",
    "fgfr4",
    "fgfr",
    "ntrk",
    "ntrk1",
    "ntrk2",
    "ntrk3",
    "ret",
    "braf",
    "kras",
    "nras",
    "egfr",
    "alk",
    "ros1",
    "met",
    "idh1",
    "idh2",
    "kit",
    "stk11",
    "keap1",
    "mtap",
    "cdkn2a",
)
_GENE_TOKEN = r"(?:" + _alt(*(re.escape(g) for g in _GENES)) + r")(?:m)?"
_GENE_GROUP = re.compile(
    # possessive separators: "and/or" is also "and" "/" "or" (a run of them backtracked exponentially)
    rf"(?<![\w])(?P<g>{_GENE_TOKEN})(?![\w])(?:(?:\s*+(?:,|/|or|and/or|and|&)\s*+)++(?<![\w]){_GENE_TOKEN}(?![\w]))*"
)
_CARRIER_GENES = ("BRCA1", "BRCA2", "PALB2", "ATM", "CHEK2", "RAD51C", "RAD51D", "BARD1", "BRIP1")  # "BRCA positive"
_ALT_MUT = re.compile(
    r"\b(?:mutations?|mutated|mutant|mutants?|variants?|pathogenic|deleterious|carriers?|activating|m)\b|"
    r"^(?:m)\b"
)
_ALT_ALTER = re.compile(
    r"\b(?:alterations?|altered|loss|deficien\w*|deletions?|fusions?|rearrange\w*|amplification|amplified|"
    r"aberrations?|abnormalit\w*)\b"
)
_ALT_WT = re.compile(r"\b(?:wild[- ]?type|wt|non-?mutated|unmutated)\b")
_TESTING = re.compile(
    r"\b(?:test(?:ing|ed)?|screen(?:ing|ed)?|assess(?:ment|ed)?|determin\w*|evaluat\w*)\s+(?:for|of)\s+(?:\w+\s+){0,3}$"
)
_PDL1 = _w(r"pd-?l1")
_ANDROGEN_RECEPTOR = re.compile(_CUES["androgen_receptor"])
_CPS = re.compile(
    r"\b(?:cps|"
    rf"combined positive score)\b\s*(?:\(cps\)\s*)?(?:score\s*)?(?:of\s*)?(?P<op>{_CMP})?\s*(?P<n>\d+(?:\.\d+)?)"
)
_TPS = re.compile(
    r"\b(?:tps|"
    rf"tumou?r proportion score)\b\s*(?:\(tps\)\s*)?(?:score\s*)?(?:of\s*)?(?P<op>{_CMP})?\s*(?P<n>\d+(?:\.\d+)?)"
)
_PDL1_STATUS = re.compile(r"^\s*(?:expression\s*)?[- ]?\s*(?P<st>positive|negative|\+(?!\d)|-(?=[\s/,;.)]|$)|high|low)")

# pregnancy
_PREG = _w(
    r"pregnant|pregnancy|pregnancies|breast-?\s?feeding|breastfeeding|lactating|lactation|nursing(?!\s+homes?)|"
    r"positive\s+(?:serum\s+|urine\s+|blood\s+)?(?:β-?hcg\s+|beta-?hcg\s+|hcg\s+)?pregnancy\s+tests?"
)
_PREG_NEG_TEST = re.compile(
    r"negative\s+(?:(?:serum|urine|blood|urinary|highly sensitive|β-?hcg|beta-?hcg|hcg|b-?hcg|\(\w+\)|or|and|/)\s*)*"
    r"pregnancy(?:\s+tests?)?|pregnancy\s+tests?\s+(?:\w+\s+){0,5}?negative"
)
_PREG_SKIP_BEFORE = re.compile(
    r"(?:avoid|avoiding|prevent|preventing|become|becoming|get|getting|risk of|potential for|plan\w*|intend\w*|"
    r"wish\w*|father|conceive|partners?|childbearing|child-bearing|during|throughout|after|contracept\w*|"
    r"try(?:ing)? to|achieve|of)\s+(?:\w+\s+){0,1}$"
)
_PREG_SKIP_AFTER = re.compile(r"^\s*(?:tests?|testing|prevention|outcomes?|category|potential|partners?|loss)\b")
_PREG_NOT_BEFORE = re.compile(r"(?:\bnot|\bnon-?|\bno|\bneither|\bnor|must not be|cannot be)\s*(?:\w+\s+){0,2}$")

# life expectancy, organ function
_LIFE = re.compile(
    rf"\blife expectancy\b\s*(?:\w+\s+){{0,6}}?(?:is\s+|of\s+|:\s*|must be\s+|should be\s+)?(?P<op>{_CMP})?\s*"
    rf"(?P<n>{_NUM})\s*(?P<unit>weeks?|wks?|months?|mos?|years?)\b(?P<post>\s*(?:or (?:more|longer|greater)))?"
)
_ORGAN = re.compile(
    r"\b(?P<adj>adequate|sufficient|acceptable|normal)\s+"
    r"(?P<sys>(?:(?:bone marrow|bone-marrow|marrow|hematologic(?:al)?|haematologic(?:al)?|hepatic|liver|"
    r"renal|kidney|cardiac|heart|organ|end[- ]organ|major organ|pulmonary|lung|coagulation|blood|cardiovascular)"
    r"\s*,?\s*(?:and/or|and|/|or)?\s*)+)(?:functions?|reserve|status|parameters|counts?|values)\b"
)
_LAB_PROTOCOL = re.compile(
    r"\b(?:adequate|acceptable)\s+(?:\w+\s+(?:and\s+)?)?laboratory\s+(?:values|parameters|results)\b|"
    r"\blaboratory\s+(?:values|parameters|results)\s+(?:meeting|within|as defined|that meet|fulfil\w*)\b"
    r"(?=[^.;]{0,60}\b(?:protocol|criteria|study|defined|limits?)\b)"
)
_ORGAN_MORE = re.compile(
    r"\s*,?\s*(?:and/or|and|or|as well as)\s+((?:(?:adequate|normal|acceptable)\s+)?(?:coagulation|(?:cardiac|heart|"
    r"pulmonary|lung|cardiovascular)\s+(?:functions?|parameters|profile|status|tests?|values)))\b"
)
_ORGAN_MAP = (
    ("bone_marrow", re.compile(r"marrow|hematolog|haematolog|blood")),
    ("hepatic", re.compile(r"hepatic|liver")),
    ("renal", re.compile(r"renal|kidney")),
    ("cardiac", re.compile(r"cardiac|heart|cardiovascular")),
    ("pulmonary", re.compile(r"pulmonary|lung")),
    ("coagulation", re.compile(r"coagulation")),
    ("organ", re.compile(r"organ")),
)
_LVEF = re.compile(
    r"(?:lvef|left ventricular ejection fraction|"
    rf"ejection fraction)\b[^.;%]{{0,60}}?(?P<op>{_CMP})\s*(?P<n>\d{{2}})\s*%"
)
_CRCL = re.compile(
    rf"(?:creatinine clearance|crcl|clcr)\b[^.;]{{0,40}}?(?P<op>{_CMP})\s*(?P<n>\d{{2,3}})\s*/?\s*(?:ml|cc)\s*/\s*min"
    r"(?P<bsa>\s*/\s*1\.73)?"
)
# an estimated GFR bound ("Estimated glomerular filtration rate of >= 60 mL/min/1.73m2", "eGFR >= 45 mL/min")
_EGFR = re.compile(
    rf"(?:estimated glomerular filtration rate|glomerular filtration rate|\begfr|\bgfr)\b(?:\s*\((?:e?gfr)\))?"
    rf"(?:(?!mutat|positiv|negativ|amplif|variant)[^.;]){{0,30}}?(?P<op>{_CMP})\s*(?P<n>\d{{2,3}})\s*(?:ml|cc)\s*/\s*min"
)
_RENAL_METHODS = re.compile(_CUES["renal_methods"])
_GFR_ALLOWED = re.compile(_CUES["renal_gfr_allowed"])


# ------------------------------------------------------------------------------------------------ finders


# "previously treated for early-stage breast cancer": its history, not the stage required (criteria_cues.yaml)
_EARLY_HISTORY = re.compile(_CUES["early_stage_history"])
# "invasive breast cancer, clinically stage I-II" (NCT05150652): the stage written after the disease
_EARLY_AFTER = re.compile(
    r"\bbreast\s+(?:cancer|carcinoma)\b\s*(?:,|\bof|\bat)?\s*(?:(?:clinical(?:ly)?|pathologic(?:al(?:ly)?)?|anatomic(?:al)?)\s+)?"
    r"stage\s*(?:0|i{1,3}|[1-3])[abc]?(?:\s*(?:-|to|through|or|,|and|/)\s*(?:stage\s*)?(?:i{1,3}|[1-3])[abc]?)*+"
    r"(?![\w-])(?!\s*(?:-|to|through|or|,|and|/)\s*(?:stage\s*)?(?:iv|4)\b)"
)


# "breast or ovarian cancer", "solid tumor": breast cancer as one of the diseases named (criteria_cues.yaml)
_BREAST_IN_LIST = re.compile(_CUES["breast_in_a_list"])
_SOLID_TUMOUR = re.compile(_CUES["solid_tumour"])


def _find_disease(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    if not _BREAST.search(s):
        for m in (*_BREAST_IN_LIST.finditer(s), *_SOLID_TUMOUR.finditer(s)):
            before = s[max(0, m.start() - 60) : m.start()]
            if _BREAST_BLOCK_BEFORE.search(before) or re.match(r"[^.;]{0,25}:\s*$", s[m.end() :]):
                continue  # "Have one of the following solid tumor cancers:": the list below names which
            # qualified ("q"): in an exclusion the list or the solid tumour is never breast cancer excluded
            hits.append(_Hit("disease_breast", {}, m.start(), m.end(), cue=f'"{m.group(0)}"', ctx_types="q"))
            break
    for m in _BREAST.finditer(s):
        before = s[max(0, m.start() - 60) : m.start()]
        if _BREAST_BLOCK_BEFORE.search(before) or _BREAST_BLOCK_AFTER.search(s[m.end() : m.end() + 30]):
            continue
        qualified = bool(_BREAST_QUALIFIER.search(before[-40:])) or not _BREAST_BARE_AFTER.match(s, m.end())
        hits.append(
            _Hit("disease_breast", {}, m.start(), m.end(), cue=f'"{m.group(0)}"', ctx_types="q" if qualified else "")
        )
    for m in _ADV_SEQ.finditer(s):
        text = m.group(0)
        if re.search(r"\bnon[- ]?$", s[max(0, m.start() - 4) : m.start()]):
            continue  # "non-metastatic": handled by _NONMET below, never a requirement for metastatic disease
        after = s[m.end() : m.end() + 60]
        has_met = bool(re.search(r"metasta|stage\s*(?:iv|4)|\bm1\b|distant", text))
        standalone = bool(re.search(r"stage\s*(?:iv|4)|distant metasta|\bm1\b", text))
        if not standalone and (not _ADV_NOUN.match(after) or _ADV_AFTER_BLOCK.match(after)):
            continue
        if re.fullmatch(r"\(?m1\)?", text.strip()) and not re.search(r"\bm1\b", text):
            continue
        before = s[max(0, m.start() - 25) : m.start()]
        if re.search(r"\b(?:brain|cns|bone|liver|visceral|lung|site of|sites of)\W*$", before):
            continue
        if _THERAPY_SETTING.search(s[max(0, m.start() - 60) : m.start()]):
            continue  # "chemotherapy for metastatic disease": the setting of a therapy, not the disease required
        if _SETTING_ALT.search(s[max(0, m.start() - 80) : m.end() + 30]):
            continue  # "neoadjuvant, adjuvant, or in the setting of recurrent or metastatic disease": any setting
        if re.fullmatch(r"(?:recurrent|relapsed|locally recurrent)", text.strip()):
            continue
        has_la = bool(re.search(r"locally|locoregionally", text))
        has_unres = bool(
            re.search(
                r"unresectable|inoperable|non-?resectable|not (?:be )?amenable to (?:curative |complete )?"
                r"(?:resection|surgery|surgical)|not (?:surgically )?resectable",
                text + " " + after[:60],
            )
        )
        has_adv = bool(re.search(r"(?<!locally )(?<!locally-)(?<!locoregionally )advanced|recurrent|relapsed", text))
        if has_met:
            kind = "advanced" if (has_la or has_adv or re.search(r"unresectable|inoperable", text)) else "metastatic"
        elif has_la:
            if not has_unres:
                continue
            kind = "locally_advanced_unresectable"
            if re.match(r"\s*(?:,|or|and/or|/)\s*(?:mbc|metastatic|stage\s*(?:iv|4)\b)", after):
                kind = "advanced"  # "locally advanced unresectable or MBC": either setting
        elif has_adv or has_unres:
            kind = "advanced"
        else:
            continue
        hits.append(_Hit("advanced_disease", {"kind": kind}, m.start(), m.end(), cue=f'"{text.strip()}"'))
    for m in _NONMET.finditer(s):
        hits.append(
            _Hit("advanced_disease", {"kind": "metastatic"}, m.start(), m.end(), cue=f'"{m.group(0)}"', inverted=True)
        )
    for m in [*_EARLY.finditer(s), *_EARLY_AFTER.finditer(s)]:
        if _EARLY_HISTORY.search(s[max(0, m.start() - 50) : m.start()]):
            continue  # "previously treated for early-stage breast cancer": the history of the disease, not its stage
        hits.append(
            _Hit(
                "advanced_disease",
                {"kind": "metastatic"},
                m.start(),
                m.end(),
                cue=f'"{m.group(0)}" is non-metastatic disease',
                inverted=True,
            )
        )
    return hits


# "X-only" metastatic disease (a site-limited spread): "Has skin only metastatic disease" (NCT06841354), "Patients
# that have only liver metastases will not be allowed", "bone-only disease"; the words name record sites
_SITE_WORDS = {
    "skin": "skin_soft_tissue", "cutaneous": "skin_soft_tissue", "chest wall": "skin_soft_tissue",
    "bone": "bone", "osseous": "bone", "skeletal": "bone", "liver": "liver", "hepatic": "liver",
    "lung": "lung", "pulmonary": "lung", "brain": "brain", "cns": "brain", "nodal": "distant_lymph_node",
    "lymph node": "distant_lymph_node",
}  # fmt: skip
_SITE_ALT = "|".join(sorted(map(re.escape, _SITE_WORDS), key=len, reverse=True))
_SITE_ONLY = re.compile(
    rf"\b(?P<a>{_SITE_ALT})[- ]only\s+(?:(?:metastatic|advanced|measurable|non-?measurable|evaluable)\s+)*"
    rf"(?:disease|metastas[ie]s|mets|lesions?)\b|"
    rf"\bonly\s+(?P<b>{_SITE_ALT})\s+(?:metastas[ie]s|mets|disease|lesions?)\b|"
    rf"\b(?:metastas[ie]s|metastatic disease|disease)\s+(?:limited|confined|restricted)\s+to\s+(?:the\s+)?"
    rf"(?P<c>{_SITE_ALT})\b"
)


def _find_site_only(s: str) -> list[_Hit]:
    hits = []
    for m in _SITE_ONLY.finditer(s):
        word = m.group("a") or m.group("b") or m.group("c")
        params = {"kind": "site_only", "sites": [_SITE_WORDS[word]]}
        hits.append(_Hit("advanced_disease", params, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    return hits


def _find_setting(s: str) -> list[_Hit]:
    """Disease setting as advanced_disease kinds: "incurable" (not amenable to curative treatment; "amenable to
    curative treatment" is its inversion), "primary_resected" (the primary breast tumour removed; "primary tumour in
    place" is its inversion) and "de_novo" (metastatic at diagnosis). Alternatives ("de novo or recurrent",
    "primary may be in place") are not read."""
    hits: list[_Hit] = []
    for m in _INCURABLE.finditer(s):
        hits.append(_Hit("advanced_disease", {"kind": "incurable"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    for m in _CURABLE.finditer(s):
        if any(h.start <= m.start() < h.end for h in hits):
            continue
        hits.append(
            _Hit(
                "advanced_disease",
                {"kind": "incurable"},
                m.start(),
                m.end(),
                cue=f'"{m.group(0)}" is curable disease',
                inverted=True,
            )
        )
    for rx, inverted in ((_PRIMARY_RESECTED, False), (_PRIMARY_IN_PLACE, True)):
        for m in rx.finditer(s):
            before = s[max(0, m.start() - 40) : m.start()]
            after = s[m.end() : m.end() + 30]
            if _SETTING_BLOCK_BEFORE.search(before) or re.match(r"\s*(?:or|and/or)\b", after):
                continue
            hits.append(
                _Hit(
                    "advanced_disease",
                    {"kind": "primary_resected"},
                    m.start(),
                    m.end(),
                    cue=f'"{m.group(0)}"' + (": primary tumour not removed" if inverted else ""),
                    inverted=inverted,
                )
            )
    for m in _DE_NOVO.finditer(s):
        near = s[max(0, m.start() - 30) : m.end() + 30]
        if re.search(r"\b(?:recurrent|relapsed|secondary|recurrence)\b|\bsuspected\b", near):
            continue
        hits.append(_Hit("advanced_disease", {"kind": "de_novo"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    # "Prior history of invasive breast carcinoma", "History of ipsilateral breast cancer" as the whole criterion (a de
    # novo study's exclusion): an earlier breast cancer, i.e. recurrent, not de novo, disease (fresh8, fresh11 judges)
    if hm := _BC_HISTORY.fullmatch(s.strip(" .;:*-")):
        hits.append(
            _Hit(
                "advanced_disease",
                {"kind": "recurrent"},
                hm.start(),
                hm.end(),
                cue=f'"{hm.group(0)}": an earlier breast cancer, i.e. recurrent (not de novo) disease',
            )
        )
    return hits


_BC_HISTORY = re.compile(
    # an earlier cancer said so ("prior history of", "history of ipsilateral / previous breast cancer"); a bare "History
    # of invasive breast cancer" (a prevention study's exclusion) still excludes any breast cancer (disease_breast)
    r"(?:a\s+)?(?:prior|previous|past)\s+history\s+of\s+(?:an?\s+)?(?:(?:invasive|early[- ]stage)\s+)*breast\s+"
    r"(?:cancer|carcinoma)|(?:a\s+)?(?:(?:personal|prior|previous|past)\s+)?history\s+of\s+(?:an?\s+)?(?:prior|previous|"
    r"ipsilateral)\s+(?:(?:invasive|early[- ]stage)\s+)*breast\s+(?:cancer|carcinoma)"
)
_HER2_IHC1 = re.compile(_CUES["her2_ihc_1plus"])
_HER2_OTHER_SCORE = re.compile(_CUES["her2_other_score"])


def _find_her2_ihc1(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _HER2_IHC1.finditer(s):
        if _HER2_OTHER_SCORE.search(s):
            break  # other scores named too ("IHC 1+ or 2+/ISH-"): the HER2-low reader's business
        hits.append(_Hit("her2_low", {"ihc_only": ["1+"]}, m.start(), m.end(), cue=f'"{m.group(0)}": IHC 1+ only'))
        break
    return hits


def _find_receptors(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    if not _RECEPTOR_HINT.search(s):
        return hits
    hr_spans: list[tuple[int, int]] = []
    for m in _ERPR_OR.finditer(s):
        hits.append(_Hit("hr_status", {"status": "positive"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
        hr_spans.append((m.start(), m.end()))
    for m in _HR_NEG_STATUS.finditer(s):
        hits.append(_Hit("hr_status", {"status": "negative"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
        hr_spans.append((m.start(), m.end()))
    for m in _HR_RE.finditer(s):
        if any(a <= m.start() < b for a, b in hr_spans):
            continue
        unit = m.group("unit")
        if unit == "hr" and re.match(r"\s*[- ]?\s*\d", s[m.end("unit") :]):
            continue  # hazard ratio
        if _EITHER.match(s, m.end()):
            continue
        status = "positive" if m.group("pos") else "negative"
        hits.append(_Hit("hr_status", {"status": status}, m.start(), m.end(), cue=f'"{m.group(0).strip()}"'))
        hr_spans.append((m.start(), m.end()))
    for rx, receptor in ((_ER_RE, "ER"), (_PR_RE, "PR")):
        for m in rx.finditer(s):
            if any(a <= m.start() < b for a, b in hr_spans) or _EITHER.match(s, m.end()):
                continue
            status = "positive" if m.group("pos") else "negative"
            hits.append(
                _Hit(
                    "hr_status",
                    {"status": status, "receptor": receptor},
                    m.start(),
                    m.end(),
                    cue=f'"{m.group(0).strip()}"',
                )
            )
    for m in _ER_LOW.finditer(s):
        low: dict[str, Any] = {"status": "positive", "level": "low"}
        if not m.group(0).startswith("hr"):
            low["receptor"] = "ER"
        hits.append(_Hit("hr_status", low, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    for m in _POS_FOR.finditer(s):
        if not any(a <= m.start() < b for a, b in hr_spans):
            rec = {} if "hormone" in m.group(0) else {"receptor": "ER"}
            hits.append(_Hit("hr_status", {"status": "positive", **rec}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    zero = bool(_HER2_ZERO.search(s))
    ultra = bool(_ULTRALOW.search(s))
    tnbc_spans = [(m.start(), m.end()) for m in _TNBC.finditer(s)]
    for a, b in tnbc_spans:
        hits.append(_Hit("tnbc", {}, a, b, cue=f'"{s[a:b]}"'))
    for m in _HER2_RE.finditer(s):
        if any(a <= m.start() < b for a, b in tnbc_spans):
            continue
        st = m.group("st")
        cue = f'"{m.group(0).strip()}"'
        if _EITHER.match(s, m.end()):
            continue  # "HER2 positive or negative"
        alt = _HER2_ALT.match(s, m.end())
        if alt and re.match(r"\+|\(\+\)|positive|pos|over|ampl|enriched", st) and not re.search(r"low$", alt.group(0)):
            continue  # "HER2-positive or HER2-expressing", "overexpressed/amplified/mutant": broader than positive
        if re.match(r"mutant|mutated|mutation|activating", st):
            continue  # a biomarker (ERBB2 mutation), found by the biomarker finder
        if re.match(r"ultra", st):
            if re.search(r"her2[- ]?low|her2 low|ihc\s*1\s*\+", s):
                continue  # "HER2-low or -ultralow": the low hit carries include_ultralow
            continue  # ultralow alone: HER2-low params cannot say "ultralow only" — leave as text
        if st.startswith("low"):
            if zero:
                continue  # "HER2-low or HER2-0": a HER2-negative population, not HER2-low only
            params: dict[str, Any] = {"include_ultralow": True} if ultra else {}
            hits.append(_Hit("her2_low", params, m.start(), m.end(), cue=cue))
            continue
        if st in ("zero", "null") or st.startswith("0"):
            continue
        positive = bool(re.match(r"\+|\(\+\)|positive|pos|over|ampl|enriched", st)) and not re.match(r"non|not", st)
        hits.append(
            _Hit("her2_status", {"status": "positive" if positive else "negative"}, m.start(), m.end(), cue=cue)
        )
    for m in _HER2_BC.finditer(s):  # "HR+/HER2-BC" (NCT06084481): the dash runs into the disease's abbreviation
        hits.append(_Hit("her2_status", {"status": "negative"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    if not any(h.type == "her2_status" for h in hits):
        for m in _HER2_NEG_IHC.finditer(s):
            hits.append(_Hit("her2_status", {"status": "negative"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
            break
    if not zero:
        for m in _HER2_LOW_IHC.finditer(s):
            if not any(h.type == "her2_low" for h in hits) and re.search(r"her[- ]?2|erbb2", s):
                params = {"include_ultralow": True} if ultra else {}
                hits.append(_Hit("her2_low", params, m.start(), m.end(), cue=f'"{m.group(0).strip()}"'))
    return hits


def _setting(s: str, ss: int, se: int, doc: _Doc, at: int) -> str | None:
    """'metastatic' | 'early' when the sentence (outside unrelated parentheses) names one setting only."""
    own = doc.group_of(at)
    pieces: list[str] = []
    pos = ss
    for a, b in sorted(doc.groups):
        if a < ss or b > se or (own is not None and a <= own[0] and own[1] <= b) or a < pos:
            continue
        pieces.append(s[pos:a])
        pos = b
    pieces.append(s[pos:se])
    text = " ".join(pieces)
    met = bool(_SETTING_MET.search(text))
    early = bool(_SETTING_EARLY.search(text))
    if met and not early:
        return "metastatic"
    if early and not met:
        return "early"
    return None


def _find_therapies(s: str, doc: _Doc, parent_prior: bool) -> list[_Hit]:
    raw: list[tuple[int, int, dict[str, Any], str]] = []
    pos = 0
    for tm in _TOKEN.finditer(s):
        if tm.start() < pos or tm.group(0) not in _CLASS_STARTS:
            continue
        m = _CLASS_RE.match(s, tm.start())
        if m is None:
            continue
        pos = m.end()
        klass: str | None = _CLASS_PATTERNS[int((m.lastgroup or "c0")[1:])][0]
        if (
            klass == "aromatase_inhibitor"
            and re.fullmatch(r"n?s?ais?", m.group(0))
            and re.match(r"\s*-?\s*(?:based|driven|assisted|model|algorithm|tool)", s[m.end() : m.end() + 12])
        ):
            continue  # "AI-based": artificial intelligence
        if klass == "endocrine" and m.group(0) == "et" and not re.search(r"\b(?:prior|line|lines|progress)", s):
            continue
        raw.append((m.start(), m.end(), {"class": klass}, m.group(0)))
    for a, b, names in _find_drugs(s):
        for name in names:
            raw.append((a, b, {"drug": name}, s[a:b]))
    # classes no catalogue class names ("ATR inhibitor", "CAR-T") and agents named by code (novel_therapies.yaml)
    for a, b, key in novel_therapies.find(s):
        if key.startswith(novel_therapies.AGENT_PREFIX) and any(r[0] < b and a < r[1] for r in raw):
            continue  # a code that is a catalogue drug's synonym ("DS-8201a") is that drug
        raw.append((a, b, {"class": key}, s[a:b]))
    # a shorter match inside a longer one ("chemotherapy" in "platinum-based chemotherapy") is dropped
    raw.sort(key=lambda r: (r[0], -(r[1] - r[0])))
    kept: list[tuple[int, int, dict[str, Any], str]] = []
    for r in raw:
        if any(k[0] <= r[0] and r[1] <= k[1] and (k[1] - k[0]) > (r[1] - r[0]) for k in kept):
            continue
        kept.append(r)
    hits: list[_Hit] = []
    for m in _DISTRIB.finditer(s):
        for word in re.findall(r"pi3k|pik3ca|akt|mtor|cdk\s?4/6|parp", m.group(1)):
            klass = _DISTRIB_CLASS[word.replace(" ", "")]
            if not any(k[2].get("class") == klass and k[0] >= m.start() and k[1] <= m.end() for k in kept):
                kept.append((m.start(), m.end(), {"class": klass}, m.group(0)))
    kept.sort(key=lambda r: r[0])
    prev_class: tuple[int, int, str] | None = None
    sentence_flags: dict[tuple[int, int], tuple[bool, bool]] = {}
    for a, b, params, text in kept:
        ss, se = doc.sentence(a)
        if (ss, se) not in sentence_flags:  # once per sentence, not once per mention (a long drug list)
            sentence = s[ss:se]
            sentence_flags[ss, se] = (
                bool(_MENOPAUSE_DEF.search(sentence)),
                bool(_THERAPY_IF.search(sentence) or _SINCE.search(sentence)),
            )
        menopause_def, if_or_since = sentence_flags[ss, se]
        if menopause_def:
            continue  # "amenorrhoea for 12 months in the absence of chemotherapy, tamoxifen ...": a definition
        klass = params.get("class")
        if re.search(r"\bnon-?\s?$", s[max(0, a - 4) : a]):
            continue  # "non-hormonal treatment"
        if _COUNTED_BEFORE.search(s[ss:a]) or _COUNTS_AS.search(s[b:se]) or if_or_since:
            continue  # "ADCs count as a line", "... if available / if received", "28 days since prior X"
        g = doc.group_of(a)
        if g is not None and any(lm.end() <= g[0] <= lm.end() + 3 for lm in _LINES_RE.finditer(s, ss, g[0])):
            # "no more than 1 prior chemotherapy (which includes ADCs)", "0-1 prior treatment (hormone,
            # chemotherapy ...)": what a line counts, not a therapy required
            continue
        if klass == "adc" and _ADC_QUALIFIED.search(s[max(ss, a - 60) : min(se, b + 60)]):
            continue  # "topoisomerase I inhibitor-based ADC": a subset of ADCs the catalogue classes cannot name
        if (
            klass == "adc"
            and prev_class
            and prev_class[2].endswith("_adc")
            and re.fullmatch(r"\s*\(\s*", s[prev_class[1] : a])
        ):
            continue  # "TROP2-targeted antibody-drug conjugate (ADC)": the abbreviation of the same class
        if klass:
            prev_class = (a, b, klass)
        before = s[ss:a]
        current = _CURRENT_CUE.search(before)
        if current is not None and klass and not if_or_since:
            # "Current use of systemic chemotherapy, endocrine therapy or HER2-targeted therapy": on it now
            cue = f'"{text}" with "{current.group(0).strip()}"'
            hits.append(_Hit("prior_therapy", {**params, "current": True}, a, b, cue=cue))
            continue
        cue_m = None
        for cm in _PRIOR_CUE.finditer(before):
            cue_m = cm
        post = _PRIOR_POST.match(s[b : b + 20])
        naive = _NAIVE_POST.match(s[b : b + 12])
        if cue_m is None and not post and not naive and not parent_prior:
            continue
        if cue_m is not None and before[cue_m.end() :].count(" ") > 25 and not post and not naive:
            continue
        if novel_therapies.rule_out_only(str(klass)) and (
            cue_m is None or before[cue_m.end() :].count(" ") > 6 or _OTHER_LOCAL.search(s[ss:se])
        ):
            # "prior pelvic radiation", "history of chest wall radiation": the cue right before it; and not in a list
            # with treatments no constraint reads ("any prior treatment, including radiation, systemic therapy and/or
            # surgery"), where no radiotherapy would not answer the rest
            continue
        p = dict(params)
        setting = _setting(s, ss, se, doc, a)
        if setting:
            p["setting"] = setting
        cue_word = cue_m.group(0) if cue_m is not None else (post.group(0).strip(" -") if post else "parent criterion")
        hit = _Hit("prior_therapy", p, a, b, cue=f'"{text}" with "{cue_word}"', inverted=bool(naive))
        if cue_m is not None and not post and _RESPONSE_CUE.match(cue_m.group(0)):
            hit.ctx_types = "response"
        if _TOX_AFTER.search(s[b:se]):
            hit.ctx_types = "toxicity"
        if naive:
            hit.cue = f'"{text}-naive"'
            hit.end = b + naive.end()
        hits.append(hit)
    return hits


# "Planned to initiate standard of care first-line therapy", "enrolled before or during first line of treatment":
# no metastatic line started yet / none completed yet (an ongoing first line is a line, convention 4 of the judges)
_FIRST_LINE_PLANNED = re.compile(_CUES["first_line_planned"])
_BEFORE_OR_DURING_FIRST = re.compile(_CUES["before_or_during_first_line"])
# "plans to consider results in either first- or second-line therapy": the next line is the first or the second
_NEXT_FIRST_OR_SECOND = re.compile(_CUES["next_first_or_second_line"])


def _find_first_line_timing(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for rx, completed, most in (
        (_FIRST_LINE_PLANNED, False, 0),
        (_BEFORE_OR_DURING_FIRST, True, 0),
        (_NEXT_FIRST_OR_SECOND, False, 1),
    ):
        m = rx.search(s)
        if m is not None and not re.search(r"\bcurrently\b|\bon\s+(?:the\s+)?first[- ]line|\bor\s*$", s[: m.start()]):
            params: dict[str, Any] = {"kind": "any", "setting": "metastatic", "min": None, "max": most}
            if completed:
                params["completed"] = True  # an ongoing first line is allowed, a finished one is not
            # "plans to initiate first-line therapy" names the line the patient is at, not a therapy blocked
            hits.append(_Hit("prior_lines", params, m.start(), m.end(), cue=f'"{m.group(0)}"', ctx_types="timing"))
    return hits


def _find_lines(s: str, doc: _Doc) -> list[_Hit]:
    hits: list[_Hit] = []
    quantified_sentences: dict[int, str] = {}
    for m in _LINES_RE.finditer(s):
        noun = m.group("noun")
        body = s[m.start() : m.end()]
        if noun.startswith(("therap", "treatment", "chemo")) and not re.search(
            r"\b(?:prior|previous|lines?|regimens?|received|progress|systemic|chemo\w*|endocrine|hormonal)\b", body
        ):
            continue
        if re.search(r"\b(?:cycles?|doses?|weeks?|months?|days?|years?|mg|grade)\b", body):
            continue
        n1 = _num(m.group("n1"))
        n2 = _num(m.group("n2")) if m.group("n2") else None
        pre = (m.group("pre") or "").strip()
        alt_low = re.search(rf"at least ({_NUM}) or\s*$", s[max(0, m.start() - 25) : m.start()])
        if alt_low and pre in ("more than", "greater than", ">"):
            pre, n1 = "at least", _num(alt_low.group(1))  # "at least one or more than one line"
        post = (m.group("post") or "").strip()
        join = (m.group("join") or "").strip()
        lo: int | None
        hi: int | None
        if n2 is not None and join in ("-", "to", "or", "and", "but", ","):
            if m.group("pre2") or join == "but" or pre in ("at least", "a minimum of", "minimum of", "≥"):
                lo, hi = n1, n2
                pre2 = (m.group("pre2") or "").strip()
                if pre2 in ("fewer than", "less than"):
                    hi = n2 - 1
            elif join in ("and", ",") and not pre:
                continue  # "1 and 2" outside a range phrase is not a count of lines
            else:
                lo, hi = min(n1, n2), max(n1, n2)
        elif pre or post:
            op = _op(pre) if pre and pre not in ("only", "exactly") else ""
            if pre in ("only", "exactly"):
                lo, hi = n1, n1
            elif op == "ge" or post in ("or more", "or greater", "+"):
                lo, hi = n1, None
            elif op == "gt":
                lo, hi = n1 + 1, None
            elif op == "le" or post in ("or fewer", "or less"):
                lo, hi = None, n1
            elif op == "lt":
                lo, hi = None, n1 - 1
            else:
                lo, hi = n1, n1
        else:
            lo, hi = n1, n1
        if lo == 0:
            lo = None
        kind_text = body
        chemo = bool(re.search(r"chemo|cytotoxic", kind_text))
        endo = bool(re.search(r"endocrine|hormon|\bet\b", kind_text)) and not re.search(r"non-?endocrine", kind_text)
        kind = "chemotherapy" if chemo and not endo else "endocrine" if endo and not chemo else "any"
        if kind == "chemotherapy" and re.search(r"\badcs?\b|conjugate", kind_text):
            kind = "any"  # "chemotherapy or ADC"
        ss, se = doc.sentence(m.start())
        after = s[m.end() : min(se, m.end() + 90)]
        setting = (
            "metastatic"
            if _MET_WORD.search(after) or _MET_WORD.search(s[max(ss, m.start() - 40) : m.start()])
            else "any"
        )
        if re.search(r"\b(?:adjuvant|neoadjuvant)\b", after[:40]) and not _MET_WORD.search(after[:40]):
            setting = "any"
        quant = pre or post or ("exact" if lo == hi else "range")
        if not (pre or post or n2 is not None):
            prev = quantified_sentences.get(ss)
            if prev in ("at least", "≥", "a minimum of", "minimum of"):
                hi = None  # "at least 1 line of X and 1 line of Y": the quantifier is shared
        else:
            quantified_sentences[ss] = pre or post
        # "2 lines of a CDK4/6 inhibitor": a count of a named therapy, handed to that therapy's hit
        tail = m.group("tail") or ""
        if tail and not _KIND_WORD.search(tail):
            tail = ""  # "lines of prior <drug>": the tail names no kind of therapy
        nxt = _OF_NAMED.match(s, m.end() if tail else m.end("noun"))
        specific = nxt is not None and (not tail or nxt.group(1) in ("with", "containing"))
        hits.append(
            _Hit(
                "prior_lines",
                {"kind": kind, "setting": setting, "min": lo, "max": hi},
                m.start(),
                m.end(),
                cue=f'"{body.strip()}"' + ("" if quant != "exact" else " read as exactly"),
                numeric=True,
                count=(lo, hi),
                specific=specific,
            )
        )
    covered = [(h.start, h.end) for h in hits]
    for m in _LINES_SETTING_RE.finditer(s):
        if any(a <= m.start() < b or a < m.end() <= b for a, b in covered):
            continue
        sm = _SETTING_AFTER.match(s[m.end() :])
        if not sm or not _MET_WORD.search(sm.group(0)):
            continue
        body = s[m.start() : m.end() + sm.end()]
        if re.match(r"\s*(?:,\s*)?(?:with|containing|including)\b", s[m.end() + sm.end() :]):
            continue  # "prior treatment in the metastatic setting with a PI3K inhibitor": about that therapy
        chemo = bool(re.search(r"chemo|cytotoxic", m.group(0)))
        endo = bool(re.search(r"endocrine|hormon", m.group(0)))
        kind = "chemotherapy" if chemo and not endo else "endocrine" if endo and not chemo else "any"
        hits.append(
            _Hit(
                "prior_lines",
                {"kind": kind, "setting": "metastatic", "min": 1, "max": None},
                m.start(),
                m.end() + sm.end(),
                cue=f'"{body.strip()}"',
                numeric=True,
            )
        )
    for m in _NAIVE_RE.finditer(s):
        if re.search(r"brain|cns", s[m.end() : m.end() + 20]):
            continue
        hits.append(
            _Hit(
                "prior_lines",
                {"kind": "any", "setting": "metastatic", "min": None, "max": 0},
                m.start(),
                m.end(),
                cue=f'"{m.group(0)}": no prior line for advanced disease',
                numeric=True,
            )
        )
    return hits


# a treatment of brain metastases named in a criterion about the treatment ("Ongoing use of systemic corticosteroids
# for control of symptoms of brain metastases at a total daily dose of > 2 mg", NCT05563220)
_FOR_BRAIN = re.compile(
    r"\b(?:progression|symptoms?|seizures?|o?edema|deterioration|decline|deficits?|complications?)\s+(?:due to|from|"
    r"related to|secondary to|caused by|attributable to)\s+(?:the\s+)?(?:known\s+|their\s+)?$|"
    r"\b(?:corticosteroids?|steroids?|dexamethasone|anticonvulsants?|antiepileptics?)\b[^.;]{0,40}\bfor\s+"
    r"(?:the\s+)?(?:control|management|treatment|symptoms?)?(?:\s+of)?(?:\s+(?:the\s+)?symptoms?\s+of)?(?:\s+(?:their|known|the))?\s*$"
)


def _find_brain(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _BRAIN.finditer(s):
        text = m.group(0)
        if re.search(r"disease|lesions?|involvement", text) and not re.search(
            r"metasta|tumou?r|malignan|cancer", s[max(0, m.start() - 40) : m.end() + 40]
        ):
            continue
        if re.search(r"primary", s[max(0, m.start() - 20) : m.start()]):
            continue
        if _FOR_BRAIN.search(s[max(0, m.start() - 90) : m.start()]):
            continue  # "corticosteroids for control of symptoms of brain metastases": a treatment, not the disease
        hits.append(_Hit("brain_mets", {"state": "any"}, m.start(), m.end(), cue=f'"{text}"'))
    for m in _LEPTO.finditer(s):
        hits.append(_Hit("brain_mets", {"state": "leptomeningeal"}, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    return hits


def _brain_states(s: str, doc: _Doc, h: _Hit) -> list[str]:
    ss, se = doc.sentence(h.start)
    before = s[max(ss, h.start - 60) : h.start]
    cut = max(before.rfind(","), before.rfind(";"))
    if cut >= 0 and not re.match(r",\s*(?:or|and|and/or)?\s*(?:\w+\s+){0,2}$", before[cut:]):
        before = before[cut + 1 :]  # "Untreated, or active CNS metastases" keeps both; "X, known CNS ..." does not
    after = s[h.end : min(se, h.end + 70)]
    am = re.match(
        r"^\s*(?:\([^)]*\)\s*)?(?:that|which|who)?\s*(?:are|is|have been|has been|were)?\s*(?:\w+\s+){0,3}", after
    )
    after_text = after[: am.end() + 25] if am else ""
    states = [name for name, rx in _BRAIN_STATE if rx.search(before) or rx.search(after_text)]
    if (
        re.search(
            r"(?<!not )(?<!no )\brequir\w*\s+(?:[\w-]+\s+){0,3}"
            r"(?:steroids|corticosteroids|treatment|therapy|radiation)",
            after,
        )
        and "active" not in states
        and "symptomatic" not in states
    ):
        states.append("active")
    return states


def _treated_before(s: str, doc: _Doc, h: _Hit) -> bool:
    ss, _ = doc.sentence(h.start)
    return bool(_BRAIN_TREATED.search(s[max(ss, h.start - 50) : h.start]))


def _find_measurable(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    either = _EVALUABLE.search(s) or _MEAS_EITHER.search(s)
    other_allowed = False
    first = _MEASURABLE.search(s)
    # "Measurable disease, as per RECIST V1.1 - a. If a patient has bone-only disease, they are eligible as long as
    # ...", "... measurable lesion ... Patient without measurable but evaluable disease are allowed for dose-escalation
    # phase": measurable disease first, then another kind allowed (a person reads that alternative)
    if (
        either
        and first is not None
        and not first.group("non")
        and first.start() < either.start()
        and not _MEAS_EITHER.match(s, first.start())
        and (
            not re.match(r"measurable|evaluable|assessable", either.group(0))
            or re.search(r"\b(?:allowed|eligible|permitted|acceptable)\b", s[either.end() : either.end() + 60])
        )
    ):
        # "Non-measurable disease is not allowed": no alternative, measurable disease only
        other_allowed = not re.search(
            r"\bnot\s+(?:be\s+)?(?:allowed|eligible|permitted|acceptable)\b", s[either.start() : either.end() + 60]
        )
        either = None
    if either and not re.match(r"measurable|evaluable|assessable", either.group(0)):
        return hits  # "bone-only disease is allowed": an allowance, not a requirement
    if either:
        # "measurable or non-measurable (evaluable) disease", "evaluable disease (measurable or bone-only)": any
        # disease that can be followed, not a measurable lesion
        cue = f'"{either.group(0)}"'
        return [_Hit("measurable_disease", {"evaluable": True}, either.start(), either.end(), cue=cue)]
    for m in _MEASURABLE.finditer(s):
        if re.search(r"residual|levels?", s[m.end() : m.end() + 20]) or re.search(
            r"\bonly\b", re.split(r"[.;]\s", s[m.end() : m.end() + 40])[0]
        ):
            continue  # "measurable disease only in the liver" (not "Measurable disease. Bone only disease ...")
        standard: str | None = None
        if re.search(r"irecist", s):
            standard = "iRECIST"
        elif re.search(r"\brecist\b|response evaluation criteria in solid tumou?rs", s):
            if re.search(r"recist\s*(?:v|version|ver\.?)?\s*1\.0|version 1\.0", s):
                standard = "RECIST 1.0"
            else:
                standard = "RECIST 1.1"
        elif re.search(r"\b(?:rano|mrecist|lugano|pcwg\w*|gcig|iwg|choi|inrc|imwg|cheson|ihcc)\b", s):
            continue  # another standard (lymphoma, brain tumours, prostate ...): not modelled
        params: dict[str, Any] = {"standard": standard}
        if other_allowed:
            params["or_other"] = True
        hits.append(
            _Hit(
                "measurable_disease",
                params,
                m.start(),
                m.end(),
                cue=f'"{m.group(0).strip()}"',
                inverted=bool(m.group("non")),
            )
        )
        break
    return hits


def _bounds_from(text: str, lo_v: int, hi_v: int) -> tuple[int | None, int | None, str] | None:
    """(min, max, phrase) of the first numeric condition on a 0..hi_v scale in `text`."""
    n_re = r"(\d{1,3})(?:\s*%)?"
    pats = (
        # "from 0 to 2" is a range, not "from 0" (a comparator): the range starts at "from" and wins the tie
        ("range", re.compile(r"(?<![\d.])(?:from\s+)?(\d{1,3})\s*%?\s*(?:-|to)\s*(\d{1,3})(?!\d|\.\d)")),
        ("list", re.compile(r"(?<![\d.])(\d{1,3})(?:\s*,\s*\d{1,3})*\s*,?\s*(?:or|and)\s*(\d{1,3})(?!\d|\.\d)")),
        ("cmp", re.compile(rf"(?P<op>{_CMP})\s*(?:of\s*|to\s*)?{n_re}")),
        (
            "post",
            re.compile(
                r"(?<![\d.])(\d{1,3})\s*%?\s*(?:or|and)\s*(?P<dir>less|lower|below|better|fewer|more|higher|greater|"
                r"worse|above|over)"
            ),
        ),
        (
            "bare",
            re.compile(
                r"(?:\bof|:|=|\bis|\bstatus|\bps|\bscore|\bscale|\bgrade|\(ecog\)|"
                r"\(kps\))\s*(\d{1,3})(?![\d.%]*\s*(?:-|to|or|,))"
            ),
        ),
    )
    best: tuple[int, str, re.Match[str]] | None = None
    for name, rx in pats:
        mm = rx.search(text)
        if mm and (best is None or mm.start() < best[0]):
            best = (mm.start(), name, mm)
    if best is None:
        return None
    _, name, mm = best
    phrase = mm.group(0).strip()
    lo: int | None
    hi: int | None
    if name in ("range", "list"):
        a, b = int(mm.group(1)), int(mm.group(2))
        lo, hi = min(a, b), max(a, b)
    elif name == "cmp":
        n = int(mm.group(2))
        op = _op(mm.group("op"))
        lo, hi = (
            (n, None) if op == "ge" else (n + 1, None) if op == "gt" else (None, n) if op == "le" else (None, n - 1)
        )
    elif name == "post":
        n = int(mm.group(1))
        lo, hi = (None, n) if mm.group("dir") in ("less", "lower", "below", "better", "fewer") else (n, None)
    else:
        n = int(mm.group(1))
        lo, hi = n, n
    for v in (lo, hi):
        if v is not None and not (lo_v <= v <= hi_v + 1):
            return None
    return lo, hi, phrase


def _find_performance(s: str, doc: _Doc) -> list[_Hit]:
    hits: list[_Hit] = []
    done_ecog = False
    for m in _ECOG_ANCHOR.finditer(s):
        if done_ecog:
            break
        word = m.group(0)
        ss, se = doc.sentence(m.start())
        sent = s[ss:se]
        if (
            word in ("performance status", "ps")
            and not re.search(r"\b(?:ecog|who|zubrod)\b", sent)
            and _OTHER_SCALE.search(sent)
        ):
            continue
        if word == "ps" and not re.search(r"\b(?:ecog|who|zubrod|performance)\b", sent):
            continue
        window = s[m.end() : min(se, m.end() + 70)]
        cut = _OTHER_SCALE.search(window)
        if cut:
            window = window[: cut.start()]
        got = _bounds_from(window, 0, 4)
        start, end = m.start(), m.end()
        if got is None:
            back = s[max(ss, m.start() - 50) : m.start()]
            if _OTHER_SCALE.search(back):
                continue
            got = _bounds_from(back, 0, 4)
            if got is None:
                continue
            start = max(ss, m.start() - 50) + back.find(got[2])
        else:
            end = m.end() + window.find(got[2]) + len(got[2])
        lo, hi, phrase = got
        if hi is not None and hi > 4:
            hi = 4
        if lo is not None and lo > 4:
            continue
        params: dict[str, Any] = {}
        if hi is not None:
            params["max"] = hi
        if lo:
            params["min"] = lo
        if not params:
            continue
        alt = bool(
            re.search(r"\bor\b[^.;]{0,40}\b(?:karnofsky|kps)\b|\b(?:karnofsky|kps)\b[^.;]{0,40}\bor\b", s[ss:se])
        )
        cue = f'"{s[start:end].strip()}"' + (" (the Karnofsky alternative is not kept)" if alt else "")
        hits.append(_Hit("ecog", params, start, end, cue=cue, numeric=True))
        done_ecog = True
    has_ecog = bool(hits)
    for m in _KPS_ANCHOR.finditer(s):
        ss, se = doc.sentence(m.start())
        if has_ecog and re.search(r"\bor\b", s[ss:se]):
            break  # "ECOG 0-1 or KPS >= 70": one alternative is kept (ECOG)
        window = s[m.end() : min(se, m.end() + 70)]
        cut = re.search(r"\b(?:ecog|lansky|who)\b", window)
        if cut:
            window = window[: cut.start()]
        got = _bounds_from(window, 0, 100)
        if got is None:
            continue
        lo, hi, phrase = got
        if lo is None and hi is not None and hi >= 100:
            continue
        if lo is not None and lo < 10 and hi is not None and hi <= 4:
            continue  # an ECOG-like 0-4 number next to "KPS" is not a Karnofsky score
        params = {}
        if lo is not None:
            params["min"] = -(-lo // 10) * 10 if lo % 10 else lo  # "> 60%": Karnofsky scores are multiples of 10
        if hi is not None and hi < 100:
            params["max"] = hi
        end = m.end() + window.find(phrase) + len(phrase)
        hits.append(_Hit("karnofsky", params, m.start(), end, cue=f'"{s[m.start() : end].strip()}"', numeric=True))
        break
    return hits


def _find_age(s: str, doc: _Doc) -> list[_Hit]:
    hits: list[_Hit] = []
    if not _AGE_ANCHOR.search(s) or _AGE_SKIP.search(s):
        return hits

    def anchored(a: int, b: int) -> bool:
        ss, _ = doc.sentence(a)
        return bool(_AGE_ANCHOR.search(s[max(ss, a - 40) : b + 15]))

    for m in _AGE_RANGE.finditer(s):
        a, b = int(m.group("a")), int(m.group("b"))
        if not (0 < a < b <= 120) or not anchored(m.start(), m.end()):
            continue
        if re.match(r"\s*(?:days?|weeks?|months?)", s[m.end() :]):
            continue
        hits.append(_Hit("age", {"min": a, "max": b}, m.start(), m.end(), cue=f'"{m.group(0).strip()}"', numeric=True))
    for m in _AGE_POST.finditer(s):
        if any(h.start <= m.start() < h.end for h in hits):
            continue
        n = int(m.group("n"))
        if not 0 < n <= 120:
            continue
        direction = m.group("dir")
        if direction in ("greater", "more", "less") and not anchored(m.start(), m.end()):
            continue
        params = {"min": n} if direction in ("older", "over", "above", "greater", "more") else {"max": n}
        hits.append(_Hit("age", params, m.start(), m.end(), cue=f'"{m.group(0).strip()}"', numeric=True))
    for m in _AGE_POST_BARE.finditer(s):
        if any(h.start <= m.start() < h.end for h in hits):
            continue
        n = int(m.group("n"))
        if 0 < n <= 120:
            hits.append(_Hit("age", {"min": n}, m.start(), m.end(), cue=f'"{m.group(0).strip()}"', numeric=True))
    for m in _AGE_CMP.finditer(s):
        if any(h.start <= m.start() < h.end or h.start < m.end() <= h.end for h in hits):
            continue
        n = int(m.group("n"))
        if not 0 < n <= 120:
            continue
        tail = m.group("tail") or ""
        ss, _ = doc.sentence(m.start())
        lead = s[max(ss, m.start() - 30) : m.start()]
        has_years = bool(re.search(r"years?|yrs?|\by\b", m.group(0)))
        if not (tail or re.search(r"\bage[ds]?\b\W*(?:\w+\W+){0,2}$|\baged\W*$|\badults?\W*\(?\W*$", lead)):
            continue
        if not has_years and not re.search(r"\bage[ds]?\b|\baged\b", lead):
            continue
        if re.match(r"\s*(?:days?|weeks?|months?|kg|cm|mg|%)", s[m.end() :]):
            continue
        op = _op(m.group("op"))
        params = {"min": n} if op in ("ge", "gt") else {"max": n} if op == "le" else {"max": n - 1}
        cue = f'"{m.group(0).strip()}"' + (' (">" read as at least)' if op == "gt" else "")
        hits.append(_Hit("age", params, m.start(), m.end(), cue=cue, numeric=True))
    # an age inside parentheses further on ("(... aged 12 to < 18 years)") qualifies something else; an age in a
    # sentence on children is not the study's age limit
    return [
        h
        for h in hits
        if ((g := doc.group_of(h.start)) is None or g[0] < 15)
        and not _AGE_SKIP_SENTENCE.search(s[slice(*doc.sentence(h.start))])
    ]


def _find_sex(s: str, exclusion: bool) -> list[_Hit]:
    female, male = (bool(rx.search(s)) for rx in _SEX_ANY)
    if not exclusion and len(s) < 120 and _SEX_OPEN.fullmatch(s) and ((female and male) or _MENO_ALL.search(s)):
        # "Adult female or male participants.", "Female participants can be pre-, peri- or postmenopausal."
        return [_Hit("sex", {"sex": "any"}, 0, len(s.rstrip()), cue="open to every sex / menopausal status")]
    if female and male:
        return []
    m = _SEX_LEAD.match(s)
    if m:
        if (
            not _SEX_NEXT.match(s, m.end())
            or _SEX_BLOCK.search(s[m.end() :])
            or re.match(r"\s*(?:breast|partners?|sex partners?)", s[m.end() :])
        ):
            return []
        if not exclusion or len(s[m.end() :].split()) <= 3:  # "Women with a history of X" excludes X, not women
            sex = "female" if m.group("sex").startswith(("f", "w")) else "male"
            return [_Hit("sex", {"sex": sex}, m.start("sex"), m.end("sex"), cue=f'"{m.group("sex")}"')]
        return []
    e = _SEX_EXPLICIT.search(s)
    if e:
        word = e.group("sex") or e.group("sex2")
        return [_Hit("sex", {"sex": word}, e.start(), e.end(), cue=f'"{e.group(0)}"')]
    return []


def _find_biomarkers(s: str, doc: _Doc) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _GENE_GROUP.finditer(s):
        text = m.group(0)
        ss, se = doc.sentence(m.start())
        genes: list[str] = []
        for g in re.findall(_GENE_TOKEN, text):
            g = g.strip()
            if g in ("brca1/2", "brca1/brca2", "brca 1/2", "gbrca1/2", "gbrca", "gbrcam", "sbrca", "brcam", "brca"):
                names = ["BRCA1", "BRCA2"]
            elif g.endswith("m") and g[:-1] in _GENES and g not in _GENES:
                names = [g[:-1].upper()]
            else:
                names = [g.upper()]
            for n in names:
                if n not in genes:
                    genes.append(n)
        if re.match(r"\s*-?\s*(?:pathway|related|like|associated)\b", s[m.end() : m.end() + 12]):
            continue
        if genes == ["MET"] and not re.search(r"\bmet\s+(?:exon|amplif|mutation|alteration|fusion)", s):
            continue
        if genes == ["RET"] and not re.search(r"\bret\s+(?:fusion|mutation|alteration|rearrang)", s):
            continue
        if genes in (["KIT"], ["ATM"], ["ALK"]) and not re.search(
            rf"\b{genes[0].lower()}\b\W+(?:\w+\W+){{0,2}}(?:mutation|alteration|fusion|rearrang|positive|variant)", s
        ):
            continue
        after = s[m.end() : min(se, m.end() + 45)]
        before = s[max(ss, m.start() - 45) : m.start()]
        suffix_m = bool(re.search(r"(?:brca|pik3ca|esr1|akt1|pten|palb2)m\b", text))
        state: str | None = None
        if _ALT_WT.search(after[:25]) or _ALT_WT.search(before[-20:]):
            state = "wild_type"
        elif (
            suffix_m
            or _ALT_MUT.search(after[:30])
            or (genes[0] in _CARRIER_GENES and re.match(r"\s*-?\s*(?:germline\s+)?(?:positive|\+)(?![\w])", after))
            or re.search(
                r"\b(?:mutations?|variants?|pathogenic|deleterious|mutated|mutant|carriers?)\s+(?:\w+\s+){0,3}(?:in|"
                r"of)?\s*$",
                before,
            )
        ):
            state = "mutated"
        elif _ALT_ALTER.search(after[:30]) or re.search(
            r"\b(?:alterations?|loss|deficiency|deletions?|fusions?|amplifications?)\s+(?:\w+\s+){0,2}(?:in|of)?\s*$",
            before,
        ):
            state = "altered"
        if state is None:
            continue
        if re.search(r"\binhibitors?\b", after[:20]):
            continue
        if _TESTING.search(before[-40:]) or re.match(r"\s*(?:\w+\s+){0,2}(?:status|testing|test|results?)\b", after):
            continue  # "prior testing for BRAF V600 mutations", "known BRCA status": a test, not a finding
        ctx = s[ss:se]
        germ = bool(re.search(r"germline|\bgbrca|hereditary|inherited|constitutional", ctx))
        som = bool(re.search(r"somatic|\bsbrca|tumou?r[- ]only|\btumou?r (?:mutations?|variants?|alterations?)", ctx))
        origin = "germline" if germ and not som else "somatic" if som and not germ else "any"
        end = m.end()
        am = re.match(
            r"\s*-?\s*(?:\w+\s+){0,2}?(?:mutations?|mutated|mutant|variants?|alterations?|altered|loss|"
            r"wild[- ]?type|deficien\w*|fusions?)",
            after,
        )
        if am:
            end = m.end() + am.end()
        found: dict[str, Any] = {"gene": "/".join(genes), "state": state, "origin": origin}
        hits.append(_Hit("biomarker", found, m.start(), end, cue=f'"{s[m.start() : end].strip()}"', ctx_types="bio"))
    for m in _ANDROGEN_RECEPTOR.finditer(s):  # a protein marker by IHC, not a gene state (criteria_cues.yaml)
        found = {"gene": "AR", "state": "positive", "origin": "any"}
        hits.append(_Hit("biomarker", found, m.start(), m.end(), cue=f'"{m.group(0).strip()}"', ctx_types="bio"))
    # ERBB2 / HER2 mutation
    for m in re.finditer(
        r"\bher[- ]?2\s*-?\s*(?:activating\s+)?(?:mutant|mutated|mutations?)\b|\bactivating her2 mutations?\b", s
    ):
        ss, se = doc.sentence(m.start())
        germ = bool(re.search(r"germline", s[ss:se]))
        som = bool(re.search(r"somatic", s[ss:se]))
        origin = "germline" if germ and not som else "somatic" if som and not germ else "any"
        hits.append(
            _Hit(
                "biomarker",
                {"gene": "ERBB2", "state": "mutated", "origin": origin},
                m.start(),
                m.end(),
                cue=f'"{m.group(0)}"',
                ctx_types="bio",
            )
        )
    for m in _PDL1.finditer(s):
        ss, se = doc.sentence(m.start())
        win = s[m.start() : min(se, m.end() + 80)]
        back = s[max(ss, m.start() - 40) : m.start()]
        if re.search(r"anti-?\s*$|inhibitors?|antibod", back[-8:] + win[:30]):
            continue
        cps = _CPS.search(win) or _CPS.search(back)
        tps = _TPS.search(win)
        params: dict[str, Any] = {"gene": "PD-L1"}
        span_end = m.end()
        if cps and cps.group("op"):
            op = _op(cps.group("op"))
            val = float(cps.group("n"))
            num: float | int = int(val) if val.is_integer() else val
            if op in ("ge", "gt"):
                params["cps_min"] = num
                if op == "gt":
                    params["strict"] = True
            else:
                params["cps_below"] = num
                if op == "le":
                    params["inclusive"] = True
            if cps.string is win:
                span_end = m.start() + cps.end()
        elif tps and tps.group("op"):
            op = _op(tps.group("op"))
            val = float(tps.group("n"))
            if op not in ("ge", "gt"):
                continue
            params["tps_min"] = int(val) if val.is_integer() else val
            span_end = m.start() + tps.end()
        else:
            st = _PDL1_STATUS.match(s[m.end() : m.end() + 20])
            if not st or st.group("st") in ("high", "low"):
                continue
            params["status"] = "positive" if st.group("st") in ("positive", "+") else "negative"
            span_end = m.end() + st.end()
        hits.append(_Hit("biomarker", params, m.start(), span_end, cue=f'"{s[m.start() : span_end].strip()}"'))
    return hits


def _find_pregnancy(s: str, section_base: str) -> list[_Hit]:
    neg_test = _PREG_NEG_TEST.search(s)
    if neg_test and section_base == "required":
        return [
            _Hit(
                "pregnancy",
                {},
                neg_test.start(),
                neg_test.end(),
                cue=f'"{neg_test.group(0)}": must not be pregnant',
                fixed_polarity="excluded",
            )
        ]
    for m in _PREG.finditer(s):
        word = m.group(0)
        before = s[max(0, m.start() - 40) : m.start()]
        if _PREG_SKIP_BEFORE.search(before) or _PREG_SKIP_AFTER.match(s[m.end() : m.end() + 20]):
            continue
        if (
            word.startswith(("pregnancy", "pregnancies"))
            and not re.search(
                r"(?:\b(?:during|or|and|current|currently|known|active|ongoing|confirmed|documented|suspected)|"
                r"^\W*)\s*$",
                before,
            )
            and not re.match(r"\s*(?:or|and|/)\s*(?:breast|lactat|nursing)", s[m.end() :])
        ):
            continue  # "pregnancy" as a topic ("avoid pregnancy", "pregnancy test"), not a state
        negated = bool(_PREG_NOT_BEFORE.search(before))
        if section_base == "excluded" and not negated:
            return [_Hit("pregnancy", {}, m.start(), m.end(), cue=f'"{word}"', fixed_polarity="excluded")]
        if section_base == "required" and negated:
            nb = _PREG_NOT_BEFORE.search(before)
            start = m.start() - (len(before) - nb.start()) if nb else m.start()
            return [_Hit("pregnancy", {}, start, m.end(), cue=f'"{s[start : m.end()]}"', fixed_polarity="excluded")]
    return []


def _find_life(s: str) -> list[_Hit]:
    m = _LIFE.search(s)
    if not m:
        return []
    n = _num(m.group("n"))
    unit = m.group("unit")
    unit = "weeks" if unit.startswith("w") else "months" if unit.startswith("mo") else "years"
    op = _op(m.group("op")) if m.group("op") else ("ge" if m.group("post") or "of" in m.group(0) else "")
    if not op:
        return []
    params: dict[str, Any] = {"unit": unit}
    if op in ("ge", "gt"):
        params["min"] = n
    else:
        params["max"] = n  # "< 3 months": below 3 months
        params["below"] = True
    return [_Hit("life_expectancy", params, m.start(), m.end(), cue=f'"{m.group(0).strip()}"', numeric=True)]


_MODALITY = _CUES["cardiac_modality"]
_MODALITIES = re.compile(rf"{_MODALITY}\s*(?:,|or|and/or|/)\s*(?:{_MODALITY}\s*(?:,|or|and/or|/)?\s*)+")


def _find_organ(s: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _ORGAN.finditer(s):
        systems: list[str] = []
        for name, rx in _ORGAN_MAP:
            if rx.search(m.group("sys")) and name not in systems:
                if name == "organ" and systems and "organ" not in m.group("sys").replace("end-organ", ""):
                    continue
                systems.append(name)
        # "Adequate bone marrow, liver, renal function, and coagulation parameters": a system named after the noun
        # is one more system to check (coagulation is not read from the record: it stays unknown)
        if more := _ORGAN_MORE.match(s, m.end()):
            systems += [name for name, rx in _ORGAN_MAP if rx.search(more.group(1)) and name not in systems]
        found: dict[str, Any] = {"systems": systems}
        if m.group("adj") == "normal":
            found["normal"] = True  # every value in the reference range: a grade-1 value does not pass
        hits.append(_Hit("organ_function", found, m.start(), m.end(), cue=f'"{m.group(0)}"'))
    if not hits and (lm := _LAB_PROTOCOL.search(s)) and not s.rstrip().endswith(":"):  # a head: its values decide
        # "Laboratory values meeting the criteria laid out in the protocol", "Adequate performance and laboratory
        # parameters": the usual organ panel, read like "adequate organ function" (met only when every value is in
        # range)
        lab: dict[str, Any] = {"systems": ["organ"]}
        if re.search(r"\bnormal\b", s[lm.end() : lm.end() + 30]):
            lab["normal"] = True  # "within normal limits": every value in the reference range
        hits.append(_Hit("organ_function", lab, lm.start(), lm.end(), cue=f'"{lm.group(0)}"'))
    # "by echocardiogram or MUGA": two ways of measuring, not a condition or an alternative bound
    plain = _MODALITIES.sub(" ", s)
    # "using either the Cockcroft-Gault equation or the CKD-EPI formula", "GFR can also be used in place of CrCl":
    # ways of obtaining the clearance, not an alternative bound; a GFR method lets an eGFR answer
    gfr_ok = bool(_GFR_ALLOWED.search(s))
    plain = _GFR_ALLOWED.sub(" ", _RENAL_METHODS.sub(" ", plain))
    conditional = re.search(r"\bor\b|lln|lower limit|normal limits|institutional|\bif\b|unless", plain)
    for rx, test, unit in (
        (_LVEF, "LVEF", "%"),
        (_CRCL, "creatinine clearance", "mL/min"),
        (_EGFR, "eGFR", "mL/min/1.73 m2"),
    ):
        lm = rx.search(s)
        if lm and test == "eGFR" and (_CRCL.search(s) or re.search(r"\bor\b[\s(]*(?:an?\s+)?$", s[: lm.start()])):
            # "creatinine clearance >= 50 mL/min ... (eGFR)": the clearance is the bound read; "creatinine <= 1.5 mg/dL
            # (or glomerular filtration rate >= 30 ml/min)": an alternative to the bound read by the lab reader
            continue
        if lm and not conditional:
            n = int(lm.group("n"))
            op = _op(lm.group("op"))
            params: dict[str, Any] = {"test": test, "unit": unit}
            if op in ("ge", "gt"):
                params["min"] = n
            else:
                params["below"] = n
            if test == "creatinine clearance" and (gfr_ok or lm.groupdict().get("bsa")):
                # an eGFR may stand for it: the criterion names a GFR method, or gives the clearance per 1.73 m2
                params["gfr_ok"] = True
            hits.append(_Hit("organ_function", params, lm.start(), lm.end(), cue=f'"{lm.group(0)}"', numeric=True))
    # "Sufficient renal function, as evidenced by eGFR >= 60": the bound is what "sufficient" means here
    bounded = {
        "renal" if h.params.get("test") in ("eGFR", "creatinine clearance") else "cardiac"
        for h in hits
        if h.params.get("test")
    }
    for h in [h for h in hits if "systems" in h.params and set(h.params["systems"]) & bounded]:
        rest = [x for x in h.params["systems"] if x not in bounded]
        if rest:
            h.params["systems"] = rest
        else:
            hits.remove(h)
    return hits


# ------------------------------------------------------------------------------------------------ criterion


_COND_SUBJECT = re.compile(
    r"^\W*(?:for\s+|in\s+)?(?:(?:patients?|participants?|subjects?|women|men|individuals|those|pts)\s+"
    r"(?:with|who|whose|that)\b|(?!(?:all|the|eligible|adult|study|enrolled|these|such)\b)(?:[\w/+()-]+\s+){1,6}?"
    r"(?:patients|participants|subjects|women|men)\s+(?=should|must|need|are required|will need|have to)|(?:pre-?|"
    r"peri-?)\s*(?:or\s+peri-?\s*)?menopausal\s+(?:women|patients|participants))"
    r"(?P<cond>(?:(?!\b(?:are|is|were|will be|may|can)\b)[^.;])*?)\b(?:must|should|need to|needs to|"
    r"are required|is required|will need|will be required|have to|has to|may|can)\b"
    r"(?!\s+(?:be\s+)?(?:excluded|ineligible|not\b))"
)
# a subgroup named by age ("Patients who are >= 60 ... must have an echocardiogram"; "Patients older than 21 years
# must have ...", NCT03420963): the statement holds for that subgroup only. An adult threshold (18-21) with no
# relative clause ("Patients >= 18 years must have ...") is a general criterion and is not caught here.
_COND_AGE = re.compile(
    r"^\W*(?:[a-z]+\s*:\s*)?(?:for\s+)?(?:patients?|participants?|subjects?|women|men|individuals|those)\s+"
    r"(?:who\s+are\s+(?:aged\s+)?(?:≥|>=|>|≤|<=|<|over\b|older than|younger than|under\b|at least|\d)|(?:aged\s+)?"
    r"(?:≥|>=|>|over|older than|at least)\s*(?:2[2-9]|[3-9]\d)\b)"
    r"[^.;]{0,40}?\b(?:must|should|need to|needs to|are required|is required|will need|have to|require)\b"
)
# "Prior CDK4/6 inhibitor is not required.": an allowance after the mention (the trigger table reads "is not
# required" as a forward trigger only)
_NOT_REQUIRED_AFTER = re.compile(
    r"[^.;]{0,80}?\b(?:is|are|will be|was|were)\s+not\s+(?:required|mandatory|necessary|needed|obligatory)\b"
)
# an exclusion that is only "(Subjects) without <brain metastases>": brain metastases required, said plainly
_WITHOUT_ONLY = re.compile(
    r"\W*(?:(?:patients?|participants?|subjects?|women|men)\s+)?(?:without|with no|no)\s+(?:known\s+|evidence of\s+)?"
)
_THERAPY = ("prior_therapy", "prior_lines")
_THERAPY_BEFORE_PAREN = re.compile(
    r"\b(?:therap\w*|treatments?|conjugates?|inhibitors?|agents?|drugs?|regimens?|adcs?|antibod\w*)\W*$"
)
_OTHER_DISEASE_SUBJECT = re.compile(  # another tumour type as the subject (terminology/tumour_types.yaml)
    rf"^\W*(?:[\w()/-]+\s+){{0,5}}?{tumour_types().subject}\b"
    r"(?:[^.;:]{0,40}?\b(?:participants|patients|subjects|cohort)\b|[^.;:]{0,25}:)"
)
_FOR_THERAPY = re.compile(
    r"\b(?:therap\w*|treatments?|chemo\w*|regimens?|agents?)\b[^.;]{0,60}\bfor\s+(?:[\w/+-]+\s+){0,6}$"
)
_CONJUNCTIVE = re.compile(
    r"\band (?:has|have|had|who|is|are|was|were|has received|have received|received)\b|\bwithout\b|\bwho (?:have|"
    r"has)\b|"
    r"\bwith\b"
)
_NUMERIC_NO_NEG = ("ecog", "karnofsky", "age", "life_expectancy", "organ_function")
_SELF_REQUIRED = re.compile(r"\b(?:must|is required|are required|required|should have|need to|needs to)\b")


def _count_cue(count: tuple[int | None, int | None]) -> str:
    lo, hi = count
    return f"at least {lo} line(s) of it" if hi is None else f"{lo}-{hi} line(s) of it"


_RECEPTOR = ("hr_status", "her2_status", "her2_low", "tnbc")


def _flip(p: str) -> str:
    return "excluded" if p == "required" else "required"


def _complement(h: _Hit, polarity: str, cue: str) -> tuple[str, dict[str, Any], str] | None:
    """An excluded numeric range as a required one ('exclusion: ECOG >= 2' -> 'ECOG max 1'); None if it cannot be."""
    p = dict(h.params)
    if polarity == "required":
        return polarity, p, cue
    if h.type == "life_expectancy":
        if p.pop("below", False):
            p["min"] = p.pop("max")
            return "required", p, cue + "; exclusion of a shorter life expectancy"
        return "excluded", p, cue
    if h.type == "organ_function":
        if "below" in p:
            p["min"] = p.pop("below")
            return "required", p, cue + "; exclusion of a lower value"
        return "excluded", p, cue
    lo, hi = p.get("min"), p.get("max")
    if h.type == "prior_lines":
        if lo is not None and hi is None:
            p["min"], p["max"] = None, lo - 1
        elif hi is not None and lo is None:
            p["min"], p["max"] = hi + 1, None
        else:
            return "excluded", p, cue
        return "required", p, cue + "; exclusion turned into the allowed range"
    if lo is not None and hi is None:
        new: dict[str, Any] = {"max": lo - 1}
    elif hi is not None and lo is None:
        new = {"min": hi + 1}
    else:
        return "excluded", p, cue
    if h.type == "karnofsky" and "min" in new:
        new["min"] = -(-new["min"] // 10) * 10  # Karnofsky scores are multiples of 10
    if h.type == "ecog" and new.get("max", 0) < 0:
        return None
    return "required", new, cue + "; exclusion turned into the allowed range"


# A site or state qualifying "metastatic" in an exclusion ("skin only metastatic disease", "symptomatic visceral
# metastases", "untreated CNS metastases"): the exclusion is about that kind of spread, not about metastasis itself.
_MET_QUALIFIED = re.compile(
    r"\b(?:only|skin|bone|osseous|visceral|symptomatic|brain|cns|liver|hepatic|lung|pulmonary|leptomeningeal|"
    r"untreated|active|uncontrolled|isolated|progressive|rapidly)\b[\s/-]*(?:[a-z]+[\s/-]+)?$"
)


@dataclass(slots=True)
class _Scan:
    """One criterion while the passes of _parse_item read it: its text, context and section, and what they emit."""

    s: str
    offset: int
    item: _Item
    doc: _Doc
    base: str  # the section's polarity ("required" in an inclusion), flipped under a negated list head
    section_cue: str
    parent_window: bool
    brain_allow: bool
    out: list[Constraint] = field(default_factory=list)

    def emit(
        self,
        h: _Hit,
        polarity: str,
        cue: str,
        params: dict[str, Any] | None = None,
        extend: tuple[int, int] | None = None,
    ) -> None:
        a, b = h.start, h.end
        if extend is not None:
            a, b = min(a, extend[0]), max(b, extend[1])
        span = (self.offset + a, self.offset + b)
        self.out.append(Constraint(h.type, polarity, dict(h.params if params is None else params), span, cue))


def _parse_item(s: str, offset: int, item: _Item, parent_text: str) -> tuple[list[Constraint], bool]:
    """Constraints of one criterion and whether it allows treated/stable brain metastases, read in passes: every
    finder (_find_hits), mentions that are not this criterion's population dropped (_population_only), a criterion
    about a subgroup (_subgroup), then per mention its polarity from the context rules (_polarity) and its
    type's own rules (_emit_hit), and last conjunctive exclusions (_conjunction)."""
    base = "required" if item.section == "inclusion" else "excluded"
    if item.negated:
        base = _flip(base)
    doc = _Doc(s)
    brain_allow = bool(_BRAIN_ALLOW.search(s)) and bool(re.search(r"brain|cns|intracranial|lesions|metasta", s))
    scan = _Scan(
        s,
        offset,
        item,
        doc,
        base,
        f"{item.section} criterion" + ("; under a negated list" if item.negated else ""),
        bool(parent_text) and bool(_WINDOW.search(parent_text)),
        brain_allow,
    )
    hits, brain = _find_hits(scan, parent_text)
    hits = _population_only(scan, hits)
    subgroup = _subgroup(scan, brain)
    if subgroup is not None:
        return subgroup
    hits += brain
    counts = [h for h in hits if h.specific]
    for h in hits:
        if h.specific:
            continue
        read = _polarity(scan, h, counts)
        if read is None:
            continue
        polarity, cue, extend, direct = read
        if direct:
            scan.emit(h, polarity, cue)
        else:
            _emit_hit(scan, h, polarity, cue, extend)
    _conjunction(scan)
    return _tidy(scan.out, s, offset), scan.brain_allow


def _find_hits(scan: _Scan, parent_text: str) -> tuple[list[_Hit], list[_Hit]]:
    """Pass 1: every finder's mentions, and the brain-metastasis mentions apart (a subgroup criterion reads them)."""
    s, doc, base = scan.s, scan.doc, scan.base
    parent_prior = bool(parent_text) and bool(_PRIOR_CUE.search(parent_text)) and not _WINDOW.search(parent_text)
    hits: list[_Hit] = []
    hits += _find_disease(s)
    hits += _find_setting(s)
    if base == "excluded":  # in an inclusion "bone-only disease" is an allowance or an alternative to measurable
        hits += _find_site_only(s)
    hits += _find_receptors(s)
    if not any(h.type == "her2_low" for h in hits):
        hits += _find_her2_ihc1(s)
    lines = _find_lines(s, doc)
    hits += lines
    hits += _find_first_line_timing(s)
    therapies = _find_therapies(s, doc, parent_prior)
    line_spans = [(h.start, h.end) for h in lines if not h.specific]
    for t in therapies:
        if "class" in t.params and any(a <= t.start < b for a, b in line_spans):
            continue  # "at least 1 line of chemotherapy or ADC": the kinds a line count is about
        hits.append(t)
    brain = _find_brain(s)
    hits += _find_measurable(s)
    hits += _find_performance(s, doc)
    hits += _find_age(s, doc)
    hits += _find_sex(s, base == "excluded")
    hits += _find_biomarkers(s, doc)
    hits += _find_pregnancy(s, base)
    hits += _find_life(s)
    hits += _find_organ(s)
    return hits, brain


def _population_only(scan: _Scan, hits: list[_Hit]) -> list[_Hit]:
    """Pass 2: drop mentions that describe something else than this criterion's population."""
    s, doc, base = scan.s, scan.doc, scan.base
    # a receptor status in parentheses after a therapy names that therapy's indication, not this population
    hits = [
        h
        for h in hits
        if h.type not in _RECEPTOR
        or (g := doc.group_of(h.start)) is None
        or not _THERAPY_BEFORE_PAREN.search(s[max(0, g[0] - 40) : g[0]])
    ]
    # a later sentence about a subgroup ("Patients with BRAF-mutant melanoma must also have received ...")
    for ss in doc.sent_starts[1:]:
        se = doc.sentence(ss)[1]
        if _COND_SUBJECT.match(s[ss:se].lstrip(" ")):
            hits = [h for h in hits if not ss <= h.start < se]
    # therapy context: "therapy for HER2-positive breast cancer" is not the population
    if base == "excluded":
        hits = [
            h
            for h in hits
            if h.type not in (*_RECEPTOR, "disease_breast")
            or not _FOR_THERAPY.search(s[max(0, h.start - 90) : h.start])
        ]
    return hits


def _subgroup(scan: _Scan, brain: list[_Hit]) -> tuple[list[Constraint], bool] | None:
    """Pass 3: a criterion about a subgroup ("Patients with brain metastases must be treated and stable"): brain
    metastases excluded unless treated and stable, and nothing else read; None when the criterion is not one."""
    s, offset, section_cue, brain_allow = scan.s, scan.offset, scan.section_cue, scan.brain_allow
    cond_subject = _COND_SUBJECT.match(s) or _OTHER_DISEASE_SUBJECT.match(s) or _COND_AGE.match(s)
    out: list[Constraint] = []
    if not cond_subject:
        return None
    # "Patients with brain metastases must be treated and stable": brain metastases excluded unless so
    cond_end = cond_subject.end("cond") if "cond" in cond_subject.re.groupindex else cond_subject.end()
    for h in brain:
        if h.start < cond_end and _BRAIN_TREATED.search(s[cond_end:]) and h.params["state"] != "leptomeningeal":
            out.append(
                Constraint(
                    "brain_mets",
                    "excluded",
                    {"state": "any", "allows_treated_stable": True},
                    (offset + h.start, offset + h.end),
                    f'{section_cue}; "{s[cond_subject.start() : cond_subject.end()].strip()}": only treated/stable',
                )
            )
            return out, True
    return [], brain_allow


def _polarity(scan: _Scan, h: _Hit, counts: list[_Hit]) -> tuple[str, str, tuple[int, int] | None, bool] | None:
    """Pass 4: the polarity of one mention from the context rules (exception, allowance, not required, condition,
    absolute exclusion, negation, history), with its cue and the trigger's span; None: not a constraint. The last
    element is True when the finder fixed the polarity (the type's own rules do not apply)."""
    s, doc, item, base = scan.s, scan.doc, scan.item, scan.base
    ctx = doc.context(h.start, h.end)
    if ctx.exception is not None:
        return None
    hbase = base
    ss, se = doc.sentence(h.start)
    if item.section == "exclusion" and not item.negated and ss > 0 and _SELF_REQUIRED.search(s[ss:se]):
        hbase = "required"  # a later sentence of an exclusion that states a requirement of its own
    if h.type == "prior_therapy":
        for c in counts:
            if c.end <= h.start <= c.end + 40 and not re.search(r"[.;]", s[c.end : h.start]):
                h.count = c.count
    if h.type in (*_THERAPY, "brain_mets", "measurable_disease", "biomarker") and _NOT_REQUIRED_AFTER.match(
        s, h.end, se
    ):
        return None  # "Prior CDK4/6 inhibitor is not required."
    if h.type == "brain_mets":
        if ctx.allow is not None:
            return None
    elif ctx.allow is not None and not (
        (h.type == "prior_lines" and h.params.get("max") is not None and h.params.get("min") is None)
        or h.params.get("or_other")  # the allowance is the alternative to the measurable disease required
    ):
        return None  # "prior X is allowed" (but "may have received up to 2 prior lines" is still a bound)
    if h.type in _THERAPY and (ctx.block is not None) and not h.params.get("current") and h.ctx_types != "timing":
        return None
    if (
        h.type not in ("brain_mets", "pregnancy")
        and not h.params.get("or_other")
        and doc.condition_after(h.start, h.end)
    ):
        return None  # "Age 30 or older if HER2 positive": the whole statement holds only under a condition
    if h.fixed_polarity is not None:
        return h.fixed_polarity, f"{scan.section_cue}; {h.cue}", None, True
    polarity = hbase
    cue = f"{scan.section_cue}; {h.cue}"
    extend: tuple[int, int] | None = None
    if ctx.absolute is not None:
        polarity = "excluded"
        cue += f'; "{ctx.absolute.text}"'
        extend = (ctx.absolute.start, ctx.absolute.end)
    else:
        neg = ctx.neg
        if neg is not None and neg.text == "negative for" and h.type != "biomarker":
            neg = None
        if h.type in _NUMERIC_NO_NEG:
            neg = None  # "no deterioration ... and life expectancy >= 12 weeks": bounds are not negated
        post_neg = ctx.post_neg
        if post_neg is not None and (
            (post_neg.text == "negative" and h.ctx_types != "bio")
            or (post_neg.text.strip("-") in ("naive", "naïve") and h.type not in _THERAPY)
        ):
            post_neg = None
        if post_neg is not None and h.inverted:
            post_neg = None  # "-naive" already read by the finder
        if (
            neg is not None
            and polarity == "excluded"
            and item.section == "exclusion"
            and neg.text in ("no", "none", "nor", "neither")
            and h.type != "measurable_disease"
        ):
            # an exclusion written as a prohibition ("No untreated brain metastases"): still excluded
            cue += f'; "{neg.text}" in an exclusion criterion read as a prohibition'
            extend = (neg.start, neg.end)
        elif h.type == "prior_lines" and neg is not None and s[neg.end : h.start].count(" ") > 4:
            pass  # "have not received more than 3 lines ... including up to 1 line of X": the second is not negated
        elif neg is not None or post_neg is not None:
            trig = neg or post_neg
            assert trig is not None
            polarity = _flip(polarity)
            cue += f'; negated by "{trig.text}"'
            extend = (trig.start, trig.end)
    if ctx.hist is not None:
        cue += f'; "{ctx.hist.text}"'
    if h.inverted:
        polarity = _flip(polarity)
    return polarity, cue, extend, False


def _emit_hit(scan: _Scan, h: _Hit, polarity: str, cue: str, extend: tuple[int, int] | None) -> None:
    """Pass 5: the type's own rules (qualified metastasis, counts of a therapy, progression on it, washouts, brain
    metastasis states, numeric bounds as their allowed range), then the constraint."""
    s, doc, item, parent_window = scan.s, scan.doc, scan.item, scan.parent_window
    if h.type == "measurable_disease" and h.params.get("evaluable") and polarity == "excluded":
        return  # "evaluable disease" in an exclusion is a note about measurability, not an exclusion of disease
    if (
        h.type == "advanced_disease"
        and polarity == "excluded"
        and h.params.get("kind") in ("metastatic", "advanced")
        and _MET_QUALIFIED.search(s[max(0, h.start - 40) : h.start])
    ):
        return  # "skin only / symptomatic visceral / untreated brain metastatic disease": not metastasis excluded
    if h.type == "disease_breast" and polarity == "excluded" and h.ctx_types == "q":
        return  # "inflammatory / stage IV / contralateral breast cancer" excluded is not breast cancer excluded
    if h.count is not None and h.type == "prior_therapy":
        lo, hi = h.count
        keep = (polarity == "required" and lo is not None and lo >= 1 and hi is None) or (
            polarity == "excluded" and lo == 1 and hi is None
        )
        if not keep:
            return  # "no more than 2 lines of a CDK4/6 inhibitor": a count the params cannot hold
        cue += f"; {_count_cue(h.count)}"
    if h.type == "prior_therapy" and polarity == "excluded" and h.ctx_types == "response":
        # "prior progression on abemaciclib or fulvestrant", "refractory to X": not a ban on any exposure to X,
        # a ban on progression on it (checked against the record's progressed_on facts)
        scan.emit(h, polarity, cue + "; progression on it", {**h.params, "progressed_on": True}, extend)
        return
    if (
        h.type == "prior_therapy"
        and polarity == "required"
        and h.count is None
        and _PROGRESSION_BEFORE.search(s[doc.sentence(h.start)[0] : h.start])
    ):
        # "documented progression during or after the last endocrine therapy": progression on (or after) it is
        # required, not only exposure to it (checked against the record's progressions)
        params = {**h.params, "progressed_on": True, "or_after": True}
        scan.emit(h, polarity, cue + "; progression on or after it", params, extend)
        return
    if (
        h.type == "prior_lines"
        and polarity == "required"
        and h.params.get("min") == 1
        and h.params.get("max") is None
        and _PROGRESSION_BEFORE.search(s[doc.sentence(h.start)[0] : h.start])
    ):
        # "radiographic disease progression on one or more lines of endocrine therapy": a line that progressed
        scan.emit(h, polarity, cue + "; with progression on it", {**h.params, "progressed": True}, extend)
        return
    if h.type == "prior_therapy" and polarity == "excluded" and h.ctx_types == "toxicity":
        return  # "X stopped for toxicity": not a ban on any exposure to X
    if (
        h.type in _THERAPY
        and polarity == "excluded"
        and (_WINDOW.search(s[slice(*doc.sentence(h.start))]) or parent_window)
    ):
        return  # a washout ("within 14 days of the first dose"), not a ban on the therapy
    if h.type == "brain_mets":
        states = _brain_states(s, doc, h) if h.params["state"] == "any" else [h.params["state"]]
        if polarity == "required" and item.section == "exclusion" and not _WITHOUT_ONLY.fullmatch(s[: h.start]):
            return  # a negated condition of an exception ("... in subjects without known brain metastases who")
        if polarity == "required" and item.section == "exclusion" and s[h.end :].strip(" .;"):
            return  # "Subjects without CNS metastasis" is read only when the criterion says nothing else
        if not states and h.params["state"] == "any" and _treated_before(s, doc, h):
            scan.brain_allow = True  # "treated, stable brain metastases" named on their own: an allowance
            return
        if not states:
            states = ["any"]
        if polarity == "required" and len(states) > 1:
            states = ["any"]
        for st in states:
            params = {"state": st}
            if scan.brain_allow and polarity == "excluded" and st != "leptomeningeal":
                params["allows_treated_stable"] = True
            scan.emit(h, polarity, cue, params, extend)
        return
    if h.numeric:
        conv = _complement(h, polarity, cue)
        if conv is None:
            return
        polarity, params, cue = conv
        if h.type == "life_expectancy" and params.get("below"):
            return
        if h.type == "organ_function" and "below" in params:
            return
        scan.emit(h, polarity, cue, params, extend)
        return
    scan.emit(h, polarity, cue, None, extend)


def _conjunction(scan: _Scan) -> None:
    """Pass 6: an exclusion whose parts exclude only together is marked all_of (a requirement inside one: not read)."""
    s, offset, base = scan.s, scan.offset, scan.base
    if base == "excluded" and len({c.type for c in scan.out}) > 1:
        # "gBRCA mutation and has received a PARP inhibitor", "TNBC with PD-L1 CPS >= 10": excluded only together —
        # kept, and the criterion marked all_of (the matcher excludes only when every constraint holds)
        for cm in _CONJUNCTIVE.finditer(s):
            at = offset + cm.start()
            before = {c.type for c in scan.out if c.span[1] <= at}
            after = {c.type for c in scan.out if c.span[0] >= at}
            if before and after and (before | after) != before & after:
                if all(c.polarity == "excluded" for c in scan.out):
                    scan.item.all_of = True
                else:
                    scan.out = []  # a requirement inside a conjunction of exclusions: not read
                break


# between two receptor statuses of one criterion: an alternative ("TNBC or ER-low", "HER2-positive or HER2-low") or
# the same option ("HR+/HER2-"); a parenthesis between them is a definition ("TNBC (ER/PgR <1%) or ER-low")
_RECEPTOR_OR = re.compile(_CUES["receptor_or"])
_RECEPTOR_SAME = re.compile(_CUES["receptor_same"])
_PARENS = re.compile(r"\([^()]*\)")


def _receptor_alternatives(req: list[Constraint], s: str, offset: int) -> Constraint | None:
    """Required receptor statuses that contradict each other, joined by "or": one `receptor_any` constraint whose
    options are the groups between the "or"s ("HR+/HER2- or TNBC": [HR+, HER2-] | [TNBC]). None when any boundary
    between two statuses is not a plain "or" or "/" (a comma list, "and", other words): then the statuses stay
    unread, as before (cohorts)."""
    members = sorted(req, key=lambda c: c.span)
    options: list[list[Constraint]] = [[]]
    for i, c in enumerate(members):
        if i:
            between = _PARENS.sub(" ", s[members[i - 1].span[1] - offset : c.span[0] - offset])
            if _RECEPTOR_OR.fullmatch(between):
                options.append([])
            elif not _RECEPTOR_SAME.fullmatch(between):
                return None
        options[-1].append(c)
    if len(options) < 2:
        return None
    first, last = members[0], members[-1]
    params = {"options": [[{"type": c.type, "params": c.params} for c in option] for option in options]}
    cue = f'one of the receptor groups "{s[first.span[0] - offset : last.span[1] - offset]}"'
    return replace(first, type="receptor_any", params=params, span=(first.span[0], last.span[1]), cue=cue)


# "X either alone or in combination with Y": Y is X's partner, not an alternative (criteria_cues.yaml)
_PARTNER = re.compile(_CUES["partner_drug"])


_DEFINITION_REACH = 80  # characters after an HR-level status in which ER/PR details define it


def _tidy(out: list[Constraint], s: str, offset: int) -> list[Constraint]:
    """Drop duplicates, members of a named class, and alternatives that cannot all be required."""
    uniq: list[Constraint] = []
    seen: set[str] = set()
    for c in out:
        if (
            c.type == "prior_therapy"
            and novel_therapies.rule_out_only(str(c.params.get("class", "")))
            and (c.polarity != "excluded" or set(c.params) - {"class", "setting"})
        ):
            continue  # radiotherapy is read only as a prior exposure that excludes (novel_therapies.yaml)
        key = f"{c.type}|{c.polarity}|{sorted(c.params.items())!r}"
        if key not in seen:
            seen.add(key)
            uniq.append(c)
    out = uniq
    # "progression after endocrine therapy (ET)": the abbreviation repeats the therapy, progression still required
    progressed = {
        (c.params.get("class"), c.polarity) for c in out if c.type == "prior_therapy" and c.params.get("or_after")
    }
    out = [
        c
        for c in out
        if not (
            c.type == "prior_therapy"
            and not c.params.get("progressed_on")
            and (c.params.get("class") or c.params.get("drug"), c.polarity) in progressed
        )
    ]
    # a drug of a class named in the same criterion with the same polarity is an example of that class
    classes = {(c.params.get("class"), c.polarity) for c in out if c.type == "prior_therapy" and "class" in c.params}
    if classes:
        cat = catalogue()
        out = [
            c
            for c in out
            if not (
                c.type == "prior_therapy"
                and "drug" in c.params
                and any(cat.has_class(c.params["drug"], k) and p == c.polarity for k, p in classes if k)
            )
        ]
    # "hormone receptor-positive (ER+ and/or PR+)": the HR status says it all; ER / PR details are dropped
    hr_level = {(c.polarity, c.params["status"]) for c in out if c.type == "hr_status" and "receptor" not in c.params}
    if hr_level:
        out = [
            c
            for c in out
            if not (c.type == "hr_status" and "receptor" in c.params and (c.polarity, c.params["status"]) in hr_level)
        ]
    # "hormone receptor (HR) positive [ER+/PR+, ER+/PR- or ER-/PR+]": the ER/PR combinations right after an HR-level
    # status (same sentence) spell out what it means, negatives included; they are not requirements of their own
    levels = [c for c in out if c.type == "hr_status" and "receptor" not in c.params]
    out = [
        c
        for c in out
        if not (
            c.type == "hr_status"
            and "receptor" in c.params
            and any(
                h.polarity == c.polarity
                and 0 <= c.span[0] - h.span[1] <= _DEFINITION_REACH
                and not re.search(r"[.;]", s[h.span[1] - offset : c.span[0] - offset])
                for h in levels
            )
        )
    ]
    # receptor statuses that contradict each other in one criterion are alternatives (cohorts): not kept
    req = [c for c in out if c.type in _RECEPTOR and c.polarity == "required"]
    if _receptor_clash([(c.type, c.params) for c in req]):
        either = _receptor_alternatives(req, s, offset)
        out = [c for c in out if not (c.type in _RECEPTOR and c.polarity == "required")]
        if either is not None:
            out.insert(0, either)
    # TNBC says HR-negative and HER2-negative already
    tn = {c.polarity for c in out if c.type == "tnbc"}
    if tn:
        out = [
            c
            for c in out
            if not (c.type in ("hr_status", "her2_status") and c.params["status"] == "negative" and c.polarity in tn)
        ]
    # required therapies / line counts / biomarkers joined by "or" are alternatives: not kept
    for typ in ("prior_therapy", "prior_lines", "biomarker", "advanced_disease"):
        reqs = sorted((c for c in out if c.type == typ and c.polarity == "required"), key=lambda c: c.span)
        drop: set[int] = set()
        for x, y in pairwise(reqs):
            between = s[x.span[1] - offset : y.span[0] - offset]
            if typ == "prior_therapy" and _PARTNER.search(between) and not re.search(r"[.;]", between):
                drop.add(id(y))  # "a CDK4/6 inhibitor either alone or in combination with ET": ET is a partner
                continue
            alternatives = re.search(r"\bor\b|\beither\b|\bvs\b", between) and not re.search(r"[.;]", between)
            if alternatives and (typ != "advanced_disease" or x.params != y.params):
                drop.update((id(x), id(y)))
        if not drop:
            continue
        if typ == "advanced_disease":
            # "stage IV or unresectable locally advanced": together, advanced disease
            first = min((c for c in reqs if id(c) in drop), key=lambda c: c.span)
            last = max(c.span[1] for c in reqs if id(c) in drop)
            merged = replace(first, params={"kind": "advanced"}, span=(first.span[0], last))
            out = [merged if c is first else c for c in out if c is first or id(c) not in drop]
        else:
            out = [c for c in out if id(c) not in drop]
    return out


# ------------------------------------------------------------------------------------------------ document


def _receptor_clash(statuses: list[tuple[str, dict[str, Any]]]) -> bool:
    """Receptor statuses (type, params) that cannot all hold for one patient (TNBC is HR- and HER2-negative,
    HER2-low is HER2-negative)."""
    hr = {p["status"] for t, p in statuses if t == "hr_status"}
    her2 = {p["status"] for t, p in statuses if t == "her2_status"}
    if any(t == "tnbc" for t, _ in statuses):
        hr.add("negative")
        her2.add("negative")
    if any(t == "her2_low" for t, _ in statuses):
        her2.add("negative")
    return len(hr) > 1 or len(her2) > 1


def _receptor_cohorts(items: list[_Item], req_at: list[tuple[int, Constraint]]) -> bool:
    """Inclusion criteria that each require a receptor group the others rule out ("... HR+/HER2- ductal or lobular
    BC with ..." beside "... TNBC with ...", NCT06562192): one cohort each, so the patient needs to fit one of them.
    They become one group of alternatives (any_of), each keeping its receptor requirement, when there are at least
    two, each consistent on its own; True when grouped (else the caller drops the requirements, as before)."""
    own: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for i, c in req_at:  # the required receptor constraints of criteria without a named cohort, by criterion
        own.setdefault(i, []).append((c.type, c.params))
    if len(own) < 2 or any(items[i].section != "inclusion" or _receptor_clash(v) for i, v in own.items()):
        return False
    group = f"receptor-cohorts-{min(own)}"
    for i in own:
        items[i].alt_group = group
    return True


def _resolve_document(items: list[_Item], allowance: list[bool]) -> None:
    """Cross-criterion rules: brain-metastasis allowances, contradictions, cohort-like conflicts."""
    if any(allowance[i] for i, it in enumerate(items) if not it.conditional):
        for it in items:
            it.constraints = [
                replace(c, params={**c.params, "allows_treated_stable": True})
                if c.type == "brain_mets"
                and c.polarity == "excluded"
                and c.params.get("state") != "leptomeningeal"
                and not c.params.get("allows_treated_stable")
                else c
                for c in it.constraints
            ]
    # alternatives (any_of) are not all required: they neither contradict an exclusion nor conflict with each other
    # nor do criteria held under an unnamed condition (each may bind another group of patients)
    all_c = [(i, c) for i, it in enumerate(items) if it.alt_group is None and not it.held for c in it.constraints]

    def key(c: Constraint) -> str:
        return f"{c.type}|{sorted(c.params.items())!r}"

    by_pol: dict[str, set[str]] = {"required": set(), "excluded": set()}
    for _, c in all_c:
        by_pol[c.polarity].add(key(c))
    contradictory = by_pol["required"] & by_pol["excluded"]
    drop: set[int] = {id(c) for _, c in all_c if key(c) in contradictory}
    # the same receptor family required with incompatible values in different criteria: cohorts, not all required
    # (a criterion whose cohort is named keeps its own: the matcher applies it to that cohort only, trials/cohorts.py)
    req_at = [(i, c) for i, c in all_c if c.type in _RECEPTOR and c.polarity == "required" and items[i].cohort is None]
    req = [c for _, c in req_at]
    if _receptor_clash([(c.type, c.params) for c in req]) and not _receptor_cohorts(items, req_at):
        drop.update(id(c) for c in req)
    # a receptor group required elsewhere that fits none of a criterion's alternatives ("HR+/HER2-" beside "TNBC or
    # ER-low"): cohorts again, neither is kept
    for _, r in all_c:
        if r.type != "receptor_any" or r.polarity != "required":
            continue
        options = [[(o["type"], o["params"]) for o in option] for option in r.params["options"]]
        clash = [c for c in req if all(_receptor_clash([(c.type, c.params), *o]) for o in options)]
        if clash:
            drop.update(id(c) for c in clash)
            drop.add(id(r))
    # numeric bounds required in several criteria that cannot all hold (adult vs paediatric cohorts ...)
    for typ in ("age", "ecog", "karnofsky"):
        cs = [c for _, c in all_c if c.type == typ and c.polarity == "required"]
        los = [c.params["min"] for c in cs if c.params.get("min") is not None]
        his = [c.params["max"] for c in cs if c.params.get("max") is not None]
        if los and his and max(los) > min(his):
            drop.update(id(c) for c in cs)
    lines = [c for _, c in all_c if c.type == "prior_lines" and c.polarity == "required"]
    groups: dict[tuple[str, str], list[Constraint]] = {}
    for c in lines:
        groups.setdefault((c.params["kind"], c.params["setting"]), []).append(c)
    for cs in groups.values():
        los = [c.params["min"] for c in cs if c.params.get("min") is not None]
        his = [c.params["max"] for c in cs if c.params.get("max") is not None]
        if los and his and max(los) > min(his):
            drop.update(id(c) for c in cs)
    if drop:
        for it in items:
            it.constraints = [c for c in it.constraints if id(c) not in drop]


def parse_criteria(text: str, time_budget_s: float | None = None) -> list[Criterion]:
    """Inclusion and exclusion criteria of a ClinicalTrials.gov eligibilityCriteria text, each with its constraints.

    Bounded: a criterion longer than MAX_CRITERION_CHARS (no real one comes close) stays free text, without
    constraints, and so does every criterion after `time_budget_s` seconds (a time box for matching; None: no box,
    the parse is deterministic). Free text is never guessed: its verdict is "unknown".
    """
    if not text or not text.strip():
        return []
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    norm = _normalise(text)
    items = _segment(text, norm)
    allowance: list[bool] = []
    heads = {it.parent for it in items if it.parent is not None}
    for index, item in enumerate(items):
        if item.end - item.start > MAX_CRITERION_CHARS or (deadline is not None and time.monotonic() > deadline):
            allowance.append(False)
            item.constraints = []
            continue
        s = norm[item.start : item.end]
        own_cond = bool(
            _COND_PREFIX.search(s) or _COND_PAREN.search(s) or _COND_ONLY.search(s) or _DEFINITION.search(s)
        )
        note = bool(_NOTE.match(s))
        parent_text = norm[items[item.parent].start : items[item.parent].end] if item.parent is not None else ""
        constraints, allow = _parse_item(s, item.start, item, parent_text)
        allowance.append(allow and not item.conditional and (note or not own_cond))
        if item.conditional:  # a cohort's own criterion is kept only when the cohort is named (trials/cohorts.py)
            ancestors = []
            at = item.parent
            while at is not None:
                ancestors.append(text[items[at].start : items[at].end])
                at = items[at].parent
            item.cohort = cohorts.cohort_of(text[item.start : item.end], ancestors, _section_heading(text, item))
        elif own_cond:  # an inline cohort prefix ("Cohort B only: prior capecitabine") names its cohort
            item.cohort = cohorts.cohort_of(text[item.start : item.end], [], "")
        # a criterion under a condition no cohort name says ("If HER2-positive:", an arm heading) is still read,
        # and held: the matcher lets it decide only where the condition cannot matter (Criterion.conditional)
        item.held = (item.conditional or own_cond) and item.cohort is None
        if (item.alternative and item.alt_group is None) or item.exception:
            constraints = []
        else:  # the readers of trials/kinds.py (labs, time windows, comorbidities, screening items)
            found = {c.type for c in constraints}
            constraints += kinds.extract(s, item.start, item.section, item.negated, found, parent_text)
        # whom the criterion binds (its own subject, else its list head's): kept even where nothing else is read,
        # since it only ever says "not applicable" to a patient the record places outside the subgroup
        item.constraints = constraints + _subgroup_of(items, item, norm, index in heads)
    _resolve_document(items, allowance)
    return [
        Criterion(
            it.section,
            text[it.start : it.end],
            it.start,
            it.end,
            tuple(it.constraints),
            it.cohort,
            it.alt_group if it.alternative or it.alt_group else None,
            it.all_of,
            it.parent,
            it.held and bool(it.constraints),
        )
        for it in items
    ]


def _subgroup_of(items: list[_Item], item: _Item, norm: str, is_head: bool) -> list[Constraint]:
    """The subgroup a criterion is addressed to ("Male participants must ..."), or its nearest list head's
    ("Patients with brain metastases are eligible if:" binds its sub-bullets). A list head that is only its subject
    ("Participants with Multiple Myeloma" over that cohort's bullets) carries it too, marked as a cohort heading."""
    own = subgroups.extract(norm[item.start : item.end], item.start, is_head=is_head)
    if item.section == "exclusion":
        # in an exclusion another tumour type's disease is a second cancer of this patient ("Recurrent or metastatic
        # pancreatic adenocarcinoma"), a comorbidity to ask about, never a cohort she is outside of
        own = [c for c in own if "other_cancer_disease" not in c.params.get("groups", ())]
    if own and any(c.params.get("cohort_head") for c in own) and _head_subgroup(items, item, norm):
        # under a head of another tumour type, a bullet naming that disease again refines the cohort ("HNSCC of oral
        # cavity, oropharynx ..." below "Head and Neck squamous cell carcinoma (HNSCC)"): not applicable, not a cohort
        own = [replace(c, params={k: v for k, v in c.params.items() if k != "cohort_head"}) for c in own]
    return own or _head_subgroup(items, item, norm)


def _head_subgroup(items: list[_Item], item: _Item, norm: str) -> list[Constraint]:
    """The subgroup the nearest list head above the item binds it to (read as for its sub-bullets), or none."""
    at = item.parent
    while at is not None:
        head = items[at]
        found = subgroups.extract(norm[head.start : head.end], head.start, norm[item.start : item.end])
        if found:
            # the span is the sub-bullet's own (a constraint's span lies within its criterion); the cue names the head
            return [replace(c, span=(item.start, item.end), cue=c.cue + " (its list head)") for c in found]
        at = head.parent
    return []


def _section_heading(text: str, item: _Item) -> str:
    """The last header-like line (a line ending in ":" with no bullet, e.g. "Cohort A (HR+/HER2-):") before the
    item, which may name the cohort of a section of criteria."""
    before = text[max(0, item.start - 2_000) : item.start]
    for line in reversed(before.splitlines()):
        t = line.strip()
        if t.endswith(":") and len(t) < 160:
            return t
    return ""


# ------------------------------------------------------------------------------------------------ JSON


def criteria_to_json(criteria: list[Criterion]) -> list[dict[str, Any]]:
    """JSON-serialisable form (the store's cache payload); `criteria_from_json` reads it back."""
    return [
        {
            "kind": c.kind,
            "text": c.text,
            "start": c.start,
            "end": c.end,
            "constraints": [
                {
                    "type": k.type,
                    "polarity": k.polarity,
                    "params": k.params,
                    "span": [k.span[0], k.span[1]],
                    "cue": k.cue,
                }
                for k in c.constraints
            ],
            "cohort": c.cohort,
            "any_of": c.any_of,
            "all_of": c.all_of,
            "parent": c.parent,
            "conditional": c.conditional,
        }
        for c in criteria
    ]


def criteria_from_json(data: list[dict[str, Any]]) -> list[Criterion]:
    """Criteria from `criteria_to_json` output; ValueError when the data do not have that shape."""
    out: list[Criterion] = []
    try:
        for d in data:
            cons = []
            for k in d["constraints"]:
                if k["type"] not in CONSTRAINT_TYPES or k["polarity"] not in POLARITIES:
                    raise ValueError(f"unknown constraint type or polarity: {k['type']!r} {k['polarity']!r}")
                span = k["span"]
                cons.append(
                    Constraint(
                        str(k["type"]),
                        str(k["polarity"]),
                        dict(k["params"]),
                        (int(span[0]), int(span[1])),
                        str(k["cue"]),
                    )
                )
            kind = d["kind"]
            if kind not in ("inclusion", "exclusion"):
                raise ValueError(f"unknown criterion kind: {kind!r}")
            cohort, any_of = d.get("cohort"), d.get("any_of")
            out.append(
                Criterion(
                    kind,
                    str(d["text"]),
                    int(d["start"]),
                    int(d["end"]),
                    tuple(cons),
                    None if cohort is None else str(cohort),
                    None if any_of is None else str(any_of),
                    bool(d.get("all_of", False)),
                    None if d.get("parent") is None else int(d["parent"]),
                    bool(d.get("conditional", False)),
                )
            )
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"not a parsed-criteria payload: {e!r}") from e
    return out


__all__ = [
    "CONSTRAINT_TYPES",
    "PARSER_VERSION",
    "Constraint",
    "Criterion",
    "criteria_from_json",
    "criteria_to_json",
    "fill_parse_cache",
    "parse_criteria",
]


# ------------------------------------------------------------------------------------------------ parse cache

# A time box per study when the parse cache is filled: with bounded text and linear patterns a study parses in well
# under a second (the corpus's slowest: about 0.1 s), so the box only guards against a text no one foresaw.
PARSE_TIME_BOX_S = 5.0
_CACHE_CHUNK = 50  # parses written per transaction


def fill_parse_cache(
    store: TrialStore,
    *,
    status: str | Sequence[str] | None = None,
    country: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    time_budget_s: float | None = PARSE_TIME_BOX_S,
) -> int:
    """Parse and cache the criteria of every stored study (of these filters) not yet parsed by this parser version.

    `progress(done, total)` is called with (0, total) before the first parse and after each study (total: the
    studies to parse; 0 when every parse is cached). Returns the number of studies parsed. Run it before
    `matching_io.parsed_trials`, which then finds every parse in the cache.
    """
    cached = store.parsed_keys(PARSER_VERSION)
    todo = [t for t in store.iter_trials(status=status, country=country) if (t.nct_id, t.version) not in cached]
    if progress is not None:
        progress(0, len(todo))
    rows: list[tuple[str, str, str, Any]] = []
    for done, trial in enumerate(todo, 1):
        criteria = parse_criteria(trial.eligibility_text or "", time_budget_s)
        rows.append((trial.nct_id, trial.version, PARSER_VERSION, criteria_to_json(criteria)))
        if len(rows) >= _CACHE_CHUNK:
            store.put_parsed_many(rows)
            rows = []
        if progress is not None:
            progress(done, len(todo))
    if rows:
        store.put_parsed_many(rows)
    return len(todo)
