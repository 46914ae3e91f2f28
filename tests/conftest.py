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
from tests.harness import odoo_server  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.process import scratch_dirs  # noqa: E402  pylint: disable=wrong-import-position

# Figures of this session (real Odoo's venv, template, image builds...), printed at the end.
TIMINGS = {}
# What a person may want to look at (screenshots kept outside git): {what: path}, printed at the end.
EVIDENCE = {}

# pytest-xdist (scripts/test.sh: -n 2 --dist loadgroup --no-loadscope-reorder): each test module is
# one unit of work, run whole by one worker, so that its module fixtures (a deployed platform, a
# cluster with its stanza...) are made once. Each worker has its own harness (services on free ports
# under its own folders) and its own session fixtures; the rest two workers share is locked: image
# builds (docker_platform.image_builds), Odoo's venv (odoo_server.build_venv).
# Units go out in this order: these first, longest first, so that no long module starts last and
# keeps one worker busy alone; then the others as collected. The seconds: what the module's tests
# among the 40 slowest of the CI run of 2026-12-07 took together (setup + call, 2 cores, serial) - a
# lower bound of the module's time.
LONGEST_FIRST = (
    "tests/integration/test_site.py",  # 458
    "tests/integration/test_molecule.py",  # 252
    "tests/integration/test_pg_pitr_restore.py",  # 213
    "tests/integration/test_hostile_backups.py",  # 121
    "tests/integration/test_pg_backup_role.py",  # 90
    "tests/integration/test_odoo_image_from_source.py",  # 81
)


def _unit_of(item):
    return item.nodeid.split("::", 1)[0]


# The modules that drive Docker Engine run on one worker, one after the other: Debian's Docker 20.10
# deadlocked once under two workers' container and network operations at the same time (libnetwork's
# watch loop against an endpoint leave: `docker info` hung and every later Docker test failed), which
# the serial runs never met. The other worker takes the rest.
DOCKER_MODULES = frozenset(
    "tests/integration/%s.py" % name
    for name in (
        "test_site",
        "test_molecule",
        "test_pg_backup_role",
        "test_odoo_image_from_source",
        "test_odoo_images",
        "test_docker_postgres",
        "test_incident_zone_failover",
        "test_k8s_pods_start",
        "test_harness",
        "test_execution_environment",
    )
)


def _group_name(unit):
    """The module's name without folder and .py (xdist appends "@<group>" to every node id shown), or
    "docker" for the modules that drive Docker Engine."""
    return "docker" if unit in DOCKER_MODULES else os.path.splitext(os.path.basename(unit))[0]


@pytest.hookimpl(tryfirst=True)  # before xdist adds the groups to the node ids
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):
        return  # not a pytest-xdist worker: as collected
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    first_seen = {}
    for item in items:
        first_seen.setdefault(_unit_of(item), len(first_seen))
    # Stable: the tests of one module stay together and in their order (the same on every worker).
    items.sort(key=lambda item: (rank.get(_unit_of(item), len(rank)), first_seen[_unit_of(item)]))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group_name(_unit_of(item))))


CONTROLLER_DOCKER = pytest.StashKey()


def _xdist_controller(config):
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts its workers
def pytest_sessionstart(session):
    """Under pytest-xdist the controller starts Docker Engine when it is not running (a fresh CI
    machine), before the workers and for them all, and stops it after them: two workers would each
    start a dockerd, and the one that started it would stop it under the other's tests."""
    if not _xdist_controller(session.config) or not shutil.which("dockerd"):
        return
    root = tempfile.mkdtemp(prefix="odoo_ops-test-docker-")
    session.config.stash[CONTROLLER_DOCKER] = platform = Platform(root)
    platform.up(["docker"])  # nothing but a look when it answers already


def pytest_sessionfinish(session):
    """A pytest-xdist worker hands its TIMINGS to the controller, which prints them; the controller
    stops the Docker Engine it started, if it did."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["odoo_ops_timings"], output["odoo_ops_evidence"] = dict(TIMINGS), dict(EVIDENCE)
    platform = session.config.stash.get(CONTROLLER_DOCKER, None)
    if platform is not None:
        try:
            platform.down()
        finally:
            shutil.rmtree(platform.root, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without the plugin
def pytest_testnodedown(node, error):  # pylint: disable=unused-argument
    output = getattr(node, "workeroutput", {})
    TIMINGS.update(output.get("odoo_ops_timings", {}))
    EVIDENCE.update(output.get("odoo_ops_evidence", {}))


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


def pytest_report_header(config):  # pylint: disable=unused-argument
    tree, reason = odoo_server.find_source()
    if not tree:
        return "real Odoo: none, its tests skip - %s" % reason
    return "real Odoo: %s (%s)" % (tree, odoo_server.read_version(tree)["version"])


def pytest_terminal_summary(terminalreporter):
    if EVIDENCE:
        terminalreporter.write_sep("-", "evidence")
        for what, path in EVIDENCE.items():
            terminalreporter.write_line("%s: %s" % (what, path))
    if TIMINGS:
        terminalreporter.write_sep("-", "timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line("%-50s %s" % (what, seconds))


@pytest.fixture(scope="session")
def odoo_source():
    """The real Odoo tree ($ODOO_OPS_ODOO_SOURCE or ../shared/odoo-18.0); the test skips, saying why, without one."""
    tree, reason = odoo_server.find_source()
    if not tree:
        pytest.skip(reason)
    return tree


@pytest.fixture(scope="session")
def odoo_install(odoo_source):
    """Real Odoo ready to run: its venv (built once, cached in .cache/odoo-venv by its inputs) and the OS user."""
    venv = odoo_server.build_venv(odoo_source)
    TIMINGS["odoo venv %s (s)" % ("built" if venv["built"] else "reused")] = venv["seconds"]
    return odoo_server.OdooInstall(odoo_source, venv)


class OdooTemplates:
    """`-i base --without-demo=all` template databases, one per owner role, each initialised once a session."""

    def __init__(self, install, pg, root):
        self.install, self.pg, self.root, self.made = install, pg, root, {}

    def get(self, role="odoo_ops_real", password="odoo-ops-real-secret", modules="base"):
        if role not in self.made:
            template = odoo_server.OdooTemplate(self.install, self.pg, role, password, os.path.join(self.root, role), modules=modules)
            self.made[role] = template.init()
            TIMINGS["odoo template %s: -i %s (s)" % (role, modules)] = template.seconds
        return self.made[role]


@pytest.fixture(scope="session")
def odoo_templates(odoo_install, harness):
    pg = harness.up("postgres")["postgres"]
    with scratch_dirs("odoo_ops-odoo-templates-") as (root,):
        templates = OdooTemplates(odoo_install, pg, root)
        try:
            yield templates
        finally:
            for template in templates.made.values():
                odoo_server.drop_database(pg, template.name)


@pytest.fixture(scope="session")
def odoo_template(odoo_templates):
    """The session's template database (role odoo_ops_real, no CREATEDB): copy it with .copy(name, data_dir)."""
    return odoo_templates.get()


@pytest.fixture(scope="session")
def odoo_servers(odoo_install, harness):
    """A factory of real Odoo servers: odoo_servers(db_user, db_password, **odoo_conf_options) returns a
    started OdooServer (workers 0, no crons, list_db off, proxy_mode on unless given); use it as a context
    manager to stop it early. Every server still running is stopped (by PID) and its folder removed at the end."""
    pg = harness.up("postgres")["postgres"]
    started = []
    with scratch_dirs("odoo_ops-odoo-servers-") as (root,):

        def make(db_user, db_password, start=True, **options):
            server = odoo_server.OdooServer(odoo_install, pg, db_user, db_password, os.path.join(root, "server-%d" % len(started)), **options)
            started.append(server)
            return server.start() if start else server

        try:
            yield make
        finally:
            for server in started:
                server.stop()
