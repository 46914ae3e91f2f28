# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for odoo.conf: odoo_conf (the [options] text, as odoo_fleet_plan renders it) and
odoo_passwd_hash (Odoo's master password, admin_passwd, as the hash Odoo verifies)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.passwords import master_password_hash
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import odoo_conf


def odoo_passwd_hash(password, context):
    """The passlib pbkdf2_sha512 string Odoo's config accepts for admin_passwd (see module_utils/odoo/passwords)."""
    return master_password_hash(password, context)


class FilterModule(object):
    def filters(self):
        return {"odoo_conf": odoo_conf, "odoo_passwd_hash": odoo_passwd_hash}
