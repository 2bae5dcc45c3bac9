"""Tumour response over time: RECIST 1.1 per line of therapy, and the plots oncologists read."""

from mbcnav.response.engine import ResponseReport, assess_with_response, evaluate_response

__all__ = ["ResponseReport", "assess_with_response", "evaluate_response"]
