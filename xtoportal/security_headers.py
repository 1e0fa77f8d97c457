"""The security headers of every response, in one place: each area's Content-Security-Policy, framing, Referer,
MIME sniffing and caching, decided here so a new page or an error page cannot be served without them.

- Every response: `X-Content-Type-Options: nosniff` and a Referrer-Policy (a route may set a stricter one, as the
  portal link does with `no-referrer`: it holds the token).
- Every HTML page (and anything the portal or dashboard answers): a CSP whose scripts come from our origin only (no
  inline script, no eval), `frame-ancestors 'none'` with `X-Frame-Options: DENY` for older browsers, and
  `Cache-Control: no-store` — they show one customer's or one merchant's data, error pages included.
- JSON, static files and logos keep their own caching (static_files.py, dashboard/logos.py).
"""
import secrets
from urllib.parse import urlsplit

from flask import g, request

# The portal: styles from us plus the one theme <style> carrying this response's nonce; forms to us or back to
# the merchant's return_url.
PORTAL_POLICY = ("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' https: data:; "
                 "style-src {styles}; font-src 'self'; form-action {form_targets}; frame-ancestors 'none'; "
                 "base-uri 'none'")
# The dashboard: its live preview is a sandboxed srcdoc frame (no scripts, an opaque origin) that inherits this
# policy, and the portal page inside carries its theme as an inline <style> whose nonce belongs to another response:
# styles may be inline here, scripts never.
DASHBOARD_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                    "img-src 'self' https: data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                    "base-uri 'self'; object-src 'none'")
# Anything else that is HTML (the app's own error pages): nothing but our stylesheets and images.
DEFAULT_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                  "base-uri 'none'")
# The portal sends its origin on same-site form posts: flask-wtf's HTTPS CSRF check requires a Referer.
REFERRER_POLICIES = {"portal": "strict-origin-when-cross-origin"}
DEFAULT_REFERRER_POLICY = "same-origin"
PRIVATE_AREAS = frozenset({"portal", "dashboard"})


def csp_nonce() -> str:
    """This response's nonce for an inline <style> (the portal's theme)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(area: str | None) -> str:
    """The policy of `area` (a blueprint name) for this response."""
    if area == "portal":
        styles = f"'self' 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else "'self'"
        form_targets = "'self'"
        return_url = g.get("return_url")
        if return_url:
            parts = urlsplit(return_url)
            form_targets += f" {parts.scheme}://{parts.netloc}"
        return PORTAL_POLICY.format(styles=styles, form_targets=form_targets)
    return DASHBOARD_POLICY if area == "dashboard" else DEFAULT_POLICY


def add_security_headers(response):
    """After every request (error pages too): the headers above, without overriding what a route chose."""
    area = request.blueprint
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", REFERRER_POLICIES.get(area, DEFAULT_REFERRER_POLICY))
    if area not in PRIVATE_AREAS and response.mimetype != "text/html":
        return response
    headers.setdefault("Content-Security-Policy", content_security_policy(area))
    headers.setdefault("X-Frame-Options", "DENY")
    if area == "portal":
        headers["Cache-Control"] = "no-store"  # one customer's data, PDFs included: never kept by any cache
    else:
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app) -> None:
    app.after_request(add_security_headers)
