"""Open /websocket with a Host header and print the status line (101 when upgraded). Usage: ADDRESS PORT HOST"""

import base64
import os
import socket
import sys


def main(address, port, host):
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((address, int(port)), timeout=10) as sock:
        # Odoo's handshake requires Origin too (400 "Empty or missing header(s): origin" without it)
        sock.sendall(
            (
                "GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Origin: http://%s\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, host, key)
            ).encode()
        )
        print(sock.makefile("rb").readline().decode().strip())


if __name__ == "__main__":
    main(*sys.argv[1:4])
