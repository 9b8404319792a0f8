"""GET /calendar.ics over HTTP against the sandbox Jira: the secret link, the events, paging, cache."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
import redis
import requests
import vobject

from jobs.calendar import CACHE_SECONDS, PAGE_SIZE, cache_key
from sandbox.jira_server import SandboxJira
from sandbox.serving import ServingThread
from webhooks.app import create_app
from webhooks.calendar_feed import RETRY_AFTER_SECONDS, UNAVAILABLE
from worker.logging_setup import JsonFormatter
from worker.settings import Settings

TOKEN = "cal-3f9a1c0b7e2d4a6f"
SEARCH = "/rest/api/3/search/jql"
DAY = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)


def settings_for(jira: SandboxJira, redis_url: str, namespace: str, token: str | None) -> Settings:
    return Settings(jira_base_url=jira.base_url, jira_email=jira.bot.email,
                    jira_api_token=jira.bot.api_token, jira_webhook_secret="calendar tests",
                    redis_url=redis_url, namespace=namespace, calendar_token=token)


class Served(ServingThread):
    """create_app() (which serves the calendar) over real HTTP."""

    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__(create_app(settings), name="changeguard-web")
        self.feed_url = f"{self.url}/calendar.ics"

    def get(self, **params: str) -> requests.Response:
        return requests.get(self.feed_url, params=params, timeout=30)


@pytest.fixture
def serve(jira, redis_url, namespace):
    """Return a function that serves the app with a given calendar token (default TOKEN)."""
    servers = []

    def start(token: str | None = TOKEN) -> Served:
        servers.append(Served(settings_for(jira, redis_url, namespace, token)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def feed(serve):
    return serve()


def window(day: int, hours: int = 1) -> tuple[datetime, datetime]:
    start = DAY + timedelta(days=day)
    return start, start + timedelta(hours=hours)


def jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def create(jira: SandboxJira, summary: str, status: str, *, category="Normal",
           span: tuple[datetime, datetime] | None = None) -> str:
    """Create a change request as alice and walk it to ``status`` as the people allowed to."""
    fields: dict[str, object] = {"Change Category": category, "Risk Level": "Medium"}
    if span is not None:
        fields |= {"Planned Start": jira_time(span[0]), "Planned End": jira_time(span[1])}
    key = jira.create_change_request("alice", summary, fields)
    path = {"Draft": [], "Awaiting Approval": ["Awaiting Approval"],
            "Approved": ["Awaiting Approval", "Approved"],
            "Implementing": ["Awaiting Approval", "Approved", "Implementing"],
            "Implemented": ["Awaiting Approval", "Approved", "Implementing", "Implemented"],
            "Cancelled": ["Cancelled"]}[status]
    for step in path:
        jira.transition(key, step, "dana")
    return key


def events_of(response: requests.Response) -> dict[str, dict]:
    """Parse the feed with vobject (not the library that wrote it) into events by UID."""
    calendar = vobject.readOne(response.text)
    assert calendar.x_wr_calname.value == "Change calendar"
    events = {}
    for vevent in getattr(calendar, "vevent_list", []):
        events[vevent.uid.value] = {
            "summary": vevent.summary.value,
            "start": vevent.dtstart.value,
            "end": vevent.dtend.value,
            "status": vevent.status.value,
            "url": vevent.url.value,
            "categories": vevent.categories.value,
            "description": vevent.description.value,
        }
    return events


def searches(jira: SandboxJira, issue_type: str = "Change Request") -> list:
    """Return the searches for issues of ``issue_type`` (the feed also searches Change Freezes)."""
    return [r for r in jira.requests
            if r.path == SEARCH and f'issuetype = "{issue_type}"' in r.json["jql"]]


def test_feed_round_trips_the_published_windows(jira, feed):
    approved = create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    implementing = create(jira, "Resize the orders database", "Implementing",
                          category="Emergency", span=window(1, 2))
    implemented = create(jira, "Bump the HTTP client", "Implemented", category="Standard",
                         span=window(2))
    create(jira, "Still a draft", "Draft", span=window(3))
    create(jira, "Awaiting the CAB", "Awaiting Approval", span=window(4))
    create(jira, "Called off", "Cancelled", span=window(5))
    create(jira, "Emergency without a window", "Implementing", category="Emergency")

    response = feed.get(token=TOKEN)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"\r\n" in response.content and b"\n" not in response.content.replace(b"\r\n", b"")
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n" in response.text
    assert "X-PUBLISHED-TTL:PT15M\r\n" in response.text
    host = "127.0.0.1"
    browse = f"{jira.base_url}/browse/"
    assert events_of(response) == {
        f"{approved}@changeguard.{host}": {
            "summary": f"[Normal] {approved} Rotate edge TLS certificates",
            "start": window(0)[0], "end": window(0)[1], "status": "TENTATIVE",
            "url": browse + approved, "categories": ["Normal"],
            "description": f"Category: Normal\nRisk level: Medium\nStatus: Approved\n{browse}{approved}",
        },
        f"{implementing}@changeguard.{host}": {
            "summary": f"[Emergency] {implementing} Resize the orders database",
            "start": window(1, 2)[0], "end": window(1, 2)[1], "status": "CONFIRMED",
            "url": browse + implementing, "categories": ["Emergency"],
            "description": (f"Category: Emergency\nRisk level: Medium\nStatus: Implementing\n"
                            f"{browse}{implementing}"),
        },
        f"{implemented}@changeguard.{host}": {
            "summary": f"[Standard] {implemented} Bump the HTTP client",
            "start": window(2)[0], "end": window(2)[1], "status": "CONFIRMED",
            "url": browse + implemented, "categories": ["Standard"],
            "description": (f"Category: Standard\nRisk level: Medium\nStatus: Implemented\n"
                            f"{browse}{implemented}"),
        },
    }


def test_every_event_has_a_stamp_and_last_modified(jira, feed):
    create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    calendar = vobject.readOne(feed.get(token=TOKEN).text)
    [vevent] = calendar.vevent_list
    assert vevent.dtstamp.value.tzinfo is not None
    assert vevent.last_modified.value == vevent.dtstamp.value


@pytest.mark.parametrize("params", [{}, {"token": ""}, {"token": "wrong"},
                                    {"token": TOKEN + "x"}, {"token": "ünïcode"}],
                         ids=["missing", "empty", "wrong", "longer", "non-ascii"])
def test_a_wrong_or_missing_token_is_404_without_asking_jira(jira, feed, params):
    jira.reset_recordings()
    response = feed.get(**params)
    assert response.status_code == 404
    assert "calendar" not in response.text.lower()
    assert jira.requests == []


@pytest.mark.parametrize("params", [{}, {"token": TOKEN}, {"token": ""}],
                         ids=["missing", "any", "empty"])
def test_without_a_configured_token_the_feed_is_404(jira, serve, params):
    feed = serve(token=None)
    jira.reset_recordings()
    response = feed.get(**params)
    assert response.status_code == 404
    assert jira.requests == []


def test_more_changes_than_one_page_are_all_present(jira, feed):
    count = PAGE_SIZE + 10
    keys = [create(jira, f"Change number {n}", "Approved", span=window(n % 7))
            for n in range(count)]
    jira.reset_recordings()

    events = events_of(feed.get(token=TOKEN))

    assert sorted(events) == sorted(f"{key}@changeguard.127.0.0.1" for key in keys)
    pages = searches(jira)
    assert [page.json.get("maxResults") for page in pages] == [PAGE_SIZE, PAGE_SIZE]
    assert "nextPageToken" not in pages[0].json and pages[1].json["nextPageToken"]


def test_second_request_is_served_from_the_cache(jira, feed):
    create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    first = feed.get(token=TOKEN)
    assert (len(searches(jira)), len(searches(jira, "Change Freeze"))) == (1, 1)
    create(jira, "Created after the first poll", "Approved", span=window(1))
    jira.reset_recordings()

    second = feed.get(token=TOKEN)

    assert second.status_code == 200
    assert second.content == first.content
    assert jira.requests == []
    conn = redis.Redis.from_url(feed.settings.redis_url)
    assert 0 < conn.ttl(cache_key(feed.settings)) <= CACHE_SECONDS
    conn.close()


def test_jira_down_is_503_with_retry_after_and_the_token_stays_out_of_the_log(jira, feed,
                                                                            caplog):
    create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    jira.inject_fault("*", "^/rest/api/3/", 503, times=100)

    with caplog.at_level(logging.DEBUG):
        response = feed.get(token=TOKEN)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.text == UNAVAILABLE
    # The test server's own request log (sandbox.serving) is not changeguard's: gunicorn's
    # access line is covered in tests/worker/test_cli.py.
    ours = [r for r in caplog.records if r.name.split(".")[0] in {"webhooks", "jobs", "worker"}]
    assert "calendar unavailable" in [r.getMessage() for r in ours]
    assert [r.getMessage() for r in ours if TOKEN in JsonFormatter().format(r)] == []


def test_jira_down_after_the_site_is_known_is_503_and_then_recovers(jira, feed):
    key = create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    assert feed.get(token=TOKEN).status_code == 200
    # Expire the cache, as five minutes would, so the next poll has to ask Jira.
    conn = redis.Redis.from_url(feed.settings.redis_url)
    conn.delete(cache_key(feed.settings))
    conn.close()
    jira.inject_fault("POST", f"^{SEARCH}$", 503, times=2)

    assert feed.get(token=TOKEN).status_code == 503
    assert list(events_of(feed.get(token=TOKEN))) == [f"{key}@changeguard.127.0.0.1"]


def test_a_warm_cache_answers_while_jira_is_down(jira, serve):
    key = create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    assert serve().get(token=TOKEN).status_code == 200
    jira.inject_fault("*", "^/rest/api/3/", 503, times=100)
    jira.reset_recordings()

    # Another web process: it has not met Jira yet, and must not need to.
    response = serve().get(token=TOKEN)

    assert response.status_code == 200
    assert list(events_of(response)) == [f"{key}@changeguard.127.0.0.1"]
    assert jira.requests == []
