# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backup_verify found: the checks it ran, and the evidence it writes (JSON, Markdown, and a
Prometheus textfile for node_exporter's textfile collector)."""

import contextlib
import json
import os
import re
import time

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_writable_dir, write_atomic


class CheckFailed(OdooOpsError):
    """A check's finding: the message names what is wrong, in the operator's words."""


class Checks:
    """The checks of one verification run, in order: {name, subject, ok, detail, seconds}."""

    def __init__(self, safe=str):
        self.items, self.safe = [], safe

    @contextlib.contextmanager
    def run(self, name, subject):
        """Time a check; CheckFailed (or any other error, reported as such) makes it fail. A
        block that sets entry["detail"] passes with that detail."""
        entry = {"name": name, "subject": subject, "ok": True, "detail": "", "seconds": 0.0}
        started = time.monotonic()
        try:
            yield entry
        except CheckFailed as exc:
            entry.update(ok=False, detail=self.safe(str(exc)))
        except Exception as exc:  # pylint: disable=broad-except  # an error is a failed check, named, not a crash
            entry.update(ok=False, detail=self.safe("%s: %s" % (type(exc).__name__, exc)))
        entry["seconds"] = round(time.monotonic() - started, 3)
        self.items.append(entry)

    def add(self, name, subject, ok, detail):
        self.items.append({"name": name, "subject": subject, "ok": ok, "detail": detail, "seconds": 0.0})

    @property
    def verified(self):
        return bool(self.items) and all(item["ok"] for item in self.items)

    def failed(self):
        return [item for item in self.items if not item["ok"]]

    def summary(self, subjects):
        """One paragraph naming each failed check."""
        failed = self.failed()
        if not failed:
            return "backup verification of %s passed: %d checks" % (", ".join(subjects), len(self.items))
        return "backup verification of %s failed %d of %d checks: %s" % (
            ", ".join(subjects),
            len(failed),
            len(self.items),
            "; ".join("%s [%s]: %s" % (item["name"], item["subject"], item["detail"]) for item in failed),
        )


def report_stem(subjects, stamp):
    return "backup-verify-%s-%s" % ("-".join(re.sub(r"[^A-Za-z0-9_.-]", "_", s) for s in subjects), stamp)


def cell(value):
    """A Markdown table cell: the text on one line, '|' escaped."""
    return str("-" if value is None else value).replace("|", "\\|").replace("\n", " ")


def table(headers, rows):
    lines = ["| %s |" % " | ".join(headers), "|%s" % ("---|" * len(headers))]
    return lines + ["| %s |" % " | ".join(cell(v) for v in row) for row in rows]


def markdown(result):
    lines = [
        "# Backup verification: %s" % ", ".join(result["subjects"]),
        "",
        "- Verdict: **%s**" % ("VERIFIED" if result["verified"] else "FAILED"),
        "- Verified at: %s" % result["verified_at"],
        "- Levels: %s" % ", ".join(result["levels"]),
    ]
    for subject, figures in sorted(result["figures"].items()):
        lines.append(
            "- %s: backup %s, data age at backup (RPO) %s s, restore (RTO) %s s"
            % (subject, figures.get("backup") or "-", figures.get("backup_age_seconds", "-"), figures.get("restore_seconds", "-"))
        )
    lines += ["", result["msg"], ""]
    lines += table(
        ("check", "subject", "result", "seconds", "detail"),
        [(c["name"], c["subject"], "ok" if c["ok"] else "FAILED", "%.3f" % c["seconds"], c["detail"]) for c in result["checks"]],
    )
    return "\n".join(lines) + "\n"


def _objective(objectives, tier):
    """objectives by tier, keyed by int (YAML) or str (JSON extra vars)."""
    found = objectives.get(tier, objectives.get(str(tier)))
    if not found:
        raise Refused("no RTO/RPO objectives for tier %s" % tier)
    return found


def _measured(value):
    return None if value in (None, "") else float(value)


def drill_rows(results, objectives, cluster_objectives):
    """One row per subject of a drill (backup_verify results with kind tenant or cluster; a tenant's
    result carries its inventory entry as item): verified, RTO and RPO against the objectives."""
    rows = []
    for result in results:
        subject = (result.get("subjects") or ["?"])[0]
        figures = (result.get("figures") or {}).get(subject, {})
        goal = cluster_objectives if result["kind"] == "cluster" else _objective(objectives, result["item"]["tier"])
        rto, rpo = _measured(figures.get("restore_seconds")), _measured(figures.get("backup_age_seconds"))
        rows.append(
            {
                "subject": subject,
                "kind": result["kind"],
                "verified": bool(result.get("verified")),
                "backup": figures.get("backup"),
                "rto_seconds": rto,
                "rpo_seconds": rpo,
                "rto_objective": float(goal["rto_seconds"]),
                "rpo_objective": float(goal["rpo_seconds"]),
                "objectives_met": rto is not None and rpo is not None and rto <= float(goal["rto_seconds"]) and rpo <= float(goal["rpo_seconds"]),
                "failed_checks": [c["name"] for c in result.get("checks") or [] if not c["ok"]],
                "summary": result.get("msg", ""),
                "evidence": result.get("reports") or {},
            }
        )
    return rows


def drill_report(results, objectives, cluster_objectives, started, finished):
    """The drill's evidence: {"json": {started, finished, subjects, passed, failed}, "markdown": text}."""
    rows = drill_rows(results, objectives, cluster_objectives)
    failed = [r for r in rows if not (r["verified"] and r["objectives_met"])]
    data = {"started": started, "finished": finished, "subjects": rows, "passed": not failed, "failed": [r["subject"] for r in failed]}
    lines = ["# Disaster-recovery drill, %s" % started, "", "Verdict: **%s**" % ("PASSED" if not failed else "FAILED"), ""]
    lines += table(
        ("subject", "kind", "verified", "backup", "RTO s (objective)", "RPO s (objective)", "objectives met", "failed checks"),
        [
            (
                r["subject"],
                r["kind"],
                r["verified"],
                r["backup"],
                "%s (%s)" % (r["rto_seconds"], r["rto_objective"]),
                "%s (%s)" % (r["rpo_seconds"], r["rpo_objective"]),
                r["objectives_met"],
                ", ".join(r["failed_checks"]),
            )
            for r in rows
        ],
    )
    data["message"] = "" if not failed else "%s failed the drill: %s" % (", ".join(data["failed"]), " / ".join(r["summary"] for r in failed))
    return {"json": data, "markdown": "\n".join(lines) + "\n"}


def incident_markdown(report):
    """A runbook's incident report as Markdown: the zone failover's (runbook: zone_failover), the credential
    compromise's (runbook: credential_compromise) or the database-corruption runbook's (incident_db_corruption.yml)."""
    if report.get("runbook") == "zone_failover":
        return zone_failover_markdown(report)
    if report.get("runbook") == "credential_compromise":
        return credential_markdown(report)
    lines = ["# Incident: database corruption - tenant %s" % report["tenant"], ""]
    lines += table(
        ("", ""),
        [
            ("outcome", report["outcome"]),
            ("response started", report["response_started"]),
            ("target", report["target"]),
            ("point reached", "%s (%s)" % (report.get("reached"), report.get("stop_reason"))),
            ("backup", report.get("backup_set")),
            ("damaged database kept as", report.get("forensic_database")),
            ("RTO (freeze to service)", "%s s" % report.get("rto_seconds")),
            ("RPO (point reached to response start)", "%s s" % report.get("rpo_seconds")),
        ],
    )
    lines += ["", "Rows given up (written after the point reached), per table:"]
    lines += ["- %s: %s" % (table_name, rows) for table_name, rows in sorted((report.get("rows_after_target") or {}).items())] or ["- none"]
    return "\n".join(lines) + "\n"


def step_log(report):
    """The runbook's timestamped step log (each step: at, step, and its detail when there is one)."""
    rows = [(step.get("at"), step.get("step"), step.get("detail")) for step in report.get("steps") or ()]
    return ["", "Step log:", ""] + (table(("at", "step", "detail"), rows) if rows else ["- none"])


def zone_failover_markdown(report):
    """The zone failover runbook's report (incident_zone_failover.yml) as Markdown."""
    switch, loss = report.get("switch") or {}, report.get("data_loss") or {}
    wal_range = loss.get("wal_range") or {}
    lost = "unknown (the old primary's last position could not be read)" if not loss.get("known") else "%s bytes" % loss.get("bytes")
    if wal_range:
        lost += " - WAL %s to %s (%s to %s)" % (wal_range["start"], wal_range["end"], wal_range["first_segment"], wal_range["last_segment"])
    decision = report.get("decision") or {}
    overridden = ", OVERRIDDEN" if decision.get("lag_override") else ""
    lines = ["# Incident: zone failover - %s to %s" % (report.get("old_primary", {}).get("name"), report.get("new_primary", {}).get("name")), ""]
    lines += table(
        ("", ""),
        [
            ("outcome", report["outcome"]),
            ("response started", report["response_started"]),
            ("old primary", "%s - %s" % (report.get("old_primary", {}).get("where"), report.get("old_primary", {}).get("state"))),
            ("old primary's last known LSN", "%s (%s)" % (report.get("old_primary", {}).get("last_lsn"), report.get("old_primary", {}).get("lsn_source"))),
            ("new primary", report.get("new_primary", {}).get("where")),
            ("switch point", "timeline %s from %s" % (switch.get("timeline"), switch.get("lsn")) if switch else None),
            ("data lost", lost if switch else None),
            ("lag at decision", "%s bytes (max %s%s)" % (decision.get("lag_bytes"), decision.get("max_lag_bytes"), overridden)),
            ("RTO (decision to writes on the new primary)", "%s s" % report.get("rto_seconds")),
        ],
    )
    phases = report.get("phase_seconds") or {}
    lines += ["", "Phases (seconds):"] + (["- %s: %s" % item for item in sorted(phases.items())] or ["- none"])
    return "\n".join(lines + not_done(report) + step_log(report)) + "\n"


def not_done(report):
    return ["", "Not done by this run:"] + (["- %s" % item for item in report.get("not_done") or ()] or ["- nothing"])


def credential_markdown(report):
    """The credential compromise runbook's report (incident_credential_compromise.yml) as Markdown:
    names and files of the new secrets, never their values."""
    lines = ["# Incident: credential compromise", ""]
    lines += table(("", ""), [("outcome", report["outcome"]), ("response started", report["response_started"]), ("compromised since", report.get("since"))])
    lines += ["", "Credentials:", ""]
    rows = [
        (c["role"], c.get("rotated_at") or "not rotated (done since)", c.get("password_file"), c.get("sessions_terminated"), c.get("proofs"))
        for c in report.get("credentials") or ()
    ]
    lines += table(("role", "rotated at", "new secret in", "sessions cut", "proofs"), rows) if rows else ["- none"]
    return "\n".join(lines + not_done(report) + step_log(report)) + "\n"


def release_report(report):
    """The promotion's evidence (release_promote.yml): {"json": report with its verdict, "markdown": text}.
    report: environment, outcome, started, finished, release (before per tenant, after), gate, freeze,
    tenants (update, install, durations, crons stopped, health), staging (the copy updated and smoke-tested
    first), backups, restore_point, rollback, failed_step."""
    if report.get("kind") == "rollback":
        return release_rollback_report(report)
    release = report.get("release") or {}
    gate = report.get("gate") or {}
    freeze = report.get("freeze") or {}
    evidence = gate.get("evidence") or {}
    lines = ["# Release promotion to %s: %s" % (report["environment"], report["outcome"]), ""]
    lines += table(
        ("", ""),
        [
            ("release", "%s (image %s, addons %s)" % (release.get("id"), release.get("image_digest") or release.get("image"), release.get("addons_ref"))),
            ("started / finished", "%s / %s" % (report.get("started"), report.get("finished"))),
            (
                "gate",
                "no previous environment"
                if not gate.get("previous_environment")
                else (
                    "passed: ran %s in %s on %s" % (evidence.get("result"), gate["previous_environment"], evidence.get("date"))
                    if gate.get("passed")
                    else "SKIPPED (%s): %s" % (gate["previous_environment"], gate.get("skipped_reason"))
                ),
            ),
            (
                "freeze windows",
                "none active at %s" % freeze.get("at")
                if not freeze.get("frozen")
                else "OVERRIDDEN (%s): %s" % (freeze.get("overridden"), ", ".join(sorted(freeze.get("tenants") or {}))),
            ),
            ("staging first", staging_line(report.get("staging"))),
            ("restore point", report.get("restore_point") or "-"),
            ("failed step", report.get("failed_step") or "-"),
            ("rollback", report.get("rollback") or "-"),
        ],
    )
    backups = report.get("backups") or {}
    health = report.get("health") or {}
    lines += ["", "Tenants:", ""]
    lines += table(
        ("tenant", "release before", "updated", "installed", "update s", "pre-release backup", "health", "crons stopped"),
        [
            (
                t["name"],
                t.get("release_before"),
                ", ".join(t.get("update") or []),
                ", ".join(t.get("install") or []),
                t.get("update_seconds"),
                backups.get(t["name"]),
                health.get(t["name"]),
                len(t["crons_stopped"]) if "crons_stopped" in t else "-",
            )
            for t in report.get("tenants") or []
        ],
    )
    lines += ["", "Maintenance (503) during the update: %s" % (", ".join(report.get("maintenance") or []) or "none")]
    watched = report.get("downtime") or {}
    if watched:
        lines += ["", "User-visible downtime, probed every %s s through the entry point for %s s:" % (watched.get("interval"), watched.get("seconds")), ""]
        lines += table(
            ("host", "requests", "failed", "statuses", "downtime s (first to last failure)"),
            [
                (h["host"], h["requests"], h["failed"], ", ".join("%s: %s" % item for item in sorted(h["statuses"].items())), h["downtime_seconds"])
                for h in watched.get("hosts") or []
            ],
        )
    data = dict(report, passed=report["outcome"] == "promoted")
    return {"json": data, "markdown": "\n".join(lines) + "\n"}


def release_rollback_report(report):
    """The on-demand rollback's evidence (release_rollback.yml): per tenant, the release it ran and the one
    it runs again, the pre-release backup restored, the database kept, and the time to serve again."""
    lines = ["# Release rollback (%s): %s" % (report.get("environment") or "tenants", report["outcome"]), ""]
    lines += table(
        ("", ""),
        [
            ("started / finished", "%s / %s" % (report.get("started"), report.get("finished"))),
            ("RTO (restore start to every login page 200)", "%s s" % report.get("rto_seconds") if report.get("rto_seconds") is not None else "-"),
            ("failed step", report.get("failed_step") or "-"),
        ],
    )
    lines += ["", "Tenants:", ""]
    rows = [
        (t["name"], t.get("release_now"), t.get("release_before"), (t.get("backup") or {}).get("key"), t.get("kept_as"), t.get("note"))
        for t in report.get("tenants") or []
    ]
    lines += table(("tenant", "rolled back from", "runs again", "pre-release backup restored", "replaced database kept as", "note"), rows)
    return {"json": dict(report, passed=report["outcome"] in ("rolled_back", "nothing to roll back")), "markdown": "\n".join(lines) + "\n"}


def staging_line(staging):
    """One line of what staging first did: the copy, its update and smoke test, or where it failed."""
    if not staging:
        return "not run"
    if staging.get("result") == "passed":
        return "passed: %s (copy of %s) updated in %s s, smoke test %s s" % (
            staging.get("copy"),
            staging.get("source"),
            staging.get("update_seconds"),
            staging.get("smoke_seconds"),
        )
    if staging.get("result") == "failed":
        return "FAILED on %s (copy of %s, kept): %s - production untouched" % (staging.get("copy"), staging.get("source"), staging.get("error"))
    return "%s (nothing to update)" % staging.get("result")


def _label(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def prometheus(result, kinds):
    """node_exporter textfile: one series per subject ({tenant=...} or {cluster=...})."""
    metrics = [
        (
            "backup_verify_success",
            "1 when every check of the last verification passed.",
            lambda s, f: 1 if all(c["ok"] for c in result["checks"] if c["subject"] == s) else 0,
        ),
        ("backup_age_seconds", "Age of the newest backup at verification time.", lambda s, f: f.get("backup_age_seconds")),
        ("backup_restore_seconds", "Measured restore time of the last restore-level verification (RTO).", lambda s, f: f.get("restore_seconds")),
        ("backup_verify_timestamp_seconds", "When the last verification ran (Unix time).", lambda s, f: result["verified_epoch"]),
    ]
    lines = []
    for name, help_text, value_of in metrics:
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
        for subject in result["subjects"]:
            value = value_of(subject, result["figures"].get(subject, {}))
            if value is not None:
                lines.append('%s{%s="%s"} %s' % (name, kinds[subject], _label(subject), value))
    return "\n".join(lines) + "\n"


def write_reports(result, kinds, stamp, report_dir=None, textfile_dir=None, write=True):
    """Write the JSON and Markdown reports (named with stamp) and the textfile; returns their paths.
    write=False (check mode): the folders are checked and the paths returned, nothing is written."""
    written = {}
    stem = report_stem(result["subjects"], stamp)
    if report_dir:
        check_writable_dir(report_dir, "report_dir")
        written["json"] = os.path.join(report_dir, stem + ".json")
        written["markdown"] = os.path.join(report_dir, stem + ".md")
        if write:
            write_atomic(written["json"], json.dumps(result, indent=2, sort_keys=True).encode(), 0o644)
            write_atomic(written["markdown"], markdown(result).encode(), 0o644)
    if textfile_dir:
        check_writable_dir(textfile_dir, "textfile_dir")
        written["textfile"] = os.path.join(textfile_dir, report_stem(result["subjects"], "latest") + ".prom")
        if write:
            write_atomic(written["textfile"], prometheus(result, kinds).encode(), 0o644)
    return written
