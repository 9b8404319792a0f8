"""Two real worker processes and ticks across a meeting's agenda time: one agenda comment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rq import Queue

from jobs.cab_agenda import post_cab_agenda
from jobs.periodic import cab_calendar, tick
from rules.cab_schedule import next_meeting
from worker.runtime import build_runtime, connect_redis

from ..builders import wait_until
from .harness import WorkerProcess


def test_two_workers_and_many_ticks_post_one_agenda_and_a_rebuild_edits_it(jira, settings,
                                                                           tmp_path):
    runtime = build_runtime(settings)
    calendar = cab_calendar(runtime.policy)
    meeting = next_meeting(calendar, datetime.now(timezone.utc))
    epic = runtime.policy.cab.epic_key
    workers = [WorkerProcess(settings, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    try:
        # The workers' own once-a-minute ticker is not wired yet (see jobs/periodic.py): the
        # ticks go to the queue both workers drain.
        queue = Queue(settings.queue_name, connection=connect_redis(settings.redis_url))
        moments = [meeting.agenda_at + timedelta(seconds=s) for s in (-120, -60, 0, 1, 30, 60, 90)]
        jobs = [queue.enqueue(tick, now=moment.isoformat()) for moment in moments * 2]
        wait_until(lambda: all(job.get_status(refresh=True) in {"finished", "failed"}
                               for job in jobs), timeout=60, what="the ticks to run")
        assert {job.get_status() for job in jobs} == {"finished"}
        agenda = f"agenda:{meeting.key}"
        assert [job.return_value().get(agenda) for job in jobs].count("posted") == 1
        [comment] = jira.comments(epic)
        assert comment["text"].startswith("CAB agenda for ")

        result = post_cab_agenda(meeting, meeting.agenda_at, calendar=calendar, runtime=runtime)
        assert result == {"meeting": meeting.key, "comment_id": comment["id"], "action": "updated"}
        assert [c["id"] for c in jira.comments(epic)] == [comment["id"]]
        edits = [r for r in jira.requests if r.method == "PUT"
                 and r.path == f"/rest/api/3/issue/{epic}/comment/{comment['id']}"]
        assert len(edits) == 1
    finally:
        for worker in workers:
            worker.stop()
