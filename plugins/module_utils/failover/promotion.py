# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Promote the standby of a streaming pair, prove it accepts writes, and measure the switch: the new
timeline, the switch point (the last WAL position replayed before it left recovery, where the new
timeline starts) and the data the old primary wrote beyond it."""

import time

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import reporting
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.decision import decide, read_server
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.lsn import data_lost, format_lsn, parse_controldata, parse_lsn
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError

POLL_SECONDS = 0.2
# The new primary's timeline: the first 8 hex digits of the WAL file it writes now. The switch point
# stays readable after promotion (pg_last_wal_replay_lsn() keeps the last position replayed).
SWITCH_SQL = "SELECT ('x' || left(pg_walfile_name(pg_current_wal_lsn()), 8))::bit(32)::int, pg_last_wal_replay_lsn()::text, pg_current_wal_lsn()::text"


def old_primary_position(params, primary):
    """The old primary's last known WAL position and where it comes from: the newest of what it said
    while it answered and of its pg_control (the checkpoint of a stopped cluster)."""
    known = []
    if primary.get("current_lsn"):
        known.append((primary["current_lsn"], "primary (live)"))
    if params.get("old_primary_lsn"):
        known.append((params["old_primary_lsn"], "old_primary_lsn"))
    if params.get("old_primary_controldata"):
        control = parse_controldata(params["old_primary_controldata"])
        known.append((control["checkpoint_lsn"], "pg_control (%s)" % control.get("state", "?")))
    if not known:
        return None, None
    lsn, source = max(known, key=lambda item: parse_lsn(item[0]))
    return format_lsn(parse_lsn(lsn)), source


def wait_for_writes(pg, wait_seconds):
    """Seconds until the promoted server assigns a transaction id (a standby cannot): a write accepted."""
    started = time.monotonic()
    deadline = started + wait_seconds
    while True:
        try:
            pg.query("SELECT txid_current()")
            return round(time.monotonic() - started, 3)
        except PostgresError as exc:
            if time.monotonic() >= deadline:
                raise OperationFailed("the promoted server at %s accepts no write after %d s: %s" % (pg.where, wait_seconds, exc), changed=True) from None
            time.sleep(POLL_SECONDS)


def switch_point(pg):
    timeline, switch, current = pg.query(SWITCH_SQL)[0]
    return dict(timeline=timeline, lsn=switch, current_lsn=current)


class Failover:
    """One failover of a pair: primary and standby are Postgres clients of the same role."""

    def __init__(self, primary_pg, standby_pg, params):
        self.primary_pg, self.standby_pg, self.params = primary_pg, standby_pg, params

    def inspect(self):
        primary, standby = read_server(self.primary_pg), read_server(self.standby_pg)
        old_lsn, source = old_primary_position(self.params, primary)
        return primary, standby, old_lsn, source

    def report(self, primary, standby, facts, old_lsn, source):
        return dict(primary=primary, standby=standby, decision=facts, old_primary_lsn=old_lsn, old_primary_lsn_source=source)

    def run(self, check_mode):
        primary, standby, old_lsn, source = self.inspect()
        params = self.params
        if params["state"] == "inspected":
            # Inspection decides without failing: the runbook fences, or refuses, on what it returns.
            try:
                verdict, facts = decide(primary, standby, params["max_lag_bytes"], params["allow_lag"], old_lsn)
                refusal = None
            except Refused as exc:
                verdict, facts, refusal = "refused", exc.result["decision"], str(exc)
            return Plan(report=dict(self.report(primary, standby, facts, old_lsn, source), verdict=verdict, refusal=refusal)).result()
        # A refusal carries what both servers said: the runbook's report shows why it stopped.
        with reporting(lambda: self.report(primary, standby, None, old_lsn, source)):
            verdict, facts = decide(primary, standby, params["max_lag_bytes"], params["allow_lag"], old_lsn)
        report = self.report(primary, standby, facts, old_lsn, source)
        report["verdict"] = verdict
        before = dict(standby=dict(where=standby["where"], in_recovery=standby["in_recovery"]))
        if verdict == "promoted":
            report.update(self.measure(old_lsn, promoted_at=None))
            return Plan(before=before, report=report).result()
        steps = [
            "promote the standby at %s (it replays the %s bytes it holds and leaves recovery on a new timeline)"
            % (standby["where"], max(0, parse_lsn(standby["received_lsn"] or "0/0") - parse_lsn(standby["replayed_lsn"] or "0/0"))),
            "wait until %s accepts writes (at most %d s)" % (standby["where"], params["wait_seconds"]),
        ]
        plan = Plan(before=before, after=dict(standby=dict(where=standby["where"], in_recovery=False)), steps=steps, report=report)
        if check_mode:
            return plan.result()
        report = plan.report  # the plan keeps a copy: what the run measures goes into it
        report["promoted_at"] = utc_now().isoformat()
        started = time.monotonic()
        try:
            promoted = self.standby_pg.query("SELECT pg_promote(true, %s)", (params["wait_seconds"],))[0][0]
        except PostgresError as exc:
            raise OperationFailed("promoting %s failed: %s" % (standby["where"], exc), result=report) from None
        if not promoted:
            message = "%s did not leave recovery within %d s of pg_promote()" % (standby["where"], params["wait_seconds"])
            raise OperationFailed(message, result=report, changed=True)
        promote_seconds = round(time.monotonic() - started, 3)
        report["durations"] = dict(promote_seconds=promote_seconds, writes_seconds=wait_for_writes(self.standby_pg, params["wait_seconds"]))
        report.update(self.measure(old_lsn, promoted_at=report["promoted_at"]))
        return plan.result()

    def measure(self, old_lsn, promoted_at):
        """The switch (timeline, switch point) read back from the promoted server, and the data lost."""
        switch = switch_point(self.standby_pg)
        if promoted_at:
            switch["promoted_at"] = promoted_at
        # The lost range lies on the old primary's timeline, the one before the promotion's.
        return dict(switch=switch, data_loss=data_lost(old_lsn, switch["lsn"], switch["timeline"] - 1))
