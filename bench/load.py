"""A bounded load test: gunicorn (the production config) + one `xtoportal worker` on PostgreSQL, driven by locust.

    DATABASE_URL=postgresql://…/xtoportal_load .venv/bin/python bench/load.py [--users 20] [--duration 60]
    make load LOAD_ARGS="--users 20 --duration 60"

Each locust user is a merchant backend and its customer doing the whole change-plan journey (bench/locustfile.py):
create a portal session (API), open its link, the overview, the htmx review, the confirmation. Afterwards the
database is counted against what locust saw succeed — plan changes, events, invoices, portal sessions — and every
event must have reached the merchant's webhook receiver (a local server here, signatures verified). Exit status: 0
when there were no errors and everything matches; 1 otherwise. Everything runs on 127.0.0.1 and stops by itself.

A fresh merchant is seeded each run and only its rows are counted, so the database may be reused.
"""
import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, select
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from xtoportal import create_app  # noqa: E402
from xtoportal.extensions import db  # noqa: E402
from xtoportal.merchants import create_merchant  # noqa: E402
from xtoportal.models import Event, Invoice, PortalSession, Subscription, WebhookDelivery  # noqa: E402

PLANS = [("Starter", 5_000), ("Growth", 12_000)]  # GHS minor units, monthly
# Limits the server must not apply to a load from one address and one key (the config.py names; see README).
UNLIMITED = {name: "1000000 per second" for name in (
    "API_RATE_LIMIT", "PORTAL_SESSION_RATE_LIMIT", "PORTAL_LINK_FAILURE_LIMIT", "PORTAL_MUTATION_LIMIT")}


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgresql://", "postgres://")):
        sys.exit("bench/load.py needs DATABASE_URL pointing at a PostgreSQL database "
                 "(e.g. createdb -O xtoportal xtoportal_load; DATABASE_URL=postgresql://…/xtoportal_load)")
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **UNLIMITED, "DATABASE_URL": database_url, "PUBLIC_URL": base,
           "SECRET_KEYS": os.environ.get("SECRET_KEYS") or secrets.token_urlsafe(32),
           "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.web_workers)}
    os.environ.update({k: env[k] for k in ("SECRET_KEYS", "PUBLIC_URL", *UNLIMITED)})
    workdir = Path(tempfile.mkdtemp(prefix="xtoportal-load-"))
    started = time.monotonic()

    subprocess.run([BIN / "xtoportal", "init-db"], env=env, check=True, cwd=ROOT)
    app = create_app({"RATELIMIT_ENABLED": False})
    logging.getLogger("xtoportal.requests").setLevel(logging.WARNING)  # the seeding's API calls, one line each
    receiver = Receiver()
    seed = seed_merchant(app, args.users, receiver.url)
    receiver.secret = seed.pop("webhook_secret")
    (workdir / "seed.json").write_text(json.dumps(seed))
    print(f"seeded merchant {seed['merchant_id']}: {args.users} customers, each with a card and a subscription "
          f"({time.monotonic() - started:.0f} s)")

    with contextlib.ExitStack() as stack:
        stack.callback(receiver.stop)
        for name, command in (("server", "serve"), ("worker", "worker")):
            log = stack.enter_context(open(workdir / f"{name}.log", "w"))
            process = subprocess.Popen([BIN / "xtoportal", command], env=env, cwd=ROOT, stdout=log, stderr=log)
            stack.callback(stop, process)
            if name == "server":
                wait_until_healthy(base, process)
        locust = run_locust(args, base, workdir)
        print(f"locust done ({time.monotonic() - started:.0f} s); waiting for the worker's last webhooks")
        deliveries_done = wait_for_deliveries(app, seed["merchant_id"], timeout=60)
        load_average = os.getloadavg()[0]

    if not (workdir / "record.json").exists():
        print((workdir / "locust.log").read_text()[-3000:])
        print(f"\nLOAD TEST FAILED: locust (exit {locust.returncode}) wrote no record; logs in {workdir}")
        return 1
    outcome = json.loads((workdir / "record.json").read_text())
    stats, record = outcome["stats"], outcome["confirmed"]
    print_stats(stats)
    problems = count_everything(app, seed, stats, record, receiver, deliveries_done)
    failures = sum(row["failures"] for row in stats if row["name"] != "Aggregated")
    if locust.returncode not in (0, 1):
        problems.append(f"locust exited with {locust.returncode} (see {workdir})")
    if failures:
        problems.append(f"{failures} requests failed (see {workdir / 'locust.log'})")
    print(f"\ntotal time {time.monotonic() - started:.0f} s; load average at the end {load_average:.1f} "
          f"on {os.cpu_count()} cores; logs in {workdir}")
    if problems:
        print("\nLOAD TEST FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("\nload test passed: 0 errors, every action counted in the database and delivered as a webhook")
    return 0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent customers (one subscription each)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers (WEB_CONCURRENCY)")
    parser.add_argument("--wait-min", type=float, default=0.1, help="seconds a user thinks between journeys, at least")
    parser.add_argument("--wait-max", type=float, default=0.5, help="… and at most")
    parser.add_argument("--port", type=int, default=0, help="default: a free port on 127.0.0.1")
    return parser.parse_args()


# --- the world the users live in ------------------------------------------------------------------------------


def seed_merchant(app, customers: int, webhook_url: str) -> dict:
    """A new merchant with two plans, a webhook endpoint and `customers` customers, each with a card and a
    subscription on the cheaper plan — made through the API, as a merchant would."""
    with app.app_context():
        merchant, key = create_merchant(f"Load {secrets.token_hex(3)}", f"load-{secrets.token_hex(6)}@example.com",
                                        secrets.token_urlsafe(16))
        db.session.commit()
        merchant_id = merchant.id
    client = app.test_client()

    def api(path, body):
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        if response.status_code != 200:
            raise RuntimeError(f"seeding: POST {path} answered {response.status_code} {response.get_data(True)}")
        return response.get_json()

    plans = [api("/v1/plans", {"name": name, "amount": amount, "currency": "ghs", "interval": "month"})
             for name, amount in PLANS]
    endpoint = api("/v1/webhook_endpoints", {"url": webhook_url})
    subscriptions = []
    for n in range(customers):
        customer = api("/v1/customers", {"email": f"customer{n}@example.com", "name": f"Customer {n}"})
        api(f"/v1/customers/{customer['id']}/payment_methods", {
            "type": "card", "set_default": True,
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}})
        subscription = api("/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plans[0]["id"]})
        assert subscription["status"] == "active", subscription
        subscriptions.append({"id": subscription["id"], "customer_id": customer["id"], "plan_id": plans[0]["id"]})
    first, second = (plan["id"] for plan in plans)
    return {"merchant_id": merchant_id, "api_key": key, "webhook_secret": endpoint["secret"],
            "plan_names": {plan["id"]: plan["name"] for plan in plans}, "other_plan": {first: second, second: first},
            "subscriptions": subscriptions}


class Receiver:
    """The merchant's webhook endpoint: verifies each delivery's signature and notes its webhook-id."""

    def __init__(self):
        self.secret = None
        self.received: dict[str, int] = {}
        self.bad_signatures = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:  # any verification failure is counted, and refused like a real receiver would
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                else:
                    with receiver._lock:
                        receiver.received[event["id"]] = receiver.received.get(event["id"], 0) + 1
                    self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (gunicorn and the worker finish what they are doing), then SIGKILL after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(base: str, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout} s")


def run_locust(args, base: str, workdir: Path) -> subprocess.CompletedProcess:
    """Locust headless for `duration` seconds; at the end each user finishes the journey it is in (stop-timeout),
    so no confirmation is cut off between the server applying it and the user writing it down."""
    env = {**os.environ, "LOAD_SEED": str(workdir / "seed.json"), "LOAD_RECORD": str(workdir / "record.json"),
           "LOAD_WAIT_MIN": str(args.wait_min), "LOAD_WAIT_MAX": str(args.wait_max)}
    command = [BIN / "locust", "-f", ROOT / "bench" / "locustfile.py", "--headless", "--host", base,
               "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration}s",
               "--stop-timeout", "30", "--only-summary", "--loglevel", "WARNING"]
    print(f"locust: {args.users} users for {args.duration} s against {base} "
          f"({args.web_workers} gunicorn sync workers, 1 xtoportal worker)")
    with open(workdir / "locust.log", "w") as log:
        return subprocess.run(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              timeout=args.duration + 120)


def wait_for_deliveries(app, merchant_id: str, timeout: float) -> bool:
    """True once the worker has no delivery of this merchant left pending."""
    deadline = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            pending = db.session.scalar(
                select(func.count()).select_from(WebhookDelivery).join(Event, Event.id == WebhookDelivery.event_id)
                .where(Event.merchant_id == merchant_id, WebhookDelivery.status == "pending"))
            db.session.rollback()
            if pending == 0:
                return True
            time.sleep(0.5)
    return False


# --- what happened ----------------------------------------------------------------------------------------------


def print_stats(stats: list[dict]) -> None:
    print(f"\n{'request':32} {'count':>7} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for row in stats:
        print(f"{row['name']:32} {row['requests']:>7} {row['failures']:>6} {row['rps']:>7.1f} "
              f"{row['p50']:>7.0f} {row['p95']:>7.0f} {row['p99']:>7.0f}")
    total = next(row for row in stats if row["name"] == "Aggregated")
    rate = total["failures"] / total["requests"] if total["requests"] else 0
    print(f"error rate {rate:.2%}")


def count_everything(app, seed, stats, record, receiver, deliveries_done) -> list[str]:
    """Compare what locust saw succeed with what the database holds; each mismatch is a problem."""
    ok = {row["name"]: row["requests"] - row["failures"] for row in stats}
    changes = sum(len(plans) for plans in record.values())
    merchant_id = seed["merchant_id"]
    problems = []

    def expect(what, actual, expected):
        mark = "ok" if actual == expected else "MISMATCH"
        print(f"  {what:58} {actual:>7} expected {expected:>7}  {mark}")
        if actual != expected:
            problems.append(f"{what}: {actual}, expected {expected}")

    with app.app_context():
        def events(type_, source="portal"):
            return db.session.scalar(select(func.count()).select_from(Event).where(
                Event.merchant_id == merchant_id, Event.type == type_, Event.request_source == source))

        subscription_ids = [seat["id"] for seat in seed["subscriptions"]]
        sessions = db.session.scalars(select(PortalSession).where(PortalSession.merchant_id == merchant_id)).all()
        print("\nnothing lost (database vs what locust saw succeed):")
        expect("portal sessions created", len(sessions), ok.get("API create session", 0))
        expect("portal sessions redeemed", sum(s.redeemed_at is not None for s in sessions),
               ok.get("portal open link (redeem)", 0))
        expect("plan changes confirmed (locust, written down)", changes, ok.get("portal plan confirm", 0))
        expect("subscription.updated events from the portal", events("subscription.updated"), changes)
        per_subscription = db.session.execute(select(Event.object_id, func.count()).where(
            Event.merchant_id == merchant_id, Event.type == "subscription.updated",
            Event.request_source == "portal").group_by(Event.object_id)).all()
        expect("subscriptions whose event count differs from locust's",
               sum(count != len(record.get(id, [])) for id, count in per_subscription), 0)
        final_plans = dict(db.session.execute(select(Subscription.id, Subscription.plan_id).where(
            Subscription.id.in_(subscription_ids))).all())
        last_confirmed = {seat["id"]: (record.get(seat["id"]) or [seat["plan_id"]])[-1]
                          for seat in seed["subscriptions"]}
        expect("subscriptions not on the plan locust last confirmed",
               sum(final_plans[id] != plan for id, plan in last_confirmed.items()), 0)
        invoices = db.session.scalar(select(func.count()).select_from(Invoice).where(
            Invoice.subscription_id.in_(subscription_ids)))
        expect("invoices (one per subscription at seeding + one per change)", invoices,
               len(subscription_ids) + changes)
        expect("invoice.created events from the portal", events("invoice.created"), changes)
        paid = db.session.scalar(select(func.count()).select_from(Invoice).where(
            Invoice.subscription_id.in_(subscription_ids), Invoice.status == "paid"))
        expect("invoices paid (all: the card always succeeds)", paid, invoices)
        expect("invoice.paid events, API + portal", events("invoice.paid", "api") + events("invoice.paid"), paid)
        expect("invoice.payment_failed events", events("invoice.payment_failed"), 0)
        all_events = set(db.session.scalars(select(Event.id).where(Event.merchant_id == merchant_id)))
    print(f"  {'worker delivered every webhook before the deadline':58} {'yes' if deliveries_done else 'NO':>7}")
    if not deliveries_done:
        problems.append("webhook deliveries still pending 60 s after the load")
    expect("events never received by the merchant's endpoint", len(all_events - set(receiver.received)), 0)
    expect("deliveries with a bad signature", receiver.bad_signatures, 0)
    expect("events received more than once", sum(n > 1 for n in receiver.received.values()), 0)
    print(f"  ({len(all_events)} events in all, {sum(receiver.received.values())} deliveries received)")
    return problems


if __name__ == "__main__":
    sys.exit(main())
