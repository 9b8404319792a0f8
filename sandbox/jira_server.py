"""Run a sandbox Jira Cloud over HTTP and act in it as its people (the facade tests use)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from sandbox.adf import adf_to_text, text_to_adf
from sandbox.jira_app import RecordedRequest, SandboxApp
from sandbox.jira_render import (
    attachment_json,
    field_value_json,
    issue_links_json,
    remote_link_json,
)
from sandbox.jira_seed import BOT_NAME, build_site, freeze_names, load_policy
from sandbox.jira_state import SandboxUser, SiteEvent, format_time
from sandbox.serving import ServingThread
from sandbox.webhook_payloads import build_payload
from sandbox.webhook_sender import DEFAULT_RETRY_DELAYS, RecordedDelivery, WebhookSender

if TYPE_CHECKING:
    from sandbox.spec_check import SpecChecker

__all__ = ["SandboxJira", "SandboxUser", "SandboxRequestError", "RecordedRequest",
           "RecordedDelivery"]

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 10.0


def _spec_checker() -> SpecChecker:
    """Build the OpenAPI checker; only then is openapi-core (a dev dependency) imported."""
    from sandbox.spec_check import SpecChecker

    return SpecChecker()


class SandboxRequestError(RuntimeError):
    """A request made on a person's behalf was refused by the sandbox."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body


@dataclasses.dataclass(frozen=True)
class HeldRequest:
    """A request the sandbox holds: ``reached`` once it arrived; set ``released`` to answer it."""

    reached: threading.Event
    released: threading.Event

    def wait_reached(self, timeout: float) -> None:
        """Block until the held request has arrived (TimeoutError otherwise)."""
        if not self.reached.wait(timeout):
            raise TimeoutError(f"the held request did not arrive within {timeout:.0f} s")

    def release(self) -> None:
        """Let the sandbox answer the held request (with its fault status)."""
        self.released.set()


class SandboxJira:
    """A local Jira Cloud site (REST v3 subset, workflow, signed webhooks) for tests and demos."""

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        policy_path: Path | None = None,
        spec_check: bool = True,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.site = build_site(policy_path)
        self._freeze = freeze_names(load_policy(policy_path))
        self.site.listeners.append(self._on_event)
        self._sender = WebhookSender(retry_delays)
        self._app = SandboxApp(self.site, _spec_checker() if spec_check else None, self._register)
        self._serving: ServingThread | None = None

    # Lifecycle

    def start(self, port: int = 0, host: str = "127.0.0.1") -> SandboxJira:
        """Serve on host:port (a free port by default) in a daemon thread."""
        self._serving = ServingThread(self._app, name="sandbox-jira", host=host, port=port)
        self._app.base_url = self._serving.url
        self._sender.start()
        logger.info("sandbox jira started", extra={"base_url": self.base_url})
        return self

    def stop(self) -> None:
        """Stop serving and delivering, and join both threads."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        self._sender.stop()

    def __enter__(self) -> SandboxJira:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT (empty before start)."""
        return self._app.base_url

    @property
    def users(self) -> dict[str, SandboxUser]:
        """Return the site's people by short name."""
        return dict(self.site.users)

    @property
    def bot(self) -> SandboxUser:
        """Return the account changeguard authenticates as."""
        return self.site.users[BOT_NAME]

    # Acting as a person, over real HTTP

    def create_change_request(self, as_user: str, summary: str, fields: dict[str, object]) -> str:
        """Create a Change Request as `as_user`; fields are keyed by Jira field name."""
        body = {
            "fields": {
                "project": {"key": self.site.project.key},
                "issuetype": {"name": "Change Request"},
                "summary": summary,
                **self._field_values(fields),
            }
        }
        return self._request(as_user, "POST", "/rest/api/3/issue", body).json()["key"]

    def create_freeze(self, as_user: str, summary: str, start: datetime, end: datetime,
                      kind: str, reason: str | None = None) -> str:
        """Declare a one-off freeze as `as_user`: a Change Freeze issue; return its key.

        ``kind`` is the Freeze Kind option value (Hard or Soft by default), and ``start`` and
        ``end`` go in Planned Start and Planned End, as on a Change Request.
        """
        fields: dict[str, object] = {"Planned Start": start, "Planned End": end,
                                     self._freeze["kind_field"]: kind}
        if reason is not None:
            fields[self._freeze["reason_field"]] = reason
        body = {
            "fields": {
                "project": {"key": self.site.project.key},
                "issuetype": {"name": self._freeze["issue_type"]},
                "summary": summary,
                **self._field_values(fields),
            }
        }
        return self._request(as_user, "POST", "/rest/api/3/issue", body).json()["key"]

    def attach(self, key: str, as_user: str, filename: str, content: bytes,
               mime_type: str) -> dict[str, Any]:
        """Attach a file to an issue as `as_user`; return the attachment as Jira answers it."""
        person = self.site.users[as_user]
        path = f"/rest/api/3/issue/{key}/attachments"
        response = requests.post(
            self.base_url + path, files={"file": (filename, content, mime_type)},
            headers={"X-Atlassian-Token": "no-check"}, timeout=HTTP_TIMEOUT,
            auth=(person.email, person.api_token),
        )
        if response.status_code >= 400:
            raise SandboxRequestError("POST", path, response.status_code, response.text)
        return response.json()[0]

    def edit(self, key: str, as_user: str, fields: dict[str, object]) -> None:
        """Edit fields (keyed by Jira field name) as `as_user`."""
        self._request(as_user, "PUT", f"/rest/api/3/issue/{key}",
                      {"fields": self._field_values(fields)})

    def delete(self, key: str, as_user: str) -> None:
        """Delete an issue as `as_user` (Jira sends jira:issue_deleted with the issue as it was)."""
        self._request(as_user, "DELETE", f"/rest/api/3/issue/{key}")

    def transition(self, key: str, to_status: str, as_user: str) -> None:
        """Move an issue to the status named `to_status`, as `as_user`."""
        path = f"/rest/api/3/issue/{key}/transitions"
        available = self._request(as_user, "GET", path).json()["transitions"]
        match = next((t for t in available if t["to"]["name"] == to_status), None)
        if match is None:
            raise ValueError(
                f"no transition from {self.status_of(key)!r} to {to_status!r} on {key}"
            )
        self._request(as_user, "POST", path, {"transition": {"id": match["id"]}})

    def add_comment(self, key: str, as_user: str, body: str | dict[str, Any]) -> str:
        """Comment as `as_user` (plain text is sent as ADF); return the comment id."""
        document = text_to_adf(body) if isinstance(body, str) else body
        path = f"/rest/api/3/issue/{key}/comment"
        return self._request(as_user, "POST", path, {"body": document}).json()["id"]

    def link(self, inward_key: str, outward_key: str, as_user: str,
             type_name: str = "Causes") -> None:
        """Link two issues as `as_user` with POST issueLink, sending the keys as Jira's
        ``inwardIssue`` and ``outwardIssue``: "inward causes outward" for Causes.

        So ``link(cause, emergency, ...)`` makes the Emergency change show its cause as an
        ``inwardIssue``, labelled "is caused by"; the cause shows it as an ``outwardIssue``.
        """
        self._request(as_user, "POST", "/rest/api/3/issueLink", {
            "type": {"name": type_name},
            "inwardIssue": {"key": inward_key},
            "outwardIssue": {"key": outward_key},
        })

    def _field_values(self, fields: dict[str, object]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in fields.items():
            fdef = self.site.field_by_name(name)
            values[fdef.id] = self._field_value(fdef.kind, value)
        return values

    def _field_value(self, kind: str, value: object) -> Any:
        if value is None or isinstance(value, dict):
            return value
        if kind == "option":
            return {"value": value}
        if kind in {"textarea", "description"} and isinstance(value, str):
            return text_to_adf(value)
        if kind in {"user", "assignee", "reporter"} and isinstance(value, str):
            person = self.site.users.get(value)
            return {"accountId": person.account_id if person else value}
        if kind == "datetime" and isinstance(value, datetime):
            return format_time(value)
        return value

    def _request(self, as_user: str, method: str, path: str,
                 body: object | None = None) -> requests.Response:
        person = self.site.users[as_user]
        response = requests.request(
            method, self.base_url + path, json=body, timeout=HTTP_TIMEOUT,
            auth=(person.email, person.api_token),
        )
        if response.status_code >= 400:
            raise SandboxRequestError(method, path, response.status_code, response.text)
        return response

    # Inspection (reads state directly)

    def status_of(self, key: str) -> str:
        """Return the issue's status name."""
        with self.site.lock:
            return self.site.statuses[self.site.issue(key).status].name

    def comments(self, key: str) -> list[dict[str, Any]]:
        """Return the issue's comments: id, author_account_id, body (ADF) and text."""
        with self.site.lock:
            return [
                {"id": c.id, "author_account_id": c.author, "body": c.body,
                 "text": adf_to_text(c.body)}
                for c in self.site.issue(key).comments
            ]

    def remote_links(self, key: str) -> list[dict[str, Any]]:
        """Return the issue's remote links as GET remotelink shows them, oldest first."""
        with self.site.lock:
            issue = self.site.issue(key)
            return [remote_link_json(link, issue, self.base_url) for link in issue.remote_links]

    def issue_links(self, key: str) -> list[dict[str, Any]]:
        """Return the issue's ``issuelinks`` field as REST v3 renders it, oldest link first."""
        with self.site.lock:
            return issue_links_json(self.site, self.site.issue(key), self.base_url)

    def attachments(self, key: str) -> list[dict[str, Any]]:
        """Return the issue's attachments, oldest first, as Jira lists them plus their bytes."""
        with self.site.lock:
            return [{**attachment_json(self.site, a, self.base_url), "bytes": a.content}
                    for a in self.site.issue(key).attachments]

    def value_of(self, key: str, field_name: str) -> Any:
        """Return a field's value (field named as Jira shows it) as REST v3 renders it."""
        with self.site.lock:
            fdef = self.site.field_by_name(field_name)
            return field_value_json(self.site, fdef, self.site.issue(key), self.base_url)

    def labels(self, key: str) -> list[str]:
        """Return the issue's labels."""
        with self.site.lock:
            return list(self.site.issue(key).values.get("labels") or [])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return every HTTP request served, oldest first."""
        return list(self._app.requests)

    @property
    def deliveries(self) -> list[RecordedDelivery]:
        """Return every webhook POST attempt, oldest first."""
        return self._sender.deliveries

    @property
    def spec_violations(self) -> list[str]:
        """Return every request or response that broke the OpenAPI spec."""
        return list(self._app.spec_violations)

    def wait_for_deliveries(self, timeout: float = 10.0) -> None:
        """Block until no webhook is queued or in flight (TimeoutError otherwise)."""
        self._sender.wait_idle(timeout)

    def inject_fault(self, method: str, path_regex: str, status: int, times: int = 1,
                     retry_after: int | None = None) -> None:
        """Make the next `times` requests matching method ("*" for any) and path fail."""
        self._app.inject_fault(method, path_regex, status, times, retry_after)

    def hold_next(self, method: str, path_regex: str, status: int = 503) -> HeldRequest:
        """Hold the next matching request until released, then fail it with ``status``.

        Its ``reached`` event tells the test the client is waiting on that very call: a
        moment to act on (kill the worker) without racing a clock.
        """
        held = HeldRequest(threading.Event(), threading.Event())
        self._app.inject_fault(method, path_regex, status, release=held.released,
                               reached=held.reached)
        return held

    def redeliver(self, identifier: str, new_identifier: bool = False) -> int | None:
        """Send an earlier webhook again now, as Jira's retry would (or as a new delivery)."""
        return self._sender.redeliver(identifier, new_identifier)

    def status_id(self, name: str) -> str:
        """Return the id of the status with this name."""
        return self.site.status_by_name(name).id

    def field_id(self, name: str) -> str:
        """Return the id of the field with this name."""
        return self.site.field_by_name(name).id

    def reset_recordings(self) -> None:
        """Forget recorded requests, deliveries and spec violations."""
        self._app.reset_recordings()
        self._sender.clear()

    # Behaving like Jira Cloud in ways the defaults do not

    def send_is_last(self, sent: bool) -> None:
        """Tell every paged answer to send isLast (the default) or leave it out, as Jira may."""
        with self.site.lock:
            self.site.sends_is_last = sent

    def rename_status(self, name: str, new_name: str) -> None:
        """Rename a status (an admin's rename, or what another language shows), keeping its id."""
        with self.site.lock:
            status = self.site.status_by_name(name)
            self.site.statuses[status.id] = dataclasses.replace(status, name=new_name)

    # Breaking the site (for `changeguard doctor` tests)

    def remove_field(self, name: str) -> None:
        """Delete the field with this name, as an admin deleting a custom field would."""
        with self.site.lock:
            del self.site.fields[self.site.field_by_name(name).id]

    def remove_group(self, name: str) -> None:
        """Delete a group and everyone's membership of it."""
        with self.site.lock:
            if self.site.groups.pop(name, None) is None:
                raise KeyError(f"the sandbox has no group named {name!r}")
            for short, person in self.site.users.items():
                groups = tuple(g for g in person.groups if g != name)
                self.site.users[short] = dataclasses.replace(person, groups=groups)

    def remove_transition(self, from_status_name: str, to_status_name: str) -> None:
        """Remove the workflow's directed transition from one status to another."""
        with self.site.lock:
            source = self.site.status_by_name(from_status_name).id
            target = self.site.status_by_name(to_status_name).id
            kept, found = [], False
            for transition in self.site.transitions:
                if transition.to_id == target and source in (transition.from_ids or ()):
                    found = True
                    transition = dataclasses.replace(transition,
                                                     from_ids=transition.from_ids - {source})
                if transition.from_ids != frozenset():
                    kept.append(transition)
            if not found:
                raise KeyError(f"no directed transition {from_status_name} → {to_status_name}")
            self.site.transitions[:] = kept

    # Webhooks

    def _on_event(self, event: SiteEvent) -> None:
        url = self.webhook_url
        if url:
            payload = build_payload(self.site, event, self.base_url)
            self._sender.enqueue(url, self.webhook_secret, event.webhook_event, payload)

    def _register(self, url: str | None, secret: str | None) -> None:
        self.webhook_url, self.webhook_secret = url, secret

    # Defined last: a method named `property` shadows the builtin for the rest of the class body.
    def property(self, key: str, property_key: str) -> object | None:
        """Return an issue property's value, or None."""
        with self.site.lock:
            return self.site.issue(key).properties.get(property_key)

    def hold_deliveries(self) -> None:
        """Hold every webhook from now on until release_deliveries() (Jira lagging behind)."""
        self._sender.hold()

    def release_deliveries(self, seed: int | None, duplicate: bool = True,
                           new_identifiers: bool = False) -> list[tuple[str, int]]:
        """Send the held webhooks shuffled by ``seed`` (None: in order), twice if ``duplicate``.

        The second copy is Jira's retry (same identifier) or, with ``new_identifiers``, another
        delivery of the same event. Returns (identifier, attempt) in the order sent.
        """
        return self._sender.release(seed, duplicate, new_identifiers)


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox standalone and print who can log in to it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--policy", type=Path)
    parser.add_argument("--no-spec-check", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    jira = SandboxJira(args.webhook_url, args.webhook_secret, args.policy,
                       spec_check=not args.no_spec_check)
    jira.start(port=args.port, host=args.host)
    print(f"Sandbox Jira Cloud at {jira.base_url}")
    print(f"Webhooks to {jira.webhook_url or '(none: register one or pass --webhook-url)'}")
    for person in jira.users.values():
        groups = ", ".join(person.groups) or "-"
        print(f"  {person.name:<12} {person.email:<26} {person.api_token}  "
              f"{person.account_id}  [{groups}]")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        jira.stop()


if __name__ == "__main__":
    main()
