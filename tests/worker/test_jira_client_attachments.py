"""The Jira client attaches, lists, reads and deletes files over real HTTP to the sandbox."""

from __future__ import annotations

import pytest

from sandbox.jira_routing import Upload
from worker.jira_client import JiraClient, JiraNotFound, JiraRejected, JiraUnavailable

from ..builders import Waits, attachment_json

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="2"/></svg>'
UPLOAD_PATH = "/rest/api/3/issue/{key}/attachments"


def client_for(jira, waits=None, **options):
    return JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token,
                      sleep=waits if waits is not None else Waits(), **options)


# (filename, bytes, MIME type sent, mimeType Jira keeps: the type without its parameters)
UPLOADS = [
    ("change-health.svg", SVG, "image/svg+xml", "image/svg+xml"),
    ("report.csv", b"week,deployments\r\n2026-W49,12\r\n", "text/csv", "text/csv"),
    ("\u00e9t\u00e9 2026.txt", "d\u00e9ploiements".encode(), "text/plain; charset=utf-8",
     "text/plain"),
]


@pytest.mark.parametrize(("filename", "content", "mime_type", "kept_type"), UPLOADS,
                         ids=["svg", "csv-crlf", "non-ascii-name-and-charset"])
def test_add_attachment_sends_one_form_file_and_returns_the_attachment(jira, filename, content,
                                                                       mime_type, kept_type):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    jira.reset_recordings()
    client = client_for(jira)
    attachment = client.add_attachment(key, filename, content, mime_type)
    assert attachment == attachment_json(jira, 10000, filename, content, kept_type)
    [sent] = jira.requests
    assert (sent.method, sent.path, sent.status, sent.uploads) == (
        "POST", UPLOAD_PATH.format(key=key), 200,
        (Upload("file", filename, kept_type, content),))
    assert client.calls == 1


def test_attachments_are_listed_read_and_deleted(jira):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    client = client_for(jira)
    assert client.get_attachments(key) == []
    first = client.add_attachment(key, "week-48.svg", b"<svg>48</svg>", "image/svg+xml")
    second = client.add_attachment(key, "week-49.svg", SVG, "image/svg+xml")
    assert client.get_attachments(key) == [first, second]
    assert [client.get_attachment_content(a["id"]) for a in (first, second)] == [
        b"<svg>48</svg>", SVG]
    jira.reset_recordings()
    client.delete_attachment(first["id"])
    assert client.get_attachments(key) == [second]
    assert [(r.method, r.path, r.query, r.status) for r in jira.requests] == [
        ("DELETE", "/rest/api/3/attachment/10000", {}, 204),
        ("GET", f"/rest/api/3/issue/{key}", {"fields": "attachment"}, 200),
    ]
    assert [a["bytes"] for a in jira.attachments(key)] == [SVG]


def test_content_is_read_in_one_call_without_the_media_redirect(jira):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    client = client_for(jira)
    client.add_attachment(key, "chart.svg", SVG, "image/svg+xml")
    jira.reset_recordings()
    assert client.get_attachment_content("10000") == SVG
    assert [(r.path, r.query, r.status) for r in jira.requests] == [
        ("/rest/api/3/attachment/content/10000", {"redirect": "false"}, 200)]


# (id, call, error, status, message)
FAILURES = [
    ("upload-to-unknown-issue",
     lambda c: c.add_attachment("CHG-999", "a.txt", b"a", "text/plain"), JiraNotFound, 404,
     "POST rest/api/3/issue/CHG-999/attachments -> 404: "
     "Issue does not exist or you do not have permission to see it."),
    ("list-of-unknown-issue", lambda c: c.get_attachments("CHG-999"), JiraNotFound, 404,
     "GET rest/api/3/issue/CHG-999 -> 404: "
     "Issue does not exist or you do not have permission to see it."),
    ("delete-unknown-attachment", lambda c: c.delete_attachment("424242"), JiraNotFound, 404,
     "DELETE rest/api/3/attachment/424242 -> 404: "
     "The attachment with id '424242' does not exist."),
    ("content-of-unknown-attachment", lambda c: c.get_attachment_content("424242"),
     JiraNotFound, 404, "GET rest/api/3/attachment/content/424242 -> 404: "
     "The attachment with id '424242' does not exist."),
    ("form-post-without-xsrf-header",
     lambda c: c.request("POST", "rest/api/3/issue/CHG-1/attachments",
                         headers={"Accept": "application/json"},
                         files={"file": ("a.txt", b"a", "text/plain")}),
     JiraRejected, 403, "POST rest/api/3/issue/CHG-1/attachments -> 403: XSRF check failed"),
]


@pytest.mark.parametrize(("call", "error", "status", "message"),
                         [row[1:] for row in FAILURES], ids=[row[0] for row in FAILURES])
def test_attachment_failures_raise_the_mapped_error(jira, call, error, status, message):
    with pytest.raises(error) as raised:
        call(client_for(jira))
    assert (raised.value.status, str(raised.value)) == (status, message)
    assert jira.attachments("CHG-1") == []


def test_form_without_a_file_field_breaks_the_spec_and_is_refused(jira):
    client = client_for(jira)
    with pytest.raises(JiraRejected) as raised:
        client.request("POST", "rest/api/3/issue/CHG-1/attachments",
                       headers={"Accept": "application/json", "X-Atlassian-Token": "no-check"},
                       files={"upload": ("a.txt", b"a", "text/plain")})
    assert raised.value.status == 400
    assert str(raised.value).endswith("'file' is a required property")
    assert [v.split(":")[0] for v in jira.spec_violations] == [
        "request POST /rest/api/3/issue/CHG-1/attachments"]
    jira.reset_recordings()


# (id, injected status, Retry-After, waits, statuses Jira saw, files Jira kept, raised)
RETRIES = [
    ("429-is-sent-again-with-the-same-bytes", 429, 2, [2.0], [429, 200], 1, None),
    ("503-is-sent-again", 503, 1, [1.0], [503, 200], 1, None),
    ("500-on-a-post-is-not-repeated", 500, None, [], [500], 0, JiraUnavailable),
]


@pytest.mark.parametrize(("status", "retry_after", "waits", "seen", "kept", "raised"),
                         [row[1:] for row in RETRIES], ids=[row[0] for row in RETRIES])
def test_upload_retry_policy(jira, status, retry_after, waits, seen, kept, raised):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    path = UPLOAD_PATH.format(key=key)
    jira.inject_fault("POST", f"^{path}$", status, retry_after=retry_after)
    jira.reset_recordings()
    slept = Waits()
    client = client_for(jira, slept)
    if raised is None:
        assert client.add_attachment(key, "chart.svg", SVG, "image/svg+xml")["size"] == len(SVG)
    else:
        with pytest.raises(raised):
            client.add_attachment(key, "chart.svg", SVG, "image/svg+xml")
    assert slept == waits
    assert [r.status for r in jira.requests] == seen
    assert {r.uploads for r in jira.requests} == {
        (Upload("file", "chart.svg", "image/svg+xml", SVG),)}
    assert [a["bytes"] for a in jira.attachments(key)] == [SVG] * kept
