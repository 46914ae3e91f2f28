"""The main job: playbooks/site.yml on inventories/local - the whole platform in Docker containers
(PostgreSQL, Redis, Traefik, a shared fleet with two tenants and a dedicated one, on the Odoo test
workload image), each tenant reachable through Traefik by host name; idempotent; a rolling update
under load without errors; refusals before anything changes. Run on a private copy of the local
platform (own ports, names and folders)."""
import json
import os
import subprocess
import sys

import pytest

from tests.harness.docker_platform import ConstantLoad, docker_platform
from tests.harness.http import request, websocket_echo
from tests.harness.options import ensure_bucket
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
TENANT_HOSTS = {"acme": ["acme.localhost", "www.acme.localhost"], "globex": ["globex.localhost"],
                "initech": ["initech.localhost"]}


def recap(run):
    """The PLAY RECAP counters of a run, e.g. {'ok': 101, 'changed': 0, 'failed': 0}."""
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    return {key: int(value) for key, value in (field.split("=") for field in line.split()[2:])}


@pytest.fixture(scope="module")
def platform(harness):
    state = harness.up("docker", "s3")
    with scratch_dirs("odoo_ops-site-") as (root,):
        with docker_platform(root, state["s3"]) as deployed:
            ensure_bucket(state["s3"], deployed.extra["odoo_ops_backup_bucket"])
            first = deployed.site()
            assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
            deployed.first = first
            yield deployed


def test_refusals_before_anything_changes(harness, tmp_path):
    """An oversubscribed connection plan and a shared-fleet host dbfilter cannot map: refused with
    the reason, no container started, no folder written."""
    state = harness.up("docker", "s3")
    with docker_platform(str(tmp_path), state["s3"]) as bad:
        run = bad.site(extra={"odoo_ops_postgres_max_connections": 40})
        assert run.returncode != 0
        assert "does not fit" in run.stdout and "max_connections 40" in run.stdout, run.stdout[-3000:]
        assert bad.containers() == {} and sorted(os.listdir(str(tmp_path))) == ["state.json"]
        tenants = [{"name": "acme", "hosts": ["erp.acme.localhost"]}, {"name": "globex", "hosts": ["globex.localhost"]},
                   {"name": "initech", "hosts": ["initech.localhost"]}]
        run = bad.site(extra={"odoo_ops_tenants": tenants})
        assert run.returncode != 0 and 'each host must start with "acme."' in run.stdout, run.stdout[-3000:]
        assert bad.containers() == {}


def test_site_deploys_every_tenant_behind_traefik_and_prints_a_summary(platform):
    names = platform.containers()
    roles = sorted(labels.get("odoo_ops_role") or labels.get("odoo_ops_component") for labels in names.values())
    assert roles == ["cron", "cron", "postgres", "redis", "traefik", "web", "web", "web"], names
    summary = platform.first.stdout
    port = platform.ports["web"]
    for tenant, hosts in TENANT_HOSTS.items():
        for host in hosts:
            assert "http://%s:%d/web/login" % (host, port) in summary
    assert "fleet shared1 (shared): 2 web" in summary and "fleet initech (dedicated): 1 web" in summary
    assert summary.count("verification passed") == 3, summary[-3000:]


def test_isolation_every_host_reaches_its_own_database_only(platform):
    port = platform.ports["web"]
    for tenant, hosts in TENANT_HOSTS.items():
        for host in hosts:
            status, _headers, body = request(port, host, "/web/login")
            assert status == 200 and b'data-database="%s"' % tenant.encode() in body, (host, status, body[:200])
            for other in set(TENANT_HOSTS) - {tenant}:
                assert b'data-database="%s"' % other.encode() not in body
    assert request(port, "nobody.localhost", "/web/login")[0] == 404  # no route, no tenant


def test_websocket_reaches_the_gevent_port_and_the_manager_is_closed(platform):
    port = platform.ports["web"]
    for hosts in TENANT_HOSTS.values():
        status, echoed = websocket_echo(port, hosts[0], b"hello")
        assert " 101 " in status + " " and echoed == b"hello", (hosts[0], status)  # the workload upgrades only there
    for host, path in (("acme.localhost", "/web/database/manager"), ("initech.localhost", "/web/database/selector")):
        status, _headers, body = request(port, host, path)
        assert status == 403 and b"list_db" not in body, (host, body)  # Traefik's answer: Odoo never sees it
    # globex allows 127.0.0.1 through the route; Odoo itself refuses (list_db = False)
    status, _headers, body = request(port, "globex.localhost", "/web/database/manager")
    assert status == 403 and b"list_db" in body, body


def test_rerun_changes_nothing(platform):
    again = platform.site()
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-4000:]


def test_rolling_update_under_load_without_errors(platform):
    before = {name for name, labels in platform.containers().items() if labels.get("odoo_ops_role") == "web"}
    hosts = [hosts[0] for hosts in TENANT_HOSTS.values()]
    # Another platform's web container of a fleet with the same name: not this platform's to replace.
    image = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", sorted(before)[0]], capture_output=True,
                           text=True, timeout=60, check=True).stdout.strip()
    decoy = "decoy-" + platform.prefix
    labels = ["odoo_ops_platform=someone-else", "odoo_ops_fleet=shared1", "odoo_ops_role=web", "odoo_ops_index=1"]
    subprocess.run(["docker", "run", "-d", "--name", decoy, "--network", "none", "--entrypoint", "sleep"]
                   + [arg for label in labels for arg in ("--label", label)] + [image, "600"],
                   capture_output=True, timeout=60, check=True)
    try:
        with ConstantLoad(platform.ports["web"], hosts, threads=4) as load:
            update = platform.site(extra={"odoo_ops_odoo_options": {"log_level": "warn"}})
        assert update.returncode == 0, update.stdout[-4000:]
        assert subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", decoy], capture_output=True, text=True,
                              timeout=60, check=False).stdout.strip() == "true"
    finally:
        subprocess.run(["docker", "rm", "-f", decoy], capture_output=True, timeout=60, check=False)
    after = {name for name, labels in platform.containers().items() if labels.get("odoo_ops_role") == "web"}
    assert len(after) == 3 and not after & before, (before, after)  # every web container replaced
    report = load.report()
    assert report["requests"] > 100 and report["statuses"].get(200, 0) == report["requests"], report
    assert report["server_errors"] == 0 and report["connection_errors"] == 0 and report["wrong_database"] == 0
    conf = subprocess.run(["docker", "exec", sorted(after)[0], "cat", "/etc/odoo/odoo.conf"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert "log_level = warn" in conf and "admin_passwd = $pbkdf2-sha512$" in conf
    assert "list_db = False" in conf and "proxy_mode = True" in conf


def test_ansible_doc_resolves_the_module_by_fqcn():
    done = subprocess.run([os.path.join(VENV_BIN, "ansible-doc"), "--json", "sysgenpro.odoo_ops.traefik_route"],
                          cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["sysgenpro.odoo_ops.traefik_route"]
    assert {"name", "hosts", "backend_url", "websocket_url", "maintenance", "wait"} <= set(doc["doc"]["options"])
    assert doc["examples"] and doc["return"]
