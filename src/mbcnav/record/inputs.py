"""Input before it is understood: the error every reader raises (UnusableInput), a resource with its place in the
input (Located), bounded reading and strict JSON parsing (files and request bodies).

fhir.py and casefile.py import this module, and reader.py (which calls both) sits above them: the record package
has no import cycle. Every name here is also importable from mbcnav.record.reader, where it used to live."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbcnav.record.model import InputIssue

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


def parse_json_bytes(data: bytes, where: str, limit: int = MAX_INPUT_BYTES) -> Any:
    """A JSON document from bytes (a request body): bounded, UTF-8 (a byte-order mark tolerated), a clear error."""
    if len(data) > limit:
        raise UnusableInput(f"{where}: larger than {limit // (1024 * 1024)} MiB; not read")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnusableInput(f"{where}: not UTF-8 text (FHIR JSON was expected)") from None
    if not text.lstrip().startswith(("{", "[")):
        raise UnusableInput(f"{where}: not FHIR JSON (it does not start with '{{')")
    return _load_json_text(text, Path(where))


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
