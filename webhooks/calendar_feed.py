"""Serve the change calendar at GET /calendar.ics?token=…, to holders of the secret link only."""

from __future__ import annotations

import dataclasses
import hmac
import logging
import threading

from flask import Blueprint, Flask, Response, current_app, request

from jobs.calendar import calendar_feed
from rules.policy import Policy
from rules.site_map import SiteMap
from worker.jira_client import JiraClient, JiraError
from worker.site_resolver import SiteMismatch, resolve_site

from .views import Services, services

logger = logging.getLogger(__name__)

bp = Blueprint("calendar_feed", __name__)

EXTENSION = "changeguard-calendar"
RETRY_AFTER_SECONDS = 60
# A calendar client waits on us: try Jira twice, briefly, rather than the worker's long budget.
JIRA_TIMEOUT = 10.0
JIRA_ATTEMPTS = 2
JIRA_MAX_WAIT = 5.0
NOT_FOUND = "Not Found"
UNAVAILABLE = "The change calendar is unavailable right now; try again later."
_lock = threading.Lock()


@dataclasses.dataclass
class CalendarSource:
    """The Jira client the feed searches with and the site map resolved once through it."""

    jira: JiraClient
    policy: Policy
    site: SiteMap | None = None

    def site_map(self) -> SiteMap:
        """Return the site map, resolving it on first use (not at start-up: the webhook
        endpoint must come up without Jira)."""
        if self.site is None:
            self.site = resolve_site(self.jira, self.policy)
        return self.site


@bp.get("/calendar.ics")
def change_calendar() -> Response:
    """Answer the feed to the right token; 404 otherwise, as if there were no feed."""
    svc = services()
    expected = svc.settings.calendar_token
    given = request.args.get("token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return Response(NOT_FOUND, 404, mimetype="text/plain")
    try:
        source = _source(current_app, svc)
        body = calendar_feed(svc.settings, svc.policy, svc.redis, jira=source.jira,
                             site=source.site_map)
    except (JiraError, SiteMismatch):
        logger.error("calendar unavailable", exc_info=True)
        response = Response(UNAVAILABLE, 503, mimetype="text/plain")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    response = Response(body, 200, content_type="text/calendar; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _source(app: Flask, svc: Services) -> CalendarSource:
    with _lock:
        source = app.extensions.get(EXTENSION)
        if source is None:
            settings = svc.settings
            source = CalendarSource(JiraClient(
                settings.jira_base_url, settings.jira_email, settings.jira_api_token,
                timeout=JIRA_TIMEOUT, max_attempts=JIRA_ATTEMPTS, max_wait=JIRA_MAX_WAIT),
                svc.policy)
            app.extensions[EXTENSION] = source
    return source
