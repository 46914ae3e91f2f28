"""The scheduler's freeze_status job (roles/scheduler/files/odoo_ops_freeze.py): the business calendar's
answer per tenant written for node exporter's textfile collector, atomically; a bad calendar refused
with its reason and nothing written."""

import json
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "scheduler", "files", "odoo_ops_freeze.py")
COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", "..", ".cache", "collections")
ALWAYS = {"name": "all year", "reason": "audit", "kind": "range", "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z", "tenants": ["acme"]}


def run(tmp_path, calendar):
    path = tmp_path / "freeze.json"
    path.write_text(json.dumps(calendar) if isinstance(calendar, dict) else calendar)
    metrics = tmp_path / "metrics"
    metrics.mkdir(exist_ok=True)
    argv = [sys.executable, SCRIPT, "--collections", COLLECTIONS, "--calendar", str(path), "--textfile-dir", str(metrics)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False), metrics


def test_the_job_writes_each_tenants_window_atomically(tmp_path):
    done, metrics = run(tmp_path, {"windows": [ALWAYS], "tenants": [{"name": "acme", "fleet": "shared1"}, {"name": "globex", "fleet": "shared1"}]})
    assert done.returncode == 0, done.stderr
    assert os.listdir(metrics) == ["odoo_ops_freeze.prom"]  # no temporary file left
    text = (metrics / "odoo_ops_freeze.prom").read_text()
    assert 'odoo_ops_freeze_active{fleet="shared1",tenant="acme",window="all year"} 1\n' in text
    assert 'odoo_ops_freeze_active{fleet="shared1",tenant="globex",window=""} 0\n' in text
    assert oct(os.stat(metrics / "odoo_ops_freeze.prom").st_mode & 0o777) == "0o644"


def test_a_bad_calendar_is_refused_and_nothing_is_written(tmp_path):
    done, metrics = run(tmp_path, {"windows": [dict(ALWAYS, kind="lunar")], "tenants": [{"name": "acme"}]})
    assert done.returncode == 2 and "lunar" in done.stderr, done.stderr
    assert os.listdir(metrics) == []
    done, metrics = run(tmp_path, "not json")
    assert done.returncode == 2 and "odoo_ops_freeze:" in done.stderr and os.listdir(metrics) == []
