"""The odoo_images role on a real Docker Engine: a Debian base from debootstrap, images built on it,
cached by their inputs (a second run changes nothing); the Odoo test workload image runs, laid out
like the official Odoo image, and serves a tenant from the harness's PostgreSQL."""

import contextlib
import os
import time

import pytest

from tests.harness.docker_platform import build_images, docker, image_tasks, stop_container
from tests.harness.http import request
from tests.harness.odoo_fixture import create_odoo_server_role
from tests.harness.process import free_port, scratch_dirs

BUILD = ["postgres", "redis", "traefik", "odoo_test_workload"]


@pytest.fixture(scope="module")
def images(harness):
    harness.up("docker")
    with scratch_dirs("odoo_ops-images-") as (cache,):
        tasks = image_tasks(BUILD, cache)
        first = build_images(tasks)
        assert first.returncode == 0, first
        yield {"first": first, "tasks": tasks, "built": first.results[-1]["odoo_images_built"]}


def test_images_built_once_and_cached_by_their_inputs(images):
    built = images["built"]
    assert sorted(built) == sorted(BUILD) and all(":" in tag for tag in built.values()), built
    again = build_images(images["tasks"], timeout=600)
    assert again.returncode == 0 and again.stats.get("changed") == 0, again.stats
    assert again.results[-1]["odoo_images_built"] == built
    assert "pgBackRest 2." in docker("run", "--rm", "--entrypoint", "pgbackrest", built["postgres"], "version").stdout
    assert "15." in docker("run", "--rm", built["postgres"], "postgres", "--version").stdout
    assert "Redis server" in docker("run", "--rm", built["redis"], "redis-server", "--version").stdout
    assert "Version:" in docker("run", "--rm", built["traefik"], "version").stdout


def test_workload_image_layout_and_a_tenant_served(images, harness):
    image = images["built"]["odoo_test_workload"]
    layout = docker("run", "--rm", "--entrypoint", "sh", image, "-c", "id -un && ls -d /etc/odoo /var/lib/odoo /mnt/extra-addons")
    assert layout.returncode == 0 and sorted(layout.stdout.split()) == ["/etc/odoo", "/mnt/extra-addons", "/var/lib/odoo", "odoo"], layout
    pg = harness.up("postgres")["postgres"]
    create_odoo_server_role({"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}, "img_odoo", "img-secret")
    with scratch_dirs("odoo_ops-imgwl-", mode=0o777) as (work,):  # the container's odoo user writes data_dir here
        serve_from_image(image, pg, work)


def serve_from_image(image, pg, work):
    http_port, gevent_port = free_port(), free_port()
    with open(os.path.join(work, "odoo.conf"), "w", encoding="utf-8") as handle:
        handle.write(
            "[options]\ndb_host = 127.0.0.1\ndb_port = %d\ndb_user = img_odoo\ndb_password = img-secret\n"
            "http_interface = 127.0.0.1\nhttp_port = %d\ngevent_port = %d\ndbfilter = ^%%d$\nproxy_mode = True\n"
            "list_db = False\ndata_dir = /var/lib/odoo\nworkers = 2\n" % (pg["port"], http_port, gevent_port)
        )
    mounts = ["--network", "host", "-v", "%s/odoo.conf:/etc/odoo/odoo.conf:ro" % work, "-v", "%s:/var/lib/odoo" % work]
    name = "odoo-ops-test-workload-%d" % http_port
    try:
        init = docker("run", "--rm", *mounts, image, "-c", "/etc/odoo/odoo.conf", "-d", "imgacme", "-i", "base", "--stop-after-init")
        assert init.returncode == 0 and "base installed" in init.stdout, init
        assert os.path.isdir(os.path.join(work, "filestore", "imgacme"))
        assert docker("run", "-d", "--name", name, *mounts, image).returncode == 0
        body = b""
        for _attempt in range(100):  # bounded: about 10 s
            with contextlib.suppress(OSError):
                body = request(http_port, "imgacme.erp.test", "/web/login", timeout=2)[2]
            if b"imgacme" in body:
                break
            time.sleep(0.1)
        assert b'data-database="imgacme"' in body, docker("logs", name).stdout
        assert stop_container(name, grace=20)  # Odoo stops on SIGTERM, not after the kill timeout
    finally:
        docker("rm", "-f", name)
