# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one runner of the collection's modules: every main() builds its AnsibleModule and hands its work
to run_module(), which checks the Python libraries the run needs, refuses root where the module must
not run as root, turns the collection's expected errors into fail_json with their message (and no
traceback), any other exception into fail_json with the traceback (a programming error to report),
and closes every resource the work opened, whatever happened."""

import contextlib
import importlib
import os
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.bounds import check_bounds
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused

# The third-party libraries a module may need: the name missing_required_lib() shows, and the import.
# botocore is boto3's engine; the collection imports botocore only (see object_store).
LIBRARIES = {"psycopg2": "psycopg2", "botocore": "botocore.session", "PyYAML": "yaml"}

# Expected: the collection's own errors, refusals of input (ValueError, which the standard library's
# parsers raise too, and the collection's Refused) and the operating system's answers (a full disk, a
# folder that is not writable, a program that cannot be started) - each says what went wrong.
EXPECTED = (OdooOpsError, ValueError, OSError)


def missing_library(name):
    """The import traceback when library `name` (a key of LIBRARIES) cannot be imported, else None."""
    try:
        importlib.import_module(LIBRARIES[name])
    except ImportError:
        return traceback.format_exc()
    return None


def require_library(name, purpose):
    """Refuse `purpose` (an option that needs library `name`, a key of LIBRARIES) when it cannot be imported:
    for libraries a module needs only with some options."""
    if missing_library(name):
        shown = "boto3 (botocore)" if name == "botocore" else name
        raise Refused("%s needs the Python library %s on the host that runs the module" % (purpose, shown))


def root_refusal(name, why):
    """The refusal of a module that must not run as root (None for another user)."""
    if os.geteuid() != 0:
        return None
    return "run %s as the PostgreSQL OS user (become_user: postgres), not root%s" % (name, ": " + why if why else "")


def run_module(module, work, needs=(), not_as_root=None):
    """Run work(resources) for module and exit with its result (a dict of the plan shape, see plan.py).

    needs: names of LIBRARIES the run cannot do without; not_as_root: (module name, why) when the module
    must not run as root; resources: a contextlib.ExitStack, closed at the end, on which work registers
    what it opens (resources.enter_context(Postgres(params)), resources.callback(x.close)).
    """
    for name in needs:
        error = missing_library(name)
        if error:
            module.fail_json(msg=missing_required_lib(name), exception=error)
    if not_as_root and root_refusal(*not_as_root):
        module.fail_json(msg=root_refusal(*not_as_root), changed=False)
    failure = None
    with contextlib.ExitStack() as resources:
        try:
            check_bounds(module.params)
            result = work(resources)
        except EXPECTED as exc:
            failure = expected_failure(exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # reported, with its traceback
            failure = dict(msg="%s: %s" % (type(exc).__name__, exc), exception=exc, changed=False)
    if failure is not None:
        for warning in failure.pop("warnings", ()):
            module.warn(warning)
        module.fail_json(**failure)
    for warning in result.pop("warnings", None) or ():
        module.warn(warning)
    module.exit_json(**result)


@contextlib.contextmanager
def reporting(partial_report):
    """Attach partial_report() (what the run found or did so far) to an expected error raised in the
    block, under what the error carries already: the runner returns it beside the message."""
    try:
        yield
    except EXPECTED as exc:
        exc.result = dict(partial_report() or {}, **(getattr(exc, "result", None) or {}))
        raise


def expected_failure(exc):
    """fail_json's arguments for an expected error: the partial report the raiser attached, the message,
    whether something changed before it; never the error's traceback (fail_json is called after the
    except block: with tracebacks enabled, Ansible shows the runner's call stack only)."""
    failure = dict(getattr(exc, "result", None) or {})
    failure.update(msg=str(exc), changed=bool(getattr(exc, "changed", False) or failure.get("changed")))
    failure["warnings"] = list(getattr(exc, "warnings", None) or ())
    return failure
