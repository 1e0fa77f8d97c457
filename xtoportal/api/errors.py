"""The API's one error shape: {"error": {"type", "code", "message", "param"}}."""
from flask import jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """Raised anywhere under /v1; rendered as the documented error shape."""

    def __init__(self, status: int, type: str, message: str, code: str | None = None,
                 param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.type, self.code, self.message, self.param = status, type, code, message, param
        self.headers = headers or {}

    def response(self):
        body = {"error": {"type": self.type, "code": self.code, "message": self.message, "param": self.param}}
        return jsonify(body), self.status, self.headers


def invalid(param: str | None, message: str, code: str = "parameter_invalid") -> ApiError:
    return ApiError(400, "invalid_request_error", message, code=code, param=param)


def missing_parameter(param: str) -> ApiError:
    return invalid(param, f"Missing required parameter: {param}.", code="parameter_missing")


def not_found(kind: str, id: str, param: str | None = None) -> ApiError:
    """A path id is 404; an id given in the body or query is 400 naming the parameter."""
    message = f"No such {kind}: '{id}'"
    if param:
        return invalid(param, message, code="resource_missing")
    return ApiError(404, "invalid_request_error", message, code="resource_missing")


def state_conflict(message: str) -> ApiError:
    return ApiError(409, "invalid_request_error", message, code="state_conflict")


_HTTP = {
    401: ("authentication_error", "api_key_missing"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "resource_missing"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "parameter_invalid"),
    415: ("invalid_request_error", "parameter_invalid"),
    429: ("rate_limit_error", None),
}


def http_error_body(error: HTTPException):
    """Werkzeug's HTTP errors (404 route, 405, 429 from the limiter…) in the API's error shape."""
    type, code = _HTTP.get(error.code, ("invalid_request_error" if error.code < 500 else "api_error", None))
    message = {
        404: "Unrecognized request URL.",
        429: "Too many requests: slow down and retry after the time in Retry-After.",
    }.get(error.code, error.description or error.name)
    response = error.get_response()
    body = {"error": {"type": type, "code": code, "message": message, "param": None}}
    api_response = jsonify(body)
    api_response.status_code = error.code
    for name in ("Retry-After", "Allow", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        if name in response.headers:
            api_response.headers[name] = response.headers[name]
    return api_response
