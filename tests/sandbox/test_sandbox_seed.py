"""The sandbox is seeded from the default policy: fields, statuses, workflow, groups, people."""

from __future__ import annotations

import pytest

from sandbox.jira_seed import DEFAULT_POLICY_PATH
from sandbox.jira_server import SandboxJira

STATUS_IDS = {
    "Draft": ("10001", "new"),
    "Awaiting Approval": ("10002", "indeterminate"),
    "Approved": ("10003", "indeterminate"),
    "Implementing": ("10004", "indeterminate"),
    "Implemented": ("10005", "indeterminate"),
    "Closed": ("10006", "done"),
    "Rejected": ("10007", "done"),
    "Cancelled": ("10008", "done"),
}

SELECT = "com.atlassian.jira.plugin.system.customfieldtypes:select"
TEXTAREA = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"
CUSTOM_FIELDS = [
    ("customfield_10050", "Change Category", "option", SELECT),
    ("customfield_10051", "Change Type", "option", SELECT),
    ("customfield_10052", "Deployment Plan", "string", TEXTAREA),
    ("customfield_10053", "Rollback Plan", "string", TEXTAREA),
    ("customfield_10054", "Risk Assessment", "string", TEXTAREA),
    ("customfield_10055", "Risk Level", "option", SELECT),
    ("customfield_10056", "Standard Template", "option", SELECT),
    ("customfield_10057", "Planned Start", "datetime",
     "com.atlassian.jira.plugin.system.customfieldtypes:datetime"),
    ("customfield_10058", "Planned End", "datetime",
     "com.atlassian.jira.plugin.system.customfieldtypes:datetime"),
    ("customfield_10059", "Incident Commander", "user",
     "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"),
    ("customfield_10060", "Outcome", "option", SELECT),
    ("customfield_10061", "Retrospective", "string", TEXTAREA),
]

# Transition names available from each status (the policy's moves plus the global shortcut).
AVAILABLE = {
    "Draft": ["Submit for approval", "Cancel", "Start implementation now"],
    "Awaiting Approval": ["Approve", "Return to draft", "Reject", "Cancel",
                          "Start implementation now"],
    "Approved": ["Start implementation", "Withdraw approval", "Cancel",
                 "Start implementation now"],
    "Implementing": ["Mark implemented", "Stop implementation"],
    "Implemented": ["Close", "Reopen implementation", "Start implementation now"],
    "Closed": ["Reopen", "Start implementation now"],
    "Rejected": ["Start implementation now"],
    "Cancelled": ["Start implementation now"],
}

GROUPS = {
    "changeguard": [],
    "alice": [],
    "bob": ["team-leads"],
    "carol": ["cab"],
    "dana": ["head-of-engineering", "cab"],
    "erin": ["incident-commanders"],
    "frank": ["incident-commanders"],
}


def test_statuses_have_jira_like_ids_and_categories(http):
    body = http("GET", "/rest/api/3/status").json()
    assert {s["name"]: (s["id"], s["statusCategory"]["key"]) for s in body} == STATUS_IDS


@pytest.mark.parametrize(("field_id", "name", "kind", "custom"), CUSTOM_FIELDS,
                         ids=[row[1] for row in CUSTOM_FIELDS])
def test_custom_fields_have_ids_and_schemas(http, field_id, name, kind, custom):
    fields = {f["name"]: f for f in http("GET", "/rest/api/3/field").json()}
    assert fields[name]["id"] == field_id
    assert fields[name]["custom"] is True
    assert fields[name]["schema"] == {
        "type": kind, "custom": custom, "customId": int(field_id.split("_")[1])
    }


def test_system_fields_are_listed(http):
    fields = {f["id"]: f for f in http("GET", "/rest/api/3/field").json() if not f["custom"]}
    assert sorted(fields) == sorted([
        "summary", "description", "status", "issuetype", "project", "reporter", "assignee",
        "labels", "attachment", "created", "updated",
    ])
    assert fields["description"]["name"] == "Description"
    assert fields["description"]["schema"] == {"type": "string", "system": "description"}


def test_select_options_come_from_the_policy(jira):
    options = {
        name: [o.value for o in jira.site.field_by_name(name).options]
        for name in ("Change Category", "Change Type", "Risk Level", "Standard Template", "Outcome")
    }
    assert options == {
        "Change Category": ["Standard", "Normal", "Emergency"],
        "Change Type": ["Application Code", "Infrastructure", "Configuration", "Database"],
        "Risk Level": ["Low", "Medium", "High"],
        "Standard Template": ["Copy update", "Dependency patch bump", "Feature flag toggle"],
        "Outcome": ["Successful", "Failed", "Rolled Back"],
    }


@pytest.mark.parametrize(("status", "names"), AVAILABLE.items(), ids=list(AVAILABLE))
def test_transitions_available_per_status(jira, http, status, names):
    key = jira.create_change_request("alice", "Move through the workflow", {})
    issue = jira.site.issue(key)
    issue.status = jira.site.status_by_name(status).id
    body = http("GET", f"/rest/api/3/issue/{key}/transitions").json()
    assert [t["name"] for t in body["transitions"]] == names
    for transition in body["transitions"]:
        assert transition["to"]["id"] != issue.status


def test_cab_epic_exists(http):
    body = http("GET", "/rest/api/3/issue/CHG-1", params={"fields": "summary,issuetype"}).json()
    assert body["key"] == "CHG-1"
    assert body["fields"]["summary"] == "Change Advisory Board"
    assert body["fields"]["issuetype"]["name"] == "Epic"


@pytest.mark.parametrize(("name", "groups"), GROUPS.items(), ids=list(GROUPS))
def test_people_and_their_groups(jira, http, name, groups):
    person = jira.users[name]
    assert person.email == f"{name}@example.com"
    assert person.account_id.startswith("712020:")
    answer = http("GET", "/rest/api/3/user/groups", params={"accountId": person.account_id})
    assert [g["name"] for g in answer.json()] == groups


def test_bot_is_changeguard(jira, http):
    me = http("GET", "/rest/api/3/myself", as_user="changeguard").json()
    assert me["accountId"] == jira.bot.account_id
    assert jira.bot.name == "changeguard"
    assert jira.bot.display_name == "changeguard"


def test_group_members_are_paged(jira, http):
    first = http("GET", "/rest/api/3/group/member",
                 params={"groupname": "cab", "maxResults": 1}).json()
    assert [first["isLast"], first["total"]] == [False, 2]
    assert [u["accountId"] for u in first["values"]] == [jira.users["carol"].account_id]
    second = http("GET", first["nextPage"][len(jira.base_url):]).json()
    assert second["isLast"] is True
    assert [u["accountId"] for u in second["values"]] == [jira.users["dana"].account_id]


def test_names_come_from_the_policy_file(tmp_path):
    policy = DEFAULT_POLICY_PATH.read_text().replace('draft = "Draft"', 'draft = "Entwurf"')
    policy = policy.replace('rollback_plan = "Rollback Plan"', 'rollback_plan = "Backout Plan"')
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    jira = SandboxJira(policy_path=path, spec_check=False)
    assert jira.site.statuses["10001"].name == "Entwurf"
    assert jira.site.field_by_name("Backout Plan").id == "customfield_10053"
    assert jira.status_of("CHG-1") == "Entwurf"
