"""The execution environment (meta/execution-environment.yml). In CI: the definition validates with
ansible-builder create and says what the image holds. By hand (ODOO_OPS_EE_BUILD=1, or
scripts/build_ee.py): the image built for real on the local Docker Engine - a cold build takes
minutes, beyond CI's budget (docs/awx.md) - then ansible-doc and a module run inside it."""

import json
import os
import subprocess

import pytest
import yaml

from tests.harness.ee import BUILD, DEFINITION, build_ee, docker
from tests.harness.playbook import VENV_BIN
from tests.harness.process import scratch_dirs


def test_definition_validates_and_holds_what_the_modules_need(tmp_path):
    for folder in ("collections", "wheels"):  # what additional_build_files copies in (scripts/build_ee.py fills them)
        os.makedirs(os.path.join(BUILD, folder), exist_ok=True)
    done = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-builder"), "create", "--file", DEFINITION, "--context", str(tmp_path), "--output-filename", "Containerfile"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "Containerfile", encoding="utf-8") as handle:
        containerfile = handle.read()
    bindep = (tmp_path / "_build" / "bindep.txt").read_text()
    requirements = (tmp_path / "_build" / "requirements.txt").read_text()
    assert "postgresql-client-15 [platform:dpkg !compile]" in bindep and "pgbackrest [platform:dpkg !compile]" in bindep
    assert all(name in requirements for name in ("psycopg2-binary", "boto3", "docker"))
    # no index, registry or Galaxy during the build: wheels from the host, collections copied in
    assert "PIP_NO_INDEX=1" in containerfile and "COPY _build/collections/ /usr/share/ansible/collections/" in containerfile
    assert "ansible-galaxy" not in containerfile
    with open(DEFINITION, encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    assert definition["version"] == 3 and "galaxy" not in definition["dependencies"]


@pytest.mark.skipif(os.environ.get("ODOO_OPS_EE_BUILD") != "1", reason="a cold EE build takes minutes: run with ODOO_OPS_EE_BUILD=1 (docs/awx.md)")
def test_image_builds_and_runs_the_collection(harness):
    harness.up("docker")
    with scratch_dirs("odoo_ops-ee-cache-") as (cache,):
        built = build_ee(os.environ.get("ODOO_OPS_EE_CACHE", cache))
    image = built["image"]
    again = build_ee(os.environ.get("ODOO_OPS_EE_CACHE", cache)) if os.environ.get("ODOO_OPS_EE_CACHE") else None
    assert again is None or (again["image"] == image and not again["built"])
    doc = docker("run", "--rm", image, "ansible-doc", "sysgenpro.odoo_ops.odoo_backup")
    assert doc.returncode == 0 and "s3_endpoint_url" in doc.stdout, doc.stderr
    tools = docker("run", "--rm", image, "sh", "-c", "psql --version && pg_dump --version && pg_restore --version && pgbackrest version")
    assert tools.returncode == 0 and tools.stdout.count("(PostgreSQL) 15.") == 3 and "pgBackRest 2." in tools.stdout, tools.stdout + tools.stderr
    # A module inside it: the fleet plan (pure computation), as ansible-runner in AWX would run it.
    task = "sysgenpro.odoo_ops.odoo_fleet_plan"
    args = json.dumps({"fleets": [{"name": "f1", "kind": "shared", "tenants": ["a"], "cpus": 2, "memory_mb": 4096, "port_base": 20000}]})
    plan = docker("run", "--rm", image, "ansible", "localhost", "-m", task, "-a", args)
    assert plan.returncode == 0 and "SUCCESS" in plan.stdout and '"workers"' in plan.stdout, plan.stdout + plan.stderr
