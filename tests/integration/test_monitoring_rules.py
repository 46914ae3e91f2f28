"""The monitoring_rules role: the alert rules pass their promtool unit tests and every alert is tested,
carries its severity, owner and runbook; the role writes and validates the files (check mode writes
nothing, a re-run changes nothing, a webhook token is never logged, a route to an unknown receiver is
refused); and the PostgreSQL exporter's queries run on a real PostgreSQL 15 with a pg_monitor-only role
through the real prometheus-postgres-exporter."""

import os
import re
import subprocess
import tempfile
import urllib.request

import psycopg2
import pytest
import yaml

from tests.harness.playbook import run_tasks
from tests.harness.process import free_port, spawn, stop_pid, wait_until
from tests.harness.services import REPO_ROOT

ROLE = os.path.join(REPO_ROOT, "roles", "monitoring_rules")
RULES = os.path.join(ROLE, "files", "odoo_ops_alerts.yml")
QUERIES = os.path.join(ROLE, "files", "postgres_exporter_queries.yml")
RULE_TESTS = os.path.join(REPO_ROOT, "tests", "prometheus", "odoo_ops_alerts.test.yml")
SEVERITY = re.compile(r"critical|warning|\{\{ if .* \}\}critical\{\{ else \}\}warning\{\{ end \}\}")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def alerts():
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def test_rules_pass_their_promtool_unit_tests():
    checked = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", RULE_TESTS], capture_output=True, text=True, timeout=120, check=False)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout + tested.stderr, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_says_who_acts_and_how():
    fired = {case["alertname"] for test in load(RULE_TESTS)["tests"] for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    problems = []
    for rule in alerts():
        name, labels, notes = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        if name not in fired:
            problems.append("%s: no promtool test where it fires" % name)
        if not SEVERITY.fullmatch(str(labels.get("severity", ""))):
            problems.append("%s: severity %r" % (name, labels.get("severity")))
        if labels.get("owner") not in ("platform", "customer"):
            problems.append("%s: owner %r" % (name, labels.get("owner")))
        if not os.path.isfile(os.path.join(REPO_ROOT, str(labels.get("runbook")))):
            problems.append("%s: runbook %r is not a playbook of the collection" % (name, labels.get("runbook")))
        if not os.path.isfile(os.path.join(REPO_ROOT, str(notes.get("runbook_url")))):
            problems.append("%s: runbook_url %r is not a page of docs/" % (name, notes.get("runbook_url")))
        if not notes.get("summary") or not notes.get("description"):
            problems.append("%s: summary and description are what the person on call reads" % name)
    assert not problems, "\n".join(problems)
    # every test group also holds a neighbour that must not fire: more series than expected alerts
    for test in load(RULE_TESTS)["tests"]:
        expected = sum(len(case.get("exp_alerts") or []) for case in test["alert_rule_test"])
        assert len(test["input_series"]) > expected, test["name"]


def test_the_role_writes_validated_files_logs_no_token_and_refuses_unknown_receivers():
    token = "hook-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="odoo_ops-monitoring-") as work:
        target = os.path.join(work, "monitoring")
        role_vars = {
            "monitoring_rules_dir": target,
            "monitoring_rules_receivers": [{"name": "pager", "webhook_url": "https://hooks.example/%s" % token}, {"name": "team"}],
            "monitoring_rules_receivers_by_route": {"default": "team", "platform_critical": "pager", "platform": "team", "customer": "team"},
        }
        task = [{"ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.monitoring_rules"}, "vars": role_vars}]

        bad = dict(role_vars, monitoring_rules_receivers_by_route=dict(role_vars["monitoring_rules_receivers_by_route"], customer="nobody"))
        refused = run_tasks([{"ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.monitoring_rules"}, "vars": bad}])
        assert refused.returncode != 0 and any("unknown: nobody" in msg for msg in refused.failures), refused
        assert not os.path.exists(target)

        checked = run_tasks(task, check=True)
        assert checked.returncode == 0, checked
        assert not os.path.exists(target)

        first = run_tasks(task, verbosity=3)
        assert first.returncode == 0 and first.stats.get("changed") == 4, first
        assert token not in first.output + first.stderr
        again = run_tasks(task)
        assert again.returncode == 0 and again.stats.get("changed") == 0, again

        config = os.path.join(target, "alertmanager.yml")
        assert oct(os.stat(config).st_mode & 0o777) == "0o640"
        amtool = subprocess.run(["amtool", "check-config", config], capture_output=True, text=True, timeout=60, check=False)
        assert amtool.returncode == 0, amtool.stdout + amtool.stderr
        routing = load(config)
        assert [route["receiver"] for route in routing["route"]["routes"]] == ["pager", "team", "team"]
        assert routing["receivers"][0]["webhook_configs"][0]["url"].endswith(token)
        with open(os.path.join(target, "rules", "odoo_ops_alerts.yml"), encoding="utf-8") as handle, open(RULES, encoding="utf-8") as shipped:
            assert handle.read() == shipped.read()


@pytest.fixture()
def exporter_role(harness):
    pg = harness.up("postgres")["postgres"]
    password = os.urandom(12).hex()
    owner = psycopg2.connect(host=pg["socket_dir"], port=pg["port"], user=pg["superuser"], dbname="postgres")
    owner.autocommit = True
    with owner.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS odoo_ops_exporter_test")
        cur.execute("CREATE ROLE odoo_ops_exporter_test LOGIN PASSWORD %s IN ROLE pg_monitor", (password,))
        cur.execute("DROP DATABASE IF EXISTS exporter_tenant")
        cur.execute("CREATE DATABASE exporter_tenant CONNECTION LIMIT 7")
        cur.execute("SELECT pg_create_physical_replication_slot('exporter_test_slot')")
    try:
        yield pg, password
    finally:
        with owner.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot('exporter_test_slot')")
            cur.execute("DROP DATABASE IF EXISTS exporter_tenant")
            cur.execute("DROP ROLE IF EXISTS odoo_ops_exporter_test")
        owner.close()


def test_exporter_queries_run_on_real_postgres_with_pg_monitor_only(exporter_role):
    pg, password = exporter_role
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="odoo_ops-exporter-") as work:
        log = os.path.join(work, "exporter.log")
        # The password reaches the exporter through its environment, never its command line.
        env = dict(
            os.environ,
            DATA_SOURCE_NAME="host=127.0.0.1 port=%d user=odoo_ops_exporter_test password=%s dbname=postgres sslmode=disable" % (pg["port"], password),
        )
        pid = spawn(["prometheus-postgres-exporter", "--web.listen-address=127.0.0.1:%d" % port, "--extend.query-path=%s" % QUERIES], log, env=env)
        try:

            def scrape():
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as answer:
                    text = answer.read().decode()
                return text if "odoo_ops_database_connections" in text else None

            metrics = wait_until(scrape, 30, "prometheus-postgres-exporter", log_path=log, alive=None)
        finally:
            stop_pid(pid, timeout=10)
    assert re.search(r"^pg_up(\{[^}]*\})? 1$", metrics, re.M), metrics[:2000]
    assert re.search(r"^pg_exporter_last_scrape_error(\{[^}]*\})? 0$", metrics, re.M)
    assert re.search(r'^odoo_ops_database_connection_limit\{datname="exporter_tenant"[^}]*\} 7$', metrics, re.M)
    assert re.search(r'^odoo_ops_replication_slot_active\{[^}]*slot_name="exporter_test_slot"[^}]*\} 0$', metrics, re.M)
    assert re.search(r"^odoo_ops_wal_archive_ready_segments(\{[^}]*\})? \d+$", metrics, re.M)
    # every metric the alert rules read from PostgreSQL is one the exporter (with our queries) serves
    wanted = {"pg_up", "pg_stat_archiver_failed_count", "pg_settings_max_connections", "pg_stat_activity_count"}
    wanted |= {"odoo_ops_database_connections", "odoo_ops_database_connection_limit", "odoo_ops_wal_archive_ready_segments", "odoo_ops_replication_slot_active"}
    served = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", metrics, re.M))
    assert wanted <= served, wanted - served
    expressions = " ".join(rule["expr"] for rule in alerts())
    read_by_rules = set(re.findall(r"\b((?:pg|odoo_ops_database|odoo_ops_wal|odoo_ops_replication_slot)_[a-z_]+)\b", expressions))
    assert read_by_rules - served == set(), read_by_rules - served
