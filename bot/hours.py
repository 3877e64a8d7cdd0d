"""The team's business hours: weekly spans in one time zone, and holidays.

Read from the settings (business_hours, business_timezone, business_holidays); a mistake is a
ValueError naming the setting and the value. is_open() and next_open() take an aware time, so
tests pass the moment they need instead of waiting for it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {name: i for i, name in enumerate(DAYS)} | {
    name: i
    for i, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
HOLIDAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:\s+(.*))?$")
SEARCH_DAYS = 400  # next_open looks this far ahead (a year of holidays cannot hide it)

Span = tuple[dt.time, dt.time | None]  # None as the end: midnight at the end of the day


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; an unknown name is a ValueError saying so."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'America' is a folder
        raise ValueError(
            f"'{name}' is not a time zone (use an IANA name like Europe/Paris)"
        ) from None


def _spans(day: str, text: str) -> list[Span]:
    if text.strip().lower() in ("closed", "off", ""):
        return []
    spans: list[Span] = []
    for part in text.split(","):
        match = SPAN.match(part)
        if not match:
            raise ValueError(
                f"business_hours.{day}: '{part.strip()}' is not a span like 08:00-20:00"
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"business_hours.{day}: '{part.strip()}' is not a time of day")
        start, end = dt.time(h1, m1), None if h2 == 24 else dt.time(h2, m2)
        if end is not None and end <= start:
            raise ValueError(f"business_hours.{day}: '{part.strip()}' ends before it starts")
        spans.append((start, end))
    return sorted(spans, key=lambda s: s[0])


@dataclass(frozen=True)
class BusinessHours:
    """When people answer: spans per weekday (0 Monday) in tz, minus the holidays."""

    tz: ZoneInfo
    week: dict[int, list[Span]] = field(default_factory=dict)
    holidays: dict[dt.date, str] = field(default_factory=dict)
    always: bool = False  # no hours set: every day, all day

    @classmethod
    def parse(
        cls, hours: dict[str, str], timezone: str, holidays: list[str] | None = None
    ) -> BusinessHours:
        """From the settings' forms; an empty hours table means always open."""
        week: dict[int, list[Span]] = {i: [] for i in range(7)}
        for key, value in hours.items():
            day = DAY_NAMES.get(key.strip().lower())
            if day is None:
                raise ValueError(f"business_hours: '{key}' is not a weekday (mon ... sun)")
            week[day] = _spans(key, str(value))
        off: dict[dt.date, str] = {}
        for item in holidays or []:
            match = HOLIDAY.match(item)
            try:
                day = dt.date.fromisoformat(match.group(1)) if match else None
            except ValueError:
                day = None
            if day is None:
                raise ValueError(f"business_holidays: '{item}' is not a date like 2026-12-25")
            off[day] = (match.group(2) or "").strip()
        return cls(zone(timezone), week, off, always=not hours)

    @classmethod
    def from_settings(cls, settings) -> BusinessHours:
        """The settings' business hours."""
        return cls.parse(
            settings.business_hours, settings.business_timezone, settings.business_holidays
        )

    def _open_spans(self, day: dt.date) -> list[Span]:
        if day in self.holidays:
            return []
        if self.always:
            return [(dt.time(0), None)]
        return self.week.get(day.weekday(), [])

    def is_open(self, moment: dt.datetime) -> bool:
        """True inside a span of the moment's day in the team's time zone."""
        local = moment.astimezone(self.tz)
        now = local.time()
        return any(
            start <= now and (end is None or now < end)
            for start, end in self._open_spans(local.date())
        )

    def next_open(self, moment: dt.datetime) -> dt.datetime | None:
        """When people are next in (the moment itself if open now); None if never."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.tz)
        for offset in range(SEARCH_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            for start, _ in self._open_spans(day):
                opening = dt.datetime.combine(day, start, tzinfo=self.tz)
                if opening > local:
                    return opening
        return None

    def describe_week(self) -> list[tuple[str, str]]:
        """(weekday, spans) for display: ('Monday', '08:00-20:00')."""
        names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        if self.always:
            return [(name, "all day") for name in names]
        out = []
        for i, name in enumerate(names):
            spans = self.week.get(i, [])
            text = ", ".join(
                f"{s:%H:%M}-{'24:00' if e is None else format(e, '%H:%M')}" for s, e in spans
            )
            out.append((name, text or "closed"))
        return out


def customer_zone(metadata: dict | None) -> ZoneInfo | None:
    """The time zone the widget sent with a message (metadata 'timezone'), if it is a real one."""
    name = (metadata or {}).get("timezone")
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        return None
    try:
        return zone(name)
    except ValueError:
        return None
