"""Where a restore may go, which port it may take, and which pgBackRest options are secrets (issue #14):
the shared validators of _common.validation and the pgBackRest client's options, on real folders."""

import os
import shutil
import tempfile

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common import validation
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pgbackrest import PgBackRest, PgBackRestError, is_secret_option, misplaced_secrets


@pytest.fixture
def tree():
    """A temporary folder with a stopped data directory (PG_VERSION + global/) and a running one
    (postmaster.pid), removed on the way out."""
    root = tempfile.mkdtemp(prefix="odoo_ops-dest-")
    try:
        for name in ("stopped", "running"):
            os.makedirs(os.path.join(root, "pg", name, "global"))
            open(os.path.join(root, "pg", name, "PG_VERSION"), "w").write("15\n")
            os.makedirs(os.path.join(root, "pg", name, "base", "1"))
        open(os.path.join(root, "pg", "running", "postmaster.pid"), "w").write("1\n")
        os.makedirs(os.path.join(root, "free", "deep"))
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("port", [1, 5432, 65535])
def test_ports_in_range_are_accepted(port):
    assert validation.check_port(port) == port


@pytest.mark.parametrize("port", [0, -1, 65536, 70000, True, "5432", None, 5432.0])
def test_ports_out_of_range_or_not_integers_are_refused(port):
    with pytest.raises(ValueError, match="is not a port: give a number from 1 to 65535"):
        validation.check_port(port, "port")


@pytest.mark.parametrize(
    "path, message",
    [
        ("pitr", "is a relative path"),
        ("./pitr", "is a relative path"),
        ("~postgres/pitr", "is a relative path"),
        ("", "is empty"),
        ("  ", "is empty"),
        (None, "is empty"),
        ("/a\nb", "NUL or newline"),
        ("/a\0b", "NUL or newline"),
    ],
)
def test_relative_or_empty_paths_are_refused(path, message):
    with pytest.raises(ValueError, match=message):
        validation.check_absolute_path(path, "data_dir")


def test_absolute_paths_are_normalised():
    assert validation.check_absolute_path("/var//lib/./pitr/../copy/", "data_dir") == "/var/lib/copy"


def test_destination_inside_equal_to_or_holding_a_data_directory_is_refused(tree):
    pg = os.path.join(tree, "pg")
    cases = [
        (os.path.join(pg, "running", "pitr"), "is inside the PostgreSQL data directory %s/running" % pg),
        (os.path.join(pg, "running", "base", "1", "x", "y"), "is inside the PostgreSQL data directory"),
        (os.path.join(pg, "stopped", "copy"), "is inside the PostgreSQL data directory %s/stopped" % pg),
        (os.path.join(pg, "stopped"), "is a PostgreSQL data directory"),
        (os.path.join(pg, "running"), "is a PostgreSQL data directory"),
        (pg, "holds the PostgreSQL data directory"),
        (tree, "holds the PostgreSQL data directory"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            validation.check_outside_data_directories(path, "data_dir")
    # a symlink into a data directory is followed
    os.symlink(os.path.join(pg, "running"), os.path.join(tree, "free", "link"))
    with pytest.raises(ValueError, match=r"link/pitr \(.*running/pitr\) is inside the PostgreSQL data directory"):
        validation.check_outside_data_directories(os.path.join(tree, "free", "link", "pitr"), "data_dir")
    # own: the destination itself may be one (in place), never inside another nor holding one
    assert validation.check_outside_data_directories(os.path.join(pg, "stopped"), "data_dir", own=True)
    os.makedirs(os.path.join(pg, "stopped", "nested", "global"))
    open(os.path.join(pg, "stopped", "nested", "PG_VERSION"), "w").write("15\n")
    with pytest.raises(ValueError, match="holds the PostgreSQL data directory .*stopped/nested"):
        validation.check_outside_data_directories(os.path.join(pg, "stopped"), "data_dir", own=True)


def test_destination_apart_from_every_cluster_is_accepted(tree):
    for path in (os.path.join(tree, "free", "new"), os.path.join(tree, "free", "deep"), os.path.join(tree, "nowhere")):
        assert validation.check_outside_data_directories(path, "data_dir") == os.path.realpath(path)


def test_the_scan_below_a_destination_is_bounded(tree):
    for n in range(12):
        os.makedirs(os.path.join(tree, "free", "deep", "d%02d" % n))
    with pytest.raises(ValueError, match="has more than 10 folders below it"):
        validation.check_outside_data_directories(os.path.join(tree, "free"), "data_dir", max_dirs=10)


def test_destination_apart_from_the_repository_and_spool(tree):
    others = [("the pgBackRest repository repo1", os.path.join(tree, "repo")), ("the pgBackRest spool path", os.path.join(tree, "spool"))]
    for path, message in [
        (os.path.join(tree, "repo", "pitr"), "is inside the pgBackRest repository repo1"),
        (os.path.join(tree, "spool"), "is the pgBackRest spool path"),
        (tree, "holds the pgBackRest repository repo1"),
    ]:
        with pytest.raises(ValueError, match=message):
            validation.check_apart_from(path, "data_dir", others)
    assert validation.check_apart_from(os.path.join(tree, "repository2"), "data_dir", others)


@pytest.mark.parametrize(
    "name",
    ["repo1-cipher-pass", "repo1-s3-key", "repo1-s3-key-secret", "repo2-s3-token", "repo1-azure-key", "repo1-gcs-key", "repo1-sftp-private-key-passphrase"],
)
def test_secret_option_names(name):
    assert is_secret_option(name)


@pytest.mark.parametrize(
    "name",
    ["repo1-path", "repo1-s3-bucket", "repo1-s3-endpoint", "repo1-cipher-type", "repo1-storage-verify-tls", "process-max", "repo1-s3-key-type", "spool-path"],
)
def test_ordinary_option_names(name):
    assert not is_secret_option(name)


def client(**params):
    return PgBackRest(dict({"stanza": "main", "pgbackrest_config": None}, **params))


def test_secrets_among_ordinary_options_are_refused_by_name_never_by_value():
    params = {"pgbackrest_options": {"repo1-cipher-pass": "hunter2-long", "repo1-path": "/r"}}
    with pytest.raises(ValueError, match="repo1-cipher-pass looks like a secret: secret options go in pgbackrest_secrets") as refused:
        client(**params)
    assert "hunter2-long" not in str(refused.value)
    assert misplaced_secrets(params) == ["hunter2-long"]
    with pytest.raises(ValueError, match="given in both"):
        client(pgbackrest_options={"repo1-path": "/r"}, pgbackrest_secrets={"repo1-path": "/s"})
    with pytest.raises(ValueError, match="not pgBackRest options: --repo1-path"):
        client(pgbackrest_options={"--repo1-path": "/r"})
    with pytest.raises(ValueError, match="not pgBackRest options"):
        client(pgbackrest_secrets={"repo1-cipher-pass\n": "x"})


def test_options_reach_pgbackrest_as_environment_and_secrets_are_masked_in_errors():
    pgbr = client(
        pgbackrest_options={"repo1-path": "/r", "start-fast": True, "process-max": 2},
        pgbackrest_secrets={"repo1-cipher-pass": "pass-phrase", "repo1-s3-key-secret": "s3cr3t-value"},
    )
    assert pgbr.env["PGBACKREST_REPO1_PATH"] == "/r" and pgbr.env["PGBACKREST_START_FAST"] == "y"
    assert pgbr.env["PGBACKREST_PROCESS_MAX"] == "2" and pgbr.env["PGBACKREST_REPO1_CIPHER_PASS"] == "pass-phrase"
    assert not any("s3cr3t" in arg for arg in pgbr.command("info"))
    assert pgbr.mask("key s3cr3t-value and s3cr3t-value-2") == "key ******** and ********-2"
    missing = PgBackRest({"stanza": "main", "pgbackrest_path": "/nonexistent/pgbackrest"})
    with pytest.raises(PgBackRestError, match="pgBackRest is not installed"):
        missing.info()


def test_local_folders_read_from_the_configuration_environment_and_options(tree):
    config = os.path.join(tree, "pgbackrest.conf")
    with open(config, "w") as handle:
        handle.write(
            "[global]\nrepo1-type=s3\nrepo1-path=/pgbackrest/main\nspool-path=/var/spool/x\n"
            "repo2-path=/backup/two\n# repo3-path=/commented\n"
            "[main:archive-get]\nspool-path=/var/spool/get\n[other]\nrepo4-path=/not/this/stanza\n"
        )
    paths = client(pgbackrest_config=config).local_paths()
    assert ("the pgBackRest repository repo2", "/backup/two") in paths  # posix by default
    assert ("the pgBackRest spool path", "/var/spool/x") in paths
    assert ("the pgBackRest spool path", "/var/spool/get") in paths
    assert not [p for d, p in paths if p in ("/pgbackrest/main", "/commented", "/not/this/stanza")]  # s3: remote
    overridden = client(pgbackrest_config=config, pgbackrest_options={"repo1-type": "posix", "repo1-path": "/srv/repo"}).local_paths()
    assert ("the pgBackRest repository repo1", "/srv/repo") in overridden
    empty = os.path.join(tree, "empty.conf")
    open(empty, "w").close()
    assert client(pgbackrest_config=empty).local_paths() == [
        ("the pgBackRest repository repo1", "/var/lib/pgbackrest"),
        ("the pgBackRest spool path", "/var/spool/pgbackrest"),
    ]
