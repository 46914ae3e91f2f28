"""The odoo image of the odoo_images role, built from the real Odoo tree (../shared/odoo-18.0 or
$ODOO_OPS_ODOO_SOURCE; the tests skip, saying why, without one): wheels built on the host (cached in
.cache/odoo-wheels by their inputs), an image build without network or compilers, tagged by its inputs
(a second run changes nothing), laid out like the official image; a container of it serves a tenant
from the harness's PostgreSQL through a role without CREATEDB - /web/health, Odoo's login page, and a
websocket upgrade on the gevent port (gevent works)."""

import json
import os
import time

import pytest

from tests.conftest import TIMINGS
from tests.harness import odoo_server
from tests.harness.docker_platform import docker, image_builds, odoo_image_tasks, stop_container
from tests.harness.http import request, websocket_handshake
from tests.harness.playbook import run_tasks
from tests.harness.process import free_port, scratch_dirs, wait_until

UID = 101  # the image's odoo user


@pytest.fixture(scope="module", autouse=True)
def _real_odoo(odoo_source):  # pylint: disable=unused-argument
    """First of all: without an Odoo tree every test here skips (saying why) before any service starts."""


@pytest.fixture(scope="module")
def odoo_image(harness, odoo_source):
    harness.up("docker")
    with scratch_dirs("odoo_ops-odoo-image-") as (cache,):
        tasks = odoo_image_tasks(["odoo"], cache, odoo_source)
        with image_builds():  # timed inside: not the wait for another worker's build
            started = time.monotonic()
            first = run_tasks(tasks, timeout=1800)
            assert first.returncode == 0, first
            first_seconds = round(time.monotonic() - started, 1)
            started = time.monotonic()
            again = run_tasks(tasks, timeout=600)
            again_seconds = round(time.monotonic() - started, 1)
        image = first.results[-1]["odoo_images_built"]["odoo"]
        size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())
        TIMINGS["odoo image: first role run, %d changed (s)" % first.stats.get("changed", 0)] = first_seconds
        TIMINGS["odoo image: second role run (s)"] = again_seconds
        TIMINGS["odoo image: size (MB)"] = round(size / 1e6)
        yield {"image": image, "again": again, "size": size}


def test_built_once_cached_by_inputs_and_laid_out_like_the_official_image(odoo_image):
    again, image = odoo_image["again"], odoo_image["image"]
    assert again.returncode == 0 and again.stats.get("changed") == 0, again.stats
    assert again.results[-1]["odoo_images_built"]["odoo"] == image
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "odoo" and sorted(config["ExposedPorts"]) == ["8069/tcp", "8072/tcp"], config
    assert config["Entrypoint"] == ["/opt/odoo-venv/bin/python", "/opt/odoo/odoo-bin"], config
    assert config["Cmd"] == ["-c", "/etc/odoo/odoo.conf"], config
    layout = docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "id -u; id -un; ls -d /etc/odoo/odoo.conf /var/lib/odoo /mnt/extra-addons; "
        "stat -c %U /var/lib/odoo /mnt/extra-addons; command -v gcc cc || echo no-compiler; "
        "/opt/odoo-venv/bin/python -c 'import gevent, zope.interface; print(gevent.__version__)'; "
        "command -v pg_dump",
    )
    assert layout.returncode == 0, layout
    assert layout.stdout.split() == [
        "101",
        "odoo",
        "/etc/odoo/odoo.conf",
        "/mnt/extra-addons",
        "/var/lib/odoo",
        "odoo",
        "odoo",
        "no-compiler",
        "22.10.2",
        "/usr/bin/pg_dump",
    ], layout.stdout
    version = docker("run", "--rm", image, "--version")
    assert version.stdout.strip() == "Odoo Server 18.0-20250506", version
    assert odoo_image["size"] < 700e6, odoo_image["size"]  # no build-essential, no wheels, no pip cache


def test_a_container_serves_a_tenant_through_a_role_without_createdb(odoo_image, odoo_template, harness):
    pg = harness.up("postgres")["postgres"]
    image, dbname = odoo_image["image"], "imgodoo"
    http_port, gevent_port = free_port(), free_port()
    name = "odoo-ops-test-odoo-%d" % http_port
    with scratch_dirs("odoo_ops-odoo-container-") as (work,):
        data = os.path.join(work, "data")
        os.makedirs(data)
        os.chown(data, UID, UID)
        conf = odoo_server.write_conf(
            os.path.join(work, "odoo.conf"),
            {
                "db_host": "127.0.0.1",
                "db_port": pg["port"],
                "db_user": odoo_template.role,
                "db_password": odoo_template.password,
                "http_interface": "127.0.0.1",
                "http_port": http_port,
                "gevent_port": gevent_port,
                "workers": 2,
                "max_cron_threads": 0,
                "dbfilter": "^%d$",
                "proxy_mode": True,
                "list_db": False,
                "data_dir": "/var/lib/odoo",
            },
            UID,
            UID,
        )
        try:
            odoo_template.copy(dbname, data, UID, UID)
            started = time.monotonic()
            run = docker("run", "-d", "--name", name, "--network", "host", "-v", "%s:/etc/odoo/odoo.conf:ro" % conf, "-v", "%s:/var/lib/odoo" % data, image)
            assert run.returncode == 0, run
            for port in (http_port, gevent_port):
                wait_until(lambda p=port: request(p, "localhost", "/web/health", timeout=2)[0] == 200, 60, "the odoo container on %d" % port, interval=0.3)
            TIMINGS["odoo container: start to /web/health on both ports (s)"] = round(time.monotonic() - started, 1)
            host = "%s.erp.test" % dbname
            status, _headers, body = request(http_port, host, "/web/login", timeout=30)
            assert status == 200 and b"oe_login_form" in body and b"<title>Odoo</title>" in body, (status, body[:300])
            status, headers, _body = request(http_port, "nobody.erp.test", "/web/login", timeout=30)
            assert (status, headers.get("location")) == (303, "/web/database/selector")  # the login above had a database
            assert websocket_handshake(gevent_port, host) == 101  # gevent works: the websocket process upgrades
            assert websocket_handshake(http_port, host) == 500  # a prefork HTTP worker cannot
            assert os.path.isdir(os.path.join(data, "sessions")), os.listdir(data)  # written as uid 101
            assert stop_container(name, grace=20)  # Odoo stops on SIGTERM, not after the kill timeout
        except AssertionError:
            print(docker("logs", "--tail", "60", name).stderr)
            raise
        finally:
            docker("rm", "-f", name)
            odoo_server.drop_database(pg, dbname)
