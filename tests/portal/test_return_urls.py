"""Where the portal may send a customer back to."""
import pytest

from xtoportal.portal.return_urls import check_https_url, check_return_url, is_host_name

ACCEPTED = [
    "https://acme.example/account",
    "https://acme.example:8443/account?tab=billing#top",
    "https://app.acme.example",
    "http://localhost:3000/account",
    "http://127.0.0.1/account",
    "http://[::1]:8000/",
    "HTTPS://ACME.EXAMPLE/",
]
REFUSED = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "//evil.example",
    "https://a@evil.example",
    "https://user:pass@acme.example/",
    "http://evil.example",
    "ftp://x",
    "data:text/html,<script>alert(1)</script>",
    "acme.example/account",
    "/account",
    "https://",
    "https:///path",
    "https://evil.example\\@acme.example",
    "https:\\\\evil.example",
    "java\nscript:alert(1)",
    "https://acme.example/\r\nSet-Cookie: x",
    "https://acme.example /",
    "https://acme.example:99999/",
    "https://acme.example:port/",
    "https://-bad-.example/",
    "https://exämple.com/",
    "http://localhost.evil.example/",
    "https://" + "a" * 2050 + ".example",
    "",
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_return_urls(url):
    assert check_return_url(url) == url


@pytest.mark.parametrize("url", REFUSED)
def test_refused_return_urls(url):
    with pytest.raises(ValueError):
        check_return_url(url)


def test_allowed_hosts_restrict_the_host_exactly():
    assert check_return_url("https://app.acme.example/x", ["app.acme.example"])
    assert check_return_url("https://APP.acme.example./x", ["app.acme.example"])
    for url in ("https://acme.example/", "https://evil.app.acme.example/", "https://app.acme.example.evil.example/"):
        with pytest.raises(ValueError, match="allowed_return_hosts"):
            check_return_url(url, ["app.acme.example"])


def test_merchant_pages_must_be_https_even_on_localhost():
    assert check_https_url("https://acme.example/privacy")
    with pytest.raises(ValueError):
        check_https_url("http://localhost/privacy")


@pytest.mark.parametrize("host,valid", [
    ("acme.example", True), ("localhost", True), ("127.0.0.1", True), ("::1", True), ("xn--exmple-cua.com", True),
    ("*.acme.example", False), ("acme.example:443", False), ("https://acme.example", False), ("", False),
    ("acme.example/path", False), ("a..b", False),
])
def test_host_names(host, valid):
    assert is_host_name(host) is valid
