#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_tenant_info
short_description: List an Odoo platform's tenants with their state, sizes, version and limits
version_added: 0.1.0
description:
  - Lists the tenants on a PostgreSQL server - databases carrying the metadata M(sysgenpro.odoo_ops.odoo_tenant)
    records, and databases owned by O(owner) - with state (active or suspended), owner, database and
    filestore sizes, Odoo version (base module), neutralized flag, limits and metadata.
  - Read-only.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
attributes:
  check_mode:
    details: Read-only; the same in check mode.
options:
  name:
    description: Only this tenant.
    type: str
  owner:
    description: Also list databases owned by this role (for example a fleet's Odoo role), managed or not.
    type: str
  pattern:
    description: Only tenants of this pattern.
    type: str
    choices: [shared, dedicated]
  tier:
    description: Only tenants of this tier.
    type: int
    choices: [1, 2, 3]
  filestore_root:
    description: Odoo's filestore folder, to report each tenant's filestore size.
    type: path
"""

EXAMPLES = r"""
- name: Tier-1 tenants of the platform
  sysgenpro.odoo_ops.odoo_tenant_info:
    tier: 1
    filestore_root: /var/lib/odoo/filestore
  register: platform

- name: Show them
  ansible.builtin.debug:
    msg: "{{ platform.tenants | map(attribute='name') | list }}"
"""

RETURN = r"""
steps:
  description: Always empty - the module only reads.
  returned: always
  type: list
  elements: str
  sample: []
diff:
  description: Empty - the module only reads.
  returned: always
  type: dict
  sample: {before: {}, after: {}}
tenants:
  description: One entry per tenant, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant id (database name).
      type: str
    state:
      description: V(active) or V(suspended) (connections refused).
      type: str
    owner:
      description: Role owning the database.
      type: str
    managed:
      description: Whether the database carries odoo_tenant's metadata.
      type: bool
    database_bytes:
      description: Size of the database.
      type: int
    filestore_bytes:
      description: Size of the filestore (each file once), null without O(filestore_root) or filestore.
      type: int
    odoo_version:
      description: Installed version of Odoo's base module; null when suspended or not an Odoo database.
      type: str
    neutralized:
      description: Whether C(database.is_neutralized) is set; null when it cannot be read.
      type: bool
    connection_limit:
      description: Connection limit (-1 - none).
      type: int
    statement_timeout:
      description: Database-wide statement_timeout, or null.
      type: str
    metadata:
      description: The metadata odoo_tenant recorded (pattern, tier, created, template or source).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant.inventory import list_tenants

ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    owner=dict(type="str"),
    pattern=dict(type="str", choices=["shared", "dedicated"]),
    tier=dict(type="int", choices=[1, 2, 3]),
    filestore_root=dict(type="path"),
)
ARGUMENT_SPEC.update(postgres_argument_spec())


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def work(resources):
        pg = resources.enter_context(Postgres(module.params))
        return Plan(report=dict(tenants=list_tenants(pg, module.params))).result()  # read-only: no step

    run_module(module, work, needs=["psycopg2"])


if __name__ == "__main__":
    main()
