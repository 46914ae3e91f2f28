# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for odoo.conf: odoo_conf (the [options] text, as odoo_fleet_plan renders it) and
odoo_passwd_hash (Odoo's master password, admin_passwd, as the hash Odoo verifies)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import odoo_conf

ROUNDS = 210000  # OWASP's figure for PBKDF2-HMAC-SHA512


def _ab64(raw):
    # passlib's "adapted base64": standard alphabet with "." for "+", no padding
    return base64.b64encode(raw).decode().rstrip("=").replace("+", ".")


def odoo_passwd_hash(password, context):
    """The passlib pbkdf2_sha512 string Odoo's config accepts for admin_passwd. The salt comes
    from the context (for example the fleet's name) and the password, so that re-rendering
    odoo.conf gives the same text (idempotent) while two fleets never share a hash."""
    if not password:
        raise ValueError("odoo_passwd_hash: the password is empty")
    salt = hashlib.sha256(("odoo_ops admin_passwd|%s|%s" % (context, password)).encode()).digest()[:16]
    checksum = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ROUNDS)
    return "$pbkdf2-sha512$%d$%s$%s" % (ROUNDS, _ab64(salt), _ab64(checksum))


class FilterModule(object):
    def filters(self):
        return {"odoo_conf": odoo_conf, "odoo_passwd_hash": odoo_passwd_hash}
