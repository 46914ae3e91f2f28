"""Rolling update of the Odoo fleets under a constant load (issue: zero 5xx, zero connection errors).

Deploys a private copy of the local platform (site.yml on inventories/local, its own ports and
names), then keeps 4 client threads sending GET /web/login through Traefik to the three tenants and
measures three phases of the same length of time on the same machine:
  steady     no change (the request rate the platform sustains);
  rolling    site.yml with a changed odoo.conf option: every web container replaced one at a time;
  baseline   the naive update - `docker restart` of every web container at once, no route change.
Prints, for each phase: requests, rate, answers by status, 5xx, connection errors, answers from the
wrong tenant database.

Run: .venv/bin/python -m benchmarks.rolling_update     (needs root: Docker Engine, ~4 min)
"""

import json
import subprocess
import tempfile
import time

from benchmarks.benchlib import FreshPlatform
from tests.harness.docker_platform import ConstantLoad, docker_platform
from tests.harness.options import ensure_bucket

HOSTS = ["acme.localhost", "globex.localhost", "initech.localhost"]


def line(phase, report):
    return "%-9s %6d requests in %5.1f s = %6.1f req/s  5xx %d  connection errors %d  wrong database %d  %s" % (
        phase,
        report["requests"],
        report["seconds"],
        report["rate"],
        report["server_errors"],
        report["connection_errors"],
        report["wrong_database"],
        json.dumps(report["statuses"]),
    )


def main():
    with FreshPlatform("docker", "s3") as state, tempfile.TemporaryDirectory(prefix="odoo_ops-bench-roll-") as root:
        with docker_platform(root, state["s3"]) as platform:
            ensure_bucket(state["s3"], platform.extra["odoo_ops_backup_bucket"])
            deployed = platform.site()
            if deployed.returncode:
                raise SystemExit(deployed.stdout[-3000:])
            port = platform.ports["web"]
            with ConstantLoad(port, HOSTS) as rolling:
                update = platform.site(extra={"odoo_ops_odoo_options": {"log_level": "warn"}})
            if update.returncode:
                raise SystemExit(update.stdout[-3000:])
            with ConstantLoad(port, HOSTS) as steady:
                time.sleep(rolling.seconds)
            webs = [name for name, labels in platform.containers().items() if labels.get("odoo_ops_role") == "web"]
            with ConstantLoad(port, HOSTS) as naive:
                started = time.monotonic()
                subprocess.run(["docker", "restart", "-t", "10"] + webs, capture_output=True, timeout=300, check=True)
                time.sleep(max(0.0, rolling.seconds - (time.monotonic() - started)))
            print("rolling update of %d web containers under 4 client threads (GET /web/login via Traefik)" % len(webs))
            print(line("steady", steady.report()))
            print(line("rolling", rolling.report()))
            print(line("baseline", naive.report()) + "   <- docker restart, no draining")


if __name__ == "__main__":
    main()
