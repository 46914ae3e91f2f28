"""Time of the main job (site.yml on inventories/local): a first run with cached images, a first run
without them (--uncached: the project's images are removed first and rebuilt, debootstrap included),
and a re-run, with its changed count and CPU time. Goals: first run with cached images <= 3 min, re-run <= 45 s
with changed=0 (issue 16; it was 76-84 s).

Each run deploys a private copy of the local platform (own ports, names, folders), removed after.
Run: .venv/bin/python -m benchmarks.site_run [--uncached]    (needs root: Docker Engine)
"""

import re
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks.benchlib import FreshPlatform
from tests.harness.docker_platform import docker_platform
from tests.harness.options import ensure_bucket


def timed(platform):
    """(wall seconds, CPU seconds, changed) of one site.yml run. CPU is ansible-playbook's and its modules'
    (user + system of the children), not Docker's: on a machine others load, it moves far less than the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = platform.site()
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode:
        raise SystemExit(run.stdout[-3000:])
    changed = re.findall(r"changed=(\d+)", run.stdout)[-1]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, int(changed)


def remove_project_images():
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "odoo-ops/*"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "rmi", "-f"] + listed, capture_output=True, timeout=300, check=False)
    return len(listed)


def main(uncached):
    with FreshPlatform("docker", "s3") as state:
        rows = []
        if uncached:
            removed = remove_project_images()
            with tempfile.TemporaryDirectory(prefix="odoo_ops-bench-site-") as root:
                with docker_platform(root, state["s3"]) as platform:
                    ensure_bucket(state["s3"], platform.extra["odoo_ops_backup_bucket"])
                    rows.append(("first run, no cached images (%d removed)" % removed,) + timed(platform))
        with tempfile.TemporaryDirectory(prefix="odoo_ops-bench-site-") as root:
            with docker_platform(root, state["s3"]) as platform:
                ensure_bucket(state["s3"], platform.extra["odoo_ops_backup_bucket"])
                rows.append(("first run, cached images",) + timed(platform))
                rows.append(("re-run",) + timed(platform))
        print("site.yml on inventories/local (3 tenants, 2 fleets, 9 containers, pgBackRest and a standby):")
        goals = {"first run, cached images": "goal <= 180 s", "re-run": "goal <= 45 s, changed=0 (baseline 76-84 s)"}
        for label, seconds, cpu, changed in rows:
            print("  %-42s %6.1f s  CPU %5.1f s  changed=%-3d %s" % (label, seconds, cpu, changed, goals.get(label, "")))


if __name__ == "__main__":
    main("--uncached" in sys.argv[1:])
