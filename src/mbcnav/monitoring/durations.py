"""ISO 8601 durations (P3M, P12W, P21D) added to dates, month ends clamped (31 Jan + P1M = 28/29 Feb)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_ISO = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


@dataclass(frozen=True, slots=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0  # weeks are stored as days

    @classmethod
    def parse(cls, text: str) -> Duration:
        m = _ISO.match(text)
        if not m:
            raise ValueError(f"not an ISO 8601 duration (PnYnMnWnD): {text!r}")
        y, mo, w, d = (int(g) if g else 0 for g in m.groups())
        return cls(y, mo, w * 7 + d)

    def add_to(self, day: date) -> date:
        month0 = day.month - 1 + self.months + 12 * self.years
        year, month = day.year + month0 // 12, month0 % 12 + 1
        shifted = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
        return shifted + timedelta(days=self.days)

    def text(self) -> str:
        """Readable: '3 months', '12 weeks', '21 days'."""
        parts = []
        if self.years:
            parts.append(f"{self.years} year{'s' if self.years != 1 else ''}")
        if self.months:
            parts.append(f"{self.months} month{'s' if self.months != 1 else ''}")
        if self.days:
            weeks, rest = divmod(self.days, 7)
            if weeks and not rest:
                parts.append(f"{weeks} week{'s' if weeks != 1 else ''}")
            else:
                parts.append(f"{self.days} day{'s' if self.days != 1 else ''}")
        return " ".join(parts) or "0 days"


def add(day: date, iso: str) -> date:
    """`day` plus an ISO 8601 duration."""
    return Duration.parse(iso).add_to(day)
