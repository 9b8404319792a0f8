import contextlib

import pytest
import redis

from sandbox.embedded_redis import EmbeddedRedis, EmbeddedRedisError, redis_url_or_embedded


def ping(url):
    with contextlib.closing(redis.Redis.from_url(url, retry=None)) as client:
        return client.ping()


def test_start_restart_stop():
    server = EmbeddedRedis()
    url = server.start()
    with contextlib.closing(redis.Redis.from_url(url)) as client:
        client.set("k", "v")
        data_dir = server._dir

        server.restart()

        assert (server.url, client.get("k")) == (url, None)
    assert data_dir is not None and not data_dir.exists()
    server.stop()
    with pytest.raises(redis.exceptions.ConnectionError):
        ping(url)


@pytest.mark.parametrize("persistent, outage, kept", [
    (True, "restart", b"v"),
    (True, "crash", b"v"),  # appendfsync always: acknowledged is on disk, even after SIGKILL
    (False, "restart", None),
    (False, "crash", None),
])
def test_persistent_server_keeps_its_data_through_restart_and_crash(persistent, outage, kept):
    with EmbeddedRedis(persistent=persistent) as server:
        with contextlib.closing(redis.Redis.from_url(server.url, retry=None)) as client:
            client.set("k", "v")
        if outage == "crash":
            server.crash()
            with pytest.raises(redis.exceptions.ConnectionError):
                ping(server.url)
            server.start()
        else:
            server.restart()
        with contextlib.closing(redis.Redis.from_url(server.url, retry=None)) as client:
            assert client.get("k") == kept


def test_given_data_dir_is_kept(tmp_path):
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        assert ping(server.url)
    assert (tmp_path / "redis" / "redis.log").is_file()


def test_busy_port_fails_with_the_server_log():
    with EmbeddedRedis() as running:
        with pytest.raises(EmbeddedRedisError) as excinfo:
            EmbeddedRedis(port=running.port).start()
        assert ping(running.url)
    message = str(excinfo.value)
    assert message.startswith(f"redis-server exited with code 1 on port {running.port}; log tail:\n")
    assert "Address already in use" in message


def test_redis_url_or_embedded():
    assert redis_url_or_embedded("redis://cache:6379/2") == ("redis://cache:6379/2", None)
    url, server = redis_url_or_embedded(None)
    try:
        assert url == server.url and ping(url)
    finally:
        server.stop()
