import datetime

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.retention import retention_gaps, retention_plan

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


def _at(*args):
    return {"key": "k%s" % (args,), "created": datetime.datetime(*args, tzinfo=datetime.timezone.utc)}


def test_gaps_none_for_a_full_history():
    days = [_at(2026, 11, 23 - d, 1) for d in range(7)]  # Monday 23rd back to Tuesday 17th: two ISO weeks
    history = days + [_at(2026, 11, 9, 1), _at(2026, 11, 2, 1), _at(2026, 10, 15, 1), _at(2026, 9, 15, 1)]
    assert retention_gaps(history, 7, 4, 3) == {}


def test_gaps_name_the_missing_periods():
    history = [_at(2026, 11, 23 - d, 1) for d in (0, 1, 3, 4, 5, 6)] + [_at(2026, 10, 1, 1)]
    gaps = retention_gaps(history, 7, 4, 3)
    assert gaps["daily"] == ["2026-11-21"]
    assert gaps["weekly"] == ["2026-W46", "2026-W45"]  # the weeks of Nov 9-15 and Nov 2-8
    assert "monthly" not in gaps  # November and October held; September is before the oldest backup


def test_gaps_not_owed_before_the_first_backup_nor_for_empty_classes():
    young = [_at(2026, 11, 23, 1), _at(2026, 11, 22, 1)]
    assert retention_gaps(young, 7, 4, 3) == {}
    assert retention_gaps([], 7, 4, 3) == {}
    assert retention_gaps([_at(2026, 11, 23, 1), _at(2026, 1, 5, 1)], 0, 0, 12)["monthly"][0] == "2026-10"


def test_month_slots_cross_a_year():
    history = [_at(2026, 1, 10, 1), _at(2025, 11, 10, 1)]
    assert retention_gaps(history, 0, 0, 3) == {"monthly": ["2025-12"]}
