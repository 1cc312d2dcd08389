"""Service hours of the live agents: is it open now, and when does it open next.

Plain Python over `config/service_hours.json` (timezone, weekly schedule,
holidays, make-up workdays, a 24-hour option). No I/O but `load`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _span(pair) -> tuple[time, time]:
    start, end = (time.fromisoformat(v) for v in pair)
    if end <= start:
        raise ValueError(f"service hours {pair}: end must be after start")
    return start, end


@dataclass(frozen=True)
class ServiceHours:
    timezone: ZoneInfo
    weekly: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    workday_hours: tuple[tuple[time, time], ...] = ()
    always_open: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> "ServiceHours":
        weekly = {}
        for name, spans in (data.get("weekly") or {}).items():
            weekly[DAYS.index(name.lower()[:3])] = tuple(_span(p) for p in spans)
        return cls(
            timezone=ZoneInfo(data.get("timezone", "Asia/Shanghai")),
            weekly=weekly,
            holidays=frozenset(date.fromisoformat(d) for d in data.get("holidays", ())),
            workdays=frozenset(date.fromisoformat(d) for d in data.get("workdays", ())),
            workday_hours=tuple(_span(p) for p in data.get("workday_hours", ())),
            always_open=bool(data.get("always_open", False)),
        )

    @classmethod
    def load(cls, path) -> "ServiceHours":
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def spans_on(self, day: date) -> tuple[tuple[time, time], ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.workday_hours
        return self.weekly.get(day.weekday(), ())

    def local(self, when: datetime | float) -> datetime:
        if not isinstance(when, datetime):
            when = datetime.fromtimestamp(when, tz=self.timezone)
        return when.astimezone(self.timezone)

    def is_open(self, when: datetime | float) -> bool:
        if self.always_open:
            return True
        now = self.local(when)
        return any(start <= now.time() < end for start, end in self.spans_on(now.date()))

    def next_open(self, when: datetime | float, horizon_days: int = 60) -> datetime | None:
        """The next moment agents are on duty (now, if open); None if nothing within the horizon."""
        now = self.local(when)
        if self.is_open(now):
            return now
        for offset in range(horizon_days + 1):
            day = now.date() + timedelta(days=offset)
            for start, _ in sorted(self.spans_on(day)):
                moment = datetime.combine(day, start, tzinfo=self.timezone)
                if moment > now:
                    return moment
        return None

    def describe_next_open(self, when: datetime | float) -> str | None:
        """Chinese wording for when agents are back: "今天 09:00", "明天 09:00", "10月8日（周四）09:00";
        None if no opening is scheduled within the horizon."""
        moment = self.next_open(when)
        if moment is None:
            return None
        today = self.local(when).date()
        clock = moment.strftime("%H:%M")
        if moment.date() == today:
            return f"今天 {clock}"
        if moment.date() == today + timedelta(days=1):
            return f"明天 {clock}"
        return f"{moment.month}月{moment.day}日（{WEEKDAY_NAMES[moment.weekday()]}）{clock}"
