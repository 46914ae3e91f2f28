# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters fleet_name_problem and tenant_name_problem: the collection's one naming rule of each
(module_utils/_common/validation), for roles and playbooks. Each returns '' when the name is valid,
else the message the modules give."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_fleet_name, check_tenant_name


def _problem(check, name):
    try:
        check(name)
    except ValueError as exc:
        return str(exc)
    return ""


def fleet_name_problem(name):
    return _problem(check_fleet_name, name)


def tenant_name_problem(name):
    return _problem(check_tenant_name, name)


class FilterModule(object):
    def filters(self):
        return {"fleet_name_problem": fleet_name_problem, "tenant_name_problem": tenant_name_problem}
