"""pg_pitr_restore on a real PostgreSQL 15 cluster backed up by the pg_backup role (pgBackRest,
SeaweedFS S3 over TLS), through ansible-playbook. Every pitfall of ../shared/PITR_CHECKLIST.md is a
case here. The source is a private cluster of this module (its own archive and stanza)."""

import contextlib
import datetime
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import zlib

import psycopg2
import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import LOCK_CLASS
from tests.harness.contract import assert_same_plan_keys
from tests.harness.http import request
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.options import s3_client, signing_key
from tests.harness.pitr_source import PG_CTL, backup, config_variant, info, pitr_source, sql, stop_copy, switch_and_wait
from tests.harness.playbook import run_tasks
from tests.harness.process import free_port
from tests.harness.services import REPO_ROOT
from tests.harness.tcp_proxy import CuttableProxy

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
UTC = datetime.timezone.utc


class Ticker:
    """One row every ~50 ms, each carrying its own time, committed one by one."""

    def __init__(self, conninfo):
        self.conninfo, self.stop, self.thread = conninfo, threading.Event(), None

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        with contextlib.closing(psycopg2.connect(**self.conninfo)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for _tick in range(20000):  # bounded: ~16 minutes at most
                    if self.stop.wait(0.05):
                        break
                    cur.execute("INSERT INTO ticks DEFAULT VALUES")

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def source(harness):
    with pitr_source(harness.up("s3")["s3"], "pitr", "pitr") as data:
        yield data


def task(source, name, port=None, **args):
    options = {
        "stanza": "pitr",
        "pgbackrest_config": source["config"],
        "data_dir": os.path.join(source["restores"], name),
        "port": free_port() if port is None else port,
    }
    options.update(args)
    return {"sysgenpro.odoo_ops.pg_pitr_restore": options, "become": True, "become_user": "postgres", "vars": {"ansible_become_method": "ansible.builtin.su"}}


def run(*tasks, timeout=900, **kwargs):
    result = run_tasks(list(tasks), timeout=timeout, **kwargs)
    assert len(result.results) == len(tasks), [r.get("msg") for r in result.results] or result
    return result.results


def copy_ids(result):
    conninfo = {"host": result["data_dir"], "port": result["port"], "user": "postgres", "dbname": "postgres"}
    return [row[0] for row in sql(conninfo, "SELECT id FROM ticks ORDER BY id")]


def commits(source):
    """{id: commit time} of the source's rows."""
    return dict(sql(source["superuser"], "SELECT id, pg_xact_commit_timestamp(xmin) FROM ticks"))


@pytest.fixture(scope="module")
def history(source):
    """Rows over a full and a differential backup, all archived: {id: commit time}, the backups."""
    with Ticker(source["superuser"]):
        time.sleep(4)
        backup(source, "diff")
        time.sleep(4)
    switch_and_wait(source)
    return {"commits": commits(source), "backups": info(source)["backup"]}


def stamp(moment):
    return moment.astimezone(UTC).isoformat()


def test_exact_rows_at_random_targets_inclusive_both_ways_across_full_and_diff(source, history):
    committed = history["commits"]
    full_stop = datetime.datetime.fromtimestamp(history["backups"][0]["timestamp"]["stop"], UTC)
    diff_stop = datetime.datetime.fromtimestamp(history["backups"][-1]["timestamp"]["stop"], UTC)
    margin = datetime.timedelta(seconds=1)  # pgBackRest records a backup's stop in whole seconds
    ordered = sorted((t, i) for i, t in committed.items() if t >= full_stop + margin)
    rng = random.Random(4)
    picks = sorted(rng.sample(range(len(ordered) - 1), 20))
    cases = []
    for n, index in enumerate(picks):
        commit_time, _row = ordered[index]
        inclusive = n % 2 == 0
        cases.append((commit_time, inclusive))  # exactly on a commit: inclusive decides that row
    assert any(t < diff_stop for t, _i in cases) and any(t > diff_stop + margin for t, _i in cases)
    try:
        check_exact(source, history, cases, diff_stop + margin)
    finally:
        for name in os.listdir(source["restores"]):
            stop_copy(os.path.join(source["restores"], name))


def check_exact(source, history, cases, diff_reachable):
    committed = history["commits"]
    for batch in range(0, len(cases), 5):
        chunk = cases[batch : batch + 5]
        results = run(
            *[
                task(source, "exact%d" % (batch + k), target={"type": "time", "value": stamp(t), "inclusive": inclusive})
                for k, (t, inclusive) in enumerate(chunk)
            ]
        )
        for (target, inclusive), result in zip(chunk, results):
            assert result.get("reached_target"), result
            expected = sorted(i for i, t in committed.items() if t < target or (inclusive and t == target))
            assert copy_ids(result) == expected, (target, inclusive, result["stop_reason"])
            assert result["backup_set"] == (history["backups"][-1]["label"] if target >= diff_reachable else history["backups"][0]["label"])
            assert result["state"] == "paused" and result["durations"]["total"] > 0
            # PostgreSQL stops before the first commit after the target (inclusive) or at it (exclusive).
            assert result["stop_reason"].startswith("recovery stopping before commit of transaction")
            stop_copy(result["data_dir"])


def test_check_mode_reports_plan_and_touches_nothing_then_idempotent_stamp(source, history):
    target = sorted(history["commits"].values())[-3]  # later commits in the archive let recovery stop
    zulu = stamp(target).replace("+00:00", "Z")
    check = run(task(source, "plan", port=free_port(), target={"type": "time", "value": zulu}), check=True)[0]
    assert check["changed"] and check["backup_set"] == history["backups"][-1]["label"], check
    assert check["target"]["value"].endswith("+00") and " " in check["target"]["value"]
    assert not os.path.exists(check["data_dir"])
    assert check["diff"]["before"] == {"data_dir": check["data_dir"], "restore": None}
    assert check["diff"]["after"]["restore"]["backup_set"] == check["backup_set"]
    port = free_port()
    planned = run(task(source, "again", port=port, target={"type": "time", "value": stamp(target)}, action="promote"), check=True)[0]
    first = run(task(source, "again", port=port, target={"type": "time", "value": stamp(target)}, action="promote"))[0]
    assert first["changed"] and first["state"] == "promoted" and first["timeline"] >= 2, first.get("msg", first)
    assert first["diff"] == planned["diff"]  # check mode and the real run report the same plan
    assert_same_plan_keys(planned, first)
    assert first["steps"] == planned["steps"]
    sql({"host": first["data_dir"], "port": port, "user": "postgres", "dbname": "postgres"}, "SELECT 1")
    second = run(task(source, "again", port=port, target={"type": "time", "value": stamp(target)}, action="promote"))[0]
    assert second["changed"] is False and second["backup_set"] == first["backup_set"], second
    assert second["diff"]["before"] == second["diff"]["after"] == first["diff"]["after"]
    conninfo = {"host": first["data_dir"], "port": port, "user": "postgres", "dbname": "postgres"}
    assert sql(conninfo, "SHOW archive_mode") == [("off",)]
    sql(conninfo, "CREATE TABLE scribble (id int)")  # the operator wrote into the promoted copy
    forced = run(task(source, "again", port=port, target={"type": "time", "value": stamp(target)}, action="promote", force=True))[0]
    assert forced["changed"] and forced["replaces"], forced.get("msg", forced)
    assert forced["diff"]["before"]["restore"] == first["diff"]["after"]["restore"] == forced["replaces"]
    assert sql(conninfo, "SELECT to_regclass('scribble')") == [(None,)]  # a fresh restore, not the old copy
    stop_copy(first["data_dir"])


def test_refusals_change_nothing(source, history):
    backups = history["backups"]
    before_full = datetime.datetime.fromtimestamp(backups[0]["timestamp"]["start"], UTC) - datetime.timedelta(seconds=1)
    busy = os.path.join(source["restores"], "busy")
    os.makedirs(busy, exist_ok=True)
    open(os.path.join(busy, "keep.txt"), "w").write("data")
    cases = [
        ({"target": {"type": "time", "value": "2026-11-23 10:00:00"}}, "has no time zone"),
        ({"target": {"type": "time", "value": stamp(before_full)}}, "before the end of the earliest backup"),
        ({"target": {"type": "time", "value": stamp(before_full)}, "backup_set": backups[-1]["label"]}, "before backup %s stopped" % backups[-1]["label"]),
        ({"target": {"type": "time", "value": "2999-01-01T00:00:00Z"}}, "is in the future"),
        ({"target": {"type": "xid", "value": "1234"}}, "give backup_set"),
        ({"target": {"type": "name", "value": "before_upgrade"}}, "give backup_set"),
        ({"target": {"type": "lsn", "value": "not-an-lsn"}}, "is not an LSN"),
        ({"target": {"type": "latest"}, "data_dir": busy}, "is not empty"),
        ({"target": {"type": "latest"}, "mode": "in_place", "data_dir": source["pg"]["data_dir"]}, "needs confirm: true"),
        ({"target": {"type": "latest"}, "mode": "in_place", "confirm": True, "data_dir": source["pg"]["data_dir"]}, "is running"),
        ({"target": {"type": "latest"}, "port": source["pg"]["port"]}, "is in use"),
        ({"target": {"type": "latest"}, "backup_set": "20990101-000000F"}, "is not in the repository"),
        ({"target": {"type": "latest"}, "stanza": "nosuch"}, "nosuch"),
    ]
    listing = sorted(os.listdir(source["restores"]))
    for args, message in cases:
        result = run(task(source, "refused", **args))[0]
        assert result.get("failed") and message in result["msg"], (args, result)
        assert sorted(os.listdir(source["restores"])) == listing, args
    assert open(os.path.join(busy, "keep.txt")).read() == "data"
    shutil.rmtree(busy)


def no_traceback(result):
    """A failure the module chose (fail_json with a message), not a crash: an uncaught exception gives
    MODULE FAILURE with the traceback in module_stderr. (Ansible 2.19 sets `exception` on every
    fail_json, to "(traceback unavailable)" unless tracebacks are asked for.)"""
    return not (result.get("module_stderr") or "MODULE FAILURE" in result.get("msg", "") or "Traceback (most recent call last)" in json.dumps(result))


def test_ambiguous_targets_bad_destinations_and_ports_are_refused_before_anything_changes(source, history):
    """Issue #14: each refusal names the problem, in check mode and in a real run alike, and nothing
    is created - not in the restores folder, not in the running source cluster's data directory."""
    pg = source["pg"]
    later = {"type": "time", "value": stamp(sorted(history["commits"].values())[-3])}
    sloppy = os.path.join(source["restores"], "..", "r", "sloppy")
    cases = [
        ({"target": {"type": "time", "value": "2026-12-02"}}, "is a date without a time"),
        ({"target": {"type": "time", "value": "2026-12-02T10+01:00"}}, "has an hour but no minutes"),
        ({"target": {"type": "time", "value": later["value"] + "\n"}}, "has white space around it"),
        ({"target": {"type": "time", "value": "0001-01-01T00:00:00+01:00"}}, "is out of range"),
        ({"target": later, "data_dir": "pitr-relative"}, "is a relative path"),
        ({"target": later, "port": 0}, "is not a port: give a number from 1 to 65535"),
        ({"target": later, "port": 70000}, "is not a port: give a number from 1 to 65535"),
        ({"target": later, "data_dir": os.path.join(pg["data_dir"], "pitr")}, "is inside the PostgreSQL data directory %s" % pg["data_dir"]),
        ({"target": later, "data_dir": os.path.join(pg["data_dir"], "base", "pitr")}, "is inside the PostgreSQL data directory %s" % pg["data_dir"]),
        ({"target": later, "data_dir": pg["data_dir"]}, "is a PostgreSQL data directory"),
        ({"target": later, "data_dir": os.path.dirname(pg["data_dir"])}, "holds the PostgreSQL data directory"),
        ({"target": later, "data_dir": os.path.join(source["work"], "spool", "pitr")}, "is inside the pgBackRest spool path"),
        ({"target": later, "pgbackrest_options": {"repo2-type": "posix", "repo2-path": source["restores"]}}, "is inside the pgBackRest repository repo2"),
        ({"target": later, "data_dir": os.path.join(source["restores"], "with space")}, "cannot carry unquoted"),
        ({"target": later, "data_dir": os.path.join(source["restores"], "100%")}, "cannot carry unquoted"),
        ({"target": later, "wait_timeout": 0}, "wait_timeout 0 must be a number of seconds, at least 1"),
        ({"target": later, "pg_bin_dir": "/usr/lib/postgresql/99/bin"}, "has no pg_ctl this user can run"),
        ({"target": later, "pgbackrest_path": "/usr/bin/no-pgbackrest"}, "pgBackRest is not installed"),
        ({"target": later, "pgbackrest_options": {"repo1-cipher-pass": "misplaced-" + "x" * 8}}, "repo1-cipher-pass looks like a secret"),
        ({"target": later, "data_dir": sloppy}, None),  # normalised (no `..`): accepted in check mode
    ]
    data_dir_listing = sorted(os.listdir(pg["data_dir"]))
    listing = sorted(os.listdir(source["restores"]))
    for check in (True, False):
        for args, message in cases:
            if message is None:
                if check:
                    planned = run(task(source, "refused", **args), check=True)[0]
                    assert planned["changed"] and planned["data_dir"] == os.path.join(source["restores"], "sloppy")
                continue
            result = run(task(source, "refused", **args), check=check)[0]
            assert result.get("failed") and message in result["msg"], (args, result)
            assert no_traceback(result) and result["changed"] is False, result
            assert sorted(os.listdir(source["restores"])) == listing, args
            assert sorted(os.listdir(pg["data_dir"])) == data_dir_listing, args


def test_operator_errors_end_in_messages_naming_the_problem(source, history):
    """Issue #14, item 4: a stanza that does not exist, a repository that does not answer, a data_dir
    this user may not write or read, a configuration it may not read, a port in use, a copy_user that
    does not exist - each a failure naming it, never a traceback, the destination left as it was."""
    later = {"type": "time", "value": stamp(sorted(history["commits"].values())[-3])}
    locked = os.path.join(source["restores"], "locked")
    os.makedirs(locked)
    os.chmod(locked, 0o700)  # root's, not postgres's
    unreadable = config_variant(source, "unreadable.conf")
    shutil.chown(unreadable, "root", "root")
    closed = free_port()
    cases = [
        ({"stanza": "nosuch"}, "stanza nosuch cannot be read from the repository: repo1: missing stanza path"),
        ({"pgbackrest_options": {"repo1-storage-port": closed, "io-timeout": 2}}, "unable to connect to 'localhost:%d'" % closed),
        ({"data_dir": os.path.join(locked, "copy")}, "parent %s is not writable by this user (postgres)" % locked),
        ({"data_dir": locked}, "cannot be read by this user (postgres): permission denied"),
        ({"pgbackrest_config": unreadable}, "cannot be read by this user"),
        ({"port": source["pg"]["port"]}, "port %d is in use" % source["pg"]["port"]),
    ]
    try:
        for args, message in cases:
            result = run(task(source, "oops", target=later, **args), timeout=120)[0]  # refused before any wait
            assert result.get("failed") and message in result["msg"], (args, result)
            assert no_traceback(result), result
            assert os.listdir(locked) == [] and not os.path.exists(os.path.join(source["restores"], "oops"))
        # A wrong copy_user is found only once the copy runs: a failure in seconds, not wait_timeout's wait.
        result = run(task(source, "oops", target=later, copy_user="nosuch", wait_timeout=600), timeout=120)[0]
        assert result.get("failed") and "cannot connect to the restored server as copy_user nosuch" in result["msg"]
        assert 'role "nosuch" does not exist' in result["msg"] and no_traceback(result), result
        assert not os.path.exists(os.path.join(source["restores"], "oops"))
    finally:
        shutil.rmtree(locked)
        os.unlink(unreadable)


@pytest.fixture(scope="module")
def sync_source(harness):
    """A second cluster whose pgBackRest configuration does not enable archive-async (issue #16)."""
    with pitr_source(harness.up("s3")["s3"], "pitrsync", "pitr-sync", archive_async=False) as data:
        yield data


@pytest.mark.parametrize("kind", ["archive-async", "no-archive-async"])
def test_exact_restore_with_and_without_archive_async_in_the_configuration(kind, request):
    """Issue #16: restore_command passed --spool-path, which pgBackRest 2.45 refuses without
    archive-async ("option 'spool-path' not valid without option 'archive-async'"), so recovery
    aborted at the first WAL segment of every repository configured without it. The copy now runs
    its own asynchronous archive-get whatever the configuration says."""
    source = request.getfixturevalue("source" if kind == "archive-async" else "sync_source")
    config = open(source["config"]).read()
    assert ("archive-async=y" if kind == "archive-async" else "archive-async=n") in config
    with Ticker(source["superuser"]):
        time.sleep(3)
    switch_and_wait(source)
    committed = commits(source)
    target = sorted(committed.values())[-5]
    try:
        for name, spec in (("exact", {"type": "time", "value": stamp(target), "inclusive": True}), ("latest", {"type": "latest"})):
            result = run(task(source, "%s-%s" % (kind, name), stanza=source["stanza"], target=spec))[0]
            assert result.get("reached_target"), result.get("msg", result)
            expected = sorted(i for i, t in committed.items() if t <= target) if name == "exact" else sorted(committed)
            assert copy_ids(result) == expected, (kind, name)
            wrapper = open(os.path.join(result["data_dir"], "odoo_ops_restore_command")).read()
            assert "--archive-async" in wrapper and "--spool-path=" in wrapper
            log = open(result["log_file"]).read()
            assert "restored log file" in log and "not valid without option" not in log
            stop_copy(result["data_dir"])
    finally:
        for name in os.listdir(source["restores"]):
            stop_copy(os.path.join(source["restores"], name))


def test_tenant_refusals_change_nothing(source, history):
    """pg_pitr_tenant's own inputs, refused before anything is restored or created."""
    later = {"type": "time", "value": stamp(sorted(history["commits"].values())[-3])}
    pg = source["pg"]
    cases = [
        ({"work_dir": "pitr-work"}, "work_dir 'pitr-work' is a relative path"),
        ({"port": 0}, "is not a port"),
        ({"jobs": 0}, "jobs 0 must be at least 1"),
        ({"filestore_root": "filestore", "bucket": "x"}, "filestore_root 'filestore' is a relative path"),
        (
            {"work_dir": pg["data_dir"]},
            "the side cluster's folder (in work_dir) %s/postgres_pitr_side is inside the PostgreSQL data directory %s" % (pg["data_dir"], pg["data_dir"]),
        ),
        ({"target": {"type": "time", "value": "2026-12-02"}}, "is a date without a time"),
    ]
    data_dir_listing = sorted(os.listdir(pg["data_dir"]))
    for args, message in cases:
        result = run(tenant_task(source, tenant="postgres", **dict({"target": later}, **args)))[0]
        assert result.get("failed") and message in result["msg"], (args, result)
        assert no_traceback(result) and os.listdir(source["restores"]) == [], result
        assert sorted(os.listdir(pg["data_dir"])) == data_dir_listing
        assert sql(source["superuser"], "SELECT count(*) FROM pg_database WHERE datname = 'postgres_pitr'") == [(0,)]
    # Another run holds the tenant's lock (odoo_tenant removing or cloning it): wait, then give up, changing nothing.
    key = zlib.crc32(b"postgres") - 2**31
    with contextlib.closing(psycopg2.connect(**source["superuser"])) as holder, holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, key))
        for check in (True, False):
            result = run(tenant_task(source, tenant="postgres", target=later, lock_timeout=1), check=check)[0]
            assert result.get("failed") and "tenant postgres is being changed by another run" in result["msg"], result
            assert no_traceback(result) and os.listdir(source["restores"]) == [], result
    assert sorted(os.listdir(pg["data_dir"])) == data_dir_listing


def test_target_beyond_the_archive_fails_clearly_without_hanging(source, history):
    switch_and_wait(source)  # archive_timeout (60 s) restarts here: the next rows stay unarchived meanwhile
    with Ticker(source["superuser"]):
        time.sleep(1.5)
    # These rows sit in the current, unarchived WAL segment (archive_timeout is 60 s).
    newest = max(commits(source).values())
    # Bounded by the play's timeout, under wait_timeout's wait: the end of the archive is found, not waited for.
    result = run(task(source, "beyond", target={"type": "time", "value": stamp(newest)}, wait_timeout=120), timeout=120)[0]
    assert result.get("failed") and "the archive ends before the target" in result["msg"], result
    assert not os.path.exists(os.path.join(source["restores"], "beyond"))
    # The forced switch archives the tail first: the same target is then reached exactly.
    conninfo = "host=%s port=%d user=postgres dbname=postgres" % (source["pg"]["socket_dir"], source["pg"]["port"])
    done = run(task(source, "beyond", target={"type": "time", "value": stamp(newest)}, switch_wal_conninfo=conninfo))[0]
    assert done.get("reached_target"), done
    assert max(copy_ids(done)) == max(i for i, t in commits(source).items() if t <= newest)
    stop_copy(done["data_dir"])


def test_after_a_promoted_restore_the_source_timeline_is_still_followed(source, history):
    """A promoted copy never archives (archive_mode off), so the repository has no timeline 2 and a
    later restore of the source, on its current timeline, is exact."""
    target = sorted(history["commits"].values())[len(history["commits"]) // 2]
    promoted = run(task(source, "tl1", target={"type": "time", "value": stamp(target)}, action="promote"))[0]
    assert promoted["state"] == "promoted" and promoted["timeline"] == 2, promoted
    time.sleep(1)
    stop_copy(promoted["data_dir"])
    assert all(a["max"].startswith("00000001") for a in info(source)["archive"])  # nothing of the copy archived
    listing = [o["Key"] for o in s3_client(source["s3"]).list_objects_v2(Bucket="pitr").get("Contents", [])]
    assert not [key for key in listing if key.endswith("00000002.history")]
    later = sorted(history["commits"].values())[-3]
    again = run(task(source, "tl2", target={"type": "time", "value": stamp(later)}))[0]
    assert copy_ids(again) == sorted(i for i, t in history["commits"].items() if t <= later)
    stop_copy(again["data_dir"])


def test_a_repository_error_during_recovery_aborts_instead_of_promoting(source, history):
    """restore_command exits 126 on a repository error: PostgreSQL stops, nothing is promoted."""
    proxy = CuttableProxy(source["s3"]["port"], cut_after=None)
    config = os.path.join(source["work"], "etc", "via-proxy.conf")
    text = open(source["config"]).read().replace("repo1-storage-port=%d" % source["s3"]["port"], "repo1-storage-port=%d" % proxy.port)
    assert "repo1-storage-port=%d" % proxy.port in text and "[global]\n" in text
    # An outage is noticed within seconds rather than pgBackRest's default minute per attempt.
    text = text.replace("[global]\n", "[global]\narchive-timeout=10\nio-timeout=5\n", 1)
    with open(config, "w") as handle:
        handle.write(text)
    shutil.chown(config, "postgres", "postgres")
    dest = os.path.join(source["restores"], "flaky")

    def cut_when_started():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not os.path.exists(os.path.join(dest, "postmaster.pid")):
            time.sleep(0.01)
        proxy.close()

    cutter = threading.Thread(target=cut_when_started)
    cutter.start()
    try:
        result = run(task(source, "flaky", target={"type": "latest"}, action="promote", pgbackrest_config=config, wait_timeout=120))[0]
    finally:
        cutter.join()
        proxy.close()
        os.unlink(config)
    assert result.get("failed") and "restore_command failed" in result["msg"], result
    assert not os.path.exists(dest)


def test_secrets_never_in_output(source, history):
    planned = dict(task(source, "secret", target={"type": "immediate"}), check_mode=True)
    result = run_tasks([planned, task(source, "secret2", target={"type": "latest"}, stanza="nosuch")], verbosity=3)
    assert len(result.results) == 2
    for secret in source["secrets"]:
        assert secret not in result.output and secret not in result.stderr


def test_ordinary_options_shown_and_secrets_masked_at_vvv(source, history):
    """Issue #14: pgbackrest_options was no_log as a whole, so a short value (`y`) masked every `y` of
    every result (`/tmp/.../cop********1`). Now ordinary options and paths are shown as given, and the
    secrets - given in pgbackrest_secrets, the configuration file holding none - never appear."""
    s3 = source["s3"]
    secret_names = ("repo1-cipher-pass", "repo1-s3-key", "repo1-s3-key-secret")
    config = config_variant(source, "no-secrets.conf", drop=secret_names)
    assert not [name for name in secret_names if name + "=" in open(config).read()]
    secrets = {"repo1-cipher-pass": source["cipher_pass"], "repo1-s3-key": s3["access_key"], "repo1-s3-key-secret": s3["secret_key"]}
    options = {"repo1-storage-verify-tls": "y", "process-max": 2}
    misplaced = "misplaced-" + os.urandom(6).hex()
    copy = task(
        source, "copy1", target={"type": "immediate"}, action="promote", pgbackrest_config=config, pgbackrest_options=options, pgbackrest_secrets=secrets
    )
    wrong = task(
        source, "copy2", target={"type": "immediate"}, pgbackrest_config=config, pgbackrest_options=dict(options, **{"repo1-s3-key-secret": misplaced})
    )
    wrong["ignore_errors"] = True
    try:
        played = run_tasks([copy, wrong], verbosity=3, timeout=900)
        done, refused = played.results
        assert done.get("reached_target") and done["state"] == "promoted", done.get("msg", done)  # the secrets worked
        assert done["data_dir"] == os.path.join(source["restores"], "copy1")
        assert '"data_dir": "%s"' % done["data_dir"] in played.output  # shown as given, not cop********1
        assert done["invocation"]["module_args"]["pgbackrest_options"] == {"repo1-storage-verify-tls": "y", "process-max": 2}
        assert set(done["invocation"]["module_args"]["pgbackrest_secrets"].values()) == {"VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
        assert refused.get("failed") and "repo1-s3-key-secret looks like a secret" in refused["msg"], refused
        for secret in list(secrets.values()) + [misplaced]:
            assert secret not in played.output and secret not in played.stderr, secret[:4]
        assert not os.path.exists(os.path.join(source["restores"], "copy2"))
    finally:
        stop_copy(os.path.join(source["restores"], "copy1"))
        os.unlink(config)


def tenant_task(source, **args):
    pg, s3 = source["pg"], source["s3"]
    options = {
        "stanza": "pitr",
        "pgbackrest_config": source["config"],
        "work_dir": source["restores"],
        "port": free_port(),
        "login_host": "127.0.0.1",
        "login_port": pg["port"],
        "login_user": pg["admin_user"],
        "login_password": pg["admin_password"],
        "s3_endpoint_url": s3["endpoint"],
        "s3_region": s3["region"],
        "s3_access_key": s3["access_key"],
        "s3_secret_key": s3["secret_key"],
        "s3_ca_bundle": s3["ca_file"],
        "backup_signing_key": signing_key(s3),
    }
    options.update(args)
    return {"sysgenpro.odoo_ops.pg_pitr_tenant": options, "become": True, "become_user": "postgres", "vars": {"ansible_become_method": "ansible.builtin.su"}}


def sha1_tree(path):
    return {
        os.path.relpath(os.path.join(d, f), path): hashlib.sha1(open(os.path.join(d, f), "rb").read()).hexdigest()
        for d, _s, files in os.walk(path)
        for f in files
    }


def test_one_tenant_back_to_a_point_while_its_neighbour_keeps_its_rows(source, history):
    pg, s3 = source["pg"], source["s3"]
    root = os.path.join(source["work"], "filestore")
    os.makedirs(root)
    sql(source["superuser"], "CREATE ROLE pitr_fleet; GRANT pitr_fleet TO odoo_ops_admin")
    for name in ("pitr_a", "pitr_b"):
        server = {k: v for k, v in source["superuser"].items() if k != "dbname"}
        create_odoo_fixture(server, name, owner="pitr_fleet", filestore_root=root, attachments=6)
        sql(
            dict(source["superuser"], dbname=name),
            "SET ROLE pitr_fleet; CREATE TABLE ticks (id serial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp())",
        )
    subprocess.run(["chown", "-R", "postgres:postgres", root], check=True)
    sql(source["superuser"], "REVOKE CONNECT, TEMPORARY ON DATABASE pitr_a FROM PUBLIC")  # as odoo_tenant isolates
    s3_client(s3).create_bucket(Bucket="pitr-logical")
    logical = dict(tenant_task(source)["sysgenpro.odoo_ops.pg_pitr_tenant"], name="pitr_a", bucket="pitr-logical", filestore_root=root)
    for key in ("stanza", "pgbackrest_config", "work_dir", "port"):
        logical.pop(key)
    made = run({"sysgenpro.odoo_ops.odoo_backup": logical})[0]
    assert made["changed"], made
    backed_up = sha1_tree(os.path.join(root, "pitr_a"))
    # After the backup, before the target: an attachment whose file that backup cannot have.
    sql(
        dict(source["superuser"], dbname="pitr_a"),
        "INSERT INTO ir_attachment (name, store_fname, checksum, db_datas) "
        "VALUES ('late.pdf', 'ff/ff00000000000000000000000000000000000000', 'ff00000000000000000000000000000000000000', "
        "NULL)",
    )
    a_conn, b_conn = dict(source["superuser"], dbname="pitr_a"), dict(source["superuser"], dbname="pitr_b")
    with Ticker(a_conn), Ticker(b_conn):
        time.sleep(3)
    a_commits = dict(sql(a_conn, "SELECT id, pg_xact_commit_timestamp(xmin) FROM ticks"))
    target = sorted(a_commits.values())[len(a_commits) // 2]
    b_before = sql(b_conn, "SELECT count(*) FROM ticks")[0][0]
    conninfo = "host=%s port=%d user=postgres dbname=postgres" % (pg["socket_dir"], pg["port"])
    bring_back = dict(target={"type": "time", "value": stamp(target)}, swap=True, confirm=True, filestore_root=root, bucket="pitr-logical")
    planned = run(tenant_task(source, tenant="pitr_a", **bring_back), check=True)[0]
    refused = run(tenant_task(source, tenant="pitr_a", target={"type": "time", "value": stamp(target)}, swap=True))[0]
    assert refused.get("failed") and "needs confirm: true" in refused["msg"], refused
    result = run(
        tenant_task(
            source,
            tenant="pitr_a",
            target={"type": "time", "value": stamp(target)},
            swap=True,
            confirm=True,
            switch_wal_conninfo=conninfo,
            filestore_root=root,
            bucket="pitr-logical",
        )
    )[0]
    assert result.get("swapped") and result["cluster"]["reached_target"], result.get("msg", result)
    assert_same_plan_keys(planned, result)
    assert result["steps"] == planned["steps"] and result["diff"] == planned["diff"]
    assert sorted(r[0] for r in sql(a_conn, "SELECT id FROM ticks")) == sorted(i for i, t in a_commits.items() if t <= target)
    forensic = result["forensic_database"]
    assert sql(dict(source["superuser"], dbname=forensic), "SELECT count(*) FROM ticks")[0][0] == len(a_commits)
    assert sql(b_conn, "SELECT count(*) FROM ticks")[0][0] == b_before  # the neighbour keeps what it wrote after T
    assert sql(a_conn, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'") == [("pitr_fleet",)]
    assert result["filestore"]["backup"] == made["key"]
    assert result["filestore"]["missing"] == ["ff/ff00000000000000000000000000000000000000"]
    assert sha1_tree(os.path.join(root, "pitr_a")) == backed_up and os.path.isdir(os.path.join(root, forensic))
    assert result["side_cluster_removed"] and os.listdir(source["restores"]) == []
    assert result["rows_after_target"]["ticks"] == len(a_commits) - len([t for t in a_commits.values() if t <= target])
    assert sql(source["superuser"], "SELECT has_database_privilege('public', 'pitr_a', 'CONNECT')") == [(False,)]
    same = dict(target={"type": "time", "value": stamp(target)}, swap=True, confirm=True, filestore_root=root, bucket="pitr-logical")
    for check in (True, False):  # the same request again restores nothing, in check mode or not
        again = run(tenant_task(source, tenant="pitr_a", **same), check=check)[0]
        assert again["changed"] is False and again["done_before"]["backup_set"] == result["cluster"]["backup_set"], again
    assert sorted(r[0] for r in sql(a_conn, "SELECT id FROM ticks")) == sorted(i for i, t in a_commits.items() if t <= target)


def test_incident_playbook_freezes_restores_verifies_returns_and_reports(source, history, harness):
    """incident_db_corruption.yml on tenant pitr_b (made by the test above): route in maintenance and
    tenant suspended, restored to T with pg_pitr_tenant, read back, resumed, routed, reported."""
    pg = source["pg"]
    traefik = harness.up("traefik", "backend")
    b_conn = dict(source["superuser"], dbname="pitr_b")
    with Ticker(b_conn):
        time.sleep(2)
    b_commits = dict(sql(b_conn, "SELECT id, pg_xact_commit_timestamp(xmin) FROM ticks"))
    target = sorted(b_commits.values())[-5]
    reports = os.path.join(source["work"], "reports")
    os.makedirs(reports)
    login = {"login_host": "127.0.0.1", "login_port": pg["port"], "login_user": pg["admin_user"], "login_password": pg["admin_password"]}
    extra = {
        "incident_tenant": "pitr_b",
        "incident_target": stamp(target),
        "incident_confirm": True,
        "incident_report_dir": reports,
        "odoo_ops_postgres": login,
        "odoo_ops_pgbackrest": {"pgbackrest_config": source["config"]},
        "odoo_ops_s3": {},  # no bucket: not the local inventory's object store
        "ansible_become_method": "ansible.builtin.su",
        "incident_pitr": {
            "stanza": "pitr",
            "work_dir": source["restores"],
            "port": free_port(),
            "switch_wal_conninfo": "host=%s port=%d user=postgres dbname=postgres" % (pg["socket_dir"], pg["port"]),
        },
        "odoo_ops_tenants": [{"name": "pitr_b", "hosts": ["pitr-b.localhost"]}],
        "odoo_ops_traefik_dynamic_dir": traefik["traefik"]["dynamic_dir"],
        "odoo_ops_traefik_api_url": traefik["traefik"]["api_url"],
        "odoo_ops_backend_url": traefik["backend"]["http_url"],
        "odoo_ops_websocket_url": traefik["backend"]["websocket_url"],
    }
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    refused = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/incident_db_corruption.yml", "-e", json.dumps(dict(extra, incident_confirm=False))],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode != 0 and "incident_confirm=true" in refused.stdout
    assert not os.listdir(reports) and sql(source["superuser"], "SELECT datallowconn FROM pg_database WHERE datname = 'pitr_b'") == [(True,)]
    done = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/incident_db_corruption.yml", "-e", json.dumps(extra)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert sorted(r[0] for r in sql(b_conn, "SELECT id FROM ticks")) == sorted(i for i, t in b_commits.items() if t <= target)
    (report_json,) = [n for n in os.listdir(reports) if n.endswith(".json")]
    report = json.load(open(os.path.join(reports, report_json)))
    assert report["outcome"] == "restored" and report["rows_after_target"]["ticks"] == 4, report
    assert report["forensic_database"].startswith("pitr_b_pre_pitr_") and float(report["rto_seconds"]) > 0
    assert float(report["rpo_seconds"]) > 0 and report["reached"] <= stamp(target).replace("T", " ")
    markdown = open(os.path.join(reports, report_json[:-5] + ".md")).read()
    assert "tenant pitr_b" in markdown and "- ticks: 4" in markdown
    assert request(traefik["traefik"]["web_port"], "pitr-b.localhost", "/web/login")[0] == 200  # served again


def test_in_place_restore_makes_a_new_timeline_and_later_targets_on_it_are_exact(source, history):
    """Last in this module: the source itself is restored in place (stopped first, confirm given),
    promoted on timeline 2, writes on; a later target on timeline 2 is then reached exactly when the
    timeline is followed (latest) and refused as beyond the archive on the backup's own (current)."""
    pg = source["pg"]
    diff_stop = datetime.datetime.fromtimestamp(history["backups"][-1]["timestamp"]["stop"], UTC)
    # Branch after the last backup: a backup that ended on timeline 1 after the branch cannot follow timeline 2.
    first = sorted(t for t in history["commits"].values() if t > diff_stop + datetime.timedelta(seconds=1))[5]
    subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "-D", pg["data_dir"], "-m", "fast", "-w", "stop"], check=True, capture_output=True, timeout=90)
    try:
        back = run(
            task(
                source,
                "unused",
                target={"type": "time", "value": stamp(first)},
                mode="in_place",
                confirm=True,
                data_dir=pg["data_dir"],
                port=pg["port"],
                action="promote",
            )
        )[0]
        assert back.get("reached_target") and back["state"] == "promoted" and back["timeline"] == 2, back.get("msg", back)
        assert sorted(r[0] for r in sql(source["superuser"], "SELECT id FROM ticks")) == sorted(i for i, t in history["commits"].items() if t <= first)
        assert sql(source["superuser"], "SHOW archive_mode") == [("on",)]  # in place, the cluster archives again
        with Ticker(source["superuser"]):
            time.sleep(2)
        now_rows = dict(sql(source["superuser"], "SELECT id, pg_xact_commit_timestamp(xmin) FROM ticks"))
        later = sorted(now_rows.values())[-4]
        switch_and_wait(source)
        followed = run(task(source, "tl_latest", target={"type": "time", "value": stamp(later), "timeline": "latest"}))[0]
        assert followed.get("reached_target") and followed["timeline"] == 2, followed.get("msg", followed)
        assert copy_ids(followed) == sorted(i for i, t in now_rows.items() if t <= later)
        stop_copy(followed["data_dir"])
        stayed = run(task(source, "tl_current", target={"type": "time", "value": stamp(later)}))[0]
        assert stayed.get("failed") and "the archive ends before the target" in stayed["msg"], stayed
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", PG_CTL, "-D", pg["data_dir"], "-m", "fast", "-w", "stop"], capture_output=True, timeout=90, check=False
        )
