"""The recovery-evidence report (module_utils/verify/evidence): drills' RTO and RPO over time against the
tier's objectives, verifications with their failing checks named, the scheduled jobs' last success
against their objective; Markdown, JSON and one self-contained HTML page with a chart point per drill."""

import json
import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.evidence import evidence, job_metrics, render, svg_chart
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import drill_report

OBJECTIVES = {1: {"rto_seconds": 3600, "rpo_seconds": 93600}}
CLUSTER = {"rto_seconds": 3600, "rpo_seconds": 300}
NOW = 1796083200.0  # 2026-12-01T00:00:00Z


def verification(subject, at, ok=True, age=3600.0, restore=None):
    checks = [{"name": "objects: sha256", "subject": subject, "ok": True, "detail": "", "seconds": 0.1}]
    if not ok:
        checks.append({"name": "restore: amcheck", "subject": subject, "ok": False, "detail": "index <b>corrupt</b>", "seconds": 1.0})
    figures = {"backup": "odoo/%s/x.zip" % subject, "backup_age_seconds": age}
    if restore is not None:
        figures["restore_seconds"] = restore
    levels = ["objects", "restore"]
    return {"subjects": [subject], "verified": ok, "verified_at": at, "levels": levels, "figures": {subject: figures}, "checks": checks, "msg": ""}


def drill(at, rto, rpo, ok=True):
    result = verification("acme", at, ok=ok, age=rpo, restore=rto)
    result.update(kind="tenant", item={"name": "acme", "tier": 1})
    return drill_report([result], OBJECTIVES, CLUSTER, at, at)["json"]


JOBS_TEXT = """# HELP odoo_ops_job_last_run_timestamp_seconds When the job last ended.
odoo_ops_job_last_run_timestamp_seconds{job_name="tenant_backup",subject="acme",tenant="acme",tier="1"} 1796079600.0
odoo_ops_job_last_success_timestamp_seconds{job_name="tenant_backup",subject="acme",tenant="acme",tier="1"} 1796079600.0
odoo_ops_job_max_age_seconds{job_name="tenant_backup",subject="acme",tenant="acme",tier="1"} 93600.0
odoo_ops_job_bytes{job_name="tenant_backup",subject="acme",tenant="acme",tier="1"} 1234.0
"""
STALE_TEXT = """odoo_ops_job_last_run_timestamp_seconds{job_name="dr_drill",subject="acme",tenant="acme",tier="1"} 1795000000.0
odoo_ops_job_last_success_timestamp_seconds{job_name="dr_drill",subject="acme",tenant="acme",tier="1"} 1794000000.0
odoo_ops_job_max_age_seconds{job_name="dr_drill",subject="acme",tenant="acme",tier="1"} 612000.0
"""


def test_drills_over_time_against_the_objectives_and_the_jobs_last_success():
    reports = [
        drill("2026-11-28T06:00:00Z", 600.0, 3600.0),
        drill("2026-11-14T06:00:00Z", 900.0, 7200.0),
        drill("2026-11-21T06:00:00Z", 4000.0, 3600.0),  # missed the RTO that week
        verification("acme", "2026-11-30T04:00:00Z"),
        {"started": "x", "steps": []},  # an incident report: not evidence of this kind, ignored
    ]
    data = evidence(reports, job_metrics(JOBS_TEXT), NOW)
    acme = data["subjects"]["acme"]
    assert [d["at"] for d in acme["drills"]] == ["2026-11-14T06:00:00Z", "2026-11-21T06:00:00Z", "2026-11-28T06:00:00Z"]  # in time order
    assert [d["rto_seconds"] for d in acme["drills"]] == [900.0, 4000.0, 600.0]
    assert [d["objectives_met"] for d in acme["drills"]] == [True, False, True]
    assert acme["drills"][0]["rto_objective"] == 3600.0 and acme["drills"][0]["rpo_objective"] == 93600.0
    assert data["passed"] and data["problems"] == []  # the last drill and verification passed, the backup is fresh
    assert data["jobs"] == [
        {"job_name": "tenant_backup", "subject": "acme", "tier": "1", "tenant": "acme", "last_run": "2026-11-30T23:00:00Z",
         "last_success": "2026-11-30T23:00:00Z", "max_age": 93600.0, "bytes": 1234.0, "overdue": False, "failing": False}
    ]  # fmt: skip
    assert data["generated_at"] == "2026-11-30T04:00:00Z"


def test_failures_and_overdue_jobs_are_named():
    reports = [drill("2026-11-28T06:00:00Z", 600.0, 3600.0, ok=False), verification("globex", "2026-11-30T04:00:00Z", ok=False)]
    data = evidence(reports, job_metrics(STALE_TEXT), NOW)
    assert data["passed"] is False
    assert data["problems"] == [
        "acme: the last drill (2026-11-28T06:00:00Z) failed or missed an objective",
        "globex: the last verification (2026-11-30T04:00:00Z) failed",
        "dr_drill of acme: last run failed",
    ]
    assert data["subjects"]["globex"]["verifications"][0]["failed_checks"] == [{"name": "restore: amcheck", "detail": "index <b>corrupt</b>"}]
    assert data["jobs"][0]["overdue"] is True and data["jobs"][0]["failing"] is True
    markdown = render(data)["markdown"]
    assert "Verdict: **ATTENTION**" in markdown and "restore: amcheck: index <b>corrupt</b>" in markdown and "| dr_drill | acme | 1 |" in markdown


def test_the_html_page_is_self_contained_with_one_point_per_drill_and_escaped_text():
    reports = [drill("2026-11-%02dT06:00:00Z" % day, 600.0 + day, 3600.0) for day in (7, 14, 21, 28)]
    reports.append(verification("acme", "2026-11-30T04:00:00Z", ok=False))
    rendered = render(evidence(reports, job_metrics(JOBS_TEXT), NOW))
    page = rendered["html"]
    charts = re.findall(r'<svg [^>]*data-points="(\d+)"', page)
    assert charts == ["4", "4", "1"]  # RTO and RPO of the 4 drills, the backup age of the one verification
    assert page.count('<circle class="point"') == 9 and page.count('class="objective"') == 2
    assert "index &lt;b&gt;corrupt&lt;/b&gt;" in page and "<b>corrupt" not in page
    assert not re.search(r"<script|<link|<img|https?://(?!www\.w3\.org/2000/svg)", page)  # nothing from elsewhere
    assert json.loads(rendered["json"])["subjects"]["acme"]["drills"][0]["at"] == "2026-11-07T06:00:00Z"
    assert render(evidence(reports, job_metrics(JOBS_TEXT), NOW)) == rendered  # byte-stable


def test_a_chart_without_points_or_with_one():
    assert 'data-points="0"' in svg_chart("empty", [], 10) and "<circle" not in svg_chart("empty", [], 10)
    one = svg_chart("one", [(NOW, 5.0)], None)
    assert one.count("<circle") == 1 and 'class="objective"' not in one
