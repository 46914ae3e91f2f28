# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client of Traefik's API (read-only): entry points, router state, and waiting until routes are live."""

import json
import os
import time
import urllib.error
import urllib.parse

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import go_duration_ns


class TraefikApiError(OdooOpsError):
    pass


def _same(written, seen):
    """Whether `seen` (the API's view) shows every value of `written` (what we wrote).

    The API adds defaults (a router's tls options, a balancer's strategy) and omits zero values
    (false, 0, empty lists); durations come back normalised (90s as 1m30s).
    """
    if isinstance(written, dict):
        seen = seen if isinstance(seen, dict) else {}
        return all(_same(value, seen.get(key)) for key, value in written.items())
    if seen is None:
        return not written
    if isinstance(written, list):
        return isinstance(seen, list) and len(written) == len(seen) and all(map(_same, written, seen))
    if isinstance(written, str) and isinstance(seen, str) and written != seen:
        ns = go_duration_ns(written)
        return ns is not None and ns == go_duration_ns(seen)
    return type(written) is type(seen) and written == seen


def _plain(name):
    """Names as written in the file (Traefik's API adds @file to same-provider references)."""
    return name.split("@", 1)[0] if name else name


class TraefikApi:
    def __init__(self, url, username=None, password=None, validate_certs=True, timeout=5):
        self.url = url.rstrip("/")
        self.username, self.password = username, password
        self.validate_certs, self.timeout = validate_certs, timeout

    def _get(self, path, next_page=False):
        """The decoded JSON answer to GET path (None on 404); with next_page, (answer, next page number)."""
        # Imported on first use: ansible.module_utils.urls (cryptography included) takes ~40 ms to
        # import, which a module run without the API (a kubernetes render) never pays.
        from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel

        try:
            answer = open_url(
                self.url + path,
                method="GET",
                url_username=self.username,
                url_password=self.password,
                force_basic_auth=bool(self.username),
                validate_certs=self.validate_certs,
                timeout=self.timeout,
            )
            decoded = json.loads(answer.read())
            if not next_page:
                return decoded
            try:
                return decoded, int(answer.headers.get("X-Next-Page") or 1)
            except ValueError:
                return decoded, 1
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return (None, 1) if next_page else None
            raise TraefikApiError("Traefik API %s answered HTTP %s" % (self.url, exc.code)) from None
        except (OSError, ValueError) as exc:
            raise TraefikApiError("Traefik API %s unreachable: %s" % (self.url, exc)) from None

    def objects(self, kind, search, provider="file", max_pages=50):
        """{name as written: the API's view} of the HTTP routers, services or middlewares of `provider`
        whose names contain `search`. One request per 1000 objects: each request through open_url
        costs ~25 ms, so polling list endpoints keeps a confirmation round at three requests."""
        found, page = {}, 1
        suffix = "@%s" % provider
        for _page in range(max_pages):  # bounded: Traefik answers X-Next-Page 1 on the last page
            answer, next_page = self._get("/api/http/%s?search=%s&per_page=1000&page=%d" % (kind, urllib.parse.quote(search, safe=""), page), next_page=True)
            for item in answer or []:
                if isinstance(item, dict) and str(item.get("name", "")).endswith(suffix):
                    found[item["name"][: -len(suffix)]] = item
            if next_page <= page:
                break
            page = next_page
        return found

    def entrypoints(self):
        """The names of Traefik's entry points (its static configuration)."""
        answer = self._get("/api/entrypoints?per_page=1000")
        if not isinstance(answer, list):
            raise TraefikApiError("Traefik API %s/api/entrypoints did not answer a list" % self.url)
        return sorted(str(entry.get("name")) for entry in answer if isinstance(entry, dict))

    @staticmethod
    def written(kind, observed, expected):
        """Whether the API shows the object (a router, service or middleware) as we wrote it."""
        if observed is None:
            return False
        if kind == "routers":  # references come back qualified (@file); no middleware means none, not "any"
            observed = dict(observed, service=_plain(observed.get("service")), middlewares=[_plain(m) for m in observed.get("middlewares") or []])
            expected = dict(expected, middlewares=expected.get("middlewares", []))
        return _same(expected, observed)

    @classmethod
    def matches(cls, kind, observed, expected):
        """Whether Traefik runs exactly what we wrote: routers enabled, the others loaded (not disabled;
        a service whose servers are down is still live configuration)."""
        if not cls.written(kind, observed, expected):
            return False
        return observed.get("status") == "enabled" if kind == "routers" else observed.get("status") != "disabled"

    @classmethod
    def refused(cls, kind, observed, expected):
        """Whether Traefik loaded the object as written and disabled it (its errors say why)."""
        return cls.written(kind, observed, expected) and observed.get("status") == "disabled" and bool(observed.get("error"))

    def wait(self, expected, provider="file", timeout=30, interval=0.05):
        """Poll until Traefik shows every object of `expected` ({"routers"|"services"|"middlewares":
        {name: definition}}, the `http` part of a dynamic configuration) as written.

        Comparing services and middlewares too proves that Traefik loaded this configuration, not
        an older one with the same routers (a changed rate limit leaves every router as it was).
        Returns (ok, report); the report says what Traefik showed last (or why it did not answer).
        Returns early when Traefik loaded an object as written but disabled it: that is its verdict
        on this configuration, waiting longer would not change it.
        """
        deadline = time.monotonic() + timeout
        search = os.path.commonprefix([name for objects in expected.values() for name in objects])
        while True:
            seen = {kind: {} for kind in expected}
            try:
                for kind, objects in expected.items():
                    listed = self.objects(kind, search, provider) if objects else {}
                    seen[kind] = {name: listed.get(name) for name in objects}
                error = None
            except TraefikApiError as exc:
                error = str(exc)
            pending = sorted(
                "%s/%s" % (kind, name)
                for kind, objects in expected.items()
                for name, body in objects.items()
                if error is not None or not self.matches(kind, seen[kind].get(name), body)
            )
            if not pending:
                return True, dict(seen, api_error=None, pending=[], refused=[])
            refused = [
                item
                for item in pending
                if error is None
                and self.refused(
                    item.split("/", 1)[0], seen[item.split("/", 1)[0]].get(item.split("/", 1)[1]), expected[item.split("/", 1)[0]][item.split("/", 1)[1]]
                )
            ]
            if refused or time.monotonic() >= deadline:
                return False, dict(seen, api_error=error, pending=pending, refused=refused)
            time.sleep(interval)

    def wait_gone(self, names, provider="file", timeout=30, interval=0.05):
        deadline = time.monotonic() + timeout
        while True:
            try:
                listed = self.objects("routers", os.path.commonprefix(list(names)), provider) if names else {}
                left = [n for n in names if n in listed]
                error = None
            except TraefikApiError as exc:
                left, error = list(names), str(exc)
            if not left:
                return True, {}
            if time.monotonic() >= deadline:
                return False, {"api_error": error, "still_present": left}
            time.sleep(interval)
