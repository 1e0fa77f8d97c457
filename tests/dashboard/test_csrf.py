"""Every form of the dashboard carries a CSRF token and every route that takes a form refuses one without it."""
from .test_roles import Targets, state


def test_every_form_post_without_its_token_is_refused_and_changes_nothing(app, as_owner, acme, customer):
    targets = Targets(acme, customer)
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("dashboard.") and rule.methods - {"GET", "HEAD", "OPTIONS"}]
    assert len(rules) >= 15
    for rule in rules:
        arguments, data = targets.request(rule.endpoint)
        before = state()
        response = as_owner.post(rule.build(arguments)[1], data, csrf=False)
        assert response.status_code == 400, (rule.endpoint, response.status_code)
        assert "This form has expired" in response.get_data(as_text=True)
        assert state() == before, rule.endpoint
    assert as_owner.get("/dashboard/customers").status_code == 200  # still signed in: sign-out was refused too


def test_a_token_from_another_session_is_refused(app, staff_browser, as_owner):
    other = staff_browser("admin")
    response = as_owner.client.post("/dashboard/developers/api-keys", data={"csrf_token": other.csrf_token()})
    assert response.status_code == 400


def test_sign_in_without_a_token_is_refused(app, owner):
    response = app.test_client().post("/dashboard/sign-in", data={"email": owner.email, "password": "x"})
    assert response.status_code == 400


def test_every_page_form_carries_a_token(as_owner, customer, acme):
    targets = Targets(acme, customer)
    pages = ["/dashboard/settings/portal", "/dashboard/developers", f"/dashboard/customers/{customer.id}",
             f"/dashboard/developers/webhooks/{targets.endpoint()}", f"/dashboard/developers/events/{targets.event()}"]
    for path in pages:
        page = as_owner.text(path)
        forms = page.count('method="post"')
        assert forms and page.count('name="csrf_token"') >= forms, path
        assert '"X-CSRFToken"' in page  # htmx requests send it as a header

