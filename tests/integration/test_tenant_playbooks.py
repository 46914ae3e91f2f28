"""The tenant lifecycle playbooks end to end on real PostgreSQL 15, SeaweedFS S3 (TLS) and Traefik:
create from the template and route, suspend (503, connections refused) and resume, clone to a
neutralized staging copy on its own host, remove only with confirmation and after a final backup."""

import contextlib
import json
import os
import subprocess

import psycopg2
import pytest

from tests.harness.http import request
from tests.harness.odoo_fixture import database_state, fleet_with_template
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.playbook import VENV_BIN
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT

FLEET = "lifecycle_fleet"


@pytest.fixture(scope="module")
def env(harness):
    state = harness.up("postgres", "s3", "traefik", "backend")
    pg, s3, traefik = state["postgres"], state["s3"], state["traefik"]
    with scratch_dirs("odoo_ops-lifecycle-fs-") as (root,):
        superuser = fleet_with_template(pg, FLEET, "lc_golden", root)
        s3_client(s3).create_bucket(Bucket="lifecycle")
        extra = {
            "odoo_ops_postgres": login_options(pg),
            "odoo_ops_s3": s3_options(s3),
            "odoo_ops_backup_bucket": "lifecycle",
            "odoo_ops_filestore_root": root,
            "odoo_ops_template": "lc_golden",
            "odoo_ops_fleet_owner": FLEET,
            "odoo_ops_traefik_dynamic_dir": traefik["dynamic_dir"],
            "odoo_ops_traefik_api_url": traefik["api_url"],
            "odoo_ops_public_port": traefik["web_port"],
            "odoo_ops_backend_url": state["backend"]["http_url"],
            "odoo_ops_websocket_url": state["backend"]["websocket_url"],
            "odoo_ops_tenants": [{"name": "lcacme", "hosts": ["lcacme.localhost"], "tier": 1}],
        }
        yield {"extra": extra, "superuser": superuser, "root": root, "port": traefik["web_port"], "s3": s3_client(s3), "dynamic_dir": traefik["dynamic_dir"]}


def playbook(env, name, **extra):
    done = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/%s.yml" % name, "-e", json.dumps(dict(env["extra"], **extra))],
        cwd=REPO_ROOT,
        env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done


def database(env, name):
    return database_state(env["superuser"], name)


def test_lifecycle_create_suspend_resume_clone_remove(env):
    created = playbook(env, "tenant_create", tenant="lcacme")
    assert created.returncode == 0, created.stdout[-3000:]
    assert database(env, "lcacme") is True and request(env["port"], "lcacme.localhost", "/web/login")[0] == 200
    assert os.path.isdir(os.path.join(env["root"], "lcacme"))
    again = playbook(env, "tenant_create", tenant="lcacme")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-2000:]

    suspended = playbook(env, "tenant_suspend", tenant="lcacme")
    assert suspended.returncode == 0, suspended.stdout[-3000:]
    assert database(env, "lcacme") is False and request(env["port"], "lcacme.localhost", "/web/login")[0] == 503
    resumed = playbook(env, "tenant_resume", tenant="lcacme")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert database(env, "lcacme") is True and request(env["port"], "lcacme.localhost", "/web/login")[0] == 200

    cloned = playbook(env, "tenant_clone_staging", tenant="lcacme", tenant_staging_hosts=["lcacme-staging.localhost"])
    assert cloned.returncode == 0, cloned.stdout[-3000:]
    with contextlib.closing(psycopg2.connect(dbname="lcacme-staging", **env["superuser"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT smtp_host FROM ir_mail_server WHERE active")
        assert cur.fetchall() == [("invalid",)]  # neutralized as Odoo does: only the dummy server, no customer mail
        cur.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'")
        assert cur.fetchone() == ("true",)
        cur.execute("SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'")
        assert cur.fetchone()[0] == "https://lcacme-staging.localhost"
    assert request(env["port"], "lcacme-staging.localhost", "/web/login")[0] == 200

    refused = playbook(env, "tenant_remove", tenant="lcacme")
    assert refused.returncode != 0 and "tenant_remove_confirm=true" in refused.stdout
    assert database(env, "lcacme") is True
    removed = playbook(env, "tenant_remove", tenant="lcacme", tenant_remove_confirm=True)
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert database(env, "lcacme") is None and not os.path.exists(os.path.join(env["root"], "lcacme"))
    keys = [o["Key"] for o in env["s3"].list_objects_v2(Bucket="lifecycle").get("Contents", [])]
    assert any(k.startswith("odoo/lcacme/lcacme_") and k.endswith(".zip") for k in keys), keys
    assert not os.path.exists(os.path.join(env["dynamic_dir"], "lcacme.yml"))
    assert request(env["port"], "lcacme.localhost", "/web/login")[0] == 404
