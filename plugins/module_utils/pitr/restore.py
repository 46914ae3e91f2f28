# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A point-in-time restore with pgBackRest: pre-checks, restore, recovery, and proof it reached the target.

The pre-checks are the plan: check mode reports them and touches nothing. A side-by-side copy runs
with archiving off (it must never archive into the source's repository), no replication settings,
its own port and a socket in its data directory. restore_command is wrapped: pgBackRest's errors
exit 1-125, which PostgreSQL reads as "no such file" and would end recovery early and promote; the
wrapper turns every error but "not found" into 126, which makes PostgreSQL abort instead. Success
needs the server promoted or paused, the `recovery stopping ...` line in its log and, for a time
target, its last replayed commit at or before the target. A failed recovery is stopped and its
directory removed: nothing is left but the error, which quotes the server's log.
"""

import contextlib
import datetime
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import time

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import (
    check_absolute_path,
    check_apart_from,
    check_outside_data_directories,
    check_port,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pgbackrest import pgbackrest_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import backup_stop, choose_backup, format_time, normalize_target
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError, psycopg2

STAMP = "odoo_ops_restore.json"
WRAPPER = "odoo_ops_restore_command"
LOG = "odoo_ops_recovery.log"
PG_BIN = "/usr/lib/postgresql/15/bin"
STOP_RE = re.compile(r"recovery stopping (before|after) .*|recovery stopping after reaching consistency")
TIMELINE_RE = re.compile(r"selected new timeline ID: (\d+)")
RESTORED_WAL_RE = re.compile(r'restored log file "([0-9A-F]{8})[0-9A-F]{16}" from archive')
# data_dir ends up unquoted in restore_command (run by a shell; % is PostgreSQL's escape there) and
# quoted in postgresql.auto.conf: only characters that need no quoting in either.
DATA_DIR_RE = re.compile(r"/[A-Za-z0-9/._+,:=@~-]*")
# Connection errors that waiting does not cure (a server still starting or replaying gives others).
PERMANENT_CONNECT_ERRORS = ('role "', "authentication failed", "pg_hba.conf", "does not exist", "permission denied")
# What the server's log says when recovery cannot reach the target, in the operator's words.
FAILURES = [
    (
        "recovery ended before configured recovery target was reached",
        "the archive ends before the target: the newest WAL has not been archived (use switch_wal_conninfo) or the "
        "target is later than anything the source wrote",
    ),
    ("odoo_ops: archive-get", "restore_command failed (object store or repository error): recovery aborted rather than ending early"),
    ("could not locate required checkpoint record", "the backup's WAL is missing from the archive"),
    (
        "is not a child of this server's history",
        "the chosen backup ended on the old timeline after the new one branched off, so it cannot follow it: give "
        "backup_set, a backup that ended before the branch (or take a new full backup after an in-place restore)",
    ),
]


def pitr_argument_spec():
    """Options shared by pg_pitr_restore and pg_pitr_tenant (see the sysgenpro.odoo_ops.pitr doc fragment)."""
    spec = dict(
        target=dict(
            type="dict",
            required=True,
            options=dict(
                type=dict(type="str", required=True, choices=["time", "lsn", "xid", "name", "immediate", "latest"]),
                value=dict(type="str"),
                inclusive=dict(type="bool", default=True),
                timeline=dict(type="str", default="current"),
            ),
        ),
        backup_set=dict(type="str"),
        switch_wal_conninfo=dict(type="str", no_log=True),
        wait_timeout=dict(type="int", default=1800),
        copy_user=dict(type="str", default="postgres"),
        pg_bin_dir=dict(type="path", default=PG_BIN),
    )
    spec.update(pgbackrest_argument_spec())
    return spec


class RestoreFailed(OdooOpsError):
    """Recovery did not reach the target; the destination has been cleaned up."""


def wal_name_key(name):
    """Segment names sort by (timeline, log, segment) as text; keep the last 24 hex characters only."""
    return (name or "")[-24:]


def os_user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "uid %d" % os.geteuid()


class PitrRestore:
    def __init__(self, pgbackrest, params, label="data_dir"):
        """label: what the destination is called in errors (the option the operator gave)."""
        self.pgbr, self.p, self.label = pgbackrest, params, label
        self.dest = check_absolute_path(params.get("data_dir"), label)
        if not DATA_DIR_RE.fullmatch(self.dest):
            raise Refused(
                "%s %r has characters restore_command cannot carry unquoted (white space, quotes, "
                "%%, $, shell characters): use letters, digits and / . _ - + , : = @ ~" % (label, self.dest)
            )
        check_port(params.get("port"), "port")
        if not isinstance(params.get("wait_timeout"), int) or params["wait_timeout"] < 1:
            raise Refused("wait_timeout %r must be a number of seconds, at least 1" % params.get("wait_timeout"))
        self.target = normalize_target(params["target"])
        self.report = {}
        # What this run may stop and remove: the server it started, a folder it made or filled, or an
        # earlier restore of this module it replaces - never a folder it only looked at.
        self._started = self._made_dest = self._owns_dest = False

    # --- plan (check mode stops here) -------------------------------------------------------
    def plan(self):
        """Pre-checks; returns the stamp of an identical earlier restore (or None)."""
        mode = self.p["mode"]
        if mode == "in_place" and not self.p["confirm"]:
            raise Refused("mode in_place overwrites %s: it needs confirm: true, and the cluster stopped" % self.dest)
        stamp = self._stamp()
        # (an in-place restore stamps the cluster itself: never a side-by-side copy to replace)
        earlier_copy = bool(stamp) and (stamp.get("key") or {}).get("mode") == "side_by_side"
        # Never inside, over or around another cluster's data directory, nor pgBackRest's own folders;
        # the destination itself may be one only in place, or when it is an earlier copy made by this module.
        check_outside_data_directories(self.dest, self.label, own=mode == "in_place" or earlier_copy)
        check_apart_from(self.dest, self.label, self.pgbr.local_paths())
        self._check_programs()
        info = self.pgbr.info()
        backups = info.get("backup") or []
        chosen = choose_backup(backups, self.target, self.p.get("backup_set"))
        self.backup = chosen
        self._check_version(info, chosen)
        self.report.update(
            target=self.target_report(),
            backup_set=chosen["label"],
            backup_type=chosen["type"],
            backup_stop=format_time(backup_stop(chosen)),
            backup_size=chosen["info"]["size"],
            archive_max=self._archive_max(info),
            data_dir=self.dest,
            port=self.p["port"],
            mode=mode,
        )
        if self.target["type"] == "time":
            now = datetime.datetime.now(datetime.timezone.utc)
            if self.target["moment"] > now:
                raise Refused("target %s is in the future (now %s)" % (self.target["value"], format_time(now)))
        if stamp and stamp.get("key") == self._key() and not self.p["force"]:
            return stamp
        if stamp and self.p["force"]:
            if mode == "side_by_side" and not earlier_copy:
                raise Refused("%s %s is a cluster restored in place, not a copy of this module: force never replaces it" % (self.label, self.dest))
            self.report["replaces"] = stamp.get("key")
        if mode == "in_place":
            self._check_stopped()  # forced or not: never over a running cluster
        elif not self.report.get("replaces"):
            self._check_destination()
        if not (self.report.get("replaces") and stamp.get("port") == self.p["port"]):
            self._check_port()  # (the restore being replaced holds its own port until it is stopped)
        self._check_disk(chosen["info"]["size"])
        if self.p.get("switch_wal_conninfo"):
            self.report["switch_wal"] = "forced on the live primary, then waited for it to be archived"
        return None

    def diff(self, earlier=None):
        """before/after of data_dir, from the plan (the same in check mode and in a real run): which
        restore of this module it holds - none, the earlier one being replaced, or the planned one."""
        before = earlier.get("key") if earlier else self.report.get("replaces")
        if not before and self.p["mode"] == "in_place":
            before = "the cluster as it is (stopped)"
        after = earlier.get("key") if earlier else self._key()
        return {"before": {"data_dir": self.dest, "restore": before}, "after": {"data_dir": self.dest, "restore": after}}

    def target_report(self):
        return {k: self.target[k] for k in ("type", "value", "inclusive", "timeline")}

    def _key(self):
        return {
            "stanza": self.pgbr.stanza,
            "target": self.target_report(),
            "backup_set": self.backup["label"],
            "action": self.p["action"],
            "mode": self.p["mode"],
        }

    @staticmethod
    def _archive_max(info):
        ranges = [a.get("max") for a in info.get("archive") or [] if a.get("max")]
        return max(ranges, key=wal_name_key) if ranges else None

    def _stamp(self):
        try:
            with open(os.path.join(self.dest, STAMP), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def _check_destination(self):
        parent = os.path.dirname(self.dest)
        if not os.path.isdir(parent):
            raise Refused("%s's parent %s does not exist (or this user, %s, cannot look into its parents)" % (self.label, parent, os_user()))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise Refused("%s's parent %s is not writable by this user (%s): permission denied" % (self.label, parent, os_user()))
        if os.path.lexists(self.dest):
            if not os.path.isdir(self.dest):
                raise Refused("%s %s exists and is not a folder" % (self.label, self.dest))
            try:
                content = os.listdir(self.dest)
            except PermissionError:
                raise Refused("%s %s cannot be read by this user (%s): permission denied" % (self.label, self.dest, os_user())) from None
            if content:
                raise Refused("%s %s is not empty: a side-by-side restore needs a new or empty folder" % (self.label, self.dest))
            if not os.access(self.dest, os.W_OK | os.X_OK):
                raise Refused("%s %s is not writable by this user (%s): permission denied" % (self.label, self.dest, os_user()))
        if len(os.path.join(self.dest, ".s.PGSQL.%d" % self.p["port"])) > 100:
            raise Refused("%s %s is too long a path for the copy's Unix socket (at most ~85 characters)" % (self.label, self.dest))

    def _check_stopped(self):
        if os.path.isdir(self.dest) and not os.access(self.dest, os.R_OK | os.W_OK | os.X_OK):
            raise Refused("data_dir %s cannot be read and written by this user (%s): permission denied (run as the cluster's OS user)" % (self.dest, os_user()))
        if not os.path.isfile(os.path.join(self.dest, "PG_VERSION")):
            raise Refused("mode in_place needs data_dir to be the cluster's data directory; %s is not one" % self.dest)
        if self._postmaster_pid():
            raise Refused("the cluster in %s is running: stop it before an in-place restore" % self.dest)

    def _check_port(self):
        with contextlib.closing(socket.socket()) as probe:
            # as PostgreSQL binds: connections of a server just stopped linger in TIME_WAIT
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.p["port"]))
            except OSError:
                raise Refused("port %d is in use on 127.0.0.1: give the copy a free port" % self.p["port"]) from None

    def _check_programs(self):
        pg_ctl = self._pg_bin("pg_ctl")
        if not (os.path.isfile(pg_ctl) and os.access(pg_ctl, os.X_OK)):
            raise Refused("pg_bin_dir %s has no pg_ctl this user can run: give the folder of PostgreSQL's programs" % (self.p.get("pg_bin_dir") or PG_BIN))

    def _check_version(self, info, backup):
        """The programs of pg_bin_dir must be the backup's major version (else the copy cannot start)."""
        wanted = next((str(db.get("version")) for db in info.get("db") or [] if db.get("id") == (backup.get("database") or {}).get("id")), None)
        try:
            answer = subprocess.run([self._pg_bin("pg_ctl"), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            answer = ""
        found = re.search(r"\(PostgreSQL\) ([0-9]+)", answer)
        if wanted and found and found.group(1) != wanted.split(".")[0]:
            raise Refused(
                "backup %s is of PostgreSQL %s but pg_bin_dir %s holds PostgreSQL %s: give the "
                "programs of version %s" % (backup["label"], wanted, self.p.get("pg_bin_dir") or PG_BIN, found.group(1), wanted)
            )

    def _check_disk(self, size):
        where = self.dest if os.path.isdir(self.dest) else os.path.dirname(self.dest)
        free = shutil.disk_usage(where).free
        if free < size:
            raise Refused("the backup needs %d MB but %s has %d MB free" % (size >> 20, where, free >> 20))

    # --- apply ------------------------------------------------------------------------------
    def apply(self):
        started = time.monotonic()
        if self.report.get("replaces") and self.p["mode"] == "side_by_side":
            self._owns_dest = True  # an earlier restore of this module (stamped): replaced whole
            self.discard()
        if self.p.get("switch_wal_conninfo"):
            self.report["switched_wal"] = self._switch_wal()
        try:
            self._restore()
            restored = time.monotonic()
            self._start()
            state = self._await_end()
            proof = self._prove(state)
        except BaseException:
            with contextlib.suppress(OSError, RestoreFailed):  # the first error is the one to report
                self._stop()
            if self.p["mode"] == "side_by_side":
                with contextlib.suppress(OSError, RestoreFailed):
                    self.discard()
            raise
        ended = time.monotonic()
        self.report.update(proof, durations={"restore": round(restored - started, 3), "replay": round(ended - restored, 3), "total": round(ended - started, 3)})
        with open(os.path.join(self.dest, STAMP), "w", encoding="utf-8") as handle:
            json.dump(dict(self.report, key=self._key()), handle, indent=2, sort_keys=True)
        return self.report

    def _switch_wal(self):
        """Make the live primary's recent WAL reach the archive: one empty transaction (recovery to a
        time stops at the first commit after the target, so one must exist), then a WAL switch,
        then wait until that segment is archived."""
        deadline = time.monotonic() + self.p["wait_timeout"]
        try:
            with contextlib.closing(psycopg2.connect(self.p["switch_wal_conninfo"], connect_timeout=10)) as conn:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT txid_current()")  # its commit record carries the time after the target
                    cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
                    segment = cur.fetchone()[0]
                    while time.monotonic() < deadline:
                        cur.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
                        archived, failed = cur.fetchone()
                        if archived and wal_name_key(archived) >= wal_name_key(segment):
                            return segment
                        time.sleep(0.2)
        except psycopg2.Error as exc:
            raise PostgresError("switch_wal_conninfo: cannot force a WAL switch on the live primary: %s" % str(exc).strip().splitlines()[0]) from None
        raise RestoreFailed(
            "WAL segment %s was not archived within %d s (last failed: %s): the archive would not cover the target" % (segment, self.p["wait_timeout"], failed)
        )

    def _restore(self):
        args = ["--pg1-path=%s" % self.dest, "--set=%s" % self.backup["label"], "--log-level-console=warn"]
        kind = self.target["type"]
        if kind != "latest":  # PostgreSQL applies an action only at a target; at the archive's end it promotes
            args.append("--target-action=%s" % self.p["action"])
        if kind == "latest":
            args.append("--type=default")
        elif kind == "immediate":
            args.append("--type=immediate")
        else:
            args += ["--type=%s" % kind, "--target=%s" % self.target["value"], "--target-timeline=%s" % self.target["timeline"]]
            if not self.target["inclusive"]:
                args.append("--target-exclusive")
        wrapper = os.path.join(self.dest, WRAPPER)
        private = os.path.join(self.dest, "odoo_ops_pgbackrest")
        args.append('--recovery-option=restore_command=%s %%f "%%p"' % wrapper)
        if self.p["mode"] == "side_by_side":
            args.append("--archive-mode=off")
        else:
            args.append("--delta")
        if self.p["mode"] == "side_by_side":
            self._made_dest = not os.path.exists(self.dest)
            self._owns_dest = True
            os.makedirs(self.dest, 0o700, exist_ok=True)
        self.pgbr.run("restore", *args, timeout=self.p["wait_timeout"])
        os.makedirs(private, 0o700, exist_ok=True)
        # The copy's own asynchronous archive-get (WAL fetched ahead, in parallel) with its own spool,
        # lock and log folders, whatever the repository's configuration says: the source's async
        # archive-push holds the stanza's archive lock, a shared spool would mix the two clusters'
        # queues, and pgBackRest refuses --spool-path without --archive-async (issue #16: most
        # configurations do not enable archive-async).
        get = " ".join(
            shlex.quote(a)
            for a in self.pgbr.command(
                "archive-get",
                "--pg1-path=%s" % self.dest,
                "--archive-async",
                "--spool-path=%s" % private,
                "--lock-path=%s" % private,
                "--log-path=%s" % private,
            )
        )
        with open(os.open(wrapper, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700), "w", encoding="utf-8") as handle:
            handle.write(
                "#!/bin/sh\n# restore_command written by sysgenpro.odoo_ops.pg_pitr_restore: exit 1 only for\n"
                '# "not found"; any other error exits 126 so that PostgreSQL aborts instead of promoting early.\n'
                '%s "$1" "$2"\nrc=$?\n[ "$rc" -le 1 ] && exit "$rc"\n'
                'echo "odoo_ops: archive-get $1 failed with exit $rc" >&2\nexit 126\n' % get
            )

    def _server_options(self):
        options = {"hot_standby": "on"}
        if self.p["mode"] == "side_by_side":  # in place, the cluster keeps its own port, sockets and archiving
            options.update(
                port=str(self.p["port"]),
                unix_socket_directories=self.dest,
                listen_addresses="",
                archive_mode="off",
                primary_conninfo="",
                primary_slot_name="",
                cluster_name="pitr-copy",
            )
        return " ".join("-c %s=%s" % (k, shlex.quote(v) if v else "''") for k, v in sorted(options.items()))

    def _start(self):
        log = os.path.join(self.dest, LOG)
        self.report["log_file"] = log
        # -W: pg_ctl's own wait ends at its timeout while a long replay may still be going on.
        self._started = True
        try:
            done = subprocess.run(
                [self._pg_bin("pg_ctl"), "-D", self.dest, "-l", log, "-W", "-o", self._server_options(), "start"],
                capture_output=True,
                text=True,
                env=self.pgbr.env,
                timeout=60,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RestoreFailed("pg_ctl start did not return within 60 s %s" % self._log_tail()) from None
        if done.returncode != 0:
            raise RestoreFailed("the restored server did not start: %s %s" % (done.stderr.strip(), self._log_tail()))

    def _pg_bin(self, name):
        return os.path.join(self.p.get("pg_bin_dir") or PG_BIN, name)

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.dest, "postmaster.pid"), encoding="utf-8") as handle:
                pid = int(handle.readline())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def _connect(self):
        """A connection through the server's own socket, as postmaster.pid names it (port, folder)."""
        with open(os.path.join(self.dest, "postmaster.pid"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        socket_dir = lines[4].split(",")[0].strip() if len(lines) > 4 and lines[4].strip() else self.dest
        return contextlib.closing(psycopg2.connect(host=socket_dir, port=int(lines[3]), dbname="postgres", user=self.p["copy_user"], connect_timeout=5))

    def _await_end(self):
        """Poll until the copy is promoted, paused, or its postmaster exited (bounded by wait_timeout)."""
        started = time.monotonic()
        deadline, seen = started + self.p["wait_timeout"], False
        while time.monotonic() < deadline:
            if self._postmaster_pid():
                seen = True
            elif seen or "FATAL" in self.log_text() or time.monotonic() - started > 60:
                # (pg_ctl -W returns before postmaster.pid exists: not there yet is not gone)
                raise RestoreFailed(self._failure_reason())
            else:
                time.sleep(0.05)
                continue
            try:
                with self._connect() as conn, conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END")
                    in_recovery, pause = cur.fetchone()
                    if not in_recovery:
                        return "promoted"
                    if pause == "paused":
                        return "paused"
            except psycopg2.OperationalError as exc:
                # still starting, or in recovery before consistency; but a wrong copy_user, an
                # authentication rule or a missing database would only be waited on until wait_timeout
                message = " ".join(str(exc).split())
                if any(marker in message for marker in PERMANENT_CONNECT_ERRORS):
                    raise RestoreFailed(
                        "cannot connect to the restored server as copy_user %s through its socket in %s: %s" % (self.p["copy_user"], self.dest, message)
                    ) from None
            except (psycopg2.Error, OSError, IndexError, ValueError):
                pass  # postmaster.pid not complete yet
            time.sleep(0.2)
        raise RestoreFailed("recovery did not end within wait_timeout (%d s) %s" % (self.p["wait_timeout"], self._log_tail()))

    def _prove(self, state):
        text = self.log_text()
        stop = STOP_RE.search(text)
        try:
            with self._connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_last_xact_replay_timestamp(), (SELECT timeline_id FROM pg_control_checkpoint())")
                replay_ts, checkpoint_tli = cur.fetchone()
        except (psycopg2.Error, OSError, IndexError, ValueError) as exc:
            raise RestoreFailed("the restored server stopped answering once recovery ended (%s) %s" % (" ".join(str(exc).split()), self._log_tail())) from None
        # Promoted: the new timeline it chose; paused: that of the last WAL file replayed (the
        # checkpoint's timeline lags behind while in recovery).
        timelines = TIMELINE_RE.findall(text) or [int(tli, 16) for tli in RESTORED_WAL_RE.findall(text)]
        proof = {
            "state": state,
            "stop_reason": stop.group(0) if stop else None,
            "last_replay_ts": format_time(replay_ts) if replay_ts else None,
            "last_replay_epoch": replay_ts.timestamp() if replay_ts else None,
            "timeline": int(timelines[-1]) if timelines else checkpoint_tli,
        }
        kind = self.target["type"]
        if kind != "latest" and not stop:
            raise RestoreFailed("the server's log has no 'recovery stopping' line: the target was not reached %s" % self._log_tail())
        if kind == "time" and replay_ts:
            late = replay_ts > self.target["moment"] or (not self.target["inclusive"] and replay_ts >= self.target["moment"])
            if late:
                raise RestoreFailed("the last replayed commit (%s) is after the target %s" % (proof["last_replay_ts"], self.target["value"]))
        proof["reached_target"] = True
        return proof

    def log_text(self):
        try:
            with open(os.path.join(self.dest, LOG), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def _log_tail(self):
        lines = [line for line in self.log_text().splitlines() if re.search(r"FATAL|ERROR|LOG:  recovery|odoo_ops", line)]
        return ("(server log: %s)" % " | ".join(lines[-6:])) if lines else ""

    def _failure_reason(self):
        text = self.log_text()
        for needle, meaning in FAILURES:
            if needle in text:
                return "recovery failed: %s %s" % (meaning, self._log_tail())
        return "the restored server exited during recovery %s" % self._log_tail()

    def _stop(self, owned=False):
        """Stop the server in data_dir: only one this run started (or, owned, the earlier restore replaced)."""
        if (self._started or owned) and self._postmaster_pid():
            try:
                subprocess.run(
                    [self._pg_bin("pg_ctl"), "-D", self.dest, "-m", "immediate", "-w", "-t", "60", "stop"], capture_output=True, timeout=90, check=False
                )
            except subprocess.TimeoutExpired:
                raise RestoreFailed(
                    "the server in %s did not stop within 90 s (postmaster %s): stop it by hand" % (self.dest, self._postmaster_pid())
                ) from None

    def discard(self):
        """Stop and remove a side-by-side destination this run owns: a folder it made (removed), an empty
        one it was given (emptied), or an earlier stamped restore it replaces. Anything else - a folder
        the pre-checks refused, say - is left alone."""
        if not self._owns_dest:
            return
        self._stop(owned=True)
        if self._made_dest or self.report.get("replaces"):
            shutil.rmtree(self.dest, ignore_errors=True)
        elif os.path.isdir(self.dest):
            for name in os.listdir(self.dest):
                path = os.path.join(self.dest, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
        self._owns_dest = self._started = False
