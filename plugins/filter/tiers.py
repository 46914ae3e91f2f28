# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter tier_policy: the one tier policy (module_utils/backup/tiers) for roles and playbooks.

{{ 1 | sysgenpro.odoo_ops.tier_policy }} -> {logical, object_lock, cluster, objectives, ...}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import tier


def tier_policy(number):
    try:
        return tier(number)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule(object):
    def filters(self):
        return {"tier_policy": tier_policy}
