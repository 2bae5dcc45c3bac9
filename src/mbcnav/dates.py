"""Partial FHIR dates (year, year-month, full date) that keep the precision they were given."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Precision = Literal["year", "month", "day"]

# FHIR R4 date / dateTime lexical forms (http://hl7.org/fhir/R4/datatypes.html#date); time and zone are ignored:
# clinical intervals here are counted in days.
_DATE_RE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?(?:T[0-9:.+\-Z]*)?$")

AVERAGE_MONTH_DAYS = 365.25 / 12


class DateError(ValueError):
    """A value that is not a valid FHIR date."""


@dataclass(frozen=True, slots=True, order=True)
class PartialDate:
    """A date known to day, month or year precision; `earliest`/`latest` bound what it can mean."""

    earliest: date
    precision: Precision

    @property
    def latest(self) -> date:
        if self.precision == "day":
            return self.earliest
        if self.precision == "month":
            last = calendar.monthrange(self.earliest.year, self.earliest.month)[1]
            return self.earliest.replace(day=last)
        return self.earliest.replace(month=12, day=31)

    def isoformat(self) -> str:
        if self.precision == "year":
            return f"{self.earliest.year:04d}"
        if self.precision == "month":
            return f"{self.earliest.year:04d}-{self.earliest.month:02d}"
        return self.earliest.isoformat()

    def __str__(self) -> str:
        return self.isoformat()

    @classmethod
    def of(cls, value: date) -> PartialDate:
        return cls(value, "day")

    @classmethod
    def parse(cls, text: object) -> PartialDate:
        """Parse a FHIR date or dateTime; raise DateError with the reason when it is not one."""
        if isinstance(text, date):
            return cls(text, "day")
        if not isinstance(text, str):
            raise DateError(f"expected a date string, got {type(text).__name__}")
        m = _DATE_RE.match(text.strip())
        if not m:
            raise DateError(f"not a FHIR date: {text[:40]!r}")
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        try:
            if day is not None and month is not None:
                return cls(date(year, int(month), int(day)), "day")
            if month is not None:
                return cls(date(year, int(month), 1), "month")
            return cls(date(year, 1, 1), "year")
        except ValueError as exc:
            raise DateError(f"impossible date {text[:40]!r}: {exc}") from None

    def is_future(self, today: date) -> bool:
        return self.earliest > today

    def plus_days(self, days: int) -> PartialDate:
        return PartialDate(self.earliest + timedelta(days=days), self.precision)


@dataclass(frozen=True, slots=True)
class Interval:
    """The span between two partial dates, as a range of days (exact when both are day-precise)."""

    min_days: int
    max_days: int

    @property
    def exact(self) -> bool:
        return self.min_days == self.max_days

    @property
    def mid_months(self) -> float:
        return round((self.min_days + self.max_days) / 2 / AVERAGE_MONTH_DAYS, 1)


def interval(start: PartialDate, end: PartialDate) -> Interval:
    """Days from start to end, bounded by what each date's precision allows."""
    lo = (end.earliest - start.latest).days
    hi = (end.latest - start.earliest).days
    return Interval(lo, hi)


def months_to_days(months: float) -> int:
    return round(months * AVERAGE_MONTH_DAYS)
