# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integer options' bounds: one bound per idea, whichever module (or nested option) takes it.

An argument spec has no integer ranges, so the module runner checks every option named here (at any
depth: from_backup.jobs too) before a module does anything. Ports have their own check
(validation.check_port), wait times theirs in the module that waits (a route settles in seconds, a
restore may replay for hours)."""

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

BOUNDS = {
    # parallel pg_dump / pg_restore jobs: each is one server connection and one process
    "jobs": (1, 64),
    # S3's smallest part is 5 MiB (but the last); S3 allows 5 GiB, memory holds part_size x concurrency
    "part_size_mb": (5, 1024),
    # zlib's levels
    "compress_level": (0, 9),
    # concurrent part uploads, each holding one part in memory
    "upload_concurrency": (1, 32),
    # one tenant's module update (odoo_release): a day at most, however large the tenant
    "update_timeout": (1, 86400),
    # reports read into one recovery-evidence page: each is parsed and drawn
    "max_reports": (1, 5000),
}
MAX_DEPTH = 3  # options of options of options: deeper than any argument spec of the collection


def check_bounds(params, where="", depth=0):
    """Refuse an option of BOUNDS outside its bound, in params and the dicts (or lists of dicts) in it."""
    for name, value in (params or {}).items():
        what = where + name
        if name in BOUNDS and value is not None:
            low, high = BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, int):
                problem = "is not an integer"
            elif value < low:
                problem = "must be at least %d" % low
            elif value > high:
                problem = "must be at most %d" % high
            else:
                continue
            raise Refused("%s %r %s (%s must be %d-%d)" % (what, value, problem, what, low, high))
        elif depth < MAX_DEPTH and isinstance(value, dict):
            check_bounds(value, what + ".", depth + 1)
        elif depth < MAX_DEPTH and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    check_bounds(item, "%s[%d]." % (what, index), depth + 1)
