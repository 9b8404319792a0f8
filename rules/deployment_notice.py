"""Announce deployments in Slack: a message as a change starts, a threaded reply when done."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from .change_request import ChangeRequest
from .deployment import DeploymentEntry
from .policy import FieldRole, Policy, StatusRole
from .site_map import SiteMap

PROPERTY_KEY = "changeguard-slack"

# Every text of the two messages; tests compare against these.
STARTING_HEADER = ":rocket: Deploying {key} — {summary}"
FINISHED_HEADER = ":white_check_mark: {key} implemented by {who}"
UNTHREADED_NOTE = ("No “Deploying” message was found for this change, "
                   "so this one is not in a thread.")
OUTCOME_LINE = "Outcome: {outcome}"
OUTCOME_NOT_RECORDED = "not recorded yet"
OUTCOME_LABELS = {"Successful": ":white_check_mark: Successful", "Failed": ":x: Failed",
                  "Rolled Back": ":leftwards_arrow_with_hook: Rolled Back"}
OTHER_OUTCOME = ":grey_question: {outcome}"
NOT_SET = "not set"
UNKNOWN_PERSON = "someone"
HEADER_LIMIT = 150  # Slack's limit for a header block's text
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class NoticeAction(str, enum.Enum):
    """What to do about one status move into Implementing or Implemented."""

    POST_STARTING = "post_starting"
    POST_FINISHED = "post_finished"
    NOT_ANNOUNCED = "not_announced"  # a move into a status that has no notice
    SUPERSEDED = "superseded"  # the issue is no longer in that status: the move was undone
    ALREADY_POSTED = "already_posted"
    STALE = "stale"  # a later move has been announced already


class OutcomeAction(str, enum.Enum):
    """What to do about the finished message when the Outcome field may have changed."""

    UPDATE = "update"
    NOT_FINISHED = "not_finished"
    NO_MESSAGE = "no_message"
    NO_OUTCOME = "no_outcome"
    ALREADY_SHOWN = "already_shown"


@dataclasses.dataclass(frozen=True)
class PostedMessage:
    """A Slack message changeguard posted about a change: where, and which move it announced."""

    channel: str
    ts: str
    changelog: int
    by: str | None = None
    threaded: bool = True
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the message as stored in the issue property."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class NoticeRecord:
    """The messages of the issue's latest deployment (issue property ``changeguard-slack``)."""

    starting: PostedMessage | None = None
    finished: PostedMessage | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as stored: the starting message's fields, ``finished`` nested."""
        value: dict[str, Any] = {}
        if self.starting is not None:
            value.update(channel=self.starting.channel, ts=self.starting.ts,
                         changelog=self.starting.changelog)
        if self.finished is not None:
            value["finished"] = self.finished.to_json()
        return value


@dataclasses.dataclass(frozen=True)
class SlackText:
    """A Slack message: the plain-text fallback and its Block Kit blocks."""

    text: str
    blocks: tuple[Mapping[str, Any], ...]


def parse_notice_record(value: Any) -> NoticeRecord:
    """Return the record stored in the issue property; an absent or unreadable one is empty."""
    if not isinstance(value, Mapping):
        return NoticeRecord()
    finished = value.get("finished")
    return NoticeRecord(starting=_posted(value),
                        finished=_posted(finished) if isinstance(finished, Mapping) else None)


def decide_notice(change: ChangeRequest, site: SiteMap, to_status_id: str, changelog_id: int,
                  record: NoticeRecord) -> NoticeAction:
    """Decide whether the move ``changelog_id`` into ``to_status_id`` is announced now."""
    role = site.status_role(to_status_id)
    if role not in (StatusRole.IMPLEMENTING, StatusRole.IMPLEMENTED):
        return NoticeAction.NOT_ANNOUNCED
    if change.status_id != to_status_id:
        return NoticeAction.SUPERSEDED
    announced = [m.changelog for m in (record.starting, record.finished) if m is not None]
    if changelog_id in announced:
        return NoticeAction.ALREADY_POSTED
    if any(later > changelog_id for later in announced):
        return NoticeAction.STALE
    if role is StatusRole.IMPLEMENTING:
        return NoticeAction.POST_STARTING
    return NoticeAction.POST_FINISHED


def decide_outcome_update(change: ChangeRequest, site: SiteMap,
                          record: NoticeRecord) -> OutcomeAction:
    """Decide whether the finished message must be edited to show the change's Outcome."""
    if site.status_role(change.status_id) not in (StatusRole.IMPLEMENTED, StatusRole.CLOSED):
        return OutcomeAction.NOT_FINISHED
    if record.finished is None:
        return OutcomeAction.NO_MESSAGE
    outcome = change.option(FieldRole.OUTCOME)
    if outcome is None:
        return OutcomeAction.NO_OUTCOME
    if outcome == record.finished.outcome:
        return OutcomeAction.ALREADY_SHOWN
    return OutcomeAction.UPDATE


def mover_name(issue: Mapping[str, Any], changelog_id: int) -> str | None:
    """Return the display name of who made changelog entry ``changelog_id`` (expand=changelog)."""
    name = _author(issue, changelog_id).get("displayName")
    return name if isinstance(name, str) and name.strip() else None


def mover_account_id(issue: Mapping[str, Any], changelog_id: int) -> str | None:
    """Return the account id of who made changelog entry ``changelog_id`` (expand=changelog)."""
    account = _author(issue, changelog_id).get("accountId")
    return account if isinstance(account, str) else None


def _author(issue: Mapping[str, Any], changelog_id: int) -> Mapping[str, Any]:
    changelog = issue.get("changelog")
    histories = changelog.get("histories") if isinstance(changelog, Mapping) else None
    for history in histories if isinstance(histories, list) else ():
        if isinstance(history, Mapping) and str(history.get("id")) == str(changelog_id):
            author = history.get("author")
            return author if isinstance(author, Mapping) else {}
    return {}


def format_window(start: datetime | None, end: datetime | None, tz: tzinfo, tz_name: str) -> str:
    """Return the window in the CAB's time zone, e.g. "Tue 1 Dec 10:00–11:00 Europe/London"."""
    if start is None or end is None:
        return NOT_SET
    start, end = start.astimezone(tz), end.astimezone(tz)
    if start.date() == end.date():
        return f"{_day(start)} {start:%H:%M}–{end:%H:%M} {tz_name}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M} {tz_name}"


def starting_message(change: ChangeRequest, policy: Policy, url: str, implementer: str | None,
                     tz: tzinfo, deployment: DeploymentEntry | None = None) -> SlackText:
    """Return the message posted when the change enters Implementing (with the pipeline run
    that started it, when the deployment gate let one through)."""
    who = implementer or UNKNOWN_PERSON
    category = change.option(FieldRole.CATEGORY) or NOT_SET
    risk = change.option(FieldRole.RISK_LEVEL) or NOT_SET
    window = format_window(change.datetime_of(FieldRole.PLANNED_START),
                           change.datetime_of(FieldRole.PLANNED_END), tz, policy.cab.timezone)
    header = STARTING_HEADER.format(key=change.key, summary=change.summary)
    details = [(policy.field_name(FieldRole.CATEGORY), category),
               (policy.field_name(FieldRole.RISK_LEVEL), risk),
               ("Implementer", who), ("Window", window)]
    if deployment is not None:
        details[2] = ("Implementer", deployment.triggered_by or who)
        details += [("Environment", deployment.environment),
                    ("Commit", deployment.sha[:12] or NOT_SET),
                    ("Run", deployment.run_url or NOT_SET)]
    text = "\n".join([header, *(f"{name}: {value}" for name, value in details), url])
    blocks = (
        {"type": "header", "text": {"type": "plain_text", "text": _shorten(header), "emoji": True}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": f"<{url}|{change.key}> {_escape(change.summary)}"}},
        {"type": "section",
         "fields": [{"type": "mrkdwn", "text": f"*{_escape(name)}*\n{_escape(value)}"}
                    for name, value in details]},
    )
    return SlackText(_escape(text), blocks)


def finished_message(change: ChangeRequest, url: str, implementer: str | None,
                     outcome: str | None, threaded: bool) -> SlackText:
    """Return the reply posted when the change enters Implemented, showing the outcome if known."""
    who = implementer or UNKNOWN_PERSON
    header = FINISHED_HEADER.format(key=change.key, who=who)
    outcome_line = OUTCOME_LINE.format(outcome=outcome_label(outcome))
    linked = FINISHED_HEADER.format(key=f"<{url}|{change.key}>", who=_escape(who))
    lines = [header, outcome_line]
    notes = [_escape(outcome_line)]
    if not threaded:
        # Outside the thread, the reader also needs to know which change this is.
        header = f"{header} — {change.summary}"
        linked = f"{linked} — {_escape(change.summary)}"
        lines = [header, outcome_line, UNTHREADED_NOTE]
        notes.append(_escape(UNTHREADED_NOTE))
    text = "\n".join([*lines, url])
    blocks = (
        {"type": "section", "text": {"type": "mrkdwn", "text": linked}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": note} for note in notes]},
    )
    return SlackText(_escape(text), blocks)


def outcome_label(outcome: str | None) -> str:
    """Return how an Outcome value reads in Slack (with its emoji), or that it is not recorded."""
    if outcome is None:
        return OUTCOME_NOT_RECORDED
    return OUTCOME_LABELS.get(outcome) or OTHER_OUTCOME.format(outcome=outcome)


def _posted(value: Mapping[str, Any]) -> PostedMessage | None:
    channel, ts, changelog = value.get("channel"), value.get("ts"), value.get("changelog")
    if not (isinstance(channel, str) and isinstance(ts, str) and isinstance(changelog, int)):
        return None
    by, outcome = value.get("by"), value.get("outcome")
    return PostedMessage(channel, ts, changelog, by if isinstance(by, str) else None,
                         value.get("threaded") is not False,
                         outcome if isinstance(outcome, str) else None)


def _day(moment: datetime) -> str:
    return f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]}"


def _shorten(text: str) -> str:
    return text if len(text) <= HEADER_LIMIT else text[:HEADER_LIMIT - 1] + "…"


def _escape(text: str) -> str:
    # Slack reads &, < and > in mrkdwn and in the fallback text as markup.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
