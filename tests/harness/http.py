"""Requests with a chosen Host header (through Traefik or to a server): plain HTTP, TLS with SNI,
JSON-RPC, websocket."""

import base64
import http.client
import json
import os
import socket
import ssl

from .example_backend import encode_frame, read_frame


def request(port, host, path="/", headers=None, tls=False, timeout=5):
    """(status, headers dict with lower-case names, body bytes) for GET path on 127.0.0.1:port."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # Traefik's default self-signed certificate
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
        # SNI must carry the tenant host for Traefik's TLS router to match.
        conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout), server_hostname=host)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict({"Host": host}, **(headers or {})))
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def websocket_echo(port, host, message=b"ping", timeout=5):
    """Open /websocket through port with Host; return (status line, echoed payload or None)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # Odoo's handshake requires Origin too (400 "Empty or missing header(s): origin" without it)
        sock.sendall(
            (
                "GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Origin: http://%s\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, host, key)
            ).encode()
        )
        stream = sock.makefile("rb")
        status = stream.readline().decode().strip()
        while stream.readline() not in (b"\r\n", b""):
            pass
        if " 101 " not in status + " ":
            return status, None
        sock.sendall(encode_frame(message, mask=os.urandom(4)))
        frame = read_frame(stream)
        sock.sendall(encode_frame(b"", opcode=0x8, mask=os.urandom(4)))
        return status, frame[1] if frame else None


def post_json(port, path, params, host, cookie=None, timeout=20):
    """(status, Set-Cookie, decoded answer) of a JSON-RPC call (Odoo's type='json' routes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": host, "Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        conn.request("POST", path, json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}), headers)
        answer = conn.getresponse()
        return answer.status, answer.getheader("Set-Cookie"), json.loads(answer.read() or b"{}")
    finally:
        conn.close()


def websocket_handshake(port, host, origin=True, timeout=10):
    """The status code of a websocket handshake on /websocket (with Origin, as a browser sends it)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            (
                "GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (host, key, "Origin: http://%s\r\n" % host if origin else "")
            ).encode()
        )
        with sock.makefile("rb") as stream:
            return int(stream.readline().split()[1])
