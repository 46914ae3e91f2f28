"""A loopback TCP proxy that can be cut: the object store becoming unreachable mid-transfer."""

import socket
import threading


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>. After `cut_after` bytes sent upstream it
    closes every connection and refuses new ones: the target looks unreachable."""

    def __init__(self, target_port, cut_after=None):
        self.target_port, self.cut_after = target_port, cut_after
        self.sent, self.cut = 0, threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets, self.lock = [], threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.cut.is_set():
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, counts):
        try:
            while not self.cut.is_set():
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
                if counts:
                    with self.lock:
                        self.sent += len(data)
                    if self.cut_after is not None and self.sent >= self.cut_after:
                        self.close()
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        """Cut now: shutdown() first, because close() alone neither wakes a thread blocked in
        accept() or recv() on that socket nor ends the connection while one is - the client would
        wait out its read timeout (botocore: 60 s) on a connection that stays open, silent."""
        self.cut.set()
        with self.lock:
            sockets = [self.listener] + self.sockets
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # on Linux this also wakes accept() on the listener
            except OSError:
                pass  # not connected, or already shut
            sock.close()
