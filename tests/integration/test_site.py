"""The main job: playbooks/site.yml on inventories/local - the whole platform in Docker containers
(PostgreSQL, Redis, Traefik, a shared fleet with two tenants and a dedicated one, on real Odoo 18.0
built from ../shared/odoo-18.0 - the Odoo test workload only where no tree is available), each tenant
reachable through Traefik by host name (Odoo's login page, a JSON-RPC login as its administrator);
idempotent; a rolling update under load without errors; refusals before anything changes. Run on a
private copy of the local platform (own ports, names and folders)."""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

import psycopg2
import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import PORT_SPAN
from tests.conftest import EVIDENCE
from tests.harness import browser
from tests.harness.docker_platform import MONITORING_PORTS, ConstantLoad, docker_platform
from tests.harness.http import post_json, request, websocket_handshake
from tests.harness.options import ensure_bucket, s3_client
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
TENANT_HOSTS = {"acme": ["acme.localhost", "www.acme.localhost"], "globex": ["globex.localhost"], "initech": ["initech.localhost"]}


def recap(run):
    """The PLAY RECAP counters of a run, e.g. {'ok': 101, 'changed': 0, 'failed': 0}."""
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    return {key: int(value) for key, value in (field.split("=") for field in line.split()[2:])}


def files_under(folder):
    """{relative path: SHA-1} of the files below folder (attachments, without Odoo's checklist markers)."""
    found = {}
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(parent, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, folder)] = hashlib.sha1(handle.read()).hexdigest()
    return {path: digest for path, digest in found.items() if not path.startswith("checklist")}


@pytest.fixture(scope="module")
def platform(harness):
    state = harness.up("docker", "s3")
    with scratch_dirs("odoo_ops-site-") as (root,):
        with docker_platform(root, state["s3"]) as deployed:
            ensure_bucket(state["s3"], deployed.extra["odoo_ops_backup_bucket"])
            first = deployed.site()
            assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
            deployed.first = first
            yield deployed


def test_refusals_before_anything_changes(harness, tmp_path):
    """An oversubscribed connection plan and a shared-fleet host dbfilter cannot map: refused with
    the reason, no container started, no folder written."""
    state = harness.up("docker", "s3")
    with docker_platform(str(tmp_path), state["s3"]) as bad:
        run = bad.site(extra={"odoo_ops_postgres_max_connections": 40})
        assert run.returncode != 0
        assert "does not fit" in run.stdout and "max_connections 40" in run.stdout, run.stdout[-3000:]
        assert bad.containers() == {} and sorted(os.listdir(str(tmp_path))) == ["state.json"]
        tenants = [
            {"name": "acme", "hosts": ["erp.acme.localhost"]},
            {"name": "globex", "hosts": ["globex.localhost"]},
            {"name": "initech", "hosts": ["initech.localhost"]},
        ]
        run = bad.site(extra={"odoo_ops_tenants": tenants})
        assert run.returncode != 0 and 'each host must start with "acme."' in run.stdout, run.stdout[-3000:]
        # Fleet port ranges that overlap, or lie where outgoing connections take their local ports.
        ephemeral = [dict(bad.fleets[0], port_base=40000), bad.fleets[1]]
        run = bad.site(extra={"odoo_ops_fleets": ephemeral})
        assert run.returncode != 0 and "fleet shared1 (40000-40043): 44 of its ports lie in the kernel's ephemeral range" in run.stdout, run.stdout[-3000:]
        overlapping = [bad.fleets[0], dict(bad.fleets[1], port_base=bad.fleets[0]["port_base"] + 40)]
        run = bad.site(extra={"odoo_ops_fleets": overlapping})
        base = bad.fleets[0]["port_base"]
        assert run.returncode != 0 and "fleet shared1 (%d-%d) overlaps fleet initech (%d-%d)" % (base, base + 43, base + 40, base + 83) in run.stdout, (
            run.stdout[-3000:]
        )
        assert bad.containers() == {} and sorted(os.listdir(str(tmp_path))) == ["state.json"]


def test_site_deploys_every_tenant_behind_traefik_and_prints_a_summary(platform):
    names = platform.containers()
    roles = sorted(labels.get("odoo_ops_role") or labels.get("odoo_ops_component") for labels in names.values())
    relays = ["postgres-s3-relay"] * 3  # the host's gate, the primary's and the standby's
    expected = ["cron", "cron", "postgres"] + relays + ["postgres-standby", "redis", "scheduler", "traefik", "web", "web", "web"]
    assert roles == expected, names
    summary = platform.first.stdout
    port = platform.ports["web"]
    for hosts in TENANT_HOSTS.values():
        for host in hosts:
            assert "http://%s:%d/web/login" % (host, port) in summary
    assert "fleet shared1 (shared): 2 web" in summary and "fleet initech (dedicated): 1 web" in summary
    assert summary.count("verification passed") == 3, summary[-3000:]
    # Every tenant has the template's attachment files, the dedicated fleet's too (its folder is another).
    data = os.path.join(platform.root, "odoo", "data", "fleets")
    # The template's files live in its own folder, out of every fleet's reach.
    template = files_under(os.path.join(platform.root, "odoo", "data", "template", "filestore", "odoo_template"))
    assert template and "has no filestore" not in platform.first.stderr + summary
    for tenant, fleet in (("acme", "shared1"), ("globex", "shared1"), ("initech", "initech")):
        assert files_under(os.path.join(data, fleet, "filestore", tenant)) == template, tenant


def test_postgres_archives_to_pgbackrest_and_streams_to_its_standby(platform):
    """The cluster's WAL reaches the pgBackRest repository (no failures), a full backup exists, the
    standby is in recovery, streams through its slot and shows a row written on the primary."""
    stanza = platform.prefix
    config = os.path.join(platform.root, "odoo", "config", "postgres", "pgbackrest", "pgbackrest.conf")
    info = subprocess.run(
        ["docker", "exec", "--user", "postgres", stanza + "-postgres", "pgbackrest", "--config=" + config, "--stanza=" + stanza, "info", "--output=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stanza_info = json.loads(info.stdout)[0]
    assert stanza_info["status"]["code"] == 0 and [b["type"] for b in stanza_info["backup"]] == ["full"], stanza_info
    assert stanza_info["cipher"] == "aes-256-cbc"
    # The standby is ready to archive once promoted: it reaches the repository through its own relay (its
    # network namespace is not the primary's) and holds the primary's archive settings.
    pgbackrest = ["pgbackrest", "--config=" + config, "--stanza=" + stanza, "info", "--output=json"]
    from_standby = subprocess.run(
        ["docker", "exec", "--user", "postgres", stanza + "-postgres-standby"] + pgbackrest,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(from_standby.stdout)[0]["status"]["code"] == 0, from_standby.stdout
    primary = platform.connect("postgres")
    with primary, primary.cursor() as cur:
        cur.execute("SELECT archived_count, failed_count, current_setting('archive_timeout') FROM pg_stat_archiver")
        archived, failed, timeout = cur.fetchone()
        assert archived > 0 and failed == 0 and timeout == "1min"
        cur.execute("CREATE TABLE IF NOT EXISTS standby_probe (n int); INSERT INTO standby_probe VALUES (42)")
        cur.execute("SELECT active FROM pg_replication_slots WHERE slot_type = 'physical'")
        assert cur.fetchall() == [(True,)]
    primary.close()
    standby = platform.connect("postgres_standby")
    try:
        with standby.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery(), current_setting('archive_command'), current_setting('archive_timeout')")
            assert cur.fetchone() == (True, "pgbackrest --config=%s --stanza=%s archive-push %%p" % (config, stanza), "1min")
            for _attempt in range(50):  # bounded: 10 s
                cur.execute("SELECT to_regclass('public.standby_probe') IS NOT NULL")  # created with its row
                if cur.fetchone()[0]:
                    break
                time.sleep(0.2)
            cur.execute("SELECT n FROM standby_probe")
            assert cur.fetchall() == [(42,)]
    finally:
        standby.close()
    summary = platform.first.stdout
    assert "pgBackRest stanza %s (tier 1): ok, 1 backups, last full" % stanza in summary, summary[-3000:]
    assert "standby %s-postgres-standby" % stanza in summary


def archiver(platform):
    conn = platform.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_postmaster_start_time(), failed_count, last_archived_wal FROM pg_stat_archiver")
            return cur.fetchone()
    finally:
        conn.close()


def switch_wal(platform):
    conn = platform.connect("postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO standby_probe VALUES (1)")  # something to switch away from
            cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
            return cur.fetchone()[0]
    finally:
        conn.close()


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError("%s within %d s" % (what, seconds))


def test_a_failing_archive_push_is_retried_without_restarting_postgres(platform):
    """The repository refuses pgBackRest (a wrong key): archiving fails and is retried, PostgreSQL
    keeps running (its asynchronous archiver's exit is reaped by the container's init, not taken by
    the postmaster for a crash), and once the key is right again the WAL reaches the repository."""
    config = os.path.join(platform.root, "odoo", "config", "postgres", "pgbackrest", "pgbackrest.conf")
    with open(config, encoding="utf-8") as handle:
        good = handle.read()
    started, failed, _last = archiver(platform)
    try:
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(good.replace("repo1-s3-key-secret=", "repo1-s3-key-secret=wrong"))
        switch_wal(platform)
        wait_for(lambda: archiver(platform)[1] > failed, 60, "a failed archive attempt")
    finally:
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(good)
    segment = switch_wal(platform)
    wait_for(lambda: (archiver(platform)[2] or "") >= segment, 90, "segment %s archived" % segment)
    assert archiver(platform)[0] == started  # the postmaster never restarted


def test_isolation_every_host_reaches_its_own_database_only(platform):
    """Odoo's login page on every host; a JSON-RPC login as the tenant's administrator (the password
    site.yml generated - never Odoo's default admin/admin) lands in its own database, and no host
    lets it into another tenant's."""
    port = platform.ports["web"]
    for tenant, hosts in TENANT_HOSTS.items():
        for host in hosts:
            status, _headers, body = request(port, host, "/web/login")
            assert status == 200 and b"oe_login_form" in body, (host, status, body[:200])
            assert platform.login(host, tenant) == (tenant, None), host
            for other in set(TENANT_HOSTS) - {tenant}:
                served, error = platform.login(host, tenant, database=other)
                assert served is None and error, (host, other, served, error)
    _status, _cookie, default = post_json(port, "/web/session/authenticate", {"db": "acme", "login": "admin", "password": "admin"}, "acme.localhost")
    assert "AccessDenied" in json.dumps(default.get("error")), default
    assert request(port, "nobody.localhost", "/web/login")[0] == 404  # no route, no tenant


def test_a_browser_sees_odoos_login_page_through_traefik(platform):
    """Headless Chromium loads acme's login page through Traefik as a newcomer's browser would (it
    resolves *.localhost itself): a screenshot kept outside git, its path printed, and the rendered
    page is Odoo's login form."""
    assert browser.chromium(), "chromium is not installed (scripts/debian-packages.txt; scripts/setup.sh installs it)"
    url = "http://acme.localhost:%d/web/login" % platform.ports["web"]
    path, dom = browser.screenshot(url, "site-acme-login.png")
    EVIDENCE["screenshot of %s" % url] = path  # printed at the end of the test output (a worker's prints are not)
    with open(path, "rb") as handle:
        png = handle.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10000, (path, len(png))  # a blank page is a few kB
    assert 'name="login"' in dom and 'name="password"' in dom and "oe_login_form" in dom, dom[:2000]


def test_websocket_reaches_the_gevent_port_and_the_manager_is_closed(platform):
    port = platform.ports["web"]
    for hosts in TENANT_HOSTS.values():
        assert websocket_handshake(port, hosts[0]) == 101, hosts[0]  # Odoo upgrades only on its gevent port
    for host, path in (("acme.localhost", "/web/database/manager"), ("initech.localhost", "/web/database/selector")):
        status, _headers, body = request(port, host, path)
        assert status == 403 and b"disabled by the administrator" not in body, (host, body)  # Traefik's: Odoo never sees it
    # globex allows 127.0.0.1 through the route; Odoo itself refuses (list_db = False): 200 and its "disabled" page
    status, _headers, body = request(port, "globex.localhost", "/web/database/manager")
    assert status == 200 and b"The database manager has been disabled by the administrator" in body, body


def db_service(port, host, method, *args):
    """Odoo's JSON-RPC `db` service through Traefik as host: (HTTP status, result or the error's name)."""
    status, _cookie, answer = post_json(port, "/jsonrpc", {"service": "db", "method": method, "args": list(args)}, host)
    return status, answer.get("result", (answer.get("error") or {}).get("data", {}).get("name"))


def test_the_template_is_served_by_no_host_and_the_db_service_refuses(platform):
    """The golden template is a PostgreSQL template no one may connect to, owned by its own role:
    no host routes to it, no tenant's host serves it (JSON-RPC login, db_exist), and Odoo's `db`
    service through /jsonrpc (which Traefik cannot tell from other JSON-RPC calls) refuses to list,
    dump, drop or create databases without the master password site.yml generated."""
    port = platform.ports["web"]
    assert tenant_sql(platform, "postgres", "SELECT datistemplate, datallowconn, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'odoo_template'") == [
        (True, False, "odoo_ops_template")
    ]
    for host in ("odoo_template.localhost", "odoo-template.localhost", "localhost", "127.0.0.1"):
        assert request(port, host, "/web/login")[0] == 404, host
    for host in ("acme.localhost", "initech.localhost"):
        assert platform.login(host, host.split(".", maxsplit=1)[0], database="odoo_template")[0] is None
        assert db_service(port, host, "db_exist", "odoo_template") == (200, False)
        assert db_service(port, host, "list") == (200, "odoo.exceptions.AccessDenied")
        for method, args in (("drop", ("admin", "globex")), ("dump", ("admin", "acme", "zip")), ("create_database", ("admin", "evil", False, "en_US", "x"))):
            assert db_service(port, host, method, *args) == (200, "odoo.exceptions.AccessDenied"), (host, method)
    assert tenant_sql(platform, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'evil'") == [(0,)]


# Network planes: a bounded TCP connect from inside a container (Python is in every Odoo image), all
# targets at once, each within CONNECT_TIMEOUT seconds.
CONNECT_TIMEOUT = 3
PROBE = (
    """
import json, socket, sys, concurrent.futures as cf
def probe(target):
    host, port = target
    try:
        socket.create_connection((host, port), timeout=%d).close()
        return "open"
    except OSError as exc:
        return type(exc).__name__
targets = [tuple(t) for t in json.loads(sys.argv[1])]
with cf.ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(dict(zip(["%%s:%%d" %% t for t in targets], pool.map(probe, targets)))))
"""
    % CONNECT_TIMEOUT
)


def inspect(name):
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)[0]


def addresses(name):
    """{network: ip} of a container."""
    return {net: info["IPAddress"] for net, info in inspect(name)["NetworkSettings"]["Networks"].items()}


def probe_from(container, targets):
    """{"host:port": "open" or the error} of a TCP connect to each target from inside container."""
    out = subprocess.run(
        ["docker", "exec", container, "python3", "-c", PROBE, json.dumps(targets)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return json.loads(out)


def test_network_planes_a_fleet_reaches_its_database_and_nothing_it_must_not(platform):
    """From inside a web container of each fleet: PostgreSQL and Redis (the data plane) answer; the
    other fleet's web and gevent ports, Traefik's API, the standby and the object store (on the
    host's loopback, and through the PostgreSQL container where pgBackRest's relay is) do not."""
    prefix, s3_port = platform.prefix, int(platform.s3["port"])
    traefik, standby, postgres = prefix + "-traefik", prefix + "-postgres-standby", prefix + "-postgres"
    fleets = {fleet["name"]: fleet for fleet in platform.fleets}
    webs = {name: "%s-%s-web-1a" % (prefix, name.replace("_", "-")) for name in fleets}
    for name, container in webs.items():
        own_networks = set(addresses(container))
        assert own_networks == {"%s-%s-ingress" % (prefix, name), "%s-%s-data" % (prefix, name)}, own_networks
        allowed = probe_from(container, [[postgres, platform.ports["postgres"]], [prefix + "-redis", platform.ports["redis"]]])
        assert set(allowed.values()) == {"open"}, allowed  # the probe itself works
        forbidden = []
        for other, other_container in webs.items():
            if other != name:
                port = fleets[other]["port_base"]
                forbidden += [[other_container, port], [other_container, port + 1]]
                forbidden += [[ip, p] for ip in addresses(other_container).values() for p in (port, port + 1)]
        forbidden += [[traefik, platform.ports["api"]], [traefik + "-api", platform.ports["api"]]]
        forbidden += [[ip, platform.ports["api"]] for ip in addresses(traefik).values()]
        forbidden += [[standby, platform.ports["postgres_standby"]]]
        forbidden += [[ip, platform.ports["postgres_standby"]] for ip in addresses(standby).values()]
        gateways = [info["Gateway"] for info in inspect(container)["NetworkSettings"]["Networks"].values() if info["Gateway"]]
        forbidden += [["127.0.0.1", s3_port], ["localhost", s3_port], [postgres, s3_port]]
        forbidden += [[ip, s3_port] for ip in gateways + list(addresses(postgres).values())]
        reached = {target: result for target, result in probe_from(container, forbidden).items() if result == "open"}
        assert not reached, (container, reached)


def test_network_planes_only_the_entry_points_and_management_ports_are_published(platform):
    """On the host only Traefik's entry points and the management plane (PostgreSQL, its standby,
    Traefik's API) are published, each on 127.0.0.1; nothing listens on a fleet's ports or Redis's."""
    published = set()
    for name in platform.containers():
        for bindings in (inspect(name)["NetworkSettings"]["Ports"] or {}).values():
            published.update((name, "%s:%s" % (binding["HostIp"], binding["HostPort"])) for binding in bindings or [])
    p, prefix = platform.ports, platform.prefix
    assert published == {
        (prefix + "-traefik", "127.0.0.1:%d" % p["web"]),
        (prefix + "-traefik", "127.0.0.1:%d" % p["websecure"]),
        (prefix + "-traefik", "127.0.0.1:%d" % p["api"]),
        (prefix + "-postgres", "127.0.0.1:%d" % p["postgres"]),
        (prefix + "-postgres-standby", "127.0.0.1:%d" % p["postgres_standby"]),
    }, published
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=30, check=True).stdout
    owners = {}  # address: PIDs listening on it
    for line in listening.splitlines():
        if len(line.split()) > 3:
            owners.setdefault(line.split()[3], set()).update(int(pid) for pid in re.findall(r"pid=(\d+)", line))
    local = set(owners)
    ours = {"web", "websecure", "api", "postgres", "postgres_standby"}
    for name in ours:
        assert "127.0.0.1:%d" % p[name] in local, (name, sorted(local))
    # Another test's service (pytest-xdist runs two workers) may listen on one of these ports by chance: only
    # a listener of this platform - a process of its containers, or Docker's proxy to one of them - counts.
    mine = platform_listener(platform)
    for port in [p["redis"]] + [port for fleet in platform.fleets for port in range(fleet["port_base"], fleet["port_base"] + PORT_SPAN)]:
        assert not [addr for addr in local if addr.rsplit(":", 1)[1] == str(port) and any(mine(pid) for pid in owners[addr])], port
    for addr in local:
        if int(addr.rsplit(":", 1)[1]) in {p[name] for name in ours}:
            assert addr.startswith("127.0.0.1:"), addr


def platform_listener(platform):
    """A predicate on a PID: whether it is a process of the platform's containers, or Docker's proxy to one
    of them (its command line names the container's address)."""
    pids, addresses = set(), set()
    for name in platform.containers():
        top = subprocess.run(["docker", "top", name, "-eo", "pid"], capture_output=True, text=True, timeout=30, check=False).stdout.split()
        pids.update(int(pid) for pid in top if pid.isdigit())
        addresses.update(n["IPAddress"].encode() for n in inspect(name)["NetworkSettings"]["Networks"].values() if n.get("IPAddress"))

    def mine(pid):
        if pid in pids:
            return True
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            return False
        return os.path.basename(argv[0]) == b"docker-proxy" and bool(addresses & set(argv))

    return mine


def images_as_built(platform):
    """site.yml's extra vars naming the images its first run built, instead of running odoo_images
    again (it builds, so not in check mode; in a run that builds nothing it is some 40 tasks and a
    hash of the Odoo tree). The check-mode test below proves these vars change no container."""
    names = (("postgres", "postgres"), ("redis", "redis"), ("traefik", "traefik"), ("odoo", "shared1-web-1a"))
    running = platform.containers()
    images = {}
    for component, name in names:
        container = "%s-%s" % (platform.prefix, name)
        if container not in running:  # a web container in its other slot after an update
            container = container[:-1] + "b"
        images[component] = inspect(container)["Config"]["Image"]
    return {"odoo_ops_build_images": False, "odoo_images_built": images, "odoo_ops_odoo_image": "odoo"}


def test_network_planes_check_mode_on_the_deployed_platform_changes_nothing(platform):
    """site.yml --check on the deployed platform (its images given, as odoo_images builds and so does
    not run in check mode): it runs through (networks, containers, relays, routes) and leaves every
    container as it was."""

    def state():
        out = subprocess.run(
            ["docker", "ps", "-a", "--filter", "name=^%s-" % platform.prefix, "--format", "{{.Names}} {{.ID}} {{.Status}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return sorted(" ".join(line.split()[:2]) for line in out.splitlines())

    before = state()
    run = platform.site("--check", extra=images_as_built(platform))  # odoo_images does not run in check mode: it builds
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert state() == before


def test_a_platform_left_by_another_checkout_is_named_before_anything_changes(platform):
    """A second checkout (another owner) pointed at this platform's names: refused, naming the
    containers and volumes and how to remove them, and every container is left as it was."""
    before = {name: inspect(name)["Id"] for name in platform.containers()}
    run = platform.site(extra={"odoo_ops_owner_id": "/elsewhere/another-checkout/.cache/platform"})
    assert run.returncode != 0, run.stdout[-3000:]
    out = " ".join(run.stdout.split())
    assert "belong to another deployment, not to /elsewhere/another-checkout/.cache/platform" in out, out[-3000:]
    assert "container %s-postgres" % platform.prefix in out and "volume %s-postgres-data" % platform.prefix in out, out[-3000:]
    assert "./run.sh down in its checkout" in out and "Nothing was changed." in out
    assert {name: inspect(name)["Id"] for name in platform.containers()} == before


def test_rerun_changes_nothing_and_no_secret_is_shown(platform):
    again = platform.site("-vvv")
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-4000:]
    secrets = dict(platform.secrets(), s3=platform.s3["secret_key"])
    assert {"postgres", "redis", "odoo-admin", "replication", "pgbackrest-cipher", "fleet-shared1"} <= set(secrets)
    for name, value in secrets.items():
        for run in (platform.first, again):
            assert value not in run.stdout and value not in run.stderr, "secret %s shown" % name


def test_an_update_whose_new_container_cannot_start_is_taken_back(platform):
    """The new web container cannot start (an odoo.conf option Odoo fails on at start: a pid file in a
    folder that does not exist), so the update stops naming it and why, removes it, and the old one goes on serving
    behind the same routes. (With host networking this was a port another program held; on the
    fleet's own networks no host program can hold a container's port.)"""
    fleet = platform.fleets[0]
    old = "%s-%s-web-1a" % (platform.prefix, fleet["name"])
    assert old in platform.containers()
    bad = {"odoo_ops_odoo_options": {"pidfile": "/nonexistent-dir/odoo.pid"}, "docker_odoo_fleet_wait_seconds": 60}
    run = platform.site(extra=dict(images_as_built(platform), **bad))
    assert run.returncode != 0
    # Taken back as soon as its Odoo exits, not after the whole wait (60 s here, the default).
    assert (
        "The new web container %s-%s-web-1b did not become healthy - its Odoo exited while starting" % (platform.prefix, fleet["name"]) in run.stdout
        and "%s still serves and the routes are unchanged" % old in run.stdout
    ), run.stdout[-3000:]
    assert "/nonexistent-dir/odoo.pid" in run.stdout.split("Its log:")[-1], run.stdout[-3000:]  # the reason, from its log
    after = platform.containers()
    assert old in after and not [name for name in after if name.endswith("-web-1b")], after
    for host in TENANT_HOSTS["acme"] + TENANT_HOSTS["globex"]:
        status, _headers, body = request(platform.ports["web"], host, "/web/login")
        assert status == 200 and b"oe_login_form" in body
        assert platform.login(host, host.split(".")[-2]) == (host.split(".")[-2], None)


def test_rolling_update_under_load_without_errors(platform):
    platform.mark_tenants(TENANT_HOSTS)
    before = {name for name, labels in platform.containers().items() if labels.get("odoo_ops_role") == "web"}
    hosts = [hosts[0] for hosts in TENANT_HOSTS.values()]
    # Another platform's web container of a fleet with the same name: not this platform's to replace.
    image = subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", sorted(before)[0]], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    decoy = "decoy-" + platform.prefix
    labels = ["odoo_ops_platform=someone-else", "odoo_ops_fleet=shared1", "odoo_ops_role=web", "odoo_ops_index=1"]
    subprocess.run(
        ["docker", "run", "-d", "--name", decoy, "--network", "none", "--entrypoint", "sleep"]
        + [arg for label in labels for arg in ("--label", label)]
        + [image, "600"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    try:
        images = images_as_built(platform)
        with ConstantLoad(platform.ports["web"], hosts, threads=4) as load:
            update = platform.site(extra=dict(images, odoo_ops_odoo_options={"log_level": "warn"}))
        assert update.returncode == 0, update.stdout[-4000:]
        assert (
            subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", decoy], capture_output=True, text=True, timeout=60, check=False).stdout.strip()
            == "true"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", decoy], capture_output=True, timeout=60, check=False)
    after = {name for name, labels in platform.containers().items() if labels.get("odoo_ops_role") == "web"}
    assert len(after) == 3 and not after & before, (before, after)  # every web container replaced
    report = load.report()
    assert report["requests"] > 100 and report["statuses"].get(200, 0) == report["requests"], report
    assert report["server_errors"] == 0 and report["connection_errors"] == 0 and report["wrong_database"] == 0
    conf = subprocess.run(["docker", "exec", sorted(after)[0], "cat", "/etc/odoo/odoo.conf"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "log_level = warn" in conf and "admin_passwd = $pbkdf2-sha512$" in conf
    assert "list_db = False" in conf and "proxy_mode = True" in conf


def tenant_sql(platform, dbname, statement):
    conn = psycopg2.connect(
        host="127.0.0.1", port=platform.ports["postgres"], user="postgres", password=platform.secrets()["postgres"], dbname=dbname, connect_timeout=10
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_a_staging_copy_of_a_live_tenant_through_its_fleet(platform):
    """tenant_clone_staging.yml on the deployed platform with its defaults (sessions not cut): acme
    is live (its fleet holds pooled sessions), the copy acme-staging is made in its fleet's role and
    folder, neutralized by each installed module's script, and served by the fleet's own web
    containers through Traefik on acme-staging.localhost; production keeps its mail server. A tenant
    on a fleet dedicated to it is refused (that fleet would serve production under the staging host)."""
    assert platform.login("acme.localhost", "acme") == ("acme", None)
    tenant_sql(
        platform,
        "acme",
        "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, smtp_authentication, active, sequence) "
        "VALUES ('Production SMTP', 'smtp.example.com', 587, 'starttls', 'login', true, 1)",
    )
    assert tenant_sql(platform, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'acme'")[0][0] > 0
    run = platform.playbook("tenant_clone_staging", extra={"tenant": "acme", "tenant_staging_hosts": ["acme-staging.localhost"]})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    copy = "acme-staging"
    assert tenant_sql(platform, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'" % copy) == [("odoo_shared1",)]
    assert tenant_sql(platform, copy, "SELECT smtp_host FROM ir_mail_server WHERE active") == [("invalid",)]
    assert tenant_sql(platform, copy, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
    assert tenant_sql(platform, copy, "SELECT active FROM ir_ui_view WHERE key = 'web.neutralize_banner'") == [(True,)]
    assert tenant_sql(platform, "acme", "SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host = 'smtp.example.com'") == [(1,)]
    fleet_files = os.path.join(platform.root, "odoo", "data", "fleets", "shared1", "filestore")
    assert files_under(os.path.join(fleet_files, copy)) == files_under(os.path.join(fleet_files, "acme"))
    status, _headers, body = request(platform.ports["web"], "acme-staging.localhost", "/web/login")
    assert status == 200 and b"oe_login_form" in body, (status, body[:300])
    assert platform.login("acme-staging.localhost", "acme", database=copy) == (copy, None)  # the copy keeps acme's admin password
    assert platform.login("acme.localhost", "acme") == ("acme", None)
    # Removed while its fleet runs: the final backup holds its attachments (the fleet's folder, found
    # from the database's owner), its files go, and no Odoo process of the fleet recreates it.
    route_file = os.path.join(platform.root, "odoo", "config", "traefik", "dynamic", copy + ".yml")
    assert os.path.exists(route_file)
    removed = platform.playbook("tenant_remove", extra={"tenant": copy, "tenant_remove_confirm": True})
    assert removed.returncode == 0, removed.stdout[-4000:]
    assert not os.path.exists(os.path.join(fleet_files, copy))
    assert not os.path.exists(route_file) and request(platform.ports["web"], "acme-staging.localhost", "/web/login")[0] == 404  # its route went too
    key = [line for line in removed.stdout.splitlines() if "removed; final backup s3://" in line][0].split("s3://")[1].rstrip('"').split("/", 1)[1]
    with tempfile.TemporaryDirectory() as work:
        zipped = os.path.join(work, "final.zip")
        s3_client(platform.s3).download_file(platform.extra["odoo_ops_backup_bucket"], key, zipped)
        with zipfile.ZipFile(zipped) as archive:
            assert [n for n in archive.namelist() if n.startswith("filestore/") and "checklist" not in n], archive.namelist()
    for _attempt in range(3):
        assert tenant_sql(platform, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '%s'" % copy) == [(0,)]
        time.sleep(1)
    refused = platform.playbook("tenant_clone_staging", extra={"tenant": "initech", "tenant_staging_hosts": ["initech-staging.localhost"]})
    assert refused.returncode != 0 and "initech is on fleet initech, dedicated to it" in " ".join(refused.stdout.split()), refused.stdout[-3000:]
    assert tenant_sql(platform, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'initech-staging'") == [(0,)]


def job_metrics(platform, job_name, subject):
    """{metric suffix: (labels, value)} of a scheduled job's textfile (the metric contract)."""
    found = {}
    try:
        with open(os.path.join(platform.root, "odoo", "data", "metrics", "odoo_ops_job-%s-%s.prom" % (job_name, subject)), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("odoo_ops_job_"):
                    name, rest = line.split("{", 1)
                    labels, value = rest.rsplit("} ", 1)
                    found[name[len("odoo_ops_job_") :]] = (labels, float(value))
    except FileNotFoundError:
        pass
    return found


def test_the_scheduler_takes_the_next_backups_on_its_own_and_their_metrics_move(platform):
    """The schedule shortened by a variable (schedule.yml, odoo_ops_scheduler_intervals): the scheduler
    container takes the cluster's next pgBackRest backup (a differential) and acme's next backup by
    itself, and their metrics (contract of docs/observability.md) show it; then the tier's calendar
    is put back."""
    stanza, bucket = platform.prefix, platform.extra["odoo_ops_backup_bucket"]
    s3 = s3_client(platform.s3)

    def acme_backups():
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="odoo/acme/").get("Contents", [])
        return {item["Key"] for item in listed if item["Key"].endswith(".zip")}

    before, started = acme_backups(), time.time()
    assert before and not job_metrics(platform, "tenant_backup", "acme")  # site.yml's first backup; the calendar's is tomorrow
    shortened = platform.playbook("schedule", extra={"odoo_ops_scheduler_intervals": {"cluster_backup-diff": 5, "tenant_backup-acme": 5}})
    assert shortened.returncode == 0, shortened.stdout[-4000:] + shortened.stderr[-2000:]
    try:

        def moved():
            jobs = (("cluster_backup", stanza), ("tenant_backup", "acme"))
            return min(job_metrics(platform, *job).get("last_success_timestamp_seconds", (None, 0))[1] for job in jobs) > started

        # bounded: a differential backup and one tenant backup (an ansible-playbook run) one after the other, on a loaded host
        wait_for(moved, 240, "a pgBackRest backup and a tenant backup by the scheduler")
    finally:
        restored = platform.playbook("schedule")
        assert restored.returncode == 0, restored.stdout[-4000:]
    cluster, tenant = job_metrics(platform, "cluster_backup", stanza), job_metrics(platform, "tenant_backup", "acme")
    assert cluster["bytes"][0] == 'job_name="cluster_backup",subject="%s",tier="1"' % stanza and cluster["bytes"][1] > 0
    assert cluster["max_age_seconds"][1] == 26 * 3600 and cluster["duration_seconds"][1] > 0
    assert tenant["bytes"][0] == 'job_name="tenant_backup",subject="acme",tenant="acme",tier="1"' and tenant["bytes"][1] > 0
    assert tenant["max_age_seconds"][1] == 26 * 3600 and tenant["last_run_timestamp_seconds"][1] >= tenant["last_success_timestamp_seconds"][1]
    assert len(acme_backups() - before) >= 1
    # The calendar is back: no job shortened, each with the tier's random delay.
    with open(os.path.join(platform.root, "odoo", "config", "scheduler", "jobs.json"), encoding="utf-8") as handle:
        jobs = json.load(handle)
    assert {job["every_seconds"] for job in jobs} == {0} and {job["random_delay"] for job in jobs} == {900}


def test_a_tenant_created_on_the_deployed_platform_and_removed(platform):
    """tenant_create.yml on the deployed platform, the new tenant added to shared1's tenants as an
    operator adds it to the inventory: made from the sealed template in the fleet's role and folder
    (owned by the image's odoo user, the template's attachments), its administrator's password
    generated, routed to the fleet's running web containers; Odoo's login page and a JSON-RPC login
    through Traefik by its host. A tenant in no fleet is refused before anything changes. Then
    tenant_remove.yml takes its database, folder and route file."""
    fleets = [dict(fleet, tenants=fleet["tenants"] + ["umbrella"]) if fleet["name"] == "shared1" else fleet for fleet in platform.fleets]
    refused = platform.playbook("tenant_create", extra={"tenant": "umbrella", "tenant_hosts": ["umbrella.localhost"]})
    assert refused.returncode != 0 and "tenant umbrella is in no fleet of odoo_ops_fleets" in " ".join(refused.stdout.split()), refused.stdout[-3000:]
    assert tenant_sql(platform, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'umbrella'") == [(0,)]
    extra = {"tenant": "umbrella", "tenant_hosts": ["umbrella.localhost"], "odoo_ops_fleets": fleets}
    created = platform.playbook("tenant_create", extra=extra)
    assert created.returncode == 0, created.stdout[-4000:] + created.stderr[-2000:]
    assert tenant_sql(platform, "postgres", "SELECT pg_get_userbyid(datdba), datistemplate FROM pg_database WHERE datname = 'umbrella'") == [
        ("odoo_shared1", False)
    ]
    folder = os.path.join(platform.root, "odoo", "data", "fleets", "shared1", "filestore", "umbrella")
    template = files_under(os.path.join(platform.root, "odoo", "data", "template", "filestore", "odoo_template"))
    assert files_under(folder) == template and os.stat(folder).st_uid == 101
    route_file = os.path.join(platform.root, "odoo", "config", "traefik", "dynamic", "umbrella.yml")
    with open(route_file, encoding="utf-8") as handle:
        route = handle.read()
    webs = sorted(name for name, labels in platform.containers().items() if labels.get("odoo_ops_fleet") == "shared1" and labels.get("odoo_ops_role") == "web")
    assert len(webs) == 2 and all("http://%s:" % web in route for web in webs), (webs, route)
    status, _headers, body = request(platform.ports["web"], "umbrella.localhost", "/web/login")
    assert status == 200 and b"oe_login_form" in body, (status, body[:300])
    assert platform.login("umbrella.localhost", "umbrella") == ("umbrella", None)  # the generated password, not the template's
    assert platform.login("umbrella.localhost", "umbrella", database="acme")[0] is None
    removed = platform.playbook("tenant_remove", extra=dict(extra, tenant_remove_confirm=True))
    assert removed.returncode == 0, removed.stdout[-4000:]
    assert tenant_sql(platform, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'umbrella'") == [(0,)]
    assert not os.path.exists(folder) and not os.path.exists(route_file)
    assert request(platform.ports["web"], "umbrella.localhost", "/web/login")[0] == 404


def prometheus_api(platform, path):
    """The data of a Prometheus API answer (GET, path with its query string)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/%s" % (platform.ports["prometheus"], path), timeout=10) as answer:
        return json.loads(answer.read())["data"]


def test_the_monitoring_stack_scrapes_every_target_and_probes_each_tenant(platform):
    """odoo_ops_monitoring_enabled with --tags monitoring, on the deployed platform: Prometheus and the
    node, PostgreSQL, Redis and blackbox exporters (the monitoring image from Debian's packages), every
    listener on 127.0.0.1. Its API answers up == 1 for every target (itself, node with the scheduler's
    textfile metrics, PostgreSQL, Redis, Traefik, each tenant's login probe), each tenant's probe succeeds
    with its labels, Traefik's router metrics and PostgreSQL's per-database series carry the tenant, the
    alert rules are loaded; a re-run changes nothing."""
    run = platform.site("--tags", "monitoring", extra={"odoo_ops_monitoring_enabled": True})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    tenants = set(TENANT_HOSTS)

    seen = {}

    def all_up():
        seen["targets"] = targets = prometheus_api(platform, "targets?state=active")["activeTargets"]
        jobs = {target["labels"]["job"] for target in targets}
        healthy = all(target["health"] == "up" for target in targets)
        probes = {sample["metric"].get("tenant") for sample in prometheus_api(platform, "query?query=probe_success%3D%3D1")["result"]}
        return healthy and probes >= tenants and {"prometheus", "node", "postgres", "redis", "traefik", "tenant_login"} <= jobs

    # bounded: the containers start, then one scrape interval (15 s) and the probes through Traefik, on a loaded host
    wait_for(all_up, 120, "every target up and each tenant's probe")
    targets = seen["targets"]
    assert len(targets) == 5 + len(tenants), [(t["labels"]["job"], t["scrapeUrl"]) for t in targets]
    up = prometheus_api(platform, "query?query=up")["result"]
    assert {sample["value"][1] for sample in up} == {"1"} and len(up) == len(targets)
    probes = prometheus_api(platform, "query?query=probe_success%7Bjob%3D%22tenant_login%22%7D")["result"]
    labels = {sample["metric"]["tenant"]: (sample["metric"]["fleet"], sample["metric"]["tier"], sample["metric"]["customer"]) for sample in probes}
    assert labels == {"acme": ("shared1", "1", "acme"), "globex": ("shared1", "1", "globex"), "initech": ("initech", "1", "initech")}, labels
    # Traefik's router metrics (the site's host checks made requests) and PostgreSQL per database, labelled by tenant.
    routed = prometheus_api(platform, "query?query=count%20by%20(tenant)%20(traefik_router_requests_total)")["result"]
    assert tenants <= {sample["metric"].get("tenant") for sample in routed}, routed
    sized = prometheus_api(platform, "query?query=pg_database_size_bytes")["result"]
    assert tenants <= {sample["metric"].get("tenant") for sample in sized}, sized
    assert prometheus_api(platform, "query?query=redis_up")["result"][0]["value"][1] == "1"
    # The textfile collector reads the scheduler's folder: each job file there (none before the scheduler's first run) is a series.
    assert prometheus_api(platform, "query?query=node_textfile_scrape_error")["result"][0]["value"][1] == "0"
    written = {name.split("-", 2)[1] for name in os.listdir(os.path.join(platform.root, "odoo", "data", "metrics")) if name.startswith("odoo_ops_job-")}
    scraped = {sample["metric"]["job_name"] for sample in prometheus_api(platform, "query?query=odoo_ops_job_max_age_seconds")["result"]}
    assert written <= scraped, (written, scraped)
    groups = prometheus_api(platform, "rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 19 and not [rule["name"] for rule in rules if rule["health"] == "err"], rules  # "unknown" until first evaluated
    # Nothing listens beyond the loopback.
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, timeout=30, check=True).stdout
    for name in MONITORING_PORTS:
        bound = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(":%d" % platform.ports[name])]
        assert bound and all(address.startswith("127.0.0.1:") for address in bound), (name, bound)
    again = platform.site("--tags", "monitoring", extra={"odoo_ops_monitoring_enabled": True})
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-4000:]


def test_ansible_doc_resolves_the_module_by_fqcn():
    done = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-doc"), "--json", "sysgenpro.odoo_ops.traefik_route"],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["sysgenpro.odoo_ops.traefik_route"]
    assert {"name", "hosts", "backend_url", "websocket_url", "maintenance", "wait"} <= set(doc["doc"]["options"])
    assert doc["examples"] and doc["return"]
