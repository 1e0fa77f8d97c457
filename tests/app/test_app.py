"""App-wide behaviour: health, error shapes, rate limits, request logging."""
import json

from xtoportal import create_app
from xtoportal.extensions import db


def test_healthz_is_ok_when_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_database_is_unreachable(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
                      "SECRET_KEYS": "k"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_unknown_api_route_is_json_404(api):
    response = api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["type"] == "invalid_request_error"


def test_wrong_method_is_json_405(api):
    response = api.client.delete("/v1/customers", headers=api._headers(None))
    assert response.status_code == 405
    assert "error" in response.get_json()


def test_unknown_page_is_an_html_404(client):
    response = client.get("/portal/does/not/exist")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"Traceback" not in response.data


def test_api_rate_limit_answers_429_with_retry_after(app, client, merchant):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    headers = {"Authorization": f"Bearer {merchant[1]}"}
    statuses = [client.get("/v1/customers", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/v1/customers", headers=headers)
    assert response.get_json()["error"]["type"] == "rate_limit_error"
    assert int(response.headers["Retry-After"]) > 0


def test_rate_limit_counts_per_key(app, client, make_merchant):
    app.config["API_RATE_LIMIT"] = "2 per minute"
    first, second = make_merchant("One")[1], make_merchant("Two")[1]
    for _ in range(2):
        client.get("/v1/customers", headers={"Authorization": f"Bearer {first}"})
    assert client.get("/v1/customers", headers={"Authorization": f"Bearer {first}"}).status_code == 429
    assert client.get("/v1/customers", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_request_log_is_structured_and_has_no_secret_key(api, capsys, merchant):
    api.get("/v1/customers")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert lines[-1]["path"] == "/v1/customers" and lines[-1]["status"] == 200
    assert merchant[1] not in json.dumps(lines)


def test_api_key_last_used_is_recorded(api, merchant):
    from xtoportal.models import ApiKey
    api.get("/v1/customers")
    key = db.session.scalars(db.select(ApiKey).filter_by(merchant_id=merchant[0].id)).one()
    assert key.last_used_at is not None


def test_revoked_key_is_401_invalid(api, merchant):
    from xtoportal import clock
    from xtoportal.models import ApiKey
    key = db.session.scalars(db.select(ApiKey).filter_by(merchant_id=merchant[0].id)).one()
    key.revoked_at = clock.now()
    db.session.commit()
    assert api.get("/v1/customers").get_json()["error"]["code"] == "api_key_invalid"


def test_secret_keys_rotate_newest_first(database_url):
    from itsdangerous import URLSafeSerializer
    old = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEYS": "old-key"})
    new = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEYS": "new-key,old-key"})
    assert new.config["SECRET_KEY"] == "new-key" and new.config["SECRET_KEY_FALLBACKS"] == ["old-key"]
    signed = URLSafeSerializer(old.config["SECRET_KEY"]).dumps("x")
    assert URLSafeSerializer([*new.config["SECRET_KEY_FALLBACKS"], new.config["SECRET_KEY"]]).loads(signed) == "x"
