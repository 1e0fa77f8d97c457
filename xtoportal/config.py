"""Configuration: defaults, then instance/config.py, then environment variables."""
import os
import secrets
from pathlib import Path


class Defaults:
    PUBLIC_URL = "http://127.0.0.1:5000"
    MOBILE_MONEY_TIMEOUT = 120
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    API_RATE_LIMIT = "100 per second"
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    BABEL_DEFAULT_LOCALE = "en"
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
    WEBHOOK_TIMEOUT = 10.0  # seconds for a whole delivery exchange
    WEBHOOK_LEASE = 30  # seconds a claimed delivery belongs to one worker; must stay above the timeout
    WEBHOOK_THREADS = 32  # concurrent sends per worker


ENV_SETTINGS = {
    "DATABASE_URL": str,
    "SECRET_KEYS": str,
    "PUBLIC_URL": str,
    "MOBILE_MONEY_TIMEOUT": int,
    "RATELIMIT_STORAGE_URI": str,
    "API_RATE_LIMIT": str,
    "WEBHOOK_TIMEOUT": float,
    "WEBHOOK_LEASE": int,
    "WEBHOOK_THREADS": int,
}


def load(app, overrides: dict | None) -> None:
    """Fill app.config from defaults, instance/config.py, the environment and `overrides` (tests)."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for name, kind in ENV_SETTINGS.items():
        if name in os.environ:
            app.config[name] = kind(os.environ[name])
    app.config.update(overrides or {})

    app.config["SQLALCHEMY_DATABASE_URI"] = _database_uri(
        app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'xtoportal.sqlite3'}"
    )
    keys = _secret_keys(app)
    app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = keys[0], keys[1:]
    app.config["PUBLIC_URL"] = app.config["PUBLIC_URL"].rstrip("/")
    app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_URL"].startswith("https://")


def _database_uri(url: str) -> str:
    # psycopg 3 is the driver; accept the plain postgres:// URLs hosting providers hand out.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _secret_keys(app) -> list[str]:
    """SECRET_KEYS newest first; without it, a key generated once and kept in instance/."""
    configured = app.config.get("SECRET_KEYS") or ""
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if keys:
        return keys
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return [path.read_text().strip()]
