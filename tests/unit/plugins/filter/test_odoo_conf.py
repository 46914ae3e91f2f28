"""The odoo.conf filters: the master password hash Odoo verifies (checked with passlib, as Odoo
does), stable across renders and distinct across fleets; odoo_conf is the sizing model's renderer."""

import pytest
from passlib.context import CryptContext

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.odoo_conf import FilterModule, odoo_passwd_hash

ODOO_CONTEXT = CryptContext(["pbkdf2_sha512", "plaintext"], deprecated=["plaintext"])  # odoo/tools/config.py


def test_the_hash_verifies_as_odoo_checks_admin_passwd():
    hashed = odoo_passwd_hash("s3cret master", "shared1")
    assert hashed.startswith("$pbkdf2-sha512$210000$") and "s3cret" not in hashed
    assert ODOO_CONTEXT.identify(hashed) == "pbkdf2_sha512"
    assert ODOO_CONTEXT.verify("s3cret master", hashed) and not ODOO_CONTEXT.verify("s3cret", hashed)


def test_stable_for_a_fleet_distinct_across_fleets_and_refuses_empty():
    assert odoo_passwd_hash("pw", "shared1") == odoo_passwd_hash("pw", "shared1")  # idempotent renders
    assert odoo_passwd_hash("pw", "shared1") != odoo_passwd_hash("pw", "initech")
    with pytest.raises(ValueError, match="empty"):
        odoo_passwd_hash("", "shared1")


def test_odoo_conf_renders_options_in_a_stable_order():
    render = FilterModule().filters()["odoo_conf"]
    assert render({"workers": 2, "list_db": False, "dbfilter": "^%d$"}) == ("[options]\ndbfilter = ^%d$\nlist_db = False\nworkers = 2\n")
