# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter freeze_status: the business calendar (module_utils/business_calendar) for roles, playbooks and
reports - is an instant inside a freeze window, which one, and when does the freeze end.

{{ odoo_ops_freeze_windows | sysgenpro.odoo_ops.freeze_status(tenant='acme') }}
  -> {frozen, at, windows: [{name, reason, kind, start, end}], ends, next}
{{ odoo_ops_freeze_windows | sysgenpro.odoo_ops.freeze_status(at='2026-12-31T09:00:00+01:00', fleet='shared1') }}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.business_calendar import freeze_status as _freeze_status


def freeze_status(windows, at=None, fleet=None, tenant=None):
    try:
        return _freeze_status(windows, at=at, fleet=fleet, tenant=tenant)
    except ValueError as exc:  # Refused, and the ValueError of a timestamp parser
        raise AnsibleFilterError(str(exc)) from None


class FilterModule(object):
    def filters(self):
        return {"freeze_status": freeze_status}
