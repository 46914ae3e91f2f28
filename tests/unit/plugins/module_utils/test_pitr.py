"""Recovery targets and the choice of a backup (pure logic of pg_pitr_restore)."""
import datetime

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import (
    choose_backup, format_time, normalize_target, parse_time)

UTC = datetime.timezone.utc


def backup(label, start, stop, lsn_stop="0/3000000", kind="full"):
    return {"label": label, "type": kind, "timestamp": {"start": start, "stop": stop},
            "lsn": {"start": "0/2000000", "stop": lsn_stop}, "info": {"size": 1}}


BACKUPS = [backup("F1", 1000, 1010, "0/3000000"), backup("D1", 2000, 2010, "0/8000000", "diff")]


@pytest.mark.parametrize("given, expected", [
    ("2026-11-23T10:15:00Z", "2026-11-23 10:15:00+00"),
    ("2026-11-23 10:15:00+01:00", "2026-11-23 09:15:00+00"),
    ("2026-11-23T10:15:00.250000-0230", "2026-11-23 12:45:00.250000+00"),
    ("2026-11-23 10:15:00+02", "2026-11-23 08:15:00+00"),
])
def test_time_targets_normalised_to_utc_with_offset(given, expected):
    target = normalize_target({"type": "time", "value": given})
    assert target["value"] == expected and target["inclusive"] is True and target["timeline"] == "current"


@pytest.mark.parametrize("spec, message", [
    ({"type": "time", "value": "2026-11-23 10:15:00"}, "has no time zone"),
    ({"type": "time", "value": "yesterday Z"}, "is not an ISO 8601 time"),
    ({"type": "time"}, "needs target.value"),
    ({"type": "lsn", "value": "12345"}, "is not an LSN"),
    ({"type": "xid", "value": "12a"}, "is not a transaction id"),
    ({"type": "name", "value": "x" * 64}, "longer than"),
    ({"type": "latest", "value": "now"}, "takes no value"),
    ({"type": "time", "value": "2026-11-23T10:00:00Z", "timeline": "next"}, "target.timeline"),
    ({"type": "sometime"}, "target.type must be one of"),
])
def test_bad_targets_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        normalize_target(spec)


def test_format_time_keeps_microseconds_and_the_zone():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    assert format_time(moment) == "2026-01-02 03:04:05.000060+00"
    assert parse_time(format_time(moment)) == moment


def at(seconds):
    return datetime.datetime.fromtimestamp(seconds, UTC).isoformat()


def test_time_and_lsn_targets_choose_the_newest_backup_that_ended_before():
    assert choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(1500)}))["label"] == "F1"
    assert choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(2011)}))["label"] == "D1"
    # pgBackRest's stop is in whole seconds: within the next second the earlier backup is chosen
    assert choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(2010.5)}))["label"] == "F1"
    assert choose_backup(BACKUPS, normalize_target({"type": "lsn", "value": "0/5000000"}))["label"] == "F1"
    assert choose_backup(BACKUPS, normalize_target({"type": "latest"}))["label"] == "D1"


def test_targets_before_a_backup_end_are_refused():
    with pytest.raises(ValueError, match="before the end of the earliest backup"):
        choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(1005)}))
    with pytest.raises(ValueError, match="before backup D1 stopped"):
        choose_backup(BACKUPS, normalize_target({"type": "time", "value": at(1500)}), "D1")
    with pytest.raises(ValueError, match="before the end of the earliest backup"):
        choose_backup(BACKUPS, normalize_target({"type": "lsn", "value": "0/1000000"}))


def test_xid_and_name_need_a_backup_set():
    for spec in ({"type": "xid", "value": "900"}, {"type": "name", "value": "before_upgrade"}):
        with pytest.raises(ValueError, match="give backup_set"):
            choose_backup(BACKUPS, normalize_target(spec))
        assert choose_backup(BACKUPS, normalize_target(spec), "F1")["label"] == "F1"
    with pytest.raises(ValueError, match="is not in the repository"):
        choose_backup(BACKUPS, normalize_target({"type": "xid", "value": "900"}), "F9")
    with pytest.raises(ValueError, match="has no backup"):
        choose_backup([], normalize_target({"type": "latest"}))
