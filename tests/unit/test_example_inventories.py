"""The example and local inventories hold plans that fit: the fleets pass the sizing model against
their PostgreSQL and host memory, no two ports collide and none is in Linux's default ephemeral
range, every tenant is in one fleet, and a
shared fleet's hosts map to their tenant under dbfilter ^%d$."""

import glob
import os

import pytest
import yaml

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.ports import port_conflicts
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import fleet_port_range, plan_fleets
from ansible_collections.sysgenpro.odoo_ops.plugins.modules.odoo_fleet_plan import check_host_memory

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "inventories")
INVENTORIES = sorted(
    os.path.dirname(path) for path in glob.glob(os.path.join(ROOT, "*", "group_vars")) + glob.glob(os.path.join(ROOT, "examples", "*", "group_vars"))
)


def port_claims(values):
    """What listens where, as site.yml claims it (literal ports only: the local inventory's are)."""
    claims = {
        name: [values[var]] * 2
        for name, var in (
            ("PostgreSQL", "odoo_ops_postgres_port"),
            ("PostgreSQL standby", "odoo_ops_postgres_standby_port"),
            ("Redis", "odoo_ops_redis_port"),
            ("Traefik web", "odoo_ops_public_port"),
            ("Traefik websecure", "odoo_ops_public_tls_port"),
            ("Traefik API", "odoo_ops_traefik_api_port"),
        )
        if var in values
    }
    claims.update({"fleet " + fleet["name"]: fleet_port_range(fleet["port_base"]) for fleet in values["odoo_ops_fleets"]})
    return claims


def group_vars(inventory):
    found = {}
    for path in sorted(glob.glob(os.path.join(inventory, "group_vars", "all", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            found.update(yaml.safe_load(handle) or {})
    return found


@pytest.mark.parametrize("inventory", [i for i in INVENTORIES if "odoo_ops_fleets" in group_vars(i)], ids=os.path.basename)
def test_inventory_plan_fits(inventory):
    values = group_vars(inventory)
    fleets = [{k: v for k, v in fleet.items() if k != "image"} for fleet in values["odoo_ops_fleets"]]  # as site.yml plans them
    planned, _budgets = plan_fleets(fleets, {"main": {"max_connections": values.get("odoo_ops_postgres_max_connections", 200), "reserved_connections": 10}})
    if values.get("odoo_ops_host_memory_mb"):
        check_host_memory(planned, values["odoo_ops_host_memory_mb"], 2048)
    assert port_conflicts(port_claims(values), "32768 60999", "") == []  # as site.yml checks them
    assert [fleet["port_range"] for fleet in planned] == [fleet_port_range(fleet["port_base"]) for fleet in fleets]
    in_fleets = [tenant for fleet in fleets for tenant in fleet["tenants"]]
    assert sorted(in_fleets) == sorted(tenant["name"] for tenant in values["odoo_ops_tenants"])
    shared = {tenant for fleet in fleets if fleet["kind"] == "shared" for tenant in fleet["tenants"]}
    for tenant in values["odoo_ops_tenants"]:
        if tenant["name"] in shared:
            labels = {host[4:] if host.startswith("www.") else host for host in tenant["hosts"]}
            assert {label.split(".")[0] for label in labels} == {tenant["name"]}, tenant
