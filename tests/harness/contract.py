"""The module contract as the tests check it: a check-mode result has the plan keys of a real run."""

# The keys every module result carries (plugins/module_utils/_common/plan.py, PLAN_KEYS).
PLAN_KEYS = ("changed", "steps", "diff")


def assert_same_plan_keys(check, real, all_keys=False):
    """check (a check-mode result) and real (a real run's) both have the plan keys, their diffs the same
    keys; all_keys: every result key alike (modules whose check mode knows everything a run reports)."""
    for result in (check, real):
        assert not result.get("failed"), result.get("msg", result)
        assert set(PLAN_KEYS) <= set(result), sorted(result)
        assert isinstance(result["steps"], list) and all(isinstance(step, str) for step in result["steps"]), result["steps"]
    assert type(check["diff"]) is type(real["diff"])
    if isinstance(real["diff"], dict):
        assert set(check["diff"]) == set(real["diff"]), (sorted(check["diff"]), sorted(real["diff"]))
    if all_keys:
        assert set(check) == set(real), sorted(set(check) ^ set(real))
