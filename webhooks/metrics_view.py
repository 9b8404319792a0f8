"""Serve GET /metrics: the Redis-kept counters and health gauges, and live queue depths."""

from __future__ import annotations

import logging

from flask import Blueprint, Response

from jobs.periodic import periodic_queue_name
from worker import metrics

from .views import REDIS_DOWN, services

logger = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/metrics")
def metrics_page() -> Response:
    """Render every counter, the stored change health gauges (the periodic tick counts them; the
    scrape only reads) and the depth of the webhook and periodic queues."""
    svc = services()
    try:
        text = metrics.render(svc.redis, svc.settings,
                              [svc.settings.queue_name, periodic_queue_name(svc.settings)])
    except REDIS_DOWN:
        logger.warning("metrics unavailable", exc_info=True)
        return Response("redis unreachable\n", status=503, content_type="text/plain")
    return Response(text, content_type=CONTENT_TYPE)
