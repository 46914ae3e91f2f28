# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant's Traefik routes, as file-provider YAML or as Kubernetes CRD objects.

Pure logic: no I/O. One route model feeds both providers so they cannot drift apart.
"""

import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import (
    check_cidr, check_hostname, check_route_name, check_url)

MANAGED_BY = "sysgenpro.odoo_ops.traefik_route"
CRD_API_VERSION = "traefik.io/v1alpha1"
# Odoo's database manager: the web UI and the XML-RPC `db` service endpoints.
DATABASE_MANAGER_PATHS = ("/web/database", "/xmlrpc/db", "/xmlrpc/2/db")
# An allow list no client address can match: the database manager is closed to everyone.
NOBODY = ["0.0.0.0/32", "::/128"]
HOST_IN_RULE_RE = re.compile(r"Host\(([^)]*)\)")
QUOTED_RE = re.compile(r"[`\"]([^`\"]+)[`\"]")


class RouteSpec:
    """The validated intent for one tenant's routes (built from module parameters)."""

    def __init__(self, params):
        self.name = check_route_name(params["name"])
        hosts = params.get("hosts") or []
        if not hosts:
            raise ValueError("hosts is empty: a route needs at least one host name")
        self.hosts = [check_hostname(h) for h in hosts]
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError("hosts lists a host name twice: %s" % ", ".join(self.hosts))
        self.backend_urls = self._urls(params.get("backend_url"), "backend_url", required=True)
        self.websocket_urls = self._urls(params.get("websocket_url"), "websocket_url")
        self.tls = params.get("tls")
        self.entrypoints = list(params.get("entrypoints") or (["websecure"] if self.tls else ["web"]))
        self.block_database_manager = params.get("block_database_manager", True)
        self.database_manager_allow = [check_cidr(c) for c in params.get("database_manager_allow") or []]
        self.rate_limit = params.get("rate_limit")
        self.inflight_limit = params.get("inflight_limit")
        self.maintenance = bool(params.get("maintenance"))
        self.headers = params.get("headers") or {"enabled": True}
        self.health_check_path = params.get("health_check_path")
        if self.rate_limit and self.rate_limit.get("average", 0) < 1:
            raise ValueError("rate_limit.average must be at least 1 request per period")
        if self.inflight_limit is not None and self.inflight_limit < 1:
            raise ValueError("inflight_limit must be at least 1")

    @staticmethod
    def _urls(value, what, required=False):
        urls = [value] if isinstance(value, str) else list(value or [])
        if required and not urls:
            raise ValueError("%s is required with state=present" % what)
        for url in urls:
            check_url(url, what)
        return [url.rstrip("/") for url in urls]

    def host_rule(self, grouped=False):
        rule = " || ".join("Host(`%s`)" % host for host in self.hosts)
        return "(%s)" % rule if grouped and len(self.hosts) > 1 else rule


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
        headers = {"contentTypeNosniff": bool(spec.headers.get("content_type_nosniff", True)),
                   "referrerPolicy": spec.headers.get("referrer_policy") or "strict-origin-when-cross-origin"}
        frame_options = spec.headers.get("frame_options") or "SAMEORIGIN"
        if frame_options.upper() != "NONE":
            headers["customFrameOptionsValue"] = frame_options
        if spec.tls is not None and spec.headers.get("hsts_seconds", 31536000):
            headers["stsSeconds"] = int(spec.headers.get("hsts_seconds", 31536000))
            headers["stsIncludeSubdomains"] = bool(spec.headers.get("hsts_include_subdomains", False))
        if spec.headers.get("custom_response"):
            headers["customResponseHeaders"] = dict(spec.headers["custom_response"])
        found["headers"] = {"headers": headers}
    if spec.rate_limit:
        limit = {"average": int(spec.rate_limit["average"]),
                 "burst": int(spec.rate_limit.get("burst") or spec.rate_limit["average"]),
                 "period": spec.rate_limit.get("period") or "1s"}
        if spec.rate_limit.get("by", "host") == "host":
            limit["sourceCriterion"] = {"requestHost": True}  # one budget for the tenant
        found["ratelimit"] = {"rateLimit": limit}
    if spec.inflight_limit:
        found["inflight"] = {"inFlightReq": {"amount": int(spec.inflight_limit),
                                             "sourceCriterion": {"requestHost": True}}}
    if spec.block_database_manager:
        found["dbmanager-allow"] = {"ipAllowList": {"sourceRange": spec.database_manager_allow or NOBODY}}
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
    found = [("web", spec.host_rule(), http_service, use("headers", "ratelimit", "inflight"),
              spec.entrypoints, True)]
    if spec.websocket_urls:
        # No in-flight limit on /websocket: its connections stay open and would use up the slots.
        found.append(("websocket", "%s && Path(`/websocket`)" % hosts,
                      "maintenance" if spec.maintenance else "websocket", use("headers", "ratelimit"),
                      spec.entrypoints, True))
    if spec.block_database_manager:
        paths = " || ".join("PathPrefix(`%s`)" % p for p in DATABASE_MANAGER_PATHS)
        found.append(("dbmanager", "%s && (%s)" % (hosts, paths), http_service,
                      use("headers", "dbmanager-allow"), spec.entrypoints, True))
    if "https-redirect" in mws:
        found.append(("redirect", spec.host_rule(), http_service, ["https-redirect"],
                      list(spec.tls["redirect_from"]), False))
    return found


def router_names(spec):
    return ["%s-%s" % (spec.name, route[0]) for route in routes(spec)]


def _load_balancer(spec, urls):
    balancer = {"servers": [{"url": url} for url in urls], "passHostHeader": True}
    if spec.health_check_path:
        balancer["healthCheck"] = {"path": spec.health_check_path, "interval": "10s", "timeout": "3s"}
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


def file_header(spec):
    return ("# Managed by %s for tenant %s: edits here are overwritten.\n" % (MANAGED_BY, spec.name))


def claimed_hosts(config):
    """Host names claimed by the routers of a parsed dynamic configuration file."""
    hosts = set()
    routers = ((config or {}).get("http") or {}).get("routers") or {}
    for router in routers.values():
        if isinstance(router, dict):
            hosts |= hosts_in_rule(router.get("rule"))
    return hosts


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


def kubernetes_objects(spec, namespace):
    """IngressRoute, Middleware (and maintenance TraefikService) objects for this tenant."""
    base = spec.name.replace("_", "-")  # Kubernetes object names are DNS-1123: no '_'
    labels = {"app.kubernetes.io/managed-by": "sysgenpro.odoo_ops", "sysgenpro.io/tenant": base}

    def meta(name):
        return {"name": name, "namespace": namespace, "labels": dict(labels)}

    objects = [{"apiVersion": CRD_API_VERSION, "kind": "Middleware", "metadata": meta("%s-%s" % (base, suffix)),
                "spec": body} for suffix, body in middlewares(spec).items()]
    if spec.maintenance:
        # A weighted TraefikService with no member answers 503, like the file provider's empty pool.
        objects.append({"apiVersion": CRD_API_VERSION, "kind": "TraefikService",
                        "metadata": meta("%s-maintenance" % base), "spec": {"weighted": {"services": []}}})
    service_refs = {"http": [kubernetes_service(u) for u in spec.backend_urls],
                    "websocket": [kubernetes_service(u) for u in spec.websocket_urls],
                    "maintenance": [{"name": "%s-maintenance" % base, "kind": "TraefikService"}]}
    groups = {}  # routers sharing entry points and TLS share an IngressRoute
    for suffix, rule, service, mws, entrypoints, tls in routes(spec):
        group = groups.setdefault((tuple(entrypoints), tls), {"first": suffix, "routes": []})
        group["routes"].append({"match": rule, "kind": "Rule", "services": service_refs[service],
                                "middlewares": [{"name": "%s-%s" % (base, m)} for m in mws]})
    for (entrypoints, tls), group in groups.items():
        name = base if group["first"] == "web" else "%s-%s" % (base, group["first"])
        route = {"apiVersion": CRD_API_VERSION, "kind": "IngressRoute", "metadata": meta(name),
                 "spec": {"entryPoints": list(entrypoints), "routes": group["routes"]}}
        if tls and spec.tls is not None:
            route["spec"]["tls"] = ({"secretName": spec.tls["secret_name"]} if spec.tls.get("secret_name")
                                    else {"certResolver": spec.tls["cert_resolver"]}
                                    if spec.tls.get("cert_resolver") else {})
        objects.append(route)
    return objects
