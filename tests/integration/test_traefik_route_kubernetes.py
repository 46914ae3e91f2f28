"""traefik_route with provider=kubernetes: objects validated against Traefik's own CRD schema,
and applied for real when KUBECONFIG names a cluster."""

import os

import pytest

from tests.conftest import shared_dir
from tests.harness.crd_schema import CrdSchemas
from tests.harness.playbook import run_tasks

TENANT = {
    "name": "acme_build",
    "provider": "kubernetes",
    "namespace": "odoo",
    "hosts": ["acme.erp.example.com", "erp.acme-build.com"],
    "backend_url": ["http://odoo-web.odoo:8069"],
    "websocket_url": "http://odoo-gevent.odoo:8072",
    "tls": {"secret_name": "acme-tls"},
    "rate_limit": {"average": 50, "burst": 100},
    "inflight_limit": 40,
    "database_manager_allow": ["192.0.2.0/24"],
}


@pytest.fixture(scope="module")
def schemas():
    return CrdSchemas(os.path.join(shared_dir(), "schemas", "traefik-v3.7"))


def render(**override):
    run = run_tasks([{"sysgenpro.odoo_ops.traefik_route": dict(TENANT, **override)}])
    assert run.results and not run.results[0].get("failed"), run
    return run.results[0]


@pytest.mark.parametrize(
    "override",
    [{}, {"maintenance": True}, {"tls": None, "rate_limit": None}, {"block_database_manager": False, "headers": {"enabled": False}}],
    ids=["full", "maintenance", "plain", "open"],
)
def test_objects_are_valid_for_traefik_crds(schemas, override):
    result = render(**override)
    assert result["changed"] is False and result["resources"]
    for obj in result["resources"]:
        assert schemas.errors(obj) == [], obj
        assert obj["metadata"]["namespace"] == "odoo"
        assert obj["metadata"]["name"].startswith("acme-build")  # '_' is not allowed in object names


def test_objects_route_like_the_file_provider():
    resources = render()["resources"]
    kinds = sorted(o["kind"] for o in resources)
    assert kinds == ["IngressRoute", "IngressRoute"] + ["Middleware"] * 6
    main = next(o for o in resources if o["metadata"]["name"] == "acme-build")
    matches = {r["match"]: r for r in main["spec"]["routes"]}
    assert main["spec"]["tls"] == {"secretName": "acme-tls"}
    websocket = next(r for m, r in matches.items() if "Path(`/websocket`)" in m)
    assert websocket["services"] == [{"name": "odoo-gevent", "namespace": "odoo", "port": 8072}]
    dbmanager = next(r for m, r in matches.items() if "web/database" in m)
    assert {"name": "acme-build-dbmanager-allow"} in dbmanager["middlewares"]
    redirect = next(o for o in resources if o["metadata"]["name"] == "acme-build-redirect")
    assert redirect["spec"]["entryPoints"] == ["web"] and "tls" not in redirect["spec"]


@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="applied only when KUBECONFIG names a cluster")
def test_objects_apply_to_a_cluster():
    result = render()
    run = run_tasks([{"kubernetes.core.k8s": {"definition": "{{ item }}", "state": "present"}, "loop": result["resources"]}])
    assert run.results and not run.results[0].get("failed"), run


NEWLINE_REFUSALS = [
    ({"name": "acme_build\n"}, "is not a valid route name"),
    ({"hosts": ["acme.erp.example.com\n"]}, "contains a control character"),
    ({"entrypoints": ["websecure\n"]}, "is not a valid Traefik name"),
    ({"tls": {"secret_name": "acme-tls\n"}}, "tls.secret_name"),
    ({"namespace": "odoo\n"}, "namespace"),
    ({"rate_limit": {"average": 5, "period": "1s\n"}}, "is not a Go duration"),
    ({"name": "acme_"}, "as a Kubernetes name"),  # '_' becomes '-': an object name cannot end with it
]


@pytest.mark.parametrize("override,message", NEWLINE_REFUSALS, ids=["name", "hosts", "entrypoints", "secret_name", "namespace", "period", "k8s-name"])
def test_trailing_newlines_are_refused(override, message):
    run = run_tasks([{"sysgenpro.odoo_ops.traefik_route": dict(TENANT, **override)}])
    result = run.results[0]
    assert result.get("failed") and message in result["msg"] and "resources" not in result, result
    assert "Traceback (most recent call last)" not in run.output


def test_database_manager_and_encoded_paths_are_refused_in_ingressroutes_too():
    main = next(o for o in render()["resources"] if o["metadata"]["name"] == "acme-build")
    rules = {r["match"]: r for r in main["spec"]["routes"]}
    encoded = next(r for m, r in rules.items() if "%2F" in m)
    assert {"name": "acme-build-deny"} in encoded["middlewares"]
    assert any("(web/database|xmlrpc(/2)?/db)" in m for m in rules)
