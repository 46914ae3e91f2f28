"""The release model and the promotion's gates (module_utils/release/model), and its report."""

import datetime
import json
import os

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.reports import release_report
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.release.model import (
    Evidence,
    addons_checksums,
    addons_to_update,
    freeze_gate,
    gate,
    release_model,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.release.promote import failure_excerpt, failure_summary

DIGEST = "sha256:" + "ab" * 32


def addon(root, name, files):
    for path, content in files.items():
        full = os.path.join(root, name, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(content)


@pytest.fixture
def addons(tmp_path):
    root = str(tmp_path / "addons")
    addon(root, "sale_custom", {"__manifest__.py": "{'name': 'x', 'version': '1.0'}", "models/sale.py": "A = 1\n"})
    addon(root, "stock_custom", {"__manifest__.py": "{'name': 'y'}", "__init__.py": ""})
    os.makedirs(os.path.join(root, "not_an_addon"))
    return root


def test_checksums_follow_content_not_byte_code_or_file_times(addons):
    first = addons_checksums([addons])
    assert sorted(first) == ["sale_custom", "stock_custom"]  # a folder without __manifest__.py is no addon
    os.makedirs(os.path.join(addons, "sale_custom", "models", "__pycache__"))
    with open(os.path.join(addons, "sale_custom", "models", "__pycache__", "sale.cpython-311.pyc"), "wb") as handle:
        handle.write(b"byte code")
    os.utime(os.path.join(addons, "sale_custom", "models", "sale.py"), (1, 1))
    assert addons_checksums([addons]) == first
    addon(addons, "sale_custom", {"models/sale.py": "A = 2\n"})
    changed = addons_checksums([addons])
    assert changed["sale_custom"] != first["sale_custom"] and changed["stock_custom"] == first["stock_custom"]


def test_the_first_folder_wins_for_an_addon_found_twice(tmp_path, addons):
    other = str(tmp_path / "other")
    addon(other, "sale_custom", {"__manifest__.py": "{'name': 'shadowed'}"})
    assert addons_checksums([addons, other])["sale_custom"] == addons_checksums([addons])["sale_custom"]
    assert addons_checksums([other, addons])["sale_custom"] != addons_checksums([addons])["sale_custom"]


def test_release_id_names_the_digest_and_the_checksums(addons):
    by_tag = release_model({"image": "odoo:18.0", "addons_path": [addons], "addons_ref": "v1"})
    assert by_tag["addons_ref"] == "v1" and len(by_tag["id"]) == 16
    assert release_model({"image": "odoo:18.0", "addons_path": [addons], "addons_ref": "renamed"})["id"] == by_tag["id"]  # a ref is a name only
    pinned = release_model({"image": "odoo:18.0", "image_digest": DIGEST, "addons_path": [addons]})
    assert pinned["id"] != by_tag["id"]
    assert release_model({"image": "registry/odoo:other-tag", "image_digest": DIGEST, "addons_path": [addons]})["id"] == pinned["id"]
    addon(addons, "stock_custom", {"__init__.py": "# changed\n"})
    assert release_model({"image": "odoo:18.0", "image_digest": DIGEST, "addons_path": [addons]})["id"] != pinned["id"]


@pytest.mark.parametrize(
    "spec, problem",
    [
        ({"addons_path": []}, "release.image is required"),
        ({"image": "odoo:18.0", "image_digest": "latest"}, "is not an image digest"),
        ({"image": "odoo:18.0", "addons_path": ["relative/addons"]}, "absolute folders"),
        ({"image": "odoo:18.0", "addons_path": ["/nonexistent/addons"]}, "is not a folder"),
        ({"image": "odoo:18.0", "addon_path": ["/srv"]}, "unknown fields: addon_path"),
    ],
)
def test_bad_releases_are_refused_naming_the_field(spec, problem):
    with pytest.raises(Refused, match=problem):
        release_model(spec)


def test_only_installed_addons_whose_checksum_changed_are_updated():
    recorded = {"sale_custom": "a", "stock_custom": "b", "hr_custom": "c"}
    release = {"sale_custom": "a2", "stock_custom": "b", "hr_custom": "c2", "new_custom": "n"}
    installed = ["base", "sale_custom", "stock_custom"]
    assert addons_to_update(recorded, release, installed) == (["sale_custom"], [])
    assert addons_to_update(None, release, installed) == (["sale_custom", "stock_custom"], [])  # nothing recorded: all of them
    assert addons_to_update(recorded, release, installed, update_all=True) == (["sale_custom", "stock_custom"], [])
    assert addons_to_update(recorded, release, installed, install=["new_custom", "stock_custom"]) == (["sale_custom"], ["new_custom"])
    with pytest.raises(Refused, match="does not have: missing"):
        addons_to_update(recorded, release, installed, install=["missing"])


def release(rid="r1"):
    return {"id": rid, "image": "odoo:18.0", "image_digest": None, "addons_ref": "v1"}


def test_the_gate_needs_a_successful_run_in_the_previous_environment(tmp_path):
    store = Evidence(str(tmp_path))
    with pytest.raises(Refused, match="has not run successfully in dev: there is no recorded run there at all"):
        gate(store, "dev", release())
    at = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.timezone.utc)
    store.record(store.entry("dev", release(), "rolled_back", ["acme_dev"], at=at))
    with pytest.raises(Refused, match="it last ran release r1 there on 2026-12-01T09:00:00Z: rolled_back"):
        gate(store, "dev", release())
    skipped = gate(store, "dev", release(), skip_gate_reason="hotfix for ticket 4711")
    assert skipped["passed"] is False and skipped["skipped_reason"] == "hotfix for ticket 4711"
    store.record(store.entry("dev", release(), "succeeded", ["acme_dev"], at=at + datetime.timedelta(hours=1)))
    passed = gate(store, "dev", release())
    assert passed["passed"] and passed["evidence"]["date"] == "2026-12-01T10:00:00Z"
    with pytest.raises(Refused, match="release r2"):
        gate(store, "dev", release("r2"))  # another release's success does not count
    assert gate(store, None, release("r2"))["passed"]  # the first tier has no gate
    assert store.recorded("dev", "r1", "succeeded", ["acme_dev"]) and not store.recorded("dev", "r1", "succeeded", ["other"])


def test_evidence_is_bounded_and_unreadable_evidence_refused(tmp_path):
    store = Evidence(str(tmp_path))
    for index in range(205):
        store.record(store.entry("dev", release("r%d" % index), "succeeded", ["t"]))
    runs = store.runs("dev")
    assert len(runs) == 200 and runs[0]["release_id"] == "r204"
    with open(store.path("uat"), "w", encoding="utf-8") as handle:
        handle.write("{not json")
    with pytest.raises(Refused, match="is not JSON"):
        gate(store, "uat", release())
    with pytest.raises(Refused, match="not a valid environment name"):
        store.path("../prod")


WINDOWS = [
    {"name": "month-end close", "reason": "books", "kind": "month_end", "timezone": "Europe/Berlin", "last_business_days": 2, "first_business_days": 1},
    {"name": "acme payroll", "reason": "salaries", "kind": "payroll", "tenants": ["acme"], "day_of_month": 15, "duration_hours": 24},
]


def test_the_freeze_gate_names_the_window_and_its_end():
    with pytest.raises(Refused) as refused:
        freeze_gate(WINDOWS, ["acme", "globex"], at="2026-12-31T10:00:00+01:00")
    message = str(refused.value)
    assert "acme: month-end close (books) until 2027-01-01T23:00:00Z" in message and "globex: month-end close" in message
    overridden = freeze_gate(WINDOWS, ["acme"], at="2026-12-31T10:00:00+01:00", override_reason="approved by the CFO")
    assert overridden["frozen"] and overridden["overridden"] == "approved by the CFO"
    with pytest.raises(Refused, match="acme: acme payroll"):
        freeze_gate(WINDOWS, ["globex", "acme"], at="2026-12-15T12:00:00+00:00")
    assert freeze_gate(WINDOWS, ["globex"], at="2026-12-15T12:00:00+00:00")["frozen"] is False  # payroll is acme's


def test_the_report_is_rendered_by_the_shared_report_code():
    report = {
        "environment": "prod",
        "outcome": "rolled_back",
        "started": "2026-12-02T10:00:00+00:00",
        "finished": "2026-12-02T10:04:00+00:00",
        "release": {"id": "r2", "image": "odoo:18.0", "addons_ref": "v2"},
        "gate": {"previous_environment": "uat", "passed": False, "skipped_reason": "emergency | fix"},
        "freeze": {"frozen": False, "at": "2026-12-02T10:00:00Z"},
        "tenants": [{"name": "acme", "release_before": "r1", "update": ["sale_custom"], "install": [], "update_seconds": 4.2}],
        "backups": {"acme": "pre-release/acme/acme_x.zip"},
        "failed_step": "Update: the module update of acme failed",
        "rollback": "acme restored",
    }
    rendered = release_report(report)
    assert rendered["json"]["passed"] is False and json.dumps(rendered["json"])
    markdown = rendered["markdown"]
    assert "# Release promotion to prod: rolled_back" in markdown and "SKIPPED (uat): emergency \\| fix" in markdown
    assert "| acme | r1 | sale_custom |  | 4.2 | pre-release/acme/acme_x.zip | - |" in markdown


def test_the_report_says_staging_downtime_and_an_on_demand_rollback():
    base = {"environment": "prod", "started": "s", "finished": "f", "release": {"id": "r2"}, "tenants": []}
    failed = release_report(
        dict(
            base,
            outcome="staging_failed",
            staging={"result": "failed", "copy": "acme-release-staging", "source": "acme", "error": "the module update failed"},
        )
    )
    assert failed["json"]["passed"] is False
    assert "FAILED on acme-release-staging (copy of acme, kept): the module update failed - production untouched" in failed["markdown"]
    watched = {
        "seconds": 9.0,
        "interval": 0.2,
        "hosts": [{"host": "acme.x", "requests": 40, "failed": 20, "statuses": {"200": 20, "503": 20}, "downtime_seconds": 4.1}],
    }
    promoted = release_report(
        dict(
            base,
            outcome="promoted",
            maintenance=["acme"],
            downtime=watched,
            staging={"result": "passed", "copy": "c", "source": "acme", "update_seconds": 3.0, "smoke_seconds": 2.0},
        )
    )
    assert promoted["json"]["passed"] and "| staging first | passed: c (copy of acme) updated in 3.0 s, smoke test 2.0 s |" in promoted["markdown"]
    assert "| acme.x | 40 | 20 | 200: 20, 503: 20 | 4.1 |" in promoted["markdown"] and "during the update: acme" in promoted["markdown"]
    assert "| staging first | not run |" in release_report(dict(base, outcome="promoted"))["markdown"]
    rollback = release_report(
        {
            "kind": "rollback",
            "outcome": "rolled_back",
            "rto_seconds": 7.5,
            "tenants": [{"name": "acme", "release_now": "r2", "release_before": "r1", "backup": {"key": "pre-release/acme/k.zip"}, "kept_as": "acme_failed_x"}],
        }
    )
    assert rollback["json"]["passed"] and "# Release rollback (tenants): rolled_back" in rollback["markdown"]
    assert "| acme | r2 | r1 | pre-release/acme/k.zip | acme_failed_x |" in rollback["markdown"] and "7.5 s" in rollback["markdown"]


ODOO_FAILURE = """2026-12-07 19:31:12,086 6796 INFO ? odoo: Odoo version 18.0-20250506
2026-12-07 19:31:20,100 6796 INFO rpdev odoo.modules.loading: loading release_probe/data/zz_fail.xml
2026-12-07 19:31:20,200 6796 CRITICAL rpdev odoo.service.server: Failed to initialize database `rpdev`.
Traceback (most recent call last):
  File "/odoo/odoo/tools/convert.py", line 600, in parse
    self._tags[rec.tag](rec)
odoo.exceptions.UserError: release probe: this update fails on purpose
2026-12-07 19:31:27,600 6796 INFO rpdev odoo.sql_db: ConnectionPool(read/write;used=0/count=0/max=64): Closed 1 connections
"""


def test_a_failed_update_is_summarised_by_its_exception_not_by_the_shutdown_lines():
    assert failure_summary(ODOO_FAILURE) == "odoo.exceptions.UserError: release probe: this update fails on purpose"
    excerpt = failure_excerpt(ODOO_FAILURE)
    assert excerpt.startswith("2026-12-07 19:31:20,200 6796 CRITICAL") and "fails on purpose" in excerpt
    assert failure_excerpt("a\nb\nc", lines=2) == "b\nc" and failure_summary("") == "no output"
