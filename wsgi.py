"""WSGI entry point: `gunicorn wsgi:app`."""
from xtoportal import create_app

app = create_app()
