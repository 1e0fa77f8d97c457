"""The merchant SDK for the Xtopay API: `Xtopay(api_key).customers.create(...)`, typed errors, webhooks.

Depends only on `httpx` and `standardwebhooks` (no Flask), so a merchant can vendor this one file. Every POST carries
an `Idempotency-Key` that is reused on automatic retries, so a retried request never runs twice.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx
import standardwebhooks

__all__ = [
    "Xtopay", "XtopayObject", "ListObject", "verify_webhook",
    "XtopayError", "AuthenticationError", "InvalidRequestError", "CardError", "PermissionDeniedError",
    "IdempotencyError", "RateLimitError", "APIError", "APIConnectionError", "WebhookVerificationError",
]

VERSION = "0.1.0"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
INITIAL_RETRY_DELAY = 0.5  # seconds, doubled on each retry
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0  # a Retry-After longer than this is not waited for: the error is raised instead
_RETRYABLE_TRANSPORT_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)

logger = logging.getLogger("xtoportal.client")


# ----------------------------------------------------------------------------------------------------------------
# Errors


class XtopayError(Exception):
    """Any error from the API, with the fields of its `{"error": {...}}` body and the response's `Request-Id`."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 code: str | None = None, param: str | None = None, request_id: str | None = None,
                 headers: Mapping[str, str] | None = None, body: Any = None):
        super().__init__(message)
        self.message, self.status, self.type, self.code, self.param = message, status, type, code, param
        self.request_id, self.headers, self.body = request_id, dict(headers or {}), body

    def __str__(self) -> str:
        details = ", ".join(f"{name}={value}" for name, value in
                            (("status", self.status), ("code", self.code), ("param", self.param),
                             ("request_id", self.request_id)) if value is not None)
        return f"{self.message} ({details})" if details else self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, code={self.code!r}, "
                f"param={self.param!r}, request_id={self.request_id!r})")


class AuthenticationError(XtopayError):
    """401: the API key is missing, wrong or revoked."""


class InvalidRequestError(XtopayError):
    """400, 404 or 409 `invalid_request_error`: a bad parameter, a missing resource, a state conflict."""


class CardError(XtopayError):
    """402: the processor refused the payment method or the charge (`card_declined`, `expired_card`…)."""


class PermissionDeniedError(XtopayError):
    """403: this key may not do this."""


class IdempotencyError(XtopayError):
    """409 `idempotency_error`: the key was used with another request, or is still in flight after every retry."""


class RateLimitError(XtopayError):
    """429: too many requests, still after every retry."""


class APIError(XtopayError):
    """5xx, or a response that is not the API's error shape."""


class APIConnectionError(XtopayError):
    """The API could not be reached, or the connection failed, after every retry."""


class WebhookVerificationError(XtopayError):
    """A webhook whose signature, headers or timestamp do not check out: answer 400 and ignore it."""


_ERRORS_BY_TYPE: dict[str, type[XtopayError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "card_error": CardError,
    "permission_error": PermissionDeniedError,
    "idempotency_error": IdempotencyError,
    "rate_limit_error": RateLimitError,
    "api_error": APIError,
}
_ERRORS_BY_STATUS: dict[int, type[XtopayError]] = {
    400: InvalidRequestError, 401: AuthenticationError, 402: CardError, 403: PermissionDeniedError,
    404: InvalidRequestError, 409: InvalidRequestError, 429: RateLimitError,
}


def _error_from_response(response: httpx.Response) -> XtopayError:
    """The typed error for a non-2xx response; a server error is always an `APIError`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"message": f"Unexpected HTTP {response.status_code} response from the Xtopay API."}
    if response.status_code >= 500:
        kind = APIError
    else:
        kind = _ERRORS_BY_TYPE.get(error.get("type")) or _ERRORS_BY_STATUS.get(response.status_code, XtopayError)
    return kind(str(error.get("message") or ""), status=response.status_code, type=error.get("type"),
                code=error.get("code"), param=error.get("param"), request_id=response.headers.get("Request-Id"),
                headers=response.headers, body=body)


# ----------------------------------------------------------------------------------------------------------------
# Returned objects


class XtopayObject(dict):
    """An API object: a dict whose keys are also attributes, nested objects included (`sub.plan.amount`).

    `last_response` is the `httpx.Response` the object came from (top-level objects only), e.g. to read the
    `Request-Id` or `Idempotent-Replayed` headers.
    """

    __slots__ = ("last_response",)

    def __init__(self, values: Mapping[str, Any] = (), last_response: httpx.Response | None = None):
        super().__init__({key: _convert(value) for key, value in dict(values).items()})
        self.last_response = last_response

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in XtopayObject.__slots__ or name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        label = " ".join(str(self[key]) for key in ("object", "id") if isinstance(self.get(key), str))
        return f"<{type(self).__name__}{' ' + label if label else ''}> {json.dumps(self, indent=2, default=str)}"


class ListObject(XtopayObject):
    """One page of a list: `.data`, `.has_more`; `auto_paging_iter()` walks every page after it."""

    __slots__ = ("_next_page",)

    def __init__(self, values: Mapping[str, Any], last_response: httpx.Response | None = None,
                 next_page: Callable[[str], ListObject] | None = None):
        super().__init__(values, last_response)
        self._next_page = next_page

    def __iter__(self) -> Iterator[XtopayObject]:  # type: ignore[override]  # iterate the page's items, not keys
        return iter(self.get("data", []))

    def __len__(self) -> int:
        return len(self.get("data", []))

    def __bool__(self) -> bool:
        return True

    def auto_paging_iter(self) -> Iterator[XtopayObject]:
        """Every item of this page and the following ones, fetched lazily with `starting_after`."""
        page = self
        while True:
            yield from page.get("data", [])
            if not page.get("has_more") or not page.get("data") or page._next_page is None:
                return
            page = page._next_page(page["data"][-1]["id"])


def _convert(value: Any) -> Any:
    if isinstance(value, XtopayObject):
        return value
    if isinstance(value, dict):
        return XtopayObject(value)
    if isinstance(value, list):
        return [_convert(item) for item in value]
    return value


# ----------------------------------------------------------------------------------------------------------------
# The client


class Xtopay:
    """A client for one merchant's secret key. Thread-safe; reuse one instance (it keeps connections open)."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 30,
                 max_retries: int = 2, http_client: httpx.Client | None = None):
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key is required: pass the merchant's secret key (sk_test_…).")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more.")
        self._api_key = api_key.strip()
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)

        self.customers = Customers(self)
        self.plans = Plans(self)
        self.payment_methods = PaymentMethods(self)
        self.subscriptions = Subscriptions(self)
        self.invoices = Invoices(self)
        self.customer_portal = CustomerPortal(self)
        self.webhook_endpoints = WebhookEndpoints(self)
        self.events = Events(self)

    def __repr__(self) -> str:
        # Only the display prefix of the key, as the dashboard shows it: the key is a password.
        return f"<Xtopay base_url={self.base_url!r} api_key='{self._api_key[:12]}…'>"

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Xtopay:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- requests --

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> httpx.Response:
        """Send one API call with retries; return the 2xx response or raise the typed error."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": f"xtopay-python/{VERSION}",
        }
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        url = self.base_url + path
        query = _query(params)
        content = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"

        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, params=query, content=content, headers=headers)
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                if attempt >= self.max_retries:
                    raise _connection_error(exc, method, path) from exc
                delay = _backoff(attempt)
                logger.info("xtopay: %s %s failed (%s); retrying in %.2fs", method, path, type(exc).__name__, delay)
            except httpx.HTTPError as exc:
                raise _connection_error(exc, method, path) from exc
            else:
                if response.is_success:
                    return response
                delay = self._retry_delay(response, attempt)
                if delay is None:
                    raise _error_from_response(response)
                logger.info("xtopay: %s %s answered %s (Request-Id %s); retrying in %.2fs", method, path,
                            response.status_code, response.headers.get("Request-Id"), delay)
                response.close()
            attempt += 1
            time.sleep(delay)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this response, or None when it must not be retried."""
        if attempt >= self.max_retries or not _is_retryable(response):
            return None
        retry_after = _retry_after(response)
        if retry_after is None:
            return _backoff(attempt)
        return retry_after if retry_after <= MAX_RETRY_AFTER else None

    def _object(self, method: str, path: str, **kwargs) -> XtopayObject:
        response = self.request(method, path, **kwargs)
        return XtopayObject(_json_object(response), last_response=response)

    def _list(self, path: str, params: Mapping[str, Any]) -> ListObject:
        response = self.request("GET", path, params=params)

        def next_page(last_id: str) -> ListObject:
            return self._list(path, {**params, "starting_after": last_id})

        return ListObject(_json_object(response), last_response=response, next_page=next_page)


def _json_object(response: httpx.Response) -> dict:
    """The JSON object of a 2xx response; anything else (a proxy's HTML page…) is an `APIError`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise APIError("The Xtopay API answered with something that is not a JSON object.",
                       status=response.status_code, request_id=response.headers.get("Request-Id"))
    return body


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query parameters with None left out and booleans as true/false."""
    if not params:
        return None
    return {key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in params.items() if value is not None}


def _is_retryable(response: httpx.Response) -> bool:
    if response.status_code == 429 or response.status_code >= 500:
        return True
    if response.status_code == 409:
        try:
            return response.json()["error"]["code"] == "idempotency_key_in_use"
        except (ValueError, KeyError, TypeError):
            return False
    return False


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter (half fixed, half random), so clients retrying together spread out."""
    delay = min(MAX_RETRY_DELAY, INITIAL_RETRY_DELAY * 2 ** attempt)
    return delay / 2 + random.uniform(0, delay / 2)


def _connection_error(exc: httpx.HTTPError, method: str, path: str) -> APIConnectionError:
    # Only the exception's class and text: httpx never puts request headers (the key) into them.
    return APIConnectionError(f"Could not reach the Xtopay API ({method} {path}): {type(exc).__name__}: {exc}")


def _path(template: str, *ids: str) -> str:
    """Fill ids into a path, refusing blank ones and escaping the rest so an id can never name another route."""
    for value in ids:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("An object id must be a non-empty string.")
    return template.format(*(quote(value, safe="") for value in ids))


def _given(**params: Any) -> dict[str, Any]:
    """The keyword arguments that were given (not None)."""
    return {key: value for key, value in params.items() if value is not None}


# ----------------------------------------------------------------------------------------------------------------
# Resources: one class per API resource; parameters are the JSON fields of API.md, passed as keyword arguments.


class _Resource:
    def __init__(self, client: Xtopay):
        self._client = client


class Customers(_Resource):
    """/v1/customers"""

    def create(self, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Create a customer: `email`, `name`, `phone`, `address`, `preferred_locale`, `metadata` (all optional)."""
        return self._client._object("POST", "/v1/customers", json_body=params, idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None, starting_after: str | None = None) -> ListObject:
        """One page of customers, newest first."""
        return self._client._list("/v1/customers", _given(limit=limit, starting_after=starting_after))

    def retrieve(self, id: str) -> XtopayObject:
        return self._client._object("GET", _path("/v1/customers/{}", id))

    def update(self, id: str, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Change the given fields; `metadata` merges, and a key set to "" is removed."""
        return self._client._object("POST", _path("/v1/customers/{}", id), json_body=params,
                                    idempotency_key=idempotency_key)


class Plans(_Resource):
    """/v1/plans"""

    def create(self, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Create a plan: `name`, `amount`, `currency`, `interval` required; `interval_count`, `description`."""
        return self._client._object("POST", "/v1/plans", json_body=params, idempotency_key=idempotency_key)

    def list(self, *, active: bool | None = None, limit: int | None = None,
             starting_after: str | None = None) -> ListObject:
        """Plans, newest first; `active=True` or `False` filters."""
        return self._client._list("/v1/plans", _given(active=active, limit=limit, starting_after=starting_after))

    def retrieve(self, id: str) -> XtopayObject:
        return self._client._object("GET", _path("/v1/plans/{}", id))

    def update(self, id: str, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Only `name`, `description` and `active` change after creation."""
        return self._client._object("POST", _path("/v1/plans/{}", id), json_body=params,
                                    idempotency_key=idempotency_key)


class PaymentMethods(_Resource):
    """/v1/customers/{id}/payment_methods"""

    def attach(self, customer_id: str, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Attach `type="card", card={...}` or `type="mobile_money", mobile_money={...}`; `set_default` optional."""
        return self._client._object("POST", _path("/v1/customers/{}/payment_methods", customer_id),
                                    json_body=params, idempotency_key=idempotency_key)

    def list(self, customer_id: str, *, type: str | None = None, limit: int | None = None,
             starting_after: str | None = None) -> ListObject:
        """The customer's payment methods, newest first; `type` "card" or "mobile_money" filters."""
        return self._client._list(_path("/v1/customers/{}/payment_methods", customer_id),
                                  _given(type=type, limit=limit, starting_after=starting_after))

    def detach(self, customer_id: str, pm_id: str) -> XtopayObject:
        """Detach a method; detaching the default makes the newest remaining active method the default."""
        return self._client._object("DELETE", _path("/v1/customers/{}/payment_methods/{}", customer_id, pm_id))


class Subscriptions(_Resource):
    """/v1/subscriptions"""

    def create(self, *, customer_id: str, plan_id: str, trial_period_days: int | None = None,
               idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Subscribe a customer; bills the first period at once unless there is a trial."""
        body = {"customer_id": customer_id, "plan_id": plan_id, **_given(trial_period_days=trial_period_days),
                **params}
        return self._client._object("POST", "/v1/subscriptions", json_body=body, idempotency_key=idempotency_key)

    def list(self, *, customer_id: str | None = None, status: str | None = None, limit: int | None = None,
             starting_after: str | None = None) -> ListObject:
        """Subscriptions, newest first, optionally of one customer or one status."""
        return self._client._list("/v1/subscriptions", _given(customer_id=customer_id, status=status, limit=limit,
                                                              starting_after=starting_after))

    def retrieve(self, id: str) -> XtopayObject:
        return self._client._object("GET", _path("/v1/subscriptions/{}", id))

    def update(self, id: str, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Change plan: `plan_id`, `proration_behavior` ("create_prorations" or "none")."""
        return self._client._object("POST", _path("/v1/subscriptions/{}", id), json_body=params,
                                    idempotency_key=idempotency_key)

    def cancel(self, id: str, at_period_end: bool = True, *, idempotency_key: str | None = None) -> XtopayObject:
        """Cancel at the end of the period (default) or at once."""
        return self._client._object("POST", _path("/v1/subscriptions/{}/cancel", id),
                                    json_body={"at_period_end": at_period_end}, idempotency_key=idempotency_key)

    def pause(self, id: str, resumes_at: int | None = None, *, idempotency_key: str | None = None) -> XtopayObject:
        """Pause billing, until `resumes_at` (Unix seconds, in the future) or until resumed."""
        return self._client._object("POST", _path("/v1/subscriptions/{}/pause", id),
                                    json_body=_given(resumes_at=resumes_at), idempotency_key=idempotency_key)

    def resume(self, id: str, *, idempotency_key: str | None = None) -> XtopayObject:
        return self._client._object("POST", _path("/v1/subscriptions/{}/resume", id), json_body={},
                                    idempotency_key=idempotency_key)


class Invoices(_Resource):
    """/v1/invoices (read-only: billing creates them)"""

    def list(self, *, customer_id: str | None = None, subscription_id: str | None = None,
             status: str | None = None, limit: int | None = None, starting_after: str | None = None) -> ListObject:
        """Invoices, newest first, optionally of one customer, one subscription or one status."""
        return self._client._list("/v1/invoices", _given(customer_id=customer_id, subscription_id=subscription_id,
                                                         status=status, limit=limit, starting_after=starting_after))

    def retrieve(self, id: str) -> XtopayObject:
        return self._client._object("GET", _path("/v1/invoices/{}", id))

    def pdf(self, id: str, locale: str = "en") -> bytes:
        """The invoice as a PDF document."""
        return self._client.request("GET", _path("/v1/invoices/{}/pdf", id), params={"locale": locale}).content


class PortalConfiguration(_Resource):
    """/v1/customer_portal/configuration: one per merchant."""

    def retrieve(self) -> XtopayObject:
        return self._client._object("GET", "/v1/customer_portal/configuration")

    def update(self, *, idempotency_key: str | None = None, **parts: Any) -> XtopayObject:
        """Merge the given parts (`branding={...}`, `features={...}`…) and return the whole configuration."""
        return self._client._object("POST", "/v1/customer_portal/configuration", json_body=parts,
                                    idempotency_key=idempotency_key)


class CustomerPortal(_Resource):
    """/v1/customer_portal: sessions and the configuration."""

    def __init__(self, client: Xtopay):
        super().__init__(client)
        self.configuration = PortalConfiguration(client)

    def create_session(self, *, customer_id: str, return_url: str | None = None, locale: str | None = None,
                       flow: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> XtopayObject:
        """A portal session; redirect the customer to its `url` at once (shown once, valid 30 minutes)."""
        body = {"customer_id": customer_id, **_given(return_url=return_url, locale=locale, flow=flow)}
        return self._client._object("POST", "/v1/customer_portal/sessions", json_body=body,
                                    idempotency_key=idempotency_key)

    def retrieve_session(self, id: str) -> XtopayObject:
        """The session with its `status` (`url` is null: the link is shown once)."""
        return self._client._object("GET", _path("/v1/customer_portal/sessions/{}", id))

    def revoke_session(self, id: str, *, idempotency_key: str | None = None) -> XtopayObject:
        """End the session now: the link and any browser already inside get the expired page."""
        return self._client._object("POST", _path("/v1/customer_portal/sessions/{}/revoke", id), json_body={},
                                    idempotency_key=idempotency_key)


class WebhookEndpoints(_Resource):
    """/v1/webhook_endpoints"""

    def create(self, *, url: str, enabled_events: list[str] | None = None, description: str | None = None,
               idempotency_key: str | None = None) -> XtopayObject:
        """Create an endpoint; the response's `secret` (whsec_…) is shown only this once."""
        body = {"url": url, **_given(enabled_events=enabled_events, description=description)}
        return self._client._object("POST", "/v1/webhook_endpoints", json_body=body, idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None, starting_after: str | None = None) -> ListObject:
        return self._client._list("/v1/webhook_endpoints", _given(limit=limit, starting_after=starting_after))

    def retrieve(self, id: str) -> XtopayObject:
        return self._client._object("GET", _path("/v1/webhook_endpoints/{}", id))

    def update(self, id: str, *, idempotency_key: str | None = None, **params: Any) -> XtopayObject:
        """Change `url`, `enabled_events`, `description` or `status` ("enabled"/"disabled")."""
        return self._client._object("POST", _path("/v1/webhook_endpoints/{}", id), json_body=params,
                                    idempotency_key=idempotency_key)

    def delete(self, id: str) -> XtopayObject:
        return self._client._object("DELETE", _path("/v1/webhook_endpoints/{}", id))

    def rotate_secret(self, id: str, expires_in: int | None = None, *,
                      idempotency_key: str | None = None) -> XtopayObject:
        """A new signing secret (in the response); the old one keeps signing for `expires_in` seconds."""
        return self._client._object("POST", _path("/v1/webhook_endpoints/{}/rotate_secret", id),
                                    json_body=_given(expires_in=expires_in), idempotency_key=idempotency_key)

    def deliveries(self, id: str, *, limit: int | None = None, starting_after: str | None = None) -> ListObject:
        """Every delivery attempt to this endpoint, newest first."""
        return self._client._list(_path("/v1/webhook_endpoints/{}/deliveries", id),
                                  _given(limit=limit, starting_after=starting_after))


class Events(_Resource):
    """/v1/events: every event ever emitted."""

    def list(self, type: str | None = None, *, limit: int | None = None,
             starting_after: str | None = None) -> ListObject:
        return self._client._list("/v1/events", _given(type=type, limit=limit, starting_after=starting_after))

    def retrieve(self, id: str) -> XtopayObject:
        return self._client._object("GET", _path("/v1/events/{}", id))

    def resend(self, id: str, *, idempotency_key: str | None = None) -> ListObject:
        """Queue the event again to every enabled endpoint that takes its type; returns the new deliveries."""
        response = self._client.request("POST", _path("/v1/events/{}/resend", id), json_body={},
                                        idempotency_key=idempotency_key)
        return ListObject(_json_object(response), last_response=response)


# ----------------------------------------------------------------------------------------------------------------
# Webhooks


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str, tolerance: int = 300) -> XtopayObject:
    """Check a delivery's Standard Webhooks signature and timestamp; return the event or raise.

    Pass the raw request body exactly as received (not re-serialized JSON) and the request headers.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    msg_id, timestamp, signatures = (lowered.get(name) for name in
                                     ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError("Missing webhook-id, webhook-timestamp or webhook-signature header.")
    try:
        sent_at = int(timestamp)
        text = body.decode() if isinstance(body, bytes) else body
    except ValueError:  # UnicodeDecodeError is a ValueError too
        raise WebhookVerificationError("Invalid webhook-timestamp header or body encoding.") from None
    if abs(time.time() - sent_at) > tolerance:  # the receiver's own clock: an old delivery replayed is refused
        raise WebhookVerificationError("Webhook timestamp outside the tolerance.")
    try:
        # standardwebhooks decodes the whsec_ secret and computes the v1 HMAC; its own verify() has a fixed
        # 5-minute window, so the timestamp is checked above and the signatures compared here.
        expected = standardwebhooks.Webhook(secret).sign(msg_id, datetime.fromtimestamp(sent_at, tz=timezone.utc),
                                                         text)
    except Exception as exc:  # a malformed secret is the receiver's configuration error, reported as such
        raise WebhookVerificationError(f"Invalid webhook secret ({type(exc).__name__}).") from None
    if not any(_signature_matches(expected, candidate) for candidate in signatures.split()):
        raise WebhookVerificationError("No matching webhook signature.")
    try:
        event = json.loads(text)
    except ValueError:
        raise WebhookVerificationError("The webhook body is not JSON.") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("The webhook body is not a JSON object.")
    return XtopayObject(event)


def _signature_matches(expected: str, candidate: str) -> bool:
    """Compare one `v1,<base64>` signature in constant time; other versions never match."""
    version, _, encoded = candidate.partition(",")
    if version != "v1":
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(base64.b64decode(expected.partition(",")[2]), given)
