"""WSGI entry point for gunicorn: `affiliates.wsgi:app`."""

from affiliates import create_app

app = create_app()
