import contextlib
import io
import json
import logging

import pytest
import redis
from rq import Queue
from rq.job import Job

from jobs.enforce_transition import enforce_transition
from rules.job_names import JobName
from sandbox.embedded_redis import EmbeddedRedis
from tests.builders import (DELIVERY, DELIVERY_SECRET as SECRET, DELIVERY_URL as URL, TRANSITION,
                            body_of, deliver, free_port, make_settings, queued)
from tests.redis_cut import RedisCut
from webhooks import enqueue
from webhooks.app import create_app
from webhooks.router import JobRequest, Router
from webhooks.signature import sign
from worker.logging_setup import JsonFormatter
from worker.settings import DEFAULT_POLICY_PATH, SettingsError

ENFORCE_TRANSITION = JobName.ENFORCE_TRANSITION  # what RQ stores: the function's dotted path



def transition_job_id(namespace, key="CHG-7", changelog_id="20107"):
    return f"{namespace}-transition-{key}-{changelog_id}"

TRANSITION_KWARGS = {
    "issue_key": "CHG-7",
    "event_id": DELIVERY,
    "timestamp": 1735530000000,
    "changelog_id": "20107",
    "from_status_id": "10001",
    "to_status_id": "10002",
    "actor_account_id": "5b10ac8d82e05b22cc7d5f7a",
}


@pytest.fixture
def queue(conn, namespace):
    return Queue(namespace, connection=conn)


@pytest.fixture
def client(redis_url, namespace):
    return create_app(make_settings(redis_url, namespace)).test_client()


def test_signed_transition_enqueues_one_job(client, queue):
    response = deliver(client, body_of(TRANSITION))

    assert (response.status_code, response.json) == (
        202,
        {"status": "enqueued", "job_ids": [transition_job_id(queue.name)]},
    )
    assert queue.job_ids == [transition_job_id(queue.name)]
    job = Job.fetch(transition_job_id(queue.name), connection=queue.connection)
    assert (job.func_name, job.args, job.kwargs) == (ENFORCE_TRANSITION, (), TRANSITION_KWARGS)
    assert (job.retries_left, job.retry_intervals) == (3, [5, 30, 120])
    assert (job.failure_ttl, job.result_ttl) == (7 * 24 * 3600, 24 * 3600)


def test_issue_created_with_status_enqueues_one_job(client, queue):
    response = deliver(client, body_of("issue_created_change_request"))

    assert (response.status_code, response.json) == (
        202,
        {"status": "enqueued", "job_ids": [transition_job_id(queue.name, "CHG-8", "20108")]},
    )
    assert queued(queue) == [
        (
            ENFORCE_TRANSITION,
            {
                "issue_key": "CHG-8",
                "event_id": DELIVERY,
                "timestamp": 1735530100000,
                "changelog_id": "20108",
                "from_status_id": None,
                "to_status_id": "10001",
                "actor_account_id": "5b10ac8d82e05b22cc7df0a6",
            },
        )
    ]


def test_redelivery_is_a_duplicate(client, queue, conn, namespace):
    first = deliver(client, body_of(TRANSITION))
    again = deliver(client, body_of(TRANSITION), extra_headers={"X-Atlassian-Webhook-Retry": "1"})

    assert (first.status_code, again.status_code, again.json) == (202, 200, {"status": "duplicate"})
    assert queue.job_ids == [transition_job_id(queue.name)]
    assert conn.ttl(f"{namespace}:delivery:{DELIVERY}") > 47 * 3600


def test_same_transition_under_another_delivery_id_keeps_one_job(client, queue):
    first = deliver(client, body_of(TRANSITION))
    other = deliver(client, body_of(TRANSITION), delivery="another-delivery-id")

    assert (first.status_code, other.status_code) == (202, 202)
    assert other.json == {"status": "enqueued", "job_ids": [transition_job_id(queue.name)]}
    assert queued(queue) == [(ENFORCE_TRANSITION, TRANSITION_KWARGS)]


def test_without_delivery_header_the_body_digest_dedupes(client, queue):
    first = deliver(client, body_of(TRANSITION), delivery=None)
    again = deliver(client, body_of(TRANSITION), delivery=None)

    assert (first.status_code, again.status_code, again.json) == (202, 200, {"status": "duplicate"})
    [(_, kwargs)] = queued(queue)
    assert kwargs["event_id"].startswith("sha256-")


@pytest.mark.parametrize(
    ("signature", "secret"),
    [
        (None, None),
        (None, "not-the-secret"),
        ("sha256=" + "0" * 64, None),
        ("sha1=0123456789abcdef0123456789abcdef01234567", None),
        ("", None),
    ],
    ids=["unsigned", "other-secret", "wrong-digest", "sha1", "empty-header"],
)
def test_bad_signature_is_401_and_enqueues_nothing(client, queue, signature, secret):
    response = deliver(client, body_of(TRANSITION), secret=secret, signature=signature)

    assert (response.status_code, response.json) == (401, {"error": "missing or invalid X-Hub-Signature"})
    assert queue.job_ids == []


def test_signature_covers_the_raw_bytes(client, queue):
    body = body_of(TRANSITION)
    reformatted = json.dumps(json.loads(body), indent=1).encode()

    response = deliver(client, reformatted, signature=sign(SECRET, body))

    assert response.status_code == 401
    assert queue.job_ids == []


def test_without_a_secret_the_app_refuses_to_start(redis_url, namespace):
    with pytest.raises(SettingsError) as error:
        create_app(make_settings(redis_url, namespace, jira_webhook_secret=None))

    assert str(error.value) == (
        "JIRA_WEBHOOK_SECRET is not set: set it to the secret of Jira's webhook "
        "(`changeguard setup-webhook URL` registers the webhook with it), or set "
        "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS=true to accept unsigned webhooks from anyone who "
        "knows the URL")


def test_unsigned_deliveries_are_accepted_only_when_allowed_explicitly(redis_url, namespace,
                                                                       queue, caplog):
    with caplog.at_level(logging.WARNING, logger="webhooks.app"):
        app = create_app(make_settings(redis_url, namespace, jira_webhook_secret=None,
                                       allow_unsigned_webhooks=True))

    response = deliver(app.test_client(), body_of(TRANSITION), secret=None)

    assert response.status_code == 202
    assert queue.job_ids == [transition_job_id(queue.name)]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "JIRA_WEBHOOK_SECRET unset: accepting unsigned webhooks, as "
                          "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS allows")]


def test_with_a_secret_the_opt_out_changes_nothing(redis_url, namespace, queue):
    app = create_app(make_settings(redis_url, namespace, allow_unsigned_webhooks=True))

    response = deliver(app.test_client(), body_of(TRANSITION), secret=None)

    assert (response.status_code, queue.job_ids) == (401, [])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{\"webhookEvent\": ", "body is not JSON: Expecting value: line 1 column 18 (char 17)"),
        (b"[]", "body must be a JSON object, got an array"),
        (b"{}", "webhookEvent is missing"),
        (body_of(TRANSITION, webhookEvent=None), "webhookEvent is missing"),
        (body_of(TRANSITION, issue=[]), "issue must be an object, got an array"),
        (body_of(TRANSITION, issue={"id": "10601"}), "issue.key is missing"),
    ],
    ids=["not-json", "not-object", "empty-object", "no-webhook-event", "issue-not-object", "no-issue-key"],
)
def test_malformed_body_is_400(client, queue, body, error):
    response = deliver(client, body)

    assert (response.status_code, response.json) == (400, {"error": error})
    assert queue.job_ids == []


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        ("comment_created_change_request", {}, "event comment_created is ignored"),
        ("jira_issue_updated.status_transition.cloud2021", {}, "issue type 'Task' is not 'Change Request' or 'Change Freeze'"),
        ("issue_updated_change_request_description_edit", {}, "no job for this change"),
        (TRANSITION, {"webhookEvent": "sprint_started"}, "event sprint_started is not handled"),
    ],
    ids=["comment", "other-issue-type", "non-status-edit", "unknown-event"],
)
def test_out_of_scope_is_200_ignored(client, queue, conn, namespace, name, changes, reason):
    response = deliver(client, body_of(name, **changes))

    assert (response.status_code, response.json) == (200, {"status": "ignored", "reason": reason})
    assert queue.job_ids == []
    assert list(conn.scan_iter(match=f"{namespace}:delivery:*")) == []  # never even deduped


def test_a_declared_freeze_enqueues_its_check(client, queue):
    response = deliver(client, body_of("issue_created_change_freeze"))

    job_id = f"{queue.name}-freeze-CHG-2-30001"
    assert (response.status_code, response.json) == (202, {"status": "enqueued",
                                                           "job_ids": [job_id]})
    assert queued(queue) == [(JobName.RECHECK_FREEZE, {
        "issue_key": "CHG-2", "event_id": DELIVERY, "timestamp": 1796205031047,
        "webhook_event": "jira:issue_created",
        "actor_account_id": "712020:e4445040-49d2-5cc2-bc93-06880503d010"})]


def test_without_freezes_in_jira_only_change_requests_are_in_scope(redis_url, namespace, queue,
                                                                   tmp_path):
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    start = text.index("[freezes]")
    policy = tmp_path / "no-freezes.toml"
    policy.write_text(text[:start] + text[text.index("[slack]", start):], encoding="utf-8")
    app = create_app(make_settings(redis_url, namespace, policy_path=policy))

    response = deliver(app.test_client(), body_of("issue_created_change_freeze"))

    assert (response.status_code, response.json) == (200, {
        "status": "ignored", "reason": "issue type 'Change Freeze' is not 'Change Request'"})
    assert queue.job_ids == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_body_is_413(redis_url, namespace, queue, chunked):
    body = body_of(TRANSITION)
    app = create_app(make_settings(redis_url, namespace, max_webhook_bytes=len(body) - 1))
    extra = (
        {"headers": {"Transfer-Encoding": "chunked", "X-Hub-Signature": sign(SECRET, body)},
         "input_stream": io.BytesIO(body),
         # What gunicorn and other servers that de-chunk request bodies set.
         "environ_overrides": {"wsgi.input_terminated": True}}
        if chunked
        else {"data": body, "headers": {"X-Hub-Signature": sign(SECRET, body)}}
    )

    response = app.test_client().post(URL, **extra)

    assert (response.status_code, response.json) == (413, {"error": f"body exceeds {len(body) - 1} bytes"})
    assert queue.job_ids == []


def test_body_at_the_limit_is_accepted(redis_url, namespace, queue):
    body = body_of(TRANSITION)
    app = create_app(make_settings(redis_url, namespace, max_webhook_bytes=len(body)))

    assert deliver(app.test_client(), body).status_code == 202


def test_redis_down_is_503_and_the_redelivery_is_not_lost(redis_url, namespace, queue):
    down = create_app(make_settings(f"redis://127.0.0.1:{free_port()}/0", namespace))
    up = create_app(make_settings(redis_url, namespace))

    refused = deliver(down.test_client(), body_of(TRANSITION))
    redelivered = deliver(up.test_client(), body_of(TRANSITION))

    assert (refused.status_code, refused.headers["Retry-After"], refused.json) == (
        503,
        "30",
        {"error": "queue unavailable, retry"},
    )
    assert (redelivered.status_code, redelivered.json) == (
        202,
        {"status": "enqueued", "job_ids": [transition_job_id(queue.name)]},
    )
    assert queued(queue) == [(ENFORCE_TRANSITION, TRANSITION_KWARGS)]


def test_redis_down_still_ignores_out_of_scope_events(namespace):
    down = create_app(make_settings(f"redis://127.0.0.1:{free_port()}/0", namespace))

    response = deliver(down.test_client(), body_of("issue_updated_change_request_description_edit"))

    assert (response.status_code, response.json["status"]) == (200, "ignored")


def test_app_survives_a_redis_restart(namespace):
    with EmbeddedRedis() as server:
        client = create_app(make_settings(server.url, namespace)).test_client()
        assert client.get("/healthz").status_code == 200
        server.restart()

        response = deliver(client, body_of(TRANSITION))

        assert response.status_code == 202
        with contextlib.closing(redis.Redis.from_url(server.url)) as conn:
            assert Queue(namespace, connection=conn).job_ids == [transition_job_id(namespace)]


def errors_logged(caplog):
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name in ("webhooks.views", "webhooks.delivery")]


def test_redis_lost_while_enqueueing_is_503_and_the_redelivery_is_not_lost(
        redis_url, namespace, queue, conn, client, caplog):
    # The delivery is claimed through the proxy; the enqueue's commands name rq:job:… and are cut.
    with RedisCut(redis_url, b"rq:job:") as cut:
        flaky = create_app(make_settings(redis_url, namespace), redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.ERROR, logger="webhooks"):
            refused = deliver(flaky.test_client(), body_of(TRANSITION))
    released = conn.exists(f"{namespace}:delivery:{DELIVERY}")
    redelivered = deliver(client, body_of(TRANSITION))

    assert (refused.status_code, refused.headers["Retry-After"], refused.json) == (
        503, "30", {"error": "queue unavailable, retry"})
    assert cut.cuts == 2  # the client's one retry on a fresh connection is cut too
    assert errors_logged(caplog) == [(logging.ERROR, "webhook queue unavailable")]
    assert released == 0
    assert (redelivered.status_code, queued(queue)) == (202, [(ENFORCE_TRANSITION, TRANSITION_KWARGS)])


def test_redis_dying_while_enqueueing_is_503_and_the_redelivery_is_enqueued(
        redis_url, namespace, queue, conn, client, caplog):
    with RedisCut(redis_url, b"rq:job:", then_down=True) as cut:
        dying = create_app(make_settings(redis_url, namespace), redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.ERROR, logger="webhooks"):
            refused = deliver(dying.test_client(), body_of(TRANSITION))
    remembered = conn.exists(f"{namespace}:delivery:{DELIVERY}")
    redelivered = deliver(client, body_of(TRANSITION))

    assert (refused.status_code, refused.json) == (503, {"error": "queue unavailable, retry"})
    assert errors_logged(caplog) == [(logging.ERROR, "webhook queue unavailable")]
    # Nothing noted the delivery as done: Jira's redelivery, once Redis is back, is enqueued.
    assert remembered == 0
    assert (redelivered.status_code, queued(queue)) == (202, [(ENFORCE_TRANSITION, TRANSITION_KWARGS)])


def test_redis_dying_after_the_enqueue_is_202_and_a_redelivery_adds_no_job(
        redis_url, namespace, queue, conn, client, caplog):
    key = f"{namespace}:delivery:{DELIVERY}"
    noting = f"SET\r\n${len(key)}\r\n{key}".encode()  # the command that notes the delivery
    with RedisCut(redis_url, noting, then_down=True) as cut:
        dying = create_app(make_settings(redis_url, namespace), redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.WARNING, logger="webhooks"):
            accepted = deliver(dying.test_client(), body_of(TRANSITION))
    redelivered = deliver(client, body_of(TRANSITION))

    assert (accepted.status_code, accepted.json) == (
        202, {"status": "enqueued", "job_ids": [transition_job_id(namespace)]})
    assert cut.cuts == 1
    assert errors_logged(caplog) == [(logging.WARNING, "webhook delivery not remembered")]
    # The redelivery finds the job queued already: still one job.
    assert (redelivered.status_code, queued(queue)) == (202, [(ENFORCE_TRANSITION, TRANSITION_KWARGS)])


@pytest.fixture
def root_logging():
    """Restore the root logger after a test that lets create_app() configure logging."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("atlassian").setLevel(logging.NOTSET)


def test_without_settings_the_app_reads_the_environment_and_configures_logging(
        monkeypatch, root_logging, redis_url, namespace, queue):
    environment = {
        "JIRA_BASE_URL": "https://example.atlassian.net", "JIRA_EMAIL": "changeguard@example.com",
        "JIRA_API_TOKEN": "api-token", "JIRA_WEBHOOK_SECRET": SECRET, "REDIS_URL": redis_url,
        "CHANGEGUARD_NAMESPACE": namespace, "LOG_LEVEL": "warning", "LOG_FORMAT": "json",
    }
    for name in ("SLACK_BOT_TOKEN", "SLACK_API_URL", "SLACK_SIGNING_SECRET", "CHANGEGUARD_POLICY",
                 "CHANGEGUARD_CALENDAR_TOKEN", "CHANGEGUARD_PERIODIC", "CHANGEGUARD_SWEEP_MINUTES",
                 "CHANGEGUARD_MAX_WEBHOOK_BYTES", "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    app = create_app()
    response = deliver(app.test_client(), body_of(TRANSITION))

    assert app.extensions["changeguard"].settings == make_settings(
        redis_url, namespace, log_level="WARNING", log_format="json")
    assert (root_logging.level, [type(h.formatter) for h in root_logging.handlers]) == (
        logging.WARNING, [JsonFormatter])
    assert (response.status_code, queue.job_ids) == (202, [transition_job_id(namespace)])


def crashing_router():
    router = Router()

    @router.register("jira:issue_updated")
    def crash(event, context):
        raise RuntimeError("handler bug")

    return router


def test_handler_crash_is_500_and_the_app_keeps_serving(redis_url, namespace, queue):
    app = create_app(make_settings(redis_url, namespace), router=crashing_router())
    client = app.test_client()

    crashed = deliver(client, body_of(TRANSITION))
    ignored = deliver(client, body_of("comment_created_change_request"))

    assert (crashed.status_code, crashed.json) == (500, {"error": "handler failed"})
    assert (ignored.status_code, client.get("/healthz").status_code) == (200, 200)
    assert queue.job_ids == []


def bad_job_router():
    router = Router()

    @router.register("jira:issue_updated")
    def bad_job_id(event, context):
        return (JobRequest(func=enforce_transition, job_id="not a valid rq id", kwargs={}),)

    return router


def test_failed_enqueue_leaves_the_delivery_open_for_redelivery(redis_url, namespace, queue, conn):
    broken = create_app(make_settings(redis_url, namespace), router=bad_job_router()).test_client()
    fixed = create_app(make_settings(redis_url, namespace)).test_client()

    failed = deliver(broken, body_of(TRANSITION))
    redelivered = deliver(fixed, body_of(TRANSITION))

    assert (failed.status_code, failed.json) == (500, {"error": "enqueue failed"})
    assert redelivered.status_code == 202
    assert queue.job_ids == [transition_job_id(queue.name)]


def test_outcome_is_logged_with_event_context(client, caplog, namespace):
    with caplog.at_level(logging.INFO, logger="webhooks"):
        deliver(client, body_of(TRANSITION))

    assert [
        (r.getMessage(), r.webhook_event, r.issue_key, r.event_id, r.job_ids) for r in caplog.records
    ] == [("webhook enqueued", "jira:issue_updated", "CHG-7", DELIVERY, [transition_job_id(namespace)])]


def test_healthz_ok(client):
    response = client.get("/healthz")

    assert (response.status_code, response.json) == (200, {"redis": "ok"})


def test_healthz_unreachable(namespace):
    app = create_app(make_settings(f"redis://127.0.0.1:{free_port()}/0", namespace))

    response = app.test_client().get("/healthz")

    assert (response.status_code, response.json) == (503, {"redis": "unreachable"})


def test_without_redis_url_the_app_refuses_to_start(namespace):
    with pytest.raises(SettingsError, match="REDIS_URL is not set"):
        create_app(make_settings(None, namespace))
