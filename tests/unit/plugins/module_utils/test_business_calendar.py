"""The business calendar: freeze windows across month and year ends, DST changes, leap days, holidays,
scopes and overlaps; and every bad window refused with a message naming it and the field."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.filter.calendar import freeze_status as freeze_status_filter
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.business_calendar import WEEKDAYS, freeze_metrics, freeze_status, windows_from

MONTH_END_BERLIN = {
    "name": "month-end close",
    "reason": "invoices and accruals",
    "kind": "month_end",
    "timezone": "Europe/Berlin",
    "last_business_days": 2,
    "first_business_days": 2,
    "holidays": ["2027-01-01", "2026-12-25"],
}


def status(windows, at, **scope):
    return freeze_status(windows, at=at, **scope)


def test_month_end_across_the_year_boundary_skips_weekends_and_holidays():
    # Dec 2026: Wed 30 and Thu 31 are the last two business days; Fri 1 Jan is a holiday, so the first
    # two business days are Mon 4 and Tue 5. The window runs in Berlin time (UTC+1 in winter).
    inside = status([MONTH_END_BERLIN], "2027-01-02T12:00:00Z")  # a Saturday between the two halves
    assert inside["frozen"] is True
    assert inside["windows"] == [
        {"name": "month-end close", "reason": "invoices and accruals", "kind": "month_end", "start": "2026-12-29T23:00:00Z", "end": "2027-01-05T23:00:00Z"}
    ]
    assert inside["ends"] == "2027-01-05T23:00:00Z"
    assert status([MONTH_END_BERLIN], "2026-12-29T22:59:59Z")["frozen"] is False  # 23:59:59 local, the 29th
    assert status([MONTH_END_BERLIN], "2026-12-29T23:00:00Z")["frozen"] is True  # midnight local, the 30th
    assert status([MONTH_END_BERLIN], "2027-01-05T23:00:00Z")["frozen"] is False  # end is exclusive
    before = status([MONTH_END_BERLIN], "2026-12-15T10:00:00Z")
    assert before["frozen"] is False and before["ends"] is None
    assert before["next"]["start"] == "2026-12-29T23:00:00Z"


def test_month_end_across_the_spring_dst_change_follows_local_midnights():
    # March 2026 in Berlin: DST starts Sunday 29 March. Last 3 business days: Fri 27, Mon 30, Tue 31;
    # first business day of April: Wed 1. Start at CET midnight, end at CEST midnight.
    window = dict(MONTH_END_BERLIN, last_business_days=3, first_business_days=1, holidays=[])
    inside = status([window], "2026-03-29T12:00:00Z")
    assert inside["windows"][0]["start"] == "2026-03-26T23:00:00Z"
    assert inside["windows"][0]["end"] == "2026-04-01T22:00:00Z"


def test_month_end_across_the_autumn_dst_change():
    # October 2026: DST ends Sunday 25 October; 31 October is a Saturday, so the last business day is
    # Friday 30 (CET, UTC+1) and the first of November is Monday 2.
    window = dict(MONTH_END_BERLIN, last_business_days=1, first_business_days=1, holidays=[])
    inside = status([window], "2026-10-31T12:00:00Z")
    assert inside["windows"][0]["start"] == "2026-10-29T23:00:00Z" and inside["windows"][0]["end"] == "2026-11-02T23:00:00Z"
    # the window of September ends in summer time (UTC+2): Wed 30 Sep + Thu 1 Oct
    september = status([window], "2026-09-30T12:00:00Z")
    assert september["windows"][0]["start"] == "2026-09-29T22:00:00Z" and september["windows"][0]["end"] == "2026-10-01T22:00:00Z"


def test_leap_day_is_the_last_business_day_of_february_2028():
    window = {"name": "close", "reason": "r", "kind": "month_end", "last_business_days": 1}
    assert status([window], "2028-02-29T12:00:00Z")["windows"][0]["start"] == "2028-02-29T00:00:00Z"
    assert status([window], "2028-02-28T23:59:59Z")["frozen"] is False
    assert status([window], "2028-03-01T00:00:00Z")["frozen"] is False
    # 2027 has no 29 February: its last business day is Friday 26 (28 is a Sunday)
    assert status([window], "2027-02-26T08:00:00Z")["windows"][0]["end"] == "2027-02-27T00:00:00Z"


def test_quarter_and_year_end_only_in_their_months():
    quarter = {"name": "quarter close", "reason": "r", "kind": "quarter_end", "last_business_days": 1}
    year = {"name": "year close", "reason": "r", "kind": "year_end", "first_business_days": 3, "holidays": ["2027-01-01"]}
    assert status([quarter], "2026-06-30T12:00:00Z")["frozen"] is True
    assert status([quarter], "2026-04-30T12:00:00Z")["frozen"] is False
    assert status([quarter], "2026-04-30T12:00:00Z")["next"]["start"] == "2026-06-30T00:00:00Z"
    # year end: the first three business days of January 2027 (Mon 4 - Wed 6); 31 Dec is not in it
    assert status([year], "2026-12-31T12:00:00Z")["frozen"] is False
    assert status([year], "2027-01-06T23:00:00Z")["windows"][0]["start"] == "2027-01-04T00:00:00Z"
    assert status([year], "2027-01-31T12:00:00Z")["frozen"] is False


def test_payroll_by_day_of_month_uses_a_short_months_last_day():
    payroll = {"name": "payroll", "reason": "salaries", "kind": "payroll", "day_of_month": 31, "start": "18:00", "duration_hours": 12}
    february = status([payroll], "2027-02-28T20:00:00Z")
    assert february["windows"][0]["start"] == "2027-02-28T18:00:00Z" and february["windows"][0]["end"] == "2027-03-01T06:00:00Z"
    leap = dict(payroll, day_of_month=30)
    assert status([leap], "2028-02-29T19:00:00Z")["frozen"] is True
    assert status([payroll], "2026-04-30T19:00:00Z")["frozen"] is True  # April has 30 days
    assert status([payroll], "2026-05-30T19:00:00Z")["frozen"] is False  # May has a 31st


def test_weekly_payroll_across_a_dst_change_lasts_its_elapsed_hours():
    # New York: DST starts Sunday 8 March 2026 at 02:00. A 3-hour window from 01:00 EST (06:00Z) ends at
    # 09:00Z (05:00 EDT), three elapsed hours.
    weekly = {"name": "weekly", "reason": "r", "kind": "payroll", "weekday": "sunday", "start": "01:00", "duration_hours": 3, "timezone": "America/New_York"}
    inside = status([weekly], "2026-03-08T08:30:00Z")
    assert inside["windows"][0]["start"] == "2026-03-08T06:00:00Z" and inside["windows"][0]["end"] == "2026-03-08T09:00:00Z"
    # a week later, in EDT (UTC-4): 01:00 local is 05:00Z
    assert status([weekly], "2026-03-15T05:30:00Z")["windows"][0]["start"] == "2026-03-15T05:00:00Z"
    assert status([weekly], "2026-03-14T05:30:00Z")["frozen"] is False


def test_overlapping_and_touching_windows_chain_into_one_end():
    close = {"name": "close", "reason": "r", "kind": "month_end", "last_business_days": 1, "first_business_days": 1}
    payroll = {"name": "payroll", "reason": "r", "kind": "payroll", "day_of_month": 2, "duration_hours": 48}
    # 30 Nov 2026 (Mon) and 1 Dec (Tue) close; payroll from 2 Dec 00:00 for 48 h touches it: one freeze
    inside = status([close, payroll], "2026-11-30T12:00:00Z")
    assert [w["name"] for w in inside["windows"]] == ["close"]
    assert inside["ends"] == "2026-12-04T00:00:00Z"
    both = status([close, payroll], "2026-12-02T00:00:00Z")
    assert [w["name"] for w in both["windows"]] == ["payroll"]  # close ended at 00:00, end exclusive
    assert both["ends"] == "2026-12-04T00:00:00Z"


def test_explicit_ranges_with_and_without_offsets():
    local = {"name": "go-live", "reason": "migration", "kind": "range", "start": "2026-12-20T08:00", "end": "2026-12-21T20:00", "timezone": "Europe/Berlin"}
    aware = {"name": "audit", "reason": "r", "kind": "range", "start": "2026-12-20T00:00:00Z", "end": "2026-12-20T06:00:00Z"}
    assert status([local], "2026-12-20T07:00:00Z")["windows"][0]["start"] == "2026-12-20T07:00:00Z"
    assert status([local, aware], "2026-12-20T07:00:00Z")["ends"] == "2026-12-21T19:00:00Z"
    assert status([aware], "2026-12-20T06:00:00Z")["frozen"] is False


def test_scope_by_fleet_and_tenant():
    platform = {"name": "all", "reason": "r", "kind": "range", "start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
    acme = dict(platform, name="acme only", tenants=["acme"], start="2026-12-03T00:00:00Z", end="2026-12-04T00:00:00Z")
    fleet = dict(platform, name="shared1 only", fleets=["shared1"], start="2026-12-05T00:00:00Z", end="2026-12-06T00:00:00Z")
    windows = [platform, acme, fleet]
    assert status(windows, "2026-12-01T12:00:00Z", tenant="globex")["frozen"] is True  # the platform's
    assert status(windows, "2026-12-03T12:00:00Z", tenant="acme")["frozen"] is True
    assert status(windows, "2026-12-03T12:00:00Z", tenant="globex", fleet="shared1")["frozen"] is False
    assert status(windows, "2026-12-05T12:00:00Z", tenant="globex", fleet="shared1")["frozen"] is True
    assert status(windows, "2026-12-05T12:00:00Z", tenant="initech", fleet="initech")["frozen"] is False
    assert status(windows, "2026-12-05T12:00:00Z")["frozen"] is True  # no scope asked: every window


def test_no_windows_never_freeze_and_at_defaults_to_now():
    before = datetime.datetime.now(datetime.timezone.utc)
    now = status(None, None)
    after = datetime.datetime.now(datetime.timezone.utc)
    assert before <= datetime.datetime.fromisoformat(now.pop("at").replace("Z", "+00:00")) <= after
    assert now == {"frozen": False, "windows": [], "ends": None, "next": None}
    assert status([], "2026-12-31T12:00:00Z")["frozen"] is False


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"reason": "r", "kind": "range"}, "freeze window #1: name"),
        ({"name": "x\n", "reason": "r", "kind": "range"}, "non-empty single line"),
        ({"name": "x", "kind": "range"}, "'x': reason"),
        ({"name": "x", "reason": "r", "kind": "weekly"}, "kind 'weekly' is not one of"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_busines_days": 2}, "last_busines_days not known for kind month_end"),
        ({"name": "x", "reason": "r", "kind": "month_end"}, "both 0"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 16}, "last_business_days 16 is out of range: 0 to 15"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": True}, "is not an integer"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1, "timezone": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1, "timezone": "../../etc/passwd"}, "not a time zone name"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1, "holidays": ["2026-13-01"]}, "is not a date"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1, "weekend": list(range(7))}, "is not a weekday"),
        ({"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1, "weekend": list(WEEKDAYS)}, "no business day"),
        ({"name": "x", "reason": "r", "kind": "payroll"}, "exactly one of day_of_month"),
        ({"name": "x", "reason": "r", "kind": "payroll", "day_of_month": 1, "weekday": "monday"}, "exactly one of day_of_month"),
        ({"name": "x", "reason": "r", "kind": "payroll", "day_of_month": 32}, "day_of_month 32 is out of range: 1 to 31"),
        ({"name": "x", "reason": "r", "kind": "payroll", "weekday": "funday"}, "is not a weekday"),
        ({"name": "x", "reason": "r", "kind": "payroll", "weekday": "monday", "start": "25:00"}, "not a time of day"),
        ({"name": "x", "reason": "r", "kind": "payroll", "weekday": "monday", "duration_hours": 0}, "duration_hours 0 is out of range: 1 to 168"),
        ({"name": "x", "reason": "r", "kind": "range", "start": "2026-12-02", "end": "2026-12-03T00:00"}, "is a date; give a time too"),
        ({"name": "x", "reason": "r", "kind": "range", "start": "2026-12-03T00:00Z", "end": "2026-12-02T00:00Z"}, "is not after start"),
        ({"name": "x", "reason": "r", "kind": "range", "start": "soon", "end": "2026-12-02T00:00Z"}, "not an ISO 8601 timestamp"),
        ({"name": "x", "reason": "r", "kind": "range", "start": "2026-12-01T00:00Z", "end": "2026-12-02T01:00Z", "tenants": "a"}, "tenants must be a list of"),
        ("month_end", "must be a mapping"),
    ],
)
def test_bad_windows_are_refused_naming_the_window_and_field(bad, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        windows_from([bad])
    with pytest.raises(AnsibleFilterError, match="freeze window"):
        freeze_status_filter([bad], at="2026-12-01T00:00:00Z")


def test_unique_names_a_list_and_an_aware_instant_are_required():
    window = {"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1}
    with pytest.raises(Refused, match="given twice"):  # the collection's bad-input error (a ValueError too)
        windows_from([window, dict(window)])
    with pytest.raises(ValueError, match="must be a list"):
        windows_from(window)
    with pytest.raises(ValueError, match="no time zone"):
        freeze_status([window], at="2026-12-31T12:00:00")


def test_holidays_that_leave_no_business_day_in_reach_are_named():
    window = {"name": "x", "reason": "r", "kind": "month_end", "last_business_days": 1, "weekend": ["saturday", "sunday"]}
    window["holidays"] = ["2026-%02d-%02d" % (month, day) for month in (9, 10, 11) for day in range(1, 31)] + ["2026-10-31", "2026-08-31"]
    with pytest.raises(ValueError, match="fewer than 1 business days within 92 days"):
        freeze_status([window], at="2026-11-15T00:00:00Z")


def test_freeze_metrics_name_the_window_each_tenant_is_in_and_say_zero_for_the_others():
    payroll = {"name": "payroll", "reason": "salaries", "kind": "payroll", "day_of_month": 2, "fleets": ["shared1"]}
    tenants = [{"name": "initech", "fleet": "initech"}, {"name": "acme", "fleet": "shared1"}]
    inside = freeze_metrics([MONTH_END_BERLIN, payroll], tenants, at=datetime.datetime(2027, 1, 2, 12, tzinfo=datetime.timezone.utc))
    samples = [line for line in inside.splitlines() if not line.startswith("#")]
    assert samples == [
        'odoo_ops_freeze_active{fleet="shared1",tenant="acme",window="month-end close"} 1',
        'odoo_ops_freeze_active{fleet="shared1",tenant="acme",window="payroll"} 1',
        'odoo_ops_freeze_active{fleet="initech",tenant="initech",window="month-end close"} 1',
    ]
    assert "# TYPE odoo_ops_freeze_active gauge" in inside and inside.endswith("\n")
    outside = freeze_metrics([MONTH_END_BERLIN, payroll], tenants, at=datetime.datetime(2026, 12, 15, 10, tzinfo=datetime.timezone.utc))
    assert [line for line in outside.splitlines() if not line.startswith("#")] == [
        'odoo_ops_freeze_active{fleet="shared1",tenant="acme",window=""} 0',
        'odoo_ops_freeze_active{fleet="initech",tenant="initech",window=""} 0',
    ]
    quoted = freeze_metrics([dict(MONTH_END_BERLIN, name='the "big" close')], [{"name": "acme"}], at="2027-01-02T12:00:00Z")
    assert 'odoo_ops_freeze_active{fleet="",tenant="acme",window="the \\"big\\" close"} 1' in quoted
    with pytest.raises(Refused, match="tenant name"):
        freeze_metrics([], [{"name": ""}])
    with pytest.raises(Refused, match="freeze windows must be a list"):
        freeze_metrics({"name": "x"}, [{"name": "acme"}])
