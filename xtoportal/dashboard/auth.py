"""Who is signed in to the dashboard and what their role lets them do: the one place for both.

The signed-in staff member lives in the Flask session (a signed cookie) as their id, when they signed in and a
fingerprint of their password hash: a changed password or a role that lost a permission takes effect on the next
request, and a sign-in is good for 12 hours at most.
"""
import hmac
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, make_response, redirect, render_template, request, session, url_for

from .. import clock
from ..extensions import db, limiter
from ..merchants import hash_password, password_matches
from ..models import StaffUser, sha256
from . import audit, bp

SESSION_KEY = "dashboard_staff"
SIGN_IN_LIFETIME = 12 * 3600
# Failed attempts only (a successful sign-in costs nothing): per address, and per account from any address.
# app.config can override either (same names), e.g. to test the limits with fewer slow argon2 checks.
SIGN_IN_LIMIT_PER_ADDRESS = "10 per minute;50 per hour"
SIGN_IN_LIMIT_PER_ACCOUNT = "20 per hour"

ROLE_PERMISSIONS = {
    "owner": frozenset({"view", "preview_portal", "change_settings", "manage_developers", "read_audit_log"}),
    "admin": frozenset({"view", "preview_portal", "change_settings", "manage_developers", "read_audit_log"}),
    # Support looks and previews a customer's portal, never changes anything.
    "support": frozenset({"view", "preview_portal"}),
}
PUBLIC_ENDPOINTS = frozenset({"dashboard.sign_in"})


def can(permission: str, staff: StaffUser | None = None) -> bool:
    """Whether `staff` (default: the signed-in staff member) has `permission`; templates ask the same question."""
    staff = staff if staff is not None else g.get("staff")
    return staff is not None and permission in ROLE_PERMISSIONS.get(staff.role, ())


def requires(permission: str):
    """A dashboard view for staff whose role has `permission`: others get 403, nobody signed in goes to sign-in."""
    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if g.staff is None:
                return send_to_sign_in()
            if not can(permission):
                abort(403)
            return view(*args, **kwargs)
        guarded.required_permission = permission
        return guarded
    return decorator


def signed_in_staff() -> StaffUser | None:
    """The staff member this browser signed in as, if that sign-in is still good."""
    entry = session.get(SESSION_KEY)
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    if not isinstance(entry.get("since"), int) or clock.now() - entry["since"] >= SIGN_IN_LIFETIME:
        return None
    staff = db.session.get(StaffUser, entry["id"])
    if staff is None or not hmac.compare_digest(str(entry.get("check", "")), staff_fingerprint(staff)):
        return None
    return staff


@bp.before_request
def load_signed_in_staff():
    """Every dashboard request starts knowing who is signed in (g.staff, or None); only sign-in is open to all."""
    g.staff = signed_in_staff()
    if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return send_to_sign_in()
    return None


@bp.context_processor
def staff_context():
    return {"can": can}


def send_to_sign_in():
    """To the sign-in page, coming back here afterwards (htmx is redirected as a whole page)."""
    target = url_for("dashboard.sign_in", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def staff_fingerprint(staff: StaffUser) -> str:
    """What the session keeps of the password hash: a changed password signs every browser out."""
    return sha256(staff.password_hash)[:32]


def _account_key() -> str:
    return "dashboard-account:" + sha256(request.form.get("email", "").strip().lower())


def _limit(name: str) -> str:
    return current_app.config.get(name) or globals()[name]


def _failed(response) -> bool:
    return response.status_code != 303


_timing_hash: list[str] = []


def _spend_a_hash(password: str) -> None:
    """Check a password against a throwaway hash, so an unknown email takes as long as a wrong password."""
    if not _timing_hash:
        _timing_hash.append(hash_password(secrets.token_urlsafe(16)))
    password_matches(_timing_hash[0], password)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path on this site, never another site."""
    parts = urlsplit(value or "")
    if value and not parts.scheme and not parts.netloc and value.startswith("/dashboard/") and "\\" not in value:
        return value
    return url_for("dashboard.index")


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(lambda: _limit("SIGN_IN_LIMIT_PER_ADDRESS"), methods=["POST"], deduct_when=_failed)
@limiter.limit(lambda: _limit("SIGN_IN_LIMIT_PER_ACCOUNT"), key_func=_account_key, methods=["POST"],
               deduct_when=_failed)
def sign_in():
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.staff is not None:
            return redirect(next_path, 303)
        return render_template("dashboard/sign_in.html", email="", next=next_path)
    email = request.form.get("email", "").strip().lower()
    password = request.form.get("password", "")
    known = email and "\x00" not in email  # PostgreSQL refuses NUL in a query; no account's email has one
    staff = db.session.scalars(db.select(StaffUser).filter_by(email=email)).first() if known else None
    if staff is None:
        _spend_a_hash(password)
    if staff is None or not password_matches(staff.password_hash, password):
        return render_template("dashboard/sign_in.html", email=email, next=next_path,
                               error="That email and password do not match a dashboard account."), 422
    start_staff_session(staff)
    audit.record("staff.signed_in", staff.id)
    db.session.commit()
    return redirect(next_path, 303)


def start_staff_session(staff: StaffUser) -> None:
    """Sign `staff` in with a brand-new session (no value, CSRF token or preview carried over from before)."""
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches this request's token: the next one is made for the new session
    session[SESSION_KEY] = {"id": staff.id, "since": clock.now(), "check": staff_fingerprint(staff)}
    session.permanent = False
    g.staff = staff
    staff.last_login_at = clock.now()


@bp.post("/sign-out")
@requires("view")
def sign_out():
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("dashboard.sign_in"), 303)


@bp.errorhandler(429)
def too_many_sign_in_attempts(error):
    """The sign-in form again, saying why it refuses (Flask-Limiter adds Retry-After to this response)."""
    return render_template(
        "dashboard/sign_in.html", email=request.form.get("email", ""), next=safe_next(request.values.get("next")),
        error="Too many sign-in attempts. Wait a minute, then try again."), 429
