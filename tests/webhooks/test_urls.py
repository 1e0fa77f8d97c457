"""Which URLs may receive webhooks. Only IP literals and `localhost` are used: the tests never need outside DNS."""
import ipaddress

import pytest

from xtoportal.webhooks.urls import MAX_URL_LENGTH, UnsafeUrl, check_endpoint_url


@pytest.mark.parametrize("url", [
    "https://1.1.1.1/webhooks",
    "https://1.1.1.1:8443/webhooks?source=xtopay",
    "https://[2606:4700:4700::1111]/webhooks",
])
def test_https_to_a_public_address_is_allowed_and_returns_the_address(url):
    addresses = check_endpoint_url(url, test_mode=True)
    assert addresses and all(address.is_global for address in addresses)
    assert addresses[0] in (ipaddress.ip_address("1.1.1.1"), ipaddress.ip_address("2606:4700:4700::1111"))


@pytest.mark.parametrize("url", [
    "http://localhost:4242/webhooks",
    "http://127.0.0.1/webhooks",
    "http://[::1]:8080/webhooks",
    "https://localhost/webhooks",
    "http://LOCALHOST:3000/",
])
def test_the_merchants_own_machine_is_allowed_in_test_mode(url):
    assert check_endpoint_url(url, test_mode=True) == ()


@pytest.mark.parametrize("url", ["http://localhost:4242/webhooks", "https://localhost/", "https://127.0.0.1/"])
def test_the_merchants_own_machine_is_refused_outside_test_mode(url):
    with pytest.raises(UnsafeUrl):
        check_endpoint_url(url, test_mode=False)


@pytest.mark.parametrize("url", [
    "https://10.0.0.1/",
    "https://192.168.1.10/hook",
    "https://172.16.0.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00::1]/",
    "https://[fe80::1]/",
    "https://127.0.0.2/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://224.0.0.1/",
    "https://240.0.0.1/",
    "https://100.64.0.1/",
    "https://[::ffff:10.0.0.1]/",
    "https://[2002:a00:1::]/",
    "https://[64:ff9b::a00:1]/",
])
def test_non_public_addresses_are_refused(url):
    with pytest.raises(UnsafeUrl, match="non-public address"):
        check_endpoint_url(url, test_mode=True)


@pytest.mark.parametrize("url", ["https://127.1/", "https://2130706433/", "https://0x7f000001/"])
def test_a_host_that_resolves_to_loopback_is_refused(url):
    # Not one of the allowed test-mode spellings, so it is resolved, and what it resolves to is loopback.
    with pytest.raises(UnsafeUrl, match=r"resolves to 127\.0\.0\.1"):
        check_endpoint_url(url, test_mode=True)


def test_a_host_that_does_not_resolve_is_refused_with_a_clear_message():
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_endpoint_url("https://no-such-host.invalid/webhooks", test_mode=True)


@pytest.mark.parametrize("url", ["http://1.1.1.1/webhooks", "http://example.com/webhooks"])
def test_plain_http_to_anything_but_localhost_is_refused(url):
    with pytest.raises(UnsafeUrl, match="https://"):
        check_endpoint_url(url, test_mode=True)


@pytest.mark.parametrize("url", ["ftp://1.1.1.1/", "javascript:alert(1)", "file:///etc/passwd", "gopher://1.1.1.1/",
                                 "1.1.1.1/webhooks", ""])
def test_other_schemes_are_refused(url):
    with pytest.raises(UnsafeUrl, match="must start with https://"):
        check_endpoint_url(url, test_mode=True)


@pytest.mark.parametrize("url", ["https://user:secret@1.1.1.1/", "https://user@1.1.1.1/", "https://@1.1.1.1/",
                                 "http://user:pw@localhost/"])
def test_credentials_in_the_url_are_refused(url):
    with pytest.raises(UnsafeUrl, match="user name or password"):
        check_endpoint_url(url, test_mode=True)


def test_an_overlong_url_is_refused():
    url = "https://1.1.1.1/" + "a" * (MAX_URL_LENGTH - len("https://1.1.1.1/"))
    assert check_endpoint_url(url, test_mode=True)
    with pytest.raises(UnsafeUrl, match="at most 2048"):
        check_endpoint_url(url + "a", test_mode=True)


@pytest.mark.parametrize("url", ["https:///webhooks", "https://:443/", "https://1.1.1.1:99999/", "https://1.1.1.1:0/",
                                 "https://1.1.1.1:abc/", "https://[::1/", "https://1.1.1.1/a b", "https://1.1.1.1/\n"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(UnsafeUrl):
        check_endpoint_url(url, test_mode=True)
