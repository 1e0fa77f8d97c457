"""`xtoportal worker`: delivers webhooks and runs due billing until stopped."""
import signal
import time

from flask import current_app

from .webhooks.delivery import DeliveryPool, deliver_due


def run_pass() -> int:
    """One pass over everything that is due, webhook answers awaited and recorded; returns how many things it did."""
    return _run_due_billing() + deliver_due()


def run_worker(once: bool = False, interval: float = 1.0) -> None:
    """Run until SIGTERM (or one pass with `once`); sends still in flight are finished and recorded on the way out.

    Webhooks are sent as soon as they are due, without waiting for slow answers; billing runs at most every
    `interval` seconds unless it still has work, so a busy webhook queue does not query billing tables per send.
    """
    if once:
        run_pass()
        return
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    next_billing = 0.0
    with DeliveryPool() as deliveries:
        while not stopping:
            done = deliveries.step()
            if time.monotonic() >= next_billing:
                billed = _run_due_billing()
                next_billing = time.monotonic() + (0 if billed else interval)
                done += billed
            if not done:
                deliveries.wait(interval)  # wakes early when a send finishes, to record it and use its thread


def _run_due_billing() -> int:
    from .billing.clock import run_due_billing
    return run_due_billing(current_app.config["MOBILE_MONEY_TIMEOUT"])
