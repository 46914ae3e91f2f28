"""The real-Odoo harness (tests/harness/odoo_server.py) and what real Odoo 18.0 does with a database:
the tree found (or the reason it is not), the venv cached by its inputs, the session's template as
`-i base --without-demo=all` leaves it, and the odoo-bin commands the collection's backups mirror -
`db dump` (Odoo's zip and manifest), `db load` (restores as a copy) and `neutralize`."""

import contextlib
import json
import os
import shutil
import time
import zipfile

import pytest

from tests.conftest import TIMINGS
from tests.harness import odoo_server
from tests.harness.process import scratch_dirs


@pytest.fixture(scope="module", autouse=True)
def _real_odoo(odoo_source):  # pylint: disable=unused-argument
    """First of all: without an Odoo tree every test here skips (saying why) before any service starts."""


def test_the_tree_is_found_or_the_reason_given(odoo_source, monkeypatch, tmp_path):
    assert odoo_server.find_source() == (odoo_source, None)
    assert odoo_server.read_version(odoo_source) == {"version": "18.0-20250506", "major_version": "18.0", "version_info": [18, 0, 0, "final", 0, ""]}
    monkeypatch.setenv(odoo_server.SOURCE_ENV, str(tmp_path))
    tree, reason = odoo_server.find_source()
    assert tree is None and str(tmp_path) in reason and odoo_server.SOURCE_ENV in reason


def test_the_venv_is_cached_by_its_inputs(odoo_install, tmp_path):
    again = odoo_server.build_venv(odoo_install.tree)
    assert not again["built"] and again["path"] == odoo_install.venv["path"]  # from the cache: nothing built
    assert again["requirements"].endswith("requirements-debian12.txt")
    changed = tmp_path / "requirements.txt"
    shutil.copy(again["requirements"], changed)
    assert odoo_server.venv_key(str(changed)) == again["key"]
    with open(changed, "a", encoding="utf-8") as handle:
        handle.write("polib==1.1.1\n")
    assert odoo_server.venv_key(str(changed)) != again["key"]  # another requirements file: another venv
    owner = os.stat(odoo_install.venv["python"]).st_uid
    assert owner == 0 or owner == os.getuid()  # built from /usr/bin/python3, runnable by the Odoo user


def test_the_template_is_a_base_database_without_demo_data(odoo_template, harness):
    pg = harness.up("postgres")["postgres"]
    db = odoo_template.name

    def one(statement):
        return odoo_server.query(pg, db, statement)[0]

    assert one("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()") == (odoo_template.role,)
    assert odoo_server.query(pg, "postgres", "SELECT rolcreatedb, rolsuper FROM pg_roles WHERE rolname = %s", (odoo_template.role,)) == [(False, False)]
    assert one("SELECT count(*) FROM ir_module_module WHERE state = 'installed'") == (12,)
    assert one("SELECT latest_version, demo FROM ir_module_module WHERE name = 'base'") == ("18.0.1.3", False)
    assert one("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'") == (120,)
    assert one("SELECT count(*) FROM ir_config_parameter") == (10,)
    # 13 attachments, 12 with a file, 10 distinct files (the trimmed 18.0 tree; ODOO_FACTS says 12/11/9)
    assert one("SELECT count(*), count(store_fname), count(DISTINCT store_fname) FROM ir_attachment") == (13, 12, 10)
    files = {
        os.path.relpath(os.path.join(folder, name), os.path.join(odoo_template.data_dir, "filestore", db))
        for folder, _dirs, names in os.walk(os.path.join(odoo_template.data_dir, "filestore", db))
        for name in names
    }
    stored = {row[0] for row in odoo_server.query(pg, db, "SELECT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL")}
    assert stored <= files and len([f for f in files if not f.startswith("checklist/")]) == 10
    assert {f for f in files if f.startswith("checklist/")} == {"checklist/" + name for name in stored}
    # the signaling sequences a running worker checks on every request (odoo/modules/registry.py)
    assert [
        row[0]
        for row in odoo_server.query(pg, db, "SELECT sequence_name FROM information_schema.sequences WHERE sequence_name LIKE 'base%signaling%' ORDER BY 1")
    ] == [
        "base_cache_signaling_assets",
        "base_cache_signaling_default",
        "base_cache_signaling_groups",
        "base_cache_signaling_routing",
        "base_cache_signaling_templates",
        "base_registry_signaling",
    ]


def test_db_dump_load_and_neutralize(odoo_install, odoo_template, harness):
    """dump as the template's role (no CREATEDB needed); load creates its database, so as a role with CREATEDB."""
    pg = harness.up("postgres")["postgres"]
    role, password = "odoo_ops_real_loader", "odoo-ops-loader-secret"
    with scratch_dirs("odoo_ops-odoo-dump-") as (root,), contextlib.ExitStack() as cleanup:
        odoo_server.ensure_role(pg, role, password, createdb=True)
        cleanup.callback(odoo_server.query, pg, "postgres", 'DROP ROLE IF EXISTS "%s"' % role)
        data = odoo_install.folder(os.path.join(root, "data"))

        def conf(name, db_user, db_password):
            return odoo_server.write_conf(
                os.path.join(root, name), odoo_install.base_options(pg, db_user, db_password, data), odoo_install.uid, odoo_install.gid
            )

        dumper, loader = conf("dump.conf", odoo_template.role, odoo_template.password), conf("load.conf", role, password)
        cleanup.callback(odoo_server.drop_database, pg, "dumped")
        odoo_template.copy("dumped", data)
        dump = os.path.join(root, "dumped.zip")
        started = time.monotonic()
        done = odoo_install.db_dump(dumper, "dumped", dump, root)
        TIMINGS["odoo-bin db dump of a base database (s)"] = round(time.monotonic() - started, 2)
        assert done.returncode == 0
        with zipfile.ZipFile(dump) as archive:
            names = archive.namelist()
            manifest = json.loads(archive.read("manifest.json"))
        assert names[:2] == ["dump.sql", "manifest.json"] and all(n.startswith("filestore/") for n in names[2:])
        files = [n for n in names[2:] if not n.startswith("filestore/checklist/")]
        # the whole filestore folder, without a database level: its 10 files and their 10 checklist/ markers
        assert len(files) == 10 and sorted(names[2:]) == sorted(files + ["filestore/checklist/" + n[10:] for n in files])
        modules = manifest.pop("modules")
        # version is the full version string, not the series (the collection's odoo_manifest() writes "18.0")
        assert manifest == {
            "odoo_dump": "1",
            "db_name": "dumped",
            "version": "18.0-20250506",
            "version_info": [18, 0, 0, "final", 0, ""],
            "major_version": "18.0",
            "pg_version": "15.0",
        }
        assert len(modules) == 12 and modules["base"] == "18.0.1.3"

        cleanup.callback(odoo_server.drop_database, pg, "loaded")
        started = time.monotonic()
        done = odoo_install.db_load(loader, "loaded", dump, root)
        TIMINGS["odoo-bin db load of that dump (s)"] = round(time.monotonic() - started, 2)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

        def params(db):
            return dict(odoo_server.query(pg, db, "SELECT key, value FROM ir_config_parameter WHERE key IN ('database.uuid', 'database.secret')"))

        source, copy = params("dumped"), params("loaded")
        assert copy["database.uuid"] != source["database.uuid"] and copy["database.secret"] != source["database.secret"]
        assert os.path.isdir(os.path.join(data, "filestore", "loaded"))

        started = time.monotonic()
        done = odoo_install.neutralize(loader, "loaded", root)
        TIMINGS["odoo-bin neutralize (s)"] = round(time.monotonic() - started, 2)
        assert done.returncode == 0, done.stderr[-2000:]
        assert odoo_server.query(pg, "loaded", "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
        assert odoo_server.query(pg, "loaded", "SELECT smtp_host, smtp_port FROM ir_mail_server WHERE active") == [("invalid", 1025)]
        active_crons = odoo_server.query(
            pg, "loaded", "SELECT d.name FROM ir_cron c LEFT JOIN ir_model_data d ON d.model = 'ir.cron' AND d.res_id = c.id WHERE c.active"
        )
        assert active_crons == [("autovacuum_job",)], active_crons
