import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik import config as tc


def spec(**params):
    base = {"name": "acme", "hosts": ["a.test", "b.test"], "backend_url": ["http://10.0.0.1:8069"],
            "websocket_url": ["http://10.0.0.1:8072"]}
    base.update(params)
    return tc.RouteSpec(base)


def test_hosts_in_rule_reads_every_matcher():
    rule = "(Host(`a.test`) || Host(`B.test`)) && Path(`/websocket`) || Host(\"c.test\", `d.test`)"
    assert tc.hosts_in_rule(rule) == {"a.test", "b.test", "c.test", "d.test"}
    assert tc.hosts_in_rule("PathPrefix(`/x`)") == set()


def test_routers_and_priorities_by_rule_length():
    config = tc.file_config(spec())
    routers = config["http"]["routers"]
    assert sorted(routers) == ["acme-dbmanager", "acme-web", "acme-websocket"]
    # Traefik ranks by rule length: path routers must outrank the catch-all host router.
    assert len(routers["acme-websocket"]["rule"]) > len(routers["acme-web"]["rule"])
    assert len(routers["acme-dbmanager"]["rule"]) > len(routers["acme-web"]["rule"])
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
        "average": 5, "burst": 5, "period": "1s", "sourceCriterion": {"requestHost": True}}
    per_client = tc.middlewares(spec(rate_limit={"average": 5, "burst": 9, "by": "client_ip"}))
    assert "sourceCriterion" not in per_client["ratelimit"]["rateLimit"]


@pytest.mark.parametrize("params,problem", [
    ({"hosts": []}, "hosts is empty"), ({"hosts": ["a.test", "a.test"]}, "twice"),
    ({"backend_url": []}, "required"), ({"rate_limit": {"average": 0}}, "at least 1"),
    ({"inflight_limit": 0}, "at least 1"),
])
def test_spec_refusals(params, problem):
    with pytest.raises(ValueError, match=problem):
        spec(**params)


@pytest.mark.parametrize("url,ref", [
    ("http://odoo:8069", {"name": "odoo", "port": 8069}),
    ("http://odoo.erp.svc.cluster.local:8069", {"name": "odoo", "namespace": "erp", "port": 8069}),
    ("https://odoo.erp", {"name": "odoo", "namespace": "erp", "port": 443, "scheme": "https"}),
])
def test_kubernetes_service_reference(url, ref):
    assert tc.kubernetes_service(url) == ref


def test_claimed_hosts_tolerates_foreign_files():
    assert tc.claimed_hosts({"http": {"routers": {"x": {"rule": "Host(`x.test`)"}, "y": "junk"}}}) == {"x.test"}
    assert tc.claimed_hosts({"tcp": {}}) == set() and tc.claimed_hosts(None) == set()
