"""Map a Jira webhook event name to the handlers that choose which jobs to enqueue."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from rules.policy import Policy

from .events import JiraEvent

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """One job to enqueue: its function, a deterministic id, JSON-able kwargs."""

    func: Callable[..., Any]
    job_id: str
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Context:
    """What a handler may consult besides the event: the delivery id, the policy, the namespace."""

    event_id: str
    policy: Policy
    namespace: str = "changeguard"


Handler = Callable[[JiraEvent, Context], tuple[JobRequest, ...]]


class Router:
    """A gidgethub-style registry of handlers by webhook event name, plus an ignore list."""

    def __init__(self, *other_routers: "Router"):
        self._handlers: dict[str, list[Handler]] = {}
        self._ignored: set[str] = set()
        for other in other_routers:
            for event_type, handlers in other._handlers.items():
                self._handlers.setdefault(event_type, []).extend(handlers)
            self._ignored |= other._ignored

    def register(self, event_type: str) -> Callable[[Handler], Handler]:
        """Return a decorator registering a handler for ``event_type``."""

        def decorator(handler: Handler) -> Handler:
            self._handlers.setdefault(event_type, []).append(handler)
            return handler

        return decorator

    def ignore(self, *event_types: str) -> None:
        """Declare events Jira may send that deliberately get no job."""
        self._ignored.update(event_types)

    def skip_reason(self, event_type: str) -> str | None:
        """Return why ``event_type`` gets no handler at all, or None if it has one."""
        if event_type in self._handlers:
            return None
        if event_type in self._ignored:
            return f"event {event_type} is ignored"
        logger.warning("webhook event unknown", extra={"webhook_event": event_type})
        return f"event {event_type} is not handled"

    def dispatch(self, event: JiraEvent, context: Context) -> tuple[JobRequest, ...]:
        """Call every handler registered for the event and collect the jobs they choose."""
        jobs: list[JobRequest] = []
        for handler in self._handlers.get(event.webhook_event, ()):
            jobs.extend(handler(event, context))
        return tuple(jobs)
