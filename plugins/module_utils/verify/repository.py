# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_verify's `repository` level: a pgBackRest stanza's backups and WAL archive, read only.

`pgbackrest verify` exits 0 even when it reports errors (2.45), so its report is parsed. It also
said `ok` after a WAL segment a backup needed was deleted, so the archive is scanned for gaps from
each backup's start to the archive's end. Segments are assumed 16 MB (PostgreSQL's default).
"""

import datetime
import json
import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import CheckFailed

SEGMENTS_PER_LOG = 0x100  # 16 MB segments: 256 per 4 GB log file
WAL_FILE_RE = re.compile(r"(?:^|/)([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})-[0-9a-f]{40}")
COUNTS_RE = re.compile(r"(missing|checksum invalid|size invalid|other): (\d+)")
FILE_FINDING_RE = re.compile(r"INFO: ((?:invalid|missing|unable|file)[^']*) '([^']+)'")


def segment_number(name):
    """(timeline, absolute segment number) of a 24-hex WAL file name."""
    return int(name[:8], 16), int(name[8:16], 16) * SEGMENTS_PER_LOG + int(name[16:24], 16)


def segment_name(timeline, number):
    return "%08X%08X%08X" % (timeline, number // SEGMENTS_PER_LOG, number % SEGMENTS_PER_LOG)


def wal_gaps(present, start, end):
    """Segment numbers in [start, end] found on no timeline at or after start's (present: a set of
    (timeline, number)); start and end are (timeline, number)."""
    numbers = {number for timeline, number in present if timeline >= start[0]}
    return [n for n in range(start[1], end[1] + 1) if n not in numbers]


def parse_verify(text):
    """(status, [finding lines]) of `pgbackrest verify --output=text --verbose` with info logging."""
    status = re.search(r"^status: (\S+)", text, re.M)
    findings = ["%s %s" % m for m in FILE_FINDING_RE.findall(text)]
    current = "stanza"
    for line in text.splitlines():
        subject = re.search(r"(archiveId: \S+|backup: \S+?),", line)
        if subject:
            current = subject.group(1)
        counts = [(what, int(n)) for what, n in COUNTS_RE.findall(line) if int(n)]
        if counts:
            findings.append("%s: %s" % (current, ", ".join("%s %d" % c for c in counts)))
        invalid = re.search(r"backup: ([^,\s]+), status: ([^,]+)", line)
        if invalid and invalid.group(2).strip() != "valid":
            findings.append("backup %s is %s" % (invalid.group(1), invalid.group(2).strip()))
    # the report is printed twice (as an info log line and as the output): keep each finding once
    return (status.group(1) if status else "unknown"), list(dict.fromkeys(findings))


class RepositoryLevel:
    def __init__(self, pgbackrest, checks):
        self.pgbr, self.checks = pgbackrest, checks
        self.stanza = pgbackrest.stanza

    def run(self, figures, info):
        """The checks, on the stanza's entry of `pgbackrest info` (read by the caller)."""
        backups = info.get("backup") or []
        if backups:
            newest = backups[-1]
            figures["backup"] = newest["label"]
            stop = datetime.datetime.fromtimestamp(newest["timestamp"]["stop"], datetime.timezone.utc)
            figures["backup_age_seconds"] = int((datetime.datetime.now(datetime.timezone.utc) - stop).total_seconds())
        with self.checks.run("repository.verify", self.stanza) as entry:
            entry["detail"] = self._verify()
        with self.checks.run("repository.backups", self.stanza) as entry:
            entry["detail"] = self._backups(backups)
        with self.checks.run("repository.wal_continuity", self.stanza) as entry:
            entry["detail"] = self._continuity(info, backups)

    def _verify(self):
        text = self.pgbr.run("verify", "--output=text", "--verbose", "--log-level-console=info", "--log-level-stderr=off", timeout=3600)
        status, findings = parse_verify(text)
        if status != "ok" or findings:
            raise CheckFailed("pgbackrest verify reports status %s: %s" % (status, "; ".join(findings) or text[-500:]))
        return "pgbackrest verify: status ok, every backup file and WAL segment valid"

    @staticmethod
    def _backups(backups):
        if not backups:
            raise CheckFailed("the stanza has no backup")
        flagged = [b["label"] for b in backups if b.get("error")]
        if flagged:
            raise CheckFailed("pgBackRest found page checksum errors while copying backup(s) %s: the source cluster has corrupted pages" % ", ".join(flagged))
        return "%d backups, none flagged with page errors" % len(backups)

    def _continuity(self, info, backups):
        listing = json.loads(self.pgbr.run("repo-ls", "--recurse", "--output=json", timeout=600, operands=["archive/%s" % self.stanza]) or "{}")
        present = {}
        for path, entry in listing.items():
            found = WAL_FILE_RE.search(path)
            if found and entry.get("type") == "file":
                archive_id = path.split("/")[0]
                present.setdefault(archive_id, set()).add(segment_number("".join(found.groups())))
        ids = {a["database"]["id"]: a for a in info.get("archive") or []}
        problems = []
        for backup in backups:
            archive = ids.get(backup["database"]["id"])
            if not archive or not archive.get("max"):
                problems.append("backup %s: no WAL archive for its database" % backup["label"])
                continue
            start, stop = segment_number(backup["archive"]["start"]), segment_number(backup["archive"]["stop"])
            end = segment_number(archive["max"])
            gaps = wal_gaps(present.get(archive["id"], set()), start, end)
            if gaps:
                first = segment_name(start[0], gaps[0])
                kind = "needed to make the backup consistent" if gaps[0] <= stop[1] else "after it"
                problems.append(
                    "backup %s: %d WAL segment(s) missing from the archive, first %s (%s): it restores %s"
                    % (backup["label"], len(gaps), first, kind, "not at all" if gaps[0] <= stop[1] else "only up to the gap")
                )
        if problems:
            raise CheckFailed("; ".join(problems))
        return "WAL continuous from each of %d backups to the archive's end" % len(backups)
