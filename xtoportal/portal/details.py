"""Portal: the customer's billing details (being built)."""
from flask import redirect, url_for

from . import bp
from .access import portal_login_required


@bp.get("/details")
@portal_login_required
def billing_details():
    return redirect(url_for("portal.overview"))
