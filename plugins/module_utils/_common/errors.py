# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's error family. Every failure a module expects (a refusal of its input, a service
that answered with an error, a run that did not end as planned) is an OdooOpsError: the module runner
reports its message without a traceback, and a traceback only for anything else (a programming error).

Whoever raises one may attach what the run did before it failed: `changed` (an earlier step took
effect) and `result` (a partial report, returned beside the message)."""


class OdooOpsError(Exception):
    """Base of the collection's expected errors; the message is safe to show (no secret, no DSN)."""

    changed = False
    result = None
    warnings = ()

    def __init__(self, *args, result=None, changed=None):
        super().__init__(*args)
        if result is not None:
            self.result = result
        if changed is not None:
            self.changed = changed


class Refused(OdooOpsError, ValueError):
    """Bad input, refused before anything changed. Also a ValueError, which the standard library's
    own parsers raise for bad input and which the runner treats as a refusal alike."""


class OperationFailed(OdooOpsError, RuntimeError):
    """Something the collection ran (a program, a step, a check of its own work) did not succeed."""
