"""The scheduler role's job runner (roles/scheduler/files/odoo_ops_scheduler.py): cron times, the
timers' semantics kept by `serve` (missed runs caught up, random delay), and each job's metrics in
the contract of docs/observability.md, written atomically, a failure keeping the last success."""

import calendar
import importlib.util
import json
import os
import random
import sys

import pytest

RUNNER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "scheduler", "files", "odoo_ops_scheduler.py")
spec = importlib.util.spec_from_file_location("odoo_ops_scheduler", RUNNER)
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)


def utc(text):
    return calendar.timegm(__import__("time").strptime(text, "%Y-%m-%d %H:%M"))


def job(tmp_path, command, **extra):
    found = {"id": "tenant_backup-acme", "job_name": "tenant_backup", "variant": "", "subject": "acme", "tier": 1, "tenant": "acme",
             "max_age": 93600, "cron": "30 0 * * *", "command": command, "timeout": 30}  # fmt: skip
    found.update(extra)
    return found


@pytest.mark.parametrize(
    "expression, after, expected",
    [
        ("30 0 * * *", "2026-12-07 00:30", "2026-12-08 00:30"),  # strictly after
        ("0 1 * * 0", "2026-12-07 12:00", "2026-12-13 01:00"),  # the next Sunday (2026-12-13)
        ("0 1 * * 1-6", "2026-12-12 01:00", "2026-12-14 01:00"),  # Saturday -> Monday
        ("*/15 * * * *", "2026-12-07 10:07", "2026-12-07 10:15"),
        ("0 6 * * 7", "2026-12-07 00:00", "2026-12-13 06:00"),  # 7 is Sunday too
        ("0 0 1 * 1", "2026-12-01 00:00", "2026-12-07 00:00"),  # both day fields: either matches
    ],
)
def test_next_cron(expression, after, expected):
    assert runner.next_cron(expression, utc(after)) == utc(expected)


@pytest.mark.parametrize("bad", ["* * * *", "60 * * * *", "x * * * *", "0 0 31 2 *"])
def test_a_bad_or_impossible_cron_is_named(bad):
    with pytest.raises(runner.JobError, match="cron"):
        runner.next_cron(bad, utc("2026-12-07 00:00"))


def test_a_missed_run_is_due_now_a_new_job_waits_and_the_delay_is_bounded(tmp_path):
    now = utc("2026-12-09 12:00")
    daily = job(tmp_path, ["true"], random_delay=0)
    assert runner.next_due(daily, utc("2026-12-07 00:31"), now, random.Random(1)) == now  # 2026-12-08 00:30 was missed
    assert runner.next_due(daily, None, now, random.Random(1)) == utc("2026-12-10 00:30")
    delayed = [runner.next_due(dict(daily, random_delay=900), None, now, random.Random(seed)) for seed in range(20)]
    assert all(utc("2026-12-10 00:30") <= due <= utc("2026-12-10 00:45") for due in delayed) and len(set(delayed)) > 1
    shortened = dict(daily, every_seconds=20)
    assert runner.next_due(shortened, now - 5, now, random.Random(1)) == now + 15


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_a_run_writes_the_contract_a_failure_keeps_the_last_success(tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    # the job reports its bytes where the runner says (what the tenant_backup runbook does)
    ok = job(tmp_path, [sys.executable, "-c", "import json, os; json.dump({'bytes': 4096}, open(os.environ['ODOO_OPS_JOB_RESULT'], 'w'))"])
    assert runner.run_job(ok, str(textfile), log=open(os.devnull, "w", encoding="utf-8")) == 0
    path = str(textfile / "odoo_ops_job-tenant_backup-acme.prom")
    text = read(path)
    labels = '{job_name="tenant_backup",subject="acme",tenant="acme",tier="1"}'
    for name in ("last_run_timestamp_seconds", "last_success_timestamp_seconds", "duration_seconds", "bytes", "max_age_seconds"):
        assert "# TYPE odoo_ops_job_%s gauge" % name in text and "odoo_ops_job_%s%s " % (name, labels) in text
    first = runner.read_metrics(path)
    assert first["bytes"] == 4096 and first["max_age_seconds"] == 93600 and first["last_success_timestamp_seconds"] == first["last_run_timestamp_seconds"]
    assert os.listdir(str(textfile)) == ["odoo_ops_job-tenant_backup-acme.prom"]  # no temporary file left
    failing = dict(ok, command=["sh", "-c", "exit 3"])
    assert runner.run_job(failing, str(textfile), log=open(os.devnull, "w", encoding="utf-8")) == 3
    second = runner.read_metrics(path)
    assert second["last_success_timestamp_seconds"] == first["last_success_timestamp_seconds"] and second["bytes"] == 4096
    assert second["last_run_timestamp_seconds"] > first["last_run_timestamp_seconds"]


def test_a_cluster_backup_reports_pgbackrests_newest_size_and_a_hung_job_is_stopped(tmp_path):
    info = [{"backup": [{"info": {"repository": {"delta": 10}}}, {"info": {"repository": {"delta": 777}}}]}]
    cluster = job(tmp_path, [sys.executable, "-c", "import json, os, sys; json.dump(%s, open(os.environ['ODOO_OPS_JOB_RESULT'], 'w'))" % json.dumps(info)],
                  id="cluster_backup-diff-main", job_name="cluster_backup", variant="diff", subject="main", tenant="")  # fmt: skip
    assert runner.run_job(cluster, str(tmp_path), log=open(os.devnull, "w", encoding="utf-8")) == 0
    text = read(str(tmp_path / "odoo_ops_job-cluster_backup-main.prom"))
    assert 'odoo_ops_job_bytes{job_name="cluster_backup",subject="main",tier="1"} 777.0' in text and "tenant=" not in text
    hung = dict(cluster, command=["sleep", "60"], timeout=1)
    assert runner.run_job(hung, str(tmp_path), log=open(os.devnull, "w", encoding="utf-8")) == 124


def test_serve_runs_due_jobs_one_at_a_time_and_a_bad_jobs_file_is_refused(tmp_path):
    marker = tmp_path / "ran"
    every = job(tmp_path, ["sh", "-c", "echo x >> %s" % marker], every_seconds=1, cron=None)
    runs = runner.serve([every], str(tmp_path), max_runs=2, rng=random.Random(0), log=open(os.devnull, "w", encoding="utf-8"))
    assert runs == 2 and read(str(marker)) == "x\nx\n"
    bad = tmp_path / "jobs.json"
    bad.write_text(json.dumps([{"id": "x", "job_name": "retention", "subject": "acme", "tier": 1, "max_age": 1, "command": ["true"]}]))
    with pytest.raises(runner.JobError, match="job x lacks cron or every_seconds"):
        runner.load_jobs(str(bad))
