"""Clinical vignettes: for each patient, options a guideline says must be offered and must not be (cited in
tests/vignettes/EXPECTED.yaml). Also: every option of the knowledge base is reachable, and every exclusion fires."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mbcnav.knowledge.drugs import catalogue
from mbcnav.knowledge.kb import knowledge_base
from mbcnav.options import recommend
from mbcnav.pathway import assess_with_response
from mbcnav.record import read_path

from .conftest import ROOT, TODAY

VIGNETTES = ROOT / "tests" / "vignettes"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((VIGNETTES / "EXPECTED.yaml").read_text())


@cache
def evaluated(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(options JSON, the facts the rules read, assessment JSON) for one vignette or example."""
    a, _ = assess_with_response(read_path(path, today=TODAY), as_of=TODAY)
    result = recommend(a)
    return result.as_json(a), result.facts, a.to_json()


def options_for(path: Path) -> dict[str, Any]:
    return evaluated(path)[0]


def test_at_least_30_vignettes_with_citations() -> None:
    assert len(EXPECTED) >= 30
    for name, exp in EXPECTED.items():
        assert (VIGNETTES / name).exists(), name
        assert exp["rationale"].strip(), name
        assert not set(exp.get("must_offer", [])) & set(exp.get("must_not_offer", [])), name


def test_expectations_name_real_options() -> None:
    """A typo in EXPECTED.yaml would make a must_not_offer check pass for ever."""
    ids = {o["id"] for o in knowledge_base().options["options"]}
    for name, exp in EXPECTED.items():
        named = set(exp.get("must_offer", [])) | set(exp.get("must_not_offer", []))
        for key in ("components", "no_components", "tier"):
            named |= set((exp.get("expect") or {}).get(key, {}))
        assert named <= ids, f"{name}: unknown option ids {sorted(named - ids)}"


def _roles(option: dict[str, Any]) -> set[str]:
    return {c["role"] for c in option["components"]}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vignette(name: str) -> None:
    doc, _, assessment = evaluated(VIGNETTES / name)
    offered = {o["id"]: o for o in doc["options"]}
    exp = EXPECTED[name]
    missing = set(exp.get("must_offer", [])) - set(offered)
    wrong = set(exp.get("must_not_offer", [])) & set(offered)
    assert not missing, f"{name}: must be offered: {sorted(missing)} — {exp['rationale']}"
    assert not wrong, f"{name}: must NOT be offered: {sorted(wrong)} — {exp['rationale']}"
    expect = exp.get("expect") or {}
    if "menopausal_status" in expect:
        assert doc["summary"]["menopausal_status"] == expect["menopausal_status"], name
    if "visceral_crisis" in expect:
        got = (assessment.get("visceral_crisis") or {}).get("status")
        assert got == expect["visceral_crisis"], f"{name}: visceral crisis {got!r}"
    for oid, roles in (expect.get("components") or {}).items():
        assert oid in offered, f"{name}: {oid} must be offered to check its components"
        assert set(roles) <= _roles(offered[oid]), f"{name}: {oid} lacks {sorted(set(roles) - _roles(offered[oid]))}"
    for oid, roles in (expect.get("no_components") or {}).items():
        if oid in offered:
            assert not set(roles) & _roles(offered[oid]), f"{name}: {oid} must not contain {roles}"
    for oid, tier in (expect.get("tier") or {}).items():
        assert oid in offered and offered[oid]["tier"] == tier, f"{name}: {oid} tier"
    for fact in expect.get("tests_include", []):
        kb = knowledge_base()
        wanted = {kb.fact_tests.get(fact, fact)} | {
            u["test"] for u in kb.unknown_entries if fact in u.get("covers", [])
        }
        tests = [t["test"] for t in doc["tests_recommended"]]
        assert wanted & set(tests), f"{name}: test for {fact} not recommended ({tests})"


def _patients() -> list[Path]:
    return (
        sorted(VIGNETTES.glob("[0-9]*.yaml"))
        + sorted(VIGNETTES.glob("[0-9]*.json"))
        + sorted((ROOT / "examples" / "cases").glob("[0-9]*.yaml"))
    )


def _all_docs() -> list[dict[str, Any]]:
    return [options_for(p) for p in _patients()]


def test_every_option_is_reachable() -> None:
    offered = {o["id"] for doc in _all_docs() for o in doc["options"]}
    all_ids = {o["id"] for o in knowledge_base().options["options"]}
    assert all_ids - offered == set(), "options no vignette or example reaches"


def test_every_exclusion_rule_fires() -> None:
    fired = {rule for doc in _all_docs() for o in doc["not_offered"] for rule in o.get("excluded_by", [])}
    fired |= {rule for doc in _all_docs() for o in doc["options"] for rule in o.get("caution_rules", [])}
    kb = knowledge_base().options
    rules = {g["id"] for g in kb["global_exclusions"]}
    rules |= {x["id"] for o in kb["options"] for x in o.get("exclusions", [])}
    assert rules - fired == set(), "exclusion rules no vignette exercises"


# ---- safety: no offered regimen can be assembled that breaks a safety rule ------------------------------------------
# Written from the guidelines, independently of the knowledge-base rules that should prevent each case: the check
# reads only the offered regimens (components -> catalogue classes) and the patient facts.
_PREGNANCY_CONTRAINDICATED = {
    "endocrine", "ovarian_suppression", "cdk46_inhibitor", "pi3k_inhibitor", "akt_inhibitor", "mtor_inhibitor",
    "her2_directed", "adc", "immunotherapy", "parp_inhibitor", "tumour_agnostic", "bone_modifying",
}  # fmt: skip


def _component_classes(component: dict[str, Any]) -> set[str]:
    cat = catalogue()
    drugs = [d.strip() for alt in component["alternatives"] for d in alt.split(" + ")]
    return {c for d in drugs if d in cat.drugs for c in cat.drugs[d].classes}


def safety_violations(option: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """Why this offered regimen breaks a safety rule for this patient (empty when it does not)."""
    comps = [c for c in option["components"] if not c.get("optional")]
    classes = [_component_classes(c) for c in comps]
    every = set().union(*classes) if classes else set()
    roles = {c["role"] for c in option["components"]}
    out = []
    woman_maybe_premenopausal = (
        facts.get("sex") != "male"
        and facts.get("menopausal_status") != "post"
        and not (facts.get("menopausal_status") is None and (facts.get("age") or 0) >= 60)
    )
    if woman_maybe_premenopausal and every & {"aromatase_inhibitor", "serd"} and "ovarian_suppression" not in roles:
        out.append("AI/SERD without ovarian suppression in a woman who may be premenopausal")
    if facts.get("sex") == "male" and "aromatase_inhibitor" in every and "gnrh_analogue" not in roles:
        out.append("AI without a GnRH analogue in a man")
    if "anthracycline" in every and ("her2_antibody" in every or facts.get("trastuzumab_within_7_months")):
        out.append("anthracycline with (or within 7 months of) trastuzumab")
    if (
        facts.get("her2_positive") is True
        and facts.get("pregnant") is not True
        and "chemotherapy" in every
        and "her2_directed" not in every
    ):
        out.append("chemotherapy without HER2-directed therapy in HER2-positive disease")
    if (facts.get("ecog") or 0) >= 3 and every & {"chemotherapy", "adc", "immunotherapy"}:
        out.append("chemotherapy / ADC / immunotherapy at ECOG 3-4")
    crisis = facts.get("visceral_crisis") is True or facts.get("visceral_crisis_suspected") is True
    if (
        crisis
        and every
        and every <= {"endocrine", "aromatase_inhibitor", "serd", "serm", "oral_serd", "ovarian_suppression"}
    ):
        out.append("endocrine monotherapy in (suspected) visceral crisis")
    if facts.get("ild_history") is True and set(option["drugs"]) & {"trastuzumab deruxtecan", "datopotamab deruxtecan"}:
        out.append("trastuzumab/datopotamab deruxtecan with interstitial lung disease")
    if facts.get("pregnant") is True and (every & _PREGNANCY_CONTRAINDICATED or option["modality"] == "radiotherapy"):
        out.append("contraindicated in pregnancy")
    return out


def test_no_offered_regimen_breaks_a_safety_rule() -> None:
    problems = []
    for path in _patients():
        doc, facts, _ = evaluated(path)
        for option in doc["options"]:
            problems += [f"{path.name}: {option['id']}: {v}" for v in safety_violations(option, facts)]
    assert not problems, "\n".join(problems)


def test_the_safety_check_itself_catches_each_class() -> None:
    """The check above must be able to fail: each rule flags a regimen built to break it."""

    def opt(*comps: tuple[str, list[str]], modality: str = "systemic") -> dict[str, Any]:
        drugs = [d for _, alts in comps for d in alts]
        return {"components": [{"role": r, "alternatives": a} for r, a in comps], "drugs": drugs, "modality": modality}

    ai = ("aromatase_inhibitor", ["letrozole"])
    pre = {"sex": "female", "menopausal_status": "pre", "age": 41}
    assert safety_violations(opt(ai), pre)
    assert not safety_violations(opt(ai, ("ovarian_suppression", ["goserelin"])), pre)
    assert safety_violations(opt(ai), {"sex": "female", "menopausal_status": None, "age": 41})
    assert not safety_violations(opt(ai), {"sex": "female", "menopausal_status": None, "age": 66})
    assert safety_violations(opt(ai), {"sex": "male"})
    assert safety_violations(
        opt(("a", ["doxorubicin"]), ("h", ["trastuzumab"])), {"sex": "female", "menopausal_status": "post"}
    )
    her2 = {"her2_positive": True, "menopausal_status": "post"}
    assert safety_violations(opt(("c", ["paclitaxel"])), her2)
    assert not safety_violations(opt(("c", ["paclitaxel"]), ("h", ["trastuzumab"])), her2)
    assert safety_violations(opt(("c", ["sacituzumab govitecan"])), {"ecog": 4, "menopausal_status": "post"})
    assert safety_violations(
        opt(("f", ["fulvestrant"])), {"visceral_crisis_suspected": True, "menopausal_status": "post"}
    )
    assert safety_violations(opt(("x", ["trastuzumab deruxtecan"])), {"ild_history": True, "menopausal_status": "post"})
    assert safety_violations(opt(modality="radiotherapy"), {"pregnant": True, "menopausal_status": "pre"})


def test_pregnancy_cautions_only_where_pregnancy_is_possible() -> None:
    """No 'pregnancy' check for men or postmenopausal women; a premenopausal woman with pregnancy unknown gets it."""
    seen_premenopausal_caution = False
    for path in _patients():
        doc, facts, _ = evaluated(path)
        cautions = [c for o in doc["options"] for c in o["cautions"] if "pregnan" in c.lower()]
        impossible = facts.get("sex") == "male" or facts.get("menopausal_status") == "post"
        if impossible:
            assert not cautions, f"{path.name}: pregnancy caution for a man or a postmenopausal woman: {cautions[:1]}"
        elif facts.get("pregnant") is None and facts.get("sex") == "female" and cautions:
            seen_premenopausal_caution = True
    assert seen_premenopausal_caution, "no vignette shows the pregnancy check for a woman who may be pregnant"
