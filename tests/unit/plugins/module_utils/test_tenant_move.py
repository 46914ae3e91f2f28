"""A tenant move's naming rules (pure logic): a fleet's role, and the fleet a database's owner names;
hostile names are refused before anything is asked of PostgreSQL."""

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant.move import TenantMove, fleet_of_role, fleet_role


def test_a_fleet_role_and_back():
    assert fleet_role("globex-own") == "odoo_globex-own"
    assert fleet_of_role("odoo_shared1", "globex") == "shared1"


@pytest.mark.parametrize("role", ["initech", "odoo_", "odoo_Shared", 'odoo_x"; DROP DATABASE acme; --', "postgres"])
def test_an_owner_that_is_no_fleets_role_is_refused(role):
    with pytest.raises(Refused, match="globex"):
        fleet_of_role(role, "globex")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"name": "Globex", "fleet": "own"}, "not a valid tenant id"),
        ({"name": "globex", "fleet": "own/../x"}, "not a valid fleet name"),
        ({"name": "globex", "fleet": "own", "phase": "drop"}, "phase is 'drop'"),
    ],
)
def test_hostile_input_is_refused_before_any_query(params, message):
    class NoServer:
        def __getattr__(self, name):
            raise AssertionError("PostgreSQL asked before the input was checked")

    with pytest.raises(Refused, match=message):
        TenantMove(NoServer(), dict({"phase": "prepare"}, **params))
