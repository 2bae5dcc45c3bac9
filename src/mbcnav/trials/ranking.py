"""Ranking by fit: the decisive criteria met, not met and unknown (and how cheaply each unknown is resolved), with
the text relevance of the study to this patient's disease (BM25, `bm25s`), and the one-line explanation of a score.

Score (higher is better; eligible before possibly eligible before ineligible, then by fit):
  base (eligible 3, possibly eligible 2, ineligible 0)
  + 0.5 × share of decisive criteria met among those the record decides or leaves open           (0..0.5)
  - 0.2 × resolution cost of the unknown decisive criteria, at most 0.5                      (resolution.yaml)
  - 0.5 when one of them needs a test on tissue or a sent-out assay (cost >= 0.5: a receptor re-test, genomics)
  - 0.5 × share of the study's criteria that no rule read (free text: a person must read them)  (0..0.5)
  + 0.5 for a breast-cancer study (a solid-tumour basket study gets 0)
  + 0.5 when the title / conditions name advanced or metastatic disease, - 0.6 when they name only early disease
  + 0.1 × text relevance (BM25 of the study's title, conditions, keywords, interventions and summary against a
    query built from the patient's facts, divided by the best score among the candidates: a tie-breaker).
The weights were chosen by a grid over these terms on the development patients of benchmarks/ (tuning, first held-out,
fresh and fresh2 sets: 40 patients, parser 2.8), never on the newest held-out set, which `bench_trials_heldout.py`
prints apart. Parser 2.7 lowered the free-text weight from 1.0 to 0.5 and raised the advanced-disease bonus from 0.3
(mean NDCG@10 of the development sets 0.699 -> 0.723); parser 2.8, whose criteria held under an unnamed condition are
read rather than left as free text, doubled the resolution-cost weight to 0.2, set the advanced-disease bonus to 0.5
and the text weight to 0.1 (mean over 40 patients 0.713 -> 0.724). A text weight above 0.1 lowered NDCG@10 (BM25
favours basket studies that name many of the patient's words), so text relevance only breaks ties. Parser 2.10 added
the 0.5 penalty for a criterion that only a tissue test or a sent-out assay can settle: expert judges grade such a
study 1 (a required biomarker never tested), not 2, so it belongs below the studies whose unknowns a screening visit
settles (condensed NDCG@10 up on all six development sets, e.g. fresh4 0.756 -> 0.768; 0.3 and 1.0 gave the same
order).
Decisive = a constraint the record can decide (every type but the screening items of model.NON_DECISIVE_TYPES)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from mbcnav.trials.model import NON_DECISIVE_TYPES, Constraint
from mbcnav.trials.tables import read_table

if TYPE_CHECKING:
    from mbcnav.trials.patient_view import PatientView
    from mbcnav.trials.records import Trial

BASE = {"eligible": 3.0, "possibly_eligible": 2.0, "ineligible": 0.0}
W_MET = 0.5
W_COST = 0.2
MAX_COST_PENALTY = 0.5
W_FREE = 0.5
BREAST_BONUS = 0.5
ADVANCED_BONUS = 0.5
EARLY_PENALTY = 0.6
W_TEXT = 0.1
TEST_COST = 0.5
TEST_PENALTY = 0.5

_ADVANCED = re.compile(r"metasta|advanced|stage iv|unresectable|recurrent", re.I)
_EARLY = re.compile(
    r"neoadjuvant|\badjuvant|early[- ]stage|early breast|\bdcis\b|in situ|screening|prevention|"
    r"survivor|risk reduction|high[- ]risk women",
    re.I,
)


@cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = read_table("resolution.yaml")
    return data


@dataclass(frozen=True, slots=True)
class Unknown:
    """An open decisive criterion: what is unknown, what to check next, and how costly that is (0..1)."""

    item: str
    check: str
    cost: float


def unknown_of(constraints: Sequence[Constraint]) -> Unknown:
    """The open item of a criterion whose decisive constraints the record leaves unknown (the costliest one)."""
    table = _table()
    decisive = [c for c in constraints if c.type not in NON_DECISIVE_TYPES]
    if not decisive:
        row = table["free_text"]
        return Unknown(row["item"], row["check"], float(row["cost"]))
    best: Unknown | None = None
    for c in decisive:
        row = table["types"].get(c.type, table["default"])
        fill = {k: str(v).replace("_", " ") for k, v in c.params.items()}
        fill.setdefault("type", c.type.replace("_", " "))
        fill.setdefault("drug", fill.get("class", "therapy"))
        fill.setdefault("gene", "biomarker")
        fill.setdefault("measure", fill.get("test", "organ function"))
        fill.setdefault("analyte", "laboratory value")
        fill.setdefault("therapy", "treatment")
        fill.setdefault("event", "the last treatment")
        fill.setdefault("condition", "medical history")
        u = Unknown(_fill(row["item"], fill), _fill(row["check"], fill), float(row["cost"]))
        if best is None or u.cost > best.cost:
            best = u
    assert best is not None
    return best


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True, slots=True)
class Fit:
    """How well a study fits: counts of decisive criteria by verdict, the open items, the text relevance."""

    met: int
    not_met: int
    unknown: tuple[Unknown, ...]
    screening: int  # procedural items confirmed at screening (not decisive)
    free_text: int  # criteria no rule read
    text_relevance: float  # 0..1
    cohort: str | None

    @property
    def decided_or_open(self) -> int:
        return self.met + self.not_met + len(self.unknown)

    def explanation(self, excluded_by: Sequence[str] = ()) -> str:
        """'3 of 4 decisive criteria met; ESR1 status unknown' (and what excludes, the cohort, the free text)."""
        parts = [f"{self.met} of {self.decided_or_open} decisive criteria met"]
        if excluded_by:
            parts.append("excluded by: " + "; ".join(excluded_by[:2]))
        if self.unknown:
            items = list(dict.fromkeys(u.item for u in self.unknown))
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(", ".join(items[:3]) + more + " unknown")
        if self.cohort:
            parts.append(f"fits {self.cohort}")
        if self.free_text:
            parts.append(f"{self.free_text} {'criterion' if self.free_text == 1 else 'criteria'} to read")
        if self.screening:
            parts.append(f"{self.screening} screening {'item' if self.screening == 1 else 'items'}")
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "decisive_met": self.met,
            "decisive_not_met": self.not_met,
            "decisive_unknown": len(self.unknown),
            "screening_items": self.screening,
            "free_text": self.free_text,
            "text_relevance": round(self.text_relevance, 3),
            "next_checks": next_checks(self.unknown),
        }


def next_checks(unknown: Sequence[Unknown]) -> list[str]:
    """What to check next, cheapest first, each check once with what it settles: 'blood test — ANC, ALT'."""
    items: dict[str, list[str]] = {}
    cost: dict[str, float] = {}
    for u in unknown:
        items.setdefault(u.check, [])
        if u.item not in items[u.check]:
            items[u.check].append(u.item)
        cost[u.check] = min(cost.get(u.check, u.cost), u.cost)
    return [f"{check} — {', '.join(items[check])}" for check in sorted(items, key=lambda k: (cost[k], k))]


def score(verdict: str, fit: Fit, trial: Trial, criteria: int, breast: bool) -> float:
    """The ranking score of one study for one patient (see the module docstring); `criteria`: how many criteria
    the study has (those of other cohorts included), `breast`: a breast-cancer study (not a basket study)."""
    s = BASE[verdict]
    if fit.decided_or_open:
        s += W_MET * fit.met / fit.decided_or_open
    s -= min(MAX_COST_PENALTY, W_COST * sum(u.cost for u in fit.unknown))
    if any(u.cost >= TEST_COST for u in fit.unknown):
        s -= TEST_PENALTY
    s -= W_FREE * fit.free_text / max(1, criteria)
    s += BREAST_BONUS if breast else 0.0
    s += _setting_bonus(" ".join([trial.title, *trial.conditions]))
    return s + W_TEXT * fit.text_relevance


@lru_cache(maxsize=8192)
def _setting_bonus(head: str) -> float:
    """The advanced-setting bonus or early-setting penalty of a study's title and conditions (the same for every
    patient: cached, it was a tenth of a whole-corpus match)."""
    if _ADVANCED.search(head):
        return ADVANCED_BONUS
    if _EARLY.search(head):
        return -EARLY_PENALTY
    return 0.0


# ------------------------------------------------------------------------------------------------ text relevance

_SITE_WORDS = {
    "bone": "bone metastases",
    "liver": "liver metastases hepatic",
    "lung": "lung metastases pulmonary",
    "pleura": "pleural metastases",
    "brain": "brain metastases CNS",
    "leptomeninges": "leptomeningeal metastases",
    "distant_lymph_node": "lymph node metastases",
    "skin_soft_tissue": "skin metastases",
    "peritoneum": "peritoneal metastases",
}
_GENES = {"esr1": "ESR1 mutation", "pik3ca": "PIK3CA mutation", "akt1": "AKT1 mutation", "pten": "PTEN loss",
          "gbrca": "BRCA mutation germline", "gpalb2": "PALB2 mutation"}  # fmt: skip
_PROGRESSED = {
    "cdk46_inhibitor": "CDK4/6 inhibitor",
    "endocrine": "endocrine therapy",
    "her2_adc": "trastuzumab deruxtecan",
    "trop2_adc": "TROP2 antibody-drug conjugate",
    "topo1_adc": "topoisomerase I inhibitor antibody-drug conjugate",
    "chemotherapy": "chemotherapy",
}


def query_for(p: PatientView) -> str:
    """A search query for this patient's disease, from the same facts the criteria are checked against."""
    f = p.facts
    words = ["breast cancer"]
    if f.get("metastatic"):
        words.append("metastatic advanced")
    group = f.get("group")
    if f.get("hr_positive"):
        words.append("hormone receptor positive HR+ ER+ estrogen receptor")
    if f.get("her2_positive"):
        words.append("HER2-positive HER2")
    elif f.get("her2_category") in ("low", "ultralow"):
        words.append(f"HER2-{f['her2_category']} HER2-negative")
    elif f.get("her2_positive") is False:
        words.append("HER2-negative")
    if group == "TNBC" or f.get("tnbc_like"):
        words.append("triple negative TNBC")
    for site in p.sites:
        words.append(_SITE_WORDS.get(site, ""))
    for key, text in _GENES.items():
        if f.get(key):
            words.append(text)
    if f.get("pdl1_cps") is not None and f["pdl1_cps"] >= 10:
        words.append("PD-L1 positive")
    lines = f.get("lines_so_far")
    if lines == 0:
        words.append("first-line previously untreated")
    elif lines:
        words.append("previously treated pretreated")
        for key, text in _PROGRESSED.items():
            if f.get(f"progressed_on.{key}"):
                words.append(f"progression after {text}")
    if f.get("sex") == "male":
        words.append("male men")
    return " ".join(w for w in words if w)


def _document(t: Trial) -> str:
    return " ".join([t.title, t.title, *t.conditions, *t.keywords, *t.interventions, t.brief_summary])


@lru_cache(maxsize=8)
def _index(docs: tuple[tuple[str, str], ...]) -> Any:
    import bm25s  # type: ignore[import-untyped]  # a well-kept sparse BM25 library (numpy only)

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([d for _, d in docs], stopwords="en", show_progress=False), show_progress=False)
    return retriever


def text_relevance(trials: Sequence[Trial], query: str) -> dict[str, float]:
    """BM25 score of each study for the query, divided by the best score among them (0..1); empty without trials."""
    if not trials or not query.strip():
        return {}
    import bm25s

    key = tuple((t.version, _document(t)) for t in trials)
    retriever = _index(key)
    words = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
    vocab = retriever.vocab_dict
    words = [w for w in words if w in vocab]
    if not words:
        return {t.nct_id: 0.0 for t in trials}
    scores = retriever.get_scores(words)
    best = float(max(scores))
    if best <= 0:
        return {t.nct_id: 0.0 for t in trials}
    return {t.nct_id: float(s) / best for t, s in zip(trials, scores, strict=True)}
