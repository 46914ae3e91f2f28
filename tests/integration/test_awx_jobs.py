"""Job templates run the way AWX runs them: ansible-runner runs the template's playbook from the
project (this checkout), with the survey's answers as the only extra vars and each credential
injected as its credential type's injectors say (environment variables, CA files) - the inventory
holds no secret and no connection option, so the modules take them from the environment, as in AWX.
Real services (PostgreSQL 15, SeaweedFS S3 over TLS, Traefik). The job events and stdout that AWX
would keep hold no secret value. Not here: the execution environment container (tests/integration/
test_execution_environment.py builds it; scripts/build_ee.py), an AWX server."""

import glob
import json
import os
import sys

import ansible_runner
import pytest
import yaml

from tests.harness.awx import by_name, inject, injected_extra_vars, load_config, survey_extra_vars
from tests.harness.odoo_fixture import database_state, fleet_with_template
from tests.harness.options import ensure_bucket, s3_client, signing_key
from tests.harness.playbook import VENV_BIN
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT

CONFIG = load_config()
TEMPLATES = by_name(CONFIG["controller_templates"])
TYPES = by_name(CONFIG["controller_credential_types"])
BUCKET = "awx-jobs"
FLEET = "awx_fleet"


@pytest.fixture(scope="module")
def awx(harness):
    state = harness.up("postgres", "s3", "traefik", "backend")
    pg, s3, traefik = state["postgres"], state["s3"], state["traefik"]
    with scratch_dirs("odoo_ops-awx-fs-", "odoo_ops-awx-jobs-") as (root, jobs):
        superuser = fleet_with_template(pg, FLEET, "awx_golden", root)
        ensure_bucket(s3, BUCKET)
        with open(s3["ca_file"], encoding="utf-8") as handle:
            ca = handle.read()
        # The credentials' inputs, as an operator types them into the controller.
        credentials = {
            "odoo_ops PostgreSQL admin role": {
                "host": "127.0.0.1",
                "port": str(pg["port"]),
                "username": pg["admin_user"],
                "password": pg["admin_password"],
                "ssl_mode": "prefer",
            },
            "odoo_ops object storage": {
                "endpoint_url": s3["endpoint"],
                "region": s3["region"],
                "access_key": s3["access_key"],
                "secret_key": s3["secret_key"],
                "ca_bundle": ca,
                "backup_signing_key": signing_key(s3),
            },
            "odoo_ops Traefik API": {"api_url": traefik["api_url"]},
            "odoo_ops pgBackRest repository": {"s3_key": "unused-key", "s3_key_secret": "unused-key-secret", "cipher_pass": "unused-cipher-pass"},
        }
        # The inventory: what the platform is, never how to log in (no odoo_ops_postgres, no odoo_ops_s3).
        inventory = {
            "odoo_platform": {
                "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                "vars": {
                    "odoo_ops_tenants": [{"name": "awxacme", "hosts": ["awxacme.localhost"], "tier": 1}],
                    "odoo_ops_backup_bucket": BUCKET,
                    "backup_verify_bucket": BUCKET,
                    "odoo_ops_filestore_root": root,
                    "odoo_ops_template": "awx_golden",
                    "odoo_ops_fleet_owner": FLEET,
                    "odoo_ops_traefik_dynamic_dir": traefik["dynamic_dir"],
                    "odoo_ops_public_port": traefik["web_port"],
                    "odoo_ops_backend_url": state["backend"]["http_url"],
                    "odoo_ops_websocket_url": state["backend"]["websocket_url"],
                    "backup_verify_work_dir": jobs,
                },
            }
        }
        secrets = [pg["admin_password"], s3["secret_key"], signing_key(s3), "unused-key-secret", "unused-cipher-pass"]
        yield {"credentials": credentials, "inventory": inventory, "jobs": jobs, "superuser": superuser, "s3": s3_client(s3), "secrets": secrets}


def launch(awx, name, answers=None):
    """One job of template `name`, as AWX launches it; returns (runner, extra vars, stdout)."""
    template = TEMPLATES[name]
    extra = survey_extra_vars(template, answers)
    private = os.path.join(awx["jobs"], name.replace(" ", "_") + "-%d" % len(os.listdir(awx["jobs"])))
    os.makedirs(os.path.join(private, "inventory"))
    with open(os.path.join(private, "inventory", "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(awx["inventory"], handle)
    envvars = {"ANSIBLE_NOCOLOR": "1", "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
    for credential in template["credentials"]:
        env, _files = inject(TYPES[credential], awx["credentials"][credential], private)
        envvars.update(env)
        extra.update(injected_extra_vars(TYPES[credential], awx["credentials"][credential]))
    runner = ansible_runner.run(
        private_data_dir=private,
        project_dir=REPO_ROOT,
        playbook=template["playbook"],
        extravars=extra,
        envvars=envvars,
        quiet=True,
        timeout=600,
    )
    stdout = runner.stdout.read()
    assert_no_secret(awx, private)
    return runner, extra, stdout


def assert_no_secret(awx, private):
    """What AWX keeps of a job - its events and stdout - holds no secret value. (ansible-runner's own
    `command` artifact, 0600 in the private data directory, records its environment, as AWX's does
    before it removes the directory: not kept, not checked.)"""
    kept = glob.glob(os.path.join(private, "artifacts", "*", "job_events", "*.json"))
    kept += glob.glob(os.path.join(private, "artifacts", "*", "stdout")) + glob.glob(os.path.join(private, "artifacts", "*", "stderr"))
    assert kept
    for path in kept:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for secret in awx["secrets"]:
            assert secret not in text, "a secret in %s" % path


def database(env, name):
    return database_state(env["superuser"], name)


def test_create_back_up_and_verify_a_tenant_as_awx_runs_them(awx):
    """tenant create -> backup (tier 1, object lock from the policy) -> backup verify (tier 1: its
    levels, a throwaway restore), each job with its survey's answers and its credentials only."""
    created, extra, stdout = launch(awx, "odoo_ops tenant create", {"tenant": "awxacme"})
    assert created.status == "successful", stdout[-3000:]
    assert extra == {"tenant": "awxacme"} and database(awx, "awxacme") is True

    backup, extra, stdout = launch(awx, "odoo_ops backup", {"tenant_backup_tier": "1"})
    assert backup.status == "successful", stdout[-3000:]
    keys = [o["Key"] for o in awx["s3"].list_objects_v2(Bucket=BUCKET, Prefix="odoo/awxacme/").get("Contents", [])]
    assert any(k.endswith(".zip") for k in keys), keys
    zip_key = next(k for k in keys if k.endswith(".zip"))
    assert awx["s3"].get_object_retention(Bucket=BUCKET, Key=zip_key)["Retention"]["Mode"] == "COMPLIANCE"  # tier 1's lock

    verified, extra, stdout = launch(awx, "odoo_ops backup verify", {"backup_verify_tier": "1"})
    assert verified.status == "successful", stdout[-3000:]
    assert extra == {"backup_verify_tier": "1"} and "backup verification of awxacme passed" in stdout
    events = [e for e in verified.events if e.get("event") == "runner_on_ok" and e["event_data"].get("task_action") == "sysgenpro.odoo_ops.backup_verify"]
    (result,) = [r for e in events for r in e["event_data"]["res"].get("results", [])]
    assert result["verified"] is True and {c["name"].split(".")[0] for c in result["checks"]} >= {"objects", "restore"}, result["checks"]


@pytest.mark.parametrize(
    "name, answers",
    [
        ("odoo_ops tenant remove", {"tenant": "awxacme"}),
        ("odoo_ops incident db corruption", {"incident_tenant": "awxacme", "incident_target": "2026-11-23T09:59:30+01:00"}),
    ],
)
def test_dangerous_templates_at_their_defaults_are_refused_and_change_nothing(awx, name, answers):
    before = database(awx, "awxacme")
    done, extra, stdout = launch(awx, name, answers)
    assert done.status == "failed" and all(extra[v] == "false" for v in extra if "confirm" in v), extra
    assert "confirm=true" in stdout, stdout[-2000:]
    assert database(awx, "awxacme") == before
    changed = [e for e in done.events if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")]
    assert not changed


def test_apply_playbook_refuses_without_a_controller(awx, tmp_path):
    """awx/apply.yml with neither URL nor token: refused naming both, nothing sent."""
    env = {"PATH": VENV_BIN + os.pathsep + os.environ["PATH"], "ANSIBLE_NOCOLOR": "1", "CONTROLLER_HOST": "", "CONTROLLER_OAUTH_TOKEN": ""}
    runner = ansible_runner.run(private_data_dir=str(tmp_path), project_dir=REPO_ROOT, playbook="awx/apply.yml", envvars=env, quiet=True, timeout=300)
    stdout = runner.stdout.read()
    assert runner.status == "failed" and "odoo_ops_awx_controller_url" in stdout and "Nothing was sent" in stdout, stdout[-2000:]
    assert json.dumps([e["event_data"].get("task_action") for e in runner.events if e.get("event") == "runner_on_ok"]).count("awx.awx") == 0
