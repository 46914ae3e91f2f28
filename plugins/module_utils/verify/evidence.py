# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery evidence people read: from the reports backup_verify and dr_drill leave (JSON) and the
scheduled jobs' metrics (textfiles), per tenant and cluster the measured RTO and RPO of each drill over
time against the tier's objectives, each verification with its failing checks named, and the last
success of each scheduled job against its objective - as JSON, Markdown and one HTML file with inline
SVG charts and no external asset (an auditor opens it from disk)."""

import datetime
import html
import json
import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import table

JOB_FILE = re.compile(r"^odoo_ops_job-.+\.prom$")
JOB_LINE = re.compile(r"^odoo_ops_job_([a-z_]+)\{([^}]*)\} (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 480, 160, 30


def _epoch(stamp):
    """Unix time of an ISO 8601 timestamp (a report's), None when it is not one."""
    try:
        moment = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat().replace("+00:00", "Z") if epoch else None


def job_metrics(text):
    """The jobs of one scheduler textfile: [{job_name, subject, tier, tenant, last_run, last_success, duration, bytes, max_age}]."""
    found = {}
    for line in text.splitlines():
        match = JOB_LINE.match(line.strip())
        if not match:
            continue
        labels = {key: value.replace('\\"', '"').replace("\\\\", "\\") for key, value in LABEL.findall(match.group(2))}
        key = (labels.get("job_name", ""), labels.get("subject", ""))
        entry = found.setdefault(key, {"job_name": key[0], "subject": key[1], "tier": labels.get("tier", ""), "tenant": labels.get("tenant", "")})
        try:
            entry[match.group(1).replace("_timestamp_seconds", "").replace("_seconds", "")] = float(match.group(3))
        except ValueError:
            continue
    return list(found.values())


def _drill_rows(report):
    rows = []
    at = _epoch(report.get("started"))
    for row in report.get("subjects") or []:
        if isinstance(row, dict) and "rto_objective" in row and at is not None:
            rows.append(
                {
                    "at": _iso(at),
                    "epoch": at,
                    "kind": row.get("kind", "tenant"),
                    "subject": str(row.get("subject")),
                    "verified": bool(row.get("verified")),
                    "rto_seconds": row.get("rto_seconds"),
                    "rpo_seconds": row.get("rpo_seconds"),
                    "rto_objective": row.get("rto_objective"),
                    "rpo_objective": row.get("rpo_objective"),
                    "objectives_met": bool(row.get("objectives_met")),
                    "failed_checks": list(row.get("failed_checks") or []),
                }
            )
    return rows


def _verification_rows(result):
    at = _epoch(result.get("verified_at"))
    if at is None or not isinstance(result.get("checks"), list):
        return []
    rows = []
    for subject in result.get("subjects") or []:
        checks = [c for c in result["checks"] if isinstance(c, dict) and c.get("subject") == subject]
        figures = (result.get("figures") or {}).get(subject) or {}
        rows.append(
            {
                "at": _iso(at),
                "epoch": at,
                "subject": str(subject),
                "levels": list(result.get("levels") or []),
                "verified": bool(checks) and all(c.get("ok") for c in checks),
                "backup": figures.get("backup"),
                "backup_age_seconds": figures.get("backup_age_seconds"),
                "restore_seconds": figures.get("restore_seconds"),
                "failed_checks": [{"name": c.get("name"), "detail": c.get("detail", "")} for c in checks if not c.get("ok")],
            }
        )
    return rows


def evidence(reports, jobs, now):
    """The evidence from parsed reports (dr_drill's and backup_verify's JSON; others are ignored) and
    scheduled jobs (job_metrics), judged at `now` (Unix time): {generated_at, passed, problems,
    subjects: {name: {kind, drills, verifications}}, jobs}."""
    subjects = {}
    for report in reports:
        if not isinstance(report, dict):
            continue
        for row in _drill_rows(report):
            subjects.setdefault(row["subject"], {"kind": row["kind"], "drills": [], "verifications": []})["drills"].append(row)
        for row in _verification_rows(report):
            subjects.setdefault(row["subject"], {"kind": "tenant", "drills": [], "verifications": []})["verifications"].append(row)
    problems = []
    for name, subject in sorted(subjects.items()):
        for key in ("drills", "verifications"):
            subject[key].sort(key=lambda row: row["epoch"])
        if subject["drills"] and not (subject["drills"][-1]["verified"] and subject["drills"][-1]["objectives_met"]):
            problems.append("%s: the last drill (%s) failed or missed an objective" % (name, subject["drills"][-1]["at"]))
        if subject["verifications"] and not subject["verifications"][-1]["verified"]:
            problems.append("%s: the last verification (%s) failed" % (name, subject["verifications"][-1]["at"]))
    judged = []
    for job in sorted(jobs, key=lambda j: (j["job_name"], j["subject"])):
        success, run, max_age = job.get("last_success"), job.get("last_run"), job.get("max_age")
        entry = dict(job, last_success=_iso(success), last_run=_iso(run))
        entry["overdue"] = bool(max_age) and (success is None or now - success > max_age)
        entry["failing"] = bool(run) and (success is None or run > success + 60)
        if entry["overdue"] or entry["failing"]:
            problems.append("%s of %s: %s" % (job["job_name"], job["subject"], "last run failed" if entry["failing"] else "overdue"))
        judged.append(entry)
    newest = [row["epoch"] for subject in subjects.values() for key in ("drills", "verifications") for row in subject[key]]
    return {"generated_at": _iso(max(newest)) if newest else None, "passed": not problems, "problems": problems, "subjects": subjects, "jobs": judged}


def _seconds(value):
    return "-" if value is None else "%.0f" % float(value)


def markdown(data):
    lines = ["# Recovery evidence", "", "- Verdict: **%s**" % ("PASSED" if data["passed"] else "ATTENTION"), "- Newest evidence: %s" % data["generated_at"]]
    lines += ["- %s" % problem for problem in data["problems"]]
    for name, subject in sorted(data["subjects"].items()):
        lines += ["", "## %s (%s)" % (name, subject["kind"]), ""]
        if subject["drills"]:
            lines += table(
                ("drill", "verified", "RTO s (objective)", "RPO s (objective)", "objectives met", "failed checks"),
                [
                    (
                        d["at"],
                        d["verified"],
                        "%s (%s)" % (_seconds(d["rto_seconds"]), _seconds(d["rto_objective"])),
                        "%s (%s)" % (_seconds(d["rpo_seconds"]), _seconds(d["rpo_objective"])),
                        d["objectives_met"],
                        ", ".join(d["failed_checks"]),
                    )
                    for d in subject["drills"]
                ],
            )
            lines.append("")
        if subject["verifications"]:
            lines += table(
                ("verification", "levels", "verified", "backup age s", "restore s", "failed checks"),
                [
                    (
                        v["at"],
                        ", ".join(v["levels"]),
                        v["verified"],
                        _seconds(v["backup_age_seconds"]),
                        _seconds(v["restore_seconds"]),
                        "; ".join("%s: %s" % (c["name"], c["detail"]) for c in v["failed_checks"]),
                    )
                    for v in subject["verifications"]
                ],
            )
    if data["jobs"]:
        lines += ["", "## Scheduled jobs", ""]
        lines += table(
            ("job", "subject", "tier", "last success", "last run", "objective s", "state"),
            [
                (
                    j["job_name"],
                    j["subject"],
                    j["tier"],
                    j["last_success"],
                    j["last_run"],
                    _seconds(j.get("max_age")),
                    "FAILING" if j["failing"] else "OVERDUE" if j["overdue"] else "ok",
                )
                for j in data["jobs"]
            ],
        )
    return "\n".join(lines) + "\n"


def svg_chart(title, points, objective):
    """An inline SVG line chart of (epoch, seconds) points, one circle per point, the objective as a dashed line."""
    values = [value for _epoch_, value in points if value is not None]
    top = max(values + [float(objective or 0)] + [1.0]) * 1.1
    first, last = (points[0][0], points[-1][0]) if points else (0, 1)
    span = (last - first) or 1.0
    width, height, margin = CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN

    def x(epoch):
        return margin + (epoch - first) / span * (width - 2 * margin) if len(points) > 1 else width / 2

    def y(value):
        return height - margin - float(value) / top * (height - 2 * margin)

    drawn = [(x(epoch), y(value)) for epoch, value in points if value is not None]
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="%d" height="%d" viewBox="0 0 %d %d" data-points="%d">'
        % (width, height, width, height, len(drawn)),
        "<title>%s</title>" % html.escape(title),
        '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (margin, height - margin, width - margin, height - margin),
    ]
    if objective:
        parts.append(
            '<line class="objective" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#c00" stroke-dasharray="4 3"/>'
            % (margin, y(objective), width - margin, y(objective))
        )
        parts.append('<text x="%d" y="%.1f" font-size="10" fill="#c00">objective %s s</text>' % (margin, y(objective) - 3, _seconds(objective)))
    if drawn:
        parts.append('<polyline fill="none" stroke="#06c" stroke-width="2" points="%s"/>' % " ".join("%.1f,%.1f" % p for p in drawn))
        parts += ['<circle class="point" cx="%.1f" cy="%.1f" r="3" fill="#06c"/>' % p for p in drawn]
    parts.append("</svg>")
    return "".join(parts)


STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;font-size:.9em}.bad{color:#b00;font-weight:bold}.ok{color:#070}"
)


def _cell(value, bad=False):
    return '<td class="%s">%s</td>' % ("bad" if bad else "", html.escape("-" if value is None else str(value)))


def _html_table(headers, rows):
    head = "".join("<th>%s</th>" % html.escape(h) for h in headers)
    return "<table><tr>%s</tr>%s</table>" % (head, "".join("<tr>%s</tr>" % "".join(row) for row in rows))


def render_html(data):
    """One self-contained page: no script, no stylesheet or image from elsewhere."""
    esc = html.escape
    body = [
        "<h1>Recovery evidence</h1>",
        '<p>Verdict: <span class="%s">%s</span>; newest evidence %s</p>'
        % ("ok" if data["passed"] else "bad", "PASSED" if data["passed"] else "ATTENTION", esc(str(data["generated_at"]))),
    ]
    if data["problems"]:
        body.append('<ul class="problems">%s</ul>' % "".join('<li class="bad">%s</li>' % esc(p) for p in data["problems"]))
    for name, subject in sorted(data["subjects"].items()):
        body.append('<section class="subject" id="%s"><h2>%s (%s)</h2>' % (esc(name, True), esc(name), esc(subject["kind"])))
        drills = subject["drills"]
        if drills:
            body.append(svg_chart("%s: measured RTO per drill" % name, [(d["epoch"], d["rto_seconds"]) for d in drills], drills[-1]["rto_objective"]))
            body.append(svg_chart("%s: measured RPO per drill" % name, [(d["epoch"], d["rpo_seconds"]) for d in drills], drills[-1]["rpo_objective"]))
            body.append(
                _html_table(
                    ("drill", "verified", "RTO s", "objective", "RPO s", "objective", "failed checks"),
                    [
                        [
                            _cell(d["at"]),
                            _cell(d["verified"], not d["verified"]),
                            _cell(_seconds(d["rto_seconds"]), not d["objectives_met"]),
                            _cell(_seconds(d["rto_objective"])),
                            _cell(_seconds(d["rpo_seconds"]), not d["objectives_met"]),
                            _cell(_seconds(d["rpo_objective"])),
                            _cell(", ".join(d["failed_checks"]), bool(d["failed_checks"])),
                        ]
                        for d in drills
                    ],
                )
            )
        checks = subject["verifications"]
        if checks:
            body.append(svg_chart("%s: backup age at each verification" % name, [(v["epoch"], v["backup_age_seconds"]) for v in checks], None))
            body.append(
                _html_table(
                    ("verification", "levels", "verified", "backup age s", "restore s", "failed checks"),
                    [
                        [
                            _cell(v["at"]),
                            _cell(", ".join(v["levels"])),
                            _cell(v["verified"], not v["verified"]),
                            _cell(_seconds(v["backup_age_seconds"])),
                            _cell(_seconds(v["restore_seconds"])),
                            _cell("; ".join("%s: %s" % (c["name"], c["detail"]) for c in v["failed_checks"]), bool(v["failed_checks"])),
                        ]
                        for v in checks
                    ],
                )
            )
        body.append("</section>")
    if data["jobs"]:
        body.append("<h2>Scheduled jobs</h2>")
        body.append(
            _html_table(
                ("job", "subject", "tier", "last success", "last run", "objective s", "state"),
                [
                    [
                        _cell(j["job_name"]),
                        _cell(j["subject"]),
                        _cell(j["tier"]),
                        _cell(j["last_success"]),
                        _cell(j["last_run"]),
                        _cell(_seconds(j.get("max_age"))),
                        _cell("FAILING" if j["failing"] else "OVERDUE" if j["overdue"] else "ok", j["failing"] or j["overdue"]),
                    ]
                    for j in data["jobs"]
                ],
            )
        )
    return '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Recovery evidence</title><style>%s</style></head><body>%s</body></html>\n' % (
        STYLE,
        "\n".join(body),
    )


def render(data):
    """{"json": text, "markdown": text, "html": text} of the evidence (byte-stable for the same evidence)."""
    public = json.loads(json.dumps(data, default=str))
    for subject in public["subjects"].values():
        for key in ("drills", "verifications"):
            for row in subject[key]:
                row.pop("epoch", None)
    return {"json": json.dumps(public, indent=2, sort_keys=True) + "\n", "markdown": markdown(data), "html": render_html(data)}
