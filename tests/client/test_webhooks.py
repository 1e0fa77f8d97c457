"""verify_webhook: accepts exactly what a Standard Webhooks sender signed with the endpoint's secret."""
import base64
import json
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from xtoportal.client import WebhookVerificationError, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
EVENT = {"id": "evt_5nX2bQ9cT1", "object": "event", "type": "subscription.paused", "created": 1700000000,
         "livemode": False, "data": {"object": {"id": "sub_1", "status": "paused"}, "previous_attributes": {}},
         "request": {"source": "portal", "idempotency_key": None}}


def signed(body: str, secret: str = SECRET, sent_at: int | None = None, msg_id: str = "evt_5nX2bQ9cT1") -> dict:
    sent_at = int(time.time()) if sent_at is None else sent_at
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(sent_at, tz=timezone.utc), body)
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(sent_at), "Webhook-Signature": signature}


def test_correctly_signed_body_returns_the_event():
    body = json.dumps(EVENT)
    event = verify_webhook(body.encode(), signed(body), SECRET)
    assert event == EVENT
    assert event.type == "subscription.paused" and event.data.object.status == "paused"


def test_tampered_body_is_refused():
    body = json.dumps(EVENT)
    tampered = body.replace("paused", "resumed", 1)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(tampered, signed(body), SECRET)


def test_body_signed_with_another_secret_is_refused():
    body = json.dumps(EVENT)
    other = "whsec_" + base64.b64encode(b"another secret of thirty-two by!").decode()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, signed(body, secret=other), SECRET)


def test_signature_for_another_message_id_is_refused():
    body = json.dumps(EVENT)
    headers = {**signed(body, msg_id="evt_other"), "Webhook-Id": "evt_5nX2bQ9cT1"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, SECRET)


def test_old_delivery_is_refused_unless_the_tolerance_allows_it():
    body = json.dumps(EVENT)
    headers = signed(body, sent_at=int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(body, headers, SECRET)
    assert verify_webhook(body, headers, SECRET, tolerance=900)["id"] == EVENT["id"]


@pytest.mark.parametrize("missing", ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"])
def test_missing_header_is_refused(missing):
    body = json.dumps(EVENT)
    headers = signed(body)
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="Missing"):
        verify_webhook(body, headers, SECRET)


@pytest.mark.parametrize("signature", ["garbage", "v1,not base64!", "v2,AAAA", ""])
def test_malformed_signature_is_refused_not_crashing(signature):
    body = json.dumps(EVENT)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, {**signed(body), "Webhook-Signature": signature}, SECRET)


def test_any_matching_signature_of_several_is_accepted():
    """During a secret rotation the sender signs with both secrets, separated by a space."""
    body = json.dumps(EVENT)
    old = "whsec_" + base64.b64encode(b"the old secret, thirty-two bytes").decode()
    headers = signed(body)
    headers["Webhook-Signature"] = signed(body, secret=old)["Webhook-Signature"] + " " + headers["Webhook-Signature"]
    assert verify_webhook(body, headers, SECRET)["id"] == EVENT["id"]


def test_non_json_body_is_refused():
    with pytest.raises(WebhookVerificationError):
        verify_webhook(b"\xff\xfe", signed("x"), SECRET)
