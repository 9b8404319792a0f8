"""Run a fake Slack Web API over HTTP (auth, messages, user lookup) that records what it received."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.serving import ServingThread

__all__ = ["SandboxSlack", "SlackMessage", "SlackEdit", "SlackRequest", "SlackUser"]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "xoxb-sandbox"
DEFAULT_CHANNEL = "#deployments"
TEAM_ID = "T0SANDBOX"
TEAM_NAME = "Changeguard Sandbox"
BOT_NAME = "changeguard"
BOT_USER_ID = "U0CHANGEGUARD"
BOT_ID = "B0CHANGEGUARD"
FIRST_TS_SECONDS = 1_700_000_000
TS_STEP_MICROSECONDS = 100
JSON_TYPE = "application/json; charset=utf-8"
_FAULT_ERRORS = {429: "ratelimited", 503: "service_unavailable"}


@dataclasses.dataclass(frozen=True)
class SlackEdit:
    """One chat.update applied to a recorded message."""

    text: str
    blocks: list[Any] | None = None


@dataclasses.dataclass
class SlackMessage:
    """One message posted through chat.postMessage, with every later chat.update."""

    channel: str
    channel_id: str
    ts: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None
    updates: list[SlackEdit] = dataclasses.field(default_factory=list)

    @property
    def latest_text(self) -> str:
        """Return the text as it reads now, after any updates."""
        return self.updates[-1].text if self.updates else self.text


@dataclasses.dataclass(frozen=True)
class SlackRequest:
    """One HTTP request the fake Slack served: verb, path, status and Slack's error code."""

    method: str
    path: str
    status: int
    api_method: str
    args: dict[str, Any] = dataclasses.field(repr=False)
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class SlackUser:
    """A workspace member that users.lookupByEmail can find."""

    id: str
    email: str
    name: str


@dataclasses.dataclass
class _Fault:
    api_method: str
    status: int
    times: int
    retry_after: int | None
    error: str


class _Refused(Exception):
    def __init__(self, error: str, *details: str) -> None:
        super().__init__(error)
        self.error = error
        self.details = details


class SandboxSlack:
    """A local Slack Web API (auth.test, chat.postMessage, chat.update, users.lookupByEmail)."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._channels: dict[str, tuple[str, bool]] = {}  # name without "#" -> (id, bot is member)
        self._users: dict[str, SlackUser] = {}  # email, lower case -> user
        self._messages: list[SlackMessage] = []
        self._requests: list[SlackRequest] = []
        self._faults: list[_Fault] = []
        self._last_ts = 0
        self._serving: ServingThread | None = None
        self.api_url = ""
        self.add_channel(DEFAULT_CHANNEL)
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update_message,
            "users.lookupByEmail": self._lookup_by_email,
        }

    # Lifecycle

    def start(self, port: int = 0, host: str = "127.0.0.1") -> SandboxSlack:
        """Serve on host:port (a free port by default) in a daemon thread."""
        self._serving = ServingThread(self, name="sandbox-slack", host=host, port=port)
        self.api_url = f"{self._serving.url}/api/"
        logger.info("sandbox slack started", extra={"api_url": self.api_url})
        return self

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> SandboxSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Workspace

    def add_channel(self, name: str, *, member: bool = True) -> str:
        """Create a channel ("#name" or "name") and return its id; the bot is in it unless not."""
        with self._lock:
            key = name.removeprefix("#")
            if key not in self._channels:
                self._channels[key] = (f"C{len(self._channels) + 1:08d}", member)
            return self._channels[key][0]

    def channel_id(self, name: str) -> str:
        """Return the id of a channel added by name."""
        with self._lock:
            return self._channels[name.removeprefix("#")][0]

    def add_user(self, slack_id: str, email: str, name: str) -> SlackUser:
        """Register a member that users.lookupByEmail will find by email."""
        user = SlackUser(slack_id, email, name)
        with self._lock:
            self._users[email.lower()] = user
        return user

    # Recordings and faults

    @property
    def messages(self) -> list[SlackMessage]:
        """Return every posted message (thread replies included), oldest first."""
        with self._lock:
            return [dataclasses.replace(m, updates=list(m.updates)) for m in self._messages]

    @property
    def requests(self) -> list[SlackRequest]:
        """Return every HTTP request served, oldest first."""
        with self._lock:
            return list(self._requests)

    def inject_fault(self, method_name: str, status: int, times: int = 1,
                     retry_after: int | None = None, error: str | None = None) -> None:
        """Make the next `times` calls of a Web API method ("*" for any) answer `status`."""
        error = error or _FAULT_ERRORS.get(status, "internal_error")
        with self._lock:
            self._faults.append(_Fault(method_name, status, times, retry_after, error))

    def reset_recordings(self) -> None:
        """Forget recorded messages, requests and pending faults; restart ts at 1700000000.000100."""
        with self._lock:
            self._last_ts = 0
            self._messages.clear()
            self._requests.clear()
            self._faults.clear()

    # WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        api_method = request.path.removeprefix("/api/") if request.path.startswith("/api/") else ""
        status, answer, headers, args = self._serve(request, api_method)
        with self._lock:
            self._requests.append(SlackRequest(
                method=request.method, path=request.path, status=status, api_method=api_method,
                args=args, error=None if answer.get("ok") else answer.get("error"),
            ))
        response = Response(json.dumps(answer), status=status, headers=headers,
                            content_type=JSON_TYPE)
        return response(environ, start_response)

    def _serve(self, request: Request,
               api_method: str) -> tuple[int, dict[str, Any], dict[str, str], dict[str, Any]]:
        try:
            args = _arguments(request)
        except ValueError:
            return 200, {"ok": False, "error": "invalid_json"}, {}, {}
        fault = self._take_fault(api_method)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return fault.status, {"ok": False, "error": fault.error}, headers, args
        handler = self._handlers.get(api_method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}, {}, args
        token = _bearer(request)
        if token is None and request.mimetype != "application/json":
            token = args.get("token")  # form posts may carry the token as a field
        try:
            if not token:
                raise _Refused("not_authed")
            if token != self.token:
                raise _Refused("invalid_auth")
            with self._lock:
                return 200, {"ok": True, **handler(args)}, {}, args
        except _Refused as refusal:
            answer: dict[str, Any] = {"ok": False, "error": refusal.error}
            if refusal.details:
                answer["response_metadata"] = {"messages": list(refusal.details)}
            return 200, answer, {}, args

    def _take_fault(self, api_method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.api_method in {"*", api_method}:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # Web API methods (called with the lock held)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://changeguard-sandbox.slack.com/", "team": TEAM_NAME,
                "user": BOT_NAME, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "is_enterprise_install": False}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        name, channel_id = self._channel(_required(args, "channel"))
        text, blocks = _content(args)
        thread_ts = _optional(args, "thread_ts")
        self._last_ts += TS_STEP_MICROSECONDS
        ts = f"{FIRST_TS_SECONDS + self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"
        self._messages.append(SlackMessage(name, channel_id, ts, text, blocks, thread_ts))
        message = _message_shape(ts, text, blocks)
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        return {"channel": channel_id, "ts": ts, "message": message}

    def _update_message(self, args: dict[str, Any]) -> dict[str, Any]:
        _, channel_id = self._channel(_required(args, "channel"))
        ts = _required(args, "ts")
        text, blocks = _content(args)
        found = next((m for m in self._messages if (m.channel_id, m.ts) == (channel_id, ts)), None)
        if found is None:
            raise _Refused("message_not_found")
        found.updates.append(SlackEdit(text, blocks))
        return {"channel": channel_id, "ts": ts, "text": text,
                "message": _message_shape(ts, text, blocks)}

    def _lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(_required(args, "email").lower())
        if user is None:
            raise _Refused("users_not_found")
        return {"user": {
            "id": user.id, "team_id": TEAM_ID, "name": user.name, "deleted": False,
            "real_name": user.name, "is_bot": False,
            "profile": {"email": user.email, "real_name": user.name, "display_name": user.name},
        }}

    def _channel(self, value: str) -> tuple[str, str]:
        # Slack accepts a channel id, "#name" or a bare name.
        for key, (channel_id, member) in self._channels.items():
            if value in {channel_id, key, f"#{key}"}:
                if not member:
                    raise _Refused("not_in_channel")
                return f"#{key}", channel_id
        raise _Refused("channel_not_found")


def _arguments(request: Request) -> dict[str, Any]:
    """Merge query, form and JSON arguments, as Slack reads all three."""
    args: dict[str, Any] = dict(request.args.items())
    if request.mimetype == "application/json":
        raw = request.get_data()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise ValueError("JSON body is not an object")
        args.update(body)
    else:
        args.update(request.form.items())
    return args


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _required(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise _Refused("invalid_arguments", f"[ERROR] missing required field: {name}")
    return value


def _optional(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, str):
        raise _Refused("invalid_arguments", f"[ERROR] {name} must be a string")
    return value or None


def _content(args: dict[str, Any]) -> tuple[str, list[Any] | None]:
    """Return (text, blocks): text or blocks must be there; blocks may come as a JSON string."""
    text = _optional(args, "text") or ""
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            raise _Refused("invalid_blocks_format") from None
    if blocks is not None and not (
        isinstance(blocks, list) and blocks
        and all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)
    ):
        raise _Refused("invalid_blocks_format")
    if not text and not blocks:
        raise _Refused("invalid_arguments", "[ERROR] missing required field: text or blocks")
    return text, blocks


def _message_shape(ts: str, text: str, blocks: list[Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "text": text, "user": BOT_USER_ID,
                               "bot_id": BOT_ID, "team": TEAM_ID, "ts": ts}
    if blocks:
        message["blocks"] = blocks
    return message


def main(argv: list[str] | None = None) -> None:
    """Run the fake Slack standalone and print its API URL and token."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    slack = SandboxSlack(args.token).start(port=args.port, host=args.host)
    print(f"Sandbox Slack Web API at {slack.api_url} (SLACK_API_URL), token {slack.token}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        slack.stop()


if __name__ == "__main__":
    main()
