"""Property tests: whatever JSON arrives, reading and assessing it either works (and the result is writable as JSON)
or raises UnusableInput; never any other exception. Dates in the future are reported and never used.

The `*_any_json` properties draw from all JSON values, huge ints and NaN/inf included; the `*_finite` variants run
the same properties over ints that fit a float and finite floats. Text holding a lone surrogate (such as Patient.id
"p\\ud800") is replaced on reading, so the report always encodes as UTF-8.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mbcnav.assess import assess
from mbcnav.record.fhir import READ_TYPES, record_from_resources
from mbcnav.record.model import Record
from mbcnav.record.reader import Located, UnusableInput, flatten, read_path

TODAY = date(2026, 11, 26)
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "fhir").glob("*.json"))
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- the outcome every input must have ---------------------------------------------------------------------------


def outcome_of_located(located: list[Located]) -> str:
    """'ok' or 'unusable'; any other exception escapes and fails the test."""
    try:
        record = record_from_resources(located, today=TODAY)
    except UnusableInput as err:
        assert err.message.strip()
        return "unusable"
    check_assessment(record)
    return "ok"


def outcome_of_doc(doc: Any) -> str:
    try:
        located = flatten(doc, "fuzz.json:")
    except UnusableInput as err:
        assert err.message.strip()
        return "unusable"
    return outcome_of_located(located)


def check_assessment(record: Record) -> dict[str, Any]:
    """Assess and write the result as the CLI does (ensure_ascii=False), but as strict JSON: no NaN/Infinity, UTF-8."""
    result = assess(record, as_of=TODAY).to_json()
    text = json.dumps(result, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    assert json.loads(text) == json.loads(json.dumps(result))
    for issue in record.input_issues:
        assert issue.location and issue.message
    return dict(result)


# ---- strategies --------------------------------------------------------------------------------------------------

HUGE_INTS = [10**400, -(10**400), 2**1024, 10**4000]
ODD_TEXT = [
    "",
    " ",
    "\x00",
    "\u202e\u202d",
    "e\u0301",
    "🧬🎗️",
    "ｂｒｅａｓｔ",
    "２０２０-０１-０１",
    "٢٠٢٠-٠١-٠١",
    "NaN",
    "Infinity",
    "1e999",
    "0000-00-00",
    "2020-02-30",
    "2020-13",
    "-2020",
    "9999-12-31T23:59:59Z",
    "2099-01-01",
    "1899-12-31",
    "Patient/",
    "urn:uuid:",
    "Metastasis to liver",
    "malignant neoplasm of breast",
    "HER2 3+",
    "ER positive 95%",
    "stage IV",
    "cM1",
    "x" * 2000,
]
LONE_SURROGATES = ["\ud800", "a\udfffb"]
FIELD_NAMES = [
    "resourceType",
    "id",
    "meta",
    "profile",
    "code",
    "coding",
    "system",
    "display",
    "text",
    "value",
    "unit",
    "valueQuantity",
    "valueInteger",
    "valueString",
    "valueCodeableConcept",
    "effectiveDateTime",
    "effectivePeriod",
    "onsetDateTime",
    "authoredOn",
    "start",
    "end",
    "component",
    "subject",
    "patient",
    "reference",
    "status",
    "birthDate",
    "gender",
    "bodySite",
    "extension",
    "url",
    "focus",
    "specimen",
    "entry",
    "resource",
    "medicationCodeableConcept",
    "statusReason",
    "interpretation",
]


def json_values(*, finite: bool) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values. finite=True leaves out huge ints, NaN/inf and lone surrogates."""
    if finite:
        ints = st.integers(min_value=-(2**62), max_value=2**62)
        floats = st.floats(allow_nan=False, allow_infinity=False)
        text = st.text(max_size=30) | st.sampled_from(ODD_TEXT)
    else:
        ints = st.integers() | st.sampled_from(HUGE_INTS)
        floats = st.floats(allow_nan=True, allow_infinity=True)
        text = st.text(max_size=30) | st.sampled_from(ODD_TEXT + LONE_SURROGATES)
    scalars = st.none() | st.booleans() | ints | floats | text
    keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=12,
    )


KNOWN_CODES = [
    {"coding": [{"system": LOINC, "code": code}]}
    for code in (
        "89247-1",  # ECOG
        "89243-0",  # Karnofsky
        "16112-5",  # ER
        "16113-3",  # PR
        "48676-1",  # HER2
        "85319-2",  # HER2 by immune stain
        "21908-9",  # stage group
        "21907-1",  # cM
        "69548-6",  # genetic variant
        "81695-9",  # MSI
        "94076-7",  # TMB
        "97509-4",  # disease status
        "21889-1",  # tumour size
        "82810-3",  # pregnancy
    )
] + [
    {"text": "PD-L1 combined positive score (CPS)"},
    {"text": "Ki-67"},
    {"text": "Menopausal status"},
    {"text": "HER2 FISH"},
    {"text": "History of metastatic cancer"},
]
UNITS = ["mm", "cm", "%", "CPS", "{score}", "mut/Mb", "m", ""]


def observations(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    quantity = st.fixed_dictionaries(
        {"value": values}, optional={"unit": st.sampled_from(UNITS) | values, "code": st.sampled_from(UNITS)}
    )
    component = st.fixed_dictionaries(
        {
            "code": st.sampled_from(KNOWN_CODES)
            | st.sampled_from([{"text": t} for t in ("ihc", "ish", "cps", "percent", "longest diameter")])
        },
        optional={"valueQuantity": quantity | values, "valueCodeableConcept": values, "valueString": values},
    )
    return st.fixed_dictionaries(
        {"resourceType": st.just("Observation"), "status": st.sampled_from(["final", "amended"]) | values},
        optional={
            "id": st.text(max_size=8) | values,
            "code": st.sampled_from(KNOWN_CODES) | values,
            "valueQuantity": quantity | values,
            "effectiveDateTime": dates_as_text() | values,
            "component": st.lists(component, max_size=3) | values,
            "subject": st.just({"reference": "Patient/p1"}) | values,
        },
    )


def dates_as_text() -> st.SearchStrategy[str]:
    d = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
    return st.one_of(
        d.map(date.isoformat),
        d.map(lambda x: x.isoformat()[:7]),
        d.map(lambda x: x.isoformat()[:4]),
        d.map(lambda x: x.isoformat() + "T10:20:30+02:00"),
        st.from_regex(r"\A[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?\Z"),
        st.sampled_from(ODD_TEXT),
    )


# ---- 1. arbitrary JSON as a Bundle, an entry, or an entry's resource ---------------------------------------------


def _containers(value: Any) -> list[Any]:
    return [
        value,
        {"resourceType": "Bundle", "entry": value},
        {"resourceType": "Bundle", "entry": [value]},
        {"resourceType": "Bundle", "entry": [{"resource": value}]},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Bundle", "entry": [{"resource": value}]}}]},
    ]


@FUZZ
@given(value=json_values(finite=True))
def test_arbitrary_json_in_a_bundle_finite(value: Any) -> None:
    for doc in _containers(value):
        assert outcome_of_doc(doc) in ("ok", "unusable")


@FUZZ
@given(value=json_values(finite=False))
@example(
    value={
        "resourceType": "Observation",
        "status": "final",
        "code": KNOWN_CODES[0],
        "valueQuantity": {"value": 10**400},
    }
)
def test_arbitrary_json_in_a_bundle_any_json(value: Any) -> None:
    for doc in _containers(value):
        assert outcome_of_doc(doc) in ("ok", "unusable")


# ---- 2. random fields on each resource type mbcnav reads ---------------------------------------------------------


def resources(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    types = st.sampled_from([*sorted(READ_TYPES), "Bundle", "Practitioner", "", "__invalid__"])
    return st.builds(
        lambda rtype, fields: {**fields, "resourceType": rtype},
        types,
        st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=6),
    )


@FUZZ
@given(res=st.lists(resources(json_values(finite=True)), min_size=1, max_size=4))
def test_random_fields_on_read_types_finite(res: list[dict[str, Any]]) -> None:
    located = [Located(r, f"fuzz.json:entry[{i}].resource") for i, r in enumerate(res)]
    assert outcome_of_located(located) in ("ok", "unusable")


@FUZZ
@given(res=st.lists(resources(json_values(finite=False)), min_size=1, max_size=4))
@example(res=[{"resourceType": "Patient", "id": ["p1"]}])
def test_random_fields_on_read_types_any_json(res: list[dict[str, Any]]) -> None:
    located = [Located(r, f"fuzz.json:entry[{i}].resource") for i, r in enumerate(res)]
    assert outcome_of_located(located) in ("ok", "unusable")


# ---- 3. Observations with random code, valueQuantity, effectiveDateTime, component -------------------------------


@FUZZ
@given(obs=st.lists(observations(json_values(finite=True)), min_size=1, max_size=3))
def test_random_observations_finite(obs: list[dict[str, Any]]) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    located = [Located(r, f"fuzz.json:entry[{i}].resource") for i, r in enumerate([patient, *obs])]
    assert outcome_of_located(located) in ("ok", "unusable")


@FUZZ
@given(obs=st.lists(observations(json_values(finite=False)), min_size=1, max_size=3))
@example(
    obs=[
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "PD-L1 CPS"},
            "valueQuantity": {"value": 10**400},
        }
    ]
)
def test_random_observations_any_json(obs: list[dict[str, Any]]) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    located = [Located(r, f"fuzz.json:entry[{i}].resource") for i, r in enumerate([patient, *obs])]
    assert outcome_of_located(located) in ("ok", "unusable")


# ---- 4. Patient.birthDate ----------------------------------------------------------------------------------------


@FUZZ
@given(birth=dates_as_text() | json_values(finite=False))
def test_random_birth_date(birth: Any) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": birth}
    record = record_from_resources([Located(patient, "fuzz.json:entry[0].resource")], today=TODAY)
    bd = record.patient.birth_date
    issues = [i for i in record.input_issues if i.location == "fuzz.json:entry[0].resource.birthDate"]
    if bd is None:
        # Anything given that is not used as a date is reported where it was.
        assert birth is None or any(i.severity == "error" for i in issues), (birth, record.input_issues)
    else:
        assert isinstance(birth, str)
        assert date(1900, 1, 1) <= bd.earliest <= TODAY
        assert bd.isoformat() in birth
        assert not [i for i in issues if i.severity == "error"]
    out = check_assessment(record)
    assert out["patient"]["birth_date"] == (bd.isoformat() if bd else None)


@pytest.mark.parametrize("text", ["２０２０-０１-０１", "٢٠٢٠-٠١-٠١", "2020-0١-01"])
def test_non_ascii_digits_are_not_a_date(text: str) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": text}
    record = record_from_resources([Located(patient, "fuzz.json:entry[0].resource")], today=TODAY)
    assert record.patient.birth_date is None


# ---- 5. truncated real files, and real files with one node replaced ----------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.data(), source=st.sampled_from(EXAMPLES))
def test_truncated_example_is_unusable(scratch: Path, data: st.DataObject, source: Path) -> None:
    full = source.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(full) - 1), label="cut")
    prefix = full[:cut]
    path = scratch / "truncated.json"
    path.write_bytes(prefix)
    if prefix.strip() == full.strip():  # only trailing whitespace was cut
        assert check_assessment(read_path(path, today=TODAY))
        return
    with pytest.raises(UnusableInput) as info:
        read_path(path, today=TODAY)
    assert "truncated.json" in info.value.message


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here] if here else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


DOCS = {p.name: json.loads(p.read_text("utf-8")) for p in EXAMPLES}
PATHS = {name: _paths(doc) for name, doc in DOCS.items()}


def _mutate(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(DOCS)), value=json_values(finite=True), delete=st.booleans())
def test_example_with_one_node_replaced_finite(data: st.DataObject, name: str, value: Any, delete: bool) -> None:
    path = data.draw(st.sampled_from(PATHS[name]), label="path")
    doc = _mutate(DOCS[name], path, value, delete)
    assert outcome_of_doc(doc) in ("ok", "unusable")


def test_unmodified_examples_load_cleanly() -> None:
    # The mutation test above starts from clean input: a fault found there comes from the mutation.
    assert len(EXAMPLES) >= 10
    for name, doc in DOCS.items():
        record = record_from_resources(flatten(doc, f"{name}:"), today=TODAY)
        assert record.input_issues == (), name


# ---- 6. dates in the future --------------------------------------------------------------------------------------


def base_resources() -> list[dict[str, Any]]:
    subject = {"reference": "Patient/p1"}
    return [
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-05-01"},
        {
            "resourceType": "Condition",
            "id": "primary",
            "subject": subject,
            "code": {"coding": [{"system": SNOMED, "code": "254837009", "display": "Malignant neoplasm of breast"}]},
            "onsetDateTime": "2020-01-15",
        },
        {
            "resourceType": "Condition",
            "id": "met",
            "subject": subject,
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "code": {"text": "Metastasis to liver"},
            "onsetDateTime": "2023-06-01",
        },
        {
            "resourceType": "Observation",
            "id": "ecog",
            "status": "final",
            "subject": subject,
            "code": {"coding": [{"system": LOINC, "code": "89247-1"}]},
            "effectiveDateTime": "2026-10-01",
            "valueInteger": 1,
        },
        {
            "resourceType": "MedicationRequest",
            "id": "letrozole",
            "status": "active",
            "intent": "order",
            "subject": subject,
            "medicationCodeableConcept": {"text": "letrozole"},
            "authoredOn": "2023-06-10",
        },
        {
            "resourceType": "Observation",
            "id": "er",
            "status": "final",
            "subject": subject,
            "code": {"coding": [{"system": LOINC, "code": "16112-5"}]},
            "effectiveDateTime": "2020-01-15",
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6576-8", "display": "Positive"}]},
        },
    ]


def _read(res: list[dict[str, Any]]) -> Record:
    return record_from_resources([Located(r, f"fuzz.json:entry[{i}].resource") for i, r in enumerate(res)], today=TODAY)


# (index in base_resources, field, how to find the fact's date in the Record)
DATED_FIELDS = {
    "birth": (0, "birthDate", lambda r: r.patient.birth_date),
    "diagnosis": (1, "onsetDateTime", lambda r: r.primaries[0].diagnosis_date),
    "metastasis": (2, "onsetDateTime", lambda r: r.metastases[0].date),
    "ecog": (3, "effectiveDateTime", lambda r: r.performance[0].date),
    "therapy": (4, "authoredOn", lambda r: r.therapies[0].start),
    "receptor": (5, "effectiveDateTime", lambda r: r.receptors[0].date),
}


def test_base_record_reads_every_date() -> None:
    record = _read(base_resources())
    assert record.input_issues == ()
    for name, (_, _, get) in DATED_FIELDS.items():
        assert get(record) is not None, name
    out = check_assessment(record)
    assert out["metastatic"] is True
    assert out["first_metastasis_date"] == "2023-06-01"


def future_dates() -> st.SearchStrategy[str]:
    day = st.dates(min_value=date(2026, 11, 27), max_value=date(9999, 12, 31))
    month = st.dates(min_value=date(2026, 12, 1), max_value=date(9999, 12, 31))
    year = st.integers(min_value=2027, max_value=9999)
    return st.one_of(
        day.map(date.isoformat),
        day.map(lambda d: d.isoformat() + "T00:00:00Z"),
        month.map(lambda d: d.isoformat()[:7]),
        year.map(lambda y: f"{y:04d}"),
    )


@FUZZ
@given(when=future_dates(), field=st.sampled_from(sorted(DATED_FIELDS)))
def test_future_dates_are_reported_and_never_used(when: str, field: str) -> None:
    index, key, get = DATED_FIELDS[field]
    res = base_resources()
    res[index][key] = when
    record = _read(res)
    assert get(record) is None
    hits = [i for i in record.input_issues if i.location == f"fuzz.json:entry[{index}].resource.{key}"]
    assert any("future" in i.message and i.severity == "error" for i in hits), record.input_issues
    out = check_assessment(record)
    out.pop("input_issues")  # the issue quotes the date; nothing else may
    assert when[:10] not in json.dumps(out)


def test_future_metastasis_date_is_an_issue_and_not_a_date() -> None:
    res = base_resources()
    res[2]["onsetDateTime"] = "2099-01-01"
    record = _read(res)
    assert [m.site for m in record.metastases] == ["liver"]  # the metastasis is kept...
    assert record.metastases[0].date is None  # ...without its impossible date
    hits = [i for i in record.input_issues if i.location == "fuzz.json:entry[2].resource.onsetDateTime"]
    assert len(hits) == 1
    assert "future" in hits[0].message and "2099-01-01" in hits[0].message
    out = check_assessment(record)
    assert out["metastatic"] is True
    assert out["first_metastasis_date"] is None
    assert out["metastasis_free_interval_months"] is None
    out.pop("input_issues")
    assert "2099" not in json.dumps(out)


# ---- inputs that crashed the reader or the report: each must read as 'ok' or 'unusable' -------------------------


def _obs(code: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": code, **fields}


HUGE = {"value": 10**400}
KNOWN_BUGS = [
    pytest.param([_obs(KNOWN_CODES[0], valueQuantity=HUGE)], id="ecog-valueQuantity-10**400"),
    pytest.param([_obs({"text": "PD-L1 CPS"}, valueQuantity=HUGE)], id="pdl1-valueQuantity-10**400"),
    pytest.param([_obs(KNOWN_CODES[4], valueQuantity=HUGE)], id="her2-valueQuantity-10**400"),
    pytest.param([_obs(KNOWN_CODES[10], valueQuantity=HUGE)], id="tmb-valueQuantity-10**400"),
    pytest.param(
        [_obs(KNOWN_CODES[12], valueQuantity={"value": 10**400, "unit": "mm"})], id="size-valueQuantity-10**400"
    ),
    pytest.param([{"resourceType": "Patient", "id": ["p1"]}], id="patient-id-list"),
    pytest.param([{"resourceType": "Patient", "id": {"value": "p1"}}], id="patient-id-dict"),
    pytest.param([_obs({"text": "PD-L1 CPS"}, valueQuantity={"value": math.inf})], id="pdl1-valueQuantity-inf"),
    pytest.param([_obs({"text": "PD-L1 CPS"}, valueQuantity={"value": math.nan})], id="pdl1-valueQuantity-nan"),
    pytest.param([{"resourceType": "Patient", "id": "p\ud800", "gender": "female"}], id="patient-id-lone-surrogate"),
    pytest.param(
        [
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "component": [{"resourceType": "\ud800"}],
            }
        ],
        id="component-lone-surrogate",
    ),
    # Found by this fuzzing (TypeError from `for x in res.get("component") or []`), fixed by markers._as_list.
    *[
        pytest.param(
            [_obs(KNOWN_CODES[code], valueString="positive", **{field: value})], id=f"{name}-{field}-{value!r}"
        )
        for name, code, field, value in (
            ("er", 2, "component", True),
            ("er", 2, "interpretation", 5),
            ("her2", 4, "component", 1.5),
            ("genetic-variant", 8, "component", 3),
            ("tumour-size", 12, "component", True),
        )
    ],
    # Neighbours of the inputs above, so a change cannot break them unnoticed.
    pytest.param([_obs(KNOWN_CODES[0], valueQuantity={"value": 2**1000})], id="ecog-valueQuantity-2**1000"),
    pytest.param([_obs(KNOWN_CODES[0], valueInteger=10**400)], id="ecog-valueInteger-10**400"),
    pytest.param([_obs(KNOWN_CODES[2], valueQuantity={"value": 10**400, "unit": "%"})], id="er-percent-10**400"),
    pytest.param([_obs({"text": "PD-L1 CPS"}, valueQuantity={"value": 1e308})], id="pdl1-valueQuantity-1e308"),
    pytest.param([{"resourceType": "Patient", "id": 7}], id="patient-id-int"),
    pytest.param(
        [_obs(KNOWN_CODES[2], valueString="positive", component=0, interpretation=False)], id="er-component-falsy"
    ),
    pytest.param(
        [_obs(KNOWN_CODES[2], valueString="positive", component="text", interpretation={"a": 1})],
        id="er-component-string",
    ),
    pytest.param(
        [{"resourceType": "Patient", "id": "p1"}, {"resourceType": "Patient", "id": None}], id="patient-id-none-and-str"
    ),
]


@pytest.mark.parametrize("res", KNOWN_BUGS)
def test_known_bug_inputs(res: list[dict[str, Any]]) -> None:
    located = [Located(r, f"fuzz.json:entry[{i}].resource") for i, r in enumerate(res)]
    assert outcome_of_located(located) in ("ok", "unusable")
