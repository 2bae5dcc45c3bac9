"""BM25 baseline for trial retrieval (the `bm25s` package, version 0.3.11).

Documents: every study in /work/shared/data/trials/ctgov-v2-2026-01 (all open: recruiting, not yet recruiting or
enrolling by invitation), one document per study made of title, conditions, keywords, interventions, brief summary
and eligibility criteria. Query: a disease description built from the case file only (not from mbcnav's
assessment): metastatic breast cancer, subtype from the most recent receptor results, metastatic sites, line of
therapy from the metastatic regimens, key biomarkers, sex/menopause, lobular histology and PD-L1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bm25s  # type: ignore[import-untyped]
import yaml

CORPUS = Path("/work/shared/data/trials/ctgov-v2-2026-01")

SITE_WORDS = {
    "bone": "bone metastases",
    "liver": "liver metastases hepatic",
    "lung": "lung metastases pulmonary",
    "pleura": "pleural metastases effusion",
    "brain": "brain metastases CNS",
    "leptomeninges": "leptomeningeal metastases leptomeningeal disease CSF",
    "distant_lymph_node": "lymph node metastases",
    "skin_soft_tissue": "skin soft tissue metastases",
    "peritoneum": "peritoneal metastases",
}
SUPPORTIVE = {"goserelin", "leuprolide", "triptorelin", "denosumab", "zoledronic acid", "pamidronate"}
ORDINAL = {0: "first-line", 1: "second-line", 2: "third-line"}
GENE_WORDS = {
    "ESR1": "ESR1 mutation",
    "PIK3CA": "PIK3CA mutation",
    "AKT1": "AKT1 mutation",
    "PTEN": "PTEN loss",
    "BRCA1": "BRCA1 mutation BRCA",
    "BRCA2": "BRCA2 mutation BRCA",
    "PALB2": "PALB2 mutation",
    "ERBB2": "HER2 mutation ERBB2 mutant",
}


def study_text(study: dict[str, Any]) -> tuple[str, str]:
    ps = study.get("protocolSection", {})
    nct = ps.get("identificationModule", {}).get("nctId", "")
    parts = [
        ps.get("identificationModule", {}).get("briefTitle", ""),
        " ".join(ps.get("conditionsModule", {}).get("conditions", []) or []),
        " ".join(ps.get("conditionsModule", {}).get("keywords", []) or []),
        " ".join(i.get("name", "") for i in ps.get("armsInterventionsModule", {}).get("interventions", []) or []),
        ps.get("descriptionModule", {}).get("briefSummary", ""),
        ps.get("eligibilityModule", {}).get("eligibilityCriteria", ""),
    ]
    return nct, "\n".join(p for p in parts if p)


def load_corpus(folder: Path = CORPUS) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for page in sorted(folder.glob("page-*.json")):
        for study in json.loads(page.read_text())["studies"]:
            nct, text = study_text(study)
            if nct and nct not in ids:
                ids.append(nct)
                texts.append(text)
    return ids, texts


def _latest(receptors: list[dict[str, Any]], marker: str) -> dict[str, Any] | None:
    rows = [r for r in receptors if r.get("marker") == marker]
    return max(rows, key=lambda r: str(r.get("date", ""))) if rows else None


def query_for_case(case: dict[str, Any]) -> str:
    """A disease description a person would type into a trial search box, from the case file alone."""
    words = ["metastatic breast cancer", "advanced"]
    rec = case.get("receptors", []) or []
    er, pr, her2 = _latest(rec, "ER"), _latest(rec, "PR"), _latest(rec, "HER2")
    er_pos = bool(er and (er.get("status") == "positive" or (er.get("percent") or 0) >= 1))
    pr_pos = bool(pr and (pr.get("status") == "positive" or (pr.get("percent") or 0) >= 1))
    her2_pos = bool(
        her2 and (her2.get("ihc") == "3+" or her2.get("ish") == "positive" or her2.get("status") == "positive")
    )
    her2_low = bool(her2 and not her2_pos and her2.get("ihc") in ("1+", "2+"))
    if er_pos or pr_pos:
        words.append("hormone receptor positive HR+ estrogen receptor positive ER+")
    if her2_pos:
        words.append("HER2-positive")
    elif her2 is not None:
        words.append("HER2-negative" + (" HER2-low" if her2_low else ""))
    if her2 is not None and not her2_pos and not (er_pos or pr_pos):
        words.append("triple negative TNBC")
    pdl1 = _latest(rec, "PD-L1")
    if pdl1 is not None:
        words.append("PD-L1 " + ("positive" if pdl1.get("status") == "positive" else "negative"))
    histology = (case.get("primary", {}) or {}).get("histology", "") or ""
    if "lobular" in histology.lower():
        words.append("invasive lobular carcinoma")
    sex = case.get("patient", {}).get("sex")
    if sex == "male":
        words.append("male breast cancer men")
    elif case.get("patient", {}).get("menopausal_status") == "pre":
        words.append("premenopausal")
    sites = []
    for m in case.get("metastases", []) or []:
        w = SITE_WORDS.get(m.get("site", ""))
        if w and w not in sites:
            sites.append(w)
    words.extend(sites)
    for b in case.get("biomarkers", []) or []:
        if b.get("result") in ("detected", "pathogenic", "likely_pathogenic") and b.get("gene") in GENE_WORDS:
            w = ("germline " if b.get("origin") == "germline" else "") + GENE_WORDS[b["gene"]]
            if w not in words:
                words.append(w)
    regimens: dict[str, list[dict[str, Any]]] = {}
    for t in case.get("therapies", []) or []:
        if t.get("setting") == "metastatic" and t.get("drug") not in SUPPORTIVE:
            regimens.setdefault(str(t.get("start", "")), []).append(t)
    done = [r for r in regimens.values() if all(t.get("end") for t in r)]
    ongoing = [r for r in regimens.values() if not all(t.get("end") for t in r)]
    if ongoing:
        words.append(ORDINAL.get(len(done), "later-line") + " treatment " + " ".join(t["drug"] for t in ongoing[0]))
    else:
        words.append(ORDINAL.get(len(done), "later-line") + " treatment")
    if done:
        drugs = sorted({t["drug"] for r in done for t in r})
        progressed = any(t.get("reason_stopped") == "progression" for r in done for t in r)
        words.append(("progression after " if progressed else "prior ") + " ".join(drugs))
    elif not ongoing:
        words.append("previously untreated")
    return " ".join(words)


class BM25Baseline:
    def __init__(self, folder: Path = CORPUS) -> None:
        self.ids, texts = load_corpus(folder)
        self.retriever = bm25s.BM25()  # defaults: Robertson/Lucene BM25, k1 1.5, b 0.75
        self.retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def rank(self, query: str, k: int = 20) -> list[str]:
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        docs, scores = self.retriever.retrieve(tokens, k=k, show_progress=False)
        return [self.ids[int(i)] for i, s in zip(docs[0], scores[0], strict=True) if float(s) > 0]


def rank_cases(paths: Iterable[Path], k: int = 20) -> dict[str, tuple[str, list[str]]]:
    baseline = BM25Baseline()
    out = {}
    for path in paths:
        case = yaml.safe_load(path.read_text())
        query = query_for_case(case)
        out[path.stem] = (query, baseline.rank(query, k))
    return out
