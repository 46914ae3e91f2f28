# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Passwords as Odoo stores them: passlib's pbkdf2_sha512 string, `$pbkdf2-sha512$<rounds>$<salt>$<hash>`
(adapted base64), which Odoo verifies both for the master password (admin_passwd in odoo.conf) and for
users (res_users.password). Pure logic, no passlib needed, and no import of the collection: the test
workload image copies this file alone, so its refusals stay plain ValueErrors (the runner treats them alike)."""

import base64
import hashlib
import hmac
import os
import re

ROUNDS = 210000  # OWASP's figure for PBKDF2-HMAC-SHA512; Odoo verifies any round count
HASH_RE = re.compile(r"\A\$pbkdf2-sha512\$(\d+)\$([./A-Za-z0-9]+)\$([./A-Za-z0-9]+)\Z")


def _ab64_encode(raw):
    # passlib's "adapted base64": the standard alphabet with "." for "+", no padding
    return base64.b64encode(raw).decode().rstrip("=").replace("+", ".")


def _ab64_decode(text):
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password, salt=None, rounds=ROUNDS):
    """The pbkdf2_sha512 string of password; salt (16 bytes) random unless given."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt if salt is not None else os.urandom(16)
    checksum = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds)
    return "$pbkdf2-sha512$%d$%s$%s" % (rounds, _ab64_encode(salt), _ab64_encode(checksum))


def verify_password(password, stored):
    """Whether stored (a pbkdf2_sha512 string) is the hash of password."""
    found = HASH_RE.match(stored or "")
    if not found or not password:
        return False
    rounds, salt, checksum = int(found.group(1)), _ab64_decode(found.group(2)), _ab64_decode(found.group(3))
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds), checksum)


def master_password_hash(password, context):
    """The master password's hash for odoo.conf, its salt derived from the context (the fleet's name)
    and the password: re-rendering odoo.conf gives the same text (idempotent), and two fleets never
    share a hash."""
    if not password:
        raise ValueError("odoo_passwd_hash: the password is empty")
    salt = hashlib.sha256(("odoo_ops admin_passwd|%s|%s" % (context, password)).encode()).digest()[:16]
    return hash_password(password, salt)
