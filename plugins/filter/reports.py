# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters drill_report and incident_markdown: the runbooks' reports, rendered and judged by the same
code as backup_verify's (module_utils/verify/report), not in Jinja.

  {{ results | sysgenpro.odoo_ops.drill_report(objectives, cluster_objectives, started, finished) }}
    -> {"json": {started, finished, subjects: [rows], passed, failed, message}, "markdown": text}
  {{ report | sysgenpro.odoo_ops.incident_markdown }}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import drill_report as _drill_report
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import incident_markdown


def drill_report(results, objectives, cluster_objectives, started, finished):
    try:
        return _drill_report(list(results), objectives, cluster_objectives, started, finished)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("drill_report: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"drill_report": drill_report, "incident_markdown": incident_markdown}
