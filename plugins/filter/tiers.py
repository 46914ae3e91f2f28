# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter tier_policy: the one tier policy (module_utils/backup/tiers) for roles and playbooks.

{{ 1 | sysgenpro.odoo_ops.tier_policy }} -> {logical, object_lock, cluster, objectives, jobs, ...}
{{ tenants | sysgenpro.odoo_ops.scheduled_jobs(stanza, 1) }} -> [{id, job_name, subject, cron, ...}]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import scheduled_jobs as policy_jobs, tier


def tier_policy(number):
    try:
        return tier(number)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def scheduled_jobs(tenants, stanza="", cluster_tier=1):
    """The scheduled jobs of a platform: its cluster's pgBackRest backups and each tenant's jobs."""
    try:
        return policy_jobs(stanza, cluster_tier, [{"name": t["name"], "tier": t.get("tier", 1)} for t in tenants])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("scheduled_jobs: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"tier_policy": tier_policy, "scheduled_jobs": scheduled_jobs}
