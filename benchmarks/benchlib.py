"""Shared pieces of the benchmarks: percentiles, a fresh harness, running a module directly."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from tests.harness import Platform
from tests.harness.http import request
from tests.harness.services import REPO_ROOT

COLLECTIONS = os.path.join(REPO_ROOT, ".cache", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100.0 * (len(ordered) - 1))))]


def summary(values, unit="ms", scale=1000.0):
    return "p50 %7.1f %s  p95 %7.1f %s  p99 %7.1f %s  mean %7.1f %s  (n=%d)" % (
        percentile(values, 50) * scale,
        unit,
        percentile(values, 95) * scale,
        unit,
        percentile(values, 99) * scale,
        unit,
        statistics.mean(values) * scale,
        unit,
        len(values),
    )


class FreshPlatform:
    """Harness services in a temporary root, stopped (by PID) and removed on exit."""

    def __init__(self, *services, base=None):
        self.services = services
        self.root = tempfile.mkdtemp(prefix="odoo_ops-bench-", dir=base)
        self.platform = Platform(self.root)

    def __enter__(self):
        return self.platform.up(self.services)

    def __exit__(self, *exc):
        self.platform.down()
        subprocess.run(["rm", "-rf", self.root], check=False)


def start_module(name, args):
    """Run a collection module as Ansible's AnsiballZ finally does: its own Python process."""
    path = os.path.join(REPO_ROOT, "plugins", "modules", "%s.py" % name)
    fd, args_file = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.Popen(
        [sys.executable, path, args_file],
        stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.args_file = args_file
    return proc


def finish_module(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    os.unlink(proc.args_file)
    result = json.loads(out or b"{}")
    if proc.returncode or result.get("failed"):
        raise RuntimeError("module failed: %s %s" % (result.get("msg"), err.decode()[-500:]))
    return result


def wait_first_status(port, host, status=200, timeout=30, interval=0.002):
    """Seconds until GET / for host answers `status` through port (polled every `interval`)."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            if request(port, host, "/web/health", timeout=2)[0] == status:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(interval)
    raise RuntimeError("%s never answered %s within %ss" % (host, status, timeout))


WARM_RUNNER = r"""
import runpy, sys
import ansible.module_utils.basic  # what every Ansible module pays before its own code runs
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
sys.argv = [sys.argv[1], sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def start_warm_module(name, args):
    """Like start_module, but the interpreter and ansible.module_utils.basic are loaded before
    the clock starts: call go(proc) to let the module run. Measures the module's own work."""
    path = os.path.join(REPO_ROOT, "plugins", "modules", "%s.py" % name)
    fd, args_file = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.Popen(
        [sys.executable, "-c", WARM_RUNNER, path, args_file],  # pylint: disable=consider-using-with
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.args_file = args_file
    assert proc.stdout.readline() == b"ready\n"
    return proc


def go(proc):
    proc.stdin.write(b"\n")
    proc.stdin.flush()
