# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters drill_report, incident_markdown and release_report: the runbooks' reports, rendered and judged by the same
code as backup_verify's (module_utils/verify/report), not in Jinja.

  {{ results | sysgenpro.odoo_ops.drill_report(objectives, cluster_objectives, started, finished) }}
    -> {"json": {started, finished, subjects: [rows], passed, failed, message}, "markdown": text}
  {{ report | sysgenpro.odoo_ops.incident_markdown }}
  {{ report | sysgenpro.odoo_ops.release_report }} -> {"json": report with passed, "markdown": text}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import drill_report as _drill_report
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import incident_markdown
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import release_report as _release_report


def drill_report(results, objectives, cluster_objectives, started, finished):
    try:
        return _drill_report(list(results), objectives, cluster_objectives, started, finished)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("drill_report: %s" % exc) from None


def release_report(report):
    try:
        return _release_report(dict(report))
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("release_report: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"drill_report": drill_report, "incident_markdown": incident_markdown, "release_report": release_report}
