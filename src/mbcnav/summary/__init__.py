"""The second-opinion packet: one case summary as an IPS FHIR document and as clinician and patient pages (HTML/PDF)."""

from mbcnav.summary.document import CaseSummary, build_summary

__all__ = ["CaseSummary", "build_summary"]
