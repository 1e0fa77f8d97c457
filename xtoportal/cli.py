"""The `xtoportal` command (a Flask CLI group; `flask --app wsgi …` works too)."""
import json
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import IntegrityError

from .extensions import db


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or upgrade the schema (Alembic migrations); safe to run twice."""
    from flask_migrate import upgrade
    upgrade()
    click.echo("Database is up to date.")


@click.command("create-merchant")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@with_appcontext
def create_merchant_command(name, email, password):
    """Create a merchant and its owner; prints its id, secret key and dashboard URL as JSON."""
    from .merchants import create_merchant
    try:
        merchant, secret = create_merchant(name, email, password)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(f"a dashboard user with the email {email} already exists")
    click.echo(json.dumps({
        "merchant_id": merchant.id, "secret_key": secret,
        "dashboard_url": current_app.config["PUBLIC_URL"] + "/dashboard/",
    }))


@click.command("create-staff")
@click.option("--merchant", "merchant_id", required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(["support", "admin"]), required=True)
@with_appcontext
def create_staff_command(merchant_id, email, password, role):
    """Add a dashboard user; `support` may look and preview, never change."""
    from .merchants import create_staff
    from .models import Merchant
    if db.session.get(Merchant, merchant_id) is None:
        raise click.ClickException(f"no merchant {merchant_id}")
    try:
        user = create_staff(merchant_id, email, password, role)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(f"a dashboard user with the email {email} already exists")
    click.echo(json.dumps({"id": user.id, "email": user.email, "role": user.role}))


@click.command("demo")
@with_appcontext
def demo_command():
    """Seed (idempotently) a demo merchant; print its API key, dashboard login and a fresh portal URL."""
    from .demo import seed_demo
    result = seed_demo()
    click.echo(f"API key:         {result['secret_key']}")
    click.echo(f"Dashboard:       {result['dashboard_url']}  ({result['email']} / {result['password']})")
    click.echo(f"Demo customer:   {result['customer_id']}")
    click.echo(f"Portal URL:      {result['portal_url']}")
    click.echo("                 (single use, valid 30 minutes: run `xtoportal demo` again for a new one)")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one pass and exit (tests, cron).")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between passes when idle.")
@with_appcontext
def worker_command(once, interval):
    """Deliver webhooks and run due billing until stopped, or one pass with --once."""
    from .worker import run_worker
    run_worker(once=once, interval=interval)


@click.command("serve")
@click.option("--host", help="Default 127.0.0.1 (from BIND).")
@click.option("--port", type=int, help="Default 5000 (from BIND).")
@click.option("--workers", type=int, help="Default 2 (WEB_CONCURRENCY).")
def serve_command(host, port, workers):
    """Serve the web app with gunicorn, configured by xtoportal/gunicorn_conf.py (environment variables)."""
    from gunicorn.app.base import BaseApplication

    from . import create_app, gunicorn_conf

    class Server(BaseApplication):
        def load_config(self):
            for name, value in vars(gunicorn_conf).items():
                if name in self.cfg.settings:
                    self.cfg.set(name, value)
            if host or port:
                default_host, _, default_port = gunicorn_conf.bind.rpartition(":")
                self.cfg.set("bind", f"{host or default_host}:{port or default_port}")
            if workers:
                self.cfg.set("workers", workers)

        def load(self):
            return create_app()

    Server().run()


cli_commands = [init_db, create_merchant_command, create_staff_command, demo_command, worker_command]


def _create_app():
    from . import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main():
    """Xtopay customer portal."""


main.add_command(serve_command)

if __name__ == "__main__":
    sys.exit(main())
