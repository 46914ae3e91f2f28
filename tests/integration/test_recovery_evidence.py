"""The recovery_evidence module on a folder of real reports (dr_drill's, made by the same drill_report code,
and backup_verify's shape) and the scheduler's job metrics: check mode writes nothing and says what it
would, a run writes the three files, a re-run changes nothing, a folder that is not there is refused;
headless Chromium opens the page from disk and draws a point per drill (screenshot in .cache/evidence)."""

import json
import os
import re

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import drill_report
from tests.harness import browser
from tests.harness.playbook import run_tasks

OBJECTIVES = {1: {"rto_seconds": 3600, "rpo_seconds": 93600}}


def drill_json(day, rto):
    at = "2026-11-%02dT06:00:00Z" % day
    checks = [{"name": "restore: amcheck", "subject": "acme", "ok": True, "detail": "", "seconds": 1.0}]
    result = {"subjects": ["acme"], "verified": True, "verified_at": at, "levels": ["objects", "restore"], "checks": checks, "msg": "",
              "figures": {"acme": {"backup": "odoo/acme/b.zip", "backup_age_seconds": 3600.0, "restore_seconds": rto}},
              "kind": "tenant", "item": {"name": "acme", "tier": 1}}  # fmt: skip
    return at, result, drill_report([result], OBJECTIVES, OBJECTIVES[1], at, at)["json"]


def test_the_module_writes_the_report_once_and_a_browser_draws_it(tmp_path, capsys):
    reports, metrics = tmp_path / "reports", tmp_path / "metrics"
    reports.mkdir()
    metrics.mkdir()
    for day, rto in ((7, 700.0), (14, 1400.0), (21, 900.0)):
        _at, result, drill = drill_json(day, rto)
        (reports / ("dr-drill-202611%02d.json" % day)).write_text(json.dumps(drill))
        (reports / ("backup-verify-acme-202611%02d.json" % day)).write_text(json.dumps(result))
    (metrics / "odoo_ops_job-dr_drill-acme.prom").write_text(
        'odoo_ops_job_last_success_timestamp_seconds{job_name="dr_drill",subject="acme",tenant="acme",tier="1"} 1795500000.0\n'
        'odoo_ops_job_max_age_seconds{job_name="dr_drill",subject="acme",tenant="acme",tier="1"} 612000.0\n'
    )
    task = [{"sysgenpro.odoo_ops.recovery_evidence": {"report_dir": str(reports), "textfile_dir": str(metrics)}, "register": "evidence"}]

    refused = run_tasks([{"sysgenpro.odoo_ops.recovery_evidence": {"report_dir": str(tmp_path / "nowhere")}}])
    assert refused.returncode != 0 and any("does not exist" in msg for msg in refused.failures), refused
    checked = run_tasks(task, check=True)
    assert checked.returncode == 0 and checked.stats.get("changed") == 1, checked
    assert not list(reports.glob("recovery-evidence*"))
    first = run_tasks(task)
    assert first.returncode == 0 and first.stats.get("changed") == 1, first
    assert sorted(p.name for p in reports.glob("recovery-evidence*")) == ["recovery-evidence.html", "recovery-evidence.json", "recovery-evidence.md"]
    assert run_tasks(task).stats.get("changed") == 0
    data = json.loads((reports / "recovery-evidence.json").read_text())
    assert [d["rto_seconds"] for d in data["subjects"]["acme"]["drills"]] == [700.0, 1400.0, 900.0]
    assert len(data["subjects"]["acme"]["verifications"]) == 3 and data["jobs"][0]["overdue"] is True  # the drill job's last success is weeks old

    if not browser.chromium():
        pytest.skip("no chromium")
    shot, dom = browser.screenshot("file://" + str(reports / "recovery-evidence.html"), "recovery-evidence.png")
    with capsys.disabled():
        print("\nrecovery-evidence screenshot: %s" % shot)
    assert re.findall(r'data-points="(\d+)"', dom) == ["3", "3", "3"]  # RTO, RPO per drill; backup age per verification
    assert dom.count('class="point"') == 9 and os.path.getsize(shot) > 10000
