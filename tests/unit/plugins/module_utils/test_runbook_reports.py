"""The runbooks' reports: judged and rendered in Python by the same code as backup_verify's."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.reports import drill_report
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import incident_markdown

OBJECTIVES = {1: {"rto_seconds": 3600, "rpo_seconds": 93600}, "2": {"rto_seconds": 14400, "rpo_seconds": 93600}}
CLUSTER = {"rto_seconds": 3600, "rpo_seconds": 300}


def tenant(name, tier, verified=True, rto=12.5, rpo=600, failed=()):
    return {
        "kind": "tenant",
        "item": {"name": name, "tier": tier},
        "subjects": [name],
        "verified": verified,
        "figures": {name: {"restore_seconds": rto, "backup_age_seconds": rpo, "backup": "odoo/%s/x.zip" % name}},
        "checks": [{"name": n, "ok": False} for n in failed] + [{"name": "objects.listing", "ok": True}],
        "msg": "backup verification of %s ..." % name,
    }


def test_verdicts_per_subject_against_the_tier_and_cluster_objectives():
    cluster = {"kind": "cluster", "subjects": ["main"], "verified": True, "figures": {"main": {"restore_seconds": 30.0, "backup_age_seconds": 400}}}
    results = [tenant("acme", 1), tenant("globex", "2", rto=20000), tenant("hooli", 1, verified=False, rto=None, failed=["objects.present"]), cluster]
    report = drill_report(results, OBJECTIVES, CLUSTER, "2026-12-02T10:00:00+00:00", "2026-12-02T10:05:00+00:00")
    rows = {r["subject"]: r for r in report["json"]["subjects"]}
    assert rows["acme"]["objectives_met"] is True and rows["acme"]["verified"] is True and rows["acme"]["rto_seconds"] == 12.5
    assert rows["globex"]["objectives_met"] is False  # RTO over tier 2's objective
    assert rows["hooli"]["objectives_met"] is False and rows["hooli"]["failed_checks"] == ["objects.present"]
    assert rows["main"]["kind"] == "cluster" and rows["main"]["objectives_met"] is False  # RPO 400 > 300
    assert report["json"]["passed"] is False and report["json"]["failed"] == ["globex", "hooli", "main"]
    assert report["json"]["message"].startswith("globex, hooli, main failed the drill: ")
    assert "Verdict: **FAILED**" in report["markdown"] and "| acme | tenant | True | odoo/acme/x.zip | 12.5 (3600.0) |" in report["markdown"]
    passed = drill_report([tenant("acme", 1)], OBJECTIVES, CLUSTER, "s", "f")
    assert passed["json"]["passed"] is True and passed["json"]["message"] == "" and "Verdict: **PASSED**" in passed["markdown"]


def test_a_tier_without_objectives_is_named_and_cells_cannot_break_the_table():
    with pytest.raises(AnsibleFilterError, match="no RTO/RPO objectives for tier 3"):
        drill_report([tenant("acme", 3)], OBJECTIVES, CLUSTER, "s", "f")
    text = incident_markdown(
        {"tenant": "acme", "outcome": "failed | x\ny", "response_started": "t0", "target": "T", "rows_after_target": {"ticks": 4}, "rto_seconds": 5}
    )
    assert "| outcome | failed \\| x y |" in text and "- ticks: 4" in text
    assert "- none" in incident_markdown({"tenant": "a", "outcome": "restored", "response_started": "t", "target": "T"})
