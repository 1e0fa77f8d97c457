"""A real webhook receiver on 127.0.0.1, real worker processes, and verification as a receiver does it."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
import standardwebhooks.webhooks
from standardwebhooks import Webhook

from xtoportal import clock

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    """One request as the receiver saw it; `received_at` reads our (possibly moved) clock."""

    path: str
    headers: dict
    body: bytes
    received_at: int
    monotonic: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    """How the receiver answers a path: a status and headers, after `delay` seconds; `close` drops the
    connection without a word; `hold` (an Event) keeps the first request waiting until it is set."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0
    close: bool = False
    hold: threading.Event | None = None


class Receiver:
    """A threaded HTTP server that records every POST and answers each path as it is told (200 by default)."""

    def __init__(self):
        self.requests: list[Received] = []
        self.answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._server = None
        self.port = None
        self.start()

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", self.port or 0), _handler(self))
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until `start`."""
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, **how) -> None:
        self.answers[path] = Answer(**how)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received(path)) < count:
            assert time.monotonic() < deadline, f"{len(self.received(path))} of {count} requests arrived"
            time.sleep(0.01)
        return self.received(path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # several workers connect at once; the default backlog of 5 would refuse some


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, clock.now(),
                               time.monotonic())
            with receiver._lock:
                receiver.requests.append(request)
                first = sum(1 for r in receiver.requests if r.path == self.path) == 1
            how = receiver.answers.get(self.path, Answer())
            if how.hold is not None and first:
                how.hold.wait(30)
            if how.delay:
                time.sleep(how.delay)
            if how.close:
                self.close_connection = True
                return
            self.send_response(how.status)
            for name, value in how.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(how.body)))
            self.end_headers()
            self.wfile.write(how.body)

        def handle(self):
            try:
                super().handle()
            except OSError:  # the worker went away (timed out, or was killed) before the answer
                pass

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@contextmanager
def _library_clock(at: int):
    """`standardwebhooks` checks the timestamp against its own `datetime.now()`; run it as a receiver whose
    clock reads `at` (our moved clock), as freezing time does for our code."""
    class At(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(at, tz=tz or timezone.utc)

    with mock.patch.object(standardwebhooks.webhooks, "datetime", At):
        yield


def verify(secret: str, request: Received) -> dict:
    """The receiver's check with the `standardwebhooks` library, at the time the request arrived."""
    with _library_clock(request.received_at):
        return Webhook(secret).verify(request.body, request.headers)


# ---------------------------------------------------------------------------------------------------------------
# The merchant's side, through the API

def make_endpoint(api, url: str, **fields) -> dict:
    response = api.post("/v1/webhook_endpoints", json={"url": url, **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rename_customer(api, name: str = "New", customer_id: str | None = None) -> dict:
    """A real `customer.updated` event, caused the way a merchant causes one, read back from the API."""
    if customer_id is None:
        customer_id = api.post("/v1/customers", json={"name": "Old"}).get_json()["id"]
    assert api.post(f"/v1/customers/{customer_id}", json={"name": name}).status_code == 200
    return api.get("/v1/events?limit=1").get_json()["data"][0]


def attempts(api, endpoint: dict) -> list[dict]:
    """The delivery log as the merchant reads it, oldest first."""
    response = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries?limit=100")
    assert response.status_code == 200
    return response.get_json()["data"][::-1]



# ---------------------------------------------------------------------------------------------------------------
# Worker processes

# The same `run_worker` that `xtoportal worker` runs, in a process of its own, with app settings the CLI reads
# only from instance/config.py (a short lease and timeout, so a crash is recovered from in seconds).
WORKER = """
import json, sys
from xtoportal import create_app
from xtoportal.worker import run_worker
settings = json.loads(sys.argv[1])
interval = settings.pop("interval")
with create_app(settings).app_context():
    run_worker(interval=interval)
"""


class Workers:
    """Worker processes started by a test, stopped (SIGTERM, then SIGKILL) when it ends."""

    def __init__(self):
        self.processes: list[tuple[subprocess.Popen, typing.BinaryIO]] = []

    def start(self, database_url: str, *, cli: bool = False, interval: float = 0.05, **settings) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEYS": "test-secret-key-only-for-tests"}
        if cli:
            assert not settings, "the CLI reads no webhook settings from the environment"
            command = [str(ROOT / ".venv" / "bin" / "xtoportal"), "worker", "--interval", str(interval)]
        else:
            overrides = {"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEYS": env["SECRET_KEYS"],
                         "interval": interval, **settings}
            command = [sys.executable, "-c", WORKER, json.dumps(overrides)]
        log = tempfile.TemporaryFile()  # not a pipe: a worker that logs a lot must not block on it
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.processes.append((process, log))
        return process

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> list[str]:
        """SIGTERM each worker still running (it finishes its sends), wait, and return what each logged."""
        for process, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        logs = []
        for process, log in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            logs.append(log.read().decode(errors="replace"))
            log.close()
        self.processes = []
        return logs


@pytest.fixture
def workers():
    started = Workers()
    yield started
    started.stop_all()
