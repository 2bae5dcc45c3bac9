"""Comorbidity exclusions (infections, cardiac disease, other cancers ...) and procedural screening items
(consent, contraception, tissue) read from eligibility text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mbcnav.knowledge.drugs import catalogue
from mbcnav.terminology.comorbidities import comorbidity_names
from mbcnav.trials import labs_criteria
from mbcnav.trials.model import Constraint
from mbcnav.trials.tables import alternation, read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView

TYPES: tuple[str, ...] = ("comorbidity", "screening")

ASK = "not recorded; ask at screening"
SCREENING_EVIDENCE = "confirmed by the study team at screening"
# Qualifiers a recorded condition answers on its own: "history of diabetes" is met by recorded diabetes, while
# "uncontrolled diabetes" is not (the record says the patient has diabetes, not whether it is controlled).
_PLAIN_QUALIFIERS = (None, "history", "known")
# qualifiers a resolved condition does not have (screening.yaml qualifiers)
_CURRENT_QUALIFIERS = ("active", "uncontrolled", "symptomatic")


@dataclass(frozen=True, slots=True)
class _Category:
    """One condition or screening item of screening.yaml, its triggers compiled."""

    type: str  # "comorbidity" | "screening"
    name: str
    pattern: re.Pattern[str]
    requires: re.Pattern[str] | None
    skip_before: re.Pattern[str] | None
    skip_after: re.Pattern[str] | None
    absence: bool  # the trigger itself says "must not have" ("recovered from toxicities")
    generic: bool  # read only when nothing named is in the criterion
    record: tuple[str, ...]
    related: tuple[str, ...]
    presupposes: tuple[str, ...] = ()  # drug catalogue classes without which the condition cannot have arisen
    presupposes_sites: tuple[str, ...] = ()  # metastatic sites without which it cannot have arisen
    oral_course: bool = False  # a current oral anticancer course answers no (she swallows oral medication)
    normal_lab: str | None = None  # an analyte whose current in-range value answers no


@dataclass(frozen=True, slots=True)
class _Table:
    categories: tuple[_Category, ...]
    qualifiers: tuple[tuple[str, re.Pattern[str]], ...]
    negation: re.Pattern[str]
    duty: re.Pattern[str]
    absence_before: re.Pattern[str]
    absence_after: re.Pattern[str]
    allowance: re.Pattern[str]
    not_allowance: re.Pattern[str]
    exceptions: re.Pattern[str]


def _alt(phrases: list[str]) -> str:
    return alternation(phrases, word_bounded=True)


def _opt(raw: dict[str, Any], key: str) -> re.Pattern[str] | None:
    return re.compile(raw[key]) if key in raw else None


@cache
def _table() -> _Table:
    raw: Any = read_table("screening.yaml")
    cats: list[_Category] = []
    for type_, key in (("comorbidity", "comorbidity"), ("screening", "screening")):
        for name, entry in raw[key].items():
            cats.append(
                _Category(
                    type_,
                    name,
                    re.compile(_alt(entry["triggers"])),
                    _opt(entry, "requires"),
                    _opt(entry, "skip_before"),
                    _opt(entry, "skip_after"),
                    bool(entry.get("absence", False)),
                    bool(entry.get("generic", False)),
                    tuple(entry.get("record", ())),
                    tuple(entry.get("related", ())),
                    tuple(entry.get("presupposes", ())),
                    tuple(entry.get("presupposes_sites", ())),
                    bool(entry.get("oral_course", False)),
                    entry.get("normal_lab"),
                )
            )
    unknown_classes = sorted({k for c in cats for k in c.presupposes} - set(catalogue().classes))
    if unknown_classes:
        raise ValueError(f"screening.yaml presupposes drug classes missing from drugs.yaml: {unknown_classes}")
    known = set(comorbidity_names())
    unknown = sorted({n for c in cats for n in (*c.record, *c.related)} - known)
    if unknown:  # a record: / related: key the record reader can never produce would silently never answer
        raise ValueError(f"screening.yaml names comorbidities missing from terminology/comorbidities.yaml: {unknown}")
    return _Table(
        tuple(cats),
        tuple((q, re.compile(_alt(ps))) for q, ps in raw["qualifiers"].items()),
        re.compile(_alt(raw["negation"])),
        re.compile(_alt(raw["duty"])),
        re.compile(_alt(raw["negation"] + raw["absence_before"])),
        re.compile(raw["absence_after"]),
        re.compile(_alt(raw["allowance"])),
        re.compile(r"\b(?:" + raw["not_allowance"] + r")\b"),
        re.compile(_alt(raw["exceptions"])),
    )


# ------------------------------------------------------------------------------------------------ reading

# Sentence ends: ". " / "; " / ": " (not "e.g." / "i.e." / "vs."), keeping offsets.
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\betc)[.;:](?=\s|$)")
_WITHIN = re.compile(
    r"\b(?:within|in)\s+(?:the\s+)?(?:past\s+|last\s+|previous\s+|prior\s+|preceding\s+)?"
    r"(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\s*[- ]?\s*(day|week|month|year)s?\b"
)
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_NUMBERS |= {"ten": 10, "twelve": 12}
_QTC = re.compile(r"(≥|>=|>|≤|<=|<)\s*(\d{3})\s*(?:ms|msec|milliseconds?)\b")
_GRADE = re.compile(
    r"\b(?:ctcae\s+)?grade\s*(≥|>=|>|≤|<=|<)\s*(\d)\b|(≥|>=|>|≤|<=|<)\s*grade\s*(\d)\b|"
    r"\bgrade\s*(\d)\s*(?:or|and)\s*(higher|greater|above|more|worse|lower|less|below)\b"
)
# A criterion about the trial's own disease ("invasive breast cancer", "cancer of the breast") is the parser's.
_BREAST_NEAR = re.compile(r"\bbreast|\bmammar|\bdcis\b")


@dataclass(frozen=True, slots=True)
class _Hit:
    cat: _Category
    start: int
    end: int
    sentence: tuple[int, int]


def _sentences(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        out.append((pos, m.end()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def _other_cancer_is_breast(text: str, start: int, end: int) -> bool:
    """ "invasive breast cancer", "prior cancer of the breast": the study's disease, not another malignancy. A
    breast cancer named as the exception ("malignancy other than breast cancer") keeps the trigger."""
    before = text[max(0, start - 20) : start]
    after = text[end : end + 25]
    if _BREAST_NEAR.search(text[start:end]) or re.search(r"\b(?:breast|mammary)\W*$", before):
        return True
    return bool(re.match(r"\s*(?:of|in|involving)\s+(?:the\s+)?(?:\w+\s+)?(?:breast|mammary)", after))


def _hits(text: str) -> list[_Hit]:
    t = _table()
    found: list[_Hit] = []
    for sa, sb in _sentences(text):
        sentence = text[sa:sb]
        # "HIV-infected participants on effective antiretroviral therapy ... are eligible": no condition is read;
        # a screening item still is ("The following are acceptable measures to prevent pregnancy:")
        allowance = bool(t.allowance.search(sentence)) and not t.not_allowance.search(sentence)
        exc = t.exceptions.search(sentence)
        stop = sa + exc.start() if exc else sb
        cands: list[_Hit] = []
        for cat in t.categories:
            if allowance and cat.type != "screening":
                continue
            if cat.requires is not None and not cat.requires.search(sentence):
                continue
            for m in cat.pattern.finditer(text, sa, stop):
                if cat.skip_before is not None and cat.skip_before.search(text[max(sa, m.start() - 60) : m.start()]):
                    continue
                if cat.skip_after is not None and cat.skip_after.search(text[m.end() : m.end() + 30]):
                    continue
                if cat.name == "other_malignancy" and _other_cancer_is_breast(text, m.start(), m.end()):
                    continue
                cands.append(_Hit(cat, m.start(), m.end(), (sa, sb)))
        # overlapping triggers: the earlier, then the longer wins ("interstitial lung disease" over "lung disease")
        cands.sort(key=lambda h: (h.start, -(h.end - h.start)))
        taken_end = -1
        for h in cands:
            if h.start >= taken_end:
                found.append(h)
                taken_end = h.end
    return found


def _qualifier(text: str, h: _Hit) -> str | None:
    """The nearest qualifier before the trigger in its sentence ("uncontrolled", "history of"), else after it."""
    t = _table()
    sa, sb = h.sentence
    before = text[sa : h.start]
    best: tuple[int, str] | None = None
    for name, pat in t.qualifiers:
        for m in pat.finditer(before):
            if best is None or m.end() > best[0]:
                best = (m.end(), name)
    if best is not None and len(before) - best[0] <= 60:
        return best[1]
    after = re.split(r"[,;]", text[h.end : min(sb, h.end + 80)], maxsplit=1)[0]  # this list item only
    first: tuple[int, str] | None = None
    for name, pat in t.qualifiers:
        if name in ("history", "known"):
            continue
        a = pat.search(after)
        if a and (first is None or a.start() < first[0]):
            first = (a.start(), name)
    return first[1] if first else (best[1] if best else None)


def _extras(text: str, h: _Hit) -> dict[str, Any]:
    """A time window ("within 5 years") and a grade ("grade ≥ 2") written next to the trigger, as written."""
    out: dict[str, Any] = {}
    sa, sb = h.sentence
    w = _WITHIN.search(text, h.end, min(sb, h.end + 120))
    if w is None:
        w = _WITHIN.search(text, max(sa, h.start - 40), h.start)
    if w is not None:
        n = w.group(1)
        out[w.group(2) + "s"] = int(n) if n.isdigit() else _NUMBERS[n]
    if h.cat.name == "hypersensitivity":
        drugs, excipients = _named_drugs_only(text[h.end : sb])
        if drugs:
            out["drugs"] = drugs
        if excipients:
            out["excipients"] = True
    if h.cat.name == "long_qt" and (q := _QTC.search(text, h.end, min(sb, h.end + 60))) is not None:
        out["qtc_ms"] = f"{_sym(q.group(1))} {q.group(2)}"
    g = _GRADE.search(text, max(sa, h.start - 30), min(sb, h.end + 80))
    if g is not None:
        if g.group(1):
            out["grade"] = f"{_sym(g.group(1))} {g.group(2)}"
        elif g.group(3):
            out["grade"] = f"{_sym(g.group(3))} {g.group(4)}"
        else:
            up = g.group(6) in ("higher", "greater", "above", "more", "worse")
            out["grade"] = f"{'≥' if up else '≤'} {g.group(5)}"
    return out


# what may stand between the drugs of "hypersensitivity reactions to X, Y, or Z" besides their names
_DRUG_LIST_WORDS = frozenset(
    {"to", "or", "and", "and/or", "either", "any", "of", "the", "their", "its", "reaction", "reactions", "severe"}
    | {"known", "immediate", "history", "prior", "previous"}
)


def _named_drugs_only(after: str) -> tuple[list[str], bool]:
    """The catalogue drugs a hypersensitivity is to ("reactions to fluorouracil or capecitabine"), when the words
    after the trigger name only catalogue drugs, and whether their excipients are named too ("to fulvestrant or to
    any of the excipients"). A class, "study drug" or a drug the catalogue does not know leave it unread ([]). The
    record's therapy list is complete, so a drug never given cannot have caused one."""
    m = re.match(r"\s*(?:\w+\s+){0,2}?(?:to|with)\s+(.+)$", after)
    if m is None:
        return [], False
    found, rest = catalogue().scan(m.group(1))
    words = rest.split()
    excipients = any(w.startswith("excipient") for w in words)
    leftover = [w for w in words if w not in _DRUG_LIST_WORDS and not w.startswith("excipient")]
    return ([], False) if leftover or not found else (found, excipients)


def _sym(op: str) -> str:
    return {">=": "≥", "<=": "≤"}.get(op, op)


def _absent(text: str, h: _Hit) -> bool:
    """An inclusion that requires the absence of the condition: "No history of ILD", "HIV negative"."""
    t = _table()
    sa, sb = h.sentence
    if h.cat.type == "screening":
        return bool(t.negation.search(text, sa, h.start))
    if h.cat.absence or t.absence_before.search(text, sa, h.start) or t.absence_before.search(text[h.start : h.end]):
        return True
    return bool(t.absence_after.match(text[h.end : sb]))


def _duty(text: str, h: _Hit) -> bool:
    """A screening item stated as a duty in its sentence ("must agree to use contraception"), not negated."""
    t = _table()
    sa = h.sentence[0]
    return bool(t.duty.search(text, sa, h.start)) and not t.negation.search(text, sa, h.start)


def extract(text: str, offset: int, section: str, negated: bool, head: str = "") -> list[Constraint]:
    """Constraints of this kind in one criterion (see trials/kinds.py for the arguments)."""
    hits = _hits(text)
    # a generic catch-all ("serious medical condition", "in the opinion of the investigator") only when nothing
    # more specific is read: a named item first, then a generic comorbidity, then the investigator's judgement
    if any(not h.cat.generic for h in hits):
        hits = [h for h in hits if not h.cat.generic]
    elif any(h.cat.type == "comorbidity" for h in hits):
        hits = [h for h in hits if h.cat.type == "comorbidity"]
    out: list[Constraint] = []
    seen: set[tuple[str, str]] = set()
    for h in hits:
        key = (h.cat.type, h.cat.name)
        if key in seen:
            continue
        seen.add(key)  # a condition is read from its first mention only ("patients with HCV ... without HCV RNA")
        if section == "exclusion":
            polarity = "excluded"
            if h.cat.type == "screening" and _duty(text, h):
                polarity = "required"  # "Women of childbearing potential must use contraception" in an exclusion
        elif _absent(text, h):
            polarity = "excluded"
            if negated:
                continue  # "must not have: no history of ...": a double negative is not read
        elif h.cat.type == "screening" or negated:
            polarity = "required"  # "Able to provide written informed consent"; a negated head flips it below
        else:
            continue  # a condition named in an inclusion ("patients with HIV must ...") is a condition, not a rule
        if negated:
            polarity = "excluded" if polarity == "required" else "required"
        phrase = text[h.start : h.end]
        span = (offset + h.start, offset + h.end)
        if h.cat.type == "screening":
            out.append(Constraint("screening", polarity, {"item": h.cat.name}, span, f'"{phrase}": {h.cat.name}'))
            continue
        params: dict[str, Any] = {"condition": h.cat.name}
        qualifier = _qualifier(text, h)
        if qualifier is not None:
            params["qualifier"] = qualifier
        params |= _extras(text, h)
        why = "an exclusion" if section == "exclusion" else "required absent" if not negated else "under a negated head"
        out.append(Constraint("comorbidity", polarity, params, span, f'"{phrase}": {h.cat.name}, {why}'))
    return out


# ------------------------------------------------------------------------------------------------ checking


def _category(name: str) -> _Category | None:
    return next((c for c in _table().categories if c.type == "comorbidity" and c.name == name), None)


def check(c: Constraint, p: PatientView) -> tuple[bool | None, str]:
    """Whether the patient has what the constraint's params describe (None: unknown), with the evidence."""
    if c.type == "screening":
        return None, f"{c.params.get('item', 'screening item')}: {SCREENING_EVIDENCE}"
    name = str(c.params.get("condition"))
    cat = _category(name)
    label = name.replace("_", " ")
    if p.record is None or cat is None:
        return None, f"{label}: {ASK}"
    if name in ("visceral_crisis", "symptomatic_visceral_disease"):
        return _visceral(name, p)
    if name == "surgical_recovery":
        return _surgical_recovery(p)
    if name == "other_malignancy" and not any(x.name == "other_malignancy" for x in p.record.comorbidities):
        # the record's primaries are the breast cancer being treated; a second primary is not recorded there
        return None, f"other malignancy: no second primary recorded (the breast cancer is not 'other'); {ASK}"
    if name == "hypersensitivity":
        named = [str(d) for d in c.params.get("drugs", [])]
        given = {th.drug for th in p.record.therapies}
        if named and not given & set(named) and not c.params.get("excipients"):
            # (excipients are shared with other products: a drug never given does not rule out a reaction to them)
            return False, f"hypersensitivity to {', '.join(named)}: never given (the record's therapy list)"
        courses = [th for th in p.record.therapies if th.drug in named]
        if named and set(named) <= given and all(th.reason_stopped != "toxicity" for th in courses):
            # every drug named was given and none was stopped for toxicity: a reaction to it is not what happened
            said = "; ".join(
                f"{th.drug} {th.start or '?'} to {'ongoing' if th.ongoing else th.end or '?'}"
                + (f", stopped for {th.reason_stopped}" if th.reason_stopped else "")
                for th in courses
            )
            return False, f"hypersensitivity to {', '.join(named)}: given and not stopped for toxicity ({said})"
        return None, f"hypersensitivity: no allergies recorded; {ASK}"
    if cat.presupposes_sites and p.sites and not set(p.sites) & set(cat.presupposes_sites):
        where = " or ".join(s.replace("_", " ") for s in cat.presupposes_sites)
        sites = ", ".join(s.replace("_", " ") for s in p.sites)
        return False, f"{label}: no {where} metastasis among the recorded sites ({sites}), so none from the cancer"
    if cat.presupposes:
        cl = catalogue()
        of_class = [th.drug for th in p.record.therapies if any(cl.has_class(th.drug, k) for k in cat.presupposes)]
        known_drugs = all(th.drug in cl.drugs for th in p.record.therapies)
        if not of_class and known_drugs:
            what = " or ".join(cl.classes[k] for k in cat.presupposes)
            return False, f"{label}: no {what} given (the record's therapy list), so none from it"
    own = [x for x in p.record.comorbidities if x.name in cat.record]
    related = [x for x in p.record.comorbidities if x.name in cat.related]
    if not own and not related:
        if cat.oral_course:
            cl = catalogue()
            oral = [
                th.drug for th in p.record.therapies if th.ongoing and th.drug in cl.drugs and cl.drugs[th.drug].oral
            ]
            if oral:
                return (
                    False,
                    f"{label}: currently takes oral {', '.join(dict.fromkeys(oral))} (the record's therapy list)",
                )
        if cat.normal_lab:
            lab = next((x for x in p.labs if x.analyte == cat.normal_lab), None)
            if lab is not None and labs_criteria.not_current(lab, p) is None and lab.flag == "normal":
                return False, f"{label}: {lab.describe()} in the reference range"
        return None, f"{label}: {ASK}"
    # an active condition answers before a resolved one (Condition.clinicalStatus)
    x = sorted(own or related, key=lambda r: r.status != "active")[0]
    when = f" ({x.date.isoformat()})" if x.date is not None else ""
    past = " (resolved)" if x.status == "resolved" else ""
    fact = f"recorded {x.name.replace('_', ' ')}{past}: {x.text!r}{when}"
    qualifier = c.params.get("qualifier")
    if x.status == "resolved" and not any(r.status == "active" for r in own):
        # a past condition: "history of" it holds; "active", "uncontrolled", "symptomatic" do not; a bare or
        # "known" condition may mean the current one only (hepatitis B cured vs chronic): a person reads it
        if qualifier == "history" and own:
            return True, fact
        if qualifier in _CURRENT_QUALIFIERS:
            return False, f"{fact}; resolved, so not {str(qualifier).replace('_', ' ')}"
        return None, f"{fact}; whether a past {label} counts, as the criterion says: ask at screening"
    bound = next((f"{k.split('_')[0]} {c.params[k]}" for k in ("grade", "qtc_ms") if k in c.params), None)
    graded = _grade_against(str(c.params["grade"]), x.text) if "grade" in c.params and own else None
    if graded is not None and qualifier in _PLAIN_QUALIFIERS and "qtc_ms" not in c.params:
        return graded, f"{fact}: grade {_recorded_grade(x.text)} against the criterion's grade {c.params['grade']}"
    if qualifier not in _PLAIN_QUALIFIERS or bound is not None:
        what = bound or str(qualifier).replace("_", " ")
        return None, f"{fact}; whether it is {what} as the criterion says: ask at screening"
    if not own:
        return None, f"{fact}; whether it is the {label} meant: ask at screening"
    window = next(((u, n) for u in ("days", "weeks", "months", "years") if isinstance(n := c.params.get(u), int)), None)
    if window is not None:
        if x.date is None or p.as_of is None:
            return None, f"{fact}; the criterion counts {window[1]} {window[0]}, the record has no date: ask"
        days = {"days": 1, "weeks": 7, "months": 30.44, "years": 365.25}[window[0]] * window[1]
        if (p.as_of - x.date.latest).days <= days:
            return True, f"{fact}, within {window[1]} {window[0]}"
        return None, f"{fact}, before the {window[1]} {window[0]} window (a chronic condition may persist): ask"
    return True, fact


# the grade a recorded condition states ("grade 2 sensory neuropathy"); with several, the one said to hold now
# ("grade 2 in 2026-05, grade 1 now", "grade 1 by 2026-09", "improved to grade 1"); a range ("grade 1-2") is none
_TEXT_GRADE = re.compile(r"\bgrade\s*([0-4])(?![-\d])", re.I)
_GRADE_NOW = re.compile(
    r"\bgrade\s*([0-4])(?![-\d])\s*(?:now|currently|at present|today|by\s+\d{4})\b"
    r"|\b(?:now|currently|improved to|resolved to|down to)\s+grade\s*([0-4])(?![-\d])",
    re.I,
)


def _recorded_grade(text: str) -> int | None:
    """The CTCAE grade a recorded condition's text states now (None: none, or several without one said to hold now)."""
    now = _GRADE_NOW.search(text)
    if now is not None:
        return int(now.group(1) or now.group(2))
    if re.search(r"\bgrade\s*[0-4]\s*[-–]\s*[0-4]\b", text, re.I):
        return None  # "improved to grade 1-2": not one grade
    grades = {int(g) for g in _TEXT_GRADE.findall(text)}
    return grades.pop() if len(grades) == 1 else None


def _grade_against(bound: str, text: str) -> bool | None:
    """Whether the recorded grade is within the criterion's grade bound ("≥ 2": grade 2 or worse); None: no grade."""
    grade = _recorded_grade(text)
    m = re.match(r"\s*(≥|>|≤|<)\s*(\d)", bound)
    if grade is None or m is None:
        return None
    n = int(m.group(2))
    return {"≥": grade >= n, ">": grade > n, "≤": grade <= n, "<": grade < n}[m.group(1)]


def _visceral(name: str, p: PatientView) -> tuple[bool | None, str]:
    """Visceral crisis / symptomatic visceral disease from the assessment (assess/visceral.py, ESO-ESMO ABC5)."""
    status = p.visceral_crisis
    why = "; ".join(p.visceral_evidence[:2])
    if status == "present":
        return True, f"visceral crisis: {why}"
    if status in ("absent", "not_applicable"):
        return False, f"no visceral crisis: {why}"
    if name == "visceral_crisis" and status == "not_suspected":
        return (
            False,
            f"visceral crisis not suspected from the record's labs and sites (ABC5): {why}; the investigator confirms",
        )
    ecog = p.facts.get("ecog")
    if name == "symptomatic_visceral_disease" and ecog == 0:
        return False, "ECOG 0 (fully active, no symptoms): visceral disease is not symptomatic"
    if name == "visceral_crisis" and status in ("unknown", None) and isinstance(ecog, int) and ecog <= 1:
        # ABC5 defines a crisis by severe organ dysfunction with its signs and symptoms: not that of a patient
        # recorded ambulatory and capable of work (ECOG 0-1). A suspicion from labs (status "suspected") still wins.
        return (
            False,
            f"ECOG {ecog} recorded, no suspicion of visceral crisis from the record; the investigator confirms",
        )
    return None, f"visceral crisis {status or 'unknown'}" + (f": {why}" if why else "") + f"; {ASK}"


_HEALED_DAYS = 365  # screening.yaml surgical_recovery: a project convention, not a clinical threshold


def _surgical_recovery(p: PatientView) -> tuple[bool | None, str]:
    """Recovery from surgery: ruled out when the record's last surgery is over a year old (or there is none)."""
    if p.record is None or p.as_of is None:
        return None, f"recovery from surgery: {ASK}"
    surgeries = [lt for lt in p.record.local_treatments if lt.kind == "surgery"]
    dated = [d.latest for lt in surgeries if (d := lt.end or lt.start) is not None]
    if len(dated) < len(surgeries):
        return None, f"a recorded surgery has no date: recovery from it, {ASK}"
    if not dated:
        return False, "no surgery recorded (the record's surgery list is read as complete)"
    last = max(dated)
    days = (p.as_of - last).days
    if days > _HEALED_DAYS:
        return False, f"last surgery recorded {last.isoformat()}, {days} days before {p.as_of.isoformat()}"
    return None, f"surgery on {last.isoformat()}, {days} days before {p.as_of.isoformat()}: recovery, {ASK}"
