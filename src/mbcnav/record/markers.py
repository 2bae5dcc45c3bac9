"""Recognise what a Condition / Observation / Procedure is (mCODE STU1-STU4 codes and profiles) and read its value."""

from __future__ import annotations

import math
import re
from typing import Any

from mbcnav.dates import PartialDate
from mbcnav.record.model import ReceptorResult, Source, Specimen, StagingType, StopReason
from mbcnav.terminology.codes import MBCNAV_CS, codings, first_code, has_code, texts
from mbcnav.terminology.comorbidities import comorbidity_coded, comorbidity_in_words, is_complication
from mbcnav.terminology.sites import classify_site, site_table


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def num(v: Any) -> float | None:
    """A JSON number as a float, or None for non-numbers, booleans, NaN, infinities and absurd magnitudes."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, int) and abs(v) > 10**9:
        return None
    f = float(v)
    return f if math.isfinite(f) and abs(f) <= 1e9 else None


def num_text(s: str) -> float | None:
    try:
        return num(float(s)) if len(s) <= 12 else None
    except ValueError:
        return None


# ---- Conditions -------------------------------------------------------------------------------------------------
# SNOMED 254837009 malignant neoplasm of breast; 353431000119107 of female left breast (mCODE STU4 examples);
# ICD-10(-CM) C50.* malignant neoplasm of breast. Anything else is recognised by its words.
PRIMARY_SNOMED = {"254837009", "353431000119107", "372064008", "188152004"}
GENERIC_SECONDARY_SNOMED = {"128462008"}
_BREAST = re.compile(r"\bbreast\b|\bmammary\b", re.I)
_MALIGNANT = re.compile(r"malignan|carcinoma|cancer|neoplasm", re.I)
_NOT_PRIMARY = re.compile(r"secondary|metasta|history of|family history|in situ|benign|screening|risk", re.I)
_SECONDARY = re.compile(r"secondary malignan|metasta(?:tic|sis|ses|sized)|\bmets\b", re.I)


def condition_kind(code: Any, profiles: str) -> str | None:
    """'primary' (breast cancer), 'secondary' (a metastasis) or None for any other Condition."""
    if "primary-cancer-condition" in profiles and _is_breast(code):
        return "primary"
    if "secondary-cancer-condition" in profiles:
        return "secondary"
    table = site_table()
    for system, c, _ in codings(code):
        if system == "icd10" and re.match(r"^C7[789]", c):
            return "secondary"
        if system == "snomed" and (c in GENERIC_SECONDARY_SNOMED or any(("snomed", c) in r.codes for r in table.rules)):
            return "secondary"
    for system, c, _ in codings(code):
        if (system == "snomed" and c in PRIMARY_SNOMED) or (system == "icd10" and c.startswith("C50")):
            return "primary"
    if comorbidity_coded(code) is not None:
        return (
            None  # coded as a comorbidity: its words ("neuropathy after paclitaxel for metastatic disease") are notes
        )
    if is_complication(comorbidity_in_words(code)):
        return None  # "metastatic spinal cord compression" is a complication of a metastasis, not a site of one
    words = " ; ".join(texts(code))
    if _SECONDARY.search(words) and not re.search(r"history of|family history|no evidence", words, re.I):
        return "secondary"
    if _BREAST.search(words) and _MALIGNANT.search(words) and not _NOT_PRIMARY.search(words):
        return "primary"
    if "primary-cancer-condition" in profiles and not words:
        return None
    return None


def _is_breast(code: Any) -> bool:
    if any(
        (s == "snomed" and c in PRIMARY_SNOMED) or (s == "icd10" and c.startswith("C50")) for s, c, _ in codings(code)
    ):
        return True
    return bool(_BREAST.search(" ".join(texts(code))))


# ---- Observations -----------------------------------------------------------------------------------------------
LOINC_KINDS: dict[str, str] = {
    # Stage group: 21908-9 clinical (mCODE STU1), 21902-2 pathological, 21914-7 other.
    "21908-9": "stage_group",
    "21902-2": "stage_group",
    "21914-7": "stage_group",
    # TNM categories, clinical (21905-5 T, 21906-3 N, 21907-1 M) and pathological (21899-0, 21900-6, 21901-4).
    "21905-5": "tnm",
    "21906-3": "tnm",
    "21907-1": "tnm",
    "21899-0": "tnm",
    "21900-6": "tnm",
    "21901-4": "tnm",
    # ER, PR, HER2 (interpretation / immune stain / ISH) as used in mCODE examples and US labs.
    "16112-5": "receptor",
    "85337-4": "receptor",
    "40556-3": "receptor",
    "16113-3": "receptor",
    "85339-0": "receptor",
    "40557-1": "receptor",
    "48676-1": "receptor",
    "85319-2": "receptor",
    "85318-4": "receptor",
    "18474-7": "receptor",
    "89247-1": "performance",
    "89243-0": "performance",
    "69548-6": "genomic",
    "81695-9": "signature",
    "94076-7": "signature",
    "97509-4": "status",
    "88040-1": "status",
    "21889-1": "tumor_size",
    "82810-3": "pregnancy",
}
SNOMED_KINDS: dict[str, str] = {
    "399537006": "stage_group",  # Clinical TNM stage grouping
    "399588009": "stage_group",  # Pathologic TNM stage grouping
    "399387003": "tnm",  # cM category
}
PROFILE_KINDS = (
    ("stage-group", "stage_group"),
    ("tnm-", "tnm"),
    ("tumor-marker", "receptor"),
    ("ecog", "performance"),
    ("karnofsky", "performance"),
    ("genomic-variant", "genomic"),
    ("genetic-variant", "genomic"),
    ("cancer-disease-status", "status"),
    ("tumor-size", "tumor_size"),
    ("history-of-metastatic", "history_mets"),
)
_RECEPTOR_WORDS = {
    "HER2": re.compile(r"\bher-?2\b|erbb-?2|her2/neu|\bneu\b", re.I),
    "ER": re.compile(r"\bestrogen receptor|oestrogen receptor|\bER\b(?![-/]?BB)", re.I),
    "PR": re.compile(r"progesterone receptor|\bPgR\b|\bPR\b", re.I),
    "PD-L1": re.compile(r"pd-?l1|programmed death", re.I),
    "Ki67": re.compile(r"\bki-?67\b", re.I),
}
_WORD_KINDS = (
    (re.compile(r"stage group|stage grouping|\bTNM stage\b", re.I), "stage_group"),
    (
        re.compile(
            r"\b[TNM] category\b|distant metastases category|primary tumou?r category|regional nodes category",
            re.I,
        ),
        "tnm",
    ),
    (re.compile(r"\becog\b", re.I), "performance"),
    (re.compile(r"karnofsky", re.I), "performance"),
    (re.compile(r"menopaus", re.I), "menopause"),
    (re.compile(r"pregnancy status", re.I), "pregnancy"),
    (re.compile(r"microsatellite|mismatch repair|tumou?r mutation(al)? burden", re.I), "signature"),
    (re.compile(r"disease status|response to (cancer )?treatment|disease progression", re.I), "status"),
    (re.compile(r"history of (cancer )?metasta", re.I), "history_mets"),
)


def receptor_marker(code: Any) -> str | None:
    for system, c, _ in codings(code):
        if system == "loinc":
            if c in ("16112-5", "85337-4", "40556-3"):
                return "ER"
            if c in ("16113-3", "85339-0", "40557-1"):
                return "PR"
            if c in ("48676-1", "85319-2", "85318-4", "18474-7"):
                return "HER2"
    words = " ; ".join(texts(code))
    for marker, pattern in _RECEPTOR_WORDS.items():
        if pattern.search(words):
            return marker
    return None


def observation_kind(code: Any, profiles: str) -> str | None:
    for system, c, _ in codings(code):
        if system == "loinc" and c in LOINC_KINDS:
            return LOINC_KINDS[c]
        if system == "snomed" and c in SNOMED_KINDS:
            return SNOMED_KINDS[c]
        if system == MBCNAV_CS + "/observation":
            return {"menopausal-status": "menopause", "her2": "receptor", "visceral-crisis": "visceral_crisis"}.get(c)
        if system == MBCNAV_CS + "/recist" and c == "lesion-status":
            return "lesion_status"
    for fragment, kind in PROFILE_KINDS:
        if fragment in profiles:
            if kind == "receptor" and receptor_marker(code) is None:
                return None
            return kind
    if receptor_marker(code) is not None:
        return "receptor"
    words = " ; ".join(texts(code))
    for pattern, kind in _WORD_KINDS:
        if pattern.search(words):
            return kind
    return None


def value_words(res: dict[str, Any]) -> str:
    """All text and codes of an Observation's value, for category parsing."""
    parts: list[str] = []
    vc = res.get("valueCodeableConcept")
    if isinstance(vc, dict):
        parts += [c for _, c, _ in codings(vc) if c] + texts(vc)
    for key in ("valueString", "valueInteger"):
        if key in res and isinstance(res[key], str | int) and not isinstance(res[key], bool):
            parts.append(str(res[key]))
    return " ; ".join(parts)


_STAGE = re.compile(r"(?:stage\s*|^|[\s;:(])(0|IV|III[ABC]?|II[AB]?|I[AB]?|[1-4][ABCabc]?)(?=$|[\s;:,)]|\s*\()")
_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV"}


def parse_stage_group(text: str) -> str | None:
    """'American Joint Committee on Cancer stage IIIA (qualifier value)', '3C', 'IV' -> 'IIIA', 'IIIC', 'IV'."""
    if not text:
        return None
    for part in text.split(";"):
        p = part.strip()
        m = re.search(r"stage\s+(0|IV|III[ABC]?|II[AB]?|I[AB]?)\b", p, re.I)
        if m:
            return m.group(1).upper()
        m = re.fullmatch(r"(?:stage\s*)?(0|IV|III[ABC]?|II[AB]?|I[AB]?|[1-4][ABCabc]?)", p, re.I)
        if m:
            g = m.group(1).upper()
            if g[0] in _ROMAN:
                g = _ROMAN[g[0]] + g[1:]
            if g in ("IVA", "IVB", "IVC"):
                g = "IV"
            return g
    return None


def staging_type(code: Any, value: str) -> StagingType:
    words = " ".join(texts(code) + [c for _, c, _ in codings(code)]).lower()
    v = value.strip().lower()
    if re.match(r"^y[pc]", v) or "post therapy" in words or "post-therapy" in words:
        return "post_therapy"
    if (
        any(c in ("21902-2", "21899-0", "21900-6", "21901-4", "399588009") for _, c, _ in codings(code))
        or "patholog" in words
        or re.match(r"^p[tnm]", v)
    ):
        return "pathological"
    if (
        any(c in ("21908-9", "21905-5", "21906-3", "21907-1", "399537006", "399387003") for _, c, _ in codings(code))
        or "clinical" in words
        or re.match(r"^c[tnm]", v)
    ):
        return "clinical"
    return "unknown"


def tnm_axis(code: Any, profiles: str) -> str | None:
    for _, c, _ in codings(code):
        if c in ("21905-5", "21899-0"):
            return "T"
        if c in ("21906-3", "21900-6"):
            return "N"
        if c in ("21907-1", "21901-4", "399387003"):
            return "M"
    if "distant-metastases" in profiles:
        return "M"
    if "regional-nodes" in profiles:
        return "N"
    if "primary-tumor" in profiles:
        return "T"
    words = " ".join(texts(code)).lower()
    if "distant" in words or re.search(r"\bm category\b", words):
        return "M"
    if "node" in words or re.search(r"\bn category\b", words):
        return "N"
    if "primary" in words or re.search(r"\bt category\b", words):
        return "T"
    return None


_TNM = re.compile(r"(?<![A-Za-z])(yc|yp|c|p|r|y)?([TNM])(is|X|x|[0-4][a-d]?(?:\s*\((?:i\+|mol\+|i-|sn|f)\))?|mi)", re.I)


def parse_tnm(text: str, axis: str | None) -> tuple[str, str] | None:
    """'American Joint Committee on Cancer cM0(i+)' -> ('M', 'cM0(i+)')."""
    for m in _TNM.finditer(text):
        prefix, letter, value = (m.group(1) or ""), m.group(2).upper(), m.group(3)
        if axis and letter != axis:
            continue
        value = re.sub(r"\s+", "", value)
        value = value.upper() if value.lower() == "x" else value.replace("I+", "i+")
        return letter, f"{prefix.lower()}{letter}{value}"
    return None


def is_karnofsky(code: Any) -> bool:
    return has_code(code, "loinc", "89243-0") or bool(re.search("karnofsky", " ".join(texts(code)), re.I))


def integer_value(res: dict[str, Any]) -> int | None:
    v = res.get("valueInteger")
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    q = res.get("valueQuantity")
    f = num(q.get("value")) if isinstance(q, dict) else None
    if f is not None:
        return int(f) if f.is_integer() else None
    for t in [
        *texts(res.get("valueCodeableConcept")),
        *([res["valueString"]] if isinstance(res.get("valueString"), str) else []),
    ]:
        m = re.search(r"\b(\d{1,3})\b", t)
        if m:
            return int(m.group(1))
    for _, c, _ in codings(res.get("valueCodeableConcept")):
        if c.isdigit():
            return int(c)
    return None


# ---- receptors ----------------------------------------------------------------------------------------------------
# LOINC answer codes LA6576-8 Positive, LA6577-6 Negative, LA4259-3 Equivocal; SNOMED 10828004 Positive,
# 260385009 Negative, 42425007 Equivocal.
_POS = {"LA6576-8", "10828004"}
_NEG = {"LA6577-6", "260385009"}
_EQV = {"LA4259-3", "42425007"}
# The optional prefix holds its own whitespace, so a match starts at a keyword or at the digit: linear on long runs of
# spaces (a leading `\s*` made each start position scan the whole run).
_IHC = re.compile(
    r"(?:(?:ihc|score|immunohisto\w*)\s*)?\b([0-3])\s*\+|\b(3\+|2\+|1\+)|ihc\s*([0-3])\b|score\s*([0-3])\b", re.I
)


def _status_from(concept: Any, text: str) -> str | None:
    for _, c, _ in codings(concept):
        if c in _POS:
            return "positive"
        if c in _NEG:
            return "negative"
        if c in _EQV:
            return "equivocal"
    t = text.lower()
    if re.search(r"\blow[ -]?positive\b|\ber[- ]low\b|\blow\b", t):
        return "low"
    if re.search(r"\bnegative\b|\bneg\b|not detected|absent", t):
        return "negative"
    if re.search(r"\bequivocal\b|\bborderline\b", t):
        return "equivocal"
    if re.search(r"\bpositive\b|\bpos\b|detected|present|amplified", t):
        return "positive"
    return None


def _ihc_from(text: str, concept: Any) -> str | None:
    for system, c, _ in codings(concept):
        if system == MBCNAV_CS + "/her2-ihc" and c in ("0", "ultralow", "1+", "2+", "3+"):
            return c
    t = text.lower()
    if "ultralow" in t or "ultra-low" in t or re.search(r">\s*0\s*<\s*1\+", t):
        return "ultralow"
    m = _IHC.search(t)
    if m:
        digit = next(g for g in m.groups() if g)
        return digit[0] + "+" if digit[0] != "0" else "0"
    if re.fullmatch(r"\s*(ihc\s*)?0\s*", t) or re.search(r"\bihc\s*0\b|\bscore\s*0\b|\b0\s*\(negative\)", t):
        return "0"
    return None


# Possible ranges of numeric markers: a value outside is an input error (reported with its place, the value
# dropped), never a fact. Performance status and tumour size ranges are checked where they are read.
PERCENT_RANGE = (0.0, 100.0)  # ER, PR, Ki-67: per cent of tumour cells
CPS_RANGE = (0.0, 100.0)  # PD-L1 combined positive score: capped at 100 by definition
TMB_RANGE = (0.0, 1000.0)  # mutations per megabase: the most hypermutated tumours reach a few hundred


def in_range(v: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= v <= bounds[1]


def parse_receptor(res: dict[str, Any]) -> dict[str, Any] | None:
    """Raw parts of a receptor result: status, percent, IHC score, ISH result, CPS; None when there is no value.

    `_problem` is a value not understood (a warning); `_range` lists (where, message) of impossible numbers, each
    dropped (errors)."""
    marker = receptor_marker(res.get("code"))
    code_words = " ".join(texts(res.get("code")) + texts(res.get("method"))).lower()
    method = "unspecified"
    if re.search(r"\bfish\b|\bish\b|in situ hybridi|\bcish\b|\bsish\b|\bddish\b", code_words):
        method = "ISH"
    elif re.search(r"immune stain|immunohisto|\bihc\b", code_words):
        method = "IHC"
    out: dict[str, Any] = {
        "marker": marker,
        "method": method,
        "status": None,
        "percent": None,
        "ihc_score": None,
        "ish": None,
        "cps": None,
    }
    bad: list[tuple[str, str]] = []

    def check(value: float, bounds: tuple[float, float], what: str, where: str) -> float | None:
        if in_range(value, bounds):
            return value
        bad.append((where, f"{marker} {what} {value:g} is impossible (outside {bounds[0]:g}-{bounds[1]:g}); ignored"))
        return None

    texts_all: list[str] = []
    vc = res.get("valueCodeableConcept")
    if vc is not None:
        texts_all += texts(vc)
    if isinstance(res.get("valueString"), str):
        texts_all.append(res["valueString"])
    text = " ; ".join(texts_all)
    q = res.get("valueQuantity")
    if isinstance(q, dict) and "value" in q:
        v = num(q.get("value"))
        unit = str(q.get("unit") or q.get("code") or "").strip()
        if v is None and q.get("value") is not None:  # text, NaN/infinity or beyond 10^9: impossible
            bad.append(
                (".valueQuantity.value", f"{marker} value {str(q.get('value'))[:30]} is not a usable number; ignored")
            )
        if v is not None:
            if marker == "PD-L1" or "cps" in (unit.lower() + code_words):
                out["cps"] = check(v, CPS_RANGE, "CPS", ".valueQuantity.value")
            elif unit in ("%", "percent") or marker in ("ER", "PR", "Ki67"):
                out["percent"] = check(v, PERCENT_RANGE, "percentage", ".valueQuantity.value")
            elif marker == "HER2" and v in (0, 1, 2, 3):
                out["ihc_score"] = "0" if v == 0 else f"{int(v)}+"
    if isinstance(res.get("valueInteger"), int) and marker == "HER2" and res["valueInteger"] in (0, 1, 2, 3):
        out["ihc_score"] = "0" if res["valueInteger"] == 0 else f"{res['valueInteger']}+"
    if marker == "HER2" and method != "ISH":
        out["ihc_score"] = out["ihc_score"] or _ihc_from(text, vc)
    status = _status_from(vc, text)
    if marker == "HER2" and method == "ISH":
        out["ish"] = status if status in ("positive", "negative", "equivocal") else None
    else:
        out["status"] = status
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*%", text)  # starts at a number's start: linear on digit runs
    if m and out["percent"] is None and marker in ("ER", "PR", "Ki67"):
        pct = num_text(m.group(1))  # None: more than 12 characters, far beyond any percentage
        if pct is None:
            bad.append((".value", f"{marker} percentage {m.group(1)[:30]} is impossible; ignored"))
        else:
            out["percent"] = check(pct, PERCENT_RANGE, "percentage", ".value")
    m = re.search(r"cps\D{0,12}?((?:(?<=[\s:=(])-)?\d+(?:\.\d+)?)", text, re.I)  # "CPS -1" is negative, "CPS-10" not
    if m and out["cps"] is None:
        cps = num_text(m.group(1))
        if cps is None:
            bad.append((".value", f"{marker} CPS {m.group(1)[:30]} is impossible; ignored"))
        else:
            out["cps"] = check(cps, CPS_RANGE, "CPS", ".value")
    # Components: mbcnav case files and some labs give IHC score, ISH result, percent or CPS as components.
    for ci, comp in enumerate(_as_list(res.get("component"))):
        if not isinstance(comp, dict):
            continue
        cwhere = f".component[{ci}].valueQuantity.value"
        cwords = " ".join(texts(comp.get("code")) + [c for _, c, _ in codings(comp.get("code"))]).lower()
        cvc = comp.get("valueCodeableConcept")
        ctext = " ; ".join(texts(cvc) + ([comp["valueString"]] if isinstance(comp.get("valueString"), str) else []))
        cq = comp.get("valueQuantity")
        cnum = num(cq.get("value")) if isinstance(cq, dict) else None
        if isinstance(cq, dict) and cq.get("value") is not None and cnum is None:
            bad.append((cwhere, f"{marker} value {str(cq.get('value'))[:30]} is not a usable number; ignored"))
        if "ish" in cwords or "in situ" in cwords or "fish" in cwords:
            out["ish"] = _status_from(cvc, ctext) or out["ish"]
        elif "ihc" in cwords or "immunohisto" in cwords:
            out["ihc_score"] = _ihc_from(ctext, cvc) or (
                f"{int(cnum)}+"
                if isinstance(cnum, int | float) and cnum in (1, 2, 3)
                else "0"
                if cnum == 0
                else out["ihc_score"]
            )
        elif "cps" in cwords or "combined positive" in cwords:
            if cnum is not None:
                cps = check(cnum, CPS_RANGE, "CPS", cwhere)
                out["cps"] = out["cps"] if cps is None else cps
        elif ("percent" in cwords or "%" in cwords or "proportion" in cwords) and cnum is not None:
            pct = check(cnum, PERCENT_RANGE, "percentage", cwhere)
            out["percent"] = out["percent"] if pct is None else pct
    for interp in _as_list(res.get("interpretation")):
        if out["status"] is None and marker != "HER2":
            out["status"] = _status_from(interp, " ".join(texts(interp)))
    if marker is None:
        return None
    if bad:
        out["_range"] = bad
    if all(out[k] is None for k in ("status", "percent", "ihc_score", "ish", "cps")):
        if bad:
            return out
        if text or q is not None:
            out["_problem"] = f"{marker} value not understood: {text[:60]!r}"
            return out
        return None
    return out


def make_receptor(p: dict[str, Any], when: PartialDate | None, specimen: Specimen, source: Source) -> ReceptorResult:
    method = p["method"]
    if method == "unspecified" and p["ihc_score"] is not None:
        method = "IHC"
    return ReceptorResult(
        p["marker"],
        when,
        method,
        p["status"],
        p["percent"],
        p["ihc_score"],
        p["ish"],
        p["cps"],
        specimen,
        source,
    )


_BLOOD = re.compile(r"\bblood\b|plasma|serum|ctdna|cell-free|liquid biopsy|saliva|buccal|germline", re.I)


def specimen_from(candidates: list[Any], when: PartialDate | None, desc: str | None) -> Specimen:
    words = [t for c in candidates for t in texts(c)]
    joined = " ; ".join(words)
    if not joined:
        return Specimen("unknown", None, when, desc)
    if _BLOOD.search(joined):
        return Specimen("blood", None, when, desc or "blood")
    if _BREAST.search(joined) and not re.search(r"contralateral|secondary|metasta", joined, re.I):
        return Specimen("primary", None, when, desc or "breast")
    match = classify_site(candidates[0] if candidates else None, [c for c in candidates[1:] if c], [], None)
    if match.matched_by != "none" and match.site != "lymph_node":
        return Specimen("metastasis", match.site, when, desc or match.detail)
    if match.site == "lymph_node":
        return Specimen("unknown", None, when, desc or match.detail)
    if re.search(r"metasta", joined, re.I):
        # metastatic tissue from an organ the site vocabulary does not name (fresh7 p06: a gastric biopsy recorded
        # as "other"): still a biopsy of a metastasis, preferred as such (ASCO 2015), its site "other"
        return Specimen("metastasis", "other", when, desc or joined[:60])
    return Specimen("unknown", None, when, desc or joined[:60])


# ---- genomics ------------------------------------------------------------------------------------------------------
def parse_genomic(res: dict[str, Any]) -> dict[str, Any] | None:
    gene = None
    origin = "unknown"
    variant = None
    result = "unknown"
    for comp in _as_list(res.get("component")):
        if not isinstance(comp, dict):
            continue
        code = comp.get("code")
        vc = comp.get("valueCodeableConcept")
        if has_code(code, "loinc", "48018-6"):  # gene studied
            gene = next((d for _, _, d in codings(vc) if d), None) or next(iter(texts(vc)), None)
        elif has_code(code, "loinc", "48002-0"):  # genomic source class
            w = " ".join(texts(vc) + [c for _, c, _ in codings(vc)]).lower()
            origin = (
                "germline"
                if ("germline" in w or "la6683-2" in w)
                else ("somatic" if ("somatic" in w or "la6684-0" in w) else "unknown")
            )
        elif has_code(code, "loinc", "81290-9", "48004-6", "48005-3", "81252-9"):
            vs = comp.get("valueString")
            variant = (
                variant
                or next(iter(texts(vc)), None)
                or (vs.strip() if isinstance(vs, str) else None)
                or next((c for _, c, _ in codings(vc) if c), None)
            )
        elif has_code(code, "loinc", "53037-8"):  # clinical significance
            w = " ".join(texts(vc) + [c for _, c, _ in codings(vc)]).lower()
            if "likely pathogenic" in w or "la26332-9" in w:
                result = "likely_pathogenic"
            elif "pathogenic" in w or "la6668-3" in w:
                result = "pathogenic"
            elif "uncertain" in w or "la26333-7" in w:
                result = "vus"
            elif "benign" in w:
                result = "benign"
    if gene is None:
        words = " ".join(texts(res.get("code")))
        m = re.search(r"\b(BRCA[12]|PALB2|PIK3CA|ESR1|AKT1|PTEN|ERBB2|NTRK[123]|RET|BRAF|TP53|CHEK2|ATM)\b", words)
        gene = m.group(1) if m else None
    words_of_gene = gene.upper().split() if gene else []  # a blank display or text names no gene
    if not words_of_gene:
        return None
    if result == "unknown":
        w = " ".join(
            texts(res.get("valueCodeableConcept")) + [c for _, c, _ in codings(res.get("valueCodeableConcept"))]
        )
        w = w.lower()
        if "la9634-2" in w or "absent" in w or "not detected" in w or "negative" in w:
            result = "not_detected"
        elif "la9633-4" in w or "present" in w or "detected" in w or "positive" in w:
            result = "detected"
    if origin == "unknown":
        pw = " ".join(texts(res.get("method")) + texts(res.get("code"))).lower()
        origin = "germline" if "germline" in pw else ("somatic" if "somatic" in pw or "tumor" in pw else "unknown")
    return {"gene": words_of_gene[0], "origin": origin, "result": result, "variant": variant}


_TMB_TEXT = re.compile(r"^\s*(\d{1,4}(?:\.\d+)?)\s*(?:(?:mut(?:ation)?s?|muts?)\s*/\s*(?:mb|megabase)s?)?\s*$", re.I)


def parse_signature(res: dict[str, Any]) -> tuple[str, str, float | None] | None:
    words = " ".join(texts(res.get("code")) + [c for _, c, _ in codings(res.get("code"))]).lower()
    name = "TMB" if ("94076-7" in words or "mutation" in words) else "MSI"
    v = value_words(res)
    q = res.get("valueQuantity")
    number = num(q.get("value")) if isinstance(q, dict) else None
    if number is None and name == "TMB" and not isinstance(q, dict):
        number = num(res.get("valueInteger"))  # a TMB given as an integer is a number too (range-checked)
    if number is None and name == "TMB" and v:
        # as reports print it: "4 mut/Mb", "12.5 mutations/megabase" (fresh6 writer: the text was not read)
        m = _TMB_TEXT.match(v)
        number = num_text(m.group(1)) if m else None
    if not v and number is None:
        return None
    return name, v or str(number), number


def parse_disease_status(res: dict[str, Any]) -> str | None:
    vc = res.get("valueCodeableConcept")
    table = {
        "268910001": "responding",
        "359746009": "stable",
        "271299001": "progression",
        "709137006": "undetermined",
        "260415000": "no_evidence_of_disease",
    }
    for _, c, _ in codings(vc):
        if c in table:
            return table[c]
    w = " ".join(texts(vc)).lower()
    for pattern, status in (
        (r"progress|worse", "progression"),
        (r"no evidence|not detected|\bned\b|remission", "no_evidence_of_disease"),
        (r"stable", "stable"),
        (r"improv|respon|partial|complete", "responding"),
        (r"undetermined|unknown", "undetermined"),
    ):
        if re.search(pattern, w):
            return status
    return None


def parse_size(res: dict[str, Any]) -> tuple[float | None, str, str | None]:
    """Longest (or short-axis) diameter in mm; a problem message for impossible values or missing units."""
    quantity = None
    axis = "long"
    for comp in _as_list(res.get("component")):
        if not isinstance(comp, dict):
            continue
        code = comp.get("code")
        words = " ".join(texts(code)).lower()
        if has_code(code, "loinc", "33728-7") or "longest" in words or "major axis" in words:
            quantity = comp.get("valueQuantity")
            break
        if "short axis" in words or first_code(code, MBCNAV_CS + "/recist") == "short-axis":
            quantity, axis = comp.get("valueQuantity"), "short"
            break
    if quantity is None:
        quantity = res.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None, axis, None
    v = quantity.get("value")
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    value = num(v)
    if value is None:
        return None, axis, "tumour size has no usable numeric value"
    factor = {
        "mm": 1.0,
        "millimeter": 1.0,
        "millimeters": 1.0,
        "cm": 10.0,
        "centimeter": 10.0,
        "centimeters": 10.0,
        "m": 1000.0,
    }.get(unit)
    if factor is None:
        return None, axis, f"tumour size unit {unit or '(none)'!r} not understood (use mm or cm); ignored"
    mm = value * factor
    if not 0 <= mm <= 500:  # checked before rounding: 500.04 mm is not 500 mm
        return None, axis, f"tumour size {v} {unit} is impossible (outside 0-500 mm); ignored"
    return round(mm, 1), axis, None


_LESION_STATUS = {
    "present": "present",
    "absent": "absent",
    "too-small": "too_small",
    "too_small": "too_small",
    "unequivocal-progression": "unequivocal_progression",
    "unequivocal_progression": "unequivocal_progression",
    "merged": "merged",
}


def parse_lesion_status(res: dict[str, Any]) -> str | None:
    """RECIST 1.1 lesion status: present (non-target), absent (0 mm), too small to measure (5 mm default, RECIST
    1.1 appendix I), unequivocal progression (non-target), merged into another lesion (0 mm)."""
    vc = res.get("valueCodeableConcept")
    for _, c, _ in codings(vc):
        if c in _LESION_STATUS:
            return _LESION_STATUS[c]
    w = value_words(res).lower()
    for pattern, status in (
        (r"unequivocal|progress", "unequivocal_progression"),
        (r"too small|faint", "too_small"),
        (r"merged|coalesc", "merged"),
        (r"absent|disappeared|resolved|not seen", "absent"),
        (r"present|persist|stable", "present"),
    ):
        if re.search(pattern, w):
            return status
    return None


def slice_thickness(res: dict[str, Any]) -> float | None:
    for comp in _as_list(res.get("component")):
        if not isinstance(comp, dict):
            continue
        code = comp.get("code")
        if (
            first_code(code, MBCNAV_CS + "/recist") == "slice-thickness"
            or "slice thickness" in " ".join(texts(code)).lower()
        ):
            q = comp.get("valueQuantity")
            v = num(q.get("value")) if isinstance(q, dict) else None
            if v is not None and 0 < v <= 20:
                return v
    return None


def parse_menopause(res: dict[str, Any]) -> str | None:
    """Menopausal status of an Observation's value, by code and by meaning (terminology/findings.yaml), never by
    substring: "Menopause present" and "Premature menopause" are post, "Not postmenopausal" is not a status."""
    from mbcnav.terminology import findings

    vc = res.get("valueCodeableConcept")
    if isinstance(vc, dict):
        return findings.menopause_status(vc)[0]
    if isinstance(res.get("valueString"), str):
        return findings.menopause_from_text(res["valueString"])[0]
    return None


def parse_pregnancy(res: dict[str, Any]) -> bool | None:
    vc = res.get("valueCodeableConcept")
    if has_code(vc, "loinc", "LA15173-0"):
        return True
    if has_code(vc, "loinc", "LA26683-5"):
        return False
    w = value_words(res).lower()
    if "not pregnant" in w:
        return False
    if "pregnant" in w:
        return True
    return None


# ---- medications and procedures -----------------------------------------------------------------------------------
# SNOMED: 266721009 absent response to treatment; 182992009 treatment completed; 407563006 treatment not tolerated;
# 281647001 adverse reaction; 105480006 refusal of treatment by patient.
_STOP_CODES: dict[str, StopReason] = {
    "266721009": "progression",
    "182992009": "completed",
    "407563006": "toxicity",
    "281647001": "toxicity",
    "105480006": "patient_choice",
}


def stop_reason(res: dict[str, Any]) -> StopReason | None:
    raw = res.get("statusReason")
    concepts = raw if isinstance(raw, list) else [raw] if raw is not None else []
    words = []
    for c in concepts:
        for _, code, _ in codings(c):
            if code in _STOP_CODES:
                return _STOP_CODES[code]
        words += texts(c)
    w = " ".join(words).lower()
    if not w:
        return None
    if re.search(r"progress|refractory|no response|absent response|resistan|relapse|recurr", w):
        return "progression"
    if re.search(r"toxic|intoleran|not tolerated|adverse|side effect", w):
        return "toxicity"
    if re.search(r"complet|finished|planned end", w):
        return "completed"
    if re.search(r"patient (choice|decision|preference|declined|request)|refus", w):
        return "patient_choice"
    return "other"


_RT = re.compile(
    r"radiotherap|radiation|irradiat|\bsbrt\b|\bsrs\b|stereotactic|brachytherap|gamma knife|\bwbrt\b", re.I
)
_SURG = re.compile(
    r"ectomy|lumpectomy|excision|resection|surger|surgical|dissection|craniotomy|fixation|"
    r"stabili[sz]ation|reconstruction|ablation",
    re.I,
)


_DEFINITIVE_SURGERY = re.compile(
    r"mastectomy|lumpectomy|quadrantectomy|wide local excision|breast[- ]conserving|segmentectomy|"
    r"axillary (lymph node )?dissection|resection|craniotomy|laminectomy|decompression|fixation|stabili[sz]ation",
    re.I,
)


def procedure_kind(code: Any, category: Any, profiles: str) -> str | None:
    if "radiotherapy" in profiles or "radiation-procedure" in profiles:
        return "radiotherapy"
    if "surgical-procedure" in profiles:
        return "surgery"
    words = " ".join(texts(code))
    if _RT.search(words) or has_code(category, "snomed", "108290001"):
        return "radiotherapy"
    # A definitive operation named beside a staging biopsy ("wide local excision and sentinel lymph node biopsy") is
    # surgery; a biopsy alone (incl. an excision biopsy) or imaging is not. SNOMED 387713003 = surgical procedure.
    if has_code(category, "snomed", "387713003") or _DEFINITIVE_SURGERY.search(words):
        return "surgery"
    if re.search(r"biopsy|aspiration|mammogra|imaging|scan", words, re.I):
        return None
    if _SURG.search(words):
        return "surgery"
    return None
