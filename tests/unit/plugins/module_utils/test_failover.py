"""The failover package's logic without servers: WAL positions, pg_controldata, the data lost, and the
decision (split brain, no standby, lag beyond the bound and its override); the failover report."""

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.decision import decide
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.lsn import data_lost, format_lsn, parse_controldata, parse_lsn, wal_segment
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.failover.promotion import old_primary_position
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import incident_markdown

CONTROLDATA = """pg_control version number:            1300
Database cluster state:               shut down
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's TimeLineID:       1
"""


def test_lsn_arithmetic_and_wal_files():
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848 and format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert wal_segment(1, parse_lsn("0/3000060")) == "000000010000000000000003"
    assert wal_segment(2, parse_lsn("1/FF000000")) == "0000000200000001000000FF"
    with pytest.raises(Refused, match="old_primary_lsn 'x/1' is not a WAL position"):
        parse_lsn("x/1", "old_primary_lsn")


def test_controldata_and_the_data_lost():
    assert parse_controldata(CONTROLDATA) == {"state": "shut down", "checkpoint_lsn": "0/3000060", "redo_lsn": "0/3000028", "timeline": 1}
    with pytest.raises(Refused, match="no 'Latest checkpoint location'"):
        parse_controldata("not pg_controldata")
    assert data_lost(None, "0/3000060", 1) == {"bytes": None, "wal_range": None, "known": False}
    assert data_lost("0/3000060", "0/30000D8", 1) == {"bytes": 0, "wal_range": None, "known": True}
    lost = data_lost("0/5000010", "0/3000060", 1)
    assert lost["bytes"] == 0x5000010 - 0x3000060 and lost["wal_range"]["first_segment"] == "000000010000000000000003"
    assert lost["wal_range"]["last_segment"] == "000000010000000000000005" and lost["wal_range"]["end"] == "0/5000010"
    # The newest of what is known: the live primary's position, the option, pg_control.
    assert old_primary_position({"old_primary_controldata": CONTROLDATA}, {"current_lsn": "0/2000000"}) == ("0/3000060", "pg_control (shut down)")
    assert old_primary_position({}, {}) == (None, None)


def server(where, **facts):
    base = {"where": where, "reachable": True, "in_recovery": False, "accepts_writes": True, "current_lsn": None, "received_lsn": None, "replayed_lsn": None}
    return dict(base, **facts)


STANDBY = server("s:2", in_recovery=True, accepts_writes=False, received_lsn="0/3000100", replayed_lsn="0/3000100")
DOWN = {"where": "p:1", "reachable": False, "error": "cannot connect"}


def test_decision_refuses_split_brain_no_standby_and_lag_unless_overridden():
    with pytest.raises(Refused, match="the primary at p:1 still accepts writes.*fence the primary first") as alive:
        decide(server("p:1", current_lsn="0/3000200"), STANDBY, 1024, False)
    assert alive.value.result["decision"]["lag_bytes"] == 0x100  # measured, so a runbook checks it before fencing
    with pytest.raises(Refused, match=r"both p:1 and s:2 accept writes \(split brain\)"):
        decide(server("p:1"), server("s:2"), 1024, False)
    with pytest.raises(Refused, match="no standby to promote: cannot connect"):
        decide(DOWN, dict(DOWN, where="s:2"), 1024, False)
    assert decide(DOWN, STANDBY, 1024, False) == ("promote", {"lag_bytes": 0, "unreceived_bytes": 0, "max_lag_bytes": 1024, "lag_override": False})
    with pytest.raises(Refused, match="s:2 is 1048320 bytes behind .* allow_lag: true") as refused:
        decide(DOWN, STANDBY, 1024, False, old_primary_lsn="0/3100000")
    assert refused.value.result["decision"]["unreceived_bytes"] == 1048320
    verdict, facts = decide(DOWN, STANDBY, 1024, True, old_primary_lsn="0/3100000")
    assert verdict == "promote" and facts["lag_override"] is True
    assert decide(DOWN, server("s:2"), 1024, False)[0] == "promoted"  # done before: nothing to do


def test_failover_report_renders_figures_and_the_step_log():
    text = incident_markdown(
        {
            "runbook": "zone_failover",
            "outcome": "failed over",
            "response_started": "t0",
            "old_primary": {"name": "pg", "where": "p:1", "state": "fenced (container stopped)", "last_lsn": "0/5000010", "lsn_source": "pg_control"},
            "new_primary": {"name": "pg-standby", "where": "s:2"},
            "decision": {"lag_bytes": 10, "max_lag_bytes": 1024, "lag_override": True},
            "switch": {"timeline": 2, "lsn": "0/3000060"},
            "data_loss": data_lost("0/5000010", "0/3000060", 1),
            "rto_seconds": 4.2,
            "phase_seconds": {"fenced": 1.5},
            "steps": [{"at": "t1", "step": "fenced", "detail": "pg stopped | x"}],
            "not_done": ["fleets not re-pointed"],
        }
    )
    assert "# Incident: zone failover - pg to pg-standby" in text and "| switch point | timeline 2 from 0/3000060 |" in text
    assert "| data lost | 33554352 bytes - WAL 0/3000060 to 0/5000010 (000000010000000000000003 to 000000010000000000000005) |" in text
    assert "(max 1024, OVERRIDDEN)" in text and "| t1 | fenced | pg stopped \\| x |" in text and "- fleets not re-pointed" in text


def test_module_refuses_bad_input_before_it_connects():
    from ansible_collections.sysgenpro.odoo_ops.plugins.modules import pg_failover
    from tests.unit.plugins.module_utils.test_module_contract import run_main

    # Port 1 answers nothing: each refusal comes before any connection.
    base = {"login_host": "127.0.0.1", "login_port": 1, "standby_port": 2}
    status, result = run_main(pg_failover.main, base)
    assert status == 1 and result["changed"] is False and result["msg"].endswith("confirm: true")
    status, result = run_main(pg_failover.main, dict(base, confirm=True, standby_port=0))
    assert status == 1 and result["msg"] == "standby_port 0 is not a port: give a number from 1 to 65535"
    status, result = run_main(pg_failover.main, dict(base, state="inspected", old_primary_lsn="yesterday"))
    assert status == 1 and "old_primary_lsn 'yesterday' is not a WAL position" in result["msg"]
    status, result = run_main(pg_failover.main, dict(base, confirm=True, wait_seconds=0))
    assert status == 1 and result["msg"] == "wait_seconds 0 must be 1-3600"


def test_credential_report_names_files_never_values():
    text = incident_markdown(
        {
            "runbook": "credential_compromise",
            "outcome": "rotated",
            "response_started": "t0",
            "since": "2026-12-01T08:00:00+00:00",
            "credentials": [
                {"role": "odoo_shared1", "rotated_at": "t1", "password_file": "/s/a", "sessions_terminated": 2, "proofs": {"old_password_refused": True}},
                {"role": "odoo_initech", "rotated_at": None, "password_file": "/s/odoo_initech", "sessions_terminated": 0, "proofs": {}},
            ],
            "steps": [{"at": "t1", "step": "role odoo_shared1", "detail": "set a new password"}],
            "not_done": ["fleets not re-pointed"],
        }
    )
    assert "| odoo_shared1 | t1 | /s/a | 2 | {'old_password_refused': True} |" in text
    assert "| odoo_initech | not rotated (done since) | /s/odoo_initech | 0 | {} |" in text and "- fleets not re-pointed" in text
