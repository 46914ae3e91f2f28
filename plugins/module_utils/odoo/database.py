# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Odoo itself does to a database when it copies or neutralizes it (see ODOO_FACTS.md),
done in SQL against the tenant database. Module tables are touched only where they exist."""

import datetime
import uuid

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql

DUMMY_MAIL_SERVER = ("neutralization - disable emails", "invalid", 1025)
ENTERPRISE_KEYS = ("database.enterprise_code",)


def copy_reset_values(base_url, now=None):
    """The six parameters Odoo's duplicate resets (ir.config_parameter init(force=True)).
    web.base.url gets the tenant's own URL, never http://localhost:<port>."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"database.uuid": str(uuid.uuid1()), "database.secret": str(uuid.uuid4()),
            "database.create_date": now.strftime("%Y-%m-%d %H:%M:%S"), "web.base.url": base_url,
            "base.login_cooldown_after": "10", "base.login_cooldown_duration": "60"}


class OdooDatabase:
    """One tenant database, through the collection's PostgreSQL client."""

    def __init__(self, pg, dbname):
        self.pg, self.dbname = pg, dbname
        self._columns = {}

    def columns(self, table):
        if table not in self._columns:
            rows = self.pg.query("SELECT column_name FROM information_schema.columns "
                                 "WHERE table_schema = 'public' AND table_name = %s", (table,), self.dbname)
            self._columns[table] = {row[0] for row in rows}
        return self._columns[table]

    def has(self, table, *columns):
        found = self.columns(table)
        return bool(found) and all(column in found for column in columns)

    def parameters(self, *keys):
        rows = self.pg.query("SELECT key, value FROM ir_config_parameter WHERE key = ANY(%s)", (list(keys),),
                             self.dbname)
        return dict(rows)

    def set_parameters(self, values):
        for key, value in sorted(values.items()):
            self.pg.execute("INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (key, value), self.dbname)

    def delete_parameters(self, keys):
        self.pg.execute("DELETE FROM ir_config_parameter WHERE key = ANY(%s)", (list(keys),), self.dbname)

    def reset_as_copy(self, base_url):
        """Odoo's duplicate: new identity, cooldown defaults; and the enterprise code removed."""
        self.set_parameters(copy_reset_values(base_url))
        self.delete_parameters(ENTERPRISE_KEYS)
        self.set_parameters({"database.expiration_reason": "copy"})

    def set_base_url(self, base_url, freeze):
        values = {"web.base.url": base_url}
        if freeze:
            values["web.base.url.freeze"] = "True"
        self.set_parameters(values)
        if not freeze:
            self.delete_parameters(["web.base.url.freeze"])

    def neutralize(self):
        """Base's neutralization plus the known modules' ones whose tables exist; returns what was done."""
        done = []
        self.pg.execute("UPDATE ir_mail_server SET active = false", dbname=self.dbname)
        self.pg.execute("INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, active, "
                        "smtp_authentication) VALUES (%s, %s, %s, 'none', true, 'login')", DUMMY_MAIL_SERVER,
                        self.dbname)
        done.append("mail servers off, dummy server 'invalid:1025' on")
        count = self.pg.execute("UPDATE ir_cron SET active = false WHERE active AND id NOT IN (SELECT res_id FROM "
                                "ir_model_data WHERE model = 'ir.cron' AND module = 'base' AND name = 'autovacuum_job')",
                                dbname=self.dbname)
        done.append("%d crons off (base autovacuum kept)" % count)
        if self.has("ir_act_server", "webhook_url"):
            count = self.pg.execute("UPDATE ir_act_server SET webhook_url = 'neutralization - disable webhook' "
                                    "WHERE state = 'webhook'", dbname=self.dbname)
            done.append("%d webhooks off" % count)
        for table, statement, what in self._module_neutralizations():
            count = self.pg.execute(statement, dbname=self.dbname)
            done.append("%s: %d %s" % (table, count, what))
        self.set_parameters({"database.is_neutralized": "true"})
        return done

    def _module_neutralizations(self):
        found = []
        if self.has("payment_provider", "is_live"):
            found.append(("payment_provider", "UPDATE payment_provider SET is_live = false", "providers not live"))
        elif self.has("payment_provider", "state"):  # Odoo 16-18
            found.append(("payment_provider", "UPDATE payment_provider SET state = 'disabled' "
                          "WHERE state NOT IN ('test', 'disabled')", "providers disabled"))
        if self.has("delivery_carrier", "prod_environment"):
            found.append(("delivery_carrier", "UPDATE delivery_carrier SET prod_environment = false",
                          "carriers in test mode"))
        if self.has("fetchmail_server", "active"):
            found.append(("fetchmail_server", "UPDATE fetchmail_server SET active = false", "incoming servers off"))
        if self.has("iap_account", "account_token"):
            found.append(("iap_account", "UPDATE iap_account SET account_token = "
                          "regexp_replace(account_token, '(\\+.*)?$', '+disabled')", "IAP accounts disabled"))
        if self.has("mail_template", "mail_server_id"):
            found.append(("mail_template", "UPDATE mail_template SET mail_server_id = NULL", "templates unbound"))
        return found

    def neutralization_problems(self):
        """Empty when neutralized as Odoo defines it: the flag set, no active mail server but the dummy."""
        problems = []
        if self.parameters("database.is_neutralized").get("database.is_neutralized") != "true":
            problems.append("database.is_neutralized is not 'true'")
        active = self.pg.query("SELECT name, smtp_host FROM ir_mail_server WHERE active AND NOT "
                               "(smtp_host = %s AND smtp_port = %s)", (DUMMY_MAIL_SERVER[1], DUMMY_MAIL_SERVER[2]),
                               self.dbname)
        if active:
            problems.append("active mail servers remain: %s" % ", ".join("%s (%s)" % row for row in active))
        return problems

    def facts(self):
        """Version and flags for inventory; None where the database has no Odoo tables."""
        if not self.has("ir_module_module", "latest_version"):
            return {"odoo_version": None, "neutralized": None}
        version = self.pg.query("SELECT latest_version FROM ir_module_module WHERE name = 'base' "
                                "AND state = 'installed'", dbname=self.dbname)
        flag = self.parameters("database.is_neutralized").get("database.is_neutralized")
        return {"odoo_version": version[0][0] if version else None, "neutralized": flag == "true"}

    def reassign_objects(self, old_owner, new_owner):
        """Give new_owner what old_owner owns in this database only.

        Not REASSIGN OWNED: that also moves shared objects, i.e. every other database old_owner
        owns in the cluster (the fleet's other tenants)."""
        statements = []
        for kind, schema, name in self.pg.query(
                "SELECT c.relkind, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE pg_get_userbyid(c.relowner) = %s AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%%' AND (c.relkind IN ('r', 'p', 'v', 'm', 'f') OR (c.relkind = 'S' "
                "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))))",
                (old_owner,), self.dbname):
            keyword = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}.get(kind, "TABLE")
            statements.append(sql.SQL("ALTER {} {}.{} OWNER TO {}").format(
                sql.SQL(keyword), sql.Identifier(schema), sql.Identifier(name), sql.Identifier(new_owner)))
        for _schema, signature in self.pg.query(
                "SELECT n.nspname, p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE pg_get_userbyid(p.proowner) = %s AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
                (old_owner,), self.dbname):
            # signature is PostgreSQL's own regprocedure text (quoted as needed), not user input
            statements.append(sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(
                sql.SQL(signature), sql.Identifier(new_owner)))
        for (schema,) in self.pg.query("SELECT nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) = %s",
                                       (old_owner,), self.dbname):
            statements.append(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(new_owner)))
        for statement in statements:
            self.pg.execute(statement, dbname=self.dbname)
        return len(statements)
