# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read both servers of a streaming pair and decide whether the standby may be promoted.

Promoting while the primary still accepts writes makes two writable servers (split brain): refused,
whatever the lag. A standby that has not received or replayed what the primary is known to have
written would lose more than the operator agreed to (max_lag_bytes): refused unless overridden."""

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.lsn import parse_lsn
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError

# One round trip per server; the functions are PUBLIC's but pg_current_wal_lsn() fails in recovery,
# hence the CASE. The wal receiver and the slots need pg_monitor (pg_read_all_stats).
SERVER_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
       pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
       current_setting('transaction_read_only') = 'on' OR current_setting('default_transaction_read_only') = 'on',
       current_setting('server_version_num')::int
"""
RECEIVER_SQL = "SELECT status, received_tli, flushed_lsn::text, sender_host, sender_port, slot_name FROM pg_stat_wal_receiver"
SLOTS_SQL = """
SELECT slot_name, active, restart_lsn::text, wal_status, safe_wal_size FROM pg_replication_slots
WHERE slot_type = 'physical' ORDER BY slot_name
"""
REPLICATION_SQL = "SELECT application_name, state, sent_lsn::text, replay_lsn::text, sync_state FROM pg_stat_replication ORDER BY application_name"


def read_server(pg):
    """What a server says about itself; reachable False (and the error) when it does not answer."""
    try:
        recovery, current, received, replayed, read_only, version = pg.query(SERVER_SQL)[0]
    except PostgresError as exc:
        return dict(where=pg.where, reachable=False, error=str(exc))
    facts = dict(
        where=pg.where,
        reachable=True,
        in_recovery=recovery,
        accepts_writes=not recovery and not read_only,
        current_lsn=current,
        received_lsn=received,
        replayed_lsn=replayed,
        server_version_num=version,
    )
    if recovery:
        rows = pg.query(RECEIVER_SQL)
        keys = ("status", "timeline", "flushed_lsn", "sender_host", "sender_port", "slot_name")
        facts["wal_receiver"] = dict(zip(keys, rows[0])) if rows else None
    else:
        facts["slots"] = [dict(zip(("name", "active", "restart_lsn", "wal_status", "safe_wal_size"), row)) for row in pg.query(SLOTS_SQL)]
        facts["replication"] = [dict(zip(("application_name", "state", "sent_lsn", "replay_lsn", "sync_state"), row)) for row in pg.query(REPLICATION_SQL)]
    return facts


def lag(primary, standby, old_primary_lsn=None):
    """Bytes the standby has not replayed of what the primary is known to have written: its own
    received-but-not-replayed WAL plus what the primary wrote and the standby never received."""
    received = parse_lsn(standby["received_lsn"]) if standby.get("received_lsn") else 0
    replayed = parse_lsn(standby["replayed_lsn"]) if standby.get("replayed_lsn") else 0
    known = [parse_lsn(value) for value in (primary.get("current_lsn"), old_primary_lsn) if value]
    ahead = max(known) if known else received
    return max(0, ahead - replayed), max(0, ahead - received)


def decide(primary, standby, max_lag_bytes, allow_lag, old_primary_lsn=None):
    """The decision: 'promote', or 'promoted' (done before: the standby writes, the primary does not).
    Refused, naming what is wrong, otherwise; the figures (lag, lag allowed) in `facts`."""
    facts = dict(lag_bytes=None, unreceived_bytes=None, max_lag_bytes=max_lag_bytes, lag_override=False)
    if not standby["reachable"]:
        raise Refused("no standby to promote: %s" % standby["error"], result=dict(decision=facts))
    if standby["in_recovery"]:
        # Measured first: a runbook that fences a live primary checks the lag before it stops anything.
        facts["lag_bytes"], facts["unreceived_bytes"] = lag(primary, standby, old_primary_lsn)
    if primary["reachable"] and primary["accepts_writes"]:
        if not standby["in_recovery"]:
            raise Refused(
                "both %s and %s accept writes (split brain): stop one before anything else" % (primary["where"], standby["where"]), result=dict(decision=facts)
            )
        raise Refused(
            "the primary at %s still accepts writes: promoting %s now would make two writable servers; fence the primary first"
            " (incident_zone_failover_fence: true stops its container)" % (primary["where"], standby["where"]),
            result=dict(decision=facts),
        )
    if not standby["in_recovery"]:
        return "promoted", facts
    behind = facts["lag_bytes"] or 0  # measured above: the standby is in recovery
    if behind > max_lag_bytes:
        if not allow_lag:
            raise Refused(
                "the standby at %s is %d bytes behind the primary's last known position (max_lag_bytes %d): promoting it loses them;"
                " allow_lag: true (incident_zone_failover_allow_lag) promotes anyway" % (standby["where"], behind, max_lag_bytes),
                result=dict(decision=facts),
            )
        facts["lag_override"] = True
    return "promote", facts
