"""traefik_host_check against a real HTTP server on 127.0.0.1 that answers by the Host header, as Traefik
routes: the statuses compared, every host that does not answer named, the requests in parallel and
each bounded by the timeout, bad input refused before any request."""

import contextlib
import http.server
import threading
import time

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.host_check import HostsUnanswered, check_hosts, watch_hosts
from ansible_collections.sysgenpro.odoo_ops.plugins.modules import traefik_host_check
from tests.unit.plugins.module_utils.test_module_contract import run_main


class Routes(http.server.BaseHTTPRequestHandler):
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()
    seen = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            cls.seen.append((self.headers["Host"], self.path))
        try:
            host = self.headers["Host"]
            if host == "slow.localhost":
                time.sleep(3)
            elif host.endswith("acme.localhost"):
                time.sleep(0.2)  # requests overlap when they run in parallel
            if host.endswith("acme.localhost") and self.path == "/web/login":
                status = 200
            elif host.endswith("acme.localhost") and self.path == "/web/database/manager":
                status = 403
            elif host == "moved.localhost":
                self.send_response(303)
                self.send_header("Location", "/web/login")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            else:
                status = 404
            body = b"x" * 100000  # longer than what is read of an answer
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout test)
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def entry_point():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def counting():
    Routes.most_in_flight, Routes.seen = 0, []
    yield Routes


def test_every_host_answers_as_it_should_in_parallel(entry_point):
    checks = [{"host": "acme.localhost"}, {"host": "www.acme.localhost", "path": "/web/login", "status": 200}]
    checks += [{"host": "acme.localhost", "path": "/web/database/manager", "status": 403}]
    with counting() as routes:
        answers = check_hosts(entry_point, [dict({"path": "/web/login", "status": 200}, **c) for c in checks], timeout=10, workers=4)
    assert [(a["host"], a["path"], a["status"], a["ok"]) for a in answers] == [
        ("acme.localhost", "/web/login", 200, True),
        ("www.acme.localhost", "/web/login", 200, True),
        ("acme.localhost", "/web/database/manager", 403, True),
    ]
    assert sorted(routes.seen) == sorted((c["host"], c.get("path", "/web/login")) for c in checks)
    assert routes.most_in_flight > 1


def test_one_at_a_time_with_one_worker(entry_point):
    with counting() as routes:
        check_hosts(entry_point, [{"host": "acme.localhost", "path": "/web/login", "status": 200}] * 3, timeout=10, workers=1)
    assert routes.most_in_flight == 1


def test_hosts_that_do_not_answer_are_each_named_with_the_answers(entry_point):
    checks = [
        {"host": "acme.localhost", "path": "/web/login", "status": 200},
        {"host": "globex.localhost", "path": "/web/login", "status": 200},
        {"host": "moved.localhost", "path": "/web/login", "status": 200},  # a redirect is not followed
        {"host": "slow.localhost", "path": "/web/login", "status": 200},  # bounded by the timeout
    ]
    with pytest.raises(HostsUnanswered) as failed:
        check_hosts(entry_point, checks, timeout=1, workers=4)
    message = str(failed.value)
    assert "3 of 4 hosts did not answer through %s" % entry_point in message
    assert "globex.localhost/web/login: 404 (expected 200)" in message and "moved.localhost/web/login: 303 (expected 200)" in message
    assert "slow.localhost/web/login: TimeoutError" in message or "slow.localhost/web/login: timeout" in message.lower()
    assert "acme.localhost/web/login" not in message
    assert [a["ok"] for a in failed.value.result["hosts"]] == [True, False, False, False]


def test_nothing_listening_is_an_error_not_a_crash():
    with pytest.raises(HostsUnanswered, match="ConnectionRefusedError"):
        check_hosts("http://127.0.0.1:9", [{"host": "acme.localhost", "path": "/", "status": 200}], timeout=2)


@pytest.mark.parametrize(
    "url, checks, timeout, workers, problem",
    [
        ("127.0.0.1:80", [{"host": "a"}], 10, 8, "url must be the entry point's http:// or https:// address"),
        ("http://127.0.0.1:80/web", [{"host": "a"}], 10, 8, "without a path"),
        ("http://127.0.0.1:80", [], 10, 8, "checks must name at least one host"),
        ("http://127.0.0.1:80", [{"host": "a"}] * 501, 10, 8, "checks has 501 entries, at most 500"),
        ("http://127.0.0.1:80", [{"host": "a b"}], 10, 8, "host must be a host name"),
        ("http://127.0.0.1:80", [{"host": "a", "path": "web"}], 10, 8, "path must start with /"),
        ("http://127.0.0.1:80", [{"host": "a", "path": "/x\r\nHost: b"}], 10, 8, "path must start with / and hold no space"),
        ("http://127.0.0.1:80", [{"host": "a"}], 0, 8, "timeout 0 must be 1-300"),
        ("http://127.0.0.1:80", [{"host": "a"}], 10, 33, "workers 33 must be 1-32"),
    ],
)
def test_bad_input_is_refused_before_any_request(url, checks, timeout, workers, problem):
    with pytest.raises(Refused, match=problem.replace("(", r"\(")):
        check_hosts(url, checks, timeout=timeout, workers=workers)


def test_module_result_is_the_same_in_check_mode_and_fails_naming_the_hosts(entry_point):
    args = {"url": entry_point, "checks": [{"host": "acme.localhost"}, {"host": "acme.localhost", "path": "/web/database/manager", "status": 403}]}
    code, result = run_main(traefik_host_check.main, args)
    checked_code, checked = run_main(traefik_host_check.main, args, check_mode=True)
    assert code == checked_code == 0
    assert result["changed"] is False and result["steps"] == [] and result["diff"] == {"before": {}, "after": {}}
    assert sorted(result) == sorted(checked) and [a["ok"] for a in result["hosts"]] == [True, True]
    code, result = run_main(traefik_host_check.main, dict(args, checks=[{"host": "globex.localhost"}]))
    assert code == 1 and result["failed"] and "globex.localhost/web/login: 404 (expected 200)" in result["msg"]
    assert "exception" not in result and result["hosts"][0]["status"] == 404


def test_a_watch_measures_failures_until_its_file_is_gone_and_a_text_is_required(entry_point, tmp_path):
    """globex answers 404 (a failure for a check expecting 200), acme 200; the watch stops when its file goes
    (after three rounds here) and, whatever the file, at max_seconds. A check with `contains` fails on a 200
    without the text."""
    flag = tmp_path / "probe"
    flag.write_text("")

    def stop_after_three_rounds():  # bounded: 30 s at most, whatever the machine's load
        deadline = time.monotonic() + 30
        while sum(host == "globex.localhost" for host, _path in Routes.seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        flag.unlink()

    Routes.seen = []
    threading.Thread(target=stop_after_three_rounds, daemon=True).start()
    watched = watch_hosts(
        entry_point, [{"host": "acme.localhost", "path": "/web/login"}, {"host": "globex.localhost", "path": "/web/login"}], str(flag), 30, 0.1
    )
    assert watched["seconds"] < 30, watched  # the file went after three rounds: before max_seconds
    acme, globex = watched["hosts"]
    assert acme["failed"] == 0 and acme["downtime_seconds"] == 0 and acme["statuses"] == {"200": acme["requests"]}, acme
    assert globex["failed"] == globex["requests"] > 1 and globex["statuses"] == {"404": globex["requests"]}, globex
    assert globex["downtime_seconds"] == round(globex["last_failure"] - globex["first_failure"], 2) > 0, globex
    flag.write_text("")
    assert watch_hosts(entry_point, [{"host": "acme.localhost", "path": "/web/login"}], str(flag), 1, 0.1)["seconds"] < 5  # bounded
    with pytest.raises(Refused, match="interval"):
        watch_hosts(entry_point, [{"host": "acme.localhost"}], str(flag), 1, 0.001)
    answers = check_hosts(entry_point, [{"host": "acme.localhost", "path": "/web/login", "contains": "x" * 10}], timeout=10)
    assert answers[0]["ok"] and answers[0]["contains"]
    with pytest.raises(HostsUnanswered):
        check_hosts(entry_point, [{"host": "acme.localhost", "path": "/web/login", "contains": "oe_login_form"}], timeout=10)
