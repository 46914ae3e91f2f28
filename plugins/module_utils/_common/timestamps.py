# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Timestamps: the current UTC time, and ISO 8601 input that must carry its zone."""

import datetime
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_timestamp(value, what):
    """An ISO 8601 timestamp with an explicit zone, as an aware datetime."""
    try:
        stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Refused("%s %r is not an ISO 8601 timestamp" % (what, value)) from None
    if stamp.tzinfo is None:
        raise Refused("%s %r has no time zone (add +00:00)" % (what, value))
    return stamp
