"""ConText trigger table (context_rules.yaml): validation, direction, scope in tokens, termination, metamorphic tests.

Metamorphic: paraphrases of one criterion, quoted from the ClinicalTrials.gov corpus, give the same constraints."""

from __future__ import annotations

from typing import Any

import pytest

from mbcnav.trials import context
from mbcnav.trials.context import CATEGORIES, find_triggers, parse_rules, rules, tokens_between
from mbcnav.trials.criteria import _Doc, _normalise, parse_criteria

Key = tuple[str, str, tuple[tuple[str, Any], ...]]


def cons(text: str, section: str = "Inclusion", types: tuple[str, ...] = ()) -> set[Key]:
    """(type, polarity, params) of every constraint read from one criterion (optionally only some types), but for
    permissions ("is not required", "is allowed"): they restrict no one and are tested in test_trials_parser29.py."""
    crits = parse_criteria(f"{section} Criteria:\n\n* {text}\n")
    return {
        (c.type, c.polarity, tuple(sorted(c.params.items())))
        for cr in crits
        for c in cr.constraints
        if (not types or c.type in types) and c.type != "permission"
    }


def ctx_of(text: str, target: str) -> Any:
    s = _normalise(text)
    doc = _Doc(s)
    at = s.index(target)
    return doc.context(at, at + len(target))


def row(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "literal": "no",
        "category": "negation",
        "direction": "forward",
        "max_scope": 5,
        "terminated_by": ["termination"],
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


# ------------------------------------------------------------------------------------------------ the table


def test_packaged_table_loads_with_header_and_every_category() -> None:
    t = rules()
    assert t.version and any("ConText" in s for s in t.sources)
    assert {r.category for r in t.rules} == set(CATEGORIES)
    assert rules() is t  # compiled once


def test_packaged_table_rows_are_typed() -> None:
    by_label = {r.label: r for r in rules().rules}
    r = by_label["is not required"]
    assert (r.category, r.direction, r.scope_forward, r.scope_backward) == ("not_required", "bidirectional", 30, 20)
    assert r.terminated_by == frozenset({"termination", "exception", "condition"})
    naive = by_label["naive"]
    assert (naive.direction, naive.scope_backward, naive.terminated_by_literals) == ("backward", 1, (",",))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row(category="negated"), "unknown category 'negated'"),
        (row(direction="forwards"), "unknown direction 'forwards'"),
        (row(pattern="no+"), "exactly one of literal / pattern"),
        (row(category="history", direction="backward"), "a history row cannot be backward"),
        (row(max_scope=0), "max_scope must be a positive number"),
        (row(max_scope={"forward": 3, "backward": 2}), "only for a bidirectional row"),
        (row(category="termination", direction="terminate"), "has no scope"),
        (row(terminated_by=["terminations"]), "neither a category nor"),
        (row(literal=None, pattern="no(t"), "does not compile"),
        (row(literal=None, pattern="(no|not)"), "must not capture groups"),
        (row(literal="No"), "lower-case"),
        (row(scope=3), "unknown field(s) ['scope']"),
    ],
)
def test_a_bad_row_fails_naming_the_row(bad: dict[str, Any], message: str) -> None:
    good = row(literal="without")
    with pytest.raises(ValueError) as exc:
        parse_rules({"rules": [good, bad]})
    assert "row 2" in str(exc.value) and message in str(exc.value)


def test_a_literal_that_can_never_match_is_rejected() -> None:
    # file order is match order: "no" listed before "no more than" would always win at that position
    with pytest.raises(ValueError, match=r"row 2 \('no more than'\) never matches: row 1 \('no'\)"):
        parse_rules(
            {
                "rules": [
                    row(),
                    row(
                        literal="no more than",
                        category="pseudo",
                        direction="pseudo",
                        max_scope=None,
                        terminated_by=None,
                    ),
                ]
            }
        )


# ------------------------------------------------------------------------------------------------ mechanism


def test_scope_is_counted_in_tokens_not_characters() -> None:
    t = parse_rules({"rules": [row(max_scope=3)]})
    r = t.rules[0]
    text = "no   prior   (adjuvant)   fulvestrant"
    # "prior" and "(adjuvant)" lie between: 2 tokens, however many spaces; a lone "-" or "(" is not a token
    assert tokens_between(text, 2, text.index("fulvestrant")) == 2
    assert tokens_between("cdk4/6 inhibitor-naive", 16, 17) == 0
    assert r.reaches("forward", 2) and not r.reaches("forward", 3)  # fewer than max_scope tokens between
    assert [(x.text, x.start) for x in find_triggers(text, t)] == [("no", 0)]


def test_a_negation_beyond_its_scope_does_not_reach() -> None:
    words = " ".join(f"w{i}" for i in range(29))
    assert ctx_of(f"No {words} fulvestrant", "fulvestrant").neg is not None  # 29 tokens between: reached
    assert ctx_of(f"No {words} w29 fulvestrant", "fulvestrant").neg is None  # 30: beyond max_scope 30


def test_forward_rule_reaches_only_what_follows() -> None:
    # NCT06126276
    ctx = ctx_of("No prior therapy with CDK4/6 inhibition", "cdk4/6")
    assert ctx.neg is not None and ctx.neg.text == "no"
    assert ctx_of("CDK4/6 inhibitor: no", "cdk4/6").neg is None


def test_backward_rule_reaches_only_what_precedes() -> None:
    # NCT05826964
    ctx = ctx_of("Prior treatment with any CDK 4/6 inhibitor in the metastatic setting is not allowed.", "cdk 4/6")
    assert ctx.absolute is not None and ctx.absolute.text == "is not allowed"
    assert ctx_of("Is not allowed: prior CDK 4/6 inhibitor", "cdk 4/6").absolute is None


def test_backward_negation_reaches_only_the_adjacent_word() -> None:
    # NCT03093116: "ros1 tki-naive" — naive negates "tki", not "ros1" a word earlier
    text = "EXP-1: ROS1 TKI-naive ROS1+ NSCLC"
    assert ctx_of(text, "tki").post_neg is not None
    assert ctx_of(text, "exp-1: ros1").post_neg is None


def test_bidirectional_not_required_reaches_both_ways() -> None:
    # backward: NCT04315324; forward: NCT04606446
    back = ctx_of("Prior nelarabine therapy is not required.", "nelarabine")
    assert back.allow is not None and back.allow.rule.category == "not_required"
    fwd = ctx_of("Participants may have but are not required to have prior treatment with fulvestrant", "fulvestrant")
    assert fwd.allow is not None and fwd.allow.text == "are not required"


def test_termination_ends_the_scope() -> None:
    # NCT05706025: "no evidence of ... but with GERD" — "but" ends the negation
    text = "otherwise healthy adults with no evidence of BE or EAC or other esophageal cancer but with GERD"
    assert ctx_of(text, "esophageal cancer").neg is not None
    assert ctx_of(text, "gerd").neg is None


def test_pseudo_trigger_is_not_a_negation() -> None:
    # NCT06843551: "No limit on ..." is a pseudo-trigger
    ctx = ctx_of(
        "No limit on overall numbers of lesions, but liver tumor burden ≤25% of total liver volume.", "lesions"
    )
    assert ctx.neg is None
    assert [t.cat for t in find_triggers("no limit on overall numbers")] == ["pseudo"]


def test_literal_termination_comma_stops_post_negation() -> None:
    r = next(r for r in context.rules().rules if r.label == "negative")
    assert "," in r.terminated_by_literals
    assert ctx_of("BRCA1 negative", "brca1").post_neg is not None
    assert ctx_of("BRCA1, negative", "brca1").post_neg is None


# ------------------------------------------------------------------------------------------------ the direction fix


def test_not_required_is_no_constraint_while_not_allowed_still_excludes() -> None:
    # the wordings; the trigger table itself reads "is not required" backward (not only a later guard)
    assert ctx_of("Prior CDK4/6 inhibitor is not required.", "cdk4/6").allow is not None
    for text in (
        "Prior CDK4/6 inhibitor is not required.",
        "Prior CDK4/6 inhibitor is not mandatory.",
        "Patients need not have received prior CDK4/6 inhibitor.",
        "Prior CDK4/6 inhibitor therapy is not necessary.",
    ):
        assert cons(text) == set(), text
    excluded = {("prior_therapy", "excluded", (("class", "cdk46_inhibitor"),))}
    assert cons("Prior CDK4/6 inhibitor is not allowed.") == excluded
    assert cons("Prior CDK4/6 inhibitor is not permitted.") == excluded


# ------------------------------------------------------------------------------------------------ metamorphic

CDK46_EXCLUDED: set[Key] = {("prior_therapy", "excluded", (("class", "cdk46_inhibitor"),))}
CDK46_MET: tuple[tuple[str, Any], ...] = (("class", "cdk46_inhibitor"), ("setting", "metastatic"))
CDK46_EXCLUDED_MET: set[Key] = {("prior_therapy", "excluded", CDK46_MET)}

METAMORPHIC: list[tuple[str, set[Key], list[tuple[str, str]], tuple[str, ...]]] = [
    (
        "prior CDK4/6 inhibitor excluded",
        CDK46_EXCLUDED,
        [
            ("Inclusion", "No prior therapy with CDK4/6 inhibition"),  # NCT06126276
            ("Exclusion", "Prior therapy with any CDK4/6i."),  # NCT05563220
            ("Inclusion", "Patients must not have received a CDK4/6 inhibitor"),  # the wording
            ("Inclusion", "Prior treatment with a CDK4/6 inhibitor is not allowed"),  # the wording
            ("Inclusion", "Prior CDK4/6 inhibitor therapy is not permitted"),  # the wording
        ],
        (),
    ),
    (
        "prior CDK4/6 inhibitor in the metastatic setting excluded",
        CDK46_EXCLUDED_MET,
        [
            # NCT05826964
            ("Inclusion", "Prior treatment with any CDK 4/6 inhibitor in the metastatic setting is not allowed."),
            ("Exclusion", "Prior therapy with a CDK4/6i in the metastatic setting."),  # NCT05563220
        ],
        (),
    ),
    (
        "a prior therapy allowed: no constraint",
        set(),
        [
            ("Inclusion", "Prior fulvestrant therapy is allowed"),  # NCT04802759
            (
                "Inclusion",
                "prior CDK4/6 inhibitor exposure allowed (abemaciclib. palbociclib, or ribociclib)",
            ),  # NCT05095207
            ("Inclusion", "May have received prior neoadjuvant systemic therapy"),  # NCT05919238
            ("Inclusion", "Prior CDK4/6i is allowed"),  # the wording
            ("Inclusion", "Prior CDK4/6 inhibitor is permitted"),  # the wording
        ],
        (),
    ),
    (
        "a requirement negated: no constraint",
        set(),
        [
            ("Inclusion", "Prior nelarabine therapy is not required."),  # NCT04315324
            ("Inclusion", "Measurable disease as defined by RECIST is not required."),  # NCT04093167
            # NCT05608252
            (
                "Inclusion",
                "It is not mandatory to have a CDK4/6 inhibitor-containing regimen as the most recent treatment.",
            ),
            (
                "Inclusion",
                "NOTE: Anti-PD(L)1 ICI need not be the most recent line of therapy administered.",
            ),  # NCT05669846
            # NCT06524544
            (
                "Inclusion",
                "NOTE: Anti-PD(L)1 therapy does not need to be the most recent therapy received prior to enrollment",
            ),
            (
                "Inclusion",
                "Prior surgical resection or ablation of the primary tumor is allowed but not required.",
            ),  # NCT04150042
        ],
        (),
    ),
    (
        "active, untreated brain metastases excluded",
        {("brain_mets", "excluded", (("state", "untreated"),)), ("brain_mets", "excluded", (("state", "active"),))},
        [
            ("Exclusion", "Active untreated brain metastases."),  # NCT05856981
            ("Exclusion", "Active, untreated brain metastases"),  # NCT05379985
            ("Exclusion", "Active, untreated brain metastases."),  # NCT06252649
        ],
        (),
    ),
    (
        "ECOG 0-1",
        {("ecog", "required", (("max", 1),))},
        [
            ("Inclusion", "ECOG Performance Status 0 or 1."),  # NCT00756665
            ("Inclusion", "ECOG PS 0-1."),  # NCT03093116
            ("Inclusion", "ECOG performance status ≤1"),  # NCT03138161
            ("Inclusion", "ECOG performance status of 0 or 1"),  # NCT03675893
            ("Inclusion", "ECOG PS grade of 0-1."),  # NCT04104893
        ],
        (),
    ),
    (
        "HER2-negative",
        {("her2_status", "required", (("status", "negative"),))},
        [
            ("Inclusion", "A diagnosis of HER2-negative breast cancer."),  # NCT05504707
            ("Inclusion", "ER and/or PR positive, HER2 negative"),  # NCT02945579
            ("Inclusion", "Disease must be ER+ and HER2-."),  # NCT02476786
            ("Inclusion", "Advanced HER2-negative breast cancer"),  # NCT04389632
        ],
        ("her2_status",),
    ),
    (
        "measurable disease by RECIST 1.1",
        {("measurable_disease", "required", (("standard", "RECIST 1.1"),))},
        [
            ("Inclusion", "Measurable disease by RECIST v1.1"),  # NCT03138161
            ("Inclusion", "Measurable disease per RECIST 1.1"),  # NCT04486352
            ("Inclusion", "Measurable disease, as defined by RECIST v1.1"),  # NCT04302025
            ("Inclusion", "Measurable disease according to RECIST 1.1"),  # NCT05074810
        ],
        (),
    ),
    (
        "adults",
        {("age", "required", (("min", 18),))},
        [
            ("Inclusion", "Age ≥18 years."),  # NCT02172651
            ("Inclusion", "The subject must be 18 years of age or older"),  # NCT02471170
            ("Inclusion", "All patients must be \\>= 18 years of age"),  # NCT02339571
            ("Inclusion", "Male or female, \\>= 18 years of age"),  # NCT00977977
        ],
        (),
    ),
]


@pytest.mark.parametrize(("name", "expected", "wordings", "types"), METAMORPHIC, ids=[g[0] for g in METAMORPHIC])
def test_paraphrases_give_the_same_constraints(
    name: str, expected: set[Key], wordings: list[tuple[str, str]], types: tuple[str, ...]
) -> None:
    for section, text in wordings:
        assert cons(text, section, types) == expected, f"{name}: {section} {text!r}"
