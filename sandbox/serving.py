"""Serve a WSGI app over real HTTP on a free local port, in a daemon thread, for tests and demos."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

logger = logging.getLogger(__name__)


class _QuietRequestHandler(WSGIRequestHandler):
    """Log served requests at debug level instead of werkzeug's stderr access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("request served", extra={"request_line": self.requestline, "status": code})


class ServingThread:
    """One threaded werkzeug server; ``url`` is its base URL until stop()."""

    def __init__(self, app: Any, *, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(host, port, app, threaded=True,
                                  request_handler=_QuietRequestHandler)
        self.url = f"http://{host}:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
