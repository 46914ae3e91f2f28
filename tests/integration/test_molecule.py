"""molecule test for the scenarios multi_tenant and dedicated: the Docker driver on locally built
images, the default sequence with idempotence, and a verify that makes real requests through Traefik."""

import os
import subprocess

import pytest

from tests.harness.docker_platform import image_tasks, platform_ports
from tests.harness.playbook import VENV_BIN, run_tasks
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT

BUILD = ["postgres", "redis", "traefik", "odoo_test_workload", "ansible_target"]


@pytest.fixture(scope="module")
def images(harness):
    harness.up("docker")
    with scratch_dirs("odoo_ops-molecule-images-") as (cache,):
        built = run_tasks(image_tasks(BUILD, cache), timeout=1500)
        assert built.returncode == 0, built
        yield built.results[-1]["odoo_images_built"]


@pytest.mark.parametrize("scenario", ["multi_tenant", "dedicated"])
def test_molecule_scenario(images, scenario):
    with scratch_dirs("odoo_ops-molecule-") as (root,):
        prefix = "odoo-ops-m%s" % os.path.basename(root)[-6:].lower().replace("_", "x")
        env = dict(
            os.environ,
            PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            PY_COLORS="0",
            MOLECULE_NO_LOG="false",
            ODOO_OPS_MOLECULE_ROOT=root,
            ODOO_OPS_MOLECULE_PREFIX=prefix,
        )
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
