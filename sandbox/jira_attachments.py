"""Issue attachments in the sandbox Jira: XSRF-checked upload, metadata, content and delete."""

from __future__ import annotations

import logging
from typing import Any

from sandbox.jira_render import attachment_json
from sandbox.jira_routing import Answer, Call, RawAnswer, route
from sandbox.jira_state import Attachment, Issue, JiraError, JiraSite, SiteEvent

logger = logging.getLogger(__name__)

UPLOAD_FIELD = "file"  # the multipart field Jira reads files from; it ignores any other
# Jira refuses a form POST without this header (its XSRF protection), with a plain-text 403.
XSRF_HEADER = "X-Atlassian-Token"
XSRF_VALUES = frozenset({"no-check", "nocheck"})  # "nocheck" is the older spelling Jira takes
XSRF_FAILED = b"XSRF check failed"
NO_FILES = "Send the files as multipart/form-data, each in a field named 'file'."
MEDIA_PATH = "/media/file/{}/binary"


def _history_item(attachment: Attachment, *, removed: bool) -> dict[str, Any]:
    """Return the changelog item Jira logs when a file is attached to or removed from an issue."""
    ident, name = str(attachment.id), attachment.filename
    return {"field": "Attachment", "fieldtype": "jira", "fieldId": "attachment",
            "from": ident if removed else None, "fromString": name if removed else None,
            "to": None if removed else ident, "toString": None if removed else name}


def _log_and_announce(site: JiraSite, issue: Issue, actor: str,
                      items: list[dict[str, Any]]) -> None:
    """Record the change in the issue's changelog and announce it as an issue update."""
    history = site.add_history(issue, actor, items)
    site.announce(SiteEvent("jira:issue_updated", issue.key, actor, history.created,
                            "issue_updated", history.id))


@route("/rest/api/3/issue/<key>/attachments", "POST")
def add_attachments(call: Call, key: str) -> Answer:
    if (call.header(XSRF_HEADER) or "").lower() not in XSRF_VALUES:
        return 403, RawAnswer(XSRF_FAILED, "text/plain;charset=UTF-8")
    files = [upload for upload in call.uploads if upload.field == UPLOAD_FIELD]
    with call.site.lock:
        issue = call.site.issue(key)
        if not files:
            raise JiraError(400, [NO_FILES])
        added = [call.site.add_attachment(issue, call.user.account_id, upload.filename,
                                          upload.mime_type, upload.content)
                 for upload in files]
        _log_and_announce(call.site, issue, call.user.account_id,
                          [_history_item(a, removed=False) for a in added])
        return 200, [attachment_json(call.site, a, call.base) for a in added]


@route("/rest/api/3/attachment/<attachment_id>", "GET")
def get_attachment(call: Call, attachment_id: str) -> Answer:
    with call.site.lock:
        _, attachment = call.site.attachment(attachment_id)
        return 200, attachment_json(call.site, attachment, call.base, metadata=True)


@route("/rest/api/3/attachment/content/<attachment_id>", "GET")
def get_attachment_content(call: Call, attachment_id: str) -> Answer:
    with call.site.lock:
        _, attachment = call.site.attachment(attachment_id)
    if (call.arg("redirect") or "true").lower() == "false":
        return 200, RawAnswer(attachment.content, attachment.mime_type)
    # Jira sends the download to its media service; the sandbox serves that URL itself.
    location = call.base + MEDIA_PATH.format(attachment.media_id)
    return 303, RawAnswer(b"", headers={"Location": location})


@route(MEDIA_PATH.format("<media_id>"), "GET")
def media_binary(call: Call, media_id: str) -> Answer:
    with call.site.lock:
        for issue in call.site.issues.values():
            for attachment in issue.attachments:
                if attachment.media_id == media_id:
                    return 200, RawAnswer(attachment.content, attachment.mime_type)
    raise JiraError(404, ["No such file on the media service."])


@route("/rest/api/3/attachment/<attachment_id>", "DELETE")
def delete_attachment(call: Call, attachment_id: str) -> Answer:
    with call.site.lock:
        issue, attachment = call.site.attachment(attachment_id)
        issue.attachments.remove(attachment)
        _log_and_announce(call.site, issue, call.user.account_id,
                          [_history_item(attachment, removed=True)])
    return 204, None
