"""Which laboratory thresholds breast studies write, and how many of them accept the bounds of "adequate" function.

A criterion such as "Adequate organ function" written without values is read against the record's labs with the
bounds of trials/lab_criteria.yaml `adequate_grade1`: a value inside them is taken as adequate under the thresholds
protocols commonly write. This benchmark is the measurement behind those bounds. For every breast study of the
shared corpus ("breast" in a condition) it parses the inclusion criteria, keeps per study and analyte the strictest
written threshold (the parser's `lab` constraints; a liver-metastasis alternative is ignored, the stricter bound
counts), and prints per analyte the thresholds written and the share of studies whose threshold accepts the
configured bound (a value exactly at the bound passes).
Run: `python benchmarks/bench_lab_thresholds.py`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from mbcnav.trials.criteria import parse_criteria
from mbcnav.trials.tables import read_table

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trials" / "ctgov-v2-2026-01"


def breast_eligibility() -> list[str]:
    texts: list[str] = []
    for page in sorted(PAGES.glob("page-*.json")):
        for s in json.loads(page.read_text(encoding="utf-8"))["studies"]:
            ps = s["protocolSection"]
            conditions = " ".join(ps.get("conditionsModule", {}).get("conditions", [])).lower()
            text = ps.get("eligibilityModule", {}).get("eligibilityCriteria", "") or ""
            if "breast" in conditions and text:
                texts.append(text)
    return texts


def strictest(texts: list[str]) -> dict[str, list[tuple[str, float]]]:
    """analyte -> one (kind, threshold) per study: kind "min" (value >= threshold), "max_uln" (<= threshold x ULN);
    a strict comparator is kept as written (a value at the bound then fails, counted in `accepts`)."""
    out: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for text in texts:
        per: dict[str, tuple[str, float]] = {}
        for c in parse_criteria(text):
            if c.kind != "inclusion":
                continue
            for x in c.constraints:
                if x.type != "lab" or x.polarity != "required":
                    continue
                p: dict[str, Any] = x.params
                a, op = p.get("analyte"), p.get("op")
                if not isinstance(a, str):
                    continue
                if "times_uln" in p and op in ("<=", "<"):
                    kind, v = ("max_uln" if op == "<=" else "max_uln_strict"), float(p["times_uln"])
                    tighter = a not in per or v < per[a][1]
                elif "value" in p and op in (">=", ">"):
                    kind, v = ("min" if op == ">=" else "min_strict"), float(p["value"])
                    tighter = a not in per or v > per[a][1]
                else:
                    continue
                if tighter:
                    per[a] = (kind, v)
        for a, kv in per.items():
            out[a].append(kv)
    return out


def accepts(kind: str, threshold: float, bound: dict[str, float]) -> bool | None:
    """Does a written threshold accept a value at the configured bound (None: not comparable)?"""
    if "min" in bound and kind.startswith("min"):
        return bound["min"] > threshold if kind == "min_strict" else bound["min"] >= threshold
    if "max_times_uln" in bound and kind.startswith("max_uln"):
        b = bound["max_times_uln"]
        return b < threshold if kind == "max_uln_strict" else b <= threshold
    return None


def main() -> None:
    bounds: dict[str, dict[str, float]] = read_table("lab_criteria.yaml")["adequate_grade1"]
    texts = breast_eligibility()
    found = strictest(texts)
    print(f"breast studies with eligibility text: {len(texts)}")
    print(f"{'analyte':12s} {'bound':>14s} {'studies':>8s} {'accept':>7s}  thresholds written (strictest per study)")
    for analyte, bound in bounds.items():
        rows = found.get(analyte, [])
        verdicts = [accepts(k, v, bound) for k, v in rows]
        comparable = [v for v in verdicts if v is not None]
        share = f"{sum(comparable) / len(comparable):6.1%}" if comparable else "   n/a"
        shown = ", ".join(f"{k} {v:g}: {n}" for (k, v), n in Counter(rows).most_common(8))
        label = ", ".join(f"{k} {v:g}" for k, v in bound.items())
        print(f"{analyte:12s} {label:>14s} {len(comparable):8d} {share:>7s}  {shown}")


if __name__ == "__main__":
    main()
