"""Play the worker's side of the generic gate: take each judgement job, push its scripted answer."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis
from flask import Flask
from rq import Queue
from rq.job import Job

from tests.builders import make_settings
from webhooks.app import create_app
from webhooks.gate_api import WAIT_CONFIG
from worker.settings import hash_gate_token

TOKEN = "jenkins-gate-token-for-tests"
OTHER_TOKEN = "deploy-bot-gate-token-for-tests"
# Two pipelines: the one most tests use is the second entry, so every entry is compared.
GATE_TOKENS = (("deploy-bot", hash_gate_token(OTHER_TOKEN)), ("jenkins", hash_gate_token(TOKEN)))


def gate_app(redis_url: str, namespace: str, *, redis_client: redis.Redis | None = None,
             wait: float = 5.0, **overrides: Any) -> Flask:
    """Return the web app with the generic gate, waiting ``wait`` s for the worker's answer."""
    settings = make_settings(redis_url, namespace, **{"gate_tokens": GATE_TOKENS, **overrides})
    app = create_app(settings, redis_client=redis_client)
    app.config[WAIT_CONFIG] = wait
    return app


class PlayWorker:
    """Take each judgement job as it is enqueued and push the next scripted answer to its key.

    An answer of None takes the job and answers nothing (the worker is late). ``jobs`` holds the
    jobs taken, in order; they stay in the queue for the test to look at.
    """

    def __init__(self, redis_url: str, namespace: str, answers: list[dict[str, Any] | None]):
        self.namespace = namespace
        self.answers = list(answers)
        self.jobs: list[Job] = []
        self._conn = redis.Redis.from_url(redis_url)
        self._queue = Queue(namespace, connection=self._conn)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="play-worker", daemon=True)
        self._thread.start()

    def __enter__(self) -> PlayWorker:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()

    def answer_key(self, job: Job) -> str:
        """Return the Redis key the endpoint waits on for ``job``'s answer."""
        return f"{self.namespace}:gate-answer:{job.kwargs['request']['reply']['answer_key']}"

    def _run(self) -> None:
        seen: set[str] = set()
        for answer in self.answers:
            job_id = self._next_job_id(seen)
            if job_id is None:
                return
            seen.add(job_id)
            job = Job.fetch(job_id, connection=self._conn)
            self.jobs.append(job)
            if answer is not None:
                self._conn.lpush(self.answer_key(job), json.dumps(answer))

    def _next_job_id(self, seen: set[str]) -> str | None:
        while not self._stop.is_set():
            fresh = [job_id for job_id in self._queue.get_job_ids() if job_id not in seen]
            if fresh:
                return fresh[0]
            time.sleep(0.01)
        return None


def answer(decision: str, reason: str, change: str | None = "CHG-123",
           retry_after: int | None = None) -> dict[str, Any]:
    """Return one answer as the worker pushes it."""
    return {"decision": decision, "reason": reason, "change": change, "retry_after": retry_after}
