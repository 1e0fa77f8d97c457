"""Production configuration: content-hashed static URLs cached for a year, compressed responses, the PostgreSQL
pool and gunicorn settings read from the environment."""
import gzip
import importlib
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
from flask import render_template_string, url_for

from xtoportal import ROOT, create_app
from xtoportal.extensions import db

from tests.factories import make_card, make_customer, make_plan
from tests.portal.factories import make_subscription

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def static_dir(app, tmp_path):
    """The app's static folder moved to a temporary one the test can write to."""
    app.static_folder = str(tmp_path)
    return tmp_path


def static_url(app, filename) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def test_static_url_carries_a_hash_of_the_content_that_changes_with_it(app, static_dir):
    (static_dir / "site.css").write_text("body { color: black }")
    first = static_url(app, "site.css")
    (static_dir / "site.css").write_text("body { color: navy }")
    second = static_url(app, "site.css")
    assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]{12}", first)
    assert first != second
    (static_dir / "site.css").write_text("body { color: black }")
    assert static_url(app, "site.css") == first


def test_templates_get_hashed_static_urls_without_changes(app):
    with app.test_request_context():
        page = render_template_string("<link href=\"{{ url_for('static', filename='css/portal.css') }}\">")
    assert re.search(r'href="/static/css/portal\.css\?v=[0-9a-f]{12}"', page)


def test_missing_static_file_keeps_a_plain_url_and_is_404(app, client):
    assert static_url(app, "nope.css") == "/static/nope.css"
    assert static_url(app, "css") == "/static/css"  # a directory
    assert client.get("/static/nope.css").status_code == 404


def test_hashed_url_is_cached_for_a_year_as_immutable(app, client):
    response = client.get(static_url(app, "css/portal.css"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE


def test_unhashed_or_stale_url_is_revalidated_not_cached_for_long(app, client, static_dir):
    (static_dir / "site.css").write_text("body { color: black }")
    old = static_url(app, "site.css")
    (static_dir / "site.css").write_text("body { color: navy }")
    for url in ("/static/site.css", old, "/static/site.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.get_data(as_text=True) == "body { color: navy }"
        assert "max-age=31536000" not in response.headers.get("Cache-Control", "")
        assert "no-cache" in response.headers["Cache-Control"]


def test_hashed_static_file_answers_304_to_its_etag(app, client):
    url = static_url(app, "css/portal.css")
    first = client.get(url, headers={"Accept-Encoding": "br"})
    again = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize("encoding, decompress", [("gzip", gzip.decompress), ("br", brotli.decompress)])
def test_static_css_is_compressed_when_the_client_accepts_it(app, client, encoding, decompress):
    url = static_url(app, "css/portal.css")
    plain = client.get(url).data
    response = client.get(url, headers={"Accept-Encoding": encoding})
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert decompress(response.data) == plain
    assert int(response.headers["Content-Length"]) == len(response.data) < len(plain) / 2


def _overview(app, api, merchant):
    customer = make_customer(merchant[0], name="Ama Mensah")
    make_card(customer)
    make_subscription(customer, make_plan(merchant[0], name="Growth"))
    db.session.commit()
    session = api.post("/v1/customer_portal/sessions",
                       json={"customer_id": customer.id, "return_url": "https://acme.example/account"}).get_json()
    browser = app.test_client()
    assert browser.get(urlsplit(session["url"]).path).status_code == 303
    return browser


@pytest.mark.parametrize("encoding, decompress", [("gzip", gzip.decompress), ("br", brotli.decompress)])
def test_portal_page_is_compressed_when_the_client_accepts_it(app, api, merchant, encoding, decompress):
    browser = _overview(app, api, merchant)
    plain = browser.get("/portal/")
    response = browser.get("/portal/", headers={"Accept-Encoding": encoding})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == encoding
    page = decompress(response.data).decode()
    assert "Ama Mensah" in page and "Growth" in page
    assert len(response.data) < len(plain.data) / 2
    assert "Accept-Encoding" in response.headers["Vary"]


def test_page_is_not_compressed_unless_asked_and_still_varies_on_accept_encoding(app, api, merchant):
    browser = _overview(app, api, merchant)
    for accept in (None, "identity"):
        response = browser.get("/portal/", headers={"Accept-Encoding": accept} if accept else {})
        assert "Content-Encoding" not in response.headers
        assert "Ama Mensah" in response.get_data(as_text=True)
        assert "Accept-Encoding" in response.headers["Vary"]


def test_api_json_is_compressed_too(api, merchant):
    for n in range(10):
        make_customer(merchant[0], name=f"Customer {n}", email=f"c{n}@example.com")
    db.session.commit()
    response = api.get("/v1/customers?limit=10", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(gzip.decompress(response.data)) > len(response.data)


# --- the PostgreSQL pool --------------------------------------------------------------------------------------

PG_URL = "postgresql://user:secret@db.invalid/xtoportal"  # the pool is configured without connecting


def test_pool_settings_come_from_the_environment(monkeypatch):
    for name, value in {"DATABASE_URL": PG_URL, "DATABASE_POOL_SIZE": "3", "DATABASE_MAX_OVERFLOW": "1",
                        "DATABASE_POOL_RECYCLE": "600", "DATABASE_POOL_TIMEOUT": "4",
                        "DATABASE_POOL_PRE_PING": "false"}.items():
        monkeypatch.setenv(name, value)
    app = create_app({"SECRET_KEYS": "k"})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_pre_ping": False, "pool_size": 3, "max_overflow": 1, "pool_timeout": 4, "pool_recycle": 600}
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._recycle, pool.timeout(), pool._pre_ping) == (3, 1, 600, 4,
                                                                                                      False)


def test_pool_defaults_suit_sync_workers(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    app = create_app({"SECRET_KEYS": "k"})
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping) == (5, 5, 1800, True)


def test_prepared_statements_can_be_turned_off_for_pgbouncer(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "0")
    app = create_app({"SECRET_KEYS": "k"})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"prepare_threshold": None}


def test_sqlite_keeps_its_own_pool(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "3")
    app = create_app({"SECRET_KEYS": "k", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}


def test_engine_options_set_in_configuration_win(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    app = create_app({"SECRET_KEYS": "k", "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 9}})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 9


def test_a_flag_that_is_not_one_is_refused_at_startup(monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_PRE_PING", "maybe")
    with pytest.raises(ValueError, match="1/0, true/false"):
        create_app({"SECRET_KEYS": "k"})


@pytest.mark.postgres
def test_pool_serves_real_postgres_connections(postgres_app):
    assert db.session.execute(db.text("SELECT 1")).scalar() == 1
    assert db.engine.pool.size() == postgres_app.config["DATABASE_POOL_SIZE"]


# --- gunicorn -------------------------------------------------------------------------------------------------


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    for name, value in {"WEB_CONCURRENCY": "5", "BIND": "0.0.0.0:8000", "GUNICORN_TIMEOUT": "20",
                        "GUNICORN_GRACEFUL_TIMEOUT": "25", "GUNICORN_MAX_REQUESTS": "100",
                        "GUNICORN_MAX_REQUESTS_JITTER": "10", "FORWARDED_ALLOW_IPS": "10.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    from xtoportal import gunicorn_conf
    conf = importlib.reload(gunicorn_conf)
    assert (conf.workers, conf.bind, conf.worker_class, conf.timeout, conf.graceful_timeout) == (
        5, "0.0.0.0:8000", "sync", 20, 25)
    assert (conf.max_requests, conf.max_requests_jitter, conf.forwarded_allow_ips) == (100, 10, "10.0.0.1")
    monkeypatch.undo()
    importlib.reload(gunicorn_conf)


def test_gunicorn_accepts_the_configuration_and_loads_the_app(tmp_path):
    result = subprocess.run(
        [Path(sys.executable).parent / "gunicorn", "--check-config", "-c", "python:xtoportal.gunicorn_conf",
         "wsgi:app"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEYS": "k", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})
    assert result.returncode == 0, result.stderr


def test_xtoportal_serve_runs_gunicorn_with_the_production_settings(tmp_path):
    """The real server: WEB_CONCURRENCY workers, --port over BIND, hashed static files immutable and compressed."""
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "server.log"
    with open(log, "w") as stderr:
        server = subprocess.Popen(
            [Path(sys.executable).parent / "xtoportal", "serve", "--port", str(port)], cwd=ROOT, stderr=stderr,
            env={"PATH": "/usr/bin:/bin", "SECRET_KEYS": "k", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
                 "WEB_CONCURRENCY": "2", "BIND": "127.0.0.1:1"})
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("Booting worker") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        page = httpx.get(f"{base}/dashboard/sign-in", timeout=10)
        css = re.search(r'href="(/static/css/dashboard\.css\?v=[0-9a-f]{12})"', page.text).group(1)
        response = httpx.get(base + css, headers={"Accept-Encoding": "br"}, timeout=10)
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert response.headers["Content-Encoding"] == "br" and "Accept-Encoding" in response.headers["Vary"]
        assert log.read_text().count("Booting worker") == 2
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- the locked dependency set --------------------------------------------------------------------------------


def test_lock_pins_every_dependency_the_project_declares():
    import tomllib

    from packaging.requirements import Requirement

    def canonical(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonical(Requirement(line).name)
                for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]}
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[\w.!+]+", version), f"not pinned exactly: {line}"
            pins[canonical(name)] = version
    assert declared - set(pins) == set(), "run: .venv/bin/python bench/audit.py --relock"


def _pypi(projects: dict):
    """PyPI's project JSON for `projects` {name: (latest version, advisories)}, served by an httpx transport."""
    import httpx

    def answer(request):
        name = request.url.path.split("/")[2]
        if name not in projects:
            return httpx.Response(404)
        latest, advisories = projects[name]
        return httpx.Response(200, json={"info": {"version": latest}, "vulnerabilities": advisories})
    return httpx.Client(transport=httpx.MockTransport(answer))


def test_audit_trusts_pypi_latest_release_advisories_only_for_packages_locked_at_the_latest_release():
    from bench.audit import _latest_release_advisories

    advisory = {"id": "PYSEC-2099-1", "fixed_in": ["2.0.1"], "summary": "bad", "withdrawn": None}
    client = _pypi({"clean": ("1.0", []), "vulnerable": ("2.0", [advisory]), "behind": ("3.0", []),
                    "withdrawn": ("1.0", [{**advisory, "withdrawn": "2099-01-01"}])})
    assert _latest_release_advisories(client, "clean", "1.0") == []
    assert _latest_release_advisories(client, "vulnerable", "2.0") == [advisory]
    assert _latest_release_advisories(client, "withdrawn", "1.0") == []
    assert "latest is 3.0" in _latest_release_advisories(client, "behind", "2.5")  # not checked: a reason, no list
    assert "404" in _latest_release_advisories(client, "missing", "1.0")


def test_audit_reads_only_exact_pins(tmp_path):
    from bench.audit import read_lock

    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\nFlask==3.1.3\nbackports.zstd==1.8.0  # why\n")
    assert read_lock(lock) == {"flask": "3.1.3", "backports-zstd": "1.8.0"}
    lock.write_text("Flask>=3\n")
    with pytest.raises(SystemExit, match="not pinned"):
        read_lock(lock)
