"""What a backup must prove before it is trusted, and what its dump may carry into psql (pure logic)."""

import io

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup import layout
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.restore import RestoreRefused, plain_dump_lines
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import FilestoreError, check_member_path

KEY = b"k" * 32


def sidecar(**extra):
    return dict({"tenant": "acme", "bucket": "b", "key": "odoo/acme/acme_1.zip", "size": 10, "sha256": "0" * 64}, **extra)


def test_a_signed_sidecar_authenticates_and_any_change_breaks_it():
    signed = layout.sign_sidecar(sidecar(), KEY)
    assert layout.authenticate_sidecar(signed, [KEY], "b", "odoo/acme/acme_1.zip", "acme") is signed
    for change in ({"size": 11}, {"sha256": "1" * 64}, {"tenant": "evil"}, {"members": {}}):
        with pytest.raises(layout.SidecarRefused, match="does not verify"):
            layout.authenticate_sidecar(dict(signed, **change), [KEY], "b", "odoo/acme/acme_1.zip")


def test_sidecar_refusals_name_the_problem():
    signed = layout.sign_sidecar(sidecar(), KEY)
    cases = [
        (sidecar(), [KEY], "odoo/acme/acme_1.zip", None, "not signed"),
        (signed, [b"o" * 32], "odoo/acme/acme_1.zip", None, "does not verify"),
        (signed, [], "odoo/acme/acme_1.zip", None, "no backup_signing_key"),
        (signed, [KEY], "odoo/acme/acme_2.zip", None, "copied from another backup"),
        (signed, [KEY], "odoo/acme/acme_1.zip", "globex", "not of tenant globex"),
        ("[]", [KEY], "odoo/acme/acme_1.zip", None, "not a JSON object"),
    ]
    for value, keys, key, tenant, words in cases:
        with pytest.raises(layout.SidecarRefused, match=words):
            layout.authenticate_sidecar(value, keys, "b", key, tenant)


def test_an_earlier_key_still_verifies_and_short_keys_are_refused():
    old = layout.sign_sidecar(sidecar(), b"old-key-" * 4)
    keys = layout.signing_keys({"backup_signing_key": "n" * 32, "backup_previous_signing_keys": ["old-key-" * 4]})
    assert layout.authenticate_sidecar(old, keys, "b", "odoo/acme/acme_1.zip")
    with pytest.raises(ValueError, match="at least 16"):
        layout.signing_keys({"backup_signing_key": "short"})


def lines(text, size=None):
    data = text.encode()
    return b"".join(plain_dump_lines(io.BytesIO(data), len(data) if size is None else size))


@pytest.mark.parametrize(
    "payload",
    [
        "\\! id\n",
        "\\! id\r\n",
        "\r\\! id\n",
        "  \\! id\n",
        "\\connect other\n",
        "\\copy t to program 'id'\n",
        "\\o |id\n",
        "\\gexec\n",
        "\\i /etc/passwd\n",
        "\\set x 1\n",
        "\t\\! id\n",
    ],
)
def test_backslash_lines_outside_copy_data_are_refused(payload):
    with pytest.raises(RestoreRefused, match="meta-command"):
        lines("SET x = 1;\n" + payload + "SELECT 1;\n")


@pytest.mark.parametrize(
    "dump",
    [
        "SELECT 1;\0\\! id\n",  # psql cuts at the NUL: the rest would join the next piece
        "SELECT 1; " + "\0" * (1024 * 1024) + "\\! id\n",  # across the filter's pieces
        "COPY public.t (v) FROM stdin;\nab\0c\n\\.\n",  # COPY data losing bytes
    ],
)
def test_a_nul_byte_anywhere_is_refused(dump):
    with pytest.raises(RestoreRefused, match="NUL byte"):
        lines(dump)


def test_copy_data_and_the_dumps_own_restrict_pair_pass():
    dump = "\\restrict AbC123\nSET a = 1;\nCOPY public.t (id, v) FROM stdin;\n1\t\\\\N backslash data\n\\.\nSELECT 1;\n\\unrestrict AbC123\n"
    assert lines(dump) == b"SET a = 1;\nCOPY public.t (id, v) FROM stdin;\n1\t\\\\N backslash data\n\\.\nSELECT 1;\n"


def test_a_long_line_is_looked_at_only_where_it_starts():
    long_line = "SELECT '" + "x" * (3 * 1024 * 1024) + "\\! not a command';\n"
    assert lines(long_line) == long_line.encode()


def test_a_dump_longer_than_recorded_is_refused():
    with pytest.raises(RestoreRefused, match="more than the 5 bytes"):
        lines("SELECT 1;\nSELECT 2;\n", size=5)


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/x", "", "a//b", "a/./b", "a\nb", "a\\b", "x" * 256, "ab/\x7f"])
def test_filestore_member_paths_stay_inside(path):
    with pytest.raises(FilestoreError):
        check_member_path(path)


def test_filestore_member_paths_of_odoo_pass():
    assert check_member_path("ab/" + "c" * 40) and check_member_path("checklist/ab/" + "c" * 40)
