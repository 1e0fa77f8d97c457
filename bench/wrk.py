"""Serving and loading: gunicorn with sync workers on 127.0.0.1, driven by wrk.

Sync workers answer one request at a time and close the connection after it, so every request pays its TCP
connect, as the issue asks (gthread with keep-alive gives unstable figures on a 2-core machine). The app and its
baseline get the same gunicorn settings, worker count and wrk load.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk_report.lua"


def ensure_wrk() -> str:
    """wrk's path; installed with apt-get when missing and we are root, otherwise exit saying what to install."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing the Debian package (apt-get install wrk)", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        path = shutil.which("wrk")
        if path:
            return path
    raise SystemExit("the benchmark needs wrk (HTTP load generator): `sudo apt-get install wrk` on Debian/Ubuntu, "
                     "`brew install wrk` on macOS, or build https://github.com/wg/wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn <app>` with sync workers on a free port, its environment extended by `env`; a context manager."""

    def __init__(self, app: str, env: dict, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The production settings (xtoportal/gunicorn_conf.py) for the app and the baseline alike, but never a
        # worker recycled mid-run (max_requests): its restart would be measured.
        config = "python:xtoportal.gunicorn_conf" if (ROOT / "xtoportal" / "gunicorn_conf.py").exists() else "/dev/null"
        self.command = [
            sys.executable, "-m", "gunicorn", app, "--config", config, "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", "sync", "--workers", str(workers), "--max-requests", "0", "--log-level", "warning",
            "--no-control-socket",  # several gunicorns run at once; they would share one control socket
        ]
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.process = None

    def __enter__(self) -> "Gunicorn":
        # The app's per-request log lines are part of its cost; they go to a file (a pipe nobody reads would fill
        # up and stop the workers), shown when something fails.
        self.log = tempfile.NamedTemporaryFile("w+", prefix="xtoportal-bench-", suffix=".log")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn {self.command[3]} exited:\n{self.log_tail()}")
            try:
                httpx.get(self.url + "/", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit(f"gunicorn {self.command[3]} did not answer within 60 s")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote that are not a successful request's log line."""
        with open(self.log.name, errors="replace") as log:
            kept = [line for line in log if '"status": 2' not in line and '"status": 3' not in line]
        return "".join(kept[-lines:])

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class LoadError(Exception):
    """wrk failed, or saw an error, a timeout or a 4xx/5xx answer."""


@dataclass(frozen=True)
class Load:
    """What wrk measured: requests per second and latency percentiles in milliseconds."""

    rps: float
    p50: float
    p99: float
    requests: int


def run_wrk(wrk: str, url: str, seconds: float, connections: int, headers: dict | None = None,
            method: str = "GET", body: str = "") -> Load:
    """One wrk run of `seconds` against `url`; any error, timeout or non-2xx/3xx answer fails the benchmark."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(int(round(seconds)), 1)}s", "--latency", "-s", str(LUA)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(command + [url], capture_output=True, text=True,
                          env={**os.environ, "BENCH_METHOD": method, "BENCH_BODY": body})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise LoadError(f"wrk failed on {url}:\n{done.stdout}\n{done.stderr}")
    report = json.loads(lines[-1])
    errors = {k: v for k, v in report.items() if k.endswith(("errors", "timeouts")) and v}
    if errors or not report["requests"]:
        raise LoadError(f"wrk saw errors on {method} {url}: {errors or 'no request answered'}\n{done.stdout}")
    return Load(report["requests"] / (report["duration_us"] / 1e6), report["p50_us"] / 1000,
                report["p99_us"] / 1000, report["requests"])
