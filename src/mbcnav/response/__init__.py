"""Tumour response over time: RECIST 1.1 per line of therapy, and the plots oncologists read. The assessment
that knows RECIST progression is mbcnav.pathway (above this package)."""

from mbcnav.response.engine import ResponseReport, evaluate_response

__all__ = ["ResponseReport", "evaluate_response"]
