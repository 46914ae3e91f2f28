"""The sizing model of Odoo fleets (pure logic): workers, memory limits, the connection budget."""

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.ports import port_conflicts
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import PORT_SPAN, PlanRefused, fleet_ports, odoo_conf, plan_fleets

CLUSTERS = {"main": {"max_connections": 200, "reserved_connections": 10}}


def shared(**extra):
    return dict({"name": "shared1", "kind": "shared", "tenants": ["acme", "globex"], "cpus": 2, "memory_mb": 4096, "web_containers": 2}, **extra)


def dedicated(**extra):
    return dict({"name": "initech", "kind": "dedicated", "tenants": ["initech"], "cpus": 1, "memory_mb": 2048}, **extra)


def test_hybrid_plan_workers_from_cpu_memory_limits_and_an_equal_share_of_the_budget():
    fleets, budgets = plan_fleets([shared(), dedicated()], CLUSTERS)
    web, cron = fleets[0]["containers"]
    assert web["workers"] == 5 and web["count"] == 2 and web["options"]["max_cron_threads"] == 0
    assert "db_name" not in web["options"] and web["options"]["dbfilter"] == "^%d$"
    # No container lists databases: Odoo would create a missing one at start-up (issue #15).
    assert "db_name" not in cron["options"] and cron["options"]["max_cron_threads"] == 2
    initech = fleets[1]["containers"][0]
    assert initech["workers"] == 3 and initech["options"]["dbfilter"] == "^initech$"
    assert all("db_name" not in c["options"] for f in fleets for c in f["containers"])
    # processes: shared web 2 x (5 + 1), cron 1 + 2 + 1, initech web 3 + 1, initech cron 4 = 24; 190 // 24 = 7
    assert {f["db_maxconn"] for f in fleets} == {7} and budgets["main"]["worst_case"] == 24 * 7 <= 190
    assert web["options"]["limit_memory_hard"] == int(4096 * 0.9 - 4 * (0.8 * 150 + 0.2 * 1024)) * 1024 * 1024
    assert cron["options"]["limit_memory_hard"] == 2560 * 1024 * 1024
    assert web["options"]["proxy_mode"] is True and web["options"]["list_db"] is False


def test_workers_bounded_by_memory():
    fleets, _budgets = plan_fleets([dedicated(cpus=8, memory_mb=1536)], CLUSTERS)
    web = fleets[0]["containers"][0]
    assert web["workers"] == 3  # (1536 * 0.9 - 512) // 324.8 + 1; 2 x 8 + 1 would be 17
    assert web["options"]["limit_memory_hard"] >= 512 * 1024 * 1024


def test_oversubscribed_plan_is_refused_with_the_arithmetic():
    with pytest.raises(PlanRefused) as refused:
        plan_fleets([shared(db_maxconn=32), dedicated(db_maxconn=16)], CLUSTERS)
    message = str(refused.value)
    assert "shared1 web: 2 x (5 workers + 0 cron + 1 gevent) x db_maxconn 32 = 384" in message
    assert "total 640 against max_connections 200 - reserve 10 = 190" in message and "does not fit" in message


def test_a_share_under_the_minimum_is_refused():
    with pytest.raises(PlanRefused, match="would get 2 each, under 4"):
        plan_fleets([shared(web_containers=6)], {"main": {"max_connections": 120, "reserved_connections": 10}})


def test_clusters_are_budgeted_apart_and_bad_fleets_refused():
    clusters = dict(CLUSTERS, initech_pg={"max_connections": 50, "reserved_connections": 5})
    fleets, budgets = plan_fleets([shared(), dedicated(postgres="initech_pg")], clusters)
    assert budgets["initech_pg"]["budget"] == 45 and fleets[1]["db_maxconn"] == 45 // 8
    with pytest.raises(PlanRefused, match="not among the clusters"):
        plan_fleets([dedicated(postgres="nowhere")], CLUSTERS)
    with pytest.raises(PlanRefused, match="serves exactly one tenant"):
        plan_fleets([dedicated(tenants=["a", "b"])], CLUSTERS)
    with pytest.raises(PlanRefused, match="tenant acme is in two fleets"):
        plan_fleets([shared(), dedicated(name="other", tenants=["acme"])], CLUSTERS)
    with pytest.raises(ValueError, match="fleet name 'Shared 1' is not a valid"):
        plan_fleets([shared(name="Shared 1")], CLUSTERS)
    with pytest.raises(ValueError, match="fleet shared1 tenant 'ac-' is not a valid tenant id"):
        plan_fleets([shared(tenants=["ac-"])], CLUSTERS)
    with pytest.raises(ValueError, match="fleet shared1: web_containers is 0, at least 1"):
        plan_fleets([shared(web_containers=0)], CLUSTERS)
    with pytest.raises(PlanRefused, match="too little for one Odoo worker"):
        plan_fleets([dedicated(memory_mb=512)], CLUSTERS)


def test_odoo_conf_text():
    assert odoo_conf({"workers": 3, "proxy_mode": True, "list_db": False}) == ("[options]\nlist_db = False\nproxy_mode = True\nworkers = 3\n")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "2"])
def test_a_fleet_number_that_is_not_finite_is_refused_by_name(value):
    fleet = {"name": "odd", "kind": "shared", "tenants": ["x"], "cpus": value, "memory_mb": 1024}
    with pytest.raises(ValueError, match="fleet odd: cpus is .* not a finite number"):
        plan_fleets([fleet], {"main": {"max_connections": 100, "reserved_connections": 10}})


def test_port_layout_web_slots_cron_and_span():
    """base + 4 (i - 1) + slot (a 0, b 2), gevent the next port; cron at + 40; 44 ports a fleet."""
    ports = fleet_ports(18100, 10)
    assert ports["range"] == [18100, 18143] and PORT_SPAN == 44
    assert ports["web"][0] == {"index": 1, "a": {"http": 18100, "gevent": 18101}, "b": {"http": 18102, "gevent": 18103}}
    assert ports["web"][9] == {"index": 10, "a": {"http": 18136, "gevent": 18137}, "b": {"http": 18138, "gevent": 18139}}
    assert ports["cron"] == {"http": 18140, "gevent": 18141}
    used = [p for web in ports["web"] for slot in "ab" for p in web[slot].values()] + list(ports["cron"].values())
    assert len(set(used)) == len(used) == 42 and all(18100 <= p <= 18143 for p in used)  # no port twice, all in the range


def test_port_layout_refuses_what_it_has_no_room_for():
    with pytest.raises(ValueError, match="room for 1-10"):
        fleet_ports(18100, 11)
    with pytest.raises(ValueError, match="65500-65543 are not all valid ports"):
        fleet_ports(65500, 1)
    refused = [shared(web_containers=11, port_base=18100), shared(port_base=0), shared(web_containers=11)]
    for fleet, why in zip(refused, ("at most 10 fit the port layout", "ports 0-43 are not all valid", "at most 10 fit the port layout")):
        with pytest.raises(ValueError, match=why):
            plan_fleets([fleet], CLUSTERS)


def test_plan_gives_each_container_its_ports_and_the_fleet_its_range():
    fleets, _budgets = plan_fleets([shared(port_base=18100), dedicated(port_base=18150, cron_threads=0)], CLUSTERS)
    web, cron = fleets[0]["containers"]
    assert fleets[0]["port_range"] == [18100, 18143] and [w["index"] for w in web["ports"]] == [1, 2]
    assert web["ports"][1]["b"] == {"http": 18106, "gevent": 18107} and cron["ports"] == {"http": 18140, "gevent": 18141}
    assert fleets[1]["port_range"] == [18150, 18193] and len(fleets[1]["containers"]) == 1
    # The ranges the plan gives are what the port check (site.yml, the role) reads from a fleet's entry.
    claims = {"fleet " + f["name"]: {"port_base": f["port_range"][0]} for f in fleets}
    assert port_conflicts(claims) == [] and port_conflicts({"fleet a": {"port_base": 18100}, "fleet b": [18143, 18143]}) != []
    unplaced, _budgets = plan_fleets([shared()], CLUSTERS)
    assert unplaced[0]["port_range"] is None and all("ports" not in c for c in unplaced[0]["containers"])


def test_a_dedicated_fleet_serving_by_name_names_its_tenant_and_has_no_dbfilter():
    """serve_by_name (a tenant move's hand-over): db_name instead of dbfilter, so Odoo serves the tenant
    whichever role owns it; only for a dedicated fleet (a shared one picks its tenant by host)."""
    fleets, _budgets = plan_fleets([shared(), dedicated(serve_by_name=True)], CLUSTERS)
    for container in fleets[1]["containers"]:
        assert container["options"]["db_name"] == "initech" and "dbfilter" not in container["options"]
        assert "db_name = initech\n" in container["odoo_conf"]
    assert all("db_name" not in c["options"] for c in fleets[0]["containers"])
    with pytest.raises(PlanRefused, match="serve_by_name is for a dedicated fleet"):
        plan_fleets([shared(serve_by_name=True)], CLUSTERS)
