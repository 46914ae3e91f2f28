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

TARGET_TYPES = ("time", "lsn", "xid", "name", "immediate", "latest")
LSN_RE = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
ZONE_RE = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$")


def parse_time(value):
    """An aware datetime from an ISO 8601 time that carries its zone (Z or an offset)."""
    text = str(value).strip()
    if not ZONE_RE.search(text):
        raise ValueError("target time %r has no time zone: give Z or an offset such as +00:00 (a time without "
                         "one would be read in the restored server's zone)" % text)
    normal = text[:-1] + "+00:00" if text.endswith("Z") else text
    normal = re.sub(r"([+-]\d{2})$", r"\1:00", normal)
    normal = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", normal)
    try:
        moment = datetime.datetime.fromisoformat(normal.replace(" ", "T", 1))
    except ValueError:
        raise ValueError("target time %r is not an ISO 8601 time such as 2026-11-23T10:15:00+01:00" % text) from None
    return moment.astimezone(datetime.timezone.utc)


def format_time(moment):
    """PostgreSQL's form of an aware time, in UTC: `YYYY-MM-DD HH:MM:SS[.ffffff]+00`."""
    moment = moment.astimezone(datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
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
        raise ValueError("target.type must be one of %s, not %r" % (", ".join(TARGET_TYPES), kind))
    value = spec.get("value")
    target = {"type": kind, "inclusive": spec.get("inclusive", True) is not False,
              "timeline": str(spec.get("timeline") or "current"), "value": None, "moment": None}
    if kind in ("immediate", "latest"):
        if value not in (None, ""):
            raise ValueError("target.type %s takes no value" % kind)
        return target
    if value in (None, ""):
        raise ValueError("target.type %s needs target.value" % kind)
    if kind == "time":
        target["moment"] = parse_time(value)
        target["value"] = format_time(target["moment"])
    elif kind == "lsn":
        if not LSN_RE.match(str(value)):
            raise ValueError("target lsn %r is not an LSN such as 0/1A2B3C4D" % value)
        target["value"] = str(value).upper()
    elif kind == "xid":
        if not re.match(r"^\d+$", str(value)):
            raise ValueError("target xid %r is not a transaction id (a number)" % value)
        target["value"] = str(int(value))
    else:
        if len(str(value)) > 63:
            raise ValueError("target name %r is longer than a restore point name can be (63)" % value)
        target["value"] = str(value)
    if not re.match(r"^(current|latest|\d+)$", target["timeline"]):
        raise ValueError("target.timeline must be current, latest or a timeline number, not %r" % target["timeline"])
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
        raise ValueError("the repository has no backup of this stanza")
    by_label = {b["label"]: b for b in backups}
    if backup_set:
        if backup_set not in by_label:
            raise ValueError("backup_set %s is not in the repository (it has %s)" % (backup_set, ", ".join(by_label)))
        chosen = by_label[backup_set]
    elif target["type"] in ("xid", "name"):
        raise ValueError("a %s target cannot choose a backup by itself: give backup_set (one that ended before "
                         "the target)" % target["type"])
    elif target["type"] == "time":
        fitting = [b for b in backups if reachable_from(b) <= target["moment"]]
        if not fitting:
            raise ValueError("target %s is before the end of the earliest backup (%s, stopped %s): no backup can "
                             "reach it" % (target["value"], backups[0]["label"], format_time(backup_stop(backups[0]))))
        chosen = fitting[-1]
    elif target["type"] == "lsn":
        fitting = [b for b in backups if lsn_value(b["lsn"]["stop"]) <= lsn_value(target["value"])]
        if not fitting:
            raise ValueError("target lsn %s is before the end of the earliest backup (%s, stop lsn %s)"
                             % (target["value"], backups[0]["label"], backups[0]["lsn"]["stop"]))
        chosen = fitting[-1]
    else:
        chosen = backups[-1]
    if target["type"] == "time" and reachable_from(chosen) > target["moment"]:
        raise ValueError("target %s is before backup %s stopped (%s, reachable a second later): PostgreSQL would "
                         "stop at the backup's end instead, or refuse; choose an earlier backup"
                         % (target["value"], chosen["label"], format_time(backup_stop(chosen))))
    if target["type"] == "lsn" and lsn_value(chosen["lsn"]["stop"]) > lsn_value(target["value"]):
        raise ValueError("target lsn %s is before backup %s stopped (lsn %s)"
                         % (target["value"], chosen["label"], chosen["lsn"]["stop"]))
    return chosen
