"""URL and hostname checks: a tracked link may lead only to its offer's domains."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN = re.compile(r"[\s\\\x00-\x1f\x7f]")


class UrlError(ValueError):
    """The URL or hostname is not one we will redirect to."""


def check_hostname(value: str) -> str:
    """A lower-case, IDNA-encoded DNS hostname, or UrlError."""
    host = value.strip().rstrip(".").lower()
    if not host:
        raise UrlError("The hostname is empty.")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UrlError("The hostname is not a valid domain name.") from None
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise UrlError("The hostname must be a domain name such as shop.example.com.")
    if labels[-1].isdigit():
        raise UrlError("IP addresses are not allowed; use a domain name.")
    return host


def check_url(value: str) -> str:
    """An absolute http(s) URL with a domain host and no credentials, or UrlError."""
    if _FORBIDDEN.search(value):
        raise UrlError("The URL contains spaces, backslashes or control characters.")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise UrlError("The URL cannot be parsed.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlError("The URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise UrlError("The URL must not carry a user name or password.")
    if not parts.hostname:
        raise UrlError("The URL has no host.")
    check_hostname(parts.hostname)
    if port == 0:
        raise UrlError("The URL's port is invalid.")
    return value


def host_of(url: str) -> str:
    """The checked hostname of a URL already accepted by check_url."""
    return check_hostname(urlsplit(url).hostname or "")


def host_allowed(url: str, allowed_domains: list[str]) -> bool:
    """True when the URL's host is an allowed domain or one of its subdomains."""
    try:
        host = host_of(check_url(url))
    except UrlError:
        return False
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)
