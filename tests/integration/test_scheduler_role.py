"""The scheduler role keeps only what it schedules: a tenant removed from the inventory loses its
units and its job metrics on the next run (no timer runs for it, no alert speaks of it), and the
business calendar's freeze_status job writes odoo_ops_freeze_active through the same runner, from the
collection's calendar; without freeze windows the job and its files go too. systemd mode with the
units written, not enabled (no systemd here)."""

import json
import os
import subprocess
import sys

from tests.harness.playbook import run_tasks

MONTH_END = {"name": "month-end close", "reason": "invoices", "kind": "month_end", "last_business_days": 2, "first_business_days": 1}
ALWAYS = {"name": "audit", "reason": "auditors on site", "kind": "range", "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z",
          "fleets": ["shared1"]}  # fmt: skip


def test_a_removed_tenant_loses_its_jobs_and_the_freeze_job_writes_the_calendar(tmp_path):
    folders = {name: str(tmp_path / name) for name in ("config", "units", "metrics", "reports")}
    os.makedirs(folders["units"])  # systemd's own folder, there on a host
    role = {
        "scheduler_mode": "systemd",
        "scheduler_systemd_enable": False,
        "scheduler_tenants": [{"name": "acme", "tier": 3, "fleet": "shared1"}, {"name": "globex", "tier": 3, "fleet": "shared1"}],
        # two job names are enough to show the rule (each unit written is a task: CI time)
        "scheduler_jobs_enabled": ["tenant_backup", "verify_objects"],
        "scheduler_freeze_windows": [MONTH_END, ALWAYS],
        "scheduler_config_dir": folders["config"],
        "scheduler_systemd_dir": folders["units"],
        "scheduler_textfile_dir": folders["metrics"],
        "scheduler_report_dir": folders["reports"],
        "scheduler_python": sys.executable,
    }

    def task(**changes):
        return [{"ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.scheduler"}, "vars": dict(role, **changes)}]

    first = run_tasks(task())
    assert first.returncode == 0, first
    units = set(os.listdir(folders["units"]))
    assert {"odoo-ops-job-tenant_backup-globex.timer", "odoo-ops-job-verify_objects-globex.service", "odoo-ops-job-freeze_status.timer"} <= units
    assert "OnUnitActiveSec=60\n" in open(os.path.join(folders["units"], "odoo-ops-job-freeze_status.timer"), encoding="utf-8").read()
    # The freeze job, as its timer starts it: the runner runs the script, which reads the collection's calendar.
    ran = subprocess.run(
        [sys.executable, os.path.join(folders["config"], "odoo_ops_scheduler.py"), "run", "--jobs", os.path.join(folders["config"], "jobs.json"),
         "--job", "freeze_status", "--textfile-dir", folders["metrics"]],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    with open(os.path.join(folders["metrics"], "odoo_ops_freeze.prom"), encoding="utf-8") as handle:
        frozen = handle.read()
    assert 'odoo_ops_freeze_active{fleet="shared1",tenant="acme",window="audit"} 1\n' in frozen
    assert 'odoo_ops_freeze_active{fleet="shared1",tenant="globex",window="audit"} 1\n' in frozen
    with open(os.path.join(folders["metrics"], "odoo_ops_job-freeze_status-calendar.prom"), encoding="utf-8") as handle:
        assert 'odoo_ops_job_max_age_seconds{job_name="freeze_status",subject="calendar",tier="all"} 300.0' in handle.read()
    # Metrics of globex's and acme's earlier runs, and a file that is not the scheduler's.
    for name in ("odoo_ops_job-tenant_backup-globex.prom", "odoo_ops_job-verify_objects-globex.prom", "odoo_ops_job-tenant_backup-acme.prom", "other.prom"):
        with open(os.path.join(folders["metrics"], name), "w", encoding="utf-8") as handle:
            handle.write("# earlier\n")

    # globex leaves the inventory, and the freeze windows are gone.
    second = run_tasks(task(scheduler_tenants=role["scheduler_tenants"][:1], scheduler_freeze_windows=[]))
    assert second.returncode == 0, second
    units = set(os.listdir(folders["units"]))
    assert not [name for name in units if "globex" in name or "freeze_status" in name], units
    assert units == {"odoo-ops-job-%s-acme.%s" % (job, unit) for job in ("tenant_backup", "verify_objects") for unit in ("service", "timer")}
    assert sorted(os.listdir(folders["metrics"])) == ["odoo_ops_job-tenant_backup-acme.prom", "other.prom"]
    with open(os.path.join(folders["config"], "jobs.json"), encoding="utf-8") as handle:
        assert {job["subject"] for job in json.load(handle)} == {"acme"}
    assert run_tasks(task(scheduler_tenants=role["scheduler_tenants"][:1], scheduler_freeze_windows=[])).stats["changed"] == 0
