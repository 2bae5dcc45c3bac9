"""Pure functions from a Record to an Assessment: stage, presentation, subtype, sites, resistance, lines, unknowns."""

from mbcnav.assess.assessment import Assessment, assess

__all__ = ["Assessment", "assess"]
