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
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

# Immutability of tier-1 backups: the daily (7) and weekly (4) classes of retention, plus a week's
# margin for a verification to notice a gap before a locked object may go.
LOCK_DAYS = 35

DAY = 86400
WEEK = 7 * DAY
# A job is overdue (odoo_ops_job_max_age_seconds) when its last success is older than its period
# plus this margin: the timers' random delay (at most 30 min) and the job's own run time.
OVERDUE_MARGIN = 2 * 3600


def _job(on_calendar, cron, period):
    """A scheduled job: when it runs (systemd OnCalendar, the same in cron) and when it is overdue."""
    return {"on_calendar": on_calendar, "cron": cron, "max_age": period + OVERDUE_MARGIN}


# "jobs": what the scheduler runs per tenant of the tier (docs/observability.md, metric contract);
# the cluster's pgBackRest backups follow "cluster"."schedule", overdue after "cluster"."max_age".
TIERS = {
    1: {
        "logical": {"max_age": 26 * 3600, "daily": 7, "weekly": 4, "monthly": 3},
        "object_lock": {"mode": "COMPLIANCE", "days": LOCK_DAYS},
        # pgBackRest: WAL every 60 s at most, weekly full + daily differential, 14-day PITR window
        "cluster": {
            "archive_timeout": 60,
            "retention": {"full_type": "time", "full": 14},
            "max_age": DAY + OVERDUE_MARGIN,
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
        "jobs": {
            "tenant_backup": _job("*-*-* 00:30:00", "30 0 * * *", DAY),
            "retention": _job("*-*-* 03:30:00", "30 3 * * *", DAY),
            "verify_objects": _job("*-*-* 04:00:00", "0 4 * * *", DAY),
            "verify_restore": _job("*-*-* 04:30:00", "30 4 * * *", DAY),
            "dr_drill": _job("Sat *-*-* 06:00:00", "0 6 * * 6", WEEK),
        },
    },
    2: {
        "logical": {"max_age": 26 * 3600, "daily": 7, "weekly": 4, "monthly": 0},
        "object_lock": None,
        "cluster": {
            "archive_timeout": 300,
            "retention": {"full_type": "time", "full": 7},
            "max_age": DAY + OVERDUE_MARGIN,
            "schedule": {"full": {"on_calendar": "*-*-* 01:30:00", "cron": "30 1 * * *"}},
        },
        "objectives": {"rto_seconds": 4 * 3600, "rpo_seconds": 26 * 3600},
        "cluster_objectives": {"rto_seconds": 4 * 3600, "rpo_seconds": 900},
        "verify_levels": ["objects"],
        "drill_days": None,
        "jobs": {
            "tenant_backup": _job("*-*-* 00:30:00", "30 0 * * *", DAY),
            "retention": _job("*-*-* 03:30:00", "30 3 * * *", DAY),
            "verify_objects": _job("*-*-* 04:00:00", "0 4 * * *", DAY),
            "verify_restore": _job("Sat *-*-* 04:30:00", "30 4 * * 6", WEEK),
        },
    },
    3: {
        "logical": {"max_age": 8 * 86400, "daily": 0, "weekly": 2, "monthly": 0},
        "object_lock": None,
        "cluster": {
            "archive_timeout": 900,
            "retention": {"full_type": "count", "full": 2},
            "max_age": WEEK + OVERDUE_MARGIN,
            "schedule": {"full": {"on_calendar": "Sun *-*-* 02:00:00", "cron": "0 2 * * 0"}},
        },
        "objectives": {"rto_seconds": 86400, "rpo_seconds": 8 * 86400},
        "cluster_objectives": {"rto_seconds": 86400, "rpo_seconds": 3600},
        "verify_levels": ["objects"],
        "drill_days": None,
        "jobs": {
            "tenant_backup": _job("Sun *-*-* 00:30:00", "30 0 * * 0", WEEK),
            "retention": _job("Sun *-*-* 03:30:00", "30 3 * * 0", WEEK),
            "verify_objects": _job("Sun *-*-* 04:00:00", "0 4 * * 0", WEEK),
        },
    },
}


def tier(number):
    """A copy of tier `number`'s policy (1, 2 or 3; "1" too, as inventories give it)."""
    # int("1\n") is 1: only an int or the digit itself, nothing around it
    key = number if isinstance(number, int) and not isinstance(number, bool) else {"1": 1, "2": 2, "3": 3}.get(number)
    if key not in TIERS:
        raise Refused("tier %r is not a service tier: 1 (production), 2 (UAT) or 3 (sandbox)" % (number,))
    return copy.deepcopy(TIERS[key])


def verification_policy(number, overrides):
    """What backup_verify checks a tier's logical backups against, with the task's overrides (None: the tier's)."""
    policy = tier(number)
    found = dict(policy["logical"], object_lock=policy["object_lock"] is not None)
    found.update((k, v) for k, v in overrides.items() if v is not None)
    return found


def scheduled_jobs(stanza, cluster_tier, tenants):
    """The platform's scheduled jobs, from the tier policy: one per pgBackRest backup type of the
    cluster `stanza` (none when empty) and one per job of each tenant's tier; `tenants` is a list
    of {name, tier}. Each: id (unique, a file and unit name), job_name, variant (the backup type of
    a cluster backup), subject, tier, tenant ("" for the cluster), on_calendar, cron, max_age."""
    jobs = []
    if stanza:
        cluster = tier(cluster_tier)["cluster"]
        for variant, when in cluster["schedule"].items():
            jobs.append(
                dict(
                    when,
                    id="cluster_backup-%s-%s" % (variant, stanza),
                    job_name="cluster_backup",
                    variant=variant,
                    subject=stanza,
                    tier=int(cluster_tier),
                    tenant="",
                    max_age=cluster["max_age"],
                )
            )
    for entry in tenants:
        number = entry.get("tier", 1)
        policy = tier(number)
        for job_name, job in policy["jobs"].items():
            # A tenant backup is overdue past the tier's RPO, the age backup_verify checks too.
            overdue = {"max_age": policy["logical"]["max_age"]} if job_name == "tenant_backup" else {}
            jobs.append(
                dict(
                    job,
                    **overdue,
                    id="%s-%s" % (job_name, entry["name"]),
                    job_name=job_name,
                    variant="",
                    subject=entry["name"],
                    tier=int(number),
                    tenant=entry["name"],
                )
            )
    return jobs
