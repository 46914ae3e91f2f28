import datetime

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.retention import retention_plan

UTC = datetime.timezone.utc


def daily_backups(days, start=datetime.datetime(2026, 11, 23, 1, 0, tzinfo=UTC), per_day=1):
    found = []
    for day in range(days):
        for run in range(per_day):
            created = start - datetime.timedelta(days=day, hours=run)
            found.append({"key": "b/%s" % created.strftime("%Y%m%dT%H"), "created": created, "verified": False})
    return found


def test_seven_daily_four_weekly_three_monthly_out_of_120_days():
    backups = daily_backups(120)
    keep, delete = retention_plan(backups, daily=7, weekly=4, monthly=3)
    daily = [k for k, r in keep.items() if "daily" in r]
    weekly = [k for k, r in keep.items() if "weekly" in r]
    monthly = [k for k, r in keep.items() if "monthly" in r]
    assert len(daily) == 7 and len(weekly) == 4 and len(monthly) == 3
    assert sorted(daily)[-1] == "b/20261123T01"  # newest kept
    assert len(keep) + len(delete) == 120 and not set(keep) & set(delete)
    assert "b/20260801T01" in delete


def test_newest_of_each_day_is_the_one_kept():
    evening = datetime.datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # runs at 23:00, 22:00, 21:00
    keep, delete = retention_plan(daily_backups(2, start=evening, per_day=3), daily=2, weekly=0, monthly=0)
    assert sorted(keep) == ["b/20261122T23", "b/20261123T23"]
    assert len(delete) == 4


def test_newest_verified_is_never_deleted():
    backups = daily_backups(30)
    old = backups[-1]
    old["verified"] = True
    keep, delete = retention_plan(backups, daily=3, weekly=0, monthly=0)
    assert keep[old["key"]] == ["newest verified"] and old["key"] not in delete


def test_nothing_kept_nothing_to_delete_when_empty():
    assert retention_plan([], 7, 4, 3) == ({}, [])
