"""Release promotion on real Odoo 18.0 (../shared/odoo-18.0): a tenant's update of one addon (r1 -> r2 of the
release probe addons of tests/integration/test_release_promote.py) by release_promote.yml - pre-release backup,
crons stopped, the route in maintenance for the update, a downtime probe through Traefik every 0.2 s on the
tenant and a neighbour - beside the raw procedure on an identical tenant: `odoo-bin -u release_probe
--stop-after-init` alone. Printed per tenant: the playbook's wall time, the update's own seconds, the tenant's
user-visible downtime (first to last failed request) and the neighbour's failed requests; the raw update's seconds.

Goal (issue #20): downtime <= the update's own duration + 2 s. Run by hand, never in CI:
  .venv/bin/python -m benchmarks.release_promote [--tenants 2]
"""

import argparse
import json
import os
import tempfile
import time

from benchmarks.benchlib import FreshPlatform
from tests.harness import odoo_server
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.playbook import run_tasks
from tests.integration.test_release_promote import RELEASES, playbook, write_release

FLEET, FLEET_PASSWORD, BUCKET = "bench_fleet", "bench-fleet-secret", "release-bench"


def timed_playbook(path, variables):
    started = time.monotonic()
    done = playbook(path, variables)
    if done.returncode:
        raise RuntimeError(done.stdout[-4000:])
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tenants", type=int, default=2, help="promoted tenants (each beside one raw update)")
    args = parser.parse_args()
    tree, missing = odoo_server.find_source()
    if not tree:
        raise SystemExit(missing)
    install = odoo_server.OdooInstall(tree, odoo_server.build_venv(tree))
    with FreshPlatform("postgres", "s3", "traefik") as state, tempfile.TemporaryDirectory(prefix="odoo_ops-bench-release-") as root:
        os.chmod(root, 0o755)
        pg, traefik = state["postgres"], state["traefik"]
        template = odoo_server.OdooTemplate(install, pg, FLEET, FLEET_PASSWORD, os.path.join(root, "template")).init()
        odoo_server.query(pg, "postgres", "GRANT %s TO %s" % (FLEET, pg["admin_user"]))
        s3_client(state["s3"]).create_bucket(Bucket=BUCKET)
        for name in RELEASES:
            write_release(root, name)
        names = ["bench%d" % i for i in range(args.tenants)] + ["raw%d" % i for i in range(args.tenants)] + ["neighbour"]
        server = odoo_server.OdooServer(install, pg, FLEET, FLEET_PASSWORD, os.path.join(root, "server"), dbfilter="^%d$")
        server.options["addons_path"] = "%s,%s" % (install.addons_path, os.path.join(root, "r1"))
        odoo_server.write_conf(server.conf, server.options, install.uid, install.gid)
        server.start()
        try:
            filestore = os.path.join(server.data_dir, "filestore")
            os.makedirs(filestore, exist_ok=True)
            odoo_server.chown_tree(server.data_dir, install.uid, install.gid)
            base = dict(login_options(pg), **s3_options(state["s3"]))
            tenant = dict(base, owner=FLEET, template=template.name, filestore_root=filestore, filestore_owner=str(install.uid))
            tenant["source_filestore_root"] = os.path.join(template.data_dir, "filestore")
            made = run_tasks([{"sysgenpro.odoo_ops.odoo_tenant": dict(tenant, name=n, base_url="http://%s.localhost" % n)} for n in names], timeout=1200)
            assert not made.failures, made
            routes = [
                {
                    "name": n,
                    "hosts": ["%s.localhost" % n],
                    "backend_url": "http://127.0.0.1:%d" % server.http_port,
                    "websocket_url": "http://127.0.0.1:%d" % server.gevent_port,
                }
                for n in names
            ]
            settings = {"dynamic_dir": traefik["dynamic_dir"], "api_url": traefik["api_url"]}
            assert not run_tasks([{"sysgenpro.odoo_ops.traefik_route": dict(settings, **r)} for r in routes]).failures
            user = ["runuser", "-u", install.user, "--"] if install.user else []
            command = user + ["env"] + ["%s=%s" % item for item in sorted(install.env(root).items())] + install.argv()
            os.makedirs(os.path.join(root, "evidence"))
            os.makedirs(os.path.join(root, "reports"))
            common = {
                "release_promote_host": "localhost",
                "odoo_ops_postgres": login_options(pg),
                "odoo_ops_s3": s3_options(state["s3"]),
                "release_promote_evidence_dir": os.path.join(root, "evidence"),
                "release_promote_report_dir": os.path.join(root, "reports"),
                "release_promote_bucket": BUCKET,
                "release_promote_filestore_root": filestore,
                "release_promote_odoo_command": command,
                "release_promote_odoo_config": server.conf,
                "release_promote_tenant_options": {"owner": FLEET, "filestore_owner": str(install.uid)},
                "release_promote_confirm": True,
                "odoo_ops_tenants": routes,
                "odoo_ops_traefik_dynamic_dir": traefik["dynamic_dir"],
                "odoo_ops_traefik_api_url": traefik["api_url"],
            }

            def promote(tenants, release, **extra):
                variables = dict(
                    common,
                    release_promote_environment="dev",
                    odoo_ops_environments=[{"name": "dev", "tier": 3, "tenants": tenants}],
                    release_promote_release={"image": "odoo:18.0", "addons_ref": release, "addons_path": [os.path.join(root, release)]},
                    release_promote_odoo_addons_path=[install.addons_path, os.path.join(root, release)],
                    **extra,
                )
                return timed_playbook("playbooks/release_promote.yml", variables)

            promote([n for n in names if n != "neighbour"], "r1", release_promote_install=["release_probe", "release_other"])
            print("release promotion r1 -> r2 (one addon updated), real Odoo 18.0, %d tenant(s); probe every 0.2 s through Traefik" % args.tenants)
            print("%-10s %10s %10s %12s %18s %14s" % ("tenant", "playbook s", "update s", "downtime s", "neighbour failed", "raw -u s"))
            for i in range(args.tenants):
                name, raw = "bench%d" % i, "raw%d" % i
                probe = {
                    "release_promote_probe_url": traefik["web_url"],
                    "release_promote_probe_neighbours": ["neighbour.localhost"],
                    "release_promote_maintenance": True,
                }
                wall = promote([name], "r2", **probe)
                reports = sorted(f for f in os.listdir(os.path.join(root, "reports")) if f.endswith(".json"))
                with open(os.path.join(root, "reports", reports[-1]), encoding="utf-8") as handle:
                    report = json.load(handle)
                seen = {h["host"]: h for h in report["downtime"]["hosts"]}
                started = time.monotonic()
                done = install.run(
                    [
                        "-c",
                        server.conf,
                        "--addons-path=%s,%s" % (install.addons_path, os.path.join(root, "r2")),
                        "-d",
                        raw,
                        "-u",
                        "release_probe",
                        "--stop-after-init",
                        "--no-http",
                    ],
                    root,
                    timeout=900,
                )
                raw_seconds = time.monotonic() - started
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
                print(
                    "%-10s %10.1f %10.1f %12.2f %18d %14.1f"
                    % (
                        name,
                        wall,
                        report["tenants"][0]["update_seconds"],
                        seen["%s.localhost" % name]["downtime_seconds"],
                        seen["neighbour.localhost"]["failed"],
                        raw_seconds,
                    )
                )
            print("goal: downtime <= update s + 2 s; the raw -u is the same update without backup, crons, route or probe")
        finally:
            server.stop()  # by its PID (process group)


if __name__ == "__main__":
    main()
