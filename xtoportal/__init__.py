"""xtoportal: the Xtopay customer portal and its merchant API."""
from pathlib import Path

from flask import Flask

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
    from . import config, errors, request_log, web
    from .extensions import babel, csrf, db, limiter, migrate

    config.load(app, overrides)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=web.select_locale)

    from .api import bp as api_bp
    from .dashboard import bp as dashboard_bp
    from .portal import bp as portal_bp

    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(dashboard_bp)
    web.init_app(app)
    errors.init_app(app)
    request_log.init_app(app)

    from .cli import cli_commands
    for command in cli_commands:
        app.cli.add_command(command)
    return app
