"""/v1/customer_portal/configuration: the merchant's one portal configuration (the dashboard edits the same)."""
from flask import g, jsonify

from ..extensions import db
from ..models import PortalConfiguration
from ..portal_settings import PortalSettingsInvalid, update_portal_configuration
from . import bp
from .errors import invalid
from .parsing import json_body


def merchant_portal_configuration(lock: bool = False) -> PortalConfiguration:
    """The calling merchant's configuration (every merchant has one from creation; made here if not)."""
    query = db.select(PortalConfiguration).where(PortalConfiguration.merchant_id == g.merchant_id)
    config = db.session.scalars(query.with_for_update() if lock else query).first()
    if config is None:
        config = PortalConfiguration(merchant_id=g.merchant_id, settings={})
        db.session.add(config)
        db.session.flush()
    return config


@bp.get("/customer_portal/configuration")
def get_portal_configuration():
    return jsonify(merchant_portal_configuration().to_api())


@bp.post("/customer_portal/configuration")
def update_portal_configuration_route():
    patch = json_body()
    config = merchant_portal_configuration(lock=True)
    try:
        update_portal_configuration(config, patch)
    except PortalSettingsInvalid as exc:
        raise invalid(exc.param, exc.message, code=exc.code) from None
    db.session.commit()
    return jsonify(config.to_api())
