"""`xtoportal worker`: runs due billing (and, later, webhook delivery) in passes."""
import signal
import time

from flask import current_app


def run_pass() -> int:
    """One pass over everything that is due; returns how many things it did."""
    from .billing.clock import run_due_billing
    return run_due_billing(current_app.config["MOBILE_MONEY_TIMEOUT"])


def run_worker(once: bool = False, interval: float = 1.0) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while True:
        done = run_pass()
        if once or stopping:
            return
        if not done:
            time.sleep(interval)
