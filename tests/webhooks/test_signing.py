"""Signatures a receiver verifies with the `standardwebhooks` library as it stands.

The library checks `webhook-timestamp` against the real clock, so these tests sign at the real (unfrozen) now.
"""
import base64
import hashlib
import hmac
import json

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from xtoportal import clock
from xtoportal.models import WebhookEndpoint
from xtoportal.webhooks.signing import (
    MAX_ROTATION_OVERLAP, new_secret, rotate_secret, sign, signature_headers, signing_secrets,
)

BODY = json.dumps({"id": "evt_123", "object": "event", "type": "customer.updated", "data": {"object": {"name": "Ama"}}})


def _endpoint() -> WebhookEndpoint:
    return WebhookEndpoint(id="we_test", merchant_id="mer_test", url="https://1.1.1.1/", enabled_events=["*"],
                           status="enabled", secret=new_secret(), consecutive_failures=0)


def _with_one_byte_changed(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def test_a_new_secret_is_whsec_and_the_base64_of_at_least_24_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    assert new_secret() != secret


def test_sign_is_the_base64_hmac_sha256_of_id_timestamp_and_body_keyed_with_the_decoded_secret():
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"evt_123.1700000000.{BODY}".encode(), hashlib.sha256).digest()
    assert sign(secret, "evt_123", 1_700_000_000, BODY) == "v1," + base64.b64encode(expected).decode()
    assert sign(secret, "evt_123", 1_700_000_000, BODY.encode()) == sign(secret, "evt_123", 1_700_000_000, BODY)


def test_the_library_verifies_our_headers():
    endpoint = _endpoint()
    headers = signature_headers(endpoint, "evt_123", BODY, clock.now())
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt_123"
    assert Webhook(endpoint.secret).verify(BODY, headers) == json.loads(BODY)


@pytest.mark.parametrize("part", ["webhook-id", "webhook-timestamp", "body"])
def test_a_one_byte_change_to_id_timestamp_or_body_is_rejected(part):
    endpoint = _endpoint()
    headers = signature_headers(endpoint, "evt_123", BODY, clock.now())
    body = BODY
    if part == "body":
        body = BODY.replace("Ama", "Amb")
    else:
        headers = {**headers, part: _with_one_byte_changed(headers[part])}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(body, headers)


def test_another_secret_does_not_verify():
    headers = signature_headers(_endpoint(), "evt_123", BODY, clock.now())
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_during_the_rotation_overlap_both_secrets_verify():
    endpoint = _endpoint()
    old_secret = endpoint.secret
    now = clock.now()
    new = rotate_secret(endpoint, now, overlap=3600)
    assert new == endpoint.secret != old_secret
    assert (endpoint.previous_secret, endpoint.previous_secret_expires_at) == (old_secret, now + 3600)
    headers = signature_headers(endpoint, "evt_123", BODY, now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(signature.startswith("v1,") for signature in headers["webhook-signature"].split(" "))
    for secret in (new, old_secret):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_after_the_overlap_only_the_new_secret_signs():
    endpoint = _endpoint()
    old_secret = endpoint.secret
    rotated_at = clock.now() - 3600
    rotate_secret(endpoint, rotated_at, overlap=60)
    assert signing_secrets(endpoint, rotated_at + 59) == [endpoint.secret, old_secret]
    assert signing_secrets(endpoint, rotated_at + 60) == [endpoint.secret]
    headers = signature_headers(endpoint, "evt_123", BODY, clock.now())
    assert " " not in headers["webhook-signature"]
    assert Webhook(endpoint.secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(BODY, headers)


def test_rotating_with_no_overlap_stops_the_old_secret_at_once():
    endpoint = _endpoint()
    rotate_secret(endpoint, clock.now(), overlap=0)
    assert endpoint.previous_secret is None and endpoint.previous_secret_expires_at is None
    assert signing_secrets(endpoint, clock.now()) == [endpoint.secret]


def test_rotating_twice_in_an_overlap_keeps_only_the_last_two_secrets():
    endpoint = _endpoint()
    first = endpoint.secret
    now = clock.now()
    second = rotate_secret(endpoint, now)
    third = rotate_secret(endpoint, now)
    assert signing_secrets(endpoint, now) == [third, second]
    assert first not in signing_secrets(endpoint, now)


@pytest.mark.parametrize("overlap", [-1, MAX_ROTATION_OVERLAP + 1])
def test_an_overlap_outside_0_to_7_days_is_refused(overlap):
    endpoint = _endpoint()
    secret = endpoint.secret
    with pytest.raises(ValueError):
        rotate_secret(endpoint, clock.now(), overlap=overlap)
    assert endpoint.secret == secret
