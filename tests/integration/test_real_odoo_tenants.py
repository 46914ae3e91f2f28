"""The tenant operations on a real Odoo 18.0 server (../shared/odoo-18.0, issue #15), as a fleet runs
them: one Odoo server (dbfilter ^%d$, its role without CREATEDB) serves the tenants while the
collection creates them from a sealed template, changes their URL (seen without a restart), clones
one to a neutralized staging copy online (checked per installed module: no push keys, no enabled
payment provider, the banner on, mail only to the dummy server), suspends and resumes it, backs it up
and restores it (the company logo readable after a login), exchanges zips with Odoo's own `odoo-bin db
dump` / `db load`, verifies a backup by restoring it, and removes a tenant while the server runs (Odoo
never recreates it)."""

import os
import time

import pytest

from tests.harness import odoo_server
from tests.harness.http import post_json, request
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.playbook import run_tasks
from tests.harness.process import scratch_dirs

FLEET, FLEET_PASSWORD = "rt_fleet", "rt-fleet-secret"
TEMPLATE_ROLE = "rt_template"
BUCKET = "real-odoo"
# base, web, mail and payment (and what they pull in): modules whose own neutralize.sql matters.
MODULES = "base,web,mail,payment"


@pytest.fixture(scope="module")
def world(harness, odoo_install, odoo_templates, odoo_servers):
    state = harness.up("postgres", "s3")
    pg, s3 = state["postgres"], state["s3"]
    template = odoo_templates.get(TEMPLATE_ROLE, "rt-template-secret", modules=MODULES)
    odoo_server.ensure_role(pg, FLEET, FLEET_PASSWORD)
    odoo_server.query(pg, "postgres", "GRANT %s TO %s" % (FLEET, pg["admin_user"]))
    s3_client(s3).create_bucket(Bucket=BUCKET)
    server = odoo_servers(FLEET, FLEET_PASSWORD, dbfilter="^%d$")
    with scratch_dirs("odoo_ops-real-tenants-", mode=0o700) as (secrets,):
        data = {
            "pg": pg,
            "s3": s3,
            "install": odoo_install,
            "template": template,
            "server": server,
            "secrets": secrets,
            "filestore": os.path.join(server.data_dir, "filestore"),
        }
        odoo_server.chown_tree(server.data_dir, odoo_install.uid, odoo_install.gid)
        os.makedirs(data["filestore"], exist_ok=True)
        os.chown(data["filestore"], odoo_install.uid, odoo_install.gid)
        sealed = run(tenant(data, name=template.name, state="template", owner=None, filestore_root=os.path.join(template.data_dir, "filestore")))
        assert not sealed.get("failed"), sealed
        yield data


def tenant(world, **args):
    options = dict(login_options(world["pg"]), **s3_options(world["s3"]))
    options.update(owner=FLEET, filestore_root=world["filestore"], filestore_owner=str(world["install"].uid), odoo_addons_path=[world["install"].addons_path])
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_tenant": {k: v for k, v in options.items() if v is not None}}


def create(world, name, **args):
    options = dict(
        name=name,
        template=world["template"].name,
        base_url="http://%s.localhost" % name,
        source_filestore_root=os.path.join(world["template"].data_dir, "filestore"),
        admin_password_file=os.path.join(world["secrets"], name),
    )
    options.update(args)
    return tenant(world, **options)


def run(*tasks, **kwargs):
    result = run_tasks(list(tasks), timeout=600, **kwargs)
    assert result.results, result
    return result.results[-1]


def password(world, name):
    with open(os.path.join(world["secrets"], name), encoding="utf-8") as handle:
        return handle.read().strip()


def login(world, name, database=None, secret=None):
    """(session info or None, error name, session cookie) of Odoo's JSON-RPC login as the tenant's
    administrator through its host."""
    _status, cookie, answer = post_json(
        world["server"].http_port,
        "/web/session/authenticate",
        {"db": database or name, "login": "admin", "password": secret or password(world, name)},
        "%s.localhost" % name,
    )
    return answer.get("result"), (answer.get("error") or {}).get("data", {}).get("name"), (cookie or "").split(";")[0]


def sql(world, dbname, statement, args=None):
    return odoo_server.query(world["pg"], dbname, statement, args)


def test_created_from_the_sealed_template_served_and_logged_in(world):
    made = run(create(world, "rtacme"))
    assert made["changed"] and made["admin_login"] == "admin", made
    status, _headers, body = world["server"].request("/web/login", "rtacme.localhost")
    assert status == 200 and b"oe_login_form" in body
    info, error, _cookie = login(world, "rtacme")
    assert error is None and info["db"] == "rtacme" and info["web.base.url"] == "http://rtacme.localhost", info
    assert login(world, "rtacme", secret="admin")[1] == "odoo.exceptions.AccessDenied"  # never admin/admin
    assert sql(world, "rtacme", "SELECT count(*) FROM res_partner WHERE active") == [(2,)]  # no demo data
    assert sql(world, "rtacme", "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'") == [(FLEET,)]
    assert run(create(world, "rtacme"))["changed"] is False


def test_a_new_url_is_served_without_a_restart(world):
    started = world["server"].pid
    before, _error, _cookie = login(world, "rtacme")
    assert before["web.base.url"] == "http://rtacme.localhost"
    changed = run(create(world, "rtacme", base_url="https://erp.rtacme.test"))
    assert changed["changed"], changed
    after, _error, _cookie = login(world, "rtacme")
    assert after["web.base.url"] == "https://erp.rtacme.test" and world["server"].pid == started, after
    assert run(create(world, "rtacme", base_url="https://erp.rtacme.test"))["changed"] is False


def install_provider_credentials(world, db):
    """What installing a payment provider module (payment_stripe: its models are trimmed from the tree
    here) leaves in the database: its fields' columns on payment_provider, each field reflected in
    ir_model_fields with an xmlid in the module's name - and production's keys in them."""
    fields = ("stripe_publishable_key", "stripe_secret_key", "stripe_webhook_secret")
    for name in fields:
        sql(world, db, "ALTER TABLE payment_provider ADD COLUMN %s varchar" % name)
        sql(
            world,
            db,
            "WITH f AS (INSERT INTO ir_model_fields (model_id, model, name, ttype, field_description, state, store, copied) "
            "SELECT id, 'payment.provider', %s, 'char', '{\"en_US\": \"Key\"}'::jsonb, 'base', true, false FROM ir_model "
            "WHERE model = 'payment.provider' RETURNING id) INSERT INTO ir_model_data (module, name, model, res_id, noupdate) "
            "SELECT 'payment_stripe', 'field_payment_provider__' || %s, 'ir.model.fields', id, false FROM f",
            (name, name),
        )
    sql(
        world,
        db,
        "UPDATE payment_provider SET stripe_publishable_key = 'pk_live_production', stripe_secret_key = 'sk_live_production', "
        "stripe_webhook_secret = 'whsec_production' WHERE state = 'enabled'",
    )


def test_a_staging_copy_is_taken_online_neutralized_per_module_and_reachable(world):
    """A live tenant (the server holds pooled sessions on it) gets push keys, a push subscription, an
    enabled payment provider with its keys and a production mail server with its password; its staging
    copy has none of them live and keeps none of their secrets."""
    sql(
        world,
        "rtacme",
        "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date) "
        "VALUES ('mail.web_push_vapid_private_key', 'secret-private', 1, 1, now(), now()), "
        "('mail.web_push_vapid_public_key', 'secret-public', 1, 1, now(), now()) ON CONFLICT (key) DO NOTHING",
    )
    sql(
        world,
        "rtacme",
        "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, smtp_authentication, "
        "active, sequence) VALUES ('Production SMTP', 'smtp.example.com', 587, 'starttls', 'login', true, 1)",
    )
    sql(world, "rtacme", "UPDATE payment_provider SET state = 'enabled' WHERE id = (SELECT min(id) FROM payment_provider)")
    assert sql(world, "rtacme", "SELECT count(*) FROM payment_provider WHERE state = 'enabled'") == [(1,)]
    install_provider_credentials(world, "rtacme")
    sql(world, "rtacme", "UPDATE ir_mail_server SET smtp_user = 'billing', smtp_pass = 'smtp-secret' WHERE smtp_host = 'smtp.example.com'")
    assert login(world, "rtacme")[1] is None
    sessions = sql(world, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'rtacme'")[0][0]
    assert sessions > 0  # a live tenant: Odoo keeps pooled connections
    staging = run(
        tenant(
            world,
            name="rtacmestg",
            source="rtacme",
            neutralize=True,
            tier=3,
            base_url="http://rtacmestg.localhost",
            admin_password_file=os.path.join(world["secrets"], "rtacmestg"),
        )
    )
    assert staging["changed"] and staging["strategy"] == "dump" and staging["origin"]["sessions_cut"] == 0, staging
    assert any(step.endswith("mail/data/neutralize.sql") for step in staging["neutralized"]), staging["neutralized"]
    db = "rtacmestg"
    assert sql(world, db, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
    assert sql(world, db, "SELECT count(*) FROM ir_config_parameter WHERE key LIKE 'mail.web_push_vapid%%'") == [(0,)]
    assert sql(world, db, "SELECT count(*) FROM payment_provider WHERE state NOT IN ('test', 'disabled')") == [(0,)]
    # Odoo's own scripts leave the accounts' secrets; the copy keeps none of them.
    assert sql(world, db, "SELECT count(*) FROM payment_provider WHERE stripe_secret_key IS NOT NULL OR stripe_webhook_secret IS NOT NULL") == [(0,)]
    assert sql(world, db, "SELECT count(*) FROM payment_provider WHERE stripe_publishable_key IS NOT NULL") == [(0,)]
    assert sql(world, db, "SELECT count(*) FROM ir_mail_server WHERE smtp_pass IS NOT NULL") == [(0,)]
    assert any(step.startswith("payment_provider: credentials emptied") for step in staging["neutralized"]), staging["neutralized"]
    assert sql(world, db, "SELECT smtp_host FROM ir_mail_server WHERE active") == [("invalid",)]
    assert sql(world, db, "SELECT active FROM ir_ui_view WHERE key = 'web.neutralize_banner'") == [(True,)]
    assert sql(
        world,
        db,
        "SELECT count(*) FROM ir_cron WHERE active AND id NOT IN (SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND name = 'autovacuum_job')",
    ) == [(0,)]
    # Production keeps all of it, and its sessions were never cut.
    assert sql(world, "rtacme", "SELECT count(*) FROM payment_provider WHERE state = 'enabled'") == [(1,)]
    assert sql(world, "rtacme", "SELECT count(*) FROM ir_config_parameter WHERE key LIKE 'mail.web_push_vapid%%'") == [(2,)]
    assert sql(world, "rtacme", "SELECT count(*) FROM payment_provider WHERE stripe_secret_key = 'sk_live_production'") == [(1,)]
    assert sql(world, "rtacme", "SELECT smtp_pass FROM ir_mail_server WHERE smtp_host = 'smtp.example.com'") == [("smtp-secret",)]
    # The copy is reachable on its own host through the same fleet (dbfilter ^%d$), its banner served.
    status, _headers, body = world["server"].request("/web/login", "rtacmestg.localhost")
    assert status == 200 and b"oe_login_form" in body
    info, error, _cookie = login(world, "rtacmestg")
    assert error is None and info["db"] == "rtacmestg"
    assert run(tenant(world, name="rtacmestg", source="rtacme", neutralize=True, tier=3, base_url="http://rtacmestg.localhost"))["changed"] is False


def test_suspend_then_resume_on_a_running_server(world):
    assert run(tenant(world, name="rtacmestg", state="suspended"))["changed"]
    status, headers, _body = world["server"].request("/web/login", "rtacmestg.localhost")
    assert status == 303 and "/web/database/selector" in headers.get("location", ""), (status, headers)
    assert run(tenant(world, name="rtacmestg"))["changed"]
    assert world["server"].request("/web/login", "rtacmestg.localhost")[0] == 200


def test_backup_restore_then_login_and_the_logo_is_readable(world):
    made = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                login_options(world["pg"]), **s3_options(world["s3"]), name="rtacme", bucket=BUCKET, filestore_root=world["filestore"]
            )
        }
    )
    assert made["changed"], made
    restored = run(
        tenant(
            world,
            name="rtback",
            from_backup={"bucket": BUCKET, "key": made["key"]},
            base_url="http://rtback.localhost",
            admin_password_file=os.path.join(world["secrets"], "rtback"),
        )
    )
    assert restored["changed"] and restored["origin"]["authenticated"], restored
    info, error, cookie = login(world, "rtback")
    assert error is None and info["db"] == "rtback"
    status, headers, body = request(world["server"].http_port, "rtback.localhost", "/web/image/res.company/1/logo", headers={"Cookie": cookie})
    assert status == 200 and headers["content-type"].startswith("image/") and len(body) > 100, (status, headers)
    world["backup"] = made


def test_zips_exchanged_with_odoos_own_db_dump_and_load(world):
    install, server = world["install"], world["server"]
    with scratch_dirs("odoo_ops-real-zip-") as (work,):
        install.folder(work)
        dumped = os.path.join(work, "odoo-made.zip")
        done = install.db_dump(server.conf, "rtacme", dumped, work)
        assert done.returncode == 0, done.stderr
        s3_client(world["s3"]).upload_file(dumped, BUCKET, "imports/rtacme_odoo.zip")
        imported = run(
            tenant(
                world,
                name="rtimport",
                base_url="http://rtimport.localhost",
                from_backup={"bucket": BUCKET, "key": "imports/rtacme_odoo.zip", "allow_unsigned": True},
                admin_password_file=os.path.join(world["secrets"], "rtimport"),
            )
        )
        assert imported["changed"] and imported["origin"]["authenticated"] is False, imported
        assert login(world, "rtimport")[0]["db"] == "rtimport"
        ours = os.path.join(work, "ours.zip")
        s3_client(world["s3"]).download_file(BUCKET, world["backup"]["key"], ours)
        loader = odoo_server.write_conf(
            os.path.join(work, "load.conf"), dict(server.options, db_user="rt_loader", db_password="rt-loader-secret"), install.uid, install.gid
        )
        odoo_server.ensure_role(world["pg"], "rt_loader", "rt-loader-secret", createdb=True)
        done = install.db_load(loader, "rtloaded", ours, work)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert sql(world, "rtloaded", "SELECT state FROM ir_module_module WHERE name = 'mail'") == [("installed",)]
        odoo_server.drop_database(world["pg"], "rtloaded")


def test_a_drill_restores_the_backup_and_checks_odoo(world):
    with scratch_dirs("odoo_ops-real-drill-") as (work,):
        result = run(
            {
                "sysgenpro.odoo_ops.backup_verify": dict(
                    login_options(world["pg"]),
                    **s3_options(world["s3"]),
                    name="rtacme",
                    bucket=BUCKET,
                    tier=2,
                    level=["objects", "restore"],
                    work_dir=work,
                    fail_on_error=False,
                )
            }
        )
    checks = {c["name"]: c for c in result["checks"]}
    assert result["verified"], [c for c in result["checks"] if not c["ok"]]
    assert {"restore.logical", "restore.odoo_base", "restore.odoo_admin", "restore.attachments"} <= set(checks)
    assert result["restore_seconds"] > 0


def test_removing_a_tenant_while_its_server_runs_is_final(world):
    """No db_name and no CREATEDB: the running server never recreates a removed tenant."""
    final = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                login_options(world["pg"]), **s3_options(world["s3"]), name="rtback", bucket=BUCKET, filestore_root=world["filestore"]
            )
        }
    )
    removed = run(tenant(world, name="rtback", state="absent", final_backup=final))
    assert removed["changed"] and removed["removed"]["database"] == "rtback", removed
    for _attempt in range(3):
        status, headers, _body = world["server"].request("/web/login", "rtback.localhost")
        assert status == 303 and "/web/database/selector" in headers.get("location", "")
        time.sleep(1)
    assert sql(world, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'rtback'") == [(0,)]
    assert not os.path.exists(os.path.join(world["filestore"], "rtback"))
