import datetime

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common import timestamps, validation
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo import database as odoo_db
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant import lifecycle as tenant


@pytest.mark.parametrize("name", ["acme", "a", "acme_build_2", "x" * 63, "acme-staging"])
def test_valid_tenant_ids(name):
    assert validation.check_tenant_name(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "1acme", "_acme", "acme-", "-acme", "acme.build", "x" * 64, None, "a b"])
def test_invalid_tenant_ids(name):
    with pytest.raises(ValueError, match="is not a valid tenant id"):
        validation.check_tenant_name(name)


def test_timestamps_need_a_zone():
    assert timestamps.parse_timestamp("2026-11-23T10:00:00Z", "t").utcoffset() == datetime.timedelta(0)
    assert timestamps.parse_timestamp("2026-11-23T10:00:00+01:00", "t").hour == 10
    with pytest.raises(ValueError, match="has no time zone"):
        timestamps.parse_timestamp("2026-11-23 10:00:00", "t")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        timestamps.parse_timestamp("yesterday", "t")


def test_batch_entries_override_task_defaults():
    params = {
        "name": None,
        "template": "golden",
        "source": None,
        "connection_limit": 10,
        "tier": None,
        "tenants": [
            {"name": "a", "connection_limit": None, "tier": 2, "template": None, "source": None},
            {"name": "b", "source": "a", "template": None, "connection_limit": 5},
        ],
    }
    first, second = tenant.tenant_params(params)
    assert (first["name"], first["connection_limit"], first["tier"], first["template"]) == ("a", 10, 2, "golden")
    assert (second["source"], second["template"], second["connection_limit"]) == ("a", None, 5)
    assert first["tenants"] is None
    assert tenant.tenant_params({"name": "solo", "tenants": None}) == [{"name": "solo", "tenants": None}]


def test_batch_rejects_duplicate_names():
    with pytest.raises(ValueError, match="lists a more than once"):
        tenant.tenant_params({"tenants": [{"name": "a"}, {"name": "a"}]})


def test_copy_resets_are_odoos_six_with_the_tenant_url():
    now = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)
    values = odoo_db.copy_reset_values("https://acme.test", now)
    assert sorted(values) == [
        "base.login_cooldown_after",
        "base.login_cooldown_duration",
        "database.create_date",
        "database.secret",
        "database.uuid",
        "web.base.url",
    ]
    assert values["web.base.url"] == "https://acme.test" and values["database.create_date"] == "2026-11-23 12:00:00"
    assert (values["base.login_cooldown_after"], values["base.login_cooldown_duration"]) == ("10", "60")
    assert values["database.uuid"] != odoo_db.copy_reset_values("https://acme.test", now)["database.uuid"]
