# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention classes for a tenant's logical backups (grandfather-father-son). Pure logic."""


def retention_plan(backups, daily, weekly, monthly):
    """Split backups into keep and delete.

    backups: dicts with `key`, `created` (aware datetime) and `verified` (bool).
    The newest backup of each of the last `daily` days, `weekly` ISO weeks and `monthly` months
    that have backups is kept, and so is the newest verified backup, whatever its age.
    Returns (keep, delete): keep maps key -> list of reasons; delete is a list of keys.
    """
    ordered = sorted(backups, key=lambda b: b["created"], reverse=True)
    keep = {}
    classes = (("daily", daily, lambda d: d.date()),
               ("weekly", weekly, lambda d: tuple(d.isocalendar()[:2])),
               ("monthly", monthly, lambda d: (d.year, d.month)))
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
