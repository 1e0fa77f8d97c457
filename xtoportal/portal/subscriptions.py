"""Portal: changing plan, cancelling, pausing and resuming a subscription (being built)."""
from flask import redirect, url_for

from . import bp
from .access import portal_login_required


@bp.get("/subscriptions/<id>/plan")
@portal_login_required
def change_plan(id):
    return redirect(url_for("portal.overview"))


@bp.get("/subscriptions/<id>/cancel")
@portal_login_required
def cancel_subscription(id):
    return redirect(url_for("portal.overview"))


@bp.get("/subscriptions/<id>/pause")
@portal_login_required
def pause_subscription(id):
    return redirect(url_for("portal.overview"))


def flow_destination(session) -> str | None:
    """Where a deep link of this session should land (not built yet: nowhere special)."""
    return None
