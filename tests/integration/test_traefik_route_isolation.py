"""One tenant's bad input never takes routing away from the others (issue #14).

Traefik's file provider refuses the whole directory when one file in it cannot be loaded: from
then on no route change takes effect for anyone, and after a restart every tenant answers 404.
Each refused input below is refused before anything is written; the directory stays byte-identical,
and after a real restart of Traefik on the same directory the other tenants still answer through
the entry point. A write Traefik does not confirm is undone.
"""

import json
import os
import pwd
import shutil
import stat
import tempfile
import time

import pytest

from tests.harness.http import request
from tests.integration.test_traefik_route import api_router, apply, route, snapshot

NEIGHBOURS = {"calm_one": ["one.calm.test"], "calm-two": ["two.calm.test", "www.two.calm.test"], "victim": ["victim.test"]}
BROKEN = "http:\n  middlewares:\n    intruder-rl:\n      rateLimit: {average: 5, period: abc}\n"


@pytest.fixture(scope="module")
def traefik(harness):
    state = harness.up("traefik", "backend")
    return {
        "dir": state["traefik"]["dynamic_dir"],
        "api": state["traefik"]["api_url"],
        "port": state["traefik"]["web_port"],
        "tls_port": state["traefik"]["websecure_port"],
        "backend": state["backend"]["http_url"],
        "websocket": state["backend"]["websocket_url"],
        "platform": harness.platform,
    }


@pytest.fixture(scope="module")
def neighbours(traefik):
    run = apply(*[route(traefik, name, hosts) for name, hosts in NEIGHBOURS.items()])
    assert all(r.get("live") for r in run.results), run
    return NEIGHBOURS


def answers(traefik, host, timeout=20.0):
    """Whether host answers 200 from the example backend through Traefik within timeout (bounded)."""
    deadline = time.monotonic() + timeout
    for _attempt in range(int(timeout / 0.05) + 1):
        try:
            status, _headers, body = request(traefik["port"], host, "/web/login", timeout=2)
            if status == 200 and json.loads(body)["host"] == host:
                return True
        except (OSError, ValueError):
            pass  # Traefik still starting
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return False


def traceback_in(result):
    """Whether the module failed with a Python traceback (ansible-core 2.19 puts '(traceback
    unavailable)' into every failure; a real one holds the stack)."""
    return "Traceback (most recent call last)" in json.dumps(result)


def restart_traefik(traefik):
    """Stop Traefik by its PID and start it again on the same directory and ports."""
    before = traefik["platform"].load()["traefik"]["pid"]
    state = traefik["platform"].restart("traefik")["traefik"]
    assert state["pid"] != before and state["dynamic_dir"] == traefik["dir"] and state["web_port"] == traefik["port"]


def assert_neighbours_answer_after_restart(traefik, neighbours):
    restart_traefik(traefik)
    for hosts in neighbours.values():
        for host in hosts:
            assert answers(traefik, host), "%s does not answer after a restart of Traefik" % host


def test_neighbours_answer_before_anything(traefik, neighbours):
    for hosts in neighbours.values():
        for host in hosts:
            assert answers(traefik, host, timeout=5)


# (id, options for tenant `victim` (already routed) or another name, what the message must say)
REFUSED = [
    ("period-abc", {"rate_limit": {"average": 5, "period": "abc"}}, "rate_limit.period 'abc' is not a Go duration"),
    ("period-bare-number", {"rate_limit": {"average": 5, "period": "1"}}, "is not a Go duration"),
    ("period-negative", {"rate_limit": {"average": 5, "period": "-1s"}}, "is not a Go duration"),
    ("period-leading-space", {"rate_limit": {"average": 5, "period": " 1s"}}, "is not a Go duration"),
    ("period-trailing-newline", {"rate_limit": {"average": 5, "period": "1s\n"}}, "is not a Go duration"),
    ("name-trailing-newline", {"name": "victim\n"}, "is not a valid route name"),
    ("host-trailing-newline", {"hosts": ["victim.test\n"]}, "contains a control character"),
    ("entrypoint-unknown", {"entrypoints": ["nope"]}, "entry point(s) nope unknown to Traefik"),
    ("entrypoint-trailing-newline", {"entrypoints": ["web\n"]}, "is not a valid Traefik name"),
    ("redirect-entrypoint-unknown", {"tls": {"redirect_from": ["plain"]}}, "entry point(s) plain unknown"),
    ("cert-resolver-newline", {"tls": {"cert_resolver": "le\n"}}, "tls.cert_resolver"),
    ("secret-name-newline", {"tls": {"secret_name": "victim-tls\n"}}, "tls.secret_name"),
    ("namespace-newline", {"namespace": "odoo\n"}, "namespace"),
    ("header-value-crlf", {"headers": {"custom_response": {"X-Tenant": "a\r\nSet-Cookie: s=1"}}}, "is not a valid header value"),
    ("header-name-space", {"headers": {"custom_response": {"X Tenant": "a"}}}, "is not a valid HTTP header name"),
    ("frame-options-newline", {"headers": {"frame_options": "DENY\n"}}, "headers.frame_options"),
    ("hsts-negative", {"tls": {}, "headers": {"hsts_seconds": -1}}, "headers.hsts_seconds -1 is out of range"),
    ("average-zero", {"rate_limit": {"average": 0}}, "rate_limit.average 0 is out of range"),
    ("average-beyond-int64", {"rate_limit": {"average": 2**64}}, "is out of range"),
    ("burst-negative", {"rate_limit": {"average": 5, "burst": -1}}, "rate_limit.burst -1 is out of range"),
    ("inflight-zero", {"inflight_limit": 0}, "inflight_limit 0 is out of range"),
    ("health-path-relative", {"health_check_path": "web/health"}, "health_check_path 'web/health' is not"),
    ("health-path-space", {"health_check_path": "/web health"}, "is not a URL path"),
    ("backend-url-newline", {"backend_url": "http://127.0.0.1:8069\n"}, "contains white space, a control"),
    ("cidr-newline", {"database_manager_allow": ["10.0.0.0/8\n"]}, "is not a valid IP address or CIDR"),
    ("mode-group-writable", {"mode": "0664"}, "write permission for group or others"),
    ("mode-executable", {"mode": "0755"}, "execute permission"),
    ("mode-setuid", {"mode": "4644"}, "setuid"),
    ("mode-not-octal", {"mode": "rw-r--r--"}, "is not an octal permission string"),
    ("wait-timeout-zero", {"wait_timeout": 0}, "wait_timeout 0 is out of range"),
]


@pytest.mark.parametrize("override,message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_input_changes_nothing_and_neighbours_survive_a_restart(traefik, neighbours, override, message):
    override = dict(override)
    before = snapshot(traefik["dir"])
    victim_file = open(os.path.join(traefik["dir"], "victim.yml"), "rb").read()
    run = apply(route(traefik, override.pop("name", "victim"), override.pop("hosts", ["victim.test"]), **override))
    result = run.results[0]
    assert result.get("failed") and message in result["msg"], result
    assert result.get("changed") is False and not traceback_in(result), result
    assert snapshot(traefik["dir"]) == before  # byte-identical, no temporary file left
    assert open(os.path.join(traefik["dir"], "victim.yml"), "rb").read() == victim_file
    assert_neighbours_answer_after_restart(traefik, neighbours)


def test_unknown_entry_point_message_names_the_known_ones(traefik, neighbours):
    run = apply(route(traefik, "victim", ["victim.test"], entrypoints=["websecure", "webz"]))
    assert run.results[0].get("failed") and "it has: traefik, web, websecure" in run.results[0]["msg"], run


def test_refused_input_is_refused_in_check_mode_too(traefik, neighbours):
    before = snapshot(traefik["dir"])
    run = apply(route(traefik, "victim", ["victim.test"], rate_limit={"average": 5, "period": "abc"}, entrypoints=["nope"]), check=True)
    assert run.results[0].get("failed") and "is not a Go duration" in run.results[0]["msg"], run
    run = apply(route(traefik, "victim", ["victim.test"], entrypoints=["nope"]), check=True)
    assert run.results[0].get("failed") and "unknown to Traefik" in run.results[0]["msg"], run
    assert snapshot(traefik["dir"]) == before


def test_world_writable_route_file_is_refused(traefik, neighbours):
    path = os.path.join(traefik["dir"], "victim.yml")
    content = open(path, "rb").read()
    os.chmod(path, 0o666)
    try:
        run = apply(route(traefik, "victim", ["victim.test"], rate_limit={"average": 50}))
        result = run.results[0]
        assert result.get("failed") and "is writable by others (mode 0666)" in result["msg"], run
        assert open(path, "rb").read() == content and stat.S_IMODE(os.stat(path).st_mode) == 0o666
    finally:
        os.chmod(path, 0o644)
    assert apply(route(traefik, "victim", ["victim.test"])).results[0]["changed"] is False


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o757])
def test_world_writable_directory_is_refused(traefik, mode):
    directory = tempfile.mkdtemp(prefix="odoo_ops-ww-")
    try:
        os.chmod(directory, mode)
        run = apply(route(traefik, "wwtest", ["wwtest.test"], dynamic_dir=directory, wait=False))
        result = run.results[0]
        assert result.get("failed") and "dynamic_dir %s is writable by others" % directory in result["msg"], run
        assert os.listdir(directory) == []
    finally:
        shutil.rmtree(directory)


def test_other_world_writable_files_are_reported(traefik):
    directory = tempfile.mkdtemp(prefix="odoo_ops-wwf-")
    try:
        os.chmod(directory, 0o755)
        other = os.path.join(directory, "other.yml")
        with open(other, "w", encoding="utf-8") as handle:
            handle.write("http: {}\n")
        os.chmod(other, 0o666)
        run = apply(route(traefik, "wwfile", ["wwfile.test"], dynamic_dir=directory, wait=False))
        result = run.results[0]
        assert result.get("changed") and not result.get("failed"), run
        assert any("%s is writable by others" % other in w for w in result.get("warnings", [])), result
        assert stat.S_IMODE(os.stat(os.path.join(directory, "wwfile.yml")).st_mode) == 0o644
    finally:
        shutil.rmtree(directory)


def test_names_another_file_defines_are_refused(traefik, neighbours):
    foreign = os.path.join(traefik["dir"], "hand-written.yml")
    with open(foreign, "w", encoding="utf-8") as handle:
        handle.write("http:\n  middlewares:\n    clash-headers:\n      headers: {contentTypeNosniff: true}\n")
    try:
        before = snapshot(traefik["dir"])
        run = apply(route(traefik, "clash", ["clash.test"]))
        result = run.results[0]
        assert result.get("failed") and "middleware clash-headers already defined by %s" % foreign in result["msg"]
        assert snapshot(traefik["dir"]) == before
    finally:
        os.unlink(foreign)


def test_unreadable_file_is_a_message_not_a_traceback(traefik):
    directory = tempfile.mkdtemp(prefix="odoo_ops-unreadable-")
    try:
        os.chmod(directory, 0o755)
        secret = os.path.join(directory, "other.yml")
        with open(secret, "w", encoding="utf-8") as handle:
            handle.write("http: {}\n")
        os.chmod(secret, 0o600)
        task = route(traefik, "unreadable", ["unreadable.test"], dynamic_dir=directory, wait=False)
        if os.geteuid() == 0:  # root reads anything: run as an unprivileged user that may write the folder
            nobody = pwd.getpwnam("nobody")
            os.chown(directory, nobody.pw_uid, nobody.pw_gid)
            run = apply(task, as_user="nobody")
        else:
            os.chmod(secret, 0)
            run = apply(task)
        result = run.results[0]
        assert result.get("failed") and "cannot read %s" % secret in result["msg"], run
        assert not traceback_in(result) and "Traceback (most recent call last)" not in run.output, run
        assert sorted(os.listdir(directory)) == ["other.yml"]
    finally:
        shutil.rmtree(directory)


def test_unconfirmed_write_is_undone_when_another_file_breaks_the_directory(traefik, neighbours):
    """The race of the issue: a value passes every check, but Traefik does not load the directory
    (here another file in it became invalid, as a hand edit or another tool would make it). The
    tenant's change is not confirmed, so its previous file is put back, and a new tenant's file is
    removed: the directory is left as the task found it."""
    victim = os.path.join(traefik["dir"], "victim.yml")
    previous, previous_mode = open(victim, "rb").read(), stat.S_IMODE(os.stat(victim).st_mode)
    broken = os.path.join(traefik["dir"], "zz-hand-edited.yml")
    with open(broken, "w", encoding="utf-8") as handle:
        handle.write(BROKEN)
    try:
        before = snapshot(traefik["dir"])
        run = apply(
            dict(route(traefik, "victim", ["victim.test"], rate_limit={"average": 7}, wait_timeout=4), ignore_errors=True),
            dict(route(traefik, "newcomer", ["newcomer.test"], wait_timeout=4), ignore_errors=True),
        )
        changed_one, new_one = run.results
        for result in (changed_one, new_one):
            assert result.get("failed") and result["restored"] is True and result["changed"] is False, result
            assert "not confirmed live" in result["msg"] and "refuses the whole directory" in result["msg"]
            assert result["live"] is False and result["traefik"]["pending"], result
        assert "the previous file was restored" in changed_one["msg"]
        assert "routers/victim-web" in changed_one["traefik"]["pending"]
        assert "the new file was removed (there was none before)" in new_one["msg"]
        assert snapshot(traefik["dir"]) == before
        assert open(victim, "rb").read() == previous and stat.S_IMODE(os.stat(victim).st_mode) == previous_mode
    finally:
        os.unlink(broken)
    # The directory loads again: the previous routes are live, the refused change never was.
    for hosts in neighbours.values():
        for host in hosts:
            assert answers(traefik, host)
    assert answers(traefik, "victim.test") and not answers(traefik, "newcomer.test", timeout=1)
    assert api_router(traefik, "victim-web")["middlewares"] == ["victim-headers@file"]
    assert_neighbours_answer_after_restart(traefik, neighbours)


def test_a_broken_directory_takes_everyone_down_after_a_restart(traefik, neighbours):
    """Why all of the above: what Traefik itself does with one bad file (observed, not assumed)."""
    broken = os.path.join(traefik["dir"], "zz-hand-edited.yml")
    with open(broken, "w", encoding="utf-8") as handle:
        handle.write(BROKEN)
    try:
        restart_traefik(traefik)
        assert not answers(traefik, "victim.test", timeout=3)
        assert request(traefik["port"], "victim.test", "/web/login")[0] == 404
    finally:
        os.unlink(broken)
    assert answers(traefik, "victim.test")  # the watcher picks the directory up again


def test_a_file_of_the_same_name_it_did_not_write_is_never_replaced_or_removed(traefik, neighbours):
    """A route name that matches another file of the directory (the platform's shared middlewares or
    TLS options, a hand-written route): neither state=present nor state=absent replaces or removes it,
    in check mode or not, and every tenant still answers after a restart."""
    foreign = os.path.join(traefik["dir"], "platform-shared.yml")
    with open(foreign, "w", encoding="utf-8") as handle:
        handle.write("http:\n  middlewares:\n    platform-compress:\n      compress: {}\n")
    try:
        before = snapshot(traefik["dir"])
        for check in (True, False):
            run = apply(
                dict(route(traefik, "platform-shared", ["shared.test"]), ignore_errors=True),
                dict(route(traefik, "platform-shared", ["shared.test"], state="absent"), ignore_errors=True),
                check=check,
            )
            for result, verb in zip(run.results, ("replace", "remove")):
                assert result.get("failed") and "was not written by traefik_route" in result["msg"] and "refusing to %s" % verb in result["msg"], result
                assert result.get("changed") is False and not traceback_in(result), result
            assert snapshot(traefik["dir"]) == before
        assert_neighbours_answer_after_restart(traefik, neighbours)
    finally:
        os.unlink(foreign)
