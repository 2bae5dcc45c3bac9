"""Treatment options for this patient: offered (tiered), not offered (with why), tests and referrals."""

from mbcnav.options.engine import OptionsResult, recommend

__all__ = ["OptionsResult", "recommend"]
