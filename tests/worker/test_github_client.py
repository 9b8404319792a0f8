import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.github_server import GitHubRejection, SandboxGitHub
from tests.builders import Clock, Waits, free_port, make_settings
from tests.github_fixtures import github_settings
from worker.github_client import GitHubClient, GitHubError, github_client_for

SHA = "3f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
CALLBACK = "/repos/acme/shop/actions/runs/{run}/deployment_protection_rule"


def waiting_client(github, **options):
    waits = Waits()
    client = GitHubClient(github.app_id, github.private_key_pem, base_url=github.api_url,
                          backoff_base=0.01, sleep=waits, clock=Clock(waits), **options)
    return client, waits


@pytest.mark.parametrize(("state", "comment", "sent"), [
    ("approved", "CHG-7 is Approved and inside its window.",
     {"environment_name": "production", "state": "approved",
      "comment": "CHG-7 is Approved and inside its window."}),
    ("rejected", "CHG-7 was rejected by the CAB.",
     {"environment_name": "production", "state": "rejected",
      "comment": "CHG-7 was rejected by the CAB."}),
    (None, "Waiting for CAB approval of CHG-7.",
     {"environment_name": "production", "comment": "Waiting for CAB approval of CHG-7."}),
    (None, "x" * 1100, {"environment_name": "production", "comment": "x" * 1023 + "…"}),
    (None, "y" * 1024, {"environment_name": "production", "comment": "y" * 1024}),
], ids=["approve", "reject", "report", "long-report-cut", "report-at-the-limit"])
def test_review_sends_githubs_body(github, github_client, state, comment, sent):
    run = github.add_run()

    github_client.review_deployment(github.installation_id, "acme", "shop", run.id, "production",
                                    state, comment)

    [call] = [r for r in github.requests if r.method == "POST" and "runs" in r.path]
    assert (call.path, call.status, call.body) == (CALLBACK.format(run=run.id), 204, sent)
    assert [(r.environment, r.state, r.comment) for r in github.reviews] == [
        ("production", state, sent["comment"])]


def test_an_unknown_state_is_refused_before_sending(github, github_client):
    run = github.add_run()

    with pytest.raises(ValueError, match="state must be 'approved', 'rejected' or None, not 'ok'"):
        github_client.review_deployment(github.installation_id, "acme", "shop", run.id,
                                        "production", "ok", "fine")  # type: ignore[arg-type]

    assert github.requests == []


def test_one_token_serves_several_calls(github, github_client):
    github.add_pull_request(number=42, title="CHG-7 Rotate certificates",
                            head_ref="feature/CHG-7-certs", head_sha=SHA, body="Rotates them.")
    run = github.add_run(head_sha=SHA, display_title="Merge pull request #42",
                         head_commit_message="Merge pull request #42 from acme/feature/CHG-7",
                         actor="alice", triggering_actor="bob")
    installation = github.installation_id

    got = github_client.get_run(installation, "acme", "shop", run.id)
    pulls = github_client.pulls_for_commit(installation, "acme", "shop", SHA)
    github_client.review_deployment(installation, "acme", "shop", run.id, "production",
                                    "approved", "CHG-7 approved")

    assert got == {
        "html_url": f"https://github.com/acme/shop/actions/runs/{run.id}",
        "head_branch": "main", "head_sha": SHA, "display_title": "Merge pull request #42",
        "head_commit_message": "Merge pull request #42 from acme/feature/CHG-7",
        "actor": "alice", "triggering_actor": "bob", "event": "push", "status": "waiting",
        "conclusion": ""}
    assert pulls == [{"number": 42, "title": "CHG-7 Rotate certificates",
                      "head_ref": "feature/CHG-7-certs", "body": "Rotates them."}]
    assert github.tokens_minted == 1
    assert [(r.method, r.path, r.status) for r in github.requests] == [
        ("POST", f"/app/installations/{installation}/access_tokens", 201),
        ("GET", f"/repos/acme/shop/actions/runs/{run.id}", 200),
        ("GET", f"/repos/acme/shop/commits/{SHA}/pulls", 200),
        ("POST", CALLBACK.format(run=run.id), 204)]


def test_each_installation_has_its_token(github, github_client):
    github.add_installation("globex")
    github.add_repo("globex", "site")
    acme = github.add_run()
    globex = github.add_run("globex", "site")

    for installation, owner, repo, run in ((github.installation_id, "acme", "shop", acme),
                                           (github.installation_id + 1, "globex", "site", globex),
                                           (github.installation_id, "acme", "shop", acme)):
        github_client.get_run(installation, owner, repo, run.id)

    assert github.tokens_minted == 2


def test_two_clients_of_one_app_id_do_not_share_tokens(github):
    # githubkit's default token cache is process-wide, keyed by app id and installation only.
    with SandboxGitHub() as other:
        for sandbox in (github, other):
            client = GitHubClient(sandbox.app_id, sandbox.private_key_pem,
                                  base_url=sandbox.api_url)
            client.get_run(sandbox.installation_id, "acme", "shop", sandbox.add_run().id)

        assert (github.tokens_minted, other.tokens_minted, other.rejected) == (1, 1, [])


@pytest.mark.parametrize(("status", "retry_after", "expected_waits"), [
    (503, None, "backoff"),
    (502, None, "backoff"),
    (429, 3, [3.0]),
    (429, None, "backoff"),
], ids=["503", "502", "429-retry-after", "429-bare"])
def test_a_transient_failure_is_retried(github, status, retry_after, expected_waits):
    client, waits = waiting_client(github)
    run = github.add_run()
    client.get_run(github.installation_id, "acme", "shop", run.id)  # the token, minted
    github.fail_next(status, retry_after=retry_after)

    client.review_deployment(github.installation_id, "acme", "shop", run.id, "production",
                             "approved", "ok")

    assert [r.status for r in github.requests] == [201, 200, status, 204]
    assert github.decision(run.id, "production") == "approved"
    if expected_waits == "backoff":
        assert len(waits) == 1 and 0.005 <= waits[0] <= 0.01
    else:
        assert waits == expected_waits


def test_a_failure_minting_the_token_is_retried(github):
    client, waits = waiting_client(github)
    run = github.add_run()
    github.fail_next(503)

    got = client.get_run(github.installation_id, "acme", "shop", run.id)

    assert got["head_sha"] == run.head_sha
    assert [(r.path.split("/")[-1], r.status) for r in github.requests] == [
        ("access_tokens", 503), ("access_tokens", 201), (str(run.id), 200)]
    assert len(waits) == 1


def test_github_failing_past_the_attempts_raises(github):
    client, waits = waiting_client(github)
    run = github.add_run()
    client.get_run(github.installation_id, "acme", "shop", run.id)
    github.fail_next(503, 4)

    with pytest.raises(GitHubError) as failure:
        client.review_deployment(github.installation_id, "acme", "shop", run.id, "production",
                                 None, "waiting")

    assert (str(failure.value), failure.value.status) == (
        f"GitHub failed a status report on the production deployment of run {run.id} in "
        "acme/shop: 503 Server Error", 503)
    assert len(waits) == 3


def test_a_retry_after_beyond_the_budget_is_not_waited(github):
    client, waits = waiting_client(github, budget=20)
    run = github.add_run()
    github.fail_next(429, retry_after=25)

    with pytest.raises(GitHubError) as failure:
        client.get_run(github.installation_id, "acme", "shop", run.id)

    assert (failure.value.status, waits) == (429, [])


def test_an_unknown_run_raises_naming_it(github, github_client):
    with pytest.raises(GitHubError) as failure:
        github_client.get_run(github.installation_id, "acme", "shop", 99)

    assert (str(failure.value), failure.value.status) == (
        "GitHub refused reading run 99 of acme/shop: 404 Not Found", 404)
    assert github.take_rejections() == [GitHubRejection(
        "GET", "/repos/acme/shop/actions/runs/99", 404, "Not Found")]


def test_a_second_decision_raises_with_githubs_reason(github, github_client):
    run = github.add_run()
    args = (github.installation_id, "acme", "shop", run.id, "production")
    github_client.review_deployment(*args, "approved", "ok")

    with pytest.raises(GitHubError) as failure:
        github_client.review_deployment(*args, "rejected", "no")

    assert (str(failure.value), failure.value.status) == (
        f"GitHub refused rejecting the production deployment of run {run.id} in acme/shop: 422 "
        "The deployment protection rule for 'production' was already approved", 422)
    assert len(github.take_rejections()) == 1


def test_a_key_github_does_not_know_raises(github):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    client = GitHubClient(github.app_id, pem, base_url=github.api_url)

    with pytest.raises(GitHubError) as failure:
        client.pulls_for_commit(github.installation_id, "acme", "shop", SHA)

    assert (str(failure.value), failure.value.status) == (
        f"GitHub refused listing the pull requests of commit {SHA} in acme/shop: 401 A JSON web "
        "token could not be decoded", 401)
    # A refused token is renewed once (GitHub may have revoked it); the key stays refused.
    assert [r.status for r in github.take_rejections()] == [401, 401]


def test_a_token_github_expired_early_is_renewed_once(github, github_client):
    run = github.add_run()
    github_client.get_run(github.installation_id, "acme", "shop", run.id)
    github.expire_tokens()  # still valid in the client's cache: GitHub answers 401
    github_client.review_deployment(github.installation_id, "acme", "shop", run.id,
                                    "production", "approved", "CHG-1 is approved.")
    assert github.decision(run.id, "production") == "approved"
    assert github.tokens_minted == 2
    assert [r.status for r in github.take_rejections()] == [401]


def test_github_unreachable_raises_after_the_attempts():
    waits = Waits()
    client = GitHubClient("1", "unused", base_url=f"http://127.0.0.1:{free_port()}",
                          backoff_base=0.01, sleep=waits, clock=Clock(waits))

    with pytest.raises(GitHubError) as failure:
        client.review_deployment(1, "acme", "shop", 5, "production", None, "waiting")

    assert failure.value.status is None
    assert str(failure.value).startswith(
        "GitHub failed a status report on the production deployment of run 5 in acme/shop: "
        "no answer (")
    assert len(waits) == 3


def test_a_client_only_when_the_app_is_configured(github, redis_url, namespace):
    unset = make_settings(redis_url, namespace)
    partial = make_settings(redis_url, namespace, github_app_id=github.app_id)
    configured = make_settings(redis_url, namespace, **github_settings(github))

    client = github_client_for(configured)

    assert (github_client_for(unset), github_client_for(partial)) == (None, None)
    assert client is not None and client.base_url == github.api_url
    assert client.get_run(github.installation_id, "acme", "shop",
                          github.add_run().id)["status"] == "waiting"


WARM_THEN_CALL = """
import sys
from worker.github_client import GitHubClient
client = GitHubClient(sys.argv[1], sys.stdin.read(), base_url=sys.argv[2])
client.warm_up()
loaded = set(sys.modules)
client.review_deployment(int(sys.argv[3]), "acme", "shop", int(sys.argv[4]), "production",
                         None, "waiting for the CAB")
print("\\n".join(sorted(set(sys.modules) - loaded)))
"""


def test_after_warm_up_a_first_call_loads_no_more_of_the_client(github):
    """What a forked work horse would otherwise import on its first GitHub call (~70 ms)."""
    run = github.add_run()
    done = subprocess.run(
        [sys.executable, "-c", WARM_THEN_CALL, github.app_id, github.api_url,
         str(github.installation_id), str(run.id)],
        input=github.private_key_pem, capture_output=True, text=True, timeout=60, check=True)
    assert [r.state for r in github.reviews] == [None]
    newly = [m for m in done.stdout.split() if m.split(".")[0] in (
        "githubkit", "githubkit_schemas", "httpx", "httpcore", "h11", "pydantic")]
    assert newly == []


def test_work_horses_share_one_installation_token_through_redis(github, conn, namespace):
    """Each job runs in a fresh fork: with the token in Redis, one mint serves them all."""
    run = github.add_run()

    def horse():  # a new client per job, as a forked work horse has
        return GitHubClient(github.app_id, github.private_key_pem, base_url=github.api_url,
                            token_cache=conn, token_prefix=f"{namespace}:github-token")

    for _ in range(3):
        horse().get_run(github.installation_id, "acme", "shop", run.id)
    assert github.tokens_minted == 1
    github.expire_tokens()  # refused by GitHub: the first horse to see it renews for all
    horse().get_run(github.installation_id, "acme", "shop", run.id)
    horse().get_run(github.installation_id, "acme", "shop", run.id)
    assert github.tokens_minted == 2
    assert [r.status for r in github.take_rejections()] == [401]
