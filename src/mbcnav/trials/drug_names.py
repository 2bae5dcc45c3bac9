"""The one drug matcher of the trials code: catalogue drug names, synonyms and combination names (knowledge/drugs.yaml)
found in lower-cased criterion text, longest name first."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

import yaml

from mbcnav.knowledge.drugs import catalogue

_TOKEN = re.compile(r"[a-z0-9]+")


@cache
def _drug_index() -> dict[str, tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]]:
    """Catalogue drug names and synonyms (drugs.yaml), indexed by first word, longest phrase first."""
    catalogue()  # validates the catalogue (schema and references) before its phrases are read
    text = resources.files("mbcnav.knowledge").joinpath("drugs.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    phrases: dict[str, tuple[str, ...]] = {}
    for d in data["drugs"]:
        for p in [d["name"], *d.get("synonyms", [])]:
            phrases[re.sub(r"\s+", " ", p.lower())] = (d["name"],)
    for c in data.get("combinations", []):
        for p in c["names"]:
            # a single drug's own name wins: drugs.yaml writes "pertuzumab, trastuzumab, and hyaluronidase" inside a
            # flow sequence, which YAML splits into three names ("trastuzumab" would otherwise mean both drugs)
            if not p.lower().startswith("and "):
                phrases.setdefault(re.sub(r"\s+", " ", p.lower()), tuple(c["drugs"]))
    index: dict[str, list[tuple[int, re.Pattern[str], tuple[str, ...]]]] = {}
    for p, names in phrases.items():
        first = re.match(r"[a-z0-9]+", p)
        if first is None:
            continue
        pat = re.compile(re.escape(p).replace(r"\ ", r"[\s-]+") + r"(?![a-z0-9])")
        index.setdefault(first.group(0), []).append((len(p), pat, names))
    return {k: tuple((pat, n) for _, pat, n in sorted(v, key=lambda x: -x[0])) for k, v in index.items()}


def find_drugs(s: str) -> Iterable[tuple[int, int, tuple[str, ...]]]:
    """(start, end, generic names) of catalogue drugs named in `s`, longest name first."""
    index = _drug_index()
    pos = 0
    for tm in _TOKEN.finditer(s):
        if tm.start() < pos or (tm.start() > 0 and s[tm.start() - 1].isalnum()):
            continue
        cands = index.get(tm.group(0))
        if not cands:
            continue
        for pat, names in cands:
            dm = pat.match(s, tm.start())
            if dm:
                yield dm.start(), dm.end(), names
                pos = dm.end()
                break
