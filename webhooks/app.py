"""Build the Flask app that receives Jira webhooks, from one Settings object."""

from __future__ import annotations

import logging

import redis
from flask import Flask
from rq import Queue

from worker.logging_setup import configure_logging
from worker.policy_file import load_policy
from worker.settings import Settings, SettingsError

from . import enqueue, routes
from .calendar_feed import bp as calendar_bp
from .gate_api import bp as gate_bp
from .github import bp as github_bp
from .gitlab import bp as gitlab_bp
from .metrics_view import bp as metrics_bp
from .router import Router
from .slack_interactions import bp as slack_bp
from .views import Services, bp

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    redis_client: redis.Redis | None = None,
    router: Router | None = None,
) -> Flask:
    """Create the webhook app from ``settings`` (default: the environment, with logging set up)."""
    if settings is None:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
    settings.require_webhook_secret()
    if not settings.jira_webhook_secret:
        logger.warning("JIRA_WEBHOOK_SECRET unset: accepting unsigned webhooks, as "
                       "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS allows")
    policy = load_policy(settings.policy_path)
    if redis_client is None:
        if not settings.redis_url:
            # Each gunicorn worker would embed a Redis of its own that no RQ worker reads.
            raise SettingsError("REDIS_URL is not set: the endpoint needs the Redis the worker reads")
        redis_client = enqueue.connect(settings.redis_url)
    app = Flask(__name__, static_folder=None)
    # Werkzeug refuses a larger Content-Length outright, but silently truncates a chunked
    # body at the limit; one byte of headroom lets the view see that it was too long.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_webhook_bytes + 1
    app.extensions["changeguard"] = Services(
        settings=settings,
        policy=policy,
        redis=redis_client,
        queue=Queue(settings.queue_name, connection=redis_client),
        router=router or routes.router,
    )
    app.register_blueprint(bp)
    app.register_blueprint(slack_bp)
    app.register_blueprint(calendar_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(github_bp)
    app.register_blueprint(gitlab_bp)
    app.register_blueprint(gate_bp)
    return app
