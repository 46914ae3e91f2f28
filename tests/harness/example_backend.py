"""An example backend for routing tests: an HTTP port and a websocket port, like an Odoo server's
http_port and gevent_port. It is not Odoo; it reports what reached it so tests can assert routing.

HTTP port: every GET answers 200 JSON {port, host, path, headers...}; a websocket upgrade on
/websocket answers 400, as Odoo's HTTP port does. Websocket port: /websocket upgrades (RFC 6455)
and echoes text frames; /web/health answers 200.
"""

import argparse
import base64
import hashlib
import json
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    role = "http"
    delay = 0.0
    workers = None  # a Semaphore: at most N requests served at once, like Odoo's worker processes

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # quiet under load
        pass

    def _json(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # pylint: disable=invalid-name  # http.server's naming
        upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
        if self.path.split("?")[0] == "/websocket" and upgrade:
            if self.role != "websocket":
                return self._json(400, {"error": "websocket upgrade on the HTTP port"})
            return self._websocket()
        if self.workers is not None:
            with self.workers:
                return self._answer()
        return self._answer()

    def _answer(self):
        if self.delay:
            time.sleep(self.delay)
        return self._json(
            200,
            {
                "port": self.role,
                "host": self.headers.get("Host"),
                "path": self.path,
                "x_forwarded_for": self.headers.get("X-Forwarded-For"),
                "x_forwarded_host": self.headers.get("X-Forwarded-Host"),
                "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
                # names a WSGI server would read as another header (CGI-style aliasing)
                "aliased_headers": sorted(k for k in self.headers if "_" in k or "." in k),
            },
        )

    def _websocket(self):
        accept = base64.b64encode(hashlib.sha1(self.headers["Sec-WebSocket-Key"].encode() + WS_GUID).digest())
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        deadline = time.monotonic() + 60  # a test connection never lives longer
        while time.monotonic() < deadline:
            frame = read_frame(self.rfile)
            if frame is None or frame[0] == 0x8:
                return None
            self.wfile.write(encode_frame(frame[1], opcode=frame[0]))
            self.wfile.flush()
        return None


def read_frame(stream):
    """One client frame as (opcode, payload), or None at end of stream."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", stream.read(8))[0]
    mask = stream.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    data = stream.read(length)
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def encode_frame(payload, opcode=0x1, mask=None):
    """A final frame; clients must mask (give 4 bytes), servers must not."""
    head = bytes([0x80 | opcode])
    flag = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([flag | len(payload)])
    elif len(payload) < 65536:
        head += bytes([flag | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([flag | 127]) + struct.pack("!Q", len(payload))
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def serve(port, role, delay=0.0, workers=0):
    handler = type("%sHandler" % role.title(), (Handler,), {"role": role, "delay": delay, "workers": threading.BoundedSemaphore(workers) if workers else None})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    socketserver.TCPServer.allow_reuse_address = True
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--websocket-port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each HTTP answer waits")
    parser.add_argument("--workers", type=int, default=0, help="requests served at once (0: unbounded)")
    args = parser.parse_args()
    servers = [serve(args.http_port, "http", args.delay, args.workers), serve(args.websocket_port, "websocket")]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
