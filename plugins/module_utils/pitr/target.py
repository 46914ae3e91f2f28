# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Point-in-time recovery targets and the choice of a backup for them (pure logic, no I/O).

Each rule answers a pitfall of ../shared/PITR_CHECKLIST.md: a time target is normalised to
`YYYY-MM-DD HH:MM:SS[.ffffff]+00` (PostgreSQL refuses a trailing `Z` and reads an offset-less time
in the restored server's zone, so one without a zone is refused); a target before the chosen
backup's stop is refused (PostgreSQL would silently stop at the backup's consistency point);
xid and name targets cannot choose a backup, so they need one named.
"""

import datetime
import re
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

TARGET_TYPES = ("time", "lsn", "xid", "name", "immediate", "latest")
# Every pattern is applied with fullmatch() ($ would also match before a trailing newline) and
# spells its digits out ([0-9]: \d also matches non-ASCII digits).
LSN_RE = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")
XID_RE = re.compile(r"[0-9]{1,20}")
TIMELINE_RE = re.compile(r"current|latest|[0-9]{1,10}")
# A time target, read loosely enough to say what is missing; parse_time then insists on all of
# YYYY-MM-DD, T (or t, or one space), HH:MM[:SS[.ffffff]] and a zone: Z, +HH, +HHMM or +HH:MM.
TIME_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2})(?::(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?)?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zone_hours>[0-9]{2})(?::?(?P<zone_minutes>[0-9]{2}))?)?"
)
EXAMPLE = "2026-11-23T10:15:00+01:00"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
# Offsets in use on Earth lie between -12:00 and +14:00; anything else is a typing error.
ZONE_BOUNDS = (datetime.timedelta(hours=-12), datetime.timedelta(hours=14))


def parse_time(value):
    """An aware datetime (UTC) from an ISO 8601 time that carries its date, hours, minutes and zone.

    Refused, each with its reason: a date alone (it would be read in some host's zone), an hour
    without minutes, no zone, white space around it, more than microsecond precision, 24:00 and leap
    seconds, offsets no zone uses, week or ordinal dates, basic (undashed) forms, and instants before
    1970 or after 9999 in UTC. What is accepted is unambiguous: format_time() of it parses back to the
    same instant.
    """
    text = value if isinstance(value, str) else str(value)
    if text != text.strip():
        raise Refused("target time %r has white space around it: give the time alone, such as %s" % (text, EXAMPLE))
    found = TIME_RE.fullmatch(text)
    if not found:
        raise Refused(
            "target time %r is not an ISO 8601 time such as %s (YYYY-MM-DD, T or a space, HH:MM[:SS[.ffffff]], then Z or an offset)" % (text, EXAMPLE)
        )
    part = found.groupdict()
    if part["hour"] is None:
        raise Refused(
            "target time %r is a date without a time: a time target needs a time and a zone, such "
            "as %sT00:00:00+01:00 (a date alone would be read in the zone of whichever host reads it)" % (text, text[:10])
        )
    if part["minute"] is None:
        raise Refused("target time %r has an hour but no minutes: give at least HH:MM, such as %s" % (text, EXAMPLE))
    if part["fraction"] is not None and len(part["fraction"]) > 6:
        raise Refused(
            "target time %r has more than six decimals: PostgreSQL keeps microseconds, so the target would be another instant than the one given" % text
        )
    if part["zone"] is None:
        raise Refused(
            "target time %r has no time zone: give Z or an offset such as +00:00 (a time without one would be read in the restored server's zone)" % text
        )
    if part["zone"] in ("Z", "z"):
        offset = datetime.timedelta(0)
    else:
        if int(part["zone_hours"]) > 23 or int(part["zone_minutes"] or 0) > 59:
            raise Refused("target time %r has an offset that is not HH:MM" % text)
        offset = datetime.timedelta(hours=int(part["zone_hours"]), minutes=int(part["zone_minutes"] or 0))
        offset = -offset if part["sign"] == "-" else offset
        if not ZONE_BOUNDS[0] <= offset <= ZONE_BOUNDS[1]:
            raise Refused("target time %r has offset %s, which no time zone uses (they lie between -12:00 and +14:00)" % (text, part["zone"]))
    try:
        moment = datetime.datetime(
            int(part["year"]),
            int(part["month"]),
            int(part["day"]),
            int(part["hour"]),
            int(part["minute"]),
            int(part["second"] or 0),
            int((part["fraction"] or "").ljust(6, "0")),
            tzinfo=datetime.timezone(offset),
        ).astimezone(datetime.timezone.utc)
    except ValueError as exc:  # day 31 of a 30-day month, hour 24, second 60 (leap seconds), ...
        raise Refused("target time %r is not a real time (%s)" % (text, exc)) from None
    except OverflowError:
        raise Refused("target time %r is out of range: give a time between 1970 and 9999" % text) from None
    if moment < EPOCH:
        raise Refused("target time %r is before 1970: no backup can be that old" % text)
    return moment


def format_time(moment):
    """PostgreSQL's form of an aware time, in UTC: `YYYY-MM-DD HH:MM:SS[.ffffff]+00`."""
    moment = moment.astimezone(datetime.timezone.utc)
    text = "%04d-%02d-%02d %02d:%02d:%02d" % (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    if moment.microsecond:
        text += ".%06d" % moment.microsecond
    return text + "+00"


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def normalize_target(spec):
    """The target as {type, value, inclusive, timeline, moment (time only)}; ValueError names what is wrong."""
    spec = dict(spec or {})
    kind = spec.get("type")
    if kind not in TARGET_TYPES:
        raise Refused("target.type must be one of %s, not %r" % (", ".join(TARGET_TYPES), kind))
    value = spec.get("value")
    target = {
        "type": kind,
        "inclusive": spec.get("inclusive", True) is not False,
        "timeline": str(spec.get("timeline") or "current"),
        "value": None,
        "moment": None,
    }
    if kind in ("immediate", "latest"):
        if value not in (None, ""):
            raise Refused("target.type %s takes no value" % kind)
        return target
    if value in (None, ""):
        raise Refused("target.type %s needs target.value" % kind)
    if kind == "time":
        target["moment"] = parse_time(value)
        target["value"] = format_time(target["moment"])
    elif kind == "lsn":
        if not LSN_RE.fullmatch(str(value)):
            raise Refused("target lsn %r is not an LSN such as 0/1A2B3C4D" % value)
        target["value"] = str(value).upper()
    elif kind == "xid":
        if not XID_RE.fullmatch(str(value)) or not 3 <= int(value) < 2**64:
            raise Refused("target xid %r is not a transaction id (a number from 3, the first normal one, below 2^64)" % value)
        target["value"] = str(int(value))
    else:
        name = str(value)
        if len(name.encode("utf-8")) > 63:
            raise Refused("target name %r is longer than a restore point name can be (63 bytes)" % value)
        if re.search(r"[\x00-\x1f\x7f'\\]", name):
            raise Refused("target name %r holds a control character, a quote or a backslash: pgBackRest writes it unescaped into the recovery settings" % value)
        target["value"] = name
    timeline = target["timeline"]
    if not TIMELINE_RE.fullmatch(timeline) or (timeline[0].isdigit() and not 1 <= int(timeline) < 2**32):
        raise Refused("target.timeline must be current, latest or a timeline number (1 to 2^32 - 1), not %r" % timeline)
    if timeline[0].isdigit():
        target["timeline"] = str(int(timeline))
    return target


def backup_stop(backup):
    return datetime.datetime.fromtimestamp(backup["timestamp"]["stop"], datetime.timezone.utc)


def reachable_from(backup):
    """The earliest time target a backup can reach. pgBackRest records its stop in whole seconds,
    and a target before the backup's consistency point makes PostgreSQL exit ("requested recovery
    stop point is before consistent recovery point"): one second of margin."""
    return backup_stop(backup) + datetime.timedelta(seconds=1)


def choose_backup(backups, target, backup_set=None):
    """The backup (an entry of `pgbackrest info`'s list) to restore for the target.

    Time and LSN targets take the newest backup that stopped at or before the target; a named
    backup_set must exist and also have stopped before a time or LSN target.
    """
    if not backups:
        raise Refused("the repository has no backup of this stanza")
    by_label = {b["label"]: b for b in backups}
    if backup_set:
        if backup_set not in by_label:
            raise Refused("backup_set %s is not in the repository (it has %s)" % (backup_set, ", ".join(by_label)))
        chosen = by_label[backup_set]
    elif target["type"] in ("xid", "name"):
        raise Refused("a %s target cannot choose a backup by itself: give backup_set (one that ended before the target)" % target["type"])
    elif target["type"] == "time":
        fitting = [b for b in backups if reachable_from(b) <= target["moment"]]
        if not fitting:
            raise Refused(
                "target %s is before the end of the earliest backup (%s, stopped %s): no backup can "
                "reach it" % (target["value"], backups[0]["label"], format_time(backup_stop(backups[0])))
            )
        chosen = fitting[-1]
    elif target["type"] == "lsn":
        fitting = [b for b in backups if lsn_value(b["lsn"]["stop"]) <= lsn_value(target["value"])]
        if not fitting:
            raise Refused(
                "target lsn %s is before the end of the earliest backup (%s, stop lsn %s)" % (target["value"], backups[0]["label"], backups[0]["lsn"]["stop"])
            )
        chosen = fitting[-1]
    else:
        chosen = backups[-1]
    if target["type"] == "time" and reachable_from(chosen) > target["moment"]:
        raise Refused(
            "target %s is before backup %s stopped (%s, reachable a second later): PostgreSQL would "
            "stop at the backup's end instead, or refuse; choose an earlier backup" % (target["value"], chosen["label"], format_time(backup_stop(chosen)))
        )
    if target["type"] == "lsn" and lsn_value(chosen["lsn"]["stop"]) > lsn_value(target["value"]):
        raise Refused("target lsn %s is before backup %s stopped (lsn %s)" % (target["value"], chosen["label"], chosen["lsn"]["stop"]))
    return chosen
