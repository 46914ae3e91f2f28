#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: pg_credential_rotate
short_description: Rotate a compromised PostgreSQL login role's password, cut its sessions and prove the old one refused
version_added: 0.1.0
description:
  - Gives O(role) a new generated password, written to O(password_file) (mode 0600) and never returned; the
    server receives a SCRAM-SHA-256 verifier computed by the module, never the password in clear.
  - Terminates the role's sessions (opened with the old credential) unless O(terminate_sessions=false).
  - Records the rotation's time in the role's comment (a line C(odoo_ops.credential_rotated=<time>), the rest kept); a role rotated
    at or after O(since) is left alone unless O(rotate_again), so a second run for the same compromise
    changes nothing.
  - Proves the new password is accepted and, with O(old_password), that the old one is refused.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
attributes:
  check_mode:
    details: Reads the role and its sessions and returns the steps a real run takes; changes nothing.
notes:
  - The login role needs C(CREATEROLE) and membership of C(pg_signal_backend) (the collection's admin role
    has both). A superuser role, or the module's own login role, is refused.
  - The running consumers of the role (a fleet's containers) hold the old password until they are given the
    new one; this module does not re-point them.
options:
  role:
    description: The compromised login role.
    type: str
    required: true
  password_file:
    description: Where the new password is written (replaced atomically, mode 0600); its folder must exist.
    type: path
    required: true
  since:
    description: When the compromise is suspected to have started (ISO 8601 with a zone).
    type: str
    required: true
  rotate_again:
    description: Rotate even when the role was rotated at or after O(since).
    type: bool
    default: false
  terminate_sessions:
    description: Cut the role's sessions after the new password is set.
    type: bool
    default: true
  old_password:
    description: The compromised password, to prove it is refused afterwards.
    type: str
  proof_database:
    description: The database the proofs log in to.
    type: str
    default: postgres
  confirm:
    description: Must be V(true) - the role's consumers are refused until they use the new password.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Rotate fleet shared1's database role after a leak
  sysgenpro.odoo_ops.pg_credential_rotate:
    role: odoo_shared1
    password_file: /etc/odoo-ops/secrets/odoo_shared1.pw
    since: "2026-12-07T08:00:00+00:00"
    confirm: true
  register: rotated
"""

RETURN = r"""
steps:
  description: What the run did (or would do in check mode); empty when the role was rotated after O(since) already.
  returned: always
  type: list
  elements: str
diff:
  description: The role and its last rotation, before and after.
  returned: always
  type: dict
rotated_at:
  description: When this run rotated the password (UTC, ISO 8601); null when nothing was done.
  returned: always
  type: str
sessions_terminated:
  description: How many sessions of the role were cut.
  returned: always
  type: int
proofs:
  description: C(new_password_accepted) and, with O(old_password), C(old_password_refused).
  returned: when rotated and not in check mode
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_writable_dir, write_atomic
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.credentials import (
    new_password,
    plan_rotation,
    prove,
    record_rotation,
    set_password,
    terminate,
)

ARGUMENT_SPEC = dict(
    role=dict(type="str", required=True),
    password_file=dict(type="path", required=True, no_log=False),
    since=dict(type="str", required=True),
    rotate_again=dict(type="bool", default=False),
    terminate_sessions=dict(type="bool", default=True),
    old_password=dict(type="str", no_log=True),
    proof_database=dict(type="str", default="postgres"),
    confirm=dict(type="bool", default=False),
)
ARGUMENT_SPEC.update(postgres_argument_spec())


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params

    def work(resources):
        if not params["confirm"]:
            raise Refused("rotating role %s refuses its consumers until they use the new password: confirm: true" % params["role"])
        pg = resources.enter_context(Postgres(params))
        before, steps = plan_rotation(pg, params)
        report = dict(rotated_at=None, sessions_terminated=0)
        if not steps or module.check_mode:
            after = dict(before, rotated="(this run)") if steps else before
            return Plan(before=before, after=after, steps=steps, report=report).result()
        check_writable_dir(os.path.dirname(params["password_file"]) or ".", "password_file's folder")
        password, when = new_password(), utc_now()
        # The file first: a run that stops after the ALTER still leaves the password that works.
        write_atomic(params["password_file"], (password + "\n").encode(), 0o600)
        set_password(pg, params["role"], password)
        if params["terminate_sessions"]:
            report["sessions_terminated"] = terminate(pg, params["role"])
        record_rotation(pg, params["role"], when)
        report.update(rotated_at=when.isoformat(), proofs=prove(pg, params["role"], password, params["old_password"], params["proof_database"]))
        return Plan(before=before, after=dict(before, rotated=when.isoformat()), steps=steps, report=report).result()

    run_module(module, work, needs=["psycopg2"])


if __name__ == "__main__":
    main()
