"""Which URLs a webhook endpoint may point at: public https hosts, plus the merchant's own machine in test mode.

The check resolves the host and refuses it when any address it resolves to is not public, so a host name
cannot smuggle a request into our network (SSRF). Resolution can change between the check and the request
(DNS rebinding), so the delivery worker calls `check_endpoint_url` again right before each send, and should
connect to one of the addresses it returns rather than resolving the name a second time.
"""
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

# Test mode lets a merchant receive webhooks on their own machine. These exact hosts are the only local
# addresses ever allowed, over http or https alike (https://localhost is no more dangerous than http://localhost).
# Other spellings that land on loopback (127.0.0.2, 127.1, a name resolving to 127.0.0.1) are refused.
TEST_MODE_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Only test mode exists (API.md): http:// to the merchant's own machine is allowed everywhere endpoints are checked.
TEST_MODE = True

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """The URL may not be used as a webhook endpoint; the message says why, for the merchant."""


def check_endpoint_url(url: str, *, test_mode: bool) -> tuple[IPAddress, ...]:
    """Refuse (`UnsafeUrl`) a URL webhooks may not be sent to; return the addresses its host resolved to.

    Allowed: `https://` to a host whose every address is public; in test mode also `http://` or `https://` to
    exactly `localhost`, `127.0.0.1` or `[::1]` (returned as `()`: those are not resolved).
    """
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the URL must be at most {MAX_URL_LENGTH} characters")
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise UnsafeUrl("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("the URL is malformed (check the host and port)") from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("https", "http"):
        raise UnsafeUrl("the URL must start with https://")
    if not host:
        raise UnsafeUrl("the URL must name a host, e.g. https://example.com/webhooks")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("the URL must not contain a user name or password")
    if port == 0:
        raise UnsafeUrl("the URL's port must be between 1 and 65535")
    if test_mode and host in TEST_MODE_HOSTS:
        return ()
    if scheme == "http":
        raise UnsafeUrl("the URL must use https:// (http:// is only allowed to localhost, 127.0.0.1 "
                        "or [::1] in test mode)")
    addresses = _resolve(host, port or 443)
    for address in addresses:
        if not is_public_address(address):
            where = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
            raise UnsafeUrl(f"{where} a private, loopback, link-local or otherwise non-public address")
    return addresses


def is_public_address(address: IPAddress) -> bool:
    """True for an address on the public internet; false for private, loopback, link-local, multicast, reserved,
    unspecified, shared (CGNAT) and documentation ranges, and for IPv6 forms that embed such an IPv4 address."""
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    return True


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one routes to (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address `host` resolves to (an IP literal resolves to itself, without DNS)."""
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeUrl(f"the host {host} does not resolve to an address") from None
    addresses = []
    for info in infos:
        # An IPv6 link-local answer may carry a zone ("fe80::1%eth0"); the zone does not change what it is.
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl(f"the host {host} does not resolve to an address")
    return tuple(addresses)
