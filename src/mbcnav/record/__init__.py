"""The patient as mbcnav understands it: typed facts with dates and provenance, read from FHIR or a case file."""

from mbcnav.record.model import Record
from mbcnav.record.reader import UnusableInput, read_path

__all__ = ["Record", "UnusableInput", "read_path"]
