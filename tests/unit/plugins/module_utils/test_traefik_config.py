import re

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_go_duration
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik import config as tc
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.api import TraefikApi, _same


def spec(**params):
    base = {"name": "acme", "hosts": ["a.test", "b.test"], "backend_url": ["http://10.0.0.1:8069"], "websocket_url": ["http://10.0.0.1:8072"]}
    base.update(params)
    return tc.RouteSpec(base)


def test_hosts_in_rule_reads_every_matcher():
    rule = '(Host(`a.test`) || Host(`B.test`)) && Path(`/websocket`) || Host("c.test", `d.test`)'
    assert tc.hosts_in_rule(rule) == {"a.test", "b.test", "c.test", "d.test"}
    assert tc.hosts_in_rule("PathPrefix(`/x`)") == set()


def test_routers_and_priorities_by_rule_length():
    config = tc.file_config(spec())
    routers = config["http"]["routers"]
    assert sorted(routers) == ["acme-dbmanager", "acme-encoded", "acme-web", "acme-websocket"]
    # Traefik ranks by rule length: path routers must outrank the catch-all host router, and the
    # encoded-separator refusal the routers that would pass the request on.
    assert len(routers["acme-websocket"]["rule"]) > len(routers["acme-web"]["rule"])
    assert len(routers["acme-dbmanager"]["rule"]) > len(routers["acme-web"]["rule"])
    assert len(routers["acme-encoded"]["rule"]) > len(routers["acme-websocket"]["rule"])
    assert routers["acme-websocket"]["service"] == "acme-websocket"


def test_inflight_limit_is_not_applied_to_websocket():
    routers = tc.file_config(spec(inflight_limit=10, rate_limit={"average": 5}))["http"]["routers"]
    assert "acme-inflight" in routers["acme-web"]["middlewares"]
    assert routers["acme-websocket"]["middlewares"] == ["acme-headers", "acme-ratelimit"]


def test_headers_come_first_so_refusals_carry_them():
    routers = tc.file_config(spec())["http"]["routers"]
    assert routers["acme-dbmanager"]["middlewares"] == ["acme-headers", "acme-dbmanager-allow"]


def test_database_manager_closed_to_everyone_without_allow_list():
    middlewares = tc.file_config(spec())["http"]["middlewares"]
    assert middlewares["acme-dbmanager-allow"]["ipAllowList"]["sourceRange"] == tc.NOBODY
    open_spec = spec(block_database_manager=False)
    assert "acme-dbmanager" not in tc.file_config(open_spec)["http"]["routers"]


def test_maintenance_points_every_router_at_an_empty_pool():
    config = tc.file_config(spec(maintenance=True))
    assert {r["service"] for r in config["http"]["routers"].values()} == {"acme-maintenance"}
    assert config["http"]["services"]["acme-maintenance"] == {"loadBalancer": {"servers": []}}


def test_hsts_only_with_tls_and_redirect_router():
    assert "stsSeconds" not in tc.middlewares(spec())["headers"]["headers"]
    tls = spec(tls={"cert_resolver": "le", "redirect_from": ["web"]})
    assert tc.middlewares(tls)["headers"]["headers"]["stsSeconds"] == 31536000
    routers = tc.file_config(tls)["http"]["routers"]
    assert routers["acme-web"]["tls"] == {"certResolver": "le"} and routers["acme-web"]["entryPoints"] == ["websecure"]
    assert routers["acme-redirect"]["entryPoints"] == ["web"] and "tls" not in routers["acme-redirect"]


def test_rate_limit_budget_per_tenant_host_or_client():
    assert tc.middlewares(spec(rate_limit={"average": 5}))["ratelimit"]["rateLimit"] == {
        "average": 5,
        "burst": 5,
        "period": "1s",
        "sourceCriterion": {"requestHost": True},
    }
    per_client = tc.middlewares(spec(rate_limit={"average": 5, "burst": 9, "by": "client_ip"}))
    assert "sourceCriterion" not in per_client["ratelimit"]["rateLimit"]


@pytest.mark.parametrize(
    "params,problem",
    [
        ({"hosts": []}, "hosts is empty"),
        ({"hosts": ["a.test", "a.test"]}, "twice"),
        ({"backend_url": []}, "required"),
        ({"rate_limit": {"average": 0}}, "rate_limit.average 0 is out of range"),
        ({"inflight_limit": 0}, "inflight_limit 0 is out of range"),
        ({"rate_limit": {"average": 5, "period": "abc"}}, "rate_limit.period 'abc' is not a Go duration"),
        ({"rate_limit": {"average": 5, "period": "1s\n"}}, "not a Go duration"),
        ({"rate_limit": {"average": 5, "burst": 0}}, "rate_limit.burst 0 is out of range"),
        ({"rate_limit": {"average": 2**63}}, "out of range"),
        ({"rate_limit": {"average": True}}, "not an integer"),
        ({"rate_limit": {"average": 5, "by": "moon"}}, "rate_limit.by"),
        ({"name": "acme\n"}, "not a valid route name"),
        ({"hosts": ["a.test\n"]}, "control character"),
        ({"entrypoints": ["web\n"]}, "entrypoints .* is not a valid Traefik name"),
        ({"entrypoints": ["web", "web"]}, "twice"),
        ({"entrypoints": ["web@file"]}, "not a valid Traefik name"),
        ({"tls": {"cert_resolver": "le\n"}}, "tls.cert_resolver"),
        ({"tls": {"secret_name": "acme-tls\n"}}, "secret_name"),
        ({"tls": {"redirect_from": ["web\n"]}}, "tls.redirect_from"),
        ({"namespace": "odoo\n"}, "namespace"),
        ({"headers": {"custom_response": {"X-A": "b\r\nSet-Cookie: x=1"}}}, "custom_response\\[X-A\\]"),
        ({"headers": {"custom_response": {"X A": "b"}}}, "custom_response name"),
        ({"headers": {"frame_options": "DENY\n"}}, "headers.frame_options"),
        ({"headers": {"referrer_policy": "no-referrer\r"}}, "headers.referrer_policy"),
        ({"headers": {"hsts_seconds": -1}}, "hsts_seconds -1 is out of range"),
        ({"health_check_path": "web/health"}, "health_check_path"),
        ({"health_check_path": "/web health"}, "health"),
        ({"backend_url": ["http://10.0.0.1:8069\n"]}, "control character"),
        ({"websocket_url": ["http://user:pw@10.0.0.1:8072"]}, "user or password"),
        ({"database_manager_allow": ["10.0.0.0/8\n"]}, "not a valid IP address"),
    ],
)
def test_spec_refusals(params, problem):
    with pytest.raises(ValueError, match=problem):
        spec(**params)


@pytest.mark.parametrize(
    "url,ref",
    [
        ("http://odoo:8069", {"name": "odoo", "port": 8069}),
        ("http://odoo.erp.svc.cluster.local:8069", {"name": "odoo", "namespace": "erp", "port": 8069}),
        ("https://odoo.erp", {"name": "odoo", "namespace": "erp", "port": 443, "scheme": "https"}),
    ],
)
def test_kubernetes_service_reference(url, ref):
    assert tc.kubernetes_service(url) == ref


def test_claimed_hosts_tolerates_foreign_files():
    assert tc.claimed_hosts({"http": {"routers": {"x": {"rule": "Host(`x.test`)"}, "y": "junk"}}}) == {"x.test"}
    assert tc.claimed_hosts({"tcp": {}}) == set() and tc.claimed_hosts(None) == set()


def test_health_check_and_every_rendered_duration_are_valid():
    balancer = tc.file_config(spec(health_check_path="/web/health"))["http"]["services"]["acme-http"]["loadBalancer"]
    for key in ("interval", "timeout"):
        assert check_go_duration(balancer["healthCheck"][key], key)
    assert balancer["healthCheck"]["path"] == "/web/health"
    assert "healthCheck" not in tc.file_config(spec(health_check_path=""))["http"]["services"]["acme-http"]["loadBalancer"]


def test_zero_hsts_disables_it_and_defaults_apply():
    assert "stsSeconds" not in tc.middlewares(spec(tls={}, headers={"hsts_seconds": 0}))["headers"]["headers"]
    assert tc.middlewares(spec(tls={}, headers={"enabled": True}))["headers"]["headers"]["stsSeconds"] == 31536000


# What Traefik's routing path looks like for a request (reserved escapes kept, the others decoded):
# the rules are Go regexps; Python's re reads these particular ones the same way.
ENCODED = re.compile(tc.ENCODED_PATH_RULE[len("PathRegexp(`") : -2])
DBMANAGER = re.compile(tc.DATABASE_MANAGER_RULE[len("PathRegexp(`") : -2])


@pytest.mark.parametrize(
    "routing_path",
    [
        "/web%2Fdatabase/manager",
        "/web%2fdatabase",
        "/xmlrpc%2F2%2Fdb",
        "/web%252Fdatabase/manager",
        "/web\\database",
        "/web\x00/database",
        "/web%5Cdatabase",
        "/a%25",
    ],
)
def test_encoded_separators_are_matched(routing_path):
    assert ENCODED.search(routing_path)


@pytest.mark.parametrize(
    "routing_path", ["/web/login", "/web/content/12/a%20b.pdf", "/web/content/1/a%2Bb.pdf", "/web/image/res.partner/3/avatar_128", "/websocket", "/jsonrpc"]
)
def test_normal_odoo_paths_are_not_matched(routing_path):
    assert not ENCODED.search(routing_path) and not DBMANAGER.search(routing_path)


@pytest.mark.parametrize(
    "routing_path",
    [
        "/web/database/manager",
        "/web/database",
        "/xmlrpc/2/db",
        "/xmlrpc/db",
        "/WEB/Database/manager",
        "/en/web/database/drop",
        "/fr_BE/xmlrpc/2/db",
        "/xmlrpc/2/db/",
    ],
)
def test_database_manager_variants_are_matched(routing_path):
    assert DBMANAGER.search(routing_path)


def test_encoded_router_refuses_everyone_even_allowed_clients():
    config = tc.file_config(spec(database_manager_allow=["192.0.2.0/24"]))
    assert config["http"]["routers"]["acme-encoded"]["middlewares"] == ["acme-headers", "acme-deny"]
    assert config["http"]["middlewares"]["acme-deny"]["ipAllowList"]["sourceRange"] == tc.NOBODY
    assert config["http"]["middlewares"]["acme-dbmanager-allow"]["ipAllowList"]["sourceRange"] == ["192.0.2.0/24"]


def test_kubernetes_names_and_namespace_are_checked():
    with pytest.raises(ValueError, match="as a Kubernetes name"):
        tc.kubernetes_objects(spec(name="acme_"))
    with pytest.raises(ValueError, match="namespace"):
        tc.kubernetes_objects(spec(), "odoo\n")
    assert {o["metadata"]["namespace"] for o in tc.kubernetes_objects(spec(namespace="odoo"))} == {"odoo"}


def test_defined_names_reads_only_mappings():
    assert tc.defined_names({"http": {"routers": {"a": {}}, "services": "junk"}}) == {"routers": {"a"}, "services": set(), "middlewares": set()}
    assert tc.defined_names(None) == {"routers": set(), "services": set(), "middlewares": set()}


# The API's view of what was written: defaults added, zero values left out, durations normalised.
def test_api_view_comparison():
    assert _same({"a": 1, "b": {"c": "x"}}, {"a": 1, "b": {"c": "x", "d": 2}, "e": 3})
    assert _same({"stsIncludeSubdomains": False, "servers": []}, {})
    assert _same({"period": "90s"}, {"period": "1m30s"}) and _same({"t": "1500ns"}, {"t": "1.5\u00b5s"})
    assert not _same({"period": "1s"}, {"period": "2s"}) and not _same({"a": 1}, {"a": True})
    assert not _same({"l": ["a"]}, {"l": ["a", "b"]}) and not _same({"a": "x"}, {})


def test_router_confirmation_needs_the_written_router_enabled():
    written = {"rule": "Host(`a.test`)", "service": "acme-http", "middlewares": ["acme-headers"], "entryPoints": ["web"]}
    seen = {
        "rule": "Host(`a.test`)",
        "service": "acme-http@file",
        "middlewares": ["acme-headers@file"],
        "entryPoints": ["web"],
        "status": "enabled",
        "priority": 14,
    }
    assert TraefikApi.matches("routers", seen, written)
    assert not TraefikApi.matches("routers", dict(seen, entryPoints=["websecure"]), written)
    assert not TraefikApi.matches("routers", dict(seen, middlewares=[]), written)
    assert not TraefikApi.matches("routers", dict(seen, status="disabled"), written)
    assert not TraefikApi.matches("routers", dict(seen, middlewares=["acme-headers@file", "x@file"]), dict(written, middlewares=["acme-headers"]))
    no_middleware = {k: v for k, v in written.items() if k != "middlewares"}
    assert not TraefikApi.matches("routers", seen, no_middleware)  # none written means none, not "any"
    broken = dict(seen, status="disabled", error=['entryPoint "web" doesn\'t exist'])
    assert TraefikApi.refused("routers", broken, written)
    assert not TraefikApi.refused("routers", dict(broken, rule="Host(`old.test`)"), written)  # an older version
    # services and middlewares only need to be loaded (a back end that is down is still configuration)
    assert TraefikApi.matches("services", {"loadBalancer": {"servers": []}, "status": "warning"}, {"loadBalancer": {"servers": []}})
