#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_release
short_description: Promote an Odoo release to an environment's tenants - gates, module update, evidence, rollback swap
version_added: 0.1.0
description:
  - A B(release) is what a fleet runs - the Odoo image (by digest when known) and the addons revision
    (a path or git ref, and the content checksum of each addon, computed here from O(release.addons_path)).
    Its C(id) hashes the image digest (or name) and the checksums.
  - O(state=updated) - the gates first - refused when the release has no successful run recorded in
    O(previous_environment)'s evidence (unless O(skip_gate_reason)), or when a tenant is inside a freeze
    window of O(freeze_windows) (the business calendar, see C(docs/freeze-windows.md); unless
    O(override_reason)), naming the window and when the freeze ends. Then, per tenant (an existing,
    managed, active tenant - Odoo would create a missing database, so none is ever passed to it), Odoo's
    own update C(<odoo_command> -d <tenant> -u <addons> --stop-after-init --no-http) for only the
    installed addons whose checksum differs from the release the tenant's metadata records (all of them
    when none is recorded, or with O(update_all)), C(-i) for O(install); then the release is recorded in
    the tenant's metadata (the previous one kept as C(release_previous)). A tenant that runs the release
    already is left alone. A failed update stops the run; the result names the tenant, the failing step and
    the tail of Odoo's log, and C(touched) lists the tenants whose database the run changed.
  - O(state=recorded) - records O(result) of the release in O(environment)'s evidence
    (C(<evidence_dir>/<environment>.json)), the evidence the next environment's gate reads.
  - O(state=rolled_back) - puts each tenant's pre-release database, restored beside it as
    C(<tenant>_rollback) (M(sysgenpro.odoo_ops.odoo_tenant) O(sysgenpro.odoo_ops.odoo_tenant#module:from_backup)),
    in its place; the failed database is kept as C(<tenant>_failed_<UTC time>) and the filestores
    are swapped alike under O(filestore_root). The tenant's metadata records the release it runs again
    and the rollback. Without O(release), the release each tenant runs now is the one rolled back
    (on demand, C(playbooks/release_rollback.yml)).
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
attributes:
  check_mode:
    details: The gates are checked and the plan (tenants, addons to update or install, records) returned; nothing is run or written.
  diff_mode:
    support: full
    details: The release each tenant runs, before and after.
options:
  state:
    description: What to do (see the description).
    type: str
    choices: [updated, recorded, rolled_back]
    default: updated
  environment:
    description: The environment (tier of the customer or fleet) the release goes to, for example V(dev), V(uat), V(prod).
    type: str
    required: true
  previous_environment:
    description: The environment that must have run the release successfully first (none for the first tier).
    type: str
  evidence_dir:
    description:
      - Folder of the environments' evidence files (C(<environment>.json)), kept by the controller or a shared volume.
      - Required by O(state=updated) and O(state=recorded).
    type: path
  tenants:
    description: The environment's tenants (database names) the release goes to.
    type: list
    elements: str
    required: true
  fleet:
    description: The fleet the tenants run on, for freeze windows scoped by fleet.
    type: str
  release:
    description:
      - The release. Required by O(state=updated) and O(state=recorded).
      - With O(state=rolled_back), the release rolled back; without it, whatever each tenant runs now is
        rolled back to the release its metadata records before (C(release_rollback.yml)).
    type: dict
    suboptions:
      image:
        description: The Odoo image (name:tag) the fleet runs.
        type: str
        required: true
      image_digest:
        description: Its digest (C(sha256:...)), when known; it then names the image in the release id.
        type: str
      addons_ref:
        description: The addons revision (a git ref or a path), as shown in reports.
        type: str
      addons_path:
        description: The release's addons folders on the host that runs the module; each addon's checksum is taken from here.
        type: list
        elements: path
  install:
    description: Addons of the release to install (C(-i)) on tenants that do not have them.
    type: list
    elements: str
    default: []
  update_all:
    description: Update every installed addon of the release, changed or not.
    type: bool
    default: false
  odoo_command:
    description:
      - The command that runs Odoo of the new release, without its options - for example
        V([/opt/odoo/venv/bin/python, /opt/odoo/odoo-bin]) or V([docker, run, --rm, --network, data, -v, ..., odoo@sha256:..., odoo]).
        Run as the user of the module (use a command that switches to Odoo's user, never root).
      - Required by O(state=updated) when a tenant needs an update.
    type: list
    elements: str
  odoo_config:
    description: The fleet's C(odoo.conf) (C(-c)), as the command sees it; its database connection is the fleet's.
    type: str
  odoo_addons_path:
    description: Odoo's C(--addons-path) for the update, as the command sees it (the base addons and the release's).
    type: list
    elements: str
  update_timeout:
    description: Seconds one tenant's update may take.
    type: int
    default: 3600
  restore_point:
    description:
      - Before the first update, create a recovery point on the cluster (C(pg_create_restore_point)) named
        after the release; its name, LSN and time are returned (the login role needs EXECUTE on that function).
    type: bool
    default: false
  freeze_windows:
    description: The business calendar (C(odoo_ops_freeze_windows)), see C(docs/freeze-windows.md).
    type: list
    elements: dict
    default: []
  at:
    description: The instant to check the freeze windows at (ISO 8601 with a zone); default now.
    type: str
  override_reason:
    description: Promote inside a freeze window; recorded in the tenants' metadata and the evidence.
    type: str
  skip_gate_reason:
    description: Promote a release the previous environment has not run successfully; recorded in the tenants' metadata and the evidence.
    type: str
  result:
    description: With O(state=recorded), the outcome to record.
    type: str
    choices: [succeeded, failed, rolled_back]
  filestore_root:
    description: With O(state=rolled_back), Odoo's filestore folder, whose tenant folders are swapped with the databases.
    type: path
  lock_timeout:
    description: Seconds to wait for another run working on the same tenant (and, with O(stop_crons), for a cron job running now).
    type: int
    default: 120
  release_source:
    description:
      - With O(state=updated) and one tenant (a staging copy of a production tenant, which has metadata of its own),
        the tenant whose recorded release decides which addons changed - the copy is updated as its source will be.
    type: str
  smoke_port:
    description:
      - With O(state=updated), after each tenant's update, smoke-test it - the new release's Odoo (O(odoo_command),
        one process, no cron thread, this database only) serving it on C(127.0.0.1:<smoke_port>) answers
        C(/web/health) 200 and C(/web/login) 200 with the login form; then it is stopped (its process group).
        A failure fails the run like a failed update (C(failed_step) names it, C(odoo_log) holds Odoo's output).
      - Meant for a staging copy (C(release_promote.yml) stages first); the port must be free.
    type: int
  smoke_timeout:
    description: Seconds the smoke test's Odoo may take to answer.
    type: int
    default: 120
  pre_release_backups:
    description:
      - With O(state=updated), each tenant's pre-release backup (tenant - the key M(sysgenpro.odoo_ops.odoo_backup)
        returned, in O(pre_release_bucket)), recorded with the release in its metadata - what
        C(release_rollback.yml) restores to go back to the release before.
    type: dict
  pre_release_bucket:
    description: The bucket of O(pre_release_backups).
    type: str
  stop_crons:
    description:
      - With O(state=updated), the tenant's active crons (C(ir_cron)) are switched off for its update (the
        fleet's cron process skips them; a job running now is waited for, up to O(lock_timeout)) and the same
        jobs switched on after it, also when the update fails. Their ids are returned as C(crons_stopped).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Promote release 2026.12 to UAT (it must have run in dev)
  sysgenpro.odoo_ops.odoo_release:
    environment: uat
    previous_environment: dev
    evidence_dir: /srv/odoo_ops/evidence
    tenants: [acme_uat, globex_uat]
    release:
      image: odoo:18.0
      image_digest: sha256:4f6c2d...
      addons_ref: v2026.12
      addons_path: [/srv/addons/v2026.12]
    odoo_command: [docker, run, --rm, --network, uat-data, -v, "/srv/addons/v2026.12:/mnt/extra-addons:ro",
                   -v, "/srv/uat/odoo.conf:/etc/odoo/odoo.conf:ro", "odoo@sha256:4f6c2d...", odoo]
    odoo_config: /etc/odoo/odoo.conf
    freeze_windows: "{{ odoo_ops_freeze_windows }}"
  register: promoted

- name: Record the success for the next environment's gate
  sysgenpro.odoo_ops.odoo_release:
    state: recorded
    result: succeeded
    environment: uat
    evidence_dir: /srv/odoo_ops/evidence
    tenants: [acme_uat, globex_uat]
    release: {image: odoo:18.0, image_digest: sha256:4f6c2d..., addons_path: [/srv/addons/v2026.12]}
"""

RETURN = r"""
steps:
  description: What the run does (check mode) or did, in order.
  returned: always
  type: list
  elements: str
  sample: ["update acme_uat with Odoo: -u sale_custom", "record release 3f1c0a9d2b7e4c11 in the metadata of acme_uat"]
diff:
  description: The release each tenant runs, before and after.
  returned: always
  type: dict
environment:
  description: The environment.
  returned: always
  type: str
release:
  description: The release - id, image, image_digest, addons_ref, addons_path, checksums (addon - SHA-256).
  returned: always
  type: dict
gate:
  description: With O(state=updated), the previous environment, whether its evidence passed, the evidence (with its date), or the reason it was skipped.
  returned: success
  type: dict
freeze:
  description: With O(state=updated), the freeze check - frozen, at, the frozen tenants with their windows, the override reason.
  returned: success
  type: dict
tenants:
  description:
    - Per tenant - name, release_before, update and install (addon lists), versions_before, versions_after, update_seconds,
      crons_stopped (ids, with O(stop_crons)), smoke (seconds and the checks' statuses, with O(smoke_port)).
    - Rolled back - name, restored_from, kept_as.
  returned: always
  type: list
  elements: dict
touched:
  description: Tenants whose database the run updated (also on failure).
  returned: when an update ran
  type: list
  elements: str
restore_point:
  description: The recovery point created (name, lsn, time).
  returned: with O(restore_point) when an update ran
  type: dict
failed_step:
  description: On failure, the step that failed.
  returned: failure
  type: str
odoo_log:
  description: On a failed update, the tail of Odoo's output.
  returned: failure
  type: str
evidence:
  description: With O(state=recorded), the evidence entry.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.release.promote import Promotion

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["updated", "recorded", "rolled_back"], default="updated"),
    environment=dict(type="str", required=True),
    previous_environment=dict(type="str"),
    evidence_dir=dict(type="path"),
    tenants=dict(type="list", elements="str", required=True),
    fleet=dict(type="str"),
    release=dict(
        type="dict",
        options=dict(
            image=dict(type="str", required=True),
            image_digest=dict(type="str"),
            addons_ref=dict(type="str"),
            addons_path=dict(type="list", elements="path"),
        ),
    ),
    install=dict(type="list", elements="str", default=[]),
    update_all=dict(type="bool", default=False),
    odoo_command=dict(type="list", elements="str"),
    odoo_config=dict(type="str"),
    odoo_addons_path=dict(type="list", elements="str"),
    update_timeout=dict(type="int", default=3600),
    restore_point=dict(type="bool", default=False),
    freeze_windows=dict(type="list", elements="dict", default=[]),
    at=dict(type="str"),
    override_reason=dict(type="str"),
    skip_gate_reason=dict(type="str"),
    result=dict(type="str", choices=["succeeded", "failed", "rolled_back"]),
    filestore_root=dict(type="path"),
    lock_timeout=dict(type="int", default=120),
    release_source=dict(type="str"),
    smoke_port=dict(type="int"),
    smoke_timeout=dict(type="int", default=120),
    stop_crons=dict(type="bool", default=False),
    pre_release_backups=dict(type="dict"),
    pre_release_bucket=dict(type="str"),
)
ARGUMENT_SPEC.update(postgres_argument_spec())


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("state", "recorded", ("result", "release", "evidence_dir")), ("state", "updated", ("release", "evidence_dir"))],
    )

    def work(resources):
        pg = resources.enter_context(Postgres(module.params))
        return Promotion(pg, module.params, module.check_mode).run()

    run_module(module, work, needs=["psycopg2"])


if __name__ == "__main__":
    main()
