# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform's scheduled jobs: run one (`run`, what each systemd timer starts) or keep them all
on schedule (`serve`, the scheduler container of a host without systemd), and write each job's
outcome for node exporter's textfile collector in the metric contract of docs/observability.md.

Only the standard library, so that it runs in any image with python3. The jobs file (written by
the role sysgenpro.odoo_ops.scheduler from the one tier policy) is a JSON list of
{id, job_name, variant, subject, tier, tenant, cron, max_age, command, timeout, random_delay,
every_seconds, user}; `every_seconds` (when set) replaces `cron` by a fixed period - a shortened
schedule; `user` (when set, the runner being root) runs the command as that user.

`serve` keeps systemd's timer semantics that matter here: Persistent=true (a run missed while the
container was down runs at start, found from the job's own last-run metric) and RandomizedDelaySec
(each due run waits a random part of `random_delay`). Jobs run one at a time, each bounded by its
timeout, so two backups never compete for a small host's disks.
"""

import argparse
import datetime
import json
import os
import pwd
import random
import signal
import subprocess
import sys
import tempfile
import time

METRICS = (
    ("last_run_timestamp_seconds", "gauge", "When the job last ended, successful or not."),
    ("last_success_timestamp_seconds", "gauge", "When the job last ended successfully."),
    ("duration_seconds", "gauge", "How long the job's last run took."),
    ("bytes", "gauge", "Size of what the job's last successful run produced (a backup's bytes), 0 when it produces none."),
    ("max_age_seconds", "gauge", "The objective: the tier's RPO for backups, its cadence for verifications and drills."),
)
# How long `serve` sleeps at most before it looks at the clock again (a changed clock, a signal).
MAX_SLEEP = 60
# How many minutes ahead a cron expression is searched for its next match (a year: "0 1 29 2 *" too).
CRON_HORIZON_MINUTES = 366 * 24 * 60


class JobError(Exception):
    """A jobs file or schedule that cannot be used."""


# ---------------------------------------------------------------- cron expressions (5 fields, UTC)
CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field(text, low, high):
    values = set()
    for part in text.split(","):
        body, _slash, step = part.partition("/")
        step = int(step) if step else 1
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first, last = (int(v) for v in body.split("-", 1))
        else:
            first = last = int(body)
            if step != 1:
                last = high
        if not (low <= first <= last <= high) or step < 1:
            raise JobError("cron field %r is outside %d-%d" % (text, low, high))
        values.update(range(first, last + 1, step))
    return values


def parse_cron(expression):
    """(minutes, hours, days, months, weekdays, day_restricted, weekday_restricted) of a 5-field cron
    expression; Sunday is 0 or 7. Raises JobError on anything else."""
    fields = expression.split()
    if len(fields) != 5:
        raise JobError("cron expression %r does not have 5 fields" % expression)
    try:
        sets = [_cron_field(text, low, high) for text, (low, high) in zip(fields, CRON_FIELDS)]
    except ValueError:
        raise JobError("cron expression %r is not numeric" % expression) from None
    sets[4] = {0 if day == 7 else day for day in sets[4]}
    return sets + [fields[2] != "*", fields[4] != "*"]


def cron_matches(parsed, moment):
    minutes, hours, days, months, weekdays, day_restricted, weekday_restricted = parsed
    if moment.minute not in minutes or moment.hour not in hours or moment.month not in months:
        return False
    day_ok, weekday_ok = moment.day in days, (moment.isoweekday() % 7) in weekdays
    # cron's rule: with both day fields restricted, either one matching is enough
    if day_restricted and weekday_restricted:
        return day_ok or weekday_ok
    return day_ok and weekday_ok


def next_cron(expression, after):
    """The first minute strictly after `after` (epoch seconds) that matches, in UTC epoch seconds."""
    parsed = parse_cron(expression)
    moment = datetime.datetime.fromtimestamp(int(after) // 60 * 60 + 60, datetime.timezone.utc)
    for _minute in range(CRON_HORIZON_MINUTES):
        if cron_matches(parsed, moment):
            return moment.timestamp()
        moment += datetime.timedelta(minutes=1)
    raise JobError("cron expression %r never matches within a year" % expression)


# ---------------------------------------------------------------- metrics (textfile collector)
def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metrics_path(textfile_dir, job):
    # One file per job name and subject: a cluster's full and differential backups share theirs,
    # since the contract has one series per job_name and subject.
    return os.path.join(textfile_dir, "odoo_ops_job-%s-%s.prom" % (job["job_name"], job["subject"]))


def read_metrics(path):
    """{metric suffix: value} of a job's textfile, {} when there is none or it cannot be read."""
    found = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("odoo_ops_job_"):
                    name, value = line.split("{", 1)[0], line.rsplit(" ", 1)[1]
                    found[name[len("odoo_ops_job_") :]] = float(value)
    except (OSError, ValueError, IndexError):
        return {}
    return found


def render_metrics(job, values):
    labels = {"job_name": job["job_name"], "subject": job["subject"], "tier": job["tier"]}
    if job.get("tenant"):
        labels["tenant"] = job["tenant"]
    text = ",".join('%s="%s"' % (key, _label(value)) for key, value in sorted(labels.items()))
    lines = []
    for suffix, kind, helptext in METRICS:
        if suffix in values:
            name = "odoo_ops_job_" + suffix
            lines += ["# HELP %s %s" % (name, helptext), "# TYPE %s %s" % (name, kind), "%s{%s} %s" % (name, text, repr(float(values[suffix])))]
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    """Write through a temporary file in the same folder and rename it over `path`: the collector
    never reads half a file."""
    handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def produced_bytes(path):
    """What a job reported in $ODOO_OPS_JOB_RESULT: {"bytes": N}, or pgBackRest's `info --output=json`
    (the newest backup's size in the repository). 0 when it reported nothing readable."""
    try:
        with open(path, encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return 0
    if isinstance(found, dict):
        value = found.get("bytes", 0)
    elif isinstance(found, list) and found and isinstance(found[0], dict) and found[0].get("backup"):
        value = found[0]["backup"][-1].get("info", {}).get("repository", {}).get("delta", 0)
    else:
        value = 0
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else 0


# ---------------------------------------------------------------- running a job
_CHILD = {"process": None, "stopping": False}


def run_job(job, textfile_dir, log=sys.stderr):
    """Run the job's command (bounded by its timeout), then write its metrics. Returns its exit code."""
    path = metrics_path(textfile_dir, job)
    before = read_metrics(path)
    handle, result_file = tempfile.mkstemp(prefix="odoo_ops_job-", suffix=".json")
    os.close(handle)
    started = time.time()
    env = dict(os.environ, ODOO_OPS_JOB_RESULT=result_file, ODOO_OPS_JOB_ID=job["id"])
    try:
        # As the job's user when it names one (pgBackRest of a cluster on the host runs as postgres),
        # which then owns the file it reports in.
        user = job.get("user") or None
        if user:
            entry = pwd.getpwnam(user)
            os.chown(result_file, entry.pw_uid, entry.pw_gid)
            env.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
        # Its own process group: a timeout ends the command and whatever it started.
        process = subprocess.Popen(
            job["command"], env=env, start_new_session=True, user=user, group=entry.pw_gid if user else None, extra_groups=[] if user else None
        )  # pylint: disable=consider-using-with
        _CHILD["process"] = process
        try:
            code = process.wait(timeout=job.get("timeout", 6 * 3600))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
            code = 124
            print("odoo_ops_scheduler: %s timed out after %ss" % (job["id"], job.get("timeout")), file=log)
        finally:
            _CHILD["process"] = None
    except (OSError, KeyError) as exc:
        code = 127
        print("odoo_ops_scheduler: %s cannot start: %s" % (job["id"], exc), file=log)
    ended = time.time()
    reported = produced_bytes(result_file)
    os.unlink(result_file)
    if _CHILD["stopping"]:
        # Ended because the scheduler stops (a restart): not the job's failure. Its last run stays
        # as it was, so the next start runs it again (a missed run).
        print("odoo_ops_scheduler: %s interrupted by the scheduler's stop, not recorded" % job["id"], file=log, flush=True)
        return code
    values = {"last_run_timestamp_seconds": ended, "duration_seconds": round(ended - started, 3), "max_age_seconds": job["max_age"]}
    if code == 0:
        values.update(last_success_timestamp_seconds=ended, bytes=reported)
    else:
        values.update((key, before[key]) for key in ("last_success_timestamp_seconds", "bytes") if key in before)
    write_atomically(path, render_metrics(job, values))
    print("odoo_ops_scheduler: %s ended with %d after %.1fs" % (job["id"], code, ended - started), file=log, flush=True)
    return code


def next_due(job, last_run, now, rng):
    """When the job runs next: its schedule's next time after its last run (a time already past
    is a missed run: now, as Persistent=true), or after `now` for a job never run; plus a random
    delay of up to `random_delay` seconds."""
    since = last_run if last_run else now
    if job.get("every_seconds"):
        due = since + float(job["every_seconds"])
    else:
        due = next_cron(job["cron"], since)
    return max(due, now) + rng.uniform(0, float(job.get("random_delay", 0)))


def load_jobs(path):
    with open(path, encoding="utf-8") as handle:
        jobs = json.load(handle)
    if not isinstance(jobs, list):
        raise JobError("%s: not a list of jobs" % path)
    for job in jobs:
        missing = [key for key in ("id", "job_name", "subject", "tier", "max_age", "command") if key not in job]
        if missing or not (job.get("cron") or job.get("every_seconds")):
            raise JobError("%s: job %s lacks %s" % (path, job.get("id", "?"), ", ".join(missing) or "cron or every_seconds"))
        if job.get("cron"):
            parse_cron(job["cron"])
    return jobs


def serve(jobs, textfile_dir, max_runs=None, rng=None, log=sys.stderr):
    """Keep every job on schedule until SIGTERM (or `max_runs` runs, for tests); one job at a time."""
    rng = rng or random.Random()
    stopping = {"now": False}

    def stop(_signum, _frame):
        stopping["now"] = _CHILD["stopping"] = True
        if _CHILD["process"] is not None:
            os.killpg(_CHILD["process"].pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    now = time.time()
    due = {job["id"]: next_due(job, read_metrics(metrics_path(textfile_dir, job)).get("last_run_timestamp_seconds"), now, rng) for job in jobs}
    for job in jobs:
        print("odoo_ops_scheduler: %s next at %s" % (job["id"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due[job["id"]]))), file=log)
    runs = 0
    while not stopping["now"] and (max_runs is None or runs < max_runs):
        job = min(jobs, key=lambda j: due[j["id"]])
        wait = due[job["id"]] - time.time()
        if wait > 0:
            time.sleep(min(wait, MAX_SLEEP))
            continue
        run_job(job, textfile_dir, log=log)
        runs += 1
        due[job["id"]] = next_due(job, time.time(), time.time(), rng)
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("action", choices=["run", "serve"])
    parser.add_argument("--jobs", required=True, help="the jobs file (JSON)")
    parser.add_argument("--textfile-dir", required=True, help="node exporter's textfile collector folder")
    parser.add_argument("--job", help="with run: the id of the job to run")
    parser.add_argument("--max-runs", type=int, help="with serve: stop after this many runs (tests)")
    args = parser.parse_args(argv)
    try:
        jobs = load_jobs(args.jobs)
    except (OSError, ValueError, JobError) as exc:
        parser.exit(2, "odoo_ops_scheduler: %s\n" % exc)
    if args.action == "run":
        chosen = [job for job in jobs if job["id"] == args.job]
        if not chosen:
            parser.exit(2, "odoo_ops_scheduler: no job %r in %s\n" % (args.job, args.jobs))
        return run_job(chosen[0], args.textfile_dir)
    serve(jobs, args.textfile_dir, max_runs=args.max_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
