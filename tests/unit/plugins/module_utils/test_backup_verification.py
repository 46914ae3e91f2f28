"""Pure logic of backup_verify: pgBackRest's verify report, WAL gaps, the checks and the evidence."""

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import CheckFailed, Checks, markdown, prometheus
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.repository import parse_verify, segment_name, segment_number, wal_gaps

# pgbackrest 2.45 `verify --output=text --verbose --log-level-console=info` after a bit was flipped
# in one backup file: the command still exits 0.
VERIFY_ERROR = """2026-11-23 18:16:02.809 P02   INFO: invalid checksum '20261123-181509F/pg_data/base/1/1259.zst'
2026-11-23 18:16:03.845 P00   INFO: stanza: vx
                                    status: error
stanza: vx
status: error
  archiveId: 15-1, total WAL checked: 4, total valid WAL: 4
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261123-181509F, status: invalid, total files checked: 969, total valid files: 968
    missing: 0, checksum invalid: 1, size invalid: 0, other: 0
"""
VERIFY_OK = """stanza: vx
status: ok
  archiveId: 15-1, total WAL checked: 4, total valid WAL: 4
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261123-181509F, status: valid, total files checked: 969, total valid files: 969
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
"""


def test_parse_verify_finds_the_file_the_counts_and_the_status():
    status, findings = parse_verify(VERIFY_ERROR)
    assert status == "error"
    assert findings == [
        "invalid checksum 20261123-181509F/pg_data/base/1/1259.zst",
        "backup 20261123-181509F is invalid",
        "backup: 20261123-181509F: checksum invalid 1",
    ]
    assert parse_verify(VERIFY_OK) == ("ok", [])


def test_segments_and_gaps_across_a_log_boundary_and_timelines():
    assert segment_number("0000000200000001000000FF") == (2, 0x1FF)
    assert segment_name(2, 0x200) == "000000020000000200000000"
    present = {(1, n) for n in range(0x1FD, 0x201)} - {(1, 0x1FF)}
    assert wal_gaps(present, (1, 0x1FD), (1, 0x200)) == [0x1FF]
    assert wal_gaps(present | {(2, 0x1FF)}, (1, 0x1FD), (2, 0x200)) == []  # the new timeline has it
    assert wal_gaps(present | {(2, 0x1FF)}, (3, 0x1FD), (3, 0x1FE)) == [0x1FD, 0x1FE]  # older timelines do not count


def test_checks_record_findings_errors_and_a_summary_naming_each():
    checks = Checks(safe=lambda text: text.replace("s3cr3t", "********"))
    with checks.run("objects.age", "acme") as entry:
        entry["detail"] = "fine"
    with checks.run("objects.integrity", "acme"):
        raise CheckFailed("x.zip has SHA-256 00, its sidecar records 11")
    with checks.run("repository.verify", "prod"):
        raise OSError("connect failed with password s3cr3t")
    assert not checks.verified and [c["ok"] for c in checks.items] == [True, False, False]
    assert checks.items[2]["detail"] == "OSError: connect failed with password ********"
    summary = checks.summary(["acme", "prod"])
    assert summary.startswith("backup verification of acme, prod failed 2 of 3 checks")
    assert "objects.integrity [acme]: x.zip has SHA-256" in summary and "repository.verify [prod]" in summary


def test_markdown_and_textfile_say_the_verdict_per_subject():
    result = {
        "subjects": ["acme", "prod"],
        "verified": False,
        "verified_at": "2026-11-23T18:00:00+00:00",
        "verified_epoch": 1795456800,
        "levels": ["objects", "repository"],
        "msg": "failed",
        "figures": {"acme": {"backup": "a.zip", "backup_age_seconds": 60}, "prod": {"restore_seconds": 4.5}},
        "checks": [
            {"name": "objects.age", "subject": "acme", "ok": True, "detail": "a | b", "seconds": 0.1},
            {"name": "repository.verify", "subject": "prod", "ok": False, "detail": "bad", "seconds": 1},
        ],
    }
    text = markdown(result)
    assert "**FAILED**" in text and "| objects.age | acme | ok | 0.100 | a \\| b |" in text
    metrics = prometheus(result, {"acme": "tenant", "prod": "cluster"})
    assert 'backup_verify_success{tenant="acme"} 1' in metrics and 'backup_verify_success{cluster="prod"} 0' in metrics
    assert 'backup_age_seconds{tenant="acme"} 60' in metrics and 'backup_age_seconds{cluster="prod"}' not in metrics
    assert 'backup_restore_seconds{cluster="prod"} 4.5' in metrics
