"""molecule test for the scenarios multi_tenant and dedicated: the Docker driver on locally built
images, the default sequence with idempotence, and a verify that makes real requests through Traefik;
and the docker_odoo_fleet role's own scenario on the same images (converge, idempotence, a verify
that asks each web container's Odoo /web/health, cleanup)."""

import os
import subprocess
import uuid

import pytest

from tests.harness.docker_platform import build_images, docker, image_tasks, platform_ports
from tests.harness.molecule import RoleScenario, molecule_env
from tests.harness.pg import query
from tests.harness.playbook import VENV_BIN
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT

BUILD = ["postgres", "redis", "traefik", "odoo_test_workload", "ansible_target"]


@pytest.fixture(scope="module")
def images(harness):
    harness.up("docker")
    with scratch_dirs("odoo_ops-molecule-images-") as (cache,):
        built = build_images(image_tasks(BUILD, cache))
        assert built.returncode == 0, built
        yield built.results[-1]["odoo_images_built"]


@pytest.mark.parametrize("scenario", ["multi_tenant", "dedicated"])
def test_molecule_scenario(images, scenario):
    with scratch_dirs("odoo_ops-molecule-") as (root,):
        prefix = "odoo-ops-m%s" % os.path.basename(root)[-6:].lower().replace("_", "x")
        env = molecule_env(ODOO_OPS_MOLECULE_ROOT=root, ODOO_OPS_MOLECULE_PREFIX=prefix)
        ports, fleet_bases = platform_ports(2)
        for name, port in ports.items():
            env["ODOO_OPS_MOLECULE_PORT_%s" % name.upper()] = str(port)
        env["ODOO_OPS_MOLECULE_PORT_FLEETS"], env["ODOO_OPS_MOLECULE_PORT_FLEETS2"] = map(str, fleet_bases)
        env.update({"ODOO_OPS_IMAGE_%s" % name.upper(): tag for name, tag in images.items()})
        try:
            run = subprocess.run(
                [os.path.join(VENV_BIN, "molecule"), "test", "-s", scenario], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500, check=False
            )
            output = run.stdout + run.stderr
            assert run.returncode == 0, output[-8000:]
            for step in ("converge", "idempotence", "verify", "cleanup"):
                assert "%s > %s: Executed: Successful" % (scenario, step) in output, output[-4000:]
            assert "PLAY [Verify - isolation, websocket, database manager, health]" in output
        finally:  # whatever molecule left behind (a failed run stops before cleanup)
            listed = subprocess.run(
                ["docker", "ps", "-aq", "--filter", "name=^%s-" % prefix], capture_output=True, text=True, timeout=60, check=False
            ).stdout.split()
            listed += subprocess.run(
                ["docker", "ps", "-aq", "--filter", "name=^molecule-%s$" % prefix], capture_output=True, text=True, timeout=60, check=False
            ).stdout.split()
            if listed:
                subprocess.run(["docker", "rm", "-f"] + listed, capture_output=True, timeout=120, check=False)
            subprocess.run(["docker", "volume", "rm", "-f", prefix + "-postgres-data"], capture_output=True, timeout=60, check=False)


def test_fleet_role_scenario(images, harness):
    """molecule/docker_odoo_fleet: the docker_odoo_fleet role on its own (the Odoo test workload's image),
    against the harness's PostgreSQL where the fleet's role exists, its tenants routed through the harness's Traefik."""
    state = harness.up("postgres", "traefik")
    pg, traefik = state["postgres"], state["traefik"]
    fleet, password = "mfleet%s" % uuid.uuid4().hex[:6], "fleet-" + uuid.uuid4().hex
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
    query({"superuser": superuser}, "CREATE ROLE odoo_%s LOGIN NOCREATEDB NOCREATEROLE PASSWORD '%s'" % (fleet, password))
    with scratch_dirs("odoo_ops-molecule-fleet-") as (root,):
        prefix = "odoo-ops-f%s" % fleet[-6:]
        _ports, (port_base,) = platform_ports(1)
        role_vars = {
            "scenario_fleet": {
                "name": fleet,
                "kind": "shared",
                "tenants": [fleet + "a", fleet + "b"],
                "cpus": 1,
                "memory_mb": 1024,
                "web_containers": 2,
                "cron_threads": 1,
                "port_base": port_base,
            },
            "docker_odoo_fleet_image": images["odoo_test_workload"],
            "docker_odoo_fleet_prefix": prefix,
            "docker_odoo_fleet_db_host": "127.0.0.1",
            "docker_odoo_fleet_db_port": pg["port"],
            "docker_odoo_fleet_db_user": "odoo_" + fleet,
            "docker_odoo_fleet_db_password": password,
            "docker_odoo_fleet_admin_passwd": "master-" + uuid.uuid4().hex,
            "docker_odoo_fleet_data_root": root + "/data",
            "docker_odoo_fleet_config_dir": root + "/config",
            # The harness's Traefik (its file provider folder is shared: the tenants' names are the fleet's own).
            "docker_odoo_fleet_traefik_dynamic_dir": traefik["dynamic_dir"],
            "docker_odoo_fleet_traefik_api_url": traefik["api_url"],
            "docker_odoo_fleet_routes": [
                {"name": fleet + "a", "hosts": [fleet + "a.localhost", "www.%sa.localhost" % fleet]},
                {"name": fleet + "b", "hosts": [fleet + "b.localhost"]},
            ],
            "scenario_traefik_url": traefik["web_url"],
        }
        scenario = RoleScenario("docker_odoo_fleet", root, role_vars, prefix)
        try:
            code, output = scenario.run("test", timeout=900)
            assert code == 0, output[-8000:]
            for step in ("converge", "idempotence", "verify", "cleanup"):
                assert "docker_odoo_fleet > %s: Executed: Successful" % step in output, output[-4000:]
            assert "Each web container's Odoo answers /web/health" in output
            assert "Each tenant's hosts answer /web/health through Traefik" in output
            # cleanup removed what the scenario made
            assert docker("ps", "-aq", "--filter", "name=^%s-" % prefix).stdout.split() == []
        finally:
            listed = docker("ps", "-aq", "--filter", "name=^%s-" % prefix).stdout.split()
            if listed:
                docker("rm", "-f", *listed)
            query({"superuser": superuser}, "DROP ROLE IF EXISTS odoo_%s" % fleet)
            for route in role_vars["docker_odoo_fleet_routes"]:
                path = os.path.join(traefik["dynamic_dir"], route["name"] + ".yml")
                if os.path.exists(path):
                    os.remove(path)
