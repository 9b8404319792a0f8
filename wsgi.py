"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""
from webhooks.app import create_app

app = create_app()
