"""Webhook delivery: claim due attempts under a lease, send them with no transaction open, record what happened.

A worker claims due deliveries in a short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL) that stamps each
with a lease (`locked_until`) and commits; it then sends, and records each outcome in a new transaction only if
the row still carries its lease. A worker killed mid-send leaves a lease that runs out, and another worker sends
the delivery again: delivery is at least once, duplicates come only from crashes (or a send outliving its lease),
and the unchanged `webhook-id` lets a receiver drop them.

Sends run on a thread pool that lives as long as the worker, and an endpoint never holds more than a quarter of
its threads, so an endpoint that hangs until the timeout delays no other endpoint's deliveries.
Time is `clock.now()`; the 10 s limit is a deadline for the whole exchange (connecting, sending, the answer).
"""
import codecs
import json
import logging
import random
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cache
from urllib.parse import urlsplit

import httpcore
import httpx
from flask import current_app
from sqlalchemy import bindparam, or_

from .. import clock
from ..extensions import db
from ..models import Event, WebhookDelivery, WebhookEndpoint
from . import DISABLED_FAILING, DISABLED_GONE, ENABLED, disable_endpoint
from .signing import signature_headers
from .urls import TEST_MODE, UnsafeUrl, check_endpoint_url

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"

# Standard Webhooks: the waits after each failed attempt; attempt 10 is the last.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
JITTER = 0.1  # each wait is stretched or shrunk by up to 10 %, so a recovering receiver is not hit all at once
MAX_RETRY_AFTER = 24 * 3600
# An endpoint whose every delivery failed for longer than this is disabled (counting attempts instead would
# disable a busy endpoint after a minute's outage and a quiet one never).
DISABLE_AFTER_FAILING_FOR = 5 * 24 * 3600
EXCERPT_BYTES = 500
USER_AGENT = "xtoportal-webhooks/1.0"

DEFAULT_TIMEOUT = 10  # seconds: app config WEBHOOK_TIMEOUT
DEFAULT_LEASE = 30  # seconds a claimed delivery is ours: WEBHOOK_LEASE; well above the timeout
DEFAULT_THREADS = 32  # concurrent sends per worker: WEBHOOK_THREADS
# The share of a worker's threads that one endpoint may use: all that an endpoint hanging until the timeout can
# hold up, so three hanging endpoints still leave a quarter of the threads to everyone else.
ENDPOINT_SHARE = 4

# Test-mode URLs name these hosts, which `check_endpoint_url` does not resolve; these are what they mean.
LOCAL_ADDRESSES = {"localhost": ("127.0.0.1", "::1"), "127.0.0.1": ("127.0.0.1",), "::1": ("::1",)}


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds the lease on, with everything needed to send it without the database."""

    delivery_id: str
    lease: int
    merchant_id: str
    event_id: str
    endpoint_id: str
    attempt: int
    url: str
    body: bytes
    headers: dict


@dataclass(frozen=True)
class Outcome:
    """What came of one send: the HTTP status (None when no answer came), and what the delivery log shows."""

    status: int | None
    latency_ms: int
    excerpt: str | None
    retry_after: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# ---------------------------------------------------------------------------------------------------------------
# Claiming


def claim_due(limit: int, lease_seconds: int, per_endpoint: int, busy: Counter | None = None,
              due_by: int | None = None) -> list[Claim]:
    """Lease up to `limit` due deliveries to enabled endpoints and commit, at most `per_endpoint` sends to one
    endpoint counting those already in flight (`busy`, by endpoint id)."""
    now = clock.now()
    due_by = now if due_by is None else due_by
    busy = Counter() if busy is None else busy
    full = [endpoint_id for endpoint_id, count in busy.items() if count >= per_endpoint]
    query = (
        db.select(WebhookDelivery.id, WebhookDelivery.merchant_id, WebhookDelivery.event_id,
                  WebhookDelivery.endpoint_id, WebhookDelivery.attempt)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= due_by,
               or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
               WebhookEndpoint.status == ENABLED)
        .order_by(WebhookDelivery.next_attempt_at)
        # A few more rows than wanted, so that one endpoint's backlog does not fill the whole batch.
        .limit(limit * 4)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    if full:
        query = query.where(WebhookDelivery.endpoint_id.not_in(full))
    chosen, taken = [], Counter(busy)
    for due in db.session.execute(query):
        if taken[due.endpoint_id] < per_endpoint and len(chosen) < limit:
            taken[due.endpoint_id] += 1
            chosen.append(due)
    if not chosen:
        db.session.rollback()
        return []
    lease = now + lease_seconds
    db.session.execute(db.update(WebhookDelivery).where(WebhookDelivery.id.in_([due.id for due in chosen]))
                       .values(locked_until=lease).execution_options(synchronize_session=False))
    endpoints = _by_id(WebhookEndpoint, {due.endpoint_id for due in chosen})
    bodies = {event.id: event_body(event) for event in _by_id(Event, {due.event_id for due in chosen}).values()}
    claims = [
        Claim(due.id, lease, due.merchant_id, due.event_id, due.endpoint_id, due.attempt,
              endpoints[due.endpoint_id].url, bodies[due.event_id],
              request_headers(endpoints[due.endpoint_id], due.event_id, bodies[due.event_id], now))
        for due in chosen
    ]
    db.session.commit()
    return claims


def _by_id(model, ids: set[str]) -> dict:
    return {row.id: row for row in db.session.scalars(db.select(model).where(model.id.in_(ids)))}


def event_body(event: Event) -> bytes:
    """The event as delivered: compact JSON, the same bytes on every attempt."""
    return json.dumps(event.to_api(), separators=(",", ":")).encode()


def request_headers(endpoint: WebhookEndpoint, event_id: str, body: bytes, now: int) -> dict[str, str]:
    """The Standard Webhooks headers signed at `now`, plus the content type and our user agent."""
    return {"content-type": "application/json", "user-agent": USER_AGENT,
            **signature_headers(endpoint, event_id, body, now)}


# ---------------------------------------------------------------------------------------------------------------
# Sending (no database, no Flask: runs on the pool's threads)


def send(claim: Claim, timeout: float, test_mode: bool) -> Outcome:
    """POST the claimed delivery to the address its URL check approves now; never follows a redirect."""
    started = time.monotonic()
    try:
        addresses = addresses_to_connect(claim.url, test_mode)
    except UnsafeUrl as exc:
        return Outcome(None, 0, f"not sent: {exc}")
    backend = PinnedBackend(addresses, deadline=started + timeout)
    host = urlsplit(claim.url).netloc
    try:
        with httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=backend) as pool:
            with pool.stream("POST", claim.url, headers={**claim.headers, "host": host}, content=claim.body,
                             extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
                             ) as response:
                head = _read_at_most(response, EXCERPT_BYTES)
                retry_after = _header(response, b"retry-after")
    except httpcore.TimeoutException:
        return Outcome(None, _ms_since(started), f"no answer within {timeout:g} s")
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        return Outcome(None, _ms_since(started), f"no answer: {exc or type(exc).__name__}")
    return Outcome(response.status, _ms_since(started), _excerpt(head),
                   retry_after.decode("latin-1") if retry_after else None)


def addresses_to_connect(url: str, test_mode: bool) -> tuple[str, ...]:
    """Check `url` again (its host may resolve elsewhere since the endpoint was saved) and return the addresses
    to connect to, so that the name is not resolved a second time between the check and the connection."""
    checked = check_endpoint_url(url, test_mode=test_mode)
    if checked:
        return tuple(str(address) for address in checked)
    return LOCAL_ADDRESSES[urlsplit(url).hostname]


def _read_at_most(response, limit: int) -> bytes:
    head = b""
    for chunk in response.iter_stream():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


def _header(response, name: bytes) -> bytes | None:
    return next((value for key, value in response.headers if key.lower() == name), None)


def _excerpt(head: bytes) -> str:
    # A character cut at the 500th byte is dropped; invalid bytes and NUL (PostgreSQL text cannot hold it) show
    # as U+FFFD.
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    return text.replace("\x00", "\ufffd")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@cache
def _ssl_context():
    return httpx.create_ssl_context()


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the given addresses whatever the URL's host resolves to now, and keeps every step of the
    exchange within one deadline (a per-read timeout alone lets a receiver trickle bytes forever)."""

    def __init__(self, addresses: tuple[str, ...], deadline: float):
        self.addresses, self.deadline = addresses, deadline
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        error = None
        for address in self.addresses:
            try:
                left = _left(self.deadline, timeout, httpcore.ConnectTimeout)
                stream = self._backend.connect_tcp(address, port, left, local_address, socket_options)
                return DeadlineStream(stream, self.deadline)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError("no address to connect to")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("webhooks are not sent to unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads and writes (and TLS handshake) wait at most until the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream, self.deadline = stream, deadline

    def read(self, max_bytes, timeout=None):
        return self._stream.read(max_bytes, _left(self.deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer, timeout=None):
        self._stream.write(buffer, _left(self.deadline, timeout, httpcore.WriteTimeout))

    def close(self):
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _left(self.deadline, timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self.deadline)

    def get_extra_info(self, info):
        return self._stream.get_extra_info(info)


def _left(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the deadline passed")
    return left if timeout is None else min(timeout, left)


# ---------------------------------------------------------------------------------------------------------------
# Recording


def record_all(finished: list[tuple[Claim, Outcome]]) -> None:
    """Record outcomes in one transaction (a commit waits for the disk, so one per batch); if that fails, each in a
    transaction of its own, so a bad row costs only its own re-send."""
    try:
        _record(finished)
        db.session.commit()
        return
    except Exception:
        db.session.rollback()
        log.exception("recording %d webhook deliveries together failed; recording them one by one", len(finished))
    for one in finished:
        try:
            _record([one])
            db.session.commit()
        except Exception:  # its lease runs out and the delivery is sent again
            db.session.rollback()
            log.exception("recording webhook delivery %s failed", one[0].delivery_id)


def _record(finished: list[tuple[Claim, Outcome]]) -> None:
    now = clock.now()
    failures = [(claim, outcome) for claim, outcome in finished if not outcome.succeeded]
    # By endpoint, keeping each endpoint's order, so that concurrent workers lock endpoint rows in one order.
    for claim, outcome in sorted(failures, key=lambda pair: pair[0].endpoint_id):
        record_failure(claim, outcome, now)
    record_successes([(claim, outcome) for claim, outcome in finished if outcome.succeeded])


def record_successes(succeeded: list[tuple[Claim, Outcome]]) -> None:
    """Mark delivered the deliveries whose lease is still ours, and clear their endpoints' failure counts."""
    if not succeeded:
        return
    table = WebhookDelivery.__table__
    settled = db.session.execute(
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.status == PENDING, table.c.locked_until == bindparam("b_lease"))
        .values(status=SUCCEEDED, response_status=bindparam("b_status"), latency_ms=bindparam("b_latency"),
                response_excerpt=bindparam("b_excerpt"), next_attempt_at=None, locked_until=None),
        [{"b_id": claim.delivery_id, "b_lease": claim.lease, "b_status": outcome.status,
          "b_latency": outcome.latency_ms, "b_excerpt": outcome.excerpt} for claim, outcome in succeeded],
    ).rowcount
    if 0 <= settled < len(succeeded):
        log.warning("%d webhook deliveries outlived their lease before being recorded", len(succeeded) - settled)
    # Only a failing endpoint's row is written, so busy endpoints do not serialise workers on one row lock.
    db.session.execute(
        db.update(WebhookEndpoint)
        .where(WebhookEndpoint.id.in_(sorted({claim.endpoint_id for claim, _ in succeeded})),
               or_(WebhookEndpoint.consecutive_failures != 0, WebhookEndpoint.failing_since.is_not(None)))
        .values(consecutive_failures=0, failing_since=None)
        .execution_options(synchronize_session=False))


def record_failure(claim: Claim, outcome: Outcome, now: int) -> bool:
    """Mark the attempt failed and queue the next one (unless it was the last, or a 410), if the lease is still
    ours; False (nothing written) when it ran out and the delivery may belong to another worker by now."""
    retry_at = None if outcome.status == 410 else next_attempt_at(claim.attempt, outcome.retry_after, now)
    settled = db.session.execute(
        db.update(WebhookDelivery)
        .where(WebhookDelivery.id == claim.delivery_id, WebhookDelivery.status == PENDING,
               WebhookDelivery.locked_until == claim.lease)
        .values(status=FAILED, response_status=outcome.status, latency_ms=outcome.latency_ms,
                response_excerpt=outcome.excerpt, next_attempt_at=retry_at, locked_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not settled:
        log.warning("webhook delivery %s outlived its lease before being recorded", claim.delivery_id)
        return False
    if retry_at is not None:
        db.session.add(WebhookDelivery(merchant_id=claim.merchant_id, event_id=claim.event_id,
                                       endpoint_id=claim.endpoint_id, attempt=claim.attempt + 1,
                                       status=PENDING, next_attempt_at=retry_at))
    endpoint = db.session.scalars(db.select(WebhookEndpoint).where(WebhookEndpoint.id == claim.endpoint_id)
                                  .with_for_update(of=WebhookEndpoint)).first()
    if endpoint is not None:
        count_failure(endpoint, outcome, now)
    return True


def next_attempt_at(attempt: int, retry_after: str | None, now: int) -> int | None:
    """When to try again after attempt number `attempt` failed: the schedule with jitter, or the receiver's
    `Retry-After` when that is later (at most 24 h away); None after the last scheduled retry."""
    if attempt > len(RETRY_DELAYS):
        return None
    delay = max(1, round(RETRY_DELAYS[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)))
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        delay = max(delay, min(asked, MAX_RETRY_AFTER))
    return now + delay


def retry_after_seconds(value: str | None, now: int) -> int | None:
    """A `Retry-After` header (seconds, or an HTTP date) as seconds from `now`; None when absent or malformed."""
    value = (value or "").strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0, int(when.timestamp()) - now)


def count_failure(endpoint: WebhookEndpoint, outcome: Outcome, now: int) -> None:
    """One more failure in a row; 410 disables the endpoint, and so does failing for over five days."""
    # `consecutive_failures == 0` means not failing: a re-enabled endpoint may still carry an old failing_since.
    if not endpoint.consecutive_failures or endpoint.failing_since is None:
        endpoint.failing_since = now
    endpoint.consecutive_failures += 1
    if outcome.status == 410:
        disable_endpoint(endpoint, DISABLED_GONE)
    elif now - endpoint.failing_since > DISABLE_AFTER_FAILING_FOR:
        since = datetime.fromtimestamp(endpoint.failing_since, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        last = f"HTTP {outcome.status}" if outcome.status is not None else outcome.excerpt
        disable_endpoint(endpoint, f"{DISABLED_FAILING}: all {endpoint.consecutive_failures} since {since} "
                                   f"failed (the last: {last})")


# ---------------------------------------------------------------------------------------------------------------
# The pool


class DeliveryPool:
    """Sends claimed deliveries on a few threads and records their outcomes; lives as long as a worker.

    Only the calling thread touches the database (claims and records); the pool's threads only send.
    """

    def __init__(self):
        config = current_app.config
        self.timeout = float(config.get("WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT))
        self.lease = int(config.get("WEBHOOK_LEASE", DEFAULT_LEASE))
        self.threads = int(config.get("WEBHOOK_THREADS", DEFAULT_THREADS))
        self.per_endpoint = max(1, self.threads // ENDPOINT_SHARE)
        self.test_mode = TEST_MODE
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook-send")
        self._in_flight: dict[Future, Claim] = {}
        self.recorded = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    def step(self, due_by: int | None = None) -> int:
        """Record the sends that finished, then claim and start as many due deliveries as there are free
        threads; returns how many were recorded or started."""
        done = self.record_finished()
        free = self.threads - len(self._in_flight)
        if free <= 0:
            return done
        busy = Counter(claim.endpoint_id for claim in self._in_flight.values())
        try:
            claims = claim_due(free, self.lease, self.per_endpoint, busy, due_by)
        except Exception:  # a database hiccup must not stop the worker; nothing was leased
            db.session.rollback()
            log.exception("claiming webhook deliveries failed")
            return done
        for claim in claims:
            self._in_flight[self._executor.submit(send, claim, self.timeout, self.test_mode)] = claim
        return done + len(claims)

    def wait(self, seconds: float) -> None:
        """Until a send finishes (its thread is free again) or `seconds` pass."""
        if self._in_flight:
            wait(list(self._in_flight), timeout=seconds, return_when=FIRST_COMPLETED)
        else:
            time.sleep(seconds)

    def record_finished(self) -> int:
        """Record every send that has finished; returns how many."""
        finished = []
        for future in [future for future in self._in_flight if future.done()]:
            claim = self._in_flight.pop(future)
            try:
                finished.append((claim, future.result()))
            except Exception:
                log.exception("sending webhook delivery %s failed unexpectedly", claim.delivery_id)
                finished.append((claim, Outcome(None, 0, "not sent: an error on our side")))
        if finished:
            record_all(finished)
        self.recorded += len(finished)
        return len(finished)

    def drain(self) -> int:
        """Wait for every send in flight and record it."""
        wait(list(self._in_flight))
        return self.record_finished()

    def close(self) -> None:
        self.drain()
        self._executor.shutdown()


def deliver_due() -> int:
    """Send every delivery due now, wait for each answer and record it (`xtoportal worker --once`, tests)."""
    due_by = clock.now()  # later deliveries wait for the next pass, so a steady stream cannot keep this running
    with DeliveryPool() as pool:
        while True:
            progressed = pool.step(due_by)
            if not progressed and not pool.busy:
                return pool.recorded
            if not progressed:
                pool.wait(pool.timeout)
