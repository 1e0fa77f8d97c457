"""Portal: the customer's payment methods (being built)."""
from flask import redirect, url_for

from . import bp
from .access import portal_login_required


@bp.get("/payment-methods")
@portal_login_required
def payment_methods():
    return redirect(url_for("portal.overview"))


def flow_destination(session) -> str | None:
    """Where a deep link of this session should land (not built yet: nowhere special)."""
    return None
