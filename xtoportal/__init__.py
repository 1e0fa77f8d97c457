"""xtoportal: the Xtopay customer portal and its merchant API."""
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    """The app factory: configuration, extensions, blueprints, error handlers."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from . import config, errors, rate_limits, request_log, security_headers, static_files, web
    from .extensions import babel, csrf, db, migrate

    config.load(app, overrides)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    rate_limits.init_app(app)
    babel.init_app(app, locale_selector=web.select_locale)

    from .api import bp as api_bp
    from .dashboard import bp as dashboard_bp
    from .portal import bp as portal_bp

    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(dashboard_bp)
    # After the blueprints: a support preview's POST is refused as read-only (403) before any CSRF check.
    csrf.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    request_log.init_app(app)
    security_headers.init_app(app)
    static_files.init_app(app)
    if proxies := app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    from .cli import cli_commands
    for command in cli_commands:
        app.cli.add_command(command)
    return app
