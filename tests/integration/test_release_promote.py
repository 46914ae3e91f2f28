"""playbooks/release_promote.yml on a real Odoo 18.0 server (../shared/odoo-18.0, issue #20): a fleet (one
Odoo process, dbfilter ^%d$, its addons folder a symlink the release switches) serves a dev and a UAT
tenant made by odoo_tenant from the session's `-i base` template. Releases are addons folders written
here: r1 installs two addons, r2 changes one of them (only that one is updated, by Odoo's own `-u`),
`broken` changes it again so that its update raises. Proven: the release recorded per tenant and per
environment; the UAT gate refusing a release dev has not run, and passing one it has (with the
evidence's date); a freeze window (a fixed instant) refusing with its name and end, and an override
recorded; the broken update rolled back - the tenant's tables equal to before, row for row, its
administrator logging in, the fleet back on the previous addons. Staging first: a neutralized copy of the
UAT tenant updated and smoke-tested on the new release's Odoo before UAT (passing, the copy dropped after);
a release failing there stops the promotion with the UAT tenant untouched (tables, metadata, no backup).
The tenant's active crons are off during its update and the same ones back on after it; its Traefik route
answers 503 (maintenance) during the update only, which a probe through Traefik measures (the downtime)
while its neighbour answers throughout. On demand,
release_rollback.yml puts the dev tenant back on the release before (r1) from the backup recorded with r2:
check mode prints the plan and changes nothing, no confirmation is refused, a re-run changes nothing."""

import json
import os
import subprocess

import pytest

from tests.harness import odoo_server
from tests.harness.http import post_json, request
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.playbook import VENV_BIN, run_tasks
from tests.harness.process import free_port, scratch_dirs
from tests.harness.services import PG_BIN, REPO_ROOT

FLEET, FLEET_PASSWORD = "rp_fleet", "rp-fleet-secret"
BUCKET = "release-promote"
DEV, UAT = "rpdev", "rpuat"

MANIFEST = "{'name': '%s', 'version': '%s', 'depends': ['base'], 'data': %r, 'license': 'LGPL-3', 'installable': True}\n"
MODEL = """from odoo import fields, models
from odoo.exceptions import UserError


class ReleaseProbe(models.Model):
    _name = "release.probe"
    _description = "Release probe"

    name = fields.Char(required=True)
%s
    def _fail_on_purpose(self):
        raise UserError("release probe: this update fails on purpose")
"""
ACCESS = "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\naccess_probe,probe,model_release_probe,base.group_user,1,1,1,1\n"
RECORD = '<odoo><record id="probe_%s" model="release.probe"><field name="name">%s</field></record></odoo>\n'
FAIL = '<odoo><function model="release.probe" name="_fail_on_purpose"/></odoo>\n'


def probe_addon(version, extra_field="", data=()):
    files = {
        "__init__.py": "from . import models\n",
        "models/__init__.py": "from . import probe\n",
        "models/probe.py": MODEL % extra_field,
        "security/ir.model.access.csv": ACCESS,
        "data/first.xml": RECORD % ("first", "first"),
    }
    files.update(data)
    files["__manifest__.py"] = MANIFEST % ("Release probe", version, ["security/ir.model.access.csv"] + sorted(k for k in files if k.startswith("data/")))
    return files


RELEASES = {
    "r1": {"release_probe": probe_addon("18.0.1.0"), "release_other": {"__init__.py": "", "__manifest__.py": MANIFEST % ("Other", "18.0.1.0", [])}},
    "r2": {
        "release_probe": probe_addon("18.0.1.1", "    note = fields.Char()\n", {"data/second.xml": RECORD % ("second", "second")}),
        "release_other": {"__init__.py": "", "__manifest__.py": MANIFEST % ("Other", "18.0.1.0", [])},
    },
}
RELEASES["broken"] = {
    "release_probe": probe_addon("18.0.1.2", "    note = fields.Char()\n", {"data/second.xml": RECORD % ("second", "second"), "data/zz_fail.xml": FAIL}),
    "release_other": RELEASES["r2"]["release_other"],
}


def write_release(root, name):
    for addon, files in RELEASES[name].items():
        for path, content in files.items():
            full = os.path.join(root, name, addon, path)
            os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
            with open(full, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(full, 0o644)
    return os.path.join(root, name)


@pytest.fixture(scope="module")
def world(harness, odoo_install, odoo_template, odoo_servers):
    """The session's `-i base` template (made once for every real-Odoo test), not sealed: other tests copy it."""
    state = harness.up("postgres", "s3", "traefik")
    pg, s3, traefik = state["postgres"], state["s3"], state["traefik"]
    template = odoo_template
    odoo_server.ensure_role(pg, FLEET, FLEET_PASSWORD)
    odoo_server.query(pg, "postgres", "GRANT %s TO %s" % (FLEET, pg["admin_user"]))
    odoo_server.query(pg, "postgres", "GRANT %s TO %s" % (template.role, pg["admin_user"]))  # to copy the unsealed template
    odoo_server.query(pg, "postgres", "GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO %s" % pg["admin_user"])
    s3_client(s3).create_bucket(Bucket=BUCKET)
    with scratch_dirs("odoo_ops-release-", mode=0o755) as (root,), scratch_dirs("odoo_ops-release-secrets-", mode=0o700) as (secrets,):
        for name in RELEASES:
            write_release(root, name)
        current = os.path.join(root, "current")
        os.symlink(os.path.join(root, "r1"), current)
        for folder in ("evidence", "reports"):
            os.makedirs(os.path.join(root, folder))
        fleet_tasks = os.path.join(root, "fleet.yml")
        with open(fleet_tasks, "w", encoding="utf-8") as handle:
            handle.write(
                "- name: The test fleet's addons folder onto the release\n"
                "  ansible.builtin.file:\n"
                '    src: "{{ release_promote_fleet_release.addons_path[0] }}"\n'
                "    dest: %s\n    state: link\n    force: true\n" % current
            )
        server = odoo_servers(FLEET, FLEET_PASSWORD, dbfilter="^%d$", addons_path="%s,%s" % (odoo_install.addons_path, current))
        filestore = os.path.join(server.data_dir, "filestore")
        os.makedirs(filestore, exist_ok=True)
        odoo_server.chown_tree(server.data_dir, odoo_install.uid, odoo_install.gid)
        world = {"pg": pg, "s3": s3, "install": odoo_install, "server": server, "root": root, "secrets": secrets, "filestore": filestore, "traefik": traefik}
        # Both tenants routed through Traefik (the maintenance route and the downtime probe go through it).
        routes = [
            {
                "name": name,
                "hosts": ["%s.localhost" % name],
                "backend_url": "http://127.0.0.1:%d" % server.http_port,
                "websocket_url": "http://127.0.0.1:%d" % server.gevent_port,
            }
            for name in (DEV, UAT)
        ]
        traefik_settings = {"dynamic_dir": traefik["dynamic_dir"], "api_url": traefik["api_url"]}
        routed = run_tasks([{"sysgenpro.odoo_ops.traefik_route": dict(traefik_settings, **route)} for route in routes])
        assert not routed.failures, routed
        tenant_options = dict(login_options(pg), **s3_options(s3), owner=FLEET, filestore_root=filestore, filestore_owner=str(odoo_install.uid))
        made = run_tasks(
            [
                {
                    "sysgenpro.odoo_ops.odoo_tenant": dict(
                        tenant_options,
                        name=name,
                        template=template.name,
                        base_url="http://%s.localhost" % name,
                        source_filestore_root=os.path.join(template.data_dir, "filestore"),
                        admin_password_file=os.path.join(secrets, name),
                    )
                }
                for name in (DEV, UAT)
            ],
            timeout=600,
        )
        assert not made.failures and len(made.results) == 2, made
        user = ["runuser", "-u", odoo_install.user, "--"] if odoo_install.user else []
        environment = ["env"] + ["%s=%s" % item for item in sorted(odoo_install.env(root).items())]
        world["extra"] = {
            "release_promote_host": "localhost",
            "odoo_ops_postgres": login_options(pg),
            "odoo_ops_s3": s3_options(s3),
            "odoo_ops_environments": [{"name": "dev", "tier": 3, "tenants": [DEV]}, {"name": "uat", "tier": 2, "tenants": [UAT]}],
            "release_promote_evidence_dir": os.path.join(root, "evidence"),
            "release_promote_report_dir": os.path.join(root, "reports"),
            "release_promote_bucket": BUCKET,
            "release_promote_filestore_root": filestore,
            "release_promote_odoo_command": user + environment + odoo_install.argv(),
            "release_promote_odoo_config": server.conf,
            "release_promote_health_url": "http://127.0.0.1:%d" % server.http_port,
            "release_promote_fleet_tasks": fleet_tasks,
            "release_promote_tenant_options": {"owner": FLEET, "filestore_owner": str(odoo_install.uid)},
            "release_promote_health_retries": 15,
            "release_promote_confirm": True,
            "release_promote_restore_point": True,
            "odoo_ops_tenants": routes,
            "odoo_ops_traefik_dynamic_dir": traefik["dynamic_dir"],
            "odoo_ops_traefik_api_url": traefik["api_url"],
        }
        yield world


def release(world, name):
    path = os.path.join(world["root"], name)
    return {"image": "odoo:18.0", "addons_ref": name, "addons_path": [path]}


def promote(world, environment, name, check=False, **extra):
    variables = dict(
        world["extra"],
        release_promote_environment=environment,
        release_promote_release=release(world, name),
        release_promote_odoo_addons_path=[world["install"].addons_path, os.path.join(world["root"], name)],
        release_promote_previous_release=release(world, extra.pop("before", "r1")),
    )
    variables.update(extra)
    return playbook("playbooks/release_promote.yml", variables, check)


def playbook(path, variables, check=False):
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), path, "-e", json.dumps(variables)] + (["--check"] if check else [])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", PATH="%s:%s" % (PG_BIN, os.environ.get("PATH", "")))
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)


def sql(world, dbname, statement, args=None):
    return odoo_server.query(world["pg"], dbname, statement, args)


def metadata(world, name):
    rows = sql(world, "postgres", "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,))
    return json.loads(rows[0][0])


def evidence(world, environment):
    with open(os.path.join(world["root"], "evidence", "%s.json" % environment), encoding="utf-8") as handle:
        return json.load(handle)["runs"]


def newest_report(world, environment):
    reports = sorted(f for f in os.listdir(os.path.join(world["root"], "reports")) if f.startswith("release-%s-" % environment) and f.endswith(".json"))
    with open(os.path.join(world["root"], "reports", reports[-1]), encoding="utf-8") as handle:
        data = json.load(handle)
    with open(os.path.join(world["root"], "reports", reports[-1][: -len(".json")] + ".md"), encoding="utf-8") as handle:
        return data, handle.read()


def login(world, name):
    with open(os.path.join(world["secrets"], name), encoding="utf-8") as handle:
        secret = handle.read().strip()
    params = {"db": name, "login": "admin", "password": secret}
    _status, _cookie, answer = post_json(world["server"].http_port, "/web/session/authenticate", params, "%s.localhost" % name)
    return answer.get("result")


def modules(world, name):
    return dict(sql(world, name, "SELECT name, latest_version FROM ir_module_module WHERE name LIKE 'release_%%' AND state = 'installed'"))


def active_crons(world, name):
    return [i for (i,) in sql(world, name, "SELECT id FROM ir_cron WHERE active ORDER BY id")]


def staging(**extra):
    return dict(release_promote_staging=True, release_promote_staging_port=free_port(), **extra)


def database_exists(world, name):
    return sql(world, "postgres", "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)) == [(1,)]


def table_checksums(world, name):
    """{table: md5 of its rows in order} of every table of the tenant's public schema."""
    tables = [t for (t,) in sql(world, name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    found = {}
    for table in tables:
        found[table] = sql(world, name, "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM public.\"%s\" t" % table)[0]
    return found


def test_a_release_is_installed_then_only_the_changed_addon_updated_and_recorded(world):
    first = promote(world, "dev", "r1", release_promote_install=["release_probe", "release_other"])
    assert first.returncode == 0, first.stdout[-6000:]
    assert modules(world, DEV) == {"release_probe": "18.0.1.0", "release_other": "18.0.1.0"}
    r1 = metadata(world, DEV)["release"]
    assert r1["environment"] == "dev" and set(r1["checksums"]) == {"release_probe", "release_other"}, r1  # the release's addons only
    assert evidence(world, "dev")[0]["result"] == "succeeded" and evidence(world, "dev")[0]["release_id"] == r1["id"]
    assert login(world, DEV)["db"] == DEV

    # Check mode: the plan names only the changed addon, and nothing changes.
    planned = promote(world, "dev", "r2", check=True)
    assert planned.returncode == 0, planned.stdout[-6000:]
    assert "update %s with Odoo: -u release_probe" % DEV in planned.stdout and "release_other" not in planned.stdout.split("The plan", 1)[1].split("TASK", 1)[0]
    assert metadata(world, DEV)["release"]["id"] == r1["id"] and modules(world, DEV)["release_probe"] == "18.0.1.0"

    crons = active_crons(world, DEV)
    # The neighbour's registry loaded before the probe starts (its first request loads it: seconds, not downtime); a
    # request counts as failed after 30 s, a bound for this loaded 2-core machine (the test asserts failures, not latency).
    assert request(world["traefik"]["web_port"], "%s.localhost" % UAT, "/web/login", timeout=120)[0] == 200
    probe = {
        "release_promote_probe_url": world["traefik"]["web_url"],
        "release_promote_probe_neighbours": ["%s.localhost" % UAT],
        "release_promote_maintenance": True,
        "release_promote_probe_timeout": 30,
    }
    second = promote(world, "dev", "r2", **probe)
    assert second.returncode == 0, second.stdout[-6000:]
    assert active_crons(world, DEV) == crons
    assert modules(world, DEV) == {"release_probe": "18.0.1.1", "release_other": "18.0.1.0"}
    assert sql(world, DEV, "SELECT name FROM release_probe ORDER BY id") == [("first",), ("second",)]
    recorded = metadata(world, DEV)
    assert recorded["release_previous"]["id"] == r1["id"] and recorded["release"]["id"] != r1["id"]
    report, markdown = newest_report(world, "dev")
    assert report["passed"] and [t["update"] for t in report["tenants"]] == [["release_probe"]], report
    assert crons and report["tenants"][0]["crons_stopped"] == crons and report["staging"] == {}, report  # dev: no staging unless asked
    # The tenant was in maintenance (503 from Traefik) for its update, its neighbour answered throughout; routed again after.
    seen = {h["host"]: h for h in report["downtime"]["hosts"]}
    tenant, neighbour = seen["%s.localhost" % DEV], seen["%s.localhost" % UAT]
    assert report["maintenance"] == [DEV] and tenant["statuses"].get("503", 0) > 0 and tenant["downtime_seconds"] > 0, report["downtime"]
    assert neighbour["failed"] == 0 and neighbour["requests"] > 0 and "User-visible downtime" in markdown, report["downtime"]
    assert request(world["traefik"]["web_port"], "%s.localhost" % DEV, "/web/login", timeout=30)[0] == 200
    assert report["backups"][DEV].startswith("pre-release/%s/" % DEV) and "| %s |" % DEV in markdown
    assert report["restore_point"]["name"].startswith("release-%s-" % recorded["release"]["id"]) and "/" in report["restore_point"]["lsn"]
    assert os.readlink(os.path.join(world["root"], "current")) == os.path.join(world["root"], "r2")

    # The same release again: nothing to update, nothing recorded twice.
    options = dict(login_options(world["pg"]), environment="dev", evidence_dir=world["extra"]["release_promote_evidence_dir"], tenants=[DEV])
    again = run_tasks([{"sysgenpro.odoo_ops.odoo_release": dict(options, release=release(world, "r2"))}])
    assert again.results[-1]["changed"] is False and again.results[-1]["steps"] == [], again.results[-1]


def test_the_uat_gate_refuses_what_dev_has_not_run(world):
    before = metadata(world, UAT)
    refused = promote(world, "uat", "broken", before="r2")
    assert refused.returncode != 0
    assert "has not run successfully in dev" in refused.stdout and "release_promote_skip_gate_reason" in refused.stdout, refused.stdout[-4000:]
    assert metadata(world, UAT) == before
    report, _markdown = newest_report(world, "uat")
    assert report["outcome"] == "refused" and not report["backups"], report


def test_a_freeze_window_refuses_with_its_name_and_end_then_an_override_and_the_gate_pass(world):
    """The override is recorded; the gate passes with dev's evidence of the release and its date."""
    audit = {"name": "year-end audit", "reason": "auditors on site", "kind": "range", "timezone": "Europe/Berlin"}
    calendar = {"odoo_ops_freeze_windows": [dict(audit, start="2026-12-28T08:00", end="2027-01-08T18:00")], "release_promote_at": "2027-01-04T10:00:00+01:00"}
    frozen = promote(world, "uat", "r2", before="r2", **calendar)
    assert frozen.returncode != 0
    assert "year-end audit" in frozen.stdout and "2027-01-08T17:00:00Z" in frozen.stdout, frozen.stdout[-4000:]
    overridden = promote(
        world, "uat", "r2", before="r2", release_promote_override_reason="CFO approved hotfix", **staging(release_promote_install=["release_probe"], **calendar)
    )
    assert overridden.returncode == 0, overridden.stdout[-6000:]
    report, markdown = newest_report(world, "uat")
    # Staging first: the copy was updated on the new release and answered its smoke test, then dropped.
    staged = report["staging"]
    assert staged["result"] == "passed" and staged["source"] == UAT and staged["update_seconds"] > 0, staged
    assert [c["status"] for c in staged["smoke"]["checks"]] == [200, 200] and "staging first | passed:" in markdown, staged
    assert not database_exists(world, staged["copy"])
    assert report["freeze"]["overridden"] == "CFO approved hotfix" and "OVERRIDDEN (CFO approved hotfix)" in markdown
    assert report["gate"]["passed"] and report["gate"]["evidence"]["date"] == evidence(world, "dev")[0]["date"], report["gate"]
    assert "passed: ran succeeded in dev on" in markdown
    recorded = metadata(world, UAT)["release"]
    assert recorded["id"] == report["release"]["id"] and recorded["override_reason"] == "CFO approved hotfix", recorded


def test_a_failing_update_is_rolled_back_data_login_and_addons_back(world):
    sql(world, DEV, "INSERT INTO release_probe (name, create_uid, write_uid, create_date, write_date) VALUES ('customer data', 1, 1, now(), now())")
    before_tables = table_checksums(world, DEV)
    before_release = metadata(world, DEV)["release"]
    failed = promote(world, "dev", "broken", before="r2")
    assert failed.returncode != 0
    report, markdown = newest_report(world, "dev")
    assert report["outcome"] == "rolled_back", report
    # The broken data file stops Odoo's update (Odoo 18 fails it in convert.py: an IndexError): the report names the
    # step, Odoo's exception and its log from the first error on.
    assert report["failed_step"].startswith("Update") and "the module update of %s failed" % DEV in report["failed_step"], report["failed_step"]
    log = report["odoo_log"]
    assert "Error" in report["failed_step"].rsplit("s): ", 1)[1] and " ERROR " in log and "convert.py" in log, log
    assert table_checksums(world, DEV) == before_tables
    assert sql(world, DEV, "SELECT name FROM release_probe ORDER BY id") == [("first",), ("second",), ("customer data",)]
    back = metadata(world, DEV)
    assert back["release"]["id"] == before_release["id"] and back["rolled_back"]["release_id"] == report["release"]["id"], back
    assert sql(world, "postgres", "SELECT count(*) FROM pg_database WHERE datname = %s", (back["rolled_back"]["failed_database"],)) == [(1,)]
    assert os.readlink(os.path.join(world["root"], "current")) == os.path.join(world["root"], "r2")
    assert login(world, DEV)["db"] == DEV
    assert evidence(world, "dev")[0]["result"] == "rolled_back" and "rolled_back" in markdown


def test_a_release_failing_in_staging_stops_before_production_is_touched(world):
    """UAT runs r2 here; `broken` is pushed past the gate (recorded reason) and fails on UAT's staging copy."""
    before_tables, before_metadata = table_checksums(world, UAT), metadata(world, UAT)
    failed = promote(world, "uat", "broken", before="r2", release_promote_skip_gate_reason="hotfix test", **staging())
    assert failed.returncode != 0
    report, markdown = newest_report(world, "uat")
    assert report["outcome"] == "staging_failed" and not report["backups"] and not report["rollback"], report
    staged = report["staging"]
    assert staged["result"] == "failed" and staged["failed_step"] == "update %s" % staged["copy"], staged
    assert "the module update of %s failed" % staged["copy"] in staged["error"] and "convert.py" in report["odoo_log"], staged
    assert "FAILED on %s" % staged["copy"] in markdown and "production untouched" in markdown
    # Production untouched: tables row for row, metadata, no database kept or restored beside it; the copy kept.
    assert table_checksums(world, UAT) == before_tables and metadata(world, UAT) == before_metadata
    assert database_exists(world, staged["copy"]) and not database_exists(world, UAT + "_rollback")
    assert evidence(world, "uat")[0]["result"] == "failed" and evidence(world, "uat")[0]["skip_gate_reason"] == "hotfix test"
    assert login(world, UAT)["db"] == UAT


def test_release_rollback_puts_a_tenant_back_on_the_release_before(world):
    """dev runs r2 (its metadata: r1 before, and r2's pre-release backup); the rollback restores that backup."""
    now = metadata(world, DEV)
    r1, r2 = now["release_previous"]["id"], now["release"]["id"]
    backup = now["release"]["pre_release_backup"]
    assert backup["bucket"] == BUCKET and backup["key"].startswith("pre-release/%s/" % DEV), backup
    tables = table_checksums(world, DEV)
    variables = dict(world["extra"], release_rollback_tenants=[DEV], release_rollback_report_dir=world["extra"]["release_promote_report_dir"])
    variables.pop("release_promote_confirm")

    refused = playbook("playbooks/release_rollback.yml", variables)
    assert refused.returncode != 0 and "release_rollback_confirm=true" in refused.stdout, refused.stdout[-3000:]
    planned = playbook("playbooks/release_rollback.yml", variables, check=True)
    assert planned.returncode == 0 and "%s | %s | %s" % (DEV, r2, r1) in planned.stdout, planned.stdout[-4000:]
    assert metadata(world, DEV) == now and table_checksums(world, DEV) == tables

    variables["release_rollback_confirm"] = True
    done = playbook("playbooks/release_rollback.yml", variables)
    assert done.returncode == 0, done.stdout[-6000:]
    back = metadata(world, DEV)
    assert back["release"]["id"] == r1 and back["rolled_back"]["release_id"] == r2 and back["rolled_back"]["to"] == r1, back
    assert modules(world, DEV)["release_probe"] == "18.0.1.0" and sql(world, DEV, "SELECT name FROM release_probe ORDER BY id") == [("first",)]
    assert os.readlink(os.path.join(world["root"], "current")) == os.path.join(world["root"], "r1")
    assert login(world, DEV)["db"] == DEV
    reports = sorted(f for f in os.listdir(os.path.join(world["root"], "reports")) if f.startswith("release-rollback-") and f.endswith(".json"))
    with open(os.path.join(world["root"], "reports", reports[-1]), encoding="utf-8") as handle:
        report = json.load(handle)
    assert report["outcome"] == "rolled_back" and report["passed"] and report["rto_seconds"] > 0, report
    assert report["tenants"][0]["kept_as"] == back["rolled_back"]["failed_database"], report

    again = playbook("playbooks/release_rollback.yml", variables)
    assert again.returncode == 0 and "changed=0" in again.stdout.rsplit("PLAY RECAP", 1)[1], again.stdout[-4000:]
    assert metadata(world, DEV) == back
