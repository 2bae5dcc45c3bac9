"""Code-system URIs and small helpers to read CodeableConcepts from plain FHIR JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
HGNC = "http://www.genenames.org/geneId"
AJCC = "http://cancerstaging.org"
UCUM = "http://unitsofmeasure.org"
MBCNAV_CS = "https://mbcnav.org/fhir/CodeSystem"
MBCNAV_SD = "https://mbcnav.org/fhir/StructureDefinition"

SYSTEM_ALIASES = {"snomed": SNOMED, "loinc": LOINC, "icd10": ICD10CM, "rxnorm": RXNORM}


def system_key(system: str | None) -> str:
    """Short key for a code system, treating ICD-10 and ICD-10-CM alike (their breast codes agree)."""
    if not system:
        return ""
    s = system.rstrip("/")
    if s == SNOMED:
        return "snomed"
    if s == LOINC:
        return "loinc"
    if s in (ICD10CM, ICD10) or "icd-10" in s or "icd10" in s:
        return "icd10"
    if s == RXNORM or "rxnorm" in s:
        return "rxnorm"
    return s


def codings(concept: Any) -> Iterator[tuple[str, str, str]]:
    """(system key, code, display) of each coding of a CodeableConcept-like dict; tolerant of bad shapes."""
    if not isinstance(concept, dict):
        return
    raw = concept.get("coding")
    if not isinstance(raw, list):
        return
    for c in raw:
        if isinstance(c, dict):
            code = c.get("code")
            display = c.get("display")
            yield (
                system_key(c.get("system") if isinstance(c.get("system"), str) else None),
                code.strip() if isinstance(code, str) else "",  # blank or padded -> "" or the bare code
                display.strip() if isinstance(display, str) else "",
            )


def texts(concept: Any) -> list[str]:
    """Every human-readable string of a CodeableConcept: its text and its codings' displays (blank ones left out,
    so a reader never sees a whitespace-only label)."""
    out: list[str] = []
    if isinstance(concept, dict):
        t = concept.get("text")
        if isinstance(t, str) and t.strip():
            out.append(t.strip())
        out += [d for _, _, d in codings(concept) if d]
    return out


def has_code(concept: Any, system: str, *codes: str) -> bool:
    return any(s == system and c in codes for s, c, _ in codings(concept))


def first_code(concept: Any, system: str) -> str | None:
    for s, c, _ in codings(concept):
        if s == system and c:
            return c
    return None


def words_pattern(items: list[str]) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of a vocabulary table's word patterns as whole words."""
    return re.compile(r"\b(?:" + "|".join(items) + r")\b", re.IGNORECASE)
