"""The sandbox Jira site in memory: people, fields, workflow, issues and their history."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

logger = logging.getLogger(__name__)

FIRST_ISSUE_ID = 20001
FIRST_HISTORY_ID = 30001
FIRST_COMMENT_ID = 40001
FIRST_REMOTE_LINK_ID = 50001
FIRST_ATTACHMENT_ID = 10000
FIRST_ISSUE_LINK_ID = 60001
ATTACHMENT_NOT_FOUND = "The attachment with id '{}' does not exist."


def utc_now() -> datetime:
    """Return the current time, aware, in UTC, at Jira's millisecond precision."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_time(moment: datetime) -> str:
    """Format a moment as Jira does: 2026-12-01T10:00:00.000+0000."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class JiraError(Exception):
    """A Jira-style error answer: status, errorMessages and field errors."""

    def __init__(
        self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body Jira sends with this error."""
        return {"errorMessages": self.messages, "errors": self.errors}


@dataclass(frozen=True)
class SandboxUser:
    """A person (or the bot) on the sandbox site, with the credentials to act as them."""

    name: str
    account_id: str
    email: str
    api_token: str
    display_name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """A Jira group."""

    name: str
    group_id: str


@dataclass(frozen=True)
class Status:
    """A workflow status; `category` is the statusCategory key (new, indeterminate, done)."""

    id: str
    name: str
    category: str


@dataclass(frozen=True)
class Transition:
    """A workflow transition; `from_ids` None means global (from any other status).

    ``screen`` holds the ids of the fields its screen shows: the only fields the transition
    may set (none: the transition has no screen).
    """

    id: str
    name: str
    to_id: str
    from_ids: frozenset[str] | None
    screen: tuple[str, ...] = ()

    def available_from(self, status_id: str) -> bool:
        """Tell whether the transition can be taken from this status."""
        if self.from_ids is None:
            return status_id != self.to_id
        return status_id in self.from_ids


@dataclass(frozen=True)
class Option:
    """An allowed value of a select field."""

    id: str
    value: str


@dataclass(frozen=True)
class FieldDef:
    """A field; `kind` is option, textarea, datetime, user, or the system field's own id."""

    id: str
    name: str
    kind: str
    custom: bool = False
    options: tuple[Option, ...] = ()

    @property
    def custom_id(self) -> int | None:
        """Return the number in customfield_NNNNN, for custom fields."""
        return int(self.id.rsplit("_", 1)[1]) if self.custom else None


@dataclass(frozen=True)
class IssueType:
    """An issue type."""

    id: str
    name: str
    description: str
    hierarchy_level: int = 0


@dataclass(frozen=True)
class Project:
    """The sandbox's one project."""

    id: str
    key: str
    name: str


@dataclass
class History:
    """One changelog entry: who changed what, when."""

    id: int
    author: str
    created: datetime
    items: list[dict[str, Any]]


@dataclass
class Comment:
    """A comment; the body is an ADF document."""

    id: str
    author: str
    body: dict[str, Any]
    created: datetime
    updated: datetime
    update_author: str


@dataclass
class RemoteLink:
    """A remote issue link: a titled URL on another system, found again by its global id."""

    id: int
    global_id: str | None
    object: dict[str, Any]
    application: dict[str, Any] | None = None
    relationship: str | None = None


@dataclass(frozen=True)
class LinkType:
    """An issue link type: its name, and the words each side of a link shows for the other.

    A link goes from a source issue to a destination: the source shows the destination with
    ``outward`` ("causes"), the destination shows the source with ``inward`` ("is caused by").
    """

    id: str
    name: str
    inward: str
    outward: str


@dataclass(frozen=True)
class IssueLink:
    """A link of a type from a source issue to a destination issue (both by issue id)."""

    id: int
    type_id: str
    source_id: str
    destination_id: str


@dataclass(frozen=True)
class Attachment:
    """A file attached to an issue; ``media_id`` names its bytes on the media service."""

    id: int
    filename: str
    mime_type: str
    content: bytes
    author: str
    created: datetime
    media_id: str

    @property
    def size(self) -> int:
        """Return the file's size in bytes."""
        return len(self.content)


@dataclass
class Issue:
    """An issue; `values` maps field id to the sandbox's internal value."""

    id: str
    key: str
    issue_type: str
    status: str
    reporter: str
    created: datetime
    updated: datetime
    status_changed: datetime
    values: dict[str, Any] = field(default_factory=dict)
    histories: list[History] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    remote_links: list[RemoteLink] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class SiteEvent:
    """A change that Jira would announce by webhook."""

    webhook_event: str
    issue_key: str
    actor: str
    timestamp: datetime
    issue_event_type_name: str | None = None
    history_id: int | None = None
    comment_id: str | None = None


class JiraSite:
    """All state of the sandbox site, guarded by one lock."""

    def __init__(
        self,
        *,
        project: Project,
        issue_types: list[IssueType],
        statuses: list[Status],
        initial_status: str,
        fields: list[FieldDef],
        transitions: list[Transition],
        groups: list[Group],
        users: list[SandboxUser],
        link_types: tuple[LinkType, ...] = (),
    ) -> None:
        self.lock = threading.RLock()
        self.project = project
        self.issue_types = {t.id: t for t in issue_types}
        self.statuses = {s.id: s for s in statuses}
        self.initial_status = initial_status
        self.fields = {f.id: f for f in fields}
        self.transitions = transitions
        self.groups = {g.name: g for g in groups}
        self.users = {u.name: u for u in users}
        self.issues: dict[str, Issue] = {}
        self.link_types = {t.id: t for t in link_types}
        self.issue_links: list[IssueLink] = []  # oldest first
        self.listeners: list[Callable[[SiteEvent], None]] = []
        # isLast is optional in every paged answer (SearchAndReconcileResults, the PageBeans):
        # False leaves it out everywhere, to test clients that page without it.
        self.sends_is_last = True
        self._next_issue = FIRST_ISSUE_ID
        self._next_key = 1
        self._next_history = FIRST_HISTORY_ID
        self._next_comment = FIRST_COMMENT_ID
        self._next_remote_link = FIRST_REMOTE_LINK_ID
        self._next_attachment = FIRST_ATTACHMENT_ID
        self._next_issue_link = FIRST_ISSUE_LINK_ID

    # Look-ups

    def user_by_account(self, account_id: str) -> SandboxUser | None:
        """Return the user with this accountId, if any."""
        return next((u for u in self.users.values() if u.account_id == account_id), None)

    def users_matching(self, query: str) -> list[SandboxUser]:
        """Return the users whose email, display name or a word of it starts with ``query``.

        Jira matches any case, and a prefix of the attribute: ``bob`` finds Bob Baker and
        bob@example.com, ``baker`` finds Bob Baker too.
        """
        wanted = query.strip().lower()
        return [u for u in self.users.values()
                if wanted and any(part.startswith(wanted) for part in (
                    u.email.lower(), u.display_name.lower(), *u.display_name.lower().split()))]

    def user_by_credentials(self, email: str, token: str) -> SandboxUser | None:
        """Return the user these basic-auth credentials belong to, if any."""
        return next(
            (u for u in self.users.values() if u.email == email and u.api_token == token), None
        )

    def field_by_name(self, name: str) -> FieldDef:
        """Return the field with this display name, or raise KeyError."""
        for fdef in self.fields.values():
            if fdef.name == name:
                return fdef
        raise KeyError(f"the sandbox has no field named {name!r}")

    def status_by_name(self, name: str) -> Status:
        """Return the status with this name, or raise KeyError."""
        for status in self.statuses.values():
            if status.name == name:
                return status
        raise KeyError(f"the sandbox has no status named {name!r}")

    def issue(self, key_or_id: str) -> Issue:
        """Return an issue by key or id, or raise Jira's 404."""
        found = self.issues.get(key_or_id.upper()) or next(
            (i for i in self.issues.values() if i.id == key_or_id), None
        )
        if found is None:
            raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        return found

    def issue_type_by_name(self, name: str) -> IssueType:
        """Return the issue type with this name, or raise KeyError."""
        for itype in self.issue_types.values():
            if itype.name == name:
                return itype
        raise KeyError(f"the sandbox has no issue type named {name!r}")

    def attachment(self, attachment_id: str) -> tuple[Issue, Attachment]:
        """Return an attachment and the issue it is on, or raise Jira's 404."""
        for issue in self.issues.values():
            for attachment in issue.attachments:
                if str(attachment.id) == attachment_id:
                    return issue, attachment
        raise JiraError(404, [ATTACHMENT_NOT_FOUND.format(attachment_id)])

    def link_type(self, ref: dict[str, Any]) -> LinkType:
        """Return the link type a request names by ``id`` (first) or ``name``, or Jira's 404."""
        if ref.get("id") is not None:
            found = self.link_types.get(str(ref["id"]))
            wanted = f"id '{ref['id']}'"
        else:
            found = next((t for t in self.link_types.values() if t.name == ref.get("name")), None)
            wanted = f"name '{ref.get('name')}'"
        if found is None:
            raise JiraError(404, [f"No issue link type with {wanted} found."])
        return found

    def links_of(self, issue: Issue) -> list[tuple[IssueLink, str, Issue]]:
        """Return the issue's links, oldest first, each with the side the other issue is on
        (``outwardIssue`` when this issue is the source) and that other issue."""
        if not self.issue_links:
            return []
        by_id = {i.id: i for i in self.issues.values()}
        found = []
        for link in self.issue_links:
            for mine, other, side in ((link.source_id, link.destination_id, "outwardIssue"),
                                      (link.destination_id, link.source_id, "inwardIssue")):
                if mine == issue.id and other in by_id:
                    found.append((link, side, by_id[other]))
        return found

    def available_transitions(self, issue: Issue) -> list[Transition]:
        """Return the transitions available from the issue's current status."""
        return [t for t in self.transitions if t.available_from(issue.status)]

    # Mutations (callers hold the lock and announce the returned event)

    def add_issue(self, issue_type: str, reporter: str, values: dict[str, Any]) -> Issue:
        """Create an issue in the initial status."""
        now = utc_now()
        issue = Issue(
            id=str(self._next_issue),
            key=f"{self.project.key}-{self._next_key}",
            issue_type=issue_type,
            status=self.initial_status,
            reporter=reporter,
            created=now,
            updated=now,
            status_changed=now,
            values=dict(values),
        )
        self._next_issue += 1
        self._next_key += 1
        self.issues[issue.key] = issue
        return issue

    def add_history(self, issue: Issue, author: str, items: list[dict[str, Any]]) -> History:
        """Append a changelog entry (ids increase site-wide) and bump `updated`."""
        history = History(self._next_history, author, utc_now(), items)
        self._next_history += 1
        issue.histories.append(history)
        issue.updated = history.created
        return history

    def add_comment(self, issue: Issue, author: str, body: dict[str, Any]) -> Comment:
        """Append a comment and bump `updated`."""
        now = utc_now()
        comment = Comment(str(self._next_comment), author, body, now, now, author)
        self._next_comment += 1
        issue.comments.append(comment)
        issue.updated = now
        return comment

    def add_remote_link(self, issue: Issue, global_id: str | None, object_: dict[str, Any],
                        application: dict[str, Any] | None,
                        relationship: str | None) -> RemoteLink:
        """Append a remote link (ids increase site-wide)."""
        link = RemoteLink(self._next_remote_link, global_id, object_, application, relationship)
        self._next_remote_link += 1
        issue.remote_links.append(link)
        return link

    def add_attachment(self, issue: Issue, author: str, filename: str, mime_type: str,
                       content: bytes) -> Attachment:
        """Attach a file to the issue (ids increase site-wide)."""
        number = self._next_attachment
        self._next_attachment += 1
        media_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-jira/media/{number}"))
        attachment = Attachment(number, filename, mime_type, content, author, utc_now(),
                                media_id)
        issue.attachments.append(attachment)
        return attachment

    def add_issue_link(self, link_type: LinkType, source: Issue, destination: Issue) -> IssueLink:
        """Link two issues (ids increase site-wide); the same link made again is left as it is."""
        for link in self.issue_links:
            if (link.type_id, link.source_id, link.destination_id) == (
                    link_type.id, source.id, destination.id):
                return link
        link = IssueLink(self._next_issue_link, link_type.id, source.id, destination.id)
        self._next_issue_link += 1
        self.issue_links.append(link)
        return link

    def announce(self, event: SiteEvent) -> None:
        """Tell listeners (the webhook sender) about a committed change, in commit order."""
        for listener in self.listeners:
            listener(event)
