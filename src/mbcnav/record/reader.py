"""Load a record from disk (FHIR Bundle, single resource, NDJSON, folder, or YAML case file) for one patient."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from mbcnav.record.inputs import (
    MAX_INPUT_BYTES,
    MAX_NUMBER_DIGITS,
    Located,
    UnusableInput,
    _digits_error,
    _load_json_text,
    _read_text,
    _TooManyDigits,
    flatten,
    loads_json,
    parse_json_bytes,
    read_bounded,
)
from mbcnav.record.model import Record

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_NUMBER_DIGITS",
    "Located",
    "UnusableInput",
    "flatten",
    "load_resources",
    "loads_json",
    "parse_json_bytes",
    "read_bounded",
    "read_path",
]


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
        from mbcnav.record.casefile import case_to_bundle, load_case  # when needed: a fast start for other commands

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
