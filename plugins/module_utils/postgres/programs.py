# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL's client programs (pg_dump, pg_restore, psql, pg_amcheck, ...): where they are, one
convention for every module (`pg_bin_dir`), and what a version can do.

Their environment is built from scratch for PostgreSQL: inherited PG* variables (PGSERVICEFILE,
PGOPTIONS, PGPASSFILE, ...) could point a program at another server, user or option than the
task's, so they are dropped and the client's own (host, port, user, password, TLS) set.
"""

import os
import re
import shutil
import subprocess
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

DEFAULT_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
# psql's \restrict (only \unrestrict <key> is run after it) came with these minor releases (CVE-2025-8714).
RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}
VERSION_RE = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


def program(pg_bin_dir, name):
    """The path of a client program: in pg_bin_dir when given, else on PATH, else in Debian's folders."""
    if pg_bin_dir:
        path = os.path.join(pg_bin_dir, name)
        if not os.access(path, os.X_OK):
            raise Refused("pg_bin_dir %s has no executable %s" % (pg_bin_dir, name))
        return path
    found = shutil.which(name) or next((os.path.join(d, name) for d in DEFAULT_BIN_DIRS if os.access(os.path.join(d, name), os.X_OK)), None)
    if not found:
        raise Refused("%s is not on PATH: install PostgreSQL's client programs or give pg_bin_dir" % name)
    return found


def program_env(pg_env):
    """os.environ without PG* variables, plus the client's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(pg_env)
    return env


def version(path):
    """(major, minor) of a client program, from its --version."""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    found = VERSION_RE.search(done.stdout)
    if done.returncode != 0 or not found:
        raise Refused("%s --version did not say its PostgreSQL version: %s" % (path, (done.stdout + done.stderr)[:200]))
    return int(found.group(1)), int(found.group(2) or 0)


def supports_restrict(path):
    """Whether this psql has \\restrict, which refuses every later meta-command (\\!, \\connect, \\copy,
    \\o |cmd, \\gexec, ...) but \\unrestrict with the key given."""
    major, minor = version(path)
    return major >= 18 or minor >= RESTRICT_SINCE.get(major, 10**6)
