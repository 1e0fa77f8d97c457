"""Structured request logging that never contains a secret key, a portal token, a card number or a CVC.

Only the method, the path (portal tokens cut out), the status and the duration are logged; never headers,
query strings or bodies, which is where secrets travel.
"""
import json
import logging
import re
import sys
import time
import uuid

from flask import g, request

logger = logging.getLogger("xtoportal.requests")
_TOKEN_IN_PATH = re.compile(r"^/portal/sess_[^/]+")


def redact_path(path: str) -> str:
    return _TOKEN_IN_PATH.sub("/portal/[token]", path)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (gunicorn and test runners replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def init_app(app) -> None:
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()
        g.request_id = "req_" + uuid.uuid4().hex[:16]

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        record = {
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": redact_path(request.path),
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "merchant": g.get("merchant_id"),
        }
        logger.info(json.dumps(record))
        response.headers["Request-Id"] = record["request_id"] or ""
        return response
