"""A held request: the sandbox tells the test it arrived, and answers only once released."""

from __future__ import annotations

import threading

import pytest
import requests

DOC = {"type": "doc", "version": 1, "content": [
    {"type": "paragraph", "content": [{"type": "text", "text": "Deploying now."}]}]}


def test_a_held_request_waits_for_its_release_then_fails(jira):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", {})
    alice = jira.users["alice"]
    held = jira.hold_next("POST", r"/comment$", 503)
    answers = []

    def comment():
        answers.append(requests.post(
            f"{jira.base_url}/rest/api/3/issue/{key}/comment", auth=(alice.email, alice.api_token),
            json={"body": DOC}, timeout=30).status_code)

    client = threading.Thread(target=comment)
    client.start()
    held.wait_reached(timeout=10)
    client.join(0.3)
    assert (client.is_alive(), answers) == (True, [])  # still held
    held.release()
    client.join(10)
    assert (answers, jira.comments(key)) == ([503], [])
    # Only the next matching request was held: the one after it is served.
    assert requests.post(f"{jira.base_url}/rest/api/3/issue/{key}/comment",
                         auth=(alice.email, alice.api_token), timeout=10,
                         json={"body": DOC}
                         ).status_code == 201


def test_waiting_for_a_request_that_never_comes_times_out(jira):
    held = jira.hold_next("POST", r"/comment$", 503)
    with pytest.raises(TimeoutError, match="did not arrive within 0 s"):
        held.wait_reached(timeout=0.1)
    held.release()
