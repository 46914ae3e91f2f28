# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """The attributes every module of the collection shares: each module states only what differs
    (its check mode's details, a diff it shows) under its own attributes, which Ansible merges over these."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
    support: full
notes:
  - Every result has C(changed), C(steps) (what the run does or did, in order) and C(diff) (before and
    after), with the same keys in check mode as in a real run. An expected failure (bad input, a service's
    error) is reported with its message and no traceback; anything else with its traceback.
"""
