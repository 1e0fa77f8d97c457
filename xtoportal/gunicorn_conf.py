"""Gunicorn settings for production, from the environment: `gunicorn -c python:xtoportal.gunicorn_conf wsgi:app`
(what `xtoportal serve` uses too).

Sync workers: a request holds one worker and one database connection from start to end, which keeps the
connection arithmetic simple (web processes × pool + workers ≤ max_connections) and the figures stable. Slow
clients are a reverse proxy's job (nginx or a load balancer buffers requests and responses), as gunicorn advises
for sync workers.
"""
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("BIND", "127.0.0.1:5000")  # e.g. 0.0.0.0:8000 behind a proxy on another host
workers = _int("WEB_CONCURRENCY", 2)  # ~ 2 × cores for this I/O-light app; each holds one connection at a time
worker_class = "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)  # a worker silent this long is killed and replaced
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)  # on SIGTERM/deploy, time to finish requests in flight
keepalive = _int("GUNICORN_KEEPALIVE", 2)  # seconds; a proxy in front keeps its own connections
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)  # recycle each worker now and then: bounds slow leaks
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)  # …not all workers at the same moment
# The proxies whose X-Forwarded-Proto is believed (https behind TLS termination); gunicorn's own default.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None  # the app logs each request as JSON already
errorlog = "-"
# Gunicorn ≥ 25.1 opens a control socket at one fixed path per user, which two servers on one host would share;
# signals (HUP, TTIN/TTOU, TERM) do the same job, so it stays off unless a path is given.
control_socket_disable = "GUNICORN_CONTROL_SOCKET" not in os.environ
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
