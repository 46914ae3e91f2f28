"""Noisy neighbour: a bounded flood on tenant A, with and without traefik_route's rate_limit on A,
while tenant B's latency is measured. Goal: with the limit, A receives 429s and B's p99 stays
<= 2x its unloaded p99.

The back end stands in for a small Odoo fleet: 4 workers, 20 ms per request (~200 req/s).
The flood runs in its own process: FLOOD_REQUESTS requests paced over FLOOD_SECONDS, no more.
Run: .venv/bin/python -m benchmarks.noisy_neighbor
"""

import argparse
import collections
import http.client
import multiprocessing
import os
import sys
import threading
import time

from benchmarks.benchlib import FreshPlatform, finish_module, percentile, start_module
from tests.harness.process import free_port, spawn, stop_pid, tcp_open, wait_until
from tests.harness.services import REPO_ROOT


def flood(port, host, total, seconds, threads, results):
    """Send `total` GETs for host, paced evenly over `seconds`; put a status Counter in results."""
    counts = collections.Counter()
    lock = threading.Lock()
    next_index = [0]
    start = time.monotonic()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                index = next_index[0]
                next_index[0] += 1
            if index >= total or time.monotonic() - start > seconds + 5:
                break
            delay = start + index * seconds / total - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                conn.request("GET", "/web/login", headers={"Host": host})
                answer = conn.getresponse()
                answer.read()
                key = str(answer.status)
            except (OSError, http.client.HTTPException):
                key = "connection error"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                counts[key] += 1
        conn.close()

    pool = [threading.Thread(target=worker) for _thread in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(dict(counts))


def probe(port, host, seconds, rate=20):
    """Latencies of B's requests, one every 1/rate s, for `seconds`."""
    latencies, errors = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.perf_counter()
        try:
            conn.request("GET", "/web/login", headers={"Host": host})
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                errors += 1
            latencies.append(time.perf_counter() - began)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(max(0.0, 1.0 / rate - (time.perf_counter() - began)))
    conn.close()
    return latencies, errors


def route(state, backend_url, name, rate_limit=None):
    args = {
        "name": name,
        "hosts": ["%s.noisy.test" % name],
        "backend_url": [backend_url],
        "dynamic_dir": state["traefik"]["dynamic_dir"],
        "api_url": state["traefik"]["api_url"],
        "health_check_path": "",
    }
    if rate_limit:
        args["rate_limit"] = rate_limit
    finish_module(start_module("traefik_route", args))


def run(state, backend_url, options, rate_limit):
    port = state["traefik"]["web_port"]
    route(state, backend_url, "tenant-a", rate_limit)
    route(state, backend_url, "tenant-b")
    unloaded, _errors = probe(port, "tenant-b.noisy.test", options.seconds)
    results = multiprocessing.Queue()
    flooder = multiprocessing.Process(target=flood, args=(port, "tenant-a.noisy.test", options.requests, options.seconds, options.threads, results))
    flooder.start()
    loaded, errors = probe(port, "tenant-b.noisy.test", options.seconds)
    counts = results.get(timeout=options.seconds + 30)
    flooder.join(timeout=10)
    ratio = percentile(loaded, 99) / percentile(unloaded, 99)
    label = "rate_limit on A %s" % rate_limit if rate_limit else "no limits"
    print("\n%s" % label)
    print("  tenant A flood answers: %s" % ", ".join("%s=%d" % kv for kv in sorted(counts.items())))
    print(
        "  tenant B p99 unloaded %6.1f ms, during A's flood %6.1f ms (%.2fx), p50 %5.1f -> %5.1f ms, "
        "B errors %d"
        % (percentile(unloaded, 99) * 1000, percentile(loaded, 99) * 1000, ratio, percentile(unloaded, 50) * 1000, percentile(loaded, 50) * 1000, errors)
    )
    return ratio, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--average", type=int, default=20, help="A's rate limit, requests/s")
    options = parser.parse_args()
    print(
        "noisy neighbour: backend 4 workers x 20 ms; flood on A: %d requests over %.0f s (%d threads); "
        "B probed at 20 req/s; %d cores" % (options.requests, options.seconds, options.threads, os.cpu_count())
    )
    with FreshPlatform("traefik") as state:
        http_port, ws_port = free_port(), free_port()
        log = os.path.join(os.path.dirname(state["traefik"]["dynamic_dir"]), "odoo-like-backend.log")
        pid = spawn(
            [
                sys.executable,
                "-m",
                "tests.harness.example_backend",
                "--http-port",
                str(http_port),
                "--websocket-port",
                str(ws_port),
                "--workers",
                "4",
                "--delay",
                "0.02",
            ],
            log,
            cwd=REPO_ROOT,
        )
        try:
            wait_until(lambda: tcp_open(http_port), 15, "odoo-like backend", log)
            backend = "http://127.0.0.1:%d" % http_port
            baseline_ratio, _counts = run(state, backend, options, None)
            limited_ratio, counts = run(state, backend, options, {"average": options.average, "burst": options.average})
        finally:
            stop_pid(pid)
    rejected = counts.get("429", 0)
    verdict = "meets" if rejected and limited_ratio <= 2.0 else "MISSES"
    print(
        "\nwith the limit: A got %d x 429; B's p99 ratio %.2fx (without limits %.2fx): %s the goal "
        "(429s for A, B p99 <= 2x unloaded)" % (rejected, limited_ratio, baseline_ratio, verdict)
    )


if __name__ == "__main__":
    main()
