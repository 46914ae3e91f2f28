# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client of Traefik's API (read-only): entry points, router state, and waiting until routes are live."""

import json
import time
import urllib.error
import urllib.parse

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import go_duration_ns


class TraefikApiError(Exception):
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

    def _get(self, path):
        """The decoded JSON answer to GET path, or None on 404."""
        # Imported on first use: ansible.module_utils.urls (cryptography included) takes ~40 ms to
        # import, which a module run without the API (check mode of a kubernetes render) never pays.
        from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
        try:
            answer = open_url(self.url + path, method="GET", url_username=self.username,
                              url_password=self.password, force_basic_auth=bool(self.username),
                              validate_certs=self.validate_certs, timeout=self.timeout)
            return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise TraefikApiError("Traefik API %s answered HTTP %s" % (self.url, exc.code)) from None
        except (OSError, ValueError) as exc:
            raise TraefikApiError("Traefik API %s unreachable: %s" % (self.url, exc)) from None

    def router(self, qualified_name):
        """The API's view of one router (dict), or None when Traefik does not know it."""
        return self._get("/api/http/routers/%s" % urllib.parse.quote(qualified_name, safe="@"))

    def entrypoints(self):
        """The names of Traefik's entry points (its static configuration)."""
        answer = self._get("/api/entrypoints")
        if not isinstance(answer, list):
            raise TraefikApiError("Traefik API %s/api/entrypoints did not answer a list" % self.url)
        return sorted(str(entry.get("name")) for entry in answer if isinstance(entry, dict))

    @staticmethod
    def written(kind, observed, expected):
        """Whether the API shows the object (a router, service or middleware) as we wrote it."""
        if observed is None:
            return False
        if kind == "routers":  # references come back qualified (@file); no middleware means none, not "any"
            observed = dict(observed, service=_plain(observed.get("service")),
                            middlewares=[_plain(m) for m in observed.get("middlewares") or []])
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
        return (cls.written(kind, observed, expected) and observed.get("status") == "disabled"
                and bool(observed.get("error")))

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
        while True:
            seen = {kind: {} for kind in expected}
            try:
                for kind, objects in expected.items():
                    for name in objects:
                        seen[kind][name] = self._get("/api/http/%s/%s" % (
                            kind, urllib.parse.quote("%s@%s" % (name, provider), safe="@")))
                error = None
            except TraefikApiError as exc:
                error = str(exc)
            pending = sorted("%s/%s" % (kind, name) for kind, objects in expected.items()
                             for name, body in objects.items()
                             if error is not None or not self.matches(kind, seen[kind].get(name), body))
            if not pending:
                return True, dict(seen, api_error=None, pending=[], refused=[])
            refused = [item for item in pending if error is None and self.refused(
                item.split("/", 1)[0], seen[item.split("/", 1)[0]].get(item.split("/", 1)[1]),
                expected[item.split("/", 1)[0]][item.split("/", 1)[1]])]
            if refused or time.monotonic() >= deadline:
                return False, dict(seen, api_error=error, pending=pending, refused=refused)
            time.sleep(interval)

    def wait_gone(self, names, provider="file", timeout=30, interval=0.05):
        deadline = time.monotonic() + timeout
        while True:
            try:
                left = [n for n in names if self.router("%s@%s" % (n, provider)) is not None]
                error = None
            except TraefikApiError as exc:
                left, error = list(names), str(exc)
            if not left:
                return True, {}
            if time.monotonic() >= deadline:
                return False, {"api_error": error, "still_present": left}
            time.sleep(interval)
