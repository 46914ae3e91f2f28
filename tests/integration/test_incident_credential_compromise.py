"""incident_credential_compromise.yml on the harness's PostgreSQL: check mode and a run without
confirmation change nothing; a run rotates the named role (its open session cut, the old password
refused, the new one - from the file, never in -vvv output - accepted) and reports it; a second run
for the same compromise changes nothing, rotate_again rotates again."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import psycopg2
import pytest

from tests.harness.playbook import VENV_BIN
from tests.harness.services import REPO_ROOT

ROLE, OLD = "cc_fleet_%s" % uuid.uuid4().hex[:6], "old-" + uuid.uuid4().hex
SINCE = "2026-12-01T08:00:00+00:00"


@pytest.fixture(scope="module")
def env(harness):
    state = harness.up("postgres")["postgres"]
    work = tempfile.mkdtemp(prefix="odoo_ops-cc-")
    superuser = {"host": state["socket_dir"], "port": state["port"], "user": "postgres", "dbname": "postgres"}
    with contextlib.closing(psycopg2.connect(**superuser)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % ROLE, (OLD,))
    try:
        yield {"state": state, "work": work, "secrets": os.path.join(work, "secrets"), "reports": os.path.join(work, "reports")}
    finally:
        with contextlib.closing(psycopg2.connect(**superuser)) as conn, conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
            cur.execute("DROP ROLE IF EXISTS %s" % ROLE)
        shutil.rmtree(work, ignore_errors=True)


def login(env, password):
    return contextlib.closing(psycopg2.connect(host="127.0.0.1", port=env["state"]["port"], user=ROLE, password=password, dbname="postgres", connect_timeout=5))


def refused(env, password):
    try:
        with login(env, password):
            return False
    except psycopg2.OperationalError as exc:
        return "password authentication failed" in str(exc)


def runbook(env, *args, **extra):
    variables = {
        "incident_credential_compromise_confirm": True,
        "incident_credential_compromise_roles": ROLE,
        "incident_credential_compromise_since": SINCE,
        "incident_credential_compromise_secret_dir": env["secrets"],
        "incident_credential_compromise_report_dir": env["reports"],
        "incident_credential_compromise_old_passwords": {ROLE: OLD},
        "odoo_ops_postgres": {
            "login_host": "127.0.0.1",
            "login_port": env["state"]["port"],
            "login_user": env["state"]["admin_user"],
            "login_password": env["state"]["admin_password"],
        },
    }
    variables.update(extra)
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/incident_credential_compromise.yml", "-e", json.dumps(variables)] + list(args)
    env_vars = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(argv, cwd=REPO_ROOT, env=env_vars, capture_output=True, text=True, timeout=600, check=False)


def report_files(env):
    return sorted(n for n in os.listdir(env["reports"]) if n.endswith(".json")) if os.path.isdir(env["reports"]) else []


def test_rotation_cuts_sessions_proves_and_reports_once(env):
    with login(env, OLD) as session:
        planned = runbook(env, "--check")
        assert planned.returncode == 0 and "set a new password for role %s" % ROLE in planned.stdout, planned.stdout[-3000:]
        unconfirmed = runbook(env, incident_credential_compromise_confirm=False)
        assert unconfirmed.returncode != 0 and "incident_credential_compromise_confirm=true" in unconfirmed.stdout
        assert not refused(env, OLD) and report_files(env) == [] and not os.path.exists(os.path.join(env["secrets"], ROLE))
        done = runbook(env, "-vvv")
        assert done.returncode == 0, [line for line in done.stdout.splitlines() if '"msg"' in line][:5]
        with pytest.raises(psycopg2.Error), session.cursor() as cur:  # the old credential's session is cut
            cur.execute("SELECT 1")
    with open(os.path.join(env["secrets"], ROLE), encoding="utf-8") as handle:
        new = handle.read().strip()
    assert oct(os.stat(os.path.join(env["secrets"], ROLE)).st_mode & 0o777) == "0o600"
    assert refused(env, OLD) and not refused(env, new)
    assert new not in done.stdout and new not in done.stderr and OLD not in done.stdout  # secrets absent from -vvv
    (name,) = report_files(env)
    report = json.load(open(os.path.join(env["reports"], name), encoding="utf-8"))
    (credential,) = report["credentials"]
    assert report["outcome"] == "rotated" and credential["role"] == ROLE and credential["sessions_terminated"] == 1, report
    assert credential["proofs"] == {"new_password_accepted": True, "old_password_refused": True} and credential["rotated_at"]
    markdown = open(os.path.join(env["reports"], name[:-5] + ".md"), encoding="utf-8").read()
    assert "| %s | %s |" % (ROLE, credential["rotated_at"]) in markdown and new not in markdown
    # The same compromise again: nothing to do; rotate_again: a new password.
    again = runbook(env)
    assert again.returncode == 0 and not refused(env, new), again.stdout[-3000:]
    assert [json.load(open(os.path.join(env["reports"], n), encoding="utf-8"))["credentials"][0]["rotated_at"] for n in report_files(env)][-1] is None
    forced = runbook(env, incident_credential_compromise_rotate_again=True, incident_credential_compromise_old_passwords={ROLE: new})
    assert forced.returncode == 0 and refused(env, new), forced.stdout[-3000:]
