# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one tier policy: what each service tier promises for its backups and recovery.

Read by backup_verify (ages, retention classes, object lock), odoo_backup (object-lock days), the
pg_backup role (WAL archive timeout, pgBackRest retention and schedule) and the runbooks (RTO/RPO
objectives, drill cadence) - the roles and playbooks through the filter sysgenpro.odoo_ops.tier_policy.
Tier 1 is production, tier 2 UAT, tier 3 sandboxes (PITR_CHECKLIST.md).
"""

import copy

# Immutability of tier-1 backups: the daily (7) and weekly (4) classes of retention, plus a week's
# margin for a verification to notice a gap before a locked object may go.
LOCK_DAYS = 35

TIERS = {
    1: {
        "logical": {"max_age": 26 * 3600, "daily": 7, "weekly": 4, "monthly": 3},
        "object_lock": {"mode": "COMPLIANCE", "days": LOCK_DAYS},
        # pgBackRest: WAL every 60 s at most, weekly full + daily differential, 14-day PITR window
        "cluster": {
            "archive_timeout": 60,
            "retention": {"full_type": "time", "full": 14},
            "schedule": {
                "full": {"on_calendar": "Sun *-*-* 01:00:00", "cron": "0 1 * * 0"},
                "diff": {"on_calendar": "Mon..Sat *-*-* 01:00:00", "cron": "0 1 * * 1-6"},
            },
        },
        # RPO of a logical restore: the daily backup's age (max_age); of the cluster: the archive.
        "objectives": {"rto_seconds": 3600, "rpo_seconds": 26 * 3600},
        "cluster_objectives": {"rto_seconds": 3600, "rpo_seconds": 300},
        "verify_levels": ["objects", "restore"],
        "drill_days": 7,
    },
    2: {
        "logical": {"max_age": 26 * 3600, "daily": 7, "weekly": 4, "monthly": 0},
        "object_lock": None,
        "cluster": {
            "archive_timeout": 300,
            "retention": {"full_type": "time", "full": 7},
            "schedule": {"full": {"on_calendar": "*-*-* 01:30:00", "cron": "30 1 * * *"}},
        },
        "objectives": {"rto_seconds": 4 * 3600, "rpo_seconds": 26 * 3600},
        "cluster_objectives": {"rto_seconds": 4 * 3600, "rpo_seconds": 900},
        "verify_levels": ["objects"],
        "drill_days": None,
    },
    3: {
        "logical": {"max_age": 8 * 86400, "daily": 0, "weekly": 2, "monthly": 0},
        "object_lock": None,
        "cluster": {
            "archive_timeout": 900,
            "retention": {"full_type": "count", "full": 2},
            "schedule": {"full": {"on_calendar": "Sun *-*-* 02:00:00", "cron": "0 2 * * 0"}},
        },
        "objectives": {"rto_seconds": 86400, "rpo_seconds": 8 * 86400},
        "cluster_objectives": {"rto_seconds": 86400, "rpo_seconds": 3600},
        "verify_levels": ["objects"],
        "drill_days": None,
    },
}


def tier(number):
    """A copy of tier `number`'s policy (1, 2 or 3; "1" too, as inventories give it)."""
    # int("1\n") is 1: only an int or the digit itself, nothing around it
    key = number if isinstance(number, int) and not isinstance(number, bool) else {"1": 1, "2": 2, "3": 3}.get(number)
    if key not in TIERS:
        raise ValueError("tier %r is not a service tier: 1 (production), 2 (UAT) or 3 (sandbox)" % (number,))
    return copy.deepcopy(TIERS[key])


def verification_policy(number, overrides):
    """What backup_verify checks a tier's logical backups against, with the task's overrides (None: the tier's)."""
    policy = tier(number)
    found = dict(policy["logical"], object_lock=policy["object_lock"] is not None)
    found.update((k, v) for k, v in overrides.items() if v is not None)
    return found
