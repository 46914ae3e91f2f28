"""Shared fixtures: the collection on sys.path, and the real-service harness for a test session."""
import os
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO_ROOT, ".cache", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)  # import ansible_collections.sysgenpro.odoo_ops.* in unit tests

from tests.harness import Platform  # noqa: E402  pylint: disable=wrong-import-position


def shared_dir():
    """../shared beside the checkout (CRD schemas, design notes), or $ODOO_OPS_SHARED_DIR."""
    return os.environ.get("ODOO_OPS_SHARED_DIR") or os.path.join(os.path.dirname(REPO_ROOT), "shared")


class Harness:
    """Starts services on first use and keeps them for the session."""

    def __init__(self, root):
        self.platform = Platform(root)
        self.state = {}

    def up(self, *names):
        self.state = self.platform.up(names)
        return self.state


@pytest.fixture(scope="session")
def harness():
    root = tempfile.mkdtemp(prefix="odoo_ops-test-")
    running = Harness(root)
    try:
        yield running
    finally:
        running.platform.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # pylint: disable=unused-argument
    """On a failure in a test that used the harness, attach the service logs to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "harness" in getattr(item, "funcargs", {}):
        report.sections.append(("service logs", item.funcargs["harness"].platform.logs()))
