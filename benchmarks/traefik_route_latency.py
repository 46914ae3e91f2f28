"""How long from a traefik_route task's start until a new tenant's first 200 through Traefik,
beside Traefik's own reload latency (an equivalent file written directly), with 0 and with 1000
existing tenant files. Goal: the module adds <= 100 ms over Traefik's own reload.

Run: .venv/bin/python -m benchmarks.traefik_route_latency [--tenants 20] [--existing 0,1000]
The module runs as its own Python process, as Ansible's AnsiballZ runs it on the target (the
controller's templating and connection set-up are outside the module and not counted). Two
figures: the whole process, and "module work" with the interpreter and ansible.module_utils.basic
already loaded (what every Ansible module pays before its own code runs). Before each measurement
Traefik is left to settle, and the order of baseline and module alternates, so that neither lands
in the other's reload throttle window.
"""

import argparse
import os
import time

from benchmarks.benchlib import FreshPlatform, finish_module, go, percentile, start_module, start_warm_module, summary, wait_first_status

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import write_atomic  # noqa: E402
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.config import RouteSpec, file_config
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.file_route import render


def tenant_args(state, name):
    return {
        "name": name,
        "hosts": ["%s.bench.test" % name.replace("_", "-")],
        "backend_url": [state["backend"]["http_url"]],
        "websocket_url": [state["backend"]["websocket_url"]],
        "dynamic_dir": state["traefik"]["dynamic_dir"],
        "api_url": state["traefik"]["api_url"],
        "rate_limit": {"average": 100},
        "inflight_limit": 50,
        "health_check_path": "",
    }


def write_directly(args):
    spec = RouteSpec(args)
    write_atomic(os.path.join(args["dynamic_dir"], "%s.yml" % args["name"]), render(spec, file_config(spec)).encode(), 0o644)


def seed(state, count):
    """`count` existing tenants, written directly, then wait until Traefik serves the last one."""
    for index in range(count):
        write_directly(tenant_args(state, "existing%04d" % index))
    if count:
        wait_first_status(state["traefik"]["web_port"], "existing%04d.bench.test" % (count - 1), timeout=120)


def measure_direct(state, name):
    args = tenant_args(state, name)
    start = time.perf_counter()
    write_directly(args)
    return wait_first_status(state["traefik"]["web_port"], args["hosts"][0]) - start


def measure_module(state, name, warm):
    args = tenant_args(state, name)
    proc = start_warm_module("traefik_route", args) if warm else None
    start = time.perf_counter()
    if warm:
        go(proc)
    else:
        proc = start_module("traefik_route", args)
    first_200 = wait_first_status(state["traefik"]["web_port"], args["hosts"][0]) - start
    finish_module(proc)
    return first_200, time.perf_counter() - start


def run_phase(state, existing, tenants, settle):
    seed(state, existing)
    figures = {"direct": [], "process": [], "process_return": [], "warm": [], "warm_return": []}
    for index in range(tenants):
        runs = [("direct", None), ("process", False), ("warm", True)]
        for kind, warm in runs if index % 2 == 0 else runs[::-1]:
            time.sleep(settle)  # let the previous reload and Traefik's throttle window pass
            name = "%s%d_%03d" % (kind, existing, index)
            if kind == "direct":
                figures["direct"].append(measure_direct(state, name))
            else:
                first, returned = measure_module(state, name, warm)
                figures[kind].append(first)
                figures[kind + "_return"].append(returned)
    print("\n%d existing tenant files, %d new tenants" % (existing, tenants))
    print("  baseline: file written directly -> first 200     %s" % summary(figures["direct"]))
    print("  module process: task start -> first 200          %s" % summary(figures["process"]))
    print("  module process: task start -> task returns       %s" % summary(figures["process_return"]))
    print("  module work:    task start -> first 200          %s" % summary(figures["warm"]))
    print("  module work:    task start -> task returns       %s" % summary(figures["warm_return"]))
    for kind, label in (("process", "whole module process"), ("warm", "module work")):
        added = percentile(figures[kind], 50) - percentile(figures["direct"], 50)
        added95 = percentile(figures[kind], 95) - percentile(figures["direct"], 95)
        print(
            "  %s adds %4.0f ms at p50, %4.0f ms at p95 over Traefik's own reload: %s the <= 100 ms goal"
            % (label, added * 1000, added95 * 1000, "meets" if added <= 0.100 else "MISSES")
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--existing", default="0,1000", help="comma-separated counts of existing tenant files")
    parser.add_argument("--settle", type=float, default=0.3, help="seconds of quiet before each measurement")
    args = parser.parse_args()
    print("traefik_route latency; Traefik providersThrottleDuration=100ms; machine: %d cores" % os.cpu_count())
    for existing in [int(n) for n in args.existing.split(",")]:
        with FreshPlatform("backend", "traefik") as state:
            run_phase(state, existing, args.tenants, args.settle + existing / 1000.0)


if __name__ == "__main__":
    main()
