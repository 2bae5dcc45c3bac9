"""ConText trigger rules for eligibility criteria: a typed, validated table (context_rules.yaml) compiled once.

The rule format follows ConText (Harkema H, Dowling JN, Thornblade T, Chapman WW. ConText: an algorithm for
determining negation, experiencer, and temporal status from clinical reports. J Biomed Inform 2009;42(5):839-51) as
medspaCy's ConTextRule writes it: a literal (or a regex pattern), a category, a direction (forward / backward /
bidirectional, or terminate / pseudo), a maximum scope in tokens and the categories that terminate the scope. The
scope rules themselves (sentence, parentheses, which category does what to a constraint) live in criteria._Doc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, cast, get_args

from mbcnav.trials.tables import read_table

Direction = Literal["forward", "backward", "bidirectional", "terminate", "pseudo"]
Category = Literal[
    "negation",  # flips the polarity ("no prior X"; backward: "X-naive", "BRCA negative")
    "absolute_exclusion",  # the target is excluded whatever the section ("X is not allowed", "must not")
    "allowance",  # the target is allowed, neither required nor excluded ("X is allowed", "may have received")
    "not_required",  # a negated requirement: neither required nor excluded ("X is not required", "need not have")
    "exception",  # the target sits in an exception ("unless", "except") — no constraint
    "condition",  # the target holds only under a condition ("if", "for patients with") — no constraint
    "history",  # "history of": noted in the cue
    "therapy_blocker",  # a therapy named as an allergy, a plan, a toxicity, a washout ... — not prior exposure
    "termination",  # ends the scope of other triggers ("but", "however")
    "pseudo",  # looks like a trigger but is not ("no more than", "not limited to"): matched to be ignored
]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
CATEGORIES: tuple[str, ...] = get_args(Category)

# Which directions a category may take: the reader (criteria._Doc.context) gives a backward meaning only to these.
_SCOPED_BOTH = frozenset({"forward", "backward", "bidirectional"})
_ALLOWED_DIRECTIONS: dict[str, frozenset[str]] = {
    "negation": _SCOPED_BOTH,
    "absolute_exclusion": _SCOPED_BOTH,
    "allowance": _SCOPED_BOTH,
    "not_required": _SCOPED_BOTH,
    "exception": frozenset({"forward"}),
    "condition": frozenset({"forward"}),
    "history": frozenset({"forward"}),
    "therapy_blocker": frozenset({"forward"}),
    "termination": frozenset({"terminate"}),
    "pseudo": frozenset({"pseudo"}),
}
_ROW_KEYS = frozenset(
    {"literal", "pattern", "category", "direction", "max_scope", "terminated_by", "whole_word", "note"}
)
_WORD_START = re.compile(r"^\w")


@dataclass(frozen=True, slots=True)
class ContextRule:
    """One row of the trigger table; `row` is its 1-based position (file order is match order)."""

    row: int
    literal: str | None
    pattern: str | None
    category: Category
    direction: Direction
    scope_forward: int | None  # tokens between trigger and target must be fewer; None: to the end of the sentence
    scope_backward: int | None
    terminated_by: frozenset[str]  # categories whose trigger, between this trigger and its target, ends the scope
    terminated_by_literals: tuple[str, ...]  # text (e.g. ",") that, between trigger and target, ends the scope
    whole_word: bool
    note: str

    @property
    def regex(self) -> str:
        """The row as a regex fragment (a literal is escaped; whole-word rows are bounded by non-word characters)."""
        body = re.escape(self.literal) if self.literal is not None else cast(str, self.pattern)
        return rf"(?<![\w])(?:{body})(?![\w])" if self.whole_word else f"(?:{body})"

    @property
    def label(self) -> str:
        return self.literal if self.literal is not None else cast(str, self.pattern)

    def reaches(self, direction: Literal["forward", "backward"], tokens: int) -> bool:
        """Whether a target `tokens` tokens away in `direction` is within this rule's scope."""
        if self.direction not in (direction, "bidirectional"):
            return False
        cap = self.scope_forward if direction == "forward" else self.scope_backward
        return cap is None or tokens < cap


@dataclass(frozen=True, slots=True)
class RuleTable:
    """The validated table: rules in match order and one compiled alternation (group `r<row>` per rule)."""

    version: str
    sources: tuple[str, ...]
    rules: tuple[ContextRule, ...]
    regex: re.Pattern[str]

    @property
    def by_group(self) -> dict[str, ContextRule]:
        return _by_group(self)


_BY_GROUP: dict[int, tuple[RuleTable, dict[str, ContextRule]]] = {}


def _by_group(table: RuleTable) -> dict[str, ContextRule]:
    """Group name -> rule, once per table (keyed by identity: hashing the whole table per call is slow)."""
    hit = _BY_GROUP.get(id(table))
    if hit is None or hit[0] is not table:
        hit = (table, {f"r{r.row}": r for r in table.rules})
        _BY_GROUP[id(table)] = hit
    return hit[1]


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule matched in a text: offsets and the matched text (lower-cased criterion text)."""

    rule: ContextRule
    start: int
    end: int
    text: str

    @property
    def cat(self) -> Category:
        return self.rule.category


_WORD = re.compile(r"\S*\w\S*")


def tokens_between(text: str, a: int, b: int) -> int:
    """Words strictly between offsets a and b, as NegEx counts them: whitespace-separated, holding a letter or digit
    (a lone "-", "(" or "," is not a word: "inhibitor-naive" has no word between target and trigger)."""
    return len(_WORD.findall(text, a, b)) if b > a else 0


def _fail(row: int, what: str, raw: Mapping[str, Any]) -> ValueError:
    label = raw.get("literal") or raw.get("pattern") or "?"
    return ValueError(f"context_rules.yaml row {row} ({label!r}): {what}")


def _scope(row: int, raw: Mapping[str, Any], direction: str) -> tuple[int | None, int | None]:
    if direction in ("terminate", "pseudo"):
        if "max_scope" in raw or raw.get("terminated_by"):
            raise _fail(row, f"a {direction} row has no scope (drop max_scope / terminated_by)", raw)
        return None, None
    if "max_scope" not in raw:
        raise _fail(row, "max_scope is required (tokens, or null for the whole sentence)", raw)
    value = raw["max_scope"]
    if isinstance(value, Mapping):
        if direction != "bidirectional" or set(value) - {"forward", "backward"}:
            raise _fail(row, "a {forward:, backward:} max_scope is only for a bidirectional row", raw)
        fw, bw = value.get("forward"), value.get("backward")
    else:
        fw = value if direction in ("forward", "bidirectional") else None
        bw = value if direction in ("backward", "bidirectional") else None
    for v in (fw, bw):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise _fail(row, f"max_scope must be a positive number of tokens or null, not {v!r}", raw)
    return fw, bw


def _terminations(row: int, raw: Mapping[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    cats: set[str] = set()
    lits: list[str] = []
    for item in raw.get("terminated_by") or []:
        if (
            isinstance(item, Mapping)
            and set(item) == {"literal"}
            and isinstance(item["literal"], str)
            and item["literal"]
        ):
            lits.append(item["literal"])
        elif isinstance(item, str) and item in CATEGORIES:
            cats.add(item)
        else:
            raise _fail(row, f"terminated_by entry {item!r} is neither a category nor {{literal: text}}", raw)
    return frozenset(cats), tuple(lits)


def parse_rules(data: Any) -> RuleTable:
    """Validate a loaded table; a bad row raises ValueError naming the row."""
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list) or not data["rules"]:
        raise ValueError("context_rules.yaml: a mapping with a non-empty `rules` list is expected")
    rules: list[ContextRule] = []
    for i, raw in enumerate(data["rules"], start=1):
        if not isinstance(raw, Mapping):
            raise ValueError(f"context_rules.yaml row {i}: a mapping is expected, not {raw!r}")
        if unknown := set(raw) - _ROW_KEYS:
            raise _fail(i, f"unknown field(s) {sorted(unknown)}", raw)
        literal, pattern = raw.get("literal"), raw.get("pattern")
        if (literal is None) == (pattern is None):
            raise _fail(i, "exactly one of literal / pattern is required", raw)
        text = literal if literal is not None else pattern
        if not isinstance(text, str) or not text.strip() or (literal is not None and text != text.lower()):
            raise _fail(
                i, "literal / pattern must be non-empty text, a literal lower-case (criteria are lower-cased)", raw
            )
        category, direction = raw.get("category"), raw.get("direction")
        if category not in CATEGORIES:
            raise _fail(i, f"unknown category {category!r} (one of {', '.join(CATEGORIES)})", raw)
        if direction not in DIRECTIONS:
            raise _fail(i, f"unknown direction {direction!r} (one of {', '.join(DIRECTIONS)})", raw)
        if direction not in _ALLOWED_DIRECTIONS[category]:
            raise _fail(i, f"a {category} row cannot be {direction}", raw)
        fw, bw = _scope(i, raw, direction)
        cats, lits = _terminations(i, raw)
        whole_word = raw.get("whole_word", True)
        if not isinstance(whole_word, bool):
            raise _fail(i, "whole_word must be true or false", raw)
        rule = ContextRule(
            i,
            literal,
            pattern,
            cast(Category, category),
            cast(Direction, direction),
            fw,
            bw,
            cats,
            lits,
            whole_word,
            str(raw.get("note") or ""),
        )
        try:
            compiled = re.compile(rule.regex)
        except re.error as exc:
            raise _fail(i, f"pattern does not compile: {exc}", raw) from exc
        if compiled.groups or compiled.match(""):
            raise _fail(i, "pattern must not capture groups (use (?:...)) nor match empty text", raw)
        rules.append(rule)
    _check_shadowing(rules)
    regex = _alternation(rules)
    sources = data.get("sources") or []
    return RuleTable(str(data.get("version", "")), tuple(str(s) for s in sources), tuple(rules), regex)


_WORD_START_PREFIX = r"(?<![\w])"


def _starts_a_word(regex: str) -> bool:
    """A row that can match only where a word starts: the word-start lookbehind, then a letter or digit."""
    rest = regex[len(_WORD_START_PREFIX) :]
    return regex.startswith(_WORD_START_PREFIX) and bool(re.match(r"\(\?:(?:[a-z0-9(]|\\w)", rest))


def _alternation(rules: list[ContextRule]) -> re.Pattern[str]:
    """One regex, one named group per row (r<row>). The rows that start at a word start share one hoisted
    lookbehind, so the engine tries their alternatives only where a word starts (about 5 times faster than trying
    every row at every character); the order of the rows is kept, so at one position the first row still wins."""
    word = [r for r in rules if _starts_a_word(r.regex)]
    other = [r for r in rules if not _starts_a_word(r.regex)]
    parts = []
    if word:
        inner = "|".join(f"(?P<r{r.row}>{r.regex[len(_WORD_START_PREFIX) :]})" for r in word)
        parts.append(rf"{_WORD_START_PREFIX}(?=\w)(?:{inner})")
    parts += [f"(?P<r{r.row}>{r.regex})" for r in other]
    return re.compile("|".join(parts))


def _check_shadowing(rules: list[ContextRule]) -> None:
    """At one position the first matching row wins: a literal that starts with an earlier literal (as whole words)
    never matches — the table must list the longer phrase first."""
    seen: list[ContextRule] = []
    for r in rules:
        if r.literal is None:
            continue
        for e in seen:
            assert e.literal is not None
            rest = r.literal[len(e.literal) :]
            if r.literal.startswith(e.literal) and e.whole_word and (not rest or not _WORD_START.match(rest)):
                raise ValueError(
                    f"context_rules.yaml row {r.row} ({r.literal!r}) never matches: row {e.row} ({e.literal!r}) "
                    "matches first — list the longer phrase first"
                )
        seen.append(r)


@cache
def rules() -> RuleTable:
    """The packaged table, validated and compiled once."""
    return parse_rules(read_table("context_rules.yaml"))


def find_triggers(text: str, table: RuleTable | None = None) -> list[Trigger]:
    """Every trigger in `text` (lower-cased), left to right, non-overlapping; at one position the first row wins."""
    t = table or rules()
    # one group per row and none inside a row (validated), so the matched group's index is the row number
    by_name = t.by_group
    return [Trigger(by_name[m.lastgroup or ""], m.start(), m.end(), m.group(0)) for m in t.regex.finditer(text)]
