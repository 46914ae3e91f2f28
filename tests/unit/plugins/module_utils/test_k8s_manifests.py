"""The Kubernetes objects as pure logic: tiers, schedules, pinned images, the connection budget with the
HPA's maximum, the quota from the workloads, and a byte-stable tree."""

import pytest
import yaml

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.kubernetes.manifests import barman_retention, check_image, render_platform, six_field_cron
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.kubernetes.tree import HEADER, layout
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import tier

IMAGES = {"odoo": "odoo:18.0", "redis": "redis:7.4", "postgres": "ghcr.io/cloudnative-pg/postgresql:15.13"}
TENANTS = [{"name": "acme", "hosts": ["acme.example.com"], "tier": 2}, {"name": "globex", "hosts": ["globex.example.com"], "tier": 3}]


def fleet(**extra):
    return dict({"name": "shared1", "kind": "shared", "tenants": ["acme", "globex"], "cpus": 2, "memory_mb": 4096, "web_containers": 2}, **extra)


def render(fleets=None, **settings):
    return render_platform(fleets or [fleet()], TENANTS, dict({"images": IMAGES}, **settings))


@pytest.mark.parametrize("image", ["odoo", "odoo:latest", "registry:5000/odoo", ""])
def test_images_must_be_pinned(image):
    with pytest.raises(ValueError, match="not pinned"):
        check_image(image, "images.odoo")


def test_pinned_images_pass():
    assert check_image("registry:5000/odoo:18.0", "x") and check_image("odoo@sha256:" + "a" * 64, "x")


def test_schedules_and_retention_come_from_the_tier_policy():
    assert six_field_cron(tier(1)["cluster"]["schedule"]["full"]["cron"]) == "0 0 1 * * 0"
    assert [barman_retention(tier(n)) for n in (1, 2, 3)] == ["14d", "7d", "14d"]
    with pytest.raises(ValueError):
        six_field_cron("0 1 * *")


def test_the_best_tier_of_a_clusters_tenants_decides_its_topology():
    objects, _secrets, _options = render()
    cluster = next(o for o in objects if o["kind"] == "Cluster")
    assert cluster["spec"]["instances"] == 2 and cluster["spec"]["postgresql"]["synchronous"]["dataDurability"] == "preferred"


def test_the_hpa_maximum_counts_in_the_connection_budget():
    _o, _s, plain = render(postgres={"max_connections": 300})
    _o, _s, scaled = render([fleet(max_web_replicas=6)], postgres={"max_connections": 300})
    assert scaled["shared1"]["web"]["db_maxconn"] < plain["shared1"]["web"]["db_maxconn"]
    objects, _s, _options = render([fleet(max_web_replicas=6)])
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    role = next(r for o in objects if o["kind"] == "Cluster" for r in o["spec"]["managed"]["roles"] if r["name"] == "odoo_shared1")
    assert role["connectionLimit"] > 0


def test_the_quota_covers_every_workload_at_its_maximum():
    objects, _s, _options = render([fleet(max_web_replicas=4)])
    quota = next(o for o in objects if o["kind"] == "ResourceQuota")["spec"]["hard"]
    # web: (4 + 1) x 2 CPUs, cron: (1 + 1) x 2, PostgreSQL: (2 + 1) x 1
    assert quota["limits.cpu"] == "%dm" % ((5 * 2 + 2 * 2 + 3 * 1) * 1000) and quota["pods"] == "10"


def test_the_tree_is_byte_stable_and_sorted():
    objects, secrets, _options = render()
    first, second = layout(yaml, objects, secrets), layout(yaml, *render()[:2])
    assert first == second and all(content.startswith(HEADER.encode()) for content in first.values())
    assert b"&id" not in b"".join(first.values())  # no YAML anchors


def test_no_secret_object_and_every_secret_listed():
    objects, secrets, _options = render()
    assert "Secret" not in {o["kind"] for o in objects}
    assert {s["purpose"] for s in secrets} == {"admin", "fleet_db", "odoo_admin_passwd", "s3"}
