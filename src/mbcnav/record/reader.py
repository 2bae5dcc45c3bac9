"""Load a record from disk (FHIR Bundle, single resource, NDJSON, folder, or YAML case file) for one patient."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mbcnav.record.model import InputIssue, Record

MAX_INPUT_BYTES = 50 * 1024 * 1024  # one FHIR JSON / NDJSON file
MAX_NUMBER_DIGITS = 4300  # Python's int <-> str limit (sys.int_info.default_max_str_digits)


class UnusableInput(Exception):
    """The input cannot be used at all; `problems` say what and where."""

    def __init__(self, message: str, problems: list[InputIssue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


@dataclass(frozen=True, slots=True)
class Located:
    """A FHIR resource as plain JSON, with where it sat in the input (for messages)."""

    resource: dict[str, Any]
    location: str
    full_url: str | None = None


def _json_error(path: Path, exc: json.JSONDecodeError) -> UnusableInput:
    return UnusableInput(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")


class _TooManyDigits(Exception):
    """An integer literal longer than Python converts (sys.int_info.default_max_str_digits)."""


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _TooManyDigits
    return int(literal)


def _digits_error(text: str, where: str) -> UnusableInput:
    """Name the line and column of the first over-long number (only on the error path, so the scan is cheap)."""
    m = next((m for m in re.finditer(r"\d+", text) if m.end() - m.start() > MAX_NUMBER_DIGITS), None)  # linear
    at = ""
    if m:
        column = m.start() - text.rfind("\n", 0, m.start())
        line = f"line {text.count(chr(10), 0, m.start()) + 1}, " if "\n" in text else ""
        at = f" ({line}column {column})"
    return UnusableInput(f"{where}: a number has more than {MAX_NUMBER_DIGITS} digits{at}; not a usable value")


def loads_json(text: str) -> Any:
    """json.loads that refuses over-long integers with _TooManyDigits instead of an uncaught ValueError."""
    return json.loads(text, parse_int=_parse_int)


def _load_json_text(text: str, path: Path) -> Any:
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise _json_error(path, exc) from None
    except _TooManyDigits:
        raise _digits_error(text, str(path)) from None
    except RecursionError:
        raise UnusableInput(f"{path}: JSON nested too deeply") from None


def read_bounded(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """At most `limit` bytes of a file, or UnusableInput: the size is counted while reading, never taken from
    `stat` (a device such as /dev/zero, a pipe or /proc file reports a size of 0)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise UnusableInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
        raise UnusableInput(f"{path}: larger than {size}; not read")
    return data


def _read_text(path: Path, limit: int = MAX_INPUT_BYTES) -> str:
    data = read_bounded(path, limit)
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is tolerated
    except UnicodeDecodeError:
        raise UnusableInput(f"{path}: not UTF-8 text (a FHIR JSON file or a YAML case file was expected)") from None


def flatten(doc: Any, where: str) -> list[Located]:
    """Resources of a Bundle (any type) or a single resource, each with its location."""
    if not isinstance(doc, dict):
        raise UnusableInput(
            f"{where.rstrip(':')}: not a FHIR resource (expected a JSON object, got {type(doc).__name__})"
        )
    rtype = doc.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise UnusableInput(f"{where.rstrip(':')}: not a FHIR resource (no resourceType)")
    if rtype != "Bundle":
        return [Located(doc, where.rstrip(":"))]
    entries = doc.get("entry", [])
    if not isinstance(entries, list):
        raise UnusableInput(f"{where.rstrip(':')}: Bundle.entry is not a list")
    out: list[Located] = []
    for i, e in enumerate(entries):
        loc = f"{where}entry[{i}].resource" if where.endswith(":") else f"{where}.entry[{i}].resource"
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            out.append(Located({"resourceType": "__invalid__"}, loc))
            continue
        res = e["resource"]
        full = e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None
        if res.get("resourceType") == "Bundle":
            out += flatten(res, loc)
        else:
            out.append(Located(res, loc, full))
    return out


def load_resources(path: Path) -> list[Located]:
    """Every resource in a path; raise UnusableInput for unreadable, non-JSON or non-FHIR input."""
    if not path.exists():
        raise UnusableInput(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".ndjson") and p.is_file())
        if not files:
            raise UnusableInput(f"{path}: folder holds no .json or .ndjson files")
        out: list[Located] = []
        for f in files:
            out += load_resources(f)
        return out
    if path.suffix in (".yaml", ".yml"):
        from mbcnav.record.casefile import case_to_bundle, load_case

        return flatten(case_to_bundle(load_case(path)), f"{path.name}:")
    text = _read_text(path)
    if path.suffix == ".ndjson":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    doc = loads_json(line)
                except json.JSONDecodeError as exc:
                    raise UnusableInput(f"{path}: line {n}: not valid JSON ({exc.msg})") from None
                except _TooManyDigits:
                    raise _digits_error(line, f"{path}: line {n}") from None
                except RecursionError:
                    raise UnusableInput(f"{path}: line {n}: JSON nested too deeply") from None
                out += flatten(doc, f"{path.name}:{n}:")
        return out
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        raise UnusableInput(f"{path}: not a FHIR JSON file (it does not start with '{{'); case files must end in .yaml")
    return flatten(_load_json_text(text, path), f"{path.name}:")


def read_path(
    path: str | Path,
    *,
    strict: bool = False,
    today: date | None = None,
    patient_id: str | None = None,
    as_of: date | None = None,
) -> Record:
    """Read one patient's record. Problems become `input_issues`; with strict=True any problem rejects it.
    With `as_of` the record is read as known on that date (later facts left out, said once; not a problem)."""
    from mbcnav.record.fhir import AS_OF_LOCATION, record_from_resources

    resources = load_resources(Path(path))
    record = record_from_resources(resources, today=today or date.today(), patient_id=patient_id, as_of=as_of)
    problems = [i for i in record.input_issues if i.location != AS_OF_LOCATION]
    if strict and problems:
        raise UnusableInput(f"{path}: rejected in strict mode ({len(problems)} problem(s))", problems)
    return record
