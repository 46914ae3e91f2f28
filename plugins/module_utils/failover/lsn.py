# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL positions (LSNs) as PostgreSQL writes them ('16/B374D848'), their arithmetic, and the positions
pg_controldata prints for a stopped cluster (the last a dead primary is known to have written)."""

import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
WAL_SEGMENT_BYTES = 16 * 1024 * 1024  # PostgreSQL's default (initdb --wal-segsize), what the platform runs


def parse_lsn(text, what="LSN"):
    """The LSN as an integer (bytes since the start of WAL); bad text is refused naming `what`."""
    match = LSN.match(str(text or "").strip())
    if not match:
        raise Refused("%s %r is not a WAL position (like 0/3000060)" % (what, text))
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16)


def format_lsn(value):
    return "%X/%X" % (value >> 32, value & 0xFFFFFFFF)


def wal_segment(timeline, value):
    """The WAL file name holding position `value` on `timeline` (what pg_walfile_name() returns)."""
    segment = value // WAL_SEGMENT_BYTES
    per_id = 0x100000000 // WAL_SEGMENT_BYTES
    return "%08X%08X%08X" % (timeline, segment // per_id, segment % per_id)


# pg_controldata's lines that matter here ("Latest checkpoint location:           0/3000060").
CONTROL_FIELDS = {
    "Database cluster state": "state",
    "Latest checkpoint location": "checkpoint_lsn",
    "Latest checkpoint's REDO location": "redo_lsn",
    "Latest checkpoint's TimeLineID": "timeline",
    "Minimum recovery ending location": "min_recovery_lsn",
}


def parse_controldata(text):
    """The facts of pg_controldata's output: state, checkpoint and REDO positions, timeline.
    Refused when it is not pg_controldata's output (no checkpoint location)."""
    facts = {}
    for line in (text or "").splitlines():
        label, _colon, value = line.partition(":")
        key = CONTROL_FIELDS.get(label.strip())
        if key:
            facts[key] = value.strip()
    if "checkpoint_lsn" not in facts:
        raise Refused("the old primary's pg_controldata output has no 'Latest checkpoint location' line")
    parse_lsn(facts["checkpoint_lsn"], "pg_controldata's latest checkpoint location")
    if "timeline" in facts:
        facts["timeline"] = int(facts["timeline"])
    return facts


def data_lost(old_primary_lsn, switch_lsn, timeline):
    """What the promoted standby never received: bytes and WAL range between the switch point and the
    old primary's last known position (nothing when the standby had it all)."""
    if old_primary_lsn is None:
        return dict(bytes=None, wal_range=None, known=False)
    old, switch = parse_lsn(old_primary_lsn), parse_lsn(switch_lsn)
    if old <= switch:
        return dict(bytes=0, wal_range=None, known=True)
    return dict(
        bytes=old - switch,
        wal_range=dict(start=format_lsn(switch), end=format_lsn(old), first_segment=wal_segment(timeline, switch), last_segment=wal_segment(timeline, old)),
        known=True,
    )
