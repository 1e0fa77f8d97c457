"""The `xtoportal` command."""
import json

from xtoportal.extensions import db
from xtoportal.merchants import password_matches
from xtoportal.models import ApiKey, Merchant, StaffUser, sha256


def test_init_db_is_safe_to_run_twice(runner):
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert runner.invoke(args=["init-db"]).exit_code == 0


def test_create_merchant_prints_json_with_a_working_key(runner, client):
    result = runner.invoke(args=["create-merchant", "--name", "Kente Cloud", "--email", "Owner@Kente.test",
                                 "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["merchant_id"].startswith("mer_") and body["secret_key"].startswith("sk_test_")
    assert body["dashboard_url"] == "http://portal.test/dashboard/"
    owner = db.session.scalars(db.select(StaffUser).filter_by(email="owner@kente.test")).one()
    assert owner.role == "owner" and password_matches(owner.password_hash, "s3cret-pass")
    assert "s3cret-pass" not in owner.password_hash
    key = db.session.scalars(db.select(ApiKey).filter_by(merchant_id=body["merchant_id"])).one()
    assert key.secret_hash == sha256(body["secret_key"]) and body["secret_key"] not in key.prefix[12:]
    assert client.get("/v1/customers", headers={"Authorization": f"Bearer {body['secret_key']}"}).status_code == 200
    assert db.session.get(Merchant, body["merchant_id"]).invoice_prefix == "KENTEC"


def test_create_merchant_with_taken_email_fails_cleanly(runner):
    args = ["create-merchant", "--name", "A", "--email", "a@a.test", "--password", "pw-123456"]
    runner.invoke(args=args)
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and "already exists" in result.output


def test_create_staff_adds_a_support_user(runner, merchant):
    result = runner.invoke(args=["create-staff", "--merchant", merchant[0].id, "--email", "help@acme.test",
                                 "--password", "pw-123456", "--role", "support"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["role"] == "support"


def test_create_staff_refuses_owner_role_and_unknown_merchant(runner, merchant):
    owner = runner.invoke(args=["create-staff", "--merchant", merchant[0].id, "--email", "x@acme.test",
                                "--password", "pw", "--role", "owner"])
    assert owner.exit_code != 0
    missing = runner.invoke(args=["create-staff", "--merchant", "mer_nope", "--email", "x@acme.test",
                                  "--password", "pw", "--role", "admin"])
    assert missing.exit_code != 0 and "no merchant" in missing.output


def test_worker_once_runs_one_pass_and_exits(runner):
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
