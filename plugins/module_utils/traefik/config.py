# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant's Traefik routes, as file-provider YAML or as Kubernetes CRD objects.

Pure logic: no I/O. One route model feeds both providers so they cannot drift apart.
"""

import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import (
    check_cidr,
    check_go_duration,
    check_header_name,
    check_header_value,
    check_hostname,
    check_int,
    check_k8s_label,
    check_k8s_subdomain,
    check_route_name,
    check_traefik_name,
    check_url,
    check_url_path,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

MANAGED_BY = "sysgenpro.odoo_ops.traefik_route"
CRD_API_VERSION = "traefik.io/v1alpha1"
# Odoo's database manager: the web UI and the XML-RPC `db` service endpoints.
DATABASE_MANAGER_PATHS = ("/web/database", "/xmlrpc/db", "/xmlrpc/2/db")
# The same, as Traefik's routing path shows them: case-insensitive, and with one leading segment
# (Odoo's http_routing strips a language prefix such as /en/ and routes the rest, POSTs included).
DATABASE_MANAGER_RULE = r"PathRegexp(`(?i)^(/[^/]+)?/(web/database|xmlrpc(/2)?/db)`)"
# Encoded separators, which Odoo decodes but Traefik's path matchers do not: %2F (slash), %5C and a
# decoded backslash, %25 (a second encoding: %252F), %00 and a decoded NUL. Traefik's routing path
# keeps reserved escapes (%2F, %25) and decodes the others (%5C -> \, %00 -> NUL), so both forms are
# listed. Refused for every path of the tenant's hosts.
ENCODED_PATH_RULE = r"PathRegexp(`(?i)%2F|%5C|%25|%00|\\|\x00`)"
# An allow list no client address can match: the database manager is closed to everyone.
NOBODY = ["0.0.0.0/32", "::/128"]
HEALTH_CHECK = {"interval": "10s", "timeout": "3s"}
HOST_IN_RULE_RE = re.compile(r"Host\(([^)]*)\)")
QUOTED_RE = re.compile(r"[`\"]([^`\"]+)[`\"]")


class RouteSpec:
    """The validated intent for one tenant's routes (built from module parameters).

    Every value that lands in Traefik's configuration is checked here, before anything is written:
    one value Traefik cannot parse (a duration, an integer out of range) makes its file provider
    refuse the whole directory, every tenant's routes with it.
    """

    def __init__(self, params):
        self.name = check_route_name(params["name"])
        hosts = params.get("hosts") or []
        if not hosts:
            raise Refused("hosts is empty: a route needs at least one host name")
        self.hosts = [check_hostname(h) for h in hosts]
        if len(set(self.hosts)) != len(self.hosts):
            raise Refused("hosts lists a host name twice: %s" % ", ".join(self.hosts))
        self.backend_urls = self._urls(params.get("backend_url"), "backend_url", required=True)
        self.websocket_urls = self._urls(params.get("websocket_url"), "websocket_url")
        self.tls = self._tls(params.get("tls"))
        self.entrypoints = self._traefik_names(params.get("entrypoints") or (["websecure"] if self.tls is not None else ["web"]), "entrypoints")
        self.namespace = check_k8s_label(params.get("namespace") or "default", "namespace")
        self.block_database_manager = bool(params.get("block_database_manager", True))
        self.database_manager_allow = [check_cidr(c) for c in params.get("database_manager_allow") or []]
        self.rate_limit = self._rate_limit(params.get("rate_limit"))
        self.inflight_limit = params.get("inflight_limit")
        if self.inflight_limit is not None:
            check_int(self.inflight_limit, "inflight_limit", 1)
        self.maintenance = bool(params.get("maintenance"))
        self.headers = self._headers(params.get("headers") or {"enabled": True})
        self.health_check_path = params.get("health_check_path")
        if self.health_check_path:
            check_url_path(self.health_check_path, "health_check_path")

    @staticmethod
    def _urls(value, what, required=False):
        urls = [value] if isinstance(value, str) else list(value or [])
        if required and not urls:
            raise Refused("%s is required with state=present" % what)
        for url in urls:
            check_url(url, what)
        return [url.rstrip("/") for url in urls]

    @staticmethod
    def _traefik_names(names, what):
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            check_traefik_name(name, what)
        if len(set(names)) != len(names):
            raise Refused("%s lists a name twice: %s" % (what, ", ".join(names)))
        return names

    @classmethod
    def _tls(cls, tls):
        if tls is None:
            return None
        tls = dict(tls)
        if tls.get("cert_resolver") is not None:
            check_traefik_name(tls["cert_resolver"], "tls.cert_resolver")
        if tls.get("secret_name") is not None:
            check_k8s_subdomain(tls["secret_name"], "tls.secret_name")
        redirect = tls.get("redirect_from")
        tls["redirect_from"] = cls._traefik_names(["web"] if redirect is None else redirect, "tls.redirect_from")
        return tls

    @staticmethod
    def _rate_limit(limit):
        if not limit:
            return None
        limit = dict(limit)
        check_int(limit.get("average"), "rate_limit.average", 1)
        if limit.get("burst") is not None:
            check_int(limit["burst"], "rate_limit.burst", 1)
        check_go_duration(limit.get("period") or "1s", "rate_limit.period")
        if limit.get("by", "host") not in ("host", "client_ip"):
            raise Refused("rate_limit.by %r is not one of host, client_ip" % (limit.get("by"),))
        return limit

    @staticmethod
    def _headers(headers):
        headers = dict(headers)
        if headers.get("hsts_seconds") is not None:
            check_int(headers["hsts_seconds"], "headers.hsts_seconds", 0)
        for key in ("frame_options", "referrer_policy"):
            if headers.get(key) is not None:
                check_header_value(headers[key], "headers.%s" % key)
        custom = headers.get("custom_response") or {}
        if not isinstance(custom, dict):
            raise Refused("headers.custom_response must be a mapping of header names to values")
        for name, value in custom.items():
            check_header_name(name, "headers.custom_response name")
            check_header_value(value, "headers.custom_response[%s]" % name)
        return headers

    def host_rule(self, grouped=False):
        rule = " || ".join("Host(`%s`)" % host for host in self.hosts)
        return "(%s)" % rule if grouped and len(self.hosts) > 1 else rule

    def entrypoint_names(self):
        """Every entry point the routes name (the tenant's and the redirect's)."""
        names = list(self.entrypoints)
        if self.tls is not None:
            names += [n for n in self.tls["redirect_from"] if n not in names]
        return names


def hosts_in_rule(rule):
    """Host names named by Host(...) matchers in a Traefik rule."""
    hosts = set()
    for args in HOST_IN_RULE_RE.findall(rule or ""):
        hosts.update(h.lower() for h in QUOTED_RE.findall(args))
    return hosts


def middlewares(spec):
    """{suffix: Traefik middleware definition} for this tenant."""
    found = {}
    if spec.headers.get("enabled", True):
        headers = {
            "contentTypeNosniff": bool(spec.headers.get("content_type_nosniff", True)),
            "referrerPolicy": spec.headers.get("referrer_policy") or "strict-origin-when-cross-origin",
        }
        frame_options = spec.headers.get("frame_options") or "SAMEORIGIN"
        if frame_options.upper() != "NONE":
            headers["customFrameOptionsValue"] = frame_options
        hsts = spec.headers.get("hsts_seconds")
        hsts = 31536000 if hsts is None else hsts
        if spec.tls is not None and hsts:
            headers["stsSeconds"] = int(hsts)
            headers["stsIncludeSubdomains"] = bool(spec.headers.get("hsts_include_subdomains", False))
        if spec.headers.get("custom_response"):
            headers["customResponseHeaders"] = dict(spec.headers["custom_response"])
        found["headers"] = {"headers": headers}
    if spec.rate_limit:
        limit = {
            "average": int(spec.rate_limit["average"]),
            "burst": int(spec.rate_limit.get("burst") or spec.rate_limit["average"]),
            "period": spec.rate_limit.get("period") or "1s",
        }
        if spec.rate_limit.get("by", "host") == "host":
            limit["sourceCriterion"] = {"requestHost": True}  # one budget for the tenant
        found["ratelimit"] = {"rateLimit": limit}
    if spec.inflight_limit:
        found["inflight"] = {"inFlightReq": {"amount": int(spec.inflight_limit), "sourceCriterion": {"requestHost": True}}}
    if spec.block_database_manager:
        found["dbmanager-allow"] = {"ipAllowList": {"sourceRange": spec.database_manager_allow or NOBODY}}
    found["deny"] = {"ipAllowList": {"sourceRange": list(NOBODY)}}  # encoded separators: refused for everyone
    if spec.tls is not None and spec.tls.get("redirect_from"):
        found["https-redirect"] = {"redirectScheme": {"scheme": "https", "permanent": True}}
    return found


def routes(spec):
    """The tenant's routers as plain tuples: (suffix, rule, service, middleware suffixes, entrypoints, tls)."""
    mws = middlewares(spec)

    def use(*suffixes):
        return [s for s in suffixes if s in mws]

    http_service = "maintenance" if spec.maintenance else "http"
    hosts = spec.host_rule(grouped=True)
    found = [("web", spec.host_rule(), http_service, use("headers", "ratelimit", "inflight"), spec.entrypoints, True)]
    if spec.websocket_urls:
        # No in-flight limit on /websocket: its connections stay open and would use up the slots.
        found.append(
            (
                "websocket",
                "%s && Path(`/websocket`)" % hosts,
                "maintenance" if spec.maintenance else "websocket",
                use("headers", "ratelimit"),
                spec.entrypoints,
                True,
            )
        )
    if spec.block_database_manager:
        found.append(("dbmanager", "%s && %s" % (hosts, DATABASE_MANAGER_RULE), http_service, use("headers", "dbmanager-allow"), spec.entrypoints, True))
    # Outranks the web and websocket routers (longer rule): an encoded separator never reaches Odoo.
    found.append(("encoded", "%s && %s" % (hosts, ENCODED_PATH_RULE), http_service, use("headers", "deny"), spec.entrypoints, True))
    if "https-redirect" in mws:
        found.append(("redirect", spec.host_rule(), http_service, ["https-redirect"], list(spec.tls["redirect_from"]), False))
    return found


def router_names(spec):
    return ["%s-%s" % (spec.name, route[0]) for route in routes(spec)]


def _load_balancer(spec, urls):
    balancer = {"servers": [{"url": url} for url in urls], "passHostHeader": True}
    if spec.health_check_path:
        balancer["healthCheck"] = dict(HEALTH_CHECK, path=spec.health_check_path)
    return {"loadBalancer": balancer}


def file_config(spec):
    """The file provider's dynamic configuration for this tenant."""
    name = spec.name
    routers = {}
    for suffix, rule, service, mws, entrypoints, tls in routes(spec):
        router = {"rule": rule, "entryPoints": list(entrypoints), "service": "%s-%s" % (name, service)}
        if mws:
            router["middlewares"] = ["%s-%s" % (name, m) for m in mws]
        if tls and spec.tls is not None:
            router["tls"] = {"certResolver": spec.tls["cert_resolver"]} if spec.tls.get("cert_resolver") else {}
        routers["%s-%s" % (name, suffix)] = router
    services = {"%s-http" % name: _load_balancer(spec, spec.backend_urls)}
    if spec.websocket_urls:
        services["%s-websocket" % name] = _load_balancer(spec, spec.websocket_urls)
    if spec.maintenance:
        # No server: Traefik answers 503 itself while the router stays enabled.
        services["%s-maintenance" % name] = {"loadBalancer": {"servers": []}}
    config = {"http": {"routers": routers, "services": services}}
    mws = middlewares(spec)
    if mws:
        config["http"]["middlewares"] = {"%s-%s" % (name, suffix): body for suffix, body in mws.items()}
    return config


def file_header(name):
    """The first line of a route file traefik_route writes for route `name`: how it knows its own files."""
    return "# Managed by %s for tenant %s: edits here are overwritten.\n" % (MANAGED_BY, name)


def claimed_hosts(config):
    """Host names claimed by the routers of a parsed dynamic configuration file."""
    hosts = set()
    routers = ((config or {}).get("http") or {}).get("routers") or {}
    for router in routers.values():
        if isinstance(router, dict):
            hosts |= hosts_in_rule(router.get("rule"))
    return hosts


def defined_names(config):
    """{"routers"|"services"|"middlewares": set of names} a parsed dynamic configuration defines (HTTP)."""
    http = (config or {}).get("http") if isinstance(config, dict) else None
    http = http if isinstance(http, dict) else {}
    return {kind: set(http.get(kind) or {}) if isinstance(http.get(kind) or {}, dict) else set() for kind in ("routers", "services", "middlewares")}


def kubernetes_service(url):
    """An IngressRoute service reference from http(s)://<service>[.<namespace>[.svc...]]:<port>."""
    parts = check_url(url, "backend_url")
    labels = parts.hostname.split(".")
    ref = {"name": labels[0], "port": parts.port or (443 if parts.scheme == "https" else 80)}
    if len(labels) > 1:
        ref["namespace"] = labels[1]
    if parts.scheme == "https":
        ref["scheme"] = "https"
    return ref


def kubernetes_objects(spec, namespace=None):
    """IngressRoute, Middleware (and maintenance TraefikService) objects for this tenant."""
    base = check_k8s_label(spec.name.replace("_", "-"), "name (as a Kubernetes name, '_' read as '-')")
    labels = {"app.kubernetes.io/managed-by": "sysgenpro.odoo_ops", "sysgenpro.io/tenant": base}
    namespace = check_k8s_label(namespace, "namespace") if namespace is not None else spec.namespace

    def meta(name):
        return {"name": name, "namespace": namespace, "labels": dict(labels)}

    objects = [
        {"apiVersion": CRD_API_VERSION, "kind": "Middleware", "metadata": meta("%s-%s" % (base, suffix)), "spec": body}
        for suffix, body in middlewares(spec).items()
    ]
    if spec.maintenance:
        # A weighted TraefikService with no member answers 503, like the file provider's empty pool.
        objects.append(
            {"apiVersion": CRD_API_VERSION, "kind": "TraefikService", "metadata": meta("%s-maintenance" % base), "spec": {"weighted": {"services": []}}}
        )
    service_refs = {
        "http": [kubernetes_service(u) for u in spec.backend_urls],
        "websocket": [kubernetes_service(u) for u in spec.websocket_urls],
        "maintenance": [{"name": "%s-maintenance" % base, "kind": "TraefikService"}],
    }
    groups = {}  # routers sharing entry points and TLS share an IngressRoute
    for suffix, rule, service, mws, entrypoints, tls in routes(spec):
        group = groups.setdefault((tuple(entrypoints), tls), {"first": suffix, "routes": []})
        group["routes"].append({"match": rule, "kind": "Rule", "services": service_refs[service], "middlewares": [{"name": "%s-%s" % (base, m)} for m in mws]})
    for (entrypoints, tls), group in groups.items():
        name = base if group["first"] == "web" else "%s-%s" % (base, group["first"])
        route = {
            "apiVersion": CRD_API_VERSION,
            "kind": "IngressRoute",
            "metadata": meta(name),
            "spec": {"entryPoints": list(entrypoints), "routes": group["routes"]},
        }
        if tls and spec.tls is not None:
            route["spec"]["tls"] = (
                {"secretName": spec.tls["secret_name"]}
                if spec.tls.get("secret_name")
                else {"certResolver": spec.tls["cert_resolver"]}
                if spec.tls.get("cert_resolver")
                else {}
            )
        objects.append(route)
    return objects
