"""The customer portal under /portal."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")

from . import routes  # noqa: E402,F401
