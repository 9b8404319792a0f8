"""Deliver webhooks as Jira Cloud does: signed, in order, redelivered on retryable failures.

Tests may also hold deliveries back and release them shuffled and doubled, as Jira Cloud
may deliver them (it promises neither order nor exactly-once delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
DEFAULT_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)


def sign(secret: str, body: bytes) -> str:
    """Return the X-Hub-Signature value Jira sends: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_retryable(status: int | None) -> bool:
    """Tell whether Jira would redeliver after this answer (None: no answer at all)."""
    return status is None or status in RETRYABLE_STATUSES or status >= 500


@dataclass(frozen=True)
class RecordedDelivery:
    """One POST attempt of a webhook; `status` None means `error` says why there was no answer."""

    identifier: str
    webhook_event: str
    attempt: int
    status: int | None
    error: str | None
    time: float
    url: str
    headers: dict[str, str] = field(repr=False)
    payload: dict[str, Any] = field(repr=False)
    gave_up: bool = False


@dataclass
class _Pending:
    url: str
    secret: str | None
    webhook_event: str
    payload: dict[str, Any]
    identifier: str = field(default_factory=lambda: str(uuid.uuid4()))


class WebhookSender:
    """One background thread delivering queued webhooks FIFO, with Jira's retry policy."""

    def __init__(self, retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
                 timeout: float = 5.0) -> None:
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self._queue: queue.Queue[tuple[_Pending, int]] = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._deliveries: list[RecordedDelivery] = []
        self._sent: dict[str, _Pending] = {}
        self._held: list[_Pending] | None = None
        self._thread: threading.Thread | None = None

    @property
    def deliveries(self) -> list[RecordedDelivery]:
        """Return every attempt so far, oldest first."""
        with self._idle:
            return list(self._deliveries)

    def clear(self) -> None:
        """Forget recorded attempts."""
        with self._idle:
            self._deliveries.clear()

    def start(self) -> None:
        """Start the delivery thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the delivery thread (pending deliveries are dropped) and join it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def enqueue(self, url: str, secret: str | None, webhook_event: str,
                payload: dict[str, Any]) -> str:
        """Queue a delivery; return its X-Atlassian-Webhook-Identifier."""
        pending = _Pending(url, secret, webhook_event, payload)
        with self._idle:
            self._sent[pending.identifier] = pending
            if self._held is not None:
                self._held.append(pending)
                return pending.identifier
            self._outstanding += 1
        self._queue.put((pending, 1))
        return pending.identifier

    def hold(self) -> None:
        """Keep every delivery queued from now on back until release() (wait_idle ignores them)."""
        with self._idle:
            if self._held is None:
                self._held = []

    def release(self, seed: int | None, duplicate: bool = True,
                new_identifiers: bool = False) -> list[tuple[str, int]]:
        """Send the held deliveries and stop holding; return (identifier, attempt) in send order.

        With a ``seed`` the order is shuffled (``random.Random(seed)``); None keeps it. With
        ``duplicate`` each is sent twice: the later copy as Jira's retry of the same delivery
        (same X-Atlassian-Webhook-Identifier, attempt 2), or, with ``new_identifiers``, as
        another delivery of the same event under a new identifier.
        """
        with self._idle:
            held, self._held = self._held or [], None
            copies = list(held)
            if duplicate:
                for pending in held:
                    if new_identifiers:
                        pending = _Pending(pending.url, pending.secret, pending.webhook_event,
                                           pending.payload)
                        self._sent[pending.identifier] = pending
                    copies.append(pending)
            if seed is not None:
                random.Random(seed).shuffle(copies)
            attempts: dict[str, int] = {}
            order = []
            for pending in copies:
                attempts[pending.identifier] = attempts.get(pending.identifier, 0) + 1
                order.append((pending, attempts[pending.identifier]))
            self._outstanding += len(order)
        for item in order:
            self._queue.put(item)
        return [(pending.identifier, attempt) for pending, attempt in order]

    def redeliver(self, identifier: str, new_identifier: bool = False) -> int | None:
        """Send an earlier delivery once more, now, as a retry (or under a new identifier).

        Returns the receiver's status (None when it could not be reached).
        """
        with self._idle:
            original = self._sent[identifier]
            attempts = [d.attempt for d in self._deliveries if d.identifier == identifier]
        pending = original
        attempt = max(attempts, default=0) + 1
        if new_identifier:
            pending = _Pending(original.url, original.secret, original.webhook_event,
                               original.payload)
            attempt = 1
            with self._idle:
                self._sent[pending.identifier] = pending
        with requests.Session() as session:
            status, _ = self._attempt(session, pending, attempt, final=True)
        return status

    def wait_idle(self, timeout: float) -> None:
        """Block until nothing is queued or in flight; raise TimeoutError otherwise."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._outstanding == 0, timeout):
                raise TimeoutError(f"{self._outstanding} webhook deliveries still outstanding")

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    pending, first_attempt = self._queue.get(timeout=0.05)
                except queue.Empty:
                    continue
                try:
                    self._deliver(session, pending, first_attempt)
                finally:
                    with self._idle:
                        self._outstanding -= 1
                        self._idle.notify_all()

    def _deliver(self, session: requests.Session, pending: _Pending,
                 first_attempt: int = 1) -> None:
        for attempt in range(first_attempt, len(self.retry_delays) + 2):
            final = attempt > len(self.retry_delays)
            status, retry = self._attempt(session, pending, attempt, final)
            if not retry:
                return
            if self._stop.wait(self.retry_delays[attempt - 1]):
                return

    def _attempt(self, session: requests.Session, pending: _Pending, attempt: int,
                 final: bool) -> tuple[int | None, bool]:
        """POST once; record it; return the status and whether to try again."""
        body = json.dumps(pending.payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": pending.identifier,
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if attempt > 1:
            headers["X-Atlassian-Webhook-Retry"] = str(attempt - 1)
        if pending.secret:
            headers["X-Hub-Signature"] = sign(pending.secret, body)
        status, error = self._post(session, pending.url, body, headers)
        retry = is_retryable(status)
        gave_up = retry and final
        self._record(pending, attempt, status, error, headers, gave_up)
        if gave_up:
            logger.warning("webhook delivery gave up", extra={
                "webhook_event": pending.webhook_event, "attempts": attempt})
        return status, retry and not final

    def _post(self, session: requests.Session, url: str, body: bytes,
              headers: dict[str, str]) -> tuple[int | None, str | None]:
        try:
            with session.post(url, data=body, headers=headers, timeout=self.timeout) as response:
                return response.status_code, None
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _record(self, pending: _Pending, attempt: int, status: int | None, error: str | None,
                headers: dict[str, str], gave_up: bool) -> None:
        delivery = RecordedDelivery(
            identifier=pending.identifier,
            webhook_event=pending.webhook_event,
            attempt=attempt,
            status=status,
            error=error,
            time=time.monotonic(),
            url=pending.url,
            headers=headers,
            payload=pending.payload,
            gave_up=gave_up,
        )
        logger.debug("webhook delivered", extra={
            "webhook_event": pending.webhook_event, "attempt": attempt, "status": status})
        with self._idle:
            self._deliveries.append(delivery)
