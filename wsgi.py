"""WSGI entry point: gunicorn wsgi:app."""

from connect import create_app

app = create_app()
