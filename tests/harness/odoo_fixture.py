"""A database shaped like an Odoo 18 `-i base` database, for tests and benchmarks. Not Odoo.

It has the tables the collection reads (ir_config_parameter, ir_module_module, ir_attachment,
res_users, ir_cron, ir_mail_server, ...), realistic rows, and a filestore whose files are named by
the SHA-1 of their content (`<root>/<db>/<2 hex>/<sha1>`, store_fname `<2 hex>/<sha1>`); Odoo 18's
inter-process signaling sequences (odoo/modules/registry.py: base_registry_signaling and one
base_cache_signaling_<cache> per cache); res_partner with the rows of real Odoo 18.0's `-i base`
(6 partners, 2 active, with --without-demo=all; 41, 37 active, with demo data) and
ir_module_module.demo telling which (measured in tests/integration/test_odoo_parity.py).
"""

import contextlib
import hashlib
import os
import uuid

import psycopg2
from psycopg2 import sql

SCHEMA = """
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar NOT NULL UNIQUE, active boolean DEFAULT true,
    password varchar, create_date timestamp DEFAULT now());
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL,
    create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar,
    latest_version varchar, demo boolean DEFAULT false, write_date timestamp DEFAULT now());
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, active boolean DEFAULT true);
CREATE TABLE ir_model_data (id serial PRIMARY KEY, name varchar NOT NULL, module varchar NOT NULL,
    model varchar NOT NULL, res_id integer);
CREATE TABLE ir_act_server (id serial PRIMARY KEY, name jsonb, state varchar, webhook_url varchar,
    active boolean DEFAULT true);
CREATE TABLE ir_cron (id serial PRIMARY KEY, ir_actions_server_id integer REFERENCES ir_act_server(id),
    cron_name varchar, active boolean DEFAULT true, interval_number integer, interval_type varchar,
    nextcall timestamp DEFAULT now());
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar NOT NULL, smtp_host varchar, smtp_port integer,
    smtp_encryption varchar, smtp_authentication varchar, smtp_user varchar, smtp_pass varchar,
    active boolean DEFAULT true);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar NOT NULL, res_model varchar, res_id integer,
    type varchar NOT NULL DEFAULT 'binary', store_fname varchar, checksum varchar(40), file_size integer,
    mimetype varchar, db_datas bytea, url varchar, create_date timestamp DEFAULT now());
CREATE INDEX ir_attachment_store_fname_index ON ir_attachment (store_fname);
CREATE TABLE payment_provider (id serial PRIMARY KEY, name varchar, code varchar, state varchar);
CREATE TABLE delivery_carrier (id serial PRIMARY KEY, name varchar, delivery_type varchar,
    prod_environment boolean DEFAULT false, active boolean DEFAULT true);
CREATE TABLE fetchmail_server (id serial PRIMARY KEY, name varchar, server varchar, active boolean DEFAULT true);
CREATE TABLE iap_account (id serial PRIMARY KEY, service_name varchar, account_token varchar);
CREATE TABLE mail_template (id serial PRIMARY KEY, name varchar, mail_server_id integer REFERENCES ir_mail_server(id));
CREATE TABLE ir_ui_view (id serial PRIMARY KEY, name varchar, key varchar, active boolean DEFAULT true);
CREATE TABLE mail_push_device (id serial PRIMARY KEY, partner_id integer, endpoint varchar NOT NULL, keys varchar);
CREATE TABLE mail_push (id serial PRIMARY KEY, mail_push_device_id integer NOT NULL REFERENCES mail_push_device(id) ON DELETE CASCADE,
    payload text);
CREATE TABLE fixture_padding (id serial PRIMARY KEY, payload text);
"""
# Odoo 18's signaling sequences (registry.py setup_signaling: created with START 1, then nextval once).
SIGNALING_SEQUENCES = ("base_registry_signaling",) + tuple(
    "base_cache_signaling_%s" % cache for cache in ("default", "assets", "templates", "routing", "groups")
)
PARTNERS = {False: (6, 2), True: (41, 37)}  # (rows, active rows) after -i base, without / with demo data

MODULES = [
    ("base", "installed", "18.0.1.3"),
    ("web", "installed", "18.0.1.0"),
    ("mail", "installed", "18.0.1.15"),
    ("account", "installed", "18.0.1.3"),
    ("project", "installed", "18.0.1.3"),
    ("hr_timesheet", "installed", "18.0.1.0"),
    ("payment", "installed", "18.0.2.0"),
    ("delivery", "installed", "18.0.1.0"),
    ("iap", "installed", "18.0.1.1"),
    ("purchase", "uninstalled", None),
    ("stock", "uninstalled", None),
]


def file_name(content):
    sha1 = hashlib.sha1(content).hexdigest()
    return sha1, "%s/%s" % (sha1[:2], sha1)


def create_fleet_role(connect_kwargs, name, member="odoo_ops_admin"):
    """A fleet role (LOGIN) that `member` (the collection's admin role) belongs to, as odoo_tenant arranges it."""
    admin = psycopg2.connect(dbname="postgres", **connect_kwargs)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN; GRANT {} TO {}").format(sql.Identifier(name), sql.Identifier(name), sql.Identifier(member)))
    admin.close()


def fleet_with_template(pg, fleet, template, filestore_root):
    """On the harness's PostgreSQL `pg`: a fleet role and a template database it owns, with its filestore
    under filestore_root - what a tenant playbook creates tenants from. Returns the superuser's connection."""
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
    create_fleet_role(superuser, fleet)
    create_odoo_fixture(superuser, template, owner=fleet, filestore_root=filestore_root)
    return superuser


def database_state(connect_kwargs, name):
    """Whether database `name` allows connections (False: suspended), or None when it does not exist."""
    with contextlib.closing(psycopg2.connect(dbname="postgres", **connect_kwargs)) as conn, conn.cursor() as cur:
        cur.execute("SELECT datallowconn FROM pg_database WHERE datname = %s", (name,))
        row = cur.fetchone()
        return row[0] if row else None


def create_odoo_server_role(connect_kwargs, name, password):
    """The role an Odoo server (or the test workload) logs in as: it creates its tenants' databases."""
    admin = psycopg2.connect(dbname="postgres", **connect_kwargs)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    admin.close()


def create_odoo_fixture(connect_kwargs, dbname, owner=None, filestore_root=None, db_mb=0, filestore_mb=0, attachments=12, demo=False, create=True):
    """Create database `dbname` (owned by `owner`; create=False: it exists and is empty) and, when
    filestore_root is given, its filestore. demo: base "installed with demo data" (more partners).

    connect_kwargs: psycopg2.connect() arguments of a role allowed to create databases.
    Returns {"attachments": rows, "files": distinct files, "filestore": path}.
    """
    if create:
        admin = psycopg2.connect(dbname="postgres", **connect_kwargs)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'{}").format(
                    sql.Identifier(dbname), sql.SQL(" OWNER {}").format(sql.Identifier(owner)) if owner else sql.SQL("")
                )
            )
        admin.close()
    conn = psycopg2.connect(dbname=dbname, **connect_kwargs)
    files = {}
    try:
        with conn, conn.cursor() as cur:
            if owner:
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
            cur.execute(SCHEMA)
            for sequence in SIGNALING_SEQUENCES:
                cur.execute(sql.SQL("CREATE SEQUENCE {} INCREMENT BY 1 START WITH 1").format(sql.Identifier(sequence)))
                cur.execute("SELECT nextval(%s)", (sequence,))
            _rows(cur, dbname, demo)
            files = _attachments(cur, attachments, filestore_mb)
            _padding(cur, db_mb)
    finally:
        conn.close()
    path = None
    if filestore_root:
        path = os.path.join(filestore_root, dbname)
        os.makedirs(os.path.join(path, "checklist"), mode=0o700, exist_ok=True)
        for store_fname, content in files.items():
            os.makedirs(os.path.join(path, store_fname[:2]), mode=0o700, exist_ok=True)
            with open(os.path.join(path, store_fname), "wb") as handle:
                handle.write(content)
            # Odoo's garbage-collection bookkeeping: an empty marker file per stored file.
            os.makedirs(os.path.join(path, "checklist", store_fname[:2]), exist_ok=True)
            open(os.path.join(path, "checklist", store_fname), "wb").close()
    return {"attachments": attachments, "files": len(files), "filestore": path}


def _rows(cur, dbname, demo=False):
    # Odoo's administrator comes with the password "admin" (base data; Odoo verifies a plaintext password).
    cur.executemany(
        "INSERT INTO res_users (login, active, password) VALUES (%s, %s, %s)",
        [
            ("__system__", False, None),
            ("admin", True, "admin"),
            ("public", False, None),
            ("portal", False, None),
            ("demo@%s.example.com" % dbname, True, None),
            ("accountant@%s.example.com" % dbname, True, None),
        ],
    )
    cur.execute("INSERT INTO ir_model_data (name, module, model, res_id) SELECT 'user_admin', 'base', 'res.users', id FROM res_users WHERE login = 'admin'")
    cur.executemany(
        "INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s)",
        [
            ("database.uuid", str(uuid.uuid1())),
            ("database.secret", str(uuid.uuid4())),
            ("database.create_date", "2025-01-15 08:00:00"),
            ("web.base.url", "https://%s.erp.example.com" % dbname),
            ("base.login_cooldown_after", "5"),
            ("base.login_cooldown_duration", "120"),
            ("database.enterprise_code", "M2501-ABCD-%s" % dbname[:8]),
            ("database.expiration_date", "2027-01-15 08:00:00"),
            ("web.base.url.freeze", "True"),
            ("mail.catchall.domain", "%s.example.com" % dbname),
        ],
    )
    cur.executemany(
        "INSERT INTO ir_module_module (name, state, latest_version, demo) VALUES (%s, %s, %s, %s)", [row + (demo and row[1] == "installed",) for row in MODULES]
    )
    rows, active = PARTNERS[bool(demo)]
    cur.executemany("INSERT INTO res_partner (name, active) VALUES (%s, %s)", [("Partner %d" % index, index < active) for index in range(rows)])
    cur.execute("INSERT INTO ir_act_server (name, state) VALUES ('{\"en_US\": \"Base: Auto-vacuum internal data\"}', 'code') RETURNING id")
    autovacuum_action = cur.fetchone()[0]
    cur.execute(
        "INSERT INTO ir_cron (ir_actions_server_id, cron_name, active, interval_number, interval_type) "
        "VALUES (%s, 'Base: Auto-vacuum internal data', true, 1, 'days') RETURNING id",
        (autovacuum_action,),
    )
    cur.execute("INSERT INTO ir_model_data (name, module, model, res_id) VALUES ('autovacuum_job', 'base', 'ir.cron', %s)", (cur.fetchone()[0],))
    for name in ("Mail: Email Queue Manager", "Invoices: send reminders", "Timesheets: reminder", "Payroll: monthly run", "Bank sync: fetch statements"):
        cur.execute("INSERT INTO ir_act_server (name, state) VALUES (%s, 'code') RETURNING id", ('{"en_US": "%s"}' % name,))
        cur.execute(
            "INSERT INTO ir_cron (ir_actions_server_id, cron_name, active, interval_number, interval_type) VALUES (%s, %s, true, 1, 'hours')",
            (cur.fetchone()[0], name),
        )
    cur.execute("INSERT INTO ir_act_server (name, state, webhook_url) VALUES ('{\"en_US\": \"Notify ERP hub\"}', 'webhook', 'https://hooks.example.com/erp')")
    cur.executemany(
        "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, smtp_authentication, "
        "smtp_user, smtp_pass, active) VALUES (%s, %s, 587, 'starttls', 'login', %s, 'smtp-secret', true)",
        [("Production SMTP", "smtp.example.com", "erp@example.com"), ("Billing SMTP", "smtp-billing.example.com", "billing@example.com")],
    )
    cur.execute("INSERT INTO mail_template (name, mail_server_id) SELECT 'Invoice', id FROM ir_mail_server LIMIT 1")
    cur.executemany(
        "INSERT INTO payment_provider (name, code, state) VALUES (%s, %s, %s)",
        [("Stripe", "stripe", "enabled"), ("Wire Transfer", "custom", "enabled"), ("Demo", "demo", "test")],
    )
    cur.execute("INSERT INTO delivery_carrier (name, delivery_type, prod_environment) VALUES ('DHL', 'dhl', true)")
    cur.execute("INSERT INTO fetchmail_server (name, server, active) VALUES ('Incoming', 'imap.example.com', true)")
    cur.execute("INSERT INTO iap_account (service_name, account_token) VALUES ('sms', 'tok-123')")
    # web's neutralization banner (inactive until a copy is neutralized) and mail's web push state.
    cur.execute("INSERT INTO ir_ui_view (name, key, active) VALUES ('neutralize_banner', 'web.neutralize_banner', false)")
    cur.execute("INSERT INTO mail_push_device (partner_id, endpoint, keys) VALUES (3, 'https://push.example.com/device-1', '{}') RETURNING id")
    cur.execute("INSERT INTO mail_push (mail_push_device_id, payload) VALUES (%s, 'queued notification')", (cur.fetchone()[0],))
    cur.execute("INSERT INTO ir_config_parameter (key, value) VALUES ('mail.web_push_vapid_private_key', 'vapid-private-secret')")


def _attachments(cur, count, filestore_mb):
    """Attachment rows; two rows share each third file, one is a URL, one lives in db_datas."""
    files = {}
    distinct = sum(1 for index in range(max(0, count - 2)) if index % 3 != 2)
    per_file = int(filestore_mb * 1024 * 1024 / max(1, distinct)) if filestore_mb else 0
    for index in range(count):
        if index == count - 1:
            cur.execute("INSERT INTO ir_attachment (name, type, url) VALUES ('Website', 'url', 'https://example.com')")
            continue
        if index == count - 2:
            cur.execute("INSERT INTO ir_attachment (name, type, db_datas, file_size) VALUES ('inline', 'binary', %s, 5)", (b"small",))
            continue
        if index % 3 == 2 and files:
            store_fname = sorted(files)[0]  # shares the file of an earlier row
            content = files[store_fname]
        else:
            content = (b"attachment %d of fixture\n" % index) + os.urandom(per_file)
            store_fname = file_name(content)[1]
            files[store_fname] = content
        cur.execute(
            "INSERT INTO ir_attachment (name, res_model, res_id, type, store_fname, checksum, file_size, "
            "mimetype) VALUES (%s, 'res.partner', 1, 'binary', %s, %s, %s, 'application/octet-stream')",
            ("file-%d.bin" % index, store_fname, store_fname[3:], len(content)),
        )
    return files


def _padding(cur, db_mb, batch=200, limit=10000):
    """Grow the database to about db_mb MB with incompressible rows (benchmarks), checking its size."""
    for _batch in range(limit if db_mb else 0):
        cur.execute("SELECT pg_database_size(current_database())")
        if cur.fetchone()[0] >= db_mb * 1024 * 1024:
            return
        # ~6 kB of random hex per row. The aggregate names the inner series (s) and the outer row (g):
        # with outer variables only it would belong to the outer query.
        cur.execute(
            "INSERT INTO fixture_padding (payload) SELECT (SELECT string_agg(md5(random()::text || s || g), '') "
            "FROM generate_series(1, 190) AS s) FROM generate_series(1, %s) AS g",
            (batch,),
        )
