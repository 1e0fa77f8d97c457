"""The load test's users (run by bench/load.py; not on its own): each is one merchant backend + one customer.

An iteration is what a real customer does to change plan: the merchant's backend creates a portal session
(API), the browser opens its link (the token is traded for a cookie, 303), sees the overview, then the change-plan
flow as htmx drives it: the review fragment (exact amounts, CSRF token and signed quote), then the confirmation.
Every answer is checked for what a person would see; anything else is a failure. Each user owns one subscription
and switches it between two plans, and writes down every change that the server confirmed, so bench/load.py can
count them against the database.
"""
import html
import itertools
import json
import os
import re
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

SEED = json.loads(open(os.environ["LOAD_SEED"]).read())
RECORD_PATH = os.environ["LOAD_RECORD"]
WAIT = (float(os.environ.get("LOAD_WAIT_MIN", "0.1")), float(os.environ.get("LOAD_WAIT_MAX", "0.5")))
FIELD = re.compile(r'<input type="hidden" name="(csrf_token|quote)" value="([^"]*)"')
HTMX = {"HX-Request": "true"}

_next_seat = itertools.count()
confirmed: dict[str, list[str]] = {}  # subscription id → the plans it was switched to, in order


class PortalCustomer(HttpUser):
    wait_time = between(*WAIT)

    def on_start(self):
        seat = SEED["subscriptions"][next(_next_seat) % len(SEED["subscriptions"])]
        self.subscription_id, self.customer_id = seat["id"], seat["customer_id"]
        self.plan_id = seat["plan_id"]
        confirmed.setdefault(self.subscription_id, [])

    @task
    def change_plan(self):
        self.client.cookies.clear()  # a new browser each time: the link's cookie is the only way in
        link = self._create_session()
        if link and self._open_link(link) and self._overview():
            fields = self._review()
            if fields:
                self._confirm(fields)

    def _create_session(self) -> str | None:
        with self.client.post("/v1/customer_portal/sessions", name="API create session",
                              json={"customer_id": self.customer_id, "return_url": "http://127.0.0.1/account"},
                              headers={"Authorization": f"Bearer {SEED['api_key']}"},
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
                return None
            return urlsplit(response.json()["url"]).path

    def _open_link(self, path: str) -> bool:
        with self.client.get(path, name="portal open link (redeem)", allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != 303 or not response.cookies:
                response.failure(f"status {response.status_code}, cookies {list(response.cookies.keys())}")
                return False
            return True

    def _overview(self) -> bool:
        with self.client.get("/portal/", name="portal overview", catch_response=True) as response:
            if response.status_code != 200 or self.subscription_id not in response.text:
                response.failure(f"status {response.status_code}, subscription not shown")
                return False
            return True

    def _review(self) -> dict | None:
        target = SEED["other_plan"][self.plan_id]
        with self.client.get(f"/portal/subscriptions/{self.subscription_id}/plan", name="portal plan review",
                             params={"review": "1", "plan_id": target}, headers=HTMX,
                             catch_response=True) as response:
            fields = {name: html.unescape(value) for name, value in FIELD.findall(response.text)}
            if response.status_code != 200 or set(fields) != {"csrf_token", "quote"}:
                response.failure(f"status {response.status_code}, form fields {sorted(fields)}")
                return None
            return {**fields, "plan_id": target}

    def _confirm(self, form: dict) -> None:
        new_name = SEED["plan_names"][form["plan_id"]]
        with self.client.post(f"/portal/subscriptions/{self.subscription_id}/plan", name="portal plan confirm",
                              data=form, headers=HTMX, catch_response=True) as response:
            if response.status_code != 200 or f"You're now on {new_name}" not in html.unescape(response.text):
                response.failure(f"status {response.status_code}: {response.text[:300]}")
                return
            self.plan_id = form["plan_id"]
            confirmed[self.subscription_id].append(form["plan_id"])


@events.quitting.add_listener
def write_record(environment, **kwargs):
    """The changes confirmed and the request statistics, once every user has stopped (after the stop timeout,
    so the last journeys are in both)."""
    stats = environment.stats
    rows = [_row(entry.name, entry) for entry in stats.entries.values()] + [_row("Aggregated", stats.total)]
    with open(RECORD_PATH, "w") as file:
        json.dump({"confirmed": confirmed, "stats": rows}, file)


def _row(name, entry) -> dict:
    return {"name": name, "requests": entry.num_requests, "failures": entry.num_failures, "rps": entry.total_rps,
            **{f"p{q}": entry.get_response_time_percentile(q / 100) for q in (50, 95, 99)},
            "max": entry.max_response_time}
