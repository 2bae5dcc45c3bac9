"""The patient facts that the knowledge base (options, unknowns) and trial matching read, derived from an Assessment."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from mbcnav.assess.assessment import Assessment
from mbcnav.assess.labs import LabSummary
from mbcnav.assess.therapy import latest_status_on
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
    "pr": "PR: positive, low, negative",
    "her2": "HER2 result: 0, ultralow, 1+, 2+/ISH-, 2+/ISH+, 2+/ISH-unknown, 3+, negative, positive",
    "her2_category": "positive, low, ultralow, zero, negative_unspecified",
    "her2_low_on_primary": "HER2-0 or ultralow on the metastasis used, HER2-low (1+ or 2+/ISH-) on the primary",
    "her2_primary_result": "the primary's HER2 result and date when it was HER2-low (text)",
    "esr1_pathway_untested": "ESR1 / PIK3CA / AKT1 / PTEN: those not tested yet (text)",
    "sex": "female, male, other",
    "cancer_type": "the cancer mbcnav follows: breast (a trial rule for another tumour type does not bind the patient)",
    "menopausal_status": "pre, peri, post (assessed: record, oophorectomy, age >= 60, labs); unknown stays unknown",
    "age": "age in whole years at the assessment date",
    "pregnant": "pregnancy recorded (true/false)",
    "pregnant_recorded": "pregnancy recorded as present (false when not pregnant or not recorded)",
    "ecog": "latest ECOG performance status",
    "lines_so_far": "number of lines of therapy for metastatic disease so far",
    "last_line_stopped": "why the latest metastatic line stopped (progression, toxicity ...), 'ongoing', or none",
    "current_line_progressing": "the latest disease status since the ongoing line started says progression (true), "
    "says otherwise (false); none recorded, or no ongoing line: null",
    "endocrine_lines_met": "metastatic lines that included endocrine therapy",
    "chemo_lines_met": "metastatic lines that included cytotoxic chemotherapy",
    "her2_lines_met": "metastatic lines that included HER2-directed therapy",
    "endocrine_resistance": "ESO-ESMO ABC: primary, secondary, sensitive, not_applicable",
    "relapse_within_12m_adjuvant_et": "relapse during or within 12 months of adjuvant endocrine therapy",
    "adjuvant_ai_relapse": "relapse during or within 12 months of an adjuvant aromatase inhibitor",
    "adjuvant_cdk46_relapse": "relapse during or within 12 months of an adjuvant CDK4/6 inhibitor (monarchE, NATALEE)",
    "relapse_within_12m_adjuvant_her2": "relapse during or within 12 months of (neo)adjuvant HER2-directed therapy",
    "relapse_on_adjuvant_tamoxifen": "relapse during or within 12 months of adjuvant tamoxifen",
    "thromboembolism": "venous thromboembolism on record",
    "prior_early_systemic": "(neo)adjuvant systemic anticancer therapy given (line-defining drugs only)",
    "relapse_within_12m_adjuvant_anthracycline": "relapse during or within 12 months of (neo)adjuvant anthracycline",
    "relapse_within_12m_adjuvant_chemo": "relapse during or within 12 months of (neo)adjuvant chemotherapy (ASCENT)",
    "relapse_within_6m_curative": "relapse within 6 months of completing curative (neo)adjuvant systemic therapy",
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
    "visceral_crisis_suspected": "visceral crisis suspected from the record's labs and sites (ABC5), not yet confirmed",
    "oligometastatic": "oligometastatic disease (ESO-ESMO ABC: few lesions, few organs)",
    "tnbc_like": "HER2-negative and ER-negative or ER-low with PR not positive (trials defined TNBC as ER < 1%)",
    "cns_only_progression": "new brain metastases while extracranial disease is controlled on the current line",
    "current_regimen": "drugs of the ongoing line (empty when none)",
    "cord_compression": "spinal cord compression on record",
    "hypercalcaemia": "hypercalcaemia on record or calcium above the reference range",
    "lvef": "latest left-ventricular ejection fraction (%)",
    "sites_recorded": "at least one active metastatic site recorded (or all recorded ones resolved)",
    "metastasis_undated": "a recorded metastasis has no date",
    "undated_metastasis_sites": "the sites of undated metastases (text)",
    "mfi_approximate": "the metastasis-free interval rests on partial dates",
    "mfi_months": "metastasis-free interval in months",
    "presentation_basis": "why de novo / recurrent was decided (text)",
    "resistance_basis": "why the endocrine-resistance class was decided (text)",
    "karnofsky_hint": "' (Karnofsky N recorded)' when only a Karnofsky score exists (text)",
    "bilirubin_x_uln": "latest total bilirubin as a multiple of the upper limit of normal",
    "de_novo": "de novo stage IV",
    "breast_surgery_done": "surgery of the breast primary recorded",
    "metastatic_biopsy": "a receptor result from a biopsy of a metastasis exists",
    "discordance": "receptor discordance between primary and metastasis",
    "conflicts": "the record contradicts itself",
    "ild_history": "interstitial lung disease / pneumonitis on record (unknown if not recorded)",
    "heart_failure": "heart failure on record, or LVEF < 50% (trastuzumab label threshold)",
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
    if re.search(r"mss|stable|low|proficient|pmmr|msi-?l\b", v):  # MSI-low is read as microsatellite stable
        return False
    return None


def _class_in(drugs: tuple[str, ...], klass: str) -> bool:
    cat = catalogue()
    return any(klass == d or cat.has_class(d, klass) for d in drugs)


def _relapse_within(a: Assessment, klass: str | None, days: int) -> bool | None:
    """Relapse during, or within `days` of completing, (neo)adjuvant therapy of a class (any class when None).

    ESO-ESMO ABC time points (12 months for endocrine therapy); the pivotal trials' disease-free intervals (CLEOPATRA
    12 months from adjuvant trastuzumab; KEYNOTE-355 6 months from curative treatment)."""
    if a.presentation.value == "de_novo":
        return False
    first = a.stage.first_metastasis
    cat = catalogue()
    adj = [
        c
        for c in a.courses
        if c.setting in ("adjuvant", "neoadjuvant") and (klass is None or cat.has_class(c.drug, klass))
    ]
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
        if first.earliest <= c.end.latest + timedelta(days=days):
            return True
        if first.latest > c.end.earliest + timedelta(days=days):
            continue
        undecided = True  # partial dates straddle the boundary
    return None if undecided else False


def _cns_only_progression(a: Assessment) -> bool | None:
    """New brain/leptomeningeal metastases during an ongoing line while no other site is new (extracranial control).

    ASCO 2022 HER2+ brain metastases guideline; ASCO-SNO-ASTRO 2021: local therapy and continue the systemic
    regimen when the extracranial disease is controlled."""
    line = a.lines[-1] if a.lines and a.lines[-1].ongoing else None
    if line is None or line.start is None:
        return False
    cns = {"brain", "leptomeninges"}
    active = [m for m in a.record.metastases if m.status != "resolved"]
    new_cns = [m for m in active if m.site in cns and m.date is not None and m.date.earliest > line.start.latest]
    if not new_cns:
        return False
    if any(m.date is None for m in active if m.site not in cns):
        return None
    new_other = [m for m in active if m.site not in cns and m.date is not None and m.date.latest > line.start.earliest]
    return not new_other


def _age(a: Assessment) -> int | None:
    born = a.record.patient.birth_date
    if born is None:
        return None
    years = a.as_of.year - born.latest.year - ((a.as_of.month, a.as_of.day) < (born.latest.month, born.latest.day))
    return years if years >= 0 else None


def _latest_lab(a: Assessment, analyte: str) -> LabSummary | None:
    return next((lab for lab in a.labs if lab.analyte == analyte), None)


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
    f["pr"] = None if st["pr"] == "unknown" else st["pr"]
    f["her2"] = None if st["her2"] == "unknown" else st["her2"]
    f["her2_category"] = None if cat_her2 == "unknown" else cat_her2
    # The metastasis result is used (ASCO 2015), but a HER2-low primary beside a HER2-0/ultralow metastasis is worth
    # a second look (fresh6 o07: a pleural cell block 0, the primary 1+): DESTINY-Breast04 confirmed HER2-low on
    # archived or recent tissue. Shown as something to check, never as HER2-low.
    low_primary = [d for d in st["discordance"] if d["marker"] == "HER2" and d["primary"] in ("1+", "2+/ISH-")]
    f["her2_low_on_primary"] = bool(low_primary) and cat_her2 in ("zero", "ultralow")
    f["her2_primary_result"] = (
        f"{low_primary[0]['primary']}, {low_primary[0]['primary_date'] or 'undated'}" if low_primary else ""
    )
    for k in ("group", "her2", "her2_category", "er", "hr_positive", "her2_positive", "hr_positive_her2_negative"):
        basis[k] = f"{st['group']}: ER {st['er']}, PR {st['pr']}, HER2 {st['her2']} — {st['specimen_dated']}"
    p = a.record.patient
    f["sex"] = None if p.sex == "unknown" else p.sex
    f["cancer_type"] = "breast"  # mbcnav reads breast cancer records (record/fhir.py)
    # Menopausal status as assessed (recorded, oophorectomy, age >= 60, labs — assess/menopause.py); unknown stays
    # unknown and never counts as postmenopausal.
    meno = a.menopause
    status = meno.status if meno is not None else p.menopausal_status
    f["menopausal_status"] = status if status in ("pre", "peri", "post") else None
    basis["menopausal_status"] = (meno.basis if meno is not None else None) or (
        f"recorded: {p.menopausal_status}" if p.menopausal_status != "unknown" else "not recorded"
    )
    f["age"] = _age(a)
    f["pregnant"] = p.pregnant
    f["pregnant_recorded"] = p.pregnant is True
    f["ecog"] = j["ecog"]
    lines = list(a.lines)
    # An ongoing line counts as given: the options answer "what next", after the current line.
    f["lines_so_far"] = len(lines)
    f["endocrine_lines_met"] = sum(_class_in(line.drugs, "endocrine") for line in lines)
    f["chemo_lines_met"] = sum(_class_in(line.drugs, "chemotherapy") for line in lines)
    f["her2_lines_met"] = sum(_class_in(line.drugs, "her2_directed") for line in lines)
    basis["lines_so_far"] = "; ".join(f"line {x.number}: {', '.join(x.drugs)}" for x in lines) or "none"
    last = lines[-1] if lines else None
    f["last_line_stopped"] = (
        None if last is None else "ongoing" if last.ongoing else (last.reason_stopped or "not_recorded")
    )
    latest = latest_status_on(last, a.record.disease_statuses) if last is not None and last.ongoing else None
    f["current_line_progressing"] = None if latest is None else latest.status == "progression"
    f["endocrine_resistance"] = None if a.resistance.value == "unknown" else a.resistance.value
    basis["endocrine_resistance"] = "; ".join(a.resistance.basis)
    f["relapse_within_12m_adjuvant_et"] = _relapse_within(a, "endocrine", 365)
    f["adjuvant_ai_relapse"] = _relapse_within(a, "aromatase_inhibitor", 365)
    f["adjuvant_cdk46_relapse"] = _relapse_within(a, "cdk46_inhibitor", 365)
    f["relapse_within_12m_adjuvant_her2"] = _relapse_within(a, "her2_directed", 365)
    f["relapse_on_adjuvant_tamoxifen"] = _relapse_within(a, "serm", 365)
    f["prior_early_systemic"] = any(
        c.setting in ("adjuvant", "neoadjuvant") and c.drug in cat.drugs and cat.drugs[c.drug].line_defining
        for c in a.courses
    )
    f["relapse_within_12m_adjuvant_anthracycline"] = _relapse_within(a, "anthracycline", 365)
    f["relapse_within_12m_adjuvant_chemo"] = _relapse_within(a, "chemotherapy", 365)
    f["relapse_within_6m_curative"] = _relapse_within(a, None, 183)
    brca = [_gene(a, g, ("germline",)) for g in ("BRCA1", "BRCA2")]
    f["gbrca"] = True if True in brca else (False if brca == [False, False] else None)
    f["gpalb2"] = _gene(a, "PALB2", ("germline",))
    somatic = ("somatic", "unknown", "germline")
    for gene in ("ESR1", "PIK3CA", "AKT1", "PTEN"):
        f[gene.lower()] = _gene(a, gene, somatic)
    trio = [f["pik3ca"], f["akt1"], f["pten"]]
    f["akt_pathway"] = True if True in trio else (False if trio == [False, False, False] else None)
    # which of them are still to test (fresh8 q01/q05: the question named all four with PIK3CA already known)
    untested = ["ESR1"] if f["esr1"] is None else []
    if f["akt_pathway"] is None:
        untested += [g for g in ("PIK3CA", "AKT1", "PTEN") if f[g.lower()] is None]
    f["esr1_pathway_untested"] = ", ".join(untested)
    f["msi_high"] = _signature(a, "MSI")
    f["tmb_high"] = _signature(a, "TMB")
    # A recorded negative result is a result (fresh5 n04: NTRK1-3, RET and BRAF not detected on ctDNA left the
    # "tumour-agnostic markers" question open); NTRK needs all three genes reported, any one detected is a fusion.
    ntrk = [_gene(a, g, somatic) for g in ("NTRK1", "NTRK2", "NTRK3")]
    f["ntrk_fusion"] = True if True in ntrk else (False if ntrk == [False, False, False] else None)
    f["ret_fusion"] = _gene(a, "RET", somatic)
    braf = [g for g in a.record.genomics if g.gene == "BRAF" and g.origin in somatic]
    found = [g for g in braf if g.result in ("pathogenic", "likely_pathogenic", "detected")]
    if any("V600E" in (g.variant or "") for g in found):
        f["braf_v600e"] = True
    else:  # BRAF tested and not detected; a BRAF variant without its name is not "no V600E"
        f["braf_v600e"] = False if _gene(a, "BRAF", somatic) is False else None
    f["pdl1_cps"] = st["pdl1_cps"]
    sites = set(a.spread.sites)
    met = a.stage.metastatic
    f["bone_mets"] = ("bone" in sites) if met else None
    f["brain_mets"] = bool(sites & {"brain", "leptomeninges"}) if met else None
    f["sites_recorded"] = bool(a.spread.sites) or a.spread.basis == "all recorded metastases resolved"
    undated = sorted({m.site for m in a.record.metastases if m.date is None})
    f["metastasis_undated"] = bool(undated)
    f["undated_metastasis_sites"] = ", ".join(undated)
    f["mfi_approximate"] = bool(a.presentation.mfi_approximate and a.presentation.mfi_months is not None)
    f["mfi_months"] = a.presentation.mfi_months
    f["presentation_basis"] = a.presentation.basis
    f["resistance_basis"] = "; ".join(a.resistance.basis)
    f["karnofsky_hint"] = f" (Karnofsky {a.karnofsky[0]} recorded)" if a.karnofsky else ""
    f["bone_only"] = a.spread.bone_only
    f["visceral"] = a.spread.visceral
    recorded = [jd for jd in a.record.judgements if jd.name == "visceral_crisis"]
    f["visceral_crisis"] = (
        visceral_crisis if visceral_crisis is not None else (recorded[-1].present if recorded else None)
    )
    # Suspected from labs and sites (ESO-ESMO ABC5, assess/visceral.py); a clinician's judgement or the command
    # line's --visceral-crisis always wins over the suspicion.
    vc = a.visceral_crisis
    vc_status = vc.status if vc is not None else None
    if f["visceral_crisis"] is None and (vc_status == "not_applicable" or a.spread.visceral is False):
        f["visceral_crisis"] = False  # no visceral metastases: a visceral crisis cannot be present
        basis["visceral_crisis"] = "no visceral metastases"
    suspected = vc_status == "suspected"
    f["visceral_crisis_suspected"] = suspected and f["visceral_crisis"] is None
    if f["visceral_crisis_suspected"]:
        basis["visceral_crisis_suspected"] = "; ".join(vc.evidence if vc is not None else ())
    f["oligometastatic"] = a.spread.oligometastatic
    f["tnbc_like"] = (
        None
        if f["her2_positive"] is None or f["hr_positive"] is None
        else (not f["her2_positive"]) and (not f["hr_positive"] or (st["er"] == "low" and st["pr"] != "positive"))
    )
    f["cns_only_progression"] = _cns_only_progression(a)
    current = a.lines[-1] if a.lines and a.lines[-1].ongoing else None
    f["current_regimen"] = (
        [c.drug for c in current.courses if c.exposure.ongoing or c.end is None] if current is not None else []
    )
    bili = _latest_lab(a, "bilirubin")
    f["bilirubin_x_uln"] = bili.times_uln if bili is not None else None
    lvef = _latest_lab(a, "lvef")
    f["lvef"] = lvef.value if lvef is not None else None
    # Albumin-corrected calcium decides when it exists (low albumin hides hypercalcaemia in the total).
    corrected = _latest_lab(a, "corrected_calcium")
    total = _latest_lab(a, "calcium")
    calcium = [corrected] if corrected is not None else ([total] if total is not None else [])
    f["de_novo"] = None if a.presentation.value == "unknown" else a.presentation.value == "de_novo"
    basis["presentation"] = a.presentation.basis  # the trial readers quote it ("de novo", "recurrent")
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
    # a resolved condition (Condition.clinicalStatus) is history: it counts for ILD history, not for a current state
    ever = {c.name for c in a.record.comorbidities}
    names = {c.name for c in a.record.comorbidities if c.status == "active"}
    f["ild_history"] = True if "interstitial_lung_disease" in ever else None
    for key in ("heart_failure", "long_qt", "diabetes", "autoimmune_disease"):
        f[key] = True if key in names else None
    if f["lvef"] is not None and f["lvef"] < 50:
        f["heart_failure"] = True  # LVEF < 50%: trastuzumab label; anthracycline caution
        basis["heart_failure"] = f"LVEF {f['lvef']:g}%"
    f["cord_compression"] = True if "spinal_cord_compression" in names else None
    f["thromboembolism"] = True if "venous_thromboembolism" in names else None
    high_ca = [x for x in calcium if x.flag == "high"]
    f["hypercalcaemia"] = True if "hypercalcaemia" in names or high_ca else (False if calcium else None)
    if high_ca:
        basis["hypercalcaemia"] = high_ca[0].describe()
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
