"""odoo_fleet_plan through ansible-playbook: a hybrid plan, and the refusals with their arithmetic."""

from tests.harness.contract import assert_same_plan_keys
from tests.harness.playbook import run_tasks

FLEETS = [
    {"name": "shared1", "kind": "shared", "tenants": ["acme", "globex"], "cpus": 2, "memory_mb": 4096, "web_containers": 2},
    {"name": "initech", "kind": "dedicated", "tenants": ["initech"], "cpus": 1, "memory_mb": 2048},
]


def plan(check=False, **args):
    result = run_tasks([{"sysgenpro.odoo_ops.odoo_fleet_plan": dict({"fleets": FLEETS}, **args)}], check=check)
    assert result.results, result
    return result.results[-1]


def run_role(fleet):
    """The docker_odoo_fleet role on one fleet: its checks come before any container."""
    role_vars = {
        "docker_odoo_fleet": fleet,
        "docker_odoo_fleet_admin_passwd": "x" * 24,
        "docker_odoo_fleet_db_password": "x" * 24,
        "docker_odoo_fleet_db_user": "fleet",
    }
    return run_tasks([{"ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.docker_odoo_fleet"}, "vars": role_vars}])


def test_hybrid_plan_fits_and_renders_odoo_conf_in_check_mode_too():
    clusters = {"main": {"max_connections": 200, "reserved_connections": 10}}
    done = plan(postgres_clusters=clusters, host_memory_mb=32768)
    assert done["changed"] is False and [f["name"] for f in done["fleets"]] == ["shared1", "initech"]
    assert done["budgets"]["main"]["worst_case"] <= done["budgets"]["main"]["budget"] == 190
    cron = done["fleets"][0]["containers"][1]
    assert cron["role"] == "cron" and "db_name" not in cron["odoo_conf"]
    assert "dbfilter = ^%d$\n" in done["fleets"][0]["containers"][0]["odoo_conf"]
    assert "list_db = False\n" in cron["odoo_conf"] and "proxy_mode = True\n" in cron["odoo_conf"]
    check = plan(check=True, postgres_clusters=clusters, host_memory_mb=32768)
    assert check["fleets"] == done["fleets"]
    assert_same_plan_keys(check, done, all_keys=True)


def test_oversubscribed_connections_and_memory_are_refused_with_the_arithmetic():
    refused = plan(postgres_clusters={"main": {"max_connections": 100, "reserved_connections": 10}}, fleets=[dict(FLEETS[0], db_maxconn=16), FLEETS[1]])
    assert refused.get("failed") and "does not fit" in refused["msg"], refused
    assert "shared1 web: 2 x (5 workers + 0 cron + 1 gevent) x db_maxconn 16 = 192" in refused["msg"]
    assert "against max_connections 100 - reserve 10 = 90" in refused["msg"]
    small = plan(host_memory_mb=8192, postgres_clusters={"main": {"max_connections": 200}})
    assert small.get("failed") and "= 16384 MB against host_memory_mb 8192 - host_reserved_mb 2048" in small["msg"]
    bad = plan(fleets=[dict(FLEETS[0], name="Shared 1")])
    assert bad.get("failed") and "fleet name 'Shared 1'" in bad["msg"]


def test_module_and_role_refuse_the_same_fleet_names_before_anything_runs():
    """One rule: names the role used to accept and the module refused (eu_1), or the other way round."""
    for name in ("eu_1", "eu-", "Eu1"):
        refused = plan(fleets=[dict(FLEETS[1], name=name)])
        assert refused.get("failed") and "%r is not a valid fleet name" % name in refused["msg"], refused
        role = run_role({"name": name, "containers": [{"role": "web", "count": 1}]})
        assert role.returncode != 0 and "%r is not a valid fleet name" % name in role.output, role.output[-2000:]
    assert plan(fleets=[dict(FLEETS[1], name="eu-1")])["fleets"][0]["name"] == "eu-1"


def test_plan_lays_out_the_ports_the_role_renders_and_the_role_refuses_a_plan_without_them():
    """One port layout: odoo_fleet_plan gives each container its ports from the fleet's port_base."""
    clusters = {"main": {"max_connections": 200, "reserved_connections": 10}}
    done = plan(postgres_clusters=clusters, fleets=[dict(FLEETS[0], port_base=18100), dict(FLEETS[1], port_base=18150)])
    assert done.get("fleets"), done
    shared1, initech = done["fleets"]
    web, cron = shared1["containers"]
    assert shared1["port_range"] == [18100, 18143] and initech["port_range"] == [18150, 18193]
    assert web["ports"] == [
        {"index": 1, "a": {"http": 18100, "gevent": 18101}, "b": {"http": 18102, "gevent": 18103}},
        {"index": 2, "a": {"http": 18104, "gevent": 18105}, "b": {"http": 18106, "gevent": 18107}},
    ]
    assert cron["ports"] == {"http": 18140, "gevent": 18141}
    refused = plan(fleets=[dict(FLEETS[0], web_containers=11, port_base=18100)])
    assert refused.get("failed") and "web_containers is 11, at most 10 fit the port layout" in refused["msg"], refused
    unplaced = plan(postgres_clusters=clusters)["fleets"][1]  # planned without port_base: the role cannot place it
    role = run_role(unplaced)
    assert role.returncode != 0 and "no ports (plan it with port_base)" in role.output, role.output[-2000:]
