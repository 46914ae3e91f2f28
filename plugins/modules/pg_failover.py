#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: pg_failover
short_description: Decide on and promote the streaming standby of a PostgreSQL pair, measuring the switch and the data lost
version_added: 0.1.0
description:
  - Reads both servers of a streaming pair - reachable, in recovery, current, received and replayed WAL
    positions, the wal receiver and the primary's physical replication slots - and decides.
  - Refuses to promote while the primary still accepts writes (two writable servers, split brain) -
    fence it first (the runbook C(incident_zone_failover.yml) stops its container). Refuses a standby
    that is unreachable, or further behind the primary's last known position than O(max_lag_bytes)
    unless O(allow_lag).
  - With O(state=promoted), promotes the standby (C(pg_promote)), waits until it accepts a write, and
    returns the switch (new timeline, switch point) and the data lost - the bytes and WAL range between
    the switch point and the old primary's last known position (from what it said while it answered,
    O(old_primary_lsn) or O(old_primary_controldata)).
  - Idempotent - a standby that already left recovery, beside a primary that does not accept writes, is
    reported (switch and data loss) without a change.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
attributes:
  check_mode:
    details: Reads both servers and decides (refusals included) as a real run does; promotes nothing.
notes:
  - The connection options (O(login_host), O(login_port), ...) name the primary; the standby is reached
    with the same role at O(standby_host) and O(standby_port) (a physical standby has the same roles).
  - The role needs membership of C(pg_monitor) (to read the wal receiver and the slots) and, for
    O(state=promoted), C(EXECUTE) on C(pg_promote(boolean, integer)) - granted on the primary, so the
    standby has it too. It need not be a superuser.
options:
  state:
    description:
      - V(inspected) reads and decides only (refusals included); V(promoted) promotes the standby.
    type: str
    choices: [inspected, promoted]
    default: promoted
  confirm:
    description:
      - Must be V(true) for O(state=promoted) - after the promotion the old primary can never rejoin as it
        is, and whatever it wrote beyond the switch point is lost.
    type: bool
    default: false
  standby_host:
    description: Host of the standby (default O(login_host)).
    type: str
  standby_port:
    description: Port of the standby.
    type: int
    required: true
  max_lag_bytes:
    description:
      - Largest lag (bytes of WAL the standby has not replayed of the primary's last known position) that
        may be promoted without O(allow_lag).
    type: int
    default: 16777216
  allow_lag:
    description: Promote a standby lagging beyond O(max_lag_bytes) (the result says so, C(decision.lag_override)).
    type: bool
    default: false
  old_primary_lsn:
    description: The old primary's last known WAL position (for example C(0/3000060)), when it no longer answers.
    type: str
  old_primary_controldata:
    description:
      - The output of C(pg_controldata) on the old primary's data directory (a stopped or dead server) -
        its latest checkpoint location is its last known position when nothing newer is known.
    type: str
  wait_seconds:
    description: How long the promotion, then the first write, may take (1-3600).
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Read both servers and decide (changes nothing)
  sysgenpro.odoo_ops.pg_failover:
    state: inspected
    standby_port: 5433
  register: decision

- name: Promote the standby (the old primary's container stopped before)
  sysgenpro.odoo_ops.pg_failover:
    state: promoted
    confirm: true
    standby_port: 5433
    old_primary_lsn: "{{ decision.primary.current_lsn | default(omit) }}"
  register: failover

- name: Show the switch and the loss
  ansible.builtin.debug:
    msg: "timeline {{ failover.switch.timeline }} from {{ failover.switch.lsn }}, {{ failover.data_loss.bytes }} bytes lost"
"""

RETURN = r"""
steps:
  description: What the run did (or, in check mode, would do) - empty when the standby was promoted before or O(state=inspected).
  returned: always
  type: list
  elements: str
diff:
  description: The standby's recovery state before and after.
  returned: always
  type: dict
verdict:
  description: V(promote) (the standby may be promoted) or V(promoted) (it was, before this run).
  returned: success
  type: str
primary:
  description:
    - What the primary said - C(where), C(reachable) (and C(error) when not), C(in_recovery), C(accepts_writes),
      C(current_lsn), C(slots) (name, active, restart_lsn, wal_status, safe_wal_size), C(replication)
      (pg_stat_replication's rows).
  returned: always
  type: dict
standby:
  description:
    - What the standby said before the promotion - C(where), C(reachable), C(in_recovery), C(received_lsn),
      C(replayed_lsn), C(wal_receiver) (status, timeline, flushed_lsn, sender, slot_name).
  returned: always
  type: dict
decision:
  description: C(lag_bytes), C(unreceived_bytes), C(max_lag_bytes), C(lag_override) (promoted beyond the bound).
  returned: always
  type: dict
old_primary_lsn:
  description: The old primary's last known WAL position (null when nothing is known), and C(old_primary_lsn_source) where it comes from.
  returned: always
  type: str
promoted_at:
  description: When the promotion started (UTC, ISO 8601); only when this run promoted.
  returned: when promoted
  type: str
durations:
  description: C(promote_seconds) (pg_promote until out of recovery) and C(writes_seconds) (then until a write is accepted).
  returned: when promoted
  type: dict
switch:
  description: C(timeline) (the new one), C(lsn) (the switch point, where it starts), C(current_lsn) (after the first write).
  returned: when O(state=promoted) and not in check mode
  type: dict
data_loss:
  description:
    - C(bytes) the old primary wrote beyond the switch point (0 when the standby had it all; null when its
      last position is unknown), C(known), and C(wal_range) (C(start), C(end), C(first_segment),
      C(last_segment) on the old timeline) when bytes were lost.
  returned: when O(state=promoted) and not in check mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_port
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.lsn import parse_lsn
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.promotion import Failover
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["inspected", "promoted"], default="promoted"),
    confirm=dict(type="bool", default=False),
    standby_host=dict(type="str"),
    standby_port=dict(type="int", required=True),
    max_lag_bytes=dict(type="int", default=16 * 1024 * 1024),
    allow_lag=dict(type="bool", default=False),
    old_primary_lsn=dict(type="str"),
    old_primary_controldata=dict(type="str"),
    wait_seconds=dict(type="int", default=60),
)
ARGUMENT_SPEC.update(postgres_argument_spec())


def check_params(params):
    check_port(params["standby_port"], "standby_port")
    if not 1 <= params["wait_seconds"] <= 3600:
        raise Refused("wait_seconds %d must be 1-3600" % params["wait_seconds"])
    if params["max_lag_bytes"] < 0:
        raise Refused("max_lag_bytes %d must be 0 or more" % params["max_lag_bytes"])
    if params["old_primary_lsn"]:
        parse_lsn(params["old_primary_lsn"], "old_primary_lsn")
    if params["state"] == "promoted" and not params["confirm"]:
        raise Refused("promoting the standby ends the old primary's timeline (what it wrote beyond the switch point is lost): confirm: true")


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def work(resources):
        check_params(module.params)
        primary = resources.enter_context(Postgres(module.params))
        standby_params = dict(module.params, login_host=module.params["standby_host"] or module.params["login_host"], login_port=module.params["standby_port"])
        standby = resources.enter_context(Postgres(standby_params))
        return Failover(primary, standby, module.params).run(module.check_mode)

    run_module(module, work, needs=["psycopg2"])


if __name__ == "__main__":
    main()
