# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requests to hosts through an HTTP entry point (Traefik routes by the Host header), all at once:
whether each host answers with the status it should. Read-only. Every request is bounded by its timeout
(connection and each read) and by the bytes it reads; at most `workers` run at the same time, so the
whole check takes about ceil(hosts / workers) x timeout at worst."""

import concurrent.futures
import http.client
import os
import ssl
import time
import urllib.parse

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused

MAX_CHECKS = 500  # hosts of one platform; more is a mistake in the input, not a platform
MAX_BODY = 65536  # what is read of an answer: the status is the check, the rest only drains the socket
TIMEOUT = (1, 300)  # seconds, per request
WORKERS = (1, 32)  # requests at the same time


class HostsUnanswered(OperationFailed):
    """Some host did not answer through the entry point as it should (the report lists each host)."""


def _entry_point(url):
    parsed = urllib.parse.urlsplit(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path not in ("", "/") or parsed.query:
        raise Refused("url must be the entry point's http:// or https:// address without a path, got %r" % url)
    return parsed


def _checked_input(url, checks, timeout, workers):
    parsed = _entry_point(url)
    if not checks:
        raise Refused("checks must name at least one host")
    if len(checks) > MAX_CHECKS:
        raise Refused("checks has %d entries, at most %d are checked at once" % (len(checks), MAX_CHECKS))
    for check in checks:
        host, path = check.get("host") or "", check.get("path") or "/"
        if not host or any(c in host for c in " /\r\n"):
            raise Refused("checks: host must be a host name, got %r" % host)
        if not path.startswith("/") or any(c in path for c in " \r\n"):
            raise Refused("checks: path must start with / and hold no space, got %r (host %s)" % (path, host))
    for name, value, (low, high) in (("timeout", timeout, TIMEOUT), ("workers", workers, WORKERS)):
        if not low <= value <= high:
            raise Refused("%s %r must be %d-%d" % (name, value, low, high))
    return parsed


def _request(parsed, check, timeout, context):
    """One request: the status it got, or the error that stopped it (never raised)."""
    answer = {"host": check["host"], "path": check.get("path") or "/", "expected": check.get("status") or 200, "status": None, "error": None}
    if parsed.scheme == "https":
        conn = http.client.HTTPSConnection(parsed.hostname, parsed.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        conn.request("GET", answer["path"], headers={"Host": check["host"], "User-Agent": "sysgenpro.odoo_ops traefik_host_check"})
        response = conn.getresponse()
        body = response.read(MAX_BODY)
        answer["status"] = response.status
        if check.get("contains"):  # e.g. Odoo's login form: a 200 that is an error page is no answer
            answer["contains"] = check["contains"].encode() in body
    except (OSError, http.client.HTTPException) as exc:
        answer["error"] = "%s: %s" % (type(exc).__name__, exc)
    finally:
        conn.close()
    answer["ok"] = answer["status"] == answer["expected"] and answer.get("contains", True)
    return answer


def check_hosts(url, checks, timeout=10, workers=8, validate_certs=True):
    """GET each check's path with its Host header through url (no redirect followed); the answers in the
    order of checks. Raises HostsUnanswered (with the answers as its report) when one is not as expected."""
    parsed = _checked_input(url, checks, timeout, workers)
    context = ssl.create_default_context()
    if not validate_certs:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(checks))) as pool:
        answers = list(pool.map(lambda check: _request(parsed, check, timeout, context), checks))
    wrong = [a for a in answers if not a["ok"]]
    if wrong:
        raise HostsUnanswered(
            "%d of %d hosts did not answer through %s as they should: %s"
            % (
                len(wrong),
                len(answers),
                url,
                "; ".join("%s%s: %s (expected %s)" % (a["host"], a["path"], a["status"] or a["error"], a["expected"]) for a in wrong),
            ),
            result={"hosts": answers},
        )
    return answers


WATCH_INTERVAL = (0.05, 60)  # seconds between rounds
WATCH_SECONDS = (1, 86400)  # the bound of one watch, whatever happens to its file


def watch_hosts(url, checks, while_file, max_seconds, interval=0.2, timeout=5, workers=8, validate_certs=True):
    """Every `interval`, each check once (in parallel), for as long as `while_file` exists and at most
    max_seconds: what users of those hosts saw meanwhile. Per check: requests, failed (not the status it
    should have, or no answer), statuses counted, and the first and last failure in seconds from the start,
    whose difference is the user-visible downtime (first 503 to last 503). Never raises for a failure: it
    measures. Read-only."""
    parsed = _checked_input(url, checks, timeout, workers)
    for name, value, (low, high) in (("interval", interval, WATCH_INTERVAL), ("max_seconds", max_seconds, WATCH_SECONDS)):
        if not low <= value <= high:
            raise Refused("watch %s %r must be %s-%s" % (name, value, low, high))
    context = ssl.create_default_context()
    if not validate_certs:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    seen = [
        {"host": c["host"], "path": c.get("path") or "/", "requests": 0, "failed": 0, "statuses": {}, "first_failure": None, "last_failure": None}
        for c in checks
    ]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(checks))) as pool:
        while time.monotonic() - started < max_seconds and os.path.exists(while_file):
            at = round(time.monotonic() - started, 2)
            for entry, answer in zip(seen, pool.map(lambda check: _request(parsed, check, timeout, context), checks)):
                entry["requests"] += 1
                status = str(answer["status"] or "no answer")
                entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
                if not answer["ok"]:
                    entry["failed"] += 1
                    entry["first_failure"] = at if entry["first_failure"] is None else entry["first_failure"]
                    entry["last_failure"] = at
            time.sleep(interval)
    for entry in seen:
        entry["downtime_seconds"] = round(entry["last_failure"] - entry["first_failure"], 2) if entry["failed"] else 0
    return {"seconds": round(time.monotonic() - started, 1), "interval": interval, "hosts": seen}
