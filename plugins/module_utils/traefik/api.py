# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client of Traefik's API (read-only): router state, and waiting until routes are live."""

import json
import time
import urllib.error


class TraefikApiError(Exception):
    pass


def _plain(name):
    """Names as written in the file (Traefik's API adds @file to same-provider references)."""
    return name.split("@", 1)[0] if name else name


class TraefikApi:
    def __init__(self, url, username=None, password=None, validate_certs=True, timeout=5):
        self.url = url.rstrip("/")
        self.username, self.password = username, password
        self.validate_certs, self.timeout = validate_certs, timeout

    def router(self, qualified_name):
        """The API's view of one router (dict), or None when Traefik does not know it."""
        # Imported on first use: ansible.module_utils.urls (cryptography included) takes ~80 ms to
        # import, and the route file is written before the API is needed, during Traefik's reload.
        from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
        try:
            answer = open_url("%s/api/http/routers/%s" % (self.url, qualified_name), method="GET",
                              url_username=self.username, url_password=self.password,
                              force_basic_auth=bool(self.username), validate_certs=self.validate_certs,
                              timeout=self.timeout)
            return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise TraefikApiError("Traefik API %s answered HTTP %s" % (self.url, exc.code)) from None
        except (OSError, ValueError) as exc:
            raise TraefikApiError("Traefik API %s unreachable: %s" % (self.url, exc)) from None

    @staticmethod
    def matches(observed, expected):
        """Whether Traefik runs exactly the router we wrote, and runs it enabled."""
        return (observed is not None and observed.get("status") == "enabled"
                and observed.get("rule") == expected["rule"]
                and _plain(observed.get("service")) == expected["service"]
                and [_plain(m) for m in observed.get("middlewares") or []] == expected.get("middlewares", []))

    def wait(self, expected, provider="file", timeout=30, interval=0.05):
        """Poll until every router in `expected` ({name: router}) is live as written.
        Returns (ok, report); the report says what Traefik showed last (or why it did not answer)."""
        deadline = time.monotonic() + timeout
        report = {}
        while True:
            try:
                report = {name: self.router("%s@%s" % (name, provider)) for name in expected}
                error = None
            except TraefikApiError as exc:
                error = str(exc)
            if error is None and all(self.matches(report[n], r) for n, r in expected.items()):
                return True, report
            if time.monotonic() >= deadline:
                return False, {"api_error": error, "routers": report}
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
