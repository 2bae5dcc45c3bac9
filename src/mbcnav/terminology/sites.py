"""Map a secondary-cancer Condition (code, bodySite, text) onto the metastatic-site vocabulary in sites.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from mbcnav.terminology.codes import codings, texts, words_pattern


@dataclass(frozen=True, slots=True)
class SiteRule:
    site: str
    detail: str | None
    visceral: bool | None
    codes: frozenset[tuple[str, str]]
    words: re.Pattern[str] | None
    secondary_code: dict[str, str] | None
    body_structure: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class SiteTable:
    vocabulary: dict[str, dict[str, Any]]
    generic: frozenset[tuple[str, str]]
    rules: tuple[SiteRule, ...]
    always_distant: re.Pattern[str]
    regional_if_ipsilateral: re.Pattern[str]
    contralateral: re.Pattern[str]
    ipsilateral: re.Pattern[str]
    distant_icd10: frozenset[str]
    diffuse_sites: frozenset[str]
    diffuse_words: re.Pattern[str]
    locoregional_sites: frozenset[str]
    locoregional_words: re.Pattern[str]

    def rule_for_site(self, site: str) -> SiteRule | None:
        for r in self.rules:
            if r.site == site and r.detail is None:
                return r
        return None


@cache
def site_table() -> SiteTable:
    data = yaml.safe_load(resources.files("mbcnav.terminology").joinpath("sites.yaml").read_text("utf-8"))
    rules = tuple(
        SiteRule(
            site=r["site"],
            detail=r.get("detail"),
            visceral=r.get("visceral"),
            # a bodySite coded with the rule's body structure ("Structure of lymph node") names the site as surely as
            # a disorder code: read by code before any words (fresh7 p10: "... MRI brain ... show no other site" in
            # a distant node's text was read as a brain metastasis)
            codes=frozenset(
                [(c["system"], c["code"]) for c in r.get("codes", [])]
                + ([(r["body_structure"]["system"], r["body_structure"]["code"])] if r.get("body_structure") else [])
            ),
            words=words_pattern(r["words"]) if r.get("words") else None,
            secondary_code=r.get("secondary_code"),
            body_structure=r.get("body_structure"),
        )
        for r in data["rules"]
    )
    nodal = data["nodal"]
    return SiteTable(
        vocabulary=data["vocabulary"],
        generic=frozenset((c["system"], c["code"]) for c in data["generic_secondary_codes"]),
        rules=rules,
        always_distant=words_pattern(nodal["always_distant"]),
        regional_if_ipsilateral=words_pattern(nodal["regional_if_ipsilateral"]),
        contralateral=words_pattern(nodal["contralateral_words"]),
        ipsilateral=words_pattern(nodal["ipsilateral_words"]),
        distant_icd10=frozenset(nodal["distant_icd10"]),
        diffuse_sites=frozenset(data["diffuse"]["sites"]),
        diffuse_words=words_pattern(data["diffuse"]["words"]),
        locoregional_sites=frozenset(data["locoregional"]["sites"]),
        locoregional_words=words_pattern(data["locoregional"]["words"]),
    )


@dataclass(frozen=True, slots=True)
class SiteMatch:
    site: str  # vocabulary key, or "lymph_node" before the nodal region is decided
    detail: str
    visceral: bool
    # lymph nodes: regional (N) or distant (M1); skin / chest wall: "regional" when the record calls it a
    # locoregional recurrence of the treated breast (sites.yaml `locoregional`)
    nodal_region: Literal["regional", "distant"] | None
    matched_by: Literal["code", "words", "none"]


def _match(
    table: SiteTable, concepts: list[Any], words: list[str]
) -> tuple[SiteRule | None, Literal["code", "words", "none"]]:
    for concept in concepts:
        for system, code, _ in codings(concept):
            if (system, code) in table.generic:
                continue
            for rule in table.rules:
                if (system, code) in rule.codes:
                    return rule, "code"
    joined = " ; ".join(words)
    for rule in table.rules:
        if rule.words is not None and rule.words.search(joined):
            return rule, "words"
    return None, "none"


def classify_site(code: Any, body_sites: list[Any], extra_text: list[str], primary_laterality: str | None) -> SiteMatch:
    """Site of a metastasis. Site-specific codes win; a generic 'secondary neoplasm' code defers to bodySite."""
    table = site_table()
    words = texts(code) + [t for b in body_sites for t in texts(b)] + extra_text
    # bodySite first when the code itself is generic (mCODE allows 128462008 + bodySite).
    rule, how = _match(table, [*body_sites, code], [*[t for b in body_sites for t in texts(b)], *words])
    if rule is None:
        detail = next((w for w in words if w), "unspecified site")
        return SiteMatch("other", detail, False, None, "none")
    site = rule.site
    said = next((w for w in words if w), None)
    # a category label ("other visceral organ") keeps the record's own words beside it: which organ matters to a reader
    # (fresh11 writer: "bilateral ovarian metastases" was shown as "other visceral organ" only)
    detail = (
        (f"{rule.detail}: {said}" if said and said.lower() != rule.detail.lower() else rule.detail)
        if rule.detail
        else (said or table.vocabulary.get(site, {}).get("label", site))
    )
    visceral = rule.visceral if rule.visceral is not None else bool(table.vocabulary.get(site, {}).get("visceral"))
    region: Literal["regional", "distant"] | None = None
    if site == "lymph_node":
        region = nodal_region(code, words, primary_laterality)
        if region == "distant":
            site = "distant_lymph_node"
    elif site in table.locoregional_sites:
        joined = " ; ".join(words)
        if table.locoregional_words.search(joined) and not table.contralateral.search(joined):
            region = "regional"  # a chest-wall / scar recurrence of the treated breast: locoregional, not M1
    return SiteMatch(site, detail, visceral, region, how)


def site_of_text(text: str | None) -> str | None:
    """The site key (bone, brain, liver ...) a free-text lesion site names, by the same vocabulary as metastases
    (None when the text names none)."""
    if not text:
        return None
    site = classify_site(None, [], [text], None).site
    return None if site == "other" else site


def nodal_region(code: Any, words: list[str], primary_laterality: str | None) -> Literal["regional", "distant"] | None:
    """AJCC 8th ch. 48: ipsilateral axillary / internal mammary / infra- and supraclavicular nodes are regional (N);
    contralateral or other non-regional nodes (cervical, mediastinal, abdominal...) are distant (M1)."""
    table = site_table()
    joined = " ; ".join(words).lower()
    if any(s == "icd10" and c in table.distant_icd10 for s, c, _ in codings(code)):
        return "distant"
    if table.always_distant.search(joined):
        return "distant"
    if table.regional_if_ipsilateral.search(joined):
        if table.contralateral.search(joined):
            return "distant"
        if table.ipsilateral.search(joined):
            return "regional"
        side = "left" if re.search(r"\bleft\b", joined) else "right" if re.search(r"\bright\b", joined) else None
        if side and primary_laterality in ("left", "right"):
            return "regional" if side == primary_laterality else "distant"
    return None
