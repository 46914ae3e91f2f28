# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduler's freeze_status job: the business calendar's answer for each tenant, now, as
`odoo_ops_freeze_active{tenant, fleet, window}` in node exporter's textfile folder (odoo_ops_freeze.prom,
written atomically), so that alerts name - and routes can escalate or silence by - the business window
a tenant is in (month-end close, payroll).

The calendar is the collection's own (plugins/module_utils/business_calendar.py), imported from
--collections (the folder that holds ansible_collections/); the windows and tenants come from the
file the scheduler role writes ({"windows": [...], "tenants": [{"name", "fleet"}]}).
"""

import argparse
import json
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--collections", required=True, help="the folder holding ansible_collections/sysgenpro/odoo_ops")
    parser.add_argument("--calendar", required=True, help="the windows and tenants (JSON)")
    parser.add_argument("--textfile-dir", required=True, help="node exporter's textfile collector folder")
    args = parser.parse_args(argv)
    sys.path[:0] = [args.collections, os.path.dirname(os.path.abspath(__file__))]
    # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError
    from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.business_calendar import freeze_metrics
    from odoo_ops_scheduler import write_atomically

    try:
        with open(args.calendar, encoding="utf-8") as handle:
            calendar = json.load(handle)
        text = freeze_metrics(calendar.get("windows") or [], calendar.get("tenants") or [])
    except (OSError, ValueError, AttributeError, OdooOpsError) as exc:
        parser.exit(2, "odoo_ops_freeze: %s\n" % exc)
    write_atomically(os.path.join(args.textfile_dir, "odoo_ops_freeze.prom"), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
