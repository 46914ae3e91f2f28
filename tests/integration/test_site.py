"""The main job (playbooks/site.yml with inventories/local) and the installed collection."""
import json
import os
import subprocess
import sys

import pytest

from tests.harness.http import request
from tests.harness.services import REPO_ROOT

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")


def site(state, *extra):
    """site.yml on the local inventory, pointed at this test session's services instead of the
    local platform's (extra vars take precedence over the inventory's lookups)."""
    overrides = {"odoo_ops_traefik_dynamic_dir": state["traefik"]["dynamic_dir"],
                 "odoo_ops_traefik_api_url": state["traefik"]["api_url"],
                 "odoo_ops_public_port": state["traefik"]["web_port"],
                 "odoo_ops_backend_url": state["backend"]["http_url"],
                 "odoo_ops_websocket_url": state["backend"]["websocket_url"]}
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/site.yml",
                           "-e", json.dumps(overrides)] + list(extra),
                          cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def state(harness):
    return harness.up("traefik", "backend")


def test_site_routes_the_example_tenants_and_is_idempotent(state):
    first = site(state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "http://acme.localhost:%d/web/login" % state["traefik"]["web_port"] in first.stdout
    for host in ("acme.localhost", "erp.acme.localhost", "globex.localhost"):
        assert request(state["traefik"]["web_port"], host, "/web/login")[0] == 200
    assert request(state["traefik"]["web_port"], "acme.localhost", "/web/database/manager")[0] == 403
    again = site(state)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


def test_site_check_mode_on_a_fresh_platform_changes_nothing(harness, tmp_path):
    state = dict(harness.up("traefik", "backend"))
    empty = tmp_path / "dynamic"
    empty.mkdir()
    state["traefik"] = dict(state["traefik"], dynamic_dir=str(empty))
    run = site(state, "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert list(empty.iterdir()) == []


def test_ansible_doc_resolves_the_module_by_fqcn():
    done = subprocess.run([os.path.join(VENV_BIN, "ansible-doc"), "--json", "sysgenpro.odoo_ops.traefik_route"],
                          cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["sysgenpro.odoo_ops.traefik_route"]
    assert {"name", "hosts", "backend_url", "websocket_url", "maintenance", "wait"} <= set(doc["doc"]["options"])
    assert doc["examples"] and doc["return"]
