"""Webhook delivery benchmark: events per second delivered to a local receiver by 1 and 2 `xtoportal worker`
processes on PostgreSQL, and the latency from a committed change to its delivery (p50, p99).

    createdb -O xtoportal xtoportal_bench   # once, as the postgres user
    .venv/bin/python bench/webhooks.py [--database-url URL] [--events 3000] [--interval 1.0]

The baseline, measured in the same run, is the receiver's own rate for a plain sequential httpx loop posting the
same body; the ratio says how much of the receiver's capacity the workers use. Each phase uses a fresh merchant,
deleted at the end, so the database may be reused.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xtoportal import create_app  # noqa: E402
from xtoportal.events import Origin, emit  # noqa: E402
from xtoportal.extensions import db  # noqa: E402
from xtoportal.merchants import create_merchant  # noqa: E402
from xtoportal.models import Merchant  # noqa: E402
from xtoportal.webhooks import create_endpoint  # noqa: E402

DEFAULT_DATABASE = "postgresql://xtoportal:xtoportal@127.0.0.1/xtoportal_bench"


class Receiver:
    """Answers 200 to every POST and notes when each webhook-id first arrived (time.time())."""

    def __init__(self):
        self.first_seen: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.time()
                with receiver.lock:
                    receiver.count += 1
                    receiver.first_seen.setdefault(self.headers.get("webhook-id", ""), now)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, ids: list[str], timeout: float = 300) -> float:
        """Until every id arrived; returns when the last one did."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                seen = [self.first_seen.get(i) for i in ids]
            if all(seen):
                return max(seen)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {sum(1 for s in seen if s)} of {len(ids)} events arrived")
            time.sleep(0.01)


def baseline(url: str, count: int) -> float:
    """Requests per second of a plain sequential httpx loop posting an event-sized body."""
    body = json.dumps({"id": "evt_x", "data": {"object": {"name": "x" * 400}}}).encode()
    with httpx.Client() as client:
        started = time.perf_counter()
        for n in range(count):
            client.post(url, content=body, headers={"content-type": "application/json", "webhook-id": f"b{n}"})
        return count / (time.perf_counter() - started)


def start_workers(count: int, database_url: str, interval: float) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [str(ROOT / ".venv" / "bin" / "xtoportal"), "worker", "--interval", str(interval)]
    return [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(count)]


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(30)


def fresh_merchant(url: str) -> str:
    merchant, _ = create_merchant("Bench", f"bench-{time.time_ns()}@bench.test", "correct horse battery")
    create_endpoint(merchant.id, url, ["*"], None)
    db.session.commit()
    return merchant.id


def emit_one(merchant_id: str, n: int) -> str:
    customer = {"id": f"cus_{n:022d}", "object": "customer", "name": f"Customer {n}", "email": None,
                "metadata": {"plan": "pro", "seats": n % 50}}
    return emit(merchant_id, "customer.updated", customer, Origin("api"), {"name": "Old"}).id


def phase(workers: int, args, receiver: Receiver) -> dict:
    processes = start_workers(workers, args.database_url, args.interval)
    try:
        time.sleep(2)  # started and idle
        merchant_id = fresh_merchant(receiver.url)
        # Throughput: a backlog committed at once, drained by the workers.
        ids = [emit_one(merchant_id, n) for n in range(args.events)]
        db.session.commit()
        committed = time.time()
        last = receiver.wait_for(ids)
        throughput = args.events / (last - committed)
        # Latency: events committed one by one at a steady rate, as an API commits them.
        committed_at = {}
        for n in range(args.latency_events):
            event_id = emit_one(merchant_id, args.events + n)
            db.session.commit()
            committed_at[event_id] = time.time()
            time.sleep(1 / args.rate)
        receiver.wait_for(list(committed_at))
        latencies = sorted(receiver.first_seen[i] - t for i, t in committed_at.items())
        db.session.delete(db.session.get(Merchant, merchant_id))
        db.session.commit()
    finally:
        stop_workers(processes)
    return {"workers": workers, "events_per_s": throughput,
            "p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--events", type=int, default=3000, help="backlog drained for the throughput figure")
    parser.add_argument("--latency-events", type=int, default=300, help="events committed one by one")
    parser.add_argument("--rate", type=float, default=50, help="events per second for the latency figure")
    parser.add_argument("--interval", type=float, default=1.0, help="the workers' idle interval (CLI default 1.0)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("the benchmark runs on PostgreSQL: --database-url postgresql://…")

    app = create_app({"DATABASE_URL": args.database_url})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        receiver = Receiver()
        raw = baseline(receiver.url, 2000)
        rows = [phase(workers, args, receiver) for workers in args.workers]

    print(f"\nwebhook delivery, PostgreSQL, {args.events} events backlog; latency over {args.latency_events} events "
          f"at {args.rate:g}/s; worker --interval {args.interval:g}")
    print(f"baseline: plain sequential httpx loop to the same receiver = {raw:,.0f} req/s\n")
    print("| workers | events/s | ratio to baseline | latency p50 | latency p99 |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['workers']} | {row['events_per_s']:,.0f} | {row['events_per_s'] / raw:.2f} | "
              f"{row['p50'] * 1000:,.0f} ms | {row['p99'] * 1000:,.0f} ms |")


if __name__ == "__main__":
    main()
