"""The module contract (_common): the runner, the error family, the plan shape, the option bounds.

Modules run here through their real main() with AnsibleModule reading its arguments as Ansible
passes them, and their JSON answer read from stdout."""

import contextlib
import io
import json
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils import _internal
from ansible.module_utils._internal import _traceback
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils import object_store, pgbackrest
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common import bounds, errors, module as runner, plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup import layout, restore as backup_restore
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo import database as odoo_database, filestore, sizing
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr import restore as pitr_restore
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres import client, database
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant import lifecycle
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik import api, file_route
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify import report
from ansible_collections.sysgenpro.odoo_ops.plugins.modules import odoo_fleet_plan

FLEETS = {"fleets": [{"name": "shared1", "tenants": ["acme"], "cpus": 2, "memory_mb": 4096}]}


def run_main(main, args, check_mode=False, tracebacks=()):
    """main() of a module with args as Ansible passes them: (exit status, the JSON result).
    tracebacks: the events Ansible is asked to show tracebacks for (ANSIBLE_DISPLAY_TRACEBACK)."""
    internal = {"_ansible_check_mode": check_mode, "_ansible_diff": False, "_ansible_tracebacks_for": list(tracebacks)}
    out = io.StringIO()
    # A module runs in its own process; here, where other tests have loaded controller code, the module
    # side is set per run: tracebacks as asked, warnings into the result (not the controller's display).
    wanted = mock.patch.object(_traceback, "_is_traceback_enabled", lambda event: event.name.lower() in tracebacks)
    module_side = mock.patch.object(_internal, "is_controller", False)
    with wanted, module_side, patch_module_args(dict(args, **internal)), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main()
    return stop.value.code, json.loads(out.getvalue())


def run_work(work, needs=(), not_as_root=None, tracebacks=(), **args):
    """run_module() of a small module (an int option `jobs` and a dict option) around work."""

    def main():
        module = basic.AnsibleModule(argument_spec=dict(jobs=dict(type="int"), nested=dict(type="dict")), supports_check_mode=True)
        runner.run_module(module, work, needs=needs, not_as_root=not_as_root)

    return run_main(main, args, tracebacks=tracebacks)


def test_every_expected_error_of_the_collection_is_one_family():
    expected = [
        client.PostgresError,
        object_store.S3Error,
        pgbackrest.PgBackRestError,
        pitr_restore.RestoreFailed,
        api.TraefikApiError,
        file_route.RouteFailed,
        filestore.FilestoreError,
        database.TenantBusy,
        sizing.PlanRefused,
        backup_restore.RestoreRefused,
        layout.SidecarRefused,
        lifecycle.StepFailed,
        odoo_database.NotAnOdooTable,
        report.CheckFailed,
        errors.Refused,
        errors.OperationFailed,
    ]
    assert all(issubclass(cls, errors.OdooOpsError) for cls in expected)
    # Refusals are ValueErrors too; what the collection ran and failed stays a RuntimeError.
    assert all(issubclass(cls, ValueError) for cls in (errors.Refused, sizing.PlanRefused, backup_restore.RestoreRefused, layout.SidecarRefused))
    assert all(issubclass(cls, RuntimeError) for cls in (errors.OperationFailed, database.TenantBusy, lifecycle.StepFailed))


def test_expected_error_fails_with_its_message_partial_report_and_changed_but_no_traceback():
    closed = []

    def work(resources):
        resources.callback(closed.append, "connection")
        raise errors.OperationFailed("pg_dump failed", result={"restored": True, "changed": False}, changed=True)

    status, result = run_work(work)
    assert status == 1 and result["failed"] is True and result["msg"] == "pg_dump failed"
    assert result["restored"] is True and result["changed"] is True and "exception" not in result
    assert closed == ["connection"]


@pytest.mark.parametrize("error", [ValueError("port 0 is not a port"), OSError(28, "No space left on device")])
def test_refusals_and_the_operating_systems_errors_are_expected_too(error):
    def work(resources):
        raise error

    status, result = run_work(work)
    assert status == 1 and result["msg"] == str(error) and result["changed"] is False and "exception" not in result


def test_a_programming_error_fails_with_its_traceback_and_resources_are_closed():
    closed = []

    def work(resources):
        resources.callback(closed.append, "server")
        return {}["missing"]

    status, result = run_work(work)
    assert status == 1 and result["msg"] == "KeyError: 'missing'" and result["changed"] is False
    # where Ansible is asked for tracebacks (ANSIBLE_DISPLAY_TRACEBACK=error), the error's own is there
    status, result = run_work(work, tracebacks=["error"])
    assert status == 1 and ", in work\\n" in json.dumps(result["exception"])
    assert closed == ["server", "server"]


def test_partial_report_goes_with_the_failure():
    found = {"backup_set": "20261123-120000F"}

    def work(resources):
        with runner.reporting(lambda: found):
            raise ValueError("target is in the future")

    status, result = run_work(work)
    assert status == 1 and result["backup_set"] == "20261123-120000F" and result["msg"] == "target is in the future"


def test_missing_library_is_named_with_missing_required_lib(monkeypatch):
    monkeypatch.setitem(runner.LIBRARIES, "psycopg2", "odoo_ops_no_such_module")
    status, result = run_work(lambda resources: pytest.fail("work ran without its library"), needs=["psycopg2"], tracebacks=["error"])
    assert status == 1 and "Failed to import the required Python library (psycopg2)" in result["msg"] and "ModuleNotFoundError" in result["exception"]


def test_root_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    status, result = run_work(lambda resources: pytest.fail("work ran as root"), not_as_root=("pg_pitr_tenant", None))
    assert status == 1 and result["msg"] == "run pg_pitr_tenant as the PostgreSQL OS user (become_user: postgres), not root"
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    assert run_work(lambda resources: plan.Plan().result(), not_as_root=("pg_pitr_tenant", None))[0] == 0


def test_warnings_of_the_result_reach_ansible():
    status, result = run_work(lambda resources: dict(plan.Plan().result(), warnings=["watch out"]))
    assert status == 0 and "watch out" in json.dumps(result["warnings"]) and "warnings" not in result["diff"]


@pytest.mark.parametrize(
    "args, message",
    [
        ({"jobs": 0}, "jobs 0 must be at least 1 (jobs must be 1-64)"),
        ({"jobs": 65}, "jobs 65 must be at most 64 (jobs must be 1-64)"),
        ({"nested": {"jobs": 0}}, "nested.jobs 0 must be at least 1 (nested.jobs must be 1-64)"),
        ({"nested": {"sub": [{"part_size_mb": 4}]}}, "nested.sub[0].part_size_mb 4 must be at least 5 (nested.sub[0].part_size_mb must be 5-1024)"),
    ],
)
def test_one_bound_per_idea_wherever_the_option_is(args, message):
    status, result = run_work(lambda resources: pytest.fail("work ran with a value out of bounds"), **args)
    assert status == 1 and message in result["msg"] and "exception" not in result


def test_bounds_accept_what_lies_within():
    bounds.check_bounds({"jobs": 64, "compress_level": 0, "upload_concurrency": None, "nested": {"jobs": 1}})
    with pytest.raises(errors.Refused):
        bounds.check_bounds({"jobs": True})  # a bool is not a count


def test_plan_shape():
    assert plan.Plan(before={"a": 1}).result() == {"changed": False, "steps": [], "diff": {"before": {"a": 1}, "after": {"a": 1}}}
    shaped = plan.Plan(before={}, after={"a": 2}, steps=["set a"], report={"a": 2}).result()
    assert shaped == {"a": 2, "changed": True, "steps": ["set a"], "diff": {"before": {}, "after": {"a": 2}}}
    assert set(plan.PLAN_KEYS) <= set(shaped)


def test_odoo_fleet_plan_check_mode_returns_the_keys_of_a_real_run():
    real_status, real = run_main(odoo_fleet_plan.main, FLEETS)
    check_status, check = run_main(odoo_fleet_plan.main, FLEETS, check_mode=True)
    assert real_status == check_status == 0
    assert set(check) == set(real) and set(plan.PLAN_KEYS) <= set(real)
    assert check["fleets"] == real["fleets"] and real["changed"] is False and real["steps"] == []


def test_odoo_fleet_plan_refusal_is_a_message_without_traceback():
    status, result = run_main(odoo_fleet_plan.main, {"fleets": [dict(FLEETS["fleets"][0], cpus=0)], "postgres_clusters": {"main": {"max_connections": "x"}}})
    assert status == 1 and "needs an integer max_connections" in result["msg"] and "exception" not in result


def test_a_library_needed_by_one_option_only_is_a_refusal_naming_the_option(monkeypatch):
    runner.require_library("botocore", "filestore_root")  # installed here: nothing to refuse
    monkeypatch.setitem(runner.LIBRARIES, "botocore", "odoo_ops_no_such_module")
    with pytest.raises(errors.Refused, match=r"^filestore_root needs the Python library boto3 \(botocore\) on the host that runs the module$"):
        runner.require_library("botocore", "filestore_root")
