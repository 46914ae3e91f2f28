#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: recovery_evidence
short_description: The recovery-evidence report people read - RTO and RPO per drill against the tier, verifications, scheduled jobs
version_added: 0.1.0
description:
  - Reads the reports M(sysgenpro.odoo_ops.backup_verify) and the C(dr_drill) runbook leave in O(report_dir) (their
    JSON; the newest O(max_reports) by modification time) and the scheduled jobs' metrics in O(textfile_dir)
    (C(odoo_ops_job-*.prom), role C(scheduler)), and writes C(recovery-evidence.html), C(.md) and C(.json) into
    O(dest_dir).
  - Per tenant and cluster, the measured RTO and RPO of each drill over time against the tier's objectives (inline SVG
    charts in the HTML page - one file, no external asset, no script), the backup age at each verification, every
    verification with its failing checks named, and the last success of each scheduled job against its objective
    (overdue, failing).
  - The verdict lists what needs attention; the module does not fail on it (the evidence of a failure is evidence too).
  - A file is replaced only when its content changes (atomically); the same evidence gives the same bytes.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
attributes:
  check_mode:
    details: Reads and renders the same; writes nothing and reports which files would change.
  diff_mode:
    support: full
    details: The SHA-256 of each file before and after.
options:
  report_dir:
    description: Where backup_verify and dr_drill wrote their JSON reports.
    type: path
    required: true
  textfile_dir:
    description: The scheduler's metrics folder (node exporter's textfile collector); omitted - no job table.
    type: path
  dest_dir:
    description: Where the report is written; default O(report_dir).
    type: path
  max_reports:
    description: How many reports are read at most, the newest first (a bound on the work and the page); 1 to 5000.
    type: int
    default: 200
"""

EXAMPLES = r"""
- name: The recovery evidence, after a drill
  sysgenpro.odoo_ops.recovery_evidence:
    report_dir: /var/lib/odoo-ops/reports
    textfile_dir: /var/lib/prometheus/node-exporter
  register: evidence

- name: Say what needs attention
  ansible.builtin.debug:
    msg: "{{ evidence.problems }}"
  when: not evidence.passed
"""

RETURN = r"""
paths:
  description: The files, by format.
  returned: always
  type: dict
  sample: {html: /var/lib/odoo-ops/reports/recovery-evidence.html, markdown: /var/lib/odoo-ops/reports/recovery-evidence.md,
           json: /var/lib/odoo-ops/reports/recovery-evidence.json}
passed:
  description: Whether the last drill and verification of every subject passed and no scheduled job is overdue or failing.
  returned: always
  type: bool
problems:
  description: What needs attention, one line each.
  returned: always
  type: list
  elements: str
subjects:
  description: The tenants and clusters with evidence, and how many drills and verifications each has.
  returned: always
  type: dict
  sample: {acme: {drills: 3, verifications: 12}}
reports_read:
  description: How many JSON reports were read.
  returned: always
  type: int
steps:
  description: The files written (or that would be).
  returned: always
  type: list
  elements: str
diff:
  description: SHA-256 of each file before and after.
  returned: always
  type: dict
"""

import hashlib
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_writable_dir, read_file, write_atomic
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.evidence import JOB_FILE, evidence, job_metrics, render

ARGUMENT_SPEC = dict(
    report_dir=dict(type="path", required=True),
    textfile_dir=dict(type="path"),
    dest_dir=dict(type="path"),
    max_reports=dict(type="int", default=200),
)
FILES = (("html", "recovery-evidence.html"), ("markdown", "recovery-evidence.md"), ("json", "recovery-evidence.json"))


def read_reports(folder, limit):
    """The newest `limit` JSON documents of folder (its own evidence excluded), and how many were read."""
    names = [name for name in os.listdir(folder) if name.endswith(".json") and not name.startswith("recovery-evidence")]
    paths = sorted((os.path.join(folder, name) for name in names), key=os.path.getmtime)[-limit:]
    found = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                found.append(json.load(handle))
        except (OSError, ValueError):
            continue  # a report being written, or not ours: the others are still evidence
    return found


def read_jobs(folder):
    jobs = []
    for name in sorted(os.listdir(folder)):
        if JOB_FILE.match(name):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                jobs += job_metrics(handle.read())
    return jobs


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params

    def work(_resources):
        if not os.path.isdir(params["report_dir"]):
            raise ValueError("report_dir %s does not exist or is not a directory" % params["report_dir"])
        dest = params["dest_dir"] or params["report_dir"]
        check_writable_dir(dest, "dest_dir")
        reports = read_reports(params["report_dir"], params["max_reports"])
        jobs = read_jobs(params["textfile_dir"]) if params["textfile_dir"] and os.path.isdir(params["textfile_dir"]) else []
        data = evidence(reports, jobs, time.time())
        rendered = render(data)
        before, after, steps, paths = {}, {}, [], {}
        for kind, name in FILES:
            paths[kind] = os.path.join(dest, name)
            content = rendered[kind].encode("utf-8")
            old, _mode = read_file(paths[kind])
            before[name] = hashlib.sha256(old).hexdigest() if old is not None else None
            after[name] = hashlib.sha256(content).hexdigest()
            if old != content:
                steps.append("write %s" % paths[kind])
                if not module.check_mode:
                    write_atomic(paths[kind], content, 0o644)
        summary = {name: {"drills": len(s["drills"]), "verifications": len(s["verifications"])} for name, s in data["subjects"].items()}
        report = dict(paths=paths, passed=data["passed"], problems=data["problems"], subjects=summary, reports_read=len(reports))
        return Plan(before=before, after=after, steps=steps, report=report).result()

    run_module(module, work)


if __name__ == "__main__":
    main()
