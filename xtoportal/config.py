"""Configuration: defaults, then instance/config.py, then environment variables."""
import os
import secrets
from pathlib import Path


class Defaults:
    PUBLIC_URL = "http://127.0.0.1:5000"
    MOBILE_MONEY_TIMEOUT = 120
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True  # a storage that fails lets requests through (logged): see rate_limits.py
    API_RATE_LIMIT = "100 per second"  # per API key, the whole API
    PORTAL_SESSION_RATE_LIMIT = "20 per second;600 per minute"  # per API key, POST /v1/customer_portal/sessions
    PORTAL_LINK_FAILURE_LIMIT = "10 per minute;50 per hour"  # per address, portal links that open nothing
    PORTAL_MUTATION_LIMIT = "60 per minute"  # per portal session, every non-GET under /portal
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed (werkzeug's ProxyFix);
    # 0 = none. Per-address limits (portal links, sign-in) count the client, not the proxy, only when this is set.
    TRUSTED_PROXIES = 0
    # The PostgreSQL connection pool of each process, opened lazily. A sync gunicorn worker or an `xtoportal worker`
    # uses one connection at a time; the caps matter for threaded servers and tests. README "Production" has the
    # connection arithmetic.
    DATABASE_POOL_SIZE = 5
    DATABASE_MAX_OVERFLOW = 5
    DATABASE_POOL_TIMEOUT = 10  # seconds to wait for a free connection before the request fails
    DATABASE_POOL_RECYCLE = 1800  # seconds: reconnect before a proxy's or PgBouncer's idle limits cut it
    DATABASE_POOL_PRE_PING = True  # a connection the server closed (restart, failover) is replaced, not an error
    DATABASE_PREPARED_STATEMENTS = True  # off behind PgBouncer < 1.21 in transaction mode
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    BABEL_DEFAULT_LOCALE = "en"
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
    WEBHOOK_TIMEOUT = 10.0  # seconds for a whole delivery exchange
    WEBHOOK_LEASE = 30  # seconds a claimed delivery belongs to one worker; must stay above the timeout
    WEBHOOK_THREADS = 32  # concurrent sends per worker


def _flag(value: str) -> bool:
    """An on/off environment variable: 1/0, true/false, yes/no, on/off."""
    words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
    try:
        return words[value.strip().lower()]
    except KeyError:
        raise ValueError(f"expected 1/0, true/false, yes/no or on/off, not {value!r}") from None


ENV_SETTINGS = {
    "DATABASE_URL": str,
    "SECRET_KEYS": str,
    "PUBLIC_URL": str,
    "MOBILE_MONEY_TIMEOUT": int,
    "RATELIMIT_STORAGE_URI": str,
    "API_RATE_LIMIT": str,
    "PORTAL_SESSION_RATE_LIMIT": str,
    "PORTAL_LINK_FAILURE_LIMIT": str,
    "PORTAL_MUTATION_LIMIT": str,
    "SIGN_IN_LIMIT_PER_ADDRESS": str,
    "SIGN_IN_LIMIT_PER_ACCOUNT": str,
    "TRUSTED_PROXIES": int,
    "WEBHOOK_TIMEOUT": float,
    "WEBHOOK_LEASE": int,
    "WEBHOOK_THREADS": int,
    "DATABASE_POOL_SIZE": int,
    "DATABASE_MAX_OVERFLOW": int,
    "DATABASE_POOL_TIMEOUT": int,
    "DATABASE_POOL_RECYCLE": int,
    "DATABASE_POOL_PRE_PING": _flag,
    "DATABASE_PREPARED_STATEMENTS": _flag,
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
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**_engine_options(app.config),
                                               **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
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


def _engine_options(config) -> dict:
    """SQLAlchemy's pool settings from the DATABASE_POOL_* settings; SQLite keeps its own pool (no server)."""
    options = {"pool_pre_ping": config["DATABASE_POOL_PRE_PING"]}
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options.update(pool_size=config["DATABASE_POOL_SIZE"], max_overflow=config["DATABASE_MAX_OVERFLOW"],
                       pool_timeout=config["DATABASE_POOL_TIMEOUT"], pool_recycle=config["DATABASE_POOL_RECYCLE"])
        if not config["DATABASE_PREPARED_STATEMENTS"]:
            options["connect_args"] = {"prepare_threshold": None}  # psycopg 3 prepares nothing
    return options


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
