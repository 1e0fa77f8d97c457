"""Every rate limit of the app, in one place (dashboard sign-in keeps its two next to its view, dashboard/auth.py).

| what | key | setting (default) | over the limit |
|---|---|---|---|
| the whole API, /v1 | API key (a hash of the header) | `API_RATE_LIMIT` (100 per second) | 429 `rate_limit_error` |
| `POST /v1/customer_portal/sessions` | API key | `PORTAL_SESSION_RATE_LIMIT` (20/s; 600/min) | 429 `rate_limit_error` |
| portal links that open nothing | client address | `PORTAL_LINK_FAILURE_LIMIT` (10/min; 50/h) | 429 page, any link |
| portal changes (non-GET /portal) | portal session | `PORTAL_MUTATION_LIMIT` (60/min) | 429 page; htmx: 429, banner |
| dashboard sign-in failures | address; account | `SIGN_IN_LIMIT_PER_ADDRESS`, `…_PER_ACCOUNT` | sign-in form, 429 |

Every 429 carries `Retry-After` (seconds). Counts live in `RATELIMIT_STORAGE_URI`: `memory://` counts per process,
`redis://host:6379` shares them between every web process. A storage that fails does not fail the request:
`RATELIMIT_SWALLOW_ERRORS` logs the error and lets the request through (availability over throttling); each
request asks the storage again, so counting resumes as soon as it answers. A storage URI that cannot be parsed,
or `redis://` without the `redis` package, fails at start-up instead.

The limits are declared once per process on the blueprints (the `limiter` is a module global), reading their
values from `current_app.config` on each request, so tests and deployments change them through configuration.
"""
from flask import current_app, make_response, render_template, request
from flask_babel import gettext
from flask_limiter.util import get_remote_address

from .api import bp as api_bp
from .api.errors import http_error_body
from .extensions import limiter
from .models import sha256
from .portal import bp as portal_bp
from .portal.access import cookie_portal_session

CHANGING_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
LINK_REFUSED = (403, 404, 410)  # what portal.open_link answers when the token opens nothing


def _setting(name: str):
    return lambda: current_app.config[name]


def api_key() -> str:
    """The calling API key (hashed, so the limiter's storage never holds a secret); the address without one."""
    header = request.headers.get("Authorization", "")
    return "key:" + sha256(header) if header else "ip:" + (request.remote_addr or "")


def portal_session_key() -> str:
    """The portal session this browser proved it holds; the address when it holds none (such requests are refused
    anyway), so a forged cookie naming someone else's session cannot spend that session's allowance."""
    session = cookie_portal_session()
    return f"portal-session:{session.id}" if session is not None else "portal-anonymous:" + get_remote_address()


def _not(endpoint: str):
    return lambda: request.endpoint != endpoint


# The API, all of it, per key; session creation also has a tighter allowance of its own.
limiter.shared_limit(_setting("API_RATE_LIMIT"), scope="api", key_func=api_key)(api_bp)
limiter.shared_limit(_setting("PORTAL_SESSION_RATE_LIMIT"), scope="api-portal-sessions", key_func=api_key,
                     methods=["POST"], exempt_when=_not("api.create_portal_session"))(api_bp)
# Opening a portal link: only the failures count, per address; once over, even a good link waits.
limiter.shared_limit(_setting("PORTAL_LINK_FAILURE_LIMIT"), scope="portal-link-failures", key_func=get_remote_address,
                     exempt_when=_not("portal.open_link"),
                     deduct_when=lambda response: response.status_code in LINK_REFUSED)(portal_bp)
# Everything that changes something in the portal, per portal session.
limiter.shared_limit(_setting("PORTAL_MUTATION_LIMIT"), scope="portal-changes", key_func=portal_session_key,
                     methods=CHANGING_METHODS)(portal_bp)


def too_many_requests(error):
    """429 in the shape of where it happened: the portal's page, the API's error (dashboard sign-in has its own)."""
    if request.blueprint == "portal":
        if request.headers.get("HX-Request") == "true":
            # htmx does not swap a 429: the portal's error banner says the change did not go through.
            return make_response(gettext("Please wait a minute, then try again."), 429)
        return render_template("portal/refused.html", kind="rate_limited"), 429
    if request.path.startswith("/v1"):
        return http_error_body(error)
    return render_template("errors/error.html", error=error), 429


def init_app(app) -> None:
    """Bind the limiter to `app`; the limits above apply to every app of the process."""
    limiter.init_app(app)
    app.register_error_handler(429, too_many_requests)
