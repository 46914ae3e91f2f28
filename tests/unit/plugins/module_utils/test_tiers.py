"""The one tier policy, as modules read it and as roles and playbooks read it through the filter."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.tiers import tier_policy
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import LOCK_DAYS, tier, verification_policy


def test_every_tier_has_every_part_and_tier_1_alone_is_locked_and_drilled():
    for number in (1, 2, 3):
        policy = tier(number)
        assert sorted(policy) == ["cluster", "cluster_objectives", "drill_days", "logical", "object_lock", "objectives", "verify_levels"]
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
