"""traefik_route against a real Traefik 3, driven through ansible-playbook.

Order per scenario, as amazon.aws does it: bad input, check mode, apply, check again, apply
again, then read the real state (files, Traefik's API, requests through the entry point).
"""

import glob
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request

import pytest

from tests.harness.contract import assert_same_plan_keys
from tests.harness.http import request, websocket_echo
from tests.harness.playbook import run_tasks


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
    }


def route(traefik, name, hosts, **options):
    args = {
        "name": name,
        "hosts": hosts,
        "backend_url": traefik["backend"],
        "websocket_url": traefik["websocket"],
        "dynamic_dir": traefik["dir"],
        "api_url": traefik["api"],
        "wait_timeout": 15,
    }
    args.update(options)
    return {"name": "route %s" % name, "sysgenpro.odoo_ops.traefik_route": args}


def apply(*tasks, **kwargs):
    run = run_tasks(list(tasks), **kwargs)
    assert run.results, run
    return run


def api_router(traefik, name):
    try:
        with urllib.request.urlopen("%s/api/http/routers/%s@file" % (traefik["api"], name), timeout=5) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
        return None


def snapshot(directory):
    """{file name: sha256} of a directory, hidden temp files included."""
    return {
        os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
        for p in sorted(glob.glob(os.path.join(directory, "*")) + glob.glob(os.path.join(directory, ".*")))
    }


def test_two_hosts_reach_http_and_websocket_backends(traefik):
    run = apply(route(traefik, "twohosts", ["a.twohosts.test", "b.twohosts.test"]))
    result = run.results[0]
    assert result["changed"] and result["live"], run
    assert result["routers"] == ["twohosts-dbmanager@file", "twohosts-encoded@file", "twohosts-web@file", "twohosts-websocket@file"]
    for host in ("a.twohosts.test", "b.twohosts.test"):
        status, _headers, body = request(traefik["port"], host, "/web/login")
        assert status == 200
        seen = json.loads(body)
        assert seen["port"] == "http" and seen["host"] == host and seen["x_forwarded_host"] == host
        status_line, echoed = websocket_echo(traefik["port"], host, b"bus message")
        assert " 101 " in status_line and echoed == b"bus message"  # answered by the gevent port
    assert request(traefik["port"], "c.twohosts.test", "/")[0] == 404
    # A client cannot spoof the forwarded host through a header-name alias (Odoo is WSGI).
    _status, _headers, body = request(traefik["port"], "a.twohosts.test", "/", {"X_Forwarded_Host": "evil.test"})
    assert json.loads(body)["aliased_headers"] == [] and json.loads(body)["x_forwarded_host"] == "a.twohosts.test"


def test_database_manager_blocked_unless_client_allowed(traefik):
    apply(route(traefik, "dbm", ["dbm.test"]))
    for path in ("/web/database/manager", "/web/database/selector", "/xmlrpc/2/db", "/xmlrpc/db"):
        status, headers, _body = request(traefik["port"], "dbm.test", path)
        assert status == 403, path
        assert headers.get("x-content-type-options") == "nosniff"  # refusals carry the headers too
    assert request(traefik["port"], "dbm.test", "/web/login")[0] == 200
    apply(route(traefik, "dbm", ["dbm.test"], database_manager_allow=["127.0.0.1/32"]))
    status, _headers, body = request(traefik["port"], "dbm.test", "/web/database/manager")
    assert status == 200 and json.loads(body)["path"] == "/web/database/manager"
    apply(route(traefik, "dbm", ["dbm.test"], database_manager_allow=["10.9.0.0/16"]))
    assert request(traefik["port"], "dbm.test", "/web/database/manager")[0] == 403


def test_security_headers_and_tls_with_redirect(traefik):
    apply(route(traefik, "plain", ["plain.test"]))
    _status, headers, _body = request(traefik["port"], "plain.test", "/web/login")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in headers  # no HSTS without TLS

    apply(route(traefik, "secure", ["secure.test"], tls={}))
    status, headers, body = request(traefik["tls_port"], "secure.test", "/web/login", tls=True)
    assert status == 200 and json.loads(body)["x_forwarded_proto"] == "https"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    status, headers, _body = request(traefik["port"], "secure.test", "/web/login")
    assert status in (301, 308) and headers["location"].startswith("https://secure.test")


def test_maintenance_answers_503_for_that_tenant_only(traefik):
    apply(route(traefik, "calm", ["calm.test"]), route(traefik, "busy", ["busy.test"], maintenance=True))
    status, headers, _body = request(traefik["port"], "busy.test", "/web/login")
    assert status == 503 and headers.get("x-content-type-options") == "nosniff"
    assert websocket_echo(traefik["port"], "busy.test")[1] is None
    assert request(traefik["port"], "calm.test", "/web/login")[0] == 200
    apply(route(traefik, "busy", ["busy.test"], maintenance=False))
    assert request(traefik["port"], "busy.test", "/web/login")[0] == 200  # live when the task returns


def test_host_check_reports_each_host_the_same_in_check_mode_and_fails_naming_the_wrong_ones(traefik):
    """traefik_host_check through this Traefik: the same answer in check mode as in a run (read-only), and a
    failure that lists every host that did not answer as it should."""
    apply(route(traefik, "hc", ["hc.test"]))
    checks = [{"host": "hc.test"}, {"host": "hc.test", "path": "/web/database/manager", "status": 403}]
    task = {"sysgenpro.odoo_ops.traefik_host_check": {"url": "http://127.0.0.1:%d" % traefik["port"], "checks": checks, "timeout": 5}}
    check, real = apply(task, check=True).results[0], apply(task).results[0]
    assert_same_plan_keys(check, real, all_keys=True)
    assert check["changed"] is False and real["changed"] is False and check["steps"] == [] == real["steps"]
    assert [(h["host"], h["status"]) for h in real["hosts"]] == [("hc.test", 200), ("hc.test", 403)], real
    wrong = dict(task["sysgenpro.odoo_ops.traefik_host_check"], checks=checks + [{"host": "nobody.hc.test"}])
    failed = run_tasks([{"sysgenpro.odoo_ops.traefik_host_check": wrong}]).results[0]
    assert failed.get("failed") and "nobody.hc.test" in failed["msg"] and "404" in failed["msg"], failed


def test_idempotence_check_mode_diff_and_absent(traefik):
    path = os.path.join(traefik["dir"], "cycle.yml")
    first = apply(route(traefik, "cycle", ["cycle.test"]))
    assert first.results[0]["changed"] and first.results[0]["live"]
    written = open(path, "rb").read()
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"

    again = apply(route(traefik, "cycle", ["cycle.test"]))
    assert again.results[0]["changed"] is False and again.results[0]["live"]

    check = apply(route(traefik, "cycle", ["cycle.test"], rate_limit={"average": 5}), check=True)
    result = check.results[0]
    assert result["changed"] is True and result["live"] is False
    assert "cycle-ratelimit" in result["diff"]["after"] and "cycle-ratelimit" not in result["diff"]["before"]
    assert_same_plan_keys(result, first.results[0], all_keys=True)
    assert result["steps"] == first.results[0]["steps"] == ["write %s" % path]
    assert open(path, "rb").read() == written  # check mode wrote nothing
    assert api_router(traefik, "cycle-web")["middlewares"] == ["cycle-headers@file"]

    absent_check = apply(
        {"sysgenpro.odoo_ops.traefik_route": {"name": "cycle", "state": "absent", "dynamic_dir": traefik["dir"], "api_url": traefik["api"]}}, check=True
    )
    assert absent_check.results[0]["changed"] is True and os.path.exists(path)

    absent = apply({"sysgenpro.odoo_ops.traefik_route": {"name": "cycle", "state": "absent", "dynamic_dir": traefik["dir"], "api_url": traefik["api"]}})
    assert absent.results[0]["changed"] is True and absent.results[0]["live"], absent
    assert not os.path.exists(path)
    for router in ("cycle-web", "cycle-websocket", "cycle-dbmanager", "cycle-encoded"):
        assert api_router(traefik, router) is None
    absent_again = apply({"sysgenpro.odoo_ops.traefik_route": {"name": "cycle", "state": "absent", "dynamic_dir": traefik["dir"], "api_url": traefik["api"]}})
    assert absent_again.results[0]["changed"] is False


REFUSALS = [
    ({"name": "intruder", "hosts": ["owner.test"]}, "already routed by"),
    ({"name": "spacey", "hosts": ["bad host.test"]}, "contains white space"),
    ({"name": "upper", "hosts": ["Upper.test"]}, "upper-case"),
    ({"name": "under", "hosts": ["under_score.test"]}, "invalid label"),
    ({"name": "noscheme", "backend_url": "127.0.0.1:8069"}, "needs a scheme"),
    ({"name": "a/b"}, "not a valid route name"),
    ({"name": ".."}, "not a valid route name"),
    ({"name": "Acme"}, "not a valid route name"),
    ({"name": "cidr", "database_manager_allow": ["10.0.0.1/8"]}, "not a valid IP address or CIDR"),
    ({"name": "missingdir", "dynamic_dir": "/nonexistent/odoo_ops"}, "does not exist"),
]


@pytest.mark.parametrize("override,message", REFUSALS, ids=[r[0]["name"] for r in REFUSALS])
def test_refusals_change_nothing(traefik, override, message):
    apply(route(traefik, "owner", ["owner.test"]))
    before = snapshot(traefik["dir"])
    hosts = override.pop("hosts", ["refused.test"])
    run = apply(route(traefik, override.pop("name"), hosts, **override))
    result = run.results[0]
    assert result.get("failed") and message in result["msg"], result
    assert result.get("changed") is False
    assert snapshot(traefik["dir"]) == before


def test_unwritable_directory_is_refused(traefik):
    directory = tempfile.mkdtemp(prefix="odoo_ops-ro-")
    os.chmod(directory, 0o755)  # owned by root: not writable for the user running ansible
    try:
        task = route(traefik, "rotest", ["rotest.test"], dynamic_dir=directory)
        if os.geteuid() == 0:  # root writes anywhere: run ansible itself as an unprivileged user
            run = apply(task, as_user="nobody")
        else:
            os.chmod(directory, 0o555)
            run = apply(task)
        result = run.results[0]
        assert result.get("failed") and "is not writable" in result["msg"], run
        assert os.listdir(directory) == []
    finally:
        shutil.rmtree(directory)


def test_api_unreachable_is_a_clear_failure(traefik):
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    run = apply(route(traefik, "noapi", ["noapi.test"], api_url=closed, wait_timeout=2))
    result = run.results[0]
    assert result.get("failed") and "not confirmed live" in result["msg"] and closed in result["msg"], result
    assert result["live"] is False


def test_api_password_never_appears_in_output(traefik):
    secret = "Tr4efik-" + os.urandom(8).hex()
    run = run_tasks(
        [route(traefik, "secretive", ["secretive.test"], api_url="http://127.0.0.1:9", api_username="ops", api_password=secret, wait_timeout=1)], verbosity=3
    )
    assert run.results and run.results[0].get("failed"), run
    assert secret not in run.output and secret not in run.stderr
    env_run = run_tasks(
        [route(traefik, "secretive", ["secretive.test"], api_url="http://127.0.0.1:9", api_username="ops", wait_timeout=1)],
        verbosity=3,
        extra_env={"TRAEFIK_API_PASSWORD": secret},
    )
    assert env_run.results and secret not in env_run.output and secret not in env_run.stderr
