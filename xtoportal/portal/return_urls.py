"""Which URLs the portal may send a customer to: the session's return_url and the merchant's own pages.

A return link is rendered on every portal page, so a lax rule here becomes an open redirect or a script in
the portal's origin. The checks raise ValueError with a sentence a merchant can act on.
"""
import ipaddress
import re
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
# Plain http is only for a merchant developing on their own machine.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def is_host_name(value: str) -> bool:
    """A DNS name (ASCII, punycode for IDNs) or an IP address literal, without port, path or wildcard."""
    if not isinstance(value, str) or not value or len(value) > 253:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    return all(_LABEL.match(label) for label in value.rstrip(".").split("."))


def check_https_url(url: str) -> str:
    """An absolute https:// URL with a valid host and no credentials; ValueError otherwise."""
    _scheme, _host = _split(url, allow_local_http=False)
    return url


def check_return_url(url: str, allowed_hosts: list[str] | tuple[str, ...] = ()) -> str:
    """A URL the portal may link back to: absolute https (http only to localhost, 127.0.0.1, [::1]), no
    credentials, and a host from `allowed_hosts` when that list is not empty."""
    _scheme, host = _split(url, allow_local_http=True)
    if allowed_hosts and host not in {h.lower().rstrip(".") for h in allowed_hosts}:
        raise ValueError(f"the host {host} is not in the portal configuration's allowed_return_hosts")
    return url


def _split(url: str, allow_local_http: bool) -> tuple[str, str]:
    if not isinstance(url, str) or not url:
        raise ValueError("must be an absolute https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines ("java\nscript:"), so refuse them before parsing.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise ValueError("must not contain spaces, control characters or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc or not url.lower().startswith(scheme + "://"):
        raise ValueError("must be an absolute https:// URL")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password")
    try:
        host = (parts.hostname or "").rstrip(".")
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number in range)
    except ValueError:
        raise ValueError("has an invalid host or port") from None
    if not is_host_name(host):
        raise ValueError("has an invalid host")
    if scheme == "http" and not (allow_local_http and host in LOCAL_HOSTS):
        raise ValueError("must use https:// (http:// is allowed only for localhost, 127.0.0.1 and [::1])"
                         if allow_local_http else "must use https://")
    return scheme, host
