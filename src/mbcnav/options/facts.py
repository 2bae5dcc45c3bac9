"""The facts the options rules read, derived from an Assessment (each with the record evidence behind it)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from mbcnav.assess import Assessment
from mbcnav.knowledge.drugs import catalogue

# Fact names with a fixed meaning; `prior_met.<x>`, `prior_any.<x>`, `progressed_on.<x>` and `current.<x>` take
# any drug class or flagged drug of the catalogue (docs/knowledge.md lists them all).
FACTS: dict[str, str] = {
    "metastatic": "stage IV (AJCC M1)",
    "group": "subtype group: HR+/HER2-, HR+/HER2+, HR-/HER2+, TNBC or unknown",
    "hr_positive": "ER positive/low or PR positive",
    "her2_positive": "HER2 IHC 3+ or 2+/ISH+ (or reported positive)",
    "hr_positive_her2_negative": "HR-positive and HER2-negative",
    "er": "ER: positive, low, negative",
    "her2": "HER2 result: 0, ultralow, 1+, 2+/ISH-, 2+/ISH+, 2+/ISH-unknown, 3+, negative, positive",
    "her2_category": "positive, low, ultralow, zero, negative_unspecified",
    "sex": "female, male, other",
    "menopausal_status": "pre, peri, post, unknown",
    "pregnant": "pregnancy recorded (true/false)",
    "ecog": "latest ECOG performance status",
    "lines_so_far": "number of lines of therapy for metastatic disease so far",
    "endocrine_lines_met": "metastatic lines that included endocrine therapy",
    "chemo_lines_met": "metastatic lines that included cytotoxic chemotherapy",
    "her2_lines_met": "metastatic lines that included HER2-directed therapy",
    "endocrine_resistance": "ESO-ESMO ABC: primary, secondary, sensitive, not_applicable",
    "relapse_within_12m_adjuvant_et": "relapse during or within 12 months of adjuvant endocrine therapy",
    "adjuvant_ai_relapse": "relapse during or within 12 months of an adjuvant aromatase inhibitor",
    "gbrca": "germline BRCA1/2 pathogenic variant (false only when tested negative)",
    "gpalb2": "germline PALB2 pathogenic variant",
    "esr1": "ESR1 mutation (tumour or ctDNA)",
    "pik3ca": "PIK3CA mutation",
    "akt1": "AKT1 mutation",
    "pten": "PTEN alteration",
    "akt_pathway": "any PIK3CA / AKT1 / PTEN alteration",
    "msi_high": "MSI-high / dMMR",
    "tmb_high": "tumour mutational burden >= 10 mut/Mb",
    "ntrk_fusion": "NTRK fusion",
    "ret_fusion": "RET fusion",
    "braf_v600e": "BRAF V600E",
    "pdl1_cps": "PD-L1 combined positive score",
    "bone_mets": "active bone metastases",
    "brain_mets": "active brain or leptomeningeal metastases",
    "bone_only": "bone-only disease",
    "visceral": "visceral metastases",
    "visceral_crisis": "visceral crisis (clinician judgement, record or --visceral-crisis)",
    "de_novo": "de novo stage IV",
    "breast_surgery_done": "surgery of the breast primary recorded",
    "metastatic_biopsy": "a receptor result from a biopsy of a metastasis exists",
    "discordance": "receptor discordance between primary and metastasis",
    "conflicts": "the record contradicts itself",
    "ild_history": "interstitial lung disease / pneumonitis on record (unknown if not recorded)",
    "heart_failure": "heart failure / reduced LVEF on record",
    "long_qt": "QT prolongation on record",
    "diabetes": "diabetes on record",
    "autoimmune_disease": "autoimmune disease on record",
    "trastuzumab_within_7_months": "trastuzumab given now or stopped less than 7 months ago",
}
PREFIXES = ("prior_met.", "prior_any.", "progressed_on.", "current.")


def is_known_fact(name: str) -> bool:
    if name in FACTS:
        return True
    for p in PREFIXES:
        if name.startswith(p):
            key = name[len(p) :]
            cat = catalogue()
            return key in cat.classes or key in cat.drugs
    return False


def _gene(a: Assessment, gene: str, origins: tuple[str, ...]) -> bool | None:
    rows = [g for g in a.record.genomics if g.gene == gene and g.origin in origins]
    if any(g.result in ("pathogenic", "likely_pathogenic", "detected") for g in rows):
        return True
    if rows and all(g.result in ("not_detected", "benign") for g in rows):
        return False
    return None


def _signature(a: Assessment, name: str) -> bool | None:
    rows = [s for s in a.record.signatures if s.name == name]
    if not rows:
        return None
    s = rows[-1]
    if name == "TMB":
        return None if s.numeric is None else s.numeric >= 10
    v = s.value.lower()
    if re.search(r"msi-?h|high|unstable|deficient|dmmr", v):
        return True
    if re.search(r"mss|stable|low|proficient|pmmr", v):
        return False
    return None


def _class_in(drugs: tuple[str, ...], klass: str) -> bool:
    cat = catalogue()
    return any(klass == d or cat.has_class(d, klass) for d in drugs)


def _relapse_within_12m(a: Assessment, klass: str) -> bool | None:
    """Relapse during or within 12 months of completing adjuvant therapy of a class (ESO-ESMO ABC time points)."""
    if a.presentation.value == "de_novo":
        return False
    first = a.stage.first_metastasis
    adj = [c for c in a.courses if c.setting in ("adjuvant", "neoadjuvant") and catalogue().has_class(c.drug, klass)]
    if a.presentation.value == "recurrent" and not adj:
        return False
    if first is None or not adj:
        return None
    undecided = False
    for c in adj:
        if c.start is None:
            undecided = True
            continue
        if c.start.earliest > first.latest:
            continue
        if c.exposure.ongoing or c.end is None or c.end.latest >= first.earliest:
            return True  # relapse while on adjuvant therapy (stopping at relapse is the usual record)
        if first.earliest <= c.end.latest + timedelta(days=365):
            return True
    return None if undecided else False


def build_facts(a: Assessment, *, visceral_crisis: bool | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Facts (name -> value, None when unknown) and, for the main ones, the record evidence behind them."""
    j = a.to_json()
    st = j["subtype"]
    cat = catalogue()
    f: dict[str, Any] = {}
    basis: dict[str, str] = {}
    f["metastatic"] = a.stage.metastatic
    basis["metastatic"] = a.stage.basis
    f["group"] = None if st["group"] == "unknown" else st["group"]
    f["hr_positive"] = st["hr_positive"]
    cat_her2 = st["her2_category"]
    f["her2_positive"] = None if cat_her2 == "unknown" else cat_her2 == "positive"
    f["hr_positive_her2_negative"] = (
        None
        if f["hr_positive"] is None or f["her2_positive"] is None
        else bool(f["hr_positive"] and not f["her2_positive"])
    )
    f["er"] = None if st["er"] == "unknown" else st["er"]
    f["her2"] = None if st["her2"] == "unknown" else st["her2"]
    f["her2_category"] = None if cat_her2 == "unknown" else cat_her2
    for k in ("group", "her2", "her2_category", "er", "hr_positive", "her2_positive", "hr_positive_her2_negative"):
        basis[k] = f"{st['group']}: ER {st['er']}, PR {st['pr']}, HER2 {st['her2']} — {st['specimen']}" + (
            f", {st['date']}" if st["date"] else ""
        )
    p = a.record.patient
    f["sex"] = None if p.sex == "unknown" else p.sex
    f["menopausal_status"] = None if p.menopausal_status == "unknown" else p.menopausal_status
    f["pregnant"] = p.pregnant
    f["ecog"] = j["ecog"]
    lines = list(a.lines)
    # An ongoing line counts as given: the options answer "what next", after the current line.
    f["lines_so_far"] = len(lines)
    f["endocrine_lines_met"] = sum(_class_in(line.drugs, "endocrine") for line in lines)
    f["chemo_lines_met"] = sum(_class_in(line.drugs, "chemotherapy") for line in lines)
    f["her2_lines_met"] = sum(_class_in(line.drugs, "her2_directed") for line in lines)
    basis["lines_so_far"] = "; ".join(f"line {x.number}: {', '.join(x.drugs)}" for x in lines) or "none"
    f["endocrine_resistance"] = None if a.resistance.value == "unknown" else a.resistance.value
    basis["endocrine_resistance"] = "; ".join(a.resistance.basis)
    f["relapse_within_12m_adjuvant_et"] = _relapse_within_12m(a, "endocrine")
    f["adjuvant_ai_relapse"] = _relapse_within_12m(a, "aromatase_inhibitor")
    brca = [_gene(a, g, ("germline",)) for g in ("BRCA1", "BRCA2")]
    f["gbrca"] = True if True in brca else (False if brca == [False, False] else None)
    f["gpalb2"] = _gene(a, "PALB2", ("germline",))
    somatic = ("somatic", "unknown", "germline")
    for gene in ("ESR1", "PIK3CA", "AKT1", "PTEN"):
        f[gene.lower()] = _gene(a, gene, somatic)
    trio = [f["pik3ca"], f["akt1"], f["pten"]]
    f["akt_pathway"] = True if True in trio else (False if trio == [False, False, False] else None)
    f["msi_high"] = _signature(a, "MSI")
    f["tmb_high"] = _signature(a, "TMB")
    f["ntrk_fusion"] = True if any(_gene(a, g, somatic) for g in ("NTRK1", "NTRK2", "NTRK3")) else None
    f["ret_fusion"] = _gene(a, "RET", somatic) or None
    braf = [
        g for g in a.record.genomics if g.gene == "BRAF" and g.result in ("pathogenic", "likely_pathogenic", "detected")
    ]
    f["braf_v600e"] = True if any("V600E" in (g.variant or "") for g in braf) else None
    f["pdl1_cps"] = st["pdl1_cps"]
    sites = set(a.spread.sites)
    met = a.stage.metastatic
    f["bone_mets"] = ("bone" in sites) if met else None
    f["brain_mets"] = bool(sites & {"brain", "leptomeninges"}) if met else None
    f["bone_only"] = a.spread.bone_only
    f["visceral"] = a.spread.visceral
    recorded = [jd for jd in a.record.judgements if jd.name == "visceral_crisis"]
    f["visceral_crisis"] = (
        visceral_crisis if visceral_crisis is not None else (recorded[-1].present if recorded else None)
    )
    f["de_novo"] = None if a.presentation.value == "unknown" else a.presentation.value == "de_novo"
    f["breast_surgery_done"] = any(
        t.kind == "surgery"
        and ("breast" in (t.site or "").lower() or re.search(r"mastectomy|lumpectomy|breast", t.description, re.I))
        for t in a.record.local_treatments
    )
    f["metastatic_biopsy"] = any(r.specimen.kind == "metastasis" for r in a.record.receptors)
    f["discordance"] = bool(st["discordance"])
    f["conflicts"] = bool(a.conflicts)
    trast = [c for c in a.courses if c.drug in ("trastuzumab", "pertuzumab")]
    f["trastuzumab_within_7_months"] = any(
        c.exposure.ongoing or c.end is None or (a.as_of - c.end.latest).days < 213 for c in trast
    )
    names = {c.name for c in a.record.comorbidities}
    f["ild_history"] = True if "interstitial_lung_disease" in names else None
    for key in ("heart_failure", "long_qt", "diabetes", "autoimmune_disease"):
        f[key] = True if key in names else None
    # Exposures: every class and flagged drug, split by setting; progression and current therapy per line.
    for key, row in a.exposures.items():
        f[f"prior_met.{key}"] = bool(row["metastatic"])
        f[f"prior_any.{key}"] = bool(row["any"])
        f[f"progressed_on.{key}"] = False
        f[f"current.{key}"] = False
    for name in cat.drugs:
        f.setdefault(f"prior_met.{name}", any(c.drug == name and c.setting == "metastatic" for c in a.courses))
        f.setdefault(f"prior_any.{name}", any(c.drug == name for c in a.courses))
        f.setdefault(f"progressed_on.{name}", False)
        f.setdefault(f"current.{name}", False)
    for i, line in enumerate(lines):
        progressed = line.reason_stopped == "progression" or (i + 1 < len(lines) and line.reason_stopped is None)
        running = [c.drug for c in line.courses if c.exposure.ongoing or c.end is None] if line.ongoing else []
        for key in list(a.exposures) + list(cat.drugs):
            if _class_in(line.drugs, key) and progressed:
                f[f"progressed_on.{key}"] = True
            if running and _class_in(tuple(running), key):
                f[f"current.{key}"] = True
    return f, basis
