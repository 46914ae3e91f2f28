#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_tenant_move
short_description: Move a tenant to another fleet on the same PostgreSQL cluster (one phase around the route switch)
version_added: 0.1.0
description:
  - The database stays where it is; its owner role (the fleet's, C(odoo_<fleet>)) and its filestore (the
    fleet's data folder) change. The tenant's current fleet is read from its database's owner (or from
    the move recorded in its metadata when one is under way); O(fleet) names the target.
  - O(phase=prepare), before the route switches - the move recorded in the tenant's metadata; when the
    target serves by name (O(serve_by_name), a dedicated fleet with C(db_name)), its role gets access and
    the source keeps owning the database; else the database and its objects go to the target's role in
    one transaction, the source's role keeping access (Odoo lists for C(dbfilter) only the databases its
    role owns, so the fleet that lists by owner owns the database for as long as it serves); the
    filestore copied into the target fleet's folder.
  - O(phase=finish), after the route switch - the database owned by the target's role, the hand-over
    grants revoked, the old fleet's sessions in the database cut, the files it wrote since copied, both
    filestores compared and the source's folder removed, the move recorded as done.
  - Playbook C(tenant_move.yml) runs both phases around C(site.yml)'s rolling update and route switch.
  - Never touches another database - every statement names the tenant's database or runs inside it -
    nor another tenant's folder.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
attributes:
  check_mode:
    details: Returns the steps of the same plan a real run executes, changing nothing.
  diff_mode:
    support: full
    details: The owner and the move record before and after.
options:
  name:
    description: The tenant (its database name).
    type: str
    required: true
  fleet:
    description: The target fleet; its role C(odoo_<fleet>) must exist (C(site.yml) makes it).
    type: str
    required: true
  phase:
    description: V(prepare) before the route switch, V(finish) after it.
    type: str
    required: true
    choices: [prepare, finish]
  serve_by_name:
    description: Whether the target fleet serves the tenant by name (C(db_name); a dedicated fleet's C(serve_by_name)).
    type: bool
    default: false
  fleets_root:
    description: The folder of the fleets' data folders (C(<fleets_root>/<fleet>/filestore/<tenant>)); without it the filestore is left alone.
    type: path
  filestore_owner:
    description: Owner (name or uid) of the copied files - the uid of the containers' odoo user.
    type: str
  filestore_group:
    description: Group (name or gid) of the copied files.
    type: str
"""

EXAMPLES = r"""
- name: Give globex its own fleet - before the switch
  sysgenpro.odoo_ops.odoo_tenant_move:
    name: globex
    fleet: globex-own
    phase: prepare
    serve_by_name: true
    fleets_root: /var/lib/odoo-ops/fleets
    filestore_owner: "101"
"""

RETURN = r"""
steps:
  description: What the run does (or, in check mode, would do), in order; empty when nothing is to be done.
  returned: always
  type: list
  elements: str
  sample: ["record the move of globex from fleet shared1 to globex-own in its metadata"]
diff:
  description: The database's owner and the move record, before and after.
  returned: always
  type: dict
tenant:
  description: The tenant.
  returned: always
  type: str
fleet:
  description: The target fleet.
  returned: always
  type: str
source_fleet:
  description: The fleet the tenant is moved from; null when it is in O(fleet) already.
  returned: always
  type: str
moved:
  description: Whether a move is (or was, in this run) under way.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant.move import TenantMove

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    fleet=dict(type="str", required=True),
    phase=dict(type="str", required=True, choices=["prepare", "finish"]),
    serve_by_name=dict(type="bool", default=False),
    fleets_root=dict(type="path"),
    filestore_owner=dict(type="str"),
    filestore_group=dict(type="str"),
)
ARGUMENT_SPEC.update(postgres_argument_spec())


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def work(resources):
        pg = resources.enter_context(Postgres(module.params))
        move = TenantMove(pg, module.params, module.check_mode)
        plan = move.plan()
        if plan.steps and not module.check_mode:
            move.run(plan)
        return plan.result()

    run_module(module, work, needs=["psycopg2"])


if __name__ == "__main__":
    main()
