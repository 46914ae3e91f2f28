# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A login role's password rotated after a compromise: a new password (sent to the server as a
SCRAM verifier, never in clear, so no statement log holds it), the old credential's sessions cut,
the rotation recorded in the role's comment (when, so that a second run for the same compromise changes
nothing), and proofs - the new password is accepted, the old one refused."""

import secrets

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import parse_timestamp
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError, psycopg2, sql

# The last rotation is a line of the role's comment ("odoo_ops.credential_rotated=<time>"), readable by
# any role; the rest of the comment (an operator's) is kept. A per-role setting would be cleaner, but
# only a superuser may set a custom one.
ROTATED_KEY = "odoo_ops.credential_rotated="
ROLE_SQL = "SELECT rolcanlogin, rolsuper, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s"


def role_state(pg, role):
    """(can login, superuser, last rotation or None, its comment) of role; None when it does not exist."""
    rows = pg.query(ROLE_SQL, (role,))
    if not rows:
        return None
    login, superuser, comment = rows[0]
    marks = [line[len(ROTATED_KEY) :] for line in (comment or "").splitlines() if line.startswith(ROTATED_KEY)]
    rotated = parse_timestamp(marks[-1], "the role's last rotation") if marks else None
    return dict(login=login, superuser=superuser, rotated=rotated, comment=comment or "")


def sessions_of(pg, role):
    return [row[0] for row in pg.query("SELECT pid FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()", (role,))]


def new_password():
    return secrets.token_urlsafe(32)


def set_password(pg, role, password):
    """The new password as a SCRAM-SHA-256 verifier computed here: the server never sees it in clear."""
    verifier = psycopg2.extensions.encrypt_password(password, role, pg.connect(), "scram-sha-256")
    pg.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def record_rotation(pg, role, when):
    kept = [line for line in role_state(pg, role)["comment"].splitlines() if not line.startswith(ROTATED_KEY)]
    comment = "\n".join(kept + [ROTATED_KEY + when.isoformat()])
    pg.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(role), sql.Literal(comment)))


def terminate(pg, role):
    """Cut role's sessions; the number cut."""
    return len(pg.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()", (role,)))


def login_works(pg, role, password, dbname):
    """True when role logs in with password, False when the server refuses the password; any other
    failure (the server is down) is raised."""
    other = pg.as_role(role, password)
    try:
        other.query("SELECT 1", dbname=dbname)
        return True
    except PostgresError as exc:
        if "password authentication failed" in str(exc):
            return False
        raise
    finally:
        other.close()


def plan_rotation(pg, params):
    """(state before, steps) for rotating params['role'] after params['since']; refused when the role
    cannot be rotated here."""
    role = params["role"]
    since = parse_timestamp(params["since"], "since")
    state = role_state(pg, role)
    if state is None:
        raise Refused("role %s does not exist" % role)
    if state["superuser"]:
        raise Refused("role %s is a superuser: rotate it as a superuser, by hand (this module logs in with a narrower role)" % role)
    if role == pg.user:
        raise Refused("role %s is the role this module logs in as: rotate it from another role" % role)
    before = dict(role=role, rotated=state["rotated"].isoformat() if state["rotated"] else None)
    if state["rotated"] and state["rotated"] >= since and not params["rotate_again"]:
        return before, []
    steps = ["set a new password for role %s (written to %s, mode 0600)" % (role, params["password_file"])]
    if params["terminate_sessions"]:
        steps.append("terminate the %d session(s) of role %s opened with the old credential" % (len(sessions_of(pg, role)), role))
    steps.append("record the rotation in role %s's comment (%s<time>)" % (role, ROTATED_KEY))
    return before, steps


def prove(pg, role, new, old, dbname):
    """The proofs: the new password is accepted, the old one (when known) refused."""
    proofs = dict(new_password_accepted=login_works(pg, role, new, dbname))
    if old:
        proofs["old_password_refused"] = not login_works(pg, role, old, dbname)
    if not proofs["new_password_accepted"] or proofs.get("old_password_refused") is False:
        raise OperationFailed("role %s: the rotation is not proven (%s)" % (role, proofs), changed=True, result=dict(proofs=proofs))
    return proofs
