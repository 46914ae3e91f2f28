"""Kubernetes render: site.yml rendering one shared fleet with 100 tenants and 10 dedicated customers
as a GitOps tree (no cluster), then the re-render (changed=0, byte-identical), beside the time a
plain YAML load of the same tree takes (and `kubectl kustomize`, when kubectl is installed).

Goals (issue 17, 2 cores): render <= 30 s, re-render <= 10 s.
Run: .venv/bin/python -m benchmarks.k8s_render [--tenants 100] [--dedicated 10]
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import yaml

from tests.harness.playbook import VENV_BIN
from tests.harness.services import REPO_ROOT

GOALS = {"render": 30.0, "re-render": 10.0}
EXAMPLE = os.path.join(REPO_ROOT, "inventories", "examples", "kubernetes")


def inventory(root, tenants, dedicated):
    os.makedirs(os.path.join(root, "group_vars", "all"))
    shutil.copy(os.path.join(EXAMPLE, "hosts.yml"), root)
    shutil.copy(os.path.join(EXAMPLE, "group_vars", "all", "platform.yml"), os.path.join(root, "group_vars", "all"))
    shared = ["t%03d" % i for i in range(tenants)]
    own = ["customer%02d" % i for i in range(dedicated)]
    fleets = [{"name": "shared1", "kind": "shared", "tenants": shared, "cpus": 2, "memory_mb": 4096, "web_containers": 3, "max_web_replicas": 6, "redis": True}]
    fleets += [{"name": name, "kind": "dedicated", "tenants": [name], "cpus": 2, "memory_mb": 4096, "web_containers": 2} for name in own]
    rows = [{"name": name, "hosts": ["%s.erp.example.com" % name], "tier": 1 + i % 3} for i, name in enumerate(shared)]
    rows += [{"name": name, "hosts": ["erp.%s.example.com" % name], "tier": 1} for name in own]
    with open(os.path.join(root, "group_vars", "all", "tenants.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"odoo_ops_fleets": fleets, "odoo_ops_tenants": rows}, handle)


def site(inventory_dir, output_dir):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("KUBECONFIG", None)
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory_dir, "playbooks/site.yml", "-e", "odoo_ops_k8s_output_dir=%s" % output_dir]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode:
        raise SystemExit(done.stdout[-3000:])
    changed = int(re.search(r"changed=(\d+)", done.stdout.split("PLAY RECAP")[-1]).group(1))
    return time.monotonic() - start, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--dedicated", type=int, default=10)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="odoo_ops-k8s-bench-")
    try:
        inventory(os.path.join(work, "inventory"), args.tenants, args.dedicated)
        out = os.path.join(work, "tree")
        render, changed_first = site(os.path.join(work, "inventory"), out)
        files = sorted(glob.glob(os.path.join(out, "**", "*.yaml"), recursive=True))
        before = {path: open(path, "rb").read() for path in files}  # pylint: disable=consider-using-with
        rerender, changed_second = site(os.path.join(work, "inventory"), out)
        identical = before == {path: open(path, "rb").read() for path in files}  # pylint: disable=consider-using-with
        start = time.monotonic()
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        for path in files:
            with open(path, encoding="utf-8") as handle:
                yaml.load(handle, Loader=loader)
        load = time.monotonic() - start
        print("k8s render: 1 shared fleet x %d tenants + %d dedicated: %d files" % (args.tenants, args.dedicated, len(files)))
        print("  render      %6.1f s  (goal <= %.0f s)  changed=%d" % (render, GOALS["render"], changed_first))
        print("  re-render   %6.1f s  (goal <= %.0f s)  changed=%d, byte-identical: %s" % (rerender, GOALS["re-render"], changed_second, identical))
        start = time.monotonic()
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"))
        argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(work, "inventory"), "playbooks/site.yml", "--syntax-check"]
        subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, check=True, timeout=600)
        print("  ansible-playbook start-up and parse of site.yml (--syntax-check): %.1f s, part of both figures" % (time.monotonic() - start))
        print("  YAML load   %6.1f s  (the same tree, libyaml)" % load)
        if shutil.which("kubectl"):
            start = time.monotonic()
            subprocess.run(["kubectl", "kustomize", out], capture_output=True, check=True, timeout=600)
            print("  kubectl kustomize %6.1f s" % (time.monotonic() - start))
        else:
            print("  kubectl kustomize: kubectl is not installed here")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
