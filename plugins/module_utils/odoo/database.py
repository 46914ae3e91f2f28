# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Odoo itself does to a database when it copies or neutralizes it (see ODOO_FACTS.md),
done in SQL against the tenant database. Module tables are touched only where they exist.

Who runs it matters (postgres/session.py): reads may come from the admin role, so every table is
named with its schema (the admin's connections resolve names in pg_catalog only) and must be a plain
table without row-level security - a view, or a policy, would run a tenant's function as the admin;
writes come from a session role with no more rights than the tenant's owner.

Odoo's workers cache ir.config_parameter (and views, routing, ...) per process; after a change in
SQL the `base_cache_signaling_*` sequences are bumped, which is how Odoo's own processes tell each
other to drop those caches, so a running fleet serves the new value on its next request.
"""

import datetime
import os
import uuid

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, OperationFailed
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.passwords import hash_password
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql

DUMMY_MAIL_SERVER = ("neutralization - disable emails", "invalid", 1025)
ENTERPRISE_KEYS = ("database.enterprise_code",)
PUSH_KEYS = ("mail.web_push_vapid_private_key", "mail.web_push_vapid_public_key", "mail.sfu_server_key")
NEUTRALIZED_STATES = ("installed", "to upgrade", "to remove")  # the modules Odoo's neutralize runs for
# Secrets a neutralized copy must not keep. Odoo's own scripts switch the accounts off (providers
# disabled, mail servers inactive) but leave their secrets readable to anyone with Settings rights on
# the copy - production's payment keys in a staging database. Mail: the password and OAuth token
# columns of the outgoing and incoming servers (where the module that adds them is installed).
MAIL_TOKENS = ("google_gmail_refresh_token", "google_gmail_access_token", "microsoft_outlook_refresh_token", "microsoft_outlook_access_token")
MAIL_CREDENTIALS = (("ir_mail_server", ("smtp_pass", "smtp_ssl_private_key") + MAIL_TOKENS), ("fetchmail_server", ("password",) + MAIL_TOKENS))


class NotAnOdooTable(OdooOpsError, RuntimeError):
    """A table the collection reads is something else (a view, a table under row-level security)."""


def copy_reset_values(base_url, now=None):
    """The six parameters Odoo's duplicate resets (ir.config_parameter init(force=True)).
    web.base.url gets the tenant's own URL, never http://localhost:<port>."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "database.uuid": str(uuid.uuid1()),
        "database.secret": str(uuid.uuid4()),
        "database.create_date": now.strftime("%Y-%m-%d %H:%M:%S"),
        "web.base.url": base_url,
        "base.login_cooldown_after": "10",
        "base.login_cooldown_duration": "60",
    }


def neutralize_scripts(modules, addons_paths):
    """[(module, SQL)] of Odoo's own `<module>/data/neutralize.sql`, for the given modules, each from
    the first addons path that has the module (as Odoo's file_open looks them up)."""
    found = []
    for module in sorted(modules):
        for root in addons_paths:
            if os.path.isfile(os.path.join(root, module, "__manifest__.py")):
                script = os.path.join(root, module, "data", "neutralize.sql")
                if os.path.isfile(script):
                    with open(script, encoding="utf-8") as handle:
                        found.append((module, handle.read().strip()))
                break
    return found


class OdooDatabase:
    """One tenant database, through one PostgreSQL client (the admin's for reads, a session role's
    for writes)."""

    def __init__(self, pg, dbname):
        self.pg, self.dbname = pg, dbname
        self._columns, self._checked = {}, set()

    def table(self, name):
        """public.<name>, once checked to be a plain table (never a view or a table under row-level
        security, whose code would run as the caller)."""
        if name not in self._checked:
            rows = self.pg.query(
                "SELECT c.relkind, c.relrowsecurity FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace "
                "n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = %s",
                (name,),
                self.dbname,
            )
            if rows and (rows[0][0] not in ("r", "p") or rows[0][1]):
                raise NotAnOdooTable(
                    "%s: public.%s is %s, not a plain table as Odoo makes it: refusing to read it"
                    % (self.dbname, name, "under row-level security" if rows[0][1] else "a relation of kind %r" % rows[0][0])
                )
            self._checked.add(name)
        return sql.Identifier("public", name)

    def _run(self, statement, args=None, tables=()):
        """Execute a statement whose {} are the given tables (checked, schema-qualified)."""
        composed = sql.SQL(statement).format(*[self.table(t) for t in tables])
        return self.pg.execute(composed, args, self.dbname)

    def _rows(self, statement, args=None, tables=()):
        composed = sql.SQL(statement).format(*[self.table(t) for t in tables])
        return self.pg.query(composed, args, self.dbname)

    def columns(self, table):
        """{column: nullable} of public.<table> (empty when there is no such table), read once."""
        if table not in self._columns:
            rows = self.pg.query(
                "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
                (table,),
                self.dbname,
            )
            self._columns[table] = dict(rows)
        return self._columns[table]

    def has(self, table, *columns):
        found = self.columns(table)
        if found:
            self.table(table)
        return bool(found) and all(column in found for column in columns)

    def parameters(self, *keys):
        return dict(self._rows("SELECT key, value FROM {} WHERE key = ANY(%s)", (list(keys),), ["ir_config_parameter"]))

    def set_parameters(self, values):
        for key, value in sorted(values.items()):
            self._run(
                "INSERT INTO {} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (key, value), ["ir_config_parameter"]
            )

    def delete_parameters(self, keys):
        self._run("DELETE FROM {} WHERE key = ANY(%s)", (list(keys),), ["ir_config_parameter"])

    def signal_caches(self):
        """Bump Odoo's cache signalling sequences (those the database has: a database no Odoo
        process loaded yet has none); returns their names."""
        names = [
            row[0]
            for row in self.pg.query(
                "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relname LIKE 'base\\_cache\\_signaling%' ORDER BY 1",
                dbname=self.dbname,
            )
        ]
        for name in names:
            self.pg.query(sql.SQL("SELECT pg_catalog.nextval({})").format(sql.Literal("public.%s" % name)), dbname=self.dbname)
        return names

    def reset_as_copy(self, base_url):
        """Odoo's duplicate: new identity, cooldown defaults; and the enterprise code removed (one transaction)."""
        with self.pg.transaction(self.dbname):
            self.set_parameters(copy_reset_values(base_url))
            self.delete_parameters(ENTERPRISE_KEYS)
            self.set_parameters({"database.expiration_reason": "copy"})

    def set_base_url(self, base_url, freeze):
        values = {"web.base.url": base_url}
        if freeze:
            values["web.base.url.freeze"] = "True"
        with self.pg.transaction(self.dbname):
            self.set_parameters(values)
            if not freeze:
                self.delete_parameters(["web.base.url.freeze"])
        self.signal_caches()  # after the commit: a worker that reloads on the signal reads the new URL

    def admin_user(self):
        """(id, login, password hash) of Odoo's administrator (base.user_admin), or None."""
        if not (self.has("res_users", "login", "password") and self.has("ir_model_data", "res_id")):
            return None
        rows = self._rows(
            "SELECT u.id, u.login, u.password FROM {} u WHERE u.id = (SELECT res_id FROM {} WHERE "
            "module = 'base' AND name = 'user_admin' AND model = 'res.users')",
            tables=["res_users", "ir_model_data"],
        )
        return rows[0] if rows else None

    def set_admin_password(self, password):
        """Give Odoo's administrator this password (stored as Odoo stores it); returns its login."""
        admin = self.admin_user()
        if admin is None:
            raise OperationFailed("%s has no Odoo administrator (base.user_admin) to set a password for" % self.dbname)
        self._run("UPDATE {} SET password = %s WHERE id = %s", (hash_password(password), admin[0]), ["res_users"])
        return admin[1]

    def installed_modules(self):
        if not self.has("ir_module_module", "name", "state"):
            return []
        return [row[0] for row in self._rows("SELECT name FROM {} WHERE state = ANY(%s) ORDER BY name", (list(NEUTRALIZED_STATES),), ["ir_module_module"])]

    def module_versions(self):
        """{name: latest_version} of the installed modules (state installed or to upgrade), read from
        ir_module_module as Odoo's backup manifest does; empty for a database without Odoo tables."""
        if not self.has("ir_module_module", "name", "state", "latest_version"):
            return {}
        rows = self._rows("SELECT name, latest_version FROM {} WHERE state IN ('installed', 'to upgrade') ORDER BY name", tables=["ir_module_module"])
        return dict(rows)

    def neutralize(self, addons_paths=None):
        """Neutralize as `odoo-bin neutralize` does: with addons_paths, Odoo's own script of every
        installed module that has one, all in one transaction; without, the collection's built-in
        list (base's script and the known modules' whose tables exist). Returns what was done."""
        if addons_paths:
            scripts = neutralize_scripts(self.installed_modules(), addons_paths)
            if not any(module == "base" for module, _sql in scripts):
                raise OperationFailed("no base/data/neutralize.sql under %s: not an Odoo addons path" % ", ".join(addons_paths))
            # One statement list, one transaction; Odoo's scripts name tables without a schema.
            body = "SET LOCAL search_path = public, pg_catalog;\n" + "\n".join("%s;" % text.rstrip().rstrip(";") for _module, text in scripts)
            self.pg.execute(body, dbname=self.dbname)
            done = ["%s/data/neutralize.sql" % module for module, _sql in scripts]
        else:
            done = self._builtin_neutralize()
        done.extend(self.wipe_credentials())
        self.signal_caches()
        return done

    def credential_columns(self):
        """[(table, [columns])] holding account secrets, as they exist here and may be emptied.

        payment.provider: every char/text field a provider module adds (stripe_secret_key,
        stripe_webhook_secret, adyen_hmac_key, paypal_email_account, ...): the fields not defined by
        `payment` itself, found through the xmlids Odoo gives each field per defining module - Odoo
        does not store a field's `groups`, so "restricted to Settings" cannot be read from the database."""
        found = []
        if self.has("payment_provider", "id") and self.has("ir_model_fields", "model", "ttype", "store") and self.has("ir_model_data", "res_id"):
            rows = self._rows(
                "SELECT f.name FROM {} f WHERE f.model = 'payment.provider' AND f.store AND f.ttype IN ('char', 'text') "
                "AND NOT EXISTS (SELECT 1 FROM {} d WHERE d.model = 'ir.model.fields' AND d.res_id = f.id AND d.module = 'payment') ORDER BY 1",
                tables=["ir_model_fields", "ir_model_data"],
            )
            found.append(("payment_provider", [row[0] for row in rows]))
        found.extend(MAIL_CREDENTIALS)
        nullable = []
        for table, columns in found:
            present = [c for c in columns if self.columns(table).get(c)]  # present and nullable
            if present:
                nullable.append((table, present))
        return nullable

    def credentials_left(self):
        """{table: [columns still holding a value]}."""
        left = {}
        for table, columns in self.credential_columns():
            held = sql.SQL(", ").join(sql.SQL("bool_or({} IS NOT NULL)").format(sql.Identifier(c)) for c in columns)
            row = self.pg.query(sql.SQL("SELECT {} FROM {}").format(held, self.table(table)), dbname=self.dbname)[0]
            if any(row):
                left[table] = [c for c, value in zip(columns, row) if value]
        return left

    def wipe_credentials(self):
        """Empty every credential column (credential_columns); returns what was emptied."""
        done = []
        for table, columns in self.credential_columns():
            assignments = sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in columns)
            held = sql.SQL(" OR ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)
            count = self.pg.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(self.table(table), assignments, held), dbname=self.dbname)
            done.append("%s: credentials emptied in %d rows (%s)" % (table, count, ", ".join(columns)))
        return done

    def _builtin_neutralize(self):
        done = []
        self._run("UPDATE {} SET active = false", tables=["ir_mail_server"])
        self._run(
            "INSERT INTO {} (name, smtp_host, smtp_port, smtp_encryption, active, smtp_authentication) VALUES (%s, %s, %s, 'none', true, 'login')",
            DUMMY_MAIL_SERVER,
            ["ir_mail_server"],
        )
        done.append("mail servers off, dummy server 'invalid:1025' on")
        count = self._run(
            "UPDATE {} SET active = false WHERE active AND id NOT IN (SELECT res_id FROM {} "
            "WHERE model = 'ir.cron' AND module = 'base' AND name = 'autovacuum_job')",
            tables=["ir_cron", "ir_model_data"],
        )
        done.append("%d crons off (base autovacuum kept)" % count)
        if self.has("ir_act_server", "webhook_url"):
            count = self._run("UPDATE {} SET webhook_url = 'neutralization - disable webhook' WHERE state = 'webhook'", tables=["ir_act_server"])
            done.append("%d webhooks off" % count)
        for table, statement, what in self._module_neutralizations():
            count = self._run(statement, tables=[table])
            done.append("%s: %d %s" % (table, count, what))
        self.delete_parameters(PUSH_KEYS)
        self.set_parameters({"database.is_neutralized": "true"})
        return done

    def _module_neutralizations(self):
        found = []
        if self.has("payment_provider", "is_live"):
            found.append(("payment_provider", "UPDATE {} SET is_live = false", "providers not live"))
        elif self.has("payment_provider", "state"):  # Odoo 16-18
            found.append(("payment_provider", "UPDATE {} SET state = 'disabled' WHERE state NOT IN ('test', 'disabled')", "providers disabled"))
        if self.has("delivery_carrier", "prod_environment"):
            found.append(("delivery_carrier", "UPDATE {} SET prod_environment = false", "carriers in test mode"))
        if self.has("fetchmail_server", "active"):
            found.append(("fetchmail_server", "UPDATE {} SET active = false", "incoming servers off"))
        if self.has("iap_account", "account_token"):
            found.append(("iap_account", "UPDATE {} SET account_token = regexp_replace(account_token, '(\\+.*)?$', '+disabled')", "IAP accounts disabled"))
        if self.has("mail_template", "mail_server_id"):
            found.append(("mail_template", "UPDATE {} SET mail_server_id = NULL", "templates unbound"))
        if self.has("ir_ui_view", "key", "active"):
            found.append(("ir_ui_view", "UPDATE {} SET active = true WHERE key = 'web.neutralize_banner'", "neutralization banner on"))
        # mail's web push: queued notifications first (they reference the devices)
        for table in ("mail_push", "mail_push_device"):
            if self.has(table, "id"):
                found.append((table, "DELETE FROM {}", "rows deleted (web push)"))
        return found

    def neutralization_problems(self):
        """Empty when neutralized as Odoo defines it - the flag set, no active mail server but the
        dummy, no active cron but base's autovacuum - and each installed module's own outcome holds
        where the collection knows it: web's banner on, mail's push keys and subscriptions gone,
        payment providers disabled, IAP tokens disabled, incoming mail servers off."""
        problems = []
        if self.parameters("database.is_neutralized").get("database.is_neutralized") not in ("true", "True"):
            problems.append("database.is_neutralized is not 'true'")
        active = self._rows(
            "SELECT name, smtp_host FROM {} WHERE active AND NOT (smtp_host = %s AND smtp_port = %s)",
            (DUMMY_MAIL_SERVER[1], DUMMY_MAIL_SERVER[2]),
            ["ir_mail_server"],
        )
        if active:
            problems.append("active mail servers remain: %s" % ", ".join("%s (%s)" % row for row in active))
        if self.has("ir_cron", "active") and self.has("ir_model_data", "res_id"):
            crons = self._rows(
                "SELECT count(*) FROM {} WHERE active AND id NOT IN (SELECT res_id FROM {} WHERE "
                "model = 'ir.cron' AND module = 'base' AND name = 'autovacuum_job')",
                tables=["ir_cron", "ir_model_data"],
            )[0][0]
            if crons:
                problems.append("%d crons are still active" % crons)
        installed = set(self.installed_modules())
        for module, check in ((m, c) for m, c in MODULE_CHECKS if m in installed):
            problem = check(self)
            if problem:
                problems.append("%s: %s" % (module, problem))
        return problems

    def facts(self):
        """Version and flags for inventory; None where the database has no Odoo tables."""
        if not self.has("ir_module_module", "latest_version"):
            return {"odoo_version": None, "neutralized": None}
        version = self._rows("SELECT latest_version FROM {} WHERE name = 'base' AND state = 'installed'", tables=["ir_module_module"])
        flag = self.parameters("database.is_neutralized").get("database.is_neutralized")
        return {"odoo_version": version[0][0] if version else None, "neutralized": flag in ("true", "True")}

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
            (old_owner,),
            self.dbname,
        ):
            keyword = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}.get(kind, "TABLE")
            statements.append(
                sql.SQL("ALTER {} {}.{} OWNER TO {}").format(sql.SQL(keyword), sql.Identifier(schema), sql.Identifier(name), sql.Identifier(new_owner))
            )
        for _schema, signature in self.pg.query(
            "SELECT n.nspname, p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE pg_get_userbyid(p.proowner) = %s AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            (old_owner,),
            self.dbname,
        ):
            # signature is PostgreSQL's own regprocedure text (quoted as needed), not user input
            statements.append(sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(signature), sql.Identifier(new_owner)))
        for (schema,) in self.pg.query("SELECT nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) = %s", (old_owner,), self.dbname):
            statements.append(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), sql.Identifier(new_owner)))
        for statement in statements:
            self.pg.execute(statement, dbname=self.dbname)
        return len(statements)


def _web_banner(odoo):
    if not odoo.has("ir_ui_view", "key", "active"):
        return None
    rows = odoo._rows(
        "SELECT active FROM {} WHERE key = 'web.neutralize_banner'",  # pylint: disable=protected-access
        tables=["ir_ui_view"],
    )
    return "the neutralization banner view is not active" if rows and not all(r[0] for r in rows) else None


def _mail_push(odoo):
    left = sorted(odoo.parameters(*PUSH_KEYS))
    if left:
        return "push keys remain: %s" % ", ".join(left)
    for table in ("mail_push", "mail_push_device"):
        if odoo.has(table, "id") and odoo._rows("SELECT count(*) FROM {}", tables=[table])[0][0]:  # pylint: disable=protected-access
            return "%s still has rows" % table
    return None


def _payment(odoo):
    if not odoo.has("payment_provider", "state"):
        return None
    live = odoo._rows(
        "SELECT name::text FROM {} WHERE state NOT IN ('test', 'disabled')",  # pylint: disable=protected-access
        tables=["payment_provider"],
    )
    return "providers still enabled: %s" % ", ".join(r[0] for r in live) if live else None


def _credentials(odoo):
    left = odoo.credentials_left()
    return "account secrets remain: %s" % "; ".join("%s.%s" % (t, ", ".join(c)) for t, c in sorted(left.items())) if left else None


def _iap(odoo):
    if not odoo.has("iap_account", "account_token"):
        return None
    count = odoo._rows(
        "SELECT count(*) FROM {} WHERE account_token NOT LIKE '%+disabled'",  # pylint: disable=protected-access
        tables=["iap_account"],
    )[0][0]
    return "%d IAP accounts still enabled" % count if count else None


def _fetchmail(odoo):
    if not odoo.has("fetchmail_server", "active"):
        return None
    count = odoo._rows("SELECT count(*) FROM {} WHERE active", tables=["fetchmail_server"])[0][0]  # pylint: disable=protected-access
    return "%d incoming mail servers still active" % count if count else None


# The outcome of Odoo's neutralize.sql of each module, where the collection checks it.
MODULE_CHECKS = (("base", _credentials), ("web", _web_banner), ("mail", _mail_push), ("payment", _payment), ("iap", _iap), ("mail", _fetchmail))
