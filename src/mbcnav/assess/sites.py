"""Where the disease has spread: the site vocabulary, bone-only, visceral, CNS, and oligometastatic (ABC)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mbcnav.assess.config import AssessmentConfig
from mbcnav.assess.stage import distant
from mbcnav.record.model import Metastasis
from mbcnav.terminology.comorbidities import comorbidity_table
from mbcnav.terminology.sites import site_table


@dataclass(frozen=True, slots=True)
class Spread:
    sites: tuple[str, ...]
    bone_only: bool | None
    visceral: bool | None
    cns: bool | None
    oligometastatic: bool | None
    lesion_count: int | None
    details: tuple[dict[str, Any], ...]
    basis: str
    # regional nodes and chest-wall recurrences of the treated breast: not M1, not among `sites`, still shown
    locoregional: tuple[dict[str, Any], ...] = ()


def assess_sites(metastases: tuple[Metastasis, ...], metastatic: bool | None, config: AssessmentConfig) -> Spread:
    """Active distant sites. Visceral = liver, lung, pleura, peritoneum or another visceral organ (sites.yaml);
    CNS = brain or leptomeninges; oligometastatic = up to 5 lesions in total (ABC4 definition, expert opinion), and
    never with diffuse spread (sites.yaml `diffuse`: an effusion, carcinomatosis, lymphangitic or leptomeningeal
    disease)."""
    table = site_table()
    vocab = table.vocabulary
    active = [m for m in metastases if distant(m) and m.status != "resolved" and m.site != "unspecified"]
    resolved = [m for m in metastases if distant(m) and m.status == "resolved"]
    sites = tuple(sorted({m.site for m in active}))
    ordered = sorted(metastases, key=lambda m: (m.date.earliest.isoformat() if m.date else "9", m.site))
    details = tuple(_detail(m) for m in ordered if distant(m))
    locoregional = tuple(_detail(m) for m in ordered if not distant(m) and m.nodal_region == "regional")
    if not metastatic:
        return Spread(
            (),
            None if metastatic is None else False,
            None if metastatic is None else False,
            None if metastatic is None else False,
            None,
            None,
            details,
            "not metastatic",
            locoregional,
        )
    if not active:
        basis = "all recorded metastases resolved" if resolved else "metastatic, but no site recorded"
        return Spread((), None, None, None, None, None, details, basis, locoregional)
    visceral_hits = [
        m for m in active if vocab.get(m.site, {}).get("visceral") or (m.site == "other" and _other_visceral(m))
    ]
    cns = any(vocab.get(m.site, {}).get("cns") for m in active)
    counts = [m.lesion_count for m in active]
    total = sum(c for c in counts if c is not None) if all(c is not None for c in counts) else None
    oligo: bool | None
    diffuse = [m for m in active if m.site in table.diffuse_sites or _names_diffuse(f"{m.detail} {m.site}")]
    if diffuse:
        oligo = False  # serosal, lymphangitic or leptomeningeal spread is not low-volume disease (ABC)
    elif total is not None:
        oligo = total <= config.oligometastatic_max_lesions
    elif sum(c for c in counts if c is not None) > config.oligometastatic_max_lesions:
        oligo = False
    else:
        oligo = None
    return Spread(
        sites,
        sites == ("bone",),
        bool(visceral_hits),
        cns,
        oligo,
        total,
        details,
        f"{len(active)} active distant metastasis record(s)",
        locoregional,
    )


def _detail(m: Metastasis) -> dict[str, Any]:
    return {
        "site": m.site,
        "detail": m.detail,
        "date": str(m.date) if m.date else None,
        "lesions": m.lesion_count,
        "status": m.status,
        "source": m.source.resource,
    }


def _other_visceral(m: Metastasis) -> bool:
    for rule in site_table().rules:
        if rule.site == "other" and rule.visceral and rule.words is not None and rule.words.search(m.detail):
            return True
    return False


def _names_diffuse(text: str) -> bool:
    """The text names diffuse spread (sites.yaml `diffuse` words) other than after a negation cue in its clause:
    "right upper lobe nodule, no pleural effusion" does not (fresh11 writer: it made three lung nodules "diffuse"); the
    cues are those of the problem list (comorbidities.yaml `negated_before`)."""
    negated = comorbidity_table().negated_before
    for m in site_table().diffuse_words.finditer(text):
        clause = re.split(r"[;.,:()]", text[: m.start()])[-1]
        if not negated.search(clause):
            return True
    return False
