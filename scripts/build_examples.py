"""Regenerate examples/fhir/*.json (mCODE FHIR R4 Bundles) from the case files in examples/cases/."""

from __future__ import annotations

import json
from pathlib import Path

from mbcnav.record.casefile import case_to_bundle, load_case

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    out_dir = ROOT / "examples" / "fhir"
    out_dir.mkdir(parents=True, exist_ok=True)
    for case in sorted((ROOT / "examples" / "cases").glob("[0-9]*.yaml")):
        bundle = case_to_bundle(load_case(case))
        target = out_dir / (case.stem + ".json")
        target.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{case.name} -> {target.relative_to(ROOT)} ({len(bundle['entry'])} resources)")


if __name__ == "__main__":
    main()
