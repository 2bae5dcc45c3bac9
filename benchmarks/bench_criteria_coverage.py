"""How much of the shared corpus's eligibility text the criteria parser structures, and how fast.

For every study of ../shared/data/trials/ctgov-v2-2026-01 this parses `eligibilityCriteria` and prints: criteria with
at least one constraint (all studies; breast studies = "breast" in a condition; metastatic / advanced breast
studies), the same excluding screening-only items (procedural criteria confirmed at screening, not decisive), the
number of criteria per constraint type, and the parse time. This is the issue's coverage figure ("at least half of
breast-study criteria carry a structured constraint"). Run: `python benchmarks/bench_criteria_coverage.py [--type T]`
(`--type lab` also prints 15 random breast criteria that carry that type, to eyeball).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mbcnav.trials.criteria import PARSER_VERSION, parse_criteria
from mbcnav.trials.model import NON_DECISIVE_TYPES

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trials" / "ctgov-v2-2026-01"


def corpus() -> list[dict[str, Any]]:
    studies: list[dict[str, Any]] = []
    for page in sorted(PAGES.glob("page-*.json")):
        studies += json.loads(page.read_text(encoding="utf-8"))["studies"]
    return studies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--type", help="print 15 random breast criteria carrying this constraint type")
    args = ap.parse_args()
    studies = corpus()
    groups = {"all": Counter[str](), "breast": Counter[str](), "metastatic breast": Counter[str]()}
    by_type: Counter[str] = Counter()
    samples: list[str] = []
    t0 = time.perf_counter()
    for s in studies:
        proto = s["protocolSection"]
        nct = proto["identificationModule"]["nctId"]
        conditions = " ".join(proto.get("conditionsModule", {}).get("conditions", [])).lower()
        breast = "breast" in conditions
        metastatic = breast and any(w in conditions for w in ("metasta", "advanced", "stage iv", "recurrent"))
        for c in parse_criteria(proto.get("eligibilityModule", {}).get("eligibilityCriteria") or ""):
            types = {k.type for k in c.constraints}
            for name, on in (("all", True), ("breast", breast), ("metastatic breast", metastatic)):
                if not on:
                    continue
                g = groups[name]
                g["criteria"] += 1
                g["structured"] += bool(types)
                g["decisive"] += bool(types - NON_DECISIVE_TYPES)
                g[f"{c.kind}"] += 1
                g[f"{c.kind} structured"] += bool(types)
            if breast:
                by_type.update(types)
                if args.type and args.type in types:
                    samples.append(
                        f"{nct} {c.kind}: {c.text[:200]!r} -> "
                        + "; ".join(f"{k.polarity} {k.type} {k.params}" for k in c.constraints if k.type == args.type)
                    )
    seconds = time.perf_counter() - t0
    print(f"criteria parser {PARSER_VERSION}: {len(studies)} studies parsed in {seconds:.1f} s")
    print(
        f"{'studies':18s} {'criteria':>8s} {'structured':>17s} {'decisive':>17s} {'inclusion':>17s} {'exclusion':>17s}"
    )
    for name, g in groups.items():
        n = g["criteria"] or 1

        def pct(k: str, of: str = "criteria", g: Counter[str] = g) -> str:
            return f"{g[k]:>6d} ({g[k] / max(1, g[of]):6.1%})"

        print(
            f"{name:18s} {n:8d} {pct('structured'):>17s} {pct('decisive'):>17s} "
            f"{pct('inclusion structured', 'inclusion'):>17s} {pct('exclusion structured', 'exclusion'):>17s}"
        )
    print("\nbreast-study criteria per constraint type (a criterion may carry several):")
    for t, n in by_type.most_common():
        print(f"  {t:22s} {n:6d}")
    if samples:
        random.seed(7)
        print(f"\n15 random breast criteria with a {args.type} constraint:")
        for line in random.sample(samples, min(15, len(samples))):
            print("  " + line)


if __name__ == "__main__":
    main()
