# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only inventory of a server's tenants (odoo_tenant_info)."""

import os

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import tree_size
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.database import NotAnOdooTable, OdooDatabase
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import observe_database


def list_tenants(pg, params):
    names = [
        row[0]
        for row in pg.query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND (datname = %s OR %s IS NULL) AND "
            "(pg_get_userbyid(datdba) = %s OR shobj_description(oid, 'pg_database') LIKE %s) ORDER BY datname",
            (params.get("name"), params.get("name"), params.get("owner"), '%"managed_by": "sysgenpro.odoo_ops"%'),
        )
    ]
    tenants = []
    for name in names:
        found = observe_database(pg, name)
        metadata = found["metadata"] or {}
        if params.get("pattern") and metadata.get("pattern") != params["pattern"]:
            continue
        if params.get("tier") and metadata.get("tier") != params["tier"]:
            continue
        entry = {
            "name": name,
            "state": "active" if found["allow_connections"] else "suspended",
            "owner": found["owner"],
            "managed": found["metadata"] is not None,
            "metadata": metadata,
            "connection_limit": found["connection_limit"],
            "statement_timeout": found["statement_timeout"],
            "database_bytes": pg.query("SELECT pg_database_size(%s)", (name,))[0][0],
            "filestore_bytes": None,
            "odoo_version": None,
            "neutralized": None,
        }
        root = params.get("filestore_root")
        if root and os.path.isdir(os.path.join(root, name)):
            entry["filestore_bytes"] = tree_size(os.path.join(root, name))
        if found["allow_connections"]:
            try:
                entry.update(OdooDatabase(pg, name).facts())
            except PostgresError:
                pass  # no CONNECT privilege for this role: the facts stay unknown
            except NotAnOdooTable as exc:
                entry["problem"] = str(exc)  # a tenant's view in place of an Odoo table is not read
            finally:
                pg.close(name)
        tenants.append(entry)
    return tenants
