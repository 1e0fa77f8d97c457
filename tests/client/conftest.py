"""Fixtures: the real app served over HTTP on 127.0.0.1, a client for the `merchant` fixture, the example app."""
import importlib.util
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from xtoportal.client import Xtopay

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "merchant_app" / "app.py"


@contextmanager
def serving(wsgi_app):
    """Serve `wsgi_app` on a free port of 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def api_url(app):
    """The API's base URL; portal URLs point at the same server."""
    with serving(app) as url:
        app.config["PUBLIC_URL"] = url
        yield url


@pytest.fixture
def xtopay(api_url, merchant):
    with Xtopay(merchant[1], base_url=api_url) as client:
        yield client


def load_example_app():
    """examples/merchant_app/app.py as the module `merchant_app` (examples/ is not a package)."""
    if "merchant_app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("merchant_app", EXAMPLE_APP)
        module = importlib.util.module_from_spec(spec)
        sys.modules["merchant_app"] = module
        spec.loader.exec_module(module)
    return sys.modules["merchant_app"]


WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def make_example_app(api_url, merchant):
    """make_example_app(**config) -> the example merchant app pointed at the live API, signed in as a customer."""
    apps = []

    def make(**overrides):
        module = load_example_app()
        config = {"XTOPAY_API_KEY": merchant[1], "XTOPAY_BASE_URL": api_url, "APP_URL": "http://127.0.0.1:5001",
                  "XTOPAY_WEBHOOK_SECRET": WEBHOOK_SECRET, "XTOPAY_CUSTOMER_ID": "cus_set_by_test", **overrides}
        example = module.create_app(config)
        apps.append(example)
        return example

    yield make
    for example in apps:
        example.extensions["xtopay"].close()
