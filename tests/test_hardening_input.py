"""Issue 16, input side: hostile input is bounded (YAML aliases, deep nesting, over-long numbers, impossible
timestamps, devices), a blank coding display or text crashes no reader, and an impossible marker value is an input
issue (error, with its place), never a fact.

Each class has a property test (hypothesis) and, where it matters, the exact case from the issue. The bounded fuzz
run over all inputs is benchmarks/fuzz_inputs.py.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mbcnav.assess import assess
from mbcnav.record.fhir import record_from_resources
from mbcnav.record.model import Record
from mbcnav.record.reader import MAX_NUMBER_DIGITS, UnusableInput, flatten, read_bounded, read_path

from .conftest import PRIMARY_BREAST_CANCER, ROOT, TODAY

PROPS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CASE_TEXT = (ROOT / "examples" / "cases" / "05-tnbc-pdl1-cps-high.yaml").read_text("utf-8")
EXAMPLES = sorted((ROOT / "examples" / "fhir").glob("*.json"))
LOINC = "http://loinc.org"
BOMB = (
    "schema: mbcnav-case/1\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def outcome(path: Path) -> Record | UnusableInput:
    """The record, or the UnusableInput; any other exception fails the test. A record is also assessed and written
    as strict JSON, as the commands do."""
    try:
        record = read_path(path, today=TODAY)
    except UnusableInput as err:
        assert err.message.strip()
        return err
    text = json.dumps(assess(record, as_of=TODAY).to_json(), ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    return record


def unusable(path: Path, *words: str) -> UnusableInput:
    result = outcome(path)
    assert isinstance(result, UnusableInput), f"{path.name} was read"
    for w in words:
        assert w in result.message, result.message
    return result


def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, int, float]:
    """Exit code, stderr, peak memory (KiB, VmHWM of the child's own address space) and wall time of `mbcnav ARGS`."""
    code = (
        "import resource, sys\n"
        "from mbcnav.cli import main\n"
        "try:\n"
        f"    rc = main({list(args)!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        # VmHWM belongs to this address space; ru_maxrss would survive execve and report the forked pytest's peak.
        "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')]\n"
        "peak = int(hwm[0]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "sys.stderr.write(f'\\nMAXRSS {peak}\\n')\n"
        "sys.exit(rc)\n"
    )
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )
    elapsed = time.monotonic() - t0
    rss = int(done.stderr.rsplit("MAXRSS", 1)[1]) if "MAXRSS" in done.stderr else -1
    return done.returncode, done.stderr, rss, elapsed


# ---- 1a. YAML anchors and aliases ---------------------------------------------------------------------------------
def test_alias_bomb_is_refused_fast_in_little_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert len(BOMB.encode()) == 364  # the 364-byte file of the issue (91 s and 6 GB before)
    t0 = time.monotonic()
    unusable(bomb, "anchors and aliases", "line 2")
    assert time.monotonic() - t0 < 1.0
    rc, err, rss_kib, _ = run_cli("assess", str(bomb))
    assert rc == 2, err
    assert "anchors and aliases" in err
    assert 0 < rss_kib < 100 * 1024  # the whole process, imports included
    rc, _, _, _ = run_cli("assess", str(bomb), "--format", "json")
    assert rc == 2


@PROPS
@given(
    line=st.integers(min_value=0, max_value=200), alias=st.booleans(), name=st.from_regex(r"[a-z]{1,8}", fullmatch=True)
)
def test_any_anchor_or_alias_is_refused(tmp_path: Path, line: int, alias: bool, name: str) -> None:
    lines = CASE_TEXT.splitlines()
    spots = [i for i, t in enumerate(lines) if ": " in t and not t.rstrip().endswith(":") and "#" not in t]
    i = spots[line % len(spots)]
    key, value = lines[i].split(": ", 1)
    lines[i] = f"{key}: &{name} {value}"
    if alias:  # and use it again at the end: an alias needs its anchor first
        lines.append(f"extra: *{name}")
    path = tmp_path / "anchored.yaml"
    path.write_text("\n".join(lines) + "\n")
    unusable(path, "anchors and aliases", f"line {i + 1}")


# ---- 1b. nesting depth -------------------------------------------------------------------------------------------
def nested(style: str, n: int) -> str:
    if style == "flow-seq":
        return "[" * n + "]" * n
    if style == "flow-map":
        return "{a: " * n + "1" + "}" * n
    if style == "block-seq":
        return "\n" + "".join("  " * (k + 1) + "-\n" for k in range(n - 1)) + "  " * n + "- x"
    return "\n" + "".join(" " * (k + 1) + f"k{k}:\n" for k in range(n - 1)) + " " * n + "z: 1"


@PROPS
@given(n=st.integers(min_value=33, max_value=3000), style=st.sampled_from(["flow-seq", "flow-map", "block-seq", "map"]))
def test_deep_yaml_is_refused_before_it_is_built(tmp_path: Path, n: int, style: str) -> None:
    path = tmp_path / "deep.yaml"
    if style in ("block-seq", "map"):
        n = 33 + n % 300  # indentation grows with depth: 3,000 levels would pass 1 MiB
    path.write_text(CASE_TEXT + "extra: " + nested(style, n) + "\n")
    unusable(path, "nested more than 32 levels")


def test_yaml_nested_100000_deep_does_not_crash_the_process(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("schema: mbcnav-case/1\na: " + "[" * 100_000 + "]" * 100_000 + "\n")
    rc, err, _, _ = run_cli("assess", str(path))
    assert rc == 2, err  # a segmentation fault in the C loader was -11
    assert "nested more than" in err


# ---- 1c. numbers of more than 4,300 digits -------------------------------------------------------------------------
@PROPS
@given(
    digits=st.integers(min_value=MAX_NUMBER_DIGITS + 1, max_value=30_000), form=st.sampled_from(["int", "sign", "0b"])
)
def test_overlong_number_in_a_case_file_is_an_input_error(tmp_path: Path, digits: int, form: str) -> None:
    number = {"int": "7" * digits, "sign": "-" + "7" * digits, "0b": "0b" + "1" * (digits * 4)}[form]
    path = tmp_path / "digits.yaml"
    path.write_text(CASE_TEXT.replace("cps: 15", f"cps: {number}", 1))
    unusable(path, f"more than {MAX_NUMBER_DIGITS} digits", "line 25")


@PROPS
@given(digits=st.integers(min_value=1, max_value=MAX_NUMBER_DIGITS))
def test_long_numbers_up_to_the_limit_are_read_or_refused_cleanly(tmp_path: Path, digits: int) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(CASE_TEXT.replace("cps: 15", f"cps: {'7' * digits}", 1))
    outcome(path)  # a schema error (CPS above 100) or a record; nothing else
    bundle = json.loads(EXAMPLES[4].read_text())
    text = json.dumps(bundle).replace('"value": 15', '"value": ' + "7" * digits, 1)
    path = tmp_path / "long.json"
    path.write_text(text)
    outcome(path)


@PROPS
@given(
    digits=st.integers(min_value=MAX_NUMBER_DIGITS + 1, max_value=30_000),
    example_no=st.integers(min_value=0, max_value=len(EXAMPLES) - 1),
    ndjson=st.booleans(),
)
def test_overlong_number_in_json_is_an_input_error(tmp_path: Path, digits: int, example_no: int, ndjson: bool) -> None:
    bundle = json.loads(EXAMPLES[example_no].read_text())
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["extension"] = [{"url": "http://example.org/n", "valueInteger": "@@"}]
    if ndjson:
        path = tmp_path / "digits.ndjson"
        text = "\n".join(json.dumps(e["resource"]) for e in bundle["entry"])
    else:
        path = tmp_path / "digits.json"
        text = json.dumps(bundle, indent=1)
    path.write_text(text.replace('"@@"', "9" * digits))
    unusable(path, f"more than {MAX_NUMBER_DIGITS} digits", "column")


# ---- 1d. YAML timestamps that cannot be built ----------------------------------------------------------------------
@PROPS
@given(
    year=st.integers(min_value=0, max_value=9999),
    month=st.integers(min_value=0, max_value=19),
    day=st.integers(min_value=0, max_value=39),
    hour=st.integers(min_value=0, max_value=29),
    offset=st.integers(min_value=-99, max_value=99),
    with_time=st.booleans(),
)
@example(year=2024, month=1, day=1, hour=10, offset=99, with_time=True)
@example(year=2024, month=2, day=30, hour=0, offset=0, with_time=False)
def test_unbuildable_timestamps_are_input_errors(
    tmp_path: Path, year: int, month: int, day: int, hour: int, offset: int, with_time: bool
) -> None:
    stamp = f"{year:04d}-{month:02d}-{day:02d}"
    if with_time:
        stamp += f" {hour:02d}:00:00{offset:+03d}:00"
    path = tmp_path / "stamp.yaml"
    path.write_text(CASE_TEXT.replace('diagnosis_date: "2021-03-15"', f"diagnosis_date: {stamp}", 1))
    assert f"diagnosis_date: {stamp}" in path.read_text()
    result = outcome(path)
    if with_time:  # a case file date has no time: refused by the schema, whatever the offset
        assert isinstance(result, UnusableInput)
    elif isinstance(result, Record):  # an impossible date is reported and left unknown, as when it is quoted
        onset = result.primaries[0].diagnosis_date if result.primaries else None
        try:
            real = date(year, month, day)
        except ValueError:
            real = None
        if real is None or real.year < 1900:
            assert onset is None
            assert any("diagnosis_date" in i.location or "onset" in i.location for i in result.input_issues)


@PROPS
@given(
    tag=st.sampled_from(["", "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!null ", "!!str ", "!!binary "]),
    value=st.sampled_from(['""', '"x"', "1e5", ".nan", "-.inf", ".inf", "0x", "0b", "1:2:3", "maybe", "[1]", "{a: 1}"])
    | st.text(alphabet="0123456789-+.:_exbTZ ", min_size=1, max_size=12),
)
@example(tag="", value=".nan")
@example(tag="!!bool ", value="maybe")
@example(tag="!!int ", value='""')
def test_explicit_tags_and_odd_scalars_never_crash(tmp_path: Path, tag: str, value: str) -> None:
    path = tmp_path / "tagged.yaml"
    path.write_text(CASE_TEXT.replace("cps: 15", f"cps: {tag}{value}", 1))
    result = outcome(path)
    if isinstance(result, Record):  # only a number in 0-100 can be a CPS
        cps = [r.cps for r in result.receptors if r.marker == "PD-L1" and r.cps is not None]
        assert all(0 <= c <= 100 for c in cps)
    if value.endswith(("nan", "inf")) and tag in ("", "!!float "):
        assert isinstance(result, UnusableInput) and "finite" in result.message


# ---- 1e. bounded reading -----------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("suffix", [".json", ".ndjson", ".yaml", ""])
def test_a_device_is_read_with_a_byte_limit(tmp_path: Path, suffix: str) -> None:
    link = tmp_path / f"zero{suffix}"
    link.symlink_to("/dev/zero")  # stat says 0 bytes; reading it never ends
    t0 = time.monotonic()
    unusable(link, "larger than")
    assert time.monotonic() - t0 < 10


@PROPS
@given(size=st.integers(min_value=0, max_value=5000), limit=st.integers(min_value=0, max_value=5000))
def test_read_bounded_reads_at_most_the_limit(tmp_path: Path, size: int, limit: int) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * size)
    if size <= limit:
        assert read_bounded(path, limit) == b"x" * size
    else:
        with pytest.raises(UnusableInput, match="larger than"):
            read_bounded(path, limit)


def test_an_oversized_case_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(CASE_TEXT + "#" + "x" * (1024 * 1024) + "\n")
    unusable(path, "larger than 1 MiB")


@pytest.mark.parametrize("marker", ["HER2", "ER", "PD-L1"])
@pytest.mark.parametrize("run", [" ", "1", "1 ", "3+", "cps "])
def test_long_runs_in_a_receptor_value_are_read_in_linear_time(marker: str, run: str) -> None:
    """A run of spaces (HER2 IHC pattern) or digits (percent pattern) took quadratic time: 20,000 characters took
    7-11 s, a 50 MiB file would never finish."""
    text = run * (200_000 // len(run))
    t0 = time.monotonic()
    read(observation({"text": marker}, valueString=text))
    assert time.monotonic() - t0 < 5


# ---- 2. blank coding display or text -------------------------------------------------------------------------------
BLANKS = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000\x1c\x85", max_size=4)


def blank_out(node: Any, blank: str, every: int, counter: list[int]) -> None:
    """Set every `every`-th display and text (of codings and CodeableConcepts) to `blank`."""
    if isinstance(node, dict):
        for k in list(node):
            if k in ("display", "text") and isinstance(node[k], str):
                counter[0] += 1
                if counter[0] % every == 0:
                    node[k] = blank
            else:
                blank_out(node[k], blank, every, counter)
    elif isinstance(node, list):
        for x in node:
            blank_out(x, blank, every, counter)


@PROPS
@given(
    blank=BLANKS,
    example_no=st.integers(min_value=0, max_value=len(EXAMPLES) - 1),
    every=st.integers(min_value=1, max_value=5),
)
def test_blank_displays_and_texts_crash_no_reader(blank: str, example_no: int, every: int) -> None:
    bundle = json.loads(EXAMPLES[example_no].read_text())
    blank_out(bundle, blank, every, [0])
    try:
        record = record_from_resources(flatten(bundle, "b.json:"), today=TODAY)
    except UnusableInput:
        return
    json.dumps(assess(record, as_of=TODAY).to_json(), allow_nan=False)
    from mbcnav.options import recommend
    from mbcnav.pathway import assess_with_response

    a, _ = assess_with_response(record, as_of=TODAY)
    json.dumps(recommend(a).as_json(a), allow_nan=False)


@PROPS
@given(blank=BLANKS)
def test_blank_gene_studied_is_no_gene(blank: str) -> None:
    bundle = json.loads((ROOT / "examples" / "fhir" / "06-germline-brca2.json").read_text())
    for e in bundle["entry"]:
        for comp in e["resource"].get("component", []):
            if any(c.get("code") == "48018-6" for c in comp["code"].get("coding", [])):
                comp["valueCodeableConcept"] = {"coding": [{"display": blank}], "text": blank}
    record = record_from_resources(flatten(bundle, "b.json:"), today=TODAY)
    assert record.genomics == ()
    assert any("without a gene" in i.message for i in record.input_issues)


# ---- 3. impossible marker values -----------------------------------------------------------------------------------
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1962-04-01"}
PRIMARY = PRIMARY_BREAST_CANCER


def observation(code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": code,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-01",
        **value,
    }


def read(obs: dict[str, Any]) -> Record:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (PATIENT, PRIMARY, obs)],
    }
    return record_from_resources(flatten(copy.deepcopy(bundle), "t.json:"), today=TODAY)


# (name, code, how the value is written, possible range, where the value lands in the Record)
MARKERS: list[tuple[str, dict[str, Any], str, tuple[float, float]]] = [
    ("PD-L1 CPS", {"text": "PD-L1 combined positive score (CPS)"}, "quantity", (0, 100)),
    ("PD-L1 CPS component", {"text": "PD-L1 22C3"}, "cps-component", (0, 100)),
    ("PD-L1 CPS text", {"text": "PD-L1"}, "cps-text", (0, 100)),
    ("ER percent", {"coding": [{"system": LOINC, "code": "16112-5"}]}, "quantity", (0, 100)),
    ("PR percent", {"coding": [{"system": LOINC, "code": "16113-3"}]}, "quantity", (0, 100)),
    ("Ki-67 percent", {"text": "Ki-67"}, "quantity", (0, 100)),
    ("ER percent component", {"coding": [{"system": LOINC, "code": "16112-5"}]}, "percent-component", (0, 100)),
    ("TMB", {"coding": [{"system": LOINC, "code": "94076-7"}]}, "quantity", (0, 1000)),
    ("TMB integer", {"coding": [{"system": LOINC, "code": "94076-7"}]}, "integer", (0, 1000)),
    ("ECOG", {"coding": [{"system": LOINC, "code": "89247-1"}]}, "integer", (0, 5)),
    ("Karnofsky", {"coding": [{"system": LOINC, "code": "89243-0"}]}, "integer", (0, 100)),
    ("tumour size", {"coding": [{"system": LOINC, "code": "21889-1"}]}, "size", (0, 500)),
]


def written(how: str, v: float) -> dict[str, Any]:
    if how == "quantity":
        return {"valueQuantity": {"value": v, "unit": "%"}}
    if how == "integer":
        return {"valueInteger": int(v)}
    if how == "cps-component":
        return {"component": [{"code": {"text": "CPS"}, "valueQuantity": {"value": v}}]}
    if how == "percent-component":
        return {"component": [{"code": {"text": "percent positive"}, "valueQuantity": {"value": v}}]}
    if how == "cps-text":
        return {"valueString": f"CPS {v:.0f}"}
    return {"valueQuantity": {"value": v, "unit": "mm"}}


def values_in(record: Record) -> list[float]:
    out: list[float] = []
    for r in record.receptors:
        out += [x for x in (r.percent, r.cps) if x is not None]
    out += [s.numeric for s in record.signatures if s.numeric is not None]
    out += [float(p.value) for p in record.performance]
    out += [m.size_mm for m in record.measurements if m.size_mm is not None]
    return out


def outside(bounds: tuple[float, float], integer: bool) -> st.SearchStrategy[float]:
    lo, hi = bounds
    below = st.integers(min_value=-(10**15), max_value=int(lo) - 1)
    above = st.integers(min_value=int(hi) + 1, max_value=10**15)  # beyond 10^9 no number is read at all
    if integer:
        return (below | above).map(float)
    return (
        (below | above).map(float)
        | st.floats(min_value=hi + 0.01, max_value=1e9)
        | st.floats(min_value=-1e9, max_value=lo - 0.01)
    )


@PROPS
@given(data=st.data(), which=st.sampled_from(range(len(MARKERS))))
@example(data=None, which=0)  # the issue's CPS of 1,000,000 (data=None: see below)
@example(data=None, which=7)  # a TMB of 1,000,000
def test_impossible_values_are_errors_and_never_facts(data: Any, which: int) -> None:
    name, code, how, bounds = MARKERS[which]
    integer = how in ("integer", "cps-text")
    v = 1_000_000.0 if data is None else data.draw(outside(bounds, integer), label="value")
    record = read(observation(code, **written(how, v)))
    assert v not in values_in(record), f"{name} {v} was used"
    errors = [i for i in record.input_issues if i.severity == "error" and i.location.startswith("t.json:entry[2]")]
    assert errors, f"{name} {v}: no error issue in {record.input_issues}"


@PROPS
@given(data=st.data(), which=st.sampled_from(range(len(MARKERS))))
def test_possible_values_are_kept(data: Any, which: int) -> None:
    name, code, how, (lo, hi) = MARKERS[which]
    if how in ("integer", "cps-text") or name == "Karnofsky":
        v = float(data.draw(st.integers(min_value=int(lo), max_value=int(hi))))
        if name == "Karnofsky":
            v = round(v, -1)
    else:
        v = round(data.draw(st.floats(min_value=lo, max_value=hi)), 1)
    if name.startswith("tumour"):
        v = max(v, 1.0)
    record = read(observation(code, **written(how, v)))
    assert v in values_in(record), f"{name} {v} was not kept: {record.input_issues}"
    assert not [i for i in record.input_issues if "impossible" in i.message]


def test_issue_example_cps_million_and_minus_one_drive_nothing() -> None:
    code = {"text": "PD-L1 combined positive score (CPS)"}
    for v in (1_000_000, -1):
        record = read(observation(code, valueQuantity={"value": v, "unit": "{score}"}))
        assert not [r for r in record.receptors if r.cps is not None]
        [issue] = [i for i in record.input_issues if "CPS" in i.message]
        assert issue.severity == "error" and issue.location == "t.json:entry[2].resource.valueQuantity.value"
