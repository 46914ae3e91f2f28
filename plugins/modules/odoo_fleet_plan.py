#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_fleet_plan
short_description: Size Odoo fleets and refuse a plan that does not fit PostgreSQL or the host
version_added: 0.1.0
description:
  - Computes, for each Odoo fleet, its containers and their C(odoo.conf) options - a I(shared) fleet
    (many tenants, C(dbfilter = ^%d$)) has O(fleets[].web_containers) web containers and one cron
    container whose C(db_name) lists only its tenants; a I(dedicated) fleet serves one tenant.
  - "Workers come from CPU (C(2 x cpus + 1), Odoo's rule) and are bounded by memory (about 325 MB
    a worker on average, one may reach the hard limit); C(limit_memory_hard) is what one process may
    reach while the others sit at the average (at most Odoo's 2560 MB), C(limit_memory_soft) 80 % of
    it; C(proxy_mode) on, C(list_db) off."
  - "C(db_maxconn) is per Odoo process: each container's worst case is its processes (HTTP workers,
    cron workers, gevent) times C(db_maxconn), and the sum over every fleet of a PostgreSQL cluster
    must stay under its C(max_connections) minus a reserve. Fleets without O(fleets[].db_maxconn)
    share what is left equally (at most Odoo's 64). A plan that does not fit is refused, showing the
    arithmetic - never trimmed silently."
  - Pure computation - changes nothing, C(changed) is always false; the roles render the returned
    options into C(/etc/odoo/odoo.conf).
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
attributes:
  check_mode:
    details: The same computation.
options:
  fleets:
    description: The fleets.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The fleet's name.
        type: str
        required: true
      kind:
        description: C(shared) serves many tenants, C(dedicated) one.
        type: str
        choices: [shared, dedicated]
        default: shared
      tenants:
        description: The tenants (database names) the fleet serves; a tenant is in one fleet only.
        type: list
        elements: str
        default: []
      cpus:
        description: CPU limit of each container.
        type: float
        required: true
      memory_mb:
        description: Memory limit of each container, in MB.
        type: int
        required: true
      web_containers:
        description: Web containers of the fleet (at most 10, what the port layout has room for).
        type: int
        default: 1
      port_base:
        description:
          - The first of the 44 ports the fleet claims on its host; when given, each container's C(ports)
            and the fleet's C(port_range) are returned (what the role C(docker_odoo_fleet) listens on).
          - "The layout: web container i (1..10) listens on C(port_base + 4(i-1)) in slot C(a) and
            C(+ 2) in slot C(b) (a rolling update starts the new container in the other slot), each
            with its gevent port next to it; the cron container on C(port_base + 40) and C(+ 41)."
        type: int
      serve_by_name:
        description:
          - A dedicated fleet only - Odoo's C(db_name) names its tenant instead of a C(dbfilter), so the
            fleet serves the tenant whichever role owns the database (with C(dbfilter), Odoo lists only
            the databases its role owns). M(sysgenpro.odoo_ops.odoo_tenant_move) hands a tenant between
            a dedicated fleet that serves by name and a shared one without a request failing.
        type: bool
        default: false
      workers:
        description: HTTP workers per web container, instead of the computed number.
        type: int
      cron_threads:
        description: Cron workers of the fleet's cron container (0 - no cron container).
        type: int
        default: 2
      db_maxconn:
        description: C(db_maxconn) of the fleet's processes, instead of an equal share of the budget.
        type: int
      postgres:
        description: The PostgreSQL cluster the fleet uses (a key of O(postgres_clusters)).
        type: str
        default: main
  postgres_clusters:
    description:
      - The PostgreSQL clusters, by name - each a dict with C(max_connections) and
        C(reserved_connections) (superuser slots, backups, monitoring, migrations; default 10).
    type: dict
    default: {main: {max_connections: 100, reserved_connections: 10}}
  host_memory_mb:
    description: The Docker host's memory; when given, the containers' memory limits must fit it less O(host_reserved_mb).
    type: int
  host_reserved_mb:
    description: Memory kept for the host, PostgreSQL, Redis and Traefik when O(host_memory_mb) is checked.
    type: int
    default: 2048
"""

EXAMPLES = r"""
- name: Plan a shared fleet and a dedicated customer on one PostgreSQL
  sysgenpro.odoo_ops.odoo_fleet_plan:
    fleets:
      - {name: shared1, kind: shared, tenants: [acme, globex], cpus: 2, memory_mb: 4096, web_containers: 2, port_base: 8100}
      - {name: initech, kind: dedicated, tenants: [initech], cpus: 1, memory_mb: 2048, port_base: 8150}
    postgres_clusters:
      main: {max_connections: 200, reserved_connections: 10}
    host_memory_mb: 16384
  register: odoo_plan
"""

RETURN = r"""
steps:
  description: Always empty - sizing changes nothing.
  returned: always
  type: list
  elements: str
  sample: []
diff:
  description: Empty - sizing changes nothing.
  returned: always
  type: dict
  sample: {before: {}, after: {}}
fleets:
  description:
    - Each fleet's plan - its containers (role web or cron, count, workers, processes, options, odoo_conf text, connections).
    - With O(fleets[].port_base), the fleet's C(port_range) C([first, last]) and each container's C(ports) - for the web
      entry a list, one item per container (C(index), slots C(a) and C(b), each C({http, gevent})), for the cron entry
      C({http, gevent}); without it C(port_range) is null and the containers have no C(ports).
  returned: success
  type: list
  elements: dict
  sample: [{name: shared1, kind: shared, db_maxconn: 7, connections: 112, containers: [{role: web, count: 2, workers: 5,
            processes: 6, connections: 84, options: {workers: 5, db_maxconn: 7, dbfilter: "^%d$", proxy_mode: true},
            ports: [{index: 1, a: {http: 8100, gevent: 8101}, b: {http: 8102, gevent: 8103}}]}], port_range: [8100, 8143]}]
budgets:
  description: Per PostgreSQL cluster - max_connections, reserve, budget, worst_case and the arithmetic.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import PlanRefused, plan_fleets

FLEET_OPTIONS = dict(
    name=dict(type="str", required=True),
    kind=dict(type="str", choices=["shared", "dedicated"], default="shared"),
    tenants=dict(type="list", elements="str", default=[]),
    cpus=dict(type="float", required=True),
    memory_mb=dict(type="int", required=True),
    web_containers=dict(type="int", default=1),
    workers=dict(type="int"),
    cron_threads=dict(type="int", default=2),
    db_maxconn=dict(type="int"),
    postgres=dict(type="str", default="main"),
    port_base=dict(type="int"),
    serve_by_name=dict(type="bool", default=False),
)
ARGUMENT_SPEC = dict(
    fleets=dict(type="list", elements="dict", required=True, options=FLEET_OPTIONS),
    postgres_clusters=dict(type="dict", default={"main": {"max_connections": 100, "reserved_connections": 10}}),
    host_memory_mb=dict(type="int"),
    host_reserved_mb=dict(type="int", default=2048),
)


def clusters_of(given):
    clusters = {}
    for name, spec in given.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("max_connections"), int):
            raise PlanRefused("postgres_clusters.%s needs an integer max_connections" % name)
        clusters[name] = {"max_connections": spec["max_connections"], "reserved_connections": int(spec.get("reserved_connections", 10))}
    return clusters


def check_host_memory(fleets, host_mb, reserved_mb):
    lines = ["%s %s %d x %d MB" % (f["name"], c["role"], c["count"], f["memory_mb"]) for f in fleets for c in f["containers"]]
    total = sum(c["count"] * f["memory_mb"] for f in fleets for c in f["containers"])
    if total > host_mb - reserved_mb:
        raise PlanRefused(
            "the containers' memory does not fit the host: %s = %d MB against host_memory_mb %d - "
            "host_reserved_mb %d = %d MB" % (" + ".join(lines), total, host_mb, reserved_mb, host_mb - reserved_mb)
        )


def size(params):
    """The fleets' plan: a computation that changes nothing (no step), the same in check mode."""
    fleets, budgets = plan_fleets(params["fleets"], clusters_of(params["postgres_clusters"]))
    if params.get("host_memory_mb"):
        check_host_memory(fleets, params["host_memory_mb"], params["host_reserved_mb"])
    return Plan(report=dict(fleets=fleets, budgets=budgets)).result()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, lambda resources: size(module.params))


if __name__ == "__main__":
    main()
