"""The ceiling for the acknowledgement benchmark: a bare Flask endpoint that answers 204."""

from flask import Flask

app = Flask(__name__)


@app.post("/webhooks/jira")
def jira_webhook():
    """Answer 204 without reading the delivery."""
    return "", 204


@app.get("/healthz")
def healthz():
    """Answer 204 (gunicorn is up)."""
    return "", 204
