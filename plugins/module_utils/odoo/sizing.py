# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sizing model of Odoo fleets: workers from CPU, memory limits from RAM, and a PostgreSQL
connection budget that every fleet's worst case must fit. Pure logic.

`db_maxconn` is per Odoo process, so a container's worst case is its processes (HTTP workers, cron
workers, the gevent process) times db_maxconn, and the sum over every container on a cluster must
stay under `max_connections` minus a reserve (superuser slots, backups, monitoring, migrations).
A plan that does not fit is refused with the arithmetic, never trimmed silently.
"""

import math

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_fleet_name, check_tenant_name

RAM_PER_WORKER_MB = 0.8 * 150 + 0.2 * 1024  # Odoo's deploy guide: 80 % light requests, 20 % heavy
ODOO_MAX_DB_MAXCONN = 64  # Odoo's default; more per process only wastes the budget
MIN_DB_MAXCONN = 4  # a request may hold a second cursor (logging, mail queue): fewer starves workers
MIN_HARD_LIMIT_MB = 512
SHARED_FILTER = "^%d$"  # anchored: dbfilter is applied with re.match, `%d` alone would let foo see foo2

# The port layout of a fleet on one host, from its port_base: web container i (1..MAX_WEB_CONTAINERS)
# listens on base + 4 (i - 1) in slot a and + 2 in slot b (a rolling update starts the new container
# in the slot the old one does not use), each with its gevent port next to it; the cron container on
# base + 40 and + 41. A fleet claims the whole span whatever its count, so that adding a web container
# never reaches into a neighbour's ports.
PORTS_PER_WEB = 4
SLOT_OFFSETS = {"a": 0, "b": 2}
CRON_PORT_OFFSET = 40
PORT_SPAN = 44
MAX_WEB_CONTAINERS = CRON_PORT_OFFSET // PORTS_PER_WEB


class PlanRefused(Refused):
    """The fleets do not fit the host or PostgreSQL; the message shows the arithmetic."""


def fleet_port_range(port_base):
    """[first, last]: the ports a fleet claims on its host."""
    return [port_base, port_base + PORT_SPAN - 1]


def fleet_ports(port_base, web_containers):
    """Where each container of a fleet listens: {"range": [first, last], "web": [{"index": i, "a":
    {"http", "gevent"}, "b": {...}}, ...], "cron": {"http", "gevent"}}."""
    if not 1 <= web_containers <= MAX_WEB_CONTAINERS:
        raise Refused("web_containers is %s: the port layout has room for 1-%d" % (web_containers, MAX_WEB_CONTAINERS))
    first, last = fleet_port_range(port_base)
    if not (1 <= first and last <= 65535):
        raise Refused("port_base %s: the fleet's %d ports %d-%d are not all valid ports" % (port_base, PORT_SPAN, first, last))

    def pair(http):
        return {"http": http, "gevent": http + 1}

    web = [
        dict({"index": index}, **{slot: pair(first + PORTS_PER_WEB * (index - 1) + offset) for slot, offset in SLOT_OFFSETS.items()})
        for index in range(1, web_containers + 1)
    ]
    return {"range": [first, last], "web": web, "cron": pair(first + CRON_PORT_OFFSET)}


def _check_fleet(fleet):
    """Refuse what no plan can come from (ValueError naming the fleet and the field)."""
    check_fleet_name(fleet["name"])
    for tenant in fleet.get("tenants") or []:
        check_tenant_name(tenant, "fleet %s tenant" % fleet["name"])
    for field, lowest in (("cpus", 0.1), ("memory_mb", 1), ("web_containers", 1), ("workers", 1), ("cron_threads", 0), ("db_maxconn", MIN_DB_MAXCONN)):
        value = fleet.get(field)
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise Refused("fleet %s: %s is %r, not a finite number" % (fleet["name"], field, value))
        if value is not None and value < lowest:
            raise Refused("fleet %s: %s is %s, at least %s is needed" % (fleet["name"], field, value, lowest))
    if fleet.get("web_containers", 1) > MAX_WEB_CONTAINERS:
        raise Refused("fleet %s: web_containers is %s, at most %d fit the port layout" % (fleet["name"], fleet["web_containers"], MAX_WEB_CONTAINERS))
    if fleet.get("port_base") is not None:
        try:
            fleet_ports(fleet["port_base"], fleet.get("web_containers", 1))
        except ValueError as exc:
            raise Refused("fleet %s: %s" % (fleet["name"], exc)) from None


def _workers(fleet):
    if fleet.get("workers"):
        return fleet["workers"]
    by_cpu = int(2 * fleet["cpus"] + 1)
    usable = fleet["memory_mb"] * 0.9
    if usable < MIN_HARD_LIMIT_MB:
        raise PlanRefused(
            "fleet %s: memory_mb %d is too little for one Odoo worker (%d MB usable, %d needed)"
            % (fleet["name"], fleet["memory_mb"], usable, MIN_HARD_LIMIT_MB)
        )
    # as many as fit when all but one run at the average and that one may reach the minimum hard limit
    by_ram = int((usable - MIN_HARD_LIMIT_MB) // RAM_PER_WORKER_MB) + 1
    return max(1, min(by_cpu, by_ram))


def _containers(fleet):
    """The fleet's containers: web (HTTP workers + gevent, no cron) and one cron container (one HTTP
    worker for health checks, the cron workers, gevent), each with its process count."""
    workers = _workers(fleet)
    web = {"role": "web", "count": fleet.get("web_containers", 1), "workers": workers, "max_cron_threads": 0}
    cron = {"role": "cron", "count": 1, "workers": 1, "max_cron_threads": fleet.get("cron_threads", 2)}
    found = [web] + ([cron] if cron["max_cron_threads"] else [])
    for container in found:
        container["processes"] = container["workers"] + container["max_cron_threads"] + 1  # + gevent
    return found


def _memory_limits(fleet, container):
    """limit_memory_hard: what one process may reach while the others sit at the average (Odoo's
    default 2560 MB at most); soft at 80 % of it, where a worker is recycled after its request."""
    busy = container["workers"] + container["max_cron_threads"]
    hard = min(2560, int(fleet["memory_mb"] * 0.9 - (busy - 1) * RAM_PER_WORKER_MB))
    if hard < MIN_HARD_LIMIT_MB:
        raise PlanRefused(
            "fleet %s: %d MB for %d Odoo processes leaves %d MB for the largest, under %d MB: give "
            "the %s container more memory or fewer workers" % (fleet["name"], fleet["memory_mb"], busy, hard, MIN_HARD_LIMIT_MB, container["role"])
        )
    return {"limit_memory_hard": hard * 1024 * 1024, "limit_memory_soft": int(hard * 0.8) * 1024 * 1024}


def _budget_line(fleet, container, db_maxconn):
    return "%s %s: %d x (%d workers + %d cron + 1 gevent) x db_maxconn %d = %d" % (
        fleet["name"],
        container["role"],
        container["count"],
        container["workers"],
        container["max_cron_threads"],
        db_maxconn,
        container["count"] * container["processes"] * db_maxconn,
    )


def _assign_db_maxconn(cluster, budget, members):
    """db_maxconn for the fleets of one cluster: as given, or the largest equal share of what is left."""
    fixed = sum(c["count"] * c["processes"] * f["db_maxconn"] for f, cs in members if f.get("db_maxconn") for c in cs)
    auto = sum(c["count"] * c["processes"] for f, cs in members if not f.get("db_maxconn") for c in cs)
    share = min(ODOO_MAX_DB_MAXCONN, (budget - fixed) // auto) if auto else 0
    chosen = {f["name"]: f.get("db_maxconn") or share for f, _cs in members}
    lines = [_budget_line(f, c, chosen[f["name"]]) for f, cs in members for c in cs]
    used = sum(c["count"] * c["processes"] * chosen[f["name"]] for f, cs in members for c in cs)
    arithmetic = "; ".join(lines) + "; total %d against max_connections %d - reserve %d = %d" % (
        used,
        cluster["max_connections"],
        cluster["reserved_connections"],
        budget,
    )
    if used > budget or (auto and share < MIN_DB_MAXCONN):
        why = (
            "the fleets without db_maxconn would get %d each, under %d" % (max(share, 0), MIN_DB_MAXCONN)
            if auto and share < MIN_DB_MAXCONN
            else "it exceeds the budget"
        )
        raise PlanRefused(
            "connection plan for PostgreSQL %s does not fit (%s): %s. Lower workers or db_maxconn, "
            "move a fleet to its own cluster, or raise max_connections" % (cluster["name"], why, arithmetic)
        )
    return chosen, used, arithmetic


def odoo_conf(options):
    """odoo.conf text ([options]) for a container's options, in a stable order."""

    def render(value):
        if isinstance(value, bool):
            return "True" if value else "False"
        return str(value)

    return "[options]\n" + "".join("%s = %s\n" % (key, render(options[key])) for key in sorted(options))


def plan_fleets(fleets, clusters):
    """The plan of every fleet: its containers with their odoo.conf options, and each cluster's
    connection budget. fleets: dicts (name, kind shared|dedicated, tenants, cpus, memory_mb, and
    optional web_containers, workers, cron_threads, db_maxconn, postgres). clusters: {name:
    {max_connections, reserved_connections}}. Raises PlanRefused with the arithmetic."""
    by_cluster, served = {}, {}
    for fleet in fleets:
        _check_fleet(fleet)
        for tenant in fleet.get("tenants") or []:
            if tenant in served:
                raise PlanRefused("tenant %s is in two fleets, %s and %s: a tenant is served by one fleet" % (tenant, served[tenant], fleet["name"]))
            served[tenant] = fleet["name"]
        cluster = fleet.get("postgres") or "main"
        if cluster not in clusters:
            raise PlanRefused("fleet %s uses PostgreSQL %s, which is not among the clusters (%s)" % (fleet["name"], cluster, ", ".join(sorted(clusters))))
        if fleet.get("serve_by_name") and fleet["kind"] != "dedicated":
            raise PlanRefused("fleet %s: serve_by_name is for a dedicated fleet; a shared fleet picks its tenant by host (dbfilter ^%%d$)" % fleet["name"])
        if fleet["kind"] == "dedicated" and len(fleet.get("tenants") or []) != 1:
            raise PlanRefused("dedicated fleet %s serves exactly one tenant, not %d" % (fleet["name"], len(fleet.get("tenants") or [])))
        by_cluster.setdefault(cluster, []).append((fleet, _containers(fleet)))
    planned, budgets = {}, {}
    for name, members in sorted(by_cluster.items()):
        cluster = dict(clusters[name], name=name)
        budget = cluster["max_connections"] - cluster["reserved_connections"]
        chosen, used, arithmetic = _assign_db_maxconn(cluster, budget, members)
        budgets[name] = {
            "max_connections": cluster["max_connections"],
            "reserve": cluster["reserved_connections"],
            "budget": budget,
            "worst_case": used,
            "arithmetic": arithmetic,
        }
        for fleet, containers in members:
            planned[fleet["name"]] = _fleet_plan(fleet, containers, chosen[fleet["name"]], name)
    return [planned[fleet["name"]] for fleet in fleets], budgets


def _fleet_plan(fleet, containers, db_maxconn, cluster):
    tenants = sorted(fleet.get("tenants") or [])
    out = []
    for container in containers:
        options = {
            "workers": container["workers"],
            "max_cron_threads": container["max_cron_threads"],
            "db_maxconn": db_maxconn,
            "limit_time_cpu": 60,
            "limit_time_real": 120,
            "limit_request": 8192,
            "proxy_mode": True,
            "list_db": False,
        }
        if fleet.get("serve_by_name"):
            # A dedicated fleet that serves its tenant whichever role owns the database: Odoo lists a
            # database for dbfilter only when the fleet's role owns it (list_dbs), but takes db_name as
            # the list when no dbfilter is set. A tenant move hands a database between two roles
            # (tenant/move.py); the fleet that serves by name keeps serving across the hand-over. Its
            # role cannot create databases, so Odoo's start-up creation of a missing db_name is refused.
            options["db_name"] = tenants[0]
        else:
            options["dbfilter"] = SHARED_FILTER if fleet["kind"] == "shared" else "^%s$" % tenants[0]
        options.update(_memory_limits(fleet, container))
        # No db_name unless serving by name (above): at start-up Odoo creates each missing database listed there (and
        # re-initialises base in the listed ones) when its role may. Without it, the cron workers
        # serve every database the fleet's role owns, not a template, accepting connections -
        # exactly the fleet's live tenants, since each fleet has its own role.
        out.append(dict(container, options=options, odoo_conf=odoo_conf(options), connections=container["count"] * container["processes"] * db_maxconn))
    ports = None
    if fleet.get("port_base") is not None:
        ports = fleet_ports(fleet["port_base"], fleet.get("web_containers", 1))
        for container in out:
            container["ports"] = ports[container["role"]]
    return {
        "name": fleet["name"],
        "kind": fleet["kind"],
        "postgres": cluster,
        "tenants": tenants,
        "db_maxconn": db_maxconn,
        "containers": out,
        "connections": sum(c["connections"] for c in out),
        "cpus": fleet["cpus"],
        "memory_mb": fleet["memory_mb"],
        "concurrent_users": out[0]["workers"] * out[0]["count"] * 6,
        "port_range": ports["range"] if ports else None,
    }
