"""Fuzz the webhook endpoint and its parser: never a 500, never an exception, never a garbage job."""

from __future__ import annotations

import json
import re

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rq import Queue

from jobs.deployment_notices import update_outcome
from jobs.issue_session import iso_from_ms
from rules.job_names import JobName, transition_job_id
from tests.fixture_files import load_fixture
from webhooks.app import create_app
from webhooks.events import ISSUE_KEY, MalformedEvent, parse_body
from webhooks.signature import sign
from worker.settings import Settings

SECRET = "fuzz-secret"
MAX_BYTES = 20_000
ANSWERS = {200, 202, 400, 401, 413}
# Examples are cheap (a request and a few Redis calls) but Redis makes each one real I/O.
FUZZ = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                # The app and the namespace are made once per test; every example leaves the
                # queue and the delivery keys empty again, so sharing them is sound.
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

EVENTS = ["jira:issue_updated", "jira:issue_created", "jira:issue_deleted", "comment_created",
          "comment_updated", "issuelink_created", "sprint_started", ""]
FIELDS = ["status", "Status", "Rollback Plan", "Outcome", "Deployment Plan", "description",
          "customfield_10050", "resolution"]
# The parser's range for epoch-millisecond timestamps: 2000-01-01 and 2100-01-01.
FIRST_MS, LAST_MS = 946_684_800_000, 4_102_444_800_000
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/octet-stream", None]

# What RQ stores as the outcome job's function: its dotted path.
UPDATE_OUTCOME = f"{update_outcome.__module__}.{update_outcome.__qualname__}"


def anything() -> st.SearchStrategy:
    """Arbitrary JSON values, nested a few levels."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Either a good-looking value, a missing key's None, or any JSON value at all."""
    return st.one_of(strategy, st.none(), anything())


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """Draw from each strategy in proportion to its weight.

    one_of draws its branches evenly, and repeating a branch does not weight it (Hypothesis
    drops the repeats), so good values would be as rare as each kind of bad one.
    """
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(pool) - 1).flatmap(lambda i: pool[i])


digits = st.integers(min_value=0, max_value=10**6).map(str)
ids = weighted((2, digits), (1, st.integers(min_value=-10, max_value=10**6)),
               (1, st.text(max_size=12)))
good_keys = st.from_regex(r"[A-Z][A-Z0-9_]{0,5}-[0-9]{1,6}", fullmatch=True)
issue_keys = weighted(
    (3, good_keys),
    (1, st.sampled_from(["CHG-7", "chg-7", "CHG-", "-7", "CHG-7 ", "CHG-7\n"])),
    (1, st.text(max_size=12)))
items = st.fixed_dictionaries(
    {"fieldId": st.sampled_from(["status", "status", *FIELDS]),
     "field": st.sampled_from(["Status", "Rollback Plan", "Outcome", *FIELDS]),
     "from": ids, "to": ids},
    optional={"fromString": st.text(max_size=10), "toString": st.text(max_size=10)})
# Well-formed deliveries, so that examples get past the parser and reach the router and RQ.
valid = st.fixed_dictionaries({
    "webhookEvent": st.one_of(st.sampled_from(["jira:issue_updated", "jira:issue_created"]),
                              st.sampled_from(["jira:issue_updated", "jira:issue_created"]),
                              st.sampled_from(EVENTS), st.text(max_size=20)),
    # Mostly timestamps the parser accepts, so that examples reach the checks after it: one_of
    # over a range from 0 drew mostly small, refused ones. EDGES below has the boundaries.
    "timestamp": st.sampled_from([True, True, True, False]).flatmap(
        lambda accepted: st.integers(min_value=FIRST_MS, max_value=LAST_MS) if accepted
        else st.integers(min_value=-(2**63), max_value=2**63)),
    "issue": st.fixed_dictionaries({
        "key": issue_keys,
        "fields": st.fixed_dictionaries({"issuetype": st.fixed_dictionaries({
            "name": st.sampled_from(["Change Request", "Change Request", "Task"])})})}),
    "changelog": st.fixed_dictionaries({"id": ids, "items": st.lists(items, min_size=1, max_size=3)}),
    "user": st.fixed_dictionaries({"accountId": st.text(max_size=10)}),
})


@st.composite
def payloads(draw) -> dict:
    """A valid-looking delivery with a few keys removed, or replaced by anything or nothing."""
    payload = draw(valid)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        parent, key = draw(st.sampled_from(list(_slots(payload))))
        action = draw(st.sampled_from(["drop", "null", "replace"]))
        if action == "drop":
            parent.pop(key, None) if isinstance(parent, dict) else None
        else:
            parent[key] = None if action == "null" else draw(anything())
    return payload


def _slots(value, parent=None, key=None):
    """Yield (container, key) for every value inside ``value``, itself included."""
    if parent is not None:
        yield parent, key
    if isinstance(value, dict):
        for k, v in list(value.items()):
            yield from _slots(v, value, k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _slots(v, value, i)


bodies = st.one_of(
    payloads().map(lambda p: json.dumps(p).encode()),
    anything().map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(min_value=1, max_value=3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=1, max_value=3000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.integers(min_value=MAX_BYTES - 40, max_value=MAX_BYTES + 40).map(
        lambda size: json.dumps({"webhookEvent": "jira:issue_updated",
                                 "pad": "x" * size})[:size].encode()),
)


def well_formed(func: str, kwargs: dict) -> bool:
    """Tell whether an enqueued job's arguments are what the job can run with."""
    if func == UPDATE_OUTCOME:
        return set(kwargs) == {"issue_key"} and bool(ISSUE_KEY.fullmatch(kwargs["issue_key"]))
    expected = {"issue_key", "event_id", "timestamp", "changelog_id", "actor_account_id"}
    if func == JobName.ENFORCE_TRANSITION:
        expected |= {"from_status_id", "to_status_id"}
        if not (isinstance(kwargs.get("to_status_id"), str) and kwargs["to_status_id"]
                and isinstance(kwargs.get("from_status_id"), (str, type(None)))):
            return False
    elif func != JobName.ENFORCE_EDIT:
        return False
    timestamp = kwargs.get("timestamp")
    try:
        iso_from_ms(timestamp)  # the job turns it into a date: it must be one
    except (TypeError, ValueError, OverflowError, OSError):
        return False
    return (set(kwargs) == expected
            and isinstance(kwargs["issue_key"], str) and bool(ISSUE_KEY.fullmatch(kwargs["issue_key"]))
            and isinstance(kwargs["changelog_id"], str) and bool(re.fullmatch(r"[0-9]+", kwargs["changelog_id"]))
            and isinstance(timestamp, int) and not isinstance(timestamp, bool)
            and isinstance(kwargs["event_id"], str)
            and isinstance(kwargs["actor_account_id"], (str, type(None))))


@pytest.fixture
def endpoint(redis_url, namespace):
    """Yield a test client of an app with a webhook secret, its queue and its Redis."""
    config = Settings(jira_base_url="https://example.atlassian.net", jira_email="cg@example.com",
                      jira_api_token="token", jira_webhook_secret=SECRET, redis_url=redis_url,
                      namespace=namespace, max_webhook_bytes=MAX_BYTES)
    conn = redis.Redis.from_url(redis_url)
    yield create_app(config).test_client(), Queue(namespace, connection=conn), conn
    conn.close()


def post_and_check(endpoint, body: bytes, headers: dict) -> None:
    """Post one delivery; assert a 2xx/4xx answer and only well-formed jobs; then empty the queue."""
    client, queue, conn = endpoint
    response = client.post("/webhooks/jira", data=body, headers=headers)
    jobs = [(job.func_name, job.kwargs) for job in queue.get_jobs()]
    queue.empty()
    for key in conn.scan_iter(match=f"{queue.name}:delivery:*"):
        conn.delete(key)
    event(f"answered {response.status_code}")  # see --hypothesis-show-statistics
    assert response.status_code in ANSWERS, response.get_data(as_text=True)
    assert response.is_json
    if response.status_code == 202:
        assert [job_id for job_id in response.json["job_ids"]] and jobs
    else:
        assert jobs == []
    assert [(func, kwargs) for func, kwargs in jobs if not well_formed(func, kwargs)] == []


@FUZZ
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES), signed=st.booleans(),
       delivery=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
def test_endpoint_never_fails_and_never_enqueues_garbage(endpoint, body, content_type, signed,
                                                        delivery):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if signed:
        headers["X-Hub-Signature"] = sign(SECRET, body)
    if delivery is not None:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    post_and_check(endpoint, body, headers)


@settings(FUZZ, max_examples=300)
@given(payload=payloads())
def test_signed_payloads_never_fail_and_never_enqueue_garbage(endpoint, payload):
    body = json.dumps(payload).encode()
    post_and_check(endpoint, body, {"Content-Type": "application/json",
                                    "X-Hub-Signature": sign(SECRET, body)})


def check_parse(body: bytes) -> None:
    """Parse ``body``: it is refused with MalformedEvent, or parsed into what routing relies on."""
    try:
        event = parse_body(body)
    except MalformedEvent:
        return
    # One assertion per check of the parser, so that removing the check fails the fuzz.
    assert isinstance(event.webhook_event, str) and event.webhook_event
    assert FIRST_MS <= event.timestamp <= LAST_MS
    assert event.issue_key is None or ISSUE_KEY.fullmatch(event.issue_key)
    assert event.changelog_id is None or re.fullmatch(r"[0-9]+", event.changelog_id)
    assert event.status_change is None or (event.changelog_id is not None
                                           and isinstance(event.status_change.to_id, str)
                                           and event.status_change.to_id)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(body=bodies)
def test_parser_raises_nothing_but_malformed_event(body):
    check_parse(body)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(payload=payloads())
def test_parser_accepts_only_what_it_promises(payload):
    check_parse(json.dumps(payload).encode())


def post_signed(endpoint, body: bytes) -> tuple[int, dict, list[str]]:
    """Post a signed JSON delivery; return the status code, the JSON answer and the queued job ids."""
    client, queue, _ = endpoint
    response = client.post("/webhooks/jira", data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature": sign(SECRET, body)})
    return response.status_code, response.json, queue.job_ids


def transition(**changes) -> bytes:
    """Return the Change Request's move to Awaiting Approval, with top-level keys replaced."""
    return json.dumps({**load_fixture("issue_updated_status_to_awaiting_approval"),
                       **changes}).encode()


def with_changelog_id(changelog_id) -> bytes:
    """Return the same move with this changelog id: only the changelog-id check can refuse it."""
    changelog = load_fixture("issue_updated_status_to_awaiting_approval")["changelog"]
    return transition(changelog={**changelog, "id": changelog_id})


def refused(reason: str) -> tuple[int, dict, list[str]]:
    return 400, {"error": reason}, []


def enqueued(namespace: str, changelog_id: str) -> tuple[int, dict, list[str]]:
    job_id = transition_job_id(namespace, "CHG-7", changelog_id)
    return 202, {"status": "enqueued", "job_ids": [job_id]}, [job_id]


# Each refused row differs from an accepted row only in the value its check judges, so a row
# fails if that check is removed: the delivery would be enqueued instead of refused.
EDGES = [
    ("changelog-id-digits", with_changelog_id("20107"), lambda ns: enqueued(ns, "20107")),
    ("changelog-id-integer", with_changelog_id(20107), lambda ns: enqueued(ns, "20107")),
    ("changelog-id-letter", with_changelog_id("A"),
     lambda ns: refused("changelog.id 'A' is not a number")),
    ("changelog-id-outside-job-id-characters", with_changelog_id(":"),
     lambda ns: refused("changelog.id ':' is not a number")),
    ("changelog-id-negative", with_changelog_id(-1),
     lambda ns: refused("changelog.id '-1' is not a number")),
    ("changelog-id-long", with_changelog_id("7" * 20 + "x" * 40),
     lambda ns: refused(f"changelog.id {'7' * 20 + 'x' * 20!r} is not a number")),
    ("status-change-without-changelog-id", with_changelog_id(None),
     lambda ns: refused("changelog.id is missing on a status change")),
    ("timestamp-first-ms", transition(timestamp=FIRST_MS), lambda ns: enqueued(ns, "20107")),
    ("timestamp-last-ms", transition(timestamp=LAST_MS), lambda ns: enqueued(ns, "20107")),
    ("timestamp-before-2000", transition(timestamp=FIRST_MS - 1),
     lambda ns: refused("timestamp 946684799999 is not epoch milliseconds of this century")),
    ("timestamp-after-2100", transition(timestamp=LAST_MS + 1),
     lambda ns: refused("timestamp 4102444800001 is not epoch milliseconds of this century")),
    ("timestamp-out-of-range", transition(timestamp=10**15),
     lambda ns: refused("timestamp 1000000000000000 is not epoch milliseconds of this century")),
    ("timestamp-zero", transition(timestamp=0),
     lambda ns: refused("timestamp 0 is not epoch milliseconds of this century")),
]


@pytest.mark.parametrize(("body", "expected"), [e[1:] for e in EDGES], ids=[e[0] for e in EDGES])
def test_edge_is_refused_by_the_check_it_names(endpoint, namespace, body, expected):
    assert post_signed(endpoint, body) == expected(namespace)
