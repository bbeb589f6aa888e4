"""Report periods: a day or an ISO week (Monday to Sunday), the previous period, and the query parameters.

Pure arithmetic on `datetime.date` (no clock, no time zone: the lake partitions are UTC days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["day", "week"]
PERIOD_KINDS: tuple[str, ...] = ("day", "week")

# The longest look-back of any query: MAU (30 days ending on a day) and D30 retention (cohort 30 days before).
LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date
    end: date  # inclusive

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        """The day itself, or the ISO week (Monday..Sunday) that contains it."""
        if kind == "day":
            return cls(kind, day, day)
        if kind == "week":
            monday = day - timedelta(days=day.weekday())
            return cls(kind, monday, monday + timedelta(days=6))
        raise ValueError(f"unknown period kind {kind!r}; expected one of {PERIOD_KINDS}")

    @classmethod
    def last_complete(cls, kind: PeriodKind, today: date) -> Period:
        """What a scheduled run on `today` reports: yesterday, or the week that contains yesterday.

        A daily run reports the day before; a weekly run on Monday reports the week that ended on Sunday.
        """
        return cls.containing(kind, today - timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        length = timedelta(days=self.days)
        return Period(self.kind, self.start - length, self.end - length)

    @property
    def key(self) -> str:
        """Stable identifier of the period, used in the send record and in file names."""
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"week-{year}-W{week:02d}"
        return f"day-{self.start.isoformat()}"

    @property
    def label(self) -> str:
        """Human label for the e-mail subject and headline."""
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"week {week} of {year} ({self.start:%d %b} - {self.end:%d %b %Y})"
        return f"{self.start:%A %d %B %Y}"

    def query_parameters(self, min_exposed_per_variant: int) -> dict[str, date | int]:
        """Values of every placeholder the report queries use (docs/reports.md, "Parameters")."""
        return {
            "start_date": self.start,
            "end_date": self.end,
            "lookback_start_date": self.start - timedelta(days=LOOKBACK_DAYS),
            # Experiments read from the period's start unless one has an earlier configured start
            # (report.collect lowers it; docs/experiments.md).
            "experiments_start_date": self.start,
            "min_exposed_per_variant": min_exposed_per_variant,
        }
