"""Error pages for browsers and the documented error shape for the API."""
from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .extensions import db
from .request_log import redact_path


def _wants_json() -> bool:
    return request.path.startswith("/v1") or request.path == "/healthz"


def init_app(app) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if _wants_json():
            from .api.errors import http_error_body
            return http_error_body(error)
        return render_template("errors/error.html", error=error), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, redact_path(request.path))
        if _wants_json():
            body = {"error": {"type": "api_error", "code": None, "param": None,
                              "message": "Something went wrong on our side. Please retry."}}
            return jsonify(body), 500
        return render_template("errors/error.html", error=None), 500
