"""What the commands share: help texts and argument types. How a command ends (exit codes, OperationOutcome, user
and output errors) and how it reads PATH is mbcnav.outcome, used by every command and by nothing below them."""

from __future__ import annotations

import argparse
from datetime import date

FORMAT_HELP = "text (readable, the default) or json (the versioned contract; an OperationOutcome when unusable)"
STRICT_HELP = "reject the input when any problem is found (default: keep what can be read and list the problems)"
PATIENT_HELP = "patient id, when the input holds more than one patient"
AS_OF_HELP = "read the record as known on this date: later facts are left out (default: today)"
PATH_HELP = (
    "FHIR R4 JSON (Bundle, resource, NDJSON), a .yaml case file, or a folder of such files read together as one "
    "patient (--patient ID picks one when it holds several)"
)


def as_of_date(text: str) -> date:
    """YYYY-MM-DD, else an argparse error (exit 2 with the usage)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def iso_date(text: str) -> str:
    """YYYY-MM-DD as text (normalised), else an argparse error."""
    return as_of_date(text).isoformat()


def positive(text: str) -> int:
    """A whole number above 0, else an argparse error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value
