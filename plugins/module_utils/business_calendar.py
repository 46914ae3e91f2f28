# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The business calendar as data: freeze windows (month-end close, payroll runs, quarter and year end,
explicit ranges) and the one answer everybody asks of it - is this instant inside a window, which one,
and when does the freeze end.

A window is a dict (``odoo_ops_freeze_windows`` in an inventory):

    name: month-end close             # required, what reports and refusals show
    reason: invoices and accruals     # required
    kind: month_end | quarter_end | year_end | payroll | range
    timezone: Europe/Berlin           # the customer's (IANA name), default UTC
    fleets: [shared1]                 # optional scope; none of fleets/tenants = the whole platform
    tenants: [acme]
    holidays: [2026-12-24, ...]       # days that are not business days (kinds that count business days)
    weekend: [saturday, sunday]       # the default

    month_end / quarter_end / year_end: last_business_days N, first_business_days M (0-15 each, not
        both 0): the last N business days of the month (of a quarter's or year's last month) and the
        first M business days of the next month; the window runs from the first of those days at 00:00
        to the end of the last, in the window's time zone, weekends and holidays between included.
    payroll: day_of_month D (1-31; a short month uses its last day) or weekday (monday..sunday, every
        week), start "HH:MM" (default 00:00) local, duration_hours (1-168, default 24; elapsed hours, so
        a window across a DST change lasts exactly that long).
    range: start, end - ISO 8601 timestamps; without an offset they are read in the window's time zone.

Days are local days: a window "from Monday 00:00 to Tuesday 24:00 in Europe/Berlin" is 47 or 49 hours
long across a DST change, as the customer's clock says.
"""

import datetime

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    HAS_ZONEINFO = True
except ImportError:  # Python < 3.9: no IANA zones, only UTC
    ZoneInfo = ZoneInfoNotFoundError = None
    HAS_ZONEINFO = False

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import parse_timestamp, utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_int

KINDS = ("month_end", "quarter_end", "year_end", "payroll", "range")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLOSE_MONTHS = {"month_end": tuple(range(1, 13)), "quarter_end": (3, 6, 9, 12), "year_end": (12,)}
COMMON_KEYS = {"name", "reason", "kind", "timezone", "fleets", "tenants"}
KIND_KEYS = {
    "month_end": {"last_business_days", "first_business_days", "holidays", "weekend"},
    "quarter_end": {"last_business_days", "first_business_days", "holidays", "weekend"},
    "year_end": {"last_business_days", "first_business_days", "holidays", "weekend"},
    "payroll": {"day_of_month", "weekday", "start", "duration_hours"},
    "range": {"start", "end"},
}
MAX_BUSINESS_DAYS = 15
MAX_DURATION_HOURS = 168
MAX_WALK_DAYS = 92  # a close window's business days are found within a quarter, or the holidays are wrong
# How far around the asked instant occurrences are generated: enough to find the window holding it
# (the longest lasts a month at most), the chain of windows after it, and the next one to come.
HORIZON_MONTHS = 14

UTC = datetime.timezone.utc


class Window:
    """One validated window: what it is, and its occurrences as [start, end) intervals in UTC."""

    def __init__(self, spec, index):
        if not isinstance(spec, dict):
            raise Refused("freeze window #%d must be a mapping, not %r" % (index, spec))
        self.name = _text(spec.get("name"), "freeze window #%d: name" % index)
        where = "freeze window %r" % self.name
        self.reason = _text(spec.get("reason"), "%s: reason" % where)
        self.kind = spec.get("kind")
        if self.kind not in KINDS:
            raise Refused("%s: kind %r is not one of %s" % (where, self.kind, ", ".join(KINDS)))
        unknown = sorted(set(spec) - COMMON_KEYS - KIND_KEYS[self.kind])
        if unknown:
            known = ", ".join(sorted(COMMON_KEYS | KIND_KEYS[self.kind]))
            raise Refused("%s: %s not known for kind %s (known: %s)" % (where, ", ".join(unknown), self.kind, known))
        self.zone = zone(spec.get("timezone") or "UTC", where)
        self.fleets = _names(spec.get("fleets"), "%s: fleets" % where)
        self.tenants = _names(spec.get("tenants"), "%s: tenants" % where)
        kind = "close" if self.kind in CLOSE_MONTHS else self.kind
        getattr(self, "_check_" + kind)(spec, where)
        self._occurrences = getattr(self, "_" + kind)

    def applies_to(self, fleet=None, tenant=None):
        """True when the window covers this fleet or tenant (a window without scope covers all)."""
        if not self.fleets and not self.tenants:
            return True
        return (fleet is not None and fleet in self.fleets) or (tenant is not None and tenant in self.tenants)

    def occurrences(self, around):
        """[(start, end)] in UTC, sorted, of the occurrences from about a month before `around` to
        HORIZON_MONTHS after it."""
        return sorted(self._occurrences(around.astimezone(self.zone).date()))

    # month_end, quarter_end, year_end -------------------------------------------------------------
    def _check_close(self, spec, where):
        self.last = _bounded(spec.get("last_business_days", 0), "%s: last_business_days" % where, 0, MAX_BUSINESS_DAYS)
        self.first = _bounded(spec.get("first_business_days", 0), "%s: first_business_days" % where, 0, MAX_BUSINESS_DAYS)
        if self.last == 0 and self.first == 0:
            raise Refused("%s: last_business_days and first_business_days are both 0: the window would be empty" % where)
        self.holidays = frozenset(_day(day, "%s: holidays" % where) for day in spec.get("holidays") or [])
        weekend = spec.get("weekend", ["saturday", "sunday"])
        self.weekend = frozenset(_weekday(day, "%s: weekend" % where) for day in weekend or [])
        if len(self.weekend) == 7:
            raise Refused("%s: weekend covers every day: there would be no business day" % where)

    def _business(self, day):
        return day.weekday() not in self.weekend and day not in self.holidays

    def _business_days(self, first_of_month, step, count):
        """`count` business days walking from the first of a month: backwards (step -1, the days before
        it) or forwards (step 1, from it on)."""
        found = []
        day = first_of_month if step > 0 else first_of_month - datetime.timedelta(days=1)
        for _walked in range(MAX_WALK_DAYS):
            if len(found) == count:
                return found
            if self._business(day):
                found.append(day)
            day += datetime.timedelta(days=step)
        raise Refused(
            "freeze window %r: fewer than %d business days within %d days of %s (holidays cover them)" % (self.name, count, MAX_WALK_DAYS, first_of_month)
        )

    def _close(self, around):
        found = []
        for year, month in _months(around, -2, HORIZON_MONTHS):
            if month not in CLOSE_MONTHS[self.kind]:
                continue
            next_month = _first_of_next_month(year, month)
            chosen = self._business_days(next_month, -1, self.last) + self._business_days(next_month, 1, self.first)
            found.append((self._local_midnight(min(chosen)), self._local_midnight(max(chosen) + datetime.timedelta(days=1))))
        return found

    # payroll --------------------------------------------------------------------------------------
    def _check_payroll(self, spec, where):
        if (spec.get("day_of_month") is None) == (spec.get("weekday") is None):
            raise Refused("%s: give exactly one of day_of_month (1-31) and weekday (monday..sunday)" % where)
        self.day_of_month = None if spec.get("day_of_month") is None else _bounded(spec["day_of_month"], "%s: day_of_month" % where, 1, 31)
        self.weekday = None if spec.get("weekday") is None else _weekday(spec["weekday"], "%s: weekday" % where)
        self.start = _clock(spec.get("start", "00:00"), "%s: start" % where)
        self.duration = datetime.timedelta(hours=_bounded(spec.get("duration_hours", 24), "%s: duration_hours" % where, 1, MAX_DURATION_HOURS))

    def _payroll(self, around):
        if self.day_of_month is not None:
            days = []
            for year, month in _months(around, -2, HORIZON_MONTHS):
                last_day = (_first_of_next_month(year, month) - datetime.timedelta(days=1)).day
                days.append(datetime.date(year, month, min(self.day_of_month, last_day)))
        else:
            first = around - datetime.timedelta(days=40)
            first += datetime.timedelta(days=(self.weekday - first.weekday()) % 7)
            days = [first + datetime.timedelta(weeks=week) for week in range(int(HORIZON_MONTHS * 31 / 7) + 7)]
        found = []
        for day in days:
            start = _aware(datetime.datetime.combine(day, self.start), self.zone).astimezone(UTC)
            found.append((start, start + self.duration))
        return found

    # range ----------------------------------------------------------------------------------------
    def _check_range(self, spec, where):
        self.range_start = _instant(spec.get("start"), "%s: start" % where, self.zone)
        self.range_end = _instant(spec.get("end"), "%s: end" % where, self.zone)
        if self.range_end <= self.range_start:
            raise Refused("%s: end %s is not after start %s" % (where, _iso(self.range_end), _iso(self.range_start)))

    def _range(self, around):  # pylint: disable=unused-argument
        return [(self.range_start, self.range_end)]

    def _local_midnight(self, day):
        return _aware(datetime.datetime.combine(day, datetime.time()), self.zone).astimezone(UTC)


def windows_from(specs):
    """Validated Window objects from a list of window specs (None or [] for no windows)."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise Refused("freeze windows must be a list of mappings, not %r" % (specs,))
    windows = [Window(spec, index) for index, spec in enumerate(specs, 1)]
    names = [window.name for window in windows]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise Refused("freeze window names must be unique: %s given twice" % ", ".join(repr(n) for n in twice))
    return windows


def freeze_status(specs, at=None, fleet=None, tenant=None):
    """Is `at` (an aware datetime or an ISO 8601 timestamp with its zone; default now) inside a window
    covering this fleet or tenant (none given: every window)?

    Returns {frozen, at, windows: [{name, reason, kind, start, end}] holding `at`, ends: when the freeze
    ends (windows that overlap or touch the active ones extend it), next: the next window to start after
    `at` (or None)}. Timestamps are ISO 8601 in UTC.
    """
    windows = windows_from(specs)
    instant = utc_now() if at is None else (at if isinstance(at, datetime.datetime) else parse_timestamp(at, "at"))
    if instant.tzinfo is None:
        raise Refused("at %r has no time zone" % (instant,))
    instant = instant.astimezone(UTC)
    scoped = [window for window in windows if (fleet is None and tenant is None) or window.applies_to(fleet, tenant)]
    intervals = [(start, end, window) for window in scoped for start, end in window.occurrences(instant)]
    active = sorted((item for item in intervals if item[0] <= instant < item[1]), key=lambda item: (item[0], item[2].name))
    ends = None
    if active:
        ends = max(end for _start, end, _window in active)
        for start, end, _window in sorted(intervals, key=lambda item: item[0]):  # chain what overlaps or touches
            if start <= ends < end:
                ends = end
    upcoming = sorted((item for item in intervals if item[0] > instant), key=lambda item: (item[0], item[2].name))
    return {
        "frozen": bool(active),
        "at": _iso(instant),
        "windows": [_describe(window, start, end) for start, end, window in active],
        "ends": _iso(ends) if ends else None,
        "next": _describe(upcoming[0][2], upcoming[0][0], upcoming[0][1]) if upcoming else None,
    }


FREEZE_METRIC = "odoo_ops_freeze_active"


def freeze_metrics(specs, tenants, at=None):
    """The freeze calendar as Prometheus text (node exporter's textfile collector), for alerts to name
    or escalate by the business window a tenant is in: per tenant ({name, fleet}), one series
    `odoo_ops_freeze_active{tenant, fleet, window} 1` per window holding `at`, or a single series
    with `window=""` and value 0 when none does (so that "not frozen" is a fact, not a missing series)."""
    lines = [
        "# HELP %s 1 while a freeze window of the business calendar covers the tenant (label window), else 0." % FREEZE_METRIC,
        "# TYPE %s gauge" % FREEZE_METRIC,
    ]
    instant = utc_now() if at is None else at
    for tenant in sorted(tenants or [], key=lambda item: str(item.get("name"))):
        name, fleet = _text(tenant.get("name"), "tenant name"), str(tenant.get("fleet") or "")
        status = freeze_status(specs, at=instant, fleet=fleet or None, tenant=name)
        names = sorted({window["name"] for window in status["windows"]}) or [""]
        for window in names:
            labels = ",".join('%s="%s"' % (key, _escape(value)) for key, value in (("fleet", fleet), ("tenant", name), ("window", window)))
            lines.append("%s{%s} %d" % (FREEZE_METRIC, labels, 1 if window else 0))
    return "\n".join(lines) + "\n"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _describe(window, start, end):
    return {"name": window.name, "reason": window.reason, "kind": window.kind, "start": _iso(start), "end": _iso(end)}


def zone(name, where):
    """The IANA time zone `name` (refused with `where` in the message when unknown)."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    if not HAS_ZONEINFO:
        raise Refused("%s: time zone %r needs Python 3.9+ (zoneinfo); only UTC is available here" % (where, name))
    if not isinstance(name, str) or name.startswith("/") or ".." in name:
        raise Refused("%s: %r is not a time zone name" % (where, name))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refused("%s: %r is not a known IANA time zone (e.g. Europe/Berlin, America/New_York)" % (where, name)) from None


def _aware(local, tz):
    """A wall-clock time in tz. One that exists twice (DST ends) is its first occurrence; one that does
    not exist (DST starts) is read with the offset before the change, i.e. moved past the gap."""
    return local.replace(tzinfo=tz, fold=0)


def _months(around, before, after):
    """(year, month) from `before` months before around's month to `after` months after it."""
    index = around.year * 12 + around.month - 1
    return [(i // 12, i % 12 + 1) for i in range(index + before, index + after + 1)]


def _first_of_next_month(year, month):
    return datetime.date(year + month // 12, month % 12 + 1, 1)


def _iso(stamp):
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(value, what):
    if not isinstance(value, str) or not value.strip() or "\n" in value or "\r" in value:
        raise Refused("%s must be a non-empty single line of text, not %r" % (what, value))
    return value


def _names(value, what):
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(name, str) and name and name.strip() == name for name in value):
        raise Refused("%s must be a list of names, not %r" % (what, value))
    return frozenset(value)


def _bounded(value, what, low, high):
    """check_int, also taking a digit string: calendars come from YAML files and survey answers."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip(), 10)
    return check_int(value, what, low, high)


def _weekday(value, what):
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower())
    raise Refused("%s: %r is not a weekday (%s)" % (what, value, ", ".join(WEEKDAYS)))


def _day(value, what):
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise Refused("%s: %r is not a date (YYYY-MM-DD)" % (what, value)) from None


def _clock(value, what):
    try:
        if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
            raise ValueError
        return datetime.time(int(value[:2], 10), int(value[3:], 10))
    except ValueError:
        raise Refused("%s: %r is not a time of day (HH:MM, 00:00-23:59)" % (what, value)) from None


def _instant(value, what, tz):
    if isinstance(value, datetime.datetime):
        stamp = value
    else:
        try:
            stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise Refused("%s: %r is not an ISO 8601 timestamp (YYYY-MM-DDTHH:MM[:SS][+HH:MM])" % (what, value)) from None
        if len(str(value)) == 10:
            raise Refused("%s: %r is a date; give a time too (e.g. %sT00:00)" % (what, value, value))
    return (stamp if stamp.tzinfo else _aware(stamp, tz)).astimezone(UTC)
