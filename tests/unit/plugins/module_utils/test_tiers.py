"""The one tier policy, as modules read it and as roles and playbooks read it through the filter."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.tiers import scheduled_jobs as scheduled_jobs_filter
from ansible_collections.sysgenpro.odoo_ops.plugins.filter.tiers import tier_policy
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import LOCK_DAYS, scheduled_jobs, tier, verification_policy


def test_every_tier_has_every_part_and_tier_1_alone_is_locked_and_drilled():
    for number in (1, 2, 3):
        policy = tier(number)
        assert sorted(policy) == ["cluster", "cluster_objectives", "drill_days", "jobs", "logical", "object_lock", "objectives", "verify_levels"]
        assert policy["objectives"]["rpo_seconds"] >= policy["logical"]["max_age"]  # an objective the backups can meet
        assert "full" in policy["cluster"]["schedule"] and policy["cluster"]["archive_timeout"] > 0
    assert tier(1)["object_lock"] == {"mode": "COMPLIANCE", "days": LOCK_DAYS} and tier(2)["object_lock"] is None
    assert tier(1)["drill_days"] == 7 and tier(3)["drill_days"] is None
    # lock days cover the daily and weekly retention classes
    assert LOCK_DAYS >= tier(1)["logical"]["daily"] + 7 * tier(1)["logical"]["weekly"]


def test_copies_cannot_change_the_policy_and_overrides_apply_only_when_given():
    tier(1)["logical"]["max_age"] = 1
    assert tier(1)["logical"]["max_age"] == 26 * 3600
    policy = verification_policy(2, {"max_age": 60, "daily": None, "object_lock": None})
    assert policy["max_age"] == 60 and policy["daily"] == 7 and policy["object_lock"] is False


@pytest.mark.parametrize("bad", [0, 4, "x", None, "1\n"])
def test_the_filter_reads_the_same_policy_and_names_a_bad_tier(bad):
    assert tier_policy("1") == tier(1)
    with pytest.raises(AnsibleFilterError, match="is not a service tier"):
        tier_policy(bad)


def test_scheduled_jobs_follow_the_tier_restore_level_on_its_cadence_and_the_drill_for_tier_1_only():
    jobs = scheduled_jobs("main", 1, [{"name": "acme", "tier": 1}, {"name": "sandbox", "tier": 3}])
    ids = [job["id"] for job in jobs]
    assert ids == [
        "cluster_backup-full-main", "cluster_backup-diff-main",
        "tenant_backup-acme", "retention-acme", "verify_objects-acme", "verify_restore-acme", "dr_drill-acme",
        "tenant_backup-sandbox", "retention-sandbox", "verify_objects-sandbox",
    ]  # fmt: skip
    by_id = {job["id"]: job for job in jobs}
    assert by_id["cluster_backup-diff-main"]["cron"] == tier(1)["cluster"]["schedule"]["diff"]["cron"]
    assert by_id["cluster_backup-full-main"]["tenant"] == "" and by_id["cluster_backup-full-main"]["variant"] == "full"
    # the objective of a tenant backup is the tier's RPO (what backup_verify checks); of others, their period and a margin
    assert by_id["tenant_backup-acme"]["max_age"] == tier(1)["logical"]["max_age"] == 26 * 3600
    assert by_id["tenant_backup-sandbox"]["max_age"] == tier(3)["logical"]["max_age"]
    assert by_id["dr_drill-acme"]["max_age"] == tier(1)["drill_days"] * 86400 + 2 * 3600
    assert by_id["verify_objects-sandbox"]["cron"].endswith(" 0") and by_id["tenant_backup-acme"]["tenant"] == "acme"
    for job in jobs:
        assert job["max_age"] > 0 and len(job["cron"].split()) == 5 and job["on_calendar"]
    assert scheduled_jobs("", 2, []) == []
    # the filter gives roles the same list, and names what is wrong
    assert scheduled_jobs_filter([{"name": "acme", "tier": "1"}], "main", 1) == scheduled_jobs("main", 1, [{"name": "acme", "tier": 1}])
    with pytest.raises(AnsibleFilterError, match="scheduled_jobs: tier 9 is not a service tier"):
        scheduled_jobs_filter([{"name": "acme", "tier": 9}])
