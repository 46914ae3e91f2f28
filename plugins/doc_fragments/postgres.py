# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the modules that talk to PostgreSQL."""

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host of the PostgreSQL server. If not set, the environment variable E(PGHOST) is used,
        then O(login_unix_socket) or V(localhost).
    type: str
  login_port:
    description:
      - Port of the PostgreSQL server. If not set, the environment variable E(PGPORT) is used, then V(5432).
    type: int
  login_user:
    description:
      - Role the module connects as. It needs C(CREATEDB) and C(CREATEROLE) (and, to cut sessions,
        membership of C(pg_signal_backend)); it should not be a superuser.
      - If not set, the environment variable E(PGUSER) is used, then V(postgres).
    type: str
  login_password:
    description:
      - Password of O(login_user). If not set, the environment variable E(PGPASSWORD) is used.
    type: str
  login_unix_socket:
    description:
      - Directory of the server's Unix socket, used instead of TCP when O(login_host) is not set.
      - If not set, the environment variable E(ODOO_OPS_PG_UNIX_SOCKET) is used.
    type: path
  ssl_mode:
    description:
      - libpq C(sslmode). If not set, the environment variable E(PGSSLMODE) is used, then V(prefer).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate(s) to verify the server with (C(verify-ca), C(verify-full)).
      - If not set, the environment variable E(PGSSLROOTCERT) is used.
    type: path
    aliases: [ssl_rootcert]
requirements:
  - psycopg2 (or psycopg2-binary) on the host that runs the module
"""
