# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shape of what a module reports: the plan it made, the same keys in check mode and in a real
run, so that a check-mode result says what the real run would return."""

# Every module's result carries these keys (beside its own): `changed`, `steps` (what the run does, or
# did, in order - empty when nothing is to be done) and `diff` (before and after, what --diff shows).
PLAN_KEYS = ("changed", "steps", "diff")


class Plan:
    """steps (labels, in order), the state before and after, a report (the module's own result keys)."""

    def __init__(self, before=None, after=None, steps=None, report=None):
        self.before = {} if before is None else before
        self.after = dict(self.before) if after is None else after
        self.steps = list(steps or ())
        self.report = dict(report or {})

    @property
    def changed(self):
        return bool(self.steps)

    def result(self, changed=None):
        """The module result: the report with the plan keys (changed defaults to: any step)."""
        return plan_result(self.report, self.changed if changed is None else changed, self.steps, self.before, self.after)


def plan_result(report, changed, steps, before, after):
    """A module result of the one shape: report's keys, then changed, steps and diff (before/after)."""
    result = dict(report)
    result.update(changed=bool(changed), steps=list(steps), diff=dict(before=before, after=after))
    return result
