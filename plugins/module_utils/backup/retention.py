# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention classes for a tenant's logical backups (grandfather-father-son). Pure logic."""

import datetime


def retention_plan(backups, daily, weekly, monthly):
    """Split backups into keep and delete.

    backups: dicts with `key`, `created` (aware datetime) and `verified` (bool).
    The newest backup of each of the last `daily` days, `weekly` ISO weeks and `monthly` months
    that have backups is kept, and so is the newest verified backup, whatever its age.
    Returns (keep, delete): keep maps key -> list of reasons; delete is a list of keys.
    """
    ordered = sorted(backups, key=lambda b: b["created"], reverse=True)
    keep = {}
    classes = (
        ("daily", daily, lambda d: d.date()),
        ("weekly", weekly, lambda d: tuple(d.isocalendar()[:2])),
        ("monthly", monthly, lambda d: (d.year, d.month)),
    )
    for label, count, period in classes:
        seen = []
        for backup in ordered:
            slot = period(backup["created"])
            if slot in seen:
                continue
            if len(seen) == count:
                break
            seen.append(slot)
            keep.setdefault(backup["key"], []).append(label)
    newest_verified = next((b for b in ordered if b.get("verified")), None)
    if newest_verified:
        keep.setdefault(newest_verified["key"], []).append("newest verified")
    delete = [b["key"] for b in ordered if b["key"] not in keep]
    return keep, delete


def _slots(label, newest, count):
    """The `count` calendar periods of a class ending with the one of newest (a date), newest first."""
    if label == "daily":
        return [newest - datetime.timedelta(days=i) for i in range(count)]
    if label == "weekly":
        return [tuple((newest - datetime.timedelta(weeks=i)).isocalendar()[:2]) for i in range(count)]
    return [((newest.year * 12 + newest.month - 1 - i) // 12, (newest.month - 1 - i) % 12 + 1) for i in range(count)]


def _slot_name(label, slot):
    if label == "daily":
        return slot.isoformat()
    if label == "weekly":
        return "%d-W%02d" % slot
    return "%d-%02d" % slot


def retention_gaps(backups, daily, weekly, monthly):
    """What the retention classes promise and the backups do not hold: for each class, the periods
    (days, ISO weeks, months), counted back from the newest backup's, that have no backup. Periods
    before the oldest backup are not owed (a tenant younger than its classes is not in breach).
    Returns {class: [period names]}, only classes with gaps."""
    if not backups:
        return {}
    dates = [b["created"].astimezone(datetime.timezone.utc).date() for b in backups]
    newest, oldest = max(dates), min(dates)
    gaps = {}
    for label, count in (("daily", daily), ("weekly", weekly), ("monthly", monthly)):
        held = {_slots(label, d, 1)[0] for d in dates}
        first = _slots(label, oldest, 1)[0]
        missing = [_slot_name(label, slot) for slot in _slots(label, newest, count) if slot >= first and slot not in held]
        if missing:
            gaps[label] = missing
    return gaps
