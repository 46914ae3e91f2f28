"""The database manager stays closed whatever the spelling of its path (issue #14).

Odoo decodes percent-encoded paths (`/web%2Fdatabase/manager` is its database manager), while
Traefik's path rules see `%2F` as it was sent. Every variant below goes through the real Traefik to
the example backend, which answers JSON naming the path that reached it: a blocked variant must be
answered by Traefik itself (403), never by the backend; normal Odoo paths must still reach it.
"""

import json
import socket
import ssl

import pytest

from tests.integration.test_traefik_route import apply, route

# Every spelling of a database-manager path that Odoo (werkzeug + http_routing) may route to it.
DB_MANAGER_VARIANTS = [
    "/web/database/manager",
    "/web/database/selector",
    "/web/database/list",
    "/web/database/drop",
    "/xmlrpc/2/db",
    "/xmlrpc/db",
    "/xmlrpc/2/db/",
    # encoded separators, any case, in any segment
    "/web%2Fdatabase/manager",
    "/web%2fdatabase%2Fselector",
    "/web/database%2Fmanager",
    "/xmlrpc%2F2%2Fdb",
    "/xmlrpc%2Fdb",
    "/xmlrpc/2%2fdb",
    # double and triple encodings
    "/web%252Fdatabase/manager",
    "/web%25252Fdatabase/manager",
    "/xmlrpc%252F2%252Fdb",
    # backslashes, encoded or not
    "/web%5Cdatabase/manager",
    "/web%5cdatabase%5cmanager",
    "/web\\database\\manager",
    "/xmlrpc\\2\\db",
    # dot segments and doubled slashes (Traefik sanitises them, then the rules apply)
    "//web/database/manager",
    "/web//database/manager",
    "/web/./database/manager",
    "/web/x/../database/manager",
    "/web/%2e/database/manager",
    "/web/%2E%2E/web/database/manager",
    "/a/b/../../web/database/manager",
    # unreserved characters encoded (decoded by Traefik before matching)
    "/%77eb/database/manager",
    "/web/d%61tabase/manager",
    "/xmlrpc/2/%64b",
    # case variants (werkzeug is case-sensitive, so Odoo 404s them: refused anyway)
    "/WEB/database/manager",
    "/Web/Database/Manager",
    "/XMLRPC/2/DB",
    # a language prefix: Odoo's http_routing strips /<lang>/ and routes the rest (POST included)
    "/en/web/database/manager",
    "/fr_BE/web/database/drop",
    "/en/xmlrpc/2/db",
    "/en_US/xmlrpc/db",
    # NUL, other encoded reserved characters, a query
    "/web/database%00/manager",
    "/web%00/database/manager",
    "/web/database;x/manager",
    "/web/database%3Bx",
    "/web/database/manager?db=x",
    "/web/database%3Fx=1",
]

# Normal Odoo paths, including encoded characters in file names and in query strings.
NORMAL_PATHS = [
    "/web/login",
    "/web",
    "/odoo/action-123",
    "/web/webclient/version_info",
    "/jsonrpc",
    "/xmlrpc/2/common",
    "/xmlrpc/2/object",
    "/xmlrpc/common",
    "/web/dataset/call_kw/res.partner/read",
    "/web/session/authenticate",
    "/web/content/12/a%20b.pdf",
    "/web/content/12/a%2Bb.pdf",
    "/web/content/12/r%C3%A9sum%C3%A9.pdf",
    "/web/content/12?download=true&filename=a%20b%2Bc%2Fd%25e.pdf",
    "/web/image?model=res.partner&field=a%2Fb%5C",
    "/web/image/res.partner/3/avatar_128",
    "/web/assets/1/web.assets_web.min.js",
    "/shop/category/desks-1",
    "/web/static/src/img/favicon.ico",
    "/odoo/contacts?debug=assets",
]


@pytest.fixture(scope="module")
def traefik(harness):
    state = harness.up("traefik", "backend")
    found = {
        "dir": state["traefik"]["dynamic_dir"],
        "api": state["traefik"]["api_url"],
        "port": state["traefik"]["web_port"],
        "tls_port": state["traefik"]["websecure_port"],
        "backend": state["backend"]["http_url"],
        "websocket": state["backend"]["websocket_url"],
    }
    run = apply(
        route(found, "locked", ["locked.test", "www.locked.test"]),
        route(found, "opened", ["opened.test"], database_manager_allow=["127.0.0.1/32"]),
        route(found, "unguarded", ["unguarded.test"], block_database_manager=False),
        route(found, "tlsed", ["tlsed.test"], tls={}),
    )
    assert all(r.get("live") for r in run.results), run
    return found


def send(port, host, method, path, tls=False, timeout=5):
    """(status, body) for a request line sent byte for byte (no client-side normalisation)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # Traefik's default certificate
        sock = context.wrap_socket(sock, server_hostname=host)
    body = b'{"jsonrpc": "2.0", "method": "call", "params": {"service": "db", "method": "list", "args": []}}'
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (method, path, host)
    head += "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) if method == "POST" else "\r\n"
    with sock:
        sock.sendall(head.encode("latin-1") + (body if method == "POST" else b""))
        data = b""
        for _chunk in range(1000):  # bounded: the answers are small
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _sep, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def reached_backend(body):
    try:
        return "port" in json.loads(body)
    except ValueError:
        return False


@pytest.mark.parametrize("path", DB_MANAGER_VARIANTS)
def test_database_manager_variants_never_reach_the_backend(traefik, path):
    for host in ("locked.test", "www.locked.test"):
        for method in ("GET", "POST"):
            status, body = send(traefik["port"], host, method, path)
            assert status == 403 and not reached_backend(body), (host, method, path, status, body[:200])
    status, body = send(traefik["tls_port"], "tlsed.test", "POST", path, tls=True)
    assert status == 403 and not reached_backend(body), (path, status, body[:200])


@pytest.mark.parametrize("path", NORMAL_PATHS)
def test_normal_odoo_paths_still_reach_the_backend(traefik, path):
    status, body = send(traefik["port"], "locked.test", "GET", path)
    assert status == 200 and reached_backend(body), (path, status, body[:200])
    assert json.loads(body)["path"] == path and json.loads(body)["host"] == "locked.test"
    status, body = send(traefik["tls_port"], "tlsed.test", "GET", path, tls=True)
    assert status == 200 and json.loads(body)["path"] == path


@pytest.mark.parametrize(
    "path",
    [
        "/web%2Fdatabase/manager",
        "/web%252Fdatabase/manager",
        "/web%5Cdatabase/manager",
        "/web\\database\\manager",
        "/web/login%2F..",
        "/web/content/1/a%25b.pdf",
    ],
)
def test_encoded_separators_are_refused_even_where_the_manager_is_open(traefik, path):
    """An allowed client reaches the manager by its real path, never through an encoding; nor does
    anyone on a tenant whose manager is not blocked (split-view paths are refused for every tenant)."""
    assert json.loads(send(traefik["port"], "opened.test", "GET", "/web/database/manager")[1])["path"] == "/web/database/manager"
    for host in ("opened.test", "unguarded.test"):
        status, body = send(traefik["port"], host, "GET", path)
        assert status == 403 and not reached_backend(body), (host, path, status)


def test_plain_http_of_a_tls_tenant_redirects_without_reaching_the_backend(traefik):
    for path in ("/web%2Fdatabase/manager", "/web/database/manager"):
        status, body = send(traefik["port"], "tlsed.test", "GET", path)
        assert status in (301, 308) and not reached_backend(body), (path, status)
