"""Dashboard pages that belong to no one area (home, audit log) and the dashboard's error pages (the headers every
dashboard page carries are set in security_headers.py)."""
from datetime import UTC, datetime

from flask import g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from ..extensions import db
from ..models import AuditEntry, StaffUser
from . import bp
from .auth import can, requires, send_to_sign_in, signed_in_staff
from .loaders import merchant_rows, newest_first_page
from .logos import brand_bp
from .settings import logo_too_large

@bp.record_once
def register_brand_routes(state):
    """Logos are served outside /dashboard (they are public): their blueprint comes with the dashboard's."""
    state.app.register_blueprint(brand_bp)


@bp.app_template_filter("dashboard_time")
def dashboard_time(timestamp: int | None) -> str:
    """A Unix timestamp as staff read it: "5 Mar 2025, 14:22 UTC" (empty for None)."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%-d %b %Y, %H:%M UTC")


@bp.get("/")
@requires("view")
def index():
    return redirect(url_for(".customers"), 303)


@bp.get("/audit-log")
@requires("read_audit_log")
def audit_log():
    rows, next_cursor = newest_first_page(merchant_rows(AuditEntry), AuditEntry, size=50,
                                          cursor_column=AuditEntry.id)
    staff_ids = {row.staff_user_id for row in rows if row.staff_user_id}
    staff = {user.id: user for user in db.session.scalars(
        db.select(StaffUser).where(StaffUser.id.in_(staff_ids)))} if staff_ids else {}
    return render_template("dashboard/audit_log.html", entries=rows, staff=staff, next_cursor=next_cursor)


def _error_page(status: int, title: str, message: str):
    # Errors raised before the dashboard's own before_request (CSRF, request size) find g.staff unset or stale.
    g.staff = signed_in_staff()
    return render_template("dashboard/error.html", title=title, message=message), status


@bp.errorhandler(CSRFError)
def form_expired(error):
    return _error_page(400, "This form has expired",
                       "The page was open too long or was sent from elsewhere. Go back, reload it and try again.")


@bp.errorhandler(403)
def forbidden(error):
    return _error_page(403, "Not allowed for your role",
                       "Your role does not allow this. An owner or an admin can do it.")


@bp.errorhandler(404)
def not_found(error):
    return _error_page(404, "Not found", "There is nothing here, or it belongs to another account.")


@bp.errorhandler(413)
def request_too_large(error):
    g.staff = signed_in_staff()
    if g.staff is None:
        return send_to_sign_in()
    if request.endpoint == "dashboard.upload_logo" and can("change_settings"):
        return logo_too_large()
    return _error_page(413, "Too large", "What you sent is larger than this server accepts.")
