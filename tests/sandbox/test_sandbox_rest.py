"""REST v3 round trips against the sandbox over real HTTP."""

from __future__ import annotations

import base64

import pytest
import requests

from sandbox.adf import text_to_adf
from sandbox.jira_server import SandboxRequestError

PLAN = "Deploy with the standard pipeline, then watch the dashboards."
ROLLBACK = "Redeploy the previous release tag from the pipeline."


def _create(jira, **fields):
    defaults = {
        "Change Category": "Normal",
        "Change Type": "Application Code",
        "Deployment Plan": PLAN,
        "Rollback Plan": ROLLBACK,
        "Planned Start": "2026-12-01T10:00:00.000+0000",
        "Planned End": "2026-12-01T11:00:00.000+0000",
    }
    return jira.create_change_request("alice", "Ship the new checkout", {**defaults, **fields})


@pytest.mark.parametrize(
    "auth",
    [None, ("alice@example.com", "wrong-token"), ("nobody@example.com", "x")],
    ids=["missing", "wrong-token", "unknown-email"],
)
def test_bad_credentials_get_401(jira, auth):
    answer = requests.get(f"{jira.base_url}/rest/api/3/myself", auth=auth, timeout=10)
    assert answer.status_code == 401
    assert answer.json() == {
        "errorMessages": [
            "You are not authenticated. Authentication required to perform this operation."
        ],
        "errors": {},
    }
    assert jira.requests[-1].account_id is None


def test_create_then_read_back_in_v3_shape(jira, http):
    key = _create(jira, **{"Incident Commander": "erin", "Description": "Line one\nline two"})
    assert key == "CHG-2"
    issue = http("GET", f"/rest/api/3/issue/{key}").json()
    fields = issue["fields"]
    assert issue["id"] == "20002"
    assert fields["summary"] == "Ship the new checkout"
    assert fields["status"]["name"] == "Draft"
    assert fields["status"]["id"] == "10001"
    assert fields["issuetype"]["name"] == "Change Request"
    assert fields["project"]["key"] == "CHG"
    assert fields["reporter"]["accountId"] == jira.users["alice"].account_id
    assert fields["customfield_10050"]["value"] == "Normal"
    assert fields["customfield_10053"] == text_to_adf(ROLLBACK)
    assert fields["customfield_10057"] == "2026-12-01T10:00:00.000+0000"
    assert fields["customfield_10059"]["accountId"] == jira.users["erin"].account_id
    assert fields["customfield_10055"] is None
    assert fields["description"] == {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "Line one"}, {"type": "hardBreak"},
            {"type": "text", "text": "line two"},
        ]}],
    }
    assert fields["labels"] == []


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"customfield_10050": {"value": "Urgent"}},
         {"customfield_10050": "Option value 'Urgent' is not valid"}),
        ({"customfield_99999": "x"},
         {"customfield_99999": "Field 'customfield_99999' cannot be set. It is not on the "
                               "appropriate screen, or unknown."}),
        ({"customfield_10053": "plain text is not ADF"},
         {"customfield_10053":
          "Operation value must be an Atlassian Document (see the ADF spec)."}),
        ({"customfield_10059": {"accountId": "712020:nobody"}},
         {"customfield_10059": "Specify a valid value for Incident Commander"}),
        ({"summary": ""}, {"summary": "You must specify a summary of the issue."}),
    ],
    ids=["bad-option", "unknown-field", "text-not-adf", "unknown-user", "empty-summary"],
)
def test_create_rejects_bad_fields(http, fields, errors):
    body = {"fields": {"project": {"key": "CHG"}, "issuetype": {"name": "Change Request"},
                       "summary": "A change", **fields}}
    answer = http("POST", "/rest/api/3/issue", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"errorMessages": [], "errors": errors}


def test_edit_records_changelog_oldest_first(jira, http):
    key = _create(jira)
    jira.edit(key, "bob", {"Change Category": "Emergency", "Risk Level": "High"})
    answer = http("PUT", f"/rest/api/3/issue/{key}", json={"update": {"labels": [{"add": "x"}]}})
    assert answer.status_code == 204
    jira.transition(key, "Awaiting Approval", "alice")
    issue = http("GET", f"/rest/api/3/issue/{key}",
                 params={"expand": "changelog", "fields": "status"}).json()
    histories = issue["changelog"]["histories"]
    assert [int(h["id"]) for h in histories] == sorted(int(h["id"]) for h in histories)
    assert [h["author"]["accountId"] for h in histories] == [
        jira.users[n].account_id for n in ("alice", "bob", "changeguard", "alice")
    ]
    assert histories[1]["items"] == [
        {"field": "Change Category", "fieldtype": "custom", "fieldId": "customfield_10050",
         "from": "10201", "fromString": "Normal", "to": "10202", "toString": "Emergency"},
        {"field": "Risk Level", "fieldtype": "custom", "fieldId": "customfield_10055",
         "from": None, "fromString": None, "to": "10209", "toString": "High"},
    ]
    assert histories[2]["items"] == [
        {"field": "labels", "fieldtype": "jira", "fieldId": "labels",
         "from": None, "fromString": None, "to": None, "toString": "x"},
    ]
    assert histories[3]["items"] == [
        {"field": "status", "fieldtype": "jira", "fieldId": "status",
         "from": "10001", "fromString": "Draft", "to": "10002", "toString": "Awaiting Approval"},
    ]
    assert issue["fields"] == {"status": issue["fields"]["status"]}
    assert jira.labels(key) == ["x"]


def test_labels_add_and_remove(jira, http):
    key = _create(jira)
    for update in ({"add": "changeguard-violation"}, {"add": "retro-overdue"},
                   {"remove": "changeguard-violation"}):
        http("PUT", f"/rest/api/3/issue/{key}", json={"update": {"labels": [update]}})
    assert jira.labels(key) == ["retro-overdue"]


def test_transition_not_available_is_400(jira, http):
    key = _create(jira)
    answer = http("POST", f"/rest/api/3/issue/{key}/transitions",
                  json={"transition": {"id": "41"}})
    assert answer.status_code == 400
    assert answer.json() == {"errorMessages": ["Transition id '41' is not valid for this issue."],
                             "errors": {}}
    assert jira.status_of(key) == "Draft"


def test_disallowed_jump_through_the_global_transition(jira):
    key = _create(jira)
    jira.transition(key, "Implementing", "alice")
    assert jira.status_of(key) == "Implementing"
    with pytest.raises(ValueError, match="no transition from 'Implementing' to 'Closed'"):
        jira.transition(key, "Closed", "alice")


def test_unknown_issue_is_404(http):
    answer = http("GET", "/rest/api/3/issue/CHG-999")
    assert answer.status_code == 404
    assert answer.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_comments_add_list_and_edit_in_place(jira, http):
    key = _create(jira)
    first = jira.add_comment(key, "carol", "Looks fine to me.")
    second = http("POST", f"/rest/api/3/issue/{key}/comment",
                  json={"body": text_to_adf("Agenda draft")}).json()
    assert second["author"]["accountId"] == jira.bot.account_id
    edited = http("PUT", f"/rest/api/3/issue/{key}/comment/{second['id']}",
                  json={"body": text_to_adf("Agenda final")})
    assert edited.status_code == 200
    page = http("GET", f"/rest/api/3/issue/{key}/comment", params={"maxResults": 1}).json()
    assert [page["total"], page["maxResults"], len(page["comments"])] == [2, 1, 1]
    assert [(c["id"], c["author_account_id"], c["text"]) for c in jira.comments(key)] == [
        (first, jira.users["carol"].account_id, "Looks fine to me."),
        (second["id"], jira.bot.account_id, "Agenda final"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": ""}]}]},
        {"type": "doc", "version": 2, "content": []},
        {"type": "paragraph", "content": []},
    ],
    ids=["empty-text-node", "wrong-version", "not-a-doc"],
)
def test_bad_adf_comment_is_rejected(jira, http, body):
    key = _create(jira)
    answer = http("POST", f"/rest/api/3/issue/{key}/comment", json={"body": body})
    assert answer.status_code == 400
    assert jira.comments(key) == []


def test_issue_properties(jira, http):
    key = _create(jira)
    path = f"/rest/api/3/issue/{key}/properties/changeguard.approvals"
    assert http("GET", path).status_code == 404
    assert http("PUT", path, json={"approvals": []}).status_code == 201
    assert http("PUT", path, json={"approvals": ["bob"]}).status_code == 200
    assert http("GET", path).json() == {"key": "changeguard.approvals",
                                        "value": {"approvals": ["bob"]}}
    issue = http("GET", f"/rest/api/3/issue/{key}",
                 params={"fields": "summary", "properties": "changeguard.approvals"}).json()
    assert issue["properties"] == {"changeguard.approvals": {"approvals": ["bob"]}}
    assert jira.property(key, "changeguard.approvals") == {"approvals": ["bob"]}
    assert http("PUT", path, json={"big": "x" * 32768}).status_code == 400
    assert http("DELETE", path).status_code == 204
    assert jira.property(key, "changeguard.approvals") is None


def test_search_pages_with_next_page_token(jira, http):
    keys = [_create(jira) for _ in range(5)]
    jira.transition(keys[1], "Awaiting Approval", "alice")
    jql = 'project = CHG AND issuetype = "Change Request" AND status = "Draft" ORDER BY key ASC'
    seen, token, pages = [], None, 0
    while True:
        body = {"jql": jql, "maxResults": 2, "fields": ["summary", "status"]}
        if token:
            body["nextPageToken"] = token
        page = http("POST", "/rest/api/3/search/jql", json=body).json()
        pages += 1
        seen += [(i["key"], i["fields"]["status"]["name"]) for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert pages == 2
    assert seen == [(k, "Draft") for k in keys if k != keys[1]]


def test_search_can_leave_is_last_out_and_still_mark_the_last_page(jira, http):
    keys = [_create(jira) for _ in range(3)]
    jira.send_is_last(False)
    body = {"jql": 'issuetype = "Change Request"', "maxResults": 2, "fields": ["summary"]}
    first = http("POST", "/rest/api/3/search/jql", json=body).json()
    second = http("POST", "/rest/api/3/search/jql",
                  json={**body, "nextPageToken": first["nextPageToken"]}).json()
    assert [sorted(first), sorted(second)] == [["issues", "nextPageToken"], ["issues"]]
    assert [i["key"] for i in first["issues"] + second["issues"]] == keys


@pytest.mark.parametrize(("jql", "error"), [
    ('status = "Genehmigt"', "The value 'Genehmigt' does not exist for the field 'status'."),
    ('status in (Draft, 99999)', "The value '99999' does not exist for the field 'status'."),
], ids=["unknown-name", "unknown-id"])
def test_an_unknown_status_is_400_as_in_jira(http, jql, error):
    answer = http("POST", "/rest/api/3/search/jql", json={"jql": jql})
    assert (answer.status_code, answer.json()) == (400, {"errorMessages": [error], "errors": {}})


def test_a_renamed_status_is_searched_by_its_new_name_or_its_id(jira, http):
    key = _create(jira)
    draft = jira.status_id("Draft")
    jira.rename_status("Draft", "Entwurf")
    found = [http("POST", "/rest/api/3/search/jql",
                  json={"jql": f'issuetype = "Change Request" AND {clause}'}).json()["issues"]
             for clause in ("status = Entwurf", f"status = {draft}")]
    assert found == [[{"id": jira.site.issue(key).id}]] * 2
    assert http("POST", "/rest/api/3/search/jql", json={"jql": "status = Draft"}).status_code == 400


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ('project = CHG', ["CHG-1", "CHG-2", "CHG-3"]),
        ('issuetype = "Change Request"', ["CHG-2", "CHG-3"]),
        ('status in ("Awaiting Approval", "Approved")', ["CHG-3"]),
        ('issuetype = "Change Request" ORDER BY key DESC', ["CHG-3", "CHG-2"]),
        ('updated >= "2000-01-01 00:00" ORDER BY updated ASC', ["CHG-1", "CHG-2", "CHG-3"]),
        ('updated >= "2999-01-01 00:00"', []),
        ('status != Draft', ["CHG-3"]),
        ('issuetype = "Change Request" AND updated >= -5m', ["CHG-2", "CHG-3"]),
        ('issuetype = "Change Request" AND created < -1d', []),
        ('key in (CHG-1, CHG-3) ORDER BY key DESC', ["CHG-3", "CHG-1"]),
        ('key = CHG-1 OR status = "Awaiting Approval"', ["CHG-1", "CHG-3"]),
        # AND binds tighter than OR: CHG-3, or (a Change Request in Draft).
        ('key = CHG-3 OR issuetype = "Change Request" AND status = Draft', ["CHG-2", "CHG-3"]),
        ('(key = CHG-3 OR issuetype = "Change Request") AND status = Draft', ["CHG-2"]),
        ('(project = CHG OR project = OPS) AND status = "Awaiting Approval"', ["CHG-3"]),
        ('(project = OPS OR key = CHG-2) AND updated >= -5m', ["CHG-2"]),
        ('issuetype = "Change Request" AND NOT status = Draft', ["CHG-3"]),
        ('NOT (key = CHG-1 OR key = CHG-2) ORDER BY key', ["CHG-3"]),
    ],
    ids=["project", "issuetype", "status-in", "order-desc", "updated-since", "future", "not",
         "relative-recent", "relative-old", "key-in", "or", "and-before-or", "parentheses",
         "scope-with-or", "or-then-and", "not-clause", "not-group"],
)
def test_search_jql_subset_ids_only(jira, http, jql, expected):
    _create(jira)
    jira.transition(_create(jira), "Awaiting Approval", "alice")
    answer = http("POST", "/rest/api/3/search/jql", json={"jql": jql}).json()
    ids = {i.id: i.key for i in jira.site.issues.values()}
    assert answer["issues"] == [{"id": next(i for i, k in ids.items() if k == key)}
                                for key in expected]
    assert [ids[i["id"]] for i in answer["issues"]] == expected


@pytest.mark.parametrize(
    "jql",
    ['summary ~ "checkout"', 'status was "Draft"', "", "ORDER BY key",
     'updated >= "yesterday"', '(project = CHG', 'project = CHG status = Draft',
     'project = CHG OR'],
    ids=["text-search", "was", "empty", "unbounded", "bad-date", "unclosed-parenthesis",
         "missing-operator", "dangling-or"],
)
def test_unsupported_jql_is_400(http, jql):
    answer = http("POST", "/rest/api/3/search/jql", json={"jql": jql})
    assert answer.status_code == 400
    assert answer.json()["errorMessages"][0]


def test_fault_injection_429_with_retry_after(jira, http):
    jira.inject_fault("GET", r"^/rest/api/3/issue/CHG-1$", 429, times=2, retry_after=7)
    answers = [http("GET", "/rest/api/3/issue/CHG-1") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    limited = answers[0]
    assert limited.headers["Retry-After"] == "7"
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    assert [r.status for r in jira.requests] == [429, 429, 200]


def test_facade_raises_on_refused_requests(jira):
    jira.inject_fault("POST", r"/rest/api/3/issue$", 503)
    with pytest.raises(SandboxRequestError) as refused:
        _create(jira)
    assert refused.value.status == 503


def test_requests_are_recorded(jira, http):
    http("GET", "/rest/api/3/issue/CHG-1", params={"fields": "summary"}, as_user="dana")
    recorded = jira.requests[-1]
    assert (recorded.method, recorded.path, recorded.query, recorded.status) == (
        "GET", "/rest/api/3/issue/CHG-1", {"fields": "summary"}, 200)
    assert recorded.account_id == jira.users["dana"].account_id
    jira.reset_recordings()
    assert jira.requests == []


def test_basic_auth_header_is_email_and_token(jira, http):
    person = jira.users["frank"]
    token = base64.b64encode(f"{person.email}:{person.api_token}".encode()).decode()
    answer = requests.get(f"{jira.base_url}/rest/api/3/myself",
                          headers={"Authorization": f"Basic {token}"}, timeout=10)
    assert answer.json()["accountId"] == person.account_id
