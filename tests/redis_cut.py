"""A TCP proxy in front of the test Redis that fails like Redis does, at a chosen command."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


class RedisCut:
    """Forward to a real Redis, cutting every connection that sends ``marker``.

    With ``then_down=True`` the first cut also takes the proxy down for good: open connections
    are closed and new ones are closed as soon as they are accepted, as if Redis had died. The
    client sees what a real outage gives it: ``redis.exceptions.ConnectionError``.
    """

    def __init__(self, redis_url: str, marker: bytes, *, then_down: bool = False):
        parts = urlsplit(redis_url)
        self._upstream = (parts.hostname, parts.port or 6379)
        self._db = parts.path or "/0"
        self._marker = marker
        self._then_down = then_down
        self._down = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}{self._db}"
        self._thread = threading.Thread(target=self._accept, name="redis-cut", daemon=True)
        self._thread.start()

    def __enter__(self) -> "RedisCut":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._down.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone does not
        except OSError:
            pass
        self._listener.close()
        self._close_all()
        self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        # The tail of the previous chunk, so that a marker split across two reads is still seen.
        tail = b""
        try:
            while data := source.recv(65536):
                if from_client and self._marker in tail + data:
                    self._cut(source, sink)
                    return
                tail = data[-len(self._marker):]
                sink.sendall(data)
        except OSError:
            pass
        self._close(source, sink)

    def _cut(self, *pair: socket.socket) -> None:
        with self._lock:
            self.cuts += 1
        if self._then_down:
            self._down.set()
            self._close_all()
        else:
            self._close(*pair)

    def _close_all(self) -> None:
        with self._lock:
            doomed, self._sockets = self._sockets, []
        self._close(*doomed)

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
